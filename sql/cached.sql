--
-- cached: query results cached until their TTL or a committed write to a
-- table they read, whatever the write path; parameters, refusals, own
-- writes, isolation levels, roles, search_path, row-level security.
--
SELECT perfkit.cache_clear() >= 0 AS cleared;
CREATE TABLE trips (id int PRIMARY KEY, vehicle int NOT NULL, km numeric NOT NULL);
INSERT INTO trips SELECT i, i % 10, i FROM generate_series(1, 1000) i;

-- How often the query really ran: a stable function that counts its calls
-- in a sequence would be volatile, so count misses in cache_stats().
CREATE FUNCTION misses() RETURNS bigint LANGUAGE sql
AS $$ SELECT misses FROM perfkit.cache_stats() $$;

CREATE TEMP TABLE m AS SELECT misses() AS before;
SELECT perfkit.cached('SELECT count(*) AS n, sum(km) AS km FROM trips');
SELECT perfkit.cached('SELECT count(*) AS n, sum(km) AS km FROM trips');
SELECT misses() - before AS ran FROM m;
SELECT kind, key, depends_on, hits FROM perfkit.cache_entries;

-- Parameters: types are inferred as for PREPARE; NULL parameters work;
-- each distinct parameter list is its own entry.
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1 AND km > $2',
					  ARRAY['3', '500']);
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1 AND km > $2',
					  ARRAY['3', '900']);
SELECT perfkit.cached('SELECT $1::text IS NULL AS is_null', ARRAY[NULL]);
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1', ARRAY['x']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $2', ARRAY['1']);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT count(*) AS n FROM trips', ARRAY['1']);
\echo :LAST_ERROR_SQLSTATE
-- Parameters of any type, as clients send them: arrays of any type, a
-- jsonb array for mixed types, one value; each typed as the query infers.
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1 AND km > $2',
					  ARRAY[3, 500]) AS int_array;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE km > $1', ARRAY[990.5]) AS numeric_array;
SELECT perfkit.cached('SELECT $1::date + 1 AS next, $2::timestamptz AS at, $3::boolean AS b',
					  '["2026-01-31", "2026-01-31 10:00+00", true]'::jsonb) AS mixed_jsonb;
SELECT perfkit.cached('SELECT $1::date + 1 AS next', ARRAY[DATE '2026-02-28']) AS date_array;
SELECT perfkit.cached('SELECT $1::timestamptz AS at', ARRAY[TIMESTAMPTZ '2026-03-01 12:00+00']) AS ts_array;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1', 4) AS one_value;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips WHERE vehicle = $1 AND km > $2',
					  '[3, 500]') AS json_literal;
SELECT perfkit.cached('SELECT $1::int IS NULL AS is_null', '[null]'::jsonb) AS json_null;
SELECT perfkit.cached('SELECT 1', '{"a": 1}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT 1', ARRAY[[1, 2], [3, 4]]);
\echo :LAST_ERROR_SQLSTATE
-- cached_rows(): the rows with their own types, columns matched by name.
SELECT id, km, pg_typeof(km) AS km_type, even
FROM perfkit.cached_rows('SELECT id, km, id % 2 = 0 AS even FROM trips WHERE id <= $1 ORDER BY id',
						 ARRAY[3]) AS t(id int, km numeric, even boolean);
SELECT count(*) = (SELECT count(*) FROM trips WHERE vehicle = 2) AS same_as_direct
FROM perfkit.cached_rows('SELECT id FROM trips WHERE vehicle = $1', ARRAY[2]) AS t(id int);
-- cache_warm() for a list of parameter sets.
SELECT perfkit.cache_warm(ARRAY['SELECT count(*) AS n FROM trips WHERE vehicle = $1'],
						  param_sets => '[[1], [2], [3]]') AS warmed;
SELECT perfkit.cache_warm(ARRAY['SELECT count(*) AS n FROM trips WHERE vehicle = $1'],
						  param_sets => '[[1], [2], [3], [4]]') AS warmed_again;
SELECT perfkit.cache_warm(ARRAY['SELECT 1'], param_sets => '[1]');
\echo :LAST_ERROR_SQLSTATE
-- Rows come back in the query's order, with every column type.
SELECT perfkit.cached('SELECT id, km, id % 2 = 0 AS even, ARRAY[id] AS a FROM trips ORDER BY id DESC LIMIT 3');
SELECT perfkit.cached('SELECT 1 AS x WHERE false');

