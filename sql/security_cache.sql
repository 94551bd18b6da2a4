--
-- security_cache: attacks on cache by a plain role (issue 12); shared
-- namespaces across member and non-member roles, and clearing by the
-- database owner (issue 17).
--
-- Item 7: cache_invalidate() matches keys in time linear in the key, with
-- a bounded pattern, so a hostile pattern cannot hold a partition lock for
-- long.  Its answers are those of PostgreSQL's own LIKE.
--
CREATE ROLE sec_cache_alice;
CREATE ROLE sec_cache_mallory;
CREATE ROLE sec_cache_truth;

-- The pattern is bounded: CACHE_MAX_PATTERN (1024) bytes.
SET ROLE sec_cache_mallory;
SELECT perfkit.cache_invalidate(repeat('%', 1024)) AS longest_pattern_accepted;
SELECT perfkit.cache_invalidate(repeat('%', 1025));
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate(repeat('é', 513));
\echo :LAST_ERROR_SQLSTATE
-- the old checks stay
SELECT perfkit.cache_invalidate('abc\');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate(repeat('a', 1023) || '\');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate('a\\') AS escaped_escape_at_end;
RESET ROLE;

-- Ground truth: for generated keys and patterns over a small alphabet
-- (including %, _, \ and a multibyte character, so that patterns match
-- often), cache_invalidate() removes exactly the keys that LIKE matches.
SET ROLE sec_cache_truth;
CREATE TEMP TABLE truth_keys AS
SELECT DISTINCT k FROM (
	SELECT string_agg((ARRAY['a', 'b', 'é', '_', '%', '\'])[1 + (abs(hashint4(i * 37 + j)) % 6)], ''
					  ORDER BY j) AS k
	FROM generate_series(1, 400) i, generate_series(1, 1 + i % 11) j
	GROUP BY i) s;
CREATE TEMP TABLE truth_patterns AS
SELECT DISTINCT p FROM (
	SELECT string_agg((ARRAY['a', 'b', 'é', '_', '%', '%', '\_', '\%', '\\', '\a', '\é'])
					  [1 + (abs(hashint4(i * 101 + j)) % 11)], '' ORDER BY j) AS p
	FROM generate_series(1, 300) i, generate_series(1, 1 + i % 7) j
	GROUP BY i) s;
-- plus the cases of the cache test and a few of each shape
INSERT INTO truth_patterns VALUES ('%'), ('_'), ('%%'), ('a%'), ('%a'), ('%a%'), ('a_b'),
	('\%%'), ('%\_'), ('\\%'), ('%\\'), ('é_é'), ('_é%'), ('%_%_%'), ('a%b%a'), ('%é%é%');
SELECT count(*) AS keys, count(*) FILTER (WHERE k LIKE '%é%') AS multibyte_keys
FROM truth_keys;
SELECT count(*) > 250 AS enough_patterns FROM truth_patterns;
CREATE TEMP TABLE truth_result (p text, matched bigint, invalidated bigint, wrong bigint);
DO $$
DECLARE
	pat text;
	n bigint;
BEGIN
	FOR pat IN SELECT p FROM truth_patterns LOOP
		PERFORM perfkit.cache_set(k, '1') FROM truth_keys;
		n := perfkit.cache_invalidate(pat);
		INSERT INTO truth_result
		SELECT pat,
			   (SELECT count(*) FROM truth_keys WHERE k LIKE pat),
			   n,
			   (SELECT count(*) FROM (
					(SELECT k FROM truth_keys WHERE NOT k LIKE pat
					 EXCEPT SELECT key FROM perfkit.cache_entries)
					UNION ALL
					(SELECT key FROM perfkit.cache_entries
					 EXCEPT SELECT k FROM truth_keys WHERE NOT k LIKE pat)) d);
		PERFORM perfkit.cache_invalidate('%');
	END LOOP;
END $$;
-- every pattern agrees with LIKE, and many patterns do match something
SELECT count(*) FILTER (WHERE matched <> invalidated OR wrong <> 0) AS disagreements,
	   count(*) FILTER (WHERE matched > 0) > 100 AS many_match,
	   count(*) FILTER (WHERE matched > 0 AND matched < (SELECT count(*) FROM truth_keys))
		   > 100 AS many_match_some_only
FROM truth_result;
SELECT p, matched, invalidated, wrong FROM truth_result
WHERE matched <> invalidated OR wrong <> 0 ORDER BY p LIMIT 10;

-- Long keys and patterns with many % and _: the shapes that made the old
-- matcher backtrack.  Same answers as LIKE.
CREATE TEMP TABLE long_keys AS
SELECT k FROM (VALUES
	(repeat('a', 30000)),
	(repeat('a', 30000) || 'b'),
	(repeat('ab', 15000)),
	(repeat('ab', 15000) || 'c'),
	(repeat('é', 10000) || 'x'),
	(repeat('a_', 10000) || '%')) v(k);
CREATE TEMP TABLE long_patterns AS
SELECT p FROM (VALUES
	('%' || repeat('a', 1022) || 'b'),
	('%' || repeat('a', 1023)),
	(repeat('%a', 512)),
	(repeat('%a', 511) || '%b'),
	(repeat('%_', 512)),
	('%' || repeat('_', 1022) || 'b'),
	('%' || repeat('ab', 511) || 'c'),
	(repeat('%ab', 341)),
	('%' || repeat('é', 340) || 'x'),
	('%' || repeat('_é', 300) || 'x'),
	(repeat('a\_', 300) || '%\%'),
	('%' || repeat('\_a', 300) || '%'),
	(repeat('_', 1000) || '%'),
	('%' || repeat('a%', 300) || 'c')) v(p);
DO $$
DECLARE
	pat text;
	n bigint;
BEGIN
	FOR pat IN SELECT p FROM long_patterns LOOP
		PERFORM perfkit.cache_set(k, '1') FROM long_keys;
		n := perfkit.cache_invalidate(pat);
		INSERT INTO truth_result
		SELECT 'long ' || length(pat),
			   (SELECT count(*) FROM long_keys WHERE k LIKE pat),
			   n,
			   (SELECT count(*) FROM (
					(SELECT k FROM long_keys WHERE NOT k LIKE pat
					 EXCEPT SELECT key FROM perfkit.cache_entries)
					UNION ALL
					(SELECT key FROM perfkit.cache_entries
					 EXCEPT SELECT k FROM long_keys WHERE NOT k LIKE pat)) d);
		PERFORM perfkit.cache_invalidate('%');
	END LOOP;
END $$;
SELECT count(*) AS long_patterns,
	   count(*) FILTER (WHERE matched <> invalidated OR wrong <> 0) AS disagreements,
	   sum(matched) AS keys_matched
FROM truth_result WHERE p LIKE 'long %';
DROP TABLE truth_keys, truth_patterns, truth_result, long_keys, long_patterns;
RESET ROLE;

-- The attack: mallory stores the longest keys she may (key and value
-- within perfkit.cache_max_value_size) and invalidates them with the
-- longest pattern she may pass, the worst case of the old matcher (one
-- leading % then a literal run that nearly matches everywhere).  It is
-- refused nothing, but it is quick, and alice's entries are untouched.
SET ROLE sec_cache_alice;
SELECT count(perfkit.cache_set('alice:' || i, to_jsonb(i))) AS alice_keys
FROM generate_series(1, 200) i;
SET ROLE sec_cache_mallory;
SELECT count(perfkit.cache_set(repeat('a', 60000) || i, '1')) AS mallory_keys
FROM generate_series(1, 8) i;
SELECT clock_timestamp() AS attack_start \gset
SELECT perfkit.cache_invalidate('%' || repeat('a', 1022) || 'b') AS mallory_invalidated;
SELECT clock_timestamp() - :'attack_start'::timestamptz < interval '2 s' AS attack_is_quick;
SELECT perfkit.cache_invalidate('%' || repeat('a', 1022) || '_') AS mallory_invalidated;
SELECT perfkit.cache_invalidate('alice:%') AS mallory_cannot_touch_alice;
SET ROLE sec_cache_alice;
SELECT count(*) AS alice_keys_left, sum((perfkit.cache_get(key))::int) AS alice_sum
FROM perfkit.cache_entries WHERE key LIKE 'alice:%';
SELECT perfkit.cache_invalidate('alice:%') AS alice_invalidates_own;
RESET ROLE;

-- Shared namespaces: a key stored in the namespace of a role is shared by
-- its members; a non-member never reads, writes or clears it.
CREATE ROLE sec_cache_app;
CREATE ROLE sec_cache_api IN ROLE sec_cache_app;
CREATE ROLE sec_cache_worker IN ROLE sec_cache_app;
CREATE ROLE sec_cache_outsider;
SET ROLE sec_cache_worker;
SELECT perfkit.cache_set('driver:DRV0001:eta', '12', namespace => 'sec_cache_app');
SELECT perfkit.cache_set('driver:DRV0002:eta', '7', namespace => 'sec_cache_app');
SELECT perfkit.cache_set('driver:DRV0001:eta', '"worker own"');
SET ROLE sec_cache_api;
SELECT perfkit.cache_get('driver:DRV0001:eta', namespace => 'sec_cache_app') AS api_reads_shared;
SELECT perfkit.cache_get('driver:DRV0001:eta') AS api_own_namespace_is_empty;
SET ROLE sec_cache_outsider;
SELECT perfkit.cache_get('driver:DRV0001:eta', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_set('driver:DRV0001:eta', '0', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_delete('driver:DRV0001:eta', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate('driver:%', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_get('x', namespace => 'no_such_role');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_clear();
\echo :LAST_ERROR_SQLSTATE
-- The worker (which writes the data) invalidates what the API serves.
SET ROLE sec_cache_worker;
SELECT perfkit.cache_invalidate('driver:DRV0001:%', namespace => 'sec_cache_app') AS worker_invalidated;
SET ROLE sec_cache_api;
SELECT perfkit.cache_get('driver:DRV0001:eta', namespace => 'sec_cache_app') AS api_sees_it_gone;
SELECT perfkit.cache_get('driver:DRV0002:eta', namespace => 'sec_cache_app') AS other_key_stays;
SELECT perfkit.cache_delete('driver:DRV0002:eta', namespace => 'sec_cache_app') AS api_deletes_shared;
SET ROLE sec_cache_worker;
SELECT perfkit.cache_get('driver:DRV0001:eta') AS worker_own_key_untouched;
RESET ROLE;
-- A backend remembers the last namespace it named (no role lookup per
-- call) and forgets it when roles or memberships change: a REVOKE or a
-- rename takes effect at the next call, in this very session too.
SET ROLE sec_cache_api;
SELECT perfkit.cache_set('driver:DRV0003:eta', '3', namespace => 'sec_cache_app');
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => 'sec_cache_app') AS api_reads_before_revoke;
SELECT perfkit.cache_get('driver:DRV0003:eta', 'sec_cache_app') AS api_reads_again_positional;
RESET ROLE;
REVOKE sec_cache_app FROM sec_cache_api;
SET ROLE sec_cache_api;
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate('driver:%', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT sec_cache_app TO sec_cache_api;
ALTER ROLE sec_cache_app RENAME TO sec_cache_app_renamed;
SET ROLE sec_cache_api;
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => 'sec_cache_app');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => 'sec_cache_app_renamed') AS api_reads_under_new_name;
-- the same name from another role is checked for that role
SET ROLE sec_cache_outsider;
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => 'sec_cache_app_renamed');
\echo :LAST_ERROR_SQLSTATE
SET ROLE sec_cache_api;
SELECT perfkit.cache_get('driver:DRV0003:eta', namespace => NULL) AS api_null_namespace_is_own;
SELECT perfkit.cache_get(NULL, 'sec_cache_app_renamed') IS NULL AS null_key_misses;
SELECT perfkit.cache_delete('driver:DRV0003:eta', namespace => 'sec_cache_app_renamed') AS api_deletes_shared;
RESET ROLE;
ALTER ROLE sec_cache_app_renamed RENAME TO sec_cache_app;
-- The owner of a database clears its entries, every role's, without
-- being a superuser.
CREATE ROLE sec_cache_dbowner;
ALTER DATABASE contrib_regression OWNER TO sec_cache_dbowner;
SELECT perfkit.cache_set('owner:probe', '1');
SET ROLE sec_cache_dbowner;
SELECT perfkit.cache_clear() > 0 AS owner_cleared;
RESET ROLE;
SELECT count(*) AS entries_left_here FROM perfkit.cache_entries WHERE database = current_database();
SELECT perfkit.cache_get('owner:probe') AS superuser_key_gone;
ALTER DATABASE contrib_regression OWNER TO CURRENT_USER;
DROP ROLE sec_cache_api, sec_cache_worker, sec_cache_app, sec_cache_outsider, sec_cache_dbowner;

DROP ROLE sec_cache_alice;
DROP ROLE sec_cache_mallory;
DROP ROLE sec_cache_truth;
