/*-------------------------------------------------------------------------
 *
 * perfkit.c
 *	  The library's entry point: _PG_init (the foundation's GUC, then each
 *	  room's <room>_define_gucs() in src/<room>/gucs.c), and every hook perfkit
 *	  installs.
 *
 * perfkit owns shared memory, so it must be loaded from
 * shared_preload_libraries.  When the library is loaded any other way
 * (CREATE EXTENSION on a server that did not preload it, LOAD), _PG_init
 * installs nothing; the install script (perfkit--1.0.sql, built from
 * src/perfkit.sql and the rooms' SQL files), which calls
 * perfkit._require_preload() first, and every function that needs shared
 * memory then fail with SQLSTATE 55000 through perfkit_require_preload(),
 * whose hint names the setting.
 *
 * This file is the one way in for hooks: a reader sees here every hook
 * perfkit installs, that each chains to the previous holder first, and
 * which subsystem it dispatches to.
 *
 *	  shmem_request_hook	-> perfkit_shmem_request()	(src/shmem.c)
 *	  shmem_startup_hook	-> perfkit_shmem_startup()	(src/shmem.c)
 *	  ExecutorStart_hook	-> cache_track_executor_start()	(src/cache/tracking.c)
 *							   cache_capture_executor_start()	(src/cache/cached.c)
 *							   advisor_executor_start()	(src/advisor/workload.c)
 *	  ExecutorEnd_hook		-> cache_track_executor_end()	(src/cache/tracking.c)
 *							   advisor_executor_end()	(src/advisor/workload.c)
 *	  ProcessUtility_hook	-> cache_track_utility()	(src/cache/tracking.c),
 *							   which registers a relcache callback per backend;
 *							   rollup_dist_after_utility()	(src/rollup/distributed.c),
 *							   after the command, for partitions of Citus sources
 *	  planner_hook			-> advisor_planner_enter/exit()	(src/advisor/hypo.c),
 *							   only while the advisor costs a query
 *	  get_relation_info_hook -> advisor_get_relation_info()	(src/advisor/hypo.c)
 *	  transaction callback	-> cache_track_xact()		(src/cache/tracking.c)
 *							   advisor_xact()			(src/advisor/workload.c)
 *
 * The executor hooks do their own work before calling the next hook (or
 * the standard function), ExecutorStart after it, since the plan's result
 * relations are known either way and ExecutorEnd frees the EState.
 *
 * src/perfkit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/queryjumble.h"

#include "perfkit/advisor.h"
#include "perfkit/cache.h"
#include "perfkit/health.h"
#include "perfkit/partition.h"
#include "perfkit/rollup.h"
#include "perfkit/perfkit.h"
#include "perfkit/shmem.h"

PG_MODULE_MAGIC;

bool		perfkit_preloaded = false;
int			perfkit_job_history_retention = 7 * 24 * 60;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static planner_hook_type prev_planner = NULL;
static get_relation_info_hook_type prev_get_relation_info = NULL;

void		_PG_init(void);

static void
perfkit_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	perfkit_shmem_request();
}

static void
perfkit_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	perfkit_shmem_startup();
}

static void
perfkit_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	cache_track_executor_start(queryDesc);
	cache_capture_executor_start(queryDesc);
	advisor_executor_start(queryDesc, eflags);
}

static void
perfkit_ExecutorEnd(QueryDesc *queryDesc)
{
	cache_track_executor_end(queryDesc);
	advisor_executor_end(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static void
perfkit_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	cache_track_utility(pstmt, true);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	cache_track_utility(pstmt, false);
	rollup_dist_after_utility(pstmt);
}

/*
 * The planner hook costs nothing unless the advisor is costing: then it
 * counts planner nesting, so that hypothetical indexes are shown only to
 * the costed query's own planning (see src/advisor/hypo.c).
 */
static PlannedStmt *
perfkit_planner(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	PlannedStmt *result;

	if (!advisor_costing_active())
	{
		if (prev_planner)
			return prev_planner(parse, query_string, cursorOptions, boundParams);
		return standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	advisor_planner_enter();
	PG_TRY();
	{
		if (prev_planner)
			result = prev_planner(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		advisor_planner_exit();
	}
	PG_END_TRY();
	return result;
}

static void
perfkit_get_relation_info(PlannerInfo *root, Oid relationObjectId,
						  bool inhparent, RelOptInfo *rel)
{
	if (prev_get_relation_info)
		prev_get_relation_info(root, relationObjectId, inhparent, rel);
	advisor_get_relation_info(root, relationObjectId, inhparent, rel);
}

static void
perfkit_xact_callback(XactEvent event, void *arg)
{
	cache_track_xact(event);
	advisor_xact(event);
	rollup_xact(event);
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	perfkit_preloaded = true;

	DefineCustomIntVariable("perfkit.job_history_retention",
							"How long pg_cron's run details of perfkit jobs are kept.",
							"The \"history\" job deletes older rows of perfkit jobs "
							"from cron.job_run_details; -1 keeps them all.",
							&perfkit_job_history_retention,
							7 * 24 * 60,
							-1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	/*
	 * Each room's settings, registered by its src/<room>/gucs.c.  Among
	 * them the thresholds of health() (SQL, in src/health/health.sql): each
	 * session may set its own, they only change how that session's health()
	 * judges.
	 */
	cache_define_gucs();
	rollup_define_gucs();
	advisor_define_gucs();
	partition_define_gucs();
	health_define_gucs();

	MarkGUCPrefixReserved("perfkit");

	/* query ids for workload capture, with compute_query_id = auto */
	EnableQueryId();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = perfkit_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = perfkit_shmem_startup_hook;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = perfkit_ExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = perfkit_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = perfkit_ProcessUtility;
	prev_planner = planner_hook;
	planner_hook = perfkit_planner;
	prev_get_relation_info = get_relation_info_hook;
	get_relation_info_hook = perfkit_get_relation_info;
	RegisterXactCallback(perfkit_xact_callback, NULL);
}
