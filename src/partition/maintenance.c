/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  run_maintenance(): premaking partitions, filling gaps, draining the
 *	  default partition and applying retention, one table at a time.
 *
 * One table is one unit of work (part_maintain):
 *   1. Read the set's partitions from the catalog (ACCESS SHARE on the
 *      parent only) and compute what is missing: every slot from the
 *      set's start (or from now - retention) to the later of now + premake
 *      slots and the newest partition's end that no partition covers
 *      (gaps are filled), and whether the default partition holds rows
 *      that belong in a partition.  Nothing to do: the unit ends here.
 *   2. Otherwise lock, with lock_timeout (perfkit.partition_lock_timeout):
 *      with a default partition, the parent in EXCLUSIVE mode (writers
 *      wait, readers do not) and then the default partition in ACCESS
 *      EXCLUSIVE mode; without one, the parent in SHARE UPDATE EXCLUSIVE
 *      mode (neither readers nor writers wait).  Then read the partitions
 *      again, drain the default partition (drain.c), and create what is
 *      still missing (layout.c).
 *      Why EXCLUSIVE on the parent when there is a default partition: an
 *      INSERT through the parent routes its rows with the partition
 *      descriptor it saw when it started.  One that routed a row to the
 *      default partition just before a new partition for that row was
 *      attached would then fail the default partition's new constraint.
 *      INSERTs hold ROW EXCLUSIVE on the parent from planning to commit,
 *      which EXCLUSIVE conflicts with: the lock waits for those in flight
 *      (or times out), and those that come after plan again with the new
 *      partitions.  Nothing is lost either way; this way nothing fails.
 *      In the job (which commits after each table), when the parent's
 *      ACCESS EXCLUSIVE lock is then free at once, the unit takes it
 *      (ConditionalLockRelationOid, never queued) and makes the missing
 *      partitions with CREATE TABLE ... PARTITION OF, a quarter cheaper
 *      than the standalone table attached (layout.c); readers that come
 *      meanwhile wait for this table's commit only.  Otherwise, and always
 *      in run_maintenance(), whose locks last until the caller commits,
 *      the partitions are made standalone and attached.
 *   3. Retention (retention.c), which takes ACCESS EXCLUSIVE on the
 *      parent with lock_timeout only when a partition is to be detached.
 * A lock that is not granted within lock_timeout fails the unit with
 * SQLSTATE 55P03; the table is reported "skipped" and retried at the next
 * run (the job also retries it once at the end of its run), instead of
 * queueing behind a long transaction while every later query queues
 * behind the maintenance.
 *
 * Two entry points:
 *   - perfkit.run_maintenance(tbl DEFAULT NULL), a function, for
 *     interactive use.  Each table runs in a subtransaction, so one
 *     table's failure is recorded and the others go on; but a function
 *     cannot commit, so the locks of every table it processed are held
 *     until the caller's transaction ends.
 *   - CALL perfkit.run_maintenance_job(), a procedure, which the
 *     registered job "partitions" runs (run_job calls it non-atomically):
 *     it commits after each table, so it never holds a lock across
 *     tables, and ends with an error naming the tables that failed, so
 *     that perfkit.jobs shows the failure.
 * Both process only the tables the calling role owns (a superuser owns
 * them all), and record each table's outcome in perfkit.partition_config
 * (last_run, last_status, last_error, last_kept).
 *
 * As whom.  Whoever calls, a table's unit of work runs as the table's
 * owner in a security-restricted operation with a GUC nest level of its
 * own (part_as_table_owner_begin in sets.c): the rows drained out of the
 * default partition fire the owner's triggers and are checked by the
 * owner's constraints, and a superuser's job must not lend them its
 * rights.  The outcome is recorded as the extension's owner afterwards.
 *
 * Fairness.  Each unit of work has a time budget,
 * perfkit.partition_step_timeout: a timer of our own that cancels the
 * step at its deadline and again every 100 ms after (the owner's code may
 * catch a cancel; it comes again), and a step that returns past its
 * deadline is rolled back all the same; the table is recorded "failed",
 * and the run goes on.  Code that catches every cancel in a loop is the
 * limit that remains: it holds the run until it returns.  A
 * query_canceled raised by the owner's code fails its table only; a real
 * cancel (a SIGINT seen during the step) or the caller's statement
 * timeout ends the run.  The outcome is recorded with lock_timeout: the
 * owner can hold her row of perfkit.partition_config locked, and the
 * table is then counted as skipped.  last_error keeps the message only
 * (everyone reads it; a detail may hold row values).  The job maintains at most
 * perfkit.partition_max_steps tables per run, those run longest ago first,
 * and no unit creates more than perfkit.max_partitions_per_run partitions.
 *
 * src/partition/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "perfkit/partition.h"
