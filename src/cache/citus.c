/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  cached() over Citus tables: the versions of their shards, on the
 *	  nodes that hold them.
 *
 * On a Citus cluster a distributed or reference table is a shell on the
 * node that plans the query; its rows live in shards, ordinary tables on
 * the workers (and, for reference tables, on the coordinator too).  A
 * write, whichever node it entered through, runs on the shards' nodes and
 * bumps the versions of the shards there (versions.c, tracking.c; COMMIT
 * PREPARED of Citus's two-phase commit bumps that node's global epoch),
 * never the shell's.  So a result that read a Citus table is exact only
 * while the versions of its shards on every node are unchanged.
 *
 * Each node answers perfkit._cache_citus_versions(tables): a fingerprint
 * of the versions of the shards of those tables that it holds, with its
 * database and global epochs.  Versions only grow, so their sum changes
 * with any bump; the number of buckets and a hash of the bucket numbers
 * change when shards move, and the counters' random generation when a node
 * restarts or crash-restarts (its versions start again from zero).  cached() asks every
 * node at once and makes the answers part of the entry's key: the result
 * is stored under the fingerprint read before the query's snapshot, and a
 * later call finds it only while every node still gives the same one.
 * The other nodes are asked in parallel, over libpq connections this
 * backend keeps to each (as the current user, with citus.node_conninfo,
 * as Citus connects; bounded and closed as described at NodeConn); this
 * node computes its own in process.  A node answers only a role that can
 * read every table named (the versions move with each write).
 * The lookup that finds the redirect below counts no hit: the lookup of
 * the fingerprinted key counts the call's hit or miss, once.
 * Under the plain key cached() stores a small redirect, {"citus":
 * [tables]}, with the local dependencies as usual, which tells a later
 * call which tables to ask about without planning the query again.
 *
 * Not cached (the query runs and its result is returned, with a NOTICE):
 * inside a transaction block, or once this transaction has started a
 * distributed transaction or written anything, since the writes it made
 * on other nodes are visible to it and to no one else, and this node
 * cannot see them; when a node does not answer.
 *
 * Citus is found at run time, through its catalogs (no Citus symbol is
 * needed to build or load perfkit); single-node cached() never comes here.
 *
 * src/cache/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "perfkit/cache.h"
#include "perfkit/util.h"

Datum		perfkit_cache_citus_versions(PG_FUNCTION_ARGS);

/*
 * The schema-qualified, quoted names of the relations of rels that are
 * Citus tables (distributed, reference or Citus local), in rels' order;
 * NIL when there is none or Citus is not installed.
 */
List *
cache_citus_tables(List *rels)
{
	List	   *out = NIL;
	ListCell   *lc;

	if (rels == NIL || !pk_citus_installed())
		return NIL;
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);

		if (pk_citus_table(relid))
			out = lappend(out,
						  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid)));
	}
	return out;
}

/*
 * May this transaction use the cache over Citus tables?  Not inside a
 * transaction block, nor once it has an XID or a distributed transaction
 * (it may then have written shards on other nodes, which it sees and no
 * one else does).  why gets the reason when not.
 */
bool
cache_citus_usable(const char **why)
{
	bool		distributed = false;

	if (IsTransactionBlock())
	{
		*why = "it reads Citus tables inside a transaction block";
		return false;
	}
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		*why = "it reads Citus tables in a transaction that has written";
		return false;
	}
	{
		/*
		 * Reads served by streaming replicas of the workers: replay runs no
		 * hook there, so their versions say nothing of what they show.
		 */
		const char *secondary = GetConfigOption("citus.use_secondary_nodes", true, false);

		if (secondary != NULL && strcmp(secondary, "never") != 0)
		{
			*why = "citus.use_secondary_nodes sends its reads to replicas";
			return false;
		}
	}
	SPI_connect();
	if (SPI_execute("SELECT (pg_catalog.get_current_transaction_id()).transaction_number <> 0",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		distributed = !isnull && DatumGetBool(d);
	}
	SPI_finish();
	if (distributed)
	{
		*why = "it reads Citus tables in a distributed transaction";
		return false;
	}
	return true;
}

