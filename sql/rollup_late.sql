--
-- rollup_late: a change is never lost silently.  Late inserts, updates and
-- deletes 2 days, 2 months and 2 years old, on a plain and on a
-- partitioned source, for every granularity and a coarser rollup built on
-- a finer one, each compared with GROUP BY over the raw rows; writes
-- straight into partitions, COPY, MERGE, TRUNCATE of a partition, DETACH,
-- ATTACH, a partition created after the rollup; freezing, late_window;
-- time zone inheritance; the state table's indexes.
--
SET client_min_messages = warning;
SET timezone = 'UTC';

-- Ground truth: the rollup's view against GROUP BY over the raw rows, on
-- the buckets it has materialized.  Returns the rows that differ.
CREATE FUNCTION rollup_diff(r regclass, src regclass, g text, zone text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	gb text := format('SELECT date_trunc(%L, ts, %L) AS bucket, k, count(*) AS count, sum(v) AS sum_v, '
					  'avg(v) AS avg_v, min(v) AS min_v, max(v) AS max_v FROM %s '
					  'WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE "table" = %L::regclass) GROUP BY 1, 2',
					  g, zone, src, r);
BEGIN
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s EXCEPT %s) UNION ALL (%s EXCEPT SELECT * FROM %s)) x',
				   r, gb, gb, r) INTO n;
	RETURN n;
END
$$;

CREATE FUNCTION all_diffs() RETURNS TABLE (rollup text, differing bigint)
LANGUAGE sql AS $$
	SELECT r.name, rollup_diff(r."table", d.raw_source, r.granularity, r.timezone)
	FROM perfkit.rollups r JOIN perfkit.rollup_defs d ON d.rel = r."table"
	WHERE d.raw_source::text IN ('lt', 'pt')
	ORDER BY d.id
$$;

-- A plain source and a partitioned one (monthly partitions), 800 days of
-- hourly rows each.
CREATE TABLE lt (ts timestamptz NOT NULL, k int, v numeric);
CREATE TABLE pt (ts timestamptz NOT NULL, k int, v numeric) PARTITION BY RANGE (ts);
DO $$
DECLARE m timestamptz;
BEGIN
	FOR i IN -1 .. 27 LOOP
		m := date_trunc('month', now(), 'UTC') - i * interval '1 month';
		EXECUTE format('CREATE TABLE %I PARTITION OF pt FOR VALUES FROM (%L) TO (%L)',
					   'pt_m' || (i + 1), m, m + interval '1 month');
	END LOOP;
END
$$;
CREATE INDEX ON lt (ts);
CREATE INDEX ON pt (ts);
INSERT INTO lt SELECT now() - interval '800 days' + i * interval '1 hour', i % 5, i % 11
FROM generate_series(0, 800 * 24) i;
INSERT INTO pt SELECT * FROM lt;

-- Every granularity on each, in Europe/Berlin; a monthly rollup built on
-- each daily one, which inherits its time zone.
SELECT count(perfkit.create_rollup(s || '_' || g, s::regclass, 'ts', g, ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)', 'min(v)', 'max(v)'], 'Europe/Berlin')) AS created
FROM unnest(ARRAY['lt', 'pt']) s, unnest(ARRAY['minute', 'hour', 'day', 'week', 'month', 'quarter', 'year']) g;
SELECT perfkit.create_rollup('lt_day_month', 'lt_day', 'bucket', 'month', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)', 'min(v)', 'max(v)']) IS NOT NULL AS created;
SELECT perfkit.create_rollup('pt_day_month', 'pt_day', 'bucket', 'month', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)', 'min(v)', 'max(v)']) IS NOT NULL AS created;
SELECT name, timezone, late_window FROM perfkit.rollups WHERE name LIKE '%day_month';

-- A different zone for a coarser rollup is the error; the same one is fine.
SELECT perfkit.create_rollup('lt_day_year', 'lt_day', 'bucket', 'year', '{}', ARRAY['count(*)'], 'UTC');
SELECT perfkit.create_rollup('lt_day_year', 'lt_day', 'bucket', 'year', '{}', ARRAY['count(*)'],
	'Europe/Berlin') IS NOT NULL AS same_zone_ok;
SELECT perfkit.drop_rollup('lt_day_year');

CALL perfkit.refresh_rollups();
SELECT rollup, differing FROM all_diffs() WHERE differing <> 0;
SELECT count(*) AS rollups_exact FROM all_diffs() WHERE differing = 0;

-- Late inserts, updates and deletes, 2 days, 2 months and 2 years old, on
-- both sources (the partitioned one through its parent).
CREATE PROCEDURE late_changes(src regclass) LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO %s VALUES (now() - interval ''2 days'', 1, 1000), '
				   '(now() - interval ''2 months'', 7, 2000), (now() - interval ''2 years'', 8, 3000)', src);
	EXECUTE format('UPDATE %s SET v = v + 100 WHERE ts >= now() - interval ''2 days 3 hours'' AND ts < now() - interval ''2 days''', src);
	EXECUTE format('UPDATE %s SET v = v * 2, ts = ts - interval ''1 day'' WHERE ts >= now() - interval ''61 days'' AND ts < now() - interval ''60 days''', src);
	EXECUTE format('UPDATE %s SET k = k + 10 WHERE ts >= now() - interval ''731 days'' AND ts < now() - interval ''730 days''', src);
	EXECUTE format('DELETE FROM %s WHERE ts >= now() - interval ''3 days'' AND ts < now() - interval ''2 days 20 hours''', src);
	EXECUTE format('DELETE FROM %s WHERE ts >= now() - interval ''62 days'' AND ts < now() - interval ''61 days 12 hours''', src);
	EXECUTE format('DELETE FROM %s WHERE ts >= now() - interval ''732 days'' AND ts < now() - interval ''731 days 6 hours''', src);