#include "perfkit/perfkit.h"
#include "perfkit/util.h"

/* Set lock_timeout at the current GUC nest level. */
static void
set_lock_timeout(void)
{
	(void) set_config_option("lock_timeout",
							 psprintf("%d", perfkit_partition_lock_timeout),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * Refuse to create more than perfkit.max_partitions_per_run partitions in
 * one unit of work (a start far back with a narrow interval would make
 * thousands in one transaction).
 */
void
part_check_partition_budget(PkSet *set, int needed)
{
	if (needed > perfkit_max_partitions_per_run)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("table \"%s\" would need %d new partitions, more than perfkit.max_partitions_per_run (%d)",
						get_rel_name(set->parent), needed, perfkit_max_partitions_per_run),
				 errhint("Give the table a later start or a wider interval, or raise perfkit.max_partitions_per_run.")));
}

/* The highest finite upper bound of ranges, or PK_TIME_MIN. */
static int64
newest_upper(List *ranges)
{
	int64		result = PK_TIME_MIN;
	ListCell   *lc;

	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);

		if (r->upper != PK_TIME_MAX && r->upper > result)
			result = r->upper;
	}
	return result;
}

/*
 * The unit of work of one table; errors propagate.  SPI connected.
 * commits_after: the caller commits as soon as this unit ends (the job
 * run non-atomically), so a lock taken here lasts for this table's work
 * only.
 */
