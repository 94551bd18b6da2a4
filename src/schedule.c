/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  perfkit.schedule(), perfkit.unschedule() and the pg_cron side of the
 *	  perfkit.jobs view.
 *
 * perfkit depends on pg_cron only here, and only at run time: perfkit's
 * objects never reference schema cron, so CREATE EXTENSION perfkit works
 * without pg_cron, jobs can always be run by hand with CALL
 * perfkit.run_job(), and every statement against cron.* is built and run
 * here after checking that pg_cron is usable in this database.
 *
 * pg_cron reads jobs only from the database named by cron.database_name.
 * schedule() therefore works in that database and, anywhere else, fails
 * with SQLSTATE 55000 and a hint holding the cron.schedule_in_database()
 * call to run from there.
 *
 * Each job is one pg_cron job named "perfkit:<job>" whose command is
 * CALL perfkit.run_job('<job>').  pg_cron keys job names per user, so
 * schedule() refuses a name another role has already scheduled: two roles
 * scheduling one job would run it twice.  pg_cron's row-level security
 * hides other roles' jobs from non-superusers, so that one lookup runs as
 * the extension's owner, as a SECURITY DEFINER function would, with every
 * name in it schema-qualified.
 *
 * Concurrency: schedule() and unschedule() take each job's schedule lock
 * (an object lock on the registry, see perfkit_job_locktag()) in job name
 * order, until the end of the transaction, before reading or writing
 * cron.job; two concurrent calls serialise per job, cannot deadlock, and
 * the second sees what the first committed.  The lock needs no privilege
 * on the registry beyond SELECT.  A call that would change nothing writes nothing, so calling
 * schedule() again is idempotent and does not wake pg_cron's job cache
 * invalidation.
 *
 * src/schedule.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "access/xact.h"
#include "utils/acl.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "perfkit/jobs.h"
#include "perfkit/perfkit.h"
#include "perfkit/schedule.h"
#include "perfkit/util.h"

#define CRON_JOB_PREFIX "perfkit:"

typedef enum CronState
{
	CRON_READY,					/* pg_cron is usable from this database */
	CRON_NOT_LOADED,			/* pg_cron is not in shared_preload_libraries */
	CRON_OTHER_DATABASE,		/* pg_cron reads its jobs from another database */
	CRON_NOT_INSTALLED			/* this is the database, but no CREATE EXTENSION */
} CronState;

/* A registered job, as read from perfkit.job_registry. */
typedef struct RegisteredJob
{
	char	   *job;
	char	   *default_schedule;
} RegisteredJob;

static CronState
cron_state(const char **cron_db)
{
	const char *db = GetConfigOption("cron.database_name", true, false);

	*cron_db = db;
	if (db == NULL)
		return CRON_NOT_LOADED;
	if (strcmp(db, get_database_name(MyDatabaseId)) != 0)
		return CRON_OTHER_DATABASE;
	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		return CRON_NOT_INSTALLED;
	return CRON_READY;
}

