/*-------------------------------------------------------------------------
 *
 * watermarks.c
 *	  Rollup watermarks published in shared memory, so that writers at the
 *	  head of a table log nothing, and the registry of writers that relied
 *	  on them.
 *
 * A change in a bucket at or past a rollup's watermark needs no change
 * row: advancing the watermark later reads that bucket from the table
 * anyway, provided the advance cannot miss a row still in flight.  The
 * writer registry gives that guarantee without a lock taken by writers:
 *
 *	- a writer that is about to skip logging for rollup R (the capture
 *	  trigger, src/rollup/capture.c) first writes R into its backend's
 *	  entry, with its current local transaction id, then (after a full
 *	  memory barrier) reads R's "advancing" count and the published
 *	  watermark.  When a refresh is advancing R, or nothing is published,
 *	  it logs every bucket, as without this file.
 *	- a refresh about to advance R (perfkit._rollup_advance_lock) counts
 *	  itself in R's "advancing" (an atomic increment, a full barrier), then
 *	  reads every backend's entry and waits for the virtual transaction of
 *	  each that names R (VirtualXactLock, as CREATE INDEX CONCURRENTLY
 *	  waits for old snapshots: a heavyweight lock wait, so lock_timeout
 *	  applies, the deadlock detector sees it, pg_locks shows it, and a
 *	  transaction that was prepared meanwhile is waited for through its
 *	  xid).  Its snapshot, taken afterwards, sees every row whose writer
 *	  skipped logging.  It publishes the new watermark before it commits
 *	  and leaves "advancing" when its transaction ends.
 *
 * Either the refresh finds the writer's entry, or the writer sees the
 * refresh's count (both sides store, then fully fence, then load), so no
 * row is both unlogged and missed.
 *
 * A prepared transaction outlives its backend's entry (the backend's next
 * transaction overwrites it) and a restart (the registry is in memory).
 * So a writer that registered takes, when it prepares, the rollup's
 * advance lock (a heavyweight object lock, perfkit.rollup_defs, rollup
 * id, sub-id 1; id 0 for "every rollup") in ShareLock, which PREPARE
 * hands over to the prepared transaction and which survives a restart;
 * and every refresh, before it advances, takes the advance locks of its
 * rollup and of id 0 in ExclusiveLock and releases them at once: it waits
 * for every prepared writer, whatever became of the entry.  Only
 * prepared writers take a lock.  A writer registers once per
 * transaction and rollup: a second statement of the transaction costs a
 * probe of its own entry.  Entries are never cleared: one naming an ended
 * transaction makes the refresh wait for nothing.
 *
 * The published value must never be below the committed watermark, or a
 * late row in a materialized bucket would go unlogged.  So a value only
 * ever grows, and a refresh publishes what it advanced to before it
 * commits, while still counted as advancing.  A value above the committed
 * watermark is harmless: a refresh that publishes and then rolls back
 * leaves buckets between the two unmaterialized, and the next advance
 * reads them.  Nothing needs to survive a restart: an empty table means
 * "log everything" until the next refresh publishes again.
 *
 * The watermarks are a fixed open-addressing hash of ROLLUP_SLOTS entries
 * keyed by (database, rollup id); a full table publishes nothing more,
 * which costs only log rows.  The registry has one entry per backend
 * (MaxBackends + 1, indexed by BackendId), written only by its backend
 * under a change counter (a sequence lock: odd while being written) and
 * read by refreshes, who retry a read that overlapped a write.  Lock
 * order: PERFKIT_LOCK_ROLLUPS is a leaf, held for a probe or an update;
 * the refresh waits for writers holding no LWLock.
 *
 * src/rollup/watermarks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "nodes/makefuncs.h"
#include "port/atomics.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/inval.h"
#include "utils/timestamp.h"

#include "perfkit/rollup.h"
#include "perfkit/shmem.h"

#define ROLLUP_SLOTS	1024

typedef struct RollupSlot
{
	Oid			dbid;			/* InvalidOid: never used */
	int32		id;				/* -1 with a valid dbid: removed */
	TimestampTz watermark;
	pg_atomic_uint32 advancing; /* refreshes advancing it now */
} RollupSlot;

/* Rollups one entry names; a transaction skipping for more names "all". */
#define WRITER_IDS		8

