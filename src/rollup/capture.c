/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Change capture for rollups: which buckets did a statement touch?
 *
 * Each rollup puts statement-level AFTER triggers on its raw source table
 * and on every table of its partition tree (INSERT with a NEW transition
 * table, UPDATE with OLD and NEW, DELETE with OLD; a write straight into
 * a partition fires only that partition's; inserts, where nothing can
 * change a row after the trigger saw it, by a BEFORE ... FOR EACH ROW
 * trigger instead: see capture_row_insert()), a BEFORE TRUNCATE trigger on
 * each table with storage, and a row-level trigger enabled for replicas
 * only (a logical replication apply worker fires no statement triggers),
 * all calling perfkit._rollup_capture() with the rollup's id as their
 * argument (see capture_args()).  The event trigger
 * perfkit._rollup_ddl (rollup.sql) keeps the partition tree covered.  A
 * rollup built on a finer rollup captures from the same raw table, in its
 * own buckets, so no trigger ever fires on a rollup's own writes.
 *
 * Frozen buckets (before the rollup's final_before) are not recomputed by
 * refresh: rows an INSERT adds there are merged into the state table in
 * the writer's transaction, as the rollup's owner (perfkit._rollup_merge_sql
 * over the transition table); any other change there is counted in
 * perfkit.rollup_inexact.  TRUNCATE of frozen rows retires them: nothing
 * is counted.
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
 * registration of this transaction as skipping (an entry of this backend
 * in shared memory, written without a lock) makes that advance wait for
 * this transaction's rows; see src/rollup/watermarks.c.  So streaming
 * inserts into the current bucket cost two probes and, once per
 * transaction, a registration, and only late rows (and rows written while
 * a refresh advances) are logged.
 *
 * Nobody but the extension's owner may write perfkit.rollup_changes (a
 * forged or deleted change row, or a lock on the table, would harm other
 * roles' rollups), so the writer's rights play no part: after checking
 * that the trigger belongs to a rollup whose raw source is the table it
 * fires on (see log_changes()), the change rows are appended directly, a
 * heap insert and its index entry as a catalog row is written, which runs
 * no user code and checks no privilege; what still goes through SQL (the
 * partition-tree check, counting inexact changes, merging into frozen
 * buckets) runs as the table's owner in a security-restricted operation
 * with a pinned search_path.
 *
 * Low overhead.  A statement whose buckets are all below the published
 * watermark (late rows) does not register at all (that is needed only
 * to skip logging).  The check reads the rollup's
 * perfkit.rollup_defs row from a per-backend cache kept across
 * transactions and dropped by a relcache invalidation of that table,
 * which every change of it sends (a statement trigger on it; see
 * def_get()).  Buckets of UTC minutes, hours and days are plain
 * arithmetic.  A backend-local set of the (rollup, bucket) pairs this
 * transaction has already logged means a transaction of many statements
 * into one bucket logs it once.  An entry remembers the transaction id
 * that wrote its log row and counts only while
 * TransactionIdIsCurrentTransactionId() still says so: after a
 * subtransaction rolls back, its log rows are gone and the bucket is
 * logged again by the next statement that touches it.
 *
 * Lock order: PERFKIT_LOCK_ROLLUPS is taken alone, for a probe; no
 * heavyweight lock of perfkit's on a writer's path.
 *
 * src/rollup/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
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
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
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
	LocalTransactionId lxid;	/* the transaction it belongs to */
	TransactionId xid;			/* the (sub)transaction that logged it */
	uint64		call;			/* the trigger call that last queued it */
} LoggedEntry;

static uint64 capture_calls = 0;

static HTAB *logged = NULL;
static LocalTransactionId logged_lxid = InvalidLocalTransactionId;
static SPIPlanPtr check_tree_plan = NULL;

/*
 * A saved plan of one of our own statements, always generic: the
 * statements are a primary-key probe and an append, whose best plan does
 * not depend on the values, so planning them again for every statement
 * (a custom plan, which the plan cache keeps choosing because unnest()
 * of a parameter looks cheaper with the array known) is pure cost.  The
 * text is parsed once, under the search_path the caller pins (the same
 * at every call, so the plan cache never sees it change and replans).
 */
static SPIPlanPtr
saved_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*cache != NULL)
		return *cache;
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	*cache = plan;
	return plan;
}

/*
 * The trigger's check needs, of rollup `rollup`'s perfkit.rollup_defs row,
 * its raw source, time column, granularity, zone, final_before and owner.
 * They are cached per backend across transactions (def_get()), and the
 * cache is dropped whenever perfkit.rollup_defs changes: the statement
 * trigger perfkit_rollup_defs_changed on that table (any INSERT, UPDATE,
 * DELETE or TRUNCATE of it, enabled ALWAYS) sends a relcache invalidation
 * of the table, and def_invalidate() below, a relcache callback, marks
 * the cache stale (a reset of every relcache entry does too).  Our own
 * changes are seen at the next command, another backend's once it
 * committed and we next accept invalidations (the trigger does before it
 * consults the cache).
 *
 * A row is read with a snapshot taken after the invalidations accepted
 * so far, and kept only if no invalidation arrived while it was read: a
 * commit the snapshot missed sends its invalidation after it, which then
 * finds the row cached and drops it.  So a cached row is never older than
 * the invalidations this backend has processed, and the watermark is not
 * in it at all (writers read the published one, src/rollup/watermarks.c).
 * The callback only sets a flag; the memory is freed at the next lookup,
 * never under a caller's feet.
 */
enum
{
	DEF_ID, DEF_RAW_SOURCE, DEF_TIME_COLUMN, DEF_GRANULARITY, DEF_TIMEZONE,
	DEF_FINAL_BEFORE, DEF_OWNER, DEF_STATE_TABLE, DEF_NCOLS
};

static const char *const def_columns[DEF_NCOLS] = {
	"id", "raw_source", "time_column", "granularity", "timezone", "final_before", "owner",
	"state_table"
};
static Oid	def_attnos_rel = InvalidOid;
static AttrNumber def_attnos[DEF_NCOLS];

typedef struct DefEntry
{
	int32		rollup;			/* hash key */
	Oid			raw_source;
	NameData	time_column;
	char	   *granularity;	/* in defs_cxt */
	char	   *timezone;		/* in defs_cxt */
	TimestampTz final_before;	/* DT_NOBEGIN when NULL */
	Oid			owner;
	Oid			state_table;
	char	   *merge_sql;		/* in defs_cxt; NULL until first built */
} DefEntry;

static HTAB *defs_hash = NULL;
static MemoryContext defs_cxt = NULL;
static bool defs_stale = false;
static bool defs_callback = false;
static Oid	defs_cached_rel = InvalidOid;	/* rollup_defs when filled */
static Oid	changes_rel = InvalidOid;	/* perfkit.rollup_changes */

/*
 * Partitions found to belong to a rollup's raw source (the check of
 * log_changes() for a trigger on a partition), so that a statement into a
 * partition does not query pg_partition_tree() again.  An entry goes with
 * the cached rows (defs_stale) and with any relcache invalidation of its
 * partition, which DETACH PARTITION and DROP send.
 */
#define TREE_OK_MAX		32

typedef struct TreeOk
{
	int32		rollup;
	Oid			relid;
} TreeOk;

