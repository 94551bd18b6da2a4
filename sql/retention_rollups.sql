--
-- retention_rollups: partition retention and rollups together.  A raw
-- partition past retention is kept while a rollup on its table has not
-- made its range final (the reason is shown), and retired once it has;
-- the rollup keeps the retired months ("aggregate, don't delete").
--
SET client_min_messages = warning;
CREATE TABLE meter_readings (ts timestamptz NOT NULL, meter int, kwh numeric) PARTITION BY RANGE (ts);
SELECT perfkit.partition_table('meter_readings', 'ts', '1 month', premake => 1,
	start => date_trunc('month', now(), 'UTC') - interval '6 months') > 0 AS partitioned;
INSERT INTO meter_readings
SELECT date_trunc('month', now(), 'UTC') - interval '6 months' + i * interval '1 hour', i % 7, (i % 13) / 2.0
FROM generate_series(0, 24 * 150) i;
SELECT perfkit.create_rollup('meter_daily', 'meter_readings', 'ts', 'day', ARRAY['meter'],
	ARRAY['count(*)', 'sum(kwh)'], late_window => '10 days') IS NOT NULL AS created;
SELECT perfkit.set_retention('meter_readings', '2 months', 'drop');
-- Those drops retire most of the table's rows (more than
-- perfkit.retention_drop_max_share): allowed, for one run, by force.
SELECT perfkit.set_retention('meter_readings', '2 months', 'drop', force => true);

-- Never refreshed: every partition past retention is kept, with a reason.
SELECT status, retired, kept > 0 AS kept_some, detail LIKE '%meter_daily%never refreshed%' AS reason_shown
FROM perfkit.run_maintenance('meter_readings');
SELECT retention_kept IS NOT NULL AS view_shows_it FROM perfkit.partition_sets WHERE "table" = 'meter_readings'::regclass;

-- Refreshed: the old months are final, so they go; the rollup keeps them.
SELECT perfkit.refresh_rollup('meter_daily') > 0 AS refreshed;
CREATE TEMP TABLE before AS
SELECT date_trunc('day', ts, 'UTC') AS bucket, meter, count(*) AS count, sum(kwh) AS sum_kwh
FROM meter_readings WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2;
SELECT count(*) AS blockers FROM perfkit.rollup_blockers('meter_readings', '-infinity',
	date_trunc('month', now(), 'UTC') - interval '2 months');
SELECT status, retired > 0 AS retired_some, kept AS kept FROM perfkit.run_maintenance('meter_readings');
SELECT min(ts) >= date_trunc('month', now(), 'UTC') - interval '3 months' AS raw_retired FROM meter_readings;
SELECT count(*) AS rollup_rows_lost FROM (
	SELECT bucket, meter, count, sum_kwh FROM before EXCEPT SELECT bucket, meter, count, sum_kwh FROM meter_daily) d;

-- A range still inside the late window keeps blocking.
SELECT count(*) AS blockers_recent FROM perfkit.rollup_blockers('meter_readings',
	date_trunc('day', now(), 'UTC') - interval '3 days', date_trunc('day', now(), 'UTC') - interval '2 days');
SELECT perfkit.drop_rollup('meter_daily');
