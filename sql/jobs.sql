--
-- jobs: perfkit.run_job(), the run statistics, the perfkit.jobs view and
-- the history job.
--
CREATE EXTENSION IF NOT EXISTS pg_cron;

-- Nothing has run yet.
SELECT job, scheduled, last_run, last_status, running, runs_since_start,
	   failures_since_start
FROM perfkit.jobs WHERE job = 'history';

CALL perfkit.run_job('history');
SELECT job, last_status, last_run <= last_finished AS ordered, last_error,
	   running, runs_since_start, failures_since_start
FROM perfkit.jobs WHERE job = 'history';

-- A failing job: the error reaches the caller and is recorded.
INSERT INTO perfkit.job_registry VALUES
	('always_fails', 'SELECT 1/0', '0 0 1 1 *', 'test: always fails');
CALL perfkit.run_job('always_fails');
SELECT job, last_status, last_error, last_failure = last_finished AS failed_last,
	   runs_since_start, failures_since_start
FROM perfkit.jobs WHERE job = 'always_fails';

-- The failure released the job's lock: it runs again at once.
CALL perfkit.run_job('always_fails');
SELECT runs_since_start, failures_since_start FROM perfkit.jobs
WHERE job = 'always_fails';

-- Inside a transaction block the lock is transaction-level and still
-- released by each call: the second call runs too.
BEGIN;
CALL perfkit.run_job('history');
CALL perfkit.run_job('history');
COMMIT;
SELECT runs_since_start FROM perfkit.jobs WHERE job = 'history';

-- An error caught in a subtransaction releases the lock as well.
DO $$
BEGIN
	CALL perfkit.run_job('always_fails');
EXCEPTION WHEN division_by_zero THEN
	RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
SELECT count(*) AS job_locks_held FROM pg_locks
WHERE locktype = 'object' AND classid = 'perfkit.job_registry'::regclass;
SELECT runs_since_start, failures_since_start FROM perfkit.jobs
WHERE job = 'always_fails';

-- A success after failures: last_status moves on, last_error stays.
UPDATE perfkit.job_registry SET command = 'SELECT 1' WHERE job = 'always_fails';
CALL perfkit.run_job('always_fails');
SELECT last_status, last_error, last_failure < last_finished AS failed_before
FROM perfkit.jobs WHERE job = 'always_fails';
DELETE FROM perfkit.job_registry WHERE job = 'always_fails';

-- A long error message is cut on a character boundary, never inside one.
INSERT INTO perfkit.job_registry VALUES
	('long_error', $cmd$DO $d$BEGIN RAISE EXCEPTION '%', repeat('é', 300); END$d$$cmd$,
	 '0 0 1 1 *', 'test: fails with a long multibyte message');
CALL perfkit.run_job('long_error');
SELECT length(last_error) AS chars, octet_length(last_error) AS bytes,
	   last_error = repeat('é', length(last_error)) AS whole_characters
FROM perfkit.jobs WHERE job = 'long_error';
DELETE FROM perfkit.job_registry WHERE job = 'long_error';

-- Bad input.
CALL perfkit.run_job('no_such_job');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.run_job(NULL);
\echo :LAST_ERROR_SQLSTATE

-- Roles: running jobs needs a grant; reading the view needs pg_monitor.
CREATE ROLE perfkit_viewer;
SET ROLE perfkit_viewer;
CALL perfkit.run_job('history');
\echo :LAST_ERROR_SQLSTATE
SELECT job FROM perfkit.jobs;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT pg_monitor TO perfkit_viewer;
SET ROLE perfkit_viewer;
SELECT job, runs_since_start > 0 AS has_run FROM perfkit.jobs ORDER BY job;
RESET ROLE;
DROP ROLE perfkit_viewer;

-- The view merges pg_cron's durable history: a newer failed run recorded
-- by pg_cron is the last run and the last error.
SELECT jobid AS history_jobid FROM perfkit.schedule('history', '0 0 1 1 *') \gset
INSERT INTO cron.job_run_details
	(jobid, database, username, command, status, return_message, start_time, end_time)
VALUES
	(:history_jobid, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'failed', 'ERROR:  disk on fire', now() + interval '1 minute', now() + interval '2 minutes');
SELECT job, scheduled, schedule, active, last_status, last_error,
	   last_run > now() AS cron_run_is_last, failures_1d
FROM perfkit.jobs WHERE job = 'history';

-- The history job deletes old run details of perfkit jobs and nothing
-- else.  Run details of every database live here (jobs scheduled for other
-- databases with cron.schedule_in_database() too), so all are purged.
INSERT INTO cron.job_run_details
	(jobid, database, username, command, status, return_message, start_time, end_time)
VALUES
	(:history_jobid, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'succeeded', 'CALL', now() - interval '30 days', now() - interval '30 days'),
	(:history_jobid, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'succeeded', 'CALL', now() - interval '2 days', now() - interval '2 days'),
	-- a job no longer scheduled leaves orphans: still perfkit's, still purged
	(424242, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'succeeded', 'CALL', now() - interval '40 days', now() - interval '40 days'),
	(424243, current_database(), current_user, 'VACUUM',
	 'succeeded', 'VACUUM', now() - interval '30 days', now() - interval '30 days'),
	(424244, 'postgres', current_user, 'CALL perfkit.run_job(''history'')',
	 'succeeded', 'CALL', now() - interval '30 days', now() - interval '30 days');
SET perfkit.job_history_retention = -1;
SELECT perfkit.purge_job_history() AS purged_when_disabled;
SET perfkit.job_history_retention = '7d';
SELECT perfkit.purge_job_history() AS purged;
SELECT command, database, now() - start_time > interval '7 days' AS old
FROM cron.job_run_details ORDER BY start_time;
-- The job itself does the same.
SET perfkit.job_history_retention = '1d';
CALL perfkit.run_job('history');
SELECT count(*) AS perfkit_rows_older_than_1d FROM cron.job_run_details
WHERE database = current_database() AND command LIKE 'CALL perfkit.%'
  AND end_time < now() - interval '1 day';
RESET perfkit.job_history_retention;

SELECT perfkit.unschedule('all');
DELETE FROM cron.job_run_details;
