/*-------------------------------------------------------------------------
 *
 * candidates.c
 *	  Candidate indexes: what each query's predicates, joins and ORDER BY
 *	  ... LIMIT could use, minus what existing indexes already give.
 *
 * A statement is parsed, analyzed and rewritten (views expand), then
 * walked level by level: subqueries, CTEs and sublinks included.  At each
 * level, the WHERE and JOIN ... ON clauses that compare a column of a
 * table with something else are sorted by what they are for an index:
 *
 *	  equality		col = const, col = other_table.col (a join), col IN (...)
 *	  range			col < const, <=, >, >=, BETWEEN
 *	  pattern		col LIKE 'prefix%' (a plain btree serves it only under
 *					the C collation; otherwise text_pattern_ops)
 *	  constant		col op constant, col IS NOT NULL: what a partial index
 *					may have as its predicate
 *	  sort			ORDER BY columns of one table, when there is a LIMIT
 *
 * From those, per table of at least MIN_TABLE_PAGES pages (smaller ones
 * are read whole in a few buffer accesses; an index saves less than its
 * upkeep): one btree per equality or range column;
 * equality columns together (in attribute order), then each range column
 * or the sort columns (equality first, then range/sort, the order a btree
 * serves both); the same with INCLUDE of the other columns the level reads
 * when the table is mostly all-visible (index-only scans); partial
 * indexes whose predicate is a selective constant clause (at most
 * PARTIAL_MAX_FRACTION of the rows, estimated by the planner) over the
 * remaining key columns, where an equality predicate must be on a column
 * with at most FEW_DISTINCT values (a state, not a lookup key) and a
 * range predicate must be a fixed threshold (one bound, not on a date or
 * time column: a window's constants move); BRIN on a range column of a table of at least
 * BRIN_MIN_PAGES pages whose physical order correlates with the column
 * (|correlation| >= BRIN_MIN_CORRELATION in pg_stats); text_pattern_ops
 * for LIKE prefixes.
 *
 * Partitioned tables get candidates on the parent (its statistics are
 * those of the whole tree, its size the sum of its leaf partitions'; no
 * BRIN), costed through pruning by hypo.c, and a statement that is the
 * script building it without blocking writes (index_statements()).
 *
 * A candidate that an existing valid index already provides is dropped:
 * a btree whose key columns (with the same operator classes) are a prefix
 * of an existing btree's, unless the existing one is partial with another
 * predicate (INCLUDE columns aside: a prefix is never re-proposed, not
 * even to make it covering); a BRIN on a column an existing BRIN leads with.  Candidates
 * are identified by a signature built from names (table, kind, columns,
 * INCLUDE, predicate), so that the same workload gives the same list, in
 * the same order, on every run.
 *
 * src/advisor/candidates.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_clause.h"
#include "parser/parse_relation.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "storage/bufmgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "perfkit/advisor.h"
#include "perfkit/cache.h"
#include "perfkit/util.h"

#define PARTIAL_MAX_FRACTION	0.25
#define BRIN_MIN_PAGES			1000
#define BRIN_MIN_CORRELATION	0.9
#define INCLUDE_MAX_COLUMNS		3
#define FEW_DISTINCT			20
#define MIN_TABLE_PAGES			10

static Oid	next_fake_oid = 0xFFFF0000;

/*
 * Parse, analyze and rewrite one statement.  Only SELECT, INSERT, UPDATE
 * and DELETE are accepted; for_user also checks the caller's privileges
 * on every table, as executing it would.
 *
 * Parameters ($1, ...): with nparams >= 0, paramtypes gives their types
 * (a captured statement, with the types it was bound with); with nparams
 * < 0 their types are inferred from the statement, as PREPARE without
 * types does, and a parameter whose type cannot be inferred is an error
 * (42P18).  The planner costs a statement with parameters as a generic
 * plan (what a prepared statement gets after its custom plans).
 */
/*
 * Errors in the statement point into its own text, not into the query
 * that called the advisor.
 */
static void
analyze_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

Query *
advisor_analyze(const char *sql, bool for_user, Oid *paramtypes, int nparams)
{
	List	   *raw;
	RawStmt    *rs;
	List	   *queries;
	Query	   *q;
	ErrorContextCallback errcb;

	errcb.callback = analyze_error_callback;
	errcb.arg = (void *) sql;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = pg_parse_query(sql);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the index advisor costs exactly one statement at a time"),
				 errdetail("The text holds %d statements.", list_length(raw))));
	rs = linitial_node(RawStmt, raw);

	/*
	 * An EXECUTE of a prepared statement is captured with the PREPARE's
	 * text: cost the statement prepared, with the parameters given.
	 */
	if (IsA(rs->stmt, PrepareStmt))
		rs->stmt = ((PrepareStmt *) rs->stmt)->query;
	switch (nodeTag(rs->stmt))
	{
		case T_SelectStmt:
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the index advisor costs only SELECT, INSERT, UPDATE and DELETE statements"),
					 errdetail("The statement is %s.", CreateCommandName(rs->stmt))));
	}
	if (nparams < 0)
	{
		Oid		   *types = NULL;
		int			n = 0;

		queries = pg_analyze_and_rewrite_varparams(rs, sql, &types, &n, NULL);
	}
	else
		queries = pg_analyze_and_rewrite_fixedparams(rs, sql, paramtypes, nparams,
													 NULL);
	if (list_length(queries) != 1 ||
		linitial_node(Query, queries)->commandType == CMD_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the index advisor cannot cost this statement"),
				 errdetail("Rules or SELECT INTO turn it into something other than one plannable statement.")));
	q = linitial_node(Query, queries);
	error_context_stack = errcb.previous;
	if (for_user)
		ExecCheckRTPerms(q->rtable, true);
	return q;
}

/* What one query level does with one table. */
typedef struct RelUse
{
	Oid			relid;
	List	   *eq;				/* AttrNumbers, attribute order, no repeats */
	List	   *range;
	List	   *pattern;
	List	   *sort;			/* in ORDER BY order */
	List	   *consts;			/* clauses (Vars with varno 1) */
	List	   *const_attnums;
	Bitmapset  *refcols;		/* columns read, offset by FirstLowInvalid... */
	bool		refcols_known;
} RelUse;