-- Every write path invalidates, once it commits.
CREATE FUNCTION n() RETURNS jsonb LANGUAGE sql
AS $$ SELECT perfkit.cached('SELECT count(*) AS n FROM trips') -> 0 -> 'n' $$;
SELECT n() AS start;
INSERT INTO trips VALUES (1001, 1, 1);
SELECT n() AS after_insert;
UPDATE trips SET km = km + 1 WHERE id = 1;
SELECT perfkit.cached('SELECT sum(km) AS km FROM trips');
UPDATE trips SET km = km + 1 WHERE id = 1;
SELECT perfkit.cached('SELECT sum(km) AS km FROM trips') AS after_update;
DELETE FROM trips WHERE id = 1001;
SELECT n() AS after_delete;
MERGE INTO trips t USING (VALUES (1002, 2, 2)) v(id, vehicle, km) ON t.id = v.id
	WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.vehicle, v.km);
SELECT n() AS after_merge;
COPY trips FROM stdin;
1003	3	3
\.
SELECT n() AS after_copy;
-- A trigger on another table writes trips.
CREATE TABLE trip_log (id int);
CREATE FUNCTION log_trip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO trips VALUES (NEW.id, 0, 0);
	RETURN NEW;
END $$;
CREATE TRIGGER trip_log_ins AFTER INSERT ON trip_log FOR EACH ROW EXECUTE FUNCTION log_trip();
SELECT n() AS before_trigger;
INSERT INTO trip_log VALUES (1004);
SELECT n() AS after_trigger;
-- A function writes trips.
CREATE FUNCTION add_trip(i int) RETURNS void LANGUAGE sql
AS $$ INSERT INTO trips VALUES (i, 0, 0) $$;
SELECT n() AS before_function;
SELECT add_trip(1005);
SELECT n() AS after_function;
-- DDL and TRUNCATE.
SELECT n() AS before_truncate;
TRUNCATE trip_log, trips;
SELECT n() AS after_truncate;
INSERT INTO trips SELECT i, i % 10, i FROM generate_series(1, 100) i;
SELECT n() AS refilled;
ALTER TABLE trips ADD COLUMN note text;
SELECT perfkit.cached('SELECT * FROM trips WHERE id = 1');
ALTER TABLE trips DROP COLUMN note;
SELECT perfkit.cached('SELECT * FROM trips WHERE id = 1') AS after_drop_column;
-- A write that rolls back invalidates nothing.
CREATE TEMP TABLE m2 AS SELECT misses() AS before;
SELECT n() AS cached_now;
BEGIN;
INSERT INTO trips VALUES (2000, 0, 0);
ROLLBACK;
SELECT n() AS after_rollback;
SELECT misses() - before AS ran FROM m2;

-- Own writes: inside the writing transaction, cached() neither serves nor
-- stores what depends on the written table.
SELECT n() AS committed_count;
BEGIN;
INSERT INTO trips VALUES (2001, 0, 0);
SELECT n() AS sees_own_insert;
SELECT perfkit.cached('SELECT 42 AS unrelated') AS other_queries_still_cached;
ROLLBACK;
SELECT n() AS back_to_committed;

-- DDL earlier in the transaction: nothing is stored, since other sessions
-- would see results of definitions that may still roll back.
BEGIN;
CREATE FUNCTION answer() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 41';
SELECT perfkit.cached('SELECT answer() AS a');
SELECT count(*) AS stored_during_ddl FROM perfkit.cache_entries WHERE key = 'SELECT answer() AS a';
ROLLBACK;

-- A cached() reached from inside another cached() query (through a
-- function): the inner one caches as usual, the outer one is not stored,
-- since it cannot see what the inner result depended on.
CREATE FUNCTION inner_count() RETURNS jsonb LANGUAGE sql STABLE
AS $$ SELECT perfkit.cached('SELECT count(*) AS n FROM trips') $$;
SELECT perfkit.cached('SELECT inner_count() AS inner');
SELECT key, depends_on FROM perfkit.cache_entries
WHERE key IN ('SELECT inner_count() AS inner', 'SELECT count(*) AS n FROM trips') ORDER BY key;
DROP FUNCTION inner_count();

