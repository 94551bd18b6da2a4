--
-- upgrade: every version is reachable from the oldest one, and installing
-- the oldest version then updating yields exactly what a fresh install of
-- the default version does (objects, function definitions, view
-- definitions, columns, registry rows).
--
SELECT version FROM pg_available_extension_versions
WHERE name = 'perfkit'
ORDER BY string_to_array(version, '.')::int[];

SELECT default_version, installed_version
FROM pg_available_extensions WHERE name = 'perfkit';

-- A description of everything the extension is, as one row per fact.
CREATE FUNCTION pg_temp.perfkit_shape() RETURNS SETOF text LANGUAGE sql AS $$
	SELECT pg_describe_object(classid, objid, objsubid)
	FROM pg_depend
	WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'perfkit')
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ': ' || pg_get_functiondef(p.oid)
	FROM pg_proc p WHERE p.pronamespace = 'perfkit'::regnamespace
	UNION ALL
	SELECT 'view ' || c.oid::regclass || ': ' || pg_get_viewdef(c.oid)
	FROM pg_class c WHERE c.relnamespace = 'perfkit'::regnamespace AND c.relkind = 'v'
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' '
		   || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	WHERE c.relnamespace = 'perfkit'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'acl ' || c.oid::regclass || ': ' || coalesce(c.relacl::text, '')
	FROM pg_class c WHERE c.relnamespace = 'perfkit'::regnamespace
	UNION ALL
	SELECT 'acl ' || p.oid::regprocedure || ': ' || coalesce(p.proacl::text, '')
	FROM pg_proc p WHERE p.pronamespace = 'perfkit'::regnamespace
	UNION ALL
	SELECT 'job ' || r::text FROM perfkit.job_registry r
$$;

CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.perfkit_shape() AS f(fact);
SELECT count(*) > 10 AS shape_is_described FROM fresh;

DROP EXTENSION perfkit;
-- Nothing is left behind, the schema included.
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname = 'perfkit';

DO $$
DECLARE
	oldest text;
BEGIN
	SELECT version INTO oldest FROM pg_available_extension_versions
	WHERE name = 'perfkit' ORDER BY string_to_array(version, '.')::int[] LIMIT 1;
	EXECUTE format('CREATE EXTENSION perfkit VERSION %L', oldest);
	ALTER EXTENSION perfkit UPDATE;
END
$$;

SELECT extversion = (SELECT default_version FROM pg_available_extensions
					 WHERE name = 'perfkit') AS at_default_version
FROM pg_extension WHERE extname = 'perfkit';

CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.perfkit_shape() AS f(fact);
-- Facts only in one of the two: none.
(SELECT 'only fresh' AS side, fact FROM fresh EXCEPT SELECT 'only fresh', fact FROM updated)
UNION ALL
(SELECT 'only updated', fact FROM updated EXCEPT SELECT 'only updated', fact FROM fresh)
ORDER BY 1, 2;
