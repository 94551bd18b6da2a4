/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Business metrics: perfkit.define_metric(), drop_metric(), and their
 *	  evaluation when metrics are read.
 *
 * An app's gauges (active drivers, trips today, claims open) are SQL
 * queries.  perfkit.define_metric(name, query, kind, help, cache_for)
 * stores one in perfkit.user_metrics: a read-only SELECT returning label
 * columns and, last, one numeric value.  perfkit.metrics() and the view
 * perfkit.metrics_user expose its rows as the family perfkit_user_<name>.
 *
 * Whose rights.  The metric belongs to the role that defined it, and its
 * query only ever runs with that role's privileges: as the owner, in a
 * security-restricted operation, with the search_path the owner had when
 * defining it (stored with the query, as a function's SET clause would
 * be), whoever reads the metrics.  A reader's search_path never reaches
 * it.  The catalog is written only through these functions, as the
 * extension's owner; replacing or dropping a metric needs the privileges
 * of its owner.
 *
 * Bounded work.  A query runs read-only (SPI's read_only mode, and
 * transaction_read_only on for its duration, so no function it calls
 * writes either) within perfkit.metric_timeout, the step budget of
 * src/util/step.c (a timer of our own: the reader's statement_timeout
 * stays as it is), in a subtransaction (pk_try_subxact): a failing or
 * slow metric gives no samples and an error row, never a failed scrape; a
 * real cancel still ends the read.  At most METRIC_MAX_ROWS rows.  Its
 * rows are kept in this backend for cache_for (default 10 s): a scraper
 * that keeps its connection (postgres_exporter does) and reads every few
 * seconds runs the query once per cache_for.  The cache is checked
 * against the catalog row at each read, so a redefinition shows at once.
 *
 * src/health/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "perfkit/health.h"
#include "perfkit/partition.h"	/* pk_as_owner_begin/end */
#include "perfkit/shmem.h"
#include "perfkit/util.h"

#define METRIC_NAME_LEN		48
#define METRIC_MAX_ROWS		1000

/* A metric's rows, as this backend last read them. */
typedef struct MetricCache
{
	char		name[METRIC_NAME_LEN + 1];	/* hash key */
	TimestampTz read_at;
	char	   *query;			/* the definition they were read with */
	Oid			owner;
	char	   *search_path;
	int			nrows;
	char	  **labels;			/* JSON object text per row */
	double	   *values;
	char	   *error;			/* why the last read gave no rows */
	MemoryContext cxt;			/* holds all of the above */
} MetricCache;

static HTAB *metric_cache = NULL;

/* Reading now: a metric's query that reads perfkit's metrics is an error. */
static bool metrics_reading = false;

/* Prometheus label names, and the ones a scrape already gives. */
static bool
valid_label(const char *l)
{
	const char *p;

	if (l[0] == '\0' || (l[0] == '_' && l[1] == '_'))
		return false;
	for (p = l; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			  (p > l && *p >= '0' && *p <= '9')))
			return false;
	return strcmp(l, "job") != 0 && strcmp(l, "instance") != 0 && strcmp(l, "server") != 0;
}

/* A value of one of numeric_type()'s types, without a trip through text. */
static double
value_as_float8(Datum v, Oid t)
{
	switch (t)
	{
		case INT2OID:
			return (double) DatumGetInt16(v);
		case INT4OID:
			return (double) DatumGetInt32(v);
		case INT8OID:
			return (double) DatumGetInt64(v);
		case FLOAT4OID:
			return (double) DatumGetFloat4(v);
		case FLOAT8OID:
			return DatumGetFloat8(v);
		case OIDOID:
			return (double) DatumGetObjectId(v);
		default:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, v));
	}
}

static bool
numeric_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID || t == FLOAT4OID ||
		t == FLOAT8OID || t == NUMERICOID || t == OIDOID;
}

/*
 * Check that query is one SELECT whose last column is numeric and whose
 * other columns have names usable as labels; planned as the caller, with
 * the caller's search_path (what the metric will run with).
 */
