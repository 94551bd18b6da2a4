/*
 * src/advisor/advisor.sql: the SQL of the index advisor room (C:
 * workload.c, candidates.c, hypo.c, recommend.c).
 *
 * In order: the workload the planner hook samples; the advisor (one query,
 * the whole workload, applying a recommendation); the lint of existing
 * indexes (SQL over the catalogs and statistics); privileges.
 */

--
-- Workload capture
--
CREATE FUNCTION perfkit._workload(
	OUT dbid oid, OUT userid oid, OUT queryid bigint, OUT command text,
	OUT calls bigint, OUT total_time float8, OUT mean_time float8, OUT rows bigint,
	OUT example text, OUT replannable boolean,
	OUT first_seen timestamptz, OUT last_seen timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_workload';

--
-- Noise in a statement list.  perfkit.internal_statement(query) says
-- whether a statement's text is not the application's own: perfkit's
-- (it names an object of the perfkit schema: cached(), cache_get(), the
-- rollup refresh's and the jobs' statements, which perfkit always writes
-- schema-qualified) or a referential-integrity trigger's (PostgreSQL's
-- ri_triggers.c writes "SELECT 1 FROM [ONLY] t x WHERE ... FOR KEY SHARE
-- OF x" for every insert or update of a referencing row, and cascades as
-- "DELETE FROM [ONLY] t WHERE $1 OPERATOR(pg_catalog.=) col" and
-- "UPDATE [ONLY] t SET ... WHERE $n OPERATOR(pg_catalog.=) col").  The
-- measured fact for filters over perfkit.workload or pg_stat_statements
-- (slow_queries(), n_plus_one_suspects()); perfkit.workload, below, shows
-- it as its internal column.
--
CREATE FUNCTION perfkit.internal_statement(query text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT query ~* '(^|[^[:alnum:]_$"])"?perfkit"?\s*\.'
		OR query ~ '^\s*SELECT 1 FROM (ONLY )?\S+ x WHERE .* FOR KEY SHARE OF x\s*$'
		OR query ~ '^\s*DELETE FROM (ONLY )?\S+ WHERE \$1 OPERATOR\(pg_catalog\.=\) '
		OR query ~ '^\s*UPDATE (ONLY )?\S+ SET .* WHERE \$[0-9]+ OPERATOR\(pg_catalog\.=\) '
$$;

COMMENT ON FUNCTION perfkit.internal_statement(text) IS
'whether a statement is perfkit''s own or a foreign-key trigger''s, not the application''s (for noise filters)';

/*
 * perfkit.workload: the sampled statements.  Query texts may hold
 * personal data: only superusers and members of pg_read_all_stats may
 * read them (the function checks, the view is granted to that role only).
 */
CREATE VIEW perfkit.workload AS
SELECT d.datname AS database,
	   w.userid::regrole AS example_role,
	   w.queryid,
	   w.command,
	   w.calls,
	   w.total_time,
	   w.mean_time,
	   w.rows,
	   w.example,
	   w.replannable,
	   w.first_seen,
	   w.last_seen,
	   perfkit.internal_statement(w.example) AS internal
FROM perfkit._workload() w
LEFT JOIN pg_catalog.pg_database d ON d.oid = w.dbid
ORDER BY w.total_time DESC, w.queryid;

COMMENT ON VIEW perfkit.workload IS
'statements sampled by the index advisor (perfkit.advisor_sample_rate), per statement (literals and parameters aside); calls, time and rows count sampled executions only';

CREATE FUNCTION perfkit.workload_reset()
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_workload_reset';

COMMENT ON FUNCTION perfkit.workload_reset() IS
'forget every sampled statement; returns how many went';

CREATE FUNCTION perfkit.workload_info(
	OUT entries bigint, OUT max_entries integer, OUT evictions bigint,
	OUT reset_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_workload_info';

COMMENT ON FUNCTION perfkit.workload_info() IS
'fill of the workload store, evictions and the time of the last reset';

--
-- What-if and recommendations
--
CREATE FUNCTION perfkit.index_advisor(query text)
RETURNS TABLE(index_statement text, table_name regclass, cost_before float8,
			  cost_after float8, improvement float8)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_index_advisor';

COMMENT ON FUNCTION perfkit.index_advisor(text) IS
'indexes, proven with hypothetical indexes, that make one query cheaper; costs before and after each';

CREATE FUNCTION perfkit.recommend_indexes(min_improvement float8 DEFAULT 0.2,
										  max_indexes int DEFAULT 10,
										  storage_budget bigint DEFAULT NULL)
RETURNS TABLE(index_statement text, table_name regclass, kind text,
			  estimated_bytes bigint, workload_cost_before float8,
			  workload_cost_after float8, improvement float8, queries bigint,
			  write_overhead float8, reason text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_recommend_indexes';

COMMENT ON FUNCTION perfkit.recommend_indexes(float8, int, bigint) IS
'indexes chosen for the whole captured workload of this database, in the order chosen';

CREATE FUNCTION perfkit.apply_index(statement text)
RETURNS regclass
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_apply_index';

COMMENT ON FUNCTION perfkit.apply_index(text) IS
'build an index that index_advisor() or recommend_indexes() proposed in this session (without CONCURRENTLY)';

--
-- The Citus tables (distributed, reference, Citus local) of this node, if
-- Citus is installed: their indexes are used on the shards, on the
-- workers, so their scans do not count here (unused_indexes() says so).
--
CREATE FUNCTION perfkit._advisor_citus_tables()
RETURNS SETOF oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
		RETURN QUERY EXECUTE 'SELECT logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_partition';
	END IF;
END
$$;

--
-- Index lint.  Indexes that back a primary key, a unique or exclusion
-- constraint, or that are unique, are never proposed for dropping.
-- Tables of pg_catalog, information_schema, pg_toast and perfkit are left
-- out.  stats_reset is when this database's statistics were last reset:
-- idx_scan counts scans since then.
--
CREATE FUNCTION perfkit.unused_indexes()
RETURNS TABLE(index_name regclass, table_name regclass, index_bytes bigint,
			  idx_scan bigint, stats_reset timestamptz, drop_statement text,
			  reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH citus AS (SELECT t AS relid FROM perfkit._advisor_citus_tables() t),
	unused AS (
		SELECT i.indexrelid, i.indrelid, s.idx_scan,
			   i.indrelid IN (SELECT relid FROM citus) AS citus,
			   -- the first foreign key this index alone serves: its columns
			   -- lead it (any order), and no other valid index of the table
			   -- (non-partial, no expressions) led by them stays: one that
			   -- is scanned or backs a constraint, or an older unused one
			   -- (of several unused ones, the oldest is kept)
			   (SELECT k.oid
				FROM pg_constraint k
				WHERE k.contype = 'f' AND k.conrelid = i.indrelid
				  AND i.indpred IS NULL AND i.indexprs IS NULL
				  AND i.indnkeyatts >= cardinality(k.conkey)
				  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
				  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey
				  AND NOT EXISTS (
					SELECT FROM pg_index o
					WHERE o.indrelid = k.conrelid AND o.indexrelid <> i.indexrelid
					  AND o.indisvalid AND o.indpred IS NULL AND o.indexprs IS NULL
					  AND o.indnkeyatts >= cardinality(k.conkey)
					  AND (o.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
					  AND (o.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey
					  AND (o.indexrelid < i.indexrelid
						   OR o.indisunique OR o.indisprimary OR o.indisexclusion
						   OR EXISTS (SELECT FROM pg_constraint ok WHERE ok.conindid = o.indexrelid)
						   OR coalesce((SELECT os.idx_scan FROM pg_stat_all_indexes os
										WHERE os.indexrelid = o.indexrelid), 0) > 0))
				ORDER BY k.conname
				LIMIT 1) AS fk
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
		WHERE (s.idx_scan = 0 OR i.indrelid IN (SELECT relid FROM citus))
		  AND i.indisvalid
		  AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
		  AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
									 'pg_toast'::regnamespace, 'perfkit'::regnamespace)
	)
	SELECT u.indexrelid::regclass, u.indrelid::regclass,
		   pg_relation_size(u.indexrelid), CASE WHEN NOT u.citus THEN u.idx_scan END,
		   (SELECT d.stats_reset FROM pg_stat_database d WHERE d.datname = current_database()),
		   CASE WHEN u.fk IS NULL AND NOT u.citus THEN format('DROP INDEX CONCURRENTLY %s', u.indexrelid::regclass) END,
		   CASE WHEN u.citus THEN 'not judged: an index of a Citus table is scanned on its shards, on the workers, whose scans this node does not count'
				WHEN u.fk IS NULL THEN 'never scanned since the statistics were reset'
				ELSE format('keep: the only index serving foreign key %I to %s (deleting or updating a referenced row scans it)',
							k.conname, k.confrelid::regclass)
		   END
	FROM unused u
	LEFT JOIN pg_constraint k ON k.oid = u.fk
	ORDER BY pg_relation_size(u.indexrelid) DESC, u.indexrelid::regclass::text
$$;

COMMENT ON FUNCTION perfkit.unused_indexes() IS
'indexes never scanned since the statistics were reset; never unique or constraint-backing ones; the only index of a foreign key is listed with no drop statement';

CREATE FUNCTION perfkit.duplicate_indexes()
RETURNS TABLE(index_name regclass, covered_by regclass, table_name regclass,
			  kind text, index_bytes bigint, drop_statement text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH ix AS (
		SELECT i.indexrelid, i.indrelid, c.relam, i.indisunique, i.indisprimary,
			   i.indisexclusion, i.indnkeyatts, i.indnatts,
			   (i.indkey::int2[])[0:i.indnkeyatts - 1] AS keys,
			   i.indkey::int2[] AS allcols,
			   (i.indclass::oid[])[0:i.indnkeyatts - 1] AS classes,
			   (i.indcollation::oid[])[0:i.indnkeyatts - 1] AS colls,
			   (i.indoption::int2[])[0:i.indnkeyatts - 1] AS options,
			   pg_get_expr(i.indexprs, i.indrelid) AS exprs,
			   pg_get_expr(i.indpred, i.indrelid) AS pred,
			   EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS backs_constraint
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indisvalid
		  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
									 'pg_toast'::regnamespace, 'perfkit'::regnamespace)
	)
	SELECT a.indexrelid::regclass, b.indexrelid::regclass, a.indrelid::regclass,
		   CASE WHEN a.keys = b.keys AND a.allcols = b.allcols THEN 'exact' ELSE 'prefix' END,
		   pg_relation_size(a.indexrelid),
		   format('DROP INDEX CONCURRENTLY %s', a.indexrelid::regclass)
	FROM ix a
	JOIN ix b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
			 AND b.relam = a.relam
			 AND b.exprs IS NOT DISTINCT FROM a.exprs
			 AND b.pred IS NOT DISTINCT FROM a.pred
	WHERE NOT a.indisunique AND NOT a.indisprimary AND NOT a.indisexclusion
	  AND NOT a.backs_constraint
	  -- a's keys lead b's keys, with the same classes, collations, orders
	  AND a.indnkeyatts <= b.indnkeyatts
	  AND a.keys = b.keys[1:a.indnkeyatts]
	  AND a.classes = b.classes[1:a.indnkeyatts]
	  AND a.colls = b.colls[1:a.indnkeyatts]
	  AND a.options = b.options[1:a.indnkeyatts]
	  -- a's INCLUDE columns are all in b
	  AND a.allcols <@ b.allcols
	  -- only btree keys are ordered, so only btree has prefixes
	  AND (a.keys = b.keys OR a.relam = (SELECT oid FROM pg_am WHERE amname = 'btree'))
	  -- of two exact duplicates, keep one: the unique/constraint one, else the older
	  AND NOT (a.keys = b.keys AND a.allcols = b.allcols
			   AND NOT (b.indisunique OR b.indisprimary OR b.backs_constraint)
			   AND b.indexrelid > a.indexrelid)
	ORDER BY a.indrelid::regclass::text, a.indexrelid::regclass::text, b.indexrelid::regclass::text
$$;

COMMENT ON FUNCTION perfkit.duplicate_indexes() IS
'indexes whose keys equal or lead another index of the same table (same method, classes, expressions and predicate)';

CREATE FUNCTION perfkit.invalid_indexes()
RETURNS TABLE(index_name regclass, table_name regclass, index_bytes bigint,
			  definition text, drop_statement text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT i.indexrelid::regclass, i.indrelid::regclass, pg_relation_size(i.indexrelid),
		   pg_get_indexdef(i.indexrelid),
		   format('DROP INDEX CONCURRENTLY %s', i.indexrelid::regclass)
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	WHERE NOT i.indisvalid
	  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pg_toast'::regnamespace)
	ORDER BY i.indrelid::regclass::text, i.indexrelid::regclass::text
$$;

COMMENT ON FUNCTION perfkit.invalid_indexes() IS
'indexes left invalid (a failed CREATE INDEX CONCURRENTLY): never used, still maintained';

CREATE FUNCTION perfkit.unindexed_foreign_keys()
RETURNS TABLE(table_name regclass, constraint_name name, columns text,
			  referenced_table regclass, table_bytes bigint, index_statement text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.conrelid::regclass, k.conname,
		   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n)
			FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
			JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
		   k.confrelid::regclass, pg_table_size(k.conrelid),
		   format('CREATE INDEX CONCURRENTLY %I ON %s USING btree (%s)',
				  left(c.relname || '_' ||
					   (SELECT string_agg(a.attname, '_' ORDER BY u.n)
						FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
						JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
					   59) || '_idx',
				  k.conrelid::regclass,
				  (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n)
				   FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
				   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum))
	FROM pg_constraint k
	JOIN pg_class c ON c.oid = k.conrelid
	WHERE k.contype = 'f'
	  AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
								 'perfkit'::regnamespace)
	  -- no valid, non-partial index whose leading keys are the FK columns (any order)
	  AND NOT EXISTS (
		SELECT FROM pg_index i
		WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
		  AND i.indexprs IS NULL
		  AND i.indnkeyatts >= cardinality(k.conkey)
		  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
		  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey)
	ORDER BY k.conrelid::regclass::text, k.conname
$$;

COMMENT ON FUNCTION perfkit.unindexed_foreign_keys() IS
'foreign keys no index leads with: deletes and key updates on the referenced table scan the referencing one';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION perfkit._workload() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._workload() TO pg_read_all_stats;

REVOKE ALL ON perfkit.workload FROM PUBLIC;

GRANT SELECT ON perfkit.workload TO pg_read_all_stats;

REVOKE ALL ON FUNCTION perfkit.workload_reset() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.recommend_indexes(float8, int, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit.recommend_indexes(float8, int, bigint) TO pg_read_all_stats;

-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

-- Indexes left invalid, from the index lint.
CREATE FUNCTION perfkit._health_advisor()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
		SELECT 'invalid_indexes', v.n::float8,
			   CASE WHEN v.n = 0 THEN '0' ELSE format('%s: %s', v.n, v.names) END,
			   v.n::float8, NULL::text, NULL::text
		FROM (SELECT count(*) AS n, string_agg(i.index_name::text, ', ' ORDER BY i.index_name::text) AS names
			  FROM perfkit.invalid_indexes() i) v;
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('invalid_indexes', 13, 'advisor', 'perfkit._health_advisor',
	 'indexes left invalid (perfkit.invalid_indexes())', 'count', 'above', NULL, 0, NULL, NULL, '{}',
	 'warning > %1$s',
	 'Invalid indexes are maintained but never used: drop them (drop_statement in perfkit.invalid_indexes()) and build them again.');

REVOKE ALL ON FUNCTION perfkit._health_advisor() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_advisor() TO pg_monitor;
