/*-------------------------------------------------------------------------
 *
 * recommend.c
 *	  Selection: index_advisor() for one query, recommend_indexes() for the
 *	  captured workload, and apply_index().
 *
 * Both functions run the same greedy selection over the candidates of
 * src/advisor/candidates.c.  Each round costs every remaining candidate
 * with the indexes already chosen plus itself, on every query that
 * touches its table, weighted by the query's calls; the candidate with
 * the largest net gain (weighted cost saved minus write overhead) wins,
 * provided the queries it serves become at least min_improvement cheaper.
 * Rounds stop at max_indexes, when nothing gains, or when nothing fits the
 * storage budget.  One composite index that serves many queries wins over
 * one index per query because its gain is summed over all of them.
 *
 * Costs are cached per (candidate, query) and only the queries on the
 * table of the last chosen index are costed again in the next round: a
 * hypothetical index on one table cannot change the plan of a query that
 * does not touch it.  Every candidate is evaluated again in every round,
 * even one that gained nothing before: indexes interact.  An index on a
 * join column (review.book_id) may be useless while the other side of the
 * join is read whole, and make the plan a parameterized nested loop once
 * an index on the other table (book.author_id) narrows that side down.
 * Only a chosen candidate and those prefix-related to it leave the pool;
 * the cache keeps the re-evaluation to the queries the last choice
 * touched.
 *
 * A btree whose keys lead, or are led by, a chosen btree's keys is not
 * chosen after it (it would be a duplicate to drop later).  After the
 * rounds, a swap pass tries each chosen index against the other
 * candidates of its table and keeps whichever gives the lower weighted
 * cost plus write overhead (within 1%: the smaller): greedy order can take
 * early an index that later choices leave second best, such as a btree on
 * a time column that BRIN serves as well for wide ranges once a partial
 * and a composite index serve the narrow queries.  The reported costs are
 * computed last, in order: each row's queries are those it makes cheaper
 * given the rows above it.
 *
 * Ties: a net gain within 1% of the best goes to the smaller index, then
 * to the candidate first in signature order; so the same workload and
 * statistics give the same answer.
 *
 * Write overhead: every row an INSERT (or an UPDATE of an indexed column)
 * in the workload writes costs each new btree seq_page_cost (one leaf
 * page dirtied and logged) and each BRIN a tenth of that, times the
 * statement's calls.
 *
 * Whose rights.  A captured statement is re-planned as its author (the
 * role that ran it, recorded by capture), in a security-restricted
 * operation (advisor_become() in hypo.c): the planner runs functions the
 * query tree does not show, such as a range type's subtype_diff, and they
 * must not run as the caller of recommend_indexes().  Each statement is
 * analyzed as its author, checked against the author's and the caller's
 * privileges and the caller's trust in its functions (untrusted_function(),
 * kept as defence in depth), then planned once as its author, all in a
 * subtransaction; later costings run in a subtransaction of their own too,
 * so an author's function that fails on purpose drops its statement, not
 * the call.  Only statements of authors whose rights the caller has (all,
 * for a superuser) are planned: the caller's search_path, temporary
 * tables and functions take part in the analysis, and becoming a more
 * privileged author must give the caller nothing.  Statements whose author
 * is gone, can no longer read or plan them, or has rights the caller lacks
 * are counted in a NOTICE; a cancel request is never swallowed.  Planning
 * as the author must give no object's owner the author's rights either
 * (a superuser's statement over a view its owner replaced since), so a
 * statement is planned only when every relation, data type and function
 * it reaches belongs to a role with the author's rights
 * (reaches_untrusted_objects()).  index_advisor() plans the caller's own
 * text as the caller.
 *
 * apply_index() builds only statements of the advisor's own shape: one
 * this session's index_advisor() or recommend_indexes() produced, or one
 * that building the candidate again from what it names gives character
 * for character (advisor_candidate_from_statement(), candidates.c), so
 * one produced in another session.  It runs as the caller, who must own
 * the table, and without CONCURRENTLY: CREATE INDEX CONCURRENTLY cannot
 * run inside a function.
 *
 * src/advisor/recommend.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_range.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "perfkit/advisor.h"
#include "perfkit/cache.h"
#include "perfkit/shmem.h"
#include "perfkit/util.h"

/* index_advisor(): an index must make the query this much cheaper. */
#define SINGLE_QUERY_MIN_IMPROVEMENT	0.05
/* statements apply_index() remembers per session */
#define MAX_PRODUCED	1000

