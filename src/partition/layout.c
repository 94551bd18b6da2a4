/*-------------------------------------------------------------------------
 *
 * layout.c
 *	  The partitions of a set: reading their bounds, finding the gaps to
 *	  fill, and creating one partition.
 *
 * Bounds are read from the parent's partition descriptor in the relcache,
 * so a run that has nothing to do reads cached memory only and takes no
 * lock stronger than ACCESS SHARE.
 *
 * Creating a partition.  A new partition is made as a standalone table
 * (CREATE TABLE ... (LIKE parent ...)), filled when rows of its range are
 * being moved out of the default partition, then attached with ALTER
 * TABLE ... ATTACH PARTITION.  ATTACH needs only SHARE UPDATE EXCLUSIVE on
 * the parent, which does not conflict with reads or writes; CREATE TABLE
 * ... PARTITION OF would need ACCESS EXCLUSIVE on the parent.  ATTACH
 * builds the parent's indexes on the new table, clones its foreign keys
 * and row triggers, and checks its rows against the new bound.  When the
 * set has a default partition, ATTACH also locks it ACCESS EXCLUSIVE and
 * checks that none of its rows belong to the new range; maintenance.c
 * holds the locks that make that check race-free (see there).
 *
 * The job's form.  When the caller already holds the parent ACCESS
 * EXCLUSIVE (the job, which commits after each table, got it without
 * waiting: maintenance.c), the partition is made by one statement, CREATE
 * TABLE ... PARTITION OF, which costs about 0.74 of the two above in
 * instructions: ATTACH invalidates the parent's relcache entry when it
 * adds the pg_inherits row (SetRelationHasSubclass), before it stores the
 * bound, so the parent's partition descriptor is built a second time
 * within the statement, and it merges every column and constraint into
 * the standalone table's catalog rows afterwards.  Both forms leave the same
 * catalog state (columns, defaults, constraints, inheritance counts,
 * indexes and their names, cloned triggers and foreign keys, owner, no
 * grants or comments): ATTACH marks a partition's columns and constraints
 * inherited-only, as PARTITION OF makes them.  Only where they would
 * differ is the two-statement form kept: a parent with a tablespace of
 * its own (PARTITION OF would place the partition there, LIKE in the
 * default tablespace) and Citus tables.
 *
 * Partition names are <table>_pYYYYMMDD (monthly and daily sets) or
 * <table>_pYYYYMMDD_HHMI (hourly sets, and any partition not starting at
 * midnight), from the partition's lower bound in key time, in the
 * parent's schema; <table> is cut so that the name fits in 63 bytes.
 *
 * src/partition/layout.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "common/hashfn.h"
#include "utils/fmgroids.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "perfkit/partition.h"
#include "perfkit/util.h"

static int64
bound_time(PkSet *set, PartitionBoundInfo bi, int i)
{
	if (bi->kind[i][0] == PARTITION_RANGE_DATUM_MINVALUE)
		return PK_TIME_MIN;
	if (bi->kind[i][0] == PARTITION_RANGE_DATUM_MAXVALUE)
		return PK_TIME_MAX;
	return part_from_datum(&set->key, bi->datums[i][0]);
}

/*
 * The partitions of set's parent (PkRange list sorted by lower bound),
 * and its default partition (InvalidOid when none), from the partition
 * descriptor the relcache keeps (no catalog reads, no parsing).  Locks
 * the parent ACCESS SHARE.  Partitions being detached concurrently are
 * left out.
 *
 * In a range partition descriptor, datums[] holds every distinct bound in
 * order and indexes[i] the partition whose upper bound is datums[i] (-1
 * for a gap); that partition's lower bound is datums[i - 1].
 */
List *
part_layout_read(PkSet *set, Oid *default_oid)
{
	Relation	rel;
	PartitionDesc pd;
	PartitionBoundInfo bi;
	List	   *result = NIL;
	int			i;

	rel = relation_open(set->parent, AccessShareLock);
	pd = RelationGetPartitionDesc(rel, true);
	bi = pd->boundinfo;
	*default_oid = InvalidOid;
	if (bi != NULL && bi->strategy == PARTITION_STRATEGY_RANGE)
	{
		if (partition_bound_has_default(bi))
			*default_oid = pd->oids[bi->default_index];
		for (i = 1; i < bi->ndatums; i++)
		{
			int			part = bi->indexes[i];
			PkRange    *r;

			if (part < 0)
				continue;
			r = palloc(sizeof(PkRange));
			r->relid = pd->oids[part];
			r->lower = bound_time(set, bi, i - 1);
			r->upper = bound_time(set, bi, i);
			result = lappend(result, r);
		}
	}
	relation_close(rel, NoLock);
	return result;
}

