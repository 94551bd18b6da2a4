/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  perfkit's shared memory: sizing, attaching, and the lock tranche.
 *
 * include/perfkit/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_SHMEM_H
#define PERFKIT_SHMEM_H

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

/*
 * The LWLocks of the "perfkit" tranche, one per shared structure.  See the
 * lock order at the top of src/shmem.c before adding one.
 */
typedef enum PerfkitLockId
{
	PERFKIT_LOCK_JOBS = 0,		/* job run statistics (src/jobs.c) */
	PERFKIT_LOCK_ROLLUPS,		/* published rollup watermarks (src/rollup/watermarks.c) */
	PERFKIT_LOCK_WORKLOAD,		/* workload store (src/advisor/workload.c) */
	PERFKIT_NUM_LOCKS
} PerfkitLockId;

extern void perfkit_shmem_request(void);
extern void perfkit_shmem_startup(void);

extern void perfkit_require_preload(void);
extern bool perfkit_shmem_attached(void);
extern TimestampTz perfkit_shmem_started_at(void);
extern LWLock *perfkit_lock(PerfkitLockId id);

#endif							/* PERFKIT_SHMEM_H */
