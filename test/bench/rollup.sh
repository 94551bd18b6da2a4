# rollup: what rollups buy and what they cost, against doing without.
#
#   1. Dashboard: totals per day and region over the last 30 days, from the
#      daily rollup vs the same GROUP BY over 10 million raw rows (one
#      year, btree on the time column).  Target: >= 1000x.
#   2. Incremental refresh of one new hour of rows (1,000 rows in an hour
#      that had none): time on the 10M-row source vs on a 1M-row source.
#      Median of BENCH_ROUNDS.  Target: <= 1.2x.
#   3. Full backfill: the first refresh_rollup() of a daily rollup over
#      the 10M rows vs the INSERT ... SELECT ... GROUP BY ... ON CONFLICT a
#      DBA would write, into a table of the same shape.  Target: >= 2x
#      the hand-written statement's rows/s, same run, same data, and the
#      same rows (checked).  With the default batch size (10M rows) that
#      is one batch; also measured with 1M-row batches, and with
#      max_parallel_workers_per_gather = 0 (what the batch's cheaper bucket
#      arithmetic alone gives).  The four alternate over BENCH_BACKFILL_ROUNDS
#      (3) rounds; medians.  BENCH_PARTS=backfill runs only this part.
#   4. Write overhead of change capture: CPU instructions (callgrind, a
#      single-user backend) per autocommit single-row INSERT (and per
#      100-row INSERT) of current rows (streaming ingest) into a table with
#      an hourly rollup (refreshed, so its watermark is published) vs an
#      identical table without; also with two rollups (hourly and daily).
#      Targets (issue 14), instructions without / with: single-row >= 0.95
#      (two rollups >= 0.92), 100-row >= 0.97, late single-row >= 0.85.  Late
#      rows cost a log row per statement and rollup: the "late" figures
#      insert rows one to three days old; the "frozen" figure inserts them
#      into a rollup frozen before 12 hours ago (merged into its state table
#      at once).  BENCH_PARTS=capture runs only this part;
#      BENCH_CAPTURE_KINDS="one hundred late frozen" picks the cases.

