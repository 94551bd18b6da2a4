--
-- rollup_capture: inserts are captured by a BEFORE ... FOR EACH ROW
-- trigger (row mode) where what it sees is what is written, by an AFTER
-- statement trigger with a transition table otherwise; both exact.  Each
-- case is compared with GROUP BY over the raw rows.
--
SET client_min_messages = warning;
SET timezone = 'UTC';

-- The rollup's view against GROUP BY over the raw rows, below its
-- watermark: the number of rows that differ.
CREATE FUNCTION cap_diff(r regclass, src regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	gb text := format('SELECT date_trunc(''day'', ts, ''UTC'') AS bucket, k, count(*) AS count, '
					  'sum(v) AS sum_v FROM %s '
					  'WHERE ts < (SELECT watermark FROM perfkit.rollups WHERE "table" = %L::regclass) '
					  'GROUP BY 1, 2', src, r);
BEGIN
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s EXCEPT %s) UNION ALL (%s EXCEPT SELECT * FROM %s)) x',
				   r, gb, gb, r) INTO n;
	RETURN n;
END
$$;

-- How each table of a rollup's tree captures inserts.
CREATE FUNCTION cap_mode(r text) RETURNS TABLE (tbl text, mode text, enabled "char", clone boolean)
LANGUAGE sql AS $$
	SELECT t.tgrelid::regclass::text,
		   CASE WHEN t.tgtype::int & 3 = 3 THEN 'before row' WHEN t.tgtype::int & 1 = 0 THEN 'after statement' END,
		   t.tgenabled, t.tgparentid <> 0
	FROM pg_trigger t JOIN perfkit.rollup_defs d ON t.tgname = format('perfkit_rollup_%s_insert', d.id)
	WHERE d.rel = r::regclass
	ORDER BY 1
$$;

CREATE TABLE ct (ts timestamptz NOT NULL, k int, v numeric);
CREATE UNIQUE INDEX ON ct (ts, k);
INSERT INTO ct SELECT now() - interval '90 days' + i * interval '1 hour', i % 3, i % 7
FROM generate_series(0, 90 * 24 - 1) i;
SELECT perfkit.create_rollup('ct_daily', 'ct', 'ts', 'day', ARRAY['k'], ARRAY['count(*)', 'sum(v) AS sum_v']) IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('ct_daily') > 0 AS refreshed;
SELECT * FROM cap_mode('ct_daily');

-- Row mode: current rows, late rows 2 days, 2 months and 2 years old,
-- in one statement and in many, COPY, and ON CONFLICT DO NOTHING rows
-- that are not written (a bucket recomputed for nothing).
INSERT INTO ct VALUES (now(), 1, 1), (now() - interval '2 days', 1, 2),
	(now() - interval '2 months', 2, 3), (now() - interval '2 years', 0, 4);
INSERT INTO ct SELECT now() - i * interval '7 hours' - interval '1 minute', i % 3, 1 FROM generate_series(1, 200) i;
COPY ct FROM stdin;
2026-01-01 10:00:00+00	1	5
2025-06-15 08:30:00+00	2	6
\.
INSERT INTO ct SELECT ts, k, 100 FROM ct WHERE ts < now() - interval '30 days' LIMIT 50
ON CONFLICT DO NOTHING;
BEGIN;
INSERT INTO ct VALUES (now() - interval '40 days' + interval '1 second', 1, 9);
SAVEPOINT s;
INSERT INTO ct VALUES (now() - interval '41 days' + interval '1 second', 1, 9);
ROLLBACK TO s;
INSERT INTO ct VALUES (now() - interval '41 days' + interval '2 seconds', 2, 9);
COMMIT;
SELECT perfkit.refresh_rollup('ct_daily') >= 0 AS refreshed;
SELECT cap_diff('ct_daily', 'ct') AS differing;

-- ON CONFLICT DO UPDATE moving a row into another (late) bucket: the
-- UPDATE's statement trigger captures it.
INSERT INTO ct VALUES (now() - interval '2 days', 1, 2) ON CONFLICT (ts, k) DO UPDATE SET v = excluded.v + 1;
SELECT perfkit.refresh_rollup('ct_daily') >= 0 AS refreshed;
SELECT cap_diff('ct_daily', 'ct') AS differing;

-- A BEFORE ROW trigger of the user's that fires after perfkit's (name
-- order) and moves rows back 30 days: row mode could not see the row as
-- written, so inserts go back to the statement trigger.
CREATE FUNCTION shift_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.ts := NEW.ts - interval '30 days';
	RETURN NEW;
END
$$;
CREATE TRIGGER zz_shift BEFORE INSERT ON ct FOR EACH ROW EXECUTE FUNCTION shift_back();
SELECT * FROM cap_mode('ct_daily');
INSERT INTO ct VALUES (now() - interval '1 hour', 0, 50), (now() - interval '3 days', 1, 51);
SELECT perfkit.refresh_rollup('ct_daily') >= 0 AS refreshed;
SELECT cap_diff('ct_daily', 'ct') AS differing;
-- Renamed to fire before perfkit's: row mode again, and it sees the
-- shifted row.
ALTER TRIGGER zz_shift ON ct RENAME TO aa_shift;
SELECT * FROM cap_mode('ct_daily');
INSERT INTO ct VALUES (now() - interval '2 hours', 0, 52), (now() - interval '4 days', 2, 53);
SELECT perfkit.refresh_rollup('ct_daily') >= 0 AS refreshed;
SELECT cap_diff('ct_daily', 'ct') AS differing;
-- Disabled after perfkit's: does not count.
ALTER TRIGGER aa_shift ON ct RENAME TO zz_shift;
SELECT * FROM cap_mode('ct_daily');
ALTER TABLE ct DISABLE TRIGGER zz_shift;
SELECT * FROM cap_mode('ct_daily');
DROP TRIGGER zz_shift ON ct;