typedef struct RollupWriter
{
	pg_atomic_uint32 change;	/* odd while its backend writes it */
	Oid			dbid;
	LocalTransactionId lxid;	/* the transaction that skipped */
	int			n;				/* ids[0..n) */
	bool		all;			/* more than WRITER_IDS: every rollup */
	int32		ids[WRITER_IDS];
} RollupWriter;

static RollupSlot *slots = NULL;
static RollupWriter *writers = NULL;	/* [MaxBackends + 1] */

/* The slots this backend's transaction counts itself advancing in. */
static List *advancing_slots = NIL;

PG_FUNCTION_INFO_V1(perfkit_rollup_publish);
PG_FUNCTION_INFO_V1(perfkit_rollup_advance_lock);

static Size
writers_size(void)
{
	return mul_size(MaxBackends + 1, sizeof(RollupWriter));
}

Size
rollup_shmem_size(void)
{
	return add_size(mul_size(ROLLUP_SLOTS, sizeof(RollupSlot)), writers_size());
}

void
rollup_shmem_init(void)
{
	bool		found;

	slots = ShmemInitStruct("perfkit rollup watermarks",
							mul_size(ROLLUP_SLOTS, sizeof(RollupSlot)), &found);
	if (!found)
	{
		memset(slots, 0, mul_size(ROLLUP_SLOTS, sizeof(RollupSlot)));
		for (int i = 0; i < ROLLUP_SLOTS; i++)
			pg_atomic_init_u32(&slots[i].advancing, 0);
	}
	writers = ShmemInitStruct("perfkit rollup writers", writers_size(), &found);
	if (!found)
	{
		memset(writers, 0, writers_size());
		for (int i = 0; i <= MaxBackends; i++)
			pg_atomic_init_u32(&writers[i].change, 0);
	}
}

static uint32
slot_hash(Oid dbid, int32 id)
{
	return ((uint32) dbid * 2654435761u) ^ ((uint32) id * 40503u);
}

/*
 * The OID of perfkit.rollup_defs, looked up once per backend: the capture
 * trigger needs it on every statement.  A relcache invalidation of that
 * table (dropping the extension sends one) forgets it.
 */
static Oid	defs_oid = InvalidOid;
static bool defs_callback = false;

static void
defs_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == defs_oid)
		defs_oid = InvalidOid;
}

Oid
rollup_defs_oid(void)
{
	if (!OidIsValid(defs_oid))
	{
		if (!defs_callback)
		{
			CacheRegisterRelcacheCallback(defs_invalidate, (Datum) 0);
			defs_callback = true;
		}
		defs_oid = RangeVarGetRelid(makeRangeVar("perfkit", "rollup_defs", -1), NoLock, false);
	}
	return defs_oid;
}

/*
 * The slot of rollup id of this database, or NULL.  The caller holds
 * PERFKIT_LOCK_ROLLUPS.
 */
static RollupSlot *
slot_find(int32 id)
{
	uint32		h = slot_hash(MyDatabaseId, id);

	for (int i = 0; i < ROLLUP_SLOTS; i++)
	{
		RollupSlot *s = &slots[(h + i) % ROLLUP_SLOTS];

		if (s->dbid == InvalidOid)
			break;
		if (s->dbid == MyDatabaseId && s->id == id)
			return s;
	}
	return NULL;
}

/*
 * The published watermark of rollup id, if any, read without registering:
 * a first look that tells the capture trigger whether it would skip at all.
 */
bool
rollup_published_watermark(int32 id, TimestampTz *watermark)
{
	RollupSlot *s;
	bool		found = false;

	if (slots == NULL)
		return false;
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_ROLLUPS), LW_SHARED);
	s = slot_find(id);
	if (s != NULL)
	{
		*watermark = s->watermark;
		found = true;
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_ROLLUPS));
	return found;
}

/*
 * Register the current transaction as one that skips logging for rollup
 * id, then read the published watermark it may skip from.  False: log
 * everything (a refresh is advancing the rollup, or nothing is published).
 * The registration stays for the rest of the transaction either way.
 */
