/*-------------------------------------------------------------------------
 *
 * hypo.c
 *	  perfkit's hypothetical indexes: the planner is shown indexes that do
 *	  not exist, only while perfkit costs a query.
 *
 * advisor_cost() plans a copy of an analyzed query with pg_plan_query()
 * and returns the plan's total cost.  Around that call it sets a
 * backend-local list of hypothetical indexes and a costing flag, reset in
 * PG_FINALLY, so that an error leaves nothing set.  The
 * get_relation_info hook (installed in src/perfkit.c) appends an
 * IndexOptInfo for each hypothetical index of the relation being planned,
 * but only at planner nesting depth 1: the planner hook counts depth while
 * costing, so that a query planned from inside the costed one (a function
 * evaluated during constant folding) never sees a hypothetical index and
 * so never carries one into an executor or a plan cache.  The costed plan
 * itself is thrown away: no EXPLAIN prints it, no executor runs it.  The
 * executor hooks refuse to sample while costing is active.
 *
 * A hypothetical index has a fake OID from a backend-local counter,
 * starting at FAKE_OID_BASE; nothing opens it, since IndexOptInfo's
 * "hypothetical" flag keeps selfuncs.c from scanning it for the actual
 * range of a column, and perfkit supplies its own cost estimator for BRIN
 * (PostgreSQL's opens the index to read its pages_per_range).
 *
 * Partitioned tables.  A candidate on a partitioned table stands for the
 * index PostgreSQL builds on each of its partitions: the planner never
 * looks at a partitioned table's own indexes, so the get_relation_info
 * hook shows, on each partition it plans (those partition pruning keeps),
 * a copy of the parent's hypothetical index with the partition's
 * attribute numbers (matched by name) and its own size estimate.  A
 * partition named directly by a query sees its ancestors' candidates too.
 *
 * Size estimates: a btree has one tuple per table row (times the
 * predicate's selectivity for a partial index) of MAXALIGN(8 + key and
 * INCLUDE widths) plus a 4-byte line pointer, leaves filled to the default
 * fillfactor of 90%, and one internal level per factor of fanout; a BRIN
 * index has one summary per 128 heap pages plus its revmap and metapage.
 *
 * Whose rights.  advisor_cost() plans as the role it is given: a captured
 * statement is planned as its author, in a security-restricted operation
 * (advisor_become()), because the planner calls functions that are not
 * in the query tree (a range type's subtype_diff during selectivity
 * estimation, SQL functions it inlines, default expressions); run as the
 * caller of recommend_indexes(), a superuser, they would run as the
 * superuser.  index_advisor() plans the caller's own text as the caller.
 *
 * Costing runs with parallelism off (cursor options 0) and no bound
 * parameter values: a statement with parameters ($1) is costed as its
 * generic plan, the one a prepared statement settles on, in which a
 * comparison with a parameter is estimated from the column's statistics
 * (its number of distinct values for equality, default selectivities for
 * ranges).
 *
 * src/advisor/hypo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/attmap.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "storage/bufpage.h"
#include "tcop/tcopprot.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "perfkit/advisor.h"

#define FAKE_OID_BASE		((Oid) 0xFFFF0000)
#define BRIN_PAGES_PER_RANGE	128
#define BTREE_FILLFACTOR	0.90

static bool costing = false;
static int	planner_depth = 0;
static List *active_hypos = NIL;

bool
advisor_costing_active(void)
{
	return costing;
}

void
advisor_planner_enter(void)
{
	planner_depth++;
}

void
advisor_planner_exit(void)
{
	planner_depth--;
}

/*
 * A relation's tuples, pages and all-visible pages from pg_class; for a
 * partitioned table, the sums over its leaf partitions.
 */
void
advisor_rel_size(Oid relid, double *tuples, double *pages, double *allvisible)
{
	List	   *rels;
	ListCell   *lc;

	*tuples = *pages = *allvisible = 0;
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
		rels = find_all_inheritors(relid, NoLock, NULL);
	else
		rels = list_make1_oid(relid);
	foreach(lc, rels)
	{
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_class c;

		if (!HeapTupleIsValid(tp))
			continue;
		c = (Form_pg_class) GETSTRUCT(tp);
		if (c->relkind != RELKIND_PARTITIONED_TABLE)
		{
			*tuples += Max(c->reltuples, 0);
			*pages += c->relpages;
			*allvisible += c->relallvisible;
		}
		ReleaseSysCache(tp);
	}
	list_free(rels);
}

/* The hypothetical index with this fake OID, or NULL. */
static HypoIndex *
find_hypo(Oid indexoid)
{
	ListCell   *lc;

	foreach(lc, active_hypos)
	{
		HypoIndex  *h = lfirst(lc);

		if (h->fakeoid == indexoid)
			return h;
	}
	return NULL;
}