static void
check_metric_query(const char *query)
{
	List	   *raw = raw_parser(query, RAW_PARSE_DEFAULT);
	RawStmt    *rs;
	SPIPlanPtr	plan;
	CachedPlanSource *src;
	TupleDesc	desc;
	int			i;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a metric's query must be exactly one statement")));
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, SelectStmt) || ((SelectStmt *) rs->stmt)->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a metric's query must be a SELECT"),
				 errhint("Return label columns, then one numeric value: "
						 "SELECT region, count(*) FROM trips GROUP BY region.")));

	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	src = (CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan));
	desc = src->resultDesc;
	if (desc == NULL || desc->natts < 1 ||
		!numeric_type(TupleDescAttr(desc, desc->natts - 1)->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the last column of a metric's query must be numeric"),
				 errhint("Return label columns, then one numeric value.")));
	for (i = 0; i < desc->natts - 1; i++)
	{
		const char *l = NameStr(TupleDescAttr(desc, i)->attname);

		if (!valid_label(l))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("column \"%s\" of a metric's query is not a usable label name", l),
					 errdetail("Label names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with \"__\", and are not \"job\", \"instance\" or \"server\", which scrapers set."),
					 errhint("Rename the column with AS.")));
	}
	SPI_freeplan(plan);
}

/* Error unless the caller has the privileges of the metric's owner. */
static void
check_metric_owner(const char *name, Oid *owner_out, bool missing_ok)
{
	Datum		args[1];
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	uint64		n;

	args[0] = CStringGetTextDatum(name);
	*owner_out = InvalidOid;
	/* the catalog is the extension owner's; the caller may not read it */
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	n = pk_spi_exec("SELECT owner::pg_catalog.oid FROM perfkit.user_metrics "
					"WHERE name OPERATOR(pg_catalog.=) $1",
					1, argtypes, args, NULL, true);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	if (n == 0)
	{
		if (!missing_ok)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("metric \"%s\" does not exist", name)));
		return;
	}
	*owner_out = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(*owner_out)))
	{
		/* its owner was dropped: only a superuser may change it */
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the owner of metric \"%s\" no longer exists", name),
					 errhint("A superuser may drop or redefine it.")));
		return;
	}
	if (!has_privs_of_role(GetUserId(), *owner_out))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must have the privileges of role \"%s\" to change metric \"%s\"",
						GetUserNameFromId(*owner_out, false), name)));
}

PG_FUNCTION_INFO_V1(perfkit_define_metric);

/*
 * perfkit.define_metric(name text, query text, kind text DEFAULT 'gauge',
 *		help text DEFAULT NULL, cache_for interval DEFAULT '10 seconds')
 */
Datum
perfkit_define_metric(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *query;
	char	   *kind;
	char	   *help;
	Interval   *cache_for;
	const char *p;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	Datum		args[7];
	Oid			argtypes[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID, TEXTOID, INTERVALOID};

	perfkit_require_preload();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, query, kind and cache_for must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	cache_for = PG_GETARG_INTERVAL_P(4);

	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_' || (p > name && *p >= '0' && *p <= '9')))
			break;
	if (name[0] == '\0' || *p != '\0' || strlen(name) > METRIC_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid metric name \"%s\"", name),
				 errdetail("A metric name is lower-case letters, digits and underscores, starting with a letter or underscore, at most %d characters; it is exposed as perfkit_user_<name>.",
						   METRIC_NAME_LEN)));
	if (strcmp(kind, "gauge") != 0 && strcmp(kind, "counter") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid metric kind \"%s\"", kind),
				 errhint("Use 'gauge' or 'counter'.")));
	if (strcmp(kind, "counter") == 0 &&
		(strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a counter's name must end in \"_total\"")));
	help = PG_ARGISNULL(3) ? psprintf("Metric %s defined with perfkit.define_metric().", name)
		: text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (strstr(namespace_search_path, "pg_temp") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a metric cannot be defined with pg_temp in search_path"),
				 errdetail("The metric runs in the sessions that read it, whose temporary schemas are not yours."),
				 errhint("SET search_path to permanent schemas only, then define the metric.")));

	SPI_connect();
	check_metric_owner(name, &owner, true);
	check_metric_query(query);

	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(query);
	args[2] = CStringGetTextDatum(kind);
	args[3] = CStringGetTextDatum(help);
	args[4] = ObjectIdGetDatum(GetUserId());
	args[5] = CStringGetTextDatum(namespace_search_path);
	args[6] = IntervalPGetDatum(cache_for);

	/* the catalog is written as the extension's owner only */
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	pk_spi_exec("INSERT INTO perfkit.user_metrics AS m "
				"  (name, query, kind, help, owner, search_path, cache_for) "
				"SELECT $1, $2, $3, $4, $5::pg_catalog.regrole, $6, $7 "
				"ON CONFLICT (name) DO UPDATE SET query = EXCLUDED.query, kind = EXCLUDED.kind, "
				"  help = EXCLUDED.help, owner = EXCLUDED.owner, "
				"  search_path = EXCLUDED.search_path, cache_for = EXCLUDED.cache_for "
				"WHERE pg_catalog.pg_has_role($5, m.owner::pg_catalog.oid, 'USAGE')",
				7, argtypes, args, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	if (SPI_processed != 1)		/* another role took the name meanwhile */
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("metric \"%s\" belongs to another role", name)));
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_drop_metric);