bench_main() {
	local rounds=${BENCH_ROUNDS:-5} secs=${BENCH_SECONDS:-10}
	local r

	bench_conf "shared_preload_libraries = 'perfkit'" "max_connections = 50" \
		"work_mem = '64MB'" "max_parallel_workers_per_gather = 2"
	bench_restart
	bench_psql -c "CREATE EXTENSION perfkit"

	if [ "${BENCH_PARTS:-all}" = capture ]; then
		bench_capture "$rounds"
		return
	fi
	local small=1000000
	[ "${BENCH_PARTS:-all}" = backfill ] && small=0
	echo "loading 10M + $small rows (a minute or two)"
	bench_psql <<SQL
CREATE TABLE tel_10m (ts timestamptz NOT NULL, vehicle int NOT NULL, region text NOT NULL, km numeric NOT NULL);
CREATE TABLE tel_1m (LIKE tel_10m);
-- one year up to the start of the previous hour, in time order
INSERT INTO tel_10m
SELECT date_trunc('hour', now()) - interval '1 hour' - (10000000 - i) * interval '3.1536 seconds',
	   i % 500, 'region-' || i % 12, (i % 977) / 10.0
FROM generate_series(1, 10000000) i;
INSERT INTO tel_1m
SELECT date_trunc('hour', now()) - interval '1 hour' - (1000000 - i) * interval '31.536 seconds',
	   i % 500, 'region-' || i % 12, (i % 977) / 10.0
FROM generate_series(1, $small) i;
CREATE INDEX ON tel_10m (ts);
CREATE INDEX ON tel_1m (ts);
VACUUM ANALYZE tel_10m;
VACUUM ANALYZE tel_1m;
CREATE FUNCTION ms(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END \$\$;
SQL

	# 3. Full backfill: hand-written, rollup, rollup in 1M-row batches,
	# rollup without parallel workers, alternating over 3 rounds (after a
	# warming scan); medians.
	bench_psql -c "SELECT count(*) FROM tel_10m" >/dev/null
	bench_psql -c "CREATE TABLE hand_daily (bucket timestamptz, region text, _rows bigint, count bigint,
		sum_km numeric, UNIQUE NULLS NOT DISTINCT (bucket, region))"
	local hand=() pk=() pk1m=() pks=() r last=${BENCH_BACKFILL_ROUNDS:-3}
	for r in $(seq 1 "$last"); do
		hand+=("$(bench_psql -At <<'SQL'
TRUNCATE hand_daily;
SELECT ms($q$INSERT INTO hand_daily
	SELECT date_trunc('day', ts, 'UTC'), region, count(*), count(*), sum(km) FROM tel_10m
	WHERE ts < date_trunc('day', now(), 'UTC')
	GROUP BY 1, 2
	ON CONFLICT (bucket, region) DO UPDATE SET _rows = EXCLUDED._rows, count = EXCLUDED.count,
		sum_km = EXCLUDED.sum_km$q$);
SQL
)")
		for variant in serial 10000000 1000000; do
			local t batch=$variant workers=2
			[ "$variant" = serial ] && batch=10000000 workers=0
			t=$(bench_psql -At <<SQL | sed -n 2p
SET client_min_messages = warning;
SET perfkit.rollup_batch_rows = $batch;
SET max_parallel_workers_per_gather = $workers;
SELECT perfkit.create_rollup('daily_10m', 'tel_10m', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)']) IS NULL;
SELECT ms(\$q\$SELECT perfkit.refresh_rollup('daily_10m')\$q\$);
SQL
)
			case $variant in
			serial) pks+=("$t") ;;
			10000000) pk+=("$t") ;;
			*) pk1m+=("$t") ;;
			esac
			[ "$r$variant" = "${last}1000000" ] || bench_psql -At -c "SELECT perfkit.drop_rollup('daily_10m')" >/dev/null
		done
	done
	# the rollup left in place is the 1M-batch one; it must equal the hand-written table
	bench_psql -At -c "SELECT count(*) FROM ((SELECT bucket, region, count, sum_km FROM daily_10m EXCEPT SELECT bucket, region, count, sum_km FROM hand_daily) UNION ALL (SELECT bucket, region, count, sum_km FROM hand_daily EXCEPT SELECT bucket, region, count, sum_km FROM daily_10m)) d" |
		grep -qx 0 || pk_die "the rollup and the hand-written table differ"
	# ... and equal GROUP BY over the raw rows (the hand-written table is
	# that, but check the rollup itself too).
	bench_psql -At -c "SELECT count(*) FROM ((SELECT bucket, region, count, sum_km FROM daily_10m EXCEPT SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km) FROM tel_10m WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2) UNION ALL (SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km) FROM tel_10m WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2 EXCEPT SELECT bucket, region, count, sum_km FROM daily_10m)) d" |
		grep -qx 0 || pk_die "the rollup and GROUP BY over the raw rows differ"
	local mh mp mp1 mps
	mh=$(median "${hand[@]}")
	mp=$(median "${pk[@]}")
	mp1=$(median "${pk1m[@]}")
	mps=$(median "${pks[@]}")
	echo "backfill_hand_written_ms: $mh (rounds: ${hand[*]})"
	echo "backfill_refresh_rollup_ms: $mp (rounds: ${pk[*]}; max_parallel_workers_per_gather = 2)"
	echo "backfill_refresh_rollup_1m_batches_ms: $mp1 (rounds: ${pk1m[*]})"
	echo "backfill_refresh_rollup_no_workers_ms: $mps (rounds: ${pks[*]}; max_parallel_workers_per_gather = 0)"
	echo "backfill_ratio (rows/s, rollup / hand-written; target >= 2): $(awk -v a="$mh" -v b="$mp" 'BEGIN {printf "%.3f", a / b}')"
	echo "backfill_ratio_1m_batches (informational): $(awk -v a="$mh" -v b="$mp1" 'BEGIN {printf "%.3f", a / b}')"
	echo "backfill_ratio_no_workers (informational): $(awk -v a="$mh" -v b="$mps" 'BEGIN {printf "%.3f", a / b}')"
	echo "load: $(uptime)"
	bench_backfill_cpu
	[ "${BENCH_PARTS:-all}" = backfill ] && return

	# 1. Dashboard: 30 days by day and region.
	bench_psql -At -c "SELECT perfkit.create_rollup('daily_1m', 'tel_1m', 'ts', 'day', ARRAY['region'], ARRAY['count(*)', 'sum(km)']) IS NULL" \
		-c "SET client_min_messages = warning" -c "SELECT perfkit.refresh_rollup('daily_1m')" >/dev/null
	cat >"$BENCH_DIR/raw.sql" <<'PGB'
SELECT date_trunc('day', ts, 'UTC') AS day, region, count(*), sum(km) FROM tel_10m
WHERE ts >= date_trunc('day', now(), 'UTC') - interval '30 days' AND ts < date_trunc('day', now(), 'UTC')
GROUP BY 1, 2 ORDER BY 1, 2;
PGB
	cat >"$BENCH_DIR/rollup.sql" <<'PGB'