-- Views, partitions, inheritance, and tables read inside functions.
CREATE VIEW busy AS SELECT vehicle, count(*) AS trips FROM trips GROUP BY vehicle;
SELECT perfkit.cached('SELECT trips FROM busy WHERE vehicle = 1');
INSERT INTO trips VALUES (3001, 1, 0);
SELECT perfkit.cached('SELECT trips FROM busy WHERE vehicle = 1') AS view_after_insert;
CREATE TABLE readings (at date NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE readings_2027 PARTITION OF readings FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO readings VALUES ('2026-05-01', 1), ('2027-05-01', 2);
SELECT perfkit.cached('SELECT sum(v) AS root FROM readings'),
	   perfkit.cached('SELECT sum(v) AS leaf FROM readings_2027');
INSERT INTO readings_2027 VALUES ('2027-06-01', 10);
SELECT perfkit.cached('SELECT sum(v) AS root FROM readings') AS root_after_leaf_insert;
INSERT INTO readings VALUES ('2027-07-01', 100);
SELECT perfkit.cached('SELECT sum(v) AS leaf FROM readings_2027') AS leaf_after_root_insert;
CREATE FUNCTION total_km() RETURNS numeric LANGUAGE plpgsql STABLE
AS $$ BEGIN RETURN (SELECT sum(km) FROM trips); END $$;
SELECT perfkit.cached('SELECT total_km() AS km');
SELECT depends_on FROM perfkit.cache_entries WHERE key = 'SELECT total_km() AS km';
UPDATE trips SET km = km + 1000 WHERE id = 1;
SELECT perfkit.cached('SELECT total_km() AS km') AS after_update_seen_through_function;

-- Own writes to a table read only inside a function: nothing stored that
-- a rollback would leave behind.
SELECT perfkit.cache_invalidate_table('trips') >= 0 AS invalidated;
BEGIN;
UPDATE trips SET km = km + 500 WHERE id = 2;
SELECT perfkit.cached('SELECT total_km() AS km') AS own_write_through_function;
ROLLBACK;
SELECT perfkit.cached('SELECT total_km() AS km') AS committed_after_rollback;
-- Rows routed into a partition by the same statement: not stored either.
SELECT perfkit.cache_invalidate_table('readings') >= 0 AS invalidated;
BEGIN;
WITH ins AS (INSERT INTO readings VALUES ('2027-08-01', 1000) RETURNING 1)
SELECT (SELECT count(*) FROM ins) AS inserted,
	   perfkit.cached('SELECT sum(v) AS leaf FROM readings_2027') AS sees_own_row;
ROLLBACK;
SELECT perfkit.cached('SELECT sum(v) AS leaf FROM readings_2027') AS committed_after_rollback;
-- A temporary child of a permanent parent is refused like a temporary table.
CREATE TABLE parent (x int);
INSERT INTO parent VALUES (1);
CREATE TEMP TABLE kid () INHERITS (parent);
SELECT perfkit.cached('SELECT sum(x) AS x FROM parent');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE kid;
DROP TABLE parent;
-- Session state is part of the identity: rendering follows TimeZone.
CREATE TABLE stamps (at timestamptz);
INSERT INTO stamps VALUES ('2026-01-01 12:00:00+00');
SET TimeZone = 'UTC';
SELECT perfkit.cached('SELECT at FROM stamps') AS utc;
SET TimeZone = 'Asia/Tokyo';
SELECT perfkit.cached('SELECT at FROM stamps') AS tokyo;
RESET TimeZone;
DROP TABLE stamps;
-- So are DateStyle (style and field order), IntervalStyle,
-- extra_float_digits and bytea_output (read from the settings' variables
-- on every call): under each, the result equals the query run directly,
-- never an entry computed under another.
CREATE TABLE styles (d date, i interval, f float8, b bytea);
INSERT INTO styles VALUES ('2026-03-04', '1 day 02:03:04', 1 / 3.0, '\x00ff');
\set q 'SELECT d::text AS d, i::text AS i, f::text AS f, b::text AS b FROM styles'
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 AS rendered;
SET DateStyle = 'SQL, DMY';
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 ->> 'd' AS d;
SET DateStyle = 'SQL, MDY';
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 ->> 'd' AS d;
RESET DateStyle;
SET IntervalStyle = 'iso_8601';
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 ->> 'i' AS i;
RESET IntervalStyle;
SET extra_float_digits = 0;
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 ->> 'f' AS f;
RESET extra_float_digits;
SET bytea_output = 'escape';
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS same,
	   perfkit.cached(:'q') -> 0 ->> 'b' AS b;
RESET bytea_output;
SELECT perfkit.cached(:'q') = (SELECT jsonb_agg(to_jsonb(s)) FROM (:q) s) AS back_to_defaults_same;
SELECT count(*) AS entries_one_per_setting FROM perfkit.cache_entries
WHERE key = :'q';
DROP TABLE styles;

-- Refused, with a clear error.
SELECT perfkit.cached('DELETE FROM trips');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('WITH d AS (DELETE FROM trips RETURNING 1) SELECT count(*) FROM d');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT * FROM trips WHERE id = 1 FOR UPDATE');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT random() AS r');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT count(*) FROM pg_class');
\echo :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE scratch (x int);
SELECT perfkit.cached('SELECT count(*) FROM scratch');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT 1; SELECT 2');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELEC 1');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT * FROM no_such_table');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('   ');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT 1', '{}', '0 s');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT 1', '{}', '1000 years');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT 1, 2');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT * FROM (SELECT id FROM trips WHERE id = 1 FOR UPDATE) s');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT count(*) FROM trips WHERE vehicle::text = current_setting(''app.vehicle'')');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT pg_backend_pid() AS pid');
\echo :LAST_ERROR_SQLSTATE

