--
-- retention_rollups: partition retention and rollups together.  A raw
-- partition past retention is kept while a rollup on its table has not
-- materialized its range or has changes there to refresh (the reason is
-- shown), and retired once it has: the rollup freezes the retired months
-- and keeps them ("aggregate, don't delete").  Late inserts into them are
-- merged; an update there is counted and reported.
--
SET client_min_messages = warning;
CREATE TABLE meter_readings (ts timestamptz NOT NULL, meter int, kwh numeric) PARTITION BY RANGE (ts);
SELECT perfkit.partition_table('meter_readings', 'ts', '1 month', premake => 1,
	start => date_trunc('month', now(), 'UTC') - interval '6 months') > 0 AS partitioned;
INSERT INTO meter_readings
SELECT date_trunc('month', now(), 'UTC') - interval '6 months' + i * interval '1 hour', i % 7, (i % 13) / 2.0
FROM generate_series(0, 24 * 150) i;
SELECT perfkit.create_rollup('meter_daily', 'meter_readings', 'ts', 'day', ARRAY['meter'],
	ARRAY['count(*)', 'sum(kwh)']) IS NOT NULL AS created;
SELECT perfkit.set_retention('meter_readings', '2 months', 'drop');
-- Those drops retire most of the table's rows (more than
-- perfkit.retention_drop_max_share): allowed, for one run, by force.
SELECT perfkit.set_retention('meter_readings', '2 months', 'drop', force => true);

-- Never refreshed: every partition past retention is kept, with a reason.
SELECT status, retired, kept > 0 AS kept_some, detail LIKE '%meter_daily%never refreshed%' AS reason_shown
FROM perfkit.run_maintenance('meter_readings');
SELECT retention_kept IS NOT NULL AS view_shows_it FROM perfkit.partition_sets WHERE "table" = 'meter_readings'::regclass;

-- Refreshed: the old months are materialized, so they go; the rollup keeps them.
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

-- The retired range is frozen (final_before moved to the retired bound).
SELECT final_before = ((date_trunc('month', now(), 'UTC') AT TIME ZONE 'UTC') - interval '2 months') AT TIME ZONE 'UTC' AS frozen_at_retired_bound
FROM perfkit.rollups WHERE name = 'meter_daily';
SELECT inexact_changes FROM perfkit.rollups WHERE name = 'meter_daily';

-- A range with a change not refreshed yet keeps blocking, however old.
INSERT INTO meter_readings VALUES (date_trunc('month', now(), 'UTC') - interval '2 months' + interval '1 hour', 1, 1);
SELECT count(*) AS blockers_pending FROM perfkit.rollup_blockers('meter_readings',
	date_trunc('month', now(), 'UTC') - interval '3 months', date_trunc('month', now(), 'UTC') - interval '2 months' + interval '1 day');
SELECT perfkit.refresh_rollup('meter_daily') > 0 AS refreshed;
SELECT count(*) AS blockers_after_refresh FROM perfkit.rollup_blockers('meter_readings',
	date_trunc('month', now(), 'UTC') - interval '3 months', date_trunc('month', now(), 'UTC') - interval '2 months' + interval '1 day');

-- Late rows for the retired months still arrive (into a partition made
-- again for them): inserts are merged exactly into the frozen buckets.
CREATE TABLE meter_late PARTITION OF meter_readings
	FOR VALUES FROM (date_trunc('month', now(), 'UTC') - interval '5 months')
	TO (date_trunc('month', now(), 'UTC') - interval '4 months');
INSERT INTO meter_late SELECT date_trunc('month', now(), 'UTC') - interval '5 months' + i * interval '5 hours', i % 9, i
FROM generate_series(0, 40) i;
INSERT INTO meter_readings VALUES (date_trunc('month', now(), 'UTC') - interval '5 months' + interval '3 days', 3, 1000);
CALL perfkit.refresh_rollups();
SELECT count(*) AS merged_differing FROM (
	(SELECT bucket, meter, count, sum_kwh FROM meter_daily
	 WHERE bucket >= date_trunc('month', now(), 'UTC') - interval '5 months'
	   AND bucket < date_trunc('month', now(), 'UTC') - interval '4 months'
	 EXCEPT
	 SELECT coalesce(b.bucket, l.bucket), coalesce(b.meter, l.meter), coalesce(b.count, 0) + coalesce(l.count, 0),
			CASE WHEN b.sum_kwh IS NULL THEN l.sum_kwh WHEN l.sum_kwh IS NULL THEN b.sum_kwh ELSE b.sum_kwh + l.sum_kwh END
	 FROM (SELECT * FROM before WHERE bucket >= date_trunc('month', now(), 'UTC') - interval '5 months'
			 AND bucket < date_trunc('month', now(), 'UTC') - interval '4 months') b
	 FULL JOIN (SELECT date_trunc('day', ts, 'UTC') AS bucket, meter, count(*) AS count, sum(kwh) AS sum_kwh
				FROM meter_late GROUP BY 1, 2) l ON l.bucket = b.bucket AND l.meter = b.meter)) d;
SELECT inexact_changes FROM perfkit.rollups WHERE name = 'meter_daily';
-- An update there cannot be applied exactly: counted, with its bucket.
UPDATE meter_readings SET kwh = kwh + 1 WHERE ts = date_trunc('month', now(), 'UTC') - interval '5 months' + interval '3 days';
CALL perfkit.refresh_rollups();
SELECT inexact_changes,
	   inexact_buckets = ARRAY[date_trunc('day', date_trunc('month', now(), 'UTC') - interval '5 months' + interval '3 days', 'UTC')]
	   AS bucket_named
FROM perfkit.rollups WHERE name = 'meter_daily';
-- health() raises it, naming the rollup; acknowledging clears it.
SELECT status, value LIKE '1: public.meter_daily (1 changes in 1 buckets, from %' AS names_it,
	   hint LIKE '%acknowledge_rollup%' AS hints
FROM perfkit.health() WHERE check_name = 'rollup_inexact';
SELECT perfkit.acknowledge_rollup('meter_daily') IS NOT NULL AS acknowledged;
SELECT status, value FROM perfkit.health() WHERE check_name = 'rollup_inexact';
SELECT perfkit.drop_rollup('meter_daily');
