/*
 * src/jobs.sql: perfkit's periodic jobs (C: src/jobs.c runs them,
 * src/schedule.c puts them in pg_cron).
 *
 * One row per periodic job; each room adds its own row in its SQL file
 * (cache_expire, rollups, partitions; history here).  The rows are the extension's, not the user's:
 * pg_dump does not dump them, and CREATE EXTENSION brings them back.
 */
CREATE TABLE perfkit.job_registry (
	job text PRIMARY KEY
		CHECK (job ~ '^[a-z][a-z0-9_]*$' AND job <> 'all' AND length(job) <= 40),
	command text NOT NULL,
	default_schedule text NOT NULL,
	description text NOT NULL
);

COMMENT ON TABLE perfkit.job_registry IS
'perfkit''s periodic jobs: the statement CALL perfkit.run_job(job) runs, and its default schedule';

INSERT INTO perfkit.job_registry (job, command, default_schedule, description) VALUES
	('history', 'SELECT perfkit.purge_job_history()', '17 3 * * *',
	 'delete pg_cron run details of perfkit jobs older than perfkit.job_history_retention');

CREATE PROCEDURE perfkit.run_job(job text)
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_run_job';

COMMENT ON PROCEDURE perfkit.run_job(text) IS
'run one perfkit job now; skipped with a notice when it is already running';

CREATE FUNCTION perfkit._job_stats(
	OUT job text, OUT running_pid integer, OUT runs bigint, OUT failures bigint,
	OUT last_start timestamptz, OUT last_end timestamptz, OUT last_status text,
	OUT last_error text, OUT last_failure timestamptz, OUT failures_1d bigint)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_job_stats';

/*
 * perfkit.jobs: each registered job, what pg_cron holds for it, and its
 * last run.  The last run is whichever is more recent of pg_cron's run
 * details (durable) and perfkit's own statistics (since the server
 * started, including runs pg_cron did not start).
 */
CREATE VIEW perfkit.jobs AS
SELECT r.job,
	   r.description,
	   c.jobid IS NOT NULL AS scheduled,
	   c.jobid,
	   coalesce(c.schedule, r.default_schedule) AS schedule,
	   c.active,
	   c.username AS scheduled_by,
	   last.run AS last_run,
	   last.status AS last_status,
	   last.finished AS last_finished,
	   fail.at AS last_failure,
	   fail.error AS last_error,
	   s.running_pid IS NOT NULL
		 AND EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
					 WHERE a.pid = s.running_pid) AS running,
	   coalesce(s.runs, 0) AS runs_since_start,
	   coalesce(s.failures, 0) AS failures_since_start,
	   -- pg_cron's failed runs of the last day (those that could not even
	   -- connect included) and perfkit's own count of this database's
	   -- failed runs: a database whose jobs pg_cron runs from another
	   -- database has only the latter.  Both count a failed run pg_cron
	   -- started: the larger is the better estimate.
	   greatest(c.failures_1d, s.failures_1d) AS failures_1d
FROM perfkit.job_registry r
LEFT JOIN perfkit._cron_jobs() c ON c.job = r.job
LEFT JOIN perfkit._job_stats() s ON s.job = r.job
CROSS JOIN LATERAL (
	SELECT CASE WHEN c.last_start IS NULL OR s.last_start >= c.last_start
				THEN s.last_start ELSE c.last_start END AS run,
		   CASE WHEN c.last_start IS NULL OR s.last_start >= c.last_start
				THEN s.last_status ELSE c.last_status END AS status,
		   CASE WHEN c.last_start IS NULL OR s.last_start >= c.last_start
				THEN s.last_end ELSE c.last_end END AS finished
) last
CROSS JOIN LATERAL (
	SELECT CASE WHEN c.last_failure IS NULL OR s.last_failure >= c.last_failure
				THEN s.last_failure ELSE c.last_failure END AS at,
		   CASE WHEN c.last_failure IS NULL OR s.last_failure >= c.last_failure
				THEN s.last_error ELSE c.last_error END AS error
) fail;

COMMENT ON VIEW perfkit.jobs IS
'perfkit''s periodic jobs: schedule in pg_cron, last run, last failure';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON PROCEDURE perfkit.run_job(text) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._job_stats() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._job_stats() TO pg_monitor;

GRANT SELECT ON perfkit.jobs TO pg_monitor;

GRANT SELECT ON perfkit.job_registry TO PUBLIC;

-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

/*
 * failed_jobs: failed runs of perfkit jobs in the last day (perfkit.jobs:
 * pg_cron's run details where pg_cron lives, perfkit's own count of this
 * database's runs everywhere).  pg_cron_runs: how pg_cron's runs reach the
 * server (perfkit.status()) and the runs of the last day that could not
 * connect; "cannot connect" there is critical at once.
 */
CREATE FUNCTION perfkit._health_jobs()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	conn text := (SELECT s.value FROM perfkit.status() s WHERE s.name = 'pg_cron_connection');
BEGIN
	RETURN QUERY
		SELECT 'pg_cron_runs', f.n::float8,
			   CASE WHEN conn IS NULL THEN 'pg_cron not loaded'
					WHEN f.n = 0 THEN conn
					ELSE format('%s runs could not connect (%s); %s', f.n, f.names, conn) END,
			   f.n::float8, CASE WHEN conn LIKE 'cannot connect%' THEN 'critical' END, NULL::text
		FROM (SELECT coalesce(sum(c.connection_failures_1d), 0) AS n,
					 string_agg(c.job || ' (' || c.connection_failures_1d || ')', ', ' ORDER BY c.job)
					   FILTER (WHERE c.connection_failures_1d > 0) AS names
			  FROM perfkit._cron_jobs() c) f;
	RETURN QUERY
		SELECT 'failed_jobs', f.n::float8,
			   CASE WHEN f.n = 0 THEN '0' ELSE format('%s: %s', f.n, f.names) END,
			   f.n::float8, NULL::text, NULL::text
		FROM (SELECT coalesce(sum(j.failures_1d), 0) AS n,
					 string_agg(j.job || ' (' || j.failures_1d || ')', ', ' ORDER BY j.job)
					   FILTER (WHERE j.failures_1d > 0) AS names
			  FROM perfkit.jobs j) f;
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('failed_jobs', 9, 'jobs', 'perfkit._health_jobs',
	 'failed runs of perfkit jobs in the last day (failures_1d of perfkit.jobs: pg_cron''s cron.job_run_details, and perfkit''s own count of this database''s runs)',
	 'count', 'at_or_above',
	 'perfkit.health_job_failures_warn', NULL, 'perfkit.health_job_failures_critical', NULL, '{}',
	 'warning >= %1$s, critical >= %2$s failed runs in 1 day',
	 'perfkit jobs failed: read last_error in perfkit.jobs and cron.job_run_details.'),
	('pg_cron_runs', 15, 'jobs', 'perfkit._health_jobs',
	 'how pg_cron''s runs connect (perfkit.status()), and runs of perfkit jobs in the last day that could not connect (cron.job_run_details, in pg_cron''s database)',
	 'count', 'at_or_above', NULL, 1, NULL, 3, '{}',
	 'warning >= %1$s, critical >= %2$s runs that could not connect in 1 day, or no way to connect',
	 'pg_cron cannot reach the server: set cron.use_background_workers = on (and max_worker_processes) and restart, or make the server listen on cron.host and let the role log in without a password (pg_hba.conf trust for localhost, or .pgpass).');

REVOKE ALL ON FUNCTION perfkit._health_jobs() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_jobs() TO pg_monitor;
