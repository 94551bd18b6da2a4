--
-- no_cron: without pg_cron in the database, scheduling fails with a clear
-- error and a hint, and everything else in perfkit still works.
--
DROP EXTENSION IF EXISTS pg_cron;

-- pg_cron is loaded and reads this database, but is not installed here.
SELECT * FROM perfkit.schedule();
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.unschedule('all');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.run_job('history');
SELECT perfkit.purge_job_history();
SELECT job, scheduled, jobid, schedule, last_status FROM perfkit.jobs ORDER BY job;

-- A database pg_cron does not read: the hint holds the statements to run
-- in the one it does.
CREATE DATABASE perfkit_regress_other;
\c perfkit_regress_other
CREATE EXTENSION perfkit;
SELECT value FROM perfkit.status() WHERE name = 'pg_cron';
SELECT * FROM perfkit.schedule();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.schedule('history', '0 5 * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.unschedule('history');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.run_job('history');
SELECT job, scheduled, last_status, runs_since_start FROM perfkit.jobs ORDER BY job;
\c contrib_regression
DROP DATABASE perfkit_regress_other;

-- Run statistics are kept per database: the other database's run is not
-- counted here.
SELECT job, runs_since_start FROM perfkit.jobs ORDER BY job;