static TreeOk tree_ok[TREE_OK_MAX];
static int	n_tree_ok = 0;

static void
def_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == defs_cached_rel)
		defs_stale = true;
	for (int i = 0; !defs_stale && i < n_tree_ok; i++)
		if (tree_ok[i].relid == relid)
			defs_stale = true;
	if (relid == InvalidOid || relid == changes_rel)
		changes_rel = InvalidOid;
	if (!defs_stale && defs_hash != NULL)
	{
		/* A cached merge statement names the state table and its columns. */
		HASH_SEQ_STATUS status;
		DefEntry   *e;

		hash_seq_init(&status, defs_hash);
		while ((e = hash_seq_search(&status)) != NULL)
		{
			if (e->state_table == relid)
			{
				defs_stale = true;
				hash_seq_term(&status);
				break;
			}
		}
	}
}

/* ... and its schema's name. */
static void
def_invalidate_namespace(Datum arg, int cacheid, uint32 hashvalue)
{
	defs_stale = true;
}

static void
def_reset_if_stale(void)
{
	if (!defs_stale)
		return;
	defs_stale = false;
	defs_hash = NULL;
	n_tree_ok = 0;
	if (defs_cxt != NULL)
		MemoryContextReset(defs_cxt);
}

/* Is relid known to be a partition of rollup `rollup`'s raw source? */
static bool
tree_ok_find(int32 rollup, Oid relid)
{
	def_reset_if_stale();
	for (int i = 0; i < n_tree_ok; i++)
		if (tree_ok[i].rollup == rollup && tree_ok[i].relid == relid)
			return true;
	return false;
}

/* Remember it, unless an invalidation arrived since the check began. */
static void
tree_ok_add(int32 rollup, Oid relid)
{
	def_reset_if_stale();
	if (defs_hash == NULL || n_tree_ok >= TREE_OK_MAX)
		return;
	tree_ok[n_tree_ok].rollup = rollup;
	tree_ok[n_tree_ok].relid = relid;
	n_tree_ok++;
}

/*
 * Rollup `rollup`'s row, cached or read through the primary key; false
 * when there is no such row (not cached).
 */
