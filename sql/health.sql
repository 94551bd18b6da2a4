--
-- health: each check of perfkit.health() under a fixture that causes it,
-- then all of them (read from the registry perfkit.health_checks) forced
-- to ok, warning and critical through their threshold settings and
-- compared with the judging rule written again here; health_summary(),
-- the Prometheus text of metrics() checked by a parser, slow_queries()
-- and n_plus_one_suspects(), and privileges.
--
CREATE EXTENSION dblink;
-- pg_cron's tables, for the failed_jobs check
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;

-- The checks, in order; every status is one of three.
SELECT check_name FROM perfkit.health();
SELECT count(*) AS bad_status FROM perfkit.health()
WHERE status NOT IN ('ok', 'warning', 'critical');

-- One check's status, and whether it carries a hint exactly when not ok.
CREATE FUNCTION pg_temp.chk(name text) RETURNS text LANGUAGE sql AS $$
	SELECT h.status || CASE WHEN (h.hint IS NULL) = (h.status = 'ok') THEN '' ELSE ' (hint?)' END
	FROM perfkit.health() h WHERE h.check_name = name
$$;
CREATE FUNCTION pg_temp.val(name text) RETURNS text LANGUAGE sql AS $$
	SELECT h.value FROM perfkit.health() h WHERE h.check_name = name
$$;

--
-- The fixtures: one per check, all in place at once, each asserted where
-- it is built by what no threshold decides (the values shown, the caller
-- not counting itself, too few cache reads to judge).
--

-- perfkit_cache_hit_ratio: one miss, one hit; perfkit_cache_fill: one
-- small entry in a 4MB cache.
SELECT perfkit.cache_clear() >= 0 AS cleared;
SELECT perfkit.cache_set('health:k', '1');
SELECT perfkit.cache_get('health:k') AS hit, perfkit.cache_get('health:missing') AS miss;
SET perfkit.health_cache_hit_warn = 1;
SET perfkit.health_cache_min_reads = 2147483647;
SELECT pg_temp.chk('perfkit_cache_hit_ratio') AS too_few_reads_to_judge;
RESET perfkit.health_cache_hit_warn;
RESET perfkit.health_cache_min_reads;

-- idle_in_transaction, long_running_queries, oldest_transaction: this
-- session does not count itself.
SET perfkit.health_idle_in_transaction_warn = 0;
SET perfkit.health_long_query_warn = 0;
SET perfkit.health_xact_age_warn = 0;
SELECT pg_temp.chk('idle_in_transaction') AS idle, pg_temp.val('idle_in_transaction') AS idle_value,
	   pg_temp.chk('long_running_queries') AS long, pg_temp.chk('oldest_transaction') AS oldest;
RESET perfkit.health_idle_in_transaction_warn;
RESET perfkit.health_long_query_warn;
RESET perfkit.health_xact_age_warn;

-- Two other sessions: one idle in a transaction, one running a statement.
SELECT format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
			  split_part(current_setting('unix_socket_directories'), ',', 1)) AS conninfo \gset
SELECT dblink_connect('idle', :'conninfo');
SELECT dblink_exec('idle', 'BEGIN');
SELECT dblink_exec('idle', 'SET LOCAL work_mem = ''8MB''');
SELECT dblink_connect('busy', :'conninfo');
SELECT dblink_send_query('busy', 'SELECT pg_sleep(300) /* health test */');
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT FROM pg_stat_activity
						  WHERE state = 'active' AND query LIKE '%/* health test */');
		PERFORM pg_sleep(0.1);
		PERFORM pg_stat_clear_snapshot();
	END LOOP;
END
$$;

-- failed_jobs: failed runs of a perfkit job in pg_cron's run details.
DELETE FROM cron.job_run_details;
SELECT jobid AS history_jobid FROM perfkit.schedule('history', '0 0 1 1 *') \gset
SELECT pg_temp.chk('failed_jobs') AS no_failures, pg_temp.val('failed_jobs') AS value;
INSERT INTO cron.job_run_details
	(jobid, database, username, command, status, return_message, start_time, end_time)
VALUES
	(:history_jobid, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'failed', 'ERROR:  disk on fire', now() - interval '1 hour', now() - interval '1 hour'),
	-- older than a day: not counted
	(:history_jobid, current_database(), current_user, 'CALL perfkit.run_job(''history'')',
	 'failed', 'ERROR:  disk on fire', now() - interval '2 days', now() - interval '2 days');