END
$$;
CALL late_changes('lt');
CALL late_changes('pt');
SELECT count(*) FILTER (WHERE pending_buckets > 0) AS rollups_with_pending FROM perfkit.rollups
WHERE name ~ '^(lt|pt)_';
CALL perfkit.refresh_rollups();
SELECT rollup, differing FROM all_diffs() WHERE differing <> 0;
SELECT count(*) AS rollups_exact FROM all_diffs() WHERE differing = 0;
SELECT count(*) AS inexact FROM perfkit.rollup_inexact x JOIN perfkit.rollup_defs d ON d.id = x.rollup_id
WHERE d.raw_source IN ('lt'::regclass, 'pt'::regclass);

-- Every write path into the partitioned source: straight into a
-- partition (insert, update, delete), COPY into the parent and into a
-- partition, MERGE, TRUNCATE of a partition, DETACH PARTITION (its rows
-- leave the source), a partition created after the rollups and written
-- at once, and ATTACH PARTITION of a table with rows.
INSERT INTO pt_m3 SELECT ts - interval '1 hour', 4, 77 FROM pt_m3
WHERE k = 4 AND ts >= date_trunc('month', ts, 'UTC') + interval '1 hour' LIMIT 3;
UPDATE pt_m5 SET v = v + 1 WHERE k = 1;
DELETE FROM pt_m7 WHERE k = 2;
COPY (SELECT ts + interval '1 second', 6, 66 FROM pt_m10 WHERE k = 0 ORDER BY ts LIMIT 2) TO '/tmp/perfkit_rollup_late.tsv';
COPY pt FROM '/tmp/perfkit_rollup_late.tsv';
COPY pt_m10 FROM '/tmp/perfkit_rollup_late.tsv';
MERGE INTO pt USING (SELECT ts, k, v FROM pt_m12 WHERE k = 3 LIMIT 5) s ON pt.ts = s.ts AND pt.k = s.k
	WHEN MATCHED THEN UPDATE SET v = s.v + 500;
MERGE INTO pt USING (VALUES (now() - interval '300 days', 9, 9)) s(ts, k, v) ON false
	WHEN NOT MATCHED THEN INSERT VALUES (s.ts, s.k, s.v);
TRUNCATE pt_m14;
ALTER TABLE pt DETACH PARTITION pt_m16;
CREATE TABLE pt_old PARTITION OF pt FOR VALUES FROM ('2000-01-01') TO ('2001-01-01');
INSERT INTO pt_old VALUES ('2000-06-01 12:00+00', 1, 1), ('2000-06-02 12:00+00', 2, 2);
CREATE TABLE pt_att (LIKE pt);
INSERT INTO pt_att VALUES ('2001-06-01 12:00+00', 1, 1), ('2001-07-01 12:00+00', 2, 2);
ALTER TABLE pt ATTACH PARTITION pt_att FOR VALUES FROM ('2001-01-01') TO ('2002-01-01');
-- The detached table keeps no trigger; the new tables have them.
SELECT count(*) AS triggers_on_detached FROM pg_trigger WHERE tgrelid = 'pt_m16'::regclass AND tgname LIKE 'perfkit_rollup%';
SELECT c.relname, count(*) FILTER (WHERE t.tgname LIKE '%\_insert') AS insert_triggers,
	   count(*) FILTER (WHERE t.tgname LIKE '%\_truncate') AS truncate_triggers
FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid
WHERE c.relname IN ('pt_old', 'pt_att') GROUP BY 1 ORDER BY 1;
CALL perfkit.refresh_rollups();
SELECT rollup, differing FROM all_diffs() WHERE differing <> 0;
SELECT count(*) AS rollups_exact FROM all_diffs() WHERE differing = 0;
-- The rows of 2000 and 2001 are in the hourly rollup (ground truth).
SELECT count(*) AS old_rows FROM pt_hour WHERE bucket < '2002-01-01';

