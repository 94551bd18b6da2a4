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
CALL perfkit.convert_to_partitioned('trips', 'km', '1 day');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.convert_to_partitioned('trips', 'nope', '1 day');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day 1 hour');
\echo :LAST_ERROR_SQLSTATE
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 0);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
CREATE TABLE no_key_ts (id int PRIMARY KEY, at timestamptz NOT NULL);
CALL perfkit.convert_to_partitioned('no_key_ts', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE viewed (at timestamptz NOT NULL);
CREATE VIEW viewed_v AS SELECT * FROM viewed;
CALL perfkit.convert_to_partitioned('viewed', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE triggered (at timestamptz NOT NULL);
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t BEFORE INSERT ON triggered FOR EACH ROW EXECUTE FUNCTION noop();
CALL perfkit.convert_to_partitioned('triggered', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE referenced (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE referencing (rid int REFERENCES referenced);
CALL perfkit.convert_to_partitioned('referenced', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CALL perfkit.convert_to_partitioned('fleets', 'id', '1 day');
\echo :LAST_ERROR_SQLSTATE
SET ROLE conv_reader;
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SET ROLE conv_owner;

-- Two batches, then a pause: the table is unchanged and writes go on.
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500, 2);
SELECT "table", new_table, "column", phase, rows_copied > 0 AS copying,
	   blocks_copied < blocks_total AS unfinished
FROM perfkit.conversion_progress;
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
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500, 3);
INSERT INTO trips (fleet, started_at, km) VALUES (2, now(), 1.5);
UPDATE trips SET km = km + 1 WHERE id % 50 = 0;
DELETE FROM trips WHERE id % 77 = 0;
CREATE TEMP TABLE expected AS SELECT * FROM trips;
CALL perfkit.convert_to_partitioned('trips', 'started_at', '1 day', 500);
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