static bool
def_get(int32 rollup, DefEntry *out)
{
	Relation	defs;
	Oid			pkey;
	ScanKeyData key;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tuple;
	bool		found = false;

	if (!defs_callback)
	{
		CacheRegisterRelcacheCallback(def_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, def_invalidate_namespace, (Datum) 0);
		defs_callback = true;
	}
	def_reset_if_stale();
	if (defs_hash != NULL)
	{
		DefEntry   *e = hash_search(defs_hash, &rollup, HASH_FIND, NULL);

		if (e != NULL)
		{
			*out = *e;
			return true;
		}
	}

	defs = table_open(rollup_defs_oid(), AccessShareLock);
	if (def_attnos_rel != RelationGetRelid(defs))
	{
		for (int i = 0; i < DEF_NCOLS; i++)
		{
			def_attnos[i] = SPI_fnumber(RelationGetDescr(defs), def_columns[i]);
			if (def_attnos[i] <= 0)
				elog(ERROR, "perfkit.rollup_defs has no column \"%s\"", def_columns[i]);
		}
		def_attnos_rel = RelationGetRelid(defs);
	}
	pkey = RelationGetPrimaryKeyIndex(defs);
	if (!OidIsValid(pkey))
		elog(ERROR, "perfkit.rollup_defs has no primary key");

	/* From here on, an invalidation means the row read may be old. */
	def_reset_if_stale();
	defs_cached_rel = RelationGetRelid(defs);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, def_attnos[DEF_ID], BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(rollup));
	scan = systable_beginscan(defs, pkey, true, snapshot, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc	desc = RelationGetDescr(defs);
		Datum		v[DEF_NCOLS];
		bool		isnull[DEF_NCOLS];

		for (int i = 0; i < DEF_NCOLS; i++)
			v[i] = heap_getattr(tuple, def_attnos[i], desc, &isnull[i]);
		if (!isnull[DEF_RAW_SOURCE] && !isnull[DEF_TIME_COLUMN] &&
			!isnull[DEF_GRANULARITY] && !isnull[DEF_TIMEZONE] && !isnull[DEF_OWNER] &&
			!isnull[DEF_STATE_TABLE])
		{
			if (defs_cxt == NULL)
				defs_cxt = AllocSetContextCreate(CacheMemoryContext,
												 "perfkit rollup definitions",
												 ALLOCSET_SMALL_SIZES);
			found = true;
			out->rollup = rollup;
			out->raw_source = DatumGetObjectId(v[DEF_RAW_SOURCE]);
			namestrcpy(&out->time_column, NameStr(*DatumGetName(v[DEF_TIME_COLUMN])));
			out->granularity = MemoryContextStrdup(defs_cxt,
												   TextDatumGetCString(v[DEF_GRANULARITY]));
			out->timezone = MemoryContextStrdup(defs_cxt,
												TextDatumGetCString(v[DEF_TIMEZONE]));
			out->final_before = isnull[DEF_FINAL_BEFORE] ? DT_NOBEGIN :
				DatumGetTimestampTz(v[DEF_FINAL_BEFORE]);
			out->owner = DatumGetObjectId(v[DEF_OWNER]);
			out->state_table = DatumGetObjectId(v[DEF_STATE_TABLE]);
			out->merge_sql = NULL;
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(defs, AccessShareLock);

	if (found && !defs_stale)
	{
		if (defs_hash == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(int32);
			ctl.entrysize = sizeof(DefEntry);
			ctl.hcxt = defs_cxt;
			defs_hash = hash_create("perfkit rollup definitions", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		*(DefEntry *) hash_search(defs_hash, &rollup, HASH_ENTER, NULL) = *out;
	}
	return found;
}

/*
 * The statement that merges an INSERT's rows into rollup `rollup`'s frozen
 * buckets (perfkit._rollup_merge_sql()), kept with its cached row: it
 * depends on the rollup's rows in rollup_defs and rollup_measures (whose
 * changes drop the cache), on the state table's name and columns (a
 * relcache invalidation of it does) and its schema's name (any change of
 * pg_namespace does).  A copy, palloc'd in the caller's context.
 */
static char *
merge_sql_cached(int32 rollup)
{
	DefEntry   *e;

	def_reset_if_stale();
	if (defs_hash == NULL)
		return NULL;
	e = hash_search(defs_hash, &rollup, HASH_FIND, NULL);
	return (e != NULL && e->merge_sql != NULL) ? pstrdup(e->merge_sql) : NULL;
}

/* Keep sql, built under the invalidations accepted so far, if still valid. */
static void
merge_sql_remember(int32 rollup, const char *sql)
{
	DefEntry   *e;

	def_reset_if_stale();
	if (defs_hash == NULL)
		return;
	e = hash_search(defs_hash, &rollup, HASH_FIND, NULL);
	if (e != NULL && e->merge_sql == NULL)
		e->merge_sql = MemoryContextStrdup(defs_cxt, sql);
}

/*
 * What a capture trigger is for: its rollup, and that rollup's time
 * column, granularity and zone.  The triggers perfkit makes carry the
 * rollup's id alone, and the rest is read from its cached row (see
 * def_get()): every argument is copied for every statement into the
 * executor's copy of the table's triggers, and three text arguments on
 * each of a rollup's four triggers cost a single-row INSERT more than the
 * capture's own work.  Triggers made before carry all four.
 */
typedef struct CaptureArgs
{
	int32		rollup;
	const char *column;
	const char *unit;
	const char *zone;
} CaptureArgs;

/*
 * A rollup's column, granularity and zone never change, so once read they
 * are kept for the backend's life, by rollup id and the OID of
 * perfkit.rollup_defs (ids are not reused while the extension lives; made
 * again, its catalog has another OID), in memory of their own: the cached
 * rows may be dropped at any invalidation, even in the middle of a
 * statement that points at these.
 */
typedef struct ArgsKey
{
	int32		rollup;
	Oid			defs;
} ArgsKey;

typedef struct ArgsEntry
{
	ArgsKey		key;			/* hash key */
	char	   *column;
	char	   *unit;
	char	   *zone;
} ArgsEntry;

static HTAB *args_hash = NULL;

static void
capture_args(Trigger *trigger, Relation rel, CaptureArgs *a)
{
	DefEntry	def;
	ArgsKey		key;
	ArgsEntry  *e;
	bool		found;

	if (trigger->tgnargs != 1 && trigger->tgnargs != 4)
		elog(ERROR, "perfkit._rollup_capture() expects 1 or 4 arguments, got %d",
			 trigger->tgnargs);
	a->rollup = pg_strtoint32(trigger->tgargs[0]);
	if (trigger->tgnargs == 4)
	{
		a->column = trigger->tgargs[1];
		a->unit = trigger->tgargs[2];
		a->zone = trigger->tgargs[3];
		return;
	}
	if (args_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ArgsKey);
		ctl.entrysize = sizeof(ArgsEntry);
		ctl.hcxt = TopMemoryContext;
		args_hash = hash_create("perfkit rollup capture arguments", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.rollup = a->rollup;
	key.defs = rollup_defs_oid();
	e = hash_search(args_hash, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		if (!def_get(a->rollup, &def))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("trigger \"%s\" on table \"%s\" is not a capture trigger of rollup %d",
							trigger->tgname, RelationGetRelationName(rel), a->rollup),
					 errdetail("There is no such rollup.")));
		{
			char	   *column = MemoryContextStrdup(TopMemoryContext, NameStr(def.time_column));
			char	   *unit = MemoryContextStrdup(TopMemoryContext, def.granularity);
			char	   *zone = MemoryContextStrdup(TopMemoryContext, def.timezone);

			e = hash_search(args_hash, &key, HASH_ENTER, &found);
			e->column = column;
			e->unit = unit;
			e->zone = zone;
		}
	}
	a->column = e->column;
	a->unit = e->unit;
	a->zone = e->zone;
}

/*
 * Is def the row of a rollup whose raw source is relid, with the
 * trigger's time column, granularity and zone?
 */
static bool
def_matches(const DefEntry *def, Oid relid, const CaptureArgs *a)
{
	return def->raw_source == relid &&
		strcmp(NameStr(def->time_column), a->column) == 0 &&
		strcmp(def->granularity, a->unit) == 0 &&
		strcmp(def->timezone, a->zone) == 0;
}

/*
 * perfkit._rollup_defs_changed() trigger: a statement-level AFTER trigger
 * on perfkit.rollup_defs and perfkit.rollup_measures that makes every
 * backend drop its cached rows (see def_get()): a relcache invalidation
 * of rollup_defs.
 */
PG_FUNCTION_INFO_V1(perfkit_rollup_defs_changed);

Datum
perfkit_rollup_defs_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_defs_changed() must be called as a trigger")));
	if (RelationGetRelid(trigdata->tg_relation) != rollup_defs_oid() &&
		!(RelationGetNamespace(trigdata->tg_relation) == get_rel_namespace(rollup_defs_oid()) &&
		  strcmp(RelationGetRelationName(trigdata->tg_relation), "rollup_measures") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_defs_changed() fires only on perfkit.rollup_defs and perfkit.rollup_measures")));
	CacheInvalidateRelcacheByRelid(rollup_defs_oid());
	return PointerGetDatum(NULL);
}

/*
 * perfkit.rollup_changes, opened for a direct insert: its columns are
 * (rollup_id integer, bucket timestamptz), checked once per backend.
 * changes_index is its one index when that is a plain one on those two
 * columns (the install script's), with its IndexInfo; otherwise
 * InvalidOid, and the generic catalog insert maintains whatever indexes
 * there are.  Both are found again after a relcache invalidation of the
 * table (def_invalidate()).
 */
static Oid	changes_index = InvalidOid;
static IndexInfo *changes_index_info = NULL;
static MemoryContext changes_cxt = NULL;

static Relation
changes_open(void)
{
	Relation	rel;
	TupleDesc	desc;
	List	   *indexes;

	if (OidIsValid(changes_rel))
	{
		rel = table_open(changes_rel, RowExclusiveLock);
		if (OidIsValid(changes_rel))
			return rel;			/* no invalidation while opening it */
		table_close(rel, RowExclusiveLock);
	}

	{
		Oid			oid = get_relname_relid("rollup_changes",
											get_rel_namespace(rollup_defs_oid()));

		if (!OidIsValid(oid))
			elog(ERROR, "perfkit.rollup_changes does not exist");
		rel = table_open(oid, RowExclusiveLock);
	}
	desc = RelationGetDescr(rel);
	if (desc->natts != 2 ||
		strcmp(NameStr(TupleDescAttr(desc, 0)->attname), "rollup_id") != 0 ||
		TupleDescAttr(desc, 0)->atttypid != INT4OID ||
		strcmp(NameStr(TupleDescAttr(desc, 1)->attname), "bucket") != 0 ||
		TupleDescAttr(desc, 1)->atttypid != TIMESTAMPTZOID ||
		rel->rd_rel->relkind != RELKIND_RELATION)
		elog(ERROR, "perfkit.rollup_changes is not (rollup_id integer, bucket timestamptz)");

	changes_index = InvalidOid;
	changes_index_info = NULL;
	if (changes_cxt == NULL)
		changes_cxt = AllocSetContextCreate(CacheMemoryContext, "perfkit rollup change log",
											ALLOCSET_SMALL_SIZES);
	MemoryContextReset(changes_cxt);
	indexes = RelationGetIndexList(rel);
	if (list_length(indexes) == 1)
	{
		Relation	index = index_open(linitial_oid(indexes), RowExclusiveLock);
		Form_pg_index form = index->rd_index;

		if (form->indnatts == 2 && form->indnkeyatts == 2 &&
			form->indkey.values[0] == 1 && form->indkey.values[1] == 2 &&
			form->indisvalid && form->indisready && form->indislive &&
			!form->indisunique && form->indimmediate &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			index->rd_rel->relam == BTREE_AM_OID)
		{
			MemoryContext old = MemoryContextSwitchTo(changes_cxt);

			changes_index_info = BuildIndexInfo(index);
			MemoryContextSwitchTo(old);
			changes_index = RelationGetRelid(index);
		}
		index_close(index, NoLock);
	}
	list_free(indexes);
	changes_rel = RelationGetRelid(rel);
	return rel;
}

/*
 * Append (rollup, bucket) for each of the n buckets to perfkit.rollup_changes:
 * a heap insert and its index entry, as a catalog row is written (no
 * executor, no permission check, no user code: the table has no triggers,
 * its index is a btree over built-in types, and its insert policy accepts
 * every row).  The locks are kept until the transaction ends, as an
 * INSERT's.
 */
static void
log_direct(int32 rollup, Datum *buckets, int n)
{
	Relation	rel = changes_open();
	Relation	index = NULL;
	IndexInfo  *info = changes_index_info;
	CatalogIndexState indstate = NULL;

	if (OidIsValid(changes_index))
		index = index_open(changes_index, RowExclusiveLock);
	if (index == NULL || !OidIsValid(changes_rel))
	{
		/* not our index, or invalidated meanwhile: the generic way */
		if (index != NULL)
			index_close(index, NoLock);
		index = NULL;
		indstate = CatalogOpenIndexes(rel);
	}

	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		isnull[2] = {false, false};
		HeapTuple	tuple;

		values[0] = Int32GetDatum(rollup);
		values[1] = buckets[i];
		tuple = heap_form_tuple(RelationGetDescr(rel), values, isnull);
		if (index != NULL)
		{
			simple_heap_insert(rel, tuple);
			(void) index_insert(index, values, isnull, &tuple->t_self, rel,
								UNIQUE_CHECK_NO, false, info);
		}
		else
			CatalogTupleInsertWithInfo(rel, tuple, indstate);
		heap_freetuple(tuple);
	}
	if (index != NULL)
		index_close(index, NoLock);
	else
		CatalogCloseIndexes(indstate);
	table_close(rel, NoLock);
}

/*
 * The set of pairs logged by the current transaction.  An entry of an
 * earlier transaction (another lxid) counts as absent and is taken over;
 * the set is emptied only when it has grown large, so that a stream of
 * one-statement transactions does not build and free a hash table each.
 */
#define LOGGED_KEEP		1024

static HTAB *
logged_set(void)
{
	if (logged != NULL && logged_lxid == MyProc->lxid)
		return logged;
	if (logged != NULL && hash_get_num_entries(logged) <= LOGGED_KEEP)
	{
		logged_lxid = MyProc->lxid;
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

static void
bucket_cache_set(BucketCache *c, int32 rollup, Oid type, const char *unit,
				 const char *zone_name, int64 lo, int64 hi, TimestampTz bucket)
{
	c->lo = lo;
	c->hi = hi;
	c->bucket = bucket;
	if (c->rollup == rollup && c->type == type && c->unit && c->zone &&
		strcmp(c->unit, unit) == 0 && strcmp(c->zone, zone_name) == 0)
		return;					/* the same rollup, another bucket */
	c->rollup = rollup;
	c->type = type;
	if (c->unit)
		pfree(c->unit);
	if (c->zone)
		pfree(c->zone);
	c->unit = MemoryContextStrdup(TopMemoryContext, unit);
	c->zone = MemoryContextStrdup(TopMemoryContext, zone_name);
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

	/*
	 * In UTC (the default zone), minutes, hours and days have fixed
	 * lengths from the epoch, for timestamptz and wall-clock columns
	 * alike: no zone lookup.
	 */
	if (strcmp(zone_name, "UTC") == 0)
	{
		int64		len = 0;

		if (strcmp(unit, "minute") == 0)
			len = USECS_PER_MINUTE;
		else if (strcmp(unit, "hour") == 0)
			len = USECS_PER_HOUR;
		else if (strcmp(unit, "day") == 0)
			len = USECS_PER_DAY;
		if (len > 0)
		{
			TimestampTz b = rollup_bucket_floor(v, len, 0);

			bucket_cache_set(c, rollup, type, unit, zone_name, b, b + len, b);
			return c->bucket;
		}
	}

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
	bucket_cache_set(c, rollup, type, unit, zone_name, c->lo, c->hi, c->bucket);
	pfree(iv);
	return c->bucket;
}

/*
 * The buckets a statement touched: each distinct bucket once per call,
 * with whether this transaction has yet to log it (fresh).  Frozen
 * buckets are handled at every statement (merged or counted), so the
 * list keeps a bucket the transaction already logged, marked not fresh.
 */
typedef struct Touched
{
	TimestampTz *buckets;
	bool	   *fresh;
	int			n;
	int			cap;
	int			n_fresh;
} Touched;

static void
touched_add(Touched *t, TimestampTz bucket, bool fresh)
{
	if (t->n == t->cap)
	{
		t->cap *= 2;
		t->buckets = repalloc(t->buckets, sizeof(TimestampTz) * t->cap);
		t->fresh = repalloc(t->fresh, sizeof(bool) * t->cap);
	}
	t->buckets[t->n] = bucket;
	t->fresh[t->n] = fresh;
	t->n++;
	if (fresh)
		t->n_fresh++;
}

/* Add one bucket to *t (see collect()). */
static void
collect_bucket(TimestampTz bucket, int32 rollup, HTAB *set, TimestampTz skip_from,
			   bool *skipped, Touched *t)
{
	LoggedKey	key;
	LoggedEntry *entry;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.rollup = rollup;
	key.bucket = bucket;
	if (key.bucket >= skip_from)
	{
		*skipped = true;		/* the next advance reads it */
		return;
	}
	entry = hash_search(set, &key, HASH_ENTER, &found);
	if (found && entry->lxid != MyProc->lxid)
		found = false;			/* an earlier transaction's: ours now */
	entry->lxid = MyProc->lxid;
	if (found && entry->call == capture_calls)
		return;					/* already listed by this call */
	entry->call = capture_calls;
	if (found && TransactionIdIsValid(entry->xid) &&
		TransactionIdIsCurrentTransactionId(entry->xid))
	{
		touched_add(t, key.bucket, false);	/* logged earlier in this transaction */
		return;
	}
	/* Logged below; the xid is filled in once the row is written. */
	entry->xid = InvalidTransactionId;
	touched_add(t, key.bucket, true);
}

/* Add the bucket of one time value to *t. */
static void
collect_value(Datum value, Oid type, const char *unit, const char *zone, int32 rollup,
			  HTAB *set, TimestampTz skip_from, bool *skipped, Touched *t)
{
	collect_bucket(bucket_of(rollup, value, type, unit, zone), rollup, set, skip_from,
				   skipped, t);
}

/* Add the buckets of every row of a transition table to *t. */
static void
collect(Tuplestorestate *rows, TupleDesc desc, int attno, Oid type,
		const char *unit, const char *zone, int32 rollup, HTAB *set,
		TimestampTz skip_from, bool *skipped, Touched *t)
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

		if (isnull)
			continue;			/* a row without a time has no bucket */
		collect_value(value, type, unit, zone, rollup, set, skip_from, skipped, t);
	}
	ExecDropSingleTupleTableSlot(slot);
}

/* Add the bucket of one row (a row trigger's tuple) to *t. */
static void
collect_tuple(HeapTuple tuple, TupleDesc desc, int attno, Oid type,
			  const char *unit, const char *zone, int32 rollup, HTAB *set,
			  TimestampTz skip_from, bool *skipped, Touched *t)
{
	bool		isnull;
	Datum		value;

	if (tuple == NULL)
		return;
	value = heap_getattr(tuple, attno, desc, &isnull);
	if (!isnull)
		collect_value(value, type, unit, zone, rollup, set, skip_from, skipped, t);
}

/*
 * Rollup `rollup`'s frozen bound (final_before), if its row is cached
 * (see def_get()), so that a statement touching only buckets the
 * transaction already logged, none of them frozen, needs no lookup.  A
 * freeze another backend committed since we last accepted invalidations
 * is not seen yet: a change logged for a bucket frozen meanwhile is
 * counted by the next refresh (perfkit._rollup_prune_changes), not lost,
 * as when a freeze commits while the statement runs.
 */
static bool
frozen_lookup(int32 rollup, TimestampTz *frozen_before)
{
	DefEntry   *e;

	def_reset_if_stale();
	if (defs_hash == NULL)
		return false;
	e = hash_search(defs_hash, &rollup, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	*frozen_before = e->final_before;
	return true;
}

/*
 * Log what a statement did to rollup `rollup` (the trigger's args[0]):
 * fresh buckets that are not frozen become change rows in
 * perfkit.rollup_changes; rows in frozen buckets (before the rollup's
 * final_before) are merged into the state table when the statement only
 * inserted (FROZEN_MERGE: an INSERT's transition table), ignored when they
 * are being retired (FROZEN_RETIRE: TRUNCATE), and otherwise counted in
 * perfkit.rollup_inexact, one row per bucket.  Returns the frozen bound
 * read.
 *
 * The writer has no right to write those tables (nobody but the
 * extension's owner has), and its rights are not what counts: change rows
 * are appended directly (log_direct(): no permission check, no user code),
 * the rest runs as the table's owner in a security-restricted operation
 * with a pinned search_path, and all of it only after checking that the
 * trigger's rollup is one whose raw source is the relation the trigger
 * fires on (or a table of its partition tree), with the trigger's own
 * arguments: a trigger of someone else's making logs nothing for a rollup
 * not on its table.  The merge runs as the rollup's owner, restricted, as
 * a refresh does: it computes the owner's measures over the inserted rows
 * and writes the owner's state table.
 */
typedef enum FrozenMode
{
	FROZEN_COUNT,				/* count each frozen bucket as inexact */
	FROZEN_MERGE,				/* merge the inserted rows into it */
	FROZEN_RETIRE				/* its rows are being retired: nothing */
} FrozenMode;

/* SPI as the extension's owner, restricted, search_path pinned. */
typedef struct OwnerSpi
{
	bool		active;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} OwnerSpi;

static void
owner_spi_begin(OwnerSpi *o)
{
	HeapTuple	tuple;
	Oid			changes_owner;	/* owns every perfkit catalog */

	if (o->active)
		return;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rollup_defs_oid()));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", rollup_defs_oid());
	changes_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	SPI_connect();
	GetUserIdAndSecContext(&o->save_userid, &o->save_sec_context);
	SetUserIdAndSecContext(changes_owner, o->save_sec_context | SECURITY_RESTRICTED_OPERATION);
	o->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	o->active = true;
}

static void
owner_spi_end(OwnerSpi *o)
{
	if (!o->active)
		return;
	AtEOXact_GUC(false, o->save_nestlevel);
	SetUserIdAndSecContext(o->save_userid, o->save_sec_context);
	SPI_finish();
	o->active = false;
}

/*
 * The check: is the trigger's rollup one whose raw source is rel (or a
 * table of its partition tree)?  An error if not; else its frozen bound
 * and owner.  May begin *spi (as the extension's owner) for the
 * partition-tree query.
 */
static void
capture_check(Relation rel, Trigger *trigger, const CaptureArgs *a, OwnerSpi *spi,
			  TimestampTz *frozen_out, Oid *owner_out)
{
	int32		rollup = a->rollup;
	DefEntry	def;
	Datum		check_args[5];
	int			rc;
	bool		isnull;
	bool		checked = false;
	TimestampTz frozen_before = DT_NOBEGIN;
	Oid			rollup_owner = InvalidOid;

	if (def_get(rollup, &def) &&
		(def_matches(&def, RelationGetRelid(rel), a) ||
		 (rel->rd_rel->relispartition && tree_ok_find(rollup, RelationGetRelid(rel)) &&
		  def_matches(&def, def.raw_source, a))))
	{
		checked = true;
		frozen_before = def.final_before;
		rollup_owner = def.owner;
	}
	else if (rel->rd_rel->relispartition)
	{
		Oid			argtypes[5] = {INT4OID, OIDOID, NAMEOID, TEXTOID, TEXTOID};

		owner_spi_begin(spi);
		check_args[0] = Int32GetDatum(rollup);
		check_args[1] = ObjectIdGetDatum(RelationGetRelid(rel));
		check_args[2] = DirectFunctionCall1(namein, CStringGetDatum(a->column));
		check_args[3] = CStringGetTextDatum(a->unit);
		check_args[4] = CStringGetTextDatum(a->zone);
		{
			/* A table of the raw source's partition tree (not the root). */
			saved_plan(&check_tree_plan,
					   "SELECT final_before, owner::pg_catalog.oid FROM perfkit.rollup_defs "
					   "WHERE id OPERATOR(pg_catalog.=) $1 "
					   "AND $2 OPERATOR(pg_catalog.=) ANY (SELECT t.relid::pg_catalog.oid "
					   "FROM pg_catalog.pg_partition_tree(raw_source) t) "
					   "AND time_column OPERATOR(pg_catalog.=) $3 "
					   "AND granularity OPERATOR(pg_catalog.=) $4 "
					   "AND timezone OPERATOR(pg_catalog.=) $5",
					   5, argtypes);
			rc = SPI_execute_plan(check_tree_plan, check_args, NULL, true, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		}
		if (SPI_processed == 1)
		{
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				frozen_before = DatumGetTimestampTz(v);
			rollup_owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
			checked = true;
			tree_ok_add(rollup, RelationGetRelid(rel));
		}
	}
	if (!checked)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" is not a capture trigger of rollup %s",
						trigger->tgname, RelationGetRelationName(rel), trigger->tgargs[0]),
				 errdetail("Only the triggers perfkit.create_rollup() made on a rollup's raw table log its changes.")));
	*frozen_out = frozen_before;
	*owner_out = rollup_owner;
}

