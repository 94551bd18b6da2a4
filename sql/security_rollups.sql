--
-- security_rollups: attacks on rollups by a plain role (issue 12).  sec_alice
-- owns a rollup; sec_mallory, a plain LOGIN role, tries to recompute it,
-- lock it, forge or delete its catalog rows and lock the catalogs.  Each
-- attack must fail with 42501 and leave alice's rollup equal to GROUP BY
-- over her raw rows (or, for final buckets whose raw rows she retired, as
-- they were).
--
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) x', a, b, b, a) INTO n;
	RETURN n;
END $$;

CREATE ROLE sec_alice LOGIN;
CREATE ROLE sec_mallory LOGIN;
GRANT CREATE ON SCHEMA public TO sec_alice, sec_mallory;

-- alice's readings: 30 a day in April 2024; she freezes April 1st.
SET ROLE sec_alice;
CREATE TABLE sec_readings (ts timestamptz NOT NULL, site text, v int);
INSERT INTO sec_readings
SELECT timestamptz '2024-04-01' + i * interval '48 minutes', 's' || i % 2, i % 7
FROM generate_series(0, 30 * 30 - 1) i;
SELECT perfkit.create_rollup('sec_daily', 'sec_readings', 'ts', 'day', ARRAY['site'],
	ARRAY['count(*)', 'sum(v)']) IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('sec_daily') > 0 AS refreshed;
SELECT perfkit.freeze_rollup('sec_daily', '2024-04-02') = '2024-04-02' AS frozen;
-- she retires the raw rows of April 1st's morning: that day is final and
-- keeps its numbers
CREATE TABLE sec_kept AS SELECT * FROM sec_daily;
DELETE FROM sec_readings WHERE ts < '2024-04-01 12:00';
RESET ROLE;

SELECT final_before >= '2024-04-02' AS april_1_final FROM perfkit.rollups WHERE name = 'sec_daily';
SELECT id AS alice_id FROM perfkit.rollup_defs WHERE rel = 'sec_daily'::regclass \gset

\set VERBOSITY sqlstate
SET ROLE sec_mallory;

-- Item 3: refreshing alice's rollup (here: recomputing her final buckets,
-- whose raw rows are gone) and holding her refresh and advance locks.
SELECT * FROM perfkit._rollup_refresh_as_owner(:alice_id, '2024-04-01', '2024-05-01', NULL, true);
SELECT perfkit.refresh_rollup('sec_daily', '2024-04-01', '2024-05-01', true);
BEGIN;
SELECT perfkit._rollup_lock(:alice_id, false);
ROLLBACK;
BEGIN;
SELECT perfkit._rollup_advance_lock(:alice_id);
ROLLBACK;

-- Item 4: forged catalog rows.  A row pointing raw_source at alice's
-- table (blocks her retention), live_view at her view (a superuser's
-- drop_rollup would drop it), rows with chosen ids (squatting).
CREATE TABLE sec_mine (ts timestamptz NOT NULL);
CREATE VIEW sec_mine_v AS SELECT * FROM sec_mine;
INSERT INTO perfkit.rollup_defs (id, rel, state_table, live_view, source, raw_source, time_column,
	time_type, granularity, timezone, dimensions, depth, late_window, owner)
VALUES (:alice_id + 1, 'sec_mine_v', 'sec_mine', 'sec_daily_live', 'sec_readings', 'sec_readings',
	'ts', 'timestamptz', 'day', 'UTC', '{}', 0, '0', 'sec_mallory');
UPDATE perfkit.rollup_defs SET final_before = '-infinity' WHERE id = :alice_id;
DELETE FROM perfkit.rollup_defs WHERE id = :alice_id;
INSERT INTO perfkit.rollup_measures SELECT * FROM perfkit.rollup_measures WHERE rollup_id = :alice_id;
DELETE FROM perfkit.rollup_measures WHERE rollup_id = :alice_id;
SELECT nextval('perfkit.rollup_id_seq');
SELECT setval('perfkit.rollup_id_seq', 1000);
-- ... nor through the registration function, with a chosen id or with an
-- id she drew but naming alice's relations
SELECT perfkit._rollup_register(ROW(:alice_id + 1, 'sec_mine_v', 'sec_mine', 'sec_daily_live',
	'sec_readings', NULL, 'sec_readings', 'ts', 'timestamptz', 'day', 'UTC', '{}', 0, '0',
	'sec_mallory', NULL, NULL, NULL, now(), 0, NULL, NULL, NULL, NULL, NULL, NULL)::perfkit.rollup_defs,
	'{}');
