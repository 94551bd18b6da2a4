--
-- The tour, last part: health checks and metrics.
--
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '################################################################'
\echo '# perfkit: health checks and metrics'
\echo '################################################################'
\echo
\echo 'The app''s /api/health/db endpoint: one call, every check ok, warning'
\echo 'or critical. Thresholds are settings (perfkit.health_*); the tour''s'
\echo 'sequential scans of 1 million telemetry rows show up here:'
SELECT pg_stat_force_next_flush() \g /dev/null
SELECT perfkit.health_summary() - 'checks' AS summary;

\echo
\echo 'An N+1 loop in the app: one lookup per vehicle. perfkit.n_plus_one_suspects()'
\echo 'finds statements run many times with about one row each (from'
\echo 'pg_stat_statements when installed, else the advisor''s workload capture):'
SET perfkit.advisor_sample_rate = 1;
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		PERFORM vin FROM vehicles WHERE id = i;
	END LOOP;
END
$$;
SET perfkit.advisor_sample_rate = 0.05;
SELECT source, calls, rows, round(rows_per_call::numeric, 2) AS rows_per_call, left(query, 60) AS query
FROM perfkit.n_plus_one_suspects(min_calls => 50);

\echo
\echo 'The slowest statements by total time:'
SELECT source, calls, round(total_ms::numeric, 1) AS total_ms, left(query, 60) AS query
FROM perfkit.slow_queries(3);

\echo
\echo 'The same facts for Prometheus (perfkit.metrics(), text exposition format), a few lines:'
SELECT l AS metrics FROM regexp_split_to_table(perfkit.metrics(), E'\n') l
WHERE l ~ '^# (HELP|TYPE) perfkit_health_status|^perfkit_health_(status|overall)|^perfkit_rollup_lag_seconds'
LIMIT 12;

\echo
\echo 'And last, perfkit.health():'
SELECT check_name, status, value, hint FROM perfkit.health();
