--
-- partition_forms: the two ways maintenance makes a partition leave the
-- same catalog state.  run_maintenance() makes a standalone table LIKE the
-- parent and attaches it; the job, which commits after each table, makes
-- it with CREATE TABLE ... PARTITION OF when the parent's ACCESS
-- EXCLUSIVE lock is free at once.  pf.pfa and pf.pfb are built alike (every
-- feature a partition takes from its parent, or does not); pfa is maintained
-- by run_maintenance(), pfb by the job, and every catalog fact of their new
-- partitions is compared, names normalized.
--
SET timezone = 'UTC';
SET client_min_messages = warning;
CREATE ROLE pf_owner;
CREATE ROLE pf_reader;
CREATE SCHEMA pf AUTHORIZATION pf_owner;
GRANT USAGE ON SCHEMA pf TO PUBLIC;

-- What DDL each form ran, from an event trigger.
CREATE TABLE pf.ddl_log (tag text, object text);
GRANT INSERT ON pf.ddl_log TO PUBLIC;
CREATE FUNCTION pf.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pf.ddl_log
	SELECT command_tag, object_identity FROM pg_event_trigger_ddl_commands()
	WHERE schema_name = 'pf' AND object_type = 'table';
END $$;

SET ROLE pf_owner;
CREATE TABLE pf.ref (id int PRIMARY KEY);
CREATE FUNCTION pf.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEW;
END $$;
CREATE FUNCTION pf.make(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($f$
		CREATE TABLE pf.%1$I (
			id bigserial,
			gone int,
			at timestamptz NOT NULL,
			kind text COLLATE "C" NOT NULL DEFAULT 'plain',
			v numeric CONSTRAINT v_positive CHECK (v >= 0),
			doubled numeric GENERATED ALWAYS AS (v * 2) STORED,
			payload text,
			ref_id int REFERENCES pf.ref (id),
			PRIMARY KEY (id, at),
			UNIQUE (kind, at),
			CHECK (kind <> '')
		) PARTITION BY RANGE (at)$f$, t);
	EXECUTE format('ALTER TABLE pf.%I DROP COLUMN gone', t);
	EXECUTE format('ALTER TABLE pf.%I ALTER COLUMN payload SET STORAGE EXTERNAL', t);
	EXECUTE format('ALTER TABLE pf.%I ALTER COLUMN payload SET COMPRESSION pglz', t);
	EXECUTE format('ALTER TABLE pf.%I ALTER COLUMN v SET STATISTICS 500', t);
	EXECUTE format('CREATE INDEX ON pf.%I (at)', t);
	EXECUTE format('CREATE INDEX ON pf.%I (lower(kind), at) WHERE v > 0', t);
	EXECUTE format('CREATE TRIGGER touch BEFORE UPDATE ON pf.%I FOR EACH ROW EXECUTE FUNCTION pf.touch()', t);
	EXECUTE format('CREATE TRIGGER seen AFTER INSERT ON pf.%I FOR EACH ROW WHEN (NEW.v > 10) EXECUTE FUNCTION pf.touch()', t);
	EXECUTE format('CREATE TRIGGER stmt AFTER INSERT ON pf.%I FOR EACH STATEMENT EXECUTE FUNCTION pf.touch()', t);
	EXECUTE format('COMMENT ON TABLE pf.%I IS %L', t, 'the parent');
	EXECUTE format('COMMENT ON COLUMN pf.%I.kind IS %L', t, 'a column');
	EXECUTE format('GRANT SELECT ON pf.%I TO pf_reader', t);
END $$;
SELECT pf.make('pfa'), pf.make('pfb');
RESET ROLE;

-- Every catalog fact of parent's partitions (or of the one named) that a
-- form could change, one line each, after its bound; the names of the
-- partition and of its parent replaced by P and T, and the OIDs in the
-- names of foreign keys' internal triggers by N.
CREATE FUNCTION pf.shape(parent regclass, part name DEFAULT NULL) RETURNS SETOF text LANGUAGE sql AS $$
	WITH p AS (
		SELECT c.oid, c.relname, ord, pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM perfkit._partitions() x JOIN pg_class c ON c.oid = x.partition
		WHERE x.parent = $1 AND NOT x.is_default AND c.relname = coalesce($2, c.relname)
	), facts AS (
		SELECT p.relname, p.bound, format('rel owner=%s acl=%s persistence=%s am=%s spc=%s opts=%s replident=%s rls=%s comment=%s kind=%s',
			c.relowner::regrole, c.relacl, c.relpersistence, (SELECT amname FROM pg_am WHERE oid = c.relam), c.reltablespace, c.reloptions,
			c.relreplident, c.relrowsecurity, obj_description(c.oid, 'pg_class'), c.relkind) AS fact
		FROM p JOIN pg_class c ON c.oid = p.oid
		UNION ALL
		SELECT p.relname, p.bound, format('col %s %s %s notnull=%s default=%s gen=%s storage=%s compression=%s coll=%s local=%s inh=%s stats=%s comment=%s',
			a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attstorage, a.attcompression,
			a.attcollation::regcollation, a.attislocal, a.attinhcount, a.attstattarget,
			col_description(p.oid, a.attnum))
		FROM p JOIN pg_attribute a ON a.attrelid = p.oid AND a.attnum > 0
		LEFT JOIN pg_attrdef d ON d.adrelid = p.oid AND d.adnum = a.attnum
		UNION ALL
		SELECT p.relname, p.bound, format('constraint %s %s %s local=%s inh=%s noinherit=%s validated=%s deferrable=%s parent=%s index=%s',
			k.conname, k.contype, pg_get_constraintdef(k.oid), k.conislocal, k.coninhcount,
			k.connoinherit, k.convalidated, k.condeferrable, pk.conname, k.conindid::regclass)
		FROM p JOIN pg_constraint k ON k.conrelid = p.oid
		LEFT JOIN pg_constraint pk ON pk.oid = k.conparentid
		UNION ALL
		SELECT p.relname, p.bound, format('index %s %s valid=%s ready=%s primary=%s unique=%s parent=%s',
			ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready, i.indisprimary,
			i.indisunique, ih.inhparent::regclass)
		FROM p JOIN pg_index i ON i.indrelid = p.oid
		JOIN pg_class ic ON ic.oid = i.indexrelid
		LEFT JOIN pg_inherits ih ON ih.inhrelid = i.indexrelid
		UNION ALL
		SELECT p.relname, p.bound, format('trigger %s %s enabled=%s internal=%s cloned=%s',
			t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, t.tgisinternal, t.tgparentid <> 0)
		FROM p JOIN pg_trigger t ON t.tgrelid = p.oid
		UNION ALL
		SELECT p.relname, p.bound, format('inherits %s seq=%s', h.inhparent::regclass, h.inhseqno)
		FROM p JOIN pg_inherits h ON h.inhrelid = p.oid
		UNION ALL
		SELECT p.relname, p.bound, format('depends %s: %s %s', d.objsubid, pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
		FROM p JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = p.oid
	)
	SELECT bound || ' ' || regexp_replace(replace(replace(fact, relname, 'P'),
		(SELECT relname FROM pg_class WHERE oid = $1), 'T'), 'RI_ConstraintTrigger_c_[0-9]+', 'RI_ConstraintTrigger_c_N', 'g')
	FROM facts
$$;

SELECT perfkit.partition_table('pf.pfa', 'at', '1 day', 1, date_trunc('day', now())) AS a_created,
	   perfkit.partition_table('pf.pfb', 'at', '1 day', 1, date_trunc('day', now())) AS b_created;

-- run_maintenance() in a transaction never takes ACCESS EXCLUSIVE on the
-- parent (its locks last until the caller commits), nor does the job
-- called in a transaction block (it cannot commit there).
UPDATE perfkit.partition_config SET premake = premake + 1 WHERE parent::text LIKE 'pf.%';
BEGIN;
SELECT status, created FROM perfkit.run_maintenance('pf.pfa');
SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 'pf.pfa'::regclass
	AND pid = pg_backend_pid() AND granted ORDER BY mode;
COMMIT;
BEGIN;
CALL perfkit.run_maintenance_job();
SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 'pf.pfb'::regclass
	AND pid = pg_backend_pid() AND granted ORDER BY mode;
COMMIT;

-- Three more days each; a row of the last one waits in the default
-- partition, so each run drains it (into an attached table) as well.
UPDATE perfkit.partition_config SET premake = premake + 3 WHERE parent::text LIKE 'pf.%';
INSERT INTO pf.ref VALUES (1);
INSERT INTO pf.pfa (at, v, payload, ref_id) VALUES (date_trunc('day', now()) + interval '5 days 1 hour', 1, 'x', 1);
INSERT INTO pf.pfb (at, v, payload, ref_id) VALUES (date_trunc('day', now()) + interval '5 days 1 hour', 1, 'x', 1);
CREATE EVENT TRIGGER pf_log ON ddl_command_end EXECUTE FUNCTION pf.log_ddl();
SELECT status, created, moved FROM perfkit.run_maintenance('pf.pfa');
CALL perfkit.run_maintenance_job();
DROP EVENT TRIGGER pf_log;
SELECT "table", last_status, last_error FROM perfkit.partition_sets WHERE "table"::text LIKE 'pf.%' ORDER BY 1::text;

-- What each form ran: for pfa, per partition, CREATE TABLE (LIKE), the
-- ALTER TABLE of the partition by which LIKE copies defaults and CHECK
-- constraints, and ATTACH (an ALTER TABLE of the parent); for pfb, the
-- same for the drained partition, and one CREATE TABLE for each other.
SELECT CASE WHEN object LIKE 'pf.pfa%' THEN 'pfa' ELSE 'pfb' END AS tbl, tag,
	   count(*) FILTER (WHERE object NOT IN ('pf.pfa', 'pf.pfb')) AS partitions,
	   count(*) FILTER (WHERE object IN ('pf.pfa', 'pf.pfb')) AS parents
FROM pf.ddl_log GROUP BY 1, 2 ORDER BY 1, 2;

-- The drained rows are in their partitions, the default partitions empty.
SELECT tableoid::regclass::text = 'pf.' || substr(tableoid::regclass::text, 4, 3) || '_p' ||
	   to_char(date_trunc('day', now()) + interval '5 days', 'YYYYMMDD') AS in_place, count(*) AS rows
FROM (SELECT tableoid FROM pf.pfa UNION ALL SELECT tableoid FROM pf.pfb) r GROUP BY 1;
SELECT (SELECT count(*) FROM pf.pfa_default) AS pfa_default_rows,
	   (SELECT count(*) FROM pf.pfb_default) AS pfb_default_rows;

-- The partitions compared: six each, the same bounds.
SELECT (SELECT count(*) FROM perfkit.partitions WHERE parent = 'pf.pfa'::regclass AND NOT is_default) AS a_partitions,
	   (SELECT count(*) FROM perfkit.partitions WHERE parent = 'pf.pfb'::regclass AND NOT is_default) AS b_partitions,
	   (SELECT count(*) FROM pf.shape('pf.pfa')) AS facts;
-- One partition's facts (the bound cut off), as both forms leave them.
SELECT regexp_replace(f, '^FOR VALUES FROM \(.*?\) TO \(.*?\) ', '') AS fact
FROM pf.shape('pf.pfa', 'pfa_p' || to_char(date_trunc('day', now()) + interval '4 days', 'YYYYMMDD')) f
ORDER BY 1;
-- Facts of one table's partitions and not the other's: none.
(SELECT 'only a' AS side, f FROM pf.shape('pf.pfa') f EXCEPT ALL SELECT 'only a', f FROM pf.shape('pf.pfb') f)
UNION ALL
(SELECT 'only b', f FROM pf.shape('pf.pfb') f EXCEPT ALL SELECT 'only b', f FROM pf.shape('pf.pfa') f);

-- Clean up.
DROP SCHEMA pf CASCADE;
DELETE FROM perfkit.partition_config WHERE parent::oid NOT IN (SELECT oid FROM pg_class);
DROP ROLE pf_owner;
DROP ROLE pf_reader;
