/*-------------------------------------------------------------------------
 *
 * refresh.c
 *	  The per-rollup refresh lock, and refresh_rollups(), the procedure the
 *	  "rollups" job runs.
 *
 * A refresh is a sequence of steps (the loops of perfkit._rollup_refresh
 * in src/rollup/rollup.sql; refresh_rollup() runs them all, the job one
 * per call): each claims a bounded batch of changed buckets and/or
 * advances the watermark over a bounded range, and rewrites those buckets
 * whole.
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
 * The job is shared by every role's rollups, and a step runs the owner's
 * code (triggers on the state table, measures), so one owner must not
 * stall the others: each step runs in a subtransaction of our own, under
 * a timer of perfkit.rollup_step_timeout that cancels it, and cancels it
 * again every 100 ms while it goes on (the owner's code runs in a
 * security-restricted operation and cannot change the setting; a cancel
 * it catches comes again).  A step over budget is rolled back, recorded
 * as the rollup's last error, and the job goes on with the next rollup.
 * A rollup gets at most perfkit.rollup_max_batches steps per run.
 *
 * Privileges: the refresh lock, and a refresh, are only for roles with the
 * privileges of the rollup's owner, checked as the caller before the
 * switch to the owner.  The owner has no right to write the catalogs; a
 * refresh writes them through SECURITY DEFINER functions that accept only
 * the rollup perfkit._rollup_in_refresh() says this backend is
 * refreshing.  perfkit._rollup_next_id() draws rollup ids for
 * create_rollup() and remembers who drew each, for _rollup_register().
 * drop_rollup(keep_table => true) copies the rollup's view, which its
 * owner may redefine, through perfkit._rollup_keep_copy(): our own
 * CREATE TABLE AS, run as the owner in a security-restricted operation
 * after the same check as the caller.
 *
 * search_path: every statement here runs with search_path pinned to
 * pg_catalog, pg_temp (or names only qualified objects and operators), so
 * an operator a role put in a schema of the caller's or the owner's path
 * cannot stand in for pg_catalog's (CVE-2018-1058).
 *
 * Lock order: the refresh lock is taken before any row lock of the
 * rollup's tables; no LWLock is involved.
 *
 * src/rollup/refresh.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "storage/latch.h"
#include "postmaster/interrupt.h"

#include "perfkit/rollup.h"
#include "perfkit/util.h"


PG_FUNCTION_INFO_V1(perfkit_rollup_lock);
PG_FUNCTION_INFO_V1(perfkit_rollup_refresh_as_owner);
PG_FUNCTION_INFO_V1(perfkit_refresh_rollups);
PG_FUNCTION_INFO_V1(perfkit_rollup_in_refresh);
PG_FUNCTION_INFO_V1(perfkit_rollup_next_id);
PG_FUNCTION_INFO_V1(perfkit_rollup_issued_to);
PG_FUNCTION_INFO_V1(perfkit_rollup_keep_copy);

/* The rollup whose refresh this backend is running, 0 when none. */
static int32 refreshing_id = 0;

/*
 * Pin search_path to pg_catalog, pg_temp for the statements that follow,
 * until the caller's AtEOXact_GUC(false, nestlevel) of a GUC nest level
 * opened before: no operator or function of a schema the caller (or the
 * owner) searches can stand in for pg_catalog's.
 */
static void
pin_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Ids perfkit._rollup_next_id() drew from the sequence in this backend,
 * with the role that drew each, until perfkit._rollup_issued_to() claims
 * it.  A handful at most: create_rollup draws one and registers it.
 */
#define ISSUED_MAX	8

typedef struct IssuedId
{
	int32		id;
	Oid			role;
} IssuedId;

static IssuedId issued[ISSUED_MAX];
static int	n_issued = 0;

/*
 * The relation (view) of rollup id, and its owner in *owner, read with the
 * caller's rights (everyone may read perfkit.rollup_defs).
 */
static Oid
rollup_owner_rel(int32 id, Oid *owner)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;
	Oid			rel;
	int			save_nestlevel;

	args[0] = Int32GetDatum(id);
	SPI_connect();
	save_nestlevel = NewGUCNestLevel();
	pin_search_path();
	if (SPI_execute_with_args("SELECT owner::pg_catalog.oid, rel::pg_catalog.oid "
							  "FROM perfkit.rollup_defs "
							  "WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up rollup %d", id);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rollup %d does not exist", id)));
	*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											1, &isnull));
	rel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 2, &isnull));
	AtEOXact_GUC(false, save_nestlevel);
	SPI_finish();
	return rel;
}

