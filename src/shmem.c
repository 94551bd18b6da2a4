/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  perfkit's shared memory: what is requested, how it is attached, and
 *	  the order in which its locks are taken.
 *
 * Each subsystem owns one named shared structure ("perfkit core",
 * "perfkit jobs", ...) sized from its GUCs.  perfkit_shmem_request() adds
 * up their sizes and requests one LWLock tranche, "perfkit", with one lock
 * per structure (PerfkitLockId); perfkit_shmem_startup() attaches every
 * structure under AddinShmemInitLock and initialises it only when it was
 * not found, which is also what happens after a crash restart, since the
 * postmaster then builds shared memory anew.
 *
 * The core structure records when shared memory was initialised, so that
 * perfkit.status() (and the TAP tests) can tell a crash restart apart.
 *
 * Nothing in shared memory survives a restart: definitions that must live
 * on are kept in tables of schema perfkit.
 *
 * Lock order.  A backend holds at most one perfkit LWLock at a time; each
 * is a leaf: while holding it, no other LWLock or heavyweight lock is
 * taken, no SPI or catalog access runs.  Memory may be allocated under a
 * cache partition lock (an ERROR releases LWLocks); the jobs lock is held
 * only for copying a few fields.  Heavyweight locks (a job's single-flight
 * lock, table locks) are always taken before, never under, a perfkit
 * LWLock.  No spinlocks; counters are atomics, and the rollup writer
 * registry's per-backend entries are read under a change counter.
 *
 *	  tranche "perfkit":
 *	    PERFKIT_LOCK_JOBS		job run statistics (src/jobs.c)
 *	    PERFKIT_LOCK_ROLLUPS	published rollup watermarks
 *							(src/rollup/watermarks.c); a leaf, held for
 *							a probe or an update
 *	    PERFKIT_LOCK_WORKLOAD	the advisor's workload store
 *							(src/advisor/workload.c): held for one
 *							lookup and update per sampled statement, or
 *							to copy entries out; never with another lock
 *	  tranche "perfkit cache", one lock per partition:
 *	    partition locks		the result cache's store (src/cache/store.c);
 *							walks take them one at a time, never two
 *	  no lock: relation versions (src/cache/versions.c), atomics only
 *
 * Heavyweight locks.  Every heavyweight lock perfkit takes itself, room by
 * room, with its mode, how it waits and how long it is held.  "object (C,
 * id, sub)" is SET_LOCKTAG_OBJECT(this database, OID of table C, id, sub),
 * shown in pg_locks as locktype "object"; "advisory (db, a, b, f4)" is
 * SET_LOCKTAG_ADVISORY with field4 f4 (pg_advisory_lock() uses field4 1
 * and 2, in the current database only, so SQL can take none of these).
 * None is requested while a perfkit LWLock is held; the two LWLocks that
 * go with one are taken under it (PERFKIT_LOCK_JOBS under a run lock).
 *
 *	  jobs (src/jobs.c, src/schedule.c):
 *	    run lock		object (perfkit.job_registry, hash of the job's
 *							name, 0) ExclusiveLock, without waiting: a run
 *							that finds it taken is skipped with a NOTICE.
 *							Session-level when run_job runs non-atomically
 *							(handed over to its last transaction at the
 *							end), else until the transaction ends.  The
 *							outermost lock of a job: whatever the job's
 *							statement locks is taken under it.
 *	    schedule lock	object (perfkit.job_registry, hash of the job's
 *							name, 1) ExclusiveLock, waiting (lock_timeout
 *							applies), until the transaction ends.
 *							schedule() and unschedule() take one per job
 *							in job-name order (COLLATE "C") before they read
 *							or write cron.job; no job run takes it.
 *	  rollups (src/rollup/refresh.c, watermarks.c, capture.c; the SQL in
 *	  src/rollup/rollup.sql):
 *	    refresh lock	object (perfkit.rollup_defs, rollup id, 0)
 *							ExclusiveLock until the transaction ends
 *							(perfkit._rollup_lock).  Waited for (lock_timeout
 *							applies) by refresh_rollup(), drop_rollup() and
 *							perfkit._rollup_refresh (a no-op when held);
 *							taken without waiting by the rollups job's step,
 *							which skips a busy rollup.  One refresh of a
 *							rollup at a time.
 *	    advance wait	a refresh, after its refresh lock, before it
 *							advances the watermark
 *							(perfkit._rollup_advance_lock), waits with
 *							VirtualXactLock for the writers registered as
 *							skipping logging for the rollup, then takes and
 *							at once releases the advance locks below, all
 *							within one lock_timeout (10 s in the job when
 *							lock_timeout is 0; then the watermark advances
 *							next time).  See src/rollup/watermarks.c.
 *	    advance lock	object (perfkit.rollup_defs, rollup id, 1; id 0:
 *							every rollup).  ShareLock: a writer that
 *							registered, when it prepares its transaction
 *							(XACT_EVENT_PRE_PREPARE), handed over to the
 *							prepared transaction.  ExclusiveLock: the
 *							advance wait above, released at once.
 *	    tables			a refresh reads its source (ACCESS SHARE) and
 *							rewrites the state table (ROW EXCLUSIVE), as the
 *							rollup's owner.  create_rollup() and
 *							drop_rollup() create and drop the capture
 *							triggers (SHARE ROW EXCLUSIVE, ACCESS EXCLUSIVE
 *							on the source) and the rollup's relations, in
 *							the caller's transaction.
 *	  partitions, maintenance (src/partition/maintenance.c, layout.c,
 *	  drain.c, retention.c), one table at a time in a subtransaction: the
 *	  "partitions" job commits after each table; run_maintenance() and
 *	  partition_table() keep every lock until the caller's transaction
 *	  ends (a table that fails gives its locks back with its
 *	  subtransaction).  As the table's owner, each wait bounded by
 *	  lock_timeout = perfkit.partition_lock_timeout (55P03: the table is
 *	  "skipped" and retried), in this order:
 *	    0. a table with nothing to do since the last full run takes none
 *	       (the fast path, before lock_timeout is set, reads perfkit's
 *	       catalog, pg_inherits and the default partition's size only);
 *	    1. the parent ACCESS SHARE, to read its partitions;
 *	    2. when partitions are to be created or the default partition
 *	       drained: with a default partition, the parent EXCLUSIVE, then
 *	       the default partition ACCESS EXCLUSIVE; without one, the parent
 *	       SHARE UPDATE EXCLUSIVE (part_lock_relation, LockRelationOid);
 *	    3. each new partition: CREATE TABLE, filled from the default
 *	       partition, then ATTACH PARTITION (SHARE UPDATE EXCLUSIVE on the
 *	       parent, ACCESS EXCLUSIVE on the new table and the default);
 *	    4. retention, only when a partition is to be detached: the parent
 *	       ACCESS EXCLUSIVE, then DETACH, DROP or SET SCHEMA of each;
 *	    5. then, as the extension's owner, the table's row of
 *	       perfkit.partition_config (UPDATE) in a subtransaction of its
 *	       own with the same lock_timeout (record_nowait): a row its owner
 *	       holds locked is not waited for.
 *	  partitions, conversion (src/partition/convert_worker.c, convert.c):
 *	    table lock		advisory (this database, table OID, 0, 5)
 *							ExclusiveLock without waiting (55P03):
 *							session-level for convert_to_partitioned(),
 *							until the transaction ends for
 *							convert_to_partitioned_abort()
 *							(part_conversion_lock).  One call per table.
 *	    role share		advisory (0, role OID, k, 4) ExclusiveLock,
 *							session-level, without waiting (53400): a role
 *							holds at most all but one slot.
 *	    slot			advisory (0, 0x706b6376 "pkcv", slot, 3)
 *							ExclusiveLock, session-level, without waiting
 *							(53400): perfkit.max_conversion_workers per
 *							cluster.
 *	    The caller takes these three in that order, none waiting (so they
 *	    cannot deadlock), and releases them in the reverse order once its
 *	    worker has exited.  The worker joins the caller's lock group (the
 *	    caller may hold no lock on the table) and bounds every lock wait
 *	    with lock_timeout: the caller's, or perfkit.conversion_lock_timeout
 *	    when that is shorter or the caller has none.  On the table T and
 *	    its copy N:
 *	    setup			LOCK TABLE T IN SHARE ROW EXCLUSIVE MODE (writers
 *							in flight finish), then N, its partitions and
 *							the capture trigger on T; until setup commits.
 *	    batches			T ACCESS SHARE, N ROW EXCLUSIVE, one transaction
 *							each; the capture trigger writes
 *							perfkit.convert_log in each writer's transaction.
 *	    swap			in a subtransaction with lock_timeout =
 *							perfkit.partition_lock_timeout, tried up to 20
 *							times: T EXCLUSIVE (writers wait, readers do
 *							not) while the copy is completed and verified,
 *							then T ACCESS EXCLUSIVE to drop T and rename N.
 *	  advisor: ACCESS SHARE on the tables it plans or reads statistics of;
 *	    apply_index() runs CREATE INDEX (SHARE on the table) as the caller.
 *	  cache, health: none of their own.
 *
 * src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "perfkit/advisor.h"