-- Freezing: freeze_rollup refreshes, then freezes the buckets before a
-- time.  Late inserts into frozen buckets are merged exactly; an update or
-- a delete there is counted, with its bucket, and the rollup keeps what
-- it had.
SELECT perfkit.freeze_rollup('lt_day', now() - interval '365 days') < now() - interval '364 days' AS frozen;
SELECT final_before > now() - interval '367 days' AS bound_moved FROM perfkit.rollups WHERE name = 'lt_day';
INSERT INTO lt VALUES (now() - interval '500 days', 4, 7), (now() - interval '500 days', 9, 7);
INSERT INTO lt SELECT now() - interval '400 days' - i * interval '1 day', 20 + i % 3, i FROM generate_series(1, 10) i;
CALL perfkit.refresh_rollups();
SELECT rollup_diff('lt_day', 'lt', 'day', 'Europe/Berlin') AS day_differing_after_merged_inserts;
SELECT rollup_diff('lt_day_month', 'lt', 'month', 'Europe/Berlin') AS month_differing;
SELECT inexact_changes FROM perfkit.rollups WHERE name = 'lt_day';
-- The merge statement is kept per session with the rollup's definition:
-- renamed after a merge, the state table is still found by the next one.
INSERT INTO lt VALUES (now() - interval '490 days', 4, 8);
ALTER TABLE lt_day_state RENAME TO lt_day_state_renamed;
INSERT INTO lt VALUES (now() - interval '480 days', 4, 8);
SELECT rollup_diff('lt_day', 'lt', 'day', 'Europe/Berlin') AS day_differing_after_rename;
ALTER TABLE lt_day_state_renamed RENAME TO lt_day_state;
UPDATE lt SET v = v + 1000 WHERE ts >= date_trunc('day', now() - interval '600 days', 'Europe/Berlin') + interval '10 hours'
	AND ts < date_trunc('day', now() - interval '600 days', 'Europe/Berlin') + interval '12 hours';
DELETE FROM lt WHERE ts >= date_trunc('day', now() - interval '450 days', 'Europe/Berlin') + interval '10 hours'
	AND ts < date_trunc('day', now() - interval '450 days', 'Europe/Berlin') + interval '11 hours';
CALL perfkit.refresh_rollups();
SELECT inexact_changes, cardinality(inexact_buckets) AS buckets,
	   inexact_buckets[1] = date_trunc('day', now() - interval '600 days', 'Europe/Berlin') AS first_bucket_named
FROM perfkit.rollups WHERE name = 'lt_day';
-- The two buckets differ from GROUP BY, reported; nothing else does.
SELECT rollup_diff('lt_day', 'lt', 'day', 'Europe/Berlin') AS day_differing_rows;
SELECT perfkit.acknowledge_rollup('lt_day') AS acknowledged;
SELECT inexact_changes, inexact_buckets FROM perfkit.rollups WHERE name = 'lt_day';
-- Frozen buckets are not recomputed, even changed: an explicit recompute
-- with include_final brings them back to the raw rows.
SELECT perfkit.refresh_rollup('lt_day', now() - interval '601 days', now() - interval '449 days', include_final => true) > 0 AS recomputed;
SELECT rollup_diff('lt_day', 'lt', 'day', 'Europe/Berlin') AS day_differing_rows;

-- late_window, opt-in: a change older than it is not recomputed, and is
-- counted the same way.
SELECT perfkit.create_rollup('lt_lw', 'lt', 'ts', 'day', ARRAY['k'],
	ARRAY['count(*)', 'sum(v)', 'avg(v)', 'min(v)', 'max(v)'], late_window => '30 days') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('lt_lw') > 0 AS refreshed;
INSERT INTO lt VALUES (now() - interval '10 days', 1, 5), (now() - interval '100 days', 1, 5);
SELECT perfkit.refresh_rollup('lt_lw') AS buckets;
SELECT inexact_changes, inexact_buckets[1] = date_trunc('day', now() - interval '100 days', 'UTC') AS bucket_named
FROM perfkit.rollups WHERE name = 'lt_lw';
SELECT rollup_diff('lt_lw', 'lt', 'day', 'UTC') AS differing_rows;

-- Both read shapes: the unique key (bucket, k) for a time range, the index
-- (k, bucket) for one value over time.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM pt_day_state WHERE bucket >= '2025-01-01' AND bucket < '2025-02-01';
EXPLAIN (COSTS OFF) SELECT * FROM pt_day_state WHERE k = 3 ORDER BY bucket;
RESET enable_seqscan;

DROP TABLE pt_m16;
SELECT count(perfkit.drop_rollup(name)) FROM perfkit.rollups WHERE name LIKE '%day_month';
SELECT count(perfkit.drop_rollup(name)) FROM perfkit.rollups WHERE name ~ '^(lt|pt)_';
SELECT count(*) AS triggers_left FROM pg_trigger
WHERE tgname LIKE 'perfkit_rollup%' AND tgrelid IN (SELECT relid FROM pg_partition_tree('pt') UNION SELECT 'lt'::regclass);
DROP TABLE lt, pt, pt_att;