typedef struct WalkContext
{
	List	   *uses;			/* RelUse, one per (level, range table entry) */
	List	   *relids;			/* every table the statement touches */
} WalkContext;

/* Is var a plain column, at this level, of an ordinary table? */
static bool
is_table_column(Query *q, Var *var)
{
	RangeTblEntry *rte;

	if (var->varlevelsup != 0 || var->varattno <= 0 ||
		var->varno <= 0 || var->varno > list_length(q->rtable))
		return false;
	rte = rt_fetch(var->varno, q->rtable);
	return rte->rtekind == RTE_RELATION &&
		(rte->relkind == RELKIND_RELATION || rte->relkind == RELKIND_MATVIEW ||
		 rte->relkind == RELKIND_PARTITIONED_TABLE) &&
		rte->relid >= FirstNormalObjectId;
}

static Node *
strip(Node *n)
{
	while (n && IsA(n, RelabelType))
		n = (Node *) ((RelabelType *) n)->arg;
	return n;
}

static List *
add_attnum(List *l, AttrNumber a)
{
	ListCell   *lc;
	int			pos = 0;

	foreach(lc, l)
	{
		if (lfirst_int(lc) == a)
			return l;
		if (lfirst_int(lc) > a)
			break;
		pos++;
	}
	return list_insert_nth_int(l, pos, a);
}

/* The RelUse of range table entry varno's table at this level, or NULL. */
static RelUse *
use_for(Query *q, Index varno, List *level_uses)
{
	ListCell   *lc;
	RangeTblEntry *rte = rt_fetch(varno, q->rtable);

	foreach(lc, level_uses)
	{
		RelUse	   *u = lfirst(lc);

		if (u->relid == rte->relid)
			return u;
	}
	return NULL;
}

/*
 * Does node reference a column of range table entry varno at this level?
 * A sublink's Vars that point back to this level count; Vars of an outer
 * level (this level is itself a correlated subquery) do not, and must not
 * trip up the walk: pull_var_clause() refuses them.
 */
static bool
refs_varno(Node *node, Index varno)
{
	return bms_is_member((int) varno, pull_varnos_of_level(NULL, node, 0));
}

/* The btree strategy of opno for values of type typid, or 0. */
static int
btree_strategy(Oid opno, Oid typid)
{
	Oid			opclass = GetDefaultOpClass(typid, BTREE_AM_OID);

	if (!OidIsValid(opclass))
		return 0;
	return get_op_opfamily_strategy(opno, get_opclass_family(opclass));
}

static void
note_const(RelUse *u, Node *clause, Index varno, AttrNumber attnum)
{
	Node	   *c = copyObject(clause);

	if (varno != 1)
		ChangeVarNodes(c, varno, 1, 0);
	u->consts = lappend(u->consts, c);
	u->const_attnums = lappend_int(u->const_attnums, attnum);
}

static void
analyze_clause(Node *clause, Query *q, List *level_uses)
{
	if (clause == NULL)
		return;
	if (IsA(clause, List))
	{
		ListCell   *lc;

		foreach(lc, (List *) clause)
			analyze_clause(lfirst(lc), q, level_uses);
		return;
	}
	if (is_andclause(clause))
	{
		analyze_clause((Node *) ((BoolExpr *) clause)->args, q, level_uses);
		return;
	}
	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *l = strip(linitial(op->args));
		Node	   *r = strip(lsecond(op->args));
		Var		   *var;
		Node	   *other;
		bool		commuted = false;
		RelUse	   *u;
		RegProcedure fn = get_opcode(op->opno);
		int			strategy;
		bool		join;

		if (IsA(l, Var) && is_table_column(q, (Var *) l))
		{
			var = (Var *) l;
			other = r;
		}
		else if (IsA(r, Var) && is_table_column(q, (Var *) r))
		{
			var = (Var *) r;
			other = l;
			commuted = true;
		}
		else
			return;
		if (refs_varno(other, var->varno) || contain_volatile_functions(other))
			return;
		u = use_for(q, var->varno, level_uses);
		if (u == NULL)
			return;
		join = contain_var_clause(other);

		if ((fn == F_TEXTLIKE || fn == F_BPCHARLIKE) && !commuted && !join)
		{
			Const	   *c = (Const *) other;
			char	   *pat;

			if (!IsA(other, Const) || c->constisnull)
				return;
			pat = TextDatumGetCString(c->constvalue);
			if (pat[0] == '\0' || pat[0] == '%' || pat[0] == '_')
				return;
			if (lc_collate_is_c(var->varcollid))
				u->range = add_attnum(u->range, var->varattno);
			else
				u->pattern = add_attnum(u->pattern, var->varattno);
			return;
		}
		strategy = btree_strategy(op->opno, var->vartype);
		if (strategy == 0)
			return;
		if (strategy == BTEqualStrategyNumber)
			u->eq = add_attnum(u->eq, var->varattno);
		else if (!join)
			u->range = add_attnum(u->range, var->varattno);

		/*
		 * A join (a.x = b.y): either side's column may serve a
		 * parameterized nested loop, so the other side is a candidate too.
		 */
		if (strategy == BTEqualStrategyNumber && join && !commuted &&
			IsA(r, Var) && is_table_column(q, (Var *) r) &&
			((Var *) r)->varno != var->varno &&
			btree_strategy(op->opno, ((Var *) r)->vartype) == BTEqualStrategyNumber)
		{
			RelUse	   *ru = use_for(q, ((Var *) r)->varno, level_uses);

			if (ru != NULL)
				ru->eq = add_attnum(ru->eq, ((Var *) r)->varattno);
		}
		if (!join && IsA(other, Const) && !((Const *) other)->constisnull)
			note_const(u, clause, var->varno, var->varattno);
		return;
	}
	if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) clause;
		Node	   *l = strip(linitial(sa->args));
		RelUse	   *u;

		if (!sa->useOr || !IsA(l, Var) || !is_table_column(q, (Var *) l) ||
			contain_var_clause(lsecond(sa->args)))
			return;
		if (btree_strategy(sa->opno, ((Var *) l)->vartype) != BTEqualStrategyNumber)
			return;
		u = use_for(q, ((Var *) l)->varno, level_uses);
		if (u)
			u->eq = add_attnum(u->eq, ((Var *) l)->varattno);
		return;
	}
	if (IsA(clause, NullTest))
	{
		NullTest   *nt = (NullTest *) clause;
		Node	   *arg = strip((Node *) nt->arg);
		RelUse	   *u;

		if (nt->nulltesttype != IS_NOT_NULL || nt->argisrow ||
			!IsA(arg, Var) || !is_table_column(q, (Var *) arg))
			return;
		u = use_for(q, ((Var *) arg)->varno, level_uses);
		if (u)
			note_const(u, clause, ((Var *) arg)->varno, ((Var *) arg)->varattno);
	}
}

