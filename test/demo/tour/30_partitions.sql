--
-- The tour, part 3: partition maintenance.
--
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '################################################################'
\echo '# perfkit: partition maintenance'
\echo '################################################################'
\echo
\echo 'A table partitioned by day on its time column. One call registers it'
\echo 'and makes its partitions: from 3 days back to 4 days ahead, and a'
\echo 'default partition for rows that fit none.'
\echo '  SELECT perfkit.partition_table(''vehicle_events'', ''at'', ''1 day'', 4, now() - interval ''3 days'');'
CREATE TABLE vehicle_events (
	vehicle_id integer NOT NULL REFERENCES vehicles,
	at timestamptz NOT NULL,
	kind text NOT NULL,
	detail jsonb
) PARTITION BY RANGE (at);
CREATE INDEX ON vehicle_events (vehicle_id, at);
SELECT perfkit.partition_table('vehicle_events', 'at', '1 day', 4, now() - interval '3 days')
	AS partitions_created;
SELECT partition, range_start, range_end, bytes FROM perfkit.partitions
WHERE parent = 'vehicle_events'::regclass;

\echo 'The parent''s index is on every partition:'
SELECT count(*) AS partitions, count(*) FILTER (WHERE EXISTS (
		   SELECT FROM pg_index i WHERE i.indrelid = p.partition)) AS with_the_index
FROM perfkit.partitions p WHERE parent = 'vehicle_events'::regclass;

\echo
\echo 'Today''s events land in today''s partition. A vehicle with a wrong clock'
\echo 'sends events dated 10 days ahead, and a backfill brings some from 20 days'
\echo 'back: no partition holds them, so they pile up in the default partition.'
INSERT INTO vehicle_events
SELECT 1 + g % 100, now() - g * interval '1 second', 'ping', NULL FROM generate_series(1, 5000) g;
INSERT INTO vehicle_events
SELECT 7, now() + interval '10 days' + g * interval '1 minute', 'ping', '{"clock": "skewed"}'
FROM generate_series(1, 300) g;
INSERT INTO vehicle_events
SELECT 1 + g % 100, now() - interval '20 days' + g * interval '1 second', 'backfill', NULL
FROM generate_series(1, 2000) g;
SELECT "table", partitions, oldest_bound, newest_bound, rows_in_default FROM perfkit.partition_sets;

\echo 'run_maintenance() moves them into partitions made for them (the default'
\echo 'partition is locked while that happens, so no row is lost or doubled),'
\echo 'fills the gap up to the newest partition, and says what it did:'
\echo '  SELECT * FROM perfkit.run_maintenance();'
SELECT * FROM perfkit.run_maintenance();
SELECT "table", partitions, oldest_bound, newest_bound, rows_in_default, last_status
FROM perfkit.partition_sets;
\echo 'Running it again does nothing (and is fast: it compares the partitions'
\echo 'with those the last run saw, without reading their bounds):'
\timing on
SELECT partitioned_table, status, created, moved FROM perfkit.run_maintenance();
\timing off

\echo
\echo 'Retention: keep 2 days, detach older partitions into schema archive.'
\echo 'A partition is retired only when every rollup over the table reports'
\echo 'its range final (perfkit.rollup_blockers()); otherwise it is kept and'
\echo 'perfkit.partition_sets says why. Here a daily rollup of the events'
\echo '(late rows accepted for 1 day) has not been refreshed yet:'
SELECT perfkit.create_rollup('vehicle_events_daily', 'vehicle_events', 'at', 'day',
	ARRAY['kind'], ARRAY['count(*) AS events'], late_window => '1 day');
CREATE SCHEMA archive;
SELECT perfkit.set_retention('vehicle_events', '2 days', 'detach', true, 'archive');
SELECT partitioned_table, status, retired, kept, detail FROM perfkit.run_maintenance('vehicle_events');
\echo 'Once the rollup is refreshed, the old days are final in it: the raw'
\echo 'partitions go to the archive, and the rollup keeps their totals.'
SELECT perfkit.refresh_rollup('vehicle_events_daily') AS buckets;
SELECT partitioned_table, status, retired, kept, detail FROM perfkit.run_maintenance('vehicle_events');
SELECT bucket::date AS day, kind, events FROM vehicle_events_daily
WHERE bucket < now() - interval '2 days' ORDER BY 1, 2;
SELECT c.relname AS archived_table, c.reltuples::bigint AS rows_estimate
FROM pg_class c WHERE c.relnamespace = 'archive'::regnamespace AND c.relkind = 'r' ORDER BY 1;

