/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Change capture for rollups: which buckets did a statement touch?
 *
 * Each rollup puts three statement-level AFTER triggers on its raw source
 * table (INSERT with a NEW transition table, UPDATE with OLD and NEW,
 * DELETE with OLD), all calling perfkit._rollup_capture() with the
 * rollup's id, time column, granularity and time zone as arguments.  A
 * rollup built on a finer rollup captures from the same raw table, in its
 * own buckets, so no trigger ever fires on a rollup's own writes.
 *
 * The trigger reads the transition tables, computes the bucket of each
 * row's time (date_trunc in the rollup's zone; a timestamp or date column
 * is read as wall-clock time in that zone), and appends one row per
 * distinct bucket to perfkit.rollup_changes in the writer's transaction.
 * So a change becomes visible to refresh exactly when the rows that caused
 * it do, and is gone if they roll back.  The table is an append-only log
 * without a unique key on purpose: ON CONFLICT against a unique key would
 * make concurrent writers of one bucket wait for each other's commit.
 *
 * At the head of the table nothing is logged: a bucket at or past the
 * rollup's published watermark is read by the next advance anyway, and the
 * advance lock the trigger holds (without waiting) keeps that advance from
 * missing this transaction's rows; see src/rollup/watermarks.c.  So
 * streaming inserts into the current bucket cost a lock and a probe, and
 * only late rows (and rows written while a refresh advances) are logged.
 *
 * Nobody but the extension's owner may write perfkit.rollup_changes (a
 * forged or deleted change row, or a lock on the table, would harm other
 * roles' rollups), so the writer cannot log with its own rights: the
 * rows are inserted as the table's owner in a security-restricted
 * operation, after checking that the trigger belongs to a rollup whose
 * raw source is the table it fires on (see log_changes()).
 *
 * Low overhead: two SPI statements (the check and the insert) with saved
 * plans, only when something is logged, and
 * a backend-local set of the (rollup, bucket) pairs this transaction has
 * already logged, so a transaction of many statements into one bucket
 * logs it once.  An entry remembers the transaction id that wrote its log
 * row and counts only while TransactionIdIsCurrentTransactionId() still
 * says so: after a subtransaction rolls back, its log rows are gone and
 * the bucket is logged again by the next statement that touches it.
 *
 * Lock order: the advance lock (heavyweight) before PERFKIT_LOCK_ROLLUPS.
 *
 * src/rollup/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "perfkit/rollup.h"

PG_FUNCTION_INFO_V1(perfkit_rollup_capture);
PG_FUNCTION_INFO_V1(perfkit_rollup_capture_forget);

typedef struct LoggedKey
{
	int32		rollup;
	TimestampTz bucket;
} LoggedKey;

typedef struct LoggedEntry
{
	LoggedKey	key;
	TransactionId xid;			/* the (sub)transaction that logged it */
	uint64		call;			/* the trigger call that last queued it */
} LoggedEntry;

static uint64 capture_calls = 0;

static HTAB *logged = NULL;
static LocalTransactionId logged_lxid = InvalidLocalTransactionId;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr check_plan = NULL;

/* The set of pairs logged by the current transaction, emptied on a new one. */
static HTAB *
logged_set(void)
{
	if (logged != NULL && logged_lxid == MyProc->lxid)
		return logged;
	if (logged != NULL && hash_get_num_entries(logged) == 0)
	{
		logged_lxid = MyProc->lxid;		/* nothing to forget */
		return logged;
	}
	if (logged != NULL)
		hash_destroy(logged);

	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LoggedKey);
		ctl.entrysize = sizeof(LoggedEntry);
		ctl.hcxt = TopMemoryContext;
		logged = hash_create("perfkit rollup captured buckets", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	logged_lxid = MyProc->lxid;
	return logged;
}

