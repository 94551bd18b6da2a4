# health: perfkit.health() on a database with 1,000 tables.
#
#   1,000 tables of 100 rows each (one with an index), every one read by a
#   sequential scan and half of them by an index scan too, so that the
#   statistics views have a row per table.  Baseline: a bare
#   "SELECT count(*) FROM pg_stat_user_tables", the one statistics view
#   health() must read once.  Each query runs BENCH_CALLS times (25) in
#   one psql session after a warm-up call; the figure is the median of
#   the per-call times psql's \timing reports.  Target: health() < 100 ms.
#   Also: health() with the sequential scan check judging and naming all
#   1,000 tables (its worst case), metrics() (which runs every check) and
#   health_summary().

bench_main() {
	local calls=${BENCH_CALLS:-25} q name
	declare -A ms

	bench_conf "shared_preload_libraries = 'perfkit'"
	bench_restart
	bench_psql -c "CREATE EXTENSION perfkit" >/dev/null
	bench_psql >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 1..1000 LOOP
		EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v int)', i);
		EXECUTE format('INSERT INTO t%s SELECT g, g FROM generate_series(1, 100) g', i);
	END LOOP;
END
$$;
SQL
	bench_psql >/dev/null <<'SQL'
DO $$
DECLARE
	n bigint;
BEGIN
	SET LOCAL enable_seqscan = off;
	FOR i IN 1..1000 BY 2 LOOP
		EXECUTE format('SELECT count(*) FROM t%s WHERE id = 5', i) INTO n;
	END LOOP;
	SET LOCAL enable_seqscan = on;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_bitmapscan = off;
	FOR i IN 1..1000 LOOP
		EXECUTE format('SELECT count(*) FROM t%s', i) INTO n;
	END LOOP;
END
$$;
SQL
	bench_psql -c "VACUUM ANALYZE" -c "SELECT pg_stat_force_next_flush()" >/dev/null
	echo "health.tables: $(bench_psql -At -c 'SELECT count(*) FROM pg_stat_user_tables')"

	for name in baseline health flagged summary metrics; do
		pre=
		case $name in
		baseline) q='SELECT count(*) FROM pg_stat_user_tables' ;;
		health) q='SELECT * FROM perfkit.health()' ;;
		# worst case: every table judged and named by the sequential scan check
		flagged) q='SELECT * FROM perfkit.health()'
			pre='SET perfkit.health_seq_scan_min_rows = 0; SET perfkit.health_seq_scan_share = 0;' ;;
		summary) q='SELECT perfkit.health_summary()' ;;
		metrics) q='SELECT perfkit.metrics()' ;;
		esac
		ms[$name]=$( { echo "$pre"; echo '\timing on'; echo "$q;"; for _ in $(seq 1 "$calls"); do echo "$q;"; done; } |
			bench_psql -o /dev/null 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$calls")
		echo "health.${name}_ms_runs: $(echo ${ms[$name]})"
	done
	local base h f s m
	base=$(median ${ms[baseline]})
	h=$(median ${ms[health]})
	f=$(median ${ms[flagged]})
	s=$(median ${ms[summary]})
	m=$(median ${ms[metrics]})
	echo "health.config: tables=1000 calls=$calls"
	echo "health.baseline_pg_stat_user_tables_ms: $base"
	echo "health.health_ms: $h"
	echo "health.health_all_tables_flagged_ms: $f"
	echo "health.health_summary_ms: $s"
	echo "health.metrics_ms: $m"
	echo "health.health_vs_baseline: $(awk -v a="$h" -v b="$base" 'BEGIN {printf "%.1fx", a / b}')"
	echo "health.health_all_tables_flagged_vs_baseline: $(awk -v a="$f" -v b="$base" 'BEGIN {printf "%.1fx", a / b}')"
	echo "health.health_under_100ms: $(awk -v a="$h" -v f="$f" 'BEGIN {print (a < 100 && f < 100) ? "yes" : "no"}')"
}
