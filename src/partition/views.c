/*-------------------------------------------------------------------------
 *
 * views.c
 *	  What the views perfkit.partitions and perfkit.partition_sets show:
 *	  each registered set's partitions with their bounds, and per set the
 *	  number of partitions, the oldest and newest bound and the rows in
 *	  the default partition.
 *
 * Bounds are shown as text in the key's own type (the literal the
 * partition's FOR VALUES clause holds), since one view column cannot have
 * the three key types.  Rows in the default partition are counted exactly
 * (the default should be small) for callers with SELECT on the parent
 * (others see NULL), as the reader would see them: when row-level
 * security applies to the reader, through the parent as the reader, so
 * that the policies filter; otherwise the default partition alone, as its
 * owner, restricted.
 *
 * src/partition/views.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

#include "perfkit/partition.h"
#include "perfkit/util.h"

static Datum
bound_text(PkSet *set, int64 t)
{
	char	   *lit = part_literal(&set->key, t);
	size_t		len = strlen(lit);

	/* strip the quotes of a literal; MINVALUE and MAXVALUE have none */
	if (len >= 2 && lit[0] == '\'')
		return CStringGetTextDatum(pnstrdup(lit + 1, len - 2));
	return CStringGetTextDatum(lit);
}

PG_FUNCTION_INFO_V1(perfkit_partitions);

/*
 * perfkit._partitions() RETURNS TABLE(parent regclass, partition regclass,
 *     is_default boolean, range_start text, range_end text, ord bigint)
 */
Datum
perfkit_partitions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *parents;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	parents = part_set_list(false);
	foreach(lc, parents)
	{
		Oid			parent = lfirst_oid(lc);
		PkSet	   *set = part_set_load(parent, true);
		Oid			default_oid;
		List	   *ranges;
		ListCell   *rc;
		int64		ord = 0;

		if (set == NULL)
			continue;
		ranges = part_layout_read(set, &default_oid);
		foreach(rc, ranges)
		{
			PkRange    *r = lfirst(rc);
			Datum		values[6];
			bool		nulls[6] = {0};

			values[0] = ObjectIdGetDatum(parent);
			values[1] = ObjectIdGetDatum(r->relid);
			values[2] = BoolGetDatum(false);
			values[3] = bound_text(set, r->lower);
			values[4] = bound_text(set, r->upper);
			values[5] = Int64GetDatum(++ord);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		if (OidIsValid(default_oid))
		{
			Datum		values[6];
			bool		nulls[6] = {0, 0, 0, 1, 1, 0};

			values[0] = ObjectIdGetDatum(parent);
			values[1] = ObjectIdGetDatum(default_oid);
			values[2] = BoolGetDatum(true);
			values[5] = Int64GetDatum(++ord);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_default_rows);

/*
 * perfkit._default_rows(parent regclass) RETURNS bigint: rows in the
 * default partition of parent; NULL when there is none or the caller may
 * not read parent.
 */
Datum
perfkit_default_rows(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	PkSet	   *set;
	Oid			default_oid;
	int64		count = -1;

	if (pg_class_aclcheck(parent, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		PG_RETURN_NULL();
	SPI_connect();
	set = part_set_load(parent, true);
	if (set != NULL)
	{
		(void) part_layout_read(set, &default_oid);
		if (OidIsValid(default_oid))
		{
			bool		isnull;

			if (check_enable_rls(parent, InvalidOid, true) == RLS_ENABLED)
			{
				/*
				 * Row-level security applies to the reader: count through
				 * the parent, as the reader, so that the policies filter
				 * (every partition is scanned; tables with policies only).
				 */
				Oid			argtypes[1] = {OIDOID};
				Datum		values[1];

				values[0] = ObjectIdGetDatum(default_oid);
				part_exec(psprintf("SELECT count(*) FROM %s WHERE tableoid = $1",
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
															  get_rel_name(parent))),
						  1, argtypes, values, NULL, false);
			}
			else
			{
				/* The reader sees every row: count the default partition. */
				PkOwnerSave owner;

				part_as_table_owner_begin(default_oid, &owner);
				part_exec(psprintf("SELECT count(*) FROM ONLY %s",
								   quote_qualified_identifier(get_namespace_name(get_rel_namespace(default_oid)),
															  get_rel_name(default_oid))),
						  0, NULL, NULL, NULL, false);
				part_as_table_owner_end(&owner);
			}
			count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	SPI_finish();
	if (count < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(count);
}