/*
 * The last bucket each rollup's trigger computed, with the range of
 * values that fall into it, so that a statement into the same bucket as
 * the one before costs two comparisons instead of a time zone conversion.
 * Direct-mapped by rollup id; the range mirrors the refresh's own
 * definition of a bucket (perfkit._bucket_add): fixed lengths for minutes
 * and hours, local-time arithmetic in the zone for days and longer, and
 * local arithmetic for timestamp and date columns.
 */
#define BUCKET_CACHE	16

typedef struct BucketCache
{
	int32		rollup;			/* 0: empty */
	Oid			type;
	char	   *unit;			/* the trigger's arguments, compared too */
	char	   *zone;
	int64		lo;				/* values in [lo, hi) ... */
	int64		hi;
	TimestampTz bucket;			/* ... belong to this bucket */
} BucketCache;

static BucketCache bucket_cache[BUCKET_CACHE];

/* One bucket's length, as an interval. */
static Interval *
unit_interval(const char *unit)
{
	Interval   *iv = palloc0(sizeof(Interval));

	if (strcmp(unit, "minute") == 0)
		iv->time = USECS_PER_MINUTE;
	else if (strcmp(unit, "hour") == 0)
		iv->time = USECS_PER_HOUR;
	else if (strcmp(unit, "day") == 0)
		iv->day = 1;
	else if (strcmp(unit, "week") == 0)
		iv->day = 7;
	else if (strcmp(unit, "month") == 0)
		iv->month = 1;
	else if (strcmp(unit, "quarter") == 0)
		iv->month = 3;
	else if (strcmp(unit, "year") == 0)
		iv->month = 12;
	else
		elog(ERROR, "unexpected rollup granularity \"%s\"", unit);
	return iv;
}

/*
 * The bucket of one time value of rollup `rollup`, of granularity unit,
 * cut in time zone zone_name.
 */
static TimestampTz
bucket_of(int32 rollup, Datum value, Oid type, const char *unit, const char *zone_name)
{
	Datum		unit_text;
	Datum		zone;
	BucketCache *c = &bucket_cache[(uint32) rollup % BUCKET_CACHE];
	int64		v;
	Datum		start;
	Interval   *iv;

	if (type == DATEOID)
		value = DirectFunctionCall1(date_timestamp, value);
	v = DatumGetInt64(value);
	if (c->rollup == rollup && c->type == type && v >= c->lo && v < c->hi &&
		strcmp(c->unit, unit) == 0 && strcmp(c->zone, zone_name) == 0)
		return c->bucket;
	if (TIMESTAMP_NOT_FINITE(v))
		return v;				/* +-infinity: a bucket of its own */

	iv = unit_interval(unit);
	unit_text = CStringGetTextDatum(unit);
	zone = CStringGetTextDatum(zone_name);
	if (type == TIMESTAMPTZOID)
	{
		start = DirectFunctionCall3(timestamptz_trunc_zone, unit_text, value, zone);
		c->bucket = DatumGetTimestampTz(start);
		c->lo = c->bucket;
		if (iv->month == 0 && iv->day == 0)
			c->hi = c->bucket + iv->time;
		else
		{
			/* as perfkit._bucket_add: from the local start of the day */
			Datum		local = DirectFunctionCall2(timestamptz_zone, zone, start);

			local = DirectFunctionCall2(timestamp_trunc, unit_text, local);
			c->hi = DatumGetTimestampTz(
				DirectFunctionCall2(timestamp_zone, zone,
									DirectFunctionCall2(timestamp_pl_interval, local,
														IntervalPGetDatum(iv))));
		}
	}
	else
	{
		/* timestamp (and date): wall-clock time in the zone */
		start = DirectFunctionCall2(timestamp_trunc, unit_text, value);
		c->lo = DatumGetTimestamp(start);
		c->hi = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval, start,
													  IntervalPGetDatum(iv)));
		c->bucket = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, zone, start));
	}
	c->rollup = rollup;
	c->type = type;
	if (c->unit)
		pfree(c->unit);
	if (c->zone)
		pfree(c->zone);
	c->unit = MemoryContextStrdup(TopMemoryContext, unit);
	c->zone = MemoryContextStrdup(TopMemoryContext, zone_name);
	pfree(iv);
	return c->bucket;
}

