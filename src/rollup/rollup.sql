/*
 * src/rollup/rollup.sql: the SQL of the rollups room (C: buckets.c,
 * capture.c, measures.c, refresh.c, watermarks.c).
 *
 * In order: the catalogs; time buckets; the C entry points; the SQL a
 * refresh generates and runs; one refresh step and the job; the views; the
 * SECURITY DEFINER writers of the catalogs; create, drop and refresh, with
 * their public wrappers; privileges.
 *
 * Catalog.  A rollup is a row of perfkit.rollup_defs plus its measures in
 * perfkit.rollup_measures.  Its objects belong to whoever created it: the
 * state table <name>_state (bucket, dimensions, _rows, mergeable state), the
 * view <name> (final values), the view <name>_live, and the capture
 * triggers on the raw source table and every table of its partition tree
 * (kept in line by the event trigger perfkit_rollup_ddl).  Changes it
 * cannot apply exactly are counted in perfkit.rollup_inexact.  The catalog tables are readable by
 * all (like pg_class) and written only by the extension's owner (see
 * Privileges at the end); row-level security keeps, besides, each role to
 * the rows of the rollups whose state table it owns.
 */
CREATE SEQUENCE perfkit.rollup_id_seq AS integer;

CREATE TABLE perfkit.rollup_defs (
	id integer PRIMARY KEY DEFAULT nextval('perfkit.rollup_id_seq'),
	rel regclass NOT NULL UNIQUE,			-- the view users query, <name>
	state_table regclass NOT NULL,
	live_view regclass NOT NULL,
	source regclass NOT NULL,				-- as given: a table or a finer rollup
	parent_id integer REFERENCES perfkit.rollup_defs (id),
	raw_source regclass NOT NULL,			-- the table all rows come from
	time_column name NOT NULL,				-- of raw_source
	time_type regtype NOT NULL,
	granularity text NOT NULL
		CHECK (granularity IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
	timezone text NOT NULL,
	dimensions name[] NOT NULL,
	depth integer NOT NULL,					-- 0 on a table, parent's + 1 on a rollup
	late_window interval CHECK (late_window >= interval '0'),	-- NULL: no bound
	owner regrole NOT NULL,
	data_start timestamptz,					-- first bucket with data, at first refresh
	watermark timestamptz,					-- buckets before it are materialized
	final_before timestamptz,				-- buckets before it are frozen
	created_at timestamptz NOT NULL DEFAULT now(),
	refreshes bigint NOT NULL DEFAULT 0,
	last_refresh_at timestamptz,
	last_duration interval,
	last_buckets bigint,
	last_rows_read bigint,
	last_error text,
	last_error_at timestamptz
);

COMMENT ON TABLE perfkit.rollup_defs IS
'perfkit rollups: definitions and refresh state (query perfkit.rollups instead)';

CREATE TABLE perfkit.rollup_measures (
	rollup_id integer NOT NULL REFERENCES perfkit.rollup_defs (id) ON DELETE CASCADE,
	ord integer NOT NULL,
	alias name NOT NULL,
	agg text NOT NULL CHECK (agg IN ('count', 'sum', 'avg', 'min', 'max')),
	key text NOT NULL,						-- canonical aggregate over raw rows
	raw_sql text NOT NULL,					-- that aggregate, as SQL over raw rows
	result_type regtype NOT NULL,
	state_columns name[] NOT NULL,
	state_types regtype[] NOT NULL,
	state_raw_sql text[] NOT NULL,			-- each state column from raw rows
	state_merge_sql text[] NOT NULL,		-- each from a finer rollup's state
	final_sql text NOT NULL,				-- the final value from this state
	PRIMARY KEY (rollup_id, ord)
);

/*
 * The change log the capture triggers append to: one row per bucket a
 * statement touched (deduplicated per transaction).  Refresh claims rows
 * by deleting them.  No unique key: see src/rollup/capture.c.
 */
CREATE TABLE perfkit.rollup_changes (
	rollup_id integer NOT NULL,
	bucket timestamptz NOT NULL
);

CREATE INDEX rollup_changes_rollup_bucket ON perfkit.rollup_changes (rollup_id, bucket);

/*
 * Changes a rollup could not apply exactly: an update or delete (or a
 * TRUNCATE, a DETACH) touching a frozen bucket, or a change late_window
 * told refresh to skip.  One row per statement (or logged change) and
 * bucket; perfkit.rollups shows the count and the buckets, until the owner
 * acknowledges them (perfkit.acknowledge_rollup()).  Written like the
 * change log: by the capture trigger as the extension's owner, and by
 * refresh through SECURITY DEFINER functions.
 */
CREATE TABLE perfkit.rollup_inexact (
	rollup_id integer NOT NULL,
	bucket timestamptz NOT NULL,
	reason text NOT NULL CHECK (reason IN ('frozen', 'late_window')),
	at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX rollup_inexact_rollup ON perfkit.rollup_inexact (rollup_id, bucket);

ALTER TABLE perfkit.rollup_defs ENABLE ROW LEVEL SECURITY;

CREATE POLICY rollup_defs_read ON perfkit.rollup_defs FOR SELECT USING (true);

CREATE POLICY rollup_defs_owner ON perfkit.rollup_defs
	USING (pg_catalog.pg_has_role(owner, 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE')
				AND owner = (SELECT c.relowner FROM pg_catalog.pg_class c
							 WHERE c.oid = state_table));

ALTER TABLE perfkit.rollup_measures ENABLE ROW LEVEL SECURITY;

CREATE POLICY rollup_measures_read ON perfkit.rollup_measures FOR SELECT USING (true);

CREATE POLICY rollup_measures_owner ON perfkit.rollup_measures
	USING (EXISTS (SELECT 1 FROM perfkit.rollup_defs d
				   WHERE d.id = rollup_id AND pg_catalog.pg_has_role(d.owner, 'USAGE')));

ALTER TABLE perfkit.rollup_changes ENABLE ROW LEVEL SECURITY;

CREATE POLICY rollup_changes_read ON perfkit.rollup_changes FOR SELECT USING (true);

CREATE POLICY rollup_changes_log ON perfkit.rollup_changes FOR INSERT WITH CHECK (true);

CREATE POLICY rollup_changes_claim ON perfkit.rollup_changes FOR DELETE
	USING (EXISTS (SELECT 1 FROM perfkit.rollup_defs d
				   WHERE d.id = rollup_id AND pg_catalog.pg_has_role(d.owner, 'USAGE')));

ALTER TABLE perfkit.rollup_inexact ENABLE ROW LEVEL SECURITY;

CREATE POLICY rollup_inexact_read ON perfkit.rollup_inexact FOR SELECT USING (true);

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_defs', '');

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_measures', '');

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_changes', '');

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_inexact', '');

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_id_seq', '');

/*
 * Buckets.  Minutes and hours are fixed lengths of absolute time; days and
 * longer are cut at local midnight in the rollup's zone, so a DST day has
 * 23 or 25 hours.  date_trunc(unit, timestamptz, zone) gives the start.
 */
CREATE FUNCTION perfkit._bucket_start(ts timestamptz, granularity text, zone text)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.date_trunc(granularity, ts, zone);

-- The start of the bucket n buckets after the bucket starting at b.  Days
-- and longer count from the local start of b's day (or month...): where
-- local midnight does not exist, date_trunc returns the first instant of
-- the day, which is not midnight.
CREATE FUNCTION perfkit._bucket_add(b timestamptz, granularity text, zone text, n bigint DEFAULT 1)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE granularity
	WHEN 'minute' THEN b + n * interval '1 minute'
	WHEN 'hour' THEN b + n * interval '1 hour'
	ELSE (pg_catalog.date_trunc(granularity, b AT TIME ZONE zone) + n * CASE granularity
			WHEN 'day' THEN interval '1 day'
			WHEN 'week' THEN interval '7 days'
			WHEN 'month' THEN interval '1 month'
			WHEN 'quarter' THEN interval '3 months'
			WHEN 'year' THEN interval '1 year' END) AT TIME ZONE zone
	END;

-- A rough length of one bucket in seconds, for sizing batches.
CREATE FUNCTION perfkit._bucket_seconds(granularity text)
RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE granularity
	WHEN 'minute' THEN 60 WHEN 'hour' THEN 3600 WHEN 'day' THEN 86400
	WHEN 'week' THEN 604800 WHEN 'month' THEN 2629800 WHEN 'quarter' THEN 7889400
	ELSE 31557600 END;

/*
 * Fixed-width buckets without date_trunc (src/rollup/buckets.c): the
 * start of the bucket of width microseconds holding ts, where ts + shift
 * is a multiple of width; the shift that makes it date_trunc(granularity,
 * ts, zone) exactly, NULL when none does (zones that ever changed offset,
 * units longer than a week).  _bucket_fixed_shift depends on the
 * timezone_abbreviations setting, as date_trunc does: STABLE.
 */
CREATE FUNCTION perfkit._bucket_fixed(ts timestamptz, width bigint, shift bigint)
RETURNS timestamptz
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_bucket_fixed';

CREATE FUNCTION perfkit._bucket_fixed_shift(granularity text, zone text)
RETURNS bigint
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_bucket_fixed_shift';

-- The identity, VOLATILE so that the planner keeps the subquery a batch
-- groups on and may aggregate it in parallel (src/rollup/buckets.c).
CREATE FUNCTION perfkit._rollup_fence(timestamptz)
RETURNS timestamptz
LANGUAGE C VOLATILE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'perfkit_rollup_fence';

-- SQL for an instant (a timestamptz expression) as a value of the raw time column.
CREATE FUNCTION perfkit._rollup_time_value(d perfkit.rollup_defs, instant text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE d.time_type
	WHEN 'timestamp with time zone'::regtype THEN instant
	WHEN 'timestamp without time zone'::regtype THEN format('(%s AT TIME ZONE %L)', instant, d.timezone)
	ELSE format('((%s AT TIME ZONE %L)::pg_catalog.date)', instant, d.timezone)
	END;

-- SQL for the bucket of the raw time column.
CREATE FUNCTION perfkit._rollup_bucket_sql(d perfkit.rollup_defs)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE d.time_type
	WHEN 'timestamp with time zone'::regtype
		THEN format('pg_catalog.date_trunc(%L, %I, %L)', d.granularity, d.time_column, d.timezone)
	ELSE format('(pg_catalog.date_trunc(%L, %I::timestamp) AT TIME ZONE %L)',
				d.granularity, d.time_column, d.timezone)
	END;

-- SQL for the bucket of the raw time column in a refresh batch: the same
-- value as _rollup_bucket_sql(d), by arithmetic where the zone and unit
-- allow it.
CREATE FUNCTION perfkit._rollup_batch_bucket_sql(d perfkit.rollup_defs)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN d.time_type = 'timestamp with time zone'::regtype
				 AND perfkit._bucket_fixed_shift(d.granularity, d.timezone) IS NOT NULL
	THEN format('perfkit._bucket_fixed(%I, %s, %s)', d.time_column,
				CASE d.granularity WHEN 'minute' THEN 60000000::bigint WHEN 'hour' THEN 3600000000
					 WHEN 'day' THEN 86400000000 ELSE 604800000000 END,
				perfkit._bucket_fixed_shift(d.granularity, d.timezone))
	ELSE perfkit._rollup_bucket_sql(d)
	END;

CREATE FUNCTION perfkit._rollup_measures(source regclass, measures text[])
RETURNS TABLE (ord integer, alias text, agg text, arg_sql text, filter_sql text,
			   arg_type regtype, result_type regtype, key text)
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_measures';

CREATE FUNCTION perfkit._rollup_capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_rollup_capture';

CREATE FUNCTION perfkit._rollup_advance_lock(id integer)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_advance_lock';

CREATE FUNCTION perfkit._rollup_publish(id integer)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_publish';

CREATE FUNCTION perfkit._rollup_capture_forget()
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_rollup_capture_forget';

/*
 * The capture trigger caches rollup_defs rows (and the merge statement
 * built from them and rollup_measures) per backend across transactions
 * (src/rollup/capture.c, def_get()): any change of either table sends a
 * relcache invalidation of rollup_defs, which drops every backend's cache.
 * ENABLE ALWAYS: it fires under session_replication_role = replica too.
 */
CREATE FUNCTION perfkit._rollup_defs_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_rollup_defs_changed';

CREATE TRIGGER perfkit_rollup_defs_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON perfkit.rollup_defs
	FOR EACH STATEMENT EXECUTE FUNCTION perfkit._rollup_defs_changed();

ALTER TABLE perfkit.rollup_defs ENABLE ALWAYS TRIGGER perfkit_rollup_defs_changed;

CREATE TRIGGER perfkit_rollup_measures_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON perfkit.rollup_measures
	FOR EACH STATEMENT EXECUTE FUNCTION perfkit._rollup_defs_changed();

ALTER TABLE perfkit.rollup_measures ENABLE ALWAYS TRIGGER perfkit_rollup_measures_changed;

CREATE FUNCTION perfkit._rollup_lock(id integer, wait boolean)
RETURNS boolean
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_lock';

/*
 * The SELECT that computes state rows: over raw rows (or a finer rollup's
 * state) either for the buckets in [$1, $2) ("range") or for the buckets in
 * the array $1 ("buckets").  Columns: bucket, dimensions, _rows, state.
 * "batch" is "range" over raw rows in the form perfkit._rollup_batch()
 * runs: the bucket computed by _rollup_batch_bucket_sql() inside a
 * subquery, behind perfkit._rollup_fence() so that the planner may
 * aggregate in parallel (src/rollup/buckets.c), and each state column
 * cast to its state type (the column definition list must match).
 */
CREATE FUNCTION perfkit._rollup_compute_sql(d perfkit.rollup_defs, mode text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dims text := '';
	states text := '';
	src text;
	bucket text;
	cond text;
	from_clause text;
	p perfkit.rollup_defs;
	m record;
BEGIN
	SELECT coalesce(string_agg(format(', %I', x), '' ORDER BY i), '') INTO dims
	FROM unnest(d.dimensions) WITH ORDINALITY AS u(x, i);

	IF d.parent_id IS NULL THEN
		SELECT string_agg(format(', %s', s), '' ORDER BY rm.ord, k) INTO states
		FROM perfkit.rollup_measures rm, unnest(rm.state_raw_sql) WITH ORDINALITY AS u(s, k)
		WHERE rm.rollup_id = d.id;
		states := ', pg_catalog.count(*)' || states;
		src := d.raw_source::text;
		IF mode = 'batch' THEN
			SELECT string_agg(format(', (%s)::%s', s, rm.state_types[k]), '' ORDER BY rm.ord, k) INTO states
			FROM perfkit.rollup_measures rm, unnest(rm.state_raw_sql) WITH ORDINALITY AS u(s, k)
			WHERE rm.rollup_id = d.id;
			RETURN format('SELECT perfkit_s.perfkit_bucket AS bucket%s, pg_catalog.count(*)%s '
						  'FROM (SELECT perfkit._rollup_fence(%s) AS perfkit_bucket, * FROM %s '
						  'WHERE %I >= %s AND %I < %s) perfkit_s GROUP BY perfkit_s.perfkit_bucket%s',
						  dims, coalesce(states, ''), perfkit._rollup_batch_bucket_sql(d), src,
						  d.time_column, perfkit._rollup_time_value(d, '$1'),
						  d.time_column, perfkit._rollup_time_value(d, '$2'), dims);
		ELSIF mode = 'range' THEN
			bucket := perfkit._rollup_bucket_sql(d);
			cond := format('%I >= %s AND %I < %s',
						   d.time_column, perfkit._rollup_time_value(d, '$1'),
						   d.time_column, perfkit._rollup_time_value(d, '$2'));
		ELSE
			bucket := 'perfkit_k.perfkit_b';
			cond := format('%I >= %s AND %I < %s',
						   d.time_column, perfkit._rollup_time_value(d, 'perfkit_k.perfkit_b'),
						   d.time_column, perfkit._rollup_time_value(d,
							   format('perfkit._bucket_add(perfkit_k.perfkit_b, %L, %L)',
									  d.granularity, d.timezone)));
		END IF;
	ELSE
		SELECT * INTO STRICT p FROM perfkit.rollup_defs WHERE id = d.parent_id;
		SELECT string_agg(format(', %s', s), '' ORDER BY rm.ord, k) INTO states
		FROM perfkit.rollup_measures rm, unnest(rm.state_merge_sql) WITH ORDINALITY AS u(s, k)
		WHERE rm.rollup_id = d.id;
		states := ', pg_catalog.sum(_rows)::bigint' || states;
		src := p.state_table::text;
		IF mode IN ('range', 'batch') THEN
			bucket := format('pg_catalog.date_trunc(%L, bucket, %L)', d.granularity, d.timezone);
			cond := 'bucket >= $1 AND bucket < $2';
		ELSE
			bucket := 'perfkit_k.perfkit_b';
			cond := format('bucket >= perfkit_k.perfkit_b AND bucket < perfkit._bucket_add(perfkit_k.perfkit_b, %L, %L)',
						   d.granularity, d.timezone);
		END IF;
	END IF;

	IF mode = 'range' THEN
		from_clause := format('%s WHERE %s', src, cond);
	ELSE
		from_clause := format('pg_catalog.unnest($1::timestamptz[]) AS perfkit_k(perfkit_b) JOIN %s ON %s',
							  src, cond);
	END IF;
	RETURN format('SELECT %s AS bucket%s%s FROM %s GROUP BY %s%s',
				  bucket, dims, coalesce(states, ''), from_clause, bucket, dims);
END
$$;

/*
 * The state rows of the buckets in [lo, hi) of rollup id over its raw
 * rows (_rollup_compute_sql(d, 'batch')).  PostgreSQL 15 never runs an
 * INSERT ... SELECT in parallel, but the query of a RETURN QUERY may go
 * parallel: a batch's groups are computed here, stored (a tuplestore that
 * spills to disk past work_mem), and the INSERT of _rollup_write_sql()
 * reads them.  Runs with the caller's rights; only the owner's roles may
 * run the owner's measures this way.
 */
CREATE FUNCTION perfkit._rollup_batch(id integer, lo timestamptz, hi timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = _rollup_batch.id;
	IF NOT pg_has_role(d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN QUERY EXECUTE perfkit._rollup_compute_sql(d, 'batch') USING lo, hi;
END
$$;

-- INSERT INTO <state table> (<its columns>) <compute> ON CONFLICT (bucket,
-- dimensions) DO UPDATE SET <every other column> = EXCLUDED: how every
-- write of a rollup's state stores its groups, on one node
-- (_rollup_write_sql) and on Citus (_rollup_dist_write_sql).  compute is
-- a query returning the state table's columns in that order.
CREATE FUNCTION perfkit._rollup_upsert_sql(d perfkit.rollup_defs, compute text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cols text[];
	keycols text[] := ARRAY['bucket'] || d.dimensions::text[];
BEGIN
	SELECT keycols || ARRAY['_rows'] || coalesce(array_agg(c ORDER BY rm.ord, k), '{}') INTO cols
	FROM perfkit.rollup_measures rm, unnest(rm.state_columns) WITH ORDINALITY AS u(c, k)
	WHERE rm.rollup_id = d.id;
	RETURN format('INSERT INTO %s AS perfkit_s (%s) %s ON CONFLICT (%s) DO UPDATE SET %s',
				  d.state_table,
				  (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) c),
				  compute,
				  (SELECT string_agg(format('%I', c), ', ') FROM unnest(keycols) c),
				  (SELECT string_agg(format('%I = EXCLUDED.%I', c, c), ', ')
				   FROM unnest(cols) c WHERE c <> ALL (keycols)));
END
$$;

-- INSERT ... <compute> ON CONFLICT DO UPDATE, returning (buckets, rows read).
-- A range over raw rows reads its groups from perfkit._rollup_batch().
CREATE FUNCTION perfkit._rollup_write_sql(d perfkit.rollup_defs, mode text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	compute text;
BEGIN
	IF mode = 'range' AND d.parent_id IS NULL THEN
		SELECT format('SELECT * FROM perfkit._rollup_batch(%s, $1, $2) AS perfkit_t(bucket pg_catalog.timestamptz%s, '
					  '_rows pg_catalog.int8%s)',
					  d.id,
					  (SELECT coalesce(string_agg(format(', %I %s', x, format_type(a.atttypid, a.atttypmod)), '' ORDER BY i), '')
					   FROM unnest(d.dimensions) WITH ORDINALITY AS u(x, i)
					   JOIN pg_attribute a ON a.attrelid = d.raw_source AND a.attname = u.x),
					  coalesce(string_agg(format(', %I %s', c, rm.state_types[k]), '' ORDER BY rm.ord, k), ''))
		INTO compute
		FROM perfkit.rollup_measures rm, unnest(rm.state_columns) WITH ORDINALITY AS u(c, k)
		WHERE rm.rollup_id = d.id;
	ELSE
		compute := perfkit._rollup_compute_sql(d, mode);
	END IF;
	RETURN format('WITH perfkit_w AS (%s RETURNING bucket, _rows) '
				  'SELECT pg_catalog.count(DISTINCT bucket), coalesce(pg_catalog.sum(_rows), 0)::bigint FROM perfkit_w',
				  perfkit._rollup_upsert_sql(d, compute));
END
$$;

/*
 * How far a rollup may materialize: up to the current bucket of the
 * clock; for a rollup built on a finer one, up to the finer one's
 * watermark, and not past a bucket in which the finer one has a change
 * still to fold in (those rows are not in its state yet).
 */
CREATE FUNCTION perfkit._rollup_target(d perfkit.rollup_defs)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN d.parent_id IS NULL
		THEN perfkit._bucket_start(now(), d.granularity, d.timezone)
		ELSE (SELECT perfkit._bucket_start(least(p.watermark,
					(SELECT min(f.bucket) FROM perfkit.rollup_changes f
					 WHERE f.rollup_id = p.id AND f.bucket >= p.final_before
					   AND f.bucket < p.watermark)), d.granularity, d.timezone)
			  FROM perfkit.rollup_defs p WHERE p.id = d.parent_id)
	END
$$;

/*
 * One refresh of rollup p_id, or one step of it when p_steps is 1 (the
 * rollups job commits between steps).  The caller holds the refresh lock.
 *
 * Without a range: claim changed buckets that are materialized and not
 * final, and recompute them whole; then advance the watermark over new
 * complete buckets.  With a range: recompute the buckets of that range
 * that are already materialized, then advance the watermark up to its end.
 * Buckets are rewritten whole in one statement pair, so a cancel never
 * leaves half a bucket; batches are about perfkit.rollup_batch_rows
 * source rows.  Buckets before final_before are frozen and never
 * recomputed from a change (their raw rows may be retired; such a change
 * is counted in perfkit.rollup_inexact); an explicit range recomputes a
 * frozen bucket only with include_final and while raw rows remain in it.
 */
CREATE FUNCTION perfkit._rollup_refresh(p_id integer, p_lo timestamptz, p_hi timestamptz,
										p_steps integer, p_include_final boolean DEFAULT false)
RETURNS TABLE (buckets bigint, rows_read bigint, more boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	started timestamptz := clock_timestamp();
	target timestamptz;
	nb bigint;
	est float8;
	span float8;
	steps integer := 0;
	b bigint;
	r bigint;
	claimed timestamptz[];
	lo timestamptz;
	hi timestamptz;
	first_pending timestamptz;
	noisy boolean := false;
	gone timestamptz[];
	source_rel regclass;		-- what batches read: the raw table or the finer state
	is_range boolean := p_lo IS NOT NULL OR p_hi IS NOT NULL;
BEGIN
	buckets := 0;
	rows_read := 0;
	more := false;
	SELECT * INTO STRICT d FROM perfkit.rollup_defs WHERE id = p_id;
	source_rel := CASE WHEN d.parent_id IS NULL THEN d.raw_source
					   ELSE (SELECT p.state_table FROM perfkit.rollup_defs p WHERE p.id = d.parent_id) END;
	IF NOT pg_has_role(d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'cannot refresh a rollup in a % transaction', upper(current_setting('transaction_isolation'))
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = 'A refresh needs a fresh snapshot after each of its steps.',
				  HINT = 'Refresh in a READ COMMITTED transaction.';
	END IF;
	PERFORM perfkit._rollup_lock(p_id, true);	-- a no-op when the caller holds it
	IF EXISTS (SELECT 1 FROM perfkit.rollup_distributed x WHERE x.rollup_id = p_id) THEN
		-- A Citus distributed source: see "Distributed sources (Citus)".
		RETURN QUERY SELECT * FROM perfkit._rollup_dist_refresh(p_id, p_lo, p_hi, p_steps);
		RETURN;
	END IF;

	target := perfkit._rollup_target(d);

	IF d.watermark IS NULL AND target IS NOT NULL THEN
		-- First refresh: start at the first bucket that has data.
		-- The bucket of the earliest time, not the least bucket over every
		-- row: min(time) reads one index entry where there is an index.
		-- Local time may run backwards at a change of UTC offset (less than
		-- a day), so look at the buckets of the first two days.
		IF d.parent_id IS NULL THEN
			EXECUTE format('SELECT pg_catalog.min(%1$s) FROM %2$s, '
						   '(SELECT pg_catalog.min(%3$I) AS t FROM %2$s WHERE pg_catalog.isfinite(%3$I)) m '
						   'WHERE %3$I >= m.t AND %3$I < m.t OPERATOR(pg_catalog.+) interval ''2 days''',
						   perfkit._rollup_bucket_sql(d), d.raw_source, d.time_column) INTO d.data_start;
		ELSE
			EXECUTE format('SELECT pg_catalog.date_trunc(%L, pg_catalog.min(bucket), %L) FROM %s WHERE pg_catalog.isfinite(bucket)',
						   d.granularity, d.timezone, source_rel)
			INTO d.data_start;
		END IF;
		d.data_start := least(coalesce(d.data_start, target), target);
		d.watermark := d.data_start;
		-- Nothing is frozen until the owner or retention says so.
		d.final_before := '-infinity';
	END IF;

	-- Batch size in buckets, from the source's row estimate.
	WITH src AS (SELECT source_rel AS rel)
	SELECT coalesce((SELECT sum(greatest(c.reltuples, 0))
					 FROM src, pg_partition_tree(src.rel) t JOIN pg_class c ON c.oid = t.relid
					 WHERE t.isleaf),
					(SELECT greatest(c.reltuples, 0) FROM src JOIN pg_class c ON c.oid = src.rel))
	INTO est;
	span := greatest(1, extract(epoch FROM coalesce(target, now()) - coalesce(d.data_start, now()))
					 / perfkit._bucket_seconds(d.granularity));
	nb := greatest(1, floor(current_setting('perfkit.rollup_batch_rows')::float8
							/ greatest(1, coalesce(est, 0) / span)))::bigint;

	IF is_range THEN
		lo := perfkit._bucket_start(coalesce(p_lo, d.data_start, '-infinity'), d.granularity, d.timezone);
		hi := coalesce(p_hi, target);
		IF hi IS NOT NULL AND perfkit._bucket_start(hi, d.granularity, d.timezone) <> hi THEN
			hi := perfkit._bucket_add(perfkit._bucket_start(hi, d.granularity, d.timezone),
									  d.granularity, d.timezone);
		END IF;
		IF lo IS NULL OR lo = '-infinity' THEN
			lo := d.data_start;
		END IF;
		-- Final buckets keep what they have unless asked: their raw rows
		-- may be partly retired.
		IF NOT p_include_final THEN
			lo := greatest(lo, d.final_before);
		END IF;
		-- Recompute what is materialized, in batches.
		WHILE lo IS NOT NULL AND lo < least(hi, d.watermark) LOOP
			span := ceil(extract(epoch FROM least(hi, d.watermark) - lo)
						 / perfkit._bucket_seconds(d.granularity));
			DECLARE
				chunk_hi timestamptz := least(hi, d.watermark,
											  perfkit._bucket_add(lo, d.granularity, d.timezone,
																  least(nb, span::bigint + 1)));
			BEGIN
				EXECUTE format('WITH g AS (DELETE FROM %s s WHERE bucket >= $1 AND bucket < $2 '
							   'AND (bucket >= $3 OR EXISTS (%s)) RETURNING bucket) '
							   'SELECT pg_catalog.array_agg(DISTINCT bucket) FROM g',
							   d.state_table,
							   CASE WHEN d.parent_id IS NULL THEN
								   format('SELECT 1 FROM %s r WHERE r.%I >= %s AND r.%I < %s',
										  d.raw_source, d.time_column,
										  perfkit._rollup_time_value(d, 's.bucket'), d.time_column,
										  perfkit._rollup_time_value(d, format('perfkit._bucket_add(s.bucket, %L, %L)',
																			   d.granularity, d.timezone)))
							   ELSE
								   format('SELECT 1 FROM %s r WHERE r.bucket >= s.bucket AND r.bucket < perfkit._bucket_add(s.bucket, %L, %L)',
										  source_rel, d.granularity, d.timezone)
							   END)
					INTO gone USING lo, chunk_hi, d.final_before;
				EXECUTE perfkit._rollup_write_sql(d, 'range') INTO b, r USING lo, chunk_hi;
				-- Rollups built on this one read its state, not the raw rows:
				-- tell every one of them which of its buckets changed.
				IF EXISTS (SELECT 1 FROM perfkit.rollup_defs c WHERE c.parent_id = p_id) THEN
					EXECUTE format('SELECT pg_catalog.array_agg(t.bucket) FROM ('
								   'SELECT pg_catalog.unnest($3::timestamptz[]) AS bucket '
								   'UNION SELECT bucket FROM %s WHERE bucket >= $1 AND bucket < $2) t',
								   d.state_table)
						INTO gone USING lo, chunk_hi, coalesce(gone, '{}');
					PERFORM perfkit._rollup_log_descendants(p_id, gone);
				END IF;
				buckets := buckets + b;
				rows_read := rows_read + r;
				steps := steps + 1;
				IF steps > 1 OR chunk_hi < least(hi, d.watermark) THEN
					noisy := true;
					RAISE NOTICE 'rollup %: recomputed buckets from % to %: % buckets, % rows',
						d.rel, lo, chunk_hi, b, r;
				END IF;
				lo := chunk_hi;
			END;
		END LOOP;
		IF hi IS NULL OR hi <= d.watermark THEN
			target := d.watermark;	-- the range is done; advance no further
		ELSE
			target := least(target, hi);
		END IF;
	ELSE
		-- Changes past the watermark are covered when it advances: drop
		-- them.  Changes to frozen buckets (logged by a writer that read
		-- final_before just before a freeze committed), and, with a
		-- late_window, changes older than it, are not recomputed: they
		-- are counted in perfkit.rollup_inexact, never dropped unseen.
		-- A change row that is not a bucket start is no change: drop it.
		PERFORM perfkit._rollup_prune_changes(p_id, d.watermark, d.final_before,
			CASE WHEN d.late_window IS NULL THEN '-infinity'
				 ELSE perfkit._bucket_start(now() - d.late_window, d.granularity, d.timezone) END);

		LOOP
			EXIT WHEN p_steps IS NOT NULL AND steps >= p_steps;
			-- Claim a batch of changed buckets.  A coarser rollup takes a
			-- bucket only once its finer rollup has no change pending in it.
			claimed := perfkit._rollup_claim_changes(p_id, nb);
			EXIT WHEN claimed IS NULL;
			-- This transaction may write those buckets again: make its
			-- capture trigger log them again.
			PERFORM perfkit._rollup_capture_forget();
			EXECUTE format('DELETE FROM %s WHERE bucket = ANY ($1)', d.state_table) USING claimed;
			EXECUTE perfkit._rollup_write_sql(d, 'buckets') INTO b, r USING claimed;
			buckets := buckets + b;
			rows_read := rows_read + r;
			steps := steps + 1;
			IF steps > 1 THEN
				noisy := true;
				RAISE NOTICE 'rollup %: recomputed % changed buckets: % rows', d.rel,
					cardinality(claimed), r;
			END IF;
		END LOOP;
	END IF;

	-- Advance the watermark over complete buckets, in batches, counted as
	-- advancing: writers that skipped logging rows past the watermark have
	-- committed, later ones log (src/rollup/watermarks.c).  The job waits for them
	-- at most 10 s (or lock_timeout) and tries again next time.
	IF target IS NOT NULL AND d.watermark < target
	   AND (p_steps IS NULL OR steps < p_steps) THEN
		BEGIN
			IF p_steps IS NOT NULL AND current_setting('lock_timeout') = '0' THEN
				PERFORM set_config('lock_timeout', '10s', true);
			END IF;
			PERFORM perfkit._rollup_advance_lock(p_id);
			-- Writers that held the lock have committed: look again.
			IF d.parent_id IS NOT NULL THEN
				target := least(target, perfkit._rollup_target(d));
			END IF;
		EXCEPTION WHEN lock_not_available THEN
			RAISE NOTICE 'rollup %: writers in progress kept the watermark from advancing; it advances next time',
				d.rel;
			target := NULL;
		END;
	END IF;
	WHILE target IS NOT NULL AND d.watermark < target LOOP
		EXIT WHEN p_steps IS NOT NULL AND steps >= p_steps;
		span := ceil(extract(epoch FROM target - d.watermark) / perfkit._bucket_seconds(d.granularity));
		lo := d.watermark;
		hi := least(target, perfkit._bucket_add(lo, d.granularity, d.timezone, least(nb, span::bigint + 1)));
		EXECUTE format('DELETE FROM %s WHERE bucket >= $1 AND bucket < $2', d.state_table)
			USING lo, hi;
		EXECUTE perfkit._rollup_write_sql(d, 'range') INTO b, r USING lo, hi;
		buckets := buckets + b;
		rows_read := rows_read + r;
		d.watermark := hi;
		steps := steps + 1;
		IF steps > 1 OR hi < target THEN
			noisy := true;
			RAISE NOTICE 'rollup %: materialized % to %: % buckets, % rows', d.rel, lo, hi, b, r;
		END IF;
	END LOOP;

	-- Finality is not a matter of age: final_before moves only when the
	-- owner freezes a range (perfkit.freeze_rollup()) or retention retires
	-- the raw rows (perfkit._rollup_ddl()).
	IF d.watermark IS NOT NULL THEN
		SELECT min(c.bucket) INTO first_pending FROM perfkit.rollup_changes c
		WHERE c.rollup_id = p_id AND c.bucket >= d.final_before AND c.bucket < d.watermark;
		-- "more" only when this step did something: a coarser rollup whose
		-- finer one still has changes pending must not spin.
		more := steps > 0 AND (first_pending IS NOT NULL OR d.watermark < target);
	END IF;

	PERFORM perfkit._rollup_save(p_id, d.data_start, d.watermark, d.final_before,
								 clock_timestamp() - started, buckets, rows_read);
	-- Writers may now skip logging buckets at or past the new watermark
	-- (this transaction is still counted as advancing if it moved).
	PERFORM perfkit._rollup_publish(p_id);
	IF noisy AND NOT more THEN
		RAISE NOTICE 'rollup %: refreshed up to %', d.rel, d.watermark;
	END IF;
	RETURN NEXT;
END
$$;

-- The rollup a name (or regclass text) designates, or an error.  The name
-- is resolved with the caller's search_path (the function pins none: it
-- names nothing but to_regclass() unqualified).
CREATE FUNCTION perfkit._rollup_lookup(name text)
RETURNS perfkit.rollup_defs
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	target regclass := pg_catalog.to_regclass(name);
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO d FROM perfkit.rollup_defs r
	WHERE r.rel::pg_catalog.oid OPERATOR(pg_catalog.=) target::pg_catalog.oid;
	IF target IS NULL OR NOT FOUND THEN
		RAISE EXCEPTION 'rollup "%" does not exist', name
			USING ERRCODE = 'undefined_object',
				  HINT = 'perfkit.rollups lists the rollups of this database.';
	END IF;
	RETURN d;
END
$$;

CREATE FUNCTION perfkit._rollup_refresh_as_owner(id integer, lo timestamptz, hi timestamptz,
												 steps integer, include_final boolean)
RETURNS TABLE (buckets bigint, rows_read bigint, more boolean)
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_rollup_refresh_as_owner';

-- One step of the rollups job for one rollup: true when more remains.
CREATE FUNCTION perfkit._rollup_job_step(p_id integer)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text;
	more boolean;
BEGIN
	BEGIN
		IF NOT perfkit._rollup_lock(p_id, false) THEN
			RAISE NOTICE 'rollup % is being refreshed by another session; skipped',
				(SELECT rel FROM perfkit.rollup_defs WHERE id = p_id);
			RETURN false;
		END IF;
		SELECT r.more INTO more FROM perfkit._rollup_refresh_as_owner(p_id, NULL, NULL, 1, false) r;
		RETURN more;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
		UPDATE perfkit.rollup_defs SET last_error = msg, last_error_at = now() WHERE id = p_id;
		RAISE WARNING 'refresh of rollup % failed: %',
			(SELECT rel FROM perfkit.rollup_defs WHERE id = p_id), msg;
		RETURN false;
	END;
END
$$;

CREATE PROCEDURE perfkit.refresh_rollups()
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_refresh_rollups';

COMMENT ON PROCEDURE perfkit.refresh_rollups() IS
'refresh every rollup of the database, finer before coarser, committing after each batch when called on its own';

INSERT INTO perfkit.job_registry (job, command, default_schedule, description) VALUES
	('rollups', 'CALL perfkit.refresh_rollups()', '*/5 * * * *',
	 'refresh every rollup: recompute changed buckets, materialize new complete ones');

/*
 * Which rollups keep raw rows of tbl in [range_start, range_end) from being
 * retired: one row per rollup read from tbl's rows whose buckets
 * overlapping that range are not all materialized, or have changes not
 * refreshed yet.  (Coarser rollups built on a finer one read its state,
 * not raw rows: they never block.)  Bounds of a timestamp or date
 * partition key are given as their wall-clock value read as UTC.
 * Partition retention calls this just before it retires a partition:
 * when nothing blocks, the approval is noted for this transaction, and
 * the DETACH that follows freezes those buckets in every rollup on tbl
 * (perfkit._rollup_capture_tree()) instead of logging the rows as gone.
 * A rollup on a Citus distributed table is judged the same way, its
 * pending changes read from its change table (perfkit._rollup_dist_pending).
 */
CREATE FUNCTION perfkit.rollup_blockers(tbl regclass, range_start timestamptz, range_end timestamptz)
RETURNS TABLE (rollup text, reason text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT d.rel::text,
		   CASE WHEN d.watermark IS NULL THEN 'never refreshed'
				WHEN x.e > d.watermark
				THEN format('materialized only up to %s', d.watermark)
				ELSE format('%s changed buckets not refreshed yet', x.pending) END
	FROM perfkit.rollup_defs d
	CROSS JOIN LATERAL (
		SELECT perfkit._bucket_add(perfkit._bucket_start(y.e - interval '1 microsecond',
														 d.granularity, d.timezone),
								   d.granularity, d.timezone) AS e,
			   CASE WHEN EXISTS (SELECT 1 FROM perfkit.rollup_distributed z WHERE z.rollup_id = d.id)
					THEN perfkit._rollup_dist_pending(d.id,
						least(d.watermark,
							  perfkit._bucket_add(perfkit._bucket_start(y.e - interval '1 microsecond',
																		d.granularity, d.timezone),
												  d.granularity, d.timezone)))
					ELSE (SELECT count(DISTINCT c.bucket) FROM perfkit.rollup_changes c
				WHERE c.rollup_id = d.id AND c.bucket >= coalesce(d.final_before, '-infinity')
				  AND c.bucket < d.watermark
				  AND c.bucket < perfkit._bucket_add(perfkit._bucket_start(y.e - interval '1 microsecond',
																			 d.granularity, d.timezone),
													 d.granularity, d.timezone)) END AS pending
		FROM (SELECT CASE WHEN d.time_type = 'timestamptz'::regtype THEN range_end
						  ELSE (range_end AT TIME ZONE 'UTC') AT TIME ZONE d.timezone END AS e) y
	) x
	WHERE d.raw_source = tbl AND d.parent_id IS NULL
	  AND range_end > range_start
	  AND (d.watermark IS NULL
		   OR (x.e > coalesce(d.final_before, '-infinity') AND (x.e > d.watermark OR coalesce(x.pending, 1) > 0)))
	ORDER BY d.id;
	IF NOT FOUND AND range_end > range_start THEN
		PERFORM perfkit._rollup_note_retire(tbl, range_end);
	END IF;
END
$$;

COMMENT ON FUNCTION perfkit.rollup_blockers(regclass, timestamptz, timestamptz) IS
'rollups on a table that still need its raw rows in a range (empty: they may be retired, and the rollups freeze that range when its partition is detached)';

/*
 * freeze_rollup: refresh the rollup, then freeze its buckets that end by
 * `before` (never past the watermark).  Refresh recomputes a frozen bucket
 * no more: its raw rows may then be deleted.  Rows inserted into it later
 * are merged into it exactly; updates, deletes and the like are counted
 * (perfkit.rollups.inexact_changes).  Returns the new final_before.
 */
CREATE FUNCTION perfkit._rollup_freeze(d perfkit.rollup_defs, before timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = d.id;
	IF before IS NULL THEN
		RAISE EXCEPTION 'before must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_catalog.pg_has_role(d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM perfkit._rollup_authorize(d.id);
	IF EXISTS (SELECT 1 FROM perfkit.rollup_distributed x WHERE x.rollup_id = d.id) THEN
		RAISE EXCEPTION 'rollup % on a distributed table cannot be frozen', d.rel
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Every change to a distributed table is recomputed from raw rows: keep the raw rows, or drop the rollup with keep_table => true before retiring them.';
	END IF;
	PERFORM perfkit._rollup_lock(d.id, true);
	PERFORM perfkit._rollup_refresh_as_owner(d.id, NULL, NULL, NULL, false);
	before := perfkit._rollup_freeze_to(d.id, before, false);
	-- frozen buckets: inserts are captured by statement from now on
	PERFORM perfkit._rollup_capture_tree(d.id, true);
	RETURN before;
END
$$;

CREATE FUNCTION perfkit.freeze_rollup(name text, before timestamptz)
RETURNS timestamptz
LANGUAGE sql
BEGIN ATOMIC
	SELECT perfkit._rollup_freeze(perfkit._rollup_lookup(name), before);
END;

COMMENT ON FUNCTION perfkit.freeze_rollup(text, timestamptz) IS
'refresh a rollup and freeze its buckets before a time: their raw rows may then go; returns the new final_before';

-- Forget the inexact changes counted for a rollup (after recomputing or
-- accepting them); returns how many there were.
CREATE FUNCTION perfkit._rollup_acknowledge(d perfkit.rollup_defs)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	n bigint;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = d.id;
	IF NOT perfkit._rollup_authorized(d.id) THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	DELETE FROM perfkit.rollup_inexact x WHERE x.rollup_id = d.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The caller's rights are checked here, before the SECURITY DEFINER call.
CREATE FUNCTION perfkit._rollup_acknowledge_checked(d perfkit.rollup_defs)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM perfkit._rollup_authorize(d.id);
	RETURN perfkit._rollup_acknowledge(d);
END
$$;

CREATE FUNCTION perfkit.acknowledge_rollup(name text)
RETURNS bigint
LANGUAGE sql
BEGIN ATOMIC
	SELECT perfkit._rollup_acknowledge_checked(perfkit._rollup_lookup(name));
END;

COMMENT ON FUNCTION perfkit.acknowledge_rollup(text) IS
'forget the inexact changes counted for a rollup; returns how many there were';

/*
 * Changed buckets awaiting a refresh of a rollup on a Citus distributed
 * table (see "Distributed sources (Citus)"), counted in its change table;
 * NULL for any other rollup, or when that table is gone or the caller may
 * not read it.
 */
CREATE FUNCTION perfkit._rollup_dist_pending(p_id integer, p_watermark timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	chg regclass := (SELECT x.changes_table FROM perfkit.rollup_distributed x WHERE x.rollup_id = p_id);
	n bigint;
BEGIN
	IF chg IS NULL OR p_watermark IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = chg)	-- dropped by hand
	   OR NOT has_table_privilege(chg, 'SELECT') THEN
		RETURN NULL;
	END IF;
	EXECUTE format('SELECT pg_catalog.count(DISTINCT bucket) FROM %s WHERE bucket < $1', chg)
		INTO n USING p_watermark;
	RETURN n;
END
$$;

CREATE VIEW perfkit.rollups AS
SELECT d.rel::text AS name,
	   d.source,
	   d.granularity,
	   d.timezone,
	   d.rel AS "table",
	   d.state_table,
	   d.watermark,
	   d.final_before,
	   coalesce(perfkit._rollup_dist_pending(d.id, d.watermark),
				(SELECT count(DISTINCT c.bucket) FROM perfkit.rollup_changes c
				 WHERE c.rollup_id = d.id AND c.bucket >= d.final_before AND c.bucket < d.watermark)) AS pending_buckets,
	   d.last_refresh_at,
	   d.last_duration,
	   d.last_buckets,
	   d.last_rows_read AS rows_read,
	   d.refreshes,
	   d.last_error,
	   d.last_error_at,
	   CASE WHEN d.parent_id IS NULL
			THEN perfkit._bucket_start(now(), d.granularity, d.timezone)
			ELSE perfkit._bucket_start((SELECT p.watermark FROM perfkit.rollup_defs p WHERE p.id = d.parent_id),
									   d.granularity, d.timezone)
	   END - d.watermark AS lag,
	   d.late_window,
	   (SELECT count(*) FROM perfkit.rollup_inexact x WHERE x.rollup_id = d.id) AS inexact_changes,
	   (SELECT array_agg(DISTINCT x.bucket ORDER BY x.bucket) FROM perfkit.rollup_inexact x
		WHERE x.rollup_id = d.id) AS inexact_buckets
FROM perfkit.rollup_defs d;

COMMENT ON VIEW perfkit.rollups IS
'perfkit rollups: watermark, frozen bound, pending changed buckets, last refresh and error, lag, changes not applied exactly';

CREATE FUNCTION perfkit._rollup_in_refresh(id integer)
RETURNS boolean
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_in_refresh';

CREATE FUNCTION perfkit._rollup_next_id()
RETURNS integer
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_next_id';

CREATE FUNCTION perfkit._rollup_issued_to(id integer)
RETURNS regrole
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_issued_to';

-- Whether role owner has the privileges of the owner of relation rel.
CREATE FUNCTION perfkit._rollup_owns(owner regrole, rel regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
			   WHERE c.oid = rel AND pg_catalog.pg_has_role(owner, c.relowner, 'USAGE'));

/*
 * Register a rollup create_rollup() has made.  Its id must be one
 * perfkit._rollup_next_id() gave its owner in this session, and the
 * owner must own every relation the row names (and the finer rollup).
 * Only the definition is taken from d; the refresh state starts empty.
 */
CREATE FUNCTION perfkit._rollup_register(d perfkit.rollup_defs, measures perfkit.rollup_measures[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p perfkit.rollup_defs;
	r regclass;
BEGIN
	IF d.id IS NULL OR d.owner IS NULL OR perfkit._rollup_issued_to(d.id) IS DISTINCT FROM d.owner THEN
		RAISE EXCEPTION 'rollup id % was not issued to role %', d.id, d.owner
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Create rollups with perfkit.create_rollup().';
	END IF;
	FOREACH r IN ARRAY ARRAY[d.rel, d.state_table, d.live_view, d.raw_source, d.source] LOOP
		IF r IS NULL OR NOT perfkit._rollup_owns(d.owner, r) THEN
			RAISE EXCEPTION 'must be owner of relation %', r USING ERRCODE = 'insufficient_privilege';
		END IF;
	END LOOP;
	IF d.parent_id IS NOT NULL THEN
		SELECT * INTO p FROM perfkit.rollup_defs x WHERE x.id = d.parent_id;
		IF NOT FOUND OR p.rel <> d.source OR p.raw_source <> d.raw_source
		   OR NOT pg_catalog.pg_has_role(d.owner, p.owner, 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of rollup %', d.source USING ERRCODE = 'insufficient_privilege';
		END IF;
	ELSIF d.source <> d.raw_source THEN
		RAISE EXCEPTION 'rollup % reads % but names % as its raw table', d.rel, d.source, d.raw_source
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.unnest(measures) m WHERE m.rollup_id IS DISTINCT FROM d.id) THEN
		RAISE EXCEPTION 'measures of rollup % name another rollup', d.rel
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO perfkit.rollup_defs (id, rel, state_table, live_view, source, parent_id, raw_source,
									 time_column, time_type, granularity, timezone, dimensions,
									 depth, late_window, owner)
	VALUES (d.id, d.rel, d.state_table, d.live_view, d.source, d.parent_id, d.raw_source,
			d.time_column, d.time_type, d.granularity, d.timezone, d.dimensions,
			coalesce(p.depth + 1, 0), d.late_window, d.owner);
	INSERT INTO perfkit.rollup_measures SELECT * FROM pg_catalog.unnest(measures);
END
$$;

/*
 * Forget rollup id once its relations are gone (drop_rollup() drops them
 * with its caller's rights, which proves ownership), with its change rows.
 */
CREATE FUNCTION perfkit._rollup_unregister(id integer)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO d FROM perfkit.rollup_defs r WHERE r.id = id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid IN (d.rel, d.state_table, d.live_view))
	   OR EXISTS (SELECT 1 FROM perfkit.rollup_defs c WHERE c.parent_id = id) THEN
		RAISE EXCEPTION 'rollup % still has its relations or dependent rollups', d.rel
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop rollups with perfkit.drop_rollup().';
	END IF;
	DELETE FROM perfkit.rollup_changes c WHERE c.rollup_id = id;
	DELETE FROM perfkit.rollup_defs r WHERE r.id = id;
END
$$;

-- The refresh of rollup id in progress in this backend, or an error.
CREATE FUNCTION perfkit._rollup_require_refresh(id integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF id IS NULL OR NOT perfkit._rollup_in_refresh(id) THEN
		RAISE EXCEPTION 'rollup % is not being refreshed by this session', id
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Refresh rollups with perfkit.refresh_rollup().';
	END IF;
END
$$;

-- Drop change rows of rollup p_id that no refresh would use: past the
-- watermark, or not a bucket start.  Change rows in frozen buckets (before
-- p_final_before) or, with a late_window, before p_late_before, are moved
-- to perfkit.rollup_inexact: those buckets are not recomputed.
CREATE FUNCTION perfkit._rollup_prune_changes(p_id integer, p_watermark timestamptz,
											  p_final_before timestamptz, p_late_before timestamptz)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
BEGIN
	PERFORM perfkit._rollup_require_refresh(p_id);
	SELECT * INTO STRICT d FROM perfkit.rollup_defs WHERE id = p_id;
	WITH gone AS (
		DELETE FROM perfkit.rollup_changes c
		WHERE c.rollup_id = p_id
		  AND (p_watermark IS NULL OR c.bucket < p_final_before OR c.bucket < p_late_before
			   OR c.bucket >= p_watermark
			   OR perfkit._bucket_start(c.bucket, d.granularity, d.timezone) IS DISTINCT FROM c.bucket)
		RETURNING c.bucket
	)
	INSERT INTO perfkit.rollup_inexact (rollup_id, bucket, reason)
	SELECT p_id, g.bucket, CASE WHEN g.bucket < p_final_before THEN 'frozen' ELSE 'late_window' END
	FROM gone g
	WHERE p_watermark IS NOT NULL AND g.bucket < p_watermark
	  AND (g.bucket < p_final_before OR g.bucket < p_late_before)
	  AND perfkit._bucket_start(g.bucket, d.granularity, d.timezone) = g.bucket;
END
$$;

-- Count changes of distributed rollup p_id in frozen buckets, which its
-- refresh took out of its change table without recomputing them.
CREATE FUNCTION perfkit._rollup_count_frozen(p_id integer, p_buckets timestamptz[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM perfkit._rollup_require_refresh(p_id);
	INSERT INTO perfkit.rollup_inexact (rollup_id, bucket, reason)
	SELECT p_id, b, 'frozen' FROM pg_catalog.unnest(p_buckets) b;
END
$$;

-- Claim (delete and return) a batch of at most nb changed buckets of
-- rollup p_id.  A coarser rollup takes a bucket only once its finer
-- rollup has no change pending in it.
CREATE FUNCTION perfkit._rollup_claim_changes(p_id integer, nb bigint)
RETURNS timestamptz[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	claimed timestamptz[];
BEGIN
	PERFORM perfkit._rollup_require_refresh(p_id);
	SELECT * INTO STRICT d FROM perfkit.rollup_defs WHERE id = p_id;
	WITH batch AS (
		SELECT DISTINCT c.bucket FROM perfkit.rollup_changes c
		WHERE c.rollup_id = p_id AND c.bucket >= d.final_before
		  AND (d.parent_id IS NULL OR NOT EXISTS (
				SELECT 1 FROM perfkit.rollup_changes f
				WHERE f.rollup_id = d.parent_id AND f.bucket >= c.bucket
				  AND f.bucket < perfkit._bucket_add(c.bucket, d.granularity, d.timezone)))
		ORDER BY c.bucket LIMIT nb
	), gone AS (
		DELETE FROM perfkit.rollup_changes c USING batch
		WHERE c.rollup_id = p_id AND c.bucket = batch.bucket
		RETURNING c.bucket
	)
	SELECT array_agg(DISTINCT gone.bucket) INTO claimed FROM gone;
	RETURN claimed;
END
$$;

-- Tell every rollup built (directly or not) on rollup p_id which of its
-- buckets changed: those holding the given buckets of p_id.
CREATE FUNCTION perfkit._rollup_log_descendants(p_id integer, buckets timestamptz[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM perfkit._rollup_require_refresh(p_id);
	WITH RECURSIVE descendants AS (
		SELECT c.id, c.granularity, c.timezone FROM perfkit.rollup_defs c WHERE c.parent_id = p_id
		UNION ALL
		SELECT c.id, c.granularity, c.timezone FROM perfkit.rollup_defs c
		JOIN descendants x ON c.parent_id = x.id
	)
	INSERT INTO perfkit.rollup_changes (rollup_id, bucket)
	SELECT DISTINCT x.id, perfkit._bucket_start(t.bucket, x.granularity, x.timezone)
	FROM descendants x, pg_catalog.unnest(buckets) AS t(bucket)
	WHERE t.bucket IS NOT NULL;
END
$$;

-- Record the outcome of a refresh of rollup p_id.
CREATE FUNCTION perfkit._rollup_save(p_id integer, p_data_start timestamptz, p_watermark timestamptz,
									 p_final_before timestamptz, p_duration interval,
									 p_buckets bigint, p_rows_read bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM perfkit._rollup_require_refresh(p_id);
	UPDATE perfkit.rollup_defs SET
		data_start = p_data_start,
		watermark = p_watermark,
		final_before = p_final_before,
		refreshes = refreshes + 1,
		last_refresh_at = now(),
		last_duration = p_duration,
		last_buckets = p_buckets,
		last_rows_read = p_rows_read
	WHERE id = p_id;
END
$$;

/*
 * create_rollup(), drop_rollup() and refresh_rollup() resolve the names
 * they are given with the caller's search_path, then do their work in
 * functions that run with search_path = pg_catalog, pg_temp (see the end
 * of this section).  Measures are parsed there too: a measure calling a
 * function of the caller's must name its schema.
 */
CREATE FUNCTION perfkit._rollup_create(name text, source regclass, time_column name,
									   granularity text, dimensions text[], measures text[],
									   timezone text, late_window interval, default_schema name)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	parts text[];
	nsp text;
	relname text;
	g text := lower(granularity);
	grains text[] := ARRAY['minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];
	p perfkit.rollup_defs;
	raw regclass;
	tcol name := time_column;
	ttype regtype;
	src_kind "char";
	dim text;
	dims name[] := '{}';
	dim_types text[] := '{}';
	id integer;
	m record;
	pm perfkit.rollup_measures;
	mrows perfkit.rollup_measures[] := '{}';
	state_cols name[];
	state_types regtype[];
	state_raw text[];
	state_merge text[];
	final_sql text;
	raw_sql text;
	all_cols name[];
	coldefs text := '';
	finals text := '';
	dimlist text := '';
	q_state text;
	q_rel text;
	q_live text;
	d perfkit.rollup_defs;
	trig text;
BEGIN
	-- Names.
	IF name IS NULL OR source IS NULL OR time_column IS NULL OR granularity IS NULL
	   OR dimensions IS NULL OR measures IS NULL THEN
		RAISE EXCEPTION 'arguments of create_rollup must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	parts := parse_ident(name);
	IF cardinality(parts) = 1 THEN
		nsp := default_schema;
		relname := parts[1];
		IF nsp IS NULL THEN
			RAISE EXCEPTION 'no schema has been selected to create in'
				USING ERRCODE = 'invalid_schema_name';
		END IF;
	ELSIF cardinality(parts) = 2 THEN
		nsp := parts[1];
		relname := parts[2];
		IF to_regnamespace(quote_ident(nsp)) IS NULL THEN
			RAISE EXCEPTION 'schema "%" does not exist', nsp USING ERRCODE = 'invalid_schema_name';
		END IF;
	ELSE
		RAISE EXCEPTION 'improper rollup name "%"', name
			USING ERRCODE = 'invalid_name',
				  HINT = 'Give a name, optionally qualified by a schema.';
	END IF;
	IF octet_length(relname) > 57 THEN
		RAISE EXCEPTION 'rollup name "%" is too long', relname
			USING ERRCODE = 'name_too_long',
				  DETAIL = 'It must leave room for the suffix "_state" within 63 bytes.';
	END IF;
	q_rel := format('%I.%I', nsp, relname);
	q_state := format('%I.%I', nsp, relname || '_state');
	q_live := format('%I.%I', nsp, relname || '_live');
	IF to_regclass(q_rel) IS NOT NULL OR to_regclass(q_state) IS NOT NULL
	   OR to_regclass(q_live) IS NOT NULL THEN
		RAISE EXCEPTION 'relation "%" already exists',
			CASE WHEN to_regclass(q_rel) IS NOT NULL THEN q_rel
				 WHEN to_regclass(q_state) IS NOT NULL THEN q_state ELSE q_live END
			USING ERRCODE = 'duplicate_table',
				  HINT = 'A rollup named X needs the names X, X_state and X_live.';
	END IF;

	-- Granularity and zone.
	IF NOT g = ANY (grains) THEN
		RAISE EXCEPTION 'unsupported rollup granularity "%"', granularity
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use minute, hour, day, week, month, quarter or year.';
	END IF;
	-- No zone given: a rollup built on a finer one inherits its zone, one
	-- on a table cuts in UTC.
	IF timezone IS NULL THEN
		SELECT r.timezone INTO timezone FROM perfkit.rollup_defs r WHERE r.rel = source;
		timezone := coalesce(timezone, 'UTC');
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE pg_timezone_names.name = timezone) THEN
		RAISE EXCEPTION 'time zone "%" not recognized', timezone
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use a full time zone name such as ''UTC'' or ''Europe/Berlin'' (pg_timezone_names); abbreviations depend on each session''s timezone_abbreviations.';
	END IF;
	IF late_window < interval '0' THEN
		RAISE EXCEPTION 'late_window must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- Source: a finer rollup, or a table the caller owns.
	SELECT * INTO p FROM perfkit.rollup_defs r WHERE r.rel = source;
	IF FOUND THEN
		IF NOT pg_has_role(p.owner, 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of rollup %', source USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF tcol <> 'bucket' THEN
			RAISE EXCEPTION 'time column of a rollup built on rollup % must be "bucket"', source
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF timezone <> p.timezone THEN
			RAISE EXCEPTION 'rollup % cuts its buckets in time zone "%", not "%"', source, p.timezone, timezone
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'A rollup built on another inherits its time zone: give none, or the same.';
		END IF;
		IF array_position(grains, g) <= array_position(grains, p.granularity)
		   OR (g = 'week' AND p.granularity NOT IN ('minute', 'hour', 'day'))
		   OR (p.granularity = 'week') THEN
			RAISE EXCEPTION 'a % rollup cannot be built from the % rollup %', g, p.granularity, source
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Each bucket must be a whole number of the finer rollup''s buckets: weeks from days or finer; months, quarters and years from anything but weeks.';
		END IF;
		raw := p.raw_source;
		tcol := p.time_column;
		ttype := p.time_type;
	ELSE
		SELECT c.relkind INTO src_kind FROM pg_catalog.pg_class c WHERE c.oid = source;
		IF src_kind NOT IN ('r', 'p') THEN
			RAISE EXCEPTION '"%" is not a table or a rollup', source
				USING ERRCODE = 'wrong_object_type',
					  HINT = 'A rollup reads an ordinary or partitioned table, or a finer rollup.';
		END IF;
		IF NOT pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = source), 'USAGE') THEN
			RAISE EXCEPTION 'must be owner of table %', source USING ERRCODE = 'insufficient_privilege';
		END IF;
		raw := source;
		SELECT a.atttypid::regtype INTO ttype FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = source AND a.attname = tcol AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', tcol, source
				USING ERRCODE = 'undefined_column';
		END IF;
		IF ttype NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
			RAISE EXCEPTION 'time column "%" must be of type timestamp with time zone, timestamp or date', tcol
				USING ERRCODE = 'datatype_mismatch',
					  DETAIL = format('Column "%s" is of type %s.', tcol, ttype);
		END IF;
		IF ttype = 'timestamp'::regtype AND g IN ('minute', 'hour') AND timezone <> 'UTC' THEN
			RAISE EXCEPTION 'a timestamp without time zone column can be cut into % buckets only in UTC', g
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Across a daylight saving change, wall-clock hours do not map one to one onto hours of time.',
					  HINT = 'Use timezone => ''UTC'', or a timestamptz column.';
		END IF;
		IF ttype = 'date'::regtype AND g IN ('minute', 'hour') THEN
			RAISE EXCEPTION 'a date column cannot be cut into % buckets', g
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;

	-- Dimensions: columns of the source (of the finer rollup's dimensions).
	FOREACH dim IN ARRAY dimensions LOOP
		IF dim IS NULL OR dim = ANY (dims) THEN
			RAISE EXCEPTION 'dimension "%" is null or repeated', dim USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF dim IN ('bucket', '_rows') OR dim = tcol THEN
			RAISE EXCEPTION 'column "%" cannot be a dimension', dim
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'The time column and the names bucket and _rows are taken.';
		END IF;
		IF p.id IS NOT NULL AND NOT dim = ANY (p.dimensions) THEN
			RAISE EXCEPTION 'rollup % has no dimension "%"', source, dim
				USING ERRCODE = 'undefined_column',
					  HINT = format('Its dimensions are: %s.', array_to_string(p.dimensions, ', '));
		END IF;
		dims := dims || dim::name;
		dim_types := dim_types || (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
								   WHERE a.attrelid = raw AND a.attname = dim AND a.attnum > 0
									 AND NOT a.attisdropped);
		IF dim_types[cardinality(dims)] IS NULL THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', dim, raw
				USING ERRCODE = 'undefined_column';
		END IF;
	END LOOP;

	-- A Citus distributed source: see "Distributed sources (Citus)".
	PERFORM perfkit._rollup_dist_check(raw, p.id, dims, late_window, nsp, relname);

	-- Measures, then objects, then the catalog rows.
	all_cols := ARRAY['bucket', '_rows']::name[] || dims;
	id := perfkit._rollup_next_id();
	FOR m IN SELECT * FROM perfkit._rollup_measures(raw, measures) LOOP
		IF m.alias = ANY (all_cols) THEN
			RAISE EXCEPTION 'measure "%" is named "%", which is taken', measures[m.ord], m.alias
				USING ERRCODE = 'duplicate_column',
					  HINT = 'Name the measure with AS.';
		END IF;
		raw_sql := m.agg || '(' || coalesce(m.arg_sql, '*') || ')'
				   || coalesce(' FILTER (WHERE ' || m.filter_sql || ')', '');
		IF m.agg = 'avg' THEN
			state_cols := ARRAY[m.alias || '__sum', m.alias || '__count']::name[];
			state_types := ARRAY[CASE WHEN m.arg_type IN ('int2'::regtype, 'int4'::regtype)
								 THEN 'bigint'::regtype ELSE m.result_type END, 'bigint'::regtype];
			state_raw := ARRAY[
				'pg_catalog.sum(' || CASE WHEN m.arg_type IN ('int2'::regtype, 'int4'::regtype)
									 THEN m.arg_sql ELSE format('(%s)::%s', m.arg_sql, state_types[1]) END || ')'
					|| coalesce(' FILTER (WHERE ' || m.filter_sql || ')', ''),
				'pg_catalog.count(' || m.arg_sql || ')' || coalesce(' FILTER (WHERE ' || m.filter_sql || ')', '')];
			final_sql := format('(%I)::%s / NULLIF(%I, 0)', state_cols[1], m.result_type, state_cols[2]);
		ELSE
			state_cols := ARRAY[m.alias]::name[];
			state_types := ARRAY[m.result_type];
			state_raw := ARRAY['pg_catalog.' || raw_sql];
			final_sql := format('%I', m.alias);
		END IF;
		IF state_cols && all_cols THEN
			RAISE EXCEPTION 'measure "%" needs column names that are taken', measures[m.ord]
				USING ERRCODE = 'duplicate_column', HINT = 'Name the measure with AS.';
		END IF;
		all_cols := all_cols || state_cols;

		-- Built on a finer rollup: merge the same measure's state there.
		IF p.id IS NOT NULL THEN
			IF m.key = 'count(*)' THEN
				state_merge := ARRAY['pg_catalog.sum(_rows)::bigint'];
			ELSE
				SELECT * INTO pm FROM perfkit.rollup_measures x
				WHERE x.rollup_id = p.id AND x.key = m.key
				ORDER BY x.ord LIMIT 1;
				IF NOT FOUND THEN
					RAISE EXCEPTION 'rollup % does not keep measure %', source, m.key
						USING ERRCODE = 'invalid_parameter_value',
							  DETAIL = format('It keeps: %s.',
											  (SELECT string_agg(x.key, ', ' ORDER BY x.ord)
											   FROM perfkit.rollup_measures x WHERE x.rollup_id = p.id)),
							  HINT = 'Write measures exactly as over the raw rows, out of those the finer rollup keeps.';
				END IF;
				IF m.agg IN ('count', 'sum') THEN
					state_merge := ARRAY[format('pg_catalog.sum(%I)::%s', pm.state_columns[1], state_types[1])];
				ELSIF m.agg IN ('min', 'max') THEN
					state_merge := ARRAY[format('pg_catalog.%s(%I)', m.agg, pm.state_columns[1])];
				ELSE
					state_merge := ARRAY[format('pg_catalog.sum(%I)::%s', pm.state_columns[1], state_types[1]),
										 format('pg_catalog.sum(%I)::bigint', pm.state_columns[2])];
				END IF;
			END IF;
		ELSE
			state_merge := '{}';
		END IF;

		mrows := mrows || ROW(id, m.ord, m.alias, m.agg, m.key, raw_sql, m.result_type, state_cols,
							  state_types, state_raw, state_merge, final_sql)::perfkit.rollup_measures;
		FOR i IN 1 .. cardinality(state_cols) LOOP
			coldefs := coldefs || format(', %I %s', state_cols[i], state_types[i]);
		END LOOP;
		finals := finals || format(', %s AS %I', final_sql, m.alias);
	END LOOP;

	-- Objects.
	FOR i IN 1 .. cardinality(dims) LOOP
		dimlist := dimlist || format(', %I', dims[i]);
	END LOOP;
	EXECUTE format('CREATE TABLE %s (bucket timestamptz NOT NULL%s, _rows bigint NOT NULL%s, '
				   'UNIQUE NULLS NOT DISTINCT (bucket%s))',
				   q_state,
				   (SELECT coalesce(string_agg(format(', %I %s', dims[i], dim_types[i]), '' ORDER BY i), '')
					FROM generate_subscripts(dims, 1) i),
				   coldefs, dimlist);
	EXECUTE format('COMMENT ON TABLE %s IS %L', q_state,
				   format('perfkit rollup %s: mergeable state (query %s instead)', relname, relname));
	IF (perfkit._rollup_citus_table(raw)).dist_column IS NOT NULL THEN
		PERFORM perfkit._rollup_dist_prepare(q_state, raw, (perfkit._rollup_citus_table(raw)).dist_column,
											 format('%I.%I', nsp, relname || '_changes'));
	END IF;
	EXECUTE format('CREATE VIEW %s AS SELECT bucket%s%s FROM %s', q_rel, dimlist, finals, q_state);
	EXECUTE format('COMMENT ON VIEW %s IS %L', q_rel,
				   format('perfkit rollup: %s %s buckets of %s', g, timezone, source));

	d := ROW(id, q_rel::regclass, q_state::regclass, q_rel::regclass, source, p.id, raw, tcol, ttype,
			 g, timezone, dims, coalesce(p.depth + 1, 0), late_window, current_user::regrole,
			 NULL, NULL, NULL, now(), 0, NULL, NULL, NULL, NULL, NULL, NULL)::perfkit.rollup_defs;

	PERFORM perfkit._rollup_live_view_create(d, mrows, q_live);
	d.live_view := q_live::regclass;
	PERFORM perfkit._rollup_register(d, mrows);
	IF (perfkit._rollup_citus_table(raw)).dist_column IS NOT NULL THEN
		PERFORM perfkit._rollup_authorize(id);
		PERFORM perfkit._rollup_dist_register(id, (perfkit._rollup_citus_table(raw)).dist_column,
											  format('%I.%I', nsp, relname || '_changes')::regclass);
	END IF;

	-- Change capture on the raw table and every table of its partition tree.
	PERFORM perfkit._rollup_capture_tree(id, false);
	PERFORM perfkit._rollup_create_indexes(d);

	RETURN q_rel::regclass;
END
$$;

/*
 * Does rollup d capture inserts by row (a BEFORE INSERT ... FOR EACH ROW
 * trigger, src/rollup/capture.c) rather than by statement (an AFTER
 * INSERT statement trigger with a transition table)?  A row trigger sees
 * a row before it is written, so only where what it sees is what is
 * written, or a bucket recomputed for nothing: the rollup has no frozen
 * bucket (rows inserted there are merged into the state table, which must
 * only ever see written rows), it is not on a Citus table (the shards have
 * triggers of their own), its time column is not generated (its value is
 * computed after BEFORE triggers), and no enabled BEFORE ROW INSERT trigger
 * other than perfkit's fires after it (in name order) on any table of the
 * tree, where it could change the row.  Kept in line by
 * perfkit._rollup_capture_tree(), which the freeze and the DDL event
 * trigger (CREATE or ALTER TRIGGER, ALTER TABLE) call.
 */
CREATE FUNCTION perfkit._rollup_insert_by_row(d perfkit.rollup_defs)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN coalesce(d.final_before, '-infinity') = '-infinity'	-- nothing frozen
	   AND NOT EXISTS (SELECT 1 FROM perfkit.rollup_distributed x WHERE x.rollup_id = d.id)
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
					   WHERE a.attrelid = d.raw_source AND a.attname = d.time_column
						 AND a.attgenerated <> '')
	   AND NOT EXISTS (
		SELECT 1 FROM pg_catalog.pg_trigger t
		WHERE (t.tgrelid = d.raw_source
			   OR t.tgrelid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x))
		  AND t.tgenabled <> 'D'
		  AND (t.tgtype::integer & 71) = 7		-- ROW | BEFORE | INSERT, not INSTEAD
		  AND t.tgfoid <> 'perfkit._rollup_capture()'::pg_catalog.regprocedure
		  AND t.tgname::text COLLATE "C" > format('perfkit_rollup_%s_insert', d.id) COLLATE "C");
END
$$;

/*
 * Is rollup d's INSERT capture trigger on its root of the kind
 * perfkit._rollup_insert_by_row() asks for?  If not, drop it everywhere
 * (perfkit._rollup_add_triggers() makes it again).
 */
CREATE FUNCTION perfkit._rollup_insert_mode_sync(d perfkit.rollup_defs)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tname text := format('perfkit_rollup_%s_insert', d.id);
	have_row boolean;
	rel regclass;
BEGIN
	SELECT (t.tgtype::integer & 1) = 1 INTO have_row FROM pg_catalog.pg_trigger t
	WHERE t.tgrelid = d.raw_source AND t.tgname = tname;
	IF have_row IS NULL OR have_row = perfkit._rollup_insert_by_row(d) THEN
		RETURN false;
	END IF;
	-- the root's first: a row trigger's clones go with it
	EXECUTE format('DROP TRIGGER %I ON %s', tname, d.raw_source);
	FOR rel IN
		SELECT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
		WHERE t.tgname = tname AND t.tgparentid = 0
		  AND t.tgrelid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x)
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', tname, rel);
	END LOOP;
	RETURN true;
END
$$;

/*
 * The capture triggers of rollup p_id on relation rel, a table of the
 * rollup's raw source's partition tree (or the plain table itself):
 * statement-level AFTER INSERT, UPDATE and DELETE triggers with transition
 * tables (in row mode, perfkit._rollup_insert_by_row(), a BEFORE INSERT
 * ... FOR EACH ROW trigger on the root instead of the INSERT ones, which
 * PostgreSQL clones onto the partitions), and on a table with storage a
 * BEFORE TRUNCATE trigger, all
 * ENABLE ALWAYS (they fire for a subscription's initial copy and
 * TRUNCATE too); on the root of a table a subscription writes into
 * (pg_subscription_rel), a row-level trigger enabled for replicas only,
 * for the rows a logical replication apply worker writes (it fires no
 * statement triggers).  PostgreSQL clones that one onto partitions.
 * Writes straight into a partition fire its own statement triggers, not
 * the parent's: hence triggers on every table of the tree.  Existing
 * triggers are kept.  Runs with the caller's rights (the table's owner).
 */
CREATE FUNCTION perfkit._rollup_add_triggers(d perfkit.rollup_defs, rel regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trig text;
	tname text;
	added boolean := false;
	kind "char" := (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel);
	by_row boolean := perfkit._rollup_insert_by_row(d);
BEGIN
	FOREACH trig IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
		tname := format('perfkit_rollup_%s_%s', d.id, trig);
		CONTINUE WHEN trig = 'truncate' AND kind <> 'r';
		IF trig = 'insert' AND by_row AND rel <> d.raw_source THEN
			-- Row mode: the root's trigger, cloned onto every partition by
			-- PostgreSQL (those made or attached later too).
			IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
					   WHERE t.tgrelid = rel AND t.tgname = tname AND t.tgenabled <> 'A') THEN
				EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, tname);
			END IF;
			CONTINUE;
		END IF;
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
							  WHERE t.tgrelid = rel AND t.tgname = tname);
		IF trig = 'insert' AND by_row THEN
			EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW '
						   'EXECUTE FUNCTION perfkit._rollup_capture(%L)', tname, rel, d.id);
			-- (its clones are enabled ALWAYS by the calls for the partitions:
			-- every caller goes over the whole tree, root first)
			EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, tname);
			added := true;
			CONTINUE;
		END IF;
		EXECUTE format('CREATE TRIGGER %I %s %s ON %s %s FOR EACH STATEMENT '
					   'EXECUTE FUNCTION perfkit._rollup_capture(%L)',
					   tname, CASE trig WHEN 'truncate' THEN 'BEFORE' ELSE 'AFTER' END,
					   upper(trig), rel,
					   CASE trig WHEN 'insert' THEN 'REFERENCING NEW TABLE AS perfkit_new'
								 WHEN 'update' THEN 'REFERENCING OLD TABLE AS perfkit_old NEW TABLE AS perfkit_new'
								 WHEN 'delete' THEN 'REFERENCING OLD TABLE AS perfkit_old'
								 ELSE '' END,
					   d.id);
		EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, tname);
		added := true;
	END LOOP;
	-- The row trigger costs every writer a little (an AFTER row trigger
	-- that does not fire is still looked at for each row): only on tables
	-- a subscription writes into (see perfkit._rollup_ddl for later ones).
	IF rel = d.raw_source AND EXISTS (
		SELECT 1 FROM pg_catalog.pg_subscription_rel sr
		WHERE sr.srrelid = d.raw_source
		   OR sr.srrelid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x)) THEN
		tname := format('perfkit_rollup_%s_apply', d.id);
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = rel AND t.tgname = tname) THEN
			EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
						   'EXECUTE FUNCTION perfkit._rollup_capture(%L)', tname, rel, d.id);
		END IF;
	END IF;
	-- The row trigger (and its clones on partitions) fires on replicas only.
	FOR rel IN
		SELECT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
		WHERE t.tgname = format('perfkit_rollup_%s_apply', d.id) AND t.tgenabled <> 'R'
		  AND (t.tgrelid = d.raw_source
			   OR t.tgrelid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x))
	LOOP
		EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER %I', rel,
					   format('perfkit_rollup_%s_apply', d.id));
	END LOOP;
	RETURN added;
END
$$;

-- The buckets of rollup d that the rows of table rel (without its
-- partitions) fall into.  Runs with the caller's rights.
CREATE FUNCTION perfkit._rollup_table_buckets(d perfkit.rollup_defs, rel regclass)
RETURNS timestamptz[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET row_security = off		-- every row, or an error: never a filtered count
AS $$
DECLARE
	b timestamptz[];
BEGIN
	IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel) <> 'r' THEN
		RETURN '{}';
	END IF;
	EXECUTE format('SELECT pg_catalog.array_agg(DISTINCT %s) FROM ONLY %s WHERE pg_catalog.isfinite(%I)',
				   perfkit._rollup_bucket_sql(d), rel, d.time_column) INTO b;
	RETURN coalesce(b, '{}');
END
$$;

/*
 * Bring the capture of rollup p_id in line with its raw source's partition
 * tree: triggers on every table of it (a partition created or attached
 * since gets them, and its rows, if any, are logged as changes); a table
 * that left the tree (DETACH PARTITION) loses them, and its rows are
 * logged as changes too (they left the source), unless partition
 * retention retires it: then the rollup freezes the range instead
 * (perfkit.rollup_blockers() approved it in this transaction).  Without
 * log_new (a rollup never refreshed: its first refresh reads everything)
 * new tables get triggers only.
 */
CREATE FUNCTION perfkit._rollup_capture_tree(p_id integer, log_new boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	rel regclass;
	trig text;
	retire_hi timestamptz;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	PERFORM perfkit._rollup_authorize(p_id);	-- as the caller: the tables' owner
	IF EXISTS (SELECT 1 FROM perfkit.rollup_distributed x WHERE x.rollup_id = p_id) THEN
		-- A Citus distributed source: triggers on its shards.
		PERFORM perfkit._rollup_dist_triggers(p_id);
		RETURN;
	END IF;
	PERFORM perfkit._rollup_ddl_nesting(1);		-- our own ALTER TABLEs: ignored
	BEGIN
	FOR rel IN SELECT d.raw_source
			   UNION ALL
			   SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x WHERE x.level > 0 LOOP
		IF perfkit._rollup_add_triggers(d, rel) AND rel <> d.raw_source AND log_new THEN
			PERFORM perfkit._rollup_log_buckets(p_id, perfkit._rollup_table_buckets(d, rel), true);
		END IF;
	END LOOP;
	FOR rel IN
		SELECT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
		WHERE t.tgname = format('perfkit_rollup_%s_update', p_id)	-- on every table, in both modes
		  AND t.tgrelid <> d.raw_source
		  AND t.tgrelid NOT IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x)
	LOOP
		-- Retention retires it: freeze up to the end of the approved range.
		-- Either way the rows left the source: buckets still open are
		-- recomputed without them (none, when retention retired the range;
		-- a coarser rollup recomputes from the finer state, unchanged).
		retire_hi := perfkit._rollup_retire_approved(d.raw_source);
		IF retire_hi IS NOT NULL AND d.parent_id IS NULL THEN
			PERFORM perfkit._rollup_freeze_to(p_id, retire_hi, true);
		END IF;
		PERFORM perfkit._rollup_log_buckets(p_id, perfkit._rollup_table_buckets(d, rel), false);
		FOREACH trig IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate', 'apply'] LOOP
			EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', format('perfkit_rollup_%s_%s', p_id, trig), rel);
		END LOOP;
	END LOOP;
	-- Row or statement mode for inserts: a freeze, or a trigger of the
	-- user's, may have changed which one is right.
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	IF perfkit._rollup_insert_mode_sync(d) THEN
		FOR rel IN SELECT d.raw_source
				   UNION ALL
				   SELECT x.relid FROM pg_catalog.pg_partition_tree(d.raw_source) x WHERE x.level > 0 LOOP
			PERFORM perfkit._rollup_add_triggers(d, rel);
		END LOOP;
	END IF;
	EXCEPTION WHEN OTHERS THEN
		PERFORM perfkit._rollup_ddl_nesting(-1);
		RAISE;
	END;
	PERFORM perfkit._rollup_ddl_nesting(-1);
END
$$;

/*
 * The event trigger: after CREATE TABLE (... PARTITION OF), ALTER TABLE
 * (ATTACH, DETACH PARTITION, ENABLE or DISABLE TRIGGER) and CREATE or
 * ALTER TRIGGER (which may decide between row and statement capture of
 * inserts), bring the capture of every rollup on the
 * partition tree concerned in line with it; after CREATE or ALTER
 * SUBSCRIPTION, of every rollup (its source may now be a target).  Runs as the role that ran
 * the command, who owns the tables (PostgreSQL requires it), with
 * row_security on for the catalogs (a caller may have turned it off, as
 * partition conversion does: reading a table with policies would fail).
 */
CREATE FUNCTION perfkit._rollup_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET row_security = on		-- the catalogs' read policy is USING (true)
AS $$
DECLARE
	id integer;
	refreshed boolean;
BEGIN
	IF perfkit._rollup_ddl_nesting(0) > 0 OR NOT EXISTS (SELECT 1 FROM perfkit.rollup_defs) THEN
		RETURN;
	END IF;
	IF tg_tag IN ('CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION') THEN
		-- Tables may have become subscription targets: every rollup.
		FOR id, refreshed IN SELECT r.id, r.watermark IS NOT NULL FROM perfkit.rollup_defs r ORDER BY r.id LOOP
			PERFORM perfkit._rollup_capture_tree(id, refreshed);
		END LOOP;
		RETURN;
	END IF;
	FOR id, refreshed IN
		SELECT DISTINCT r.id, r.watermark IS NOT NULL FROM pg_catalog.pg_event_trigger_ddl_commands() c
		CROSS JOIN LATERAL (SELECT CASE WHEN c.classid = 'pg_catalog.pg_trigger'::regclass
										THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = c.objid)
										ELSE c.objid END AS relid) o
		JOIN perfkit.rollup_defs r
		  ON r.raw_source = pg_catalog.pg_partition_root(o.relid)
			 OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
						WHERE t.tgrelid = o.relid AND t.tgname = format('perfkit_rollup_%s_update', r.id))
		WHERE (c.classid = 'pg_catalog.pg_class'::regclass AND c.object_type = 'table')
		   OR c.classid = 'pg_catalog.pg_trigger'::regclass
		ORDER BY r.id
	LOOP
		PERFORM perfkit._rollup_capture_tree(id, refreshed);
	END LOOP;
END
$$;

CREATE EVENT TRIGGER perfkit_rollup_ddl ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION',
				 'CREATE TRIGGER', 'ALTER TRIGGER')
	EXECUTE FUNCTION perfkit._rollup_ddl();

/*
 * Log changed buckets of rollup p_id found by the caller (rows that
 * entered or left the source through ATTACH or DETACH).  Rows attached
 * into frozen buckets cannot be merged (there is no transition table):
 * with count_frozen they are counted as inexact.  Rows detached from
 * frozen buckets are left alone: that retires them, which is what
 * freezing is for.  The caller must have the
 * privileges of the rollup's owner; a change row only makes refresh
 * recompute a bucket.
 */
CREATE FUNCTION perfkit._rollup_log_buckets(p_id integer, buckets timestamptz[], count_frozen boolean)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	IF NOT (perfkit._rollup_authorized(p_id) OR perfkit._rollup_in_refresh(p_id)) THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	INSERT INTO perfkit.rollup_changes (rollup_id, bucket)
	SELECT DISTINCT p_id, perfkit._bucket_start(b, d.granularity, d.timezone)
	FROM pg_catalog.unnest(buckets) b
	WHERE b IS NOT NULL AND b >= coalesce(d.final_before, '-infinity');
	IF count_frozen THEN
		INSERT INTO perfkit.rollup_inexact (rollup_id, bucket, reason)
		SELECT DISTINCT p_id, perfkit._bucket_start(b, d.granularity, d.timezone), 'frozen'
		FROM pg_catalog.unnest(buckets) b
		WHERE b < d.final_before;
	END IF;
END
$$;

/*
 * Freeze the buckets of rollup p_id before `before` (with round_up, the
 * bucket holding the instant just before it too), never past the
 * watermark: refresh no longer recomputes them, late inserts into them are
 * merged, other changes counted.  final_before only moves forward.
 */
CREATE FUNCTION perfkit._rollup_freeze_to(p_id integer, before timestamptz, round_up boolean)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	b timestamptz;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	IF NOT (perfkit._rollup_authorized(p_id) OR perfkit._rollup_in_refresh(p_id)) THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF d.watermark IS NULL THEN
		RAISE EXCEPTION 'rollup % has never been refreshed', d.rel
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Refresh it first: only materialized buckets can be frozen.';
	END IF;
	b := CASE WHEN round_up
			  THEN perfkit._bucket_add(perfkit._bucket_start(before - interval '1 microsecond',
															 d.granularity, d.timezone),
									   d.granularity, d.timezone)
			  ELSE perfkit._bucket_start(before, d.granularity, d.timezone) END;
	b := greatest(coalesce(d.final_before, '-infinity'), least(d.watermark, b));
	UPDATE perfkit.rollup_defs r SET final_before = b WHERE r.id = p_id;
	RETURN b;
END
$$;

CREATE FUNCTION perfkit._rollup_authorize(id integer)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_authorize';

CREATE FUNCTION perfkit._rollup_authorized(id integer)
RETURNS boolean
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_authorized';

CREATE FUNCTION perfkit._rollup_ddl_nesting(delta integer)
RETURNS integer
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_ddl_nesting';

CREATE FUNCTION perfkit._rollup_note_retire(tbl regclass, range_end timestamptz)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_note_retire';

CREATE FUNCTION perfkit._rollup_retire_approved(tbl regclass)
RETURNS timestamptz
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_retire_approved';

/*
 * The SQL that merges the rows an INSERT statement added to frozen buckets
 * (the transition table perfkit_new) into rollup p_id's state: counts,
 * sums and the two parts of an average add up, min and max take the least
 * and greatest, _rows adds up.  $1 is final_before.  The capture trigger
 * runs it as the rollup's owner, restricted.
 */
CREATE FUNCTION perfkit._rollup_merge_sql(p_id integer)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	dims text;
	states text;
	cols text;
	keys text;
	sets text;
	bucket text;
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs WHERE id = p_id;
	bucket := perfkit._rollup_bucket_sql(d);
	SELECT coalesce(string_agg(format(', %I', x), '' ORDER BY i), '') INTO dims
	FROM unnest(d.dimensions) WITH ORDINALITY AS u(x, i);
	SELECT coalesce(string_agg(format(', %s', v), '' ORDER BY rm.ord, k), '') INTO states
	FROM perfkit.rollup_measures rm, unnest(rm.state_raw_sql) WITH ORDINALITY AS u(v, k)
	WHERE rm.rollup_id = d.id;
	SELECT coalesce(string_agg(format(', %I', c), '' ORDER BY rm.ord, k), '') INTO cols
	FROM perfkit.rollup_measures rm, unnest(rm.state_columns) WITH ORDINALITY AS u(c, k)
	WHERE rm.rollup_id = d.id;
	SELECT coalesce(string_agg(format(', %s', CASE
			WHEN rm.agg = 'min' THEN format('%1$I = LEAST(s.%1$I, EXCLUDED.%1$I)', c)
			WHEN rm.agg = 'max' THEN format('%1$I = GREATEST(s.%1$I, EXCLUDED.%1$I)', c)
			ELSE format('%1$I = CASE WHEN s.%1$I IS NULL THEN EXCLUDED.%1$I WHEN EXCLUDED.%1$I IS NULL THEN s.%1$I '
						'ELSE s.%1$I + EXCLUDED.%1$I END', c) END), '' ORDER BY rm.ord, k), '') INTO sets
	FROM perfkit.rollup_measures rm, unnest(rm.state_columns) WITH ORDINALITY AS u(c, k)
	WHERE rm.rollup_id = d.id;
	SELECT string_agg(format('%I', x), ', ' ORDER BY i) INTO keys
	FROM unnest(ARRAY['bucket']::name[] || d.dimensions) WITH ORDINALITY AS u(x, i);
	RETURN format('INSERT INTO %s AS s (bucket%s, _rows%s) '
				  'SELECT %s AS bucket%s, pg_catalog.count(*)%s FROM perfkit_new '
				  'WHERE pg_catalog.isfinite(%I) AND %s < $1 GROUP BY %s%s '
				  'ON CONFLICT (%s) DO UPDATE SET _rows = s._rows + EXCLUDED._rows%s',
				  d.state_table, dims, cols, bucket, dims, states, d.time_column, bucket,
				  bucket, dims, keys, sets);
END
$$;

/*
 * The state table's indexes.  Its unique key (bucket, dimensions) serves
 * a time range over all dimension values; an index (dimension, bucket) per
 * dimension serves one value of it over time (one vehicle's chart reads
 * its own rows, not every bucket's).
 */
CREATE FUNCTION perfkit._rollup_create_indexes(d perfkit.rollup_defs)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dim name;
BEGIN
	FOREACH dim IN ARRAY d.dimensions LOOP
		EXECUTE format('CREATE INDEX ON %s (%I, bucket)', d.state_table, dim);
	END LOOP;
END
$$;

/*
 * create_rollup: validate everything first, then create the state table,
 * the view, the live view and the capture triggers, and register them.  It
 * runs with the caller's rights and search path (the rollup's objects are
 * the caller's, made in the caller's creation schema), so it is not
 * SECURITY DEFINER; every name it builds SQL from is quoted.
 */
CREATE FUNCTION perfkit.create_rollup(name text, source regclass, time_column name,
									  granularity text, dimensions text[] DEFAULT '{}',
									  measures text[] DEFAULT ARRAY['count(*)'],
									  timezone text DEFAULT NULL,
									  late_window interval DEFAULT NULL)
RETURNS regclass
LANGUAGE sql
BEGIN ATOMIC
	SELECT perfkit._rollup_create(name, source, time_column, granularity, dimensions, measures,
								  timezone, late_window, pg_catalog.current_schema());
END;

COMMENT ON FUNCTION perfkit.create_rollup(text, regclass, name, text, text[], text[], text, interval) IS
'create a rollup of a table (or a coarser rollup of a finer one) kept current by refresh';

/*
 * drop_rollup(keep_table => true) copies the rollup's final values as its
 * owner in a security-restricted operation (refresh.c): the owner may have
 * redefined the view, and a superuser dropping it must not run her code.
 */
CREATE FUNCTION perfkit._rollup_keep_copy(id integer)
RETURNS regclass
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'perfkit_rollup_keep_copy';

CREATE FUNCTION perfkit._rollup_drop(d perfkit.rollup_defs, keep_table boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	trig text;
	tmp text;
	kept regclass;
	nsp name;
	relname name;
BEGIN
	-- Only the id comes from the caller: the row is read again.
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = d.id;
	IF NOT pg_catalog.pg_has_role(d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF EXISTS (SELECT 1 FROM perfkit.rollup_defs c WHERE c.parent_id = d.id) THEN
		RAISE EXCEPTION 'cannot drop rollup % because other rollups depend on it', d.rel
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = (SELECT 'Rollups built on it: ' || string_agg(c.rel::text, ', ' ORDER BY c.id) || '.'
							FROM perfkit.rollup_defs c WHERE c.parent_id = d.id),
				  HINT = 'Drop those first.';
	END IF;
	-- Drop only what belongs with the rollup: a catalog row naming
	-- another role's relation must not make a superuser drop it.
	SELECT c.oid::regclass INTO tmp FROM pg_catalog.pg_class c
	WHERE c.oid IN (d.rel, d.state_table, d.live_view)
	  AND NOT pg_catalog.pg_has_role(d.owner, c.relowner, 'USAGE')
	LIMIT 1;
	IF tmp IS NOT NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.state_table
									 AND c.relkind = 'r')
	   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.live_view AND c.relkind = 'v') THEN
		RAISE EXCEPTION 'rollup % names relations that are not its own', d.rel
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Relation %s does not belong to the rollup''s owner %s, or is not of the right kind.',
								  coalesce(tmp, d.state_table::text), d.owner);
	END IF;
	tmp := NULL;
	-- Wait for a refresh in progress; none can start after this.
	PERFORM perfkit._rollup_lock(d.id, true);
	-- The capture triggers, wherever they are (the raw table, its
	-- partitions, tables detached since); the clones of the row trigger go
	-- with the root's.
	FOR tmp, trig IN
		SELECT t.tgrelid::regclass::text, t.tgname FROM pg_catalog.pg_trigger t
		WHERE t.tgname IN (format('perfkit_rollup_%s_insert', d.id), format('perfkit_rollup_%s_update', d.id),
						   format('perfkit_rollup_%s_delete', d.id), format('perfkit_rollup_%s_truncate', d.id),
						   format('perfkit_rollup_%s_apply', d.id))
		  AND NOT t.tgisinternal AND t.tgparentid = 0
		  AND t.tgfoid = 'perfkit._rollup_capture()'::regprocedure
	LOOP
		EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', trig, tmp);
	END LOOP;
	tmp := NULL;
	EXECUTE format('DROP VIEW %s', d.live_view);
	PERFORM perfkit._rollup_dist_drop(d);		-- a Citus distributed source's
	IF keep_table THEN
		-- The relation users query becomes a plain table of final values.
		SELECT n.nspname, c.relname INTO nsp, relname
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = d.rel;
		-- Copied as the owner, restricted: she may have redefined the view.
		kept := perfkit._rollup_keep_copy(d.id);
		EXECUTE format('DROP VIEW %s', d.rel);
		EXECUTE format('DROP TABLE %s', d.state_table);
		EXECUTE format('ALTER TABLE %s RENAME TO %I', kept, relname);
	ELSE
		EXECUTE format('DROP VIEW %s', d.rel);
		EXECUTE format('DROP TABLE %s', d.state_table);
	END IF;
	PERFORM perfkit._rollup_unregister(d.id);
	PERFORM perfkit._rollup_publish(d.id);
END
$$;

CREATE FUNCTION perfkit.drop_rollup(name text, keep_table boolean DEFAULT false)
RETURNS void
LANGUAGE sql
BEGIN ATOMIC
	SELECT perfkit._rollup_drop(perfkit._rollup_lookup(name), keep_table);
END;

COMMENT ON FUNCTION perfkit.drop_rollup(text, boolean) IS
'drop a rollup; keep_table keeps its final values as a plain table under the rollup''s name';

CREATE FUNCTION perfkit._rollup_refresh_one(d perfkit.rollup_defs, range_start timestamptz,
											range_end timestamptz, include_final boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	n bigint;
BEGIN
	-- Only the id comes from the caller: the row is read again.
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = d.id;
	IF range_start IS NOT NULL AND range_end IS NOT NULL AND range_start >= range_end THEN
		RAISE EXCEPTION 'range_start must be before range_end'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_catalog.pg_has_role(d.owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of rollup %', d.rel
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM perfkit._rollup_lock(d.id, true);
	SELECT r.buckets INTO n FROM perfkit._rollup_refresh_as_owner(d.id, range_start, range_end, NULL,
																 include_final) r;
	RETURN n;
END
$$;

CREATE FUNCTION perfkit.refresh_rollup(name text, range_start timestamptz DEFAULT NULL,
									   range_end timestamptz DEFAULT NULL,
									   include_final boolean DEFAULT false)
RETURNS bigint
LANGUAGE sql
BEGIN ATOMIC
	SELECT perfkit._rollup_refresh_one(perfkit._rollup_lookup(name), range_start, range_end,
									   include_final);
END;

COMMENT ON FUNCTION perfkit.refresh_rollup(text, timestamptz, timestamptz, boolean) IS
'bring a rollup up to date (changed buckets, new complete buckets) or recompute a range (final buckets too with include_final); returns buckets written';

/*
 * Rows forged in the catalogs when PUBLIC could write them (before 0.8,
 * never released): a
 * rollup naming a relation (rel, state_table, live_view, raw_source,
 * source) that its owner's roles do not own is removed with its measures
 * and change rows, and so is every rollup built on it; so are change rows
 * of no rollup.  A NOTICE names each.  Relations that no longer exist are
 * left to drop_rollup().  Run once at the end of this section; the
 * extension's owner may run it again.
 */
CREATE FUNCTION perfkit._rollup_purge_forged()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	n integer := 0;
BEGIN
	FOR d IN
		WITH RECURSIVE forged AS (
			SELECT r.id FROM perfkit.rollup_defs r
			WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
						  WHERE c.oid IN (r.rel, r.state_table, r.live_view, r.raw_source, r.source)
							AND NOT pg_catalog.pg_has_role(r.owner, c.relowner, 'USAGE'))
			UNION
			SELECT r.id FROM perfkit.rollup_defs r JOIN forged f ON r.parent_id = f.id
		)
		SELECT r.* FROM perfkit.rollup_defs r WHERE r.id IN (SELECT id FROM forged)
		ORDER BY r.depth DESC, r.id
	LOOP
		RAISE NOTICE 'removing rollup % (id %, owner %): it names relations its owner does not own',
			d.rel, d.id, d.owner
			USING HINT = 'Rows of the rollup catalogs written before 0.8 may have been forged.';
		DELETE FROM perfkit.rollup_changes c WHERE c.rollup_id = d.id;
		DELETE FROM perfkit.rollup_defs r WHERE r.id = d.id;	-- and its measures
		n := n + 1;
	END LOOP;
	DELETE FROM perfkit.rollup_changes c
	WHERE NOT EXISTS (SELECT 1 FROM perfkit.rollup_defs r WHERE r.id = c.rollup_id);
	RETURN n;
END
$$;

/*
 * The live view of rollup d, named q_live, from its measures:
 * materialized buckets that have no pending change, plus, from raw rows,
 * the changed buckets and the tail past the watermark.  Made by
 * create_rollup() and again by perfkit._rollup_source_attach() once the
 * raw table was replaced.  Runs with the caller's rights (the owner).
 */
CREATE FUNCTION perfkit._rollup_live_view_create(d perfkit.rollup_defs, measures perfkit.rollup_measures[],
												 q_live text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dimlist text := '';
	finals text := '';
	rawfinals text := '';
	m perfkit.rollup_measures;
	dist name := (perfkit._rollup_citus_table(d.raw_source)).dist_column;
BEGIN
	IF dist IS NOT NULL THEN
		-- A Citus distributed source: see "Distributed sources (Citus)".
		PERFORM perfkit._rollup_dist_live_view_create(d, measures, q_live,
			(SELECT format('%I.%I', n.nspname, c.relname || '_changes') FROM pg_catalog.pg_class c
			 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = d.rel), dist);
		RETURN;
	END IF;
	FOR i IN 1 .. cardinality(d.dimensions) LOOP
		dimlist := dimlist || format(', %I', d.dimensions[i]);
	END LOOP;
	FOR m IN SELECT * FROM pg_catalog.unnest(measures) x ORDER BY x.ord LOOP
		finals := finals || format(', %s AS %I', m.final_sql, m.alias);
		rawfinals := rawfinals || format(', %s AS %I', m.raw_sql, m.alias);
	END LOOP;
	EXECUTE format($v$CREATE VIEW %1$s AS
WITH perfkit_d AS (
	SELECT r.watermark, r.final_before FROM perfkit.rollup_defs r WHERE r.id = %2$s
), perfkit_dirty AS MATERIALIZED (
	SELECT DISTINCT c.bucket AS perfkit_b FROM perfkit.rollup_changes c, perfkit_d
	WHERE c.rollup_id = %2$s AND c.bucket >= perfkit_d.final_before AND c.bucket < perfkit_d.watermark
)
SELECT bucket%3$s%4$s FROM %5$s
WHERE bucket NOT IN (SELECT perfkit_b FROM perfkit_dirty)
UNION ALL
SELECT %6$s AS bucket%3$s%7$s FROM %8$s
WHERE %9$I >= %10$s
GROUP BY 1%3$s
UNION ALL
SELECT perfkit_k.perfkit_b%3$s%7$s FROM perfkit_dirty AS perfkit_k JOIN %8$s ON %11$s
GROUP BY 1%3$s$v$,
		q_live, d.id, dimlist, finals, d.state_table,
		perfkit._rollup_bucket_sql(d), rawfinals, d.raw_source, d.time_column,
		perfkit._rollup_time_value(d, '(SELECT coalesce(perfkit_d.watermark, ''-infinity'') FROM perfkit_d)'),
		format('%I >= %s AND %I < %s',
			   d.time_column, perfkit._rollup_time_value(d, 'perfkit_k.perfkit_b'),
			   d.time_column, perfkit._rollup_time_value(d, format('perfkit._bucket_add(perfkit_k.perfkit_b, %L, %L)',
																	d.granularity, d.timezone))));
	EXECUTE format('COMMENT ON VIEW %s IS %L', q_live,
				   format('perfkit rollup %s, exact up to now: materialized buckets plus the rest from raw rows',
						  (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = d.rel)));
END
$$;

/*
 * Partition conversion (src/partition/convert.c) replaces a rollup's raw
 * table tbl by a partitioned copy of it under the same name, in one
 * transaction holding ACCESS EXCLUSIVE on tbl.  The rollups move with it:
 *   - perfkit._rollup_source_detach(tbl), before tbl is dropped, drops the
 *     capture triggers and the live view of every rollup reading tbl
 *     (they depend on it); definitions, state and pending changes stay.
 *     The triggers captured every write up to the swap's lock.
 *   - perfkit._rollup_source_attach(old, tbl), once the copy took the
 *     name, points those rollups (raw_source = old) at it and makes the
 *     capture triggers on every table of its partition tree and the live
 *     view again.  Nothing is logged: the copy holds the rows the state
 *     and the pending changes already account for (checked equal by the
 *     conversion), and copying them fired no rollup trigger.
 * Both run as the caller, who must have the privileges of each rollup's
 * owner (perfkit._rollup_authorize); the catalog row is rewritten by
 * perfkit._rollup_repoint(), SECURITY DEFINER, for an authorized rollup
 * only.  Returns the number of rollups moved.
 */
CREATE FUNCTION perfkit._rollup_source_detach(tbl regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET row_security = on		-- the catalogs' read policy is USING (true)
AS $$
DECLARE
	d perfkit.rollup_defs;
	rel regclass;
	trig text;
	n integer := 0;
BEGIN
	FOR d IN SELECT * FROM perfkit.rollup_defs r WHERE r.raw_source = tbl ORDER BY r.depth DESC, r.id LOOP
		PERFORM perfkit._rollup_authorize(d.id);
		FOR rel, trig IN
			SELECT t.tgrelid::regclass, t.tgname FROM pg_catalog.pg_trigger t
			WHERE t.tgname IN (format('perfkit_rollup_%s_insert', d.id), format('perfkit_rollup_%s_update', d.id),
							   format('perfkit_rollup_%s_delete', d.id), format('perfkit_rollup_%s_truncate', d.id),
							   format('perfkit_rollup_%s_apply', d.id))
			  AND NOT t.tgisinternal AND t.tgparentid = 0
			  AND t.tgfoid = 'perfkit._rollup_capture()'::regprocedure
			  AND (t.tgrelid = tbl OR t.tgrelid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(tbl) x))
		LOOP
			EXECUTE format('DROP TRIGGER %I ON %s', trig, rel);
		END LOOP;
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.live_view AND c.relkind = 'v') THEN
			EXECUTE format('DROP VIEW %s', d.live_view);
		END IF;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

/*
 * Point rollup p_id, authorized in this transaction, from its raw table
 * old (dropped) at tbl, with its new live view live: all three must be
 * the rollup owner's.
 */
CREATE FUNCTION perfkit._rollup_repoint(p_id integer, old oid, tbl regclass, live regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO d FROM perfkit.rollup_defs r WHERE r.id = p_id FOR UPDATE;
	IF NOT FOUND OR NOT perfkit._rollup_authorized(p_id) THEN
		RAISE EXCEPTION 'rollup % is not authorized in this transaction', p_id
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF d.raw_source::oid <> old OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = old)
	   OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = d.live_view) THEN
		RAISE EXCEPTION 'rollup % does not read a table that was replaced', d.rel
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT perfkit._rollup_owns(d.owner, tbl) OR NOT perfkit._rollup_owns(d.owner, live)
	   OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = live) <> 'v'
	   OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'must be owner of relations % and %', tbl, live
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	UPDATE perfkit.rollup_defs r
	SET raw_source = tbl,
		source = CASE WHEN r.parent_id IS NULL THEN tbl ELSE r.source END,
		live_view = live
	WHERE r.id = p_id;
END
$$;

CREATE FUNCTION perfkit._rollup_source_attach(old oid, tbl regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET row_security = on		-- the catalogs' read policy is USING (true)
AS $$
DECLARE
	d perfkit.rollup_defs;
	rel regclass;
	q_live text;
	n integer := 0;
BEGIN
	PERFORM perfkit._rollup_ddl_nesting(1);		-- our own ALTER TABLEs: ignored
	BEGIN
	FOR d IN SELECT * FROM perfkit.rollup_defs r WHERE r.raw_source::oid = old ORDER BY r.depth, r.id LOOP
		PERFORM perfkit._rollup_authorize(d.id);
		SELECT pg_catalog.format('%I.%I', s.nspname, c.relname || '_live') INTO STRICT q_live
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
		WHERE c.oid = d.rel;
		d.raw_source := tbl;
		PERFORM perfkit._rollup_live_view_create(
			d, ARRAY(SELECT m FROM perfkit.rollup_measures m WHERE m.rollup_id = d.id ORDER BY m.ord), q_live);
		PERFORM perfkit._rollup_repoint(d.id, old, tbl, q_live::regclass);
		SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = d.id;
		FOR rel IN SELECT tbl
				   UNION ALL
				   SELECT x.relid FROM pg_catalog.pg_partition_tree(tbl) x WHERE x.level > 0 LOOP
			PERFORM perfkit._rollup_add_triggers(d, rel);
		END LOOP;
		n := n + 1;
	END LOOP;
	EXCEPTION WHEN OTHERS THEN
		PERFORM perfkit._rollup_ddl_nesting(-1);
		RAISE;
	END;
	PERFORM perfkit._rollup_ddl_nesting(-1);
	RETURN n;
END
$$;

/*
 * The live views of the rollups reading tbl (they depend on it), which a
 * conversion of tbl moves; an error, before the conversion starts, if the
 * caller (the table's owner) could not move them: she lacks the
 * privileges of a rollup's owner.
 */
CREATE FUNCTION perfkit._rollup_source_views(tbl regclass)
RETURNS SETOF regclass
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET row_security = on		-- the catalogs' read policy is USING (true)
AS $$
DECLARE
	names text;
BEGIN
	SELECT string_agg(format('%s (owner %s)', r.rel, r.owner), ', ' ORDER BY r.id) INTO names
	FROM perfkit.rollup_defs r WHERE r.raw_source = tbl AND NOT pg_catalog.pg_has_role(r.owner, 'USAGE');
	IF names IS NOT NULL THEN
		RAISE EXCEPTION 'role % cannot move the rollups of table %: %', current_user, tbl, names
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The conversion runs as the table''s owner, who must have the privileges of each rollup''s owner to make its triggers and live view again.',
				  HINT = 'Grant the rollups'' owners to the table''s owner, or drop those rollups, convert the table and create them again.';
	END IF;
	RETURN QUERY SELECT r.live_view FROM perfkit.rollup_defs r WHERE r.raw_source = tbl;
END
$$;

-----------------------------------------------------------------------------
-- Distributed sources (Citus)
-----------------------------------------------------------------------------

/*
 * A rollup on a Citus hash-distributed table whose distribution column is
 * one of its dimensions (src/rollup/distributed.c has the capture):
 *	- its state table <name>_state is distributed by that column and
 *	  co-located with the source, so every group of a bucket lives on the
 *	  node that holds its raw rows;
 *	- its change table <name>_changes (distribution value, bucket,
 *	  claimed), co-located too, receives from a trigger on every shard of
 *	  the source one row per (value, bucket) a statement touched, on the
 *	  shard's node, in the writer's transaction (writes through the
 *	  coordinator or through a worker alike: both execute on the shard);
 *	- a refresh, on the coordinator, runs pushed-down statements only (one
 *	  task per shard, each between co-located shards): it drops the change
 *	  rows at or past the watermark (the advance reads those buckets), claims
 *	  the others (UPDATE ... SET claimed), deletes the claimed groups from
 *	  the state and recomputes them from raw rows (INSERT ... SELECT ...
 *	  GROUP BY ... ON CONFLICT DO UPDATE, a later statement, so a later
 *	  snapshot on every node: a write whose change row was claimed is seen;
 *	  one that was not stays for the next refresh), deletes the claimed rows,
 *	  then materializes the complete buckets past the watermark the same way,
 *	  in batches of about perfkit.rollup_batch_rows rows.  Each step (the
 *	  claim, each batch) is one distributed transaction in the rollups job
 *	  (Citus commits it on every node with two-phase commit), so a failed
 *	  step leaves the change rows for the next one.
 * The catalog row perfkit.rollup_distributed says a rollup is one of these.
 * A partitioned distributed source (each partition a distributed table
 * co-located with it) has the capture on the parent and on every
 * partition; a partition joining or leaving later is handled by
 * _rollup_dist_partition_ddl, called from perfkit's ProcessUtility hook
 * once Citus has distributed it.
 * Not supported (refused with a hint): the distribution column not a
 * dimension, reference tables, Citus local and single-shard tables,
 * append- or range-distributed tables, a late_window, coarser rollups
 * built on a distributed one, and freeze_rollup().  Partition retention
 * freezes as on one node (perfkit._rollup_dist_partition_ddl, at the
 * DETACH it approved); a change logged later for a frozen bucket is
 * counted in perfkit.rollup_inexact by the refresh, not merged.  Citus is
 * found at run time from its catalogs; perfkit links nothing of it.
 */
CREATE TABLE perfkit.rollup_distributed (
	rollup_id integer PRIMARY KEY REFERENCES perfkit.rollup_defs (id) ON DELETE CASCADE,
	dist_column name NOT NULL,				-- of the raw source, a dimension
	changes_table regclass NOT NULL
);

COMMENT ON TABLE perfkit.rollup_distributed IS
'perfkit rollups on Citus distributed tables: distribution column and change table';

ALTER TABLE perfkit.rollup_distributed ENABLE ROW LEVEL SECURITY;

CREATE POLICY rollup_distributed_read ON perfkit.rollup_distributed FOR SELECT USING (true);

SELECT pg_catalog.pg_extension_config_dump('perfkit.rollup_distributed', '');

CREATE FUNCTION perfkit._rollup_dist_capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'perfkit_rollup_dist_capture';

/*
 * How Citus distributes rel: NULL when Citus is not installed or rel is
 * none of its tables; else its method (h hash, a append, r range, n none),
 * replication model (t: a reference table) and distribution column.
 */
CREATE FUNCTION perfkit._rollup_citus_table(rel regclass, OUT method "char", OUT repmodel "char",
											OUT dist_column name)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF rel IS NULL OR to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN;
	END IF;
	EXECUTE 'SELECT p.partmethod, p.repmodel, '
			'CASE WHEN p.partkey IS NOT NULL THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END '
			'FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
		INTO method, repmodel, dist_column USING rel;
END
$$;

/*
 * create_rollup() on raw: NULL when raw is no Citus table; its
 * distribution column when the rollup can be built on it; an error
 * (feature_not_supported, with a hint) for the shapes that cannot.
 */
CREATE FUNCTION perfkit._rollup_dist_check(raw regclass, parent_id integer, dims name[],
										   late_window interval, nsp text, relname text)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	c record;
BEGIN
	c := perfkit._rollup_citus_table(raw);
	IF c.method IS NULL THEN
		RETURN NULL;
	END IF;
	IF parent_id IS NOT NULL THEN
		RAISE EXCEPTION 'a rollup cannot be built on rollup % of the distributed table %',
			(SELECT r.rel FROM perfkit.rollup_defs r WHERE r.id = parent_id), raw
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Create the coarser rollup on the table itself, with the distribution column as a dimension.';
	END IF;
	IF c.method = 'n' AND c.repmodel = 't' THEN
		RAISE EXCEPTION 'cannot create a rollup on the reference table %', raw
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'A reference table has a copy on every node: a write would be captured once per node.',
				  HINT = 'Distribute the table by a column you group by (create_distributed_table) and give that column as a dimension, or undistribute it (undistribute_table).';
	END IF;
	IF c.method <> 'h' THEN
		RAISE EXCEPTION 'cannot create a rollup on %: it is not hash-distributed', raw
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = format('Its Citus distribution method is %s.',
								  CASE c.method WHEN 'a' THEN 'append' WHEN 'r' THEN 'range'
												ELSE 'none (a Citus local or single-shard table)' END),
				  HINT = 'Distribute the table by hash on a column you group by (create_distributed_table) and give that column as a dimension.';
	END IF;
	IF NOT c.dist_column = ANY (dims) THEN
		RAISE EXCEPTION 'the distribution column "%" of % is not a dimension of the rollup', c.dist_column, raw
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'The state of a rollup on a distributed table is distributed by the same column, so that each node rolls up its own rows.',
				  HINT = format('Add %I as a dimension (dimensions => ARRAY[%L, ...]).', c.dist_column, c.dist_column);
	END IF;
	IF late_window IS NOT NULL THEN
		RAISE EXCEPTION 'a rollup on the distributed table % takes no late_window', raw
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Omit late_window: every change to a distributed table is recomputed from raw rows.';
	END IF;
	IF octet_length(relname) > 55 THEN
		RAISE EXCEPTION 'rollup name "%" is too long', relname
			USING ERRCODE = 'name_too_long',
				  DETAIL = 'A rollup on a distributed table also needs the suffix "_changes" within 63 bytes.';
	END IF;
	IF to_regclass(format('%I.%I', nsp, relname || '_changes')) IS NOT NULL THEN
		RAISE EXCEPTION 'relation "%" already exists', format('%I.%I', nsp, relname || '_changes')
			USING ERRCODE = 'duplicate_table',
				  HINT = 'A rollup named X on a distributed table needs the names X, X_state, X_live and X_changes.';
	END IF;
	RETURN c.dist_column;
END
$$;

/*
 * Distribute the new state table q_state by dist, co-located with raw,
 * and make the change table q_changes beside it.  Runs with the caller's
 * rights (the rollup's owner).
 */
CREATE FUNCTION perfkit._rollup_dist_prepare(q_state text, raw regclass, dist name, q_changes text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.create_distributed_table(q_state::regclass, quote_ident(dist),
												colocate_with => raw::text);
	EXECUTE format('CREATE TABLE %s (%I %s NOT NULL, bucket timestamptz NOT NULL, '
				   'claimed boolean NOT NULL DEFAULT false)',
				   q_changes, dist,
				   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
					WHERE a.attrelid = raw AND a.attname = dist));
	EXECUTE format('COMMENT ON TABLE %s IS %L', q_changes,
				   'perfkit rollup: changes captured on the shards of ' || raw::text || ', refreshed from the coordinator');
	PERFORM pg_catalog.create_distributed_table(q_changes::regclass, quote_ident(dist),
												colocate_with => raw::text);
END
$$;

-- Record that rollup p_id, just registered and authorized in this
-- transaction (perfkit._rollup_authorize(), as its owner), reads a
-- distributed table.
CREATE FUNCTION perfkit._rollup_dist_register(p_id integer, dist name, changes regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
BEGIN
	SELECT * INTO d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	IF NOT FOUND OR NOT perfkit._rollup_authorized(p_id)
	   OR NOT perfkit._rollup_owns(d.owner, changes)
	   OR (perfkit._rollup_citus_table(d.raw_source)).dist_column IS DISTINCT FROM dist THEN
		RAISE EXCEPTION 'rollup % cannot be registered as distributed', p_id
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Create rollups with perfkit.create_rollup().';
	END IF;
	INSERT INTO perfkit.rollup_distributed (rollup_id, dist_column, changes_table)
	VALUES (p_id, dist, changes);
END
$$;

/*
 * The capture triggers of distributed rollup p_id on its raw table and on
 * every partition of it that Citus has distributed (Citus creates them on
 * every shard): AFTER INSERT, UPDATE, DELETE for each statement with
 * transition tables, BEFORE TRUNCATE.  A statement trigger fires on the
 * table a statement names only, so a write through the parent is
 * captured by the parent's shard and one straight into a partition by the
 * partition's, never both.  A partition Citus has not distributed yet
 * (the event trigger runs before Citus's own post-processing of CREATE
 * TABLE ... PARTITION OF and ATTACH PARTITION) is left alone: the
 * ProcessUtility hook comes back for it (_rollup_dist_partition_ddl).
 * With only_rel, that table and its partitions only.  Existing triggers
 * are kept.  citus.enable_unsafe_triggers is on for these commands only.
 * Runs with the caller's rights (the table's owner).
 */
CREATE FUNCTION perfkit._rollup_dist_triggers(p_id integer, only_rel regclass DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	x perfkit.rollup_distributed;
	trig text;
	tname text;
	rel regclass;
	unsafe text := current_setting('citus.enable_unsafe_triggers', true);
BEGIN
	SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
	SELECT * INTO STRICT x FROM perfkit.rollup_distributed r WHERE r.rollup_id = p_id;
	PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
	-- (pg_partition_tree() gives nothing for a table that is not partitioned.)
	FOR rel IN SELECT t.relid
			   FROM (SELECT coalesce(only_rel, d.raw_source) AS relid, 0 AS level
					 UNION
					 SELECT p.relid, p.level FROM pg_catalog.pg_partition_tree(coalesce(only_rel, d.raw_source)) p) t
			   WHERE (perfkit._rollup_citus_table(t.relid)).method IS NOT NULL
			   ORDER BY t.level, t.relid LOOP
		FOREACH trig IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
			tname := format('perfkit_rollup_%s_%s', d.id, trig);
			CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
								  WHERE t.tgrelid = rel AND t.tgname = tname);
			EXECUTE format('CREATE TRIGGER %I %s %s ON %s %s FOR EACH STATEMENT '
						   'EXECUTE FUNCTION perfkit._rollup_dist_capture(%L, %L, %L, %L, %L, %L)',
						   tname, CASE trig WHEN 'truncate' THEN 'BEFORE' ELSE 'AFTER' END,
						   upper(trig), rel,
						   CASE trig WHEN 'insert' THEN 'REFERENCING NEW TABLE AS perfkit_new'
									 WHEN 'update' THEN 'REFERENCING OLD TABLE AS perfkit_old NEW TABLE AS perfkit_new'
									 WHEN 'delete' THEN 'REFERENCING OLD TABLE AS perfkit_old'
									 ELSE '' END,
						   d.id, d.time_column, d.granularity, d.timezone, x.dist_column,
						   (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
							JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
							WHERE c.oid = x.changes_table));
		END LOOP;
	END LOOP;
	PERFORM set_config('citus.enable_unsafe_triggers', coalesce(unsafe, 'off'), true);
END
$$;

-- The capture triggers of distributed rollup p_id on rel (of its source
-- tree, or that left it), dropped (Citus drops them on every shard).  As
-- the caller.
CREATE FUNCTION perfkit._rollup_dist_untrigger(p_id integer, rel regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trig text;
	unsafe text := current_setting('citus.enable_unsafe_triggers', true);
BEGIN
	PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
	FOR trig IN
		SELECT t.tgname FROM pg_catalog.pg_trigger t
		WHERE t.tgrelid = rel
		  AND t.tgfoid = 'perfkit._rollup_dist_capture()'::regprocedure
		  AND t.tgname IN (format('perfkit_rollup_%s_insert', p_id), format('perfkit_rollup_%s_update', p_id),
						   format('perfkit_rollup_%s_delete', p_id), format('perfkit_rollup_%s_truncate', p_id))
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', trig, rel);
	END LOOP;
	PERFORM set_config('citus.enable_unsafe_triggers', coalesce(unsafe, 'off'), true);
END
$$;

/*
 * After CREATE TABLE part PARTITION OF parent, ALTER TABLE parent ATTACH
 * or DETACH PARTITION part, once Citus has distributed part (called by
 * perfkit's ProcessUtility hook, src/rollup/distributed.c, after the
 * command): for each distributed rollup whose source is parent or one of
 * its ancestors, an attached part gets the capture triggers, a detached
 * one loses them; either way its (distribution value, bucket) pairs below
 * the watermark go into the change table (one pushed-down INSERT ...
 * SELECT DISTINCT between co-located shards), so the next refresh
 * recomputes those groups with or without its rows.  A rollup never
 * refreshed reads everything at its first refresh: triggers only.  Runs as
 * the role that ran the command (who owns the tables, as PostgreSQL
 * requires), as _rollup_capture_tree does.
 */
CREATE FUNCTION perfkit._rollup_dist_partition_ddl(parent regclass, part regclass, attached boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET row_security = on		-- the catalogs' read policy is USING (true)
AS $$
DECLARE
	d perfkit.rollup_defs;
	x perfkit.rollup_distributed;
	rel regclass;
	p_id integer;
	retire_hi timestamptz;
BEGIN
	FOR p_id IN
		SELECT r.id FROM perfkit.rollup_defs r JOIN perfkit.rollup_distributed y ON y.rollup_id = r.id
		WHERE r.raw_source IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(parent) a)
		ORDER BY r.id
	LOOP
		SELECT * INTO STRICT d FROM perfkit.rollup_defs r WHERE r.id = p_id;
		SELECT * INTO STRICT x FROM perfkit.rollup_distributed y WHERE y.rollup_id = p_id;
		CONTINUE WHEN (perfkit._rollup_citus_table(part)).method IS NULL;
		PERFORM perfkit._rollup_authorize(d.id);	-- as the caller: the tables' owner
		IF attached THEN
			PERFORM perfkit._rollup_dist_triggers(d.id, part);
		ELSE
			FOR rel IN SELECT part UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(part) t LOOP
				PERFORM perfkit._rollup_dist_untrigger(d.id, rel);
			END LOOP;
			-- Partition retention retires it (perfkit.rollup_blockers()
			-- approved it in this transaction): freeze up to the end of the
			-- approved range instead of recomputing those buckets empty.
			retire_hi := perfkit._rollup_retire_approved(d.raw_source);
			IF retire_hi IS NOT NULL AND d.watermark IS NOT NULL THEN
				d.final_before := perfkit._rollup_freeze_to(d.id, retire_hi, true);
			END IF;
		END IF;
		-- Its rows entered or left the source: their open buckets are
		-- recomputed (frozen ones are kept as they are).
		IF d.watermark IS NOT NULL THEN
			EXECUTE format('INSERT INTO %s (%I, bucket) SELECT DISTINCT %I, %s FROM %s '
						   'WHERE pg_catalog.isfinite(%I) AND %I < %s AND %s >= $2',
						   x.changes_table, x.dist_column, x.dist_column, perfkit._rollup_bucket_sql(d),
						   part, d.time_column, d.time_column, perfkit._rollup_time_value(d, '$1'),
						   perfkit._rollup_bucket_sql(d))
				USING d.watermark, coalesce(d.final_before, '-infinity');
		END IF;
	END LOOP;
END
$$;

-- drop_rollup() of a distributed rollup: its shard triggers (Citus drops
-- them on every shard) and its change table.  As the caller.
CREATE FUNCTION perfkit._rollup_dist_drop(d perfkit.rollup_defs)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x perfkit.rollup_distributed;
	rel regclass;
BEGIN
	SELECT * INTO x FROM perfkit.rollup_distributed r WHERE r.rollup_id = d.id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	FOR rel IN
		SELECT DISTINCT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
		WHERE t.tgname IN (format('perfkit_rollup_%s_insert', d.id), format('perfkit_rollup_%s_update', d.id),
						   format('perfkit_rollup_%s_delete', d.id), format('perfkit_rollup_%s_truncate', d.id))
		  AND t.tgfoid = 'perfkit._rollup_dist_capture()'::regprocedure
	LOOP
		PERFORM perfkit._rollup_dist_untrigger(d.id, rel);
	END LOOP;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = x.changes_table AND c.relkind = 'r'
			   AND pg_catalog.pg_has_role(d.owner, c.relowner, 'USAGE')) THEN
		EXECUTE format('DROP TABLE %s', x.changes_table);
	END IF;
END
$$;

/*
 * The INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE of
 * distributed rollup d: over the raw rows in [$1, $2) ("range"), or over
 * the raw rows of the claimed (value, bucket) pairs of its change table
 * ("claimed").  Every statement groups by the distribution column and
 * joins on it, so Citus pushes it down whole to each shard.
 */
CREATE FUNCTION perfkit._rollup_dist_write_sql(d perfkit.rollup_defs, mode text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x perfkit.rollup_distributed;
	dims text;
	states text;
	bucket text;
	from_clause text;
BEGIN
	SELECT * INTO STRICT x FROM perfkit.rollup_distributed r WHERE r.rollup_id = d.id;
	SELECT coalesce(string_agg(format(', %I', u.c), '' ORDER BY u.i), '') INTO dims
	FROM unnest(d.dimensions) WITH ORDINALITY AS u(c, i);
	SELECT ', pg_catalog.count(*)' || coalesce(string_agg(format(', %s', s), '' ORDER BY rm.ord, k), '')
	INTO states
	FROM perfkit.rollup_measures rm, unnest(rm.state_raw_sql) WITH ORDINALITY AS u(s, k)
	WHERE rm.rollup_id = d.id;
	states := coalesce(states, ', pg_catalog.count(*)');
	IF mode = 'range' THEN
		bucket := perfkit._rollup_bucket_sql(d);
		from_clause := format('%s WHERE %I >= %s AND %I < %s', d.raw_source,
							  d.time_column, perfkit._rollup_time_value(d, '$1'),
							  d.time_column, perfkit._rollup_time_value(d, '$2'));
	ELSE
		bucket := 'perfkit_c.perfkit_cb';
		-- Equal on the value and the bucket (a hash join in one pass over
		-- the shard when many groups changed), and the bucket's time range
		-- (an index range scan per group when few did): the planner picks.
		from_clause := format('(SELECT DISTINCT %I AS perfkit_cd, bucket AS perfkit_cb FROM %s WHERE claimed) perfkit_c '
							  'JOIN %s ON %s.%I = perfkit_c.perfkit_cd AND %s = perfkit_c.perfkit_cb '
							  'AND %I >= %s AND %I < %s',
							  x.dist_column, x.changes_table, d.raw_source, d.raw_source, x.dist_column,
							  perfkit._rollup_bucket_sql(d),
							  d.time_column, perfkit._rollup_time_value(d, 'perfkit_c.perfkit_cb'),
							  d.time_column, perfkit._rollup_time_value(d,
								  format('perfkit._bucket_add(perfkit_c.perfkit_cb, %L, %L)',
										 d.granularity, d.timezone)));
	END IF;
	RETURN perfkit._rollup_upsert_sql(d, format('SELECT %s AS bucket%s%s FROM %s GROUP BY %s%s',
												bucket, dims, states, from_clause, bucket, dims));
END
$$;

/*
 * One refresh of distributed rollup p_id, or one step of it when p_steps
 * is 1 (perfkit._rollup_refresh hands it over, holding the refresh lock,
 * as the owner), each statement pushed down to the shards (see the top of
 * this section).  The claimed changes are one step; the advance goes in
 * batches of whole buckets holding about perfkit.rollup_batch_rows rows
 * (from the shards' row estimates), each a step, so the rollups job
 * commits between them and its step budget holds for any backfill.  With
 * a range, the materialized buckets in it are recomputed whole, then the
 * watermark advances up to its end.
 */
CREATE FUNCTION perfkit._rollup_dist_refresh(p_id integer, p_lo timestamptz, p_hi timestamptz,
											 p_steps integer)
RETURNS TABLE (buckets bigint, rows_read bigint, more boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d perfkit.rollup_defs;
	x perfkit.rollup_distributed;
	started timestamptz := clock_timestamp();
	target timestamptz;
	lo timestamptz;
	hi timestamptz;
	n bigint;
	r bigint;
	est float8;
	nb bigint;
	steps integer := 0;
	frozen timestamptz[];
	fb timestamptz;
BEGIN
	buckets := 0;
	rows_read := 0;
	more := false;
	-- As the owner, with her rights on her tables; the catalog is written
	-- by perfkit._rollup_save(), for the rollup this backend refreshes only.
	SELECT * INTO STRICT d FROM perfkit.rollup_defs WHERE id = p_id;
	SELECT * INTO STRICT x FROM perfkit.rollup_distributed WHERE rollup_id = p_id;
	target := perfkit._bucket_start(now(), d.granularity, d.timezone);
	IF d.watermark IS NULL THEN
		EXECUTE format('SELECT pg_catalog.min(%s) FROM %s WHERE pg_catalog.isfinite(%I)',
					   perfkit._rollup_bucket_sql(d), d.raw_source, d.time_column) INTO d.data_start;
		d.data_start := least(coalesce(d.data_start, target), target);
		d.watermark := d.data_start;
		d.final_before := '-infinity';
	END IF;
	-- Batch size in buckets: the shards' row estimates (read before this
	-- transaction modifies any shard), spread over the materialized span;
	-- of a partitioned source, its leaf partitions' shards (an analyzed
	-- parent counts them too), and only when
	-- more than one bucket is to be materialized (one round trip per leaf).
	IF perfkit._bucket_add(d.watermark, d.granularity, d.timezone) < target THEN
		BEGIN
			SELECT sum(greatest(s.result::float8, 0)) INTO est
			FROM (SELECT c.oid::regclass AS relid FROM pg_catalog.pg_class c
				  WHERE c.oid = d.raw_source AND c.relkind <> 'p'
				  UNION
				  SELECT t.relid FROM pg_catalog.pg_partition_tree(d.raw_source) t WHERE t.isleaf) l
			CROSS JOIN LATERAL pg_catalog.run_command_on_shards(l.relid,
				'SELECT reltuples FROM pg_catalog.pg_class WHERE oid = ''%s''::pg_catalog.regclass') s
			WHERE s.success;
		EXCEPTION WHEN OTHERS THEN
			est := NULL;
		END;
	END IF;
	nb := greatest(1, floor(current_setting('perfkit.rollup_batch_rows')::float8
							/ greatest(1, coalesce(est, 0)
										  / greatest(1, extract(epoch FROM target - d.data_start)
														/ perfkit._bucket_seconds(d.granularity)))))::bigint;

	IF p_lo IS NOT NULL OR p_hi IS NOT NULL THEN
		-- Never below final_before: frozen buckets have no raw rows left.
		lo := greatest(perfkit._bucket_start(coalesce(p_lo, d.data_start), d.granularity, d.timezone),
					   d.data_start, coalesce(d.final_before, '-infinity'));
		hi := coalesce(p_hi, target);
		IF perfkit._bucket_start(hi, d.granularity, d.timezone) <> hi THEN
			hi := perfkit._bucket_add(perfkit._bucket_start(hi, d.granularity, d.timezone),
									  d.granularity, d.timezone);
		END IF;
		IF lo < least(hi, d.watermark) THEN
			EXECUTE format('DELETE FROM %s WHERE bucket >= $1 AND bucket < $2', d.state_table)
				USING lo, least(hi, d.watermark);
			EXECUTE perfkit._rollup_dist_write_sql(d, 'range') USING lo, least(hi, d.watermark);
			GET DIAGNOSTICS n = ROW_COUNT;
			buckets := buckets + n;
			EXECUTE format('SELECT coalesce(pg_catalog.sum(_rows), 0)::bigint FROM %s WHERE bucket >= $1 AND bucket < $2',
						   d.state_table) INTO r USING lo, least(hi, d.watermark);
			rows_read := rows_read + r;
		END IF;
		target := CASE WHEN hi <= d.watermark THEN d.watermark ELSE least(target, hi) END;
	ELSE
		-- Changes at or past the watermark: the advance reads those buckets.
		EXECUTE format('DELETE FROM %s WHERE bucket >= $1', x.changes_table) USING d.watermark;
		-- Changes in frozen buckets (retention retired their raw rows) are
		-- not recomputed: counted in perfkit.rollup_inexact, one per
		-- (distribution value, bucket) a statement touched.
		IF d.final_before IS NOT NULL THEN
			frozen := ARRAY[]::timestamptz[];
			FOR fb IN EXECUTE format('DELETE FROM %s WHERE bucket < $1 RETURNING bucket', x.changes_table)
					  USING d.final_before LOOP
				frozen := frozen || fb;
			END LOOP;
			IF cardinality(frozen) > 0 THEN
				PERFORM perfkit._rollup_count_frozen(p_id, frozen);
			END IF;
		END IF;
		-- Claim the others, then recompute the claimed groups with a later
		-- snapshot: a write whose change row was not claimed stays logged.
		EXECUTE format('UPDATE %s SET claimed = true WHERE bucket < $1', x.changes_table)
			USING d.watermark;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n > 0 THEN
			EXECUTE format('DELETE FROM %1$s perfkit_s USING %2$s perfkit_c WHERE perfkit_c.claimed '
						   'AND perfkit_c.%3$I = perfkit_s.%3$I AND perfkit_c.bucket = perfkit_s.bucket',
						   d.state_table, x.changes_table, x.dist_column);
			EXECUTE perfkit._rollup_dist_write_sql(d, 'claimed');
			GET DIAGNOSTICS n = ROW_COUNT;
			buckets := buckets + n;
			EXECUTE format('SELECT coalesce(pg_catalog.sum(perfkit_s._rows), 0)::bigint FROM %1$s perfkit_s '
						   'JOIN (SELECT DISTINCT %3$I, bucket FROM %2$s WHERE claimed) perfkit_c '
						   'ON perfkit_c.%3$I = perfkit_s.%3$I AND perfkit_c.bucket = perfkit_s.bucket',
						   d.state_table, x.changes_table, x.dist_column) INTO r;
			rows_read := rows_read + r;
			EXECUTE format('DELETE FROM %s WHERE claimed', x.changes_table);
			steps := steps + 1;
		END IF;
	END IF;

	-- Advance over the complete buckets past the watermark, in batches.
	WHILE d.watermark < target AND (p_steps IS NULL OR steps < p_steps) LOOP
		hi := least(target, perfkit._bucket_add(d.watermark, d.granularity, d.timezone, nb));
		EXECUTE format('DELETE FROM %s WHERE bucket >= $1 AND bucket < $2', d.state_table)
			USING d.watermark, hi;
		EXECUTE perfkit._rollup_dist_write_sql(d, 'range') USING d.watermark, hi;
		GET DIAGNOSTICS n = ROW_COUNT;
		buckets := buckets + n;
		EXECUTE format('SELECT coalesce(pg_catalog.sum(_rows), 0)::bigint FROM %s WHERE bucket >= $1 AND bucket < $2',
					   d.state_table) INTO r USING d.watermark, hi;
		rows_read := rows_read + r;
		d.watermark := hi;
		steps := steps + 1;
	END LOOP;
	more := d.watermark < target;
	PERFORM perfkit._rollup_save(p_id, d.data_start, d.watermark, d.final_before,
								 clock_timestamp() - started, buckets, rows_read);
	PERFORM perfkit._rollup_publish(p_id);
	RETURN NEXT;
END
$$;

/*
 * The watermark a distributed rollup's live view reads, from the catalog
 * of the node the query runs on (Citus runs that part there, not on the
 * shards): only the coordinator has the rollup's row.  Elsewhere (a worker
 * with metadata, which has the views too) the view refuses rather than
 * answer without the rows past the watermark.
 */
CREATE FUNCTION perfkit._rollup_dist_live_watermark(p_id integer, n bigint, watermark timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF n = 0 THEN
		RAISE EXCEPTION 'rollup % is not defined on this node', p_id
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'The live view of a rollup on a distributed table reads the rollup''s watermark from the coordinator''s catalog.',
				  HINT = 'Query the live view on the coordinator; the rollup''s own view (materialized buckets) can be read on any node.';
	END IF;
	RETURN coalesce(watermark, '-infinity');
END
$$;

/*
 * The live view of distributed rollup d: the state's groups that have no
 * change logged, plus, from raw rows, the groups that have one and the
 * buckets past the watermark.  Every part is a query Citus runs on the
 * shards (the watermark is read on the coordinator first).
 */
CREATE FUNCTION perfkit._rollup_dist_live_view_create(d perfkit.rollup_defs,
													  measures perfkit.rollup_measures[], q_live text,
													  q_changes text, dist name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dimlist text := '';
	finals text := '';
	rawfinals text := '';
	m perfkit.rollup_measures;
	wm text := format('(SELECT perfkit._rollup_dist_live_watermark(%s, pg_catalog.count(*), pg_catalog.max(r.watermark)) '
					  'FROM perfkit.rollup_defs r WHERE r.id = %s)', d.id, d.id);
BEGIN
	FOR i IN 1 .. cardinality(d.dimensions) LOOP
		dimlist := dimlist || format(', %I', d.dimensions[i]);
	END LOOP;
	FOR m IN SELECT * FROM pg_catalog.unnest(measures) x ORDER BY x.ord LOOP
		finals := finals || format(', %s AS %I', m.final_sql, m.alias);
		rawfinals := rawfinals || format(', %s AS %I', m.raw_sql, m.alias);
	END LOOP;
	EXECUTE format($v$CREATE VIEW %1$s AS
SELECT bucket%2$s%3$s FROM %4$s perfkit_s
WHERE NOT EXISTS (SELECT 1 FROM %5$s perfkit_c
				  WHERE perfkit_c.%6$I = perfkit_s.%6$I AND perfkit_c.bucket = perfkit_s.bucket)
UNION ALL
SELECT %7$s AS bucket%2$s%8$s FROM %9$s
WHERE %10$I >= %11$s
GROUP BY 1%2$s
UNION ALL
SELECT perfkit_c.perfkit_cb%2$s%8$s
FROM (SELECT DISTINCT %6$I AS perfkit_cd, bucket AS perfkit_cb FROM %5$s WHERE bucket < %12$s) perfkit_c
JOIN %9$s ON %9$s.%6$I = perfkit_c.perfkit_cd AND %13$s
GROUP BY 1%2$s$v$,
		q_live, dimlist, finals, d.state_table, q_changes, dist,
		perfkit._rollup_bucket_sql(d), rawfinals, d.raw_source, d.time_column,
		perfkit._rollup_time_value(d, wm), wm,
		format('%I >= %s AND %I < %s',
			   d.time_column, perfkit._rollup_time_value(d, 'perfkit_c.perfkit_cb'),
			   d.time_column, perfkit._rollup_time_value(d, format('perfkit._bucket_add(perfkit_c.perfkit_cb, %L, %L)',
																	d.granularity, d.timezone))));
	EXECUTE format('COMMENT ON VIEW %s IS %L', q_live,
				   format('perfkit rollup %s, exact up to now: materialized groups plus the rest from raw rows',
						  (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = d.rel)));
END
$$;

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

/*
 * Nobody but the extension's owner writes the rollup catalogs
 * (perfkit.rollup_defs, rollup_measures, rollup_changes) or draws from
 * rollup_id_seq: PUBLIC keeps SELECT only, so it cannot forge, delete or
 * lock (beyond ACCESS SHARE) their rows.  The writes go through:
 *	- the capture trigger, which logs changes as the table's owner after
 *	  checking that it fires on the rollup's raw table (capture.c);
 *	- perfkit._rollup_register() / _rollup_unregister(), SECURITY DEFINER,
 *	  for create_rollup() and drop_rollup();
 *	- four SECURITY DEFINER functions a refresh calls, which act only on
 *	  the rollup this backend is refreshing (perfkit._rollup_in_refresh(),
 *	  set by _rollup_refresh_as_owner() after checking, as the caller,
 *	  that the caller has the privileges of the rollup's owner).
 * The refresh lock and the advance (which keeps writers logging) are only
 * for the owner's roles.
 */
GRANT SELECT ON perfkit.rollup_defs, perfkit.rollup_measures, perfkit.rollup_changes,
	perfkit.rollup_inexact TO PUBLIC;

GRANT SELECT ON perfkit.rollup_distributed TO PUBLIC;

GRANT SELECT ON perfkit.rollups TO PUBLIC;

REVOKE ALL ON PROCEDURE perfkit.refresh_rollups() FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._rollup_in_refresh(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._rollup_issued_to(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._rollup_require_refresh(integer) FROM PUBLIC;

-- Only the rollups job (perfkit.refresh_rollups()) runs job steps: a step
-- records its errors in the catalog.
REVOKE ALL ON FUNCTION perfkit._rollup_job_step(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION perfkit._rollup_purge_forged() FROM PUBLIC;

-----------------------------------------------------------------------------
-- Health checks of this room (read by perfkit.health(), src/health/)
-----------------------------------------------------------------------------

/*
 * The worst lag of the rollups, in buckets of each rollup's granularity;
 * a rollup whose last refresh failed, or that was never refreshed (no
 * watermark: it has no lag to measure), makes the check at least a
 * warning.
 */
CREATE FUNCTION perfkit._health_rollup()
RETURNS SETOF perfkit.health_measurement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
		SELECT 'rollup_lag', r.worst,
			   CASE WHEN r.n = 0 THEN 'no rollups'
					WHEN r.worst IS NULL THEN format('%s rollups, no lag known', r.n)
					ELSE format('%s: %s buckets behind', r.worst_name, round(r.worst::numeric, 1))
			   END
			   || CASE WHEN r.failing > 0 THEN format('; last refresh failed: %s', r.failing_names) ELSE '' END
			   || CASE WHEN r.never > 0 THEN format('; never refreshed: %s', r.never_names) ELSE '' END,
			   r.worst, CASE WHEN r.failing > 0 OR r.never > 0 THEN 'warning' END, NULL::text
		FROM (SELECT count(*) AS n,
					 max(l.buckets) AS worst,
					 (array_agg(l.name ORDER BY l.buckets DESC NULLS LAST))[1] AS worst_name,
					 count(*) FILTER (WHERE l.failing) AS failing,
					 string_agg(l.name, ', ' ORDER BY l.name) FILTER (WHERE l.failing) AS failing_names,
					 count(*) FILTER (WHERE l.never) AS never,
					 string_agg(l.name, ', ' ORDER BY l.name) FILTER (WHERE l.never) AS never_names
			  FROM (SELECT x.name,
						   extract(epoch FROM x.lag)::float8 / perfkit._bucket_seconds(x.granularity) AS buckets,
						   coalesce(x.last_error_at > coalesce(x.last_refresh_at, '-infinity'), false) AS failing,
						   x.watermark IS NULL AND x.last_refresh_at IS NULL AS never
					FROM perfkit.rollups x) l) r;
	-- changes a rollup could not apply exactly (perfkit.rollup_inexact)
	RETURN QUERY
		SELECT 'rollup_inexact', i.n::float8,
			   CASE WHEN i.n = 0 THEN '0' ELSE format('%s: %s', i.n, i.names) END,
			   i.n::float8, NULL::text, NULL::text
		FROM (SELECT coalesce(sum(x.inexact_changes), 0) AS n,
					 string_agg(format('%s (%s changes in %s buckets, from %s)', x.name, x.inexact_changes,
									   cardinality(x.inexact_buckets), x.inexact_buckets[1]),
								', ' ORDER BY x.name) FILTER (WHERE x.inexact_changes > 0) AS names
			  FROM perfkit.rollups x) i;
END
$$;

INSERT INTO perfkit.health_checks (check_name, ord, room, measured_by, measures, unit, direction,
	warn_setting, warn, critical_setting, critical, parameters, threshold, hint) VALUES
	('rollup_lag', 10, 'rollup', 'perfkit._health_rollup',
	 'worst lag of perfkit.rollups in buckets of the rollup''s granularity; any rollup whose last_error_at is after its last_refresh_at, or never refreshed',
	 'buckets', 'above',
	 'perfkit.health_rollup_lag_warn', NULL, 'perfkit.health_rollup_lag_critical', NULL, '{}',
	 'warning > %1$s, critical > %2$s buckets behind, last refresh failed, or never refreshed',
	 'Rollups fall behind: check that the rollups job is scheduled (perfkit.jobs) and read last_error in perfkit.rollups.'),
	('rollup_inexact', 16, 'rollup', 'perfkit._health_rollup',
	 'changes to frozen buckets that a rollup could not apply exactly (inexact_changes of perfkit.rollups: updates and deletes of retired rows, rows attached or replicated into frozen buckets, changes late_window skipped)',
	 'count', 'at_or_above', NULL, 1, NULL, NULL, '{}',
	 'warning >= %1$s change not applied exactly',
	 'Those buckets differ from GROUP BY over the raw rows: while raw rows remain, recompute them with perfkit.refresh_rollup(name, start, end, include_final => true), then perfkit.acknowledge_rollup(name).');

REVOKE ALL ON FUNCTION perfkit._health_rollup() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_rollup() TO pg_monitor;