/* The owner of rollup id. */
static Oid
rollup_owner(int32 id)
{
	Oid			owner;

	(void) rollup_owner_rel(id, &owner);
	return owner;
}

/*
 * Return the owner of rollup id, or raise an error unless the current
 * user has the privileges of that owner (as ALTER and DROP require of a
 * relation's owner).  Checked as the caller, before any switch of user.
 */
Oid
rollup_check_owner(int32 id)
{
	Oid			owner = rollup_owner(id);

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of rollup %d", id),
				 errdetail("Rollup %d belongs to role \"%s\".", id,
						   GetUserNameFromId(owner, false))));
	return owner;
}

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

	/* Nobody else may hold it: that would stall the owner's refreshes. */
	(void) rollup_check_owner(id);
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
 *
 * The caller must have the privileges of the owner, checked before the
 * switch (checked after it, the check would always pass).  While the
 * refresh runs, perfkit._rollup_in_refresh(id) is true in this backend:
 * the SECURITY DEFINER functions that write the catalogs for a refresh
 * (the owner has no right to write them) accept only that rollup.
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
	int32		save_refreshing;
	Datum		values[3];
	bool		valnulls[3];

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < 5; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rollup id must not be null")));
	owner = rollup_check_owner(id);

	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	pin_search_path();
	save_refreshing = refreshing_id;
	refreshing_id = id;
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
		refreshing_id = save_refreshing;
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	SPI_finish();
	return (Datum) 0;
}

/*
 * perfkit._rollup_keep_copy(id int) RETURNS regclass
 *
 * For drop_rollup(keep_table => true): copy the final values of rollup id,
 * read from its view, into a new table perfkit_tmp_<id> in the view's
 * schema, and return it.  The owner can redefine the view to run any code
 * of hers, so the copy runs as the rollup's owner in a security-restricted
 * operation (a superuser dropping the rollup lends her nothing), and the
 * new table is hers.  The caller must have the privileges of the owner,
 * checked before the switch.  The statement is ours: only the names of
 * the rollup's own relations go into it.
 */
Datum
perfkit_rollup_keep_copy(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	Oid			owner;
	Oid			rel;
	char	   *nsp;
	char	   *relname;
	char	   *sql;
	Oid			tmp;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;

	rel = rollup_owner_rel(id, &owner);
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of rollup %d", id),
				 errdetail("Rollup %d belongs to role \"%s\".", id,
						   GetUserNameFromId(owner, false))));
	relname = get_rel_name(rel);
	if (relname == NULL || get_rel_relkind(rel) != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation %u of rollup %d is not a view", rel, id)));
	nsp = get_namespace_name(get_rel_namespace(rel));
	sql = psprintf("CREATE TABLE %s AS SELECT * FROM %s",
				   quote_qualified_identifier(nsp, psprintf("perfkit_tmp_%d", id)),
				   quote_qualified_identifier(nsp, relname));

	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	pin_search_path();
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not copy rollup %d", id);
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();

	tmp = get_relname_relid(psprintf("perfkit_tmp_%d", id), get_rel_namespace(rel));
	if (!OidIsValid(tmp))
		elog(ERROR, "could not find the copy of rollup %d", id);
	PG_RETURN_OID(tmp);
}

/* Record err as the last error of rollup id. */
static void
record_step_error(int32 id, const char *msg)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];

	args[0] = Int32GetDatum(id);
	args[1] = CStringGetTextDatum(msg);
	if (SPI_execute_with_args("UPDATE perfkit.rollup_defs SET last_error = $2, "
							  "last_error_at = pg_catalog.now() "
							  "WHERE id OPERATOR(pg_catalog.=) $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the error of rollup %d", id);
}

/* One step of the rollups job (job_step). */
typedef struct RollupStep
{
	int32		id;
	bool		more;			/* what the step returned */
} RollupStep;

/*
 * perfkit._rollup_job_step(id) under the step budget (pk_step_start(),
 * src/util/step.c).
 */
