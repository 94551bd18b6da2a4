# partitions: partition maintenance against pg_partman 4.7 (Debian's
# postgresql-15-partman, installed for this benchmark only; perfkit does
# not depend on it) and against the bare DDL, in the same cluster.
#
#   1. (noop) run_maintenance() with nothing to do, over 100
#      daily-partitioned tables of 30 partitions each (and a default
#      partition): perfkit's run_maintenance() vs
#      partman.run_maintenance(), both one transaction; also perfkit's job
#      procedure, which commits after each table.  BENCH_ROUNDS runs each,
#      alternating; medians.  Target >= 10x.
#   2. (one_new) One new partition per table to create (premake raised by
#      one on both sides, then one run), BENCH_ROUNDS rounds, against
#      pg_partman (target >= 3x) and against the floor: the same 100
#      CREATE TABLE ... PARTITION OF statements run bare on 100 identical
#      tables, one transaction (target: perfkit <= 1.25x of it).  The
#      three alternate, the order turning each round; medians.  perfkit's
#      side is run_maintenance() in odd rounds, the job in even ones.
#   3. (convert) convert_to_partitioned of a BENCH_ROWS-row (5M) table into
#      monthly partitions while pgbench keeps inserting into it, vs the
#      offline recipe (rename, create the partitioned table and its
#      partitions, INSERT ... SELECT, drop) on an identical table with no
#      writer.  Rows/s of each.  Target >= 0.8x.  Then a range query over
#      one month of the 12-month table: partitioned (pruned to one
#      partition) vs the unpartitioned copy, both with an index on the
#      time column.
#   4. (stall) The longest insert of a writer at 500 rows/s (10 rows per
#      insert, 50 per second, lock waits included) during
#      convert_to_partitioned of a 1M-row and of a 5M-row table
#      (BENCH_STALL_ROWS), alternating, BENCH_STALL_ROUNDS (3) rounds:
#      min/median/max of each.  Target: the 5M median <= 200 ms, and the
#      1M one no longer than the 5M one.
#   2b. (one_new_instructions) Part 2 in CPU instructions (callgrind):
#      run_maintenance() and the job (CALL run_maintenance_job(), which
#      commits per table and may use CREATE TABLE ... PARTITION OF) vs the
#      bare CREATE TABLE ... PARTITION OF statements (target <= 1.25x), and
#      vs the statements run_maintenance() runs (CREATE TABLE (LIKE ...)
#      and ATTACH PARTITION), bare.
# BENCH_PARTS ("noop one_new one_new_instructions convert stall") picks
# the parts to run.

bench_part() { case " ${BENCH_PARTS:-noop one_new one_new_instructions convert stall} " in *" $1 "*) return 0 ;; esac; return 1; }

# ms of one statement, measured in the server (no client round trip)
timed() {
	bench_psql -At -c "SET client_min_messages = warning" -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN $1; RAISE WARNING 'ms=%', extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$" 2>&1 |
		sed -n 's/.*ms=\([0-9.]*\).*/\1/p'
}
timed_call() {
	local t0 t1
	t0=$(date +%s%N)
	bench_psql -c "SET client_min_messages = warning" -c "$1" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))e-3 | awk '{printf "%.1f", $1}'
}
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo " / " hi}'; }

bench_main() {
	local rounds=${BENCH_ROUNDS:-5} nrows=${BENCH_ROWS:-5000000} r
	declare -A t

	pk_require_packages postgresql-15-partman
	bench_conf "shared_preload_libraries = 'perfkit'" "max_locks_per_transaction = 1024" \
		"max_parallel_workers_per_gather = 0"
	bench_restart
	bench_psql -c "CREATE EXTENSION perfkit" -c "CREATE SCHEMA partman" \
		-c "CREATE EXTENSION pg_partman SCHEMA partman" >/dev/null
	if bench_part noop || bench_part one_new || bench_part one_new_instructions; then
		bench_maintenance
	fi
	if bench_part convert; then
		bench_convert
	fi
	if bench_part stall; then
		bench_stall
	fi
}

