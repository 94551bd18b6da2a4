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
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "perfkit/rollup.h"


PG_FUNCTION_INFO_V1(perfkit_rollup_lock);
PG_FUNCTION_INFO_V1(perfkit_rollup_refresh_as_owner);
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
 * perfkit._rollup_refresh_as_owner(id int, lo timestamptz, hi timestamptz,
 *									steps int, include_final bool)
 *	 RETURNS TABLE(buckets bigint, rows_read bigint, more boolean)
 *
 * Run perfkit._rollup_refresh() as the rollup's owner, inside a
 * security-restricted operation, the way REFRESH MATERIALIZED VIEW runs
 * its query as the view's owner.  A refresh writes the owner's state table
 * and runs SQL the owner could change (measures, triggers on the state
 * table); run as whoever called it (a superuser, the rollups job), that
 * would hand the caller's rights to the owner.
 */
Datum
perfkit_rollup_refresh_as_owner(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[5] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, BOOLOID};
	Datum		args[5];
	char		nulls[5];
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		isnull;
	Datum		values[3];
	bool		valnulls[3];

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < 5; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}

	SPI_connect();
	if (SPI_execute_with_args("SELECT owner::oid FROM perfkit.rollup_defs WHERE id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up rollup %d", id);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rollup %d does not exist", id)));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT buckets, rows_read, more "
								  "FROM perfkit._rollup_refresh($1, $2, $3, $4, $5)",
								  5, argtypes, args, nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not refresh rollup %d", id);
		for (int i = 0; i < 3; i++)
			values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  i + 1, &valnulls[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, valnulls);
	}
	PG_FINALLY();
	{
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	SPI_finish();
	return (Datum) 0;
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
