/*-------------------------------------------------------------------------
 *
 * workload.c
 *	  Workload capture: a sample of executed statements, per query id, in
 *	  bounded shared memory; the perfkit.workload view and
 *	  perfkit.workload_reset().
 *
 * Sampling.  The ExecutorStart hook first compares
 * perfkit.advisor_sample_rate with zero, then draws one number from the
 * backend's PRNG: a statement that is not sampled costs that and nothing
 * else.  EXPLAIN without ANALYZE and parallel workers (their leader
 * counts the statement) are never sampled.  A sampled statement gets a timer (queryDesc->totaltime, if no
 * other module set one) and is remembered on a small backend-local stack,
 * so that ExecutorEnd can recognise it; the stack is emptied at the end of
 * every transaction, so that an error between start and end leaves
 * nothing behind.  Statements without a query id (compute_query_id off,
 * utility statements) are not sampled; perfkit calls EnableQueryId() in
 * _PG_init, so compute_query_id = auto computes them.
 *
 * The store.  A shared hash table keyed by (database, fingerprint) with at
 * most perfkit.advisor_max_queries entries of fixed size, each holding
 * the counters of the sampled executions (calls, total time, rows), the
 * query id and one example text of at most perfkit.advisor_max_query_length
 * bytes.  The example is the statement's own text, with its constants, cut
 * out of the source string by its location.
 *
 * The fingerprint.  Query ids tell "WHERE id = 5" from "WHERE id = $1" (a
 * Param is jumbled with its type and number, a Const with its type), so
 * an application that binds parameters and the same statement typed in
 * psql would be two entries.  The key is therefore a hash of the text
 * normalized by statement_fingerprint(): comments and whitespace runs
 * dropped, ASCII letters outside quoted identifiers lowered, and every
 * literal (number, string, dollar-quoted string) and every parameter
 * reference $n, with any "::type" cast after it, replaced by one
 * placeholder.  One entry then counts the calls of a statement whether it
 * ran with literals or with parameters; its queryid is the example's.
 *
 * Parameters.  A statement executed with bound parameters ($1, from the
 * extended protocol or PREPARE) is kept with the types it was bound with
 * (at most ADVISOR_MAX_PARAMS; a statement with more is not re-planned):
 * recommend_indexes() analyzes the text with those types and costs its
 * generic plan.  No bound value is kept, so no value of a table the
 * capturing role may read reaches another role.  A parameterless example
 * replaces one with parameters (constants give the planner real values);
 * the entry says whether it can be re-planned.  PL/pgSQL passes its
 * variables through a hook, not as $n: such texts name the variables and
 * are left out when they no longer analyze on their own.  When the store
 * is full, a new statement evicts
 * the entry with the fewest calls (the oldest among equals): a linear
 * walk, done only when a new statement arrives at a full store.  The
 * entry records who ran the example (the current user at ExecutorEnd,
 * the owner inside a SECURITY DEFINER function): recommend_indexes()
 * re-plans the text as that role, never with its own caller's rights.
 *
 * Lock order: one LWLock, PERFKIT_LOCK_WORKLOAD, a leaf (src/shmem.c).
 * Sampled executions take it exclusively for one lookup and a few
 * assignments (plus the eviction walk when the store is full); readers
 * take it shared and copy entries out before building any tuple.  No
 * allocation that can fail happens under it except in the readers, whose
 * ERROR releases it.
 *
 * src/advisor/workload.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "catalog/pg_authid.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/queryjumble.h"
#include "utils/timestamp.h"

#include "perfkit/advisor.h"
#include "perfkit/shmem.h"

/* Nesting depth of sampled statements a backend keeps track of. */
#define MAX_SAMPLED_NESTING	8

typedef struct WorkloadKey
{
	Oid			dbid;
	uint64		fingerprint;	/* statement_fingerprint() of the text */
} WorkloadKey;

typedef struct WorkloadEntry
{
	WorkloadKey key;
	uint64		queryid;		/* the example's query id */
	Oid			userid;			/* who ran the example */
	CmdType		cmd;
	int64		calls;
	double		total_ms;
	int64		rows;
	TimestampTz first_seen;
	TimestampTz last_seen;
	bool		has_params;		/* the example came with parameters */
	bool		truncated;		/* the example was longer than the limit */
	int			nparams;		/* how many, if has_params */
	Oid			paramtypes[ADVISOR_MAX_PARAMS]; /* their types (InvalidOid:
												 * unknown) */
	int			textlen;
	char		text[FLEXIBLE_ARRAY_MEMBER];
} WorkloadEntry;

