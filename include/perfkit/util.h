/*-------------------------------------------------------------------------
 *
 * util.h
 *	  Small helpers shared by perfkit's subsystems (SPI access).
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

#endif							/* PERFKIT_UTIL_H */