\echo
\echo 'Converting a populated table: a year of meter readings (1.2 million'
\echo 'rows) in a plain table becomes a table partitioned by month under the'
\echo 'same name, rows copied in batches while writers go on, then swapped,'
\echo 'with its count and checksum verified:'
CREATE TABLE meter_readings (
	vehicle_id integer NOT NULL,
	at timestamptz NOT NULL,
	kwh real NOT NULL
);
INSERT INTO meter_readings
SELECT 1 + g % 100, date_trunc('month', now()) - interval '11 months'
	   + (g / 1200000.0) * (now() - (date_trunc('month', now()) - interval '11 months')),
	   (g % 97) / 10.0
FROM generate_series(1, 1200000) g;
CREATE INDEX ON meter_readings (vehicle_id, at);
CREATE TABLE meter_readings_flat AS SELECT * FROM meter_readings;
CREATE INDEX ON meter_readings_flat (vehicle_id, at);
VACUUM ANALYZE meter_readings, meter_readings_flat;
\echo '  SELECT perfkit.convert_to_partitioned(''meter_readings'', ''at'', ''1 month'', 200000);'
\timing on
SELECT perfkit.convert_to_partitioned('meter_readings', 'at', '1 month', 200000);
\timing off
ANALYZE meter_readings;
SELECT "table", "interval", partitions, oldest_bound, newest_bound FROM perfkit.partition_sets
WHERE "table" = 'meter_readings'::regclass;

\echo
\echo 'A query over one month reads one partition (partition pruning):'
SELECT (date_trunc('month', now()) - interval '6 months')::text AS lo,
	   (date_trunc('month', now()) - interval '5 months')::text AS hi \gset
EXPLAIN (COSTS OFF)
SELECT vehicle_id, sum(kwh) FROM meter_readings
WHERE at >= :'lo' AND at < :'hi' GROUP BY vehicle_id;

\echo 'The same query on the partitioned table and on the plain copy (same'
\echo 'rows, same index), median of 5 runs each:'
DO $$
DECLARE
	lo timestamptz := date_trunc('month', now()) - interval '6 months';
	hi timestamptz := date_trunc('month', now()) - interval '5 months';
	t0 timestamptz;
	part float8[] := '{}';
	flat float8[] := '{}';
	mp float8;
	mf float8;
BEGIN
	FOR i IN 1..5 LOOP
		t0 := clock_timestamp();
		PERFORM vehicle_id, sum(kwh) FROM meter_readings WHERE at >= lo AND at < hi GROUP BY vehicle_id;
		part := part || extract(epoch FROM clock_timestamp() - t0) * 1000;
		t0 := clock_timestamp();
		PERFORM vehicle_id, sum(kwh) FROM meter_readings_flat WHERE at >= lo AND at < hi GROUP BY vehicle_id;
		flat := flat || extract(epoch FROM clock_timestamp() - t0) * 1000;
	END LOOP;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO mp FROM unnest(part) x;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO mf FROM unnest(flat) x;
	RAISE NOTICE 'one month of 12: partitioned % ms, plain table % ms: % x faster',
		round(mp::numeric, 1), round(mf::numeric, 1), round((mf / mp)::numeric, 1);
END $$;

\echo
\echo 'The job "partitions" runs all of this every 10 minutes on pg_cron'
\echo '(CALL perfkit.run_maintenance_job(): one transaction per table, locks'
\echo 'taken with perfkit.partition_lock_timeout and retried at the next run'
\echo 'rather than queued behind a long transaction):'
CALL perfkit.run_job('partitions');
SELECT job, schedule, last_status, last_run FROM perfkit.jobs WHERE job = 'partitions';