/*
 * A digest of parent's partitions as pg_inherits holds them: which
 * relations, attached by which transaction (the raw xmin of their
 * pg_inherits row, which freezing leaves in place), and whether they are
 * being detached.  A partition's bound is set when it is attached and
 * cannot change until it is detached, so an equal digest means the same
 * partitions with the same bounds.  Read with an index scan of
 * pg_inherits: no relcache entry, no bound to parse.
 */
uint64
part_layout_digest(Oid parent)
{
	Relation	inh;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	uint64		digest = 0;

	inh = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhparent, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(parent));
	scan = systable_beginscan(inh, InheritsParentIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_inherits form = (Form_pg_inherits) GETSTRUCT(tup);
		uint64		h;

		h = hash_bytes_uint32_extended(form->inhrelid,
									   HeapTupleHeaderGetRawXmin(tup->t_data));
		if (form->inhdetachpending)
			h = hash_combine64(h, 1);
		digest += h;			/* order-independent */
	}
	systable_endscan(scan);
	table_close(inh, AccessShareLock);
	return digest;
}

/*
 * The contiguous run of partitions that holds key time t: [*lo, *hi);
 * false when no partition holds t.
 */
bool
part_covered_run(List *ranges, int64 t, int64 *lo, int64 *hi)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);

		if (!found)
		{
			if (r->lower <= t && t < r->upper)
			{
				found = true;
				*hi = r->upper;
			}
			continue;
		}
		if (r->lower != *hi)
			break;
		*hi = r->upper;
	}
	if (!found)
		return false;
	*lo = t;
	for (;;)
	{
		bool		extended = false;

		foreach(lc, ranges)
		{
			PkRange    *r = lfirst(lc);

			if (r->upper == *lo && r->lower < *lo)
			{
				*lo = r->lower;
				extended = true;
			}
		}
		if (!extended)
			break;
	}
	return true;
}

/*
 * The free gap [lo, hi) between partitions that holds key time v; false
 * when a partition holds v.
 */
bool
part_free_gap(List *ranges, int64 v, int64 *lo, int64 *hi)
{
	ListCell   *lc;

	*lo = PK_TIME_MIN;
	*hi = PK_TIME_MAX;
	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);

		if (r->lower <= v && v < r->upper)
			return false;
		if (r->upper <= v && r->upper > *lo)
			*lo = r->upper;
		if (r->lower > v && r->lower < *hi)
			*hi = r->lower;
	}
	return true;
}

/*
 * The ranges to create so that every slot of the set from key time
 * `from` up to `to` is covered: each slot minus the partitions already
 * overlapping it (gaps are filled; partitions not aligned to the set's
 * width are respected).  A list of PkRange with relid InvalidOid.
 */
List *
part_missing_ranges(PkSet *set, List *ranges, int64 from, int64 to)
{
	List	   *result = NIL;
	int64		t;
	int			slots = 0;

	for (t = part_floor(&set->key, from); t < to;)
	{
		int64		next = part_add(&set->key, t, 1);
		int64		cur = t;
		ListCell   *lc;

		if (++slots > 100000)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than 100000 partitions would be needed"),
					 errhint("Give partition_table() a later start, or a wider interval.")));
		foreach(lc, ranges)
		{
			PkRange    *r = lfirst(lc);

			if (r->upper <= cur)
				continue;
			if (r->lower >= next)
				break;
			if (r->lower > cur)
			{
				PkRange    *piece = palloc(sizeof(PkRange));

				piece->relid = InvalidOid;
				piece->lower = cur;
				piece->upper = r->lower;
				result = lappend(result, piece);
			}
			cur = Max(cur, r->upper);
			if (cur >= next)
				break;
		}
		if (cur < next)
		{
			PkRange    *piece = palloc(sizeof(PkRange));

			piece->relid = InvalidOid;
			piece->lower = cur;
			piece->upper = next;
			result = lappend(result, piece);
		}
		t = next;
	}
	return result;
}

/* The name of the partition of set starting at lo (not quoted). */
char *
part_partition_name(PkSet *set, int64 lo)
{
	char	   *relname = get_rel_name(set->parent);
	char	   *suffix = part_suffix(&set->key, lo);
	int			len;

	len = pg_mbcliplen(relname, strlen(relname), NAMEDATALEN - 2 - strlen(suffix));
	return psprintf("%.*s_%s", len, relname, suffix);
}

