/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The settings of health() thresholds, registered by health_define_gucs(), which
 *	  _PG_init calls when perfkit is preloaded.  A setting lives in the
 *	  room that reads it; its C variable is declared in the room's header.
 *
 * Every threshold is PGC_USERSET and has no check hook: health() is SQL
 * (src/health/health.sql) and reads them with current_setting() in the
 * calling session, so a session's values change only how that session's
 * health() judges.  No C code reads the variables (see health.h).
 *
 * src/health/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <float.h>

#include "utils/guc.h"

#include "perfkit/health.h"
#include "perfkit/perfkit.h"

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
int			perfkit_metric_timeout = 1000;

void
health_define_gucs(void)
{
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

	DefineCustomIntVariable("perfkit.metric_timeout",
							"Time a metric defined with perfkit.define_metric() may take to read.",
							"A slower read gives no samples and an error row in perfkit.metrics_user.",
							&perfkit_metric_timeout,
							1000,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}