char *
perfkit_cron_status(void)
{
	const char *db;

	switch (cron_state(&db))
	{
		case CRON_READY:
			return pstrdup("ready");
		case CRON_NOT_LOADED:
			return pstrdup("not loaded (not in shared_preload_libraries)");
		case CRON_OTHER_DATABASE:
			return psprintf("runs jobs from database \"%s\"", db);
		case CRON_NOT_INSTALLED:
			return pstrdup("loaded, but the extension is not installed here");
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * How pg_cron's runs reach this server, as its settings and the server's
 * say, and whether that can work: pg_cron 1.4 runs a job in a background
 * worker when cron.use_background_workers is on, else over libpq to
 * cron.host (default localhost) at this server's port, as the role that
 * scheduled the job.  With libpq to a host name the server must listen
 * on it: listen_addresses = '' makes every run fail with "connection
 * failed" (a cron.job_run_details row with no start time).  Whether the
 * login succeeds without a password (pg_hba.conf, .pgpass) cannot be seen
 * from here; the runs that failed to connect are counted by
 * perfkit._cron_jobs() and reported by the health check pg_cron_runs.
 * A value starting "cannot connect" is what the health check pg_cron_runs
 * reports as critical.  NULL when pg_cron is not loaded.
 */
char *
perfkit_cron_connection(void)
{
	const char *bgw = GetConfigOption("cron.use_background_workers", true, false);
	const char *host = GetConfigOption("cron.host", true, false);
	const char *listen = GetConfigOption("listen_addresses", true, false);

	if (GetConfigOption("cron.database_name", true, false) == NULL)
		return NULL;
	if (bgw != NULL && strcmp(bgw, "on") == 0)
		return psprintf("background workers (max_worker_processes = %s)",
						GetConfigOption("max_worker_processes", false, false));
	if (host == NULL)
		host = "localhost";
	if (host[0] == '/')
		return psprintf("libpq over the Unix socket in %s", host);
	if (listen == NULL || listen[0] == '\0')
	{
		return psprintf("cannot connect: libpq to host \"%s\", but listen_addresses is empty; "
						"set cron.use_background_workers = on (and restart), or listen on %s",
						host, host);
	}
	return psprintf("libpq to host \"%s\" (listen_addresses = '%s'); the login must need no password",
					host, listen);
}

static char *
cron_job_name(const char *job)
{
	return psprintf(CRON_JOB_PREFIX "%s", job);
}

static char *
cron_command(const char *job)
{
	return psprintf("CALL perfkit.run_job(%s)", quote_literal_cstr(job));
}

/*
 * Error out unless pg_cron can schedule jobs from this database.  jobs
 * (RegisteredJob) and schedule (NULL for each job's default) make the
 * hint concrete: when pg_cron reads its jobs from another database, the
 * hint holds the statements to run there, which schedule the jobs or,
 * with unschedule, remove them.
 */
static void
cron_require(List *jobs, const char *schedule, bool unschedule)
{
	const char *crondb;

	switch (cron_state(&crondb))
	{
		case CRON_READY:
			return;
		case CRON_NOT_LOADED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_cron is not loaded"),
					 errdetail("perfkit schedules its periodic jobs with pg_cron."),
					 errhint("Add pg_cron to \"shared_preload_libraries\", for example "
							 "shared_preload_libraries = 'pg_cron,perfkit', set "
							 "cron.database_name, and restart the server; until then, "
							 "run jobs by hand with CALL perfkit.run_job('<job>').")));
			break;
		case CRON_OTHER_DATABASE:
			{
				const char *db = get_database_name(MyDatabaseId);
				StringInfoData calls;
				ListCell   *lc;

				initStringInfo(&calls);
				foreach(lc, jobs)
				{
					RegisteredJob *r = lfirst(lc);
					char	   *name = quote_literal_cstr(psprintf("%s@%s",
																   cron_job_name(r->job),
																   db));

					if (calls.len > 0)
						appendStringInfoChar(&calls, ' ');
					if (unschedule)
						appendStringInfo(&calls, "SELECT cron.unschedule(%s);", name);
					else
						appendStringInfo(&calls, "SELECT cron.schedule_in_database(%s, %s, %s, %s);",
										 name,
										 quote_literal_cstr(schedule ? schedule : r->default_schedule),
										 quote_literal_cstr(cron_command(r->job)),
										 quote_literal_cstr(db));
				}
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("pg_cron runs jobs from database \"%s\", not from this one",
								crondb),
						 errdetail("pg_cron reads jobs only from the database named by "
								   "cron.database_name."),
						 errhint("Connect to database \"%s\" and run: %s", crondb, calls.data)));
			}
			break;
		case CRON_NOT_INSTALLED:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"pg_cron\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION pg_cron.")));
			break;
	}
}

/*
 * The registered jobs named by job ("all" for every one), in name order,
 * each with its schedule lock taken.  Errors out for an unknown name.  SPI must be
 * connected; the result lives in the caller's context.
 */