-- REPEATABLE READ bypasses the cache: the result follows the
-- transaction's snapshot, and nothing is stored.
SELECT n() AS cached_count;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT n() AS rr_first;
SELECT count(*) AS entries_before FROM perfkit.cache_entries \gset
SELECT perfkit.cached('SELECT 7 AS not_stored_under_rr');
SELECT count(*) = :entries_before AS nothing_stored FROM perfkit.cache_entries;
COMMIT;

-- Roles: role B never gets role A's result, and needs its own privileges.
CREATE ROLE perfkit_reader;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips') IS NOT NULL AS owner_cached;
SET ROLE perfkit_reader;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON trips TO perfkit_reader;
SET ROLE perfkit_reader;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips') IS NOT NULL AS reader_computes_own;
RESET ROLE;
SELECT count(*) AS entries_for_the_query FROM perfkit.cache_entries
WHERE key = 'SELECT count(*) AS n FROM trips';

-- search_path is part of the identity.
CREATE SCHEMA other;
CREATE TABLE other.trips (id int);
SELECT perfkit.cached('SELECT count(*) AS n FROM trips') AS public_trips;
SET search_path = other, public;
SELECT perfkit.cached('SELECT count(*) AS n FROM trips') AS other_trips;
RESET search_path;

-- Row-level security: computed for the caller, never stored.
CREATE TABLE secrets (owner name, v int);
INSERT INTO secrets VALUES ('perfkit_reader', 1), ('someone_else', 2);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON secrets USING (owner = current_user);
GRANT SELECT ON secrets TO perfkit_reader;
SET ROLE perfkit_reader;
SELECT perfkit.cached('SELECT sum(v) AS v FROM secrets');
RESET ROLE;
SELECT count(*) AS rls_entries FROM perfkit.cache_entries WHERE key LIKE '%secrets%';
-- ... also when the table is read inside a function.
CREATE FUNCTION secret_sum() RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT sum(v) FROM secrets $$;
SET ROLE perfkit_reader;
SELECT perfkit.cached('SELECT secret_sum() AS v');
RESET ROLE;
SELECT count(*) AS rls_function_entries FROM perfkit.cache_entries WHERE key LIKE '%secret_sum%';
DROP FUNCTION secret_sum();

-- cache_warm runs what is not cached yet; cache_invalidate_table removes
-- every result that read a table, whoever computed it.
SELECT perfkit.cache_warm(ARRAY['SELECT count(*) AS w1 FROM trips',
								'SELECT max(id) AS w2 FROM trips']) AS ran;
SELECT perfkit.cache_warm(ARRAY['SELECT count(*) AS w1 FROM trips',
								'SELECT max(id) AS w2 FROM trips']) AS ran_again;