/* The ON clauses of the join tree, and its WHERE. */
static void
walk_jointree(Node *jt, Query *q, List *level_uses)
{
	if (jt == NULL)
		return;
	if (IsA(jt, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jt;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			walk_jointree(lfirst(lc), q, level_uses);
		analyze_clause(f->quals, q, level_uses);
	}
	else if (IsA(jt, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jt;

		walk_jointree(j->larg, q, level_uses);
		walk_jointree(j->rarg, q, level_uses);
		analyze_clause(j->quals, q, level_uses);
	}
}

static bool collect_walker(Node *node, WalkContext *ctx);

/* One query level: its tables, clauses and ORDER BY ... LIMIT. */
static void
collect_level(Query *q, WalkContext *ctx)
{
	List	   *level_uses = NIL;
	ListCell   *lc;
	Index		rti = 0;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		rti++;
		if (rte->rtekind != RTE_RELATION || rte->relid < FirstNormalObjectId)
			continue;
		ctx->relids = list_append_unique_oid(ctx->relids, rte->relid);
		if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_MATVIEW &&
			rte->relkind != RELKIND_PARTITIONED_TABLE)
			continue;
		/* one RelUse per table per level (self-joins share it) */
		if (use_for(q, rti, level_uses) == NULL)
		{
			RelUse	   *u = palloc0(sizeof(RelUse));

			u->relid = rte->relid;
			level_uses = lappend(level_uses, u);
		}
	}
	walk_jointree((Node *) q->jointree, q, level_uses);

	if (q->sortClause != NIL && q->limitCount != NULL)
	{
		List	   *cols = NIL;
		Index		varno = 0;
		bool		ok = true;

		foreach(lc, q->sortClause)
		{
			SortGroupClause *sgc = lfirst(lc);
			TargetEntry *tle = get_sortgroupclause_tle(sgc, q->targetList);
			Node	   *e = strip((Node *) tle->expr);

			if (!IsA(e, Var) || !is_table_column(q, (Var *) e) ||
				(varno != 0 && (Index) ((Var *) e)->varno != varno))
			{
				ok = false;
				break;
			}
			varno = ((Var *) e)->varno;
			cols = list_append_unique_int(cols, ((Var *) e)->varattno);
		}
		if (ok && cols != NIL)
		{
			RelUse	   *u = use_for(q, varno, level_uses);

			if (u)
				u->sort = cols;
		}
	}

	/* columns read, for INCLUDE; sublinks would need a deeper walk */
	if (!q->hasSubLinks)
	{
		rti = 0;
		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			RelUse	   *u;
			Bitmapset  *cols = NULL;

			rti++;
			if (rte->rtekind != RTE_RELATION || rte->relid < FirstNormalObjectId ||
				(u = use_for(q, rti, level_uses)) == NULL)
				continue;
			pull_varattnos((Node *) q->targetList, rti, &cols);
			pull_varattnos((Node *) q->jointree, rti, &cols);
			pull_varattnos((Node *) q->returningList, rti, &cols);
			pull_varattnos(q->havingQual, rti, &cols);
			u->refcols = bms_union(u->refcols, cols);
			u->refcols_known = true;
		}
	}
	ctx->uses = list_concat(ctx->uses, level_uses);
}

static bool
collect_walker(Node *node, WalkContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		collect_level((Query *) node, ctx);
		return query_tree_walker((Query *) node, collect_walker, (void *) ctx, 0);
	}
	return expression_tree_walker(node, collect_walker, (void *) ctx);
}

AdvisorQuery *
advisor_query_info(Query *query, double weight, double rows_per_call)
{
	AdvisorQuery *aq = palloc0(sizeof(AdvisorQuery));
	WalkContext ctx = {0};

	aq->query = query;
	aq->weight = weight;
	aq->rows_per_call = rows_per_call;
	collect_walker((Node *) query, &ctx);
	aq->relids = ctx.relids;
	if ((query->commandType == CMD_INSERT || query->commandType == CMD_UPDATE) &&
		query->resultRelation > 0)
	{
		RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);

		aq->write_relid = rte->relid;
		if (query->commandType == CMD_UPDATE)
			aq->updated_cols = rte->updatedCols;
	}
	return aq;
}

/* ---- building candidates ---- */

static char *
attname(Oid relid, AttrNumber a)
{
	return get_attname(relid, a, false);
}

static char *
colnames(Oid relid, List *cols, const char *sep, bool quote)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, cols)
	{
		char	   *n = attname(relid, lfirst_int(lc));

		if (s.len > 0)
			appendStringInfoString(&s, sep);
		appendStringInfoString(&s, quote ? quote_identifier(n) : n);
	}
	return s.data;
}

/* Predicate clause (varno 1) to the form index predicates take. */
static List *
normalize_predicate(Node *clause)
{
	Node	   *e = eval_const_expressions(NULL, copyObject(clause));

	e = (Node *) canonicalize_qual((Expr *) e, false);
	fix_opfuncids(e);
	return make_ands_implicit((Expr *) e);
}