SELECT bucket AS day, region, count, sum_km FROM daily_10m
WHERE bucket >= date_trunc('day', now(), 'UTC') - interval '30 days' AND bucket < date_trunc('day', now(), 'UTC')
ORDER BY 1, 2;
PGB
	chown "$(pk_run_user)" "$BENCH_DIR"/*.sql
	[ "$(bench_psql -At -f "$BENCH_DIR/raw.sql" | md5sum)" = "$(bench_psql -At -f "$BENCH_DIR/rollup.sql" | md5sum)" ] ||
		pk_die "the dashboard answers differ"
	local raw_tps roll_tps
	bench_pgbench -n -t 3 -f "$BENCH_DIR/raw.sql" >/dev/null		# warm
	raw_tps=$(bench_pgbench -n -t 10 -f "$BENCH_DIR/raw.sql")
	roll_tps=$(bench_pgbench -n -M prepared -T "$secs" -f "$BENCH_DIR/rollup.sql")
	echo "dashboard_raw_ms: $(awk -v t="$raw_tps" 'BEGIN {printf "%.2f", 1000 / t}')"
	echo "dashboard_rollup_ms: $(awk -v t="$roll_tps" 'BEGIN {printf "%.4f", 1000 / t}')"
	echo "dashboard_ratio (target >= 1000): $(awk -v a="$roll_tps" -v b="$raw_tps" 'BEGIN {printf "%.0f", a / b}')"

	# 2. One new hour: hourly rollups on both sources, materialized; then
	# 1,000 rows land in an hour of the last week that had none.
	bench_psql -At <<'SQL' >/dev/null
SET client_min_messages = warning;
SELECT perfkit.create_rollup('hourly_10m', 'tel_10m', 'ts', 'hour', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
SELECT perfkit.create_rollup('hourly_1m', 'tel_1m', 'ts', 'hour', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
SELECT perfkit.refresh_rollup('hourly_10m');
SELECT perfkit.refresh_rollup('hourly_1m');
-- make room: the 48 newest hours of both sources hold no rows
DELETE FROM tel_10m WHERE ts >= date_trunc('hour', now()) - interval '49 hours';
DELETE FROM tel_1m WHERE ts >= date_trunc('hour', now()) - interval '49 hours';
VACUUM ANALYZE tel_10m;
VACUUM ANALYZE tel_1m;
SELECT perfkit.refresh_rollup('hourly_10m');
SELECT perfkit.refresh_rollup('hourly_1m');
SQL
	local t10=() t1=() src h
	for r in $(seq 1 "$rounds"); do
		for src in 10m 1m; do
			h=$((r * 3 + 2))
			bench_psql -At -c "INSERT INTO tel_$src SELECT date_trunc('hour', now()) - interval '$h hours' + i * interval '3 seconds', i % 500, 'region-' || i % 12, i / 10.0 FROM generate_series(0, 999) i" >/dev/null
			if [ "$src" = 10m ]; then
				t10+=("$(bench_psql -At -c "SELECT ms(\$q\$SELECT perfkit.refresh_rollup('hourly_10m')\$q\$)")")
			else
				t1+=("$(bench_psql -At -c "SELECT ms(\$q\$SELECT perfkit.refresh_rollup('hourly_1m')\$q\$)")")
			fi
		done
	done
	local m10 m1
	m10=$(median "${t10[@]}")
	m1=$(median "${t1[@]}")
	echo "new_hour_refresh_10m_ms: $m10 (rounds: ${t10[*]})"
	echo "new_hour_refresh_1m_ms: $m1 (rounds: ${t1[*]})"
	echo "new_hour_ratio (10M / 1M; target <= 1.2): $(awk -v a="$m10" -v b="$m1" 'BEGIN {printf "%.3f", a / b}')"

	bench_capture "$rounds"
}

# 3b. CPU per row of a backfill without parallel workers: instructions
# (callgrind, a single-user backend, JIT off) of the first refresh of a
# daily rollup over 1M rows (the newest 36.5 days of tel_10m) against the
# hand-written INSERT ... SELECT, each less a run of SELECT 1 (startup).
# What the cheaper bucket arithmetic and the first-bucket probe save,
# deterministically; parallel workers come on top of that.
bench_backfill_cpu() {
	pk_require_packages valgrind
	bench_psql -At <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE TABLE cpu_src (LIKE tel_10m);
INSERT INTO cpu_src SELECT * FROM tel_10m WHERE ts >= (SELECT max(ts) FROM tel_10m) - interval '36.5 days';
CREATE INDEX ON cpu_src (ts);
VACUUM ANALYZE cpu_src;
CREATE TABLE cpu_hand (LIKE hand_daily INCLUDING ALL);
SELECT perfkit.create_rollup('cpu_daily', 'cpu_src', 'ts', 'day', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
SQL
	local base hand roll rows
	rows=$(bench_psql -At -c "SELECT count(*) FROM cpu_src")
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	rm -rf "$BENCH_DIR/snapshot_cpu"
	cp -a "$BENCH_DATA" "$BENCH_DIR/snapshot_cpu"
	cpu_run() {	# cpu_run STATEMENT: instructions of a single-user backend running it
		rm -rf "$BENCH_DATA"
		cp -a "$BENCH_DIR/snapshot_cpu" "$BENCH_DATA"
		echo "$1" >"$BENCH_DIR/cpu.sql"
		chown "$(pk_run_user)" "$BENCH_DIR/cpu.sql"
		pk_as_user valgrind --tool=callgrind --callgrind-out-file=/dev/null \
			"$PK_BINDIR/postgres" --single -D "$BENCH_DATA" -c jit=off -c client_min_messages=warning bench \
			<"$BENCH_DIR/cpu.sql" 2>&1 >/dev/null |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
	}
	base=$(cpu_run "SELECT 1")
	hand=$(cpu_run "INSERT INTO cpu_hand SELECT date_trunc('day', ts, 'UTC'), region, count(*), count(*), sum(km) FROM cpu_src WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2 ON CONFLICT (bucket, region) DO UPDATE SET _rows = EXCLUDED._rows, count = EXCLUDED.count, sum_km = EXCLUDED.sum_km")
	roll=$(cpu_run "SELECT perfkit.refresh_rollup('cpu_daily')")
	rm -rf "$BENCH_DATA"
	cp -a "$BENCH_DIR/snapshot_cpu" "$BENCH_DATA"
	rm -rf "$BENCH_DIR/snapshot_cpu"
	bench_restart
	echo "backfill_instructions_per_row: hand-written $(( (hand - base) / rows )), refresh_rollup $(( (roll - base) / rows )) (no parallel workers, JIT off)"
	echo "backfill_cpu_ratio (instructions, hand-written / rollup; informational): $(awk -v a="$((hand - base))" -v b="$((roll - base))" 'BEGIN {printf "%.3f", a / b}')"
}

# 4. Write overhead of change capture.
bench_capture() {
	local rounds=$1 r
	bench_psql -At <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE TABLE ingest_plain (ts timestamptz NOT NULL, vehicle int, region text, km numeric);
CREATE TABLE ingest_rolled (LIKE ingest_plain);
CREATE TABLE ingest_rolled2 (LIKE ingest_plain);
CREATE TABLE ingest_frozen (LIKE ingest_plain);
CREATE INDEX ON ingest_plain (ts);
CREATE INDEX ON ingest_rolled (ts);
CREATE INDEX ON ingest_rolled2 (ts);
CREATE INDEX ON ingest_frozen (ts);
SELECT perfkit.create_rollup('ingest_hourly', 'ingest_rolled', 'ts', 'hour', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
SELECT perfkit.create_rollup('ingest2_hourly', 'ingest_rolled2', 'ts', 'hour', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
SELECT perfkit.create_rollup('ingest2_daily', 'ingest_rolled2', 'ts', 'day', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
INSERT INTO ingest_rolled VALUES (now() - interval '1 day', 1, 'region-1', 1);
INSERT INTO ingest_rolled2 VALUES (now() - interval '1 day', 1, 'region-1', 1);
SELECT perfkit.refresh_rollup('ingest_hourly'), perfkit.refresh_rollup('ingest2_hourly'),
	   perfkit.refresh_rollup('ingest2_daily');
-- late rows into frozen buckets: merged into the state table at once
SELECT perfkit.create_rollup('ingest_frozen_hourly', 'ingest_frozen', 'ts', 'hour', ARRAY['region'], ARRAY['count(*)', 'sum(km)']);
INSERT INTO ingest_frozen VALUES (now() - interval '4 days', 1, 'region-1', 1);
SELECT perfkit.freeze_rollup('ingest_frozen_hourly', now() - interval '12 hours');
SQL
	# What an INSERT costs is counted in CPU instructions (valgrind
	# --tool=callgrind) of a single-user backend running N and then 2N
	# autocommit statements from the same copy of the data directory; the
	# difference is the cost of N statements without startup.  TPS and even
	# CPU time swing by 2x on these shared cores; instruction counts do not.
	pk_require_packages valgrind
	local kind tbl n
	stmts() {	# stmts KIND TABLE N
		local kind=$1 tbl=$2 n=$3
		# publishes the watermarks: shared memory starts empty
		echo "SELECT perfkit.refresh_rollup(name) FROM perfkit.rollups WHERE source = 'ingest_$tbl'::regclass"
		case $kind in
		one)
			awk -v n="$n" -v t="$tbl" 'BEGIN { for (i = 1; i <= n; i++)
				printf "INSERT INTO ingest_%s VALUES (clock_timestamp(), %d, '"'"'region-%d'"'"', %d.5)\n", t, i % 500, i % 12, i % 97 }' ;;
		hundred)
			awk -v n="$n" -v t="$tbl" 'BEGIN { for (i = 1; i <= n; i++)
				printf "INSERT INTO ingest_%s SELECT clock_timestamp(), g %% 500, '"'"'region-'"'"' || g %% 12, g / 10.0 FROM generate_series(1, 100) g\n", t }' ;;
		late|frozen)
			awk -v n="$n" -v t="$tbl" 'BEGIN { for (i = 1; i <= n; i++)
				printf "INSERT INTO ingest_%s VALUES (now() - interval '"'"'%d minutes'"'"', %d, '"'"'region-%d'"'"', 1)\n", t, 1440 + (i * 37) % 2880, i % 500, i % 12 }' ;;
		esac
	}
	instructions() {	# instructions KIND TABLE N
		stmts "$@" >"$BENCH_DIR/stmts.sql"
		# BENCH_CALLGRIND_DIR=DIR keeps each run's profile there (for
		# callgrind_annotate --inclusive=yes); /dev/null otherwise.
		local out=/dev/null
		if [ -n "${BENCH_CALLGRIND_DIR:-}" ]; then
			mkdir -p "$BENCH_CALLGRIND_DIR"
			chmod 777 "$BENCH_CALLGRIND_DIR"
			out=$BENCH_CALLGRIND_DIR/callgrind.$1.$2.$3
		fi
		bench_instructions "$BENCH_DIR/snapshot" "$BENCH_DIR/stmts.sql" "$out" -- synchronous_commit=off
	}
	pk_as_user "$PK_BINDIR/pg_ctl" -D "$BENCH_DATA" -m fast -w stop >/dev/null
	cp -a "$BENCH_DATA" "$BENCH_DIR/snapshot"
	for kind in ${BENCH_CAPTURE_KINDS:-one hundred late frozen}; do
		declare -A per=()
		n=1000
		[ "$kind" = hundred ] && n=100
		if [ "$kind" = frozen ]; then
			# the late rows again, into buckets frozen before 12 hours ago
			for tbl in plain frozen; do
				local one two
				one=$(instructions "$kind" "$tbl" "$n")
				two=$(instructions "$kind" "$tbl" $((2 * n)))
				per[$tbl]=$(( (two - one) / n ))
			done
			echo "insert_frozen_instructions_per_statement: plain ${per[plain]}, one rollup, frozen bucket (merged) ${per[frozen]}"
			echo "capture_ratio_frozen (informational; instructions without / with): $(awk -v a="${per[plain]}" -v b="${per[frozen]}" 'BEGIN {printf "%.3f", a / b}')"
			continue
		fi
		for tbl in plain rolled rolled2; do
			local one two
			one=$(instructions "$kind" "$tbl" "$n")
			two=$(instructions "$kind" "$tbl" $((2 * n)))
			per[$tbl]=$(( (two - one) / n ))
		done
		echo "insert_${kind}_instructions_per_statement: plain ${per[plain]}, one rollup ${per[rolled]}, two rollups ${per[rolled2]}"
		# issue 14's targets
		local target=0.95 target2=0.92
		[ "$kind" = hundred ] && target=0.97 target2=informational
		[ "$kind" = late ] && target=0.85 target2=informational
		echo "capture_ratio_${kind} (one rollup: instructions without / with; target >= $target): $(awk -v a="${per[plain]}" -v b="${per[rolled]}" 'BEGIN {printf "%.3f", a / b}')"
		echo "capture_ratio_${kind}_two_rollups (target: $target2): $(awk -v a="${per[plain]}" -v b="${per[rolled2]}" 'BEGIN {printf "%.3f", a / b}')"
	done
	rm -rf "$BENCH_DATA"
	cp -a "$BENCH_DIR/snapshot" "$BENCH_DATA"
	bench_restart
	bench_psql -At -c "SELECT 'capture_change_rows_logged: ' || count(*) FROM perfkit.rollup_changes"
}
