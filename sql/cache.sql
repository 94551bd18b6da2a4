--
-- cache: the key/value API of the shared-memory cache, its errors, TTL,
-- LRU eviction, pattern invalidation, namespacing by role, statistics.
-- (cached() is in cached.sql.)  The regress instance runs with
-- perfkit.cache_size = 4MB: values up to 64kB.
--
SELECT perfkit.cache_clear() >= 0 AS cleared;
CREATE TEMP TABLE s0 AS SELECT * FROM perfkit.cache_stats();

-- Round trip, overwrite, miss, delete.
SELECT perfkit.cache_set('user:1', '{"name": "Ada", "trips": 3}');
SELECT perfkit.cache_get('user:1');
SELECT perfkit.cache_set('user:1', '{"name": "Ada", "trips": 4}', '1 hour');
SELECT perfkit.cache_get('user:1') ->> 'trips' AS trips;
SELECT perfkit.cache_get('user:2') IS NULL AS miss;
SELECT perfkit.cache_set('user:2', 'null');
SELECT perfkit.cache_get('user:2') AS json_null, perfkit.cache_get('user:2') IS NULL AS is_sql_null;
SELECT perfkit.cache_delete('user:2'), perfkit.cache_delete('user:2');
SELECT perfkit.cache_get('user:2') IS NULL AS gone;

-- Keys are bytes: case and trailing spaces matter; any text works.
SELECT perfkit.cache_set('Key', '1'), perfkit.cache_set('key', '2'), perfkit.cache_set('key ', '3');
SELECT perfkit.cache_get('Key'), perfkit.cache_get('key'), perfkit.cache_get('key ');
SELECT perfkit.cache_set('ключ/🔑', '"unicode"');
SELECT perfkit.cache_get('ключ/🔑');

