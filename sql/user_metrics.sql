--
-- user_metrics: perfkit.define_metric() / drop_metric(), and what
-- metrics() and perfkit.metrics_user expose of them: rows equal to the
-- query run by hand, always with the owner's rights and search_path,
-- read-only, within perfkit.metric_timeout, cached for cache_for.
--
CREATE ROLE um_app IN ROLE pg_monitor;	-- may read metrics: see "nested"
CREATE ROLE um_mon IN ROLE pg_monitor;
CREATE ROLE um_other;
GRANT EXECUTE ON FUNCTION perfkit.define_metric(text, text, text, text, interval),
	perfkit.drop_metric(text) TO um_app, um_other;
CREATE SCHEMA um AUTHORIZATION um_app;
CREATE SCHEMA um_evil AUTHORIZATION um_mon;

SET ROLE um_app;
SET search_path = um, public;
CREATE TABLE trips (region text, km int);
INSERT INTO trips SELECT (ARRAY['north', 'south', 'east'])[1 + i % 3], i FROM generate_series(1, 100) i;
CREATE TABLE lookup (v int);
INSERT INTO lookup VALUES (7);
CREATE FUNCTION um.write_it() RETURNS int LANGUAGE plpgsql AS $$
BEGIN INSERT INTO um.lookup VALUES (8); RETURN 1; END $$;
SELECT perfkit.define_metric('trips_by_region', 'SELECT region, count(*) FROM trips GROUP BY region',
	help => 'Trips per region.');
SELECT perfkit.define_metric('km_total', 'SELECT sum(km) FROM trips', 'counter');
SELECT perfkit.define_metric('km', 'SELECT sum(km) FROM trips');
SELECT perfkit.define_metric('lookup_v', 'SELECT v FROM lookup');
SELECT perfkit.define_metric('writer', 'SELECT um.write_it()');
SELECT perfkit.define_metric('sleepy', 'SELECT count(*) FROM pg_sleep(2)');
SELECT perfkit.define_metric('setter', $$SELECT count(set_config('search_path', 'um', false))$$);
SELECT perfkit.define_metric('doubled', 'SELECT region, km FROM trips', cache_for => '0');
SELECT perfkit.define_metric('nested', 'SELECT count(*) FROM perfkit.metrics_user');
SELECT perfkit.define_metric('slow', 'SELECT count(*) FROM pg_sleep(3)', cache_for => '0');
SET search_path = um, pg_temp, public;
\set VERBOSITY terse
SELECT perfkit.define_metric('x', 'SELECT 1');
\set VERBOSITY default
SET search_path = um, public;

-- What a definition must be.
\set VERBOSITY terse
SELECT perfkit.define_metric('Bad-Name', 'SELECT 1');
SELECT perfkit.define_metric('x', 'SELECT 1', 'histogram');
SELECT perfkit.define_metric('x', 'DELETE FROM trips');
SELECT perfkit.define_metric('x', 'SELECT 1; SELECT 2');
SELECT perfkit.define_metric('x', 'SELECT region FROM trips');
SELECT perfkit.define_metric('x', 'SELECT region AS job, count(*) FROM trips GROUP BY 1');
SELECT perfkit.define_metric('x', 'SELECT count(*) FROM no_such_table');
SELECT perfkit.define_metric('x', 'SELECT 1 INTO t2');
\set VERBOSITY default
RESET ROLE;

-- Another role can neither replace nor drop them.
SET ROLE um_other;
\set VERBOSITY terse
SELECT perfkit.define_metric('trips_by_region', 'SELECT 1');
SELECT perfkit.drop_metric('trips_by_region');
SELECT perfkit.drop_metric('no_such_metric');
\set VERBOSITY default
RESET ROLE;

-- The monitoring role reads them, with a search_path of its own that
-- would resolve lookup to its own table: the owner's path is used.
SET ROLE um_mon;
CREATE TABLE um_evil.lookup (v int);
INSERT INTO um_evil.lookup VALUES (666);
SET search_path = um_evil, public;
SET perfkit.metric_timeout = '300ms';
SELECT count(*) FROM um.trips;		-- no right to the table itself
-- and a temporary view named like the owner's table: never read
CREATE TEMP VIEW trips AS SELECT 'evil'::text AS region, 999::bigint AS km;
SELECT metric, labels, value, error IS NOT NULL AS failed
FROM perfkit.metrics_user WHERE metric NOT IN ('sleepy', 'slow') ORDER BY metric, labels::text;
SELECT metric, error FROM perfkit.metrics_user
WHERE metric IN ('sleepy', 'doubled', 'nested') ORDER BY metric;
-- What the owner's query SET is gone: the reader's settings stay.
SHOW search_path;
SHOW perfkit.metric_timeout;
-- A real cancel (the reader's statement timeout) ends the read, and the
-- session goes on.
SET perfkit.metric_timeout = '10s';
SET statement_timeout = '500ms';
SELECT count(*) FROM perfkit.metrics_user;
RESET statement_timeout;
SELECT 1 AS still_usable;
SET perfkit.metric_timeout = '300ms';
RESET ROLE;

-- Equal to the query run by hand.
SELECT count(*) AS differences FROM (
	(SELECT labels->>'region' AS region, value FROM perfkit.metrics_user
	 WHERE metric = 'trips_by_region'
	 EXCEPT SELECT region, count(*) FROM um.trips GROUP BY region)
	UNION ALL
	(SELECT region, count(*) FROM um.trips GROUP BY region
	 EXCEPT SELECT labels->>'region', value FROM perfkit.metrics_user
	 WHERE metric = 'trips_by_region')) d;
-- The writer wrote nothing: its function ran read-only.
SELECT error FROM perfkit.metrics_user WHERE metric = 'writer';
SELECT count(*) AS lookup_rows FROM um.lookup;

-- metrics(): HELP, TYPE and samples of each.
SELECT l FROM regexp_split_to_table(perfkit.metrics(), E'\n') l
WHERE l LIKE '%perfkit_user_%' ORDER BY l COLLATE "C";

-- Cached for cache_for: new rows show only after it (or a redefinition).
SET ROLE um_app;
SELECT perfkit.define_metric('km', 'SELECT sum(km) FROM um.trips', cache_for => '1 hour');
RESET ROLE;
SELECT value FROM perfkit.metrics_user WHERE metric = 'km';
INSERT INTO um.trips VALUES ('north', 1000);
SELECT value FROM perfkit.metrics_user WHERE metric = 'km';
SET ROLE um_app;
SELECT perfkit.define_metric('km', 'SELECT sum(km) FROM um.trips', cache_for => '0');
RESET ROLE;
SELECT value FROM perfkit.metrics_user WHERE metric = 'km';
SET ROLE um_app;
SELECT perfkit.drop_metric('km');
RESET ROLE;
SELECT count(*) FROM perfkit.metrics_user WHERE metric = 'km';

-- Only granted roles define metrics; PUBLIC cannot read the catalog.
SELECT has_function_privilege('public', 'perfkit.define_metric(text, text, text, text, interval)', 'EXECUTE') AS public_defines,
	   has_table_privilege('public', 'perfkit.user_metrics', 'SELECT') AS public_reads;

DROP SCHEMA um, um_evil CASCADE;
DELETE FROM perfkit.user_metrics;
DROP OWNED BY um_app, um_mon, um_other;
DROP ROLE um_app, um_mon, um_other;
