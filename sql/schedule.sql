--
-- schedule: perfkit.schedule() and perfkit.unschedule() on pg_cron, in the
-- database pg_cron reads its jobs from.
--
-- Loaded, but not installed here yet: a clear error.
SELECT * FROM perfkit.schedule();
\echo :LAST_ERROR_SQLSTATE

CREATE EXTENSION pg_cron;
SELECT value FROM perfkit.status() WHERE name = 'pg_cron';

-- Every registered job, with its default schedule.
SELECT job, schedule FROM perfkit.schedule();
SELECT jobname, schedule, command, database, username = current_user AS mine, active
FROM cron.job ORDER BY jobname;

-- A second call changes nothing and writes nothing (xmin stays).
CREATE TEMP TABLE before AS SELECT jobid, schedule, xmin::text AS row_xmin FROM cron.job;
SELECT job, schedule FROM perfkit.schedule();
SELECT (SELECT array_agg((jobid, schedule, xmin::text) ORDER BY jobid) FROM cron.job)
	 = (SELECT array_agg((jobid, schedule, row_xmin) ORDER BY jobid) FROM before) AS unchanged;

-- An explicit schedule updates the same pg_cron job in place.
SELECT s.job, s.schedule, s.jobid = b.jobid AS same_jobid
FROM perfkit.schedule('history', '0 4 1 1 *') s, before b;
-- NULL keeps the current schedule, for one job and for all.
SELECT job, schedule FROM perfkit.schedule('history');
SELECT job, schedule FROM perfkit.schedule();
SELECT count(*) AS pg_cron_jobs FROM cron.job;

-- Bad input: nothing changes.
SELECT * FROM perfkit.schedule('history', 'every tuesday');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.schedule('history', '   ');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.schedule('no_such_job');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.schedule(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT jobname, schedule FROM cron.job ORDER BY jobname;

-- Unscheduling is idempotent: the second call finds nothing.
SELECT perfkit.unschedule('history');
SELECT perfkit.unschedule('history');
SELECT perfkit.unschedule('all');
SELECT perfkit.unschedule('no_such_job');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS pg_cron_jobs FROM cron.job;

-- Roles.  Without a grant, neither function is callable.
CREATE ROLE perfkit_scheduler;
SET ROLE perfkit_scheduler;
SELECT * FROM perfkit.schedule();
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.unschedule('all');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A role that may schedule but not run jobs would schedule jobs that fail
-- every time: refused.  With the grants, pg_cron runs them as that role.
GRANT EXECUTE ON FUNCTION perfkit.schedule(text, text), perfkit.unschedule(text)
	TO perfkit_scheduler;
GRANT USAGE ON SCHEMA cron TO perfkit_scheduler;
SET ROLE perfkit_scheduler;
SELECT job, schedule FROM perfkit.schedule('all', '0 5 1 1 *');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON PROCEDURE perfkit.run_job(text) TO perfkit_scheduler;
SET ROLE perfkit_scheduler;
SELECT job, schedule FROM perfkit.schedule('all', '0 5 1 1 *');
RESET ROLE;
SELECT jobname, schedule, username FROM cron.job ORDER BY jobname;

-- Scheduling the same job as another role would run it twice: refused,
-- whichever role tries, even one that pg_cron hides the other's jobs from.
SELECT * FROM perfkit.schedule('history');
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE perfkit_scheduler2;
GRANT EXECUTE ON FUNCTION perfkit.schedule(text, text) TO perfkit_scheduler2;
GRANT EXECUTE ON PROCEDURE perfkit.run_job(text) TO perfkit_scheduler2;
GRANT USAGE ON SCHEMA cron TO perfkit_scheduler2;
SET ROLE perfkit_scheduler2;
SELECT count(*) AS visible_to_it FROM cron.job;
SELECT * FROM perfkit.schedule('history');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON SCHEMA cron FROM perfkit_scheduler2;
REVOKE ALL ON FUNCTION perfkit.schedule(text, text) FROM perfkit_scheduler2;
REVOKE ALL ON PROCEDURE perfkit.run_job(text) FROM perfkit_scheduler2;
DROP ROLE perfkit_scheduler2;
SELECT perfkit.unschedule('all') AS removed_by_other_role;

SET ROLE perfkit_scheduler;
SELECT perfkit.unschedule('all') AS removed_by_owner;
RESET ROLE;
SELECT count(*) AS pg_cron_jobs FROM cron.job;

REVOKE ALL ON SCHEMA cron FROM perfkit_scheduler;
REVOKE ALL ON FUNCTION perfkit.schedule(text, text), perfkit.unschedule(text)
	FROM perfkit_scheduler;
REVOKE ALL ON PROCEDURE perfkit.run_job(text) FROM perfkit_scheduler;
DROP ROLE perfkit_scheduler;

-- Under REPEATABLE READ the schedule lock could not show a concurrent
-- caller's committed job: refused.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM perfkit.schedule();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