typedef struct Produced
{
	char	   *statement;
	List	   *steps;			/* what apply_index() runs */
	char	   *name;
	Oid			nspid;
	Oid			relid;
} Produced;

List	   *advisor_produced = NIL;

typedef struct Choice
{
	HypoIndex  *h;
	double		before;			/* weighted cost of the queries it serves */
	double		after;
	int			nqueries;
	double		write_overhead;
} Choice;

static void
remember(HypoIndex *h)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	Produced   *p;
	ListCell   *lc;

	foreach(lc, advisor_produced)
		if (strcmp(((Produced *) lfirst(lc))->statement, h->statement) == 0)
		{
			MemoryContextSwitchTo(old);
			return;
		}
	if (list_length(advisor_produced) >= MAX_PRODUCED)
		advisor_produced = list_delete_first(advisor_produced);
	p = palloc(sizeof(Produced));
	p->statement = pstrdup(h->statement);
	p->steps = NIL;
	foreach(lc, h->steps)
		p->steps = lappend(p->steps, pstrdup(lfirst(lc)));
	p->name = pstrdup(h->name);
	p->nspid = get_rel_namespace(h->relid);
	p->relid = h->relid;
	advisor_produced = lappend(advisor_produced, p);
	MemoryContextSwitchTo(old);
}

static double
write_overhead(HypoIndex *h, AdvisorQuery **qs, int nq)
{
	double		total = 0;
	double		per_row = (h->kind == ADVISOR_BRIN) ? seq_page_cost * 0.1 : seq_page_cost;
	int			i;

	for (i = 0; i < nq; i++)
	{
		AdvisorQuery *q = qs[i];
		bool		affects = false;

		if (q->write_relid != h->relid)
			continue;
		if (q->query->commandType == CMD_INSERT)
			affects = true;
		else
		{
			int			k;

			for (k = 0; k < h->ncols; k++)
				if (bms_is_member(h->attnums[k] - FirstLowInvalidHeapAttributeNumber,
								  q->updated_cols))
					affects = true;
		}
		if (affects)
			total += q->weight * Max(q->rows_per_call, 1.0) * per_row;
	}
	return total;
}

/* One costing of a captured statement as its author (query_cost). */
typedef struct CostCall
{
	AdvisorQuery *q;
	List	   *set;
	double		cost;
} CostCall;

static void
cost_as_author(void *arg)
{
	CostCall   *c = (CostCall *) arg;

	c->cost = advisor_cost(c->q->query, c->q->userid, c->set);
}

/*
 * The cost of q under the indexes set.  A captured statement is planned as
 * its author, in a subtransaction (pk_try_subxact): its author's functions
 * run while it is planned and may fail on purpose after the first plan
 * succeeded; such a statement is marked broken and keeps its cost (it
 * gains nothing), rather than failing the whole call.
 */
static double
query_cost(AdvisorQuery *q, List *set)
{
	CostCall	c;
	ErrorData  *edata;

	if (!OidIsValid(q->userid))
		return advisor_cost(q->query, InvalidOid, set);
	if (q->broken)
		return q->cost;
	c.q = q;
	c.set = set;
	c.cost = 0;
	if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, cost_as_author, &c,
					   advisor_error_propagates, &edata) == PK_TRY_OK)
		return c.cost;
	(void) advisor_left_out(edata);
	q->broken = true;
	return q->cost;
}

static bool
touches(AdvisorQuery *q, Oid relid)
{
	return list_member_oid(q->relids, relid);
}

/*
 * Are a and b plain btrees of one table whose key columns are one a
 * prefix of the other?  Then proposing both would propose a duplicate.
 */
static bool
prefix_related(HypoIndex *a, HypoIndex *b)
{
	int			n = Min(a->nkeys, b->nkeys);
	int			i;

	if (a->relid != b->relid || a->kind != ADVISOR_BTREE || b->kind != ADVISOR_BTREE)
		return false;
	for (i = 0; i < n; i++)
		if (a->attnums[i] != b->attnums[i])
			return false;
	return true;
}