void
part_maintain(Oid parent, bool commits_after, PkRunResult *res)
{
	PkSet	   *set;
	List	   *ranges;
	List	   *missing;
	Oid			default_oid;
	int64		now,
				from,
				to;
	bool		drain;
	bool		partition_of;
	PkOwnerSave owner;
	ListCell   *lc;

	memset(res, 0, sizeof(PkRunResult));
	res->kept_reasons = makeStringInfo();
	res->advanced_start = PK_TIME_MIN;

	set = part_set_load(parent, false);
	part_check_owner(parent);

	now = part_floor(&set->key, part_now(&set->key));
	from = (set->start == PK_TIME_MIN) ? now : set->start;
	if (set->has_retention)
		from = Max(from, part_floor(&set->key, part_retention_cutoff(set)));
	to = part_add(&set->key, now, set->premake + 1);

	/*
	 * Fast path: the partitions are those the last full run saw (same
	 * digest), they cover [from, to) without a gap, none is past retention
	 * and the default partition was never written.  Nothing to do, found
	 * without building the parent's relcache entry.
	 */
	if (set->has_layout && set->covered_from <= from && set->covered_to >= to &&
		(!set->has_retention || set->oldest_upper > part_retention_cutoff(set)) &&
		part_layout_digest(parent) == set->layout_digest &&
		(!OidIsValid(set->default_rel) || part_default_never_written(set->default_rel)))
	{
		res->fast = true;
		return;
	}

	/* Everything that touches the table runs as its owner, restricted. */
	part_as_table_owner_begin(parent, &owner);
	set_lock_timeout();
	ranges = part_layout_read(set, &default_oid);
	to = Max(to, newest_upper(ranges));
	missing = part_missing_ranges(set, ranges, from, to);
	part_check_partition_budget(set, list_length(missing));
	drain = OidIsValid(default_oid) && part_default_has_movable(set, default_oid);

	if (missing != NIL || drain)
	{
		if (OidIsValid(default_oid))
		{
			part_lock_relation(parent, ExclusiveLock);
			part_lock_relation(default_oid, AccessExclusiveLock);
		}
		else
			part_lock_relation(parent, ShareUpdateExclusiveLock);

		/* What holds now that we hold the locks. */
		{
			Oid			locked_default = default_oid;

			ranges = part_layout_read(set, &default_oid);
			if (default_oid != locked_default)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the default partition of table \"%s\" changed during maintenance",
								get_rel_name(parent))));
		}
		/* exact now: the default partition is locked (no query if never written) */
		if (OidIsValid(default_oid) && part_default_has_movable(set, default_oid))
			res->moved = part_drain_default(set, &ranges, default_oid, &res->created);
		to = Max(to, newest_upper(ranges));
		missing = part_missing_ranges(set, ranges, from, to);
		part_check_partition_budget(set, res->created + list_length(missing));

		/*
		 * The job's form (layout.c): one CREATE TABLE ... PARTITION OF per
		 * partition, when the parent's ACCESS EXCLUSIVE lock is free at
		 * once.  Never waited for: a request queued behind a reader would
		 * hold up every reader after it.  Held until this unit's commit.
		 */
		partition_of = commits_after && missing != NIL &&
			part_partition_of_same(set) &&
			ConditionalLockRelationOid(parent, AccessExclusiveLock);
		foreach(lc, missing)
		{
			PkRange    *r = lfirst(lc);

			r->relid = part_create_partition(set, r->lower, r->upper, default_oid,
											 NULL, partition_of);
			res->created++;
		}

		/*
		 * The partitions now: those read plus those just made, in order
		 * (reading them again would build the parent's partition
		 * descriptor once more, which each attach invalidated).
		 */
		foreach(lc, missing)
			ranges = part_insert_range(ranges, lfirst(lc));
	}

	part_apply_retention(set, ranges, default_oid, res);
	if (res->retired > 0)
		ranges = part_layout_read(set, &default_oid);

	/* What the next run's fast path compares with. */
	res->has_layout = part_covered_run(ranges, from, &res->covered_from, &res->covered_to);
	if (res->has_layout)
	{
		ListCell   *rc;

		res->layout_digest = part_layout_digest(parent);
		res->default_rel = default_oid;
		res->oldest_upper = PK_TIME_MAX;
		foreach(rc, ranges)
		{
			PkRange    *r = lfirst(rc);

			if (r->upper != PK_TIME_MAX && r->upper < res->oldest_upper)
				res->oldest_upper = r->upper;
		}
	}
	part_as_table_owner_end(&owner);
}

/* One table's maintenance as a step of its own (part_maintain_one). */
typedef struct MaintainStep
{
	Oid			parent;
	bool		commits_after;
	PkRunResult *res;
	bool		real_cancel;	/* read once, when the step failed */
} MaintainStep;

/*
 * part_maintain under the step budget (pk_step_start() and friends,
 * src/util/step.c).
 */
static void
maintain_step(void *arg)
{
	MaintainStep *m = (MaintainStep *) arg;

	pk_step_start(perfkit_partition_step_timeout);
	PG_TRY();
	{
		part_maintain(m->parent, m->commits_after, m->res);
	}
	PG_FINALLY();
	{
		pk_step_stop();
	}
	PG_END_TRY();
	if (pk_step_timed_out())
	{
		/* It caught our cancel and returned late: not kept either. */
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to perfkit.partition_step_timeout")));
	}
}

/*
 * A real cancel, or the caller's own statement timeout, ends the run.  Our
 * budget, or a query_canceled raised by the owner's code, fails this table
 * only.
 */
static bool
maintain_step_rethrow(ErrorData *edata, void *arg)
{
	MaintainStep *m = (MaintainStep *) arg;

	m->real_cancel = pk_step_real_cancel();
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED && m->real_cancel;
}

/*
 * part_maintain in a subtransaction (pk_try_subxact, src/util/subxact.c;
 * part_maintain sets lock_timeout itself, once it acts as the table's
 * owner): false on error, with the error's message in *error and whether
 * it was a lock timeout in *lock_failed.
 */
