# partitions: partition maintenance against pg_partman 4.7 (Debian's
# postgresql-15-partman, installed for this benchmark only; perfkit does
# not depend on it), in the same cluster.
#
#   1. run_maintenance() with nothing to do, over 100 daily-partitioned
#      tables of 30 partitions each (and a default partition): perfkit's
#      run_maintenance() vs partman.run_maintenance(), both one
#      transaction; also perfkit's job procedure, which commits after each
#      table.  BENCH_ROUNDS runs each, alternating; medians.  Target >= 10x.
#   2. One new partition per table to create (premake raised by one on
#      both sides, then one run): BENCH_ROUNDS rounds.  Target >= 3x.
#   3. convert_to_partitioned of a BENCH_ROWS-row (5M) table into monthly
#      partitions while pgbench keeps inserting into it, vs the offline
#      recipe (rename, create the partitioned table and its partitions,
#      INSERT ... SELECT, drop) on an identical table with no writer.
#      Rows/s of each.  Target >= 0.8x.
#   4. A range query over one month of the 12-month table: partitioned
#      (pruned to one partition) vs the unpartitioned copy, both with an
#      index on the time column.

bench_main() {
	local rounds=${BENCH_ROUNDS:-5} nrows=${BENCH_ROWS:-5000000} r
	declare -A t

	pk_require_packages postgresql-15-partman
	bench_conf "shared_preload_libraries = 'perfkit'" "max_locks_per_transaction = 1024" \
		"max_parallel_workers_per_gather = 0"
	bench_restart
	bench_psql -c "CREATE EXTENSION perfkit" -c "CREATE SCHEMA partman" \
		-c "CREATE EXTENSION pg_partman SCHEMA partman" >/dev/null

	# 100 + 100 identical tables: 25 days back, today, 4 ahead, a default.
	bench_psql >/dev/null <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXECUTE format('CREATE TABLE pk_t%s (id bigint, ts timestamptz NOT NULL, v real) PARTITION BY RANGE (ts)', i);
		EXECUTE format('CREATE INDEX ON pk_t%s (ts)', i);
		PERFORM perfkit.partition_table(format('pk_t%s', i)::regclass, 'ts', '1 day', 4,
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
	diff=$(bench_psql -At -c "SELECT (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p') / 100 - (SELECT count(*) FROM perfkit.partitions WHERE NOT is_default) / 100")
	bench_psql -c "UPDATE perfkit.partition_config SET premake = premake + $diff" \
		-c "SELECT count(*) FROM perfkit.run_maintenance()" >/dev/null
	echo "partitions.tables: $(bench_psql -At -c "SELECT count(*) FROM perfkit.partition_sets")" \
		"perfkit, $(bench_psql -At -c "SELECT count(*) FROM partman.part_config") pg_partman"
	echo "partitions.partitions_per_table: perfkit $(bench_psql -At -c "SELECT count(*) / 100 FROM perfkit.partitions WHERE NOT is_default")," \
		"pg_partman $(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p'")"

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

	# 2. one new partition per table
	for r in $(seq 1 "$rounds"); do
		bench_psql -c "UPDATE perfkit.partition_config SET premake = premake + 1" \
			-c "UPDATE partman.part_config SET premake = premake + 1" >/dev/null
		t[pk_one]+="$(timed "PERFORM perfkit.run_maintenance()") "
		t[pm_one]+="$(timed "PERFORM partman.run_maintenance(p_analyze := false, p_jobmon := false)") "
	done
	local pk_parts pm_parts
	pk_parts=$(bench_psql -At -c "SELECT count(*) / 100 FROM perfkit.partitions WHERE NOT is_default")
	pm_parts=$(bench_psql -At -c "SELECT count(*) / 100 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname ~ '^pm_t[0-9]+_p'")
	echo "partitions.after_round_2: perfkit $pk_parts, pg_partman $pm_parts partitions per table"
	[ "$pk_parts" -eq "$pm_parts" ] || pk_die "the two sides did not create the same partitions"

	local a b
	a=$(median ${t[pk_noop]}); b=$(median ${t[pm_noop]})
	echo "partitions.noop_perfkit_ms_runs: ${t[pk_noop]% }"
	echo "partitions.noop_partman_ms_runs: ${t[pm_noop]% }"
	echo "partitions.noop_perfkit_job_ms_runs: ${t[pk_job_noop]% } (CALL, commits per table, client round trip included)"
	echo "partitions.noop_perfkit_ms: $a"
	echo "partitions.noop_partman_ms: $b"
	echo "partitions.noop_vs_partman.ratio: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", b / a}')"
	a=$(median ${t[pk_one]}); b=$(median ${t[pm_one]})
	echo "partitions.one_new_perfkit_ms_runs: ${t[pk_one]% }"
	echo "partitions.one_new_partman_ms_runs: ${t[pm_one]% }"
	echo "partitions.one_new_perfkit_ms: $a"
	echo "partitions.one_new_partman_ms: $b"
	echo "partitions.one_new_vs_partman.ratio: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", b / a}')"

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
