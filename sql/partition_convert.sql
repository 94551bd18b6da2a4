--
-- partition_convert: convert_to_partitioned() turns a plain table into a
-- partitioned one under the same name, carrying its definition over, and
-- refuses what it cannot carry.  (Concurrent writers: the isolation test
-- partition_convert_concurrent.)
--
SET timezone = 'UTC';
SET client_min_messages = warning;

CREATE ROLE conv_owner;
CREATE ROLE conv_reader;
CREATE TABLE fleets (id int PRIMARY KEY);
INSERT INTO fleets VALUES (1), (2);
GRANT REFERENCES ON fleets TO conv_owner;
GRANT CREATE ON SCHEMA public TO conv_owner;
SET ROLE conv_owner;
CREATE TABLE trips (
	id bigint GENERATED ALWAYS AS IDENTITY,
	serial_no serial,
	fleet int REFERENCES fleets,
	started_at timestamptz NOT NULL DEFAULT now(),
	km real NOT NULL CHECK (km >= 0),
	km_x2 real GENERATED ALWAYS AS (km * 2) STORED,
	note text DEFAULT 'none',
	PRIMARY KEY (id, started_at)
);
CREATE INDEX trips_started ON trips (started_at);
CREATE INDEX trips_fleet ON trips (fleet, started_at) WHERE fleet IS NOT NULL;
COMMENT ON TABLE trips IS 'one row per trip';
COMMENT ON COLUMN trips.km IS 'distance';
GRANT SELECT ON trips TO conv_reader;
INSERT INTO trips (fleet, started_at, km)
SELECT 1 + g % 2, date_trunc('day', now()) - (g % 40) * interval '1 day' + g * interval '1 second', g
FROM generate_series(1, 4000) g;
ANALYZE trips;
CREATE TEMP TABLE before AS
SELECT count(*) AS n, sum(hashtext(t::text)) AS checksum FROM trips t;

