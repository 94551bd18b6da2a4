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
 * LWLock.  No spinlocks; counters are atomics.
 *
 *	  tranche "perfkit":
 *	    PERFKIT_LOCK_JOBS		job run statistics (src/jobs.c)
 *	    PERFKIT_LOCK_ROLLUPS	published rollup watermarks
 *							(src/rollup/watermarks.c); taken after the
 *							rollup's heavyweight advance lock
 *	    PERFKIT_LOCK_WORKLOAD	the advisor's workload store
 *							(src/advisor/workload.c): held for one
 *							lookup and update per sampled statement, or
 *							to copy entries out; never with another lock
 *	  tranche "perfkit cache", one lock per partition:
 *	    partition locks		the result cache's store (src/cache/store.c);
 *							walks take them one at a time, never two
 *	  no lock: relation versions (src/cache/versions.c), atomics only
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
 * this first, and so does the install script.
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

/* perfkit._require_preload(), called by the install script. */
Datum
perfkit_require_preload_sql(PG_FUNCTION_ARGS)
{
	perfkit_require_preload();
	PG_RETURN_VOID();
}