static List *
registered_jobs(const char *job, MemoryContext mcxt)
{
	bool		all = (strcmp(job, "all") == 0);
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	List	   *result = NIL;
	ListCell   *lc;
	uint64		n;
	uint64		i;

	/*
	 * The schedule lock serialises callers only if what follows it reads
	 * with a new snapshot, which a transaction-snapshot isolation level
	 * does not take.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("perfkit jobs cannot be scheduled in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Schedule them in a READ COMMITTED transaction.")));

	values[0] = CStringGetTextDatum(job);
	n = pk_spi_exec(all ?
					"SELECT job, default_schedule FROM perfkit.job_registry "
					"ORDER BY job COLLATE \"C\"" :
					"SELECT job, default_schedule FROM perfkit.job_registry "
					"WHERE job = $1",
					all ? 0 : 1, argtypes, values, NULL, false);
	if (n == 0 && !all)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("perfkit job \"%s\" does not exist", job),
				 errhint("The jobs perfkit knows are listed in perfkit.jobs.")));

	for (i = 0; i < n; i++)
	{
		RegisteredJob *r = MemoryContextAlloc(mcxt, sizeof(RegisteredJob));

		r->job = pk_spi_text(i, 1, mcxt);
		r->default_schedule = pk_spi_text(i, 2, mcxt);
		result = lappend(result, r);
	}

	/*
	 * The statements that follow each take a new snapshot (READ COMMITTED),
	 * so they see what a call that held the lock before us committed.
	 */
	foreach(lc, result)
	{
		RegisteredJob *r = lfirst(lc);
		LOCKTAG		tag;

		perfkit_job_locktag(&tag, r->job, JOB_LOCK_SCHEDULE);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	return result;
}

/*
 * The pg_cron jobs named args[0], whoever scheduled them, as rows (jobid,
 * schedule, command, database, username, username = args[1]).  Runs as
 * the extension's owner: pg_cron's row-level security would hide other
 * roles' jobs from the caller.  Every operator and relation is qualified,
 * so the caller's search_path cannot change what runs.
 */
static uint64
cron_jobs_named(Datum *args, Oid *argtypes)
{
	Oid			save_userid;
	int			save_sec;
	Oid			owner;
	bool		isnull;
	uint64		n;

	if (pk_spi_exec("SELECT extowner FROM pg_catalog.pg_extension "
					"WHERE extname OPERATOR(pg_catalog.=) 'perfkit'",
					0, NULL, NULL, NULL, true) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"perfkit\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION perfkit.")));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	n = pk_spi_exec("SELECT jobid, schedule, command, database, "
					"       username::pg_catalog.text, "
					"       username OPERATOR(pg_catalog.=) $2 "
					"FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1 "
					"ORDER BY jobid",
					2, argtypes, args, NULL, false);
	SetUserIdAndSecContext(save_userid, save_sec);
	return n;
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

PG_FUNCTION_INFO_V1(perfkit_schedule);

/*
 * perfkit.schedule(job text DEFAULT 'all', schedule text DEFAULT NULL)
 *	RETURNS TABLE(job text, jobid bigint, schedule text)
 *
 * A NULL schedule keeps the schedule of a job already scheduled, and gives
 * a new one the job's default.
 */
