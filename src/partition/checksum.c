/*-------------------------------------------------------------------------
 *
 * checksum.c
 *	  The row checksum that convert_to_partitioned() compares between a
 *	  table and its partitioned copy before it swaps them.
 *
 * A table's checksum is its row count and the sum, modulo 2^64, of one
 * 64-bit hash per row; a sum does not depend on the order the rows are
 * read in, so a plain table and a partitioned one holding the same
 * multiset of rows agree.  A row's hash combines the hashes of the listed
 * columns, in the listed order, found by name in each relation (the copy
 * has other attribute numbers when the table has dropped columns, and an
 * extra column of its own), and of the row's origin: its own tid in the
 * table, the tid it was copied from (a column) in the copy.  So equal sums
 * mean that each tid of the table has its row in the copy, and nothing
 * else is there: the conversion relies on that to check, after a full
 * check on a snapshot, only the tids written since (part_rows_checksum
 * over the rows of a query).  A value is hashed with its type's extended
 * hash function, under the column's collation; a type without one (point,
 * json, ...) is hashed through its text output.  NULL has a hash of its
 * own.
 *
 * The relations are read directly, a heap scan per leaf relation under the
 * caller's snapshot, with no executor in between: the SQL form
 * (sum(hash_record(ROW(...)))) spent most of its time forming a record
 * per row.
 *
 * src/partition/checksum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "perfkit/partition.h"

/* What hashes one column of one relation. */
typedef struct ColHash
{
	AttrNumber	attnum;
	Oid			collation;
	bool		by_text;		/* no extended hash function: hash the text */
	FmgrInfo	proc;			/* hash_extended or output function */
} ColHash;

/* What hashes a row: its columns, then its origin tid. */
typedef struct RowHasher
{
	int			ncols;
	ColHash    *cols;
	AttrNumber	maxatt;
	AttrNumber	tidatt;			/* the origin column, or 0: the row's own tid */
} RowHasher;

#define NULL_HASH	UINT64CONST(0x5bd1e9955bd1e995)

/* The hasher of the columns attnums[0..ncols) of desc (and tidatt). */
static void
hasher_init(RowHasher *h, TupleDesc desc, const AttrNumber *attnums, int ncols,
			AttrNumber tidatt)
{
	int			i;

	h->ncols = ncols;
	h->cols = palloc0(sizeof(ColHash) * Max(ncols, 1));
	h->maxatt = tidatt;
	h->tidatt = tidatt;
	for (i = 0; i < ncols; i++)
	{
		ColHash    *c = &h->cols[i];
		Form_pg_attribute att = TupleDescAttr(desc, attnums[i] - 1);
		TypeCacheEntry *tce;

		c->attnum = attnums[i];
		c->collation = att->attcollation;
		tce = lookup_type_cache(att->atttypid, TYPECACHE_HASH_EXTENDED_PROC);
		if (OidIsValid(tce->hash_extended_proc))
			fmgr_info(tce->hash_extended_proc, &c->proc);
		else
		{
			Oid			outfunc;
			bool		varlena;

			getTypeOutputInfo(att->atttypid, &outfunc, &varlena);
			fmgr_info(outfunc, &c->proc);
			c->by_text = true;
		}
		h->maxatt = Max(h->maxatt, c->attnum);
	}
}

/* The hash of one row (values and isnull indexed by attribute number - 1). */
static uint64
row_hash(RowHasher *rh, Datum *values, bool *isnull, ItemPointer own_tid)
{
	uint64		h = 0;
	uint64		t;
	ItemPointer tid = own_tid;
	int			i;

	for (i = 0; i < rh->ncols; i++)
	{
		ColHash    *c = &rh->cols[i];
		Datum		v = values[c->attnum - 1];
		uint64		vh;

		if (isnull[c->attnum - 1])
			vh = NULL_HASH;
		else if (c->by_text)
		{
			char	   *str = OutputFunctionCall(&c->proc, v);

			vh = hash_bytes_extended((const unsigned char *) str, strlen(str), 0);
		}
		else
			vh = DatumGetUInt64(FunctionCall2Coll(&c->proc, c->collation, v,
												  Int64GetDatum(0)));
		h = hash_combine64(h, vh);
	}
	if (rh->tidatt != InvalidAttrNumber)
		tid = isnull[rh->tidatt - 1] ? NULL : (ItemPointer) DatumGetPointer(values[rh->tidatt - 1]);
	if (tid == NULL)
		return hash_combine64(h, NULL_HASH);
	t = ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
	return hash_combine64(h, hash_bytes_extended((const unsigned char *) &t, sizeof(t), 0));
}

