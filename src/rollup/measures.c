/*-------------------------------------------------------------------------
 *
 * measures.c
 *	  Parsing and validating a rollup's measures.
 *
 * A measure is user text such as 'count(*) FILTER (WHERE extreme_weather)
 * AS extreme_trips'.  perfkit never pastes that text into a statement.
 * Instead _rollup_measures() parses it with the raw parser, checks that it
 * is exactly one aggregate call of a supported kind (count, sum, avg, min,
 * max from pg_catalog; no DISTINCT, ORDER BY, WITHIN GROUP or OVER; an
 * optional FILTER; only immutable functions), puts that call into a SELECT over the source table it
 * builds itself, and runs parse analysis on it.  Parse analysis resolves
 * columns (so an unknown column is PostgreSQL's own 42703), operators and
 * types.  What comes back is PostgreSQL's deparsed text of the argument
 * and of the filter: canonical SQL that the rollup statements use, and a
 * key by which a coarser rollup finds the state of the same measure in a
 * finer one ('sum(distance_km)' and 'SUM( distance_km )' are one measure).
 *
 * The mergeable state each kind keeps, and how coarser rollups merge it,
 * is decided in SQL (perfkit._rollup_create in src/rollup/rollup.sql):
 * this file only answers what the measure is and what types it has.
 *
 * src/rollup/measures.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_aggregate.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "perfkit/rollup.h"

PG_FUNCTION_INFO_V1(perfkit_rollup_measures);

static const char *const supported_aggs[] = {"count", "sum", "avg", "min", "max"};

#define SUPPORTED_HINT \
	"Supported measures are count(*), count(expr), sum(expr), avg(expr), min(expr) and max(expr), each with an optional FILTER (WHERE ...) and AS alias."

static void
bad_measure(const char *measure, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("unsupported rollup measure \"%s\"", measure),
			 errdetail("%s", why),
			 errhint(SUPPORTED_HINT)));
}

/*
 * Errors in a measure point into the measure, not into the caller's
 * statement.  arg is the "SELECT <measure>" text that was parsed.
 */
static void
measure_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

/*
 * Parse one measure's text (sql is "SELECT <measure>") into its
 * ResTarget, checking its shape.
 */