static void
rollup_step_fn(void *arg)
{
	RollupStep *step = (RollupStep *) arg;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];

	args[0] = Int32GetDatum(step->id);
	pk_step_start(perfkit_rollup_step_timeout);
	PG_TRY();
	{
		bool		isnull;

		if (SPI_execute_with_args("SELECT perfkit._rollup_job_step($1)",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not run a refresh step of rollup %d", step->id);
		step->more = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			step->more = false;
	}
	PG_FINALLY();
	{
		pk_step_stop();
	}
	PG_END_TRY();
	if (pk_step_timed_out())
	{
		/* It caught the cancel and finished late: not kept either. */
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to perfkit.rollup_step_timeout")));
	}
}

/*
 * A real cancel, or the caller's own statement timeout, ends the job.  Our
 * budget, or an error _rollup_job_step's handler does not catch
 * (query_canceled or assert_failure raised by the owner's code), fails
 * this rollup only: one role must not stop the others' refreshes at every
 * run.
 */
static bool
rollup_step_rethrow(ErrorData *edata, void *arg)
{
	return pk_step_real_cancel();
}

/*
 * One step of the rollups job for rollup id, in a subtransaction of its
 * own (pk_try_subxact, src/util/subxact.c), within
 * perfkit.rollup_step_timeout (pk_step_start(), src/util/step.c: a timer
 * that cancels the step and keeps cancelling it every 100 ms, since the
 * owner's code inside it may catch one cancel).  A step over budget, or
 * one ended by an error the owner's code raised that _rollup_job_step's
 * handler cannot catch (query_canceled, assert_failure), is rolled back,
 * recorded as the rollup's last error, and the job goes on; only a real
 * cancel stops it.  Returns whether more remains.
 */
static bool
job_step(int32 id)
{
	RollupStep	step;
	ErrorData  *edata;
	char	   *msg;

	step.id = id;
	step.more = false;
	if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, rollup_step_fn, &step,
					   rollup_step_rethrow, &edata) == PK_TRY_OK)
		return step.more;

	if (pk_step_timed_out())
	{
		pk_step_forget_cancel();
		msg = psprintf("refresh step exceeded perfkit.rollup_step_timeout (%d ms) and was rolled back",
					   perfkit_rollup_step_timeout);
	}
	else
		msg = psprintf("refresh step failed: %s", edata->message);
	ereport(WARNING,
			(errmsg("rollup %d: %s", id, msg),
			 errdetail("The step ended with: %s", edata->message)));
	record_step_error(id, msg);
	FreeErrorData(edata);
	return false;
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
		for (int batch = 0;; batch++)
		{
			bool		more;

			CHECK_FOR_INTERRUPTS();
			if (batch >= perfkit_rollup_max_batches)
			{
				ereport(NOTICE,
						(errmsg("rollup %d: %d batches this run; the rest waits for the next run",
								ids[i], batch),
						 errhint("perfkit.rollup_max_batches bounds the batches of one rollup per run.")));
				break;
			}
			more = job_step(ids[i]);
			if (nonatomic)
				SPI_commit();
			if (!more)
				break;
		}
	}

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * perfkit._rollup_in_refresh(id int) RETURNS bool
 *
 * Whether this backend is running a refresh of rollup id, started by
 * perfkit._rollup_refresh_as_owner() for a caller entitled to it.
 */
Datum
perfkit_rollup_in_refresh(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(refreshing_id != 0 && refreshing_id == PG_GETARG_INT32(0));
}

/*
 * perfkit._rollup_next_id() RETURNS int
 *
 * Draw a rollup id from perfkit.rollup_id_seq (nobody else may) and
 * remember that the current user drew it, for perfkit._rollup_register().
 */
Datum
perfkit_rollup_next_id(PG_FUNCTION_ARGS)
{
	Oid			seq = RangeVarGetRelid(makeRangeVar("perfkit", "rollup_id_seq", -1),
									   NoLock, false);
	int64		id = nextval_internal(seq, false);

	if (id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("no rollup id left")));
	if (n_issued == ISSUED_MAX)
	{
		memmove(&issued[0], &issued[1], sizeof(IssuedId) * (ISSUED_MAX - 1));
		n_issued--;
	}
	issued[n_issued].id = (int32) id;
	issued[n_issued].role = GetUserId();
	n_issued++;
	PG_RETURN_INT32((int32) id);
}

/*
 * perfkit._rollup_issued_to(id int) RETURNS regrole
 *
 * The role to which perfkit._rollup_next_id() gave id in this backend, or
 * NULL; either way id cannot be claimed again.
 */
Datum
perfkit_rollup_issued_to(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);

	for (int i = 0; i < n_issued; i++)
	{
		if (issued[i].id == id)
		{
			Oid			role = issued[i].role;

			memmove(&issued[i], &issued[i + 1], sizeof(IssuedId) * (n_issued - i - 1));
			n_issued--;
			PG_RETURN_OID(role);
		}
	}
	PG_RETURN_NULL();
}