SELECT perfkit._rollup_next_id() AS drawn \gset
SELECT perfkit._rollup_register(ROW(:drawn, 'sec_mine_v', 'sec_mine', 'sec_daily_live',
	'sec_readings', NULL, 'sec_readings', 'ts', 'timestamptz', 'day', 'UTC', '{}', 0, '0',
	'sec_mallory', NULL, NULL, NULL, now(), 0, NULL, NULL, NULL, NULL, NULL, NULL)::perfkit.rollup_defs,
	'{}');
-- ... nor the functions a refresh writes the catalogs with
SELECT perfkit._rollup_save(:alice_id, NULL, NULL, NULL, NULL, 0, 0);
SELECT perfkit._rollup_claim_changes(:alice_id, 100);
SELECT perfkit._rollup_prune_changes(:alice_id, NULL, NULL, NULL);
SELECT perfkit._rollup_freeze_to(:alice_id, '2024-05-01', false);
SELECT perfkit._rollup_log_buckets(:alice_id, ARRAY[timestamptz '2024-04-03'], true);
SELECT perfkit.acknowledge_rollup('sec_daily');
SELECT perfkit.freeze_rollup('sec_daily', '2024-05-01');
SELECT perfkit._rollup_log_descendants(:alice_id, ARRAY[now()]);
SELECT perfkit._rollup_unregister(:alice_id);
SELECT perfkit.drop_rollup('sec_daily');
-- forged or deleted change rows
INSERT INTO perfkit.rollup_changes VALUES (:alice_id, '2024-04-01');
DELETE FROM perfkit.rollup_changes WHERE rollup_id = :alice_id;
-- ... nor through a capture trigger of her own carrying alice's rollup id
CREATE TRIGGER sec_forge AFTER INSERT ON sec_mine REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION perfkit._rollup_capture(:'alice_id', 'ts', 'day', 'UTC');
INSERT INTO sec_mine VALUES ('2024-04-01 12:00');
DROP TRIGGER sec_forge ON sec_mine;
-- ... nor through a row trigger (perfkit's row mode) carrying it
CREATE TRIGGER sec_forge BEFORE INSERT ON sec_mine
	FOR EACH ROW EXECUTE FUNCTION perfkit._rollup_capture(:'alice_id', 'ts', 'day', 'UTC');
INSERT INTO sec_mine VALUES ('2024-04-01 12:00');
-- the job's step is not hers to run
SELECT perfkit._rollup_job_step(:alice_id);

-- Item 5: locks that would stall every writer of a rollup source (the
-- capture trigger's insert) and every reader of a live view.
BEGIN;
LOCK TABLE perfkit.rollup_changes IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE perfkit.rollup_changes IN SHARE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE perfkit.rollup_changes IN ROW EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE perfkit.rollup_defs IN EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE perfkit.rollup_measures IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
SELECT id FROM perfkit.rollup_defs FOR UPDATE;
ROLLBACK;
BEGIN;
LOCK TABLE perfkit.rollup_changes IN ACCESS SHARE MODE;	-- reading is allowed
ROLLBACK;
DROP TRIGGER sec_forge ON sec_mine;
RESET ROLE;
\set VERBOSITY default

-- She gained nothing: no privilege, no forged row or change, alice's
-- rollup as it was (final April 1st kept, the rest equal to GROUP BY).
SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'sec_mallory';
SELECT count(*) AS rows_naming_mallory FROM perfkit.rollup_defs
WHERE owner = 'sec_mallory'::regrole OR id > :alice_id;
-- (alice's own retirement, a DELETE in frozen April 1st, is counted as
-- inexact; no change row, nothing else)
SELECT bucket AS change_rows FROM perfkit.rollup_changes WHERE rollup_id = :alice_id;
SELECT bucket AS inexact_rows, reason FROM perfkit.rollup_inexact WHERE rollup_id = :alice_id;
SELECT pg_temp.diff('SELECT * FROM sec_daily', 'SELECT * FROM sec_kept') AS alice_unchanged;
SELECT pg_temp.diff('SELECT * FROM sec_daily WHERE bucket >= ''2024-04-02''',
	$$SELECT date_trunc('day', ts, 'UTC'), site, count(*), sum(v) FROM sec_readings
	  WHERE ts >= '2024-04-02' GROUP BY 1, 2$$) AS alice_equals_group_by;
SELECT to_regclass('sec_daily_live') IS NOT NULL AS live_view_kept;

-- A forged row left from before 0.8 (made here by a superuser) naming
-- alice's live view: a superuser's drop_rollup() of it drops nothing of hers.
INSERT INTO perfkit.rollup_defs (id, rel, state_table, live_view, source, raw_source, time_column,
	time_type, granularity, timezone, dimensions, depth, late_window, owner)
VALUES (-1, 'sec_mine_v', 'sec_mine', 'sec_daily_live', 'sec_readings', 'sec_readings',
	'ts', 'timestamptz', 'day', 'UTC', '{}', 0, '0', 'sec_mallory');
\set VERBOSITY sqlstate
SELECT perfkit.drop_rollup('sec_mine_v');
\set VERBOSITY default
SELECT to_regclass('sec_daily_live') IS NOT NULL AS live_view_kept,
	   to_regclass('sec_mine_v') IS NOT NULL AS forged_rel_kept;
DELETE FROM perfkit.rollup_defs WHERE id = -1;

-- alice's own work goes on, and create_rollup still works after the
-- squatting attempts: late rows (hers, and those of a writer she grants
-- INSERT to) are logged by the capture trigger and refreshed.
SET ROLE sec_alice;
SELECT perfkit.create_rollup('sec_late', 'sec_readings', 'ts', 'day', ARRAY['site'],
	ARRAY['count(*)', 'sum(v)'], late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('sec_late') > 0 AS refreshed;
SELECT perfkit.create_rollup('sec_monthly', 'sec_late', 'bucket', 'month', ARRAY['site'],
	ARRAY['count(*)', 'sum(v)'], late_window => '100 years') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('sec_monthly') > 0 AS refreshed;
GRANT INSERT ON sec_readings TO sec_mallory;
RESET ROLE;
SET ROLE sec_mallory;
INSERT INTO sec_readings VALUES ('2024-04-10 10:00', 's1', 5);
RESET ROLE;
SET ROLE sec_alice;
INSERT INTO sec_readings VALUES ('2024-04-11 10:00', 's0', 3);
SELECT count(*) AS logged FROM perfkit.rollup_changes c JOIN perfkit.rollup_defs d ON d.id = c.rollup_id
WHERE d.rel = 'sec_late'::regclass;
SELECT perfkit.refresh_rollup('sec_late') AS buckets;
SELECT perfkit.refresh_rollup('sec_monthly') AS buckets;
RESET ROLE;
SELECT pg_temp.diff('SELECT * FROM sec_late',
	$$SELECT date_trunc('day', ts, 'UTC'), site, count(*), sum(v) FROM sec_readings GROUP BY 1, 2$$)
	AS late_equals_group_by;
SELECT pg_temp.diff('SELECT * FROM sec_monthly',
	$$SELECT date_trunc('month', ts, 'UTC'), site, count(*), sum(v) FROM sec_readings GROUP BY 1, 2$$)
	AS monthly_equals_group_by;
SELECT pg_temp.diff('SELECT * FROM sec_daily', 'SELECT * FROM sec_kept') AS final_daily_unchanged;

-- drop_rollup(keep_table => true) by a superuser (an admin dropping
-- mallory's rollup) copies the view she owns and may redefine: her
-- function must run as her, restricted, and the kept table is hers.
SET ROLE sec_mallory;
CREATE TABLE sec_mal_readings (ts timestamptz NOT NULL, v int);
INSERT INTO sec_mal_readings VALUES ('2024-04-01 10:00', 1), ('2024-04-02 10:00', 2);
SELECT perfkit.create_rollup('sec_mal_daily', 'sec_mal_readings', 'ts', 'day', '{}',
	ARRAY['sum(v)'], late_window => '0') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('sec_mal_daily') > 0 AS refreshed;
CREATE FUNCTION sec_escalate() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE sec_mallory SUPERUSER;
	END IF;
	RETURN current_user;
EXCEPTION WHEN OTHERS THEN
	RETURN current_user;
END $$;
CREATE OR REPLACE VIEW sec_mal_daily AS
	SELECT bucket, sum_v, sec_escalate() AS ran_as FROM sec_mal_daily_state;
RESET ROLE;
SELECT perfkit.drop_rollup('sec_mal_daily', keep_table => true);
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_mallory';
SELECT c.relkind, c.relowner::regrole AS kept_owner FROM pg_class c WHERE c.oid = 'sec_mal_daily'::regclass;
SELECT bucket, sum_v, ran_as FROM sec_mal_daily ORDER BY bucket;
SELECT to_regclass('sec_mal_daily_state') IS NULL AS state_dropped;
DROP TABLE sec_mal_daily, sec_mal_readings;
DROP FUNCTION sec_escalate();

-- CVE-2018-1058: mallory, who may create in public (in the superuser's
-- search_path), makes "=" operators for oid = regclass and regclass =
-- regclass, which match perfkit's comparisons better than pg_catalog's
-- oideq.  The job, a refresh, perfkit.rollups and drop_rollup() run by a
-- superuser must not call them.
SET ROLE sec_mallory;
CREATE TABLE sec_mal_readings (ts timestamptz NOT NULL, v int);
INSERT INTO sec_mal_readings VALUES ('2024-04-01 10:00', 1);
SELECT perfkit.create_rollup('sec_mal_daily', 'sec_mal_readings', 'ts', 'day', '{}',
	ARRAY['sum(v)'], late_window => '0') IS NOT NULL AS created;
CREATE TABLE sec_mal_calls (who name, superuser boolean);
GRANT INSERT ON sec_mal_calls TO PUBLIC;
CREATE FUNCTION sec_eq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.sec_mal_calls
	SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user;
	BEGIN
		ALTER ROLE sec_mallory SUPERUSER;
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE FUNCTION sec_eq_or(a oid, b regclass) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_eq(a, b)';
CREATE FUNCTION sec_eq_rr(a regclass, b regclass) RETURNS boolean LANGUAGE sql AS 'SELECT public.sec_eq(a, b)';
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.sec_eq_or);
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = public.sec_eq_rr);
RESET ROLE;
CALL perfkit.refresh_rollups();
SELECT perfkit.refresh_rollup('sec_mal_daily') >= 0 AS refreshed;
SELECT count(*) > 0 AS listed FROM perfkit.rollups;
SELECT perfkit.drop_rollup('sec_mal_daily');
DROP OPERATOR public.= (oid, regclass);
DROP OPERATOR public.= (regclass, regclass);
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_mallory';
SELECT count(*) AS superuser_calls FROM sec_mal_calls WHERE superuser;
DROP TABLE sec_mal_calls, sec_mal_readings;
DROP FUNCTION sec_eq_or(oid, regclass), sec_eq_rr(regclass, regclass), sec_eq(oid, oid);

-- An error the step's handler cannot catch, raised on purpose by the
-- owner's code (query_canceled, as a real cancel would be): it fails
-- mallory's rollup only, and the job goes on to alice's rollup made after
-- hers.  Before 0.8 it stopped the whole job at every run.
SET ROLE sec_mallory;
CREATE TABLE sec_mal_readings (ts timestamptz NOT NULL, v int);
SELECT perfkit.create_rollup('sec_mal_daily', 'sec_mal_readings', 'ts', 'day', '{}',
	ARRAY['sum(v)'], late_window => '0') IS NOT NULL AS created;
CREATE FUNCTION sec_stop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'mallory stops the job' USING ERRCODE = 'query_canceled';
END $$;
CREATE TRIGGER sec_stop BEFORE INSERT OR UPDATE ON sec_mal_daily_state
	FOR EACH ROW EXECUTE FUNCTION sec_stop();
INSERT INTO sec_mal_readings VALUES ('2024-04-03 10:00', 1);
RESET ROLE;
SET ROLE sec_alice;
SELECT perfkit.create_rollup('sec_after', 'sec_readings', 'ts', 'day', ARRAY['site'],
	ARRAY['count(*)', 'sum(v)'], late_window => '100 years') IS NOT NULL AS created;
INSERT INTO sec_readings VALUES ('2024-04-12 10:00', 's0', 4);
RESET ROLE;
SET client_min_messages = error;
CALL perfkit.refresh_rollups();
SET client_min_messages = warning;
SELECT pg_temp.diff('SELECT * FROM sec_after',
	$$SELECT date_trunc('day', ts, 'UTC'), site, count(*), sum(v) FROM sec_readings GROUP BY 1, 2$$)
	AS after_equals_group_by;
SELECT last_error FROM perfkit.rollup_defs WHERE rel = 'sec_mal_daily'::regclass;
SET ROLE sec_mallory;
SELECT perfkit.drop_rollup('sec_mal_daily');
DROP TABLE sec_mal_readings;
DROP FUNCTION sec_stop();
RESET ROLE;
SET ROLE sec_alice;
SELECT perfkit.drop_rollup('sec_after');
RESET ROLE;

-- Rows forged before 0.8 (made here by a superuser): one points raw_source
-- at alice's table (it would block her retention), with a measure and a
-- change row; a change row of no rollup.  The upgrade's cleanup removes
-- them, and nothing of alice's.
INSERT INTO perfkit.rollup_defs (id, rel, state_table, live_view, source, raw_source, time_column,
	time_type, granularity, timezone, dimensions, depth, late_window, owner)
VALUES (-2, 'sec_mine_v', 'sec_mine', 'sec_mine_v', 'sec_readings', 'sec_readings',
	'ts', 'timestamptz', 'day', 'UTC', '{}', 0, '0', 'sec_mallory');
INSERT INTO perfkit.rollup_measures
SELECT -2, ord, alias, agg, key, raw_sql, result_type, state_columns, state_types, state_raw_sql,
	   state_merge_sql, final_sql
FROM perfkit.rollup_measures WHERE rollup_id = :alice_id;
INSERT INTO perfkit.rollup_changes VALUES (-2, '2024-04-01'), (-3, '2024-04-01');
SELECT count(*) AS alice_rollups_before FROM perfkit.rollup_defs WHERE owner = 'sec_alice'::regrole;
SET client_min_messages = notice;
SELECT perfkit._rollup_purge_forged() AS removed;
SET client_min_messages = warning;
SELECT (SELECT count(*) FROM perfkit.rollup_defs WHERE id < 0) AS forged_defs,
	   (SELECT count(*) FROM perfkit.rollup_measures WHERE rollup_id < 0) AS forged_measures,
	   (SELECT count(*) FROM perfkit.rollup_changes WHERE rollup_id < 0) AS forged_changes,
	   (SELECT count(*) FROM perfkit.rollup_defs WHERE owner = 'sec_alice'::regrole) AS alice_rollups_after;

-- Cleanup.
SET ROLE sec_alice;
SELECT perfkit.drop_rollup('sec_monthly');
SELECT perfkit.drop_rollup('sec_late');
SELECT perfkit.drop_rollup('sec_daily');
DROP TABLE sec_readings, sec_kept;
RESET ROLE;
DROP VIEW sec_mine_v;
DROP TABLE sec_mine;
SELECT count(*) AS rollups_left FROM perfkit.rollup_defs WHERE rel::text LIKE 'sec\_%';
REVOKE CREATE ON SCHEMA public FROM sec_alice, sec_mallory;
DROP ROLE sec_alice;
DROP ROLE sec_mallory;