SELECT perfkit.cache_warm(ARRAY['SELECT 1', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cache_invalidate_table('trips') AS removed;
SELECT count(*) AS left_reading_trips FROM perfkit.cache_entries WHERE 'trips'::regclass = ANY (depends_on);
SELECT perfkit.cache_invalidate_table('readings_2027') AS partition_and_root;
SET ROLE perfkit_reader;
SELECT perfkit.cache_invalidate_table('readings');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- TTL applies to cached() too.
SELECT perfkit.cached('SELECT 1 AS ttl', '{}', '200 ms');
SELECT pg_sleep(0.3);
CREATE TEMP TABLE m3 AS SELECT misses() AS before;
SELECT perfkit.cached('SELECT 1 AS ttl', '{}', '200 ms');
SELECT misses() - before AS ran_again_after_ttl FROM m3;

-- Roles are shared by every database: revoking a membership in another
-- database invalidates results here, so a role that lost access is not
-- served what it read before.
CREATE ROLE perfkit_group;
CREATE ROLE perfkit_member IN ROLE perfkit_group;
CREATE TABLE group_data (x int);
INSERT INTO group_data VALUES (1), (2);
GRANT SELECT ON group_data TO perfkit_group;
SET ROLE perfkit_member;
SELECT perfkit.cached('SELECT count(*) AS n FROM group_data') AS member_reads;
RESET ROLE;
CREATE DATABASE perfkit_regress_roles;
\c perfkit_regress_roles
REVOKE perfkit_group FROM perfkit_member;
\c contrib_regression
SET ROLE perfkit_member;
SELECT perfkit.cached('SELECT count(*) AS n FROM group_data') AS after_revoke_elsewhere;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP DATABASE perfkit_regress_roles;
DROP TABLE group_data;
DROP ROLE perfkit_member, perfkit_group;

-- cache_entries lists only live entries: an invalidated result is gone
-- from it at once, before any lookup removes it.
CREATE TABLE hot (id int);
INSERT INTO hot VALUES (1);
SELECT perfkit.cached('SELECT count(*) AS n FROM hot');
SELECT count(*) AS listed FROM perfkit.cache_entries WHERE key = 'SELECT count(*) AS n FROM hot';
INSERT INTO hot VALUES (2);
SELECT count(*) AS listed_after_write FROM perfkit.cache_entries WHERE key = 'SELECT count(*) AS n FROM hot';

-- Bounded staleness, opt-in: with max_staleness, a result invalidated by
-- a commit is served until that long after it was computed, counted as a
-- stale hit; without it (the default), never.
CREATE TEMP TABLE s0 AS SELECT stale_hits, hits FROM perfkit.cache_stats();
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 hour') AS computed;
INSERT INTO hot VALUES (3);
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 hour') AS within_bound;
SELECT perfkit.cached('SELECT count(*) AS n FROM hot') AS default_never_stale;
SELECT s.stale_hits - s0.stale_hits AS stale_hits, s.hits - s0.hits AS fresh_hits
FROM perfkit.cache_stats() s, s0;
-- Past the bound it recomputes.
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 second') AS computed;
INSERT INTO hot VALUES (4);
SELECT pg_sleep(1.2);
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 second') AS past_bound;
-- A transaction that wrote the table sees its writes, whatever the bound.
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 hour') AS computed;
BEGIN;
INSERT INTO hot VALUES (5);
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 hour') AS own_write;
COMMIT;
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.cached('SELECT count(*) AS n FROM hot', max_staleness => '-1 second');
\echo :LAST_ERROR_SQLSTATE
-- the entry computed before that commit (4 rows) is within its hour
SELECT n AS served_within_bound, (SELECT count(*) FROM hot) AS committed
FROM perfkit.cached_rows('SELECT count(*) AS n FROM hot', max_staleness => '1 hour') AS t(n int);
SELECT n AS fresh FROM perfkit.cached_rows('SELECT count(*) AS n FROM hot') AS t(n int);
DROP TABLE hot;

-- DDL invalidates what it changes, nothing else.  hit(q) tells whether
-- cached(q) was served from the cache; fresh(q) whether what it returned
-- equals the query run directly (the ground truth).
CREATE FUNCTION hit(q text) RETURNS boolean LANGUAGE plpgsql
AS $$ DECLARE b bigint := misses(); BEGIN PERFORM perfkit.cached(q); RETURN misses() = b; END $$;
CREATE FUNCTION fresh(q text) RETURNS boolean LANGUAGE plpgsql
AS $$
DECLARE truth jsonb;
BEGIN
	EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(t)), ''[]'') FROM (%s) t', q) INTO truth;
	RETURN perfkit.cached(q) = truth;
