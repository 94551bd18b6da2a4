/*-------------------------------------------------------------------------
 *
 * perfkit.h
 *	  Declarations shared by every perfkit subsystem: the library version,
 *	  the GUC variables defined in _PG_init, and the preload check.
 *
 * include/perfkit/perfkit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_PERFKIT_H
#define PERFKIT_PERFKIT_H

/* Version of the shared library; the SQL side has its own in pg_extension. */
#define PERFKIT_VERSION "1.0"

/* Set by _PG_init when loaded from shared_preload_libraries. */
extern bool perfkit_preloaded;

/* GUC: perfkit.job_history_retention, in minutes; -1 keeps everything. */
extern int	perfkit_job_history_retention;

/* GUC: perfkit.partition_lock_timeout, in milliseconds. */
extern int	perfkit_partition_lock_timeout;

#endif							/* PERFKIT_PERFKIT_H */
