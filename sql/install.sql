--
-- install: what CREATE EXTENSION perfkit creates, its settings and its
-- privileges.  (Refusal without preloading is in test/t/001_preload.pl.)
--
CREATE EXTENSION perfkit;
SELECT extversion, extrelocatable
FROM pg_extension WHERE extname = 'perfkit';

-- Every member object of the extension, its schema included.
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'perfkit')
ORDER BY 1;

-- Loaded from shared_preload_libraries, shared memory attached, pg_cron
-- loaded but not installed in this database yet.
SELECT name,
	   CASE name WHEN 'shared_memory_since'
			THEN (value::timestamptz BETWEEN pg_postmaster_start_time() - interval '1 minute'
											 AND now())::text
			ELSE value END AS value
FROM perfkit.status();

-- GUCs: defaults, units, context, bounds, and the reserved prefix.
SELECT name, setting, unit, context, vartype, min_val, max_val
FROM pg_settings WHERE name LIKE 'perfkit.%' ORDER BY name;
SHOW perfkit.job_history_retention;
SET perfkit.job_history_retention = '36h';
SHOW perfkit.job_history_retention;
SET perfkit.job_history_retention = -2;
\echo :LAST_ERROR_SQLSTATE
RESET perfkit.job_history_retention;
SET perfkit.no_such_setting = 1;
\echo :LAST_ERROR_SQLSTATE

-- Privileges: an ordinary role may read the registry and call status(),
-- and nothing that schedules, runs or shows jobs; pg_monitor may read the
-- jobs view.
CREATE ROLE perfkit_user;
SELECT p.oid::regprocedure AS function,
	   has_function_privilege('perfkit_user', p.oid, 'EXECUTE') AS public_may,
	   has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS pg_monitor_may
FROM pg_proc p WHERE p.pronamespace = 'perfkit'::regnamespace
ORDER BY p.oid::regprocedure::text;
SELECT c.oid::regclass AS relation,
	   has_table_privilege('perfkit_user', c.oid, 'SELECT') AS public_may_read,
	   has_table_privilege('pg_monitor', c.oid, 'SELECT') AS pg_monitor_may_read,
	   has_table_privilege('perfkit_user', c.oid, 'INSERT,UPDATE,DELETE') AS public_may_write
FROM pg_class c WHERE c.relnamespace = 'perfkit'::regnamespace AND c.relkind IN ('r', 'v')
ORDER BY c.oid::regclass::text;
SET ROLE perfkit_user;
SELECT count(*) > 0 AS status_works FROM perfkit.status();
SELECT * FROM perfkit.jobs;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