-- Bad input, each with its SQLSTATE.
SELECT perfkit.cache_set(NULL, '1');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('', '1');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('k', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('k', '1', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('k', '1', '-1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('k', '1', '178000000 years');
\echo :LAST_ERROR_SQLSTATE
-- The limit counts the key too: a long key with a value just under it fails.
SELECT perfkit.cache_set(repeat('k', 10000), to_jsonb(repeat('x', 60000)));
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set(repeat('k', 65537), '1');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_get(NULL) IS NULL AS null_key_misses;
-- cache_get(key) is one STRICT argument; the namespace form is its own
-- function (no NULL default to pass on every call)
SELECT p.oid::regprocedure AS function, p.proisstrict AS strict,
	   p.provolatile AS volatility, p.proparallel AS parallel
FROM pg_proc p
WHERE p.proname = 'cache_get' AND p.pronamespace = 'perfkit'::regnamespace
ORDER BY p.pronargs;
SELECT perfkit.cache_get('');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_delete(NULL);
\echo :LAST_ERROR_SQLSTATE
-- A value over the limit is refused, not truncated; one just under fits.
SELECT perfkit.cache_set('big', to_jsonb(repeat('x', 70000)));
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('big', to_jsonb(repeat('x', 60000)));
SELECT length(perfkit.cache_get('big') #>> '{}') AS big_length;
SET perfkit.cache_max_value_size = '10kB';
SELECT perfkit.cache_set('big', to_jsonb(repeat('x', 20000)));
\echo :LAST_ERROR_SQLSTATE
RESET perfkit.cache_max_value_size;

-- TTL: an expired entry is never returned.
SELECT perfkit.cache_set('short', '"soon gone"', '200 milliseconds');
SELECT perfkit.cache_get('short');
SELECT pg_sleep(0.3);
SELECT perfkit.cache_get('short') IS NULL AS expired;
-- The default TTL applies when none is given.
SET perfkit.cache_default_ttl = '1min';
SELECT perfkit.cache_set('default_ttl', '1');
SELECT extract(epoch FROM expires_at - created_at) AS ttl_seconds
FROM perfkit.cache_entries WHERE key = 'default_ttl';
RESET perfkit.cache_default_ttl;
-- The cache_expire job removes expired entries without being asked for them.
SELECT count(*) AS set FROM (
	SELECT perfkit.cache_set('expire:' || i, '1', '100 milliseconds')
	FROM generate_series(1, 5) i) s;
SELECT pg_sleep(0.2);
CALL perfkit.run_job('cache_expire');
SELECT count(*) AS expired_left FROM perfkit.cache_entries WHERE key LIKE 'expire:%';

-- Pattern invalidation: LIKE semantics, only the caller's value keys.
SELECT count(*) AS set FROM (
	SELECT perfkit.cache_set(k, '1')
	FROM unnest(ARRAY['dashboard:fleet:north', 'dashboard:fleet:south', 'dashboard:trips',
					  'dashboardXtrips', 'dash%lit', 'dashXlit']) k) s;
SELECT perfkit.cache_invalidate('dashboard:fleet:%') AS fleet;
SELECT perfkit.cache_invalidate('dashboard_trips') AS underscore_is_one_char;
SELECT perfkit.cache_invalidate('dash\%lit') AS escaped_percent;
SELECT key FROM perfkit.cache_entries WHERE key LIKE 'dash%' ORDER BY key;
SELECT perfkit.cache_invalidate('no match at all') AS none;
-- Redis habit: '*' is no wildcard in LIKE; a NOTICE says so.
SELECT perfkit.cache_set('k:1', '1');
SELECT perfkit.cache_invalidate('k:*') AS star_removes_nothing;
SELECT perfkit.cache_invalidate('k:%') AS percent_removes;
SELECT perfkit.cache_invalidate('abc\');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate('');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate(NULL);
\echo :LAST_ERROR_SQLSTATE

-- Namespacing: a role never sees, overwrites or invalidates another's keys.
CREATE ROLE perfkit_cache_a;
CREATE ROLE perfkit_cache_b;
SET ROLE perfkit_cache_a;
SELECT perfkit.cache_set('session:42', '"role a"');
SET ROLE perfkit_cache_b;
SELECT perfkit.cache_get('session:42') IS NULL AS b_cannot_read_a;
SELECT perfkit.cache_set('session:42', '"role b"');
SELECT perfkit.cache_invalidate('session:%') AS b_invalidates_own;
SELECT perfkit.cache_delete('session:42') AS b_has_nothing_left;
SELECT role, key FROM perfkit.cache_entries;
SET ROLE perfkit_cache_a;
SELECT perfkit.cache_get('session:42') AS a_still_has_its_own;
SELECT role, key FROM perfkit.cache_entries;
-- Clearing everything is for superusers.
SELECT perfkit.cache_clear();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(DISTINCT role) > 1 AS superuser_sees_all_roles FROM perfkit.cache_entries;

-- perfkit.cache_enabled = off: nothing is stored or served.
SET perfkit.cache_enabled = off;
SELECT perfkit.cache_set('off', '1');
SELECT perfkit.cache_get('user:1') IS NULL AS not_served;
RESET perfkit.cache_enabled;
SELECT perfkit.cache_get('off') IS NULL AS not_stored, perfkit.cache_get('user:1') IS NOT NULL AS back;

-- Bounded memory and LRU: 2,000 values of 4kB (8MB) into a 4MB cache.
-- One key is read after every write and stays; one never read goes.
SELECT perfkit.cache_set('lru:cold', to_jsonb(repeat('c', 4000)));
SELECT perfkit.cache_set('lru:hot', to_jsonb(repeat('h', 4000)));
SELECT count(*) AS written FROM (
	SELECT perfkit.cache_set('fill:' || i, to_jsonb(repeat('f', 4000))),
		   perfkit.cache_get('lru:hot')
	FROM generate_series(1, 2000) i) s;
SELECT perfkit.cache_get('lru:hot') IS NOT NULL AS hot_kept,
	   perfkit.cache_get('lru:cold') IS NULL AS cold_evicted;
SELECT s.bytes_used <= s.bytes_total AS bounded,
	   s.bytes_total BETWEEN 3500000 AND 4194304 AS total_near_cache_size,
	   s.evictions - s0.evictions > 1000 AS evicted,
	   s.entries < 1000 AS entries_bounded
FROM perfkit.cache_stats() s, s0;

-- Statistics move as they should.
CREATE TEMP TABLE s1 AS SELECT * FROM perfkit.cache_stats();
SELECT perfkit.cache_set('stat', '1');
SELECT perfkit.cache_get('stat'), perfkit.cache_get('stat'), perfkit.cache_get('stat:missing');
SELECT s.hits - s1.hits AS hits, s.misses - s1.misses AS misses,
	   s.hit_ratio BETWEEN 0 AND 1 AS ratio_in_range
FROM perfkit.cache_stats() s, s1;
SELECT hits FROM perfkit.cache_entries WHERE key = 'stat';

SELECT perfkit.cache_clear() > 0 AS cleared;
SELECT entries, bytes_used FROM perfkit.cache_stats();
DROP ROLE perfkit_cache_a;
DROP ROLE perfkit_cache_b;
