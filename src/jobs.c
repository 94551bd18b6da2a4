/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Running perfkit's periodic jobs, and their run statistics in shared
 *	  memory.
 *
 * A job is a row of perfkit.job_registry: a name, the SQL statement that
 * does the work, a default cron schedule and a description.  The registry
 * and the foundation's own job are in src/jobs.sql; each room adds its
 * jobs' rows in its own SQL file (src/<room>/<room>.sql), all parts of the
 * install script.  pg_cron never runs a job's statement directly: every
 * cron command is CALL perfkit.run_job('<job>'), so a later version may
 * change what a job does without touching the commands already stored in
 * cron.job.
 *
 * run_job is a procedure.  Called on its own (as pg_cron does), it runs
 * the job's statement non-atomically, so a job may commit between units of
 * work and hold no lock across them.
 *
 * Single flight.  Two runs of one job never overlap, whether pg_cron, a
 * user or both start them.  run_job takes a heavyweight lock on the object
 * (perfkit.job_registry, hash of the job name) without waiting; when it is
 * taken, the run is skipped with a NOTICE.  Called non-atomically the lock
 * is session-level, so it survives the job's own commits; an error aborts
 * the top-level transaction, which releases session locks of the default
 * lock method.  Called atomically (inside a transaction block or a
 * function), the lock is transaction-level and subtransaction aborts
 * release it too.  Either way it is held until what the job wrote last
 * has committed: a run that started earlier would not see it.  The lock
 * shows in pg_locks as an "object" lock on the registry.
 *
 * Run statistics.  A fixed array of slots in shared memory, one per
 * (database, job) that has run since the server started: runs, failures,
 * start and end of the last run, the last error, the pid running it, and
 * the failures of the last day in hourly buckets.  Those are what a
 * database sees of its jobs' failures when pg_cron lives in another
 * database (cron.database_name is one database): the jobs view and the
 * failed_jobs health check read them beside pg_cron's run details.
 * When every slot is in use, the one whose last run is oldest is reused.
 * A backend that exits mid-run records the run as failed on its way out.
 * pg_cron's cron.job_run_details is the durable history; these slots also
 * cover runs that pg_cron did not start.
 *
 * Lock order: PERFKIT_LOCK_JOBS guards every slot; it is a leaf lock (see
 * src/shmem.c), taken after the single-flight lock and never across SPI.
 *
 * src/jobs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "mb/pg_wchar.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "perfkit/jobs.h"
#include "perfkit/shmem.h"
#include "perfkit/util.h"

#define JOB_SLOTS		256
#define JOB_ERROR_LEN	256
#define JOB_FAIL_HOURS	24

typedef struct JobStat
{
	Oid			dbid;			/* InvalidOid: slot is free */
	char		job[NAMEDATALEN];
	int			running_pid;	/* 0 when not running */
	int64		runs;			/* finished runs, failed ones included */
	int64		failures;
	TimestampTz last_start;
	TimestampTz last_end;
	TimestampTz last_failure;
	bool		last_ok;
	char		last_error[JOB_ERROR_LEN];
	/* failures per hour of the last day: hour number, and its count */
	int64		fail_hour[JOB_FAIL_HOURS];
	int32		fail_count[JOB_FAIL_HOURS];
} JobStat;

typedef struct JobStatsShared
{
	JobStat		slots[JOB_SLOTS];
} JobStatsShared;

static JobStatsShared *jobstats = NULL;

/* The job this backend is running now, for the exit callback. */
static char running_job[NAMEDATALEN] = "";
static bool exit_callback_registered = false;

Size
jobs_shmem_size(void)
{
	return MAXALIGN(sizeof(JobStatsShared));
}

/* Called from perfkit_shmem_startup() under AddinShmemInitLock. */
void
jobs_shmem_init(void)
{
	bool		found;

	jobstats = ShmemInitStruct("perfkit jobs", sizeof(JobStatsShared), &found);
	if (!found)
		memset(jobstats, 0, sizeof(JobStatsShared));
}

