/*-------------------------------------------------------------------------
 *
 * cached.c
 *	  cached(query, params, ttl, max_staleness), cached_rows() and
 *	  cache_warm(queries, ttl, param_sets): read-only query results cached
 *	  until their TTL or a committed write to a table they read, whichever
 *	  comes first.
 *
 * Parameters come as the client sends them (params_arg()): an array of
 * any type, a jsonb array (mixed types), one value, or an untyped literal
 * (a JSON array, else text[]).  Each value goes in its text form, read as
 * the type the query infers for $n; the key holds the text and the type
 * it came as.  cached_rows() turns the stored jsonb back into rows of the
 * caller's column definition list with jsonb_to_recordset().
 *
 * The entry's identity is (database, current user, query text, search_path,
 * parameters).  A hit costs one lookup: the entry carries the version of
 * every relation it depends on (versions.c) and is served only while all
 * are current and this transaction has written none of them.
 *
 * On a miss the query is prepared with SPI (parameter types inferred, as
 * for PREPARE), checked, and its dependencies collected from the rewritten
 * query tree, views, subqueries, CTEs and inheritance children included
 * (a written partition bumps its ancestors, so partitioned tables need no
 * expansion here), plus buckets of names and epochs that DDL bumps (see
 * tracking.c): the name of each relation read, the name of each function
 * called by name, the routine epoch if it calls a user-defined routine,
 * the type epoch if it involves a user-defined type, and the session's
 * bucket if the session has a temporary schema.  Then, in this order:
 *   1. read the versions of the dependencies and of the database and
 *      global epochs, then a memory barrier;
 *   2. execute the query, with a snapshot SPI takes after step 1;
 *   3. store the result with the versions read in step 1.
 * A write that commits after the snapshot bumps a version after step 1,
 * so the stored entry is stale from the start: a result computed on a
 * snapshot older than a commit is never served after that commit, unless
 * the caller gave max_staleness: then until that long after step 1 (the
 * entry's "since"), so the commit was at most that long ago.
 *
 * Relations read only inside functions the query calls do not appear in
 * its tree.  While the query runs, every plan the executor starts is
 * captured; relations found only there are added as dependencies with the
 * versions current after the run, and the result is stored only if no
 * writing transaction committed during the run (a global counter), since
 * their versions could not be read before the snapshot.
 *
 * Not cached (the query still runs and its result is returned): under
 * REPEATABLE READ or SERIALIZABLE, where the transaction's snapshot is
 * older than the versions it would read, and serving a newer result would
 * break the snapshot; during recovery (a standby), where writes replayed
 * from WAL run no hooks; results from tables under row-level security,
 * which policies may filter by session state a key cannot see; results
 * larger than the value limit; while this transaction has written a
 * relation the query reads, or whenever perfkit.cache_enabled is off.
 *
 * Refused with an error: anything but one read-only SELECT (no FOR
 * UPDATE/SHARE, no data-modifying WITH), volatile functions, temporary
 * tables, system catalogs, foreign tables and sequences (writes to these
 * cannot be tracked).
 *
 * src/cache/cached.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_param.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/pg_locale.h"
#include "pgtime.h"

#include "perfkit/cache.h"
#include "perfkit/shmem.h"

extern int64 cache_ttl_arg(FunctionCallInfo fcinfo, int argno);

/*
 * Relations seen by the executor while a cached() query runs.  A cached()
 * called from inside another's query (through a function) sets
 * nested_cached: the outer result then depends on whatever the inner one
 * depended on, which the outer capture cannot see, so it is not stored.
 */
static bool capturing = false;
static bool nested_cached = false;
static List *captured = NIL;
static MemoryContext capture_cxt = NULL;

void
cache_capture_executor_start(QueryDesc *queryDesc)
{
	ListCell   *lc;
	MemoryContext old;

	if (!capturing)
		return;
	old = MemoryContextSwitchTo(capture_cxt);
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION)
			captured = list_append_unique_oid(captured, rte->relid);
	}
	MemoryContextSwitchTo(old);
}

typedef struct ParamTypes
{
	Oid		   *types;
	int			ntypes;
} ParamTypes;

static void
param_setup(ParseState *pstate, void *arg)
{
	ParamTypes *pt = arg;

	setup_parse_variable_parameters(pstate, &pt->types, &pt->ntypes);
}

/*
 * Error out unless writes to relid can be tracked: not a system catalog,
 * temporary table, foreign table or sequence.
 */
static void
check_relation(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relid < FirstNormalObjectId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cached() cannot cache a query that reads system catalogs"),
				 errdetail("\"%s\" is a system catalog; perfkit cannot see all writes to it.",
						   get_rel_name(relid))));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cached() cannot cache a query that reads temporary table \"%s\"",
						get_rel_name(relid))));
	if (relkind == RELKIND_FOREIGN_TABLE || relkind == RELKIND_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cached() cannot cache a query that reads \"%s\"", get_rel_name(relid)),
				 errdetail("Writes to foreign tables and sequences cannot be tracked.")));
}

/*
 * What a query depends on: relations, and buckets of names and epochs
 * (src/cache/tracking.c).
 */
typedef struct DepsContext
{
	List	   *rels;			/* relation OIDs */
	List	   *buckets;		/* name buckets, as ints */
	bool		user_routine;	/* calls a user-defined routine */
	bool		user_type;		/* involves a user-defined type */
} DepsContext;

