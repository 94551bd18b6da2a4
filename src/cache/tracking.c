/*-------------------------------------------------------------------------
 *
 * tracking.c
 *	  Write tracking: which relations this transaction wrote, and bumping
 *	  their versions once it has committed.
 *
 * Writes are seen where every write passes:
 *   - ExecutorStart: the result relations of INSERT, UPDATE, DELETE, MERGE
 *     and data-modifying CTEs, at any nesting level, so writes made by
 *     triggers, functions, procedures and foreign-key actions count too.
 *   - ExecutorEnd: the partitions that INSERT or MERGE routed rows into.
 *   - ProcessUtility: COPY FROM (the table and its partitions); every
 *     other utility statement that can change data, definitions or
 *     privileges (TRUNCATE, ALTER, DROP, GRANT, REFRESH MATERIALIZED VIEW,
 *     CREATE ... AS, ...) marks the whole database; statements on roles
 *     (shared by all databases) mark every database; COMMIT PREPARED bumps
 *     the global epoch once it is done, since the prepared transaction's
 *     writes were tracked by a backend that is gone.
 * A written partition also marks its ancestors, so results that read the
 * partitioned table go too.
 *
 * The marks are kept in backend memory until the transaction ends.  At
 * XACT_EVENT_COMMIT, which PostgreSQL calls after the commit is visible to
 * other backends, the commit counter is bumped, then every marked bucket;
 * on abort or PREPARE the marks are dropped.  Marks made in a subtransaction that later aborts are
 * kept: that costs an unneeded invalidation, never a stale read.
 *
 * Not seen (documented): logical replication apply and WAL replay on a
 * standby run no hooks; cached() therefore serves no table-dependent
 * results during recovery.
 *
 * src/cache/tracking.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "perfkit/cache.h"

/* Buckets marked by this transaction; on overflow, the database epoch. */
#define MAX_MARKS	256

static uint32 marks[MAX_MARKS];
static int	nmarks = 0;
static bool mark_database = false;
static bool mark_global = false;	/* roles changed: every database */

static void
mark_bucket(uint32 bucket)
{
	int			i;

	for (i = 0; i < nmarks; i++)
		if (marks[i] == bucket)
			return;
	if (nmarks < MAX_MARKS)
		marks[nmarks++] = bucket;
	else
		mark_database = true;
}

/*
 * Mark relid as written by this transaction, with its partition ancestors
 * and, with_descendants, every relation that inherits from it.
 */
void
cache_track_relation(Oid relid, bool with_descendants)
{
	mark_bucket(cache_version_bucket(MyDatabaseId, relid));

	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);
		ListCell   *lc;

		foreach(lc, ancestors)
			mark_bucket(cache_version_bucket(MyDatabaseId, lfirst_oid(lc)));
		list_free(ancestors);
	}
	if (with_descendants && has_subclass(relid))
	{
		List	   *all = find_all_inheritors(relid, NoLock, NULL);
		ListCell   *lc;

		foreach(lc, all)
			mark_bucket(cache_version_bucket(MyDatabaseId, lfirst_oid(lc)));
		list_free(all);
	}
}

static bool
writes(QueryDesc *queryDesc)
{
	return queryDesc->operation != CMD_SELECT ||
		queryDesc->plannedstmt->hasModifyingCTE;
}

void
cache_track_executor_start(QueryDesc *queryDesc)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	ListCell   *lc;

	if (!writes(queryDesc))
		return;
	foreach(lc, pstmt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

		cache_track_relation(rte->relid, false);
	}
}

/* Before standard_ExecutorEnd: the EState is still there. */
void
cache_track_executor_end(QueryDesc *queryDesc)
{
	ListCell   *lc;

	if (queryDesc->estate == NULL || !writes(queryDesc))
		return;
	foreach(lc, queryDesc->estate->es_tuple_routing_result_relations)
	{
		ResultRelInfo *rri = lfirst(lc);

		cache_track_relation(RelationGetRelid(rri->ri_RelationDesc), false);
	}
}

/*
 * Called before (before = true) and after a utility statement runs.
 */
void
cache_track_utility(PlannedStmt *pstmt, bool before)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (!before)
	{
		if (IsA(stmt, TransactionStmt) &&
			castNode(TransactionStmt, stmt)->kind == TRANS_STMT_COMMIT_PREPARED)
		{
			cache_version_commit_done();
			cache_version_bump(cache_version_bucket(InvalidOid, InvalidOid));
		}
		return;
	}

	switch (nodeTag(stmt))
	{
		case T_CopyStmt:
			{
				CopyStmt   *copy = (CopyStmt *) stmt;
				Oid			relid;

				if (!copy->is_from)
					break;
				relid = RangeVarGetRelid(copy->relation, NoLock, true);
				if (OidIsValid(relid))
					cache_track_relation(relid, true);
				else
					mark_database = true;
			}
			break;

			/* Statements that change no data, definition or privilege. */
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_ExplainStmt:		/* what EXPLAIN ANALYZE runs passes the executor */
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_CallStmt:
		case T_DoStmt:
		case T_NotifyStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_LockStmt:
		case T_CheckPointStmt:
		case T_VacuumStmt:
		case T_DiscardStmt:
		case T_LoadStmt:
		case T_ConstraintsSetStmt:
		case T_ReindexStmt:
		case T_ClusterStmt:
			break;

			/*
			 * Roles are shared by every database: a change of membership or
			 * attributes made here changes what queries elsewhere may read.
			 */
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
			mark_global = true;
			break;
		case T_RenameStmt:
			if (castNode(RenameStmt, stmt)->renameType == OBJECT_ROLE)
				mark_global = true;
			else
				mark_database = true;
			break;

		default:
			mark_database = true;
			break;
	}
}

void
cache_track_xact(XactEvent event)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/*
			 * The commit counter first: a reader that sees any bump below
			 * also sees the counter changed (cached.c relies on it).
			 */
			if (nmarks > 0 || mark_database || mark_global)
				cache_version_commit_done();
			for (i = 0; i < nmarks; i++)
				cache_version_bump(marks[i]);
			if (mark_database)
				cache_version_bump(cache_version_bucket(MyDatabaseId, InvalidOid));
			if (mark_global)
				cache_version_bump(cache_version_bucket(InvalidOid, InvalidOid));
			nmarks = 0;
			mark_database = mark_global = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			nmarks = 0;
			mark_database = mark_global = false;
			break;
		default:
			break;
	}
}

/* Has this transaction written anything deps depend on? */
bool
cache_track_wrote_any(const CacheDep *deps, int ndeps)
{
	int			i,
				j;

	if ((mark_database || mark_global) && ndeps > 0)
		return true;
	for (i = 0; i < ndeps; i++)
		for (j = 0; j < nmarks; j++)
			if (deps[i].bucket == marks[j])
				return true;
	return false;
}