bool
part_maintain_one(Oid parent, bool commits_after, PkRunResult *res,
				  char **error, bool *lock_failed)
{
	MaintainStep m;
	ErrorData  *edata;
	bool		over_budget;

	*error = NULL;
	*lock_failed = false;

	m.parent = parent;
	m.commits_after = commits_after;
	m.res = res;
	m.real_cancel = false;
	if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, maintain_step, &m,
					   maintain_step_rethrow, &edata) == PK_TRY_OK)
		return true;

	over_budget = pk_step_timed_out() && !m.real_cancel;
	/* a cancel of ours may still be pending: it is not for what follows */
	if (pk_step_timed_out())
		pk_step_forget_cancel();
	*lock_failed = (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && !over_budget);
	if (over_budget)
		*error = psprintf("maintenance took longer than perfkit.partition_step_timeout (%dms) and was rolled back",
						  perfkit_partition_step_timeout);
	else if (*lock_failed)
		*error = psprintf("a lock was not granted within perfkit.partition_lock_timeout (%dms); retried at the next run",
						  perfkit_partition_lock_timeout);
	else
		*error = pstrdup(edata->message);
	FreeErrorData(edata);
	return false;
}

/* The arguments of one record of a table's outcome (record_nowait). */
typedef struct RecordCall
{
	Oid			parent;
	const char *status;
	const char *error;
	const PkRunResult *res;
} RecordCall;

static void
record_fn(void *arg)
{
	RecordCall *r = (RecordCall *) arg;

	part_set_record(r->parent, r->status, r->error, r->res);
}

/*
 * part_set_record in a subtransaction, waiting at most
 * perfkit.partition_lock_timeout for the row lock (pk_try_subxact): the
 * owner can hold her row of perfkit.partition_config locked
 * (set_retention() in a transaction left open), and the job must not wait
 * for her.  false when the lock was not granted (the outcome is then not
 * recorded); other errors propagate.
 */
static bool
record_nowait(Oid parent, const char *status, const char *error,
			  const PkRunResult *res)
{
	RecordCall	r;

	r.parent = parent;
	r.status = status;
	r.error = error;
	r.res = res;
	return pk_try_subxact(perfkit_partition_lock_timeout, record_fn, &r,
						  NULL, NULL) == PK_TRY_OK;
}

/*
 * Run one table and record its outcome; the status.  A table whose
 * outcome could not be recorded (its row locked) counts as skipped.
 */
static const char *
run_one(Oid parent, bool commits_after, PkRunResult *res, char **error,
		bool *lock_failed)
{
	const char *status;

	if (part_maintain_one(parent, commits_after, res, error, lock_failed))
		status = "ok";
	else
	{
		status = *lock_failed ? "skipped" : "failed";
		memset(res, 0, sizeof(PkRunResult));
		res->advanced_start = PK_TIME_MIN;
	}
	if (!record_nowait(parent, status, *error, res))
	{
		*lock_failed = true;
		*error = psprintf("its row of perfkit.partition_config was locked; the outcome was not recorded");
		status = "skipped";
	}
	return status;
}

/* The registered tables the calling role may maintain. */
static List *
tables_to_run(Oid only, bool oldest_first)
{
	List	   *all;
	List	   *result = NIL;
	ListCell   *lc;

	if (OidIsValid(only))
	{
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(only)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", only)));
		part_check_owner(only);
		(void) part_set_load(only, false);
		return list_make1_oid(only);
	}
	all = part_set_list(oldest_first);
	foreach(lc, all)
	{
		Oid			relid = lfirst_oid(lc);

		if (pg_class_ownercheck(relid, GetUserId()))
			result = lappend_oid(result, relid);
	}
	return result;
}

PG_FUNCTION_INFO_V1(perfkit_run_maintenance);

/*
 * perfkit.run_maintenance(tbl regclass DEFAULT NULL)
 *   RETURNS TABLE(partitioned_table regclass, status text, created integer,
 *                 moved bigint, retired integer, kept integer, detail text)
 */
