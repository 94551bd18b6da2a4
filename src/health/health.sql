/*
 * Health: perfkit.health(), health_summary() and metrics(), and the
 * statement statistics (slow_queries(), n_plus_one_suspects()).
 *
 * The checks are data (src/health/checks.sql): each room declares its own
 * in perfkit.health_checks, with the function that measures them, at the
 * end of its SQL file; the database-wide checks (buffer cache, sessions,
 * transaction IDs, sequential scans) are declared at the end of this one.
 * perfkit._health() runs every room's measuring function once, reads each
 * check's thresholds and judges it with perfkit._health_judge(); health(),
 * health_summary() and metrics() all read _health(), so a new check is a
 * registry row and a row of its room's measure, nothing here.
 */

/*
 * Every row the rooms' measuring functions return (see checks.sql), each
 * function named by the registry called once.  Invoker's rights: the
 * caller (a pg_monitor member) reads pg_stat_activity, the jobs view and
 * the statistics views as itself.
 */
CREATE FUNCTION perfkit._health_measurements()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fn text;
BEGIN
	FOR fn IN SELECT DISTINCT c.measured_by FROM perfkit.health_checks c ORDER BY 1 LOOP
		RETURN QUERY EXECUTE format('SELECT * FROM %s()', fn::regproc);
	END LOOP;
END
$$;

/*
 * The checks of the registry, judged, with the measured value as a number
 * for metrics().  A check its function did not measure, or could not, is a
 * warning that says why, with no hint.
 */
CREATE FUNCTION perfkit._health(
	OUT ord integer, OUT check_name text, OUT status text, OUT value text,
	OUT threshold text, OUT hint text, OUT metric float8)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT c.ord, c.check_name, s.status, coalesce(e.error, m.shown),
		   format(c.threshold, VARIADIC ARRAY[w.shown, k.shown]
				  || ARRAY(SELECT current_setting(p.name)::float8::text
						   FROM unnest(c.parameters) WITH ORDINALITY p(name, n) ORDER BY p.n)),
		   CASE WHEN s.status <> 'ok' AND e.error IS NULL THEN c.hint END,
		   CASE WHEN e.error IS NULL THEN m.metric END
	FROM perfkit.health_checks c
	LEFT JOIN perfkit._health_measurements() m ON m.check_name = c.check_name
	CROSS JOIN LATERAL (
		SELECT coalesce(m.error, CASE WHEN m.check_name IS NULL
									  THEN format('not measured by %s()', c.measured_by) END) AS error) e
	CROSS JOIN LATERAL perfkit._health_threshold(c.warn_setting, c.warn, c.unit) w
	CROSS JOIN LATERAL perfkit._health_threshold(c.critical_setting, c.critical, c.unit) k
	CROSS JOIN LATERAL (
		SELECT CASE WHEN e.error IS NOT NULL THEN 'warning'
					ELSE perfkit._health_judge(m.value, w.v, k.v, c.direction, m.at_least) END AS status) s;
END
$$;

CREATE FUNCTION perfkit.health()
RETURNS TABLE(check_name text, status text, value text, threshold text, hint text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT h.check_name, h.status, h.value, h.threshold, h.hint
	FROM perfkit._health() h ORDER BY h.ord
$$;

COMMENT ON FUNCTION perfkit.health() IS
'health checks of the database and of perfkit, each ok, warning or critical (thresholds: perfkit.health_* settings)';

CREATE FUNCTION perfkit.health_summary()
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'status', CASE max(CASE h.status WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)
					  WHEN 2 THEN 'critical' WHEN 1 THEN 'warning' ELSE 'ok' END,
		'checked_at', now(),
		'warnings', count(*) FILTER (WHERE h.status = 'warning'),
		'criticals', count(*) FILTER (WHERE h.status = 'critical'),
		'checks', jsonb_agg(jsonb_build_object('check', h.check_name, 'status', h.status,
											   'value', h.value, 'threshold', h.threshold,
											   'hint', h.hint) ORDER BY h.ord))
	FROM perfkit._health() h
$$;

COMMENT ON FUNCTION perfkit.health_summary() IS
'overall status (the worst check) and every check, as jsonb for an application''s health endpoint';

--
-- Prometheus text exposition
--