/*
 * Add relid to deps.  A scan with inheritance (inh) also reads every
 * inheritor: each is checked, and the children of plain inheritance are
 * added too (a written partition marks its ancestors, so partitions need
 * not be).
 */
static void
add_relation(List **deps, Oid relid, bool inh)
{
	check_relation(relid);
	*deps = list_append_unique_oid(*deps, relid);
	if (inh && has_subclass(relid))
	{
		bool		partitioned = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
		List	   *all = find_all_inheritors(relid, NoLock, NULL);
		ListCell   *lc;

		foreach(lc, all)
		{
			check_relation(lfirst_oid(lc));
			if (!partitioned)
				*deps = list_append_unique_oid(*deps, lfirst_oid(lc));
		}
	}
}

static void
add_function(DepsContext *cx, Oid funcid, bool by_name)
{
	if (funcid >= FirstNormalObjectId)
		cx->user_routine = true;
	if (by_name)
	{
		char	   *name = get_func_name(funcid);

		if (name != NULL)
			cx->buckets = list_append_unique_int(cx->buckets,
												 (int) cache_version_bucket_name(MyDatabaseId, 'f', name));
	}
}

static bool
deps_walker(Node *node, DepsContext *cx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			add_relation(&cx->rels, rte->relid, rte->inh);
		return false;
	}
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Const:
		case T_Param:
		case T_FuncExpr:
		case T_OpExpr:
		case T_Aggref:
		case T_WindowFunc:
		case T_CoerceViaIO:
		case T_RelabelType:
		case T_ArrayCoerceExpr:
		case T_CoerceToDomain:
		case T_RowExpr:
		case T_FieldSelect:
		case T_SubscriptingRef:
			if (exprType(node) >= FirstNormalObjectId)
				cx->user_type = true;
			break;
		default:
			break;
	}
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *fe = (FuncExpr *) node;
		Oid			f = fe->funcid;

		if (f == F_CURRENT_SETTING_TEXT || f == F_CURRENT_SETTING_TEXT_BOOL ||
			f == F_PG_BACKEND_PID)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cached() cannot cache a query that calls %s()",
							get_func_name(f)),
					 errdetail("Its result depends on the session, and entries are shared "
							   "by every session of the role."),
					 errhint("Pass the value as a parameter instead.")));
		add_function(cx, f, fe->funcformat == COERCE_EXPLICIT_CALL);
	}
	else if (IsA(node, Aggref))
		add_function(cx, ((Aggref *) node)->aggfnoid, true);
	else if (IsA(node, WindowFunc))
		add_function(cx, ((WindowFunc *) node)->winfnoid, true);
	else if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
	{
		OpExpr	   *op = (OpExpr *) node;

		set_opfuncid(op);
		add_function(cx, op->opfuncid, false);
	}
	else if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

		set_sa_opfuncid(op);
		add_function(cx, op->opfuncid, false);
	}
	if (IsA(node, Query))
	{
		if (((Query *) node)->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("cached() accepts only read-only SELECT queries"),
					 errdetail("SELECT ... FOR UPDATE or FOR SHARE locks rows.")));
		return query_tree_walker((Query *) node, deps_walker, cx,
								 QTW_EXAMINE_RTES_BEFORE);
	}
	return expression_tree_walker(node, deps_walker, cx);
}

/*
 * Check that plan is one read-only SELECT, and collect its dependencies.
 * Returns false when its result must not be cached (row-level security).
 */
static bool
check_query(SPIPlanPtr plan, List **deps, List **buckets)
{
	DepsContext cx = {NIL, NIL, false, false};
	ListCell   *lc;
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *src;
	Query	   *query;

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cached() takes exactly one query")));
	src = linitial(sources);
	if (list_length(src->query_list) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cached() accepts only read-only SELECT queries"),
				 errdetail("The query is rewritten into several statements.")));
	query = linitial_node(Query, src->query_list);
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cached() accepts only read-only SELECT queries"),
				 errdetail("The query is %s.", GetCommandTagName(src->commandTag))));
	if (query->hasModifyingCTE)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cached() accepts only read-only SELECT queries"),
				 errdetail("Its WITH clause modifies data.")));
	if (contain_volatile_functions((Node *) query))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cached() cannot cache a query that calls volatile functions"),
				 errhint("A volatile function may return something else on every call.")));

	/* also refuses FOR UPDATE/SHARE and session-dependent functions */
	(void) deps_walker((Node *) query, &cx);

	/*
	 * The names of the relations read (a new one of the same name may
	 * shadow them), and the routine and type epochs if the query uses
	 * user-defined ones.
	 */
	foreach(lc, cx.rels)
	{
		char	   *name = get_rel_name(lfirst_oid(lc));

		if (name != NULL)
			cx.buckets = list_append_unique_int(cx.buckets,
												(int) cache_version_bucket_name(MyDatabaseId, 'r', name));
	}
	if (cx.user_routine)
		cx.buckets = list_append_unique_int(cx.buckets,
											(int) cache_version_bucket_name(MyDatabaseId, 'R', ""));
	if (cx.user_type)
		cx.buckets = list_append_unique_int(cx.buckets,
											(int) cache_version_bucket_name(MyDatabaseId, 'T', ""));
	*deps = cx.rels;
	*buckets = cx.buckets;
	return !query->hasRowSecurity;
}

