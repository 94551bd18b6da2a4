-- test/upgrade/schema_dump.sql: perfkit's schema as sorted lines of text.
--
-- Two databases whose perfkit was built in different ways (a fresh
-- install, an older release updated, the rooms' sources loaded directly)
-- must print the same lines.  Each line names one fact: a routine's whole
-- definition (pg_get_functiondef: arguments, result, language, volatility,
-- SECURITY DEFINER, SET clauses, body), its privileges and comment; a
-- relation's kind, columns, defaults, constraints, indexes, view query,
-- row security, policies, triggers, privileges and comment; a sequence's
-- parameters; the schema's privileges; the tables pg_dump keeps for the
-- extension; the job rows perfkit registers.  Privileges are compared as
-- what they grant: a NULL ACL reads as its default.  OIDs and anything
-- else that differs between two correct installs are left out.
\pset format unaligned
\pset tuples_only on
\pset pager off
SET search_path = pg_catalog;
SET client_min_messages = warning;

WITH n AS (SELECT oid FROM pg_namespace WHERE nspname = 'perfkit'),
routine AS (
	SELECT p.oid, p.oid::regprocedure::text AS sig,
		coalesce(p.proacl, acldefault('f', p.proowner)) AS proacl
	FROM pg_proc p, n WHERE p.pronamespace = n.oid
),
rel AS (
	SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
		coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS relacl
	FROM pg_class c, n WHERE c.relnamespace = n.oid
),
facts(line) AS (
	SELECT 'routine ' || r.sig || E'\n' || pg_get_functiondef(r.oid) FROM routine r
	UNION ALL
	SELECT 'routine ' || r.sig || ' acl ' || coalesce(
		(SELECT string_agg(a::text, ',' ORDER BY a::text)
		 FROM unnest(r.proacl) a), 'none') FROM routine r
	UNION ALL
	SELECT 'routine ' || r.sig || ' comment ' || d.description
	FROM routine r JOIN pg_description d ON d.objoid = r.oid AND d.classoid = 'pg_proc'::regclass
	UNION ALL
	SELECT format('relation %s kind %s rls %s/%s acl %s', r.relname, r.relkind,
		r.relrowsecurity, r.relforcerowsecurity,
		coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(r.relacl) a), 'none'))
	FROM rel r
	UNION ALL
	SELECT format('relation %s comment %s', r.relname, d.description)
	FROM rel r JOIN pg_description d ON d.objoid = r.oid AND d.classoid = 'pg_class'::regclass
		AND d.objsubid = 0
	UNION ALL
	SELECT format('relation %s column %s %s %s%s%s%s', r.relname, a.attnum, a.attname,
		format_type(a.atttypid, a.atttypmod),
		CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
		coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
		coalesce(' comment ' || d.description, ''))
	FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
	LEFT JOIN pg_description d ON d.objoid = r.oid AND d.classoid = 'pg_class'::regclass
		AND d.objsubid = a.attnum
	WHERE r.relkind IN ('r', 'v', 'p', 'c')
	UNION ALL
	SELECT format('relation %s constraint %s %s', r.relname, k.conname, pg_get_constraintdef(k.oid))
	FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
	UNION ALL
	SELECT format('relation %s index %s', r.relname,
		regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ', 'CREATE \1INDEX '))
	FROM rel r JOIN pg_index i ON i.indrelid = r.oid
	UNION ALL
	SELECT format('relation %s query %s', r.relname, pg_get_viewdef(r.oid))
	FROM rel r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('relation %s policy %s %s roles %s using %s check %s', r.relname, p.polname,
		p.polcmd, p.polroles::regrole[]::text, pg_get_expr(p.polqual, p.polrelid),
		pg_get_expr(p.polwithcheck, p.polrelid))
	FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
	UNION ALL
	SELECT format('relation %s trigger %s', r.relname, pg_get_triggerdef(t.oid))
	FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
	UNION ALL
	SELECT format('sequence %s %s start %s increment %s min %s max %s cache %s cycle %s',
		r.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
		s.seqcache, s.seqcycle)
	FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
	UNION ALL
	SELECT 'schema acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text)
		FROM unnest(coalesce(ns.nspacl, acldefault('n', ns.nspowner))) a), 'none')
	FROM pg_namespace ns WHERE ns.nspname = 'perfkit'
)
SELECT line FROM facts ORDER BY line COLLATE "C";

-- The tables pg_dump keeps for the extension.  The rooms' sources loaded
-- outside CREATE EXTENSION record their pg_extension_config_dump() calls
-- in perfkit_shim.config_dump instead (see test/t/011_upgrade.pl).
SELECT to_regclass('perfkit_shim.config_dump') IS NOT NULL AS shim \gset
\if :shim
SELECT line FROM (SELECT 'extension config ' || rel::text || ' ' || cond
	FROM perfkit_shim.config_dump) x(line) ORDER BY line COLLATE "C";
\else
SELECT line FROM (SELECT 'extension config ' || c.oid::regclass::text || ' ' || coalesce(x.cond, '')
	FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(cfg, cond)
	JOIN pg_class c ON c.oid = x.cfg
	WHERE e.extname = 'perfkit') y(line) ORDER BY line COLLATE "C";
\endif

-- The jobs perfkit registers.
SELECT line FROM (SELECT 'job ' || concat_ws(' | ', VARIADIC (SELECT array_agg(v ORDER BY k)
	FROM jsonb_each_text(to_jsonb(j)) AS x(k, v)))
	FROM perfkit.job_registry j) y(line) ORDER BY line COLLATE "C";

-- The health checks perfkit registers.
SELECT line FROM (SELECT 'check ' || concat_ws(' | ', VARIADIC (SELECT array_agg(v ORDER BY k)
	FROM jsonb_each_text(to_jsonb(c)) AS x(k, v)))
	FROM perfkit.health_checks c) y(line) ORDER BY line COLLATE "C";
