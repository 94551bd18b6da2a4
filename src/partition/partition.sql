/*
 * src/partition/partition.sql: the SQL of the partitions room (C: sets.c,
 * maintenance.c, drain.c, retention.c, layout.c, timekey.c, views.c,
 * convert.c, convert_worker.c, checksum.c).
 *
 * In order: partition sets and their maintenance (the catalog, the
 * functions, the views, the job); online conversion (its catalog, its log,
 * the functions, the progress view); privileges.
 *
 * One row per partition set: a table range-partitioned on a time column
 * that perfkit maintains.  start is in key time: for timestamp and date
 * keys, the wall-clock value encoded as UTC.  The rows are the user's:
 * pg_dump dumps them.
 */
CREATE TABLE perfkit.partition_config (
	parent regclass PRIMARY KEY,
	column_name name NOT NULL,
	every interval NOT NULL,
	premake integer NOT NULL CHECK (premake BETWEEN 0 AND 1000),
	start timestamptz,
	default_partition boolean NOT NULL DEFAULT true,
	brin boolean NOT NULL DEFAULT false,
	retention interval,
	retention_mode text CHECK (retention_mode IN ('detach', 'drop')),
	archive_schema name,
	require_rollups boolean NOT NULL DEFAULT true,
	-- set_retention(..., force => true): the next run may drop more than
	-- perfkit.retention_drop_max_share of the rows; cleared by that run
	retention_force boolean NOT NULL DEFAULT false,
	last_run timestamptz,
	last_status text,
	last_error text,
	last_kept text,
	-- what the last full run saw, for the fast path of runs with nothing to do
	layout_digest bigint,
	covered_from timestamptz,
	covered_to timestamptz,
	oldest_upper timestamptz,
	default_rel oid
);

COMMENT ON TABLE perfkit.partition_config IS
'partition sets perfkit maintains; written by partition_table(), set_retention() and run_maintenance()';

SELECT pg_catalog.pg_extension_config_dump('perfkit.partition_config', '');

CREATE FUNCTION perfkit.partition_table(tbl regclass, "column" name, every interval,
	premake integer DEFAULT NULL, start timestamptz DEFAULT NULL,
	default_partition boolean DEFAULT NULL, brin boolean DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_partition_table';

COMMENT ON FUNCTION perfkit.partition_table(regclass, name, interval, integer, timestamptz, boolean, boolean) IS
'manage a range-partitioned table: register it (premake 4, start at the oldest row, a default partition, no BRIN unless given) or change only the settings given, and create its partitions up to now + premake intervals; returns how many were created';

CREATE FUNCTION perfkit.set_retention(tbl regclass, keep interval, mode text DEFAULT 'detach',
	require_rollups boolean DEFAULT true, archive_schema name DEFAULT NULL,
	force boolean DEFAULT false)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_set_retention';

COMMENT ON FUNCTION perfkit.set_retention(regclass, interval, text, boolean, name, boolean) IS
'retire partitions older than keep (detach or drop) once no rollup needs them; a NOTICE says what the next run retires; force lets one run drop more than perfkit.retention_drop_max_share of the rows; a NULL keep removes the policy';

CREATE FUNCTION perfkit.retention_preview(tbl regclass DEFAULT NULL)
RETURNS TABLE (partitioned_table regclass, partition regclass, range_start text,
			   range_end text, rows_estimate bigint, mode text, action text, blocked_by text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_retention_preview';

COMMENT ON FUNCTION perfkit.retention_preview(regclass) IS
'what the next run of retention would do to each partition past retention (of tbl, or of every table the caller owns): detach, drop or keep, and what keeps it';

CREATE FUNCTION perfkit.run_maintenance(tbl regclass DEFAULT NULL)
RETURNS TABLE (partitioned_table regclass, status text, created integer, moved bigint,
			   retired integer, kept integer, detail text)
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_run_maintenance';

COMMENT ON FUNCTION perfkit.run_maintenance(regclass) IS
'premake partitions, fill gaps, drain the default partition and apply retention, per table; one subtransaction each';

CREATE PROCEDURE perfkit.run_maintenance_job()
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_run_maintenance_job';

COMMENT ON PROCEDURE perfkit.run_maintenance_job() IS
'the partitions job: run_maintenance() over every table the caller owns, committing after each';

CREATE FUNCTION perfkit._partitions(
	OUT parent regclass, OUT partition regclass, OUT is_default boolean,
	OUT range_start text, OUT range_end text, OUT ord bigint)
RETURNS SETOF record
LANGUAGE C STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_partitions';

CREATE FUNCTION perfkit._default_rows(parent regclass)
RETURNS bigint
LANGUAGE C STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_default_rows';

/*
 * perfkit.partitions: every partition of every set, oldest first, the
 * default partition last.  Bounds are in the key's own type, as text.
 */
CREATE VIEW perfkit.partitions AS
SELECT p.parent,
	   p.partition,
	   p.is_default,
	   p.range_start,
	   p.range_end,
	   CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS rows_estimate,
	   pg_catalog.pg_total_relation_size(p.partition) AS bytes
FROM perfkit._partitions() p
JOIN pg_catalog.pg_class c ON c.oid = p.partition
ORDER BY p.parent::text, p.ord;

COMMENT ON VIEW perfkit.partitions IS
'partitions of the tables perfkit maintains, with their ranges and sizes';

/*
 * perfkit.partition_sets: one row per maintained table.
 */
CREATE VIEW perfkit.partition_sets AS
SELECT s.parent AS "table",
	   s.column_name AS "column",
	   s.every AS "interval",
	   s.premake,
	   s.retention,
	   s.retention_mode,
	   s.archive_schema,
	   s.require_rollups,
	   coalesce(p.partitions, 0) AS partitions,
	   p.oldest_bound,
	   p.newest_bound,
	   p.default_partition,
	   perfkit._default_rows(s.parent) AS rows_in_default,
	   s.last_run,
	   s.last_status,
	   s.last_error,
	   s.last_kept AS retention_kept
FROM perfkit.partition_config s
JOIN pg_catalog.pg_class c ON c.oid = s.parent
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE NOT x.is_default) AS partitions,
		   min(x.range_start) FILTER (WHERE x.ord = 1 AND NOT x.is_default) AS oldest_bound,
		   (array_agg(x.range_end ORDER BY x.ord DESC) FILTER (WHERE NOT x.is_default))[1]
			 AS newest_bound,
		   min(x.partition::text) FILTER (WHERE x.is_default)::regclass AS default_partition
	FROM perfkit._partitions() x
	WHERE x.parent = s.parent
) p ON true
ORDER BY s.parent::text;