/* Weighted cost of the queries on relid under the indexes set. */
static double
table_cost(AdvisorQuery **qs, int nq, Oid relid, List *set)
{
	double		total = 0;
	int			i;

	for (i = 0; i < nq; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (touches(qs[i], relid))
			total += qs[i]->weight * query_cost(qs[i], set);
	}
	return total;
}

/*
 * After the greedy rounds: try replacing each chosen index by another
 * candidate of its table.  Greedy order can pick an index early that a
 * later choice makes partly redundant (a btree on a time column, before
 * the partial and composite indexes that serve its narrow queries better);
 * the swap keeps the set whose weighted cost plus write overhead is
 * lower, or, within 1%, the smaller one, or, within 10%, one at most a
 * tenth of the size (a BRIN index of kilobytes against a btree of
 * hundreds of megabytes).  Returns the new set.
 */
static List *
swap_pass(AdvisorQuery **qs, int nq, HypoIndex **cs, int nc, List *chosen,
		  int64 budget, bool count_writes)
{
	int			k;

	for (k = 0; k < list_length(chosen); k++)
	{
		HypoIndex  *cur = list_nth(chosen, k);
		List	   *without = list_copy(chosen);
		double		best_total;
		HypoIndex  *best = cur;
		int64		used = 0;
		ListCell   *lc;
		int			j;

		without = list_delete_nth_cell(without, k);
		foreach(lc, without)
			used += (int64) ((HypoIndex *) lfirst(lc))->pages * BLCKSZ;
		best_total = table_cost(qs, nq, cur->relid, chosen) +
			(count_writes ? write_overhead(cur, qs, nq) : 0);
		for (j = 0; j < nc; j++)
		{
			HypoIndex  *c = cs[j];
			List	   *with;
			double		total;
			bool		clash = false;

			if (c->relid != cur->relid || list_member_ptr(chosen, c))
				continue;
			if (budget >= 0 && used + (int64) c->pages * BLCKSZ > budget)
				continue;
			foreach(lc, without)
				if (prefix_related(c, lfirst(lc)))
					clash = true;
			if (clash)
				continue;
			with = list_insert_nth(list_copy(without), k, c);
			total = table_cost(qs, nq, c->relid, with) +
				(count_writes ? write_overhead(c, qs, nq) : 0);
			list_free(with);
			if (total < best_total * 0.99 ||
				(total <= best_total * 1.01 && c->pages < best->pages) ||
				(total <= best_total * 1.10 && (double) c->pages * 10 <= best->pages))
			{
				best = c;
				best_total = total;
			}
		}
		if (best != cur)
			chosen = list_insert_nth(without, k, best);
		else
			list_free(without);
	}
	return chosen;
}

