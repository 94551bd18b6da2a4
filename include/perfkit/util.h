/*-------------------------------------------------------------------------
 *
 * util.h
 *	  Small helpers shared by perfkit's subsystems: SPI access, the time
 *	  budget of a shared job's step, work in a subtransaction, Citus.
 *
 * include/perfkit/util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_UTIL_H
#define PERFKIT_UTIL_H

#include "executor/spi.h"

extern uint64 pk_spi_exec(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only);
extern uint64 pk_spi_exec_saved(SPIPlanPtr *plan, const char *sql, int nargs,
								Oid *argtypes, Datum *values, const char *nulls);
extern char *pk_spi_text(uint64 row, int col, MemoryContext mcxt);

/* step.c: the time budget of one step of a shared job */
extern void pk_step_start(int budget_ms);
extern void pk_step_stop(void);
extern bool pk_step_timed_out(void);
extern bool pk_step_real_cancel(void);
extern void pk_step_forget_cancel(void);

/* subxact.c: work in a subtransaction of its own, with a lock timeout */
#define PK_LOCK_TIMEOUT_KEEP	(-1)	/* leave lock_timeout as it is */

typedef enum PkTryResult
{
	PK_TRY_OK,					/* fn returned: its work is kept */
	PK_TRY_LOCK_NOT_AVAILABLE,	/* 55P03 caught: fn's work rolled back */
	PK_TRY_ERROR				/* another error caught: rolled back */
} PkTryResult;

typedef void (*PkTryFn) (void *arg);
typedef bool (*PkTryRethrow) (ErrorData *edata, void *arg);

extern PkTryResult pk_try_subxact(int lock_timeout_ms, PkTryFn fn, void *arg,
								  PkTryRethrow rethrow, ErrorData **error);

/* citus.c: Citus, found at run time through its catalog */
extern bool pk_citus_installed(void);
extern bool pk_citus_table(Oid relid);

#endif							/* PERFKIT_UTIL_H */
