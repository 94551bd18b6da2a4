--
-- rollup: create_rollup / refresh_rollup / drop_rollup, exactness against
-- GROUP BY on randomized data, late rows, hierarchies, time zones and a DST
-- day, timestamp and date columns, partitioned sources, finality, errors,
-- privileges.
--
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- rows of query a that are not in b and vice versa (0 means equal)
CREATE FUNCTION pg_temp.diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) x', a, b, b, a) INTO n;
	RETURN n;
END $$;

-- Randomized telemetry over March 2024 (US DST starts on the 10th), with
-- NULL regions, a few NULL measures, and whole days without rows.
SELECT setseed(0.42);
CREATE TABLE telemetry (
	id bigserial PRIMARY KEY,
	ts timestamptz NOT NULL,
	vehicle int NOT NULL,
	region text,
	km numeric,
	speed int,
	eff float8,
	extreme boolean NOT NULL
);
CREATE INDEX ON telemetry (ts);
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
SELECT t, (random() * 5)::int,
	   CASE WHEN random() < 0.1 THEN NULL ELSE 'r' || (random() * 3)::int END,
	   CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 100)::numeric, 2) END,
	   (random() * 130)::int, round((random() * 10)::numeric, 1)::float8, random() < 0.2
FROM (SELECT timestamptz '2024-03-01 00:00+00' + random() * interval '40 days' AS t
	  FROM generate_series(1, 20000)) s
WHERE t::date NOT IN ('2024-03-05', '2024-03-21');
ANALYZE telemetry;

-- Hourly in New York, then daily and monthly built on it, and a daily
-- rollup straight from the raw rows to compare with.
SELECT perfkit.create_rollup('tel_hourly', 'telemetry', 'ts', 'hour', ARRAY['region', 'vehicle'],
	ARRAY['count(*) AS n', 'sum(km)', 'avg(km) AS avg_km', 'avg(speed)', 'min(eff)', 'max(eff) AS max_eff',
		  'count(*) FILTER (WHERE extreme) AS extreme_n', 'count(km)'],
	'America/New_York', late_window => '100 years');
SELECT perfkit.create_rollup('tel_daily', 'tel_hourly', 'bucket', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km) AS km', 'avg(km) AS avg_km', 'max(eff)',
		  'count(*) FILTER (WHERE extreme) AS extreme_n'],
	'America/New_York', late_window => '100 years');
SELECT perfkit.create_rollup('tel_monthly', 'tel_daily', 'bucket', 'month', '{}',
	ARRAY['count(*)', 'avg(km)', 'sum(km)'], 'America/New_York', late_window => '100 years');
SELECT perfkit.create_rollup('tel_daily_raw', 'telemetry', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km) AS km', 'avg(km) AS avg_km', 'max(eff)',
		  'count(*) FILTER (WHERE extreme) AS extreme_n'],
	'America/New_York', late_window => '100 years');

-- The relation users query: bucket, dimensions, one column per measure.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'tel_hourly'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname FROM pg_attribute
WHERE attrelid = 'tel_hourly_live'::regclass AND attnum > 0 ORDER BY attnum;

