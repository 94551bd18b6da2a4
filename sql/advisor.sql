--
-- advisor: workload capture, hypothetical indexes, index_advisor,
-- recommend_indexes, apply_index and index lint.
--
-- Deterministic planner input: tables analyzed in full (statistics target
-- above their row counts), autovacuum off on every table, parallelism and
-- JIT off, cost settings pinned.
--
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET seq_page_cost = 1;
SET random_page_cost = 4;
SET cpu_tuple_cost = 0.01;
SET cpu_index_tuple_cost = 0.005;
SET cpu_operator_cost = 0.0025;
SET effective_cache_size = '4GB';
SET default_statistics_target = 10000;
SET perfkit.advisor_sample_rate = 0;

CREATE TABLE adv_vehicles (
	id int PRIMARY KEY,
	fleet text NOT NULL,
	vin text COLLATE "und-x-icu" NOT NULL
) WITH (autovacuum_enabled = false);
INSERT INTO adv_vehicles
SELECT g, (ARRAY['north', 'south', 'east', 'west'])[g % 4 + 1], 'VIN' || lpad(g::text, 8, '0')
FROM generate_series(1, 2000) g;

-- 200,000 readings in time order: recorded_at follows the physical order;
-- 1% are ALARM, the rest OK; note is set on 0.5% of rows.
CREATE TABLE adv_readings (
	id bigint PRIMARY KEY,
	vehicle_id int NOT NULL,
	recorded_at timestamptz NOT NULL,
	status text NOT NULL,
	engine_rpm int NOT NULL,
	note text
) WITH (autovacuum_enabled = false);
INSERT INTO adv_readings
SELECT g, g % 2000 + 1, '2024-01-01 00:00+00'::timestamptz + g * interval '30 seconds',
	   CASE WHEN g % 100 = 0 THEN 'ALARM' ELSE 'OK' END,
	   (g * 7919) % 5000,
	   CASE WHEN g % 200 = 0 THEN 'checked' END
FROM generate_series(1, 200000) g;

-- A table that already has a composite index.
CREATE TABLE adv_trips (
	id int PRIMARY KEY,
	vehicle_id int NOT NULL,
	started_at timestamptz NOT NULL,
	km float8 NOT NULL
) WITH (autovacuum_enabled = false);
INSERT INTO adv_trips
SELECT g, g % 2000 + 1, '2024-01-01 00:00+00'::timestamptz + g * interval '7 minutes', g % 97
FROM generate_series(1, 50000) g;
CREATE INDEX adv_trips_vehicle_started ON adv_trips (vehicle_id, started_at);

-- A tiny table, and an insert-heavy one.
CREATE TABLE adv_tiny (id int, v int) WITH (autovacuum_enabled = false);
INSERT INTO adv_tiny SELECT g, g FROM generate_series(1, 10) g;
CREATE TABLE adv_events (id int, kind int, payload text) WITH (autovacuum_enabled = false);
INSERT INTO adv_events SELECT g, g % 500, 'x' FROM generate_series(1, 20000) g;

VACUUM ANALYZE adv_vehicles, adv_readings, adv_trips, adv_tiny, adv_events;

-- A helper: index_advisor's statements, and whether each at least halves
-- the cost (costs themselves depend on the platform's page size only, but
-- the outcome is what the test asserts).
CREATE FUNCTION advise(q text) RETURNS TABLE(index_statement text, table_name regclass, halves boolean)
LANGUAGE sql AS $$
	SELECT index_statement, table_name, cost_after <= cost_before / 2
	FROM perfkit.index_advisor(q)
$$;