/*
 * BRIN cost estimate for a hypothetical index, on the model of
 * PostgreSQL's: the whole revmap is read, then the summaries; the ranges
 * that match are the qual's selectivity spread by the column's physical
 * correlation.
 */
static void
hypo_brin_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					   Cost *indexStartupCost, Cost *indexTotalCost,
					   Selectivity *indexSelectivity, double *indexCorrelation,
					   double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	HypoIndex  *h = find_hypo(index->indexoid);
	double		ranges;
	double		sel;
	double		minranges;
	double		estranges;
	double		corr = h ? fabs(h->correlation) : 0.0;
	double		spc_seq_page_cost;
	double		spc_random_page_cost;
	List	   *quals = get_quals_from_indexclauses(path->indexclauses);
	Cost		qual_cost;
	double		revmap_pages;

	get_tablespace_page_costs(index->reltablespace, &spc_random_page_cost,
							  &spc_seq_page_cost);
	ranges = Max(ceil((double) index->rel->pages / BRIN_PAGES_PER_RANGE), 1.0);
	sel = clauselist_selectivity(root, quals, index->rel->relid, JOIN_INNER, NULL);
	minranges = Min(ceil(ranges * sel), ranges);
	if (corr < 1e-10)
		estranges = ranges;
	else
		estranges = Min(minranges / corr, ranges);
	*indexSelectivity = estranges / ranges;
	CLAMP_PROBABILITY(*indexSelectivity);
	*indexCorrelation = corr;
	revmap_pages = Max(ceil(ranges / 1360.0), 1.0);
	*indexStartupCost = spc_seq_page_cost * revmap_pages * loop_count;
	*indexTotalCost = *indexStartupCost +
		spc_random_page_cost * Max((double) index->pages - revmap_pages, 1.0) * loop_count;
	*indexTotalCost += 0.1 * cpu_operator_cost * estranges * BRIN_PAGES_PER_RANGE;
	qual_cost = index_other_operands_eval_cost(root, quals) +
		list_length(quals) * cpu_operator_cost * ranges;
	*indexStartupCost += qual_cost;
	*indexTotalCost += qual_cost;
	*indexPages = index->pages;
}

/* The IndexOptInfo the planner sees for h on rel. */
static IndexOptInfo *
build_index_info(HypoIndex *h, RelOptInfo *rel, Relation heap)
{
	IndexOptInfo *info = makeNode(IndexOptInfo);
	Oid			amoid = (h->kind == ADVISOR_BRIN) ? BRIN_AM_OID : BTREE_AM_OID;
	IndexAmRoutine *am = GetIndexAmRoutineByAmId(amoid, false);
	int			i;
	List	   *tlist = NIL;

	info->indexoid = h->fakeoid;
	info->reltablespace = rel->reltablespace;
	info->rel = rel;
	info->pages = h->pages;
	info->tuples = h->tuples;
	info->tree_height = (h->kind == ADVISOR_BRIN) ? -1 : h->tree_height;
	info->ncolumns = h->ncols;
	info->nkeycolumns = h->nkeys;
	info->indexkeys = palloc(sizeof(int) * h->ncols);
	info->indexcollations = palloc(sizeof(Oid) * h->nkeys);
	info->opfamily = palloc(sizeof(Oid) * h->nkeys);
	info->opcintype = palloc(sizeof(Oid) * h->nkeys);
	info->canreturn = palloc(sizeof(bool) * h->ncols);
	info->opclassoptions = palloc0(sizeof(bytea *) * h->nkeys);

	for (i = 0; i < h->ncols; i++)
	{
		AttrNumber	attnum = h->attnums[i];
		Oid			atttype;
		int32		atttypmod;
		Oid			attcoll;
		Var		   *var;

		get_atttypetypmodcoll(h->relid, attnum, &atttype, &atttypmod, &attcoll);
		info->indexkeys[i] = attnum;
		info->canreturn[i] = (amoid == BTREE_AM_OID);
		if (i < h->nkeys)
		{
			Oid			opclass;

			if (h->kind == ADVISOR_PATTERN && i == 0)
				opclass = get_opclass_oid(BTREE_AM_OID,
										  list_make1(makeString("text_pattern_ops")),
										  false);
			else
				opclass = GetDefaultOpClass(atttype, amoid);
			if (!OidIsValid(opclass))
				elog(ERROR, "no default operator class for type %u", atttype);
			info->opfamily[i] = get_opclass_family(opclass);
			info->opcintype[i] = get_opclass_input_type(opclass);
			info->indexcollations[i] = attcoll;
		}
		var = makeVar(rel->relid, attnum, atttype, atttypmod, attcoll, 0);
		tlist = lappend(tlist, makeTargetEntry((Expr *) var, i + 1, NULL, false));
	}
	info->relam = amoid;
	info->amcanorderbyop = am->amcanorderbyop;
	info->amoptionalkey = am->amoptionalkey;
	info->amsearcharray = am->amsearcharray;
	info->amsearchnulls = am->amsearchnulls;
	info->amcanparallel = am->amcanparallel;
	info->amhasgettuple = (am->amgettuple != NULL);
	info->amhasgetbitmap = (am->amgetbitmap != NULL &&
							heap->rd_tableam->scan_bitmap_next_block != NULL);
	info->amcanmarkpos = (am->ammarkpos != NULL && am->amrestrpos != NULL);
	if (amoid == BRIN_AM_OID)
		info->amcostestimate = (void (*) ()) hypo_brin_costestimate;
	else
		info->amcostestimate = am->amcostestimate;

	if (amoid == BTREE_AM_OID)
	{
		info->sortopfamily = info->opfamily;
		info->reverse_sort = palloc0(sizeof(bool) * h->nkeys);
		info->nulls_first = palloc0(sizeof(bool) * h->nkeys);
	}
	else
	{
		info->sortopfamily = NULL;
		info->reverse_sort = NULL;
		info->nulls_first = NULL;
	}
	info->indexprs = NIL;
	info->indpred = NIL;
	if (h->predicate != NIL)
	{
		info->indpred = copyObject(h->predicate);
		if (rel->relid != 1)
			ChangeVarNodes((Node *) info->indpred, 1, rel->relid, 0);
	}
	info->indextlist = tlist;
	info->indrestrictinfo = NIL;
	info->predOK = false;
	info->unique = false;
	info->immediate = true;
	info->hypothetical = true;
	return info;
}

