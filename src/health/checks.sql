/*
 * Health checks: the registry and the judge.
 *
 * A check of perfkit.health() is a row of perfkit.health_checks, declared
 * by the room that owns it at the end of the room's own SQL file (jobs,
 * cache, rollup, partition, advisor; the database-wide checks in
 * src/health/health.sql).  The row says what the check measures, which
 * function measures it, the settings (or fixed values) of its warning and
 * critical thresholds, which direction is worse, how its threshold text
 * reads, and the hint shown when it is not ok.
 *
 * Each room has one measuring function, perfkit._health_<room>(), that
 * returns a perfkit.health_measurement for each check of the room: the
 * value to judge, the text health() shows, the number metrics() exports,
 * and what the measure found by itself (a status the check has at least,
 * or why it could not measure).
 *
 * perfkit._health_judge() is the one rule that turns a value and two
 * thresholds into a status; perfkit._health() (src/health/health.sql)
 * calls every measuring function, reads the thresholds and judges.
 *
 * This file comes early in the install script (see SQL_ROOMS in the
 * Makefile), before every room that declares checks.
 */

/*
 * The registry.  Its rows are the extension's, not the user's: pg_dump
 * does not dump them, CREATE EXTENSION brings them back, and only the
 * extension's scripts write them (PUBLIC may read).
 */
CREATE TABLE perfkit.health_checks (
	check_name text PRIMARY KEY CHECK (check_name ~ '^[a-z][a-z0-9_]*$'),
	ord integer NOT NULL UNIQUE,
	room text NOT NULL,
	measured_by text NOT NULL CHECK (measured_by ~ '^perfkit\._health_[a-z]+$'),
	measures text NOT NULL,
	unit text NOT NULL CHECK (unit IN ('ratio', 'seconds', 'count', 'buckets')),
	direction text NOT NULL CHECK (direction IN ('above', 'at_or_above', 'below')),
	warn_setting text CHECK (warn_setting LIKE 'perfkit.health\_%'),
	warn float8,
	critical_setting text CHECK (critical_setting LIKE 'perfkit.health\_%'),
	critical float8,
	parameters text[] NOT NULL DEFAULT '{}',
	threshold text NOT NULL,
	hint text NOT NULL,
	CHECK (warn_setting IS NULL OR warn IS NULL),
	CHECK (critical_setting IS NULL OR critical IS NULL)
);

COMMENT ON TABLE perfkit.health_checks IS
'the checks of perfkit.health(), each declared by the room that owns it';
COMMENT ON COLUMN perfkit.health_checks.ord IS
'position of the check in health(), health_summary() and metrics()';
COMMENT ON COLUMN perfkit.health_checks.room IS
'the part of perfkit that owns the check (health for database-wide checks)';
COMMENT ON COLUMN perfkit.health_checks.measured_by IS
'the function that measures the check (and the other checks of its room)';
COMMENT ON COLUMN perfkit.health_checks.unit IS
'what the value is: ratio, seconds, count or buckets; thresholds in seconds are interval settings';
COMMENT ON COLUMN perfkit.health_checks.direction IS
'the value is worse above, at or above, or below a threshold';
COMMENT ON COLUMN perfkit.health_checks.warn_setting IS
'the setting that holds the warning threshold (else warn, else no warning threshold)';
COMMENT ON COLUMN perfkit.health_checks.warn IS
'a fixed warning threshold, for a check without a setting';
COMMENT ON COLUMN perfkit.health_checks.critical_setting IS
'the setting that holds the critical threshold (else critical, else no critical threshold)';
COMMENT ON COLUMN perfkit.health_checks.critical IS
'a fixed critical threshold, for a check without a setting';
COMMENT ON COLUMN perfkit.health_checks.parameters IS
'other (numeric) settings the measure reads, shown in the threshold text';
COMMENT ON COLUMN perfkit.health_checks.threshold IS
'the threshold text, a format() string: %1$s the warning threshold, %2$s the critical one, %3$s... the parameters';
COMMENT ON COLUMN perfkit.health_checks.hint IS
'what to do, shown when the check is not ok';

/*
 * What a room's measuring function returns, one row per check it measures.
 */
CREATE TYPE perfkit.health_measurement AS (
	check_name text,
	value float8,
	shown text,
	metric float8,
	at_least text,
	error text
);

COMMENT ON TYPE perfkit.health_measurement IS
'one check measured by a room''s perfkit._health_<room>() function';
COMMENT ON COLUMN perfkit.health_measurement.check_name IS
'the check of perfkit.health_checks measured';
COMMENT ON COLUMN perfkit.health_measurement.value IS
'the number judged against the thresholds (NULL: nothing to judge, ok)';
COMMENT ON COLUMN perfkit.health_measurement.shown IS
'the value as health() shows it';
COMMENT ON COLUMN perfkit.health_measurement.metric IS
'the number metrics() exports as perfkit_health_value (NULL: no sample)';
COMMENT ON COLUMN perfkit.health_measurement.at_least IS
'a status the measure found by itself (warning or critical), whatever the thresholds say';
COMMENT ON COLUMN perfkit.health_measurement.error IS
'why the measure could not measure: the check is then a warning showing this text, without hint or metric';

/*
 * The judge: a status from a value, two thresholds and the direction in
 * which the value is worse, raised to at_least when the measure found a
 * status of its own.  The critical threshold is tried first.  A NULL value
 * (nothing to judge) and a NULL threshold (none) cross nothing.
 */
CREATE FUNCTION perfkit._health_judge(v float8, warn float8, crit float8, direction text,
	at_least text DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
	WHEN at_least = 'critical'
		 OR CASE direction WHEN 'above' THEN v > crit WHEN 'below' THEN v < crit ELSE v >= crit END
		THEN 'critical'
	WHEN at_least = 'warning'
		 OR CASE direction WHEN 'above' THEN v > warn WHEN 'below' THEN v < warn ELSE v >= warn END
		THEN 'warning'
	ELSE 'ok' END;

/*
 * A threshold: the setting's value (an interval setting in seconds), else
 * the fixed value; and how the threshold text shows it.  One row, returned
 * as a set so that the planner inlines it into perfkit._health().
 */
CREATE FUNCTION perfkit._health_threshold(setting text, fixed float8, unit text)
RETURNS TABLE(v float8, shown text)
LANGUAGE sql STABLE
BEGIN ATOMIC
	SELECT CASE WHEN setting IS NULL THEN fixed
				WHEN unit = 'seconds' THEN extract(epoch FROM current_setting(setting)::interval)::float8
				ELSE current_setting(setting)::float8 END,
		   CASE WHEN setting IS NULL THEN fixed::text
				WHEN unit = 'seconds' THEN current_setting(setting)::interval::text
				ELSE current_setting(setting)::float8::text END;
END;

-----------------------------------------------------------------------------
-- Privileges
-----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION perfkit._health_threshold(text, float8, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION perfkit._health_threshold(text, float8, text) TO pg_monitor;

GRANT SELECT ON perfkit.health_checks TO PUBLIC;
