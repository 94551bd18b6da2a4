/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running a piece of work in a subtransaction of its own, with a lock
 *	  timeout when asked, and telling "a lock was not granted in time"
 *	  apart from other errors.
 *
 * Several places run work that may wait for a lock someone else holds
 * (the conversion's swap, recording the outcome of a table's
 * maintenance) or that runs another role's code, which may fail on
 * purpose (a step of a shared job, a captured statement planned as its
 * author), and must not lose the caller's transaction to it.  They all
 * go through pk_try_subxact(lock_timeout_ms, fn, arg, rethrow, error):
 *
 *	 1. BeginInternalSubTransaction, then back to the caller's memory
 *		context: what fn allocates there survives the subtransaction.
 *	 2. With lock_timeout_ms >= 0, a GUC nest level of its own with
 *		lock_timeout set to it (GUC_ACTION_SAVE): every lock wait of fn
 *		ends with SQLSTATE 55P03 (lock_not_available) after that long.
 *		With PK_LOCK_TIMEOUT_KEEP, lock_timeout is left as it is (the
 *		work sets its own where it needs one).
 *	 3. fn(arg).
 *	 4. fn returned: the nest level is closed as a commit would close it
 *		(AtEOXact_GUC(true): lock_timeout comes back, what fn SET stays),
 *		ReleaseCurrentSubTransaction: PK_TRY_OK.
 *	 5. fn failed: the caller's memory context is current again and the
 *		error is copied into it, FlushErrorState, and the subtransaction
 *		rolled back (RollbackAndReleaseCurrentSubTransaction, which also
 *		restores the settings, the user id and the security context fn
 *		changed).  Then either the error propagates as it was
 *		(ReThrowError: the subtransaction is gone first, as PL/pgSQL does
 *		it, so the caller's transaction aborts cleanly), or it is caught:
 *		PK_TRY_LOCK_NOT_AVAILABLE for 55P03,
 *		PK_TRY_ERROR for any other error, with the copy handed back in
 *		*error when error is not NULL (freed otherwise).
 *	 Whatever the outcome, the caller's memory context and resource owner
 *	 are current again when it returns.
 *
 * Which errors propagate:
 *	 - rethrow NULL: every error but 55P03.  For callers that only need to
 *	   know that a lock was not granted (try_swap in convert.c,
 *	   record_nowait in maintenance.c): the result is then PK_TRY_OK or
 *	   PK_TRY_LOCK_NOT_AVAILABLE.
 *	 - rethrow given: those for which rethrow(edata, arg) returns true;
 *	   every other error is caught.  A shared job's step lets a real
 *	   cancel through and catches what the owner's code raised (src/util/
 *	   step.c; maintenance.c, rollup/refresh.c); the advisor lets a cancel
 *	   request through (advisor_error_propagates in advisor/hypo.c).
 *	   rethrow runs in the error handler, before the rollback: it may read
 *	   state the rollback would reset, and must not raise an error.
 *
 * fn communicates through arg: its results, and whatever the caller
 * reads after an error, live in the struct arg points to (not in locals
 * of the caller's that a longjmp could leave stale).  A step's time
 * budget (pk_step_start) is started and stopped by fn itself.
 *
 * Not for work that must commit as it goes: a conversion's batches
 * (convert_worker.c bounds their lock waits with the worker's session
 * lock_timeout instead).
 *
 * src/util/subxact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "perfkit/util.h"

PkTryResult
pk_try_subxact(int lock_timeout_ms, PkTryFn fn, void *arg,
			   PkTryRethrow rethrow, ErrorData **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile PkTryResult result = PK_TRY_OK;

	if (error != NULL)
		*error = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		int			nestlevel = -1;

		if (lock_timeout_ms >= 0)
		{
			nestlevel = NewGUCNestLevel();
			(void) set_config_option("lock_timeout", psprintf("%d", lock_timeout_ms),
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
									 true, 0, false);
		}
		fn(arg);
		if (nestlevel >= 0)
			AtEOXact_GUC(true, nestlevel);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		propagate;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (rethrow != NULL)
			propagate = rethrow(edata, arg);
		else
			propagate = (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (propagate)
			ReThrowError(edata);
		result = (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE) ?
			PK_TRY_LOCK_NOT_AVAILABLE : PK_TRY_ERROR;
		if (error != NULL)
			*error = edata;
		else
			FreeErrorData(edata);
	}
	PG_END_TRY();
	return result;
}
