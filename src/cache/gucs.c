/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of the result cache, registered by cache_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * Contexts.  perfkit.cache_size sizes the shared store, so it is fixed at
 * server start (PGC_POSTMASTER).  What only changes how a session uses
 * the cache (the default time to live, whether it is used at all) is
 * PGC_USERSET.  What changes the store every role shares, or the
 * counters in it, is PGC_SUSET: the largest value one entry may take
 * (never more than a quarter of a partition, see store.c) and whether
 * reads are counted.
 *
 * src/cache/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <float.h>

#include "utils/guc.h"

#include "perfkit/cache.h"
#include "perfkit/perfkit.h"

int			perfkit_cache_size = 64 * 1024;
int			perfkit_cache_default_ttl = 300;
int			perfkit_cache_max_value_size = 1024 * 1024;
bool		perfkit_cache_enabled = true;
bool		perfkit_cache_track_stats = true;

void
cache_define_gucs(void)
{
	DefineCustomIntVariable("perfkit.cache_size",
							"Shared memory for the result cache.",
							NULL,
							&perfkit_cache_size,
							64 * 1024,
							1024,
							INT_MAX / 2,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.cache_default_ttl",
							"Time to live of cache entries stored without one.",
							NULL,
							&perfkit_cache_default_ttl,
							300,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.cache_max_value_size",
							"Largest value the result cache stores.",
							"Never more than a quarter of one of the cache's 16 partitions.",
							&perfkit_cache_max_value_size,
							1024 * 1024,
							1024,
							INT_MAX / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("perfkit.cache_enabled",
							 "Whether the result cache serves and stores entries.",
							 "When off, cache_get misses, cache_set stores nothing and "
							 "cached() runs its query every time.",
							 &perfkit_cache_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("perfkit.cache_track_stats",
							 "Whether cache reads count hits and misses.",
							 "Off saves two atomic increments per read; evictions, "
							 "expirations and invalidations are always counted.",
							 &perfkit_cache_track_stats,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}
