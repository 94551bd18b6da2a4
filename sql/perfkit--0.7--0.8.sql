/* perfkit--0.7--0.8.sql: security (issue 12) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION perfkit UPDATE TO '0.8'" to load this file. \quit

/*
 * Each room's changes stand in a section of their own, in this order:
 * foundation, rollups, partitions, advisor and health, cache.
 */

-----------------------------------------------------------------------------
-- foundation (jobs, schedule)
-----------------------------------------------------------------------------

-- (end of foundation)

-----------------------------------------------------------------------------
-- rollups
-----------------------------------------------------------------------------

-- (end of rollups)

-----------------------------------------------------------------------------
-- partitions
-----------------------------------------------------------------------------

/*
 * The capture trigger of a conversion writes perfkit.convert_log as the
 * extension's owner (0.8): no role may write the log directly, so none can
 * add entries that make another role's conversion delete or recopy rows.
 */
REVOKE INSERT ON perfkit.convert_log FROM PUBLIC;

-- (end of partitions)

-----------------------------------------------------------------------------
-- advisor and health
-----------------------------------------------------------------------------

-- (end of advisor and health)

-----------------------------------------------------------------------------
-- cache
-----------------------------------------------------------------------------

-- (end of cache)
