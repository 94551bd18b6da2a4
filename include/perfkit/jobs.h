/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  perfkit's periodic jobs: the shared run statistics kept by run_job.
 *
 * include/perfkit/jobs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_JOBS_H
#define PERFKIT_JOBS_H

#include "storage/lock.h"

/* The two locks a job has; see perfkit_job_locktag(). */
typedef enum JobLockKind
{
	JOB_LOCK_RUN = 0,			/* single flight of run_job */
	JOB_LOCK_SCHEDULE = 1		/* schedule() and unschedule() */
} JobLockKind;

extern void perfkit_job_locktag(LOCKTAG *tag, const char *job, JobLockKind kind);

extern Size jobs_shmem_size(void);
extern void jobs_shmem_init(void);

#endif							/* PERFKIT_JOBS_H */