Datum
perfkit_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	char	   *job = text_arg(fcinfo, 0, "job name");
	char	   *schedule = PG_ARGISNULL(1) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *db = get_database_name(MyDatabaseId);
	List	   *jobs;
	ListCell   *lc;

	if (schedule != NULL && schedule[strspn(schedule, " \t\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule must not be empty"),
				 errhint("Pass NULL to keep the current or default schedule.")));

	/*
	 * pg_cron runs the jobs as the caller: a caller who cannot run them
	 * would schedule a job that fails every time.
	 */
	if (pg_proc_aclcheck(DatumGetObjectId(DirectFunctionCall1(regprocedurein,
															  CStringGetDatum("perfkit.run_job(text)"))),
						 GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot run perfkit jobs",
						GetUserNameFromId(GetUserId(), false)),
				 errdetail("pg_cron runs each job as the role that scheduled it."),
				 errhint("Grant the role EXECUTE on procedure perfkit.run_job(text) and on "
						 "the functions its jobs call (see perfkit.job_registry).")));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	jobs = registered_jobs(job, callcxt);
	cron_require(jobs, schedule, false);

	foreach(lc, jobs)
	{
		RegisteredJob *r = lfirst(lc);
		char	   *name = cron_job_name(r->job);
		char	   *command = cron_command(r->job);
		Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
		Datum		args[3];
		char	   *target = NULL;
		int64		jobid = 0;
		bool		unchanged = false;
		uint64		n;
		uint64		i;
		Datum		values[3];
		bool		nulls[3] = {0};

		/* What pg_cron holds under this name, for every role. */
		args[0] = CStringGetTextDatum(name);
		args[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
		n = cron_jobs_named(args, argtypes);
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			bool		mine = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc,
														  6, &isnull));

			if (!mine)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("perfkit job \"%s\" is already scheduled by role \"%s\"",
								r->job, pk_spi_text(i, 5, callcxt)),
						 errdetail("pg_cron job \"%s\" would run twice.", name),
						 errhint("Run perfkit.unschedule('%s') as that role first, "
								 "or schedule as that role.", r->job)));
			jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1, &isnull));
			target = schedule ? schedule : pk_spi_text(i, 2, callcxt);
			unchanged = strcmp(target, pk_spi_text(i, 2, callcxt)) == 0 &&
				strcmp(command, pk_spi_text(i, 3, callcxt)) == 0 &&
				strcmp(db, pk_spi_text(i, 4, callcxt)) == 0;
		}
		if (target == NULL)
			target = schedule ? schedule : r->default_schedule;

		if (!unchanged)
		{
			bool		isnull;

			args[1] = CStringGetTextDatum(target);
			args[2] = CStringGetTextDatum(command);
			pk_spi_exec("SELECT cron.schedule($1, $2, $3)",
						3, argtypes, args, NULL, false);
			jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		}

		values[0] = CStringGetTextDatum(r->job);
		values[1] = Int64GetDatum(jobid);
		values[2] = CStringGetTextDatum(target);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_unschedule);

/*
 * perfkit.unschedule(job text) RETURNS integer
 *
 * Removes the pg_cron jobs of job ("all" for every one) that the current
 * role scheduled, and returns how many went; 0 when none was scheduled.
 */
Datum
perfkit_unschedule(PG_FUNCTION_ARGS)
{
	char	   *job = text_arg(fcinfo, 0, "job name");
	List	   *jobs;
	ListCell   *lc;
	int			removed = 0;

	SPI_connect();
	jobs = registered_jobs(job, CurrentMemoryContext);
	cron_require(jobs, NULL, true);

	foreach(lc, jobs)
	{
		RegisteredJob *r = lfirst(lc);
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];

		args[0] = CStringGetTextDatum(cron_job_name(r->job));
		removed += (int) pk_spi_exec("SELECT cron.unschedule(jobid) FROM cron.job "
									 "WHERE jobname = $1 AND username = current_user",
									 1, argtypes, args, NULL, false);
	}

	SPI_finish();
	PG_RETURN_INT32(removed);
}

PG_FUNCTION_INFO_V1(perfkit_cron_jobs);

/*
 * perfkit._cron_jobs(): pg_cron's view of this database's perfkit jobs:
 * schedule, last run, the most recent failure, and the failed runs of
 * the last day, and of those the runs pg_cron could not start (its
 * "connection failed", with no start time), which count when they came
 * after every run older than a day.  Empty when pg_cron is
 * not usable here.  The function is SECURITY DEFINER (search_path pinned)
 * and granted to pg_monitor only: the jobs view must show what pg_cron
 * holds for perfkit's jobs, whoever scheduled them, to monitoring roles
 * that have no rights on schema cron.  The query is fixed and reads only
 * rows of jobs named "perfkit:*" in this database.
 */
