/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of partition maintenance, registered by partition_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * Contexts.  perfkit.partition_lock_timeout bounds the lock waits of the
 * maintenance a session runs, and of a conversion's swap (PGC_USERSET).
 * What bounds the shared "partitions" job (the step budget, the tables per
 * run, the partitions per unit) and how long a conversion may hold a
 * worker waiting for a lock is PGC_SUSET: no role may lift it for its own
 * tables.  perfkit.max_conversion_workers counts slots that are
 * cluster-wide (advisory locks outside any database, see
 * convert_worker.c), so every session must see one value (PGC_SIGHUP).
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
int			perfkit_partition_step_timeout = 60000;
int			perfkit_partition_max_steps = 1000;
int			perfkit_max_partitions_per_run = 1000;
int			perfkit_max_conversion_workers = 2;
int			perfkit_conversion_lock_timeout = 10000;
double		perfkit_retention_drop_max_share = 0.5;

void
partition_define_gucs(void)
{
	DefineCustomRealVariable("perfkit.retention_drop_max_share",
							 "Largest share of a table's rows that one run of retention may drop.",
							 "A run whose drops would retire more (estimated rows) drops "
							 "nothing and says so, until set_retention(..., force => true) "
							 "allows one run to go past it.  1 turns the check off.",
							 &perfkit_retention_drop_max_share,
							 0.5,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
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

	DefineCustomIntVariable("perfkit.partition_step_timeout",
							"Time budget of one table's maintenance in a run.",
							"A table whose maintenance takes longer is rolled back, "
							"recorded as failed, and the run goes on with the next table. "
							"0 means no budget.",
							&perfkit_partition_step_timeout,
							60000,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("perfkit.partition_max_steps",
							"How many tables one run of the partitions job maintains.",
							"The tables run longest ago come first; the others wait "
							"for the next run.",
							&perfkit_partition_max_steps,
							1000,
							1,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("perfkit.max_partitions_per_run",
							"How many partitions one maintenance of a table or one "
							"conversion may create at once.",
							"More is refused, with the number that would be needed.",
							&perfkit_max_partitions_per_run,
							1000,
							1,
							100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("perfkit.max_conversion_workers",
							"How many conversions may run at once.",
							"Each convert_to_partitioned() call takes a background worker; "
							"a call beyond this number is refused.",
							&perfkit_max_conversion_workers,
							2,
							0,
							64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("perfkit.conversion_lock_timeout",
							"How long a conversion waits for a lock.",
							"A conversion whose lock is not granted in time stops with "
							"SQLSTATE 55P03; its committed batches are kept.",
							&perfkit_conversion_lock_timeout,
							10000,
							1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}
