--
-- rollup_backfill: the batch path of a refresh.  The fixed-width bucket
-- arithmetic equals date_trunc for every zone it claims; a backfill whose
-- aggregate really runs in parallel workers (proved by a measure that
-- records the computing backend), or under force_parallel_mode, equals
-- GROUP BY over the raw rows; the batch's plan is a partial aggregate.
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

-- 1. perfkit._bucket_fixed against date_trunc: instants over 400 years,
-- BC ones, the epoch and its neighbours; zones resolved as date_trunc does
-- (abbreviations first: 'CET' is the fixed abbreviation, not the zone).
SELECT setseed(0.14);
CREATE TEMP TABLE instants AS
SELECT timestamptz '1800-01-01 00:00+00' + random() * interval '400 years' AS ts FROM generate_series(1, 3000)
UNION ALL SELECT unnest(ARRAY[timestamptz '2000-01-01 00:00+00', '2000-01-01 00:00+00'::timestamptz - interval '1 microsecond',
							  '2000-01-03 00:00+00', '1999-12-31 23:59:59.999999+00', '0044-03-15 12:00+00 BC',
							  '1970-01-01 00:00+00', '2024-03-31 01:30+00', 'infinity', '-infinity']);
SELECT z.zone, u.unit, perfkit._bucket_fixed_shift(u.unit, z.zone) IS NOT NULL AS fixed,
	   count(*) FILTER (WHERE perfkit._bucket_fixed(i.ts, u.width, perfkit._bucket_fixed_shift(u.unit, z.zone))
						IS DISTINCT FROM pg_catalog.date_trunc(u.unit, i.ts, z.zone)) AS mismatches
FROM unnest(ARRAY['UTC', 'utc', 'Etc/UTC', 'GMT', 'Etc/GMT-3', 'Etc/GMT+11', 'EST', 'CET', 'NZDT', '+05:30',
				  'Asia/Kolkata', 'Europe/Paris', 'America/New_York', 'MSK']) WITH ORDINALITY AS z(zone, zi),
	 (VALUES ('minute', 60000000::bigint), ('hour', 3600000000), ('day', 86400000000),
			 ('week', 604800000000), ('month', NULL)) AS u(unit, width),
	 instants i
WHERE u.width IS NOT NULL OR z.zone = 'UTC'
GROUP BY z.zone, z.zi, u.unit, u.width
ORDER BY z.zi, u.width NULLS LAST;

-- Which bucket SQL a batch uses.
CREATE TABLE trips (ts timestamptz NOT NULL, region text, vehicle int NOT NULL, km numeric);
SELECT perfkit.create_rollup('trips_utc', 'trips', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)', 'avg(km)', 'min(km)', 'max(km)', 'count(km)']) IS NOT NULL AS created;
SELECT perfkit.create_rollup('trips_plus3', 'trips', 'ts', 'hour', ARRAY['region', 'vehicle'],
	ARRAY['count(*)', 'sum(km)'], 'Etc/GMT-3') IS NOT NULL AS created;
SELECT perfkit.create_rollup('trips_paris', 'trips', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)', 'avg(km)'], 'Europe/Paris') IS NOT NULL AS created;
SELECT perfkit.create_rollup('trips_week', 'trips', 'ts', 'week', '{}',
	ARRAY['count(*)', 'sum(km)']) IS NOT NULL AS created;
SELECT d.rel, perfkit._rollup_batch_bucket_sql(d) FROM perfkit.rollup_defs d
WHERE d.rel::text LIKE 'trips%' ORDER BY d.id;

-- 2. Randomized rows over 120 days (across Paris's DST change), in random
-- order, NULL regions and measures.
INSERT INTO trips
SELECT timestamptz '2024-02-01 00:00+00' + random() * interval '120 days',
	   CASE WHEN random() < 0.1 THEN NULL ELSE 'r' || (random() * 4)::int END,
	   (random() * 20)::int,
	   CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 100)::numeric, 2) END
FROM generate_series(1, 60000);
ANALYZE trips;