/* The greedy selection; returns a list of Choice. */
static List *
select_indexes(List *queries, List *cands, double min_improvement,
			   int max_indexes, int64 budget, bool count_writes)
{
	int			nq = list_length(queries);
	int			nc = list_length(cands);
	AdvisorQuery **qs = palloc(sizeof(AdvisorQuery *) * Max(nq, 1));
	HypoIndex **cs = palloc(sizeof(HypoIndex *) * Max(nc, 1));
	bool	   *dead = palloc0(sizeof(bool) * Max(nc, 1));
	double	   *cache = palloc(sizeof(double) * Max(nq * nc, 1));
	List	   *chosen = NIL;
	List	   *choices = NIL;
	int64		used = 0;
	int			i;
	int			j;

	for (i = 0; i < nq; i++)
	{
		qs[i] = list_nth(queries, i);
		qs[i]->cost = query_cost(qs[i], NIL);
	}
	for (j = 0; j < nc; j++)
		cs[j] = list_nth(cands, j);
	for (i = 0; i < nq * nc; i++)
		cache[i] = -1;

	while (list_length(chosen) < max_indexes)
	{
		int			best = -1;
		double		best_net = 0;

		for (j = 0; j < nc; j++)
		{
			HypoIndex  *h = cs[j];
			double		before = 0;
			double		after = 0;
			int			n = 0;
			double		net;
			double		wo;
			int64		bytes = (int64) h->pages * BLCKSZ;
			List	   *with;

			if (dead[j])
				continue;
			if (budget >= 0 && used + bytes > budget)
				continue;
			with = lappend(list_copy(chosen), h);
			for (i = 0; i < nq; i++)
			{
				double		c;

				if (!touches(qs[i], h->relid))
					continue;
				CHECK_FOR_INTERRUPTS();
				if (cache[j * nq + i] < 0)
					cache[j * nq + i] = query_cost(qs[i], with);
				c = cache[j * nq + i];
				if (c < qs[i]->cost * (1 - 1e-9))
				{
					before += qs[i]->weight * qs[i]->cost;
					after += qs[i]->weight * c;
					n++;
				}
			}
			list_free(with);
			wo = count_writes ? write_overhead(h, qs, nq) : 0;
			net = (before - after) - wo;
			/* not now; maybe after another choice (indexes interact) */
			if (n == 0 || before <= 0 || (before - after) / before < min_improvement ||
				net <= 0)
				continue;
			if (best < 0 || net > best_net * 1.01 ||
				(net >= best_net * 0.99 && h->pages < cs[best]->pages))
			{
				best = j;
				best_net = net;
			}
		}
		if (best < 0)
			break;
		dead[best] = true;
		for (j = 0; j < nc; j++)
			if (prefix_related(cs[j], cs[best]))
				dead[j] = true;
		chosen = lappend(chosen, cs[best]);
		used += (int64) cs[best]->pages * BLCKSZ;
		/* the served queries now cost what the winner gave them */
		for (i = 0; i < nq; i++)
		{
			if (!touches(qs[i], cs[best]->relid))
				continue;
			qs[i]->cost = Min(qs[i]->cost, cache[best * nq + i]);
			for (j = 0; j < nc; j++)
				cache[j * nq + i] = -1;
		}
	}

	/* replace what later choices made second best, then report */
	chosen = swap_pass(qs, nq, cs, nc, chosen, budget, count_writes);
	for (i = 0; i < nq; i++)
		qs[i]->cost = query_cost(qs[i], NIL);
	for (j = 0; j < list_length(chosen); j++)
	{
		HypoIndex  *h = list_nth(chosen, j);
		List	   *upto = list_copy_head(chosen, j + 1);
		Choice	   *c = palloc0(sizeof(Choice));

		c->h = h;
		for (i = 0; i < nq; i++)
		{
			double		after;

			if (!touches(qs[i], h->relid))
				continue;
			after = query_cost(qs[i], upto);
			if (after < qs[i]->cost * (1 - 1e-9))
			{
				c->before += qs[i]->weight * qs[i]->cost;
				c->after += qs[i]->weight * after;
				c->nqueries++;
				qs[i]->cost = after;
			}
		}
		c->write_overhead = count_writes ? write_overhead(h, qs, nq) : 0;
		list_free(upto);
		if (c->nqueries > 0)
			choices = lappend(choices, c);
	}
	return choices;
}

static const char *
kind_name(HypoIndex *h)
{
	switch (h->kind)
	{
		case ADVISOR_PARTIAL:
			return "partial";
		case ADVISOR_BRIN:
			return "brin";
		case ADVISOR_PATTERN:
			return "pattern";
		default:
			return h->ncols > h->nkeys ? "covering" : "btree";
	}
}

PG_FUNCTION_INFO_V1(perfkit_index_advisor);

/*
 * index_advisor(query text): the indexes that make one query cheaper, in
 * the order chosen; each row's costs are the query's before and after
 * adding that index to the ones above it.
 */
/* The relations a query reads, at any level. */
static bool
relations_walker(Node *node, List **rels)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			*rels = list_append_unique_oid(*rels, rte->relid);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, relations_walker, rels,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, relations_walker, rels);
}

/*
 * A query over Citus tables is planned by Citus as tasks on the shards;
 * the plan this node costs is Citus's, which no index changes.  Refused,
 * with the way to advise on the shard a task reads.
 */
static void
refuse_citus(Query *q)
{
	List	   *rels = NIL;
	List	   *citus;

	(void) relations_walker((Node *) q, &rels);
	citus = cache_citus_tables(rels);
	if (citus != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index_advisor() cannot cost a query over Citus table %s",
						(char *) linitial(citus)),
				 errdetail("Citus runs the query as tasks on the shards; the plan of this node does not change with an index."),
				 errhint("Run index_advisor() on the worker holding a shard, with the task's query (EXPLAIN VERBOSE shows it) and SET citus.show_shards_for_app_name_prefixes = '*'; create the index it proposes on the distributed table, which Citus creates on every shard.")));
}

