/*-------------------------------------------------------------------------
 *
 * rollup.h
 *	  Rollups: pre-aggregated hourly, daily, monthly... tables kept current
 *	  incrementally.  Definitions, change log, refresh steps and the live
 *	  views are SQL (the 0.3 script); src/rollup/ holds what needs C:
 *	  measure analysis, change capture and the refresh lock and procedure.
 *
 * include/perfkit/rollup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_ROLLUP_H
#define PERFKIT_ROLLUP_H

#include "fmgr.h"

/* GUC (src/perfkit.c) */
extern int	perfkit_rollup_batch_rows;

extern Datum perfkit_rollup_measures(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_capture(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_lock(PG_FUNCTION_ARGS);
extern Datum perfkit_refresh_rollups(PG_FUNCTION_ARGS);

#endif							/* PERFKIT_ROLLUP_H */