static TimestampTz
log_changes(TriggerData *trigdata, Relation rel, Trigger *trigger, const CaptureArgs *a,
			Touched *t, FrozenMode mode)
{
	int32		rollup = a->rollup;
	OwnerSpi	spi = {false};
	int			rc;
	TimestampTz frozen_before;
	Oid			rollup_owner;
	Datum	   *fresh;
	Datum	   *frozen;
	int			n_fresh = 0;
	int			n_frozen = 0;

	capture_check(rel, trigger, a, &spi, &frozen_before, &rollup_owner);

	fresh = palloc(sizeof(Datum) * Max(t->n, 1));
	frozen = palloc(sizeof(Datum) * Max(t->n, 1));
	for (int i = 0; i < t->n; i++)
	{
		if (t->buckets[i] < frozen_before)
			frozen[n_frozen++] = TimestampTzGetDatum(t->buckets[i]);
		else if (t->fresh[i])
			fresh[n_fresh++] = TimestampTzGetDatum(t->buckets[i]);
	}

	/* The buckets of one call are distinct (collect_value()). */
	if (n_fresh > 0)
		log_direct(rollup, fresh, n_fresh);

	if (n_frozen > 0 && mode == FROZEN_COUNT)
	{
		Oid			argtypes[2] = {INT4OID, TIMESTAMPTZARRAYOID};
		Datum		args[2];

		owner_spi_begin(&spi);
		args[0] = Int32GetDatum(rollup);
		args[1] = PointerGetDatum(construct_array(frozen, n_frozen, TIMESTAMPTZOID,
												  sizeof(TimestampTz), FLOAT8PASSBYVAL,
												  TYPALIGN_DOUBLE));
		rc = SPI_execute_with_args("INSERT INTO perfkit.rollup_inexact (rollup_id, bucket, reason) "
								   "SELECT $1, b, 'frozen' FROM pg_catalog.unnest($2) AS b GROUP BY b",
								   2, argtypes, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	}
	else if (n_frozen > 0 && mode == FROZEN_MERGE)
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		args[1];
		char	   *sql;

		owner_spi_begin(&spi);
		sql = merge_sql_cached(rollup);
		if (sql == NULL)
		{
			/* with a snapshot taken after the invalidations accepted */
			args[0] = Int32GetDatum(rollup);
			PushActiveSnapshot(GetLatestSnapshot());
			rc = SPI_execute_with_args("SELECT perfkit._rollup_merge_sql($1)",
									   1, argtypes, args, NULL, true, 1);
			PopActiveSnapshot();
			if (rc != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "could not build the merge of rollup %d", rollup);
			sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			if (sql == NULL)
				elog(ERROR, "could not build the merge of rollup %d", rollup);
			merge_sql_remember(rollup, sql);
		}

		/* As the rollup's owner, restricted: her measures, her state table. */
		SetUserIdAndSecContext(rollup_owner, spi.save_sec_context | SECURITY_RESTRICTED_OPERATION);
		if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
			elog(ERROR, "could not register the transition table of rollup %d", rollup);
		{
			Oid			mtypes[1] = {TIMESTAMPTZOID};
			Datum		margs[1];

			margs[0] = TimestampTzGetDatum(frozen_before);
			rc = SPI_execute_with_args(sql, 1, mtypes, margs, NULL, false, 0);
			if (rc < 0)
				elog(ERROR, "could not merge late rows into rollup %d: %s", rollup,
					 SPI_result_code_string(rc));
		}
	}

	owner_spi_end(&spi);
	return frozen_before;
}