/*
 * The versions of deps (relations) and of buckets (names and epochs, with
 * relid InvalidOid), with the database and global epochs first.
 */
static CacheDep *
read_versions(List *deps, List *buckets, int *ndeps)
{
	CacheDep   *d = palloc((list_length(deps) + list_length(buckets) + 2) * sizeof(CacheDep));
	ListCell   *lc;
	int			n = 0;

	d[n].relid = InvalidOid;
	d[n++].bucket = cache_version_bucket(InvalidOid, InvalidOid);
	d[n].relid = InvalidOid;
	d[n++].bucket = cache_version_bucket(MyDatabaseId, InvalidOid);
	foreach(lc, deps)
	{
		d[n].relid = lfirst_oid(lc);
		d[n++].bucket = cache_version_bucket(MyDatabaseId, lfirst_oid(lc));
	}
	foreach(lc, buckets)
	{
		d[n].relid = InvalidOid;
		d[n++].bucket = (uint32) lfirst_int(lc);
	}
	for (int i = 0; i < n; i++)
		d[i].version = cache_version_read(d[i].bucket);
	*ndeps = n;
	return d;
}

/* The rows of the last SPI result as a jsonb array of objects. */
static Jsonb *
rows_to_jsonb(void)
{
	StringInfoData buf;
	TupleDesc	tupdesc = BlessTupleDesc(SPI_tuptable->tupdesc);
	uint64		i;

	/* an object holds a key once: two columns of one name would lose one */
	for (int a = 0; a < tupdesc->natts; a++)
		for (int b = a + 1; b < tupdesc->natts; b++)
			if (strcmp(NameStr(TupleDescAttr(tupdesc, a)->attname),
					   NameStr(TupleDescAttr(tupdesc, b)->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("cached() needs distinct column names, but \"%s\" appears twice",
								NameStr(TupleDescAttr(tupdesc, a)->attname)),
						 errhint("Give the columns aliases.")));

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row = heap_copy_tuple_as_datum(SPI_tuptable->vals[i], tupdesc);
		text	   *json = DatumGetTextPP(DirectFunctionCall1(row_to_json, row));

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendBinaryStringInfo(&buf, VARDATA_ANY(json), VARSIZE_ANY_EXHDR(json));
	}
	appendStringInfoChar(&buf, ']');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* Is relid a partition of a partitioned table in deps, at any level? */
static bool
covered_by(Oid relid, List *deps)
{
	List	   *ancestors;
	ListCell   *lc;
	bool		found = false;

	if (!get_rel_relispartition(relid))
		return false;
	ancestors = get_partition_ancestors(relid);
	foreach(lc, ancestors)
		if (list_member_oid(deps, lfirst_oid(lc)))
			found = true;
	list_free(ancestors);
	return found;
}

/*
 * Parameters as cached() got them: each value in its text form (NULL for
 * SQL NULL) and the type it came as, used for a $n whose type the query
 * leaves open.
 */
typedef struct CacheParams
{
	int			n;
	char	  **values;
	Oid		   *types;
} CacheParams;

static void
params_alloc(CacheParams *p, int n)
{
	p->n = n;
	p->values = palloc0(Max(n, 1) * sizeof(char *));
	p->types = palloc0(Max(n, 1) * sizeof(Oid));
}

/* The elements of a jsonb array as parameters. */
static void
params_from_jsonb(CacheParams *p, JsonbContainer *array)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i = 0;

	if (!JsonContainerIsArray(array) || JsonContainerIsScalar(array))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameters given as jsonb must be a JSON array"),
				 errhint("Pass [42, \"2026-01-01\", true] for $1, $2, $3.")));
	params_alloc(p, JsonContainerSize(array));
	it = JsonbIteratorInit(array);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		switch (v.type)
		{
			case jbvNull:
				p->types[i] = TEXTOID;
				break;
			case jbvString:
				p->values[i] = pnstrdup(v.val.string.val, v.val.string.len);
				p->types[i] = TEXTOID;
				break;
			case jbvNumeric:
				p->values[i] = DatumGetCString(DirectFunctionCall1(numeric_out,
																   NumericGetDatum(v.val.numeric)));
				p->types[i] = NUMERICOID;
				break;
			case jbvBool:
				p->values[i] = pstrdup(v.val.boolean ? "true" : "false");
				p->types[i] = BOOLOID;
				break;
			default:
				p->values[i] = JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
				p->types[i] = JSONBOID;
				break;
		}
		i++;
	}
	p->n = i;
}

/*
 * How the parameters argument of one type turns into text: for an array
 * type, its element type, the element's storage and output function; for
 * any other type, its output function.  Looked up once per backend and
 * type (a hit of cached() would otherwise pay three catalog cache lookups
 * and an output function lookup on every call), in a few slots reused
 * round robin, and forgotten when any type or function changes (a syscache
 * invalidation of pg_type or pg_proc), so that a changed type or a
 * replaced output function is seen at once.
 */
typedef struct ParamTypeInfo
{
	Oid			type;			/* the argument's type; InvalidOid: free */
	Oid			elem;			/* its element type, or InvalidOid */
	int16		typlen;			/* of the element */
	bool		typbyval;
	char		typalign;
	FmgrInfo	out;			/* output function of the element or type */
} ParamTypeInfo;