typedef struct WorkloadShared
{
	TimestampTz reset_at;
	int64		evictions;
} WorkloadShared;

static WorkloadShared *wshared = NULL;
static HTAB *whash = NULL;

typedef struct SampledQuery
{
	QueryDesc  *queryDesc;
	uint64		queryid;
} SampledQuery;

static SampledQuery sampled[MAX_SAMPLED_NESTING];
static int	nsampled = 0;

static Size
entry_size(void)
{
	return MAXALIGN(offsetof(WorkloadEntry, text) + perfkit_advisor_max_query_length + 1);
}

Size
advisor_workload_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(WorkloadShared)),
					hash_estimate_size(perfkit_advisor_max_queries, entry_size()));
}

void
advisor_workload_shmem_init(void)
{
	bool		found;
	HASHCTL		info;

	wshared = ShmemInitStruct("perfkit workload", sizeof(WorkloadShared), &found);
	if (!found)
	{
		wshared->reset_at = GetCurrentTimestamp();
		wshared->evictions = 0;
	}
	info.keysize = sizeof(WorkloadKey);
	info.entrysize = entry_size();
	whash = ShmemInitHash("perfkit workload hash",
						  perfkit_advisor_max_queries, perfkit_advisor_max_queries,
						  &info, HASH_ELEM | HASH_BLOBS);
}

/* ExecutorStart, after the standard one: decide whether to sample. */
void
advisor_executor_start(QueryDesc *queryDesc, int eflags)
{
	uint64		queryid;

	if (perfkit_advisor_sample_rate <= 0.0 || whash == NULL ||
		(eflags & EXEC_FLAG_EXPLAIN_ONLY) || IsParallelWorker())
		return;
	if (perfkit_advisor_sample_rate < 1.0 &&
		pg_prng_double(&pg_global_prng_state) >= perfkit_advisor_sample_rate)
		return;
	queryid = queryDesc->plannedstmt->queryId;
	if (queryid == UINT64CONST(0) || nsampled >= MAX_SAMPLED_NESTING ||
		advisor_costing_active() || queryDesc->sourceText == NULL)
		return;
	if (queryDesc->totaltime == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

		queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_TIMER, false);
		MemoryContextSwitchTo(old);
	}
	sampled[nsampled].queryDesc = queryDesc;
	sampled[nsampled].queryid = queryid;
	nsampled++;
}

/* Evict the least-used entry; caller holds the lock exclusively. */
static void
evict_one(void)
{
	HASH_SEQ_STATUS status;
	WorkloadEntry *e;
	WorkloadEntry *victim = NULL;

	hash_seq_init(&status, whash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (victim == NULL || e->calls < victim->calls ||
			(e->calls == victim->calls && e->last_seen < victim->last_seen))
			victim = e;
	}
	if (victim != NULL)
	{
		WorkloadKey key = victim->key;

		hash_search(whash, &key, HASH_REMOVE, NULL);
		wshared->evictions++;
	}
}

static inline bool
ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

/*
 * The statement's fingerprint: a hash of its text with comments dropped,
 * whitespace runs made one space, ASCII letters outside double quotes
 * lowered, and literals and parameter references (each with a "::type"
 * cast that follows it) made one placeholder "?".  "SELECT * FROM t
 * WHERE id = 5" and "select * from t where id = $1" have the same one.
 * Only a fingerprint, not a parser: a malformed text still gets one.
 */