Datum
perfkit_index_advisor(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql;
	Query	   *q;
	AdvisorQuery *aq;
	List	   *cands;
	List	   *choices;
	ListCell   *lc;
	double		cost;

	perfkit_require_preload();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	InitMaterializedSRF(fcinfo, 0);

	q = advisor_analyze(sql, true, NULL, -1);
	refuse_citus(q);
	aq = advisor_query_info(q, 1.0, 1.0);
	cands = advisor_candidates(list_make1(aq));
	choices = select_indexes(list_make1(aq), cands, SINGLE_QUERY_MIN_IMPROVEMENT,
							 INDEX_MAX_KEYS, -1, false);
	foreach(lc, choices)
	{
		Choice	   *c = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {0};

		remember(c->h);
		cost = c->before;
		values[0] = CStringGetTextDatum(c->h->statement);
		values[1] = ObjectIdGetDatum(c->h->relid);
		values[2] = Float8GetDatum(cost);
		values[3] = Float8GetDatum(c->after);
		values[4] = Float8GetDatum(cost > 0 ? 1.0 - c->after / cost : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Planning folds constants, which runs immutable functions.  A captured
 * statement may call functions its author wrote; re-planned by a more
 * privileged caller, they would run with the caller's rights.  So a
 * statement is costed only when every function it calls is owned by a
 * superuser or by the caller.
 */
static bool
untrusted_function(Oid funcid, void *context)
{
	Oid			owner;
	HeapTuple	tp;

	if (funcid < FirstNormalObjectId)
		return false;
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		return true;
	owner = ((Form_pg_proc) GETSTRUCT(tp))->proowner;
	ReleaseSysCache(tp);
	return owner != GetUserId() && !superuser_arg(owner);
}

static bool
untrusted_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, untrusted_function, context))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, untrusted_walker, context, 0);
	return expression_tree_walker(node, untrusted_walker, context);
}

/*
 * Planning a statement runs code that its tree does not show: a range
 * type's subtype_diff during selectivity estimation, a domain's CHECK
 * folded as a constant, a function inlined from a view.  Planned as its
 * author, that code runs with the author's rights, and it is the code of
 * whoever owns the objects reached *now*, not when the statement ran (a
 * view may have been replaced since).  So a statement is planned only
 * when every object it reaches -- relations (views, their tables and the
 * tables' inheritance children), data types (with a range type's support
 * functions, a domain's or array's base type) and functions -- belongs to
 * a role that already has the author's rights: for a superuser's
 * statement, objects owned by superusers only.  Then becoming the author
 * gives no object's owner anything.
 */
#define TRUST_TYPE_DEPTH	8

static bool
owner_has_author_rights(Oid owner, Oid author)
{
	return owner == author || has_privs_of_role(owner, author);
}

static bool
function_trusted(Oid funcid, Oid author)
{
	HeapTuple	tp;
	Oid			owner;

	if (!OidIsValid(funcid) || funcid < FirstNormalObjectId)
		return true;
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		return false;
	owner = ((Form_pg_proc) GETSTRUCT(tp))->proowner;
	ReleaseSysCache(tp);
	return owner_has_author_rights(owner, author);
}

static bool
type_trusted(Oid typid, Oid author, int depth)
{
	HeapTuple	tp;
	Form_pg_type typ;
	bool		ok;
	Oid			next = InvalidOid;

	if (!OidIsValid(typid) || typid < FirstNormalObjectId)
		return true;
	if (depth > TRUST_TYPE_DEPTH)
		return false;
	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tp))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tp);
	ok = owner_has_author_rights(typ->typowner, author);
	if (ok && typ->typtype == TYPTYPE_DOMAIN)
		next = typ->typbasetype;
	else if (ok && OidIsValid(typ->typelem))
		next = typ->typelem;
	else if (ok && typ->typtype == TYPTYPE_MULTIRANGE)
		next = get_multirange_range(typid);
	else if (ok && typ->typtype == TYPTYPE_RANGE)
	{
		HeapTuple	rt = SearchSysCache1(RANGETYPE, ObjectIdGetDatum(typid));

		if (!HeapTupleIsValid(rt))
			ok = false;
		else
		{
			Form_pg_range rng = (Form_pg_range) GETSTRUCT(rt);

			ok = function_trusted(rng->rngsubdiff, author) &&
				function_trusted(rng->rngcanonical, author);
			next = rng->rngsubtype;
			ReleaseSysCache(rt);
		}
	}
	ReleaseSysCache(tp);
	return ok && (!OidIsValid(next) || type_trusted(next, author, depth + 1));
}

