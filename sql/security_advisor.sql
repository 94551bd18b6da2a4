--
-- security_advisor: attacks on the advisor by a plain role (issue 12).
--
-- recommend_indexes() re-plans statements other roles ran.  The planner
-- calls functions the query tree does not show (a range type's
-- subtype_diff while it estimates selectivity); they must run as the
-- statement's author, never as the superuser who asks for advice.
--
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET perfkit.advisor_sample_rate = 0;
SELECT perfkit.workload_reset() >= 0 AS reset;

CREATE ROLE secadv_mallory LOGIN;
CREATE ROLE secadv_gone LOGIN;
CREATE SCHEMA secadv AUTHORIZATION secadv_mallory;

-- a superuser's table mallory may read for now
CREATE TABLE public.secadv_ledger (id int PRIMARY KEY, acct int NOT NULL, amount int NOT NULL)
	WITH (autovacuum_enabled = false);
INSERT INTO public.secadv_ledger SELECT g, g % 500, g % 97 FROM generate_series(1, 20000) g;
ANALYZE public.secadv_ledger;
GRANT SELECT ON public.secadv_ledger TO secadv_mallory, secadv_gone;

SET ROLE secadv_mallory;
-- whoever runs note() tries to make mallory superuser and records who it was
-- (once secadv.armed has a row, it fails after that many calls)
CREATE TABLE secadv.seen (who name NOT NULL);
CREATE TABLE secadv.armed (lim bigint NOT NULL);
CREATE SEQUENCE secadv.calls;
CREATE FUNCTION secadv.note() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF nextval('secadv.calls') > coalesce((SELECT max(a.lim) FROM secadv.armed a),
										  9223372036854775807) THEN
		RAISE EXCEPTION 'mallory fails the advisor';
	END IF;
	BEGIN
		EXECUTE format('ALTER ROLE %I SUPERUSER', 'secadv_mallory');
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	INSERT INTO secadv.seen VALUES (current_user);
END
$$;
-- a range type whose subtype_diff calls it (subtype_diff must be IMMUTABLE,
-- nothing stops it from calling a volatile function)
CREATE FUNCTION secadv.evil_diff(a float8, b float8) RETURNS float8
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM secadv.note();
	RETURN a - b;
END
$$;
CREATE TYPE secadv.evilrange AS RANGE (subtype = float8, subtype_diff = secadv.evil_diff);
-- an immutable function the planner folds as a constant
CREATE FUNCTION secadv.evil_const(v int) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM secadv.note();
	RETURN v;
END
$$;
CREATE TABLE secadv.spans (id int NOT NULL, span secadv.evilrange NOT NULL)
	WITH (autovacuum_enabled = false);
INSERT INTO secadv.spans SELECT g, secadv.evilrange(g, g + 10) FROM generate_series(1, 5000) g;
ANALYZE secadv.spans;
RESET ROLE;

-- Mallory's statements are captured, as mallory.
SET perfkit.advisor_sample_rate = 1;
SET ROLE secadv_mallory;
SELECT count(*) FROM secadv.spans WHERE span && '[100,200)'::secadv.evilrange;
SELECT count(*) FROM secadv.spans WHERE id = secadv.evil_const(7);
SELECT count(*) FROM public.secadv_ledger WHERE acct = 11;
RESET ROLE;
-- a statement by a role that is dropped afterwards
SET ROLE secadv_gone;
SELECT sum(amount) FROM public.secadv_ledger WHERE acct = 12;
RESET ROLE;
SET perfkit.advisor_sample_rate = 0;

SELECT example_role, calls, replannable, example
FROM perfkit.workload
WHERE database = current_database() AND example LIKE 'SELECT %FROM %secadv%'
ORDER BY example COLLATE "C";

-- mallory may no longer read the ledger; secadv_gone is gone
REVOKE SELECT ON public.secadv_ledger FROM secadv_mallory, secadv_gone;
DROP ROLE secadv_gone;

-- The superuser asks for advice.  The range query is costed; the folded
-- function's statement is refused (a function the caller does not trust),
-- the ledger statements are skipped with a notice, not an error.
TRUNCATE secadv.seen;
SELECT count(*) >= 0 AS advised FROM perfkit.recommend_indexes(0.0);

-- The attacker gained nothing: mallory is no superuser, and her
-- functions, which did run while the advisor planned, ran as mallory.
SELECT rolsuper FROM pg_roles WHERE rolname = 'secadv_mallory';
SELECT who = 'secadv_mallory' AS as_mallory, count(*) > 0 AS ran
FROM secadv.seen GROUP BY 1 ORDER BY 1;
-- and the advisor left no setting and no identity behind
SELECT current_user = session_user AS same_user;

--
-- Her function may also fail on purpose once the first plan succeeded:
-- the statement is dropped, the call does not fail.  Armed to fail after
-- as many calls as one plan of her statement makes.
--
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
SET ROLE secadv_mallory;
SELECT count(*) FROM secadv.spans WHERE span && '[100,200)'::secadv.evilrange;
RESET ROLE;
SET perfkit.advisor_sample_rate = 0;
SET ROLE secadv_mallory;
SELECT setval('secadv.calls', 1, false) AS restarted;
EXPLAIN (COSTS OFF) SELECT count(*) FROM secadv.spans WHERE span && '[100,200)'::secadv.evilrange;
INSERT INTO secadv.armed SELECT currval('secadv.calls');
SELECT setval('secadv.calls', 1, false) AS restarted;
RESET ROLE;
SELECT count(*) >= 0 AS advised FROM perfkit.recommend_indexes(0.0);
SELECT nextval('secadv.calls') > (SELECT a.lim FROM secadv.armed a) + 1 AS failed_later;
DELETE FROM secadv.armed;
SELECT rolsuper FROM pg_roles WHERE rolname = 'secadv_mallory';

