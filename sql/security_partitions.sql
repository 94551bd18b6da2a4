--
-- security_partitions: attacks on partitions by a plain role (issue 12).
--
-- sp_mallory owns tables whose trigger, CHECK constraint and generated
-- column call sp_m.escalate(), which tries ALTER ROLE sp_mallory SUPERUSER
-- and logs who it ran as.  A superuser then maintains and converts them,
-- as the partitions job and an administrator do: every such call must run
-- as sp_mallory, and she must stay a plain role.
--
SET timezone = 'UTC';
SET client_min_messages = warning;
CREATE ROLE sp_mallory LOGIN;
CREATE ROLE sp_alice LOGIN;
CREATE ROLE sp_bob LOGIN;
CREATE SCHEMA sp_m AUTHORIZATION sp_mallory;
CREATE SCHEMA sp_a AUTHORIZATION sp_alice;
GRANT USAGE ON SCHEMA sp_a TO sp_bob;

SET ROLE sp_mallory;
CREATE TABLE sp_m.who (who name, what text);
CREATE FUNCTION sp_m.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO sp_m.who VALUES (current_user, what);
	BEGIN
		ALTER ROLE sp_mallory SUPERUSER;
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	RETURN true;
END $$;
-- IMMUTABLE wrappers around the volatile function, for CHECK and GENERATED.
CREATE FUNCTION sp_m.ok(v int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT sp_m.escalate('check ' || v)
$$;
CREATE FUNCTION sp_m.gen(v int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN sp_m.escalate('generated ' || v) THEN v END
$$;
CREATE FUNCTION sp_m.trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sp_m.escalate(TG_OP || ' ' || OLD.v);
	RETURN OLD;
END $$;

CREATE TABLE sp_m.ev (
	at timestamptz NOT NULL,
	v int CHECK (sp_m.ok(v)),
	g int GENERATED ALWAYS AS (sp_m.gen(v)) STORED
) PARTITION BY RANGE (at);
CREATE TRIGGER ev_del BEFORE DELETE ON sp_m.ev FOR EACH ROW EXECUTE FUNCTION sp_m.trg();
SELECT perfkit.partition_table('sp_m.ev', 'at', '1 day', premake => 2) > 0 AS made;
-- A row in the default partition (beyond premake), and an old partition
-- past retention.
INSERT INTO sp_m.ev (at, v) VALUES (now() + interval '30 days', 1);
DO $$
BEGIN
	EXECUTE format('CREATE TABLE sp_m.ev_old PARTITION OF sp_m.ev FOR VALUES FROM (%L) TO (%L)',
				   date_trunc('day', now()) - interval '20 days', date_trunc('day', now()) - interval '19 days');
END $$;
SELECT perfkit.set_retention('sp_m.ev', '10 days', 'drop', require_rollups => false);
SELECT count(*) AS in_default FROM sp_m.ev_default;
TRUNCATE sp_m.who;
RESET ROLE;

-- Alice's table, with a row in the default partition too.
SET ROLE sp_alice;
CREATE TABLE sp_a.ev (at timestamptz NOT NULL, owner_name name, v int) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('sp_a.ev', 'at', '1 day', premake => 2) > 0 AS made;
INSERT INTO sp_a.ev VALUES (now() + interval '30 days', 'sp_alice', 1);
RESET ROLE;

-- The superuser maintains every set, as the partitions job does.
SELECT partitioned_table, status, created, moved, retired, detail
FROM perfkit.run_maintenance() WHERE partitioned_table::text LIKE 'sp\__.ev' ORDER BY partitioned_table::text;
-- She is not a superuser; what her code ran as was her, never the caller.
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT who, count(*) > 0 AS ran FROM sp_m.who GROUP BY who ORDER BY who;
-- Her table was maintained all the same: drained, old partition retired.
SELECT count(*) AS in_default FROM sp_m.ev_default;
SELECT count(*) AS rows, to_regclass('sp_m.ev_old') IS NULL AS old_dropped FROM sp_m.ev;
SELECT count(*) AS alice_in_default FROM sp_a.ev_default;
SELECT "table", last_status, rows_in_default FROM perfkit.partition_sets
WHERE "table"::text LIKE 'sp\__.ev' ORDER BY "table"::text;

-- The same through the job's procedure, run by the superuser.
SET ROLE sp_mallory;
INSERT INTO sp_m.ev (at, v) VALUES (now() + interval '40 days', 2);
TRUNCATE sp_m.who;
RESET ROLE;
-- (the sets other tests left behind, some failing on purpose, are put
-- aside meanwhile: the procedure fails when one of its tables does)
CREATE TEMP TABLE other_sets AS
SELECT * FROM perfkit.partition_config WHERE parent::text NOT LIKE 'sp\__.%';
DELETE FROM perfkit.partition_config WHERE parent::text NOT LIKE 'sp\__.%';
CALL perfkit.run_maintenance_job();
INSERT INTO perfkit.partition_config SELECT * FROM other_sets;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT who, count(*) > 0 AS ran FROM sp_m.who GROUP BY who ORDER BY who;
SELECT count(*) AS in_default FROM sp_m.ev_default;

-- A conversion called by the superuser copies her rows as her: the
-- CHECK constraint and the generated column of the copy run as her.
SET ROLE sp_mallory;
CREATE TABLE sp_m.plain (at timestamptz NOT NULL, v int CHECK (sp_m.ok(v)),
	g int GENERATED ALWAYS AS (sp_m.gen(v)) STORED);
INSERT INTO sp_m.plain (at, v) SELECT now() - i * interval '1 hour', i FROM generate_series(1, 20) i;
TRUNCATE sp_m.who;
RESET ROLE;
SELECT perfkit.convert_to_partitioned('sp_m.plain', 'at', '1 day');
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT who, count(*) > 0 AS ran FROM sp_m.who GROUP BY who ORDER BY who;
SELECT relkind, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'sp_m.plain'::regclass;
SELECT count(*) AS rows FROM sp_m.plain;

-- Her own search_path puts an operator of hers before pg_catalog's: the
-- statements perfkit runs as the extension's owner must not pick it.
SET ROLE sp_mallory;
CREATE FUNCTION sp_m.regclass_eq(a regclass, b regclass) RETURNS boolean LANGUAGE sql AS $$
	SELECT sp_m.escalate('operator') AND a::oid OPERATOR(pg_catalog.=) b::oid
$$;
CREATE OPERATOR sp_m.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = sp_m.regclass_eq);
CREATE TABLE sp_m.op_t (at timestamptz NOT NULL) PARTITION BY RANGE (at);
TRUNCATE sp_m.who;
SET search_path = sp_m, pg_catalog;
SELECT perfkit.partition_table('sp_m.op_t', 'at', '1 day') > 0 AS made;
SELECT perfkit.set_retention('sp_m.op_t', '1 year');
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT who, count(*) > 0 AS ran FROM sp_m.who GROUP BY who ORDER BY who;

-- The conversion log: nobody but the extension's owner writes it.
SET ROLE sp_mallory;
INSERT INTO perfkit.convert_log (relid, blk, src, old)
SELECT c.oid, 0, '(0,1)', true FROM pg_class c
WHERE c.relnamespace = 'sp_a'::regnamespace AND c.relname = 'ev';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Dates before year 1: bounds and names in BC, the job does not fail.
SET ROLE sp_alice;
CREATE TABLE sp_a.old_dates (d date NOT NULL, ts timestamp, tz timestamptz) PARTITION BY RANGE (d);
CREATE TABLE sp_a.old_ts (ts timestamp NOT NULL) PARTITION BY RANGE (ts);
SELECT perfkit.partition_table('sp_a.old_dates', 'd', '1 month', premake => 0) > 0 AS made;
SELECT perfkit.partition_table('sp_a.old_ts', 'ts', '1 day', premake => 0) > 0 AS made;
INSERT INTO sp_a.old_dates VALUES ('0044-03-15 BC', NULL, NULL), ('0001-12-31 BC', NULL, NULL);
INSERT INTO sp_a.old_ts VALUES ('0044-03-15 12:00 BC');
SELECT partitioned_table, status, created, moved, detail FROM perfkit.run_maintenance('sp_a.old_dates');
SELECT partitioned_table, status, created, moved, detail FROM perfkit.run_maintenance('sp_a.old_ts');
SELECT partition, range_start, range_end FROM perfkit.partitions
WHERE parent IN ('sp_a.old_dates'::regclass, 'sp_a.old_ts'::regclass) AND range_start LIKE '%BC'
ORDER BY partition::text;
SELECT tableoid::regclass AS partition, d FROM sp_a.old_dates ORDER BY d;
SELECT tableoid::regclass AS partition, ts FROM sp_a.old_ts;

-- Too many partitions at once: refused with the count (a start 2000
-- days ago: 2000 slots, today's and 4 premade).
CREATE TABLE sp_a.far (at date NOT NULL) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('sp_a.far', 'at', '1 day', start => current_date - 2000);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM perfkit.partition_config WHERE parent = 'sp_a.far'::regclass;
-- (a superuser's setting: she cannot raise it herself)
SET perfkit.max_partitions_per_run = 100000;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET perfkit.max_partitions_per_run = 100;
SET ROLE sp_alice;
SELECT perfkit.partition_table('sp_a.far', 'at', '1 day', premake => 200);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET perfkit.max_partitions_per_run;
SET ROLE sp_alice;
CREATE TABLE sp_a.plain_far (at date NOT NULL, v int);
INSERT INTO sp_a.plain_far VALUES (current_date - 2000, 1), (current_date, 2);
RESET ROLE;
SELECT perfkit.convert_to_partitioned('sp_a.plain_far', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT relkind, to_regclass('sp_a.plain_far_partitioned') IS NULL AS no_copy,
	   (SELECT count(*) FROM perfkit.conversions) AS conversions
FROM pg_class WHERE oid = 'sp_a.plain_far'::regclass;

-- A NOT VALID check constraint that a row violates: refused up front.
SET ROLE sp_alice;
CREATE TABLE sp_a.nv (at timestamptz NOT NULL, v int);
INSERT INTO sp_a.nv VALUES (now(), -1), (now(), 1);
ALTER TABLE sp_a.nv ADD CONSTRAINT nv_positive CHECK (v > 0) NOT VALID;
SELECT perfkit.convert_to_partitioned('sp_a.nv', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT relkind, (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'sp_a.nv'::regclass) AS triggers,
	   to_regclass('sp_a.nv_partitioned') IS NULL AS no_copy
FROM pg_class WHERE oid = 'sp_a.nv'::regclass;
-- Without violating rows it converts, and the constraint holds.
DELETE FROM sp_a.nv WHERE v < 0;
SELECT perfkit.convert_to_partitioned('sp_a.nv', 'at', '1 day');
\set VERBOSITY sqlstate
INSERT INTO sp_a.nv VALUES (now(), -5);
\set VERBOSITY default

-- Row-level security policies are kept, enabled or not.
CREATE TABLE sp_a.pol_off (at timestamptz NOT NULL, owner_name name);
CREATE POLICY mine ON sp_a.pol_off USING (owner_name = current_user);
CREATE TABLE sp_a.pol_on (at timestamptz NOT NULL, owner_name name);
CREATE POLICY mine ON sp_a.pol_on FOR SELECT TO sp_bob, sp_alice USING (owner_name = current_user);
CREATE POLICY ins ON sp_a.pol_on AS RESTRICTIVE FOR INSERT WITH CHECK (owner_name IS NOT NULL);
ALTER TABLE sp_a.pol_on ENABLE ROW LEVEL SECURITY;
INSERT INTO sp_a.pol_off VALUES (now(), 'sp_bob'), (now(), 'sp_alice');
INSERT INTO sp_a.pol_on VALUES (now(), 'sp_bob'), (now(), 'sp_alice');
GRANT SELECT ON sp_a.pol_on TO sp_bob;
CREATE TABLE sp_a.pol_force (at timestamptz NOT NULL);
ALTER TABLE sp_a.pol_force ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SELECT perfkit.convert_to_partitioned('sp_a.pol_off', 'at', '1 day');
SELECT perfkit.convert_to_partitioned('sp_a.pol_on', 'at', '1 day');
SELECT perfkit.convert_to_partitioned('sp_a.pol_force', 'at', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
	   (SELECT string_agg(format('%s %s %s %s %s %s', p.policyname, p.permissive, p.roles, p.cmd,
								 p.qual, p.with_check), '; ' ORDER BY p.policyname)
		FROM pg_policies p WHERE p.schemaname = 'sp_a' AND p.tablename = c.relname) AS policies
FROM pg_class c WHERE c.oid IN ('sp_a.pol_off'::regclass, 'sp_a.pol_on'::regclass) ORDER BY 1;
RESET ROLE;
SET ROLE sp_bob;
SELECT owner_name FROM sp_a.pol_on;

-- rows_in_default counts what the reader may see.
RESET ROLE;
SET ROLE sp_alice;
CREATE TABLE sp_a.rls (at timestamptz NOT NULL, owner_name name) PARTITION BY RANGE (at);
SELECT perfkit.partition_table('sp_a.rls', 'at', '1 day', premake => 1) > 0 AS made;
INSERT INTO sp_a.rls VALUES (now() + interval '30 days', 'sp_bob'),
	(now() + interval '30 days', 'sp_alice'), (now() + interval '31 days', 'sp_alice');
CREATE POLICY mine ON sp_a.rls USING (owner_name = current_user);
ALTER TABLE sp_a.rls ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON sp_a.rls TO sp_bob;
SELECT rows_in_default AS alice_sees FROM perfkit.partition_sets WHERE "table" = 'sp_a.rls'::regclass;
SET ROLE sp_bob;
SELECT rows_in_default AS bob_sees FROM perfkit.partition_sets WHERE "table" = 'sp_a.rls'::regclass;
SELECT count(*) AS bob_reads FROM sp_a.rls;
SET ROLE sp_mallory;
SELECT rows_in_default AS mallory_sees FROM perfkit.partition_sets WHERE "table"::text = 'sp_a.rls';
RESET ROLE;

-- The step budget: a table whose maintenance is over budget is rolled
-- back and recorded as failed; the others are maintained.
SET ROLE sp_mallory;
CREATE FUNCTION sp_m.slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_sleep(5);
	RETURN OLD;
END $$;
CREATE TRIGGER ev_slow BEFORE DELETE ON sp_m.ev FOR EACH ROW EXECUTE FUNCTION sp_m.slow();
INSERT INTO sp_m.ev (at, v) VALUES (now() + interval '50 days', 3);
RESET ROLE;
SET ROLE sp_alice;
INSERT INTO sp_a.ev VALUES (now() + interval '31 days', 'sp_alice', 2);
RESET ROLE;
SET perfkit.partition_step_timeout = 1000;
SELECT partitioned_table, status, created, moved, detail
FROM perfkit.run_maintenance() WHERE partitioned_table::text LIKE 'sp\__.ev' ORDER BY partitioned_table::text;
RESET perfkit.partition_step_timeout;
SELECT count(*) AS mallory_in_default FROM sp_m.ev_default;
SELECT count(*) AS alice_in_default FROM sp_a.ev_default;
SELECT "table", last_status, last_error FROM perfkit.partition_sets
WHERE "table"::text LIKE 'sp\__.ev' ORDER BY "table"::text;

-- An operator in a schema of the superuser's search_path (public, where
-- PUBLIC may create, as before PostgreSQL 15): =(oid, regclass) and
-- =(regclass, regclass) have no exact match in pg_catalog, so the
-- statements perfkit runs as the caller would resolve to hers.  The
-- superuser then lists the partitions, maintains every set and aborts a
-- conversion: none of that may run her operator.
GRANT CREATE ON SCHEMA public TO PUBLIC;
SET ROLE sp_mallory;
CREATE FUNCTION public.sp_eq(a oid, b regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sp_m.escalate('operator');
	RETURN a OPERATOR(pg_catalog.=) b::oid;
END $$;
CREATE FUNCTION public.sp_eq2(a regclass, b regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sp_m.escalate('operator');
	RETURN a::oid OPERATOR(pg_catalog.=) b::oid;
END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.sp_eq);
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = public.sp_eq2);
GRANT INSERT ON sp_m.who TO PUBLIC;
CREATE TABLE sp_m.conv (at timestamptz NOT NULL, v int);
INSERT INTO sp_m.conv SELECT now() - i * interval '1 hour', i FROM generate_series(1, 10) i;
SELECT perfkit.convert_to_partitioned('sp_m.conv', 'at', '1 day', batch_rows => 5, max_batches => 1);
TRUNCATE sp_m.who;
RESET ROLE;
SELECT count(*) > 0 AS listed FROM perfkit.partitions WHERE parent::text LIKE 'sp\__.ev';
SELECT count(*) > 0 AS maintained FROM perfkit.run_maintenance() WHERE partitioned_table::text LIKE 'sp\__.ev';
SELECT perfkit.convert_to_partitioned_abort('sp_m.conv');
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT count(*) AS operator_calls FROM sp_m.who WHERE what = 'operator';
SET ROLE sp_mallory;
DROP OPERATOR public.= (oid, regclass);
DROP OPERATOR public.= (regclass, regclass);
DROP FUNCTION public.sp_eq(oid, regclass), public.sp_eq2(regclass, regclass);
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The settings that bound every role's conversions are a superuser's.
SET ROLE sp_mallory;
SET perfkit.conversion_lock_timeout = '1h';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A query_canceled raised by her trigger fails her table only (it is not
-- a cancel of the run); its detail, which could hold row values, is not
-- kept in perfkit.partition_config, which everyone reads.
SET ROLE sp_mallory;
DROP TRIGGER ev_slow ON sp_m.ev;
CREATE FUNCTION sp_m.cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'not now' USING ERRCODE = 'query_canceled', DETAIL = 'secret 42';
END $$;
CREATE TRIGGER ev_cancel BEFORE DELETE ON sp_m.ev FOR EACH ROW EXECUTE FUNCTION sp_m.cancel();
INSERT INTO sp_m.ev (at, v) VALUES (now() + interval '60 days', 4);
RESET ROLE;
SET ROLE sp_alice;
INSERT INTO sp_a.ev VALUES (now() + interval '32 days', 'sp_alice', 3);
RESET ROLE;
SELECT partitioned_table, status, moved, detail
FROM perfkit.run_maintenance() WHERE partitioned_table::text LIKE 'sp\__.ev' ORDER BY partitioned_table::text;
SET ROLE sp_bob;
SELECT "table", last_status, last_error FROM perfkit.partition_sets
WHERE "table"::text LIKE 'sp\__.ev' ORDER BY "table"::text;
SELECT count(*) AS leaks FROM perfkit.partition_config WHERE last_error LIKE '%secret%';
RESET ROLE;

-- The step budget cannot be caught away: her trigger catches every
-- cancel and sleeps again, three times (2 s each).  The cancel comes
-- again every 100 ms past the budget (with one cancel only, the step
-- would take 4.3 s), and the step that returned late is rolled back all
-- the same.
SET ROLE sp_mallory;
DROP TRIGGER ev_cancel ON sp_m.ev;
CREATE FUNCTION sp_m.stubborn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..3 LOOP
		BEGIN
			PERFORM pg_sleep(2);
		EXCEPTION WHEN query_canceled THEN
			NULL;
		END;
	END LOOP;
	RETURN OLD;
END $$;
CREATE TRIGGER ev_stubborn BEFORE DELETE ON sp_m.ev FOR EACH ROW EXECUTE FUNCTION sp_m.stubborn();
TRUNCATE sp_m.who;
SELECT count(*) AS mallory_in_default FROM sp_m.ev_default;
RESET ROLE;
SET perfkit.partition_step_timeout = 300;
SELECT clock_timestamp() AS t0 \gset
SELECT partitioned_table, status, moved, detail
FROM perfkit.run_maintenance('sp_m.ev');
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 s' AS fast;
RESET perfkit.partition_step_timeout;
SELECT count(*) AS mallory_in_default FROM sp_m.ev_default;
SET ROLE sp_mallory;
DROP TRIGGER ev_stubborn ON sp_m.ev;
RESET ROLE;

-- A default partition owned by another role is not drained as the
-- parent's owner (its triggers would run with her rights).
SET ROLE sp_mallory;
INSERT INTO sp_m.ev (at, v) VALUES (now() + interval '70 days', 5);
RESET ROLE;
ALTER TABLE sp_m.ev_default OWNER TO sp_alice;
GRANT ALL ON sp_m.ev_default TO sp_mallory;
SELECT partitioned_table, status, moved, detail FROM perfkit.run_maintenance('sp_m.ev');
SELECT count(*) AS mallory_in_default FROM sp_m.ev_default;
ALTER TABLE sp_m.ev_default OWNER TO sp_mallory;

-- The capture trigger on a table that is not being converted refuses:
-- no one fills the conversion log through a trigger of her own.
SET ROLE sp_mallory;
CREATE TABLE sp_m.spam (v int);
CREATE TRIGGER spam AFTER INSERT ON sp_m.spam FOR EACH ROW EXECUTE FUNCTION perfkit._convert_capture();
INSERT INTO sp_m.spam SELECT generate_series(1, 3);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS logged FROM perfkit.convert_log WHERE relid = 'sp_m.spam'::regclass;

-- The retention preview: another role's table is refused, a role's own
-- list holds only its tables, and a superuser's preview of her table
-- reads it as her (what counts its rows runs as its owner).
SET ROLE sp_bob;
SELECT * FROM perfkit.retention_preview('sp_a.ev');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS bobs_preview FROM perfkit.retention_preview();
SELECT perfkit.set_retention('sp_a.ev', '1 day', 'drop');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sp_mallory;
TRUNCATE sp_m.who;
RESET ROLE;
SELECT count(*) >= 0 AS previewed FROM perfkit.retention_preview('sp_m.ev');
SELECT rolsuper FROM pg_roles WHERE rolname = 'sp_mallory';
SELECT count(*) AS ran_as_other FROM sp_m.who WHERE who <> 'sp_mallory';

DROP SCHEMA sp_m, sp_a CASCADE;
DROP ROLE sp_mallory, sp_alice, sp_bob;
