--
-- The tour, part 0: how perfkit is loaded, and its jobs on pg_cron.
-- Each capability adds its own part as test/demo/tour/NN_<name>.sql.
--
\set ON_ERROR_STOP on
\pset footer off
\echo
\echo '################################################################'
\echo '# perfkit: the foundation'
\echo '################################################################'
\echo
\echo 'perfkit is preloaded (shared_preload_libraries = ''pg_cron,perfkit'')'
\echo 'and owns shared memory. perfkit.status() says how it is wired:'
\echo
SELECT * FROM perfkit.status();

\echo 'Its settings live under perfkit.*:'
SELECT name, setting, unit, context, short_desc FROM pg_settings
WHERE name LIKE 'perfkit.%' ORDER BY name;

\echo 'Periodic work runs in the database, on pg_cron. One call schedules'
\echo 'every perfkit job with its default schedule (calling it again changes'
\echo 'nothing):  SELECT * FROM perfkit.schedule();'
\echo
SELECT * FROM perfkit.schedule();

\echo 'pg_cron now holds these jobs:'
SELECT jobid, jobname, schedule, command FROM cron.job ORDER BY jobid;

\echo 'Any job can also run by hand; a second run while one is going is'
\echo 'skipped, never doubled:  CALL perfkit.run_job(''history'');'
CALL perfkit.run_job('history');

\echo
\echo 'perfkit.jobs shows each job, its schedule, last run and last error:'
\x on
SELECT * FROM perfkit.jobs ORDER BY job;
\x off