-- Before any refresh the live view is already exact; the rollup is empty.
SELECT pg_temp.diff('SELECT * FROM tel_hourly_live',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS live_before_refresh;
SELECT count(*) AS rows_before_refresh FROM tel_hourly;

-- Refresh in dependency order.  Buckets written > 0, then nothing to do.
SET perfkit.rollup_batch_rows = 5000;	-- several batches
SELECT perfkit.refresh_rollup('tel_hourly') > 0 AS hourly_written;
SELECT perfkit.refresh_rollup('tel_daily') > 0 AS daily_written;
SELECT perfkit.refresh_rollup('tel_monthly') AS monthly_written;
SELECT perfkit.refresh_rollup('tel_daily_raw') > 0 AS daily_raw_written;
RESET perfkit.rollup_batch_rows;

-- Exact against GROUP BY, bucket by bucket.
SELECT pg_temp.diff('SELECT * FROM tel_hourly',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS hourly_diff;
SELECT pg_temp.diff('SELECT * FROM tel_daily',
	$$SELECT date_trunc('day', ts, 'America/New_York'), region, count(*), sum(km), avg(km), max(eff),
			 count(*) FILTER (WHERE extreme)
	  FROM telemetry GROUP BY 1, 2$$) AS daily_diff;
SELECT pg_temp.diff('SELECT * FROM tel_daily', 'SELECT * FROM tel_daily_raw') AS daily_vs_daily_raw;
SELECT pg_temp.diff('SELECT * FROM tel_monthly',
	$$SELECT date_trunc('month', ts, 'America/New_York'), count(*), avg(km), sum(km)
	  FROM telemetry GROUP BY 1$$) AS monthly_diff;
-- Days without rows have no bucket.
SELECT count(*) AS empty_days FROM tel_daily
WHERE bucket IN (timestamptz '2024-03-05 00:00 America/New_York', '2024-03-21 00:00 America/New_York');

-- The DST day in New York has 23 hours, and its bucket holds exactly them.
SELECT bucket, perfkit._bucket_add(bucket, 'day', 'America/New_York') - bucket AS length
FROM tel_daily WHERE bucket >= '2024-03-09 12:00' AND bucket < '2024-03-11 12:00'
GROUP BY bucket ORDER BY bucket;
SELECT (SELECT sum(count) FROM tel_daily WHERE bucket = '2024-03-10 00:00 America/New_York')
	 = (SELECT count(*) FROM telemetry
		WHERE ts >= '2024-03-10 00:00 America/New_York' AND ts < '2024-03-11 00:00 America/New_York')
	AS dst_day_exact;

-- Refreshing again changes nothing.
CREATE TEMP TABLE snap AS SELECT md5(string_agg(s::text, ',' ORDER BY s::text)) AS h FROM tel_hourly_state s;
SELECT perfkit.refresh_rollup('tel_hourly') AS second_refresh_written;
SELECT (SELECT h FROM snap) = (SELECT md5(string_agg(s::text, ',' ORDER BY s::text)) FROM tel_hourly_state s)
	AS state_unchanged;

-- Rows at the head (at or past the watermark) are not logged: the next
-- advance reads them.  The live view has them already.
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES (now(), 4, 'r4', 4, 4, 4, false), (now() + interval '1 hour', 4, 'r4', 4, 4, 4, false);
SELECT count(*) AS head_rows_logged FROM perfkit.rollup_changes c JOIN perfkit.rollup_defs d ON d.id = c.rollup_id
WHERE d.rel = 'tel_hourly'::regclass;
SELECT count(*) AS head_rows_live FROM tel_hourly_live WHERE region = 'r4';
DELETE FROM telemetry WHERE region = 'r4';

SELECT name, source, granularity, timezone, "table", pending_buckets, rows_read IS NOT NULL AS has_rows_read,
	   last_error, watermark = perfkit._bucket_start(now(), granularity, timezone) AS current_hourly
FROM perfkit.rollups WHERE name = 'tel_hourly';
-- A coarser rollup is materialized as far as its finer one allows.
SELECT name, watermark = perfkit._bucket_start((SELECT watermark FROM perfkit.rollups WHERE name = 'tel_hourly'),
											   granularity, timezone) AS follows_finer
FROM perfkit.rollups WHERE name IN ('tel_daily', 'tel_monthly') ORDER BY name;

--
-- Late rows: inserted, updated (moved to another bucket) and deleted in
-- buckets already materialized.
--
BEGIN;
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-03 10:15+00', 1, 'r1', 55.5, 80, 3, true),
	   ('2024-03-03 10:45+00', 1, 'r1', 4.5, 40, 12.5, false);
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-03 10:30+00', 2, NULL, 1, 1, 1, false);
-- One bucket touched three times in a transaction is logged once.
SELECT count(*) AS change_rows_hourly FROM perfkit.rollup_changes c JOIN perfkit.rollup_defs d ON d.id = c.rollup_id
WHERE d.rel = 'tel_hourly'::regclass;
COMMIT;
UPDATE telemetry SET ts = ts + interval '2 days' WHERE id IN (SELECT id FROM telemetry WHERE ts < '2024-03-02' ORDER BY id LIMIT 5);
DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry WHERE ts BETWEEN '2024-03-12' AND '2024-03-13' ORDER BY id LIMIT 20);
UPDATE telemetry SET km = km + 1 WHERE id IN (SELECT id FROM telemetry WHERE ts BETWEEN '2024-03-20' AND '2024-03-20 06:00' ORDER BY id LIMIT 3);

SELECT pending_buckets > 0 AS has_pending FROM perfkit.rollups WHERE name = 'tel_hourly';
-- The live view is exact before any refresh; the rollup is stale.
SELECT pg_temp.diff('SELECT * FROM tel_hourly_live',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS live_diff;
SELECT pg_temp.diff('SELECT * FROM tel_monthly_live',
	$$SELECT date_trunc('month', ts, 'America/New_York'), count(*), avg(km), sum(km)
	  FROM telemetry GROUP BY 1$$) AS monthly_live_diff;
SELECT pg_temp.diff('SELECT * FROM tel_hourly',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) > 0 AS stale_before_refresh;

-- A coarser rollup waits for its finer one: nothing to take yet.
SELECT perfkit.refresh_rollup('tel_daily') AS daily_before_hourly;
CALL perfkit.refresh_rollups();
SELECT name, pending_buckets, last_error FROM perfkit.rollups ORDER BY name;
SELECT pg_temp.diff('SELECT * FROM tel_hourly',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS hourly_diff_after_late;
SELECT pg_temp.diff('SELECT * FROM tel_daily', 'SELECT * FROM tel_daily_raw') AS daily_vs_raw_after_late;
SELECT pg_temp.diff('SELECT * FROM tel_monthly',
	$$SELECT date_trunc('month', ts, 'America/New_York'), count(*), avg(km), sum(km)
	  FROM telemetry GROUP BY 1$$) AS monthly_diff_after_late;

-- Work follows the change: one late row, one hourly bucket rewritten.
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-07 07:07+00', 3, 'r2', 7, 7, 7, false);
SELECT perfkit.refresh_rollup('tel_hourly') AS one_bucket;
SELECT last_rows_read = (SELECT count(*) FROM telemetry
						 WHERE date_trunc('hour', ts, 'America/New_York') = '2024-03-07 07:00+00')
	AS rows_read_is_that_bucket
FROM perfkit.rollup_defs WHERE rel = 'tel_hourly'::regclass;

-- A rolled-back subtransaction drops its change rows; the bucket is logged
-- again by the next statement that touches it.
DELETE FROM perfkit.rollup_changes;
BEGIN;
SAVEPOINT s;
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-08 08:00+00', 1, 'r1', 1, 1, 1, false);
ROLLBACK TO SAVEPOINT s;
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-08 08:30+00', 1, 'r1', 2, 2, 2, false);
COMMIT;
SELECT count(*) AS logged_after_rollback FROM perfkit.rollup_changes c JOIN perfkit.rollup_defs d ON d.id = c.rollup_id
WHERE d.rel = 'tel_hourly'::regclass AND c.bucket = '2024-03-08 08:00+00';
SELECT perfkit.refresh_rollup('tel_hourly') AS refreshed;
SELECT pg_temp.diff('SELECT * FROM tel_hourly',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS hourly_diff_after_savepoint;

-- A coarser rollup never materializes past a bucket in which its finer
-- rollup still has a change to fold in.
CREATE TABLE meters (ts timestamptz NOT NULL, v int);
INSERT INTO meters SELECT timestamptz '2024-01-01' + i * interval '10 minutes', i FROM generate_series(0, 1000) i;
SELECT perfkit.create_rollup('meters_hourly', 'meters', 'ts', 'hour', '{}', ARRAY['count(*)', 'sum(v)'],
	late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('meters_hourly') > 0 AS refreshed;
INSERT INTO meters VALUES ('2024-01-03 10:05', 100000);
SELECT perfkit.create_rollup('meters_daily', 'meters_hourly', 'bucket', 'day', '{}', ARRAY['count(*)', 'sum(v)'],
	late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('meters_daily') > 0 AS refreshed;
SELECT watermark FROM perfkit.rollups WHERE name = 'meters_daily';
SELECT perfkit.refresh_rollup('meters_hourly') AS hourly, perfkit.refresh_rollup('meters_daily') > 0 AS daily;
SELECT pg_temp.diff('SELECT * FROM meters_daily',
	$$SELECT date_trunc('day', ts, 'UTC'), count(*), sum(v) FROM meters GROUP BY 1$$) AS meters_daily_diff;
SELECT perfkit.drop_rollup('meters_daily');
SELECT perfkit.drop_rollup('meters_hourly');

--
-- Backfill on demand: a range is recomputed from raw rows.
--
DELETE FROM tel_hourly_state WHERE bucket >= '2024-03-14' AND bucket < '2024-03-15';
SELECT perfkit.refresh_rollup('tel_hourly', '2024-03-14', '2024-03-15') AS backfilled_buckets;
SELECT pg_temp.diff('SELECT * FROM tel_hourly',
	$$SELECT date_trunc('hour', ts, 'America/New_York'), region, vehicle, count(*), sum(km), avg(km),
			 avg(speed), min(eff), max(eff), count(*) FILTER (WHERE extreme), count(km)
	  FROM telemetry GROUP BY 1, 2, 3$$) AS hourly_diff_after_backfill;
SELECT perfkit.refresh_rollup('tel_hourly', '2024-03-15', '2024-03-14');
\echo :LAST_ERROR_SQLSTATE

--
-- timestamp and date columns are read as wall-clock time in the zone.
--
CREATE TABLE wallclock (at timestamp, day date, v int);
INSERT INTO wallclock SELECT timestamp '2024-03-30 00:00' + i * interval '17 minutes', date '2024-03-01' + i % 40, i % 10
FROM generate_series(0, 999) i;
SELECT perfkit.create_rollup('wallclock_daily', 'wallclock', 'at', 'day', '{}', ARRAY['count(*)', 'sum(v)', 'avg(v)'],
	'Europe/Paris') IS NOT NULL AS created;
SELECT perfkit.create_rollup('wallclock_weekly', 'wallclock', 'day', 'week', '{}', ARRAY['count(*)', 'sum(v)'],
	'Europe/Paris') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('wallclock_daily') > 0, perfkit.refresh_rollup('wallclock_weekly') > 0;
SELECT pg_temp.diff('SELECT bucket AT TIME ZONE ''Europe/Paris'', count, sum_v, avg_v FROM wallclock_daily',
	$$SELECT date_trunc('day', at), count(*), sum(v), avg(v) FROM wallclock WHERE at IS NOT NULL GROUP BY 1$$)
	AS timestamp_diff;
SELECT pg_temp.diff('SELECT (bucket AT TIME ZONE ''Europe/Paris'')::date, count, sum_v FROM wallclock_weekly',
	$$SELECT date_trunc('week', day)::date, count(*), sum(v) FROM wallclock GROUP BY 1$$) AS date_diff;
-- Paris switches to summer time on 2024-03-31: a 23-hour day.
SELECT bucket, perfkit._bucket_add(bucket, 'day', 'Europe/Paris') - bucket AS length
FROM wallclock_daily WHERE bucket AT TIME ZONE 'Europe/Paris' = '2024-03-31';
SELECT perfkit.create_rollup('x', 'wallclock', 'day', 'hour');
\echo :LAST_ERROR_SQLSTATE

--
-- A partitioned source: capture through the parent, exact refresh, and
-- frozen buckets outlive their raw partition.
--
CREATE TABLE events (at timestamptz NOT NULL, kind text, n int) PARTITION BY RANGE (at);
CREATE TABLE events_2024_01 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE events_2024_02 PARTITION OF events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
INSERT INTO events SELECT timestamptz '2024-01-01' + i * interval '41 minutes', 'k' || i % 4, i % 9
FROM generate_series(0, 2000) i WHERE timestamptz '2024-01-01' + i * interval '41 minutes' < '2024-03-01';
-- no late window: nothing is final by age
SELECT perfkit.create_rollup('events_daily', 'events', 'at', 'day', ARRAY['kind'], ARRAY['count(*)', 'sum(n)'])
	IS NOT NULL AS created;
SELECT * FROM perfkit.rollup_blockers('events', '2024-01-01', '2024-02-01');
SELECT perfkit.refresh_rollup('events_daily') > 0 AS refreshed;
SELECT pg_temp.diff('SELECT * FROM events_daily',
	$$SELECT date_trunc('day', at, 'UTC'), kind, count(*), sum(n) FROM events GROUP BY 1, 2$$) AS partitioned_diff;
SELECT count(*) AS blockers FROM perfkit.rollup_blockers('events', '2024-01-01', '2024-02-01');
SELECT count(*) AS blockers_in_future FROM perfkit.rollup_blockers('events', now() - interval '1 day', now() + interval '1 day');
-- The owner freezes January before retiring its raw rows by hand.
SELECT perfkit.freeze_rollup('events_daily', '2024-02-01') AS frozen_before;
CREATE TEMP TABLE jan AS SELECT * FROM events_daily WHERE bucket < '2024-02-01';
ALTER TABLE events DETACH PARTITION events_2024_01;
DROP TABLE events_2024_01;
-- A late row in an open bucket is recomputed, however old; frozen buckets
-- keep what they had, even on an explicit recompute (no raw row is left).
INSERT INTO events VALUES ('2024-02-10 10:00', 'k1', 100);
CALL perfkit.refresh_rollups();
SELECT perfkit.refresh_rollup('events_daily', '2024-01-01', '2024-02-01', include_final => true)
	AS recomputed_empty_range;
SELECT pg_temp.diff('SELECT * FROM events_daily WHERE bucket < ''2024-02-01''', 'SELECT * FROM jan') AS january_kept;
SELECT sum_n FROM events_daily WHERE bucket = '2024-02-10' AND kind = 'k1';
SELECT inexact_changes FROM perfkit.rollups WHERE name = 'events_daily';
SELECT pg_temp.diff('SELECT * FROM events_daily WHERE bucket >= ''2024-02-01''',
	$$SELECT date_trunc('day', at, 'UTC'), kind, count(*), sum(n) FROM events GROUP BY 1, 2$$) AS february_diff;

--
-- refresh_rollups: one broken rollup is recorded and the others go on.
--
CREATE TABLE broken (at timestamptz, x int);
INSERT INTO broken VALUES ('2024-01-01', 1);
SELECT perfkit.create_rollup('broken_daily', 'broken', 'at', 'day', '{}', ARRAY['sum(x)']) IS NOT NULL AS created;
ALTER TABLE broken RENAME COLUMN x TO y;
INSERT INTO events VALUES ('2024-02-20 10:00', 'k2', 1);
SET client_min_messages = notice;
CALL perfkit.refresh_rollups();
SET client_min_messages = warning;
SELECT name, last_error IS NOT NULL AS failed FROM perfkit.rollups WHERE name IN ('broken_daily', 'events_daily')
ORDER BY name;

--
-- Errors: nothing is left half-created.
--
SELECT count(*) AS rels FROM pg_class \gset
SELECT perfkit.create_rollup('x', 'telemetry', 'nope', 'hour');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'region', 'hour');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'fortnight');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', ARRAY['nope']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['stddev(km)']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['count(DISTINCT region)']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['sum(km) FROM pg_class']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['sum(nope)']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['sum(random())']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', measures => ARRAY['count(*)', 'count(*) FILTER (WHERE extreme)']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('tel_hourly', 'telemetry', 'ts', 'hour');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'tel_hourly_live', 'bucket', 'day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'tel_hourly', 'bucket', 'minute', timezone => 'America/New_York');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'tel_hourly', 'bucket', 'day', measures => ARRAY['min(speed)'], timezone => 'America/New_York');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'tel_hourly', 'bucket', 'day', timezone => 'UTC');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.create_rollup('x', 'telemetry', 'ts', 'hour', timezone => 'Mars/Olympus');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.refresh_rollup('no_such_rollup');
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT perfkit.refresh_rollup('tel_hourly');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT perfkit.drop_rollup('tel_hourly');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :rels AS nothing_created FROM pg_class;

--
-- Privileges: only owners create, refresh and drop; anyone may read the
-- catalog, and writers of the source need nothing of perfkit's.
--
CREATE ROLE rollup_writer;
CREATE ROLE rollup_other;
GRANT INSERT, SELECT ON telemetry TO rollup_writer;
GRANT USAGE ON SEQUENCE telemetry_id_seq TO rollup_writer;
GRANT SELECT ON telemetry TO rollup_other;
GRANT CREATE ON SCHEMA public TO rollup_other;
SET ROLE rollup_writer;
INSERT INTO telemetry (ts, vehicle, region, km, speed, eff, extreme)
VALUES ('2024-03-09 09:00+00', 1, 'r1', 1, 1, 1, false);
SET ROLE rollup_other;
SELECT perfkit.create_rollup('other_daily', 'telemetry', 'ts', 'day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.refresh_rollup('tel_hourly');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.drop_rollup('tel_daily_raw');
\echo :LAST_ERROR_SQLSTATE
UPDATE perfkit.rollup_defs SET watermark = NULL RETURNING id;	-- row-level security: none
CALL perfkit.refresh_rollups();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) > 0 AS sees_rollups FROM perfkit.rollups;
RESET ROLE;
SELECT perfkit.refresh_rollup('tel_hourly') AS writer_row_refreshed;

-- An ordinary role builds, refreshes and drops rollups of its own tables,
-- with no right on perfkit's tables beyond what row-level security allows.
CREATE ROLE rollup_owner;
GRANT CREATE ON SCHEMA public TO rollup_owner;
SET ROLE rollup_owner;
CREATE TABLE own_events (ts timestamptz NOT NULL, k text, v int);
INSERT INTO own_events SELECT timestamptz '2024-01-01' + i * interval '13 minutes', 'k' || i % 3, i
FROM generate_series(1, 1000) i;
SELECT perfkit.create_rollup('own_hourly', 'own_events', 'ts', 'hour', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)'], late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.create_rollup('own_daily', 'own_hourly', 'bucket', 'day', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)'], late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('own_hourly') > 0, perfkit.refresh_rollup('own_daily') > 0;
INSERT INTO own_events VALUES ('2024-01-02 05:00', 'k1', 5);
SELECT perfkit.refresh_rollup('own_hourly') AS hourly, perfkit.refresh_rollup('own_daily') AS daily;
SELECT pg_temp.diff('SELECT * FROM own_daily',
	$$SELECT date_trunc('day', ts, 'UTC'), k, count(*), sum(v), avg(v) FROM own_events GROUP BY 1, 2$$) AS own_diff;
UPDATE perfkit.rollup_defs SET watermark = NULL WHERE rel = 'tel_hourly'::regclass RETURNING id;
SELECT perfkit.drop_rollup('own_daily');
SELECT perfkit.drop_rollup('own_hourly');
RESET ROLE;

--
-- drop_rollup: triggers, views and state go; keep_table keeps the values.
--
SELECT perfkit.drop_rollup('tel_monthly');
SELECT perfkit.drop_rollup('tel_daily', keep_table => true);
SELECT relkind FROM pg_class WHERE oid = 'tel_daily'::regclass;
SELECT pg_temp.diff('SELECT * FROM tel_daily', 'SELECT * FROM tel_daily_raw') AS kept_table_diff;
SELECT to_regclass('tel_daily_state') IS NULL AS state_gone, to_regclass('tel_daily_live') IS NULL AS live_gone;
SELECT perfkit.drop_rollup('tel_hourly');
SELECT perfkit.drop_rollup('tel_daily_raw');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'telemetry'::regclass;
SELECT count(*) AS rollups_left FROM perfkit.rollups WHERE name LIKE 'tel%';

--
-- Edge cases: forged change rows, a refresh inside the writer's own
-- transaction, a day whose local midnight does not exist, a coarser
-- rollup that cannot move yet, and a range recompute that reaches the
-- rollups built on it.
--
CREATE TABLE edge (ts timestamptz NOT NULL, v int);
INSERT INTO edge SELECT timestamptz '2024-04-20' + i * interval '20 minutes', i FROM generate_series(0, 1000) i;
SELECT perfkit.create_rollup('edge_hourly', 'edge', 'ts', 'hour', '{}', ARRAY['count(*)', 'sum(v)'],
	late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.create_rollup('edge_daily', 'edge_hourly', 'bucket', 'day', '{}', ARRAY['count(*)', 'sum(v)'],
	late_window => '100 years') IS NOT NULL AS created;
-- Africa/Cairo skips from 00:00 to 01:00 on 2024-04-26: a 23-hour day.
SELECT perfkit.create_rollup('edge_cairo', 'edge', 'ts', 'day', '{}', ARRAY['count(*)', 'sum(v)'],
	'Africa/Cairo', late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('edge_hourly') > 0, perfkit.refresh_rollup('edge_daily') > 0,
	   perfkit.refresh_rollup('edge_cairo') > 0;
-- a change row that is no bucket start is dropped, not recomputed
INSERT INTO perfkit.rollup_changes
SELECT id, '2024-04-21 10:30+00' FROM perfkit.rollup_defs WHERE rel = 'edge_hourly'::regclass;
SELECT perfkit.refresh_rollup('edge_hourly') AS forged_written;
-- a refresh inside the writer's transaction, then more writes to the bucket
BEGIN;
INSERT INTO edge VALUES ('2024-04-22 05:05+00', 100000);
SELECT perfkit.refresh_rollup('edge_hourly') AS first;
INSERT INTO edge VALUES ('2024-04-22 05:06+00', 200000);
COMMIT;
SELECT pending_buckets AS still_pending FROM perfkit.rollups WHERE name = 'edge_hourly';
-- the coarser rollup's job step makes no progress while the finer one
-- has a change pending in its bucket, and says so (no endless loop)
SELECT perfkit._rollup_job_step(id) AS daily_more FROM perfkit.rollup_defs WHERE rel = 'edge_daily'::regclass;
SELECT perfkit.refresh_rollup('edge_hourly') AS hourly, perfkit.refresh_rollup('edge_daily') AS daily;
INSERT INTO edge VALUES ('2024-04-26 21:30+00', 7), ('2024-04-25 23:00+00', 8);
SELECT perfkit.refresh_rollup('edge_cairo') AS cairo, perfkit.refresh_rollup('edge_hourly') AS hourly,
	   perfkit.refresh_rollup('edge_daily') AS daily;
SELECT pg_temp.diff('SELECT * FROM edge_hourly',
	$$SELECT date_trunc('hour', ts, 'UTC'), count(*), sum(v) FROM edge GROUP BY 1$$) AS edge_hourly_diff;
SELECT pg_temp.diff('SELECT * FROM edge_daily',
	$$SELECT date_trunc('day', ts, 'UTC'), count(*), sum(v) FROM edge GROUP BY 1$$) AS edge_daily_diff;
SELECT pg_temp.diff('SELECT * FROM edge_cairo',
	$$SELECT date_trunc('day', ts, 'Africa/Cairo'), count(*), sum(v) FROM edge GROUP BY 1$$) AS edge_cairo_diff;
SELECT perfkit._bucket_add('2024-04-25 22:00+00', 'day', 'Africa/Cairo') AS cairo_next_day;
-- a range recompute of the finer rollup tells the coarser one
SELECT perfkit.refresh_rollup('edge_hourly', '2024-04-23', '2024-04-24') AS recomputed;
SELECT pending_buckets AS daily_pending FROM perfkit.rollups WHERE name = 'edge_daily';
SELECT perfkit.refresh_rollup('edge_daily') AS daily_after_range;
SELECT perfkit.drop_rollup('edge_daily'), perfkit.drop_rollup('edge_hourly'), perfkit.drop_rollup('edge_cairo');

--
-- A backfill that fails (or is cancelled) halfway leaves only whole
-- buckets: the job commits batch by batch, what it committed is exact, and
-- the rest follows once the cause is gone.  Here a row makes a measure
-- divide by zero in the middle of the history.
--
SELECT perfkit.drop_rollup('broken_daily');
CREATE TABLE big (ts timestamptz NOT NULL, v int);
INSERT INTO big SELECT now() - interval '1 hour' - i * interval '10 seconds', i FROM generate_series(1, 200000) i;
CREATE INDEX ON big (ts);
ANALYZE big;
SELECT perfkit.create_rollup('big_hourly', 'big', 'ts', 'hour', '{}',
	ARRAY['count(*)', 'sum(1000000 / (v - 150000)) AS s']) IS NOT NULL AS created;
SET perfkit.rollup_batch_rows = 1000;
CALL perfkit.refresh_rollups();
SELECT watermark > (SELECT min(ts) FROM big) AS some_batches_committed, last_error
FROM perfkit.rollups WHERE name = 'big_hourly';
SELECT count(*) = 0 AS no_bucket_past_watermark FROM big_hourly
WHERE bucket >= (SELECT watermark FROM perfkit.rollups WHERE name = 'big_hourly');
SELECT pg_temp.diff('SELECT * FROM big_hourly',
	$$SELECT date_trunc('hour', ts, 'UTC'), count(*), sum(1000000 / (v - 150000)) FROM big
	  WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE name = 'big_hourly')
	  GROUP BY 1$$) AS committed_batches_exact;
DELETE FROM big WHERE v = 150000;
SET perfkit.rollup_max_batches = 1000;	-- the whole backfill in one run
CALL perfkit.refresh_rollups();
RESET perfkit.rollup_max_batches;
RESET perfkit.rollup_batch_rows;
SELECT pg_temp.diff('SELECT * FROM big_hourly',
	$$SELECT date_trunc('hour', ts, 'UTC'), count(*), sum(1000000 / (v - 150000)) FROM big
	  WHERE ts < date_trunc('hour', now(), 'UTC') GROUP BY 1$$) AS big_diff;
SELECT perfkit.drop_rollup('big_hourly');