bool
rollup_writer_skip(int32 id, TimestampTz *watermark)
{
	RollupWriter *w;
	LocalTransactionId lxid = MyProc->lxid;
	bool		known;
	RollupSlot *s;
	bool		found = false;

	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return false;
	w = &writers[MyBackendId];
	known = w->lxid == lxid && w->dbid == MyDatabaseId;
	for (int i = 0; known && !w->all && i < w->n; i++)
		if (w->ids[i] == id)
			goto registered;
	if (!known || !w->all)
	{
		pg_atomic_fetch_add_u32(&w->change, 1);		/* odd: being written */
		if (!known)
		{
			w->dbid = MyDatabaseId;
			w->lxid = lxid;
			w->n = 0;
			w->all = false;
		}
		if (w->n < WRITER_IDS)
			w->ids[w->n++] = id;
		else
			w->all = true;
		pg_atomic_fetch_add_u32(&w->change, 1);		/* even: written */
	}
registered:

	/*
	 * Store before load: a refresh that counted itself advancing after this
	 * point finds the entry; one that did before is seen below.
	 */
	pg_memory_barrier();
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_ROLLUPS), LW_SHARED);
	s = slot_find(id);
	if (s != NULL && pg_atomic_read_u32(&s->advancing) == 0)
	{
		*watermark = s->watermark;
		found = true;
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_ROLLUPS));
	return found;
}

/*
 * Backend b's entry as a consistent copy (retried while its backend writes
 * it).
 */
static void
writer_read(int b, RollupWriter *copy)
{
	RollupWriter *w = &writers[b];

	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&w->change);

		if ((before & 1) == 0)
		{
			pg_read_barrier();
			copy->dbid = w->dbid;
			copy->lxid = w->lxid;
			copy->n = Min(w->n, WRITER_IDS);
			copy->all = w->all;
			memcpy(copy->ids, w->ids, sizeof(copy->ids));
			pg_read_barrier();
			if (pg_atomic_read_u32(&w->change) == before)
				return;
		}
		pg_spin_delay();
	}
}

/*
 * End of transaction: this backend's refreshes stop advancing.
 */
static void
advance_locktag(LOCKTAG *tag, int32 id)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, rollup_defs_oid(), (uint32) id, 1);
}

void
rollup_xact(XactEvent event)
{
	ListCell   *lc;

	if (event == XACT_EVENT_PRE_PREPARE && writers != NULL &&
		MyBackendId != InvalidBackendId && MyBackendId <= MaxBackends)
	{
		RollupWriter *w = &writers[MyBackendId];

		if (w->lxid == MyProc->lxid && w->dbid == MyDatabaseId)
		{
			LOCKTAG		tag;

			/* Handed over to the prepared transaction (see above). */
			if (w->all)
			{
				advance_locktag(&tag, 0);
				(void) LockAcquire(&tag, ShareLock, false, false);
			}
			for (int i = 0; !w->all && i < w->n; i++)
			{
				advance_locktag(&tag, w->ids[i]);
				(void) LockAcquire(&tag, ShareLock, false, false);
			}
		}
	}
	if (advancing_slots == NIL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, advancing_slots)
		if (lfirst(lc) != NULL)
			pg_atomic_fetch_sub_u32(&((RollupSlot *) lfirst(lc))->advancing, 1);
	list_free(advancing_slots);
	advancing_slots = NIL;
}

/*
 * perfkit._rollup_publish(id int) RETURNS void
 *
 * Publish rollup id's watermark as the calling transaction sees it in
 * perfkit.rollup_defs (a refresh sees its own advance), never lowering
 * the published value; forget it when the rollup is gone.  Reading the
 * value here rather than taking it as an argument means no caller can
 * publish a watermark below the committed one.
 */