-- A label value with backslash, double quote and line feed escaped.
CREATE FUNCTION perfkit._prom_label(v text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN replace(replace(replace(v, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n');

-- A sample value as the format spells it (Go float syntax, NaN, +Inf, -Inf).
CREATE FUNCTION perfkit._prom_value(v float8)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN v IS NULL OR v = 'NaN'::float8 THEN 'NaN'
			WHEN v = 'Infinity'::float8 THEN '+Inf'
			WHEN v = '-Infinity'::float8 THEN '-Inf'
			ELSE v::text END;

/*
 * The facts of metrics(), as rows: one view per label set, label columns
 * first, then one numeric column per family, NULL where the family has no
 * sample.  SQL exporters read these (contrib/prometheus/queries.yaml for
 * prometheus-postgres-exporter names each metric <query>_<column>, which
 * gives the family names below); metrics() renders the same rows as
 * exposition text, so both paths always agree.
 *
 *	view				labels	families
 *	metrics_health		check	perfkit_health_status, perfkit_health_value
 *	metrics_database	-		perfkit_health_overall, perfkit_cache_*,
 *								perfkit_advisor_workload_*
 *	metrics_rollups		rollup	perfkit_rollup_*
 *	metrics_jobs		job_name perfkit_job_*
 *	metrics_partitions	table	perfkit_partition_default_rows
 *
 * A job's label is job_name, not job: Prometheus gives every scraped
 * sample the label job (the scrape job's name).  A relation's label is
 * its name qualified whatever the reader's search_path, so that the
 * exporter and metrics() label a series alike.
 */
CREATE FUNCTION perfkit._metric_relname(rel regclass)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN (SELECT format('%I.%I', n.nspname, c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = rel);

CREATE VIEW perfkit.metrics_health AS
SELECT h.check_name AS "check",
	   CASE h.status WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END AS status,
	   h.metric AS value,
	   h.ord
FROM perfkit._health() h;

COMMENT ON VIEW perfkit.metrics_health IS
'perfkit_health_status and perfkit_health_value, one row per check of perfkit.health()';

CREATE VIEW perfkit.metrics_database AS
SELECT (SELECT max(h.status) FROM perfkit.metrics_health h) AS health_overall,
	   c.entries AS cache_entries,
	   c.bytes_used AS cache_bytes_used,
	   c.bytes_total AS cache_bytes_total,
	   c.hits AS cache_hits_total,
	   c.misses AS cache_misses_total,
	   c.evictions AS cache_evictions_total,
	   c.expirations AS cache_expirations_total,
	   c.invalidations AS cache_invalidations_total,
	   w.entries AS advisor_workload_entries,
	   w.max_entries AS advisor_workload_max_entries,
	   w.evictions AS advisor_workload_evictions_total
FROM perfkit.cache_stats() c, perfkit.workload_info() w;

COMMENT ON VIEW perfkit.metrics_database IS
'perfkit_health_overall, perfkit_cache_* and perfkit_advisor_workload_*, one row';

CREATE VIEW perfkit.metrics_rollups AS
SELECT perfkit._metric_relname(r.name::regclass) AS rollup,
	   extract(epoch FROM r.lag)::float8 AS lag_seconds,
	   extract(epoch FROM r.last_duration)::float8 AS last_refresh_duration_seconds,
	   r.last_buckets AS last_refresh_buckets,
	   r.pending_buckets,
	   coalesce(r.refreshes, 0) AS refreshes_total,
	   CASE WHEN coalesce(r.last_error_at > coalesce(r.last_refresh_at, '-infinity'), false)
			THEN 1 ELSE 0 END AS last_refresh_failed
FROM perfkit.rollups r;

COMMENT ON VIEW perfkit.metrics_rollups IS
'perfkit_rollup_*, one row per rollup';

CREATE VIEW perfkit.metrics_jobs AS
SELECT j.job AS job_name,
	   j.runs_since_start AS runs_total,
	   j.failures_since_start AS failures_total,
	   j.failures_1d,
	   CASE WHEN j.running THEN 1 ELSE 0 END AS running
FROM perfkit.jobs j;

COMMENT ON VIEW perfkit.metrics_jobs IS
'perfkit_job_*, one row per perfkit job';

CREATE VIEW perfkit.metrics_partitions AS
SELECT perfkit._metric_relname(s."table") AS "table", coalesce(s.rows_in_default, 0) AS default_rows
FROM perfkit.partition_sets s;

COMMENT ON VIEW perfkit.metrics_partitions IS
'perfkit_partition_default_rows, one row per maintained table';

/*
 * Business metrics (src/health/metrics.c): an app's own gauges and
 * counters as SQL queries, each run as the role that defined it (in a
 * security-restricted operation, with its search_path of definition)
 * when metrics are read, within perfkit.metric_timeout, its rows kept in
 * the reading backend for cache_for.  The rows are the user's: pg_dump
 * dumps them.
 */
CREATE TABLE perfkit.user_metrics (
	name text PRIMARY KEY CHECK (name ~ '^[a-z_][a-z0-9_]*$' AND length(name) <= 48),
	query text NOT NULL,
	kind text NOT NULL CHECK (kind IN ('gauge', 'counter')),
	help text NOT NULL,
	owner regrole NOT NULL,
	search_path text NOT NULL,
	cache_for interval NOT NULL,
	defined_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE perfkit.user_metrics IS
'metrics defined with perfkit.define_metric(), exposed as perfkit_user_<name>';

SELECT pg_catalog.pg_extension_config_dump('perfkit.user_metrics', '');

CREATE FUNCTION perfkit.define_metric(name text, query text, kind text DEFAULT 'gauge',
	help text DEFAULT NULL, cache_for interval DEFAULT '10 seconds')
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_define_metric';

COMMENT ON FUNCTION perfkit.define_metric(text, text, text, text, interval) IS
'define (or replace) a metric perfkit_user_<name>: a SELECT of label columns and one numeric value, run as its owner when metrics are read';

CREATE FUNCTION perfkit.drop_metric(name text)
RETURNS boolean
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_drop_metric';

COMMENT ON FUNCTION perfkit.drop_metric(text) IS
'drop a metric defined with perfkit.define_metric()';

CREATE FUNCTION perfkit._user_metric_rows(OUT metric text, OUT kind text, OUT help text,
	OUT labels jsonb, OUT value float8, OUT error text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'perfkit_user_metric_rows';

CREATE VIEW perfkit.metrics_user AS
SELECT u.metric, u.labels, u.value, u.error
FROM perfkit._user_metric_rows() u;

COMMENT ON VIEW perfkit.metrics_user IS
'the rows of the metrics defined with perfkit.define_metric(); error tells why a metric gave none';

/*
 * perfkit.metrics(): the rows above as Prometheus exposition text.  Every
 * family has HELP and TYPE lines, then its samples; names start with
 * perfkit_, counters end in _total.  Counters count since the server
 * started (perfkit's shared memory).
 */
CREATE FUNCTION perfkit.metrics()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	body text;
	parts perfkit.metrics_partitions[];
BEGIN
	-- A default partition that cannot be counted now (the health check
	-- partition_default_rows says why) leaves the family without samples.
	BEGIN
		SELECT array_agg(p) INTO parts FROM perfkit.metrics_partitions p;
	EXCEPTION WHEN others THEN
		parts := NULL;
	END;
	WITH h AS MATERIALIZED (SELECT * FROM perfkit.metrics_health),
	d AS MATERIALIZED (SELECT x.*, (SELECT max(h.status) FROM h) AS overall
					   FROM perfkit.cache_stats() c0,
							LATERAL (SELECT c0.entries, c0.bytes_used, c0.bytes_total, c0.hits,
											c0.misses, c0.evictions, c0.expirations,
											c0.invalidations) x),
	wl AS MATERIALIZED (SELECT * FROM perfkit.workload_info()),
	ro AS MATERIALIZED (SELECT * FROM perfkit.metrics_rollups),
	jo AS MATERIALIZED (SELECT * FROM perfkit.metrics_jobs),
	pa AS MATERIALIZED (SELECT * FROM unnest(parts)),
	um AS MATERIALIZED (SELECT * FROM perfkit._user_metric_rows() u WHERE u.error IS NULL),
	fam(ord, name, kind, help) AS (VALUES
		(1, 'perfkit_health_status', 'gauge', 'Status of a perfkit.health() check: 0 ok, 1 warning, 2 critical.'),
		(2, 'perfkit_health_value', 'gauge', 'Value a perfkit.health() check measured (a ratio, seconds or a count).'),
		(3, 'perfkit_health_overall', 'gauge', 'Worst status of all perfkit.health() checks: 0 ok, 1 warning, 2 critical.'),
		(10, 'perfkit_cache_entries', 'gauge', 'Entries in the result cache.'),
		(11, 'perfkit_cache_bytes_used', 'gauge', 'Bytes of the result cache in use.'),
		(12, 'perfkit_cache_bytes_total', 'gauge', 'Bytes of shared memory of the result cache.'),
		(13, 'perfkit_cache_hits_total', 'counter', 'Result cache reads that found an entry.'),
		(14, 'perfkit_cache_misses_total', 'counter', 'Result cache reads that found no entry.'),
		(15, 'perfkit_cache_evictions_total', 'counter', 'Result cache entries evicted to make room.'),
		(16, 'perfkit_cache_expirations_total', 'counter', 'Result cache entries removed after their TTL.'),
		(17, 'perfkit_cache_invalidations_total', 'counter', 'Result cache entries removed by invalidation.'),
		(20, 'perfkit_rollup_lag_seconds', 'gauge', 'How far a rollup''s watermark is behind the current bucket.'),
		(21, 'perfkit_rollup_last_refresh_duration_seconds', 'gauge', 'Duration of a rollup''s last refresh.'),
		(22, 'perfkit_rollup_last_refresh_buckets', 'gauge', 'Buckets a rollup''s last refresh wrote.'),
		(23, 'perfkit_rollup_pending_buckets', 'gauge', 'Final buckets of a rollup with changes not refreshed yet.'),
		(24, 'perfkit_rollup_refreshes_total', 'counter', 'Refreshes of a rollup.'),
		(25, 'perfkit_rollup_last_refresh_failed', 'gauge', 'Whether a rollup''s last refresh failed: 1 or 0.'),
		(30, 'perfkit_job_runs_total', 'counter', 'Runs of a perfkit maintenance job since the server started.'),
		(31, 'perfkit_job_failures_total', 'counter', 'Failed runs of a perfkit maintenance job since the server started.'),
		(32, 'perfkit_job_failures_1d', 'gauge', 'Failed runs of a perfkit maintenance job in the last day (pg_cron''s history, or perfkit''s own count of this database''s runs).'),
		(33, 'perfkit_job_running', 'gauge', 'Whether a perfkit maintenance job is running: 1 or 0.'),
		(40, 'perfkit_advisor_workload_entries', 'gauge', 'Statements in the index advisor''s workload store.'),
		(41, 'perfkit_advisor_workload_max_entries', 'gauge', 'Statements the index advisor''s workload store keeps at most.'),
		(42, 'perfkit_advisor_workload_evictions_total', 'counter', 'Statements evicted from the index advisor''s workload store.'),
		(50, 'perfkit_partition_default_rows', 'gauge', 'Rows in the default partition of a maintained table.')
		UNION ALL
		SELECT DISTINCT 100, 'perfkit_user_' || um.metric, um.kind, um.help FROM um),
	smp(family, labels, v) AS (
		SELECT 'perfkit_health_status', format('check="%s"', perfkit._prom_label(h."check")), h.status::float8 FROM h
		UNION ALL
		SELECT 'perfkit_health_value', format('check="%s"', perfkit._prom_label(h."check")), h.value FROM h
		UNION ALL SELECT 'perfkit_health_overall', NULL, d.overall FROM d
		UNION ALL SELECT 'perfkit_cache_entries', NULL, d.entries FROM d
		UNION ALL SELECT 'perfkit_cache_bytes_used', NULL, d.bytes_used FROM d
		UNION ALL SELECT 'perfkit_cache_bytes_total', NULL, d.bytes_total FROM d
		UNION ALL SELECT 'perfkit_cache_hits_total', NULL, d.hits FROM d
		UNION ALL SELECT 'perfkit_cache_misses_total', NULL, d.misses FROM d
		UNION ALL SELECT 'perfkit_cache_evictions_total', NULL, d.evictions FROM d
		UNION ALL SELECT 'perfkit_cache_expirations_total', NULL, d.expirations FROM d
		UNION ALL SELECT 'perfkit_cache_invalidations_total', NULL, d.invalidations FROM d
		UNION ALL
		SELECT x.family, format('rollup="%s"', perfkit._prom_label(ro.rollup)), x.v
		FROM ro, LATERAL (VALUES ('perfkit_rollup_lag_seconds', ro.lag_seconds),
								 ('perfkit_rollup_last_refresh_duration_seconds', ro.last_refresh_duration_seconds),
								 ('perfkit_rollup_last_refresh_buckets', ro.last_refresh_buckets::float8),
								 ('perfkit_rollup_pending_buckets', ro.pending_buckets::float8),
								 ('perfkit_rollup_refreshes_total', ro.refreshes_total::float8),
								 ('perfkit_rollup_last_refresh_failed', ro.last_refresh_failed::float8)) x(family, v)
		UNION ALL
		SELECT x.family, format('job_name="%s"', perfkit._prom_label(jo.job_name)), x.v
		FROM jo, LATERAL (VALUES ('perfkit_job_runs_total', jo.runs_total::float8),
								 ('perfkit_job_failures_total', jo.failures_total::float8),
								 ('perfkit_job_failures_1d', jo.failures_1d::float8),
								 ('perfkit_job_running', jo.running::float8)) x(family, v)
		UNION ALL SELECT 'perfkit_advisor_workload_entries', NULL, wl.entries FROM wl
		UNION ALL SELECT 'perfkit_advisor_workload_max_entries', NULL, wl.max_entries FROM wl
		UNION ALL SELECT 'perfkit_advisor_workload_evictions_total', NULL, wl.evictions FROM wl
		UNION ALL
		SELECT 'perfkit_partition_default_rows', format('table="%s"', perfkit._prom_label(pa."table"::text)),
			   pa.default_rows::float8 FROM pa
		UNION ALL
		SELECT 'perfkit_user_' || um.metric,
			   (SELECT string_agg(format('%s="%s"', l.key, perfkit._prom_label(l.value)), ',' ORDER BY l.key)
				FROM jsonb_each_text(um.labels) l),
			   um.value FROM um)
	SELECT string_agg(
		format(E'# HELP %s %s\n# TYPE %s %s\n', f.name,
			   replace(replace(f.help, E'\\', E'\\\\'), E'\n', E'\\n'), f.name, f.kind)
		|| coalesce((SELECT string_agg(f.name || coalesce('{' || s.labels || '}', '') || ' '
									   || perfkit._prom_value(s.v) || E'\n', '' ORDER BY s.labels)
					 FROM smp s WHERE s.family = f.name AND s.v IS NOT NULL), ''),
		'' ORDER BY f.ord, f.name)
	INTO body
	FROM fam f;
	RETURN body;
END
$$;

COMMENT ON FUNCTION perfkit.metrics() IS
'health checks and perfkit''s counters in the Prometheus text exposition format (version 0.0.4)';

--
-- Statement statistics: pg_stat_statements when installed and loaded,
-- else the index advisor's sampled workload.
--


/*
 * The numbers without the query texts, for this database.  Security
 * definer so that pg_monitor members read perfkit's workload store, which
 * is granted to pg_read_all_stats only; texts are looked up separately,
 * with the caller's rights, by _statement_text().
 */
CREATE FUNCTION perfkit._statement_stats(
	OUT source text, OUT queryid bigint, OUT userid oid, OUT command text,
	OUT calls bigint, OUT total_ms float8, OUT mean_ms float8, OUT rows bigint,
	OUT internal boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nsp name;
BEGIN
	SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	WHERE e.extname = 'pg_stat_statements';
	IF nsp IS NOT NULL THEN
		BEGIN
			RETURN QUERY EXECUTE format($q$
				SELECT 'pg_stat_statements'::text, s.queryid, s.userid,
					   lower(substring(s.query FROM '^\s*([A-Za-z]+)')),
					   s.calls, s.total_exec_time, s.mean_exec_time, s.rows,
					   coalesce(perfkit.internal_statement(s.query), false)
				FROM %I.pg_stat_statements s
				WHERE s.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
				  AND s.toplevel AND s.queryid IS NOT NULL
			$q$, nsp);
			RETURN;
		EXCEPTION
			-- installed but not in shared_preload_libraries, or too old
			WHEN object_not_in_prerequisite_state OR undefined_column
				 OR undefined_function OR undefined_table THEN
				NULL;
		END;
	END IF;
	RETURN QUERY
		SELECT 'perfkit.workload'::text, w.queryid, w.userid, lower(w.command),
			   w.calls, w.total_time, w.mean_time, w.rows,
			   coalesce(perfkit.internal_statement(w.example), false)
		FROM perfkit._workload() w
		WHERE w.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
END
$$;

/*
 * A statement's text, read with the caller's rights; NULL for a caller
 * that is neither a superuser nor a member of pg_read_all_stats.
 */
CREATE FUNCTION perfkit._statement_text(source text, p_queryid bigint, p_userid oid)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nsp name;
	t text;
BEGIN
	IF NOT (pg_has_role('pg_read_all_stats', 'USAGE')
			OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)) THEN
		RETURN NULL;
	END IF;
	IF source = 'pg_stat_statements' THEN
		SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_stat_statements';
		EXECUTE format($q$
			SELECT s.query FROM %I.pg_stat_statements s
			WHERE s.queryid = $1 AND s.userid = $2 AND s.toplevel
			  AND s.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
			LIMIT 1
		$q$, nsp) INTO t USING p_queryid, p_userid;
	ELSE
		SELECT w.example INTO t FROM perfkit._workload() w
		WHERE w.queryid = p_queryid
		  AND w.dbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
	END IF;
	RETURN t;
END
$$;

/*
 * Both lists leave out perfkit's own statements and the referential
 * integrity triggers' (perfkit.internal_statement(), judged on the text
 * inside _statement_stats(), which may read every text) unless
 * include_internal: an app's N+1 loop must not rank below cache_get().
 */
CREATE FUNCTION perfkit.slow_queries("limit" integer DEFAULT 20, include_internal boolean DEFAULT false)
RETURNS TABLE(source text, queryid bigint, role regrole, calls bigint, total_ms float8,
			  mean_ms float8, rows bigint, query text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.source, s.queryid, s.userid::regrole, s.calls, s.total_ms, s.mean_ms, s.rows,
		   perfkit._statement_text(s.source, s.queryid, s.userid)
	FROM (SELECT * FROM perfkit._statement_stats() x
		  WHERE $2 OR NOT x.internal
		  ORDER BY x.total_ms DESC, x.queryid LIMIT $1) s
	ORDER BY s.total_ms DESC, s.queryid
$$;

COMMENT ON FUNCTION perfkit.slow_queries(integer, boolean) IS
'statements of this database by total time, from pg_stat_statements when installed, else perfkit.workload; query text only for pg_read_all_stats';

CREATE FUNCTION perfkit.n_plus_one_suspects(min_calls bigint DEFAULT 100, "limit" integer DEFAULT 20,
	include_internal boolean DEFAULT false)
RETURNS TABLE(source text, queryid bigint, role regrole, calls bigint, rows bigint,
			  rows_per_call float8, mean_ms float8, total_ms float8, query text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.source, s.queryid, s.userid::regrole, s.calls, s.rows,
		   s.rows::float8 / s.calls, s.mean_ms, s.total_ms,
		   perfkit._statement_text(s.source, s.queryid, s.userid)
	FROM (SELECT * FROM perfkit._statement_stats() x
		  WHERE x.command = 'select' AND x.calls >= $1
			AND x.rows::float8 / x.calls BETWEEN 0.5 AND 1.5
			AND ($3 OR NOT x.internal)
		  ORDER BY x.calls DESC, x.queryid LIMIT $2) s
	ORDER BY s.calls DESC, s.queryid
$$;

COMMENT ON FUNCTION perfkit.n_plus_one_suspects(bigint, integer, boolean) IS
'SELECT statements run at least min_calls times returning about one row each: the sign of an N+1 loop in an application';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

/*
 * Privileges: everything here is for pg_monitor (and superusers); the
 * query texts only for pg_read_all_stats, which _statement_text checks.
 */
REVOKE ALL ON FUNCTION perfkit._health_measurements(), perfkit._health(), perfkit.health(),
	perfkit.health_summary(), perfkit.metrics(), perfkit._statement_stats(),
	perfkit._statement_text(text, bigint, oid), perfkit.slow_queries(integer, boolean),
	perfkit.n_plus_one_suspects(bigint, integer, boolean)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_measurements(), perfkit._health(), perfkit.health(),
	perfkit.health_summary(), perfkit.metrics(), perfkit._statement_stats(),
	perfkit._statement_text(text, bigint, oid), perfkit.slow_queries(integer, boolean),
	perfkit.n_plus_one_suspects(bigint, integer, boolean)
TO pg_monitor;

REVOKE ALL ON perfkit.metrics_health, perfkit.metrics_database, perfkit.metrics_rollups,
	perfkit.metrics_jobs, perfkit.metrics_partitions, perfkit.metrics_user FROM PUBLIC;

GRANT SELECT ON perfkit.metrics_health, perfkit.metrics_database, perfkit.metrics_rollups,
	perfkit.metrics_jobs, perfkit.metrics_partitions, perfkit.metrics_user TO pg_monitor;

/*
 * Defining metrics is for the roles the extension's owner grants it to
 * (an app's owner role): a metric runs its owner's query whenever a
 * monitoring role reads metrics.
 */
REVOKE ALL ON FUNCTION perfkit.define_metric(text, text, text, text, interval),
	perfkit.drop_metric(text), perfkit._user_metric_rows() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._user_metric_rows() TO pg_monitor;

GRANT SELECT ON perfkit.user_metrics TO pg_monitor;

-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

/*
 * The database-wide checks: one pass over each statistics view
 * (pg_stat_activity once for the four session checks, pg_stat_user_tables
 * once for sequential scans), no per-table function calls.  The caller's
 * own session never counts.
 */
CREATE FUNCTION perfkit._health_database()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	hit float8;
	s record;
	conns float8;
	maxconn bigint := current_setting('max_connections')::bigint;
	x record;
	xid_left float8;
	min_rows bigint := current_setting('perfkit.health_seq_scan_min_rows')::bigint;
	share float8 := current_setting('perfkit.health_seq_scan_share')::float8;
	t record;
BEGIN
	SELECT d.blks_hit::float8 / nullif(d.blks_hit + d.blks_read, 0) INTO hit
	FROM pg_stat_database d WHERE d.datname = current_database();

	SELECT count(*) FILTER (WHERE a.backend_type = 'client backend') AS conns,
		   count(*) FILTER (WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')) AS idle_n,
		   max(now() - a.state_change)
			 FILTER (WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
					 AND a.pid <> pg_backend_pid()) AS idle_max,
		   count(*) FILTER (WHERE a.state = 'active' AND a.backend_type = 'client backend'
							AND a.pid <> pg_backend_pid()) AS active_n,
		   max(now() - a.query_start)
			 FILTER (WHERE a.state = 'active' AND a.backend_type = 'client backend'
					 AND a.pid <> pg_backend_pid()) AS query_max,
		   max(now() - a.xact_start)
			 FILTER (WHERE a.backend_type = 'client backend'
					 AND a.pid <> pg_backend_pid()) AS xact_max
	INTO s
	FROM pg_stat_activity a;
	conns := s.conns::float8 / maxconn;

	-- transaction ID wraparound: share of 2^31 IDs left in the worst database
	SELECT d.datname, age(d.datfrozenxid) AS xid_age INTO x
	FROM pg_database d ORDER BY age(d.datfrozenxid) DESC LIMIT 1;
	xid_left := 1.0 - x.xid_age / 2147483648.0;

	SELECT count(*) AS tables,
		   string_agg(q.name, ', ' ORDER BY q.seq_tup_read DESC, q.name) AS names
	INTO t
	FROM (SELECT quote_ident(u.schemaname) || '.' || quote_ident(u.relname) AS name, u.seq_tup_read
		  FROM pg_stat_user_tables u
		  WHERE u.n_live_tup >= min_rows
			AND u.seq_tup_read > 0
			AND u.seq_tup_read::float8 / (u.seq_tup_read + coalesce(u.idx_tup_fetch, 0)) > share) q;

	RETURN QUERY VALUES
		('buffer_cache_hit_ratio', hit,
		 CASE WHEN hit IS NULL THEN 'no blocks read yet' ELSE round(hit::numeric, 4)::text END,
		 hit, NULL::text, NULL::text),
		('connections', conns, format('%s of %s (%s)', s.conns, maxconn, round(conns::numeric, 4)),
		 conns, NULL, NULL),
		('idle_in_transaction', extract(epoch FROM s.idle_max)::float8,
		 CASE WHEN s.idle_max IS NULL THEN 'none'
			  ELSE format('%s sessions, longest %s', s.idle_n, date_trunc('second', s.idle_max)) END,
		 coalesce(extract(epoch FROM s.idle_max)::float8, 0), NULL, NULL),
		('long_running_queries', extract(epoch FROM s.query_max)::float8,
		 CASE WHEN s.query_max IS NULL THEN 'none'
			  ELSE format('%s active, longest %s', s.active_n, date_trunc('second', s.query_max)) END,
		 coalesce(extract(epoch FROM s.query_max)::float8, 0), NULL, NULL),
		('oldest_transaction', extract(epoch FROM s.xact_max)::float8,
		 coalesce(date_trunc('second', s.xact_max)::text, 'none'),
		 coalesce(extract(epoch FROM s.xact_max)::float8, 0), NULL, NULL),
		('xid_wraparound', xid_left,
		 format('%s left (database %s, age %s)', round(xid_left::numeric, 4), x.datname, x.xid_age),
		 xid_left, NULL, NULL),
		('sequential_scans', t.tables::float8,
		 CASE WHEN t.tables = 0 THEN '0 tables'
			  ELSE format('%s %s: %s', t.tables, CASE WHEN t.tables = 1 THEN 'table' ELSE 'tables' END, t.names) END,
		 t.tables::float8, NULL, NULL);
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('buffer_cache_hit_ratio', 1, 'health', 'perfkit._health_database',
	 'blks_hit / (blks_hit + blks_read) of this database (pg_stat_database)', 'ratio', 'below',
	 'perfkit.health_buffer_hit_warn', NULL, 'perfkit.health_buffer_hit_critical', NULL, '{}',
	 'warning < %1$s, critical < %2$s',
	 'Reads miss shared_buffers: raise shared_buffers, or find the statements that read most with perfkit.slow_queries().'),
	('connections', 4, 'health', 'perfkit._health_database',
	 'client backends / max_connections', 'ratio', 'above',
	 'perfkit.health_connections_warn', NULL, 'perfkit.health_connections_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s of max_connections',
	 'Client connections approach max_connections: use a connection pooler or lower the applications'' pool sizes.'),
	('idle_in_transaction', 5, 'health', 'perfkit._health_database',
	 'longest time a session (the caller excluded) has been idle in a transaction', 'seconds', 'above',
	 'perfkit.health_idle_in_transaction_warn', NULL, 'perfkit.health_idle_in_transaction_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s',
	 'Sessions hold a transaction open while idle, holding locks and vacuum back: fix the application, or set idle_in_transaction_session_timeout.'),
	('long_running_queries', 6, 'health', 'perfkit._health_database',
	 'longest running statement of another client backend', 'seconds', 'above',
	 'perfkit.health_long_query_warn', NULL, 'perfkit.health_long_query_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s',
	 'Statements run long: look at pg_stat_activity, cancel with pg_cancel_backend(), or set statement_timeout.'),
	('oldest_transaction', 7, 'health', 'perfkit._health_database',
	 'age of the oldest transaction of another client backend', 'seconds', 'above',
	 'perfkit.health_xact_age_warn', NULL, 'perfkit.health_xact_age_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s',
	 'An old transaction keeps vacuum from removing dead rows: find it in pg_stat_activity (xact_start) and end it.'),
	('xid_wraparound', 8, 'health', 'perfkit._health_database',
	 'share of the 2^31 transaction IDs left before wraparound, 1 - age(datfrozenxid) / 2^31, in the worst database',
	 'ratio', 'below',
	 'perfkit.health_wraparound_warn', NULL, 'perfkit.health_wraparound_critical', NULL, '{}',
	 'warning < %1$s, critical < %2$s of 2^31 left',
	 'Transaction IDs run out: check that autovacuum keeps up, and VACUUM (FREEZE) the oldest tables of that database.'),
	('sequential_scans', 14, 'health', 'perfkit._health_database',
	 'tables of at least perfkit.health_seq_scan_min_rows live rows with more than perfkit.health_seq_scan_share of their row reads by sequential scans (pg_stat_user_tables)',
	 'count', 'at_or_above',
	 NULL, 1, 'perfkit.health_seq_scan_critical_tables', NULL,
	 '{perfkit.health_seq_scan_min_rows,perfkit.health_seq_scan_share}',
	 'warning: a table of >= %3$s rows with > %4$s of its rows read by sequential scans; critical: %2$s such tables',
	 'Large tables are read by sequential scans: see perfkit.recommend_indexes() and perfkit.slow_queries().');

REVOKE ALL ON FUNCTION perfkit._health_database() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_database() TO pg_monitor;

/*
 * The cluster, on a Citus coordinator (or a worker with metadata): nodes
 * of pg_dist_node that are down, and shards that pg_dist_placement puts on
 * a node where the shard's table is missing.  Every active primary node is
 * asked, in one round of parallel connections (master_run_on_worker), so
 * that the nodes add no latency each, which of the shard tables it should
 * hold do not resolve there; a node this node cannot connect to is down
 * (Citus's "failed to connect to" answer), one that fails the query is
 * not checked.  Nodes disabled with citus_disable_node() count as down.  Without Citus both
 * checks are ok with nothing to judge.  Citus's warning about a node it
 * cannot reach is left out (client_min_messages): the check says it.
 */
CREATE FUNCTION perfkit._health_citus()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = error
AS $$
DECLARE
	down text[] := '{}';
	inactive text[] := '{}';
	names text[] := '{}';
	ports int[] := '{}';
	cmds text[] := '{}';
	missing bigint := 0;
	missing_names text[] := '{}';
	unchecked text[] := '{}';
	n record;
	r record;
BEGIN
	IF to_regclass('pg_catalog.pg_dist_node') IS NULL
	   OR NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
		RETURN QUERY VALUES
			('citus_nodes_down', NULL::float8, 'Citus is not installed', NULL::float8, NULL::text, NULL::text),
			('citus_missing_shards', NULL, 'Citus is not installed', NULL, NULL, NULL);
		RETURN;
	END IF;

	FOR n IN EXECUTE $q$
		SELECT d.groupid, d.nodename, d.nodeport, d.isactive
		  FROM pg_catalog.pg_dist_node d
		 WHERE d.noderole = 'primary'
		 ORDER BY d.groupid, d.nodename, d.nodeport $q$
	LOOP
		IF NOT n.isactive THEN
			inactive := inactive || format('%s:%s', n.nodename, n.nodeport);
		ELSE
			-- the shard tables this node should hold, as Citus names them
			names := names || n.nodename;
			ports := ports || n.nodeport;
			cmds := cmds || (
				SELECT format('SELECT coalesce(string_agg(s, %L), %L) FROM unnest(%L::text[]) s '
							  'WHERE pg_catalog.to_regclass(s) IS NULL', ',', '',
							  coalesce(array_agg(shard_name(sh.logicalrelid, sh.shardid)
												 ORDER BY sh.shardid), '{}'))
				  FROM pg_catalog.pg_dist_placement pl
				  JOIN pg_catalog.pg_dist_shard sh ON sh.shardid = pl.shardid
				 WHERE pl.groupid = n.groupid);
		END IF;
	END LOOP;
	IF cardinality(names) > 0 THEN
		FOR r IN SELECT * FROM master_run_on_worker(names, ports, cmds, true) LOOP
			IF NOT r.success AND r.result LIKE 'failed to connect to %' THEN
				down := down || format('%s:%s', r.node_name, r.node_port);
			ELSIF NOT r.success THEN
				unchecked := unchecked || format('%s:%s', r.node_name, r.node_port);
			ELSIF r.result <> '' THEN
				missing := missing + cardinality(string_to_array(r.result, ','));
				missing_names := missing_names
					|| (SELECT array_agg(format('%s on %s:%s', s, r.node_name, r.node_port))
						  FROM unnest(string_to_array(r.result, ',')) s);
			END IF;
		END LOOP;
	END IF;

	RETURN QUERY VALUES
		('citus_nodes_down', (cardinality(down) + cardinality(inactive))::float8,
		 CASE WHEN cardinality(down) + cardinality(inactive) = 0 THEN 'every node answers'
			  ELSE concat_ws('; ',
						   CASE WHEN cardinality(down) > 0
								THEN format('down: %s', array_to_string(down, ', ')) END,
						   CASE WHEN cardinality(inactive) > 0
								THEN format('disabled: %s', array_to_string(inactive, ', ')) END) END,
		 (cardinality(down) + cardinality(inactive))::float8, NULL::text, NULL::text),
		('citus_missing_shards', missing::float8,
		 concat_ws('; ',
				   CASE WHEN missing = 0 THEN 'every placed shard is on its node'
						ELSE format('%s missing: %s', missing,
									array_to_string(missing_names[1:10], ', ')
									|| CASE WHEN missing > 10 THEN ', ...' ELSE '' END) END,
				   CASE WHEN cardinality(down) + cardinality(unchecked) > 0
						THEN format('not checked on %s',
									array_to_string(down || unchecked, ', ')) END),
		 missing::float8, NULL, NULL);
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('citus_nodes_down', 17, 'health', 'perfkit._health_citus',
	 'Citus nodes of pg_dist_node (primaries) that are disabled or do not accept a connection from this node (all asked at once, master_run_on_worker); ok without Citus',
	 'count', 'at_or_above',
	 NULL, NULL, NULL, 1, '{}',
	 'critical: %2$s node down',
	 'A node of the Citus cluster is down: queries and writes to its shards fail. Start it, or replace it (citus_update_node) and run citus_activate_node.'),
	('citus_missing_shards', 18, 'health', 'perfkit._health_citus',
	 'shards that pg_dist_placement places on a node that answers but where no table of the shard''s name exists; ok without Citus',
	 'count', 'at_or_above',
	 NULL, NULL, NULL, 1, '{}',
	 'critical: %2$s missing shard',
	 'A shard''s table is gone from the node its placement names: the distributed table returns wrong or failing results. Restore it from a replica or backup, or copy it back with citus_copy_shard_placement.');

REVOKE ALL ON FUNCTION perfkit._health_citus() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_citus() TO pg_monitor;