/*
 * Find the slot of (MyDatabaseId, job), or claim one for it: a free slot,
 * else the one whose last run started first and that is not running.
 * Returns NULL when every slot is busy running.  Caller holds the lock
 * exclusively.
 */
static JobStat *
jobstat_slot(const char *job, bool create)
{
	JobStat    *victim = NULL;
	int			i;

	for (i = 0; i < JOB_SLOTS; i++)
	{
		JobStat    *s = &jobstats->slots[i];

		if (s->dbid == MyDatabaseId && strcmp(s->job, job) == 0)
			return s;
		if (!create || s->running_pid != 0)
			continue;
		if (victim == NULL ||
			(victim->dbid != InvalidOid &&
			 (s->dbid == InvalidOid || s->last_start < victim->last_start)))
			victim = s;
	}
	if (victim != NULL)
	{
		memset(victim, 0, sizeof(JobStat));
		victim->dbid = MyDatabaseId;
		strlcpy(victim->job, job, NAMEDATALEN);
	}
	return victim;
}

static void jobstat_end(const char *job, const char *error);

/*
 * A backend that exits while running a job (pg_terminate_backend, a FATAL
 * error) records the run as failed.  No perfkit LWLock can be held here:
 * they are never held across anything that can end the process.
 */
static void
jobstat_exit(int code, Datum arg)
{
	if (running_job[0] != '\0' && jobstats != NULL)
		jobstat_end(running_job, "the backend running the job exited");
}

static void
jobstat_begin(const char *job)
{
	TimestampTz now = GetCurrentTimestamp();
	JobStat    *s;

	if (!exit_callback_registered)
	{
		before_shmem_exit(jobstat_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	strlcpy(running_job, job, NAMEDATALEN);

	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_JOBS), LW_EXCLUSIVE);
	s = jobstat_slot(job, true);
	if (s != NULL)
	{
		s->running_pid = MyProcPid;
		s->last_start = now;
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_JOBS));
}

/* error is NULL on success. */
static void
jobstat_end(const char *job, const char *error)
{
	TimestampTz now = GetCurrentTimestamp();
	JobStat    *s;
	int			errlen = 0;

	/* cut the message on a character boundary, before taking the lock */
	if (error != NULL)
		errlen = pg_mbcliplen(error, strlen(error), JOB_ERROR_LEN - 1);
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_JOBS), LW_EXCLUSIVE);
	s = jobstat_slot(job, false);
	if (s != NULL && s->running_pid == MyProcPid)
	{
		s->running_pid = 0;
		s->runs++;
		s->last_end = now;
		s->last_ok = (error == NULL);
		if (error != NULL)
		{
			int64		hour = now / USECS_PER_HOUR;
			int			b = (int) (hour % JOB_FAIL_HOURS);

			s->failures++;
			s->last_failure = now;
			if (s->fail_hour[b] != hour)
			{
				s->fail_hour[b] = hour;
				s->fail_count[b] = 0;
			}
			s->fail_count[b]++;
			memcpy(s->last_error, error, errlen);
			s->last_error[errlen] = '\0';
		}
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_JOBS));
	/* last: job may be running_job itself, when called on exit */
	running_job[0] = '\0';
}

/*
 * The lock tag of one of a job's locks: an object lock on
 * perfkit.job_registry whose object id is a hash of the job name, and
 * whose sub-id tells the run lock from the schedule lock.
 */
void
perfkit_job_locktag(LOCKTAG *tag, const char *job, JobLockKind kind)
{
	Oid			registry;

	registry = RangeVarGetRelid(makeRangeVar("perfkit", "job_registry", -1),
								NoLock, false);
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, registry,
					   hash_bytes((const unsigned char *) job, strlen(job)),
					   (uint16) kind);
}

/*
 * The statement of a registered job, copied into mcxt.  SPI must be
 * connected.
 */
static char *
job_command(const char *job, MemoryContext mcxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(job);
	if (pk_spi_exec("SELECT command FROM perfkit.job_registry WHERE job = $1",
					1, argtypes, values, NULL, true) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("perfkit job \"%s\" does not exist", job),
				 errhint("The jobs perfkit knows are listed in perfkit.jobs.")));
	return pk_spi_text(0, 1, mcxt);
}