static bool
relation_trusted(Oid relid, Oid author)
{
	List	   *rels;
	ListCell   *lc;
	bool		ok = true;

	/* the children the planner expands, with the relation itself first */
	rels = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, rels)
	{
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tp))
			ok = false;
		else
		{
			ok = owner_has_author_rights(((Form_pg_class) GETSTRUCT(tp))->relowner, author);
			ReleaseSysCache(tp);
		}
		if (!ok)
			break;
	}
	list_free(rels);
	return ok;
}

static bool
untrusted_for_author_fn(Oid funcid, void *context)
{
	return !function_trusted(funcid, *(Oid *) context);
}

static bool
untrusted_for_author(Node *node, void *context)
{
	Oid			author = *(Oid *) context;

	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		return rte->rtekind == RTE_RELATION && !relation_trusted(rte->relid, author);
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, untrusted_for_author, context,
								 QTW_EXAMINE_RTES_BEFORE);
	if (check_functions_in_node(node, untrusted_for_author_fn, context))
		return true;
	if ((IsA(node, Var) || IsA(node, Const) || IsA(node, Param) ||
		 IsA(node, FuncExpr) || IsA(node, OpExpr) || IsA(node, Aggref) ||
		 IsA(node, WindowFunc) || IsA(node, RelabelType) ||
		 IsA(node, CoerceViaIO) || IsA(node, ArrayCoerceExpr) ||
		 IsA(node, CoerceToDomain) || IsA(node, SubscriptingRef)) &&
		!type_trusted(exprType(node), author, 0))
		return true;
	return expression_tree_walker(node, untrusted_for_author, context);
}

/* Whether planning q as author could run code of a role below author. */
static bool
reaches_untrusted_objects(Query *q, Oid author)
{
	return untrusted_for_author((Node *) q, &author);
}

/* Why captured statements were left out of recommend_indexes(). */
typedef struct SkipCounts
{
	int			not_replannable;	/* parameters, truncated text, no longer
									 * analyzes */
	int			author_gone;	/* the role that ran it was dropped */
	int			author_cannot;	/* no longer analyzes or plans as its author */
	int			above_caller;	/* the author has rights the caller lacks */
	int			not_allowed;	/* the caller may not read its tables, it
								 * calls functions the caller does not trust,
								 * or it reaches objects of roles without the
								 * author's rights */
} SkipCounts;

/* One captured statement analyzed, checked and planned as its author. */
typedef struct SampleCheck
{
	WorkloadSample *s;
	SkipCounts *skip;
	Query	   *q;				/* the statement kept, or NULL */
	bool		planning;		/* it analyzed: what fails now is its plan */
} SampleCheck;

static void
check_sample(void *arg)
{
	SampleCheck *c = (SampleCheck *) arg;
	AdvisorIdentity id;

	advisor_become(c->s->userid, &id);
	c->q = advisor_analyze(c->s->example, false, c->s->paramtypes,
						   c->s->nparams);
	c->planning = true;
	if (!ExecCheckRTPerms(c->q->rtable, false))
	{
		c->q = NULL;
		c->skip->author_cannot++;
	}
	advisor_unbecome(&id);

	/*
	 * Defence in depth, before anything of it runs: the caller's own rights
	 * on its tables, and only functions the caller trusts in its tree.
	 */
	if (c->q != NULL &&
		(!ExecCheckRTPerms(c->q->rtable, false) ||
		 untrusted_walker((Node *) c->q, NULL) ||
		 reaches_untrusted_objects(c->q, c->s->userid)))
	{
		c->q = NULL;
		c->skip->not_allowed++;
	}
	if (c->q != NULL)
	{
		advisor_become(c->s->userid, &id);
		(void) advisor_cost(c->q, InvalidOid, NIL);
		advisor_unbecome(&id);
	}
}

