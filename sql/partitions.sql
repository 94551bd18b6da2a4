--
-- partitions: partition_table(), run_maintenance(), set_retention(), the
-- default partition drained, the views, and every error.  Dates depend on
-- the day the test runs, so results are compared with what they must be
-- rather than printed.
--
SET timezone = 'UTC';
SET client_min_messages = warning;

-- The suffix of the partition n slots after the current one.
CREATE FUNCTION pg_temp.month(n int) RETURNS text LANGUAGE sql AS $$
	SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + n * interval '1 month', 'YYYYMMDD')
$$;
-- Runs a statement whose text depends on the date (\gexec would print it).
CREATE FUNCTION pg_temp.run(sql text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 1;
END $$;
CREATE FUNCTION pg_temp.parts(tbl regclass) RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(partition::text ORDER BY ord) FROM perfkit._partitions()
	WHERE parent = tbl AND NOT is_default
$$;

CREATE TABLE readings (
	id bigint GENERATED ALWAYS AS IDENTITY,
	vehicle int NOT NULL,
	at timestamptz NOT NULL,
	value real CHECK (value >= 0),
	PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX ON readings (vehicle, at);

-- Bad input.
SELECT perfkit.partition_table(NULL, 'at', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'nope', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'vehicle', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'at', '1 day 2 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'at', '90 minutes');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'at', '-1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('readings', 'at', '1 month', -1);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE plain (at timestamptz);
SELECT perfkit.partition_table('plain', 'at', '1 month');
\echo :LAST_ERROR_SQLSTATE
-- A new user's table with a surrogate key: the hint names the way out.
CREATE TABLE plain_keyed (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
SELECT perfkit.partition_table('plain_keyed', 'at', '1 month');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE plain_keyed;
CREATE TABLE by_list (at timestamptz, kind text) PARTITION BY LIST (kind);
SELECT perfkit.partition_table('by_list', 'at', '1 month');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_int (n int, at timestamptz) PARTITION BY RANGE (n);
SELECT perfkit.partition_table('by_int', 'n', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.partition_table('by_int', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_date (d date NOT NULL, n int) PARTITION BY RANGE (d);
SELECT perfkit.partition_table('by_date', 'd', '6 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.set_retention('readings', '1 year');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.run_maintenance('readings');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM perfkit.partition_config;

-- A monthly set from two months ago: 2 past, the current one, 4 ahead,
-- and a default partition.
SELECT perfkit.partition_table('readings', 'at', '1 month', 4,
							   date_trunc('month', now()) - interval '2 months') AS created;
SELECT pg_temp.parts('readings') = ARRAY(SELECT 'readings_p' || pg_temp.month(n)
										 FROM generate_series(-2, 4) n) AS names_as_expected;
SELECT partition, is_default, range_start IS NULL AS unbounded FROM perfkit.partitions
WHERE parent = 'readings'::regclass AND is_default;
SELECT range_start = to_char(date_trunc('month', now()), 'YYYY-MM-DD HH24:MI:SS') || '+00'
	   AND range_end = to_char(date_trunc('month', now()) + interval '1 month',
							   'YYYY-MM-DD HH24:MI:SS') || '+00' AS current_bounds
FROM perfkit.partitions WHERE partition::text = 'readings_p' || pg_temp.month(0);

-- Indexes, the primary key and CHECK constraints of the parent are on
-- every partition perfkit made.
SELECT p.partition::text ~ '^readings_p' AS partition,
	   count(i.indexrelid) AS indexes,
	   bool_or(i.indisprimary) AS has_primary_key,
	   (SELECT count(*) FROM pg_constraint c WHERE c.conrelid = p.partition AND c.contype = 'c')
		 AS checks
FROM perfkit.partitions p LEFT JOIN pg_index i ON i.indrelid = p.partition
WHERE p.parent = 'readings'::regclass AND NOT p.is_default
GROUP BY p.partition ORDER BY p.partition LIMIT 1;
SELECT count(*) AS partitions_missing_an_index
FROM perfkit.partitions p
WHERE p.parent = 'readings'::regclass
  AND (SELECT count(*) FROM pg_index i WHERE i.indrelid = p.partition) <> 2;

-- Running again does nothing; so does a third time.
SELECT status, created, moved, retired, kept, detail FROM perfkit.run_maintenance('readings');
CREATE TEMP TABLE before AS SELECT pg_temp.parts('readings') AS p;
SELECT status, created FROM perfkit.run_maintenance('readings');
SELECT pg_temp.parts('readings') = (SELECT p FROM before) AS unchanged;

-- A gap is filled, with the same name and bounds.
SELECT sum(pg_temp.run(format('DROP TABLE %I', 'readings_p' || pg_temp.month(-1)))) AS statements_run;
SELECT status, created FROM perfkit.run_maintenance('readings');
SELECT pg_temp.parts('readings') = (SELECT p FROM before) AS gap_filled;
-- A partition detached and attached again with a shorter range leaves a
-- gap that the next run sees (runs with nothing to do take a fast path
-- that compares the partitions with those the last full run saw).
SELECT status, created FROM perfkit.run_maintenance('readings');
SELECT sum(pg_temp.run(format('ALTER TABLE readings DETACH PARTITION %I', 'readings_p' || pg_temp.month(4)))) AS statements_run;
SELECT sum(pg_temp.run(format('ALTER TABLE readings ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
			  'readings_p' || pg_temp.month(4),
			  date_trunc('month', now()) + interval '4 months',
			  date_trunc('month', now()) + interval '4 months 10 days'))) AS statements_run;
SELECT status, created FROM perfkit.run_maintenance('readings');
SELECT partition::text = 'readings_p' || to_char(date_trunc('month', now()) + interval '4 months 10 days', 'YYYYMMDD')
	   AS rest_of_month, range_end::timestamptz = date_trunc('month', now()) + interval '5 months' AS ends_with_month
FROM perfkit.partitions WHERE parent = 'readings'::regclass AND NOT is_default
ORDER BY range_start::timestamptz DESC LIMIT 1;
SELECT sum(pg_temp.run(format('DROP TABLE %I', partition))) AS statements_run
FROM (SELECT partition FROM perfkit.partitions WHERE parent = 'readings'::regclass AND NOT is_default
	  ORDER BY range_start::timestamptz DESC LIMIT 2) p;
SELECT status, created FROM perfkit.run_maintenance('readings');
SELECT pg_temp.parts('readings') = (SELECT p FROM before) AS whole_month_again;

-- Rows in the default partition are moved into partitions made for them,
-- far in the past and far ahead, and nothing is lost or doubled.
INSERT INTO readings (vehicle, at, value)
SELECT g % 10, date_trunc('month', now()) + interval '2 months' + g * interval '1 minute', g
FROM generate_series(1, 1000) g;
INSERT INTO readings (vehicle, at, value)
SELECT g % 10, date_trunc('month', now()) + interval '2 years' + g * interval '1 day', g
FROM generate_series(1, 40) g;
INSERT INTO readings (vehicle, at, value)
SELECT g % 10, date_trunc('month', now()) - interval '5 years' + g * interval '1 hour', g
FROM generate_series(1, 10) g;
SELECT count(*) AS in_default FROM ONLY readings_default;
CREATE TEMP TABLE sums AS
SELECT count(*) AS n, sum(hashtext(r::text)) AS checksum FROM readings r;
SELECT "table", partitions, rows_in_default FROM perfkit.partition_sets;
SELECT status, created, moved, retired, kept FROM perfkit.run_maintenance('readings');
SELECT count(*) AS in_default FROM ONLY readings_default;
SELECT (SELECT n FROM sums) = count(*) AS same_count,
	   (SELECT checksum FROM sums) = sum(hashtext(r::text)) AS same_checksum,
	   count(DISTINCT id) = count(*) AS no_duplicates
FROM readings r;
-- Every row sits in the partition whose range holds it.
SELECT count(*) AS misplaced FROM readings r
JOIN perfkit.partitions p ON p.partition = r.tableoid
WHERE p.is_default OR r.at < p.range_start::timestamptz OR r.at >= p.range_end::timestamptz;
-- The gap between the premade partitions and the ones made two years
-- ahead is filled; the one five years back stands alone.
SELECT count(*) AS partitions, min(range_start) < to_char(now() - interval '4 years', 'YYYY') AS oldest_is_old
FROM perfkit.partitions WHERE parent = 'readings'::regclass AND NOT is_default;
SELECT status, created, moved FROM perfkit.run_maintenance('readings');
-- A NULL or infinite key has no partition: such a row stays in the default.
INSERT INTO readings (vehicle, at, value) VALUES (1, 'infinity', 1);
SELECT status, created, moved FROM perfkit.run_maintenance('readings');
SELECT rows_in_default FROM perfkit.partition_sets WHERE "table" = 'readings'::regclass;
DELETE FROM readings WHERE at = 'infinity';

-- Partitions of a set whose table has no default partition, hourly, on a
-- timestamp without time zone: names carry the hour.
CREATE TABLE ticks (at timestamp NOT NULL, n int) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('ticks', 'at', '1 hour', 2, start => now() - interval '3 hours',
							   default_partition => false) AS created;
SELECT count(*) AS partitions, bool_and(partition::text ~ '^ticks_p[0-9]{8}_[0-9]{4}$') AS hourly_names,
	   bool_or(is_default) AS has_default
FROM perfkit.partitions WHERE parent = 'ticks'::regclass;
SELECT partition::text = 'ticks_p' || to_char(date_trunc('hour', localtimestamp), 'YYYYMMDD_HH24MI')
	   AS current_hour_name
FROM perfkit.partitions WHERE parent = 'ticks'::regclass ORDER BY range_start OFFSET 3 LIMIT 1;
INSERT INTO ticks SELECT localtimestamp, 1;

-- A date key, weekly partitions aligned on Mondays, with a BRIN index on
-- the key offered for append-only tables.
SELECT perfkit.partition_table('by_date', 'd', '7 days', 1, brin => true) AS created;
SELECT bool_and(extract(isodow FROM range_start::date) = 1) AS mondays,
	   bool_and(range_end::date - range_start::date = 7) AS weeks
FROM perfkit.partitions WHERE parent = 'by_date'::regclass AND NOT is_default;
SELECT count(*) FILTER (WHERE a.amname = 'brin') AS brin_indexes, count(*) AS relations
FROM perfkit.partitions p
JOIN pg_index i ON i.indrelid = p.partition
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE p.parent = 'by_date'::regclass;
-- Re-registering changes the settings and keeps the partitions.
SELECT perfkit.partition_table('by_date', 'd', '7 days', 3, brin => true) AS created;
SELECT "interval", premake, partitions FROM perfkit.partition_sets WHERE "table" = 'by_date'::regclass;
-- Re-calling with some arguments changes only those: start, the default
-- partition and brin keep their values (start moves only when given).
CREATE TABLE recall (at timestamp NOT NULL, n int) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('recall', 'at', '1 hour', 2, start => now() - interval '3 hours',
							   default_partition => false, brin => true) AS created;
CREATE TEMP TABLE recall_before AS
SELECT start, premake, default_partition, brin FROM perfkit.partition_config WHERE parent = 'recall'::regclass;
SELECT perfkit.partition_table('recall', 'at', '1 hour', premake => 3) AS created;
SELECT c.start = b.start AS start_kept, c.premake AS premake,
	   NOT c.default_partition AS no_default_kept, c.brin AS brin_kept,
	   (SELECT count(*) FROM perfkit.partitions WHERE parent = 'recall'::regclass AND is_default) AS defaults
FROM perfkit.partition_config c, recall_before b WHERE c.parent = 'recall'::regclass;
-- Moving start on purpose: give it.
SELECT perfkit.partition_table('recall', 'at', '1 hour', start => now() - interval '5 hours') AS created;
SELECT c.start < b.start AS start_moved, c.premake FROM perfkit.partition_config c, recall_before b
WHERE c.parent = 'recall'::regclass;
DROP TABLE recall_before;
DROP TABLE recall;
DELETE FROM perfkit.partition_config WHERE parent::oid NOT IN (SELECT oid FROM pg_class);

-- Retention.
SELECT perfkit.set_retention('readings', '1 month', 'shred');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.set_retention('readings', '-1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.set_retention('readings', '1 month', 'detach', true, 'no_such_schema');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.set_retention('readings', '1 month', 'drop', true, 'public');
\echo :LAST_ERROR_SQLSTATE
CREATE SCHEMA archive;
-- Detach into an archive schema: everything that ended a month ago goes
-- (the five-year-old partition, and the two months before this one).
SELECT perfkit.set_retention('readings', '1 month', 'detach', true, 'archive');
CREATE TEMP TABLE old_parts AS
SELECT partition::text AS name FROM perfkit.partitions
WHERE parent = 'readings'::regclass AND NOT is_default
  AND range_end::timestamptz <= now() - interval '1 month';
SELECT count(*) AS past_retention FROM old_parts;
SELECT status, created, retired, kept FROM perfkit.run_maintenance('readings');
SELECT count(*) AS detached_into_archive FROM pg_class c JOIN old_parts o ON o.name = c.relname
WHERE c.relnamespace = 'archive'::regnamespace AND NOT c.relispartition;
SELECT (SELECT n FROM sums) - count(*) AS rows_retired_with_them FROM readings;
-- The retired range is not made again.
SELECT status, created, retired FROM perfkit.run_maintenance('readings');
SELECT retention, retention_mode, archive_schema, require_rollups FROM perfkit.partition_sets
WHERE "table" = 'readings'::regclass;

-- A rollup that is not final keeps a partition, and says why.
-- (perfkit.rollup_blockers() is replaced for this transaction only.)
BEGIN;
CREATE OR REPLACE FUNCTION perfkit.rollup_blockers(tbl regclass, range_start timestamptz,
	range_end timestamptz) RETURNS TABLE (rollup text, reason text)
LANGUAGE sql STABLE AS $$ SELECT 'hourly_speed', 'bucket not final' $$;
SELECT perfkit.set_retention('ticks', '1 hour', 'drop');
SELECT status, retired, kept, detail ~ '^ticks_p[0-9_]+ kept: rollup hourly_speed: bucket not final' AS detail
FROM perfkit.run_maintenance('ticks');
SELECT retention_kept IS NOT NULL AS reason_shown FROM perfkit.partition_sets WHERE "table" = 'ticks'::regclass;
-- Without require_rollups, the same partitions are dropped.
SELECT perfkit.set_retention('ticks', '1 hour', 'drop', false);
SELECT status, retired, kept FROM perfkit.run_maintenance('ticks');
SELECT count(*) AS partitions_left FROM perfkit.partitions WHERE parent = 'ticks'::regclass;
ROLLBACK;
-- Retention you can see before it acts.  Daily partitions, most rows in
-- the old ones: keep '1 day' (a typo for '1 year') in drop mode would
-- drop 9 partitions, 8010 of 8030 rows; more than
-- perfkit.retention_drop_max_share (50%): the run drops nothing, and
-- set_retention() says so at once.
CREATE TABLE ret_events (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('ret_events', 'at', '1 day', 1, start => date_trunc('day', now()) - interval '10 days') AS created;
INSERT INTO ret_events
SELECT date_trunc('day', now()) - d * interval '1 day' + g * interval '1 second', g
FROM generate_series(3, 10) d, generate_series(1, 1000) g;
INSERT INTO ret_events
SELECT date_trunc('day', now()) - d * interval '1 day' + g * interval '1 minute', g
FROM generate_series(0, 2) d, generate_series(1, 10) g;
SET client_min_messages = notice;
SELECT perfkit.set_retention('ret_events', '1 day', 'drop');
SET client_min_messages = warning;
-- The preview against the ground truth: the partitions whose range ended
-- a day ago, their exact rows.
CREATE TEMP TABLE preview AS SELECT * FROM perfkit.retention_preview('ret_events');
SELECT count(*) AS partitions, sum(rows_estimate) AS rows, bool_and(action = 'keep') AS all_kept,
	   bool_and(mode = 'drop') AS drop_mode, min(blocked_by) AS blocked_by
FROM preview;
SELECT count(*) AS mismatches FROM (
	(SELECT partition, range_start, range_end FROM preview
	 EXCEPT SELECT partition, range_start, range_end FROM perfkit.partitions
	 WHERE parent = 'ret_events'::regclass AND NOT is_default AND range_end::timestamptz <= now() - interval '1 day')
	UNION ALL
	(SELECT partition, range_start, range_end FROM perfkit.partitions
	 WHERE parent = 'ret_events'::regclass AND NOT is_default AND range_end::timestamptz <= now() - interval '1 day'
	 EXCEPT SELECT partition, range_start, range_end FROM preview)) x;
SELECT count(*) AS wrong_estimates FROM preview p
WHERE p.rows_estimate <> (SELECT count(*) FROM ret_events e WHERE e.tableoid = p.partition);
-- The run does what the preview said: nothing dropped, all kept.
SELECT status, retired, kept, detail ~ 'exceeds perfkit.retention_drop_max_share' AS says_why
FROM perfkit.run_maintenance('ret_events');
SELECT count(*) AS rows FROM ret_events;
-- A share below the threshold (8 days: two partitions, 2000 rows) drops.
SET client_min_messages = notice;
\set VERBOSITY terse
SELECT perfkit.set_retention('ret_events', '8 days', 'drop');
\set VERBOSITY default
SET client_min_messages = warning;
TRUNCATE preview;
INSERT INTO preview SELECT * FROM perfkit.retention_preview('ret_events');
SELECT count(*) AS partitions, sum(rows_estimate) AS rows, bool_and(action = 'drop') AS all_dropped FROM preview;
SELECT status, retired, kept FROM perfkit.run_maintenance('ret_events');
SELECT count(*) AS previewed_left FROM preview p WHERE to_regclass(p.partition::text) IS NOT NULL;
SELECT count(*) AS rows, (SELECT count(*) FROM preview) AS previewed FROM ret_events;
-- force => true lets one run drop past the share, then is used up.
SET client_min_messages = notice;
\set VERBOSITY terse
SELECT perfkit.set_retention('ret_events', '1 day', 'drop', force => true);
\set VERBOSITY default
SET client_min_messages = warning;
SELECT count(*) AS partitions, sum(rows_estimate) AS rows, bool_and(action = 'drop') AS all_dropped
FROM perfkit.retention_preview('ret_events');
SELECT status, retired, kept FROM perfkit.run_maintenance('ret_events');
SELECT count(*) AS rows FROM ret_events;
SELECT retention_force FROM perfkit.partition_config WHERE parent = 'ret_events'::regclass;
DROP TABLE ret_events, preview;
DELETE FROM perfkit.partition_config WHERE parent::oid NOT IN (SELECT oid FROM pg_class);

-- A NULL keep removes the policy.
SELECT perfkit.set_retention('ticks', NULL);
SELECT retention IS NULL AS no_retention FROM perfkit.partition_sets WHERE "table" = 'ticks'::regclass;

-- One table's failure is recorded and does not stop the others: a table
-- already has the name of the partition ticks needs next.
SELECT sum(pg_temp.run(format('DROP TABLE %I', partition))) AS statements_run
FROM (SELECT partition FROM perfkit.partitions WHERE parent = 'ticks'::regclass
	  ORDER BY range_start DESC LIMIT 1) p;
SELECT sum(pg_temp.run(format('CREATE TABLE %I (x int)',
			  'ticks_p' || to_char(date_trunc('hour', localtimestamp) + interval '2 hours',
								   'YYYYMMDD_HH24MI')))) AS statements_run;
SELECT partitioned_table, status, created,
	   regexp_replace(regexp_replace(detail, '[0-9]{8}_[0-9]{4}', 'X', 'g'), '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}', 'T', 'g') AS detail
FROM perfkit.run_maintenance() ORDER BY 1::text;
SELECT "table", last_status, last_error IS NOT NULL AS has_error, last_run IS NOT NULL AS ran
FROM perfkit.partition_sets;
-- The job does the same, commits after each table, and reports the failure.
\set VERBOSITY terse
CALL perfkit.run_maintenance_job();
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT sum(pg_temp.run(format('DROP TABLE %I',
			  'ticks_p' || to_char(date_trunc('hour', localtimestamp) + interval '2 hours',
								   'YYYYMMDD_HH24MI')))) AS statements_run;
CALL perfkit.run_maintenance_job();
SELECT "table", last_status, last_error FROM perfkit.partition_sets;
SELECT job, command FROM perfkit.job_registry WHERE job = 'partitions';
CALL perfkit.run_job('partitions');
SELECT last_status FROM perfkit.jobs WHERE job = 'partitions';

-- Ownership: a role manages its own tables only.
CREATE ROLE part_owner;
CREATE ROLE part_other;
GRANT CREATE ON SCHEMA public TO part_owner, part_other;
SET ROLE part_owner;
CREATE TABLE mine (at timestamptz NOT NULL) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('mine', 'at', '1 day', 1) AS created;
SELECT perfkit.partition_table('readings', 'at', '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.set_retention('readings', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.run_maintenance('readings');
\echo :LAST_ERROR_SQLSTATE
-- With no table named, only the caller's own tables are run.
SELECT partitioned_table, status FROM perfkit.run_maintenance();
INSERT INTO perfkit.partition_config (parent, column_name, every, premake)
VALUES ('mine', 'at', '1 day', 1);
\echo :LAST_ERROR_SQLSTATE
SET ROLE part_other;
SELECT perfkit.partition_table('mine', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM perfkit.run_maintenance('mine');
\echo :LAST_ERROR_SQLSTATE
SELECT partitioned_table FROM perfkit.run_maintenance();
SELECT "table", rows_in_default FROM perfkit.partition_sets WHERE "table" = 'mine'::regclass;
RESET ROLE;
-- Partitions belong to the parent's owner even when a superuser made them.
SELECT count(*) AS partitions, bool_and(c.relowner = 'part_owner'::regrole) AS owned
FROM perfkit.partitions p JOIN pg_class c ON c.oid = p.partition
WHERE p.parent = 'mine'::regclass;
SELECT partitioned_table, status FROM perfkit.run_maintenance('mine');

-- Clean up.
DROP TABLE readings, ticks, by_date, by_int, by_list, plain, mine;
DROP SCHEMA archive CASCADE;
DELETE FROM perfkit.partition_config;
REVOKE CREATE ON SCHEMA public FROM part_owner, part_other;
DROP ROLE part_owner;
DROP ROLE part_other;
