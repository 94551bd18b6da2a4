/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  SPI helpers shared by perfkit's subsystems.
 *
 * Callers connect and finish SPI themselves; these helpers run one
 * statement with parameters (never with values pasted into the text) and
 * turn SPI failures into errors, so that callers only handle results.
 *
 * src/util/spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/memutils.h"

#include "perfkit/util.h"

/*
 * Run sql with nargs parameters and return the number of rows processed.
 * nulls follows SPI's convention (NULL, or ' '/'n' per argument).
 */
uint64
pk_spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
			const char *nulls, bool read_only)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
							   read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed for \"%s\": %s",
			 sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Column col (1-based) of row row of the last result, as a string copied
 * into mcxt; NULL when the value is NULL.
 */
char *
pk_spi_text(uint64 row, int col, MemoryContext mcxt)
{
	char	   *value;

	Assert(SPI_tuptable != NULL && row < SPI_processed);
	value = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	if (value == NULL)
		return NULL;
	return MemoryContextStrdup(mcxt, value);
}

/*
 * Like pk_spi_exec, for a statement run often: prepared once per backend
 * into *plan (kept across transactions; the plan cache revalidates it
 * after DDL), then executed with the given parameters.
 */
uint64
pk_spi_exec_saved(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
				  Datum *values, const char *nulls)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s",
			 sql, SPI_result_code_string(rc));
	return SPI_processed;
}