bench_maintenance() {
	# 100 + 100 + 100 identical tables: 25 days back, today, 4 ahead, a
	# default.  The pb_ ones, made by perfkit too, are then left to the
	# bare DDL (their registration removed).
	bench_psql >/dev/null <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXECUTE format('CREATE TABLE pk_t%s (id bigint, ts timestamptz NOT NULL, v real) PARTITION BY RANGE (ts)', i);
		EXECUTE format('CREATE INDEX ON pk_t%s (ts)', i);
		PERFORM perfkit.partition_table(format('pk_t%s', i)::regclass, 'ts', '1 day', 4,
										date_trunc('day', now()) - interval '25 days');
		EXECUTE format('CREATE TABLE pb_t%s (id bigint, ts timestamptz NOT NULL, v real) PARTITION BY RANGE (ts)', i);
		EXECUTE format('CREATE INDEX ON pb_t%s (ts)', i);
		PERFORM perfkit.partition_table(format('pb_t%s', i)::regclass, 'ts', '1 day', 4,
										date_trunc('day', now()) - interval '25 days');
		EXECUTE format('CREATE TABLE pm_t%s (id bigint, ts timestamptz NOT NULL, v real) PARTITION BY RANGE (ts)', i);
		EXECUTE format('CREATE INDEX ON pm_t%s (ts)', i);
		PERFORM partman.create_parent(format('public.pm_t%s', i), 'ts', 'native', 'daily',
									  p_premake := 4,
									  p_start_partition := (date_trunc('day', now()) - interval '25 days')::text);
	END LOOP;
END $$;
-- pg_partman premakes for tables without rows only with this on
UPDATE partman.part_config SET infinite_time_partitions = true;
SQL
	# pg_partman counts premake from its own notion of the current
	# partition: bring perfkit to the same number of partitions.
	bench_psql -c "SET client_min_messages = warning" -c "SELECT partman.run_maintenance(p_analyze := false, p_jobmon := false)" >/dev/null
	local diff
	diff=$(bench_psql -At -c "SELECT (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p') / 100 - (SELECT count(*) FROM perfkit.partitions WHERE NOT is_default) / 200")
	bench_psql -c "UPDATE perfkit.partition_config SET premake = premake + $diff" \
		-c "SELECT count(*) FROM perfkit.run_maintenance()" \
		-c "DELETE FROM perfkit.partition_config WHERE parent::text ~ '^pb_t'" >/dev/null
	echo "partitions.tables: $(bench_psql -At -c "SELECT count(*) FROM perfkit.partition_sets")" \
		"perfkit, $(bench_psql -At -c "SELECT count(*) FROM partman.part_config") pg_partman, 100 bare"
	echo "partitions.partitions_per_table: perfkit $(bench_psql -At -c "SELECT count(*) / 100 FROM perfkit.partitions WHERE NOT is_default")," \
		"pg_partman $(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p'")," \
		"bare $(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pb_t[0-9]+_[pb]'")"

	local a b c
	if bench_part noop; then
		# 1. nothing to do
		timed "PERFORM perfkit.run_maintenance()" >/dev/null
		timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)" >/dev/null
		for r in $(seq 1 "$rounds"); do
			t[pk_noop]+="$(timed "PERFORM perfkit.run_maintenance()") "
			t[pm_noop]+="$(timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)") "
			t[pk_job_noop]+="$(timed_call "CALL perfkit.run_maintenance_job()") "
		done
		local created
		created=$(bench_psql -At -c "SELECT count(*) FROM perfkit.partitions WHERE NOT is_default")
		[ "$created" -eq $(((30 + diff) * 100)) ] || pk_die "perfkit made partitions when there was nothing to do ($created)"
		a=$(median ${t[pk_noop]}); b=$(median ${t[pm_noop]})
		echo "partitions.noop_perfkit_ms_runs: ${t[pk_noop]% }"
		echo "partitions.noop_partman_ms_runs: ${t[pm_noop]% }"
		echo "partitions.noop_perfkit_job_ms_runs: ${t[pk_job_noop]% } (CALL, commits per table, client round trip included)"
		echo "partitions.noop_perfkit_ms: $a"
		echo "partitions.noop_partman_ms: $b"
		echo "partitions.noop_vs_partman.ratio: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", b / a}') (target >= 10)"
	fi

	if bench_part one_new; then
		# 2. one new partition per table: perfkit, pg_partman and the bare
		# statements, the order turning each round; perfkit's side is
		# run_maintenance() in odd rounds and the job (CALL, one commit per
		# table) in even ones
		local lo hi bare pk pk_key
		for r in $(seq 1 "$rounds"); do
			if [ $((r % 2)) -eq 1 ]; then
				pk="PERFORM perfkit.run_maintenance()"; pk_key=pk_one
			else
				pk="CALL perfkit.run_maintenance_job()"; pk_key=pk_job_one
			fi
			bench_psql -c "UPDATE perfkit.partition_config SET premake = premake + 1" \
				-c "UPDATE partman.part_config SET premake = premake + 1" >/dev/null
			# the bare side's next day, and its 100 statements (the same
			# bounds and names as perfkit's, literals made beforehand)
			lo=$(bench_psql -At -c "SELECT max(range_end) FROM perfkit.partitions WHERE parent = 'pk_t1'::regclass AND NOT is_default")
			hi=$(bench_psql -At -c "SELECT '$lo'::timestamptz + interval '1 day'")
			bare=$(bench_psql -At -c "SELECT string_agg(format('EXECUTE %L', format('CREATE TABLE public.%I PARTITION OF public.pb_t%s FOR VALUES FROM (%L) TO (%L)',
					'pb_t' || i || '_b' || to_char('$lo'::timestamptz, 'YYYYMMDD'), i, '$lo', '$hi')), '; ') FROM generate_series(1, 100) i")
			case $((r % 3)) in
				1)
					t[$pk_key]+="$(timed "$pk") "
					t[pm_one]+="$(timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)") "
					t[bare_one]+="$(timed "$bare") " ;;
				2)
					t[bare_one]+="$(timed "$bare") "
					t[$pk_key]+="$(timed "$pk") "
					t[pm_one]+="$(timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)") " ;;
				0)
					t[pm_one]+="$(timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)") "
					t[bare_one]+="$(timed "$bare") "
					t[$pk_key]+="$(timed "$pk") " ;;
			esac
		done
		local pk_parts pm_parts pb_parts
		pk_parts=$(bench_psql -At -c "SELECT count(*) / 100 FROM perfkit.partitions WHERE NOT is_default")
		pm_parts=$(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p'")
		pb_parts=$(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pb_t[0-9]+_[pb]'")
		echo "partitions.after_round_2: perfkit $pk_parts, pg_partman $pm_parts, bare $pb_parts partitions per table"
		[ "$pk_parts" -eq "$pm_parts" ] || pk_die "perfkit and pg_partman did not create the same partitions"
		[ "$pk_parts" -eq "$pb_parts" ] || pk_die "perfkit and the bare statements did not create the same partitions"
		a=$(median ${t[pk_one]}); b=$(median ${t[pm_one]}); c=$(median ${t[bare_one]})
		local j=""
		[ -n "${t[pk_job_one]:-}" ] && j=$(median ${t[pk_job_one]})
		echo "partitions.one_new_perfkit_ms_runs: ${t[pk_one]% }"
		echo "partitions.one_new_perfkit_job_ms_runs: ${t[pk_job_one]% } (CALL run_maintenance_job(), even rounds)"
		echo "partitions.one_new_partman_ms_runs: ${t[pm_one]% }"
		echo "partitions.one_new_bare_ms_runs: ${t[bare_one]% } (100 CREATE TABLE ... PARTITION OF, one transaction)"
		echo "partitions.one_new_perfkit_ms: $a (min / max $(minmax ${t[pk_one]}))"
		echo "partitions.one_new_partman_ms: $b (min / max $(minmax ${t[pm_one]}))"
		echo "partitions.one_new_bare_ms: $c (min / max $(minmax ${t[bare_one]}))"
		echo "partitions.one_new_vs_partman.ratio: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", b / a}') (target >= 3)"
		echo "partitions.one_new_vs_bare.ratio: $(awk -v a="$a" -v c="$c" 'BEGIN {printf "%.2f", a / c}') (perfkit / bare DDL, wall time, target <= 1.25)"
		if [ -n "${t[pk_job_one]:-}" ]; then
			echo "partitions.one_new_job_ms: $j (min / max $(minmax ${t[pk_job_one]}))"
			echo "partitions.one_new_job_vs_bare.ratio: $(awk -v a="$j" -v c="$c" 'BEGIN {printf "%.2f", a / c}') (the job / bare DDL, wall time, target <= 1.25)"
			echo "partitions.one_new_job_vs_partman.ratio: $(awk -v a="$j" -v b="$b" 'BEGIN {printf "%.1f", b / a}') (target >= 3)"
		fi
	fi
	if bench_part one_new_instructions; then
		bench_one_new_instructions
	fi
}

