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

-- (end of partitions)

-----------------------------------------------------------------------------
-- advisor and health
-----------------------------------------------------------------------------

-- (end of advisor and health)

-----------------------------------------------------------------------------
-- cache
-----------------------------------------------------------------------------

-- cache_invalidate(): patterns are bounded (CACHE_MAX_PATTERN, 1024 bytes)
COMMENT ON FUNCTION perfkit.cache_invalidate(text) IS
'remove the caller''s keys that match a LIKE pattern of at most 1024 bytes; returns how many went';

-- (end of cache)