END $$;
CREATE TABLE ddl_a (id int, v int);
INSERT INTO ddl_a VALUES (1, 10), (2, 20);
CREATE TABLE ddl_b (id int);
INSERT INTO ddl_b VALUES (1), (2), (3);
CREATE FUNCTION prime() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM perfkit.cached('SELECT * FROM ddl_a ORDER BY id');
	PERFORM perfkit.cached('SELECT count(*) AS n FROM ddl_b');
END $$;
CREATE VIEW ddl_check AS
SELECT hit('SELECT * FROM ddl_a ORDER BY id') AS a_hit,
	   fresh('SELECT * FROM ddl_a ORDER BY id') AS a_fresh,
	   hit('SELECT count(*) AS n FROM ddl_b') AS b_hit,
	   fresh('SELECT count(*) AS n FROM ddl_b') AS b_fresh;
SELECT prime();
SELECT * FROM ddl_check AS "nothing changed";
CREATE TABLE ddl_new (x int);
CREATE VIEW ddl_new_v AS SELECT 1 AS one;
CREATE INDEX ON ddl_new (x);
CREATE SEQUENCE ddl_new_seq;
CREATE FUNCTION ddl_new_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TYPE ddl_new_t AS (a int);
CREATE SCHEMA ddl_new_s;
COMMENT ON TABLE ddl_a IS 'comments change no result';
DROP TABLE ddl_new;
SELECT * FROM ddl_check AS "unrelated CREATE, DROP, COMMENT";
-- This session has a temporary schema, so its results are its own, and a
-- new temporary table (which may shadow what they read) recomputes them;
-- other sessions' results stay (isolation spec cache_ddl).
SELECT prime();
CREATE TEMP TABLE ddl_tmp (x int);
SELECT * FROM ddl_check AS "temp table in a session with temporary schema";
SELECT prime();
CREATE INDEX ddl_a_v ON ddl_a (v);
SELECT * FROM ddl_check AS "CREATE INDEX on ddl_a";
SELECT prime();
ALTER TABLE ddl_a ADD COLUMN w int DEFAULT 7;
SELECT * FROM ddl_check AS "ALTER TABLE ddl_a";
SELECT perfkit.cached('SELECT * FROM ddl_a ORDER BY id') AS with_new_column;
SELECT prime();
GRANT SELECT ON ddl_a TO PUBLIC;
SELECT * FROM ddl_check AS "GRANT on ddl_a";
SELECT prime();
REVOKE SELECT ON ddl_a FROM PUBLIC;
SELECT * FROM ddl_check AS "REVOKE on ddl_a";
SELECT prime();
GRANT SELECT (id) ON ddl_a TO PUBLIC;
SELECT * FROM ddl_check AS "column GRANT on ddl_a";
SELECT prime();
CREATE POLICY ddl_a_all ON ddl_a USING (true);
SELECT * FROM ddl_check AS "CREATE POLICY on ddl_a";
SELECT prime();
DROP POLICY ddl_a_all ON ddl_a;
SELECT * FROM ddl_check AS "DROP POLICY on ddl_a";
SELECT prime();
ALTER TABLE ddl_a RENAME COLUMN w TO w2;
SELECT * FROM ddl_check AS "RENAME COLUMN of ddl_a";
SELECT prime();
DROP INDEX ddl_a_v;
SELECT * FROM ddl_check AS "DROP INDEX on ddl_a";
SELECT prime();
TRUNCATE ddl_b;
SELECT * FROM ddl_check AS "TRUNCATE ddl_b";
INSERT INTO ddl_b VALUES (1), (2), (3);
-- A DDL that rolls back invalidates nothing.
SELECT prime();
BEGIN;
ALTER TABLE ddl_a ADD COLUMN gone int;
ROLLBACK;
SELECT * FROM ddl_check AS "rolled-back ALTER";
-- DDL inside a function counts like any other.
CREATE FUNCTION ddl_in_function() RETURNS void LANGUAGE plpgsql
AS $$ BEGIN EXECUTE 'ALTER TABLE ddl_a ALTER COLUMN v SET DEFAULT 5'; END $$;
SELECT prime();
SELECT ddl_in_function();
SELECT * FROM ddl_check AS "ALTER ddl_a in a function";
-- Changes that can alter how any query resolves stay broad.
SELECT prime();
ALTER DATABASE contrib_regression SET perfkit.cache_default_ttl = 300;
SELECT * FROM ddl_check AS "ALTER DATABASE SET";
ALTER DATABASE contrib_regression RESET perfkit.cache_default_ttl;