# 2b. The same in CPU instructions (valgrind --tool=callgrind) of a
# single-user backend started on a copy of the cluster, one statement
# each: run_maintenance() making one partition per table for 100 tables,
# the job doing the same (CALL, a commit per table), the 100 CREATE TABLE
# ... PARTITION OF statements bare (one DO block),
# and what perfkit runs, CREATE TABLE (LIKE ...) and ATTACH PARTITION,
# bare; minus a backend that runs SELECT 1 (start and exit).  Wall time
# swings by 2x on shared cores; instruction counts do not.
bench_one_new_instructions() {
	pk_require_packages valgrind
	local lo hi n
	declare -A ins
	bench_psql -c "UPDATE perfkit.partition_config SET premake = premake + 1" >/dev/null
	lo=$(bench_psql -At -c "SELECT max(range_end) FROM perfkit.partitions WHERE parent = 'pk_t1'::regclass AND NOT is_default")
	hi=$(bench_psql -At -c "SELECT '$lo'::timestamptz + interval '1 day'")
	echo "SELECT 1" >"$BENCH_DIR/cg_base.sql"
	echo "SELECT count(*) FROM perfkit.run_maintenance()" >"$BENCH_DIR/cg_perfkit.sql"
	echo "CALL perfkit.run_maintenance_job()" >"$BENCH_DIR/cg_job.sql"
	echo "SELECT count(*) FROM perfkit.partitions WHERE parent::text ~ '^pk_t' AND range_end > '$lo'" >"$BENCH_DIR/cg_check.sql"
	bench_psql -At -c "SELECT 'DO \$\$ BEGIN ' || string_agg(format('EXECUTE %L',
		format('CREATE TABLE public.%I PARTITION OF public.pb_t%s FOR VALUES FROM (%L) TO (%L)',
			   'pb_t' || i || '_c' || to_char('$lo'::timestamptz, 'YYYYMMDD'), i, '$lo', '$hi')), '; ') || '; END \$\$'
		FROM generate_series(1, 100) i" >"$BENCH_DIR/cg_bare.sql"
	bench_psql -At -c "SELECT 'DO \$\$ BEGIN ' || string_agg(format('EXECUTE %L; EXECUTE %L',
		format('CREATE TABLE public.%I (LIKE public.pb_t%s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)',
			   'pb_t' || i || '_c' || to_char('$lo'::timestamptz, 'YYYYMMDD'), i),
		format('ALTER TABLE public.pb_t%s ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
			   i, 'pb_t' || i || '_c' || to_char('$lo'::timestamptz, 'YYYYMMDD'), '$lo', '$hi')), '; ') || '; END \$\$'
		FROM generate_series(1, 100) i" >"$BENCH_DIR/cg_attach.sql"
	chown "$(pk_run_user)" "$BENCH_DIR"/cg_*.sql
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	rm -rf "$BENCH_DIR/cg_snapshot"
	cp -a "$BENCH_DATA" "$BENCH_DIR/cg_snapshot"
	# BENCH_CALLGRIND_DIR=DIR keeps each run's profile there (for
	# callgrind_annotate --inclusive=yes); /dev/null otherwise.
	local out=/dev/null
	[ -n "${BENCH_CALLGRIND_DIR:-}" ] && { mkdir -p "$BENCH_CALLGRIND_DIR"; chmod 777 "$BENCH_CALLGRIND_DIR"; }
	for n in base perfkit job bare attach; do
		[ -n "${BENCH_CALLGRIND_DIR:-}" ] && out=$BENCH_CALLGRIND_DIR/callgrind.one_new.$n
		ins[$n]=$(bench_instructions "$BENCH_DIR/cg_snapshot" "$BENCH_DIR/cg_$n.sql" "$out" \
			"$BENCH_DIR/cg_$n.out" -- synchronous_commit=off)
		grep -q "ERROR" "$BENCH_DIR/cg_$n.out" && { cat "$BENCH_DIR/cg_$n.out"; pk_die "the $n run failed"; }
		[ "$n" = perfkit ] && { grep -q 'count = "100"' "$BENCH_DIR/cg_$n.out" || pk_die "run_maintenance() did not maintain the 100 tables"; }
		if [ "$n" = job ]; then
			chown "$(pk_run_user)" "$BENCH_DIR/cg_check.sql"
			pk_as_user "$PK_BINDIR/postgres" --single -D "$BENCH_DATA" bench <"$BENCH_DIR/cg_check.sql" >"$BENCH_DIR/cg_check.out" 2>&1
			grep -q 'count = "100"' "$BENCH_DIR/cg_check.out" || { cat "$BENCH_DIR/cg_check.out"; pk_die "the job did not make the 100 partitions"; }
		fi
	done
	rm -rf "$BENCH_DATA"
	mv "$BENCH_DIR/cg_snapshot" "$BENCH_DATA"
	bench_restart
	local pk job bare attach
	pk=$((ins[perfkit] - ins[base])); job=$((ins[job] - ins[base])); bare=$((ins[bare] - ins[base])); attach=$((ins[attach] - ins[base]))
	echo "partitions.one_new_instructions: perfkit $pk, job $job, bare CREATE TABLE ... PARTITION OF $bare, bare CREATE TABLE (LIKE) + ATTACH PARTITION $attach (100 tables)"
	echo "partitions.one_new_instructions_vs_bare.ratio: $(awk -v a="$pk" -v b="$bare" 'BEGIN {printf "%.2f", a / b}') (run_maintenance() / CREATE TABLE ... PARTITION OF, target <= 1.25)"
	echo "partitions.one_new_instructions_job_vs_bare.ratio: $(awk -v a="$job" -v b="$bare" 'BEGIN {printf "%.2f", a / b}') (run_maintenance_job() / CREATE TABLE ... PARTITION OF, target <= 1.25)"
	echo "partitions.one_new_instructions_vs_attach.ratio: $(awk -v a="$pk" -v b="$attach" 'BEGIN {printf "%.2f", a / b}') (perfkit / the same DDL as perfkit, bare)"
}