static ResTarget *
parse_measure(const char *measure, const char *sql)
{
	List	   *raw;
	SelectStmt *select;
	ResTarget  *target;
	FuncCall   *call;
	char	   *fname;
	char	   *schema;
	bool		known = false;

	raw = raw_parser(sql, RAW_PARSE_DEFAULT);

	if (list_length(raw) != 1 ||
		!IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
		bad_measure(measure, "It is not a single aggregate expression.");
	select = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
	if (select->op != SETOP_NONE || select->valuesLists != NIL ||
		select->fromClause != NIL || select->whereClause != NULL ||
		select->groupClause != NIL || select->havingClause != NULL ||
		select->windowClause != NIL || select->sortClause != NIL ||
		select->limitCount != NULL || select->limitOffset != NULL ||
		select->lockingClause != NIL || select->withClause != NULL ||
		select->intoClause != NULL || select->distinctClause != NIL ||
		list_length(select->targetList) != 1)
		bad_measure(measure, "It is not a single aggregate expression.");

	target = linitial_node(ResTarget, select->targetList);
	if (!IsA(target->val, FuncCall))
		bad_measure(measure, "It is not an aggregate call.");
	call = (FuncCall *) target->val;

	DeconstructQualifiedName(call->funcname, &schema, &fname);
	for (int i = 0; i < (int) lengthof(supported_aggs); i++)
		if (strcmp(fname, supported_aggs[i]) == 0)
			known = true;
	if (!known || (schema != NULL && strcmp(schema, "pg_catalog") != 0))
		bad_measure(measure, psprintf("Aggregate \"%s\" is not supported.", fname));
	if (call->agg_distinct)
		bad_measure(measure, "DISTINCT aggregates cannot be merged from finer buckets.");
	if (call->agg_order != NIL || call->agg_within_group)
		bad_measure(measure, "Ordered aggregates are not supported.");
	if (call->over != NULL)
		bad_measure(measure, "Window functions are not supported.");
	if (call->func_variadic)
		bad_measure(measure, "VARIADIC is not supported.");
	if (call->agg_star && strcmp(fname, "count") != 0)
		bad_measure(measure, "Only count accepts *.");
	if (!call->agg_star && list_length(call->args) != 1)
		bad_measure(measure, "The aggregate must have exactly one argument.");

	return target;
}

/*
 * The alias a measure gets when none is written: the aggregate's name,
 * then "_<column>" when the argument is a plain column.
 */
static char *
derived_alias(ResTarget *target)
{
	FuncCall   *call = (FuncCall *) target->val;
	char	   *schema;
	char	   *fname;

	DeconstructQualifiedName(call->funcname, &schema, &fname);
	if (!call->agg_star && IsA(linitial(call->args), ColumnRef))
	{
		ColumnRef  *ref = linitial_node(ColumnRef, call->args);
		Node	   *last = llast(ref->fields);

		if (IsA(last, String))
			return psprintf("%s_%s", fname, strVal(last));
	}
	return pstrdup(fname);
}

/*
 * perfkit._rollup_measures(source regclass, measures text[])
 *	 RETURNS TABLE(ord int, alias text, agg text, arg_sql text,
 *				   filter_sql text, arg_type regtype, result_type regtype,
 *				   key text)
 *
 * One row per measure, in order, or an error naming the first bad one.
 * Runs as the caller, so analysis checks the caller's column privileges.
 */
Datum
perfkit_rollup_measures(PG_FUNCTION_ARGS)
{
	Oid			source = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	List	   *context;
	RangeVar   *rv;
	Relation	rel;
	OverrideSearchPath catalog_only = {NIL, true, false, 0};

	InitMaterializedSRF(fcinfo, 0);

	rel = relation_open(source, AccessShareLock);
	rv = makeRangeVar(get_namespace_name(RelationGetNamespace(rel)),
					  pstrdup(RelationGetRelationName(rel)), -1);
	context = deparse_context_for(RelationGetRelationName(rel), source);
	relation_close(rel, NoLock);

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elemnulls, &nelems);
	if (nelems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a rollup needs at least one measure"),
				 errhint(SUPPORTED_HINT)));

	for (int i = 0; i < nelems; i++)
	{
		char	   *measure;
		char	   *sql;
		ErrorContextCallback errcallback;
		ResTarget  *target;
		SelectStmt *select;
		RawStmt    *rawstmt;
		Query	   *query;
		TargetEntry *te;
		Aggref	   *aggref;
		Node	   *arg = NULL;
		Datum		values[8];
		bool		nulls[8] = {0};
		char	   *fname;
		HeapTuple	proctup;
		Form_pg_proc proc;
		StringInfoData key;

		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rollup measures must not be null")));
		measure = TextDatumGetCString(elems[i]);
		sql = psprintf("SELECT %s", measure);
		errcallback.callback = measure_error_callback;
		errcallback.arg = sql;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		target = parse_measure(measure, sql);

		/* SELECT <the call> FROM <source>, built here, then analyzed. */
		select = makeNode(SelectStmt);
		select->targetList = list_make1(target);
		select->fromClause = list_make1(rv);
		rawstmt = makeNode(RawStmt);
		rawstmt->stmt = (Node *) select;
		rawstmt->stmt_location = -1;
		query = parse_analyze_fixedparams(rawstmt, sql, NULL, 0, NULL);
		error_context_stack = errcallback.previous;

		if (query->hasSubLinks || query->hasWindowFuncs ||
			query->hasTargetSRFs || list_length(query->targetList) != 1)
			bad_measure(measure, "Subqueries, window functions and set-returning functions are not allowed.");
		te = linitial_node(TargetEntry, query->targetList);
		if (!IsA(te->expr, Aggref))
			bad_measure(measure, "It is not an aggregate call.");
		aggref = (Aggref *) te->expr;
		if (aggref->aggdistinct != NIL || aggref->aggorder != NIL ||
			aggref->aggkind != AGGKIND_NORMAL || aggref->agglevelsup != 0)
			bad_measure(measure, "Only plain aggregates are supported.");

		proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(aggref->aggfnoid));
		if (!HeapTupleIsValid(proctup))
			elog(ERROR, "cache lookup failed for function %u", aggref->aggfnoid);
		proc = (Form_pg_proc) GETSTRUCT(proctup);
		fname = pstrdup(NameStr(proc->proname));
		if (proc->pronamespace != PG_CATALOG_NAMESPACE)
			bad_measure(measure,
						psprintf("Aggregate \"%s\" resolves to a user-defined function.", fname));
		ReleaseSysCache(proctup);

		if (!aggref->aggstar)
		{
			arg = (Node *) linitial_node(TargetEntry, aggref->args)->expr;
			if (contain_mutable_functions(arg))
				bad_measure(measure, "The argument calls a function that is not immutable: its result could change between refreshes.");
		}
		if (aggref->aggfilter && contain_mutable_functions((Node *) aggref->aggfilter))
			bad_measure(measure, "The filter calls a function that is not immutable: its result could change between refreshes.");

		/*
		 * Deparse with only pg_catalog in the search path, so that every
		 * other function, operator and type comes out schema-qualified and
		 * the text means the same whatever path a refresh runs under.
		 */
		PushOverrideSearchPath(&catalog_only);
		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(target->name ? target->name : derived_alias(target));
		values[2] = CStringGetTextDatum(fname);
		if (arg)
		{
			values[3] = CStringGetTextDatum(deparse_expression(arg, context, false, false));
			values[5] = ObjectIdGetDatum(exprType(arg));
		}
		else
			nulls[3] = nulls[5] = true;
		if (aggref->aggfilter)
			values[4] = CStringGetTextDatum(deparse_expression((Node *) aggref->aggfilter,
															   context, false, false));
		else
			nulls[4] = true;
		values[6] = ObjectIdGetDatum(aggref->aggtype);
		PopOverrideSearchPath();

		initStringInfo(&key);
		appendStringInfo(&key, "%s(%s)", fname,
						 arg ? TextDatumGetCString(values[3]) : "*");
		if (aggref->aggfilter)
			appendStringInfo(&key, " FILTER (WHERE %s)", TextDatumGetCString(values[4]));
		values[7] = CStringGetTextDatum(key.data);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}