Datum
perfkit_cron_jobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *crondb;
	uint64		n;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	if (cron_state(&crondb) != CRON_READY)
		PG_RETURN_VOID();

	SPI_connect();
	n = pk_spi_exec("SELECT substr(j.jobname, length('" CRON_JOB_PREFIX "') + 1), "
					"       j.jobid, j.schedule, j.active, j.username::text, "
					"       last.start_time, last.end_time, last.status, "
					"       fail.start_time, fail.return_message, "
					"       (SELECT count(*) FROM cron.job_run_details d "
					"         WHERE d.jobid = j.jobid AND d.status = 'failed' "
					"           AND (d.start_time > now() - interval '1 day' "
					"                OR (d.start_time IS NULL AND d.runid > "
					"                    coalesce((SELECT max(o.runid) FROM cron.job_run_details o "
					"                              WHERE o.jobid = j.jobid "
					"                                AND o.start_time <= now() - interval '1 day'), 0)))) "
					"       , (SELECT count(*) FROM cron.job_run_details d "
					"         WHERE d.jobid = j.jobid AND d.status = 'failed' "
					"           AND d.start_time IS NULL AND d.return_message = 'connection failed' "
					"           AND d.runid > coalesce((SELECT max(o.runid) FROM cron.job_run_details o "
					"                                   WHERE o.jobid = j.jobid "
					"                                     AND o.start_time <= now() - interval '1 day'), 0)) "
					"FROM cron.job j "
					"LEFT JOIN LATERAL (SELECT * FROM cron.job_run_details d "
					"    WHERE d.jobid = j.jobid ORDER BY d.runid DESC LIMIT 1) last ON true "
					"LEFT JOIN LATERAL (SELECT * FROM cron.job_run_details d "
					"    WHERE d.jobid = j.jobid AND d.status = 'failed' "
					"    ORDER BY d.runid DESC LIMIT 1) fail ON true "
					"WHERE left(j.jobname, length('" CRON_JOB_PREFIX "')) = '" CRON_JOB_PREFIX "' "
					"  AND j.database = current_database() "
					"ORDER BY j.jobname, j.username",
					0, NULL, NULL, NULL, true);

	for (i = 0; i < n; i++)
	{
		Datum		values[12];
		bool		nulls[12];
		int			col;

		for (col = 0; col < 12; col++)
			values[col] = SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, col + 1, &nulls[col]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_purge_job_history);

/*
 * perfkit.purge_job_history() RETURNS bigint
 *
 * The "history" job: deletes pg_cron's run details of perfkit jobs
 * (scheduled now or once) that ended longer ago than
 * perfkit.job_history_retention.  Run details live only in the database
 * pg_cron reads, so this covers perfkit jobs of every database, including
 * those scheduled there with cron.schedule_in_database().  Other jobs'
 * rows are never touched, nor rows pg_cron's row-level security hides
 * from the caller.
 * Returns how many rows went; 0 when pg_cron is not usable here.
 */
Datum
perfkit_purge_job_history(PG_FUNCTION_ARGS)
{
	const char *crondb;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	uint64		n;

	if (perfkit_job_history_retention < 0 || cron_state(&crondb) != CRON_READY)
		PG_RETURN_INT64(0);

	SPI_connect();
	args[0] = Int32GetDatum(perfkit_job_history_retention);
	n = pk_spi_exec("DELETE FROM cron.job_run_details "
					"WHERE left(command, length('CALL perfkit.run_job(')) = 'CALL perfkit.run_job(' "
					"  AND (coalesce(end_time, start_time) < now() - make_interval(mins => $1) "
					/* runs that never started have no time: older than a run that is gone */
					"       OR (start_time IS NULL AND end_time IS NULL AND runid < "
					"           (SELECT max(o.runid) FROM cron.job_run_details o "
					"             WHERE o.jobid = cron.job_run_details.jobid "
					"               AND coalesce(o.end_time, o.start_time) < now() - make_interval(mins => $1))))",
					1, argtypes, args, NULL, false);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