/*
 * get_relation_info hook: add the hypothetical indexes of this relation,
 * only while perfkit costs and only in the costed query's own planning.
 */
/*
 * The copy of h, a candidate on a partitioned table, that partition
 * childid (a descendant of h's table) gets: its attribute numbers and
 * predicate mapped by column name, its size estimated from its own rows.
 */
static HypoIndex *
hypo_for_partition(HypoIndex *h, Oid childid, Relation child)
{
	HypoIndex  *c = palloc(sizeof(HypoIndex));
	double		tuples;
	double		pages;
	double		allvisible;
	int			i;

	*c = *h;
	c->relid = childid;
	for (i = 0; i < h->ncols; i++)
		c->attnums[i] = get_attnum(childid, get_attname(h->relid, h->attnums[i], false));
	if (h->predicate != NIL)
	{
		Relation	parent = table_open(h->relid, NoLock);
		AttrMap    *map = build_attrmap_by_name(RelationGetDescr(child),
												RelationGetDescr(parent));
		bool		whole_row;

		c->predicate = (List *) map_variable_attnos((Node *) h->predicate, 1, 0, map,
													InvalidOid, &whole_row);
		table_close(parent, NoLock);
	}
	advisor_rel_size(h->relid, &tuples, &pages, &allvisible);
	advisor_hypo_estimate(c, tuples > 0 ? Min(h->tuples / tuples, 1.0) : 1.0);
	return c;
}

void
advisor_get_relation_info(PlannerInfo *root, Oid relationObjectId,
						  bool inhparent, RelOptInfo *rel)
{
	ListCell   *lc;
	Relation	heap;
	List	   *ancestors = NIL;

	if (!costing || planner_depth != 1 || inhparent || active_hypos == NIL)
		return;
	if (get_rel_relispartition(relationObjectId))
		ancestors = get_partition_ancestors(relationObjectId);
	heap = NULL;
	foreach(lc, active_hypos)
	{
		HypoIndex  *h = lfirst(lc);
		bool		inherited = list_member_oid(ancestors, h->relid);

		if (h->relid != relationObjectId && !inherited)
			continue;
		if (heap == NULL)
			heap = table_open(relationObjectId, NoLock);
		rel->indexlist = lappend(rel->indexlist,
								 build_index_info(inherited ?
												  hypo_for_partition(h, relationObjectId, heap) : h,
												  rel, heap));
	}
	if (heap != NULL)
		table_close(heap, NoLock);
}

/*
 * Become userid, in a security-restricted operation with a GUC nest level
 * of its own, for work done on behalf of a captured statement's author;
 * InvalidOid (or the current user) changes only nothing.  The author's
 * functions that the planner reaches (a range type's subtype_diff, an
 * inlined SQL function, a default expression) then run with the author's
 * rights and cannot leave a setting behind.  On error, the abort of the
 * (sub)transaction restores the user id, the security context and the
 * settings; advisor_unbecome() is called on success only.
 */