Datum
perfkit_rollup_publish(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		forget = true;
	TimestampTz watermark = 0;
	uint32		h = slot_hash(MyDatabaseId, id);
	RollupSlot *mine = NULL;
	RollupSlot *free_slot = NULL;

	perfkit_require_preload();
	args[0] = Int32GetDatum(id);
	SPI_connect();
	if (SPI_execute_with_args("SELECT watermark FROM perfkit.rollup_defs "
							  "WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the watermark of rollup %d", id);
	if (SPI_processed == 1)
	{
		bool		isnull;

		watermark = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
		{
			SPI_finish();
			PG_RETURN_VOID();	/* nothing materialized: nothing to say */
		}
		forget = false;
	}
	SPI_finish();

	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_ROLLUPS), LW_EXCLUSIVE);
	for (int i = 0; i < ROLLUP_SLOTS; i++)
	{
		RollupSlot *s = &slots[(h + i) % ROLLUP_SLOTS];

		if (s->dbid == MyDatabaseId && s->id == id)
		{
			mine = s;
			break;
		}
		if (free_slot == NULL && (s->dbid == InvalidOid || s->id == -1))
			free_slot = s;
		if (s->dbid == InvalidOid)
			break;
	}
	if (mine != NULL && forget)
		mine->id = -1;			/* removed: probes go on past it */
	else if (mine != NULL)
		mine->watermark = Max(mine->watermark, watermark);
	else if (!forget && free_slot != NULL)
	{
		free_slot->dbid = MyDatabaseId;
		free_slot->id = id;
		free_slot->watermark = watermark;
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_ROLLUPS));
	PG_RETURN_VOID();
}

/*
 * perfkit._rollup_advance_lock(id int) RETURNS void
 *
 * Before a refresh advances rollup id: count this transaction as advancing
 * it until the transaction ends, then wait for every transaction that
 * registered as skipping logging for it, then for prepared writers (the
 * advance locks), lock_timeout bounding it all.  Only a role with the
 * privileges of the rollup's owner may: it keeps writers logging.
 * Without a published watermark no writer of this server's life skips
 * (only refreshes publish, and they hold the refresh lock): no entry to
 * wait for, but prepared writers may be older than the restart.
 */
/*
 * lock_timeout bounds the whole advance, not each of its waits: before
 * each, lock_timeout is set to what is left until deadline (0: no limit,
 * lock_timeout was 0), restored by timeout_end() or by the transaction's
 * abort.
 */
static int
timeout_begin(TimestampTz deadline)
{
	int			nestlevel;
	char		buf[32];
	long		ms;

	if (deadline == 0)
		return -1;
	ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	snprintf(buf, sizeof(buf), "%ld", Max(ms, 1));
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

static void
timeout_end(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/* Take and at once release the advance lock of id in ExclusiveLock. */
static void
advance_lock_pass(int32 id)
{
	LOCKTAG		tag;

	advance_locktag(&tag, id);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	LockRelease(&tag, ExclusiveLock, false);
}

Datum
perfkit_rollup_advance_lock(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	RollupSlot *s;
	VirtualTransactionId *waits;
	int			nwaits = 0;
	TimestampTz deadline = 0;

	(void) rollup_check_owner(id);
	perfkit_require_preload();
	if (LockTimeout > 0)
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LockTimeout);

	/* The list cell first: the count is never dropped without being taken. */
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		advancing_slots = lappend(advancing_slots, NULL);
		MemoryContextSwitchTo(old);
	}
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_ROLLUPS), LW_SHARED);
	s = slot_find(id);
	if (s != NULL)
	{
		pg_atomic_fetch_add_u32(&s->advancing, 1);	/* a full barrier */
		llast(advancing_slots) = s;
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_ROLLUPS));

	waits = palloc(sizeof(VirtualTransactionId) * MaxBackends);
	for (int b = 1; s != NULL && b <= MaxBackends; b++)
	{
		RollupWriter copy;
		bool		names = false;

		if (b == MyBackendId)
			continue;			/* our own rows are in our snapshot */
		writer_read(b, &copy);
		if (copy.dbid != MyDatabaseId || !LocalTransactionIdIsValid(copy.lxid))
			continue;
		names = copy.all;
		for (int i = 0; !names && i < copy.n; i++)
			names = copy.ids[i] == id;
		if (names)
		{
			waits[nwaits].backendId = b;
			waits[nwaits].localTransactionId = copy.lxid;
			nwaits++;
		}
	}
	for (int i = 0; i < nwaits; i++)
	{
		int			nestlevel = timeout_begin(deadline);

		(void) VirtualXactLock(waits[i], true);
		timeout_end(nestlevel);
	}
	pfree(waits);

	/*
	 * Prepared writers, whose entries may be gone: they hold the advance
	 * lock in ShareLock.  Even without a published watermark (after a
	 * restart, a prepared writer may have skipped under the old one).
	 */
	{
		int			nestlevel = timeout_begin(deadline);

		advance_lock_pass(id);
		advance_lock_pass(0);
		timeout_end(nestlevel);
	}
	PG_RETURN_VOID();
}