SELECT pg_temp.chk('failed_jobs') AS one_failure, pg_temp.val('failed_jobs') AS value;

-- rollup_lag: a rollup whose watermark is 5 hourly buckets behind.
CREATE TABLE health_events (ts timestamptz NOT NULL, v int);
INSERT INTO health_events SELECT now() - i * interval '10 minutes', i FROM generate_series(1, 50) i;
SELECT perfkit.create_rollup('health_hourly', 'health_events', 'ts', 'hour') IS NOT NULL AS created;
SELECT perfkit.refresh_rollup('health_hourly') >= 0 AS refreshed;
SELECT pg_temp.chk('rollup_lag') AS fresh;
UPDATE perfkit.rollup_defs
SET watermark = perfkit._bucket_start(now(), granularity, timezone) - interval '5 hours'
WHERE rel = 'health_hourly'::regclass;
SELECT pg_temp.chk('rollup_lag') AS five_behind, pg_temp.val('rollup_lag') AS value;

-- Partition checks: partition maintenance is not installed here.
SELECT check_name, status, value FROM perfkit.health() WHERE check_name LIKE 'partition%';

-- invalid_indexes: a unique index built concurrently over duplicates.
CREATE TABLE health_dups (a int);
INSERT INTO health_dups VALUES (1), (1);
SELECT pg_temp.chk('invalid_indexes') AS before;
CREATE UNIQUE INDEX CONCURRENTLY health_dups_a ON health_dups (a);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.chk('invalid_indexes') AS after, pg_temp.val('invalid_indexes') AS value;

-- sequential_scans: a table of 20,000 rows read three times by sequential
-- scans, never by an index.
CREATE TABLE health_scanned AS SELECT i FROM generate_series(1, 20000) i;
SELECT count(*) FROM health_scanned;
SELECT count(*) FROM health_scanned WHERE i > 10;
SELECT count(*) FROM health_scanned WHERE i < 10;
SELECT pg_stat_force_next_flush();
SET perfkit.health_seq_scan_min_rows = 2147483647;
SELECT pg_temp.chk('sequential_scans') AS no_table_large_enough;
SET perfkit.health_seq_scan_min_rows = 10000;
SELECT status <> 'ok' AS flagged, value LIKE '%public.health_scanned%' AS names_it
FROM perfkit.health() WHERE check_name = 'sequential_scans';

-- At the default thresholds: the other sessions have been idle and
-- running for seconds only, one job run failed, the rollup is 5 buckets
-- behind, the cache is nearly empty, three sessions of max_connections.
SELECT h.check_name, pg_temp.chk(h.check_name) AS status
FROM perfkit.health() h
WHERE h.check_name IN ('perfkit_cache_fill', 'connections', 'idle_in_transaction',
					   'long_running_queries', 'oldest_transaction', 'xid_wraparound',
					   'failed_jobs', 'rollup_lag');

--
-- Every check judged under the fixtures, its thresholds forced: each
-- threshold setting set to the bound of its range (pg_settings) that is
-- most lenient or strictest in the check's direction, the status compared
-- with the rule written again here from the value metrics() exports and
-- the thresholds in force.  lenient: both thresholds most lenient;
-- warn_strict: the warning threshold strictest, the critical one most
-- lenient; both_strict: both strictest.  A check whose thresholds are fixed
-- shows its one status three times.  hints: a hint exactly when not ok.
--
CREATE FUNCTION pg_temp.rule(v float8, warn float8, crit float8, direction text)
RETURNS text LANGUAGE sql AS $$
	SELECT CASE
		WHEN v IS NULL THEN 'ok'
		WHEN direction = 'below' THEN
			CASE WHEN v < crit THEN 'critical' WHEN v < warn THEN 'warning' ELSE 'ok' END
		WHEN direction = 'above' THEN
			CASE WHEN v > crit THEN 'critical' WHEN v > warn THEN 'warning' ELSE 'ok' END
		WHEN direction = 'at_or_above' THEN
			CASE WHEN v >= crit THEN 'critical' WHEN v >= warn THEN 'warning' ELSE 'ok' END
		END
$$;
CREATE FUNCTION pg_temp.forced(
	OUT check_name text, OUT lenient text, OUT warn_strict text, OUT both_strict text,
	OUT by_the_rule boolean, OUT hints boolean)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
	c record;
	h record;
	f text;
	got text[];