--
-- index_advisor: one golden case per kind
--
-- equality
SELECT * FROM advise('SELECT * FROM adv_readings WHERE vehicle_id = 7');
-- equality, then range (column order: equality first)
SELECT * FROM advise($q$SELECT * FROM adv_readings WHERE recorded_at >= '2024-02-01' AND vehicle_id = 7$q$);
-- ORDER BY ... LIMIT served by (equality, sort)
SELECT * FROM advise('SELECT * FROM adv_readings WHERE vehicle_id = 7 ORDER BY recorded_at DESC LIMIT 5');
-- partial: a rare state, newest first
SELECT * FROM advise($q$SELECT * FROM adv_readings WHERE status = 'ALARM' ORDER BY recorded_at DESC LIMIT 10$q$);
-- partial: IS NOT NULL on a sparse column
SELECT * FROM advise('SELECT id, note FROM adv_readings WHERE note IS NOT NULL');
-- text_pattern_ops for a LIKE prefix under a non-C collation
SELECT * FROM advise($q$SELECT * FROM adv_vehicles WHERE vin LIKE 'VIN0000012%'$q$);
-- covering: INCLUDE the columns read, for an index-only scan
SELECT * FROM advise('SELECT vehicle_id, engine_rpm FROM adv_readings WHERE vehicle_id = 7');
-- a join served by an index on the joined column; with it chosen, the
-- vehicle lookup by vin pays too (every candidate is evaluated again after
-- each choice: alone, vin saved less than the readings' scan costs)
SELECT * FROM advise($q$SELECT v.vin, r.recorded_at FROM adv_vehicles v JOIN adv_readings r ON r.vehicle_id = v.id WHERE v.vin = 'VIN00000042'$q$);

--
-- bound parameters: types inferred as PREPARE infers them, costed as the
-- generic plan (what EXPLAIN EXECUTE shows under force_generic_plan)
--
SELECT * FROM advise('SELECT * FROM adv_readings WHERE vehicle_id = $1');
SELECT * FROM advise('SELECT * FROM adv_readings WHERE vehicle_id = $1 AND recorded_at >= $2 ORDER BY recorded_at LIMIT 20');
PREPARE adv_generic(int) AS SELECT * FROM adv_readings WHERE vehicle_id = $1;
SET plan_cache_mode = force_generic_plan;
CREATE FUNCTION adv_plan_cost(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	j json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
	RETURN (j -> 0 -> 'Plan' ->> 'Total Cost')::float8;
END
$$;
SELECT round(a.cost_before) = round(adv_plan_cost('EXECUTE adv_generic(7)')) AS before_is_generic_plan
FROM perfkit.index_advisor('SELECT * FROM adv_readings WHERE vehicle_id = $1') a;
RESET plan_cache_mode;
DEALLOCATE adv_generic;
-- parameters whose types cannot be inferred: "SELECT $1" takes text, as
-- PREPARE does (nothing to index); a gap ($2 without $1) is an error
SELECT * FROM perfkit.index_advisor('SELECT $1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('SELECT * FROM adv_readings WHERE vehicle_id = $2');
\echo :LAST_ERROR_SQLSTATE
-- comments holding semicolons are comments, not statement ends
SELECT * FROM advise('SELECT * FROM adv_readings /* one; two */ WHERE vehicle_id = $1 -- three; four');
SELECT * FROM advise(E'-- lookup; by vehicle\nSELECT * FROM adv_readings WHERE vehicle_id = 7;');

--
-- negative controls: nothing proposed
--
-- tiny table
SELECT count(*) AS proposals FROM advise('SELECT * FROM adv_tiny WHERE v = 3');
-- non-selective predicate
SELECT count(*) AS proposals FROM advise($q$SELECT * FROM adv_readings WHERE status = 'OK'$q$);
-- column already led by an existing composite index
SELECT count(*) AS proposals FROM advise('SELECT * FROM adv_trips WHERE vehicle_id = 5');
SELECT count(*) AS proposals FROM advise($q$SELECT * FROM adv_trips WHERE vehicle_id = 5 AND started_at > '2024-02-01'$q$);
-- primary key lookups are served already
SELECT count(*) AS proposals FROM advise('SELECT * FROM adv_readings WHERE id = 5');

--
-- bad queries: reported, not crashed
--
SELECT * FROM perfkit.index_advisor('SELEC * FROM adv_tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('CREATE TABLE adv_x (a int)');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('SELECT * FROM adv_no_such_table');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('SELECT 1; SELECT 2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('SELECT * FROM adv_tiny WHERE v = $1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.index_advisor('VACUUM adv_tiny');
\echo :LAST_ERROR_SQLSTATE
-- the caller needs the privileges running the query would need
CREATE ROLE adv_nobody;
SET ROLE adv_nobody;
SELECT * FROM perfkit.index_advisor('SELECT * FROM adv_readings WHERE vehicle_id = 7');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Hypothetical indexes never outlive the costing: plain EXPLAIN sees none.
EXPLAIN (COSTS OFF) SELECT * FROM adv_readings WHERE vehicle_id = 7;

--
-- workload capture
--
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
-- the application: many lookups by vehicle and time, a few alarm scans,
-- a name search, an insert-heavy table read once
DO $$
BEGIN
	FOR i IN 1..20 LOOP
		EXECUTE format('SELECT * FROM adv_readings WHERE vehicle_id = %s AND recorded_at >= %L ORDER BY recorded_at LIMIT 20',
					   i, '2024-02-01');
		EXECUTE format('SELECT count(*) FROM adv_readings WHERE vehicle_id = %s', i);
	END LOOP;
	FOR i IN 1..5 LOOP
		EXECUTE $q$SELECT * FROM adv_readings WHERE status = 'ALARM' ORDER BY recorded_at DESC LIMIT 10$q$;
		EXECUTE format('SELECT * FROM adv_vehicles WHERE vin LIKE %L', 'VIN0000' || (100 + i) || '%');
	END LOOP;
	FOR i IN 1..10 LOOP
		EXECUTE format('SELECT avg(engine_rpm) FROM adv_readings WHERE recorded_at >= %L AND recorded_at < %L',
					   '2024-01-20', '2024-01-25');
	END LOOP;
	FOR i IN 1..1000 LOOP
		EXECUTE format('INSERT INTO adv_events VALUES (%s, %s, %L)', 100000 + i, i % 500, 'y');
	END LOOP;
	EXECUTE 'SELECT * FROM adv_events WHERE kind = 42';
	EXECUTE 'SELECT * FROM adv_tiny WHERE v = 3';
	EXECUTE 'SELECT * FROM adv_trips WHERE vehicle_id = 5';
END
$$;
SET perfkit.advisor_sample_rate = 0;

SELECT command, calls, rows, replannable, left(example, 60) AS example
FROM perfkit.workload
WHERE database = current_database() AND example LIKE '%adv\_%'
ORDER BY example COLLATE "C", calls;

SELECT entries > 0 AS has_entries, max_entries, evictions FROM perfkit.workload_info();

-- noise: perfkit's own statements and foreign-key triggers' checks are
-- marked internal; the real trigger query, as the server ran it, is
CREATE TABLE adv_fk_parent (id int PRIMARY KEY);
CREATE TABLE adv_fk_child (id int, parent int REFERENCES adv_fk_parent);
INSERT INTO adv_fk_parent VALUES (1);
SET perfkit.advisor_sample_rate = 1;
INSERT INTO adv_fk_child VALUES (1, 1);
SELECT count(*) FROM perfkit.workload_info();
SET perfkit.advisor_sample_rate = 0;
SELECT internal, regexp_replace(example, '\s+', ' ', 'g') AS example FROM perfkit.workload
WHERE example LIKE '%adv\_fk\_%' OR example LIKE '%workload\_info%'
ORDER BY example COLLATE "C";
DROP TABLE adv_fk_child, adv_fk_parent;
SELECT q, perfkit.internal_statement(q) AS internal FROM (VALUES
	('SELECT * FROM adv_readings WHERE vehicle_id = 7'),
	('SELECT perfkit.cached(''k'', 60, $$SELECT 1$$)'),
	('select * from "perfkit" . cache_entries'),
	('SELECT * FROM myperfkit.t'),
	('DELETE FROM ONLY "public"."adv_fk_child" WHERE $1 OPERATOR(pg_catalog.=) "parent"'),
	('DELETE FROM adv_fk_child WHERE parent = $1')) v(q);

-- A statement run with parameters is captured with its parameter types and
-- can be re-planned; run with parameters or with literals (spelled in
-- another case, with a cast), its calls count under one entry: 3 + 2.
SET perfkit.advisor_sample_rate = 1;
PREPARE adv_p(int) AS SELECT * FROM adv_tiny WHERE id = $1;
EXECUTE adv_p(1);
EXECUTE adv_p(2);
EXECUTE adv_p(3);
SET perfkit.advisor_sample_rate = 0;
SELECT command, calls, replannable, example FROM perfkit.workload
WHERE example ILIKE '%adv_tiny WHERE id =%';
SET perfkit.advisor_sample_rate = 1;
SELECT * FROM adv_tiny WHERE id = 4;
select *  from adv_tiny
  where id = '5'::int; -- a comment; with a semicolon
SET perfkit.advisor_sample_rate = 0;
SELECT command, calls, replannable, example FROM perfkit.workload
WHERE example ILIKE '%adv_tiny%where id =%';
DEALLOCATE adv_p;

--
-- recommend_indexes over the captured workload
--
SELECT index_statement, table_name, kind, queries,
	   improvement >= 0.2 AS improves, workload_cost_after < workload_cost_before AS cheaper,
	   estimated_bytes > 0 AS sized, write_overhead, reason
FROM perfkit.recommend_indexes();

-- deterministic: the same input gives the same output
SELECT count(*) AS differences FROM (
	(SELECT * FROM perfkit.recommend_indexes() EXCEPT ALL SELECT * FROM perfkit.recommend_indexes())
	UNION ALL
	(SELECT * FROM perfkit.recommend_indexes() EXCEPT ALL SELECT * FROM perfkit.recommend_indexes())
) d;

-- the insert-heavy table: the read gain is smaller than the write overhead,
-- so nothing is proposed for it even without a threshold
SELECT count(*) AS proposals_for_events
FROM perfkit.recommend_indexes(0, 100) WHERE table_name = 'adv_events'::regclass;

-- max_indexes and the storage budget
SELECT count(*) AS at_most_one FROM perfkit.recommend_indexes(0.2, 1);
SELECT count(*) AS nothing_fits FROM perfkit.recommend_indexes(0.2, 10, 8192);
SELECT bool_and(estimated_bytes <= 2000000) AS within_budget,
	   sum(estimated_bytes) <= 2000000 AS total_within_budget
FROM perfkit.recommend_indexes(0.2, 10, 2000000);
-- BRIN: under a budget too small for btrees, the time range is served by
-- BRIN (the readings are in time order)
SELECT index_statement, kind, estimated_bytes <= 100000 AS fits
FROM perfkit.recommend_indexes(0.2, 10, 100000);
SELECT * FROM perfkit.recommend_indexes(1.5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.recommend_indexes(0.2, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.recommend_indexes(0.2, 10, -5);
\echo :LAST_ERROR_SQLSTATE

--
-- privileges: query texts are for superusers and pg_read_all_stats only
--
SET ROLE adv_nobody;
SELECT count(*) FROM perfkit.workload;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM perfkit._workload();
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.workload_reset();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM perfkit.recommend_indexes();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT pg_read_all_stats TO adv_nobody;
SET ROLE adv_nobody;
SELECT count(*) > 0 AS reads_workload FROM perfkit.workload;
SELECT perfkit.workload_reset();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE pg_read_all_stats FROM adv_nobody;

--
-- apply_index: only statements the advisor produced in this session
--
SELECT perfkit.apply_index('CREATE INDEX adv_evil ON adv_tiny (v)');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(index_statement) AS built
FROM perfkit.index_advisor('SELECT * FROM adv_readings WHERE vehicle_id = 7');
-- the query now uses the built index, and nothing more is proposed for it
EXPLAIN (COSTS OFF) SELECT * FROM adv_readings WHERE vehicle_id = 7;
SELECT count(*) AS proposals FROM advise('SELECT * FROM adv_readings WHERE vehicle_id = 7');
-- a prefix of the built index is not proposed either
SELECT count(*) AS proposals FROM advise('SELECT * FROM adv_readings WHERE vehicle_id IN (7, 8)');

--
-- partitioned tables: candidates on the parent, costed through partition
-- pruning (the costs are the real plan's), built ON ONLY the parent, each
-- partition CONCURRENTLY, each attached; later partitions inherit it
--
CREATE TABLE adv_parts (
	vehicle_id int NOT NULL,
	recorded_at timestamptz NOT NULL,
	rpm int NOT NULL
) PARTITION BY RANGE (recorded_at);
CREATE TABLE adv_parts_2024_01 PARTITION OF adv_parts
	FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2024-02-01 00:00+00');
CREATE TABLE adv_parts_2024_02 PARTITION OF adv_parts
	FOR VALUES FROM ('2024-02-01 00:00+00') TO ('2024-03-01 00:00+00');
CREATE TABLE adv_parts_2024_03 PARTITION OF adv_parts
	FOR VALUES FROM ('2024-03-01 00:00+00') TO ('2024-04-01 00:00+00');
ALTER TABLE adv_parts_2024_01 SET (autovacuum_enabled = false);
ALTER TABLE adv_parts_2024_02 SET (autovacuum_enabled = false);
ALTER TABLE adv_parts_2024_03 SET (autovacuum_enabled = false);
INSERT INTO adv_parts
SELECT g % 1000 + 1, '2024-01-01 00:00+00'::timestamptz + g * interval '40 seconds', g % 7000
FROM generate_series(1, 190000) g;
VACUUM ANALYZE adv_parts, adv_parts_2024_01, adv_parts_2024_02, adv_parts_2024_03;
SELECT index_statement, table_name, halves
FROM advise($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$);
-- the cost before is the pruned plan's (one partition), as EXPLAIN shows
SELECT round(a.cost_before) = round(adv_plan_cost($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$)) AS pruned_plan_cost
FROM perfkit.index_advisor($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$) a;
SELECT perfkit.apply_index(index_statement) AS built
FROM perfkit.index_advisor($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$);
-- the parent's index is valid, each partition has one attached
SELECT c.relname, i.indisvalid, (SELECT count(*) FROM pg_inherits h WHERE h.inhparent = i.indexrelid) AS attached
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'adv_parts'::regclass;
EXPLAIN (COSTS OFF)
SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00';
-- a partition created later gets the index from the parent
CREATE TABLE adv_parts_2024_04 PARTITION OF adv_parts
	FOR VALUES FROM ('2024-04-01 00:00+00') TO ('2024-05-01 00:00+00');
SELECT count(*) AS new_partition_indexes FROM pg_index WHERE indrelid = 'adv_parts_2024_04'::regclass;
SELECT count(*) AS proposals
FROM advise($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$);
-- from psql, one statement at a time (CONCURRENTLY, writes not blocked)
DROP INDEX adv_parts_vehicle_id_recorded_at_incl_idx;
SELECT unnest(string_to_array(index_statement, E';\n'))
FROM perfkit.index_advisor($q$SELECT * FROM adv_parts WHERE vehicle_id = 7 AND recorded_at >= '2024-02-01 00:00+00' AND recorded_at < '2024-03-01 00:00+00'$q$) \gexec
SELECT c.relname, i.indisvalid, (SELECT count(*) FROM pg_inherits h WHERE h.inhparent = i.indexrelid) AS attached
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'adv_parts'::regclass;
DROP TABLE adv_parts;

--
-- joins: both sides of a join clause are candidates, and every candidate is
-- evaluated again after each choice (Supabase index_advisor's book, author,
-- publisher, review case: review (book_id) only pays with book's indexes)
--
CREATE TABLE adv_publisher (id int PRIMARY KEY, name text) WITH (autovacuum_enabled = false);
CREATE TABLE adv_author (id int PRIMARY KEY, name text) WITH (autovacuum_enabled = false);
CREATE TABLE adv_book (id int PRIMARY KEY, title text, author_id int REFERENCES adv_author,
					   publisher_id int REFERENCES adv_publisher) WITH (autovacuum_enabled = false);
CREATE TABLE adv_review (id int PRIMARY KEY, book_id int REFERENCES adv_book, body text)
	WITH (autovacuum_enabled = false);
INSERT INTO adv_publisher SELECT g, 'p' || g FROM generate_series(1, 1000) g;
INSERT INTO adv_author SELECT g, 'a' || g FROM generate_series(1, 10000) g;
INSERT INTO adv_book SELECT g, 't' || g, g % 10000 + 1, g % 1000 + 1 FROM generate_series(1, 100000) g;
INSERT INTO adv_review SELECT g, g % 100000 + 1, 'r' || g FROM generate_series(1, 200000) g;
VACUUM ANALYZE adv_publisher, adv_author, adv_book, adv_review;
CREATE TEMP TABLE adv_join_advice AS
SELECT * FROM perfkit.index_advisor($q$
	SELECT b.id, b.title, p.name, a.name, r.body
	FROM adv_book b
	JOIN adv_publisher p ON b.publisher_id = p.id
	JOIN adv_author a ON b.author_id = a.id
	JOIN adv_review r ON b.id = r.book_id
	WHERE a.id = $1 AND p.id = $2$q$);
SELECT index_statement, table_name, improvement > 0.5 AS halves FROM adv_join_advice;
-- ground truth: built, the generic plan costs what the advisor said and
-- reaches the reviews through their new index in a nested loop
SELECT count(perfkit.apply_index(index_statement)) AS built FROM adv_join_advice;
PREPARE adv_join(int, int) AS
	SELECT b.id, b.title, p.name, a.name, r.body
	FROM adv_book b
	JOIN adv_publisher p ON b.publisher_id = p.id
	JOIN adv_author a ON b.author_id = a.id
	JOIN adv_review r ON b.id = r.book_id
	WHERE a.id = $1 AND p.id = $2;
SET plan_cache_mode = force_generic_plan;
SELECT round(adv_plan_cost('EXECUTE adv_join(1, 1)')) = round(min(cost_after)) AS cost_as_advised,
	   max(cost_before) / min(cost_after) > 100 AS hundredfold
FROM adv_join_advice;
EXPLAIN (COSTS OFF) EXECUTE adv_join(1, 1);
RESET plan_cache_mode;
DEALLOCATE adv_join;
DROP TABLE adv_join_advice, adv_review, adv_book, adv_author, adv_publisher;

--
-- A captured statement calling a function its author owns is not re-planned
-- by another role: planning folds constants, which would run the function
-- with the rights of whoever calls recommend_indexes().
--
CREATE FUNCTION adv_trap(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE NOTICE 'adv_trap ran as %', current_user;
	RETURN $1;
END
$$;
ALTER FUNCTION adv_trap(int) OWNER TO adv_nobody;
GRANT SELECT ON adv_events TO adv_nobody;
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
SET ROLE adv_nobody;
SELECT count(*) FROM adv_events WHERE kind = adv_trap(42);
RESET ROLE;
SET perfkit.advisor_sample_rate = 0;
SELECT count(*) AS captured FROM perfkit.workload WHERE example LIKE '%adv_trap%';
-- no NOTICE: the function does not run, the statement is skipped
SELECT count(*) AS proposals FROM perfkit.recommend_indexes(0, 100);
-- owned by the caller, the same statement is costed
ALTER FUNCTION adv_trap(int) OWNER TO CURRENT_USER;
SET client_min_messages = warning;
SELECT index_statement FROM perfkit.recommend_indexes(0, 100);
RESET client_min_messages;
DROP FUNCTION adv_trap(int);
REVOKE SELECT ON adv_events FROM adv_nobody;

--
-- index lint
--
CREATE TABLE adv_lint (
	id int PRIMARY KEY,
	a int, b int, c text,
	u int UNIQUE,
	parent int REFERENCES adv_lint (id)
) WITH (autovacuum_enabled = false);
CREATE INDEX adv_lint_a ON adv_lint (a);
CREATE INDEX adv_lint_a_again ON adv_lint (a);
CREATE INDEX adv_lint_a_b ON adv_lint (a, b);
CREATE INDEX adv_lint_b_part ON adv_lint (b) WHERE c = 'x';
CREATE INDEX adv_lint_b_b ON adv_lint (b, a);
CREATE INDEX adv_lint_lower_c ON adv_lint (lower(c));
CREATE INDEX adv_lint_c ON adv_lint (c);
CREATE INDEX adv_lint_id_dup ON adv_lint (id);
CREATE INDEX adv_lint_u_brin ON adv_lint USING brin (u);
INSERT INTO adv_lint SELECT g, g, g, 'x', g, NULL FROM generate_series(1, 100) g;
-- a failed CREATE INDEX CONCURRENTLY leaves an invalid index
INSERT INTO adv_lint VALUES (101, 1, 1, 'x', 101, NULL);
CREATE UNIQUE INDEX CONCURRENTLY adv_lint_a_unique ON adv_lint (a);
\echo :LAST_ERROR_SQLSTATE

-- exact and prefix duplicates; the partial, expression and BRIN indexes,
-- the primary key and the unique constraint are never proposed
SELECT index_name, covered_by, kind, index_bytes > 0 AS sized, drop_statement
FROM perfkit.duplicate_indexes() WHERE table_name = 'adv_lint'::regclass;

SELECT index_name, definition, drop_statement
FROM perfkit.invalid_indexes() WHERE table_name = 'adv_lint'::regclass;

-- used indexes are not unused: scan one, flush the statistics
SELECT a FROM adv_lint WHERE a = 5;
SET enable_seqscan = off;
SELECT c FROM adv_lint WHERE c = 'y';
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT index_name, idx_scan, stats_reset IS NOT NULL AS has_reset_time, drop_statement
FROM perfkit.unused_indexes() WHERE table_name = 'adv_lint'::regclass
ORDER BY index_name::text COLLATE "C";

SELECT table_name, constraint_name, columns, referenced_table, index_statement
FROM perfkit.unindexed_foreign_keys() WHERE table_name = 'adv_lint'::regclass;
CREATE INDEX adv_lint_parent ON adv_lint (parent, a);
SELECT count(*) AS unindexed FROM perfkit.unindexed_foreign_keys()
WHERE table_name = 'adv_lint'::regclass;
-- the only index of a foreign key is never proposed for dropping, even
-- unused: it is listed with its reason and no drop statement; of two unused
-- ones, the older is kept; once another is scanned, it may go
SELECT index_name, drop_statement, reason
FROM perfkit.unused_indexes() WHERE index_name::text LIKE 'adv_lint_parent%'
ORDER BY index_name::text COLLATE "C";
CREATE INDEX adv_lint_parent_only ON adv_lint (parent);
SELECT index_name, drop_statement, reason
FROM perfkit.unused_indexes() WHERE index_name::text LIKE 'adv_lint_parent%'
ORDER BY index_name::text COLLATE "C";
SET enable_seqscan = off;
SELECT count(*) FROM adv_lint WHERE parent = 1;
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT index_name, drop_statement, reason
FROM perfkit.unused_indexes() WHERE index_name::text LIKE 'adv_lint_parent%'
ORDER BY index_name::text COLLATE "C";
-- ground truth: every proposed drop done, the key is still served
SELECT drop_statement FROM perfkit.unused_indexes()
WHERE table_name = 'adv_lint'::regclass AND drop_statement IS NOT NULL
ORDER BY index_name::text COLLATE "C" \gexec
SELECT count(*) AS unindexed_after_drops FROM perfkit.unindexed_foreign_keys()
WHERE table_name = 'adv_lint'::regclass;

--
-- apply_index in another session: a statement the advisor produced is
-- recognized by building it again (plain, partial, pattern, partitioned);
-- anything else, even one character off, is refused
--
CREATE TABLE adv_produced AS
SELECT index_statement FROM perfkit.index_advisor($q$SELECT * FROM adv_readings WHERE status = 'ALARM' ORDER BY recorded_at DESC LIMIT 10$q$)
UNION ALL
SELECT index_statement FROM perfkit.index_advisor($q$SELECT * FROM adv_vehicles WHERE vin LIKE 'VIN0000012%'$q$)
UNION ALL
SELECT index_statement FROM perfkit.index_advisor('SELECT * FROM adv_trips WHERE km = 5');
SELECT index_statement FROM adv_produced ORDER BY 1;
CREATE TABLE adv_parts2 (k int NOT NULL, v int NOT NULL) PARTITION BY LIST (k);
CREATE TABLE adv_parts2_a PARTITION OF adv_parts2 FOR VALUES IN (1);
CREATE TABLE adv_parts2_b PARTITION OF adv_parts2 FOR VALUES IN (2);
INSERT INTO adv_parts2 SELECT 1 + g % 2, g FROM generate_series(1, 100000) g;
ANALYZE adv_parts2;
INSERT INTO adv_produced
SELECT index_statement FROM perfkit.index_advisor('SELECT * FROM adv_parts2 WHERE v = 5');
SELECT count(*) AS produced FROM adv_produced;
\c
SET max_parallel_workers_per_gather = 0;
-- tampered: another column, a function in the predicate, a second
-- statement, UNIQUE, another name, another method
SELECT perfkit.apply_index(replace(index_statement, '(km', '(id')) FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(replace(index_statement, '(status = ''ALARM''::text)', '(lower(status) = ''alarm''::text)'))
FROM adv_produced WHERE index_statement LIKE '%ALARM%';
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(index_statement || '; DROP TABLE adv_tiny') FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(replace(index_statement, 'CREATE INDEX', 'CREATE UNIQUE INDEX')) FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(replace(index_statement, '_idx ON', '_idy ON')) FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.apply_index(replace(index_statement, 'USING btree', 'USING hash')) FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
-- not the owner
CREATE ROLE adv_other;
GRANT SELECT ON adv_produced TO adv_other;
SET ROLE adv_other;
SELECT perfkit.apply_index(index_statement) FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY adv_other;
DROP ROLE adv_other;
-- the advisor's own statements build, in this new session
SELECT perfkit.apply_index(index_statement) AS built FROM adv_produced WHERE index_statement LIKE '%ALARM%';
SELECT perfkit.apply_index(index_statement) AS built FROM adv_produced WHERE index_statement LIKE '%pattern%';
SELECT perfkit.apply_index(index_statement) AS built FROM adv_produced WHERE index_statement LIKE '%(km%';
SELECT perfkit.apply_index(index_statement) AS built FROM adv_produced WHERE index_statement LIKE '%ON ONLY%';
-- built once, the same statement is no longer one the advisor gives
SELECT perfkit.apply_index(index_statement) AS built FROM adv_produced WHERE index_statement LIKE '%(km%';
\echo :LAST_ERROR_SQLSTATE
SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('adv_parts2'::regclass, 'adv_parts2_a'::regclass, 'adv_parts2_b'::regclass)
ORDER BY 1;
DROP TABLE adv_produced, adv_parts2;

-- A correlated subquery: its clause compares this level's column with an
-- outer level's (o.id), which is a parameter here, not a join; the walk
-- must not stop at the outer Var (it used to raise "Upper-level Var found
-- where not expected", from index_advisor() and recommend_indexes() alike).
CREATE TABLE adv_corr_o (id int PRIMARY KEY, v int);
CREATE TABLE adv_corr_i (id int PRIMARY KEY, ref int, w int);
INSERT INTO adv_corr_o SELECT i, i % 100 FROM generate_series(1, 20000) i;
INSERT INTO adv_corr_i SELECT i, i % 5000, i % 7 FROM generate_series(1, 20000) i;
ANALYZE adv_corr_o, adv_corr_i;
SELECT index_statement, cost_after < cost_before / 2 AS halves
FROM perfkit.index_advisor('SELECT (SELECT max(w) FROM adv_corr_i i WHERE i.ref = o.id) FROM adv_corr_o o WHERE o.id < 20');
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
SELECT count(*) FROM adv_corr_o o WHERE o.v = 3 AND EXISTS (SELECT 1 FROM adv_corr_i i WHERE i.ref = o.id AND i.w = 2);
SELECT (SELECT max(w) FROM adv_corr_i i WHERE i.ref = o.id) AS m FROM adv_corr_o o WHERE o.id = 7;
SET perfkit.advisor_sample_rate = 0;
SELECT index_statement, queries FROM perfkit.recommend_indexes(0)
WHERE table_name IN ('adv_corr_o'::regclass, 'adv_corr_i'::regclass) ORDER BY 1;
DROP TABLE adv_corr_o, adv_corr_i;

DROP TABLE adv_lint, adv_events, adv_tiny, adv_trips, adv_readings, adv_vehicles;
DROP FUNCTION advise(text);
DROP FUNCTION adv_plan_cost(text);
DROP ROLE adv_nobody;
