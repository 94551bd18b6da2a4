/*
 * A level from a measured value and two thresholds.  higher_is_worse:
 * warning above warn, critical above crit; otherwise below them.  A NULL
 * value (nothing to judge) is ok.
 */
CREATE FUNCTION perfkit._health_level(v float8, warn float8, crit float8, higher_is_worse boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
	WHEN v IS NULL THEN 'ok'
	WHEN higher_is_worse AND v > crit THEN 'critical'
	WHEN higher_is_worse AND v > warn THEN 'warning'
	WHEN NOT higher_is_worse AND v < crit THEN 'critical'
	WHEN NOT higher_is_worse AND v < warn THEN 'warning'
	ELSE 'ok' END;

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
 * The checks, in a fixed order, with the measured value as a number for
 * metrics().  Invoker's rights: the caller (a pg_monitor member) reads
 * pg_stat_activity, the jobs view and the statistics views as itself.
 * One pass over each statistics view; no per-table function calls.
 */
CREATE FUNCTION perfkit._health(
	OUT ord integer, OUT check_name text, OUT status text, OUT value text,
	OUT threshold text, OUT hint text, OUT metric float8)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	w float8;
	c float8;
	wi interval;
	ci interval;
	n bigint;
	ratio float8;
	names text;
BEGIN
	-- 1. buffer cache hit ratio of this database
	w := current_setting('perfkit.health_buffer_hit_warn')::float8;
	c := current_setting('perfkit.health_buffer_hit_critical')::float8;
	SELECT d.blks_hit, d.blks_read INTO r
	FROM pg_stat_database d WHERE d.datname = current_database();
	ratio := r.blks_hit::float8 / nullif(r.blks_hit + r.blks_read, 0);
	ord := 1;
	check_name := 'buffer_cache_hit_ratio';
	status := perfkit._health_level(ratio, w, c, false);
	value := CASE WHEN ratio IS NULL THEN 'no blocks read yet'
				  ELSE round(ratio::numeric, 4)::text END;
	threshold := format('warning < %s, critical < %s', w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'Reads miss shared_buffers: raise shared_buffers, or find the statements that read most with perfkit.slow_queries().' END;
	metric := ratio;
	RETURN NEXT;

	-- 2, 3. perfkit's result cache: hit ratio and fill
	SELECT s.* INTO r FROM perfkit.cache_stats() s;
	n := current_setting('perfkit.health_cache_min_reads')::bigint;
	w := current_setting('perfkit.health_cache_hit_warn')::float8;
	c := current_setting('perfkit.health_cache_hit_critical')::float8;
	ratio := r.hits::float8 / nullif(r.hits + r.misses, 0);
	ord := 2;
	check_name := 'perfkit_cache_hit_ratio';
	IF r.hits + r.misses < n OR ratio IS NULL THEN
		status := 'ok';
		value := format('%s reads, fewer than %s', r.hits + r.misses, n);
	ELSE
		status := perfkit._health_level(ratio, w, c, false);
		value := round(ratio::numeric, 4)::text;
	END IF;
	threshold := format('warning < %s, critical < %s (after %s reads)', w, c, n);
	hint := CASE WHEN status <> 'ok' THEN
		'Most result cache reads miss: check the TTLs, the invalidations in perfkit.cache_stats(), and whether the keys repeat.' END;
	metric := ratio;
	RETURN NEXT;

	w := current_setting('perfkit.health_cache_fill_warn')::float8;
	c := current_setting('perfkit.health_cache_fill_critical')::float8;
	ratio := r.bytes_used::float8 / nullif(r.bytes_total, 0);
	ord := 3;
	check_name := 'perfkit_cache_fill';
	status := perfkit._health_level(ratio, w, c, true);
	value := format('%s (%s of %s bytes, %s evictions)', round(ratio::numeric, 4),
					r.bytes_used, r.bytes_total, r.evictions);
	threshold := format('warning > %s, critical > %s', w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'The result cache is nearly full and evicts entries: raise perfkit.cache_size or shorten TTLs.' END;
	metric := ratio;
	RETURN NEXT;

	-- 4-7. sessions: one pass over pg_stat_activity, the caller excluded
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
	INTO r
	FROM pg_stat_activity a;

	n := current_setting('max_connections')::bigint;
	ratio := r.conns::float8 / n;
	w := current_setting('perfkit.health_connections_warn')::float8;
	c := current_setting('perfkit.health_connections_critical')::float8;
	ord := 4;
	check_name := 'connections';
	status := perfkit._health_level(ratio, w, c, true);
	value := format('%s of %s (%s)', r.conns, n, round(ratio::numeric, 4));
	threshold := format('warning > %s, critical > %s of max_connections', w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'Client connections approach max_connections: use a connection pooler or lower the applications'' pool sizes.' END;
	metric := ratio;
	RETURN NEXT;

	wi := current_setting('perfkit.health_idle_in_transaction_warn')::interval;
	ci := current_setting('perfkit.health_idle_in_transaction_critical')::interval;
	ord := 5;
	check_name := 'idle_in_transaction';
	status := perfkit._health_level(extract(epoch FROM r.idle_max)::float8,
									extract(epoch FROM wi)::float8, extract(epoch FROM ci)::float8, true);
	value := CASE WHEN r.idle_max IS NULL THEN 'none'
				  ELSE format('%s sessions, longest %s', r.idle_n, date_trunc('second', r.idle_max)) END;
	threshold := format('warning > %s, critical > %s', wi, ci);
	hint := CASE WHEN status <> 'ok' THEN
		'Sessions hold a transaction open while idle, holding locks and vacuum back: fix the application, or set idle_in_transaction_session_timeout.' END;
	metric := coalesce(extract(epoch FROM r.idle_max)::float8, 0);
	RETURN NEXT;

	wi := current_setting('perfkit.health_long_query_warn')::interval;
	ci := current_setting('perfkit.health_long_query_critical')::interval;
	ord := 6;
	check_name := 'long_running_queries';
	status := perfkit._health_level(extract(epoch FROM r.query_max)::float8,
									extract(epoch FROM wi)::float8, extract(epoch FROM ci)::float8, true);
	value := CASE WHEN r.query_max IS NULL THEN 'none'
				  ELSE format('%s active, longest %s', r.active_n, date_trunc('second', r.query_max)) END;
	threshold := format('warning > %s, critical > %s', wi, ci);
	hint := CASE WHEN status <> 'ok' THEN
		'Statements run long: look at pg_stat_activity, cancel with pg_cancel_backend(), or set statement_timeout.' END;
	metric := coalesce(extract(epoch FROM r.query_max)::float8, 0);
	RETURN NEXT;

	wi := current_setting('perfkit.health_xact_age_warn')::interval;
	ci := current_setting('perfkit.health_xact_age_critical')::interval;
	ord := 7;
	check_name := 'oldest_transaction';
	status := perfkit._health_level(extract(epoch FROM r.xact_max)::float8,
									extract(epoch FROM wi)::float8, extract(epoch FROM ci)::float8, true);
	value := coalesce(date_trunc('second', r.xact_max)::text, 'none');
	threshold := format('warning > %s, critical > %s', wi, ci);
	hint := CASE WHEN status <> 'ok' THEN
		'An old transaction keeps vacuum from removing dead rows: find it in pg_stat_activity (xact_start) and end it.' END;
	metric := coalesce(extract(epoch FROM r.xact_max)::float8, 0);
	RETURN NEXT;

	-- 8. transaction ID wraparound: share of 2^31 IDs left in the worst database
	SELECT d.datname, age(d.datfrozenxid) AS xid_age INTO r
	FROM pg_database d ORDER BY age(d.datfrozenxid) DESC LIMIT 1;
	ratio := 1.0 - r.xid_age / 2147483648.0;
	w := current_setting('perfkit.health_wraparound_warn')::float8;
	c := current_setting('perfkit.health_wraparound_critical')::float8;
	ord := 8;
	check_name := 'xid_wraparound';
	status := perfkit._health_level(ratio, w, c, false);
	value := format('%s left (database %s, age %s)', round(ratio::numeric, 4), r.datname, r.xid_age);
	threshold := format('warning < %s, critical < %s of 2^31 left', w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'Transaction IDs run out: check that autovacuum keeps up, and VACUUM (FREEZE) the oldest tables of that database.' END;
	metric := ratio;
	RETURN NEXT;

	-- 9. failed perfkit jobs in the last day, from pg_cron's run details
	ord := 9;
	check_name := 'failed_jobs';
	w := current_setting('perfkit.health_job_failures_warn')::float8;
	c := current_setting('perfkit.health_job_failures_critical')::float8;
	threshold := format('warning >= %s, critical >= %s failed runs in 1 day', w, c);
	IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pg_cron') THEN
		status := 'ok';
		value := 'pg_cron not installed';
		metric := NULL;
	ELSE
		SELECT coalesce(sum(j.failures_1d), 0) AS n,
			   string_agg(j.job || ' (' || j.failures_1d || ')', ', ' ORDER BY j.job)
				 FILTER (WHERE j.failures_1d > 0) AS names
		INTO r FROM perfkit.jobs j;
		status := CASE WHEN r.n >= c THEN 'critical' WHEN r.n >= w THEN 'warning' ELSE 'ok' END;
		value := CASE WHEN r.n = 0 THEN '0' ELSE format('%s: %s', r.n, r.names) END;
		metric := r.n;
	END IF;
	hint := CASE WHEN status <> 'ok' THEN
		'perfkit jobs failed: read last_error in perfkit.jobs and cron.job_run_details.' END;
	RETURN NEXT;

	-- 10. rollup lag, in buckets of each rollup's granularity, and failing refreshes
	w := current_setting('perfkit.health_rollup_lag_warn')::float8;
	c := current_setting('perfkit.health_rollup_lag_critical')::float8;
	SELECT count(*) AS n,
		   max(l.buckets) AS worst,
		   (array_agg(l.name ORDER BY l.buckets DESC NULLS LAST))[1] AS worst_name,
		   count(*) FILTER (WHERE l.failing) AS failing,
		   string_agg(l.name, ', ' ORDER BY l.name) FILTER (WHERE l.failing) AS failing_names
	INTO r
	FROM (SELECT x.name,
				 extract(epoch FROM x.lag)::float8 / perfkit._bucket_seconds(x.granularity) AS buckets,
				 coalesce(x.last_error_at > coalesce(x.last_refresh_at, '-infinity'), false) AS failing
		  FROM perfkit.rollups x) l;
	ord := 10;
	check_name := 'rollup_lag';
	status := perfkit._health_level(r.worst, w, c, true);
	IF status = 'ok' AND r.failing > 0 THEN
		status := 'warning';
	END IF;
	value := CASE WHEN r.n = 0 THEN 'no rollups'
				  WHEN r.worst IS NULL THEN format('%s rollups, no lag known', r.n)
				  ELSE format('%s: %s buckets behind', r.worst_name, round(r.worst::numeric, 1))
					   || CASE WHEN r.failing > 0 THEN format('; last refresh failed: %s', r.failing_names) ELSE '' END
			 END;
	threshold := format('warning > %s, critical > %s buckets behind, or last refresh failed', w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'Rollups fall behind: check that the rollups job is scheduled (perfkit.jobs) and read last_error in perfkit.rollups.' END;
	metric := r.worst;
	RETURN NEXT;

	-- 11, 12. partition sets (partition maintenance, when installed)
	ord := 11;
	check_name := 'partition_premake';
	threshold := 'warning: newest partition ends less than max(premake - 1, 1) intervals ahead; critical: none covers now';
	IF to_regclass('perfkit.partition_sets') IS NULL THEN
		status := 'ok';
		value := 'no partition sets';
		metric := NULL;
		hint := NULL;
		RETURN NEXT;
		ord := 12;
		check_name := 'partition_default_rows';
		threshold := 'warning > 0 rows in a default partition';
		RETURN NEXT;
	ELSE
		BEGIN
			EXECUTE $q$
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
				FROM (SELECT s."table", s."interval", s.premake, s.rows_in_default, s.partitions,
							 -- bounds of time columns only; others are not judged
							 perfkit._as_timestamptz(s.newest_bound) AS nb
					  FROM perfkit.partition_sets s) p
			$q$ INTO r;
			status := CASE WHEN r.uncovered > 0 THEN 'critical' WHEN r.short > 0 THEN 'warning' ELSE 'ok' END;
			value := CASE WHEN r.n = 0 THEN 'no partition sets'
						  WHEN r.short = 0 THEN format('%s sets, all premade', r.n)
						  ELSE format('%s of %s short: %s', r.short, r.n, r.short_names) END;
			hint := CASE WHEN status <> 'ok' THEN
				'Future partitions are missing: check that the partitions job runs (perfkit.jobs) and read last_error in perfkit.partition_sets.' END;
			metric := r.short;
			RETURN NEXT;
			ord := 12;
			check_name := 'partition_default_rows';
			threshold := 'warning > 0 rows in a default partition';
			status := CASE WHEN r.default_rows > 0 THEN 'warning' ELSE 'ok' END;
			value := CASE WHEN r.default_rows = 0 THEN '0' ELSE format('%s: %s', r.default_rows, r.default_names) END;
			hint := CASE WHEN status <> 'ok' THEN
				'Rows landed in a default partition: the partitions job moves them once their partitions exist.' END;
			metric := r.default_rows;
			RETURN NEXT;
		EXCEPTION WHEN others THEN
			-- reached only before any row of these two checks was returned
			status := 'warning';
			value := 'cannot read perfkit.partition_sets: ' || SQLERRM;
			hint := NULL;
			metric := NULL;
			RETURN NEXT;
			ord := 12;
			check_name := 'partition_default_rows';
			threshold := 'warning > 0 rows in a default partition';
			RETURN NEXT;
		END;
	END IF;

	-- 13. invalid indexes
	SELECT count(*), string_agg(i.index_name::text, ', ' ORDER BY i.index_name::text)
	INTO n, names FROM perfkit.invalid_indexes() i;
	ord := 13;
	check_name := 'invalid_indexes';
	status := CASE WHEN n > 0 THEN 'warning' ELSE 'ok' END;
	value := CASE WHEN n = 0 THEN '0' ELSE format('%s: %s', n, names) END;
	threshold := 'warning > 0';
	hint := CASE WHEN status <> 'ok' THEN
		'Invalid indexes are maintained but never used: drop them (drop_statement in perfkit.invalid_indexes()) and build them again.' END;
	metric := n;
	RETURN NEXT;

	-- 14. tables read mostly by sequential scans: one pass over pg_stat_user_tables
	n := current_setting('perfkit.health_seq_scan_min_rows')::bigint;
	w := current_setting('perfkit.health_seq_scan_share')::float8;
	c := current_setting('perfkit.health_seq_scan_critical_tables')::float8;
	SELECT count(*) AS tables,
		   string_agg(t.name, ', ' ORDER BY t.seq_tup_read DESC, t.name) AS names
	INTO r
	FROM (SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) AS name, s.seq_tup_read
		  FROM pg_stat_user_tables s
		  WHERE s.n_live_tup >= n
			AND s.seq_tup_read > 0
			AND s.seq_tup_read::float8 / (s.seq_tup_read + coalesce(s.idx_tup_fetch, 0)) > w) t;
	ord := 14;
	check_name := 'sequential_scans';
	status := CASE WHEN r.tables >= c THEN 'critical' WHEN r.tables > 0 THEN 'warning' ELSE 'ok' END;
	value := CASE WHEN r.tables = 0 THEN '0 tables' ELSE format('%s %s: %s', r.tables, CASE WHEN r.tables = 1 THEN 'table' ELSE 'tables' END, r.names) END;
	threshold := format('warning: a table of >= %s rows with > %s of its rows read by sequential scans; critical: %s such tables',
						n, w, c);
	hint := CASE WHEN status <> 'ok' THEN
		'Large tables are read by sequential scans: see perfkit.recommend_indexes() and perfkit.slow_queries().' END;
	metric := r.tables;
	RETURN NEXT;
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
 * perfkit.metrics(): every family has HELP and TYPE lines, then its
 * samples; names start with perfkit_, counters end in _total.  Counters
 * count since the server started (perfkit's shared memory).
 */
CREATE FUNCTION perfkit.metrics()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	body text;
	part text;
BEGIN
	WITH h AS MATERIALIZED (SELECT * FROM perfkit._health()),
	c AS MATERIALIZED (SELECT * FROM perfkit.cache_stats()),
	wl AS MATERIALIZED (SELECT * FROM perfkit.workload_info()),
	ro AS MATERIALIZED (SELECT x.name, x.lag, x.last_duration, x.last_buckets, x.refreshes,
							   x.pending_buckets FROM perfkit.rollups x),
	jo AS MATERIALIZED (SELECT j.job, j.runs_since_start, j.failures_since_start, j.failures_1d,
							   j.running FROM perfkit.jobs j),
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
		(30, 'perfkit_job_runs_total', 'counter', 'Runs of a perfkit maintenance job since the server started.'),
		(31, 'perfkit_job_failures_total', 'counter', 'Failed runs of a perfkit maintenance job since the server started.'),
		(32, 'perfkit_job_failures_1d', 'gauge', 'Failed runs of a perfkit maintenance job in the last day, from pg_cron.'),
		(33, 'perfkit_job_running', 'gauge', 'Whether a perfkit maintenance job is running: 1 or 0.'),
		(40, 'perfkit_advisor_workload_entries', 'gauge', 'Statements in the index advisor''s workload store.'),
		(41, 'perfkit_advisor_workload_max_entries', 'gauge', 'Statements the index advisor''s workload store keeps at most.'),
		(42, 'perfkit_advisor_workload_evictions_total', 'counter', 'Statements evicted from the index advisor''s workload store.')),
	smp(family, labels, v) AS (
		SELECT 'perfkit_health_status', format('check="%s"', perfkit._prom_label(h.check_name)),
			   CASE h.status WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END::float8
		FROM h
		UNION ALL
		SELECT 'perfkit_health_value', format('check="%s"', perfkit._prom_label(h.check_name)), h.metric
		FROM h WHERE h.metric IS NOT NULL
		UNION ALL
		SELECT 'perfkit_health_overall', NULL,
			   max(CASE h.status WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)::float8
		FROM h
		UNION ALL SELECT 'perfkit_cache_entries', NULL, c.entries FROM c
		UNION ALL SELECT 'perfkit_cache_bytes_used', NULL, c.bytes_used FROM c
		UNION ALL SELECT 'perfkit_cache_bytes_total', NULL, c.bytes_total FROM c
		UNION ALL SELECT 'perfkit_cache_hits_total', NULL, c.hits FROM c
		UNION ALL SELECT 'perfkit_cache_misses_total', NULL, c.misses FROM c
		UNION ALL SELECT 'perfkit_cache_evictions_total', NULL, c.evictions FROM c
		UNION ALL SELECT 'perfkit_cache_expirations_total', NULL, c.expirations FROM c
		UNION ALL SELECT 'perfkit_cache_invalidations_total', NULL, c.invalidations FROM c
		UNION ALL
		SELECT 'perfkit_rollup_lag_seconds', format('rollup="%s"', perfkit._prom_label(ro.name)),
			   extract(epoch FROM ro.lag)::float8 FROM ro WHERE ro.lag IS NOT NULL
		UNION ALL
		SELECT 'perfkit_rollup_last_refresh_duration_seconds', format('rollup="%s"', perfkit._prom_label(ro.name)),
			   extract(epoch FROM ro.last_duration)::float8 FROM ro WHERE ro.last_duration IS NOT NULL
		UNION ALL
		SELECT 'perfkit_rollup_last_refresh_buckets', format('rollup="%s"', perfkit._prom_label(ro.name)),
			   ro.last_buckets FROM ro WHERE ro.last_buckets IS NOT NULL
		UNION ALL
		SELECT 'perfkit_rollup_pending_buckets', format('rollup="%s"', perfkit._prom_label(ro.name)),
			   ro.pending_buckets FROM ro
		UNION ALL
		SELECT 'perfkit_rollup_refreshes_total', format('rollup="%s"', perfkit._prom_label(ro.name)),
			   coalesce(ro.refreshes, 0) FROM ro
		UNION ALL
		SELECT 'perfkit_job_runs_total', format('job="%s"', perfkit._prom_label(jo.job)), jo.runs_since_start FROM jo
		UNION ALL
		SELECT 'perfkit_job_failures_total', format('job="%s"', perfkit._prom_label(jo.job)), jo.failures_since_start FROM jo
		UNION ALL
		SELECT 'perfkit_job_failures_1d', format('job="%s"', perfkit._prom_label(jo.job)), jo.failures_1d
		FROM jo WHERE jo.failures_1d IS NOT NULL
		UNION ALL
		SELECT 'perfkit_job_running', format('job="%s"', perfkit._prom_label(jo.job)),
			   CASE WHEN jo.running THEN 1 ELSE 0 END FROM jo
		UNION ALL SELECT 'perfkit_advisor_workload_entries', NULL, wl.entries FROM wl
		UNION ALL SELECT 'perfkit_advisor_workload_max_entries', NULL, wl.max_entries FROM wl
		UNION ALL SELECT 'perfkit_advisor_workload_evictions_total', NULL, wl.evictions FROM wl)
	SELECT string_agg(
		format(E'# HELP %s %s\n# TYPE %s %s\n', f.name,
			   replace(replace(f.help, E'\\', E'\\\\'), E'\n', E'\\n'), f.name, f.kind)
		|| coalesce((SELECT string_agg(f.name || coalesce('{' || s.labels || '}', '') || ' '
									   || perfkit._prom_value(s.v) || E'\n', '' ORDER BY s.labels)
					 FROM smp s WHERE s.family = f.name), ''),
		'' ORDER BY f.ord)
	INTO body
	FROM fam f;

	-- Partition maintenance, when installed: rows in default partitions.
	IF to_regclass('perfkit.partition_sets') IS NOT NULL THEN
		BEGIN
			EXECUTE $q$
				SELECT E'# HELP perfkit_partition_default_rows Rows in the default partition of a maintained table.\n'
					   || E'# TYPE perfkit_partition_default_rows gauge\n'
					   || coalesce(string_agg(format(E'perfkit_partition_default_rows{table="%s"} %s\n',
													 perfkit._prom_label(s."table"::text),
													 perfkit._prom_value(coalesce(s.rows_in_default, 0))),
											  '' ORDER BY s."table"::text), '')
				FROM perfkit.partition_sets s
			$q$ INTO part;
			body := body || part;
		EXCEPTION WHEN others THEN
			NULL;				-- the health check reports the error
		END;
	END IF;
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
	OUT calls bigint, OUT total_ms float8, OUT mean_ms float8, OUT rows bigint)
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
					   s.calls, s.total_exec_time, s.mean_exec_time, s.rows
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
			   w.calls, w.total_time, w.mean_time, w.rows
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

CREATE FUNCTION perfkit.slow_queries("limit" integer DEFAULT 20)
RETURNS TABLE(source text, queryid bigint, role regrole, calls bigint, total_ms float8,
			  mean_ms float8, rows bigint, query text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.source, s.queryid, s.userid::regrole, s.calls, s.total_ms, s.mean_ms, s.rows,
		   perfkit._statement_text(s.source, s.queryid, s.userid)
	FROM (SELECT * FROM perfkit._statement_stats() x
		  ORDER BY x.total_ms DESC, x.queryid LIMIT $1) s
	ORDER BY s.total_ms DESC, s.queryid
$$;

COMMENT ON FUNCTION perfkit.slow_queries(integer) IS
'statements of this database by total time, from pg_stat_statements when installed, else perfkit.workload; query text only for pg_read_all_stats';

CREATE FUNCTION perfkit.n_plus_one_suspects(min_calls bigint DEFAULT 100, "limit" integer DEFAULT 20)
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
		  ORDER BY x.calls DESC, x.queryid LIMIT $2) s
	ORDER BY s.calls DESC, s.queryid
$$;

COMMENT ON FUNCTION perfkit.n_plus_one_suspects(bigint, integer) IS
'SELECT statements run at least min_calls times returning about one row each: the sign of an N+1 loop in an application';

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

/*
 * Privileges: everything here is for pg_monitor (and superusers); the
 * query texts only for pg_read_all_stats, which _statement_text checks.
 */
REVOKE ALL ON FUNCTION perfkit._health() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.health() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.health_summary() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.metrics() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._statement_stats() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._statement_text(text, bigint, oid) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.slow_queries(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit.n_plus_one_suspects(bigint, integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health() TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit.health() TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit.health_summary() TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit.metrics() TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit._statement_stats() TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit._statement_text(text, bigint, oid) TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit.slow_queries(integer) TO pg_monitor;

GRANT EXECUTE ON FUNCTION perfkit.n_plus_one_suspects(bigint, integer) TO pg_monitor;
