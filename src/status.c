/*-------------------------------------------------------------------------
 *
 * status.c
 *	  perfkit.status(): how perfkit is loaded and wired in this database.
 *
 * One row per fact, as (name, value) text pairs, so that each capability
 * can add its own lines without changing the function's signature.  It
 * never fails for want of preloading or pg_cron: reporting that is its job.
 *
 * src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "perfkit/perfkit.h"
#include "perfkit/schedule.h"
#include "perfkit/shmem.h"

PG_FUNCTION_INFO_V1(perfkit_status);

static void
status_row(ReturnSetInfo *rsinfo, const char *name, const char *value)
{
	Datum		values[2];
	bool		nulls[2] = {false, value == NULL};

	values[0] = CStringGetTextDatum(name);
	values[1] = value ? CStringGetTextDatum(value) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * perfkit.status() RETURNS TABLE(name text, value text)
 */
Datum
perfkit_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		attached = perfkit_shmem_attached();

	InitMaterializedSRF(fcinfo, 0);

	status_row(rsinfo, "library_version", PERFKIT_VERSION);
	status_row(rsinfo, "preloaded", perfkit_preloaded ? "yes" : "no");
	status_row(rsinfo, "shared_memory", attached ? "attached" : "not attached");
	status_row(rsinfo, "shared_memory_since",
			   attached ? timestamptz_to_str(perfkit_shmem_started_at()) : NULL);
	status_row(rsinfo, "pg_cron", perfkit_cron_status());
	status_row(rsinfo, "pg_cron_connection", perfkit_cron_connection());
	status_row(rsinfo, "cron.database_name",
			   GetConfigOption("cron.database_name", true, false));
	status_row(rsinfo, "job_history_retention",
			   GetConfigOptionByName("perfkit.job_history_retention", NULL, true));
	PG_RETURN_VOID();
}