static void
leaf_checksum(Oid relid, List *colnames, const char *tidcol, Snapshot snap,
			  int64 *rows, uint64 *sum)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			ncols = list_length(colnames);
	AttrNumber *attnums = palloc0(sizeof(AttrNumber) * Max(ncols, 1));
	AttrNumber	tidatt = InvalidAttrNumber;
	RowHasher	rh;
	TupleTableSlot *slot;
	TableScanDesc scan;
	MemoryContext rowcxt;
	MemoryContext old;
	ListCell   *lc;
	int			i = 0;
	int64		n = 0;
	uint64		s = 0;

	foreach(lc, colnames)
	{
		const char *name = lfirst(lc);

		attnums[i] = get_attnum(relid, name);
		if (attnums[i] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 name, RelationGetRelationName(rel));
		i++;
	}
	if (tidcol != NULL)
	{
		tidatt = get_attnum(relid, tidcol);
		if (tidatt == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 tidcol, RelationGetRelationName(rel));
	}
	hasher_init(&rh, desc, attnums, ncols, tidatt);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "perfkit checksum rows",
								   ALLOCSET_DEFAULT_SIZES);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	old = MemoryContextSwitchTo(rowcxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		slot_getsomeattrs(slot, rh.maxatt);
		s += row_hash(&rh, slot->tts_values, slot->tts_isnull, &slot->tts_tid);
		n++;
		if ((n & 1023) == 0)
		{
			MemoryContextReset(rowcxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	MemoryContextSwitchTo(old);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
	relation_close(rel, AccessShareLock);
	pfree(rh.cols);
	pfree(attnums);
	*rows += n;
	*sum += s;
}

/*
 * The row count and checksum of relid (every leaf partition of it, if it
 * is partitioned) over the columns colnames and the origin (the column
 * tidcol, or the row's own tid when NULL), as seen by snap.
 */
void
part_rel_checksum(Oid relid, List *colnames, const char *tidcol, Snapshot snap,
				  int64 *rows, uint64 *sum)
{
	*rows = 0;
	*sum = 0;
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		List	   *all = find_all_inheritors(relid, AccessShareLock, NULL);
		ListCell   *lc;

		foreach(lc, all)
		{
			Oid			part = lfirst_oid(lc);

			if (get_rel_relkind(part) == RELKIND_RELATION)
				leaf_checksum(part, colnames, tidcol, snap, rows, sum);
		}
	}
	else
		leaf_checksum(relid, colnames, tidcol, snap, rows, sum);
}

/*
 * Add the rows of an SPI result to a count and checksum, hashed as
 * part_rel_checksum hashes them: its first ncols columns are the row's
 * columns, in the order of part_rel_checksum's colnames, and the next one
 * the row's origin tid.
 */
void
part_rows_checksum(SPITupleTable *tuptable, uint64 ntuples, int ncols,
				   int64 *rows, uint64 *sum)
{
	TupleDesc	desc = tuptable->tupdesc;
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * Max(ncols, 1));
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *isnull = palloc(sizeof(bool) * desc->natts);
	RowHasher	rh;
	uint64		i;
	int			j;

	if (desc->natts != ncols + 1)
		elog(ERROR, "unexpected number of columns in a checksum query: %d", desc->natts);
	for (j = 0; j < ncols; j++)
		attnums[j] = j + 1;
	hasher_init(&rh, desc, attnums, ncols, ncols + 1);
	for (i = 0; i < ntuples; i++)
	{
		heap_deform_tuple(tuptable->vals[i], desc, values, isnull);
		*sum += row_hash(&rh, values, isnull, NULL);
		(*rows)++;
	}
	pfree(rh.cols);
	pfree(attnums);
	pfree(values);
	pfree(isnull);
}
