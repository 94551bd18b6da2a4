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
 * change when shards move, and the postmaster's start time when a node
 * restarts (its versions start again from zero).  cached() asks every
 * node at once (Citus's run_command_on_all_nodes, one connection to each
 * in parallel) and makes the answers part of the entry's key: the result
 * is stored under the fingerprint read before the query's snapshot, and a
 * later call finds it only while every node still gives the same one.
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
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "perfkit/cache.h"

/* Is Citus installed in this database? (a syscache lookup) */
bool
cache_citus_present(void)
{
	return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)) &&
		OidIsValid(get_extension_oid("citus", true));
}

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
	MemoryContext callcxt = CurrentMemoryContext;

	if (rels == NIL || !cache_citus_present())
		return NIL;
	SPI_connect();
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		Datum		arg = ObjectIdGetDatum(relid);
		Oid			argtype = OIDOID;
		int			rc;

		rc = SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition "
								   "WHERE logicalrelid = $1::pg_catalog.regclass",
								   1, &argtype, &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "reading pg_dist_partition failed: %s", SPI_result_code_string(rc));
		if (SPI_processed > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(callcxt);

			out = lappend(out,
						  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid)));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
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
 * Append to out the fingerprint of the shard versions of tables (quoted
 * qualified names) on every node of the cluster.  Returns false, with the
 * reason in *why, when a node did not answer.
 */
bool
cache_citus_fingerprint(List *tables, StringInfo out, char **why)
{
	StringInfoData cmd;
	StringInfoData arr;
	ListCell   *lc;
	Datum		arg;
	Oid			argtype = TEXTOID;
	bool		ok = true;
	int			rc;
	MemoryContext callcxt = CurrentMemoryContext;

	/* the array literal of the names, then the command each node runs */
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
	initStringInfo(&cmd);
	appendStringInfo(&cmd, "SELECT perfkit._cache_citus_versions(%s::text[])",
					 quote_literal_cstr(arr.data));
	arg = CStringGetTextDatum(cmd.data);

	SPI_connect();
	rc = SPI_execute_with_args("SELECT nodeid, success, result "
							   "FROM pg_catalog.run_command_on_all_nodes($1) ORDER BY nodeid",
							   1, &argtype, &arg, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "run_command_on_all_nodes failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *node = SPI_getvalue(tup, desc, 1);
		char	   *success = SPI_getvalue(tup, desc, 2);
		char	   *result = SPI_getvalue(tup, desc, 3);

		if (success == NULL || strcmp(success, "t") != 0 || result == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(callcxt);

			*why = psprintf("node %s did not answer: %s", node ? node : "?",
							result ? result : "no result");
			MemoryContextSwitchTo(old);
			ok = false;
			break;
		}
		appendStringInfo(out, "%c%s=%s", '\0', node, result);
	}
	if (ok && SPI_processed == 0)
	{
		*why = "no node of the cluster answered";
		ok = false;
	}
	SPI_finish();
	return ok;
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
 * database and global epochs: "start-hash-count-sum".
 */
Datum
perfkit_cache_citus_versions(PG_FUNCTION_ARGS)
{
	ArrayType  *tables = PG_GETARG_ARRAYTYPE_P(0);
	Datum		arg = PointerGetDatum(tables);
	Oid			argtype = TEXTARRAYOID;
	uint32	   *buckets;
	int			n = 0;
	int			ndistinct = 0;
	uint64		sum = 0;
	uint32		hash = 0;
	int			rc;

	if (!cache_citus_present())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Citus is not installed in this database")));
	SPI_connect();
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
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%lld-%08x-%d-" UINT64_FORMAT,
											  (long long) PgStartTime, hash,
											  ndistinct, sum)));
}
