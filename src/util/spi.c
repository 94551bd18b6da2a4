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