/* Is h already given by an existing valid index of its table? */
static bool
covered_by_existing(HypoIndex *h)
{
	Relation	rel = relation_open(h->relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		covered = false;
	Oid			want_am = (h->kind == ADVISOR_BRIN) ? BRIN_AM_OID : BTREE_AM_OID;

	foreach(lc, indexes)
	{
		Relation	ind = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index fi = ind->rd_index;
		bool		match = true;
		int			i;

		if (!fi->indisvalid || ind->rd_rel->relam != want_am ||
			RelationGetIndexExpressions(ind) != NIL || fi->indnkeyatts < h->nkeys)
			match = false;
		for (i = 0; match && i < h->nkeys; i++)
		{
			Oid			typ;
			int32		typmod;
			Oid			coll;
			Oid			want_opclass;

			if (fi->indkey.values[i] != h->attnums[i])
			{
				match = false;
				break;
			}
			get_atttypetypmodcoll(h->relid, h->attnums[i], &typ, &typmod, &coll);
			if (h->kind == ADVISOR_PATTERN && i == 0)
				want_opclass = get_opclass_oid(BTREE_AM_OID,
											   list_make1(makeString("text_pattern_ops")), false);
			else
				want_opclass = GetDefaultOpClass(typ, want_am);
			if (ind->rd_opfamily[i] != get_opclass_family(want_opclass))
				match = false;
		}
		/* INCLUDE columns do not matter: a key prefix is never re-proposed */
		if (match)
		{
			List	   *pred = RelationGetIndexPredicate(ind);

			if (pred != NIL && !equal(pred, h->predicate))
				match = false;
		}
		index_close(ind, AccessShareLock);
		if (match)
		{
			covered = true;
			break;
		}
	}
	relation_close(rel, AccessShareLock);
	return covered;
}

/* A partitioned table's statistics are those of its whole tree. */
static bool
is_partitioned(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
}

/* The column's physical order correlation from pg_statistic, or 0. */
static double
column_correlation(Oid relid, AttrNumber attnum)
{
	HeapTuple	tp;
	double		corr = 0;

	tp = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(relid),
						 Int16GetDatum(attnum), BoolGetDatum(is_partitioned(relid)));
	if (HeapTupleIsValid(tp))
	{
		AttStatsSlot sslot;

		if (get_attstatsslot(&sslot, tp, STATISTIC_KIND_CORRELATION, InvalidOid,
							 ATTSTATSSLOT_NUMBERS) && sslot.nnumbers > 0)
			corr = sslot.numbers[0];
		free_attstatsslot(&sslot);
		ReleaseSysCache(tp);
	}
	return corr;
}

/* Does the column have few distinct values (a state, a flag)? */
static bool
few_distinct(Oid relid, AttrNumber attnum)
{
	HeapTuple	tp;
	double		nd = 0;
	double		reltuples = 0;

	tp = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(relid),
						 Int16GetDatum(attnum), BoolGetDatum(is_partitioned(relid)));
	if (HeapTupleIsValid(tp))
	{
		nd = ((Form_pg_statistic) GETSTRUCT(tp))->stadistinct;
		ReleaseSysCache(tp);
	}
	if (nd < 0)
	{
		double		pages;
		double		allvisible;

		advisor_rel_size(relid, &reltuples, &pages, &allvisible);
		nd = -nd * reltuples;
	}
	return nd > 0 && nd <= FEW_DISTINCT;
}

/* Share of the table's rows that satisfy a predicate, as planned. */
static double
predicate_fraction(Oid relid, const char *predsql)
{
	double		reltuples = 0;
	double		pages;
	double		allvisible;
	char	   *sql;
	Query	   *q;

	advisor_rel_size(relid, &reltuples, &pages, &allvisible);
	if (reltuples <= 0)
		return 1.0;
	sql = psprintf(is_partitioned(relid) ? "SELECT FROM %s WHERE %s" :
				   "SELECT FROM ONLY %s WHERE %s",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)),
				   predsql);
	q = advisor_analyze(sql, false, NULL, 0);
	{
		PlannedStmt *p = pg_plan_query(q, sql, 0, NULL);

		return Min(p->planTree->plan_rows / reltuples, 1.0);
	}
}

/*
 * The stable name of an index of relid (named relname) on the key columns
 * keynames (joined by "_"): table, keys, "_incl" when it has INCLUDE
 * columns, the kind, "_idx"; cut to fit with a hash of the signature sig,
 * and given a hash of it instead of "_idx" when the name is taken.
 */
static char *
index_name(Oid relid, const char *relname, const char *keynames, bool include,
		   AdvisorKind kind, const char *predicate_sql, const char *sig)
{
	StringInfoData name;

	initStringInfo(&name);
	appendStringInfo(&name, "%s_%s", relname, keynames);
	if (include)
		appendStringInfoString(&name, "_incl");
	switch (kind)
	{
		case ADVISOR_PARTIAL:
			appendStringInfo(&name, "_partial_%08x",
							 hash_bytes((const unsigned char *) predicate_sql,
										strlen(predicate_sql)));
			break;
		case ADVISOR_BRIN:
			appendStringInfoString(&name, "_brin");
			break;
		case ADVISOR_PATTERN:
			appendStringInfoString(&name, "_pattern");
			break;
		default:
			break;
	}
	appendStringInfoString(&name, "_idx");
	if (name.len >= NAMEDATALEN)
	{
		uint32		hv = hash_bytes((const unsigned char *) sig, strlen(sig));
		int			cut = pg_mbcliplen(name.data, name.len, NAMEDATALEN - 14);

		name.data[cut] = '\0';
		name.len = cut;
		appendStringInfo(&name, "_%08x_idx", hv);
	}
	/* a name taken by another relation gets a hash of the definition */
	if (OidIsValid(get_relname_relid(name.data, get_rel_namespace(relid))))
	{
		uint32		hv = hash_bytes((const unsigned char *) sig, strlen(sig));
		int			cut = pg_mbcliplen(name.data, name.len, NAMEDATALEN - 14);

		name.data[cut] = '\0';
		name.len = cut;
		appendStringInfo(&name, "_%08x", hv);
	}
	return name.data;
}

