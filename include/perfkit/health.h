/*-------------------------------------------------------------------------
 *
 * health.h
 *	  The thresholds of perfkit.health(), defined as GUCs by
 *	  health_define_gucs() (src/health/gucs.c), which _PG_init calls.
 *
 * health() itself is SQL (src/health/checks.sql and health.sql): each
 * check's row of perfkit.health_checks names the settings of its
 * thresholds, read with current_setting(), so no C code reads the
 * variables; they exist because a custom GUC needs storage.
 *
 * include/perfkit/health.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_HEALTH_H
#define PERFKIT_HEALTH_H

extern double perfkit_health_buffer_hit_warn;
extern double perfkit_health_buffer_hit_critical;
extern double perfkit_health_connections_warn;
extern double perfkit_health_connections_critical;
extern int	perfkit_health_idle_in_transaction_warn;
extern int	perfkit_health_idle_in_transaction_critical;
extern int	perfkit_health_long_query_warn;
extern int	perfkit_health_long_query_critical;
extern int	perfkit_health_xact_age_warn;
extern int	perfkit_health_xact_age_critical;
extern double perfkit_health_wraparound_warn;
extern double perfkit_health_wraparound_critical;
extern int	perfkit_health_job_failures_warn;
extern int	perfkit_health_job_failures_critical;
extern double perfkit_health_rollup_lag_warn;
extern double perfkit_health_rollup_lag_critical;
extern double perfkit_health_cache_hit_warn;
extern double perfkit_health_cache_hit_critical;
extern int	perfkit_health_cache_min_reads;
extern double perfkit_health_cache_fill_warn;
extern double perfkit_health_cache_fill_critical;
extern int	perfkit_health_seq_scan_min_rows;
extern double perfkit_health_seq_scan_share;
extern int	perfkit_health_seq_scan_critical_tables;
extern int	perfkit_metric_timeout;

/* health/gucs.c: registers the room's settings (called by _PG_init) */
extern void health_define_gucs(void);

#endif							/* PERFKIT_HEALTH_H */