/*
 * The captured workload of this database as AdvisorQuery entries.  Each
 * statement is analyzed, checked and planned once as its author (the role
 * that ran it), in a security-restricted operation: the planner reaches
 * functions the query tree does not show (a range type's subtype_diff,
 * for one), and they must not run with the caller's rights.  Kept are
 * the statements that still analyze and plan as their author, on tables
 * the author and the caller may both read, calling only functions the
 * caller trusts; the others are counted in *skip.
 */
static List *
workload_queries(SkipCounts *skip)
{
	List	   *samples = advisor_workload_samples(MyDatabaseId);
	List	   *out = NIL;
	ListCell   *lc;

	memset(skip, 0, sizeof(SkipCounts));
	foreach(lc, samples)
	{
		WorkloadSample *s = lfirst(lc);
		SampleCheck c;
		ErrorData  *edata;

		if (!s->replannable || s->calls <= 0)
		{
			skip->not_replannable++;
			continue;
		}
		if (!OidIsValid(s->userid) ||
			!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(s->userid)))
		{
			skip->author_gone++;
			continue;
		}

		/*
		 * Becoming the author must give the caller nothing: the caller's
		 * search_path, temporary tables and functions take part in the
		 * analysis, so only authors whose rights the caller already has
		 * (every role, for a superuser) are planned.
		 */
		if (!has_privs_of_role(GetUserId(), s->userid))
		{
			skip->above_caller++;
			continue;
		}

		/*
		 * A text that no longer analyzes (a dropped table, a statement of
		 * a PL/pgSQL function captured without its context) is left out
		 * quietly; one the author may no longer read or plan is reported.
		 */
		c.s = s;
		c.skip = skip;
		c.q = NULL;
		c.planning = false;
		if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, check_sample, &c,
						   advisor_error_propagates, &edata) != PK_TRY_OK)
		{
			int			code = advisor_left_out(edata);

			c.q = NULL;
			if (c.planning || code == ERRCODE_INSUFFICIENT_PRIVILEGE)
				skip->author_cannot++;
			else
				skip->not_replannable++;
		}
		if (c.q == NULL)
			continue;
		{
			AdvisorQuery *aq = advisor_query_info(c.q, (double) s->calls,
												  (double) s->rows / s->calls);

			aq->userid = s->userid;
			if (aq->relids == NIL)
			{
				skip->not_allowed++;
				continue;
			}
			out = lappend(out, aq);
		}
	}
	return out;
}

PG_FUNCTION_INFO_V1(perfkit_recommend_indexes);

/*
 * recommend_indexes(min_improvement, max_indexes, storage_budget): the
 * indexes chosen for the whole captured workload of this database.
 */