static uint64
statement_fingerprint(const char *s, int len)
{
	char	   *out = palloc(len + 1);
	int			n = 0;
	int			i = 0;
	int			start = 0;
	uint64		h;

#define PREV_IDENT() (n > 0 && ident_char((unsigned char) out[n - 1]))
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		bool		placeholder = false;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
			c == '\v' || (c == '-' && i + 1 < len && s[i + 1] == '-') ||
			(c == '/' && i + 1 < len && s[i + 1] == '*'))
		{
			/* whitespace and comments: one space */
			if (c == '-')
				while (i < len && s[i] != '\n')
					i++;
			else if (c == '/')
			{
				int			depth = 0;

				while (i < len)
				{
					if (s[i] == '/' && i + 1 < len && s[i + 1] == '*')
					{
						depth++;
						i += 2;
					}
					else if (s[i] == '*' && i + 1 < len && s[i + 1] == '/')
					{
						i += 2;
						if (--depth == 0)
							break;
					}
					else
						i++;
				}
			}
			else
				i++;
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		if (c == '"')
		{
			/* a quoted identifier, as it is */
			out[n++] = s[i++];
			while (i < len)
			{
				out[n++] = s[i];
				if (s[i++] == '"')
				{
					if (i < len && s[i] == '"')
						out[n++] = s[i++];
					else
						break;
				}
			}
			continue;
		}
		if (c == '\'')
		{
			/* a string; E'...' (the E already copied) has backslash escapes */
			bool		escapes = n > 0 && (out[n - 1] == 'e') &&
			!(n > 1 && ident_char((unsigned char) out[n - 2]));

			if (escapes)
				n--;
			i++;
			while (i < len)
			{
				if (escapes && s[i] == '\\' && i + 1 < len)
					i += 2;
				else if (s[i] == '\'')
				{
					i++;
					if (i < len && s[i] == '\'')
						i++;
					else
						break;
				}
				else
					i++;
			}
			placeholder = true;
		}
		else if (c == '$' && !PREV_IDENT() && i + 1 < len &&
				 s[i + 1] >= '0' && s[i + 1] <= '9')
		{
			/* a parameter reference */
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
			placeholder = true;
		}
		else if (c == '$' && !PREV_IDENT())
		{
			/* a dollar-quoted string, $$...$$ or $tag$...$tag$ */
			int			t = i + 1;

			while (t < len && ident_char((unsigned char) s[t]) && s[t] != '$')
				t++;
			if (t < len && s[t] == '$')
			{
				int			taglen = t - i + 1;
				int			j = t + 1;

				while (j + taglen <= len && memcmp(s + j, s + i, taglen) != 0)
					j++;
				i = Min(j + taglen, len);
				placeholder = true;
			}
			else
				out[n++] = s[i++];
		}
		else if (((c >= '0' && c <= '9') ||
				  (c == '.' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')) &&
				 !PREV_IDENT())
		{
			/* a number: digits, a point, an exponent */
			while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
							   s[i] == '_'))
				i++;
			if (i < len && (s[i] == 'e' || s[i] == 'E'))
			{
				i++;
				if (i < len && (s[i] == '+' || s[i] == '-'))
					i++;
				while (i < len && s[i] >= '0' && s[i] <= '9')
					i++;
			}
			placeholder = true;
		}
		else
		{
			out[n++] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
			i++;
		}
		if (placeholder)
		{
			/* a cast right after it, "::name" or "::name(...)", goes too */
			int			j = i;

			while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n'))
				j++;
			if (j + 1 < len && s[j] == ':' && s[j + 1] == ':')
			{
				j += 2;
				while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n'))
					j++;
				if (j < len && ident_char((unsigned char) s[j]) && s[j] != '$')
				{
					while (j < len && (ident_char((unsigned char) s[j]) || s[j] == '.'))
						j++;
					if (j < len && s[j] == '(')
						while (j < len && s[j++] != ')')
							;
					i = j;
				}
			}
			out[n++] = '?';
		}
	}
#undef PREV_IDENT
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == ';'))
		n--;
	out[n] = '\0';

	/*
	 * EXECUTE of a prepared statement comes with the PREPARE's text:
	 * "prepare name [(types)] as " is left out.
	 */
	if (strncmp(out, "prepare ", 8) == 0)
	{
		int			p = 8;

		if (out[p] == '"')
			while (++p < n && out[p] != '"')
				;
		while (p < n && out[p] != ' ' && out[p] != '(')
			p++;
		if (p < n && out[p] == ' ')
			p++;
		if (p < n && out[p] == '(')
		{
			int			depth = 0;

			for (; p < n; p++)
			{
				if (out[p] == '(')
					depth++;
				else if (out[p] == ')' && --depth == 0)
					break;
			}
			p++;
			if (p < n && out[p] == ' ')
				p++;
		}
		if (p + 3 <= n && strncmp(out + p, "as ", 3) == 0)
			start = p + 3;
	}
	h = hash_bytes_extended((const unsigned char *) out + start, n - start, 0);
	pfree(out);
	return h;
}