-- Refusals.
SELECT perfkit.convert_to_partitioned('trips', 'km', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.convert_to_partitioned('trips', 'nope', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day 1 hour');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 0);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- The worker shares the caller's locks: a statement that reads the table
-- cannot convert it.
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day') FROM trips LIMIT 1;
\echo :LAST_ERROR_SQLSTATE
-- The worker cannot see the session's temporary tables.
CREATE TEMP TABLE conv_tmp (at timestamptz NOT NULL);
SELECT perfkit.convert_to_partitioned('conv_tmp', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE conv_tmp;
CREATE TABLE no_key_ts (id int PRIMARY KEY, at timestamptz NOT NULL);
SELECT perfkit.convert_to_partitioned('no_key_ts', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.convert_to_partitioned('no_key_ts', 'at', '1 day', unique_keys => 'widen');
\echo :LAST_ERROR_SQLSTATE
-- A unique key with the column only in INCLUDE does not contain it.
CREATE TABLE include_ts (id int, at timestamptz NOT NULL, UNIQUE (id) INCLUDE (at));
SELECT perfkit.convert_to_partitioned('include_ts', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE include_ts;
CREATE TABLE expr_key (id int, at timestamptz NOT NULL);
CREATE UNIQUE INDEX expr_key_abs ON expr_key ((abs(id)));
SELECT perfkit.convert_to_partitioned('expr_key', 'at', '1 day', unique_keys => 'extend');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE expr_key;
CREATE TABLE viewed (at timestamptz NOT NULL);
CREATE VIEW viewed_v AS SELECT * FROM viewed;
SELECT perfkit.convert_to_partitioned('viewed', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
-- Triggers PostgreSQL does not allow on a partitioned table are refused,
-- all named (the others are carried over: see legacy below).
CREATE TABLE triggered (at timestamptz NOT NULL);
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t BEFORE INSERT ON triggered FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER with_new AFTER INSERT ON triggered REFERENCING NEW TABLE AS n FOR EACH ROW EXECUTE FUNCTION noop();
CREATE TRIGGER with_old AFTER DELETE ON triggered REFERENCING OLD TABLE AS o FOR EACH ROW EXECUTE FUNCTION noop();
SELECT perfkit.convert_to_partitioned('triggered', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('triggered_partitioned') IS NULL AS no_copy_left, count(*) AS conversions FROM perfkit.conversions;
CREATE TABLE referenced (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE referencing (rid int REFERENCES referenced);
SELECT perfkit.convert_to_partitioned('referenced', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT perfkit.convert_to_partitioned('fleets', 'id', '1 day');
\echo :LAST_ERROR_SQLSTATE
SET ROLE conv_reader;
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SET ROLE conv_owner;

-- Two batches, then a pause: the table is unchanged and writes go on.
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500, 2);
SELECT "table", new_table, "column", phase, rows_copied > 0 AS copying,
	   blocks_copied < blocks_total AS unfinished
FROM perfkit.conversion_progress;
-- While loading, the copy has no index: they are built after the rows.
SELECT count(*) AS copy_indexes FROM pg_index WHERE indrelid = 'trips_partitioned'::regclass;
SELECT relkind FROM pg_class WHERE oid = 'trips'::regclass;
TRUNCATE trips;
\echo :LAST_ERROR_SQLSTATE
-- An abort drops the copy and the trigger; the table is as it was.
SELECT perfkit.convert_to_partitioned_abort('trips');
SELECT perfkit.convert_to_partitioned_abort('trips');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'trips'::regclass;
SELECT to_regclass('trips_partitioned') IS NULL AS copy_dropped;
SELECT n = count(*) AND checksum = sum(hashtext(t::text)) AS unchanged FROM trips t, before GROUP BY n, checksum;

-- Start again, write between batches, resume to the end.
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500, 3);
INSERT INTO trips (fleet, started_at, km) VALUES (2, now(), 1.5);
UPDATE trips SET km = km + 1 WHERE id % 50 = 0;
DELETE FROM trips WHERE id % 77 = 0;
-- A log entry without a key (as triggers from before 0.7 wrote them)
-- costs a search, not a row.  Only the extension's owner may write the
-- log (since 0.8): the owner of the table cannot add to it.
INSERT INTO perfkit.convert_log (relid, blk, src, old) VALUES ('trips'::regclass, 0, '(0,1)', true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
INSERT INTO perfkit.convert_log (relid, blk, src, old) VALUES ('trips'::regclass, 0, '(0,1)', true);
SET ROLE conv_owner;
CREATE TEMP TABLE expected AS SELECT * FROM trips;
SELECT perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500);
SELECT relkind FROM pg_class WHERE oid = 'trips'::regclass;
SELECT (SELECT count(*) FROM trips) = (SELECT count(*) FROM expected) AS same_count,
	   NOT EXISTS (SELECT * FROM trips EXCEPT ALL SELECT * FROM expected)
	   AND NOT EXISTS (SELECT * FROM expected EXCEPT ALL SELECT * FROM trips) AS same_rows;
-- Definition carried over: columns, defaults, identity, generated
-- column, constraints, indexes (same names), foreign key, comments,
-- owner, grants; nothing left behind.
\d trips
SELECT obj_description('trips'::regclass) AS comment, col_description('trips'::regclass, 5) AS km_comment,
	   pg_get_userbyid(relowner) AS owner, has_table_privilege('conv_reader', 'trips', 'SELECT') AS reader_may_read
FROM pg_class WHERE oid = 'trips'::regclass;
SELECT count(*) AS partitions, bool_and(partition::text ~ '^trips_(p[0-9]{8}|default)$') AS names
FROM perfkit.partitions WHERE parent = 'trips'::regclass;
SELECT "table", "column", "interval", premake FROM perfkit.partition_sets WHERE "table" = 'trips'::regclass;
SELECT count(*) AS conversions FROM perfkit.conversions;
SELECT to_regclass('trips_partitioned') IS NULL AS no_leftover;
-- Sequences continue where they were; the serial sequence now belongs
-- to the new table.
INSERT INTO trips (fleet, km) VALUES (1, 3) RETURNING id > 4000 AS identity_continues,
	serial_no > 4000 AS serial_continues, km_x2;
SELECT pg_get_serial_sequence('trips', 'serial_no') AS serial_sequence;
SELECT count(*) AS rows_in_default FROM trips_default;

-- The worker's notices reach the caller.
SET client_min_messages = notice;
CREATE TABLE conv_small (at date NOT NULL, v int);
CREATE INDEX conv_small_at ON conv_small (at);
INSERT INTO conv_small VALUES ('2026-01-15', 1), ('2026-02-15', 2);
SELECT perfkit.convert_to_partitioned('conv_small', 'at', '1 month');
SET client_min_messages = warning;
SELECT count(*) AS rows, count(*) FILTER (WHERE tableoid = 'conv_small_default'::regclass) AS in_default,
	   (SELECT count(*) FROM pg_indexes WHERE tablename = 'conv_small') AS indexes
FROM conv_small;
DROP TABLE conv_small;

-- A surrogate key without the time column (bigserial PRIMARY KEY), a
-- unique constraint and a unique index lacking it: unique_keys =>
-- 'extend' widens each by the column, with a NOTICE; writes between the
-- batches are carried over.
CREATE TABLE legacy (
	id bigserial PRIMARY KEY,
	code text NOT NULL,
	ts timestamptz NOT NULL,
	v int,
	CONSTRAINT legacy_code_key UNIQUE NULLS NOT DISTINCT (code) INCLUDE (v)
);
CREATE UNIQUE INDEX legacy_v_uniq ON legacy (v DESC NULLS LAST) WHERE v > 0;
CREATE UNIQUE INDEX legacy_ts_id ON legacy (ts, id);
INSERT INTO legacy (code, ts, v)
SELECT 'c' || g, date_trunc('month', now()) - (g % 5) * interval '1 month' + g * interval '1 second', g
FROM generate_series(1, 3000) g;
-- User triggers: a row trigger, a statement trigger with a transition
-- table, a disabled one.  They keep firing on the table during the copy,
-- are made on the partitioned table at the swap, and never fire for the
-- rows copied.
CREATE TABLE legacy_audit (n bigint);
CREATE FUNCTION legacy_default_v() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.v := coalesce(NEW.v, -1); RETURN NEW; END $$;
CREATE FUNCTION legacy_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO legacy_audit SELECT count(*) FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER legacy_v BEFORE INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION legacy_default_v();
CREATE TRIGGER legacy_audit AFTER INSERT ON legacy REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION legacy_count();
CREATE TRIGGER legacy_off BEFORE INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION noop();
ALTER TABLE legacy DISABLE TRIGGER legacy_off;
SET client_min_messages = notice;
SELECT perfkit.convert_to_partitioned('legacy', 'ts', '1 month', 500, 2, unique_keys => 'extend');
SET client_min_messages = warning;
SELECT perfkit.convert_to_partitioned('legacy', 'ts', '1 month', 500, 1, unique_keys => 'refuse');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO legacy (code, ts, v) VALUES ('late', now(), 4001), ('late2', now(), NULL);
UPDATE legacy SET v = -v WHERE id % 10 = 0;
DELETE FROM legacy WHERE id % 33 = 0;
CREATE TEMP TABLE legacy_expected AS SELECT * FROM legacy;
SELECT perfkit.convert_to_partitioned('legacy', 'ts', '1 month');
SELECT relkind FROM pg_class WHERE oid = 'legacy'::regclass;
SELECT (SELECT count(*) FROM legacy) = (SELECT count(*) FROM legacy_expected) AS same_count,
	   NOT EXISTS (SELECT * FROM legacy EXCEPT ALL SELECT * FROM legacy_expected)
	   AND NOT EXISTS (SELECT * FROM legacy_expected EXCEPT ALL SELECT * FROM legacy) AS same_rows;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'legacy'::regclass AND contype IN ('p', 'u') ORDER BY conname;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'legacy'::regclass ORDER BY indexrelid::regclass::text;
-- Partitions' indexes and constraints have the names PostgreSQL gives
-- them (as if the table had been created partitioned).
SELECT replace(c.relname, to_char(now(), 'YYYYMM'), 'NOW') AS partition_index, k.conname IS NOT NULL AS constraint_too
FROM pg_inherits h JOIN pg_index i ON i.indrelid = h.inhrelid
JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
WHERE h.inhparent = 'legacy'::regclass
  AND (h.inhrelid = 'legacy_default'::regclass OR c.relname LIKE '%' || to_char(now(), 'YYYYMM') || '%')
ORDER BY 1;
SELECT relname AS temporary_name FROM pg_class WHERE relname LIKE '%partitioned%' AND relnamespace = 'public'::regnamespace;
-- The same layout created partitioned has the same names.
CREATE TABLE legacy_fresh (LIKE legacy) PARTITION BY RANGE (ts);
ALTER TABLE legacy_fresh ADD PRIMARY KEY (id, ts);
ALTER TABLE legacy_fresh ADD CONSTRAINT legacy_fresh_code_key UNIQUE NULLS NOT DISTINCT (code, ts) INCLUDE (v);
CREATE UNIQUE INDEX ON legacy_fresh (v DESC NULLS LAST, ts) WHERE v > 0;
CREATE UNIQUE INDEX ON legacy_fresh (ts, id);
CREATE TABLE legacy_fresh_default PARTITION OF legacy_fresh DEFAULT;
SELECT replace(c.relname, 'legacy_fresh', 'legacy') AS fresh_index
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'legacy_fresh_default'::regclass ORDER BY 1;
DROP TABLE legacy_fresh;
-- The triggers are on the partitioned table, in their state, and fire.
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'legacy'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT sum(n) AS audited_before FROM legacy_audit;
INSERT INTO legacy (code, ts) VALUES ('after', now()) RETURNING v AS defaulted_by_trigger;
SELECT sum(n) AS audited_after FROM legacy_audit;
-- The key now allows the same id at another ts (only the sequence keeps
-- ids unique); the sequence continues.
INSERT INTO legacy (code, ts, v) VALUES ('next', now(), 5000) RETURNING id > 3000 AS sequence_continues;
INSERT INTO legacy (id, code, ts) SELECT id, 'dup', ts + interval '1 second' FROM legacy WHERE id = 1;
SELECT count(*) AS same_id FROM legacy WHERE id = 1;
DROP TABLE legacy, legacy_expected, legacy_audit;
DROP FUNCTION legacy_default_v(), legacy_count();

-- DROP TABLE ... CASCADE of a table being converted leaves nothing
-- behind: its copy, its conversion row, its log and the copy's set go.
CREATE TABLE doomed (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO doomed (at) SELECT now() - g * interval '1 hour' FROM generate_series(1, 2000) g;
SELECT perfkit.convert_to_partitioned('doomed', 'at', '1 day', 200, 1, unique_keys => 'extend') > 0 AS copying;
UPDATE doomed SET at = at + interval '1 second' WHERE id % 100 = 0;
CREATE VIEW doomed_v AS SELECT * FROM doomed;
DROP TABLE doomed CASCADE;
SELECT to_regclass('doomed_partitioned') IS NULL AS copy_gone,
	   (SELECT count(*) FROM perfkit.conversions) AS conversions,
	   (SELECT count(*) FROM perfkit.partition_config WHERE parent::oid NOT IN (SELECT oid FROM pg_class)) AS stale_sets,
	   (SELECT count(*) FROM pg_class WHERE relname LIKE 'doomed%') AS relations_left;

-- A table with rollups converts (issue 15): a daily rollup on a
-- bigserial-keyed table and a monthly one on the daily move to the
-- partitioned table and stay exact.  Writes made while the copy runs are
-- captured by the old table's triggers up to the swap, the rows copied
-- are not counted again, and writes after the swap, into the new
-- partitions, are captured by triggers on each of them.
CREATE TABLE metered (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, site int, v int);
INSERT INTO metered (ts, site, v)
SELECT date_trunc('day', now()) - (g % 70) * interval '1 day' + (g % 24) * interval '1 hour', g % 3, g
FROM generate_series(1, 3000) g;
SELECT perfkit.create_rollup('metered_daily', 'metered', 'ts', 'day', ARRAY['site'],
							 ARRAY['count(*) AS n', 'sum(v) AS total', 'max(v) AS top']) AS daily;
SELECT perfkit.create_rollup('metered_monthly', 'metered_daily', 'bucket', 'month', ARRAY['site'],
							 ARRAY['count(*) AS n', 'sum(v) AS total', 'max(v) AS top']) AS monthly;
SELECT perfkit.refresh_rollup('metered_daily') > 0 AS daily_refreshed,
	   perfkit.refresh_rollup('metered_monthly') > 0 AS monthly_refreshed;
SELECT perfkit.convert_to_partitioned('metered', 'ts', '1 month', 500, 2, unique_keys => 'extend') > 0 AS copying;
-- Writes while the copy runs, in copied and uncopied blocks, one refresh
-- in between.
INSERT INTO metered (ts, site, v)
SELECT date_trunc('day', now()) - (g % 50) * interval '1 day', g % 4, 10 * g FROM generate_series(1, 200) g;
UPDATE metered SET v = v + 1000 WHERE id % 7 = 0;
DELETE FROM metered WHERE id % 11 = 0;
SELECT perfkit.refresh_rollup('metered_daily') >= 0 AS refreshed_during_copy;
SELECT perfkit.convert_to_partitioned('metered', 'ts', '1 month', 500, 1) > 0 AS copying;
UPDATE metered SET ts = ts - interval '20 days' WHERE id % 13 = 0;
UPDATE metered SET site = 9 WHERE id % 17 = 0;
DELETE FROM metered WHERE id % 19 = 0;
SELECT count(*) > 0 AS changes_pending FROM perfkit.rollup_changes;
SELECT perfkit.convert_to_partitioned('metered', 'ts', '1 month') > 0 AS converted;
SELECT relkind FROM pg_class WHERE oid = 'metered'::regclass;
-- The rollups read the partitioned table, with their live views and a
-- capture trigger on every table of its tree.
SELECT r.name, r.source::text, r.source = 'metered'::regclass AS on_new_table,
	   d.raw_source = 'metered'::regclass AS raw_is_new, d.live_view::text AS live_view
FROM perfkit.rollups r JOIN perfkit.rollup_defs d ON d.rel = r."table"
WHERE r.name LIKE 'metered%' ORDER BY r.name;
SELECT d.rel AS rollup, count(*) AS tables,
	   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = x.relid
									  AND t.tgname = format('perfkit_rollup_%s_insert', d.id))) AS with_capture
FROM perfkit.rollup_defs d, pg_partition_tree('metered') x
WHERE d.raw_source = 'metered'::regclass GROUP BY d.rel ORDER BY 1;
-- Late writes after the swap, into the new partitions and the default one.
INSERT INTO metered (ts, site, v) VALUES (now() - interval '40 days', 1, 77), (now(), 2, 88),
	('1990-01-01', 1, 5);
INSERT INTO metered_default (ts, site, v) VALUES ('1980-06-01', 2, 9);	-- straight into a partition
UPDATE metered SET v = v - 3 WHERE id % 23 = 0;
DELETE FROM metered WHERE id % 29 = 0;
SELECT perfkit.refresh_rollup('metered_daily') >= 0 AS daily_refreshed,
	   perfkit.refresh_rollup('metered_monthly') >= 0 AS monthly_refreshed;
-- Each rollup against GROUP BY over the raw rows, over the buckets it
-- has materialized, and its live view over all of them.
CREATE TEMP VIEW metered_truth AS
SELECT date_trunc('day', ts) AS day, date_trunc('month', ts) AS month, site, v FROM metered;
SELECT (SELECT count(*) FROM metered_daily) AS daily_buckets,
	   (SELECT count(*) FROM (
			(SELECT bucket, site, n, total, top FROM metered_daily
			 EXCEPT ALL
			 SELECT day, site, count(*), sum(v), max(v) FROM metered_truth
			 WHERE day < (SELECT watermark FROM perfkit.rollups WHERE name = 'metered_daily') GROUP BY 1, 2)
			UNION ALL
			(SELECT day, site, count(*), sum(v), max(v) FROM metered_truth
			 WHERE day < (SELECT watermark FROM perfkit.rollups WHERE name = 'metered_daily') GROUP BY 1, 2
			 EXCEPT ALL
			 SELECT bucket, site, n, total, top FROM metered_daily)) x) AS daily_mismatches,
	   (SELECT count(*) FROM (
			(SELECT bucket, site, n, total, top FROM metered_monthly
			 EXCEPT ALL
			 SELECT month, site, count(*), sum(v), max(v) FROM metered_truth
			 WHERE month < (SELECT watermark FROM perfkit.rollups WHERE name = 'metered_monthly') GROUP BY 1, 2)
			UNION ALL
			(SELECT month, site, count(*), sum(v), max(v) FROM metered_truth
			 WHERE month < (SELECT watermark FROM perfkit.rollups WHERE name = 'metered_monthly') GROUP BY 1, 2
			 EXCEPT ALL
			 SELECT bucket, site, n, total, top FROM metered_monthly)) x) AS monthly_mismatches,
	   (SELECT count(*) FROM (
			(SELECT bucket, site, n, total, top FROM metered_daily_live
			 EXCEPT ALL
			 SELECT day, site, count(*), sum(v), max(v) FROM metered_truth GROUP BY 1, 2)
			UNION ALL
			(SELECT day, site, count(*), sum(v), max(v) FROM metered_truth GROUP BY 1, 2
			 EXCEPT ALL
			 SELECT bucket, site, n, total, top FROM metered_daily_live)) x) AS daily_live_mismatches,
	   (SELECT count(*) FROM (
			(SELECT bucket, site, n, total, top FROM metered_monthly_live
			 EXCEPT ALL
			 SELECT month, site, count(*), sum(v), max(v) FROM metered_truth GROUP BY 1, 2)
			UNION ALL
			(SELECT month, site, count(*), sum(v), max(v) FROM metered_truth GROUP BY 1, 2
			 EXCEPT ALL
			 SELECT bucket, site, n, total, top FROM metered_monthly_live)) x) AS monthly_live_mismatches,
	   (SELECT sum(inexact_changes) FROM perfkit.rollups) AS inexact;
SELECT perfkit.drop_rollup('metered_monthly'), perfkit.drop_rollup('metered_daily');
SELECT count(*) AS capture_triggers_left FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgname LIKE 'perfkit_rollup_%' AND c.relname LIKE 'metered%';
DROP VIEW metered_truth;
DROP TABLE metered;

-- Rollups the table's owner cannot move (another role's, whose privileges
-- she lacks) are refused before the conversion starts.
RESET ROLE;
CREATE ROLE conv_analyst;
GRANT conv_owner TO conv_analyst;
SET ROLE conv_owner;
CREATE TABLE watched (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, v int);
INSERT INTO watched (ts, v) SELECT now() - g * interval '1 hour', g FROM generate_series(1, 100) g;
SET ROLE conv_analyst;
SELECT perfkit.create_rollup('public.watched_daily', 'watched', 'ts', 'day', ARRAY[]::text[], ARRAY['count(*)']) AS analyst_rollup;
SET ROLE conv_owner;
SELECT perfkit.convert_to_partitioned('watched', 'ts', '1 month', unique_keys => 'extend');
\echo :LAST_ERROR_SQLSTATE
SELECT relkind, to_regclass('watched_partitioned') IS NULL AS no_copy FROM pg_class WHERE oid = 'watched'::regclass;
SET ROLE conv_analyst;
SELECT perfkit.drop_rollup('public.watched_daily');
SET ROLE conv_owner;
DROP TABLE watched;
RESET ROLE;
DROP ROLE conv_analyst;
SET ROLE conv_owner;

RESET ROLE;
SELECT count(*) AS log_rows FROM perfkit.convert_log;
DROP TABLE trips, no_key_ts, viewed CASCADE;
DROP TABLE triggered, referencing, referenced, fleets;
DROP FUNCTION noop();
DROP TABLE before, expected;
DELETE FROM perfkit.partition_config;
REVOKE CREATE ON SCHEMA public FROM conv_owner;
DROP ROLE conv_owner;
DROP ROLE conv_reader;
