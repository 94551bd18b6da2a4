/*-------------------------------------------------------------------------
 *
 * watermarks.c
 *	  Rollup watermarks published in shared memory, so that writers at the
 *	  head of a table log nothing.
 *
 * A change in a bucket at or past a rollup's watermark needs no change
 * row: advancing the watermark later reads that bucket from the table
 * anyway, provided the advance cannot miss a row still in flight.  The
 * advance lock gives that guarantee.  It is a heavyweight lock on the
 * object (perfkit.rollup_defs, rollup id, sub-id 1):
 *
 *	- the capture trigger takes it in ShareLock mode, without waiting and
 *	  until its transaction ends, then reads the published watermark here;
 *	  buckets at or past it are not logged.  When the lock is not free (a
 *	  refresh is advancing, or waits to) or nothing is published, every
 *	  bucket is logged, as without this file.
 *	- a refresh takes it in ExclusiveLock mode before it advances, so its
 *	  snapshot sees every row whose writer skipped logging, and publishes
 *	  the new watermark while still holding it.
 *
 * The published value must never be below the committed watermark, or a
 * late row in a materialized bucket would go unlogged.  So a value only
 * ever grows, and a refresh publishes what it advanced to before it
 * commits, while still holding the lock.  A value above the committed
 * watermark is harmless: a refresh that publishes and then rolls back
 * leaves buckets between the two unmaterialized, and the next advance
 * reads them.  Nothing needs
 * to survive a restart: an empty table means "log everything" until the
 * next refresh publishes again.
 *
 * The table is a fixed open-addressing hash of ROLLUP_SLOTS entries keyed
 * by (database, rollup id); a full table publishes nothing more, which
 * costs only log rows.  Lock order: PERFKIT_LOCK_ROLLUPS is a leaf,
 * taken after the advance lock, held for a probe or an update.
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
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/shmem.h"
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
} RollupSlot;

static RollupSlot *slots = NULL;

PG_FUNCTION_INFO_V1(perfkit_rollup_publish);
PG_FUNCTION_INFO_V1(perfkit_rollup_advance_lock);

Size
rollup_shmem_size(void)
{
	return mul_size(ROLLUP_SLOTS, sizeof(RollupSlot));
}

void
rollup_shmem_init(void)
{
	bool		found;

	slots = ShmemInitStruct("perfkit rollup watermarks", rollup_shmem_size(), &found);
	if (!found)
		memset(slots, 0, rollup_shmem_size());
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

/* The advance lock's tag for rollup id of this database. */
void
rollup_advance_locktag(LOCKTAG *tag, int32 id)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, rollup_defs_oid(), (uint32) id, 1);
}

/*
 * The published watermark of rollup id, if any.  The caller holds the
 * advance lock in ShareLock mode.
 */
bool
rollup_published_watermark(int32 id, TimestampTz *watermark)
{
	uint32		h = slot_hash(MyDatabaseId, id);
	bool		found = false;

	if (slots == NULL)
		return false;
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_ROLLUPS), LW_SHARED);
	for (int i = 0; i < ROLLUP_SLOTS; i++)
	{
		RollupSlot *s = &slots[(h + i) % ROLLUP_SLOTS];

		if (s->dbid == InvalidOid)
			break;
		if (s->dbid == MyDatabaseId && s->id == id)
		{
			*watermark = s->watermark;
			found = true;
			break;
		}
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_ROLLUPS));
	return found;
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
 * Take rollup id's advance lock in ExclusiveLock mode until the end of the
 * transaction, waiting for writers that skipped logging (lock_timeout
 * applies).  Only a role with the privileges of the rollup's owner may.
 */
Datum
perfkit_rollup_advance_lock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	/* Held by another role, it would keep the owner's refresh waiting. */
	(void) rollup_check_owner(PG_GETARG_INT32(0));
	rollup_advance_locktag(&tag, PG_GETARG_INT32(0));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}