static void
store_sample(QueryDesc *queryDesc, uint64 queryid)
{
	WorkloadKey key;
	WorkloadEntry *e;
	bool		found;
	bool		has_params;
	int			nparams = 0;
	Oid			paramtypes[ADVISOR_MAX_PARAMS];
	uint64		fingerprint;
	const char *text;
	int			location = queryDesc->plannedstmt->stmt_location;
	int			len = queryDesc->plannedstmt->stmt_len;
	double		ms;
	int			keep;
	TimestampTz now = GetCurrentTimestamp();

	InstrEndLoop(queryDesc->totaltime);
	ms = queryDesc->totaltime->total * 1000.0;
	text = CleanQuerytext(queryDesc->sourceText, &location, &len);
	has_params = queryDesc->params != NULL && queryDesc->params->numParams > 0;
	if (has_params)
	{
		ParamListInfo p = queryDesc->params;
		int			k;

		/* a hook-fetched list (paramFetch) may not have filled its types */
		nparams = p->numParams;
		for (k = 0; k < Min(nparams, ADVISOR_MAX_PARAMS); k++)
			paramtypes[k] = p->paramFetch == NULL ? p->params[k].ptype : InvalidOid;
	}
	fingerprint = statement_fingerprint(text, len);

	/* how much of the text fits, cut on a character boundary */
	keep = len;
	if (keep > perfkit_advisor_max_query_length)
		keep = pg_mbcliplen(text, len, perfkit_advisor_max_query_length);

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.fingerprint = fingerprint;

	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_WORKLOAD), LW_EXCLUSIVE);
	e = hash_search(whash, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		if (hash_get_num_entries(whash) >= perfkit_advisor_max_queries)
			evict_one();
		e = hash_search(whash, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));
			return;
		}
		e->calls = 0;
		e->total_ms = 0;
		e->rows = 0;
		e->first_seen = now;
		e->textlen = -1;
	}
	e->calls++;
	e->total_ms += ms;
	e->rows += queryDesc->estate ? (int64) queryDesc->estate->es_processed : 0;
	e->last_seen = now;
	e->cmd = queryDesc->operation;
	if (e->textlen < 0 || (e->has_params && !has_params))
	{
		int			n = keep;

		memcpy(e->text, text, n);
		e->text[n] = '\0';
		e->textlen = n;
		e->truncated = len > perfkit_advisor_max_query_length;
		e->has_params = has_params;
		e->nparams = nparams;
		if (nparams > 0)
			memcpy(e->paramtypes, paramtypes,
				   sizeof(Oid) * Min(nparams, ADVISOR_MAX_PARAMS));
		e->queryid = queryid;
		e->userid = GetUserId();
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));
}

/* ExecutorEnd, before the standard one: record a sampled statement. */
void
advisor_executor_end(QueryDesc *queryDesc)
{
	int			i;

	for (i = nsampled - 1; i >= 0; i--)
	{
		if (sampled[i].queryDesc == queryDesc &&
			sampled[i].queryid == queryDesc->plannedstmt->queryId)
		{
			uint64		queryid = sampled[i].queryid;

			sampled[i] = sampled[nsampled - 1];
			nsampled--;
			if (queryDesc->totaltime != NULL)
				store_sample(queryDesc, queryid);
			return;
		}
	}
}

/* Transaction end: statements started and not ended are forgotten. */
void
advisor_xact(XactEvent event)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		nsampled = 0;
}

/*
 * Can the example be planned again?  Not when it was cut, nor when it had
 * more parameters than kept or one of unknown type.
 */
static bool
entry_replannable(WorkloadEntry *e)
{
	int			k;

	if (e->truncated)
		return false;
	if (!e->has_params)
		return true;
	if (e->nparams > ADVISOR_MAX_PARAMS)
		return false;
	for (k = 0; k < e->nparams; k++)
		if (!OidIsValid(e->paramtypes[k]))
			return false;
	return true;
}

/* Superusers and members of pg_read_all_stats may read query texts. */
static void
require_read_all_stats(const char *what)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read %s", what),
				 errdetail("Captured query texts may hold personal data."),
				 errhint("Only superusers and members of pg_read_all_stats may read them.")));
}

/*
 * The samples of database dbid, copied out of shared memory, ordered by
 * query id (callers want a deterministic order).
 */
static int
sample_cmp(const ListCell *a, const ListCell *b)
{
	WorkloadSample *x = lfirst(a);
	WorkloadSample *y = lfirst(b);

	if (x->queryid != y->queryid)
		return x->queryid < y->queryid ? -1 : 1;
	return strcmp(x->example, y->example);
}

