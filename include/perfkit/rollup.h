/*-------------------------------------------------------------------------
 *
 * rollup.h
 *	  Rollups: pre-aggregated hourly, daily, monthly... tables kept current
 *	  incrementally.  Definitions, change log, refresh steps and the live
 *	  views are SQL (src/rollup/rollup.sql); src/rollup/ holds what needs
 *	  C: measure analysis, change capture, watermarks, the refresh
 *	  lock and procedure, and the bucket arithmetic of a batch.
 *
 * include/perfkit/rollup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_ROLLUP_H
#define PERFKIT_ROLLUP_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "access/xact.h"
#include "storage/lock.h"

/* GUCs (src/rollup/gucs.c) */
extern int	perfkit_rollup_batch_rows;
extern int	perfkit_rollup_step_timeout;
extern int	perfkit_rollup_max_batches;

extern Size rollup_shmem_size(void);
extern void rollup_shmem_init(void);
extern Oid	rollup_defs_oid(void);
extern bool rollup_published_watermark(int32 id, TimestampTz *watermark);
extern bool rollup_writer_skip(int32 id, TimestampTz *watermark);
extern void rollup_xact(XactEvent event);
extern Oid	rollup_check_owner(int32 id);

/* rollup/buckets.c: the start of a fixed-width bucket (finite ts) */
extern TimestampTz rollup_bucket_floor(TimestampTz ts, int64 width, int64 shift);

extern Datum perfkit_rollup_measures(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_capture(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_capture_forget(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_lock(PG_FUNCTION_ARGS);
extern Datum perfkit_rollup_refresh_as_owner(PG_FUNCTION_ARGS);
extern Datum perfkit_refresh_rollups(PG_FUNCTION_ARGS);

/* rollup/gucs.c: registers the room's settings (called by _PG_init) */
extern void rollup_define_gucs(void);

/* distributed.c */
struct PlannedStmt;
extern void rollup_dist_after_utility(struct PlannedStmt *pstmt);

#endif							/* PERFKIT_ROLLUP_H */