#include "perfkit/cache.h"
#include "perfkit/jobs.h"
#include "perfkit/perfkit.h"
#include "perfkit/rollup.h"
#include "perfkit/shmem.h"

#define PERFKIT_TRANCHE "perfkit"

typedef struct PerfkitCoreState
{
	TimestampTz started_at;		/* when shared memory was initialised */
} PerfkitCoreState;

/* Valid in every backend once perfkit_shmem_startup() has run. */
static PerfkitCoreState *core = NULL;
static LWLockPadded *locks = NULL;

void
perfkit_shmem_request(void)
{
	Size		size = MAXALIGN(sizeof(PerfkitCoreState));

	size = add_size(size, jobs_shmem_size());
	size = add_size(size, cache_versions_shmem_size());
	size = add_size(size, cache_store_shmem_size());
	size = add_size(size, rollup_shmem_size());
	size = add_size(size, advisor_workload_shmem_size());
	RequestAddinShmemSpace(size);
	RequestNamedLWLockTranche(PERFKIT_TRANCHE, PERFKIT_NUM_LOCKS);
	RequestNamedLWLockTranche("perfkit cache", CACHE_PARTITIONS);
}

void
perfkit_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	core = ShmemInitStruct("perfkit core", sizeof(PerfkitCoreState), &found);
	if (!found)
		core->started_at = GetCurrentTimestamp();
	locks = GetNamedLWLockTranche(PERFKIT_TRANCHE);

	jobs_shmem_init();
	cache_versions_shmem_init();
	cache_store_shmem_init();
	rollup_shmem_init();
	advisor_workload_shmem_init();

	LWLockRelease(AddinShmemInitLock);
}