List *
advisor_workload_samples(Oid dbid)
{
	HASH_SEQ_STATUS status;
	WorkloadEntry *e;
	List	   *result = NIL;

	perfkit_require_preload();
	require_read_all_stats("the captured workload");
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_WORKLOAD), LW_SHARED);
	hash_seq_init(&status, whash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		WorkloadSample *s;

		if (e->key.dbid != dbid)
			continue;
		s = palloc(sizeof(WorkloadSample));
		s->queryid = e->queryid;
		s->calls = e->calls;
		s->total_ms = e->total_ms;
		s->rows = e->rows;
		s->cmd = e->cmd;
		s->replannable = entry_replannable(e);
		s->userid = e->userid;
		s->example = pnstrdup(e->text, e->textlen);
		s->nparams = e->has_params ? e->nparams : 0;
		s->paramtypes = palloc(sizeof(Oid) * Max(s->nparams, 1));
		if (s->nparams > 0)
			memcpy(s->paramtypes, e->paramtypes, sizeof(Oid) * s->nparams);
		result = lappend(result, s);
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));
	list_sort(result, sample_cmp);
	return result;
}

static const char *
cmd_name(CmdType cmd)
{
	switch (cmd)
	{
		case CMD_SELECT:
			return "select";
		case CMD_INSERT:
			return "insert";
		case CMD_UPDATE:
			return "update";
		case CMD_DELETE:
			return "delete";
		case CMD_MERGE:
			return "merge";
		default:
			return "other";
	}
}

PG_FUNCTION_INFO_V1(perfkit_workload);

/* perfkit._workload(): the rows behind the perfkit.workload view. */
Datum
perfkit_workload(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	WorkloadEntry *e;
	List	   *copies = NIL;
	ListCell   *lc;
	Size		esize;

	perfkit_require_preload();
	require_read_all_stats("the captured workload");
	InitMaterializedSRF(fcinfo, 0);
	esize = entry_size();

	/* copy under the lock, build tuples after */
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_WORKLOAD), LW_SHARED);
	hash_seq_init(&status, whash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		WorkloadEntry *c = palloc(esize);

		memcpy(c, e, esize);
		copies = lappend(copies, c);
	}
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));

	foreach(lc, copies)
	{
		Datum		values[12];
		bool		nulls[12] = {0};

		e = lfirst(lc);
		values[0] = ObjectIdGetDatum(e->key.dbid);
		values[1] = ObjectIdGetDatum(e->userid);
		values[2] = Int64GetDatum((int64) e->queryid);
		values[3] = CStringGetTextDatum(cmd_name(e->cmd));
		values[4] = Int64GetDatum(e->calls);
		values[5] = Float8GetDatum(e->total_ms);
		values[6] = Float8GetDatum(e->calls > 0 ? e->total_ms / e->calls : 0);
		values[7] = Int64GetDatum(e->rows);
		values[8] = CStringGetTextDatum(pnstrdup(e->text, e->textlen));
		values[9] = BoolGetDatum(entry_replannable(e));
		values[10] = TimestampTzGetDatum(e->first_seen);
		values[11] = TimestampTzGetDatum(e->last_seen);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(perfkit_workload_reset);

/* perfkit.workload_reset(): forget every sample; returns how many went. */
Datum
perfkit_workload_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	WorkloadEntry *e;
	int64		n = 0;

	perfkit_require_preload();
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_WORKLOAD), LW_EXCLUSIVE);
	hash_seq_init(&status, whash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		WorkloadKey key = e->key;

		hash_search(whash, &key, HASH_REMOVE, NULL);
		n++;
	}
	wshared->reset_at = GetCurrentTimestamp();
	wshared->evictions = 0;
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));
	PG_RETURN_INT64(n);
}

PG_FUNCTION_INFO_V1(perfkit_workload_info);

/* perfkit.workload_info(): when the store was last reset, evictions since. */
Datum
perfkit_workload_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};

	perfkit_require_preload();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	LWLockAcquire(perfkit_lock(PERFKIT_LOCK_WORKLOAD), LW_SHARED);
	values[0] = Int64GetDatum(hash_get_num_entries(whash));
	values[1] = Int32GetDatum(perfkit_advisor_max_queries);
	values[2] = Int64GetDatum(wshared->evictions);
	values[3] = TimestampTzGetDatum(wshared->reset_at);
	LWLockRelease(perfkit_lock(PERFKIT_LOCK_WORKLOAD));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