BEGIN
	FOR c IN SELECT * FROM perfkit.health_checks k ORDER BY k.ord LOOP
		got := '{}';
		by_the_rule := true;
		hints := true;
		FOREACH f IN ARRAY ARRAY['lenient', 'warn_strict', 'both_strict'] LOOP
			-- local to this statement's transaction
			PERFORM set_config(s.name,
							   CASE WHEN (f = 'both_strict'
										  OR (f = 'warn_strict' AND s.name IS NOT DISTINCT FROM c.warn_setting))
										 = (c.direction = 'below')
									THEN s.max_val ELSE s.min_val END, true)
			FROM pg_settings s WHERE s.name IN (c.warn_setting, c.critical_setting);
			SELECT x.status, x.hint, x.metric INTO h FROM perfkit._health() x
			WHERE x.check_name = c.check_name;
			by_the_rule := by_the_rule AND h.status = pg_temp.rule(h.metric,
				coalesce((SELECT s.setting::float8 FROM pg_settings s WHERE s.name = c.warn_setting), c.warn),
				coalesce((SELECT s.setting::float8 FROM pg_settings s WHERE s.name = c.critical_setting), c.critical),
				c.direction);
			hints := hints AND (h.hint IS NULL) = (h.status = 'ok');
			got := got || h.status;
		END LOOP;
		check_name := c.check_name;
		lenient := got[1];
		warn_strict := got[2];
		both_strict := got[3];
		RETURN NEXT;
	END LOOP;
END
$$;
SET perfkit.health_cache_min_reads = 0;
SELECT * FROM pg_temp.forced();
RESET perfkit.health_cache_min_reads;

--
-- The fixtures change, then go.
--

-- rollup_lag: the last refresh failed, then the rollup recovers.
UPDATE perfkit.rollup_defs
SET watermark = perfkit._bucket_start(now(), granularity, timezone),
	last_refresh_at = now() - interval '1 minute', last_error_at = now(), last_error = 'boom'
WHERE rel = 'health_hourly'::regclass;
SELECT pg_temp.chk('rollup_lag') AS refresh_failed,
	   pg_temp.val('rollup_lag') LIKE '%last refresh failed: public.health_hourly' AS names_it;
UPDATE perfkit.rollup_defs SET last_error_at = NULL, last_error = NULL
WHERE rel = 'health_hourly'::regclass;
SELECT pg_temp.chk('rollup_lag') AS recovered;

-- invalid_indexes: the index dropped.
DROP INDEX health_dups_a;
SELECT pg_temp.chk('invalid_indexes') AS dropped;

-- sequential_scans: mostly read through an index: no longer flagged
SET perfkit.health_seq_scan_share = 1;
SELECT value LIKE '%public.health_scanned%' AS named_at_share_1
FROM perfkit.health() WHERE check_name = 'sequential_scans';
RESET perfkit.health_seq_scan_min_rows;
RESET perfkit.health_seq_scan_share;

DELETE FROM cron.job_run_details;
SELECT perfkit.unschedule('history');
SELECT dblink_cancel_query('busy');
SELECT count(*) >= 0 AS drained FROM dblink_get_result('busy', false) AS t(x text);
SELECT dblink_disconnect('busy');
SELECT dblink_disconnect('idle');
SELECT perfkit.cache_clear() AS cleared;

-- health_summary(): the worst status, and every check.
SET perfkit.health_connections_warn = 0;
SELECT s->>'status' AS overall, (s->>'warnings')::int >= 1 AS warnings,
	   jsonb_array_length(s->'checks') AS checks,
	   s->'checks'->3->>'check' AS fourth, s->'checks'->3->>'status' AS fourth_status
FROM perfkit.health_summary() s;
SET perfkit.health_connections_critical = 0;
SELECT perfkit.health_summary()->>'status' AS overall;
RESET perfkit.health_connections_warn;
RESET perfkit.health_connections_critical;

