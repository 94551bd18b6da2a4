/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of rollups, registered by rollup_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * Contexts.  perfkit.rollup_batch_rows only sizes the batches of the
 * refreshes a session runs (PGC_USERSET).  The step budget and the batch
 * limit are PGC_SUSET: they bound how long one rollup may hold the
 * rollups job every role's rollups share (src/rollup/refresh.c), so no
 * role may lift them for its own.
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
int			perfkit_rollup_step_timeout = 300000;
int			perfkit_rollup_max_batches = 100;

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

	DefineCustomIntVariable("perfkit.rollup_step_timeout",
							"Time budget of one rollup's refresh step in the rollups job.",
							"A step that runs longer is cancelled and rolled back, "
							"recorded as the rollup's last error, and the job goes on "
							"with the next rollup.  0 disables the budget.",
							&perfkit_rollup_step_timeout,
							300000,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.rollup_max_batches",
							"Most refresh batches of one rollup in one run of the rollups job.",
							"The rest waits for the next run, so that no rollup keeps "
							"the job from the others.",
							&perfkit_rollup_max_batches,
							100,
							1,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}