COMMENT ON VIEW perfkit.partition_sets IS
'tables perfkit maintains: settings, partitions, rows in the default partition, last run';

INSERT INTO perfkit.job_registry (job, command, default_schedule, description) VALUES
	('partitions', 'CALL perfkit.run_maintenance_job()', '*/10 * * * *',
	 'premake partitions, drain default partitions and apply retention, every 10 minutes');

/*
 * Conversions in progress: one row per table being converted by
 * convert_to_partitioned(), committed after every batch (progress).
 */
CREATE TABLE perfkit.conversions (
	"table" regclass PRIMARY KEY,
	new_table regclass NOT NULL,
	column_name name NOT NULL,
	every interval NOT NULL,
	relfilenode oid NOT NULL,
	phase text NOT NULL,
	watermark bigint NOT NULL,
	blocks_total bigint NOT NULL,
	rows_copied bigint NOT NULL,
	unique_keys text NOT NULL DEFAULT 'refuse' CHECK (unique_keys IN ('refuse', 'extend')),
	started_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

COMMENT ON TABLE perfkit.conversions IS
'tables being converted by convert_to_partitioned(): next block to copy, rows copied';

/*
 * The tids of row versions written in a table being converted, until the
 * conversion has synced them.  Anyone may insert (the capture trigger runs
 * as the writer); a bogus row only causes a needless re-copy of that tid.
 */
CREATE TABLE perfkit.convert_log (
	relid oid NOT NULL,
	blk bigint NOT NULL,
	src tid NOT NULL,
	old boolean NOT NULL DEFAULT false,	-- a version updated or deleted there
	key bigint								-- the partition key of that version
);

CREATE INDEX ON perfkit.convert_log (relid, blk);

CREATE FUNCTION perfkit._convert_capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_convert_capture';

CREATE FUNCTION perfkit.convert_to_partitioned_abort(tbl regclass)
RETURNS boolean
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_convert_abort';

COMMENT ON FUNCTION perfkit.convert_to_partitioned_abort(regclass) IS
'abandon a conversion in progress: drop the new table and the capture trigger; the table is unchanged';

CREATE VIEW perfkit.conversion_progress AS
SELECT c."table",
	   c.new_table,
	   c.column_name AS "column",
	   c.every AS "interval",
	   c.phase,
	   c.rows_copied,
	   c.watermark AS blocks_copied,
	   c.blocks_total,
	   round(100.0 * least(c.watermark, c.blocks_total) / greatest(c.blocks_total, 1), 1) AS pct,
	   (SELECT count(*) FROM perfkit.convert_log l WHERE l.relid = c."table") AS writes_to_sync,
	   c.started_at,
	   c.updated_at
FROM perfkit.conversions c
ORDER BY c."table"::text;

COMMENT ON VIEW perfkit.conversion_progress IS
'progress of convert_to_partitioned() runs: rows and blocks copied, writes waiting to be synced';

CREATE FUNCTION perfkit.convert_to_partitioned(tbl regclass, "column" name, every interval,
	batch_rows integer DEFAULT 50000, max_batches integer DEFAULT NULL,
	unique_keys text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'perfkit_convert_to_partitioned';

COMMENT ON FUNCTION perfkit.convert_to_partitioned(regclass, name, interval, integer, integer, text) IS
'turn a plain table into a table partitioned by range on a time column, copying rows in batches (committed by a background worker) while writers go on; resumable; unique_keys => ''extend'' widens unique keys that lack the column; returns the rows moved';

/*
 * Dropping a table being converted (DROP TABLE ... CASCADE) drops its
 * half-built copy and its conversion state; dropping a partition set's
 * table removes its row from perfkit.partition_config.
 */
CREATE FUNCTION perfkit._partition_sql_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_partition_sql_drop';

CREATE EVENT TRIGGER perfkit_partition_sql_drop ON sql_drop
	EXECUTE FUNCTION perfkit._partition_sql_drop();

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON PROCEDURE perfkit.run_maintenance_job() FROM PUBLIC;

GRANT SELECT ON perfkit.partition_config TO PUBLIC;

GRANT SELECT ON perfkit.partitions, perfkit.partition_sets TO PUBLIC;

GRANT SELECT ON perfkit.conversions, perfkit.conversion_progress TO PUBLIC;

/*
 * perfkit.convert_log has no grant: the capture trigger of a conversion
 * writes it as the extension's owner, so that no role can add entries that
 * make another role's conversion delete or recopy rows.
 */
-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

/*
 * A partition bound as a timestamp, or NULL when it is not one (a bound of
 * an integer column, MINVALUE, MAXVALUE).
 */
CREATE FUNCTION perfkit._as_timestamptz(bound text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN bound::timestamptz;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
	RETURN NULL;
END
$$;

/*
 * The maintained tables, in one pass over perfkit.partition_sets: those
 * whose newest partition ends less than max(premake - 1, 1) intervals
 * ahead (critical when none covers now), and the rows in their default
 * partitions.  Bounds that are not timestamps are not judged.  A failure
 * to read the view is reported by both checks.
 */
CREATE FUNCTION perfkit._health_partition()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	SELECT count(*) AS n,
		   count(*) FILTER (WHERE coalesce(p.partitions, 0) = 0 OR p.nb <= now()) AS uncovered,
		   count(*) FILTER (WHERE coalesce(p.partitions, 0) = 0
							OR p.nb < now() + p."interval" * greatest(p.premake - 1, 1)) AS short,
		   string_agg(p."table"::text, ', ' ORDER BY p."table"::text)
			 FILTER (WHERE coalesce(p.partitions, 0) = 0
					 OR p.nb < now() + p."interval" * greatest(p.premake - 1, 1)) AS short_names,
		   coalesce(sum(p.rows_in_default), 0) AS default_rows,
		   string_agg(p."table"::text || ' (' || p.rows_in_default || ')', ', '
					  ORDER BY p."table"::text) FILTER (WHERE p.rows_in_default > 0) AS default_names
	INTO r
	FROM (SELECT s."table", s."interval", s.premake, s.rows_in_default, s.partitions,
				 perfkit._as_timestamptz(s.newest_bound) AS nb
		  FROM perfkit.partition_sets s) p;
	RETURN QUERY VALUES
		('partition_premake', r.short::float8,
		 CASE WHEN r.n = 0 THEN 'no partition sets'
			  WHEN r.short = 0 THEN format('%s sets, all premade', r.n)
			  ELSE format('%s of %s short: %s', r.short, r.n, r.short_names) END,
		 r.short::float8, CASE WHEN r.uncovered > 0 THEN 'critical' END, NULL::text),
		('partition_default_rows', r.default_rows::float8,
		 CASE WHEN r.default_rows = 0 THEN '0' ELSE format('%s: %s', r.default_rows, r.default_names) END,
		 r.default_rows::float8, NULL, NULL);
EXCEPTION WHEN others THEN
	RETURN QUERY
		SELECT c, NULL::float8, NULL::text, NULL::float8, NULL::text,
			   'cannot read perfkit.partition_sets: ' || SQLERRM
		FROM unnest(ARRAY['partition_premake', 'partition_default_rows']) c;
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('partition_premake', 11, 'partition', 'perfkit._health_partition',
	 'maintained tables of perfkit.partition_sets whose newest partition ends less than max(premake - 1, 1) intervals from now; critical when no partition covers now, or the table has none',
	 'count', 'above', NULL, 0, NULL, NULL, '{}',
	 'warning: newest partition ends less than max(premake - 1, 1) intervals ahead; critical: none covers now',
	 'Future partitions are missing: check that the partitions job runs (perfkit.jobs) and read last_error in perfkit.partition_sets.'),
	('partition_default_rows', 12, 'partition', 'perfkit._health_partition',
	 'rows in default partitions (rows_in_default of perfkit.partition_sets)',
	 'count', 'above', NULL, 0, NULL, NULL, '{}',
	 'warning > %1$s rows in a default partition',
	 'Rows landed in a default partition: the partitions job moves them once their partitions exist.');

REVOKE ALL ON FUNCTION perfkit._health_partition() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_partition() TO pg_monitor;
