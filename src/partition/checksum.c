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
 * extra column of its own).  A value is hashed with its type's extended
 * hash function, under the column's collation; a type without one (point,
 * json, ...) is hashed through its text output.  NULL has a hash of its
 * own.
 *
 * The relations are read directly, a heap scan per leaf relation under the
 * caller's snapshot, with no executor in between: the swap holds writers
 * off while this runs, and the SQL form (sum(hash_record(ROW(...))))
 * spent most of its time forming a record per row.
 *
 * src/partition/checksum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
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

#define NULL_HASH	UINT64CONST(0x5bd1e9955bd1e995)

static void
leaf_checksum(Oid relid, List *colnames, Snapshot snap, int64 *rows, uint64 *sum)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			ncols = list_length(colnames);
	ColHash    *cols = palloc0(sizeof(ColHash) * Max(ncols, 1));
	AttrNumber	maxatt = 0;
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
		ColHash    *c = &cols[i++];
		Form_pg_attribute att;
		TypeCacheEntry *tce;

		c->attnum = get_attnum(relid, name);
		if (c->attnum == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 name, RelationGetRelationName(rel));
		att = TupleDescAttr(desc, c->attnum - 1);
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
		maxatt = Max(maxatt, c->attnum);
	}

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "perfkit checksum rows",
								   ALLOCSET_DEFAULT_SIZES);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	old = MemoryContextSwitchTo(rowcxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		uint64		h = 0;

		slot_getsomeattrs(slot, maxatt);
		for (i = 0; i < ncols; i++)
		{
			ColHash    *c = &cols[i];
			Datum		v = slot->tts_values[c->attnum - 1];
			uint64		vh;

			if (slot->tts_isnull[c->attnum - 1])
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
		s += h;
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
	pfree(cols);
	*rows += n;
	*sum += s;
}

/*
 * The row count and checksum of relid (every leaf partition of it, if it
 * is partitioned) over the columns colnames, as seen by snap.
 */
void
part_rel_checksum(Oid relid, List *colnames, Snapshot snap, int64 *rows, uint64 *sum)
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
				leaf_checksum(part, colnames, snap, rows, sum);
		}
	}
	else
		leaf_checksum(relid, colnames, snap, rows, sum);
}