-- The batch of a daily rollup: a partial aggregate under a Gather, when
-- parallel query is cheap enough (the planner's choice, with costs zeroed).
CREATE FUNCTION pg_temp.batch_plan(name text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	d perfkit.rollup_defs;
	line text;
BEGIN
	SELECT * INTO d FROM perfkit.rollup_defs WHERE rel = name::regclass;
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || perfkit._rollup_compute_sql(d, 'batch')
		USING timestamptz '2024-02-01 00:00+00', timestamptz '2024-06-01 00:00+00' LOOP
		IF line ~ '(Gather|Partial|Parallel)' THEN
			RETURN NEXT regexp_replace(line, '^\s*(->\s*)?', '');
		END IF;
	END LOOP;
END $$;
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT * FROM pg_temp.batch_plan('trips_utc');
ROLLBACK;

-- 3. A backfill computed by parallel workers only (no leader
-- participation): the "worker" measure records which backend computed each
-- group; every group's is a worker's, not this session's.  Each rollup
-- equals GROUP BY over the raw rows.
CREATE FUNCTION computing_backend(numeric) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS 'SELECT pg_catalog.pg_backend_pid()';
SELECT perfkit.create_rollup('trips_workers', 'trips', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)', 'max(public.computing_backend(km)) AS worker']) IS NOT NULL AS created;
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SELECT perfkit.refresh_rollup('trips_workers') AS buckets;
SELECT perfkit.refresh_rollup('trips_utc') AS buckets;
SELECT perfkit.refresh_rollup('trips_plus3') AS buckets;
SELECT perfkit.refresh_rollup('trips_paris') AS buckets;
SELECT perfkit.refresh_rollup('trips_week') AS buckets;
COMMIT;
SELECT count(*) AS groups, count(*) FILTER (WHERE worker = pg_backend_pid()) AS by_this_session
FROM trips_workers WHERE worker IS NOT NULL;

-- Buckets before the current one of each rollup, from the raw rows.
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km FROM trips_workers',
	$$SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km) FROM trips
	  WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2$$) AS workers_diff;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km, min_km, max_km, count_km FROM trips_utc',
	$$SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km), avg(km), min(km), max(km), count(km)
	  FROM trips WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2$$) AS utc_diff;
SELECT pg_temp.diff('SELECT bucket, region, vehicle, count, sum_km FROM trips_plus3',
	$$SELECT date_trunc('hour', ts, 'Etc/GMT-3'), region, vehicle, count(*), sum(km) FROM trips
	  WHERE ts < date_trunc('hour', now(), 'Etc/GMT-3') GROUP BY 1, 2, 3$$) AS plus3_diff;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km FROM trips_paris',
	$$SELECT date_trunc('day', ts, 'Europe/Paris'), region, count(*), sum(km), avg(km) FROM trips
	  WHERE ts < date_trunc('day', now(), 'Europe/Paris') GROUP BY 1, 2$$) AS paris_diff;
SELECT pg_temp.diff('SELECT bucket, count, sum_km FROM trips_week',
	$$SELECT date_trunc('week', ts, 'UTC'), count(*), sum(km) FROM trips
	  WHERE ts < date_trunc('week', now(), 'UTC') GROUP BY 1$$) AS week_diff;
-- Paris's 23-hour day (2024-03-31) is one bucket.
SELECT bucket, count = (SELECT count(*) FROM trips WHERE ts >= '2024-03-30 23:00+00' AND ts < '2024-03-31 22:00+00'
						AND region IS NULL) AS exact
FROM trips_paris WHERE bucket = '2024-03-30 23:00+00' AND region IS NULL;

-- 4. The same backfill under force_parallel_mode (every batch in a worker),
-- from scratch, on a partitioned copy of the source with rows straight in
-- the partitions, and in small batches (several per rollup).
CREATE TABLE trips_p (LIKE trips) PARTITION BY RANGE (ts);
CREATE TABLE trips_p_early PARTITION OF trips_p FOR VALUES FROM (MINVALUE) TO ('2024-04-01 00:00+00');
CREATE TABLE trips_p_late PARTITION OF trips_p FOR VALUES FROM ('2024-04-01 00:00+00') TO (MAXVALUE);
INSERT INTO trips_p_early SELECT * FROM trips WHERE ts < '2024-04-01 00:00+00';
INSERT INTO trips_p_late SELECT * FROM trips WHERE ts >= '2024-04-01 00:00+00';
ANALYZE trips_p;
SELECT perfkit.create_rollup('trips_p_daily', 'trips_p', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)', 'avg(km)']) IS NOT NULL AS created;
SELECT perfkit.create_rollup('trips_p_paris', 'trips_p', 'ts', 'day', ARRAY['region'],
	ARRAY['count(*)', 'sum(km)'], 'Europe/Paris') IS NOT NULL AS created;
