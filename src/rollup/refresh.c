/*-------------------------------------------------------------------------
 *
 * refresh.c
 *	  The per-rollup refresh lock, and refresh_rollups(), the procedure the
 *	  "rollups" job runs.
 *
 * A refresh is a sequence of steps (perfkit._rollup_step in the install
 * script): each claims a bounded batch of changed buckets and/or advances
 * the watermark over a bounded range, and rewrites those buckets whole.
 * A step holds the rollup's refresh lock, a transaction-level heavyweight
 * lock on the object (perfkit.rollup_defs, rollup id), so two refreshes of
 * one rollup never run at the same time.  refresh_rollup() waits for it
 * (lock_timeout applies); the job skips a busy rollup with a NOTICE.
 *
 * refresh_rollups() walks every rollup of the database, finer ones before
 * the coarser ones built on them, and runs steps until each is current.
 * Each step runs in a subtransaction of its own (an exception block in
 * perfkit._rollup_job_step) that records the error in the rollup's row
 * and moves on to the next rollup, so one broken rollup does not stop the
 * others.  Called non-atomically (CALL at top level, or by run_job under
 * pg_cron) it commits after every step, so a long backfill holds no lock
 * for long, shows its progress in perfkit.rollups as it goes, and a
 * cancel loses at most the step in flight, never half a bucket.  Called
 * inside a transaction block it runs the same steps without committing.
 *
 * Lock order: the refresh lock is taken before any row lock of the
 * rollup's tables; no LWLock is involved.
 *
 * src/rollup/refresh.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"

#include "perfkit/rollup.h"

int			perfkit_rollup_batch_rows = 10000000;

PG_FUNCTION_INFO_V1(perfkit_rollup_lock);
PG_FUNCTION_INFO_V1(perfkit_refresh_rollups);

/*
 * perfkit._rollup_lock(id int, wait bool) RETURNS bool
 *
 * Take rollup id's refresh lock until the end of the transaction.  With
 * wait false, return false at once when another refresh holds it.
 */
Datum
perfkit_rollup_lock(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	bool		wait = PG_GETARG_BOOL(1);
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, rollup_defs_oid(), (uint32) id, 0);
	PG_RETURN_BOOL(LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL);
}

/*
 * CALL perfkit.refresh_rollups()
 */
Datum
perfkit_refresh_rollups(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	bool		nonatomic;
	int32	   *ids;
	int			n;
	uint64		rows;

	nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);

	/* Dependency order: a rollup's depth is its finer rollup's plus one. */
	if (SPI_execute("SELECT id FROM perfkit.rollup_defs ORDER BY depth, id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list rollups");
	rows = SPI_processed;
	n = (int) rows;
	/* In the call's context, which outlives the commits below. */
	ids = MemoryContextAlloc(callcxt, sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
	}

	for (int i = 0; i < n; i++)
	{
		for (;;)
		{
			Oid			argtypes[1] = {INT4OID};
			Datum		args[1];
			bool		isnull;
			bool		more;

			CHECK_FOR_INTERRUPTS();
			args[0] = Int32GetDatum(ids[i]);
			if (SPI_execute_with_args("SELECT perfkit._rollup_job_step($1)",
									  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "could not run a refresh step of rollup %d", ids[i]);
			more = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
			if (nonatomic)
				SPI_commit();
			if (isnull || !more)
				break;
		}
	}

	SPI_finish();
	PG_RETURN_VOID();
}