-- Partition trees: creating, attaching and detaching a partition, DDL on
-- a partition.
CREATE TABLE ddl_p (at int, v int) PARTITION BY RANGE (at);
CREATE TABLE ddl_p1 PARTITION OF ddl_p FOR VALUES FROM (0) TO (10);
INSERT INTO ddl_p VALUES (1, 1), (2, 2);
CREATE TABLE ddl_p3 (at int, v int);
INSERT INTO ddl_p3 VALUES (25, 1), (26, 1), (27, 1);
CREATE VIEW ddl_pcheck AS
SELECT hit('SELECT count(*) AS n FROM ddl_p') AS p_hit,
	   fresh('SELECT count(*) AS n FROM ddl_p') AS p_fresh,
	   hit('SELECT count(*) AS n FROM ddl_b') AS b_hit;
SELECT prime(), perfkit.cached('SELECT count(*) AS n FROM ddl_p');
CREATE TABLE ddl_p2 PARTITION OF ddl_p FOR VALUES FROM (10) TO (20);
SELECT * FROM ddl_pcheck AS "created a partition";
ALTER TABLE ddl_p ATTACH PARTITION ddl_p3 FOR VALUES FROM (20) TO (30);
SELECT * FROM ddl_pcheck AS "attached a partition";
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_p') AS with_attached;
ALTER TABLE ddl_p1 ADD CONSTRAINT ddl_p1_v CHECK (v > 0);
SELECT * FROM ddl_pcheck AS "ALTER TABLE of a partition";
ALTER TABLE ddl_p DETACH PARTITION ddl_p3;
SELECT * FROM ddl_pcheck AS "detached a partition";
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_p') AS without_detached;
DROP TABLE ddl_p2;
SELECT * FROM ddl_pcheck AS "dropped a partition";
-- Two levels: attaching under a partitioned partition invalidates that
-- partition's relcache entry, not the root's, and DETACH ... CONCURRENTLY
-- commits as it goes; results on the root go in both cases.
CREATE TABLE ddl_q (at int, v int) PARTITION BY RANGE (at);
CREATE TABLE ddl_q1 PARTITION OF ddl_q FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (at);
CREATE TABLE ddl_q1a PARTITION OF ddl_q1 FOR VALUES FROM (0) TO (10);
INSERT INTO ddl_q VALUES (1, 1), (2, 2);
CREATE TABLE ddl_q1b (at int, v int);
INSERT INTO ddl_q1b VALUES (15, 1), (16, 1), (17, 1);
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_q') AS before_attach;
ALTER TABLE ddl_q1 ATTACH PARTITION ddl_q1b FOR VALUES FROM (10) TO (20);
SELECT fresh('SELECT count(*) AS n FROM ddl_q') AS "attached under a partition",
	   perfkit.cached('SELECT count(*) AS n FROM ddl_q') AS with_attached;
SELECT hit('SELECT count(*) AS n FROM ddl_q') AS q_hit;
ALTER TABLE ddl_q1 DETACH PARTITION ddl_q1b CONCURRENTLY;
SELECT fresh('SELECT count(*) AS n FROM ddl_q') AS "detached concurrently",
	   perfkit.cached('SELECT count(*) AS n FROM ddl_q') AS without_detached;
DROP TABLE ddl_q, ddl_q1b;