/*
 * TRUNCATE: the rows are still there before it runs.  Their buckets
 * (those not frozen: truncating frozen rows retires them) are logged.
 * They are read as the table's owner, restricted (the truncating role may lack
 * SELECT), with our own statement: only the time column's bucket.
 */
static void
collect_truncate(Relation rel, const CaptureArgs *a, Oid type, Touched *t)
{
	Oid			owner = rel->rd_rel->relowner;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	char	   *sql;
	char	   *col = (char *) quote_identifier(a->column);
	char	   *qrel = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel));

	if (type == TIMESTAMPTZOID)
		sql = psprintf("SELECT DISTINCT pg_catalog.date_trunc($1, %s, $2) FROM ONLY %s "
					   "WHERE pg_catalog.isfinite(%s)", col, qrel, col);
	else
		sql = psprintf("SELECT DISTINCT pg_catalog.timezone($2, pg_catalog.date_trunc($1, %s::pg_catalog.timestamp)) "
					   "FROM ONLY %s WHERE pg_catalog.isfinite(%s)", col, qrel, col);

	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	{
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		args[2];

		args[0] = CStringGetTextDatum(a->unit);
		args[1] = CStringGetTextDatum(a->zone);
		if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the buckets of \"%s\"", RelationGetRelationName(rel));
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(t->buckets));

			touched_add(t, DatumGetTimestampTz(v), true);
			MemoryContextSwitchTo(old);
		}
	}
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
}

