/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  Moving rows out of the default partition into the partitions they
 *	  belong to, creating those partitions.
 *
 * The caller (maintenance.c) holds the parent in EXCLUSIVE mode and the
 * default partition in ACCESS EXCLUSIVE mode for the whole transaction:
 * no row can enter or leave the default partition meanwhile, and no
 * INSERT through the parent is in flight with a partition descriptor
 * older than ours (see maintenance.c).  Within that transaction, for
 * each range that has rows in the default partition and no partition,
 * the rows are moved by one statement (DELETE ... RETURNING feeding an
 * INSERT) into a new standalone table, which is then attached.  Either
 * the whole transaction commits, or none of it: a row is never lost nor
 * doubled.
 *
 * Ranges are found by walking the default partition's key values in
 * order, one range at a time (a "skip scan": the smallest value at or
 * after the end of the previous range), so sparse rows far apart cost one
 * scan per range, not one per slot between them.  Each range is the
 * set's slot holding that value, cut to the free gap between existing
 * partitions.  Rows whose key is NULL or infinite have no range and stay.
 *
 * The statements run as the parent's owner; a default partition owned by
 * another role is refused (its triggers would run as the parent's owner).
 *
 * src/partition/drain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/smgr.h"
#include "utils/syscache.h"
#include "executor/spi.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "perfkit/partition.h"
#include "perfkit/util.h"

static char *
qualified(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Does the default partition hold a row that a partition could take?
 *
 * With Citus installed, a table may be a shell whose rows live in shards
 * on other nodes, and its own file says nothing about them: the shortcuts
 * here and below that read the file size are off (pk_citus_installed()).
 */
bool
part_default_has_movable(PkSet *set, Oid default_oid)
{
	const char *col = quote_identifier(set->column);
	Oid			argtypes[2] = {set->key.typid, set->key.typid};
	Datum		values[2];

	/* never written (the usual case): no query */
	if (!pk_citus_installed())
	{
		Relation	rel = relation_open(default_oid, AccessShareLock);
		BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

		relation_close(rel, NoLock);
		if (nblocks == 0)
			return false;
	}
	values[0] = part_to_datum(&set->key, PK_TIME_MIN);
	values[1] = part_to_datum(&set->key, PK_TIME_MAX);
	return part_exec(psprintf("SELECT 1 FROM ONLY %s WHERE %s > $1 AND %s < $2 LIMIT 1",
							  qualified(default_oid), col, col),
					 2, argtypes, values, NULL, false) > 0;
}

/*
 * Has the default partition never been written (no block in its file)?
 * Read from its file size, without opening the relation: cheap enough
 * for the fast path of a run with nothing to do.  No lock is taken: a
 * row being inserted meanwhile is not committed yet, and the next run
 * sees it.
 */
bool
part_default_never_written(Oid default_oid)
{
	HeapTuple	tup;
	Form_pg_class c;
	RelFileNode rnode;
	SMgrRelation srel;
	bool		result;

	if (pk_citus_installed())
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(default_oid));
	if (!HeapTupleIsValid(tup))
		return false;
	c = (Form_pg_class) GETSTRUCT(tup);
	if (c->relfilenode == InvalidOid || c->relpersistence == RELPERSISTENCE_TEMP)
	{
		ReleaseSysCache(tup);
		return false;
	}
	rnode.spcNode = OidIsValid(c->reltablespace) ? c->reltablespace : MyDatabaseTableSpace;
	rnode.dbNode = MyDatabaseId;
	rnode.relNode = c->relfilenode;
	ReleaseSysCache(tup);

	srel = smgropen(rnode, InvalidBackendId);
	result = !smgrexists(srel, MAIN_FORKNUM) || smgrnblocks(srel, MAIN_FORKNUM) == 0;
	return result;
}

/* ranges (ordered by their lower bounds) with r inserted in its place. */
List *
part_insert_range(List *ranges, PkRange *r)
{
	ListCell   *lc;
	int			pos = 0;

	foreach(lc, ranges)
	{
		if (((PkRange *) lfirst(lc))->lower > r->lower)
			break;
		pos++;
	}
	return list_insert_nth(ranges, pos, r);
}

static void
insert_range(List **ranges, Oid relid, int64 lo, int64 hi)
{
	PkRange    *r = palloc(sizeof(PkRange));

	r->relid = relid;
	r->lower = lo;
	r->upper = hi;
	*ranges = part_insert_range(*ranges, r);
}

/*
 * Drain the default partition of set; *ranges is kept up to date with
 * the partitions created (counted in *created).  Returns the rows moved.
 */
int64
part_drain_default(PkSet *set, List **ranges, Oid default_oid, int *created)
{
	char	   *sql;
	const char *col = quote_identifier(set->column);
	int64		moved = 0;
	int64		cursor = PK_TIME_MIN;

	/*
	 * The drain runs as the parent's owner (maintenance.c) and fires the
	 * default partition's triggers: refuse when someone else owns it, whose
	 * code would run with the parent owner's rights.
	 */
	if (part_rel_owner(default_oid) != part_rel_owner(set->parent))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("default partition \"%s\" of table \"%s\" has another owner than the table",
						get_rel_name(default_oid), get_rel_name(set->parent)),
				 errhint("Give both the same owner with ALTER TABLE ... OWNER TO.")));

	sql = psprintf("SELECT min(%s) FROM ONLY %s WHERE %s > $1 AND %s < $2",
				   col, qualified(default_oid), col, col);
	for (;;)
	{
		Oid			argtypes[2] = {set->key.typid, set->key.typid};
		Datum		values[2];
		bool		isnull;
		Datum		d;
		int64		v,
					lo,
					hi,
					gap_lo,
					gap_hi;

		/* strictly after the previous range's start, before +infinity */
		values[0] = part_to_datum(&set->key, cursor);
		values[1] = part_to_datum(&set->key, PK_TIME_MAX);
		part_exec(sql, 2, argtypes, values, NULL, false);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			break;
		v = part_from_datum(&set->key, d);
		if (!part_free_gap(*ranges, v, &gap_lo, &gap_hi))
			elog(ERROR, "row of the default partition of \"%s\" falls in an existing partition",
				 get_rel_name(set->parent));
		part_check_partition_budget(set, *created + 1);
		lo = Max(part_floor(&set->key, v), gap_lo);
		hi = Min(part_add(&set->key, part_floor(&set->key, v), 1), gap_hi);
		insert_range(ranges, part_create_partition(set, lo, hi, default_oid, &moved, false),
					 lo, hi);
		(*created)++;
		/* the next value is >= hi; "> hi - 1 microsecond" in key time */
		cursor = hi - 1;
		if (set->key.kind == PK_KEY_DATE)
			cursor = hi - USECS_PER_DAY;
	}
	return moved;
}