/*
 * Connections to the other nodes, one per node and role (the database is
 * this backend's), kept for the backend's life (as Citus keeps its own):
 * a hit costs one round trip to each node, in parallel, not a connection.
 *
 * They are bounded and never left behind.  At most MAX_NODE_CONNS are
 * open; a new one beyond that closes the least recently used (a backend
 * that switches through many roles keeps the latest).  A connection to a
 * node no longer among the active primaries of pg_dist_node is closed at
 * the next fingerprint, as is one made with a conninfo that has changed
 * since (citus.node_conninfo, the role's name).  One that an error left in
 * the middle of a query or of being made (a cancel, statement_timeout) is
 * closed as the error propagates; one that turns out broken (the node restarted) is made
 * again once, within the same call; all are closed at backend exit.
 */
#define MAX_NODE_CONNS	32
#define NODE_ANSWER_TIMEOUT_MS	10000
#define NODE_CONNECT_TIMEOUT_MS	5000

typedef struct NodeConn
{
	bool		in_use;			/* the slot names a node and role */
	char		host[256];
	int			port;
	Oid			userid;
	char	   *conninfo;		/* what conn was made with (TopMemoryContext) */
	uint64		last_used;		/* the fingerprint call that last used it */
	PGconn	   *conn;			/* NULL until (re)connected */
} NodeConn;

static NodeConn node_conns[MAX_NODE_CONNS];
static uint64 node_conn_clock = 0;
static bool node_conns_exit_set = false;

static void
node_conn_close(NodeConn *nc)
{
	if (nc->conn != NULL)
		PQfinish(nc->conn);
	nc->conn = NULL;
}

/* close the connection and free the slot */
static void
node_conn_release(NodeConn *nc)
{
	node_conn_close(nc);
	if (nc->conninfo != NULL)
		pfree(nc->conninfo);
	nc->conninfo = NULL;
	nc->in_use = false;
}

static void
node_conns_at_exit(int code, Datum arg)
{
	for (int i = 0; i < MAX_NODE_CONNS; i++)
		node_conn_close(&node_conns[i]);
}

/* value as a quoted conninfo value: '...' with \\ and \' escaped */
static char *
conninfo_quote(const char *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '\'');
	for (const char *p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '\'');
	return buf.data;
}

/*
 * Wait until conn's socket is ready for io (WL_SOCKET_READABLE or
 * WL_SOCKET_WRITEABLE) or the deadline passes, interruptibly: a cancel or
 * statement_timeout throws here.  -1 once the deadline has passed, else
 * the WaitLatchOrSocket() result.
 */
static int
node_wait(PGconn *conn, int io, TimestampTz deadline)
{
	long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	int			rc;

	if (left <= 0)
		return -1;
	rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | io,
						   PQsocket(conn), left, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return rc;
}

/*
 * Advance conn's connection to its end (PQconnectPoll whenever the socket
 * is ready), interruptibly: a cancel or statement_timeout throws here.
 * False when it did not end within NODE_CONNECT_TIMEOUT_MS.
 */
static bool
node_conn_poll(PGconn *conn)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   NODE_CONNECT_TIMEOUT_MS);
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	if (PQstatus(conn) == CONNECTION_BAD)
		status = PGRES_POLLING_FAILED;
	while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
	{
		int			io = status == PGRES_POLLING_READING ?
			WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		int			rc = node_wait(conn, io, deadline);

		if (rc < 0)
			return false;
		if (rc & io)
			status = PQconnectPoll(conn);
	}
	return true;
}

/*
 * node_conn_poll() on nc's connection, closing it on an error (a cancel)
 * before the error propagates.  Apart from node_conn_get() so that no
 * variable of its loops lives across the setjmp.
 */