/*
 * Log what collect() found (t) for rollup `rollup`, and note in the set
 * of logged buckets which (sub)transaction logged each.  Nothing new to
 * log, and no bucket frozen as far as this transaction knows: no query at
 * all.
 */
static void
capture_finish(TriggerData *trigdata, Trigger *trigger, const CaptureArgs *a, HTAB *set,
			   Touched *t, FrozenMode mode)
{
	int32		rollup = a->rollup;
	TimestampTz frozen_before;
	bool		frozen_known;
	bool		any_frozen = false;
	TransactionId xid;

	if (t->n == 0)
		return;
	AcceptInvalidationMessages();	/* see def_get() */
	frozen_known = frozen_lookup(rollup, &frozen_before);
	if (frozen_known)
		for (int i = 0; i < t->n; i++)
			if (t->buckets[i] < frozen_before)
				any_frozen = true;
	if (t->n_fresh == 0 && frozen_known && !any_frozen)
		return;

	(void) log_changes(trigdata, trigdata->tg_relation, trigger, a, t, mode);

	xid = GetCurrentTransactionId();
	for (int i = 0; i < t->n; i++)
	{
		LoggedKey	key;
		LoggedEntry *entry;

		if (!t->fresh[i])
			continue;
		memset(&key, 0, sizeof(key));
		key.rollup = rollup;
		key.bucket = t->buckets[i];
		entry = hash_search(set, &key, HASH_FIND, NULL);
		if (entry)
			entry->xid = xid;
	}
}

/*
 * Row mode: a BEFORE INSERT ... FOR EACH ROW trigger.
 *
 * What a statement-level trigger reads from its transition table, a row
 * trigger is handed row by row, and the transition table is what costs
 * an INSERT most (every row copied into a tuplestore, an event queued and
 * fired after the statement).  So when nothing can change a row after the
 * capture saw it, inserts are captured by a row trigger fired before the
 * row is written (rollup.sql, perfkit._rollup_insert_by_row(), says when:
 * no frozen bucket, the time column not generated, no enabled BEFORE ROW
 * INSERT trigger of the user's firing after ours).  Seen before it is
 * written, a row may still not be written (ON CONFLICT DO NOTHING, a later
 * trigger returning NULL, an error): logging its bucket then makes a
 * refresh recompute a bucket for nothing, which is harmless, while merging
 * it into a frozen bucket would not be; hence no row mode for a rollup
 * with frozen buckets (a frozen bucket met here anyway is counted as
 * inexact, never merged).
 *
 * What the statement trigger works out once per statement is kept in
 * fn_extra, which lives as long as the statement's executor state: the
 * time column, the watermark it skips from, and the last row's bucket
 * with the range of values that fall into it.  A row at the head costs a
 * column read and two comparisons; a late row's bucket is logged once per
 * statement (and once per transaction, by the set of logged buckets).
 */
typedef struct RowCapture
{
	LocalTransactionId lxid;	/* the transaction this was set up in */
	CaptureArgs args;
	int			attno;
	Oid			type;
	bool		registered;		/* skip_from is the registered bound */
	TimestampTz skip_from;		/* buckets from here on: not logged */
	bool		have_range;		/* [lo, hi) holds values of bucket */
	int64		lo;
	int64		hi;
	bool		checked;		/* capture_check() passed in this statement */
	TimestampTz frozen_before;	/* what it read */
} RowCapture;

/*
 * Log one late bucket from a row trigger: once per transaction (the set of
 * logged buckets), after the trigger's check (once per statement).  A
 * frozen bucket cannot come here (row mode is for rollups without one);
 * should it, it is counted as inexact, never merged.
 */