BEGIN;
SET LOCAL force_parallel_mode = on;
SET LOCAL perfkit.rollup_batch_rows = 5000;
SELECT perfkit.refresh_rollup('trips_p_daily') AS buckets;
SELECT perfkit.refresh_rollup('trips_p_paris') AS buckets;
COMMIT;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km FROM trips_p_daily',
	$$SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km), avg(km) FROM trips
	  WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2$$) AS partitioned_diff;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km FROM trips_p_paris',
	$$SELECT date_trunc('day', ts, 'Europe/Paris'), region, count(*), sum(km) FROM trips
	  WHERE ts < date_trunc('day', now(), 'Europe/Paris') GROUP BY 1, 2$$) AS partitioned_paris_diff;
SELECT name, last_buckets, rows_read = (SELECT count(*) FROM trips) AS rows_read_exact
FROM perfkit.rollups WHERE name::text IN ('trips_utc', 'trips_p_daily') ORDER BY 1;

-- 5. Then a late row, refreshed incrementally (the changed-bucket path),
-- still exact; and an explicit range recompute through the batch path.
INSERT INTO trips VALUES ('2024-02-10 12:00+00', 'r1', 1, 12.5), ('2024-03-31 00:30+00', NULL, 2, 7);
INSERT INTO trips_p VALUES ('2024-02-10 12:00+00', 'r1', 1, 12.5), ('2024-03-31 00:30+00', NULL, 2, 7);
SELECT perfkit.refresh_rollup(name) AS buckets FROM unnest(ARRAY['trips_utc', 'trips_paris', 'trips_p_daily']) AS name;
SELECT perfkit.refresh_rollup('trips_plus3', '2024-02-10 00:00+00', '2024-02-11 00:00+00') AS buckets;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km, min_km, max_km, count_km FROM trips_utc',
	$$SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km), avg(km), min(km), max(km), count(km)
	  FROM trips WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2$$) AS utc_diff;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km FROM trips_paris',
	$$SELECT date_trunc('day', ts, 'Europe/Paris'), region, count(*), sum(km), avg(km) FROM trips
	  WHERE ts < date_trunc('day', now(), 'Europe/Paris') GROUP BY 1, 2$$) AS paris_diff;
SELECT pg_temp.diff('SELECT bucket, region, count, sum_km, avg_km FROM trips_p_daily',
	$$SELECT date_trunc('day', ts, 'UTC'), region, count(*), sum(km), avg(km) FROM trips_p
	  WHERE ts < date_trunc('day', now(), 'UTC') GROUP BY 1, 2$$) AS partitioned_diff;
-- the range recomputed; both change rows stay pending until a refresh
SELECT pg_temp.diff($$SELECT bucket, region, vehicle, count, sum_km FROM trips_plus3
	  WHERE bucket >= '2024-02-10 00:00+00' AND bucket < '2024-02-11 00:00+00'$$,
	$$SELECT date_trunc('hour', ts, 'Etc/GMT-3'), region, vehicle, count(*), sum(km) FROM trips
	  WHERE ts >= '2024-02-10 00:00+00' AND ts < '2024-02-11 00:00+00' GROUP BY 1, 2, 3$$) AS plus3_range_diff;
SELECT pending_buckets FROM perfkit.rollups WHERE name::text = 'trips_plus3';
SELECT perfkit.refresh_rollup('trips_plus3') AS buckets;
SELECT pg_temp.diff('SELECT bucket, region, vehicle, count, sum_km FROM trips_plus3',
	$$SELECT date_trunc('hour', ts, 'Etc/GMT-3'), region, vehicle, count(*), sum(km) FROM trips
	  WHERE ts < date_trunc('hour', now(), 'Etc/GMT-3') GROUP BY 1, 2, 3$$) AS plus3_diff;

-- 6. _rollup_batch runs a rollup's measures only for the owner's roles.
CREATE ROLE rollup_backfill_other;
SET ROLE rollup_backfill_other;
SELECT * FROM perfkit._rollup_batch((SELECT id FROM perfkit.rollup_defs WHERE rel = 'trips_utc'::regclass),
	'-infinity', 'infinity') AS t(bucket timestamptz, region text, _rows bigint, count bigint, sum_km numeric);
RESET ROLE;

SELECT perfkit.drop_rollup(name) FROM unnest(ARRAY['trips_workers', 'trips_utc', 'trips_plus3', 'trips_paris',
	'trips_week', 'trips_p_daily', 'trips_p_paris']) AS name;
DROP TABLE trips, trips_p;
DROP FUNCTION computing_backend(numeric);
DROP ROLE rollup_backfill_other;
