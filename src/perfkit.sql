/*
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

/*
 * Privileges.  Scheduling and running jobs is for the extension's owner
 * and the roles it grants; the jobs view and its helpers are for
 * pg_monitor, since run errors can quote data.
 */
REVOKE ALL ON FUNCTION perfkit._require_preload() FROM PUBLIC;

GRANT USAGE ON SCHEMA perfkit TO PUBLIC;
