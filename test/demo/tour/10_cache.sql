--
-- The tour, part 1: the shared-memory result cache.
--
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '################################################################'
\echo '# perfkit: the result cache'
\echo '################################################################'
\echo
\echo 'Key/value with TTL, shared by every backend, namespaced by role:'
\echo '  SELECT perfkit.cache_set(''dashboard:fleet:north'', ''{"vehicles": 25}'', ''30 seconds'');'
SELECT perfkit.cache_set('dashboard:fleet:north', '{"vehicles": 25}', '30 seconds');
SELECT perfkit.cache_set('dashboard:fleet:south', '{"vehicles": 25}', '30 seconds');
SELECT perfkit.cache_get('dashboard:fleet:north') AS "cache_get('dashboard:fleet:north')";
\echo 'Invalidate by LIKE pattern (walks the cache one partition at a time):'
SELECT perfkit.cache_invalidate('dashboard:fleet:%') AS "cache_invalidate('dashboard:fleet:%')";

\echo
\echo 'A dashboard query over 1 million telemetry rows, run directly:'
\timing on
SELECT v.fleet, count(*) AS samples, round(avg(t.speed_kmh)::numeric, 1) AS avg_speed,
	   max(t.battery_temp_c) AS max_temp
FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id
WHERE t.status = 'ACTIVE' GROUP BY v.fleet ORDER BY v.fleet;
\echo 'The same through perfkit.cached(): the first call runs it and stores the rows...'
SELECT jsonb_pretty(perfkit.cached($q$
	SELECT v.fleet, count(*) AS samples, round(avg(t.speed_kmh)::numeric, 1) AS avg_speed,
		   max(t.battery_temp_c) AS max_temp
	FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id
	WHERE t.status = 'ACTIVE' GROUP BY v.fleet ORDER BY v.fleet$q$, '{}', '1 hour')) AS cached;
\echo '...the second is served from shared memory:'
SELECT perfkit.cached($q$
	SELECT v.fleet, count(*) AS samples, round(avg(t.speed_kmh)::numeric, 1) AS avg_speed,
		   max(t.battery_temp_c) AS max_temp
	FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id
	WHERE t.status = 'ACTIVE' GROUP BY v.fleet ORDER BY v.fleet$q$, '{}', '1 hour') -> 0 AS first_row;
\timing off

\echo
\echo 'The entry knows which tables it read:'
SELECT kind, left(regexp_replace(key, '\s+', ' ', 'g'), 60) AS key, bytes, hits, depends_on,
	   expires_at - created_at AS ttl
FROM perfkit.cache_entries WHERE kind = 'query';

\echo 'A write to one of them, once committed, invalidates it: no stale read.'
\echo '  INSERT INTO telemetry ... (one row)'
INSERT INTO telemetry
SELECT vehicle_id, recorded_at + interval '1 second', 300, soc_pct, odometer_km, latitude,
	   longitude, engine_rpm, 99, 'ACTIVE'
FROM telemetry ORDER BY recorded_at DESC LIMIT 1;
\timing on
SELECT perfkit.cached($q$
	SELECT v.fleet, count(*) AS samples, round(avg(t.speed_kmh)::numeric, 1) AS avg_speed,
		   max(t.battery_temp_c) AS max_temp
	FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id
	WHERE t.status = 'ACTIVE' GROUP BY v.fleet ORDER BY v.fleet$q$, '{}', '1 hour')
	@? '$[*] ? (@.max_temp == 99)' AS "recomputed, sees the new row";
\timing off

\echo
\echo 'Statistics (perfkit.cache_stats()):'
SELECT * FROM perfkit.cache_stats();