static void
row_log_bucket(TriggerData *trigdata, RowCapture *rc, TimestampTz bucket)
{
	HTAB	   *set = logged_set();
	LoggedKey	key;
	LoggedEntry *entry;
	bool		found;
	Datum		d = TimestampTzGetDatum(bucket);

	memset(&key, 0, sizeof(key));
	key.rollup = rc->args.rollup;
	key.bucket = bucket;
	entry = hash_search(set, &key, HASH_ENTER, &found);
	if (found && entry->lxid == MyProc->lxid && TransactionIdIsValid(entry->xid) &&
		TransactionIdIsCurrentTransactionId(entry->xid))
		return;					/* logged earlier in this transaction */
	entry->lxid = MyProc->lxid;
	entry->xid = InvalidTransactionId;
	entry->call = 0;			/* no statement call's (capture_calls > 0) */

	if (!rc->checked)
	{
		OwnerSpi	spi = {false};
		Oid			owner;

		capture_check(trigdata->tg_relation, trigdata->tg_trigger, &rc->args, &spi,
					  &rc->frozen_before, &owner);
		owner_spi_end(&spi);
		rc->checked = true;
	}
	if (bucket < rc->frozen_before)
	{
		Touched		t;
		bool		fresh = true;

		t.buckets = &bucket;
		t.fresh = &fresh;
		t.n = t.n_fresh = t.cap = 1;
		(void) log_changes(trigdata, trigdata->tg_relation, trigdata->tg_trigger, &rc->args,
						   &t, FROZEN_COUNT);
	}
	else
		log_direct(rc->args.rollup, &d, 1);
	entry->xid = GetCurrentTransactionId();
}

/*
 * The published watermark each rollup had when this backend last read it.
 * Published values only grow (src/rollup/watermarks.c), so a bucket below
 * an old value is below the current one too: such a row is late, and is
 * logged without reading shared memory; for one at or past it the
 * registration reads the current value anyway.  (A value kept from a
 * rollup of the same id in an earlier life of the extension can only make
 * rows logged that need not be.)
 */
#define SEEN_WATERMARKS	16

static struct
{
	int32		rollup;
	TimestampTz watermark;
}			seen_watermark[SEEN_WATERMARKS];

static TimestampTz
seen_watermark_get(int32 rollup)
{
	int			i = (uint32) rollup % SEEN_WATERMARKS;
	TimestampTz w;

	if (seen_watermark[i].rollup == rollup && rollup != 0)
		return seen_watermark[i].watermark;
	if (!rollup_published_watermark(rollup, &w))
		return DT_NOEND;
	seen_watermark[i].rollup = rollup;
	seen_watermark[i].watermark = w;
	return w;
}

static void
seen_watermark_set(int32 rollup, TimestampTz w)
{
	int			i = (uint32) rollup % SEEN_WATERMARKS;

	if (w == DT_NOEND)
		return;
	seen_watermark[i].rollup = rollup;
	seen_watermark[i].watermark = w;
}

static Datum
capture_row_insert(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	RowCapture *rc = (RowCapture *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	HeapTuple	tuple = trigdata->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	Datum		value;
	bool		isnull;
	int64		v;
	TimestampTz bucket;

	if (rc == NULL || rc->lxid != MyProc->lxid)
	{
		if (rc == NULL)
		{
			rc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowCapture));
			capture_args(trigger, trigdata->tg_relation, &rc->args);
			rc->attno = SPI_fnumber(desc, rc->args.column);
			if (rc->attno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("time column \"%s\" of rollup %d no longer exists in table \"%s\"",
								rc->args.column, rc->args.rollup,
								RelationGetRelationName(trigdata->tg_relation)),
						 errhint("Drop the rollup with perfkit.drop_rollup().")));
			rc->type = TupleDescAttr(desc, rc->attno - 1)->atttypid;
			fcinfo->flinfo->fn_extra = rc;
		}
		rc->lxid = MyProc->lxid;
		rc->registered = false;
		rc->skip_from = seen_watermark_get(rc->args.rollup);
		rc->have_range = false;
		rc->checked = false;
	}

	/* the slot's values are already deformed, most of the time */
	value = slot_getattr(trigdata->tg_trigslot, rc->attno, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);	/* a row without a time has no bucket */
	if (rc->type == DATEOID)
		value = DirectFunctionCall1(date_timestamp, value);
	v = DatumGetInt64(value);
	if (rc->have_range && v >= rc->lo && v < rc->hi)
		return PointerGetDatum(tuple);	/* the last row's bucket: done */

	bucket = bucket_of(rc->args.rollup, value, rc->type == DATEOID ? TIMESTAMPOID : rc->type,
					   rc->args.unit, rc->args.zone);
	rc->have_range = false;		/* set once the bucket is handled */
	if (!TIMESTAMP_NOT_FINITE(v))
	{
		BucketCache *c = &bucket_cache[(uint32) rc->args.rollup % BUCKET_CACHE];

		rc->lo = c->lo;
		rc->hi = c->hi;
	}

	if (bucket >= rc->skip_from && !rc->registered)
	{
		/* the head: skip it, once registered, with the registered bound */
		if (rollup_writer_skip(rc->args.rollup, &rc->skip_from))
			seen_watermark_set(rc->args.rollup, rc->skip_from);
		else
			rc->skip_from = DT_NOEND;
		rc->registered = true;
	}
	if (bucket < rc->skip_from)
	{
		/*
		 * A late row (or one written while a refresh advances): log it.  No
		 * invalidation to accept for our purpose: what could matter (a
		 * freeze, the table replaced by a conversion) changes the table's
		 * triggers or the table itself, under a lock that waits for this
		 * transaction, and whatever committed before was accepted when the
		 * transaction first locked the table.
		 */
		row_log_bucket(trigdata, rc, bucket);
	}
	rc->have_range = !TIMESTAMP_NOT_FINITE(v);
	return PointerGetDatum(tuple);
}