void
advisor_become(Oid userid, AdvisorIdentity *id)
{
	id->switched = false;
	if (!OidIsValid(userid))
		return;
	GetUserIdAndSecContext(&id->save_userid, &id->save_sec_context);
	SetUserIdAndSecContext(userid,
						   id->save_sec_context | SECURITY_RESTRICTED_OPERATION);
	id->save_nestlevel = NewGUCNestLevel();
	id->switched = true;
}

void
advisor_unbecome(AdvisorIdentity *id)
{
	if (!id->switched)
		return;
	AtEOXact_GUC(false, id->save_nestlevel);
	SetUserIdAndSecContext(id->save_userid, id->save_sec_context);
	id->switched = false;
}

/*
 * The work the advisor runs in a subtransaction (pk_try_subxact,
 * src/util/subxact.c) may fail: a captured statement whose author's
 * function fails on purpose, a text that no longer analyzes.  Such an
 * error is caught and the statement left out, except a cancel request,
 * which must stop the whole call: advisor_error_propagates is the
 * subtransaction's rethrow test, advisor_left_out what the caller does
 * with an error caught.
 */
bool
advisor_error_propagates(ErrorData *edata, void *arg)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
}

/* Note the error that left a statement out, free it; its SQLSTATE. */
int
advisor_left_out(ErrorData *edata)
{
	int			code = edata->sqlerrcode;

	ereport(DEBUG1,
			(errmsg_internal("index advisor: captured statement left out: %s",
							 edata->message)));
	FreeErrorData(edata);
	return code;
}

/*
 * The total cost of planning query with the hypothetical indexes hypos
 * (NIL: as the database is).  The query is copied; memory used by the
 * planner is freed before returning.
 */
double
advisor_cost(Query *query, Oid userid, List *hypos)
{
	MemoryContext cxt;
	MemoryContext old;
	double		cost = 0;
	AdvisorIdentity id;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "perfkit costing",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	advisor_become(userid, &id);
	PG_TRY();
	{
		Query	   *copy = copyObject(query);
		PlannedStmt *plan;

		costing = true;
		planner_depth = 0;
		active_hypos = hypos;
		plan = pg_plan_query(copy, NULL, 0, NULL);
		cost = plan->planTree->total_cost;
	}
	PG_FINALLY();
	{
		costing = false;
		planner_depth = 0;
		active_hypos = NIL;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	advisor_unbecome(&id);
	MemoryContextDelete(cxt);
	return cost;
}

/* Average width of a column: its statistics, else its type's guess. */
static int32
column_width(Oid relid, AttrNumber attnum)
{
	int32		w = get_attavgwidth(relid, attnum);

	if (w <= 0)
	{
		Oid			typ;
		int32		typmod;
		Oid			coll;

		get_atttypetypmodcoll(relid, attnum, &typ, &typmod, &coll);
		w = get_typavgwidth(typ, typmod);
	}
	return w;
}

/*
 * Fill in h's estimated tuples, pages and height from the table's
 * statistics; fraction is the share of rows a partial index keeps.
 */
void
advisor_hypo_estimate(HypoIndex *h, double fraction)
{
	double		reltuples = 0;
	double		relpages = 0;
	int32		width = 0;
	int			i;
	double		usable = BLCKSZ - SizeOfPageHeaderData;

	double		allvisible;

	advisor_rel_size(h->relid, &reltuples, &relpages, &allvisible);
	for (i = 0; i < h->ncols; i++)
		width += column_width(h->relid, h->attnums[i]);

	if (h->kind == ADVISOR_BRIN)
	{
		double		ranges = Max(ceil(relpages / BRIN_PAGES_PER_RANGE), 1.0);
		double		per_page = floor(usable / (MAXALIGN(8 + 2 * width) + sizeof(ItemIdData)));

		h->tuples = reltuples;
		h->pages = (BlockNumber) (2 + ceil(ranges / 1360.0) + ceil(ranges / Max(per_page, 1.0)));
		h->tree_height = -1;
	}
	else
	{
		double		itemsz = MAXALIGN(sizeof(IndexTupleData) + width) + sizeof(ItemIdData);
		double		per_leaf = floor((usable - sizeof(BTPageOpaqueData)) * BTREE_FILLFACTOR / itemsz);
		double		fanout = floor((usable - sizeof(BTPageOpaqueData)) / itemsz);
		double		tuples = ceil(reltuples * fraction);
		double		level;
		double		pages;
		int			height = 0;

		per_leaf = Max(per_leaf, 2.0);
		fanout = Max(fanout, 2.0);
		level = Max(ceil(tuples / per_leaf), 1.0);
		pages = level + 1;		/* leaves and the metapage */
		while (level > 1)
		{
			level = ceil(level / fanout);
			pages += level;
			height++;
		}
		h->tuples = tuples;
		h->pages = (BlockNumber) pages;
		h->tree_height = height;
	}
}