static char *
qualified(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Lock relid in mode, waiting at most lock_timeout like LOCK TABLE (the
 * caller has checked ownership).
 */
void
part_lock_relation(Oid relid, LOCKMODE mode)
{
	LockRelationOid(relid, mode);
}

/* The parent's columns that can be inserted into, quoted, comma separated. */
static char *
insertable_columns(Oid relid)
{
	StringInfoData buf;
	HeapTuple	tup;
	AttrNumber	attnum;

	initStringInfo(&buf);
	for (attnum = 1;; attnum++)
	{
		Form_pg_attribute att;

		tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(tup))
			break;
		att = (Form_pg_attribute) GETSTRUCT(tup);
		if (!att->attisdropped && att->attgenerated == '\0')
		{
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			appendStringInfoString(&buf, quote_identifier(NameStr(att->attname)));
		}
		ReleaseSysCache(tup);
	}
	return buf.data;
}

/*
 * May set's partitions be made with CREATE TABLE ... PARTITION OF, with
 * the same result as the standalone table attached (see the header)?
 */
bool
part_partition_of_same(PkSet *set)
{
	HeapTuple	tup;
	Oid			spc;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(set->parent));
	if (!HeapTupleIsValid(tup))
		return false;
	spc = ((Form_pg_class) GETSTRUCT(tup))->reltablespace;
	ReleaseSysCache(tup);
	return !OidIsValid(spc) && !pk_citus_table(set->parent);
}

/*
 * Create the partition [lo, hi) of set and attach it.  When moved is
 * not NULL, the rows of that range are first moved from the default
 * partition default_oid into the new table (the caller holds the default
 * partition locked); their number is added to *moved.  Returns the new
 * partition's Oid.  moved is NULL when no rows are to be moved.
 *
 * partition_of: the caller holds the parent ACCESS EXCLUSIVE and
 * part_partition_of_same() said yes; the partition is then made by CREATE
 * TABLE ... PARTITION OF (moved must be NULL).
 */
Oid
part_create_partition(PkSet *set, int64 lo, int64 hi, Oid default_oid,
					  int64 *moved, bool partition_of)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(set->parent));
	char	   *name = part_partition_name(set, lo);
	char	   *qname = quote_qualified_identifier(nsp, name);
	char	   *qparent = qualified(set->parent);
	Oid			owner;
	Oid			relid;
	int64		filled = 0;

	if (OidIsValid(get_relname_relid(name, get_rel_namespace(set->parent))))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", name),
				 errdetail("perfkit would create partition \"%s\" of table \"%s\" for [%s, %s).",
						   name, get_rel_name(set->parent),
						   part_literal(&set->key, lo), part_literal(&set->key, hi)),
				 errhint("Rename or drop that relation.")));

	Assert(!partition_of || moved == NULL);
	if (partition_of)
		part_exec(psprintf("CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)",
						   qname, qparent, part_literal(&set->key, lo),
						   part_literal(&set->key, hi)),
				  0, NULL, NULL, NULL, false);
	else
		part_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
						   "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)",
						   qname, qparent),
				  0, NULL, NULL, NULL, false);
	relid = get_relname_relid(name, get_rel_namespace(set->parent));

	/* Same owner as the parent (the caller may be a member of its owner). */
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(set->parent));

		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
		if (owner != GetUserId())
			part_exec(psprintf("ALTER TABLE %s OWNER TO %s", qname,
							   quote_identifier(GetUserNameFromId(owner, false))),
					  0, NULL, NULL, NULL, false);
	}

	if (moved != NULL && OidIsValid(default_oid))
	{
		char	   *cols = insertable_columns(set->parent);
		const char *col = quote_identifier(set->column);
		Oid			argtypes[2] = {set->key.typid, set->key.typid};
		Datum		values[2];

		values[0] = part_to_datum(&set->key, lo);
		values[1] = part_to_datum(&set->key, hi);
		part_exec(psprintf("WITH moved AS (DELETE FROM ONLY %s WHERE %s >= $1 AND %s < $2 "
						   "RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moved",
						   qualified(default_oid), col, col, cols, qname, cols, cols),
				  2, argtypes, values, NULL, false);
		filled = (int64) SPI_processed;
		*moved += filled;
	}

	if (!partition_of)
		part_exec(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
						   qparent, qname, part_literal(&set->key, lo),
						   part_literal(&set->key, hi)),
				  0, NULL, NULL, NULL, false);

	/*
	 * On Citus, attaching to a distributed table distributed the new
	 * partition (co-located with its parent) and copied the moved rows
	 * into its shards; the copy left on this node is invisible and only
	 * takes space: Citus's own function removes it.
	 */
	if (filled > 0 && pk_citus_table(relid))
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		part_exec("SELECT pg_catalog.truncate_local_data_after_distributing_table($1::pg_catalog.regclass)",
				  1, argtypes, values, NULL, false);
	}
	return relid;
}