/*
 * perfkit._rollup_capture() trigger
 *	 arguments: rollup id (and, on triggers made before 1.0's row mode, its
 *	 time column, granularity and time zone: see capture_args())
 *
 * Fired as a statement-level AFTER INSERT, UPDATE or DELETE trigger with
 * transition tables (every write through SQL, COPY and MERGE included), a
 * row-level BEFORE INSERT trigger (row mode, capture_row_insert()), a
 * statement-level BEFORE TRUNCATE trigger (the buckets of the rows about
 * to go), or a row-level AFTER trigger enabled for replicas only (a
 * logical replication apply worker fires no statement triggers).
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
	Touched		t;
	bool		skipped = false;
	bool		truncate;
	bool		by_row;
	TimestampTz skip_from = DT_NOEND;
	CaptureArgs a;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_capture() must be called as a trigger")));
	truncate = TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event);
	by_row = TRIGGER_FIRED_FOR_ROW(trigdata->tg_event);
	trigger = trigdata->tg_trigger;
	if (by_row && TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
		TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		return capture_row_insert(fcinfo, trigdata);
	if (truncate ? !TRIGGER_FIRED_BEFORE(trigdata->tg_event)
		: !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_capture() must be an AFTER trigger, BEFORE INSERT ... FOR EACH ROW, or BEFORE TRUNCATE")));

	capture_args(trigger, trigdata->tg_relation, &a);
	rollup = a.rollup;
	desc = RelationGetDescr(trigdata->tg_relation);
	attno = SPI_fnumber(desc, a.column);
	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("time column \"%s\" of rollup %d no longer exists in table \"%s\"",
						a.column, rollup,
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Drop the rollup with perfkit.drop_rollup().")));
	type = TupleDescAttr(desc, attno - 1)->atttypid;

	t.cap = 16;
	t.n = 0;
	t.n_fresh = 0;
	t.buckets = palloc(sizeof(TimestampTz) * t.cap);
	t.fresh = palloc(sizeof(bool) * t.cap);

	if (truncate)
	{
		collect_truncate(trigdata->tg_relation, &a, type, &t);
		if (t.n > 0)
			(void) log_changes(trigdata, trigdata->tg_relation, trigger, &a, &t,
							   FROZEN_RETIRE);
		return PointerGetDatum(NULL);
	}

	/*
	 * Buckets at or past the published watermark need no log row once this
	 * transaction is registered as skipping (see src/rollup/watermarks.c).
	 * The registration is needed only to skip: a first pass reads the
	 * published value without it, and a statement whose buckets are all
	 * below it (late rows) logs them all without registering.  Published
	 * values only grow, so what is below the first value is below the one
	 * read after registering too; when the two differ, or a refresh is
	 * advancing, the buckets are collected again with the right bound.
	 */
	if (!rollup_published_watermark(rollup, &skip_from))
		skip_from = DT_NOEND;
	set = logged_set();
	for (int pass = 0;; pass++)
	{
		TimestampTz unlocked_from = skip_from;

		capture_calls++;
		t.n = 0;
		t.n_fresh = 0;
		skipped = false;
		if (by_row)
		{
			if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
				collect_tuple(trigdata->tg_newtuple, desc, attno, type, a.unit,
							  a.zone, rollup, set, skip_from, &skipped, &t);
			collect_tuple(trigdata->tg_trigtuple, desc, attno, type, a.unit,
						  a.zone, rollup, set, skip_from, &skipped, &t);
		}
		else
		{
			collect(trigdata->tg_oldtable, desc, attno, type, a.unit,
					a.zone, rollup, set, skip_from, &skipped, &t);
			collect(trigdata->tg_newtable, desc, attno, type, a.unit,
					a.zone, rollup, set, skip_from, &skipped, &t);
		}
		if (!skipped || pass > 0)
			break;

		/* Something skipped: only once registered, and with its bound. */
		if (!rollup_writer_skip(rollup, &skip_from))
			skip_from = DT_NOEND;
		if (skip_from == unlocked_from)
			break;				/* the same bound: the same buckets */
	}

	capture_finish(trigdata, trigger, &a, set, &t,
				   (!by_row && trigdata->tg_oldtable == NULL &&
					trigdata->tg_newtable != NULL) ? FROZEN_MERGE : FROZEN_COUNT);
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

/*
 * Authorizations and retirements, for this transaction only.
 *
 * perfkit._rollup_authorize(id) checks, as the caller, that she has the
 * privileges of rollup id's owner (run from a function that is not
 * SECURITY DEFINER, so the current user is the caller) and remembers it
 * until the transaction ends; the SECURITY DEFINER writers of the
 * catalogs that serve DDL and freezing (perfkit._rollup_require_authorized)
 * accept only such a rollup, as refresh's accept only the one being
 * refreshed.
 *
 * perfkit._rollup_note_retire(tbl, range_end) is called by
 * perfkit.rollup_blockers() when no rollup keeps raw rows of tbl before
 * range_end: partition retention is about to detach that partition, and
 * the DETACH handler (perfkit._rollup_capture_tree) then freezes instead
 * of recording the rows as deleted.
 */
#define NOTED_MAX	16

static LocalTransactionId noted_lxid = InvalidLocalTransactionId;
static int32 authorized[NOTED_MAX];
static int	n_authorized = 0;
static Oid	retire_rel[NOTED_MAX];
static TimestampTz retire_end[NOTED_MAX];
static int	n_retire = 0;

static void
noted_reset_if_new(void)
{
	if (noted_lxid != MyProc->lxid)
	{
		noted_lxid = MyProc->lxid;
		n_authorized = 0;
		n_retire = 0;
	}
}

PG_FUNCTION_INFO_V1(perfkit_rollup_authorize);
PG_FUNCTION_INFO_V1(perfkit_rollup_authorized);
PG_FUNCTION_INFO_V1(perfkit_rollup_note_retire);
PG_FUNCTION_INFO_V1(perfkit_rollup_retire_approved);

Datum
perfkit_rollup_authorize(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);

	(void) rollup_check_owner(id);
	noted_reset_if_new();
	for (int i = 0; i < n_authorized; i++)
		if (authorized[i] == id)
			PG_RETURN_VOID();
	if (n_authorized == NOTED_MAX)
	{
		memmove(&authorized[0], &authorized[1], sizeof(int32) * (NOTED_MAX - 1));
		n_authorized--;
	}
	authorized[n_authorized++] = id;
	PG_RETURN_VOID();
}

Datum
perfkit_rollup_authorized(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);

	noted_reset_if_new();
	for (int i = 0; i < n_authorized; i++)
		if (authorized[i] == id)
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

Datum
perfkit_rollup_note_retire(PG_FUNCTION_ARGS)
{
	Oid			rel = PG_GETARG_OID(0);
	TimestampTz end = PG_GETARG_TIMESTAMPTZ(1);

	noted_reset_if_new();
	if (n_retire == NOTED_MAX)
	{
		memmove(&retire_rel[0], &retire_rel[1], sizeof(Oid) * (NOTED_MAX - 1));
		memmove(&retire_end[0], &retire_end[1], sizeof(TimestampTz) * (NOTED_MAX - 1));
		n_retire--;
	}
	retire_rel[n_retire] = rel;
	retire_end[n_retire] = end;
	n_retire++;
	PG_RETURN_VOID();
}

/* The end of the last range of tbl noted for retirement, or NULL. */
Datum
perfkit_rollup_retire_approved(PG_FUNCTION_ARGS)
{
	Oid			rel = PG_GETARG_OID(0);

	noted_reset_if_new();
	for (int i = n_retire - 1; i >= 0; i--)
		if (retire_rel[i] == rel)
			PG_RETURN_TIMESTAMPTZ(retire_end[i]);
	PG_RETURN_NULL();
}

/*
 * perfkit._rollup_ddl_nesting(delta int) RETURNS int
 *
 * How deep this transaction is inside perfkit._rollup_capture_tree(),
 * after adding delta: the ALTER TABLE statements it runs fire the event
 * trigger again, which must then do nothing (the outer call is already
 * bringing the tree in line).  A new transaction starts at 0; the caller
 * undoes its increment on error too.
 */
static LocalTransactionId nesting_lxid = InvalidLocalTransactionId;
static int	nesting = 0;

PG_FUNCTION_INFO_V1(perfkit_rollup_ddl_nesting);

Datum
perfkit_rollup_ddl_nesting(PG_FUNCTION_ARGS)
{
	if (nesting_lxid != MyProc->lxid)
	{
		nesting_lxid = MyProc->lxid;
		nesting = 0;
	}
	nesting = Max(0, nesting + PG_GETARG_INT32(0));
	PG_RETURN_INT32(nesting);
}