#define PARAM_TYPE_SLOTS	4

static ParamTypeInfo param_types[PARAM_TYPE_SLOTS];
static int	param_types_next = 0;
static MemoryContext param_types_cxt = NULL;
static bool param_types_valid = false;

static void
param_types_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	param_types_valid = false;
}

static ParamTypeInfo *
param_type_info(Oid type)
{
	ParamTypeInfo *ti;
	Oid			out;
	bool		isvarlena;
	int			i;

	if (param_types_cxt == NULL)
	{
		param_types_cxt = AllocSetContextCreate(TopMemoryContext,
												"perfkit cached() parameter types",
												ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(TYPEOID, param_types_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, param_types_invalidate, (Datum) 0);
	}
	if (!param_types_valid)
	{
		MemoryContextReset(param_types_cxt);
		for (i = 0; i < PARAM_TYPE_SLOTS; i++)
			param_types[i].type = InvalidOid;
		param_types_valid = true;
	}
	for (i = 0; i < PARAM_TYPE_SLOTS; i++)
		if (param_types[i].type == type)
			return &param_types[i];

	/*
	 * Fill a slot.  The lookups may fail, or process invalidations: the slot
	 * is this type's only once it is complete and nothing was invalidated
	 * meanwhile (else it serves this call only, and the next call looks the
	 * type up again).
	 */
	ti = &param_types[param_types_next];
	param_types_next = (param_types_next + 1) % PARAM_TYPE_SLOTS;
	ti->type = InvalidOid;
	ti->elem = get_element_type(type);
	if (OidIsValid(ti->elem))
	{
		get_typlenbyvalalign(ti->elem, &ti->typlen, &ti->typbyval, &ti->typalign);
		getTypeOutputInfo(ti->elem, &out, &isvarlena);
	}
	else
		getTypeOutputInfo(type, &out, &isvarlena);
	fmgr_info_cxt(out, &ti->out, param_types_cxt);
	if (param_types_valid)
		ti->type = type;
	return ti;
}

/*
 * The parameters argument argno, of any type: NULL for none; an unknown
 * literal ('{1,2}') read as text[]; an array, one parameter per element
 * (one dimension); a jsonb array, one per element, for mixed types; any
 * other value, one parameter.
 */
static void
params_arg(FunctionCallInfo fcinfo, int argno, CacheParams *p)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	ParamTypeInfo *ti;
	ParamTypeInfo info;

	if (PG_ARGISNULL(argno))
	{
		params_alloc(p, 0);
		return;
	}
	if (!OidIsValid(type))
		elog(ERROR, "could not determine the type of the parameters argument");
	if (type == UNKNOWNOID)
	{
		/*
		 * An untyped literal: a JSON array ('[42, "x"]', as psycopg2's Json
		 * sends it) or else a text[] ('{a,b}', or with dimensions
		 * '[1:2]={a,b}').
		 */
		char	   *lit = DatumGetCString(PG_GETARG_DATUM(argno));
		const char *c = lit + strspn(lit, " \t\r\n");
		int			ndigits = (*c == '[') ? (int) strspn(c + 1, "-0123456789") : 0;

		if (*c == '[' && !(ndigits > 0 && c[1 + ndigits] == ':'))
		{
			Jsonb	   *j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(lit)));

			params_from_jsonb(p, &j->root);
			return;
		}
		fcinfo->args[argno].value = OidInputFunctionCall(F_ARRAY_IN, lit, TEXTOID, -1);
		type = TEXTARRAYOID;
	}
	if (type == JSONBOID || type == JSONOID)
	{
		Jsonb	   *j;

		if (type == JSONOID)
			j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												   CStringGetDatum(TextDatumGetCString(PG_GETARG_DATUM(argno)))));
		else
			j = PG_GETARG_JSONB_P(argno);
		params_from_jsonb(p, &j->root);
		return;
	}
	/*
	 * A copy of the slot, with state of its own: an output function may
	 * run anything, even a cached() that reuses the slot.
	 */
	ti = param_type_info(type);
	info = *ti;
	info.out.fn_extra = NULL;
	info.out.fn_mcxt = CurrentMemoryContext;
	if (OidIsValid(info.elem))
	{
		ArrayType  *arr = DatumGetArrayTypeP(PG_GETARG_DATUM(argno));
		Datum	   *values;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("parameters must be a one-dimensional array")));
		deconstruct_array(arr, info.elem, info.typlen, info.typbyval, info.typalign,
						  &values, &nulls, &n);
		params_alloc(p, n);
		for (int i = 0; i < n; i++)
		{
			p->types[i] = info.elem;
			if (!nulls[i])
				p->values[i] = OutputFunctionCall(&info.out, values[i]);
		}
		return;
	}
	params_alloc(p, 1);
	p->types[0] = type;
	p->values[0] = OutputFunctionCall(&info.out, PG_GETARG_DATUM(argno));
}

/* Append n in decimal: what appendStringInfo("%u") does, without the parse. */
static void
append_uint(StringInfo buf, uint32 n)
{
	enlargeStringInfo(buf, 10);
	buf->len += pg_ultoa_n(n, buf->data + buf->len);
	buf->data[buf->len] = '\0';
}