bool
perfkit_shmem_attached(void)
{
	return perfkit_preloaded && core != NULL;
}

/*
 * Fail with SQLSTATE 55000 unless perfkit was preloaded and its shared
 * memory is attached.  Every SQL function that needs shared memory calls
 * this first, and so does the install script (through
 * perfkit._require_preload(), in src/perfkit.sql).
 */
void
perfkit_require_preload(void)
{
	if (!perfkit_shmem_attached())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("perfkit must be loaded via \"shared_preload_libraries\""),
				 errhint("Add perfkit to \"shared_preload_libraries\" in postgresql.conf, "
						 "for example shared_preload_libraries = 'pg_cron,perfkit', "
						 "and restart the server.")));
}

TimestampTz
perfkit_shmem_started_at(void)
{
	perfkit_require_preload();
	return core->started_at;
}

LWLock *
perfkit_lock(PerfkitLockId id)
{
	Assert(locks != NULL && id >= 0 && id < PERFKIT_NUM_LOCKS);
	return &locks[id].lock;
}

PG_FUNCTION_INFO_V1(perfkit_require_preload_sql);

/* perfkit._require_preload(), called first by the install script. */
Datum
perfkit_require_preload_sql(PG_FUNCTION_ARGS)
{
	perfkit_require_preload();
	PG_RETURN_VOID();
}