bench_convert() {
	local rounds=${BENCH_ROUNDS:-5} nrows=${BENCH_ROWS:-5000000} r a b
	# 3. conversion of a populated table, with a concurrent writer
	bench_psql >/dev/null <<SQL
CREATE TABLE conv_src (id bigint, ts timestamptz NOT NULL, vehicle int, v real);
INSERT INTO conv_src SELECT g, date_trunc('month', now()) - interval '11 months'
	+ (g::float8 / $nrows) * (now() - (date_trunc('month', now()) - interval '11 months')),
	g % 1000, g % 97 FROM generate_series(1, $nrows) g;
CREATE INDEX ON conv_src (ts);
CREATE TABLE big_online AS SELECT * FROM conv_src;
CREATE INDEX ON big_online (ts);
CREATE TABLE big_offline AS SELECT * FROM conv_src;
CREATE INDEX ON big_offline (ts);
CREATE TABLE writer_lat (ms float8);
VACUUM ANALYZE big_online, big_offline, conv_src;
CHECKPOINT;
SQL
	local off_ms on_ms on_rows writer_rows
	off_ms=$(timed "
		ALTER TABLE big_offline RENAME TO big_offline_old;
		CREATE TABLE big_offline (LIKE big_offline_old INCLUDING ALL) PARTITION BY RANGE (ts);
		PERFORM perfkit.partition_table('big_offline', 'ts', '1 month', 4,
			date_trunc('month', now()) - interval '11 months');
		INSERT INTO big_offline SELECT * FROM big_offline_old;
		DROP TABLE big_offline_old")
	bench_psql -c "CHECKPOINT" >/dev/null

	# each insert records how long it took (lock waits included): the
	# longest is the longest stall the conversion caused the writer
	cat >"$BENCH_DIR/writer.sql" <<'PGB'
BEGIN;
INSERT INTO big_online SELECT 0, now(), 1, 1 FROM generate_series(1, 10);
INSERT INTO writer_lat SELECT extract(epoch FROM clock_timestamp() - transaction_timestamp()) * 1000;
COMMIT;
PGB
	chown "$(pk_run_user)" "$BENCH_DIR/writer.sql"
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n -c 1 -R 50 \
		-T 100000 -f "$BENCH_DIR/writer.sql" bench >"$BENCH_DIR/writer.log" 2>&1 &
	local wpid=$!
	sleep 2
	local t0 t1
	t0=$(date +%s%N)
	on_rows=$(bench_psql -At -c "SET client_min_messages = warning" \
		-c "SELECT perfkit.convert_to_partitioned('big_online', 'ts', '1 month', 50000)")
	t1=$(date +%s%N)
	sleep 1
	kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true
	on_ms=$(((t1 - t0) / 1000000))
	writer_rows=$(bench_psql -At -c "SELECT count(*) FROM big_online WHERE id = 0")
	[ "$(bench_psql -At -c "SELECT relkind FROM pg_class WHERE oid = 'big_online'::regclass")" = p ] ||
		pk_die "big_online was not converted"
	[ "$(bench_psql -At -c "SELECT count(*) FROM big_online WHERE id > 0")" -eq "$nrows" ] ||
		pk_die "big_online lost rows"
	echo "partitions.convert_rows: $nrows (+ $writer_rows inserted by the writer during the run)"
	echo "partitions.convert_offline_ms: $off_ms (writers blocked throughout)"
	echo "partitions.convert_online_ms: $on_ms (writer inserting 500 rows/s throughout)"
	echo "partitions.convert_online_longest_insert_ms: $(bench_psql -At -c "SELECT round(max(ms)) FROM writer_lat") (the writer's longest insert, lock waits included; $(bench_psql -At -c "SELECT count(*) FROM writer_lat") inserts)"
	echo "partitions.convert_offline_rows_per_s: $(awk -v n="$nrows" -v ms="$off_ms" 'BEGIN {printf "%.0f", n / ms * 1000}')"
	echo "partitions.convert_online_rows_per_s: $(awk -v n="$on_rows" -v ms="$on_ms" 'BEGIN {printf "%.0f", n / ms * 1000}')"
	echo "partitions.convert_online_vs_offline.ratio: $(awk -v a="$on_ms" -v b="$off_ms" -v n="$nrows" -v m="$on_rows" 'BEGIN {printf "%.2f", (m / a) / (n / b)}')"

	# 4. one month of 12: partitioned vs unpartitioned (bounds given as
	# constants, as an app passes them)
	bench_psql -c "ANALYZE big_online" >/dev/null
	local lo hi q
	lo=$(bench_psql -At -c "SELECT date_trunc('month', now()) - interval '6 months'")
	hi=$(bench_psql -At -c "SELECT date_trunc('month', now()) - interval '5 months'")
	q="SELECT count(*), avg(v) FROM %s WHERE ts >= '$lo' AND ts < '$hi'"
	declare -A qt
	for r in $(seq 1 "$rounds"); do
		qt[part]+="$(timed "PERFORM * FROM ($(printf "$q" big_online)) x") "
		qt[flat]+="$(timed "PERFORM * FROM ($(printf "$q" conv_src)) x") "
		qt[flat_noidx]+="$(timed "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; PERFORM * FROM ($(printf "$q" conv_src)) x") "
	done
	a=$(median ${qt[part]}); b=$(median ${qt[flat]})
	local c
	c=$(median ${qt[flat_noidx]})
	echo "partitions.month_query_partitioned_ms_runs: ${qt[part]% }"
	echo "partitions.month_query_unpartitioned_btree_ms_runs: ${qt[flat]% } (btree on ts, rows in ts order)"
	echo "partitions.month_query_unpartitioned_seqscan_ms_runs: ${qt[flat_noidx]% } (no index used)"
	echo "partitions.month_query_vs_unpartitioned_btree.ratio: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')"
	echo "partitions.month_query_vs_unpartitioned_seqscan.ratio: $(awk -v a="$a" -v b="$c" 'BEGIN {printf "%.2f", b / a}')"
}

# One conversion of a table of $1 rows (copied from stall_src) while the
# writer inserts 500 rows/s; prints the writer's longest insert in ms.
stall_once() {
	local n=$1 wpid
	bench_psql >/dev/null <<SQL
DROP TABLE IF EXISTS stall_t;
CREATE TABLE stall_t AS SELECT * FROM stall_src WHERE id <= $n;
CREATE INDEX ON stall_t (ts);
VACUUM ANALYZE stall_t;
TRUNCATE writer_lat;
CHECKPOINT;
SQL
	pk_as_user "$PK_BINDIR/pgbench" -h "$BENCH_DIR" -p "$BENCH_PORT" -U postgres -n -c 1 -R 50 \
		-T 100000 -f "$BENCH_DIR/stall_writer.sql" bench >"$BENCH_DIR/stall_writer.log" 2>&1 &
	wpid=$!
	sleep 2
	bench_psql -At -c "SET client_min_messages = warning" \
		-c "SELECT perfkit.convert_to_partitioned('stall_t', 'ts', '1 month', 50000)" >/dev/null
	sleep 1
	kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true
	[ "$(bench_psql -At -c "SELECT relkind FROM pg_class WHERE oid = 'stall_t'::regclass")" = p ] ||
		pk_die "stall_t was not converted"
	[ "$(bench_psql -At -c "SELECT count(*) FROM stall_t WHERE id > 0")" -eq "$n" ] ||
		pk_die "stall_t lost rows"
	# every insert the writer committed (a row of writer_lat each) is there, once
	[ "$(bench_psql -At -c "SELECT (SELECT count(*) FROM stall_t WHERE id = 0) = 10 * (SELECT count(*) FROM writer_lat)")" = t ] ||
		pk_die "stall_t lost or doubled some of the writer's rows"
	bench_psql -At -c "SELECT round(max(ms)) FROM writer_lat"
}

bench_stall() {
	local sizes=${BENCH_STALL_ROWS:-1000000 5000000} srounds=${BENCH_STALL_ROUNDS:-3} n r max=0
	declare -A st
	for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
	bench_psql >/dev/null <<SQL
CREATE TABLE stall_src (id bigint, ts timestamptz NOT NULL, vehicle int, v real);
INSERT INTO stall_src SELECT g, date_trunc('month', now()) - interval '11 months'
	+ (g::float8 / $max) * (now() - (date_trunc('month', now()) - interval '11 months')),
	g % 1000, g % 97 FROM generate_series(1, $max) g;
CREATE TABLE IF NOT EXISTS writer_lat (ms float8);
SQL
	# each insert records how long it took (lock waits included): the
	# longest is the longest stall the conversion caused the writer
	cat >"$BENCH_DIR/stall_writer.sql" <<'PGB'
BEGIN;
INSERT INTO stall_t SELECT 0, now(), 1, 1 FROM generate_series(1, 10);
INSERT INTO writer_lat SELECT extract(epoch FROM clock_timestamp() - transaction_timestamp()) * 1000;
COMMIT;
PGB
	chown "$(pk_run_user)" "$BENCH_DIR/stall_writer.sql"
	for r in $(seq 1 "$srounds"); do
		for n in $sizes; do
			st[$n]+="$(stall_once "$n") "
		done
	done
	for n in $sizes; do
		echo "partitions.stall_${n}_rows_longest_insert_ms_runs: ${st[$n]% }"
		echo "partitions.stall_${n}_rows_longest_insert_ms: $(median ${st[$n]}) (min / max $(minmax ${st[$n]}))"
	done
	set -- $sizes
	if [ $# -ge 2 ]; then
		local small large
		small=$(median ${st[$1]}); large=$(median ${st[${!#}]})
		echo "partitions.stall_largest_ms: $large (target <= 200)"
		echo "partitions.stall_smallest_vs_largest.ratio: $(awk -v a="$small" -v b="$large" 'BEGIN {printf "%.2f", a / b}') (target <= 1: no longer for the smaller table)"
	fi
}