--
-- metrics(): a parser of the Prometheus text exposition format.  Returns
-- one row per problem: a line matching no rule, a sample without HELP and
-- TYPE before it, a name without the perfkit_ prefix, a counter not named
-- _total, a duplicate HELP, TYPE or series.
--
CREATE FUNCTION pg_temp.prom_problems(body text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	ln text;
	m text[];
	name_re text := '[a-zA-Z_:][a-zA-Z0-9_:]*';
	label_re text := '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"';
	value_re text := '[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|Inf|NaN)';
	helped text[] := '{}';
	typed jsonb := '{}';
	series text[] := '{}';
	lineno int := 0;
BEGIN
	IF right(body, 1) <> E'\n' THEN
		RETURN NEXT 'no final line feed';
	ELSE
		body := left(body, -1);
	END IF;
	FOREACH ln IN ARRAY string_to_array(body, E'\n') LOOP
		lineno := lineno + 1;
		IF ln ~ '^# HELP ' THEN
			m := regexp_match(ln, '^# HELP (' || name_re || ') ((?:[^\\\n]|\\[\\n])*)$');
			IF m IS NULL THEN RETURN NEXT lineno || ': bad HELP: ' || ln; CONTINUE; END IF;
			IF m[1] = ANY (helped) THEN RETURN NEXT lineno || ': second HELP for ' || m[1]; END IF;
			helped := helped || m[1];
		ELSIF ln ~ '^# TYPE ' THEN
			m := regexp_match(ln, '^# TYPE (' || name_re || ') (counter|gauge|histogram|summary|untyped)$');
			IF m IS NULL THEN RETURN NEXT lineno || ': bad TYPE: ' || ln; CONTINUE; END IF;
			IF typed ? m[1] THEN RETURN NEXT lineno || ': second TYPE for ' || m[1]; END IF;
			typed := typed || jsonb_build_object(m[1], m[2]);
		ELSIF ln ~ '^#' THEN
			CONTINUE;			-- a plain comment
		ELSE
			m := regexp_match(ln, '^(' || name_re || ')((?:\{(?:' || label_re || '(?:,' || label_re
							  || ')*,?)?\})?) (' || value_re || ')(?: -?[0-9]+)?$');
			IF m IS NULL THEN RETURN NEXT lineno || ': not a sample: ' || ln; CONTINUE; END IF;
			IF NOT m[1] = ANY (helped) THEN RETURN NEXT lineno || ': no HELP before ' || m[1]; END IF;
			IF NOT typed ? m[1] THEN RETURN NEXT lineno || ': no TYPE before ' || m[1]; END IF;
			IF m[1] NOT LIKE 'perfkit\_%' THEN RETURN NEXT lineno || ': no perfkit_ prefix: ' || m[1]; END IF;
			IF typed->>m[1] = 'counter' AND m[1] NOT LIKE '%\_total' THEN
				RETURN NEXT lineno || ': counter not named _total: ' || m[1];
			END IF;
			IF m[1] || m[2] = ANY (series) THEN RETURN NEXT lineno || ': duplicate series ' || m[1] || m[2]; END IF;
			series := series || (m[1] || m[2]);
		END IF;
	END LOOP;
	-- every family named in HELP has a TYPE, and the other way round
	RETURN QUERY SELECT 'HELP without TYPE: ' || h FROM unnest(helped) h WHERE NOT typed ? h;
	RETURN QUERY SELECT 'TYPE without HELP: ' || t FROM jsonb_object_keys(typed) t WHERE NOT t = ANY (helped);
END
$$;

-- The parser catches what it should.
SELECT pg_temp.prom_problems(E'# HELP perfkit_x an x\n# TYPE perfkit_x gauge\n'
	'perfkit_x{a="b\\"c"} 1\nperfkit_x{a="b"c"} 1\nperfkit_y 1\nother_z 1\n'
	'# TYPE perfkit_c counter\n# HELP perfkit_c c\nperfkit_c 1\nperfkit_x{a="b\\"c"} 2\nperfkit_x 1e+20\nperfkit_x -Inf')
	AS problem;

-- Label values with a backslash, a double quote and a line feed.
SELECT perfkit._prom_label(E'a\\b"c\nd') AS escaped;
-- A rollup whose name (a quoted identifier) holds all three.
SELECT perfkit.create_rollup(E'"health ""odd\\\nname"', 'health_events', 'ts', 'day') AS odd_rollup;
-- Never refreshed: rollup_lag warns and names it (it has no lag to measure).
SELECT status, value LIKE '%; never refreshed: public."health ""odd%' AS names_it
FROM perfkit.health() WHERE check_name = 'rollup_lag';

-- Some checks warning, some critical: the real output parses cleanly.
SET perfkit.health_connections_warn = 0;
SET perfkit.health_wraparound_warn = 1;
SET perfkit.health_wraparound_critical = 1;
SELECT count(*) AS problems FROM pg_temp.prom_problems(perfkit.metrics()) p;
SELECT p AS problem FROM pg_temp.prom_problems(perfkit.metrics()) p;
-- The facts are there: one status per check, the awkward rollup name escaped.
SELECT l FROM regexp_split_to_table(perfkit.metrics(), E'\n') l
WHERE l ~ '^perfkit_health_status|^perfkit_health_overall|^perfkit_rollup_refreshes_total\{rollup="public\.(\\"health|health_)|^perfkit_advisor_workload_max_entries'
ORDER BY l;
-- Counters are the cache's.
SELECT (SELECT hits FROM perfkit.cache_stats()) =
	   (SELECT split_part(l, ' ', 2)::bigint FROM regexp_split_to_table(perfkit.metrics(), E'\n') l
		WHERE l LIKE 'perfkit_cache_hits_total %') AS hits_match;
SELECT count(*) AS families FROM regexp_split_to_table(perfkit.metrics(), E'\n') l WHERE l LIKE '# TYPE %';
SELECT perfkit.drop_rollup(E'"health ""odd\\\nname"');
RESET perfkit.health_connections_warn;
RESET perfkit.health_wraparound_warn;
RESET perfkit.health_wraparound_critical;

--
-- slow_queries() and n_plus_one_suspects(): pg_stat_statements is not
-- loaded here, so both read the index advisor's workload store.
--
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
CREATE TABLE health_orders (id int PRIMARY KEY, customer int);
INSERT INTO health_orders SELECT i, i % 10 FROM generate_series(1, 500) i;
-- an N+1 loop: one lookup per order
DO $$
BEGIN
	FOR i IN 1..150 LOOP
		PERFORM * FROM health_orders WHERE id = i;
	END LOOP;
END
$$;
SELECT count(*) FROM health_orders o1, health_orders o2 WHERE o1.customer = o2.customer;
RESET perfkit.advisor_sample_rate;
SELECT bool_or(query LIKE '%health_orders o1%') AS has_the_join,
	   bool_and(source = 'perfkit.workload') AS from_workload
FROM perfkit.slow_queries(5);
-- by total time, the longest first
SELECT bool_and(total_ms <= prev) AS ordered
FROM (SELECT s.total_ms, lag(s.total_ms, 1, 'Infinity') OVER (ORDER BY s.n) AS prev
	  FROM perfkit.slow_queries() WITH ORDINALITY
		   AS s(source, queryid, role, calls, total_ms, mean_ms, rows, query, n)) s;
SELECT count(*) AS two FROM perfkit.slow_queries(2);
SELECT source, calls, rows, rows_per_call, query
FROM perfkit.n_plus_one_suspects() WHERE query LIKE '%health_orders%';
SELECT count(*) AS none_at_1000 FROM perfkit.n_plus_one_suspects(1000) WHERE query LIKE '%health_orders%';

-- pg_stat_statements installed but not preloaded: still the workload store.
CREATE EXTENSION pg_stat_statements;
SELECT DISTINCT source FROM perfkit.slow_queries();
DROP EXTENSION pg_stat_statements;

--
-- Privileges: pg_monitor members see health and statistics; query texts
-- only with pg_read_all_stats.
--
CREATE ROLE health_app;
CREATE ROLE health_monitor;
GRANT pg_monitor TO health_monitor;
CREATE ROLE health_partial;
GRANT EXECUTE ON FUNCTION perfkit.slow_queries(integer, boolean), perfkit._statement_stats(),
	perfkit._statement_text(text, bigint, oid) TO health_partial;
SET ROLE health_app;
SELECT count(*) FROM perfkit.health();
\echo :LAST_ERROR_SQLSTATE
SELECT perfkit.metrics();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM perfkit.slow_queries();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE health_monitor;
SELECT count(*) AS checks FROM perfkit.health();
SELECT perfkit.health_summary()->>'status' IS NOT NULL AS summary;
SELECT count(*) AS problems FROM pg_temp.prom_problems(perfkit.metrics());
SELECT count(*) > 0 AS rows, bool_and(query IS NOT NULL) AS texts FROM perfkit.slow_queries();
RESET ROLE;
-- a role allowed to call slow_queries() but not to read texts
SET ROLE health_partial;
SELECT count(*) > 0 AS rows, bool_and(query IS NULL) AS no_texts FROM perfkit.slow_queries();
RESET ROLE;

REVOKE EXECUTE ON FUNCTION perfkit.slow_queries(integer, boolean), perfkit._statement_stats(),
	perfkit._statement_text(text, bigint, oid) FROM health_partial;
DROP ROLE health_app, health_monitor, health_partial;
SELECT perfkit.drop_rollup('health_hourly');
DROP TABLE health_events, health_dups, health_scanned, health_orders;
DROP EXTENSION dblink;