-- Frozen buckets: rows inserted there are merged into the state table,
-- which only a statement trigger (after the rows are written) may do.
SELECT perfkit.freeze_rollup('ct_daily', now() - interval '60 days') IS NOT NULL AS frozen;
SELECT * FROM cap_mode('ct_daily');
INSERT INTO ct VALUES (now() - interval '70 days' + interval '3 seconds', 1, 7), (now() - interval '1 day', 2, 8);
INSERT INTO ct VALUES (now() - interval '70 days' + interval '3 seconds', 1, 7) ON CONFLICT DO NOTHING;
SELECT perfkit.refresh_rollup('ct_daily') >= 0 AS refreshed;
SELECT cap_diff('ct_daily', 'ct') AS differing;

-- A partitioned source: the root's row trigger, cloned onto every
-- partition (enabled ALWAYS there too), and onto one made later.
CREATE TABLE cp (ts timestamptz NOT NULL, k int, v numeric) PARTITION BY RANGE (ts);
CREATE TABLE cp_old PARTITION OF cp FOR VALUES FROM ('2000-01-01') TO ('2026-11-01');
CREATE TABLE cp_new PARTITION OF cp FOR VALUES FROM ('2026-11-01') TO ('2027-01-01');
INSERT INTO cp SELECT '2026-12-02'::timestamptz - i * interval '5 hours', i % 3, i % 5 FROM generate_series(0, 400) i;
SELECT perfkit.create_rollup('cp_daily', 'cp', 'ts', 'day', ARRAY['k'], ARRAY['count(*)', 'sum(v) AS sum_v']) IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('cp_daily') > 0 AS refreshed;
SELECT * FROM cap_mode('cp_daily');
-- late rows through the root, straight into a partition, and into a
-- partition created after the rollup
INSERT INTO cp VALUES ('2026-10-03 04:00', 1, 10), ('2026-11-10 05:00', 2, 11);
INSERT INTO cp_old VALUES ('2026-09-03 04:00', 0, 12);
INSERT INTO cp_new VALUES ('2026-11-11 05:00', 2, 13);
CREATE TABLE cp_future PARTITION OF cp FOR VALUES FROM ('2027-01-01') TO ('2027-02-01');
SELECT * FROM cap_mode('cp_daily');
INSERT INTO cp_future VALUES ('2027-01-05', 1, 14);
SELECT perfkit.refresh_rollup('cp_daily') >= 0 AS refreshed;
SELECT cap_diff('cp_daily', 'cp') AS differing;
-- a user's BEFORE ROW trigger on one partition, after perfkit's: the
-- whole tree goes to statement mode (and back when it goes)
CREATE TRIGGER zz_shift BEFORE INSERT ON cp_old FOR EACH ROW EXECUTE FUNCTION shift_back();
SELECT * FROM cap_mode('cp_daily');
INSERT INTO cp VALUES ('2026-10-20 04:00', 1, 15);
SELECT perfkit.refresh_rollup('cp_daily') >= 0 AS refreshed;
SELECT cap_diff('cp_daily', 'cp') AS differing;
DROP TRIGGER zz_shift ON cp_old;
ALTER TABLE cp ALTER COLUMN v SET STATISTICS 100;	-- any ALTER TABLE brings it back
SELECT * FROM cap_mode('cp_daily');
-- DETACH: the rows leave the source (the clone goes with the partition)
ALTER TABLE cp DETACH PARTITION cp_new;
SELECT perfkit.refresh_rollup('cp_daily') >= 0 AS refreshed;
SELECT cap_diff('cp_daily', 'cp') AS differing;
SELECT count(*) AS triggers_left_on_detached FROM pg_trigger WHERE tgrelid = 'cp_new'::regclass AND tgname LIKE 'perfkit%';

-- A generated time column is computed after BEFORE triggers: statement mode.
CREATE TABLE cg (epoch float8 NOT NULL, ts timestamptz GENERATED ALWAYS AS (to_timestamp(epoch)) STORED,
				 k int, v numeric);
SELECT perfkit.create_rollup('cg_daily', 'cg', 'ts', 'day', ARRAY['k'], ARRAY['count(*)', 'sum(v) AS sum_v']) IS NOT NULL AS created;
SELECT * FROM cap_mode('cg_daily');
INSERT INTO cg (epoch, k, v) SELECT extract(epoch FROM now() - i * interval '9 hours'), i % 2, 1 FROM generate_series(1, 50) i;
SELECT perfkit.refresh_rollup('cg_daily') > 0 AS refreshed;
INSERT INTO cg (epoch, k, v) VALUES (extract(epoch FROM now() - interval '5 days'), 1, 3);
SELECT perfkit.refresh_rollup('cg_daily') >= 0 AS refreshed;
SELECT cap_diff('cg_daily', 'cg') AS differing;

-- Dropping the rollups leaves no trigger behind (clones included).
SELECT perfkit.drop_rollup('cp_daily');
SELECT perfkit.drop_rollup('ct_daily');
SELECT perfkit.drop_rollup('cg_daily');
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgfoid = 'perfkit._rollup_capture()'::regprocedure
  AND tgrelid::regclass::text IN ('ct', 'cp', 'cp_old', 'cp_new', 'cp_future', 'cg');
DROP TABLE ct, cp, cp_new, cg;
DROP FUNCTION shift_back(), cap_diff(regclass, regclass), cap_mode(text);