Datum
perfkit_recommend_indexes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		min_improvement = PG_ARGISNULL(0) ? 0.2 : PG_GETARG_FLOAT8(0);
	int			max_indexes = PG_ARGISNULL(1) ? 10 : PG_GETARG_INT32(1);
	int64		budget = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	List	   *queries;
	List	   *cands;
	List	   *choices;
	ListCell   *lc;
	SkipCounts	skip;
	int			nskipped;
	List	   *citus = NIL;

	perfkit_require_preload();
	if (min_improvement < 0 || min_improvement >= 1 || isnan(min_improvement))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_improvement must be at least 0 and less than 1")));
	if (max_indexes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_indexes must not be negative")));
	if (!PG_ARGISNULL(2) && budget < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("storage_budget must not be negative")));
	InitMaterializedSRF(fcinfo, 0);

	queries = workload_queries(&skip);
	if (skip.not_replannable + skip.not_allowed > 0)
		ereport(DEBUG1,
				(errmsg_internal("recommend_indexes: %d captured statements cannot be re-planned, %d are not allowed",
								 skip.not_replannable, skip.not_allowed)));
	cands = advisor_candidates(queries);

	/*
	 * The Citus tables the statements read get no candidate (see
	 * advisor_candidates()); say which, and where to advise instead.
	 */
	if (pk_citus_installed())
	{
		List	   *rels = NIL;

		foreach(lc, queries)
			rels = list_concat_unique_oid(rels, ((AdvisorQuery *) lfirst(lc))->relids);
		citus = cache_citus_tables(rels);
	}
	if (citus != NIL)
	{
		StringInfoData names;
		int			shown = 0;

		initStringInfo(&names);
		foreach(lc, citus)
		{
			if (shown++ == 10)
			{
				appendStringInfoString(&names, ", ...");
				break;
			}
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", (char *) lfirst(lc));
		}
		ereport(NOTICE,
				(errmsg_plural("recommend_indexes proposes no index on %d Citus table",
							   "recommend_indexes proposes no index on %d Citus tables",
							   list_length(citus), list_length(citus)),
				 errdetail("Citus runs the captured statements over %s as tasks on the shards; the plan of this node does not change with an index.",
						   names.data),
				 errhint("Run recommend_indexes() on each worker, whose workload holds the tasks it ran on its shards; create an index it proposes for a shard on the distributed table, which Citus creates on every shard.")));
	}
	choices = select_indexes(queries, cands, min_improvement, max_indexes, budget, true);
	foreach(lc, queries)
		if (((AdvisorQuery *) lfirst(lc))->broken)
			skip.author_cannot++;
	nskipped = skip.author_gone + skip.author_cannot + skip.above_caller;
	if (nskipped > 0)
		ereport(NOTICE,
				(errmsg_plural("recommend_indexes skipped %d captured statement",
							   "recommend_indexes skipped %d captured statements",
							   nskipped, nskipped),
				 errdetail("Run by roles that no longer exist: %d; no longer analyzed or planned by the roles that ran them: %d; run by roles whose rights the caller does not have: %d.",
						   skip.author_gone, skip.author_cannot, skip.above_caller)));
	foreach(lc, choices)
	{
		Choice	   *c = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		remember(c->h);
		values[0] = CStringGetTextDatum(c->h->statement);
		values[1] = ObjectIdGetDatum(c->h->relid);
		values[2] = CStringGetTextDatum(kind_name(c->h));
		values[3] = Int64GetDatum((int64) c->h->pages * BLCKSZ);
		values[4] = Float8GetDatum(c->before);
		values[5] = Float8GetDatum(c->after);
		values[6] = Float8GetDatum(c->before > 0 ? 1.0 - c->after / c->before : 0);
		values[7] = Int64GetDatum(c->nqueries);
		values[8] = Float8GetDatum(c->write_overhead);
		values[9] = CStringGetTextDatum(c->h->reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(perfkit_apply_index);

/*
 * apply_index(statement): build an index index_advisor() or
 * recommend_indexes() proposed in this session; returns it.
 */
Datum
perfkit_apply_index(PG_FUNCTION_ARGS)
{
	char	   *stmt;
	ListCell   *lc;
	Produced   *found = NULL;
	Oid			indexoid;
	List	   *steps;
	char	   *name;
	Oid			nspid;
	Oid			relid;
	int			nestlevel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("statement must not be null")));
	stmt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	foreach(lc, advisor_produced)
	{
		Produced   *p = lfirst(lc);

		if (strcmp(p->statement, stmt) == 0)
			found = p;
	}
	if (found != NULL)
	{
		steps = found->steps;
		name = found->name;
		nspid = found->nspid;
		relid = found->relid;
	}
	else
	{
		/* produced in another session: recognized by building it again */
		HypoIndex  *h = advisor_candidate_from_statement(stmt);

		if (h == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("apply_index runs only statements the index advisor produced"),
					 errdetail("The statement is not one index_advisor() or recommend_indexes() returns for this table as it is now."),
					 errhint("Pass an index_statement value those functions returned, unchanged; for a partitioned table whose partitions changed since, ask again.")));
		steps = h->steps;
		name = h->name;
		nspid = get_rel_namespace(h->relid);
		relid = h->relid;
	}
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to build its index",
						get_rel_name(relid)),
				 errdetail("apply_index builds indexes as its caller.")));

	/*
	 * Run with search_path pinned: the statement's names were printed for
	 * the search_path it was produced under, and a schema others may
	 * write to must not supply an operator or function for its predicate
	 * or expressions now.  A name that no longer resolves fails.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, steps)
		pk_spi_exec((const char *) lfirst(lc), 0, NULL, NULL, NULL, false);
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	indexoid = get_relname_relid(name, nspid);
	if (!OidIsValid(indexoid))
		elog(ERROR, "index \"%s\" was not created", name);
	PG_RETURN_OID(indexoid);
}
