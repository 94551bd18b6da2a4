/*-------------------------------------------------------------------------
 *
 * perfkit.c
 *	  The library's entry point: _PG_init, the GUCs, and every hook perfkit
 *	  installs.
 *
 * perfkit owns shared memory, so it must be loaded from
 * shared_preload_libraries.  When the library is loaded any other way
 * (CREATE EXTENSION on a server that did not preload it, LOAD), _PG_init
 * installs nothing; the install script and every function that needs
 * shared memory then fail with SQLSTATE 55000 through
 * perfkit_require_preload(), whose hint names the setting.
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
 *	  ProcessUtility_hook	-> cache_track_utility()	(src/cache/tracking.c)
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
#include "perfkit/rollup.h"
#include "perfkit/perfkit.h"
#include "perfkit/shmem.h"

PG_MODULE_MAGIC;

bool		perfkit_preloaded = false;
int			perfkit_job_history_retention = 7 * 24 * 60;
int			perfkit_cache_size = 64 * 1024;
int			perfkit_cache_default_ttl = 300;
int			perfkit_cache_max_value_size = 1024 * 1024;
bool		perfkit_cache_enabled = true;
bool		perfkit_cache_track_stats = true;
double		perfkit_advisor_sample_rate = 0.05;
int			perfkit_advisor_max_queries = 1000;
int			perfkit_advisor_max_query_length = 4096;
int			perfkit_partition_lock_timeout = 1000;
double		perfkit_health_buffer_hit_warn = 0.95;
double		perfkit_health_buffer_hit_critical = 0.90;
double		perfkit_health_connections_warn = 0.80;
double		perfkit_health_connections_critical = 0.95;
int			perfkit_health_idle_in_transaction_warn = 300;
int			perfkit_health_idle_in_transaction_critical = 1800;
int			perfkit_health_long_query_warn = 300;
int			perfkit_health_long_query_critical = 1800;
int			perfkit_health_xact_age_warn = 3600;
int			perfkit_health_xact_age_critical = 21600;
double		perfkit_health_wraparound_warn = 0.50;
double		perfkit_health_wraparound_critical = 0.20;
int			perfkit_health_job_failures_warn = 1;
int			perfkit_health_job_failures_critical = 5;
double		perfkit_health_rollup_lag_warn = 3.0;
double		perfkit_health_rollup_lag_critical = 10.0;
double		perfkit_health_cache_hit_warn = 0.50;
double		perfkit_health_cache_hit_critical = 0.10;
int			perfkit_health_cache_min_reads = 1000;
double		perfkit_health_cache_fill_warn = 0.90;
double		perfkit_health_cache_fill_critical = 0.99;
int			perfkit_health_seq_scan_min_rows = 100000;
double		perfkit_health_seq_scan_share = 0.90;
int			perfkit_health_seq_scan_critical_tables = 10;

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

	DefineCustomIntVariable("perfkit.cache_size",
							"Shared memory for the result cache.",
							NULL,
							&perfkit_cache_size,
							64 * 1024,
							1024,
							INT_MAX / 2,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.cache_default_ttl",
							"Time to live of cache entries stored without one.",
							NULL,
							&perfkit_cache_default_ttl,
							300,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.cache_max_value_size",
							"Largest value the result cache stores.",
							"Never more than a quarter of one of the cache's 16 partitions.",
							&perfkit_cache_max_value_size,
							1024 * 1024,
							1024,
							INT_MAX / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("perfkit.cache_enabled",
							 "Whether the result cache serves and stores entries.",
							 "When off, cache_get misses, cache_set stores nothing and "
							 "cached() runs its query every time.",
							 &perfkit_cache_enabled,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("perfkit.cache_track_stats",
							 "Whether cache reads count hits and misses.",
							 "Off saves two atomic increments per read; evictions, "
							 "expirations and invalidations are always counted.",
							 &perfkit_cache_track_stats,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.rollup_batch_rows",
							"About how many source rows one rollup refresh batch reads.",
							"A refresh cuts its work into batches of whole buckets sized "
							"from the source's row estimate; the rollups job commits "
							"after each batch.",
							&perfkit_rollup_batch_rows,
							10000000,
							1000,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.advisor_sample_rate",
							 "Share of executed statements the index advisor samples.",
							 "0 turns workload capture off; 1 samples every statement.",
							 &perfkit_advisor_sample_rate,
							 0.05,
							 0.0,
							 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.advisor_max_queries",
							"Distinct statements the workload store keeps.",
							"When full, a new statement evicts the one with the fewest calls.",
							&perfkit_advisor_max_queries,
							1000,
							10,
							1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.advisor_max_query_length",
							"Longest example text the workload store keeps per statement.",
							"Longer statements are counted but cannot be re-planned.",
							&perfkit_advisor_max_query_length,
							4096,
							256,
							1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.partition_lock_timeout",
							"How long partition maintenance waits for a lock.",
							"A table whose locks are not granted in time is skipped "
							"and retried at the next run.",
							&perfkit_partition_lock_timeout,
							1000,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Thresholds of health() (sql/perfkit--0.5--0.6.sql).  Each session may
	 * set its own: they only change how that session's health() judges.
	 */
	DefineCustomRealVariable("perfkit.health_buffer_hit_warn",
							 "Buffer cache hit ratio of the database below which health() warns.",
							 NULL,
							 &perfkit_health_buffer_hit_warn,
							 0.95,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_buffer_hit_critical",
							 "Buffer cache hit ratio of the database below which health() is critical.",
							 NULL,
							 &perfkit_health_buffer_hit_critical,
							 0.90,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_connections_warn",
							 "Share of max_connections in use from which health() warns.",
							 NULL,
							 &perfkit_health_connections_warn,
							 0.80,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_connections_critical",
							 "Share of max_connections in use from which health() is critical.",
							 NULL,
							 &perfkit_health_connections_critical,
							 0.95,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_idle_in_transaction_warn",
							"Time idle in a transaction after which health() warns.",
							NULL,
							&perfkit_health_idle_in_transaction_warn,
							300,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_idle_in_transaction_critical",
							"Time idle in a transaction after which health() is critical.",
							NULL,
							&perfkit_health_idle_in_transaction_critical,
							1800,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_long_query_warn",
							"Running time of a statement after which health() warns.",
							NULL,
							&perfkit_health_long_query_warn,
							300,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_long_query_critical",
							"Running time of a statement after which health() is critical.",
							NULL,
							&perfkit_health_long_query_critical,
							1800,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_xact_age_warn",
							"Age of the oldest open transaction after which health() warns.",
							NULL,
							&perfkit_health_xact_age_warn,
							3600,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_xact_age_critical",
							"Age of the oldest open transaction after which health() is critical.",
							NULL,
							&perfkit_health_xact_age_critical,
							21600,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_wraparound_warn",
							 "Share of the 2^31 transaction IDs left before wraparound below which health() warns.",
							 NULL,
							 &perfkit_health_wraparound_warn,
							 0.50,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_wraparound_critical",
							 "Share of the 2^31 transaction IDs left before wraparound below which health() is critical.",
							 NULL,
							 &perfkit_health_wraparound_critical,
							 0.20,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_job_failures_warn",
							"Failed perfkit job runs in the last day from which health() warns.",
							NULL,
							&perfkit_health_job_failures_warn,
							1,
							1,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_job_failures_critical",
							"Failed perfkit job runs in the last day from which health() is critical.",
							NULL,
							&perfkit_health_job_failures_critical,
							5,
							1,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_rollup_lag_warn",
							 "Rollup lag, in buckets of its granularity, above which health() warns.",
							 NULL,
							 &perfkit_health_rollup_lag_warn,
							 3.0,
							 0.0,
							 1e9,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_rollup_lag_critical",
							 "Rollup lag, in buckets of its granularity, above which health() is critical.",
							 NULL,
							 &perfkit_health_rollup_lag_critical,
							 10.0,
							 0.0,
							 1e9,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_cache_hit_warn",
							 "Hit ratio of the result cache below which health() warns.",
							 NULL,
							 &perfkit_health_cache_hit_warn,
							 0.50,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_cache_hit_critical",
							 "Hit ratio of the result cache below which health() is critical.",
							 NULL,
							 &perfkit_health_cache_hit_critical,
							 0.10,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_cache_min_reads",
							"Result cache reads needed before health() judges its hit ratio.",
							NULL,
							&perfkit_health_cache_min_reads,
							1000,
							0,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_cache_fill_warn",
							 "Share of the result cache in use above which health() warns.",
							 NULL,
							 &perfkit_health_cache_fill_warn,
							 0.90,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_cache_fill_critical",
							 "Share of the result cache in use above which health() is critical.",
							 NULL,
							 &perfkit_health_cache_fill_critical,
							 0.99,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_seq_scan_min_rows",
							"Live rows a table needs before health() judges its sequential scans.",
							NULL,
							&perfkit_health_seq_scan_min_rows,
							100000,
							0,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("perfkit.health_seq_scan_share",
							 "Share of a table's rows read by sequential scans above which it counts as heavily scanned.",
							 NULL,
							 &perfkit_health_seq_scan_share,
							 0.90,
							 0.0,
							 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("perfkit.health_seq_scan_critical_tables",
							"Heavily scanned tables from which health() is critical (one warns).",
							NULL,
							&perfkit_health_seq_scan_critical_tables,
							10,
							1,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

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
