/*
 * src/perfkit.sql: the foundation, first of the install script (the
 * Makefile concatenates the rooms' SQL, in the order of its SQL_ROOMS).
 * Then come src/schedule.sql (pg_cron), src/jobs.sql (the job registry),
 * and one file per room: cache, rollup, partition, advisor, health.
 *
 * Everything lives in schema perfkit, created here so that it belongs to
 * the extension: DROP EXTENSION removes it, and CREATE EXTENSION fails
 * rather than adopt a schema of the same name that already exists.
 */
CREATE SCHEMA perfkit;

/*
 * Refuse to install unless the library was preloaded: everything perfkit
 * does needs its shared memory.  Fails with SQLSTATE 55000 and a hint.
 */
CREATE FUNCTION perfkit._require_preload()
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_require_preload_sql';

SELECT perfkit._require_preload();

CREATE FUNCTION perfkit.status(OUT name text, OUT value text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_status';

COMMENT ON FUNCTION perfkit.status() IS
'how perfkit is loaded and wired in this database';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION perfkit._require_preload() FROM PUBLIC;

GRANT USAGE ON SCHEMA perfkit TO PUBLIC;