static int
oid_name_cmp(const ListCell *a, const ListCell *b)
{
	Oid			x = lfirst_oid(a);
	Oid			y = lfirst_oid(b);
	int			c = strcmp(get_namespace_name(get_rel_namespace(x)),
						   get_namespace_name(get_rel_namespace(y)));

	return c != 0 ? c : strcmp(get_rel_name(x), get_rel_name(y));
}

/*
 * The partitions of parentid, each indexed (a leaf CONCURRENTLY, a
 * partitioned one ON ONLY and then its own partitions) and attached to
 * parent_index.  Appends the script's statements to script (with their
 * separators) and what apply_index() runs to *steps; false if a partition
 * cannot have the index (a foreign table).
 */
static bool
partition_steps(Oid parentid, const char *parent_index, HypoIndex *h,
				const char *keynames, bool include, const char *tail,
				const char *sig, StringInfo script, List **steps)
{
	List	   *children = find_inheritance_children(parentid, NoLock);
	ListCell   *lc;

	list_sort(children, oid_name_cmp);
	foreach(lc, children)
	{
		Oid			child = lfirst_oid(lc);
		char		relkind = get_rel_relkind(child);
		char	   *nsp = get_namespace_name(get_rel_namespace(child));
		char	   *rel = get_rel_name(child);
		char	   *name = index_name(child, rel, keynames, include, h->kind,
									  h->predicate_sql, sig);
		char	   *qrel = quote_qualified_identifier(nsp, rel);
		char	   *qindex = quote_qualified_identifier(nsp, name);
		char	   *attach;

		if (relkind == RELKIND_PARTITIONED_TABLE)
		{
			char	   *step = psprintf("CREATE INDEX %s ON ONLY %s%s",
										quote_identifier(name), qrel, tail);

			appendStringInfo(script, ";\n%s", step);
			*steps = lappend(*steps, step);
			if (!partition_steps(child, qindex, h, keynames, include, tail, sig,
								 script, steps))
				return false;
		}
		else if (relkind == RELKIND_RELATION)
		{
			appendStringInfo(script, ";\nCREATE INDEX CONCURRENTLY %s ON %s%s",
							 quote_identifier(name), qrel, tail);
			*steps = lappend(*steps, psprintf("CREATE INDEX %s ON %s%s",
											  quote_identifier(name), qrel, tail));
		}
		else
			return false;
		attach = psprintf("ALTER INDEX %s ATTACH PARTITION %s", parent_index, qindex);
		appendStringInfo(script, ";\n%s", attach);
		*steps = lappend(*steps, attach);
	}
	return true;
}

/*
 * h's statement and steps; tail is what follows "ON table".  A plain
 * table's statement is CREATE INDEX CONCURRENTLY.  A partitioned table's
 * is a script, the way to build it in PostgreSQL 15 without blocking
 * writes (CREATE INDEX CONCURRENTLY refuses partitioned tables): the
 * index ON ONLY the parent (invalid while partitions lack theirs), each
 * partition's CONCURRENTLY, each attached; once every partition's is
 * attached the parent's is valid, and partitions created later get one
 * of their own.  False if it cannot be built (a foreign partition).
 */
static bool
index_statements(HypoIndex *h, const char *nspname, const char *relname,
				 List *keys, List *include, const char *tail, const char *sig)
{
	char	   *qrel = quote_qualified_identifier(nspname, relname);

	if (!is_partitioned(h->relid))
	{
		h->statement = psprintf("CREATE INDEX CONCURRENTLY %s ON %s%s",
								quote_identifier(h->name), qrel, tail);
		h->steps = list_make1(psprintf("CREATE INDEX %s ON %s%s",
									   quote_identifier(h->name), qrel, tail));
		return true;
	}
	else
	{
		StringInfoData script;
		char	   *first = psprintf("CREATE INDEX %s ON ONLY %s%s",
									 quote_identifier(h->name), qrel, tail);

		initStringInfo(&script);
		appendStringInfoString(&script, first);
		h->steps = list_make1(first);
		if (!partition_steps(h->relid, quote_qualified_identifier(nspname, h->name), h,
							 colnames(h->relid, keys, "_", false), include != NIL,
							 tail, sig, &script, &h->steps))
			return false;
		h->statement = script.data;
		return true;
	}
}

/*
 * A candidate: kind of index on relid's columns keys, INCLUDE include,
 * with the predicate pred_clause (Vars of varno 1) or none.  NULL when it
 * cannot be built, or when check_useful and an existing index gives it
 * already or its predicate is not selective enough.
 */