static bool
node_conn_finish(NodeConn *nc)
{
	bool		done = false;

	PG_TRY();
	{
		done = node_conn_poll(nc->conn);
	}
	PG_CATCH();
	{
		node_conn_close(nc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return done;
}

/*
 * The slot for host:port and the current user, with an idle connection;
 * NULL with *why.  *fresh says whether the connection was made now (a
 * reused one may turn out broken at its first use).
 */
static NodeConn *
node_conn_get(const char *host, int port, bool *fresh, char **why)
{
	NodeConn   *nc = NULL;
	StringInfoData ci;
	const char *extra;
	Oid			userid = GetUserId();

	*fresh = false;
	if (!node_conns_exit_set)
	{
		on_proc_exit(node_conns_at_exit, (Datum) 0);
		node_conns_exit_set = true;
	}
	if (strlen(host) >= sizeof(nc->host))
	{
		*why = psprintf("the node name is too long (%s)", host);
		return NULL;
	}

	/* as Citus connects: the current user, and citus.node_conninfo */
	initStringInfo(&ci);
	appendStringInfo(&ci, "host=%s port=%d dbname=%s user=%s connect_timeout=5 "
					 "application_name=perfkit_cache",
					 conninfo_quote(host), port,
					 conninfo_quote(get_database_name(MyDatabaseId)),
					 conninfo_quote(GetUserNameFromId(userid, false)));
	extra = GetConfigOption("citus.node_conninfo", true, false);
	if (extra != NULL && extra[0] != '\0')
		appendStringInfo(&ci, " %s", extra);

	for (int i = 0; i < MAX_NODE_CONNS; i++)
		if (node_conns[i].in_use && node_conns[i].port == port &&
			node_conns[i].userid == userid && strcmp(node_conns[i].host, host) == 0)
			nc = &node_conns[i];
	if (nc != NULL && nc->conn != NULL &&
		(strcmp(nc->conninfo, ci.data) != 0 ||
		 PQstatus(nc->conn) != CONNECTION_OK ||
		 PQtransactionStatus(nc->conn) != PQTRANS_IDLE))
		node_conn_close(nc);	/* stale conninfo, broken, or mid-query */
	if (nc == NULL)
	{
		/* a free slot, else the least recently used one not in this call */
		for (int i = 0; i < MAX_NODE_CONNS; i++)
		{
			NodeConn   *c = &node_conns[i];

			if (!c->in_use)
			{
				nc = c;
				break;
			}
			if (c->last_used != node_conn_clock &&
				(nc == NULL || c->last_used < nc->last_used))
				nc = c;
		}
		if (nc == NULL)
		{
			*why = psprintf("the cluster has more than %d other nodes", MAX_NODE_CONNS);
			return NULL;
		}
		if (nc->in_use)
			node_conn_release(nc);
		nc->in_use = true;
		strlcpy(nc->host, host, sizeof(nc->host));
		nc->port = port;
		nc->userid = userid;
		nc->conn = NULL;
	}
	nc->last_used = node_conn_clock;
	if (nc->conn != NULL)
		return nc;

	if (nc->conninfo != NULL)
		pfree(nc->conninfo);
	nc->conninfo = MemoryContextStrdup(TopMemoryContext, ci.data);
	*fresh = true;

	/*
	 * Connect without blocking, so that a cancel or statement_timeout
	 * interrupts a node that is slow to answer (node_conn_poll()).  An error
	 * there closes the half-made connection before it propagates: the
	 * caller does not know the slot yet, and the node would otherwise keep
	 * a backend starting up for this one until the next call.
	 */
	nc->conn = PQconnectStart(ci.data);
	if (nc->conn == NULL)
	{
		*why = pstrdup("out of memory");
		return NULL;
	}
	if (!node_conn_finish(nc))
	{
		*why = psprintf("no connection within %d ms", NODE_CONNECT_TIMEOUT_MS);
		node_conn_close(nc);
		return NULL;
	}
	if (PQstatus(nc->conn) != CONNECTION_OK)
	{
		*why = pstrdup(PQerrorMessage(nc->conn));
		node_conn_close(nc);
		return NULL;
	}
	return nc;
}

/* Wait for conn's answer, interruptibly; NULL on a timeout or a broken link. */
static PGresult *
node_conn_result(PGconn *conn, TimestampTz deadline)
{
	while (PQisBusy(conn))
	{
		int			rc = node_wait(conn, WL_SOCKET_READABLE, deadline);

		if (rc < 0)
			return NULL;
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			return NULL;
	}
	return PQgetResult(conn);
}

#define VERSIONS_QUERY	"SELECT perfkit._cache_citus_versions($1::text[])"

/*
 * Send the versions query for array over a connection to host:port; a
 * reused connection that fails to send (the node restarted since) is made
 * again once.  NULL with *why when it cannot be sent.
 */
static NodeConn *
node_send(const char *host, int port, const char *array, bool *fresh, char **why)
{
	const char *values[1] = {array};

	for (int attempt = 0; attempt < 2; attempt++)
	{
		NodeConn   *nc = node_conn_get(host, port, fresh, why);

		if (nc == NULL)
			return NULL;
		if (PQsendQueryParams(nc->conn, VERSIONS_QUERY, 1, NULL, values, NULL, NULL, 0))
			return nc;
		*why = pstrdup(PQerrorMessage(nc->conn));
		node_conn_close(nc);
		if (*fresh)
			return NULL;
	}
	return NULL;
}

static char *citus_versions(ArrayType *tables, bool check_rights);

/*
 * This node's fingerprint of tables (the array literal), computed here:
 * for the role's own query, whose tables it may read, maybe only through a
 * view, so no check of its rights on them.
 */
static char *
local_versions(const char *array)
{
	Datum		arr = OidInputFunctionCall(F_ARRAY_IN, (char *) array, TEXTOID, -1);

	return citus_versions(DatumGetArrayTypeP(arr), false);
}

static bool node_conn_lost(PGconn *conn, PGresult *res);

/*
 * Append to out the fingerprint of the shard versions of tables (quoted
 * qualified names) on every node of the cluster (the active primaries of
 * pg_dist_node, and this node).  Returns false, with the reason in *why,
 * when a node did not answer.
 */
bool
cache_citus_fingerprint(List *tables, StringInfo out, char **why)
{
	StringInfoData arr;
	ListCell   *lc;
	volatile bool ok = true;
	bool		self_listed = false;
	int			rc;
	int			nnodes;
	char	  **hosts;
	int		   *ports;
	int		   *ids;
	bool	   *self;
	NodeConn  **slots;
	bool	   *fresh;
	TimestampTz deadline;
	MemoryContext callcxt = CurrentMemoryContext;

	/* the array literal of the names */
	initStringInfo(&arr);
	appendStringInfoChar(&arr, '{');
	foreach(lc, tables)
	{
		const char *p;

		if (lc != list_head(tables))
			appendStringInfoChar(&arr, ',');
		appendStringInfoChar(&arr, '"');
		for (p = lfirst(lc); *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&arr, '\\');
			appendStringInfoChar(&arr, *p);
		}
		appendStringInfoChar(&arr, '"');
	}
	appendStringInfoChar(&arr, '}');

	SPI_connect();
	rc = SPI_execute("SELECT d.nodeid, d.nodename, d.nodeport, "
					 "d.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group) "
					 "FROM pg_catalog.pg_dist_node d "
					 "WHERE d.isactive AND d.noderole = 'primary' "
					 "AND d.nodecluster = pg_catalog.current_setting('citus.cluster_name') "
					 "ORDER BY d.nodeid", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading pg_dist_node failed: %s", SPI_result_code_string(rc));
	nnodes = (int) SPI_processed;
	hosts = MemoryContextAlloc(callcxt, (nnodes + 1) * sizeof(char *));
	ports = MemoryContextAlloc(callcxt, (nnodes + 1) * sizeof(int));
	ids = MemoryContextAlloc(callcxt, (nnodes + 1) * sizeof(int));
	self = MemoryContextAlloc(callcxt, (nnodes + 1) * sizeof(bool));
	slots = MemoryContextAllocZero(callcxt, (nnodes + 1) * sizeof(NodeConn *));
	fresh = MemoryContextAllocZero(callcxt, (nnodes + 1) * sizeof(bool));
	for (int i = 0; i < nnodes; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *local = SPI_getvalue(tup, desc, 4);

		ids[i] = atoi(SPI_getvalue(tup, desc, 1));
		hosts[i] = MemoryContextStrdup(callcxt, SPI_getvalue(tup, desc, 2));
		ports[i] = atoi(SPI_getvalue(tup, desc, 3));
		self[i] = local != NULL && strcmp(local, "t") == 0;
		self_listed |= self[i];
	}
	SPI_finish();
	/* a coordinator not in pg_dist_node holds no shards, but ask it too */
	if (!self_listed)
	{
		ids[nnodes] = 0;
		hosts[nnodes] = NULL;
		ports[nnodes] = 0;
		self[nnodes] = true;
		nnodes++;
	}

	/* this call's mark on the slots it uses; close those of gone nodes */
	node_conn_clock++;
	for (int j = 0; j < MAX_NODE_CONNS; j++)
	{
		bool		listed = false;

		if (!node_conns[j].in_use)
			continue;
		for (int i = 0; i < nnodes && !listed; i++)
			listed = !self[i] && ports[i] == node_conns[j].port &&
				strcmp(hosts[i], node_conns[j].host) == 0;
		if (!listed)
			node_conn_release(&node_conns[j]);
	}

	/*
	 * Send to every other node, then compute this node's, then collect.
	 * An error on the way (a cancel while waiting) closes the connections
	 * it leaves mid-query: their answers would otherwise wait for the next
	 * call, which would have to throw them away anyway.
	 */
	PG_TRY();
	{
		for (int i = 0; i < nnodes && ok; i++)
		{
			if (self[i])
				continue;
			slots[i] = node_send(hosts[i], ports[i], arr.data, &fresh[i], why);
			if (slots[i] == NULL)
			{
				*why = psprintf("node %s:%d did not answer: %s", hosts[i], ports[i], *why);
				ok = false;
			}
		}
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), NODE_ANSWER_TIMEOUT_MS);
		for (int i = 0; i < nnodes; i++)
		{
			PGresult   *res;
			PGresult   *extra;

			if (self[i])
			{
				if (ok)
					appendStringInfo(out, "%c%d=%s", '\0', ids[i], local_versions(arr.data));
				continue;
			}
			if (slots[i] == NULL || slots[i]->conn == NULL)
				continue;
			res = node_conn_result(slots[i]->conn, deadline);
			if (!fresh[i] && ok && node_conn_lost(slots[i]->conn, res))
			{
				/*
				 * A kept connection failed (the node restarted since: the
				 * answer is then the FATAL message of its shutdown, or
				 * none): once more, on a new one.  Not after a timeout.
				 */
				PQclear(res);
				node_conn_close(slots[i]);
				slots[i] = node_send(hosts[i], ports[i], arr.data, &fresh[i], why);
				if (slots[i] == NULL)
				{
					*why = psprintf("node %s:%d did not answer: %s", hosts[i], ports[i], *why);
					ok = false;
					continue;
				}
				res = node_conn_result(slots[i]->conn, deadline);
			}
			if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
				PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
			{
				if (ok)
					*why = psprintf("node %s:%d did not answer: %s", hosts[i], ports[i],
									res ? PQresultErrorMessage(res) :
									PQstatus(slots[i]->conn) == CONNECTION_BAD ?
									PQerrorMessage(slots[i]->conn) : "timed out");
				ok = false;
				if (res != NULL && !node_conn_lost(slots[i]->conn, res))
				{
					/* the query's own error: read to its end, keep it */
					PQclear(res);
					while ((extra = PQgetResult(slots[i]->conn)) != NULL)
						PQclear(extra);
					if (PQtransactionStatus(slots[i]->conn) == PQTRANS_IDLE)
						continue;
				}
				else
					PQclear(res);
				/* a connection left mid-query or broken is closed */
				node_conn_close(slots[i]);
				continue;
			}
			if (ok)
				appendStringInfo(out, "%c%d=%s", '\0', ids[i], PQgetvalue(res, 0, 0));
			PQclear(res);
			/* the end of the query's results */
			while ((extra = PQgetResult(slots[i]->conn)) != NULL)
				PQclear(extra);
		}
	}
	PG_CATCH();
	{
		for (int i = 0; i < nnodes; i++)
			if (slots[i] != NULL && slots[i]->conn != NULL &&
				PQtransactionStatus(slots[i]->conn) != PQTRANS_IDLE)
				node_conn_close(slots[i]);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return ok;
}

/*
 * Whether a node's answer means the connection is gone (the node restarted
 * or shut down, the link broke), rather than an error of the query itself
 * (a 42501 from _cache_citus_versions(), say), after which the connection
 * is idle and fit for the next call.
 */
static bool
node_conn_lost(PGconn *conn, PGresult *res)
{
	const char *state;

	if (PQstatus(conn) == CONNECTION_BAD)
		return true;
	if (res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return false;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0;
}

static int
bucket_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

PG_FUNCTION_INFO_V1(perfkit_cache_citus_versions);

/*
 * _cache_citus_versions(tables text[]) RETURNS text
 *
 * This node's fingerprint of the versions of the shards it holds of
 * tables (names; those that do not resolve are skipped), with its
 * database and global epochs: "start-hash-count-sum".  The sum moves with
 * every write to those shards, so it tells who calls it when the tables
 * are written: the caller must be able to read each table (SELECT on it
 * or on one of its columns), else 42501.  cached() on another node calls
 * it as the role whose query read the tables; one that reads them only
 * through a view, without rights on them, runs uncached there.
 */
Datum
perfkit_cache_citus_versions(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(citus_versions(PG_GETARG_ARRAYTYPE_P(0), true)));
}

static char *
citus_versions(ArrayType *tables, bool check_rights)
{
	Datum		arg = PointerGetDatum(tables);
	Oid			argtype = TEXTARRAYOID;
	uint32	   *buckets;
	int			n = 0;
	int			ndistinct = 0;
	uint64		sum = 0;
	uint32		hash = 0;
	int			rc;

	if (!pk_citus_installed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Citus is not installed in this database")));
	SPI_connect();
	if (check_rights)
	{
		rc = SPI_execute_with_args("SELECT r::pg_catalog.text FROM "
								   "(SELECT pg_catalog.to_regclass(t) r FROM pg_catalog.unnest($1) t) x "
								   "WHERE r IS NOT NULL "
								   "AND NOT pg_catalog.has_any_column_privilege(r, 'SELECT') LIMIT 1",
								   1, &argtype, &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "checking the rights on the tables failed: %s", SPI_result_code_string(rc));
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
					 errdetail("The versions of a table's shards change with its writes; only a role that can read the table may have them.")));
	}
	rc = SPI_execute_with_args("SELECT DISTINCT pg_catalog.to_regclass("
							   "pg_catalog.shard_name(s.logicalrelid, s.shardid))::pg_catalog.oid "
							   "FROM pg_catalog.pg_dist_shard s "
							   "JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid "
							   "WHERE pl.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group) "
							   "AND s.logicalrelid = ANY (SELECT pg_catalog.to_regclass(t) "
							   "FROM pg_catalog.unnest($1) t)",
							   1, &argtype, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the shards failed: %s", SPI_result_code_string(rc));
	buckets = palloc((SPI_processed + 2) * sizeof(uint32));
	buckets[n++] = cache_version_bucket(InvalidOid, InvalidOid);
	buckets[n++] = cache_version_bucket(MyDatabaseId, InvalidOid);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			buckets[n++] = cache_version_bucket(MyDatabaseId, DatumGetObjectId(d));
	}
	SPI_finish();

	/* each bucket once: the sum then grows with every bump */
	qsort(buckets, n, sizeof(uint32), bucket_cmp);
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && buckets[i] == buckets[i - 1])
			continue;
		sum += cache_version_read(buckets[i]);
		hash = hash_combine(hash, murmurhash32(buckets[i]));
		ndistinct++;
	}
	return psprintf(UINT64_FORMAT "-%08x-%d-" UINT64_FORMAT,
					cache_versions_generation(), hash, ndistinct, sum);
}