PG_FUNCTION_INFO_V1(perfkit_run_job);

/*
 * CALL perfkit.run_job(job text)
 */
Datum
perfkit_run_job(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	bool		nonatomic;
	char	   *job;
	char	   *command;
	LOCKTAG		tag;
	SPIExecuteOptions options;

	perfkit_require_preload();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job name must not be null")));
	job = text_to_cstring(PG_GETARG_TEXT_PP(0));

	nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	command = job_command(job, callcxt);

	perfkit_job_locktag(&tag, job, JOB_LOCK_RUN);
	if (LockAcquire(&tag, ExclusiveLock, nonatomic, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		SPI_finish();
		ereport(NOTICE,
				(errmsg("perfkit job \"%s\" is already running; this run is skipped",
						job)));
		PG_RETURN_VOID();
	}

	jobstat_begin(job);
	PG_TRY();
	{
		int			rc;

		memset(&options, 0, sizeof(options));
		options.allow_nonatomic = nonatomic;
		rc = SPI_execute_extended(command, &options);
		if (rc < 0)
			elog(ERROR, "SPI_execute_extended failed for job \"%s\": %s",
				 job, SPI_result_code_string(rc));
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		MemoryContext ecxt = MemoryContextSwitchTo(callcxt);

		edata = CopyErrorData();
		MemoryContextSwitchTo(ecxt);
		jobstat_end(job, edata->message);
		PG_RE_THROW();
	}
	PG_END_TRY();
	jobstat_end(job, NULL);

	/*
	 * Keep the job locked until what it wrote last commits, or a run that
	 * starts now would not see it.  Atomically, the transaction-level lock
	 * already lasts until commit.  Non-atomically, the session lock is
	 * handed over to a transaction-level hold of the same lock, which the
	 * commit of the CALL's last transaction releases.
	 */
	if (nonatomic)
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		LockRelease(&tag, ExclusiveLock, true);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_job_stats);

/*
 * perfkit._job_stats(): the run statistics of this database's jobs since
 * the server started.
 */
Datum
perfkit_job_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	JobStat    *copy;
	int			n = 0;
	int			i;

	perfkit_require_preload();
	InitMaterializedSRF(fcinfo, 0);

	/* Copy under the lock, build tuples after releasing it. */
	copy = palloc(sizeof(JobStat) * JOB_SLOTS);
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_JOBS), LW_SHARED);
	for (i = 0; i < JOB_SLOTS; i++)
		if (jobstats->slots[i].dbid == MyDatabaseId)
			copy[n++] = jobstats->slots[i];
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_JOBS));

	for (i = 0; i < n; i++)
	{
		JobStat    *s = &copy[i];
		Datum		values[10];
		bool		nulls[10] = {0};
		int64		hour = GetCurrentTimestamp() / USECS_PER_HOUR;
		int64		day = 0;
		int			b;

		values[0] = CStringGetTextDatum(s->job);
		values[1] = Int32GetDatum(s->running_pid);
		nulls[1] = (s->running_pid == 0);
		values[2] = Int64GetDatum(s->runs);
		values[3] = Int64GetDatum(s->failures);
		values[4] = TimestampTzGetDatum(s->last_start);
		values[5] = TimestampTzGetDatum(s->last_end);
		nulls[5] = (s->runs == 0);
		if (s->running_pid != 0)
			values[6] = CStringGetTextDatum("running");
		else if (s->runs == 0)
			nulls[6] = true;
		else
			values[6] = CStringGetTextDatum(s->last_ok ? "succeeded" : "failed");
		values[7] = CStringGetTextDatum(s->last_error);
		nulls[7] = (s->failures == 0);
		values[8] = TimestampTzGetDatum(s->last_failure);
		nulls[8] = (s->failures == 0);
		/* the current hour and the 23 before it */
		for (b = 0; b < JOB_FAIL_HOURS; b++)
			if (s->fail_count[b] > 0 && s->fail_hour[b] > hour - JOB_FAIL_HOURS)
				day += s->fail_count[b];
		values[9] = Int64GetDatum(day);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