static HypoIndex *
build_candidate(Oid relid, AdvisorKind kind, List *keys, List *include,
				Node *pred_clause, const char *reason, bool check_useful)
{
	HypoIndex  *h = palloc0(sizeof(HypoIndex));
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	StringInfoData sig;
	StringInfoData stmt;
	ListCell   *lc;
	int			i = 0;
	double		fraction = 1.0;

	if (list_length(keys) + list_length(include) > INDEX_MAX_KEYS || keys == NIL)
		return NULL;
	h->relid = relid;
	h->kind = kind;
	h->nkeys = list_length(keys);
	h->ncols = h->nkeys + list_length(include);
	foreach(lc, keys)
		h->attnums[i++] = lfirst_int(lc);
	foreach(lc, include)
		h->attnums[i++] = lfirst_int(lc);
	if (pred_clause)
	{
		h->predicate = normalize_predicate(pred_clause);
		h->predicate_sql = deparse_expression((Node *) make_ands_explicit(h->predicate),
											  deparse_context_for(relname, relid),
											  false, false);
	}
	if (kind == ADVISOR_BRIN)
		h->correlation = column_correlation(relid, h->attnums[0]);

	initStringInfo(&sig);
	appendStringInfo(&sig, "%s.%s|%d|%s|%s|%s", nspname, relname, (int) kind,
					 colnames(relid, keys, ",", false),
					 colnames(relid, include, ",", false),
					 h->predicate_sql ? h->predicate_sql : "");
	h->signature = sig.data;

	h->name = index_name(relid, relname, colnames(relid, keys, "_", false),
						 include != NIL, kind, h->predicate_sql, sig.data);

	/* what follows "ON table": the same on every partition (names) */
	initStringInfo(&stmt);
	appendStringInfo(&stmt, " USING %s (", kind == ADVISOR_BRIN ? "brin" : "btree");
	for (i = 0; i < h->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoString(&stmt, ", ");
		appendStringInfoString(&stmt, quote_identifier(attname(relid, h->attnums[i])));
		if (kind == ADVISOR_PATTERN && i == 0)
			appendStringInfoString(&stmt, " text_pattern_ops");
	}
	appendStringInfoChar(&stmt, ')');
	if (include != NIL)
		appendStringInfo(&stmt, " INCLUDE (%s)", colnames(relid, include, ", ", true));
	if (h->predicate_sql)
		appendStringInfo(&stmt, " WHERE %s", h->predicate_sql);
	if (!index_statements(h, nspname, relname, keys, include, stmt.data, sig.data))
		return NULL;
	h->reason = pstrdup(reason);
	if (!check_useful)
		return h;

	if (covered_by_existing(h))
		return NULL;
	if (kind == ADVISOR_PARTIAL)
	{
		fraction = predicate_fraction(relid, h->predicate_sql);
		if (fraction > PARTIAL_MAX_FRACTION)
			return NULL;
	}
	advisor_hypo_estimate(h, fraction);
	h->fakeoid = next_fake_oid++;
	if (next_fake_oid < 0xFFFF0000)
		next_fake_oid = 0xFFFF0000;
	return h;
}

static HypoIndex *
make_candidate(Oid relid, AdvisorKind kind, List *keys, List *include,
			   Node *pred_clause, const char *reason)
{
	return build_candidate(relid, kind, keys, include, pred_clause, reason, true);
}

/* Is e a conjunct of the advisor's shape: col op constant, col IS NOT NULL? */
static bool
advisor_shaped_conjunct(Node *e)
{
	if (IsA(e, NullTest))
	{
		NullTest   *nt = (NullTest *) e;

		return nt->nulltesttype == IS_NOT_NULL && !nt->argisrow &&
			IsA(strip((Node *) nt->arg), Var);
	}
	if (IsA(e, OpExpr) && list_length(((OpExpr *) e)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) e;
		Node	   *l = strip(linitial(op->args));
		Node	   *r = strip(lsecond(op->args));

		if (IsA(l, Var) && IsA(r, Const))
			return btree_strategy(op->opno, ((Var *) l)->vartype) != 0;
		if (IsA(r, Var) && IsA(l, Const))
			return btree_strategy(op->opno, ((Var *) r)->vartype) != 0;
	}
	return false;
}

/* The attribute number of a plain column IndexElem, or InvalidAttrNumber. */
static AttrNumber
plain_column(Oid relid, IndexElem *e)
{
	AttrNumber	a;

	if (e->name == NULL || e->expr != NULL || e->indexcolname != NULL ||
		e->collation != NIL || e->opclassopts != NIL ||
		e->ordering != SORTBY_DEFAULT || e->nulls_ordering != SORTBY_NULLS_DEFAULT)
		return InvalidAttrNumber;
	a = get_attnum(relid, e->name);
	return a > 0 ? a : InvalidAttrNumber;
}

/*
 * The candidate whose statement is exactly stmt, or NULL: the advisor's
 * own shape, recognized by building the candidate again from what stmt
 * names (its table, kind, key and INCLUDE columns, a predicate of the
 * shape candidates have) and comparing the statement built with stmt,
 * character for character.  For a partitioned table the whole script is
 * built again from the partitions it has now.  So apply_index() builds
 * what index_advisor() or recommend_indexes() returned in any session,
 * and nothing else.
 */
HypoIndex *
advisor_candidate_from_statement(const char *stmt)
{
	List	   *raw;
	IndexStmt  *is;
	Oid			relid;
	bool		partitioned;
	AdvisorKind kind = ADVISOR_BTREE;
	List	   *keys = NIL;
	List	   *include = NIL;
	Node	   *pred = NULL;
	ListCell   *lc;
	HypoIndex  *h;

	raw = pg_parse_query(stmt);
	if (raw == NIL || !IsA(linitial_node(RawStmt, raw)->stmt, IndexStmt))
		return NULL;
	is = (IndexStmt *) linitial_node(RawStmt, raw)->stmt;
	if (is->idxname == NULL || is->unique || is->primary || is->isconstraint ||
		is->deferrable || is->initdeferred || is->tableSpace != NULL ||
		is->options != NIL || is->excludeOpNames != NIL || is->nulls_not_distinct ||
		is->if_not_exists || is->relation == NULL || is->relation->schemaname == NULL ||
		is->accessMethod == NULL)
		return NULL;
	relid = RangeVarGetRelid(is->relation, AccessShareLock, true);
	if (!OidIsValid(relid))
		return NULL;
	partitioned = is_partitioned(relid);
	if (partitioned ? (is->concurrent || is->relation->inh) :
		(!is->concurrent || !is->relation->inh || list_length(raw) != 1))
		return NULL;
	if (strcmp(is->accessMethod, "brin") == 0)
		kind = ADVISOR_BRIN;
	else if (strcmp(is->accessMethod, "btree") != 0)
		return NULL;
	foreach(lc, is->indexParams)
	{
		IndexElem  *e = lfirst_node(IndexElem, lc);
		List	   *opclass = e->opclass;
		AttrNumber	a;

		/* text_pattern_ops, on the first key of a btree only */
		if (opclass != NIL)
		{
			if (lc != list_head(is->indexParams) || kind != ADVISOR_BTREE ||
				list_length(opclass) != 1 ||
				strcmp(strVal(linitial(opclass)), "text_pattern_ops") != 0)
				return NULL;
			kind = ADVISOR_PATTERN;
			e->opclass = NIL;
		}
		a = plain_column(relid, e);
		e->opclass = opclass;
		if (a == InvalidAttrNumber)
			return NULL;
		keys = lappend_int(keys, a);
	}
	foreach(lc, is->indexIncludingParams)
	{
		AttrNumber	a = plain_column(relid, lfirst_node(IndexElem, lc));

		if (a == InvalidAttrNumber)
			return NULL;
		include = lappend_int(include, a);
	}
	if (is->whereClause != NULL)
	{
		ParseState *pstate = make_parsestate(NULL);
		Relation	rel = relation_open(relid, AccessShareLock);
		ParseNamespaceItem *nsitem;
		List	   *conjuncts;

		pstate->p_sourcetext = stmt;
		nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL,
											   false, true);
		addNSItemToQuery(pstate, nsitem, false, true, true);
		pred = transformWhereClause(pstate, copyObject(is->whereClause),
									EXPR_KIND_INDEX_PREDICATE, "WHERE");
		relation_close(rel, AccessShareLock);
		free_parsestate(pstate);
		conjuncts = normalize_predicate(pred);
		foreach(lc, conjuncts)
			if (!advisor_shaped_conjunct(lfirst(lc)))
				return NULL;
		if (kind != ADVISOR_BTREE)
			return NULL;
		kind = ADVISOR_PARTIAL;
	}
	h = build_candidate(relid, kind, keys, include, pred, "", false);
	if (h == NULL || strcmp(h->statement, stmt) != 0)
		return NULL;
	return h;
}