/*
 * Append the session state that changes what a query reads or how its
 * values render as JSON, each part after a NUL: search_path, the time
 * zone, DateStyle (style and field order), IntervalStyle,
 * extra_float_digits, bytea_output, lc_monetary, then the session user
 * and the temporary schema.  A session that has a temporary schema may
 * see its own tables before those of search_path, so its entries are its
 * own.  Read from the settings' variables, not by name with
 * GetConfigOption(): a hit builds this on every call, and looking seven
 * names up among all settings cost more than the rest of the hit.
 */
static void
append_session_state(StringInfo key)
{
	Oid			temp_ns;
	Oid			temp_toast_ns;

	appendStringInfoChar(key, '\0');
	appendStringInfoString(key, namespace_search_path ? namespace_search_path : "");
	appendStringInfoChar(key, '\0');
	appendStringInfoString(key, session_timezone ? pg_get_timezone_name(session_timezone) : "");
	appendStringInfoChar(key, '\0');
	append_uint(key, (uint32) DateStyle);
	appendStringInfoChar(key, ',');
	append_uint(key, (uint32) DateOrder);
	appendStringInfoChar(key, '\0');
	append_uint(key, (uint32) IntervalStyle);
	appendStringInfoChar(key, '\0');
	append_uint(key, (uint32) extra_float_digits);
	appendStringInfoChar(key, '\0');
	append_uint(key, (uint32) bytea_output);
	appendStringInfoChar(key, '\0');
	appendStringInfoString(key, locale_monetary ? locale_monetary : "");
	appendStringInfoChar(key, '\0');
	append_uint(key, GetSessionUserId());
	appendStringInfoChar(key, '\0');
	GetTempNamespaceState(&temp_ns, &temp_toast_ns);
	append_uint(key, temp_ns);

	/*
	 * The temporary schema's OID is reused by later sessions: such a
	 * session's entries are its own (and depend on its bucket, bumped when
	 * it creates a temporary object, which may shadow what a query read).
	 */
	if (OidIsValid(temp_ns))
		appendStringInfo(key, "%c%d.%lld", '\0', MyProcPid,
						 (long long) MyStartTimestamp);
}

/*
 * A stored value under a query's plain key is a result (an array), which
 * counts as a hit, or a Citus redirect (an object), whose lookup does not:
 * the lookup of the key it leads to counts, once for the call.
 */
static bool
value_is_result(const char *value, uint32 vallen)
{
	return vallen < VARHDRSZ + sizeof(uint32) || !JB_ROOT_IS_OBJECT((const Jsonb *) value);
}

/*
 * The tables a Citus redirect names (see src/cache/citus.c): the stored
 * value under the plain key of a result that read Citus tables is the
 * object {"citus": [names]}; a result itself is always an array.
 */
static List *
citus_redirect_tables(Jsonb *value)
{
	JsonbValue *names;
	List	   *out = NIL;

	names = getKeyJsonValueFromContainer(&value->root, "citus", 5, NULL);
	if (names != NULL && names->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(names->val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type == jbvString)
				out = lappend(out, pnstrdup(v.val.string.val, v.val.string.len));
	}
	return out;
}

static Jsonb *
citus_redirect(List *tables)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	v.type = jbvString;
	v.val.string.val = "citus";
	v.val.string.len = 5;
	pushJsonbValue(&state, WJB_KEY, &v);
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, tables)
	{
		v.type = jbvString;
		v.val.string.val = lfirst(lc);
		v.val.string.len = strlen(lfirst(lc));
		pushJsonbValue(&state, WJB_ELEM, &v);
	}
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * key2: key followed by the fingerprint of the shards of tables on every
 * node, read now.  Returns false, saying why in a NOTICE, when a result
 * over them cannot be cached from this transaction or a node does not
 * answer: the query then runs uncached.
 */
static bool
citus_key(StringInfo key, List *tables, StringInfo key2)
{
	const char *why = NULL;
	char	   *why2 = NULL;

	if (!cache_citus_usable(&why))
	{
		ereport(NOTICE,
				(errmsg("cached() ran the query without the cache: %s", why),
				 errdetail("Writes this transaction made on other nodes cannot be seen from this one.")));
		return false;
	}
	resetStringInfo(key2);
	appendBinaryStringInfo(key2, key->data, key->len);
	appendStringInfoChar(key2, '\0');
	appendStringInfoString(key2, "citus");
	if (!cache_citus_fingerprint(tables, key2, &why2))
	{
		ereport(NOTICE,
				(errmsg("cached() ran the query without the cache: the versions of the shards it reads are unknown"),
				 errdetail("%s", why2)));
		return false;
	}
	return key2->len <= CACHE_MAX_KEY;
}

static bool
same_names(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
		return false;
	return true;
}

/*
 * Run query (with parameters params) through the cache.  *computed tells
 * whether it ran.  Returns the result as jsonb.
 */
