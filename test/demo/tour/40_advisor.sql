--
-- The tour, part 4: the index advisor.
--
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '################################################################'
\echo '# perfkit: the index advisor'
\echo '################################################################'
\echo
\echo 'The telemetry table has 1 million rows and no index. The app runs a'
\echo 'per-vehicle chart query, an alert list and a VIN lookup. perfkit samples'
\echo 'what runs (perfkit.advisor_sample_rate; 1 here, to capture it all):'
SET perfkit.advisor_sample_rate = 1;
SELECT perfkit.workload_reset() >= 0 AS workload_reset;
\timing on
\echo 'The slow query, run directly (a sequential scan of 1 million rows):'
SELECT count(*) AS samples, round(avg(speed_kmh)::numeric, 1) AS avg_speed
FROM telemetry WHERE vehicle_id = 42 AND recorded_at >= now() - interval '30 minutes';
\timing off
SELECT count(*) AS samples FROM telemetry WHERE vehicle_id = 7 AND recorded_at >= now() - interval '30 minutes' \g /dev/null
SELECT count(*) AS samples FROM telemetry WHERE vehicle_id = 9 AND recorded_at >= now() - interval '10 minutes' \g /dev/null
SELECT recorded_at, speed_kmh FROM telemetry WHERE vehicle_id = 3 ORDER BY recorded_at DESC LIMIT 10 \g /dev/null
SELECT recorded_at, speed_kmh FROM telemetry WHERE vehicle_id = 4 ORDER BY recorded_at DESC LIMIT 10 \g /dev/null
SELECT * FROM vehicles WHERE vin = 'VIN00000000000042' \g /dev/null
SELECT count(*) FROM trips WHERE vehicle_id = 5 AND started_at > now() - interval '7 days' \g /dev/null
SET perfkit.advisor_sample_rate = 0.05;

\echo
\echo 'perfkit.workload: per query id, calls, time and one real example text'
\echo '(superusers and pg_read_all_stats only: texts may hold personal data):'
SELECT command, calls, round(mean_time::numeric, 1) AS mean_ms, left(example, 70) AS example
FROM perfkit.workload
WHERE database = current_database() AND example ~ '(telemetry|vehicles|trips) WHERE'
ORDER BY total_time DESC LIMIT 5;

\echo
\echo 'index_advisor(query) proves an index on one query with a hypothetical'
\echo 'index (the planner is shown it; nothing is built):'
SELECT index_statement, round(cost_before) AS cost_before, round(cost_after) AS cost_after,
	   round(improvement::numeric, 3) AS improvement
FROM perfkit.index_advisor($q$SELECT count(*) FROM telemetry
	WHERE vehicle_id = 42 AND recorded_at >= now() - interval '30 minutes'$q$);

\echo
\echo 'recommend_indexes() chooses for the whole captured workload: one composite'
\echo 'serves the chart and the latest-rows queries; the VIN lookup is served by'
\echo 'the existing unique index, so nothing is proposed for it:'
SELECT index_statement, kind, pg_size_pretty(estimated_bytes) AS size, queries,
	   round(improvement::numeric, 3) AS improvement, reason
FROM perfkit.recommend_indexes();

\echo
\echo 'apply_index() builds one of them (only statements perfkit produced):'
\timing on
SELECT perfkit.apply_index(index_statement) AS built
FROM perfkit.recommend_indexes() WHERE table_name = 'telemetry'::regclass LIMIT 1;
\timing off
\echo 'The same query, now:'
\timing on
SELECT count(*) AS samples, round(avg(speed_kmh)::numeric, 1) AS avg_speed
FROM telemetry WHERE vehicle_id = 42 AND recorded_at >= now() - interval '30 minutes';
\timing off
EXPLAIN (COSTS OFF)
SELECT count(*) FROM telemetry WHERE vehicle_id = 42 AND recorded_at >= now() - interval '30 minutes';

\echo
\echo 'Index lint. Someone added an index by hand that the new one already covers:'
CREATE INDEX telemetry_vehicle_guess ON telemetry (vehicle_id);
SELECT index_name, covered_by, kind, pg_size_pretty(index_bytes) AS size, drop_statement
FROM perfkit.duplicate_indexes();
-- statistics reach the shared counters when a backend goes idle, at most
-- once a second: flush ours now
SELECT pg_stat_force_next_flush() \g /dev/null
\echo 'Never scanned since the statistics were reset (primary keys and unique'
\echo 'indexes are never listed):'
SELECT index_name, table_name, pg_size_pretty(index_bytes) AS size, idx_scan, drop_statement
FROM perfkit.unused_indexes();
\echo 'Foreign keys no index leads with (deletes on vehicles scan these tables):'
SELECT table_name, constraint_name, columns, index_statement
FROM perfkit.unindexed_foreign_keys();
\echo 'Invalid indexes (left by a failed CREATE INDEX CONCURRENTLY): none'
SELECT count(*) AS invalid_indexes FROM perfkit.invalid_indexes();

-- leave the sample data as the other parts of the tour expect it
DROP INDEX telemetry_vehicle_guess;
SELECT format('DROP INDEX %s', indexrelid::regclass)
FROM pg_index WHERE indrelid = 'telemetry'::regclass \gexec