--
-- A member of pg_read_all_stats may ask too, but becoming an author must
-- give it nothing (its search_path and functions take part in the
-- analysis): only statements of roles whose rights it has are planned.
--
CREATE ROLE secadv_watcher LOGIN IN ROLE pg_read_all_stats;
SELECT perfkit.workload_reset() >= 0 AS reset;
SET perfkit.advisor_sample_rate = 1;
SELECT count(*) FROM secadv.spans WHERE id < 3;
SET ROLE secadv_mallory;
SELECT count(*) FROM secadv.spans WHERE id = 3;
RESET ROLE;
SET perfkit.advisor_sample_rate = 0;
SET ROLE secadv_watcher;
SELECT count(*) >= 0 AS advised FROM perfkit.recommend_indexes(0.0);
RESET ROLE;
GRANT secadv_mallory TO secadv_watcher;
SET ROLE secadv_watcher;
SELECT count(*) >= 0 AS advised FROM perfkit.recommend_indexes(0.0);
RESET ROLE;
DROP ROLE secadv_watcher;

--
-- health() and metrics() run as their caller with search_path pinned:
-- functions mallory puts first on the caller's search_path are not called.
--
SET ROLE secadv_mallory;
CREATE FUNCTION secadv.current_setting(text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM secadv.note();
	RETURN pg_catalog.current_setting($1);
END
$$;
CREATE FUNCTION secadv.current_database() RETURNS name
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM secadv.note();
	RETURN pg_catalog.current_database();
END
$$;
RESET ROLE;
TRUNCATE secadv.seen;
SET search_path = secadv, pg_catalog, public;
SELECT count(*) > 0 AS checked FROM perfkit.health();
SELECT perfkit.metrics() LIKE '%perfkit_health_overall%' AS metrics;
SELECT count(*) > 0 AS summarized FROM jsonb_each(perfkit.health_summary());
RESET search_path;
SELECT count(*) AS hijacked FROM secadv.seen;
-- no function of the room runs as its definer except _statement_stats,
-- and every one whose body is parsed at call time pins its search_path
SELECT p.proname, p.prosecdef
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'perfkit'::regnamespace
  AND p.proname IN ('health', '_health', 'health_summary', 'metrics', '_statement_stats',
					'_statement_text', 'slow_queries', 'n_plus_one_suspects',
					'unused_indexes', 'duplicate_indexes', 'invalid_indexes',
					'unindexed_foreign_keys', '_health_judge', '_prom_label', '_prom_value',
					'_health_threshold', '_health_measurements', '_health_database', '_health_cache',
					'_health_jobs', '_health_rollup', '_health_partition', '_health_advisor',
					'_as_timestamptz')
  AND (p.prosecdef
	   OR (l.lanname <> 'c' AND p.prosqlbody IS NULL
		   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)))
ORDER BY 1;

--
-- A superuser's statement is planned as the superuser only when every
-- object it reaches belongs to a superuser.  The superuser read mallory's
-- view once; she then replaced the view to reach her range type, whose
-- subtype_diff would run as the superuser when the statement is planned.
-- The statement is skipped (counted in the notice) and nothing of hers
-- runs as anyone but her.
--
SELECT perfkit.workload_reset() >= 0 AS reset;
SET ROLE secadv_mallory;
CREATE VIEW secadv.v AS SELECT id FROM secadv.spans;
RESET ROLE;
SET perfkit.advisor_sample_rate = 1;
SELECT count(*) FROM secadv.v WHERE id > 5;
SET perfkit.advisor_sample_rate = 0;
SET ROLE secadv_mallory;
CREATE OR REPLACE VIEW secadv.v AS
	SELECT id FROM secadv.spans WHERE span && '[100,200)'::secadv.evilrange;
RESET ROLE;
TRUNCATE secadv.seen;
SELECT count(*) >= 0 AS advised FROM perfkit.recommend_indexes(0.0);
SELECT rolsuper FROM pg_roles WHERE rolname = 'secadv_mallory';
SELECT count(*) AS ran_as_others FROM secadv.seen WHERE who <> 'secadv_mallory';

--
-- apply_index() runs only the advisor's statements, as the caller: a
-- statement proposed for a table mallory does not own fails for her.
--
GRANT SELECT ON public.secadv_ledger TO secadv_mallory;
SET ROLE secadv_mallory;
SELECT index_statement FROM perfkit.index_advisor('SELECT * FROM public.secadv_ledger WHERE acct = 3');
SELECT perfkit.apply_index(index_statement)
FROM perfkit.index_advisor('SELECT * FROM public.secadv_ledger WHERE acct = 3');
SELECT perfkit.apply_index('CREATE INDEX CONCURRENTLY x ON secadv.spans (id)');
RESET ROLE;
SELECT count(*) AS ledger_indexes FROM pg_index WHERE indrelid = 'public.secadv_ledger'::regclass;

-- clean up
SELECT perfkit.workload_reset() >= 0 AS reset;
DROP TABLE public.secadv_ledger;
DROP SCHEMA secadv CASCADE;
DROP ROLE secadv_mallory;