static Jsonb *
cached_query(const char *query, CacheParams *params, int64 ttl, int64 max_stale,
			 bool *computed)
{
	TimestampTz since;
	int			nparams = params->n;
	StringInfoData key;
	CacheKey	k;
	bool		use_cache;
	char	   *value;
	uint32		vallen;
	SPIPlanPtr	plan;
	ParamTypes	pt = {NULL, 0};
	SPIPrepareOptions popts;
	SPIExecuteOptions eopts;
	ParamListInfo paramLI;
	List	   *volatile deps = NIL;
	List	   *volatile buckets = NIL;
	List	   *qdeps;
	List	   *qbuckets;
	volatile bool cacheable;
	CacheDep   *versions;
	int			ndeps;
	uint64		commits_before;
	Jsonb	   *result;
	Jsonb	   *volatile redirect = NULL;
	MemoryContext callcxt = CurrentMemoryContext;
	int			i;
	volatile int rc = 0;
	List	   *volatile citus = NIL;	/* Citus tables the result read */
	volatile bool citus_keyed = false;	/* key2 holds their fingerprint */
	StringInfoData key2;
	CacheKey	k2;

	perfkit_require_preload();
	*computed = true;
	memset(&k, 0, sizeof(k));
	if (capturing)
		nested_cached = true;

	/*
	 * Identity: the query, then the session state that changes what it
	 * reads or how its values render as JSON, then the parameters.  NUL
	 * cannot occur in text, so it separates them.  A session that has a
	 * temporary schema may see its own tables before those of search_path,
	 * so its entries are its own.
	 */
	initStringInfo(&key);
	appendStringInfoString(&key, query);
	append_session_state(&key);
	/* each value with the type it came as, for a $n left open */
	for (i = 0; i < nparams; i++)
	{
		appendStringInfoChar(&key, '\0');
		if (params->types[i] != TEXTOID)
			append_uint(&key, params->types[i]);
		if (params->values[i] == NULL)
			appendStringInfoChar(&key, 'N');
		else
		{
			appendStringInfoChar(&key, 'V');
			appendStringInfoString(&key, params->values[i]);
		}
	}

	use_cache = perfkit_cache_enabled && !IsolationUsesXactSnapshot() &&
		!RecoveryInProgress() && key.len <= CACHE_MAX_KEY;
	if (use_cache)
	{
		cache_key_init(&k, CACHE_KIND_QUERY, key.data, key.len);
		if (cache_store_get_counting(&k, &value, &vallen, max_stale, value_is_result))
		{
			if (!JB_ROOT_IS_OBJECT((Jsonb *) value))
			{
				*computed = false;
				return (Jsonb *) value;
			}

			/*
			 * A redirect: the result read Citus tables and is stored under
			 * the fingerprint of their shards on every node.
			 */
			citus = citus_redirect_tables((Jsonb *) value);
			initStringInfo(&key2);
			citus_keyed = citus_key(&key, citus, &key2);
			if (!citus_keyed)
			{
				/* the redirect's lookup was not counted: this call misses */
				cache_store_count_miss(&k);
				use_cache = false;
			}
			else
			{
				cache_key_init(&k2, CACHE_KIND_QUERY, key2.data, key2.len);
				if (cache_store_get_bounded(&k2, &value, &vallen, 0))
				{
					*computed = false;
					return (Jsonb *) value;
				}
			}
		}
	}

	SPI_connect();
	memset(&popts, 0, sizeof(popts));
	popts.parserSetup = param_setup;
	popts.parserSetupArg = &pt;
	/*
	 * No parallel plan: a parallel worker's executor would run outside the
	 * capture of what the query reads.
	 */
	popts.cursorOptions = 0;
	plan = SPI_prepare_extended(query, &popts);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_extended failed: %s", SPI_result_code_string(SPI_result));
	cacheable = check_query(plan, &qdeps, &qbuckets) && use_cache;
	{
		Oid			temp_ns;
		Oid			temp_toast_ns;

		GetTempNamespaceState(&temp_ns, &temp_toast_ns);
		if (OidIsValid(temp_ns))
			qbuckets = lappend_int(qbuckets, (int) cache_track_session_bucket());
	}
	deps = qdeps;
	buckets = qbuckets;

	/*
	 * Citus tables: the fingerprint of their shards, read before the
	 * snapshot (again if the redirect named other tables).
	 */
	if (cacheable)
	{
		List	   *tables = cache_citus_tables(qdeps);

		if (tables != NIL && (!citus_keyed || !same_names(tables, citus)))
		{
			citus = tables;
			if (!citus_keyed)
				initStringInfo(&key2);
			citus_keyed = citus_key(&key, citus, &key2);
			if (citus_keyed)
				cache_key_init(&k2, CACHE_KIND_QUERY, key2.data, key2.len);
			else
				cacheable = false;
		}
		else if (tables == NIL)
		{
			citus = NIL;
			citus_keyed = false;
		}
	}

	if (pt.ntypes > nparams)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("query uses parameter $%d, but %d parameters were given",
						pt.ntypes, nparams)));
	if (pt.ntypes < nparams)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d parameters were given, but the query uses %d",
						nparams, pt.ntypes)));
	/*
	 * No parameters: no parameter list.  Executors that copy the list
	 * (copyParamList gives NULL for an empty one) and then use the copy, as
	 * Citus's adaptive executor does, would otherwise dereference NULL.
	 */
	paramLI = nparams > 0 ? makeParamList(nparams) : NULL;
	for (i = 0; i < nparams; i++)
	{
		ParamExternData *prm = &paramLI->params[i];
		Oid			type = pt.types[i];

		if (!OidIsValid(type) || type == UNKNOWNOID)
			type = OidIsValid(params->types[i]) ? params->types[i] : TEXTOID;
		prm->ptype = type;
		prm->pflags = PARAM_FLAG_CONST;
		prm->isnull = params->values[i] == NULL;
		if (params->values[i] != NULL)
		{
			Oid			typinput;
			Oid			typioparam;

			getTypeInputInfo(type, &typinput, &typioparam);
			prm->value = OidInputFunctionCall(typinput, params->values[i],
											  typioparam, -1);
		}
	}

	since = GetCurrentTimestamp();
	versions = read_versions(deps, buckets, &ndeps);
	commits_before = cache_version_commits();
	pg_memory_barrier();

	/* Run it, capturing what the executor opens. */
	memset(&eopts, 0, sizeof(eopts));
	eopts.params = paramLI;
	eopts.read_only = false;	/* take a snapshot now, after the versions */
	{
		bool		save_capturing = capturing;
		bool		save_nested = nested_cached;
		List	   *save_captured = captured;
		MemoryContext save_cxt = capture_cxt;
		List	   *volatile mine = NIL;

		capturing = true;
		nested_cached = false;
		captured = NIL;
		capture_cxt = callcxt;
		PG_TRY();
		{
			rc = SPI_execute_plan_extended(plan, &eopts);
		}
		PG_FINALLY();
		{
			mine = captured;
			if (nested_cached)
				cacheable = false;
			capturing = save_capturing;
			nested_cached = save_nested;
			captured = save_captured;
			capture_cxt = save_cxt;
		}
		PG_END_TRY();
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan_extended returned %s",
				 SPI_result_code_string(rc));

		/*
		 * Relations read only inside functions: checked like the query's
		 * own, and added with the versions current now, which is safe only
		 * if no writing transaction committed since the snapshot: bumps
		 * come after the commit counter, so a bumped version read here
		 * implies a changed counter read after it.
		 */
		{
			List	   *extra = NIL;
			ListCell   *lc;

			foreach(lc, mine)
			{
				Oid			relid = lfirst_oid(lc);

				if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
					cacheable = false;
				if (list_member_oid(deps, relid) || covered_by(relid, deps))
					continue;
				add_relation(&extra, relid, false);
			}
			/* a Citus table read inside a function: its shards went unasked */
			if (extra != NIL && cacheable && cache_citus_tables(extra) != NIL)
				cacheable = false;
			if (extra != NIL)
			{
				int			nextra;
				CacheDep   *more = read_versions(extra, NIL, &nextra);

				pg_memory_barrier();
				if (cache_version_commits() != commits_before)
					cacheable = false;
				versions = repalloc(versions, (ndeps + nextra - 2) * sizeof(CacheDep));
				memcpy(versions + ndeps, more + 2, (nextra - 2) * sizeof(CacheDep));
				ndeps += nextra - 2;
				deps = list_concat(deps, extra);
			}
		}
	}

	/*
	 * A transaction never caches what it has itself written, nor anything
	 * after DDL of its own (read_versions puts the epochs among the
	 * dependencies): other sessions would be served results that a
	 * rollback could undo.  Checked once, after the run, since marks only
	 * accumulate: that covers writes made before the query, writes a
	 * function it called made meanwhile, tables read only inside
	 * functions, and rows routed through a partitioned table, whose
	 * partitions are marked only when the writing statement ends (hence
	 * every dependency's ancestors too).
	 */
	if (cacheable)
	{
		List	   *check = list_copy(deps);
		ListCell   *lc;
		int			nall;
		CacheDep   *all;

		foreach(lc, deps)
			if (get_rel_relispartition(lfirst_oid(lc)))
				check = list_concat_unique_oid(check, get_partition_ancestors(lfirst_oid(lc)));
		all = read_versions(check, buckets, &nall);
		if (cache_track_wrote_any(all, nall))
			cacheable = false;
	}

	/*
	 * What is stored after SPI_finish must not live in the SPI procedure's
	 * context, which SPI_finish deletes: the result, the versions, and for
	 * Citus tables the fingerprinted key and the redirect.
	 */
	{
		MemoryContext spicxt = MemoryContextSwitchTo(callcxt);

		result = rows_to_jsonb();
		if (versions != NULL && ndeps > 0)
			versions = memcpy(palloc(ndeps * sizeof(CacheDep)), versions,
							  ndeps * sizeof(CacheDep));
		if (cacheable && citus_keyed)
		{
			char	   *data = palloc(key2.len + 1);

			memcpy(data, key2.data, key2.len + 1);
			key2.data = data;
			cache_key_init(&k2, CACHE_KIND_QUERY, key2.data, key2.len);
			redirect = citus_redirect(citus);
		}
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();

	if (cacheable && ndeps <= PG_UINT16_MAX &&
		(Size) key.len + (Size) ndeps * sizeof(CacheDep) + VARSIZE(result) <= cache_max_value())
	{
		if (citus_keyed)
		{
			if ((Size) key2.len + (Size) ndeps * sizeof(CacheDep) + VARSIZE(result) <= cache_max_value())
			{
				cache_store_put(&k2, (char *) result, VARSIZE(result), versions, ndeps, ttl, since);
				cache_store_put(&k, (char *) redirect, VARSIZE(redirect), versions, ndeps, ttl, since);
			}
		}
		else
			cache_store_put(&k, (char *) result, VARSIZE(result), versions, ndeps, ttl, since);
	}
	return result;
}