/* Add the buckets of every row of a transition table to *buckets. */
static void
collect(Tuplestorestate *rows, TupleDesc desc, int attno, Oid type,
		const char *unit, const char *zone, int32 rollup, HTAB *set,
		TimestampTz skip_from,
		bool *skipped, TimestampTz **buckets, int *n, int *cap)
{
	TupleTableSlot *slot;

	if (rows == NULL)
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attno, &isnull);
		LoggedKey	key;
		LoggedEntry *entry;
		bool		found;

		if (isnull)
			continue;			/* a row without a time has no bucket */
		memset(&key, 0, sizeof(key));
		key.rollup = rollup;
		key.bucket = bucket_of(rollup, value, type, unit, zone);
		if (key.bucket >= skip_from)
		{
			*skipped = true;	/* the next advance reads it */
			continue;
		}
		entry = hash_search(set, &key, HASH_ENTER, &found);
		if (found && entry->call == capture_calls)
			continue;			/* already queued by this call */
		if (found && TransactionIdIsValid(entry->xid) &&
			TransactionIdIsCurrentTransactionId(entry->xid))
			continue;			/* logged earlier in this transaction */
		/* Logged below; the xid is filled in once the row is written. */
		entry->xid = InvalidTransactionId;
		entry->call = capture_calls;
		if (*n == *cap)
		{
			*cap *= 2;
			*buckets = repalloc(*buckets, sizeof(TimestampTz) * *cap);
		}
		(*buckets)[(*n)++] = key.bucket;
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Append change rows (rollup args[0], buckets args[1]) to
 * perfkit.rollup_changes.  The writer has no right to write that table
 * (nobody but the extension's owner has), so the rows are inserted as the
 * table's owner, in a security-restricted operation with a pinned
 * search_path, and only after checking that the trigger's rollup is one
 * whose raw source is the relation the trigger fires on, with the
 * trigger's own arguments: a trigger of someone else's making logs
 * nothing for a rollup not on its table.
 */
static void
log_changes(Relation rel, Trigger *trigger, Datum *args)
{
	Oid			changes_owner;	/* owns every perfkit catalog */
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	HeapTuple	tuple;
	Datum		check_args[5];
	int			rc;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rollup_defs_oid()));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", rollup_defs_oid());
	changes_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	check_args[0] = args[0];
	check_args[1] = ObjectIdGetDatum(RelationGetRelid(rel));
	check_args[2] = DirectFunctionCall1(namein, CStringGetDatum(trigger->tgargs[1]));
	check_args[3] = CStringGetTextDatum(trigger->tgargs[2]);
	check_args[4] = CStringGetTextDatum(trigger->tgargs[3]);

	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(changes_owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	if (check_plan == NULL)
	{
		Oid			argtypes[5] = {INT4OID, OIDOID, NAMEOID, TEXTOID, TEXTOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT 1 FROM perfkit.rollup_defs "
						   "WHERE id OPERATOR(pg_catalog.=) $1 "
						   "AND raw_source::pg_catalog.oid OPERATOR(pg_catalog.=) $2 "
						   "AND time_column OPERATOR(pg_catalog.=) $3 "
						   "AND granularity OPERATOR(pg_catalog.=) $4 "
						   "AND timezone OPERATOR(pg_catalog.=) $5",
						   5, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		check_plan = plan;
	}
	rc = SPI_execute_plan(check_plan, check_args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" is not a capture trigger of rollup %s",
						trigger->tgname, RelationGetRelationName(rel), trigger->tgargs[0]),
				 errdetail("Only the triggers perfkit.create_rollup() made on a rollup's raw table log its changes.")));

	if (insert_plan == NULL)
	{
		Oid			argtypes[2] = {INT4OID, TIMESTAMPTZARRAYOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("INSERT INTO perfkit.rollup_changes (rollup_id, bucket) "
						   "SELECT $1, b FROM pg_catalog.unnest($2) AS b "
						   "GROUP BY b", 2, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		insert_plan = plan;
	}
	rc = SPI_execute_plan(insert_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
}

/*
 * perfkit._rollup_capture() trigger
 *	 arguments: rollup id, time column, granularity, time zone
 */
Datum
perfkit_rollup_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	TupleDesc	desc;
	int			attno;
	Oid			type;
	int32		rollup;
	HTAB	   *set;
	TimestampTz *buckets;
	int			n = 0;
	int			cap = 16;
	LOCKTAG		tag;
	bool		locked = false;
	bool		skipped = false;
	TimestampTz skip_from = DT_NOEND;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_capture() must be an AFTER ... FOR EACH STATEMENT trigger")));
	trigger = trigdata->tg_trigger;
	if (trigger->tgnargs != 4)
		elog(ERROR, "perfkit._rollup_capture() expects 4 arguments, got %d",
			 trigger->tgnargs);

	rollup = pg_strtoint32(trigger->tgargs[0]);
	desc = RelationGetDescr(trigdata->tg_relation);
	attno = SPI_fnumber(desc, trigger->tgargs[1]);
	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("time column \"%s\" of rollup %d no longer exists in table \"%s\"",
						trigger->tgargs[1], rollup,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Drop the rollup with perfkit.drop_rollup().")));
	type = TupleDescAttr(desc, attno - 1)->atttypid;

	/*
	 * Buckets at or past the published watermark need no log row while we
	 * hold the advance lock (see src/rollup/watermarks.c).
	 */
	rollup_advance_locktag(&tag, rollup);
	if (LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
	{
		locked = true;
		if (!rollup_published_watermark(rollup, &skip_from))
			skip_from = DT_NOEND;
	}

	set = logged_set();
	capture_calls++;
	buckets = palloc(sizeof(TimestampTz) * cap);
	collect(trigdata->tg_oldtable, desc, attno, type, trigger->tgargs[2],
			trigger->tgargs[3], rollup, set, skip_from, &skipped, &buckets, &n, &cap);
	collect(trigdata->tg_newtable, desc, attno, type, trigger->tgargs[2],
			trigger->tgargs[3], rollup, set, skip_from, &skipped, &buckets, &n, &cap);
	if (locked && !skipped)
		LockRelease(&tag, ShareLock, false);	/* nothing relies on it */

	if (n > 0)
	{
		Datum		args[2];
		Datum	   *elems = palloc(sizeof(Datum) * n);
		TransactionId xid;

		for (int i = 0; i < n; i++)
			elems[i] = TimestampTzGetDatum(buckets[i]);
		args[0] = Int32GetDatum(rollup);
		args[1] = PointerGetDatum(construct_array(elems, n, TIMESTAMPTZOID,
												  sizeof(TimestampTz), FLOAT8PASSBYVAL,
												  TYPALIGN_DOUBLE));
		log_changes(trigdata->tg_relation, trigger, args);

		xid = GetCurrentTransactionId();
		for (int i = 0; i < n; i++)
		{
			LoggedKey	key;
			LoggedEntry *entry;

			memset(&key, 0, sizeof(key));
			key.rollup = rollup;
			key.bucket = buckets[i];
			entry = hash_search(set, &key, HASH_FIND, NULL);
			if (entry)
				entry->xid = xid;
		}
	}

	return PointerGetDatum(NULL);
}

/*
 * perfkit._rollup_capture_forget() RETURNS void
 *
 * Forget which buckets this transaction has logged.  A refresh calls it
 * after claiming (deleting) change rows: the same transaction may write
 * those buckets again, and must then log them again.
 */
Datum
perfkit_rollup_capture_forget(PG_FUNCTION_ARGS)
{
	if (logged != NULL)
	{
		hash_destroy(logged);
		logged = NULL;
	}
	PG_RETURN_VOID();
}
