--
-- The tour, part 2: rollups.
--
\set ON_ERROR_STOP on
\pset footer off
SET TimeZone = 'Europe/Berlin';
\echo
\echo '################################################################'
\echo '# perfkit: rollups (aggregate, don''t delete)'
\echo '################################################################'
\echo
\echo 'An hourly rollup of the 1 million telemetry rows, a daily rollup of trips'
\echo 'cut at Berlin midnight, and a monthly rollup built on the daily one:'
SELECT perfkit.create_rollup('telemetry_hourly', 'telemetry', 'recorded_at', 'hour',
	ARRAY['status'], ARRAY['count(*) AS samples', 'avg(speed_kmh) AS avg_speed',
						   'max(battery_temp_c) AS max_temp']);
SELECT perfkit.create_rollup('trip_daily', 'trips', 'started_at', 'day', ARRAY['vehicle_id'],
	ARRAY['count(*) AS trips', 'sum(distance_km) AS km', 'avg(efficiency_km_per_kwh) AS avg_eff',
		  'count(*) FILTER (WHERE extreme_weather) AS extreme_trips'], 'Europe/Berlin');
SELECT perfkit.create_rollup('trip_monthly', 'trip_daily', 'bucket', 'month', '{}',
	ARRAY['count(*) AS trips', 'sum(distance_km) AS km', 'avg(efficiency_km_per_kwh) AS avg_eff'],
	'Europe/Berlin');
\echo 'The first refresh materializes history in batches (the pg_cron job does'
\echo 'this every 5 minutes; here we call it by hand):'
SELECT perfkit.refresh_rollup('telemetry_hourly') AS hourly_buckets,
	   perfkit.refresh_rollup('trip_daily') AS daily_buckets,
	   perfkit.refresh_rollup('trip_monthly') AS monthly_buckets;

\echo
\echo 'A dashboard (samples and top battery temperature per hour), from the raw rows:'
\timing on
SELECT date_trunc('hour', recorded_at) AS hour, count(*) AS samples, max(battery_temp_c) AS max_temp
FROM telemetry WHERE recorded_at < date_trunc('hour', now())
GROUP BY 1 ORDER BY 1;
\echo '...and the same answer from the hourly rollup:'
SELECT bucket AS hour, sum(samples) AS samples, max(max_temp) AS max_temp
FROM telemetry_hourly GROUP BY 1 ORDER BY 1;
\timing off
\echo 'telemetry_hourly_live adds the current hour from raw rows, so it is exact up to now.'

\echo
\echo 'A late row: a trip from three days ago is uploaded only now.'
INSERT INTO trips (vehicle_id, started_at, ended_at, distance_km, energy_kwh, avg_speed_kmh,
				   efficiency_km_per_kwh, extreme_weather)
VALUES (1, now() - interval '3 days', now() - interval '3 days' + interval '5 hours', 480, 80, 96, 6, true);
\echo 'It was captured at write time; its bucket is pending:'
SELECT name, granularity, pending_buckets FROM perfkit.rollups ORDER BY name;
SELECT 'rollup (stale)' AS source, trips, km FROM trip_daily
WHERE vehicle_id = 1 AND bucket = date_trunc('day', now() - interval '3 days', 'Europe/Berlin')
UNION ALL
SELECT 'live view (exact now)', trips, km FROM trip_daily_live
WHERE vehicle_id = 1 AND bucket = date_trunc('day', now() - interval '3 days', 'Europe/Berlin');
\echo 'The next refresh rewrites just that bucket.  (The monthly rollup holds complete'
\echo 'months only: the current month is in trip_monthly_live.)'
SELECT perfkit.refresh_rollup('trip_daily') AS daily_buckets_written,
	   perfkit.refresh_rollup('trip_monthly') AS monthly_buckets_written;
SELECT trips, km FROM trip_daily
WHERE vehicle_id = 1 AND bucket = date_trunc('day', now() - interval '3 days', 'Europe/Berlin');
SELECT bucket AS month, trips, round(km::numeric) AS km, round(avg_eff::numeric, 2) AS avg_eff
FROM trip_monthly ORDER BY bucket;

\echo
\echo 'perfkit.rollups: watermark, what is final (buckets older than the 7-day late'
\echo 'window), pending changes, last refresh:'
SELECT name, source, granularity, watermark, final_before, pending_buckets, last_buckets,
	   rows_read, round(extract(epoch FROM last_duration) * 1000) AS last_ms, lag
FROM perfkit.rollups ORDER BY name;