/* queries text[] as datums; NULL array means none */
static int
text_array(FunctionCallInfo fcinfo, int argno, Datum **values, bool **nulls)
{
	int			n;

	if (PG_ARGISNULL(argno))
		return 0;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false, TYPALIGN_INT,
					  values, nulls, &n);
	return n;
}

static char *
query_arg(Datum d)
{
	char	   *query = TextDatumGetCString(d);

	if (query[strspn(query, " \t\r\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query must not be empty")));
	return query;
}

static char *
query_arg_checked(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	return query_arg(PG_GETARG_DATUM(0));
}

/*
 * The max_staleness argument argno in microseconds: NULL or 0 for never
 * stale; at most the longest TTL.
 */
static int64
staleness_arg(FunctionCallInfo fcinfo, int argno)
{
	Interval   *iv;
	int64		usecs;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month != 0 || iv->day < 0 || iv->time < 0 ||
		iv->day > CACHE_MAX_TTL_USECS / USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_staleness must be a non-negative interval of days, hours, minutes or seconds")));
	usecs = (int64) iv->day * USECS_PER_DAY + iv->time;
	if (usecs < 0 || usecs > CACHE_MAX_TTL_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_staleness must be at most 100 years")));
	return usecs;
}

PG_FUNCTION_INFO_V1(perfkit_cached);

/*
 * cached(query text, params "any" DEFAULT NULL, ttl interval DEFAULT NULL,
 *		  max_staleness interval DEFAULT NULL)
 */
Datum
perfkit_cached(PG_FUNCTION_ARGS)
{
	char	   *query = query_arg_checked(fcinfo);
	CacheParams params;
	bool		computed;

	params_arg(fcinfo, 1, &params);
	PG_RETURN_JSONB_P(cached_query(query, &params, cache_ttl_arg(fcinfo, 2),
								   staleness_arg(fcinfo, 3), &computed));
}

PG_FUNCTION_INFO_V1(perfkit_cached_rows);

/*
 * cached_rows(query text, params "any" DEFAULT NULL, ttl interval DEFAULT
 * NULL) RETURNS SETOF record
 *
 * The rows of cached(), each as a record of the column definition list
 * the caller gives (columns matched by name): a client gets numerics,
 * dates and timestamps with their own types.  The conversion is
 * jsonb_to_recordset()'s, run with SPI; names and types come from the
 * caller's column list, quoted.
 */
Datum
perfkit_cached_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query = query_arg_checked(fcinfo);
	CacheParams params;
	bool		computed;
	Jsonb	   *rows;
	TupleDesc	want;
	StringInfoData sql;
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];
	int			rc;

	params_arg(fcinfo, 1, &params);
	rows = cached_query(query, &params, cache_ttl_arg(fcinfo, 2), staleness_arg(fcinfo, 3),
						&computed);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	want = rsinfo->setDesc;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT * FROM pg_catalog.jsonb_to_recordset($1) AS t(");
	for (int a = 0; a < want->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(want, a);

		appendStringInfo(&sql, "%s%s %s", a > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)),
						 format_type_with_typemod(att->atttypid, att->atttypmod));
	}
	appendStringInfoChar(&sql, ')');

	args[0] = JsonbPGetDatum(rows);
	SPI_connect();
	rc = SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(rc));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum	   *values = palloc(want->natts * sizeof(Datum));
		bool	   *nulls = palloc(want->natts * sizeof(bool));

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, want, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(perfkit_cache_warm);

