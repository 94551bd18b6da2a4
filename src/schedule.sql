/*
 * src/schedule.sql: perfkit's jobs in pg_cron (C: src/schedule.c).  The
 * jobs themselves are rows of perfkit.job_registry (src/jobs.sql).
 */

CREATE FUNCTION perfkit.schedule(job text DEFAULT 'all', schedule text DEFAULT NULL)
RETURNS TABLE (job text, jobid bigint, schedule text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_schedule';

COMMENT ON FUNCTION perfkit.schedule(text, text) IS
'create or update the pg_cron jobs of perfkit''s periodic work';

CREATE FUNCTION perfkit.unschedule(job text)
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_unschedule';

COMMENT ON FUNCTION perfkit.unschedule(text) IS
'remove the pg_cron jobs of a perfkit job (or ''all''); returns how many went';

CREATE FUNCTION perfkit.purge_job_history()
RETURNS bigint
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_purge_job_history';

COMMENT ON FUNCTION perfkit.purge_job_history() IS
'the history job: delete pg_cron run details of perfkit jobs older than perfkit.job_history_retention';

CREATE FUNCTION perfkit._cron_jobs(
	OUT job text, OUT jobid bigint, OUT schedule text, OUT active boolean,
	OUT username text, OUT last_start timestamptz, OUT last_end timestamptz,
	OUT last_status text, OUT last_failure timestamptz, OUT last_error text,
	OUT failures_1d bigint, OUT connection_failures_1d bigint)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'perfkit_cron_jobs';

COMMENT ON FUNCTION perfkit._cron_jobs() IS
'pg_cron''s rows for perfkit''s jobs, for the jobs view; security definer so that pg_monitor sees them without rights on schema cron';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

/*
 * Scheduling and running jobs is for the extension's owner and the roles
 * it grants; the jobs view and its helpers are for pg_monitor, since run
 * errors can quote data.
 */
REVOKE ALL ON FUNCTION perfkit.schedule(text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.unschedule(text) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.purge_job_history() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._cron_jobs() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._cron_jobs() TO pg_monitor;
