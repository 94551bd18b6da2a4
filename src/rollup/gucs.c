/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of rollups, registered by rollup_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * src/rollup/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <float.h>

#include "utils/guc.h"

#include "perfkit/rollup.h"
#include "perfkit/perfkit.h"

int			perfkit_rollup_batch_rows = 10000000;

void
rollup_define_gucs(void)
{
	DefineCustomIntVariable("perfkit.rollup_batch_rows",
							"About how many source rows one rollup refresh batch reads.",
							"A refresh cuts its work into batches of whole buckets sized "
							"from the source's row estimate; the rollups job commits "
							"after each batch.",
							&perfkit_rollup_batch_rows,
							10000000,
							1000,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}