Datum
perfkit_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *tables;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	tables = tables_to_run(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0), false);
	foreach(lc, tables)
	{
		Oid			parent = lfirst_oid(lc);
		PkRunResult res;
		char	   *error;
		bool		lock_failed;
		const char *status;
		Datum		values[7];
		bool		nulls[7] = {0};

		status = run_one(parent, false, &res, &error, &lock_failed);
		values[0] = ObjectIdGetDatum(parent);
		values[1] = CStringGetTextDatum(status);
		values[2] = Int32GetDatum(res.created);
		values[3] = Int64GetDatum(res.moved);
		values[4] = Int32GetDatum(res.retired);
		values[5] = Int32GetDatum(res.kept);
		if (error != NULL)
			values[6] = CStringGetTextDatum(error);
		else if (res.kept_reasons != NULL && res.kept_reasons->len > 0)
			values[6] = CStringGetTextDatum(res.kept_reasons->data);
		else
			nulls[6] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_run_maintenance_job);

/*
 * CALL perfkit.run_maintenance_job(): the "partitions" job.  Called
 * non-atomically, commits after each table.
 */
Datum
perfkit_run_maintenance_job(PG_FUNCTION_ARGS)
{
	bool		nonatomic;
	MemoryContext runcxt;
	MemoryContext old;
	List	   *tables;
	List	   *retry = NIL;
	StringInfoData failures;
	int			nfailed = 0;
	int			nskipped = 0;
	int			ntables;
	int			pass;

	nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	/* survives the commits below */
	runcxt = AllocSetContextCreate(TopMemoryContext, "perfkit maintenance run",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(runcxt);
	initStringInfo(&failures);
	MemoryContextSwitchTo(old);
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	old = MemoryContextSwitchTo(runcxt);
	tables = tables_to_run(InvalidOid, true);
	MemoryContextSwitchTo(old);
	ntables = list_length(tables);
	if (ntables > perfkit_partition_max_steps)
	{
		ereport(NOTICE,
				(errmsg("partition maintenance runs %d of %d tables in this run",
						perfkit_partition_max_steps, ntables),
				 errhint("The others, run longest ago, come first at the next run; see perfkit.partition_max_steps.")));
		old = MemoryContextSwitchTo(runcxt);
		tables = list_truncate(tables, perfkit_partition_max_steps);
		MemoryContextSwitchTo(old);
		ntables = perfkit_partition_max_steps;
	}

	for (pass = 0; pass < 2; pass++)
	{
		ListCell   *lc;

		foreach(lc, tables)
		{
			Oid			parent = lfirst_oid(lc);
			PkRunResult res;
			char	   *error;
			bool		lock_failed;

			(void) run_one(parent, nonatomic, &res, &error, &lock_failed);
			if (lock_failed && pass == 0)
			{
				old = MemoryContextSwitchTo(runcxt);
				retry = lappend_oid(retry, parent);
				MemoryContextSwitchTo(old);
			}
			else if (lock_failed)
				nskipped++;
			else if (error != NULL)
			{
				old = MemoryContextSwitchTo(runcxt);
				appendStringInfo(&failures, "%s%s: %s", nfailed > 0 ? "; " : "",
								 get_rel_name(parent), error);
				MemoryContextSwitchTo(old);
				nfailed++;
			}
			if (nonatomic)
				SPI_commit();
		}
		tables = retry;
		if (tables == NIL)
			break;
	}
	SPI_finish();

	if (nskipped > 0)
		ereport(NOTICE,
				(errmsg("partition maintenance skipped %d of %d tables whose locks were not available",
						nskipped, ntables),
				 errhint("They are retried at the next run; see perfkit.partition_sets.")));
	if (nfailed > 0)
	{
		char	   *msg = pstrdup(failures.data);

		MemoryContextDelete(runcxt);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition maintenance failed for %d of %d tables", nfailed, ntables),
				 errdetail("%s", msg)));
	}
	MemoryContextDelete(runcxt);
	PG_RETURN_VOID();
}