static void
add_candidate(List **out, HypoIndex *h)
{
	ListCell   *lc;

	if (h == NULL)
		return;
	foreach(lc, *out)
	{
		if (strcmp(((HypoIndex *) lfirst(lc))->signature, h->signature) == 0)
			return;
	}
	*out = lappend(*out, h);
}

static List *
without(List *l, AttrNumber a)
{
	List	   *r = NIL;
	ListCell   *lc;

	foreach(lc, l)
		if (lfirst_int(lc) != a)
			r = lappend_int(r, lfirst_int(lc));
	return r;
}

static char *
describe(const char *what, Oid relid, List *cols)
{
	return psprintf("%s (%s)", what, colnames(relid, cols, ", ", false));
}

static void
candidates_for_use(RelUse *u, List **out)
{
	Oid			relid = u->relid;
	ListCell   *lc;
	double		relpages = 0;
	double		allvisible = 0;
	double		reltuples;
	bool		partitioned = is_partitioned(relid);
	List	   *eq_range = list_concat_unique_int(list_copy(u->eq), u->range);

	advisor_rel_size(relid, &reltuples, &relpages, &allvisible);
	/* never vacuumed or analyzed: its size on disk */
	if (relpages == 0 && !partitioned)
	{
		Relation	rel = relation_open(relid, AccessShareLock);

		relpages = RelationGetNumberOfBlocks(rel);
		relation_close(rel, AccessShareLock);
	}
	/* a table of a few pages is read whole faster than an index is kept */
	if (relpages < MIN_TABLE_PAGES)
		return;

	/* single columns */
	foreach(lc, eq_range)
	{
		AttrNumber	a = lfirst_int(lc);
		List	   *k = list_make1_int(a);

		add_candidate(out, make_candidate(relid, ADVISOR_BTREE, k, NIL, NULL,
										  describe(list_member_int(u->eq, a) ?
												   "equality on" : "range on", relid, k)));
	}
	/* equality columns, then a range column or the sort columns */
	if (list_length(u->eq) >= 2)
		add_candidate(out, make_candidate(relid, ADVISOR_BTREE, u->eq, NIL, NULL,
										  describe("equality on", relid, u->eq)));
	foreach(lc, u->range)
	{
		AttrNumber	r = lfirst_int(lc);
		List	   *k;

		if (u->eq == NIL || list_member_int(u->eq, r))
			continue;
		k = lappend_int(list_copy(u->eq), r);
		add_candidate(out, make_candidate(relid, ADVISOR_BTREE, k, NIL, NULL,
										  psprintf("%s, then %s",
												   describe("equality on", relid, u->eq),
												   describe("range on", relid, list_make1_int(r)))));
	}
	if (u->sort != NIL)
	{
		List	   *k = list_concat_unique_int(list_copy(u->eq), u->sort);

		add_candidate(out, make_candidate(relid, ADVISOR_BTREE, k, NIL, NULL,
										  u->eq ? psprintf("%s, then %s",
														   describe("equality on", relid, u->eq),
														   describe("ORDER BY ... LIMIT on", relid, u->sort))
										  : describe("ORDER BY ... LIMIT on", relid, u->sort)));
	}
	/* covering variant of the widest composite, for index-only scans */
	if (u->refcols_known && relpages > 0 && allvisible / relpages >= 0.5 && eq_range != NIL)
	{
		List	   *k = u->eq ? list_copy(u->eq) : list_make1_int(linitial_int(eq_range));
		List	   *inc = NIL;
		int			x = -1;

		if (u->eq && u->range)
			k = list_append_unique_int(k, linitial_int(u->range));
		while ((x = bms_next_member(u->refcols, x)) >= 0)
		{
			AttrNumber	a = x + FirstLowInvalidHeapAttributeNumber;

			if (a > 0 && !list_member_int(k, a))
				inc = lappend_int(inc, a);
		}
		if (inc != NIL && list_length(inc) <= INCLUDE_MAX_COLUMNS)
			add_candidate(out, make_candidate(relid, ADVISOR_BTREE, k, inc, NULL,
											  psprintf("%s, INCLUDE (%s) for an index-only scan",
													   describe("keys", relid, k),
													   colnames(relid, inc, ", ", false))));
	}
	/* LIKE 'prefix%' */
	foreach(lc, u->pattern)
	{
		List	   *k = list_make1_int(lfirst_int(lc));

		add_candidate(out, make_candidate(relid, ADVISOR_PATTERN, k, NIL, NULL,
										  describe("LIKE prefix on", relid, k)));
	}
	/*
	 * Partial indexes on selective constant predicates.  The predicate's
	 * column is left out of the keys.  With no other key column, only a
	 * state-like column (few distinct values: status = 'ACTIVE') or
	 * IS NOT NULL makes a partial index of its own column; a partial
	 * index whose predicate is the query's own lookup value
	 * (id = 42, t <= '2024-02-02') would serve that one constant only.
	 */
	{
		ListCell   *pc;
		ListCell   *ac;

		forboth(pc, u->consts, ac, u->const_attnums)
		{
			AttrNumber	pa = lfirst_int(ac);
			Node	   *clause = lfirst(pc);
			List	   *k = without(u->eq, pa);
			char	   *why;

			if (u->sort != NIL)
				k = list_concat_unique_int(k, without(u->sort, pa));
			else
			{
				ListCell   *rc;

				foreach(rc, u->range)
				{
					if (lfirst_int(rc) != pa)
					{
						k = list_append_unique_int(k, lfirst_int(rc));
						break;
					}
				}
			}
			/*
			 * A range predicate makes a partial index only as a fixed
			 * threshold (engine_rpm > 400): not a window with two bounds,
			 * not on a date or time column, whose constants move.
			 */
			if (IsA(clause, OpExpr) && !list_member_int(u->eq, pa))
			{
				Oid			typ = get_atttype(relid, pa);
				ListCell   *oc;
				int			bounds = 0;

				foreach(oc, u->const_attnums)
					if (lfirst_int(oc) == pa)
						bounds++;
				if (bounds > 1 || typ == DATEOID || typ == TIMESTAMPOID ||
					typ == TIMESTAMPTZOID || typ == TIMEOID || typ == TIMETZOID)
					continue;
			}
			if (k == NIL)
			{
				if (IsA(clause, NullTest) ||
					(IsA(clause, OpExpr) && list_member_int(u->eq, pa) &&
					 few_distinct(relid, pa)))
					k = list_make1_int(pa);
				else
					continue;
			}
			else if (IsA(clause, OpExpr) && list_member_int(u->eq, pa) &&
					 !few_distinct(relid, pa))
				continue;
			why = psprintf("partial: only rows where %s",
						   deparse_expression(clause,
											  deparse_context_for(get_rel_name(relid), relid),
											  false, false));
			add_candidate(out, make_candidate(relid, ADVISOR_PARTIAL, k, NIL,
											  clause, why));
		}
	}
	/*
	 * BRIN for ranges on columns that follow the physical order (not on a
	 * partitioned table: its statistics' correlation is of a sample drawn
	 * across partitions, not of any partition's order)
	 */
	if (relpages >= BRIN_MIN_PAGES && !partitioned)
	{
		foreach(lc, u->range)
		{
			AttrNumber	a = lfirst_int(lc);
			double		corr = column_correlation(relid, a);

			if (fabs(corr) >= BRIN_MIN_CORRELATION)
				add_candidate(out, make_candidate(relid, ADVISOR_BRIN, list_make1_int(a), NIL, NULL,
												  psprintf("BRIN: range on %s, correlation %.2f with the physical order",
														   attname(relid, a), corr)));
		}
	}
}