-- Functions, views and types a query used.
CREATE FUNCTION ddl_f() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1';
CREATE FUNCTION ddl_h() RETURNS int LANGUAGE sql STABLE AS 'SELECT 10';
CREATE FUNCTION ddl_g() RETURNS int LANGUAGE plpgsql STABLE AS 'BEGIN RETURN ddl_h(); END';
CREATE VIEW ddl_v AS SELECT count(*) AS n FROM ddl_b;
CREATE TYPE ddl_mood AS ENUM ('sad', 'ok');
CREATE TABLE ddl_m (m ddl_mood);
INSERT INTO ddl_m VALUES ('ok');
CREATE VIEW ddl_fcheck AS
SELECT fresh('SELECT ddl_f() AS f') AS f_fresh,
	   fresh('SELECT ddl_g() AS g') AS g_fresh,
	   fresh('SELECT n FROM ddl_v') AS v_fresh,
	   fresh('SELECT m FROM ddl_m') AS m_fresh,
	   hit('SELECT count(*) AS n FROM ddl_b') AS b_hit;
SELECT prime(), perfkit.cached('SELECT ddl_f() AS f'), perfkit.cached('SELECT ddl_g() AS g'),
	   perfkit.cached('SELECT n FROM ddl_v'), perfkit.cached('SELECT m FROM ddl_m');
SELECT hit('SELECT ddl_f() AS f') AS f_hit, hit('SELECT ddl_g() AS g') AS g_hit,
	   hit('SELECT n FROM ddl_v') AS v_hit, hit('SELECT m FROM ddl_m') AS m_hit;
CREATE OR REPLACE FUNCTION ddl_f() RETURNS int LANGUAGE sql STABLE AS 'SELECT 2';
SELECT * FROM ddl_fcheck AS "replaced ddl_f";
-- ddl_g calls ddl_h, which no query tree shows.
CREATE OR REPLACE FUNCTION ddl_h() RETURNS int LANGUAGE sql STABLE AS 'SELECT 20';
SELECT * FROM ddl_fcheck AS "replaced ddl_h";
SELECT perfkit.cached('SELECT ddl_g() AS g') AS g_after_inner_replaced;
CREATE OR REPLACE VIEW ddl_v AS SELECT count(*) + 100 AS n FROM ddl_b;
SELECT * FROM ddl_fcheck AS "replaced ddl_v";
ALTER TYPE ddl_mood RENAME VALUE 'ok' TO 'happy';
SELECT * FROM ddl_fcheck AS "renamed an enum value";
SELECT perfkit.cached('SELECT m FROM ddl_m') AS renamed_label;
-- A new overload may change what a call resolves to.
CREATE FUNCTION ddl_k(numeric) RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'numeric' $$;
SELECT perfkit.cached('SELECT ddl_k(1) AS k');
CREATE FUNCTION ddl_k(int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'int' $$;
SELECT perfkit.cached('SELECT ddl_k(1) AS k') AS new_overload;
DROP FUNCTION ddl_f();
SELECT perfkit.cached('SELECT ddl_f() AS f');
\echo :LAST_ERROR_SQLSTATE
DROP VIEW ddl_fcheck, ddl_v;
SELECT perfkit.cached('SELECT n FROM ddl_v');
\echo :LAST_ERROR_SQLSTATE
SELECT hit('SELECT count(*) AS n FROM ddl_b') AS b_hit_after_drops;

-- A new table of the same name earlier in search_path shadows the one a
-- result read.
CREATE SCHEMA ddl_s;
SET search_path = ddl_s, public;
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_b') AS public_ddl_b;
CREATE TABLE ddl_s.ddl_b (id int);
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_b') AS shadowed_by_new_table;
DROP TABLE ddl_s.ddl_b;
CREATE TABLE ddl_s.other (id int);
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_b') AS public_again;
ALTER TABLE ddl_s.other RENAME TO ddl_b;
SELECT perfkit.cached('SELECT count(*) AS n FROM ddl_b') AS shadowed_by_rename;
RESET search_path;
DROP SCHEMA ddl_s, ddl_new_s CASCADE;
DROP VIEW ddl_check, ddl_pcheck, ddl_new_v;
DROP TABLE ddl_a, ddl_b, ddl_p, ddl_p3, ddl_m, ddl_tmp;
DROP TYPE ddl_mood, ddl_new_t;
DROP SEQUENCE ddl_new_seq;
DROP FUNCTION prime(), hit(text), fresh(text), ddl_g(), ddl_h(), ddl_k(int), ddl_k(numeric),
	ddl_new_f(), ddl_in_function();

SELECT perfkit.cache_clear() > 0 AS cleared;
DROP TABLE secrets, trips, trip_log, readings, other.trips CASCADE;
DROP SCHEMA other;
DROP ROLE perfkit_reader;