/* perfkit.drop_metric(name text) RETURNS boolean */
Datum
perfkit_drop_metric(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	Datum		args[1];
	Oid			argtypes[1] = {TEXTOID};
	uint64		n;

	perfkit_require_preload();
	SPI_connect();
	check_metric_owner(name, &owner, false);
	args[0] = CStringGetTextDatum(name);
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	n = pk_spi_exec("DELETE FROM perfkit.user_metrics WHERE name OPERATOR(pg_catalog.=) $1",
					1, argtypes, args, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/* One evaluation of a metric's query, as its owner. */
typedef struct MetricRun
{
	MetricCache *entry;			/* filled in entry->cxt */
} MetricRun;

static void
metric_run_fn(void *arg)
{
	MetricCache *e = ((MetricRun *) arg)->entry;
	Oid			save_userid;
	int			save_sec;
	int			nest;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(e->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nest = NewGUCNestLevel();
	/* pg_temp last: the reader's temporary objects never shadow the owner's */
	(void) set_config_option("search_path", psprintf("%s, pg_temp", e->search_path),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* read-only whatever it calls (restored when the level closes) */
	(void) set_config_option("transaction_read_only", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	pk_step_start(perfkit_metric_timeout);
	PG_TRY();
	{
		int			rc = SPI_execute(e->query, true, METRIC_MAX_ROWS + 1);
		TupleDesc	desc;
		uint64		i;

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "a metric's query must be a SELECT");
		if (SPI_processed > METRIC_MAX_ROWS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("metric query returned more than %d rows", METRIC_MAX_ROWS)));
		desc = SPI_tuptable->tupdesc;
		if (desc->natts < 1 || !numeric_type(SPI_gettypeid(desc, desc->natts)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the last column of a metric's query must be numeric")));
		/* what it returns now, not what it returned when defined */
		{
			int			c;

			for (c = 1; c < desc->natts; c++)
				if (!valid_label(SPI_fname(desc, c)))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_NAME),
							 errmsg("column \"%s\" of the metric's query is not a usable label name",
									SPI_fname(desc, c))));
		}
		e->labels = MemoryContextAllocZero(e->cxt, sizeof(char *) * (SPI_processed + 1));
		e->values = MemoryContextAllocZero(e->cxt, sizeof(double) * (SPI_processed + 1));
		e->nrows = 0;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		v = SPI_getbinval(tup, desc, desc->natts, &isnull);
			StringInfoData js;
			int			c;
			int			k;

			if (isnull)
				continue;		/* no sample */
			initStringInfo(&js);
			appendStringInfoChar(&js, '{');
			for (c = 1; c < desc->natts; c++)
			{
				char	   *lv = SPI_getvalue(tup, desc, c);

				if (c > 1)
					appendStringInfoString(&js, ", ");
				escape_json(&js, SPI_fname(desc, c));
				appendStringInfoString(&js, ": ");
				escape_json(&js, lv ? lv : "");
			}
			appendStringInfoChar(&js, '}');
			for (k = 0; k < e->nrows; k++)
				if (strcmp(e->labels[k], js.data) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("metric query returned two rows with the labels %s", js.data),
							 errhint("Each row must have its own label values: GROUP BY the label columns.")));
			e->labels[e->nrows] = MemoryContextStrdup(e->cxt, js.data);
			e->values[e->nrows] = value_as_float8(v, SPI_gettypeid(desc, desc->natts));
			e->nrows++;
		}
	}
	PG_FINALLY();
	{
		pk_step_stop();
	}
	PG_END_TRY();
	if (pk_step_timed_out())
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling the metric's query due to perfkit.metric_timeout")));
	/* nothing the owner's query SET survives it: the reader's settings stay */
	AtEOXact_GUC(false, nest);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/* Only a real cancel (or the reader's statement timeout) ends the read. */
static bool
metric_run_rethrow(ErrorData *edata, void *arg)
{
	return pk_step_real_cancel();
}

/* Read one metric again into its cache entry. */
static void
metric_refresh(MetricCache *e)
{
	MetricRun	run;
	ErrorData  *edata;

	run.entry = e;
	e->error = NULL;
	e->nrows = 0;
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(e->owner)))
	{
		e->error = MemoryContextStrdup(e->cxt, "the metric's owner no longer exists: drop the metric");
		e->read_at = GetCurrentTimestamp();
		return;
	}
	if (pk_try_subxact(PK_LOCK_TIMEOUT_KEEP, metric_run_fn, &run,
					   metric_run_rethrow, &edata) != PK_TRY_OK)
	{
		if (pk_step_timed_out())
		{
			pk_step_forget_cancel();
			e->error = MemoryContextStrdup(e->cxt,
										   psprintf("the query exceeded perfkit.metric_timeout (%d ms)",
													perfkit_metric_timeout));
		}
		else
			e->error = MemoryContextStrdup(e->cxt, edata->message);
		e->nrows = 0;
		FreeErrorData(edata);
	}
	e->read_at = GetCurrentTimestamp();
}