static int
candidate_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((HypoIndex *) lfirst(a))->signature,
				  ((HypoIndex *) lfirst(b))->signature);
}

/* The candidates of one captured query, built as its author. */
typedef struct AuthorCandidates
{
	AdvisorQuery *aq;
	List	   *out;			/* grows; what was added before an error stays */
} AuthorCandidates;

static void
candidates_as_author(void *arg)
{
	AuthorCandidates *a = (AuthorCandidates *) arg;
	WalkContext ctx = {0};
	AdvisorIdentity id;
	ListCell   *uc;

	advisor_become(a->aq->userid, &id);
	collect_walker((Node *) a->aq->query, &ctx);
	foreach(uc, ctx.uses)
		candidates_for_use(lfirst(uc), &a->out);
	advisor_unbecome(&id);
}

/*
 * Every candidate of every query, without repeats, in signature order.
 * A captured query's candidates are built as its author (the partial
 * index's predicate is simplified and planned to estimate its fraction),
 * in a subtransaction (pk_try_subxact): if that fails, the query is
 * marked broken.
 */
List *
advisor_candidates(List *queries)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, queries)
	{
		AdvisorQuery *aq = lfirst(lc);
		AuthorCandidates a;
		ErrorData  *edata;

		if (!OidIsValid(aq->userid))
		{
			WalkContext ctx = {0};
			ListCell   *uc;

			collect_walker((Node *) aq->query, &ctx);
			foreach(uc, ctx.uses)
				candidates_for_use(lfirst(uc), &out);
			continue;
		}
		if (aq->broken)
			continue;
		/* predicates are simplified and planned as the query's author */
		a.aq = aq;
		a.out = out;
		if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, candidates_as_author, &a,
						   advisor_error_propagates, &edata) != PK_TRY_OK)
		{
			/* candidates added before the error stay: they are only ideas */
			(void) advisor_left_out(edata);
			aq->broken = true;
		}
		out = a.out;
	}

	/*
	 * No candidate on a Citus table: Citus plans a query over it as tasks
	 * on the shards, and no index changes the plan costed here (see
	 * index_advisor(), which refuses such a query).
	 */
	if (out != NIL && pk_citus_installed())
	{
		List	   *kept = NIL;
		List	   *citus = NIL;
		List	   *plain = NIL;

		foreach(lc, out)
		{
			HypoIndex  *h = lfirst(lc);

			if (!list_member_oid(citus, h->relid) && !list_member_oid(plain, h->relid))
			{
				if (cache_citus_tables(list_make1_oid(h->relid)) != NIL)
					citus = lappend_oid(citus, h->relid);
				else
					plain = lappend_oid(plain, h->relid);
			}
			if (!list_member_oid(citus, h->relid))
				kept = lappend(kept, h);
		}
		out = kept;
	}
	list_sort(out, candidate_cmp);
	return out;
}
