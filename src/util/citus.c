/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Telling, at run time, whether Citus is installed and whether a
 *	  relation is one of its tables.
 *
 * perfkit links nothing of Citus: it reads Citus's catalog.  The catalog
 * pg_catalog.pg_dist_partition exists exactly while the citus extension
 * is installed in the database, and lists every Citus table (distributed,
 * reference, Citus local) by its shell's OID; a shard is an ordinary table
 * and is not listed.  Every room that treats Citus tables apart (the
 * cache's fingerprints, the rollups' distributed capture, the partition
 * room's drain, layout and conversion, the advisor) asks here.
 *
 * src/util/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"

#include "perfkit/util.h"

/* Is Citus installed in this database?  (a syscache lookup) */
bool
pk_citus_installed(void)
{
	return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE));
}

/*
 * Is relid a Citus table (its shell, not a shard)?  False without Citus.
 * Usable inside and outside an SPI connection.  Not read-only: a table
 * that Citus distributed earlier in this transaction (a partition just
 * attached to a distributed table) must be seen, so the lookup takes a
 * fresh snapshot after the transaction's own changes.
 */
bool
pk_citus_table(Oid relid)
{
	Oid			argtype = OIDOID;
	Datum		arg = ObjectIdGetDatum(relid);
	int			rc;
	bool		found;

	if (!pk_citus_installed())
		return false;
	SPI_connect();
	rc = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition "
							   "WHERE logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							   1, &argtype, &arg, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading pg_dist_partition failed: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}
