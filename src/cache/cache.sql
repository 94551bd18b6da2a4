/*
 * src/cache/cache.sql: the SQL of the result cache room (C: store.c,
 * api.c, cached.c, tracking.c, versions.c, like.c).  Every function is C;
 * the shared-memory store has no catalog table.
 */

CREATE FUNCTION perfkit.cache_set(key text, value jsonb, ttl interval DEFAULT NULL,
								   namespace text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_set';

COMMENT ON FUNCTION perfkit.cache_set(text, jsonb, interval, text) IS
'store a value in the shared cache under key for ttl (default perfkit.cache_default_ttl), in the namespace of a role the caller is a member of (default its own)';

/*
 * cache_get: two functions rather than one with namespace DEFAULT NULL, so
 * that the common call, cache_get(key), is one STRICT argument (NULL key:
 * NULL without a call) and no NULL constant to pass.  VOLATILE, not
 * STABLE: a concurrent cache_set() or an expiry changes its result within
 * a statement.
 */
CREATE FUNCTION perfkit.cache_get(key text)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_get';

COMMENT ON FUNCTION perfkit.cache_get(text) IS
'the cached value of key in the caller''s own namespace, or NULL when absent or expired';

CREATE FUNCTION perfkit.cache_get(key text, namespace text)
RETURNS jsonb
LANGUAGE C VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_get';

COMMENT ON FUNCTION perfkit.cache_get(text, text) IS
'the cached value of key in namespace (NULL: the caller''s own), or NULL when absent or expired';

CREATE FUNCTION perfkit.cache_delete(key text, namespace text DEFAULT NULL)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_delete';

COMMENT ON FUNCTION perfkit.cache_delete(text, text) IS
'remove key from the cache; true when it was there';

CREATE FUNCTION perfkit.cache_invalidate(pattern text, namespace text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_invalidate';

-- cache_invalidate(): patterns are bounded (CACHE_MAX_PATTERN, 1024 bytes)
COMMENT ON FUNCTION perfkit.cache_invalidate(text, text) IS
'remove the keys of namespace (default the caller''s own) that match a LIKE pattern of at most 1024 bytes; returns how many went';

CREATE FUNCTION perfkit.cache_invalidate_table(tbl regclass)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_invalidate_table';

COMMENT ON FUNCTION perfkit.cache_invalidate_table(regclass) IS
'remove every cached() result that read a table; returns how many went';

CREATE FUNCTION perfkit.cache_clear()
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_clear';

COMMENT ON FUNCTION perfkit.cache_clear() IS
'superusers: remove every entry of every database and role; the database owner: every entry of this database; returns how many went';

CREATE FUNCTION perfkit.cache_expire()
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_expire';

COMMENT ON FUNCTION perfkit.cache_expire() IS
'the cache_expire job: remove expired entries; returns how many went';

CREATE FUNCTION perfkit.cached(query text, params "any" DEFAULT NULL, ttl interval DEFAULT NULL,
							   max_staleness interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cached';

COMMENT ON FUNCTION perfkit.cached(text, "any", interval, interval) IS
'rows of a read-only query as a jsonb array, cached until ttl or a committed write to a table it read (or, with max_staleness, until that long after it was computed); params: an array of any type, a jsonb array, or one value';

CREATE FUNCTION perfkit.cached_rows(query text, params "any" DEFAULT NULL, ttl interval DEFAULT NULL,
									max_staleness interval DEFAULT NULL)
RETURNS SETOF record
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cached_rows';

COMMENT ON FUNCTION perfkit.cached_rows(text, "any", interval, interval) IS
'the rows of cached() as records of the column definition list given, each column with its own type';

CREATE FUNCTION perfkit.cache_warm(queries text[], ttl interval DEFAULT NULL,
									param_sets jsonb DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_warm';

COMMENT ON FUNCTION perfkit.cache_warm(text[], interval, jsonb) IS
'run queries through cached(), each once per parameter set of param_sets (a jsonb array of arrays) if given; returns how many were not cached yet';

CREATE FUNCTION perfkit._cache_citus_versions(tables text[])
RETURNS text
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_citus_versions';

COMMENT ON FUNCTION perfkit._cache_citus_versions(text[]) IS
'on a Citus node: a fingerprint of the versions of the shards of tables that this node holds, with its database and global epochs (what cached() asks every node about a result over Citus tables)';

CREATE FUNCTION perfkit.cache_stats(
	OUT entries bigint, OUT bytes_used bigint, OUT bytes_total bigint,
	OUT hits bigint, OUT misses bigint, OUT hit_ratio float8,
	OUT evictions bigint, OUT expirations bigint, OUT invalidations bigint,
	OUT stale_hits bigint)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_stats';

COMMENT ON FUNCTION perfkit.cache_stats() IS
'counters of the result cache since the server started';

CREATE FUNCTION perfkit._cache_entries(
	OUT dbid oid, OUT roleid oid, OUT kind text, OUT key text, OUT bytes bigint,
	OUT hits bigint, OUT created_at timestamptz, OUT expires_at timestamptz,
	OUT depends_on regclass[])
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_cache_entries';

/*
 * perfkit.cache_entries: the live entries (not expired, not invalidated);
 * a role sees its own, superusers all.
 * depends_on lists the relations a cached() result read (names resolve in
 * the current database only).
 */
CREATE VIEW perfkit.cache_entries AS
SELECT d.datname AS database,
	   e.roleid::regrole AS role,
	   e.kind,
	   e.key,
	   e.bytes,
	   e.hits,
	   e.created_at,
	   e.expires_at,
	   CASE WHEN e.dbid = (SELECT oid FROM pg_catalog.pg_database
						   WHERE datname = pg_catalog.current_database())
			THEN e.depends_on END AS depends_on
FROM perfkit._cache_entries() e
LEFT JOIN pg_catalog.pg_database d ON d.oid = e.dbid;

COMMENT ON VIEW perfkit.cache_entries IS
'live entries of the result cache (expired and invalidated ones are left out): a role sees its own, superusers all';

INSERT INTO perfkit.job_registry (job, command, default_schedule, description) VALUES
	('cache_expire', 'SELECT perfkit.cache_expire()', '* * * * *',
	 'remove expired entries from the result cache, every minute');

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION perfkit.cache_expire() FROM PUBLIC;

GRANT SELECT ON perfkit.cache_entries TO PUBLIC;

-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

/*
 * The result cache's hit ratio (judged only after
 * perfkit.health_cache_min_reads reads) and fill, from one cache_stats().
 */
CREATE FUNCTION perfkit._health_cache()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
		SELECT v.*
		FROM perfkit.cache_stats() s
		CROSS JOIN LATERAL (
			SELECT current_setting('perfkit.health_cache_min_reads')::bigint AS min_reads,
				   s.hits::float8 / nullif(s.hits + s.misses, 0) AS hit,
				   s.bytes_used::float8 / nullif(s.bytes_total, 0) AS fill) x
		CROSS JOIN LATERAL (
			SELECT s.hits + s.misses < x.min_reads OR x.hit IS NULL AS too_few) f
		CROSS JOIN LATERAL (VALUES
			('perfkit_cache_hit_ratio', CASE WHEN NOT f.too_few THEN x.hit END,
			 CASE WHEN f.too_few THEN format('%s reads, fewer than %s', s.hits + s.misses, x.min_reads)
				  ELSE round(x.hit::numeric, 4)::text END,
			 x.hit, NULL::text, NULL::text),
			('perfkit_cache_fill', x.fill,
			 format('%s (%s of %s bytes, %s evictions)', round(x.fill::numeric, 4),
					s.bytes_used, s.bytes_total, s.evictions),
			 x.fill, NULL, NULL)) v;
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('perfkit_cache_hit_ratio', 2, 'cache', 'perfkit._health_cache',
	 'result cache hits / (hits + misses) since the server started (cache_stats()), judged after perfkit.health_cache_min_reads reads',
	 'ratio', 'below',
	 'perfkit.health_cache_hit_warn', NULL, 'perfkit.health_cache_hit_critical', NULL,
	 '{perfkit.health_cache_min_reads}',
	 'warning < %1$s, critical < %2$s (after %3$s reads)',
	 'Most result cache reads miss: check the TTLs, the invalidations in perfkit.cache_stats(), and whether the keys repeat.'),
	('perfkit_cache_fill', 3, 'cache', 'perfkit._health_cache',
	 'result cache bytes_used / bytes_total', 'ratio', 'above',
	 'perfkit.health_cache_fill_warn', NULL, 'perfkit.health_cache_fill_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s',
	 'The result cache is nearly full and evicts entries: raise perfkit.cache_size or shorten TTLs.');

REVOKE ALL ON FUNCTION perfkit._health_cache() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_cache() TO pg_monitor;
