/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of partition maintenance, registered by partition_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * src/partition/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <float.h>

#include "utils/guc.h"

#include "perfkit/partition.h"
#include "perfkit/perfkit.h"

int			perfkit_partition_lock_timeout = 1000;

void
partition_define_gucs(void)
{
	DefineCustomIntVariable("perfkit.partition_lock_timeout",
							"How long partition maintenance waits for a lock.",
							"A table whose locks are not granted in time is skipped "
							"and retried at the next run.",
							&perfkit_partition_lock_timeout,
							1000,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}