PG_FUNCTION_INFO_V1(perfkit_user_metric_rows);

/*
 * perfkit._user_metric_rows(OUT metric text, OUT kind text, OUT help text,
 *		OUT labels jsonb, OUT value float8, OUT error text)
 * Every defined metric's rows, read (or taken from this backend's cache)
 * as its owner; a metric whose last read failed gives one row with the
 * error and no value.
 */
Datum
perfkit_user_metric_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	uint64		n;
	uint64		i;
	SPITupleTable *defs;

	perfkit_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	if (metric_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = METRIC_NAME_LEN + 1;
		ctl.entrysize = sizeof(MetricCache);
		metric_cache = hash_create("perfkit metrics", 16, &ctl, HASH_ELEM | HASH_STRINGS);
	}

	if (metrics_reading)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("perfkit's metrics cannot be read from inside a metric's query")));
	SPI_connect();
	n = pk_spi_exec("SELECT name, query, kind, help, owner::pg_catalog.oid, search_path, "
					"       (extract(epoch FROM cache_for) * 1000)::pg_catalog.int8 "
					"FROM perfkit.user_metrics ORDER BY name",
					0, NULL, NULL, NULL, true);
	defs = SPI_tuptable;
	metrics_reading = true;
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = defs->vals[i];
			char	   *name = SPI_getvalue(tup, defs->tupdesc, 1);
			char	   *query = SPI_getvalue(tup, defs->tupdesc, 2);
			char	   *kind = SPI_getvalue(tup, defs->tupdesc, 3);
			char	   *help = SPI_getvalue(tup, defs->tupdesc, 4);
			char	   *sp = SPI_getvalue(tup, defs->tupdesc, 6);
			bool		isnull;
			Oid			owner = DatumGetObjectId(SPI_getbinval(tup, defs->tupdesc, 5, &isnull));
			int64		ttl_ms = DatumGetInt64(SPI_getbinval(tup, defs->tupdesc, 7, &isnull));
			char		key[METRIC_NAME_LEN + 1] = {0};
			MetricCache *e;
			bool		found;
			int			r;

			strlcpy(key, name, sizeof(key));
			e = hash_search(metric_cache, key, HASH_ENTER, &found);
			if (found && (e->owner != owner || strcmp(e->query, query) != 0 ||
						  strcmp(e->search_path, sp) != 0))
			{
				MemoryContextDelete(e->cxt);
				found = false;
			}
			if (!found ||
				TimestampDifferenceExceeds(e->read_at, GetCurrentTimestamp(), (int) Min(ttl_ms, INT_MAX)))
			{
				/* a fresh context for the definition and rows: the old ones go */
				MemoryContext old = found ? e->cxt : NULL;

				e->cxt = AllocSetContextCreate(TopMemoryContext, "perfkit metric",
											   ALLOCSET_SMALL_SIZES);
				e->query = MemoryContextStrdup(e->cxt, query);
				e->search_path = MemoryContextStrdup(e->cxt, sp);
				e->owner = owner;
				e->read_at = 0;		/* read again next time, should this read fail */
				e->nrows = 0;
				e->labels = NULL;
				e->values = NULL;
				e->error = NULL;
				if (old != NULL)
					MemoryContextDelete(old);
				metric_refresh(e);
			}

			for (r = 0; r < e->nrows || (r == 0 && e->error != NULL); r++)
			{
				Datum		values[6];
				bool		nulls[6] = {0};
				MemoryContext old = MemoryContextSwitchTo(callcxt);

				values[0] = CStringGetTextDatum(name);
				values[1] = CStringGetTextDatum(kind);
				values[2] = CStringGetTextDatum(help);
				if (e->error != NULL)
				{
					nulls[3] = nulls[4] = true;
					values[5] = CStringGetTextDatum(e->error);
				}
				else
				{
					values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->labels[r]));
					values[4] = Float8GetDatum(e->values[r]);
					nulls[5] = true;
				}
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				MemoryContextSwitchTo(old);
			}
		}
	}
	PG_FINALLY();
	{
		metrics_reading = false;
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_VOID();
}