/* The parameter sets of cache_warm(): a jsonb array of arrays. */
static List *
param_sets_arg(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *sets;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *result = NIL;

	if (PG_ARGISNULL(argno))
	{
		CacheParams *none = palloc(sizeof(CacheParams));

		params_alloc(none, 0);
		return list_make1(none);
	}
	sets = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_ARRAY(sets) || JB_ROOT_IS_SCALAR(sets))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("param_sets must be a JSON array of arrays"),
				 errhint("Pass '[[1], [2]]' to warm a query for $1 = 1 and for $1 = 2.")));
	it = JsonbIteratorInit(&sets->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CacheParams *params;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("param_sets must be a JSON array of arrays"),
					 errhint("Pass '[[1], [2]]' to warm a query for $1 = 1 and for $1 = 2.")));
		params = palloc(sizeof(CacheParams));
		params_from_jsonb(params, v.val.binary.data);
		result = lappend(result, params);
	}
	return result;
}

/*
 * cache_warm(queries text[], ttl interval DEFAULT NULL, param_sets jsonb
 * DEFAULT NULL) RETURNS integer
 *
 * Runs each query through cached(), once per parameter set if param_sets
 * is given, and returns how many had to run (the others were already
 * cached).
 */
Datum
perfkit_cache_warm(PG_FUNCTION_ARGS)
{
	Datum	   *queries;
	bool	   *nulls;
	int			n;
	int			ran = 0;
	int64		ttl = cache_ttl_arg(fcinfo, 1);
	List	   *sets;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queries must not be null")));
	sets = param_sets_arg(fcinfo, 2);
	n = text_array(fcinfo, 0, &queries, &nulls);
	for (int i = 0; i < n; i++)
	{
		char	   *query;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("query must not be null")));
		query = query_arg(queries[i]);
		foreach(lc, sets)
		{
			bool		computed;

			(void) cached_query(query, lfirst(lc), ttl, 0, &computed);
			if (computed)
				ran++;
		}
	}
	PG_RETURN_INT32(ran);
}
