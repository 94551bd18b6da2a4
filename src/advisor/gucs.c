/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of the index advisor, registered by advisor_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * Contexts.  The workload store's capacity (statements, example length)
 * sizes shared memory, so it is fixed at server start (PGC_POSTMASTER).
 * The sample rate is PGC_SUSET: every session's executor hooks sample
 * into the one store all roles share (src/advisor/workload.c).
 *
 * src/advisor/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <float.h>

#include "utils/guc.h"

#include "perfkit/advisor.h"
#include "perfkit/perfkit.h"

double		perfkit_advisor_sample_rate = 0.05;
int			perfkit_advisor_max_queries = 1000;
int			perfkit_advisor_max_query_length = 4096;

void
advisor_define_gucs(void)
{
	DefineCustomRealVariable("perfkit.advisor_sample_rate",
							 "Share of executed statements the index advisor samples.",
							 "0 turns workload capture off; 1 samples every statement.",
							 &perfkit_advisor_sample_rate,
							 0.05,
							 0.0,
							 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.advisor_max_queries",
							"Distinct statements the workload store keeps.",
							"When full, a new statement evicts the one with the fewest calls.",
							&perfkit_advisor_max_queries,
							1000,
							10,
							1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.advisor_max_query_length",
							"Longest example text the workload store keeps per statement.",
							"Longer statements are counted but cannot be re-planned.",
							&perfkit_advisor_max_query_length,
							4096,
							256,
							1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}
