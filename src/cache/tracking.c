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
 *   - ProcessUtility: COPY FROM and TRUNCATE (the tables and what inherits
 *     from them); DDL as described below; statements on roles (shared by
 *     all databases) mark every database; COMMIT PREPARED bumps the global
 *     epoch once it is done, since the prepared transaction's writes were
 *     tracked by a backend that is gone.
 * A written partition also marks its ancestors, so results that read the
 * partitioned table go too.
 *
 * DDL marks what it changes, nothing else.  While a DDL statement runs,
 * a relcache callback collects every relation whose relcache entry the
 * statement invalidates; after it, a CommandCounterIncrement makes the
 * statement's last invalidations run here (PostgreSQL would do the same
 * before the next statement), and each collected relation but an index
 * (no result depends on one) is marked with its partition ancestors.
 * That set is exact whatever path the DDL took, so DDL marks no relation
 * from its text (except the CONCURRENTLY forms, see ddl_class()):
 * ALTER (recursing to partitions and children), DROP (with CASCADE),
 * CREATE INDEX, ATTACH/DETACH PARTITION and creating a partition (both
 * invalidate the parent), GRANT/REVOKE on tables and columns, policies,
 * rules, CREATE OR REPLACE VIEW, REFRESH MATERIALIZED VIEW.  A new
 * relation invalidates only itself (no result read it) and its name: a
 * new table may shadow one of the same name later in search_path, so
 * cached() results depend on the names of the relations they read and
 * creating, renaming or moving a relation marks its name.  Routines and
 * types are coarser: cached() results that call a user-defined routine
 * depend on the database's routine epoch, bumped by CREATE OR REPLACE,
 * ALTER, RENAME and DROP of any routine and by GRANT/REVOKE on one (a
 * routine may call another, which no query tree shows); results that call
 * a function depend on its name, marked by creating a function of that
 * name (a new overload may change which one a call resolves to); results
 * that involve a user-defined type depend on the type epoch, bumped by any
 * DDL on types and domains.  Temporary objects mark no shared name and,
 * as their relations are never dependencies (cached() refuses them),
 * invalidate no other session's results; within the session, whose
 * entries are its own once it has a temporary schema, creating one bumps
 * the session's bucket, on which those entries depend (a new temporary
 * table may shadow what they read).  Everything else that can change how queries
 * resolve or render (schemas, operators, casts, collations, extensions,
 * ALTER DATABASE, publications, ...) marks the whole database.  DDL that
 * commits as it goes (CREATE INDEX CONCURRENTLY, DETACH ... CONCURRENTLY)
 * marks the relations it names before and after.
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
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/extensible.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "perfkit/cache.h"

/* Buckets marked by this transaction; on overflow, the database epoch. */
#define MAX_MARKS	256

static uint32 marks[MAX_MARKS];
static int	nmarks = 0;
static bool mark_database = false;
static bool mark_global = false;	/* roles changed: every database */

/*
 * Relations whose relcache entries were invalidated while a DDL statement
 * ran (ddl_depth > 0), marked once it is done; on overflow, the database.
 */
#define MAX_DDL_RELS	256

static Oid	ddl_rels[MAX_DDL_RELS];
static int	nddl_rels = 0;
static bool ddl_overflow = false;
static int	ddl_depth = 0;
static bool relcache_callback_registered = false;

/*
 * Relcache invalidations run here, our own as well as other backends'
 * (those only cost a miss).  No catalog access: collect, mark later.
 */
static void
ddl_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	if (ddl_depth <= 0)
		return;
	if (!OidIsValid(relid))
	{
		ddl_overflow = true;
		return;
	}
	for (i = 0; i < nddl_rels; i++)
		if (ddl_rels[i] == relid)
			return;
	if (nddl_rels < MAX_DDL_RELS)
		ddl_rels[nddl_rels++] = relid;
	else
		ddl_overflow = true;
}

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

/* Mark relid and, when it is a partition, its partition ancestors. */
static void
mark_with_ancestors(Oid relid, bool relispartition)
{
	mark_bucket(cache_version_bucket(MyDatabaseId, relid));
	if (relispartition)
	{
		List	   *ancestors = get_partition_ancestors(relid);
		ListCell   *lc;

		foreach(lc, ancestors)
			mark_bucket(cache_version_bucket(MyDatabaseId, lfirst_oid(lc)));
		list_free(ancestors);
	}
}

/*
 * Mark relid as written by this transaction, with its partition ancestors
 * and, with_descendants, every relation that inherits from it.
 */
void
cache_track_relation(Oid relid, bool with_descendants)
{
	mark_with_ancestors(relid, get_rel_relispartition(relid));
	if (with_descendants && has_subclass(relid))
	{
		List	   *all = find_all_inheritors(relid, NoLock, NULL);
		ListCell   *lc;

		foreach(lc, all)
			mark_bucket(cache_version_bucket(MyDatabaseId, lfirst_oid(lc)));
		list_free(all);
	}
}

/*
 * Mark a relation whose relcache entry a DDL statement invalidated, as
 * cache_track_relation() does, except an index: no cached() result
 * depends on one (its dependencies are the relations its query reads),
 * and creating, dropping or changing an index invalidates its table too.
 * One catalog lookup gives both the kind and whether it is a partition.
 */
static void
track_ddl_relation(Oid relid)
{
	HeapTuple	tp;
	char		relkind;
	bool		relispartition;

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
	{
		/* dropped: results that read it depend on its counter */
		mark_bucket(cache_version_bucket(MyDatabaseId, relid));
		return;
	}
	relkind = ((Form_pg_class) GETSTRUCT(tp))->relkind;
	relispartition = ((Form_pg_class) GETSTRUCT(tp))->relispartition;
	ReleaseSysCache(tp);

	if (relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX)
		return;
	mark_with_ancestors(relid, relispartition);
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

	/*
	 * A write that Citus plans on this node (a custom scan, with no result
	 * relation of its own) runs its tasks on the shards' nodes, where the
	 * executor sees them, except INSERT ... SELECT and MERGE through the
	 * coordinator: those write the shards this node holds with Citus's
	 * local copy, which calls CopyFrom() and runs no hook.  The database
	 * epoch stands for them (see src/cache/citus.c).
	 */
	if (pstmt->resultRelations == NIL && pstmt->planTree != NULL &&
		IsA(pstmt->planTree, CustomScan))
	{
		const CustomScanMethods *m = ((CustomScan *) pstmt->planTree)->methods;

		/* the plan's methods' names (not those of the executor state) */
		if (m == NULL || m->CustomName == NULL ||
			(strcmp(m->CustomName, "Citus Adaptive") != 0 &&
			 strcmp(m->CustomName, "Citus Delayed Error") != 0))
			mark_database = true;
	}
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

/* Mark a name of kind ('r' relation, 'f' function) as created here. */
static void
mark_name(char kind, const char *name)
{
	mark_bucket(cache_version_bucket_name(MyDatabaseId, kind, name));
}

/* Mark the routine or the type epoch of this database. */
static void
mark_epoch(char kind)
{
	mark_bucket(cache_version_bucket_name(MyDatabaseId, kind, ""));
}

/* Mark the relation rv names, if it exists. */
static void
mark_rangevar(RangeVar *rv, bool with_descendants)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid))
		cache_track_relation(relid, with_descendants);
}

static bool
rangevar_is_temp(const RangeVar *rv)
{
	return rv->relpersistence == RELPERSISTENCE_TEMP ||
		(rv->schemaname != NULL && strcmp(rv->schemaname, "pg_temp") == 0);
}

static bool
is_relation_type(ObjectType t)
{
	return t == OBJECT_TABLE || t == OBJECT_VIEW || t == OBJECT_MATVIEW ||
		t == OBJECT_INDEX || t == OBJECT_SEQUENCE || t == OBJECT_FOREIGN_TABLE;
}

static bool
is_routine_type(ObjectType t)
{
	return t == OBJECT_FUNCTION || t == OBJECT_PROCEDURE || t == OBJECT_ROUTINE ||
		t == OBJECT_AGGREGATE;
}

static bool
is_type_type(ObjectType t)
{
	return t == OBJECT_TYPE || t == OBJECT_DOMAIN;
}

/* How a utility statement is tracked. */
typedef enum DdlClass
{
	DDL_NONE,					/* changes no data, definition or privilege */
	DDL_ROLES,					/* roles: every database */
	DDL_DATABASE,				/* may change how any query resolves: the database */
	DDL_TEMP,					/* creates a temporary object: this session only */
	DDL_PRECISE					/* the relations it invalidates, and its marks */
} DdlClass;

/*
 * Whether t names routines or types, whose changes are tracked by epoch
 * (any result calling a user routine, or using a user type); with mark,
 * bump that epoch.
 */
static bool
routine_or_type(ObjectType t, bool mark)
{
	if (is_routine_type(t))
	{
		if (mark)
			mark_epoch('R');
		return true;
	}
	if (is_type_type(t))
	{
		if (mark)
			mark_epoch('T');
		return true;
	}
	return false;
}

/*
 * A statement creating the relation rv: nothing for others when it is
 * temporary; else (marking) its name, which may now shadow another.
 */
static DdlClass
new_relation(RangeVar *rv, bool mark)
{
	if (rangevar_is_temp(rv))
		return DDL_TEMP;
	if (mark)
		mark_name('r', rv->relname);
	return DDL_PRECISE;
}

/*
 * Whether the ALTER TABLE a commits as it goes (DETACH PARTITION ...
 * CONCURRENTLY, or FINALIZE of one): its commits drop the relations the
 * relcache callback collected, so the relations it names (the table with
 * what inherits from it, the partition) are marked from its text instead.
 * Any other ALTER TABLE, ATTACH and DETACH included, invalidates the
 * relcache entries of every relation whose definition it changes (of the
 * parent and the partition for ATTACH and DETACH), all collected.
 */
static bool
alter_table_commits(AlterTableStmt *a)
{
	ListCell   *lc;

	foreach(lc, a->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_DetachPartitionFinalize ||
			(cmd->subtype == AT_DetachPartition &&
			 ((PartitionCmd *) cmd->def)->concurrent))
			return true;
	}
	return false;
}

/*
 * The class of stmt; with mark, also make the marks that the statement's
 * text shows (names created, epochs, relations named).  Called before the
 * statement runs (mark) and after it (not), so the class must not depend
 * on the catalogs.  CREATE INDEX CONCURRENTLY and DETACH PARTITION ...
 * CONCURRENTLY mark the relations they name both times: they commit as
 * they go, and the marks made before are bumped at the first of those
 * commits.  Other DDL marks no relation from its text: a catalog lookup
 * per named relation (and a pg_inherits scan per partition of a named
 * parent) was most of what the hook cost a DDL statement, and the
 * relations the statement invalidates are collected anyway.
 */
static DdlClass
ddl_class(Node *stmt, bool mark)
{
	switch (nodeTag(stmt))
	{
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
		case T_CommentStmt:
		case T_SecLabelStmt:
		case T_CreateSchemaStmt:	/* its elements run as statements of their own */
			return DDL_NONE;

		case T_CopyStmt:
			if (mark && castNode(CopyStmt, stmt)->is_from)
			{
				CopyStmt   *copy = (CopyStmt *) stmt;
				Oid			relid = RangeVarGetRelid(copy->relation, NoLock, true);

				if (OidIsValid(relid))
					cache_track_relation(relid, true);
				else
					mark_database = true;

				/*
				 * COPY into a Citus table writes the shards this node holds
				 * through CopyFrom() directly (Citus's local copy), which
				 * runs no hook: the database epoch stands for them.
				 */
				if (OidIsValid(relid) && cache_citus_tables(list_make1_oid(relid)) != NIL)
					mark_database = true;
			}
			return DDL_NONE;

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
			return DDL_ROLES;

			/* New relations: their names (unless temporary) */
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			return new_relation(((CreateStmt *) stmt)->relation, mark);
		case T_CreateTableAsStmt:
			return new_relation(castNode(CreateTableAsStmt, stmt)->into->rel, mark);
		case T_ViewStmt:
			return new_relation(castNode(ViewStmt, stmt)->view, mark);
		case T_CreateSeqStmt:
			return new_relation(castNode(CreateSeqStmt, stmt)->sequence, mark);

			/* Data and definitions of named relations */
		case T_TruncateStmt:
			if (mark)
			{
				TruncateStmt *t = (TruncateStmt *) stmt;
				ListCell   *lc;

				if (t->behavior == DROP_CASCADE)
					mark_database = true;
				foreach(lc, t->relations)
					mark_rangevar(lfirst_node(RangeVar, lc),
								  lfirst_node(RangeVar, lc)->inh);
			}
			return DDL_PRECISE;
		case T_RefreshMatViewStmt:
			if (mark)
				mark_rangevar(castNode(RefreshMatViewStmt, stmt)->relation, false);
			return DDL_PRECISE;
		case T_IndexStmt:
			if (castNode(IndexStmt, stmt)->concurrent)
				mark_rangevar(castNode(IndexStmt, stmt)->relation, false);
			return DDL_PRECISE;
		case T_AlterTableStmt:
			{
				AlterTableStmt *a = (AlterTableStmt *) stmt;

				if (alter_table_commits(a))
				{
					ListCell   *lc;

					mark_rangevar(a->relation, true);
					foreach(lc, a->cmds)
					{
						AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

						if (cmd->subtype == AT_DetachPartition ||
							cmd->subtype == AT_DetachPartitionFinalize)
							mark_rangevar(((PartitionCmd *) cmd->def)->name, true);
					}
				}
				if (mark && a->objtype == OBJECT_TYPE)
					mark_epoch('T');
				return DDL_PRECISE;
			}
		case T_AlterSeqStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_RuleStmt:
		case T_CreateTrigStmt:
		case T_CreateStatsStmt:
		case T_AlterStatsStmt:
			return DDL_PRECISE;

		case T_DropStmt:
			{
				ObjectType t = castNode(DropStmt, stmt)->removeType;

				if (routine_or_type(t, mark))
					return DDL_PRECISE;
				if (is_relation_type(t) || t == OBJECT_POLICY || t == OBJECT_RULE ||
					t == OBJECT_TRIGGER || t == OBJECT_STATISTIC_EXT)
					return DDL_PRECISE;
				return DDL_DATABASE;
			}
		case T_GrantStmt:
			{
				GrantStmt  *g = (GrantStmt *) stmt;

				if (g->targtype == ACL_TARGET_DEFAULTS)
					return DDL_DATABASE;
				if (is_relation_type(g->objtype))
					return DDL_PRECISE;
				if (routine_or_type(g->objtype, mark))
					return DDL_PRECISE;
				return DDL_DATABASE;
			}
		case T_RenameStmt:
			{
				RenameStmt *r = (RenameStmt *) stmt;

				if (r->renameType == OBJECT_ROLE)
					return DDL_ROLES;
				if (is_relation_type(r->renameType))
				{
					if (mark)
						mark_name('r', r->newname);
					return DDL_PRECISE;
				}
				if (r->renameType == OBJECT_COLUMN || r->renameType == OBJECT_TABCONSTRAINT ||
					r->renameType == OBJECT_POLICY || r->renameType == OBJECT_RULE ||
					r->renameType == OBJECT_TRIGGER)
					return DDL_PRECISE;
				if (is_routine_type(r->renameType))
				{
					if (mark)
					{
						mark_epoch('R');
						mark_name('f', r->newname);
					}
					return DDL_PRECISE;
				}
				if (is_type_type(r->renameType) || r->renameType == OBJECT_ATTRIBUTE)
				{
					if (mark)
						mark_epoch('T');
					return DDL_PRECISE;
				}
				return DDL_DATABASE;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *a = (AlterObjectSchemaStmt *) stmt;

				if (is_relation_type(a->objectType))
				{
					if (mark && a->relation != NULL)
						mark_name('r', a->relation->relname);
					return DDL_PRECISE;
				}
				if (is_routine_type(a->objectType))
				{
					if (mark)
					{
						ObjectWithArgs *owa = castNode(ObjectWithArgs, a->object);

						mark_epoch('R');
						mark_name('f', strVal(llast(owa->objname)));
					}
					return DDL_PRECISE;
				}
				if (is_type_type(a->objectType))
				{
					if (mark)
						mark_epoch('T');
					return DDL_PRECISE;
				}
				return DDL_DATABASE;
			}
		case T_AlterOwnerStmt:
			{
				ObjectType t = castNode(AlterOwnerStmt, stmt)->objectType;

				if (routine_or_type(t, mark))
					return DDL_PRECISE;
				return DDL_DATABASE;
			}

			/* Routines */
		case T_CreateFunctionStmt:
			if (mark)
			{
				CreateFunctionStmt *f = (CreateFunctionStmt *) stmt;

				mark_name('f', strVal(llast(f->funcname)));
				if (f->replace)
					mark_epoch('R');
			}
			return DDL_PRECISE;
		case T_AlterFunctionStmt:
			if (mark)
				mark_epoch('R');
			return DDL_PRECISE;
		case T_DefineStmt:
			{
				DefineStmt *d = (DefineStmt *) stmt;

				if (d->kind == OBJECT_AGGREGATE)
				{
					if (mark)
					{
						mark_name('f', strVal(llast(d->defnames)));
						if (d->replace)
							mark_epoch('R');
					}
					return DDL_PRECISE;
				}
				if (d->kind == OBJECT_TYPE)
				{
					if (mark)
						mark_epoch('T');
					return DDL_PRECISE;
				}
				return DDL_DATABASE;
			}

			/* Types */
		case T_CompositeTypeStmt:
		case T_CreateEnumStmt:
		case T_CreateRangeStmt:
		case T_CreateDomainStmt:
		case T_AlterEnumStmt:
		case T_AlterDomainStmt:
		case T_AlterTypeStmt:
			if (mark)
				mark_epoch('T');
			return DDL_PRECISE;

		default:
			return DDL_DATABASE;
	}
}

/*
 * Called before (before = true) and after a utility statement runs (after
 * only when it succeeded).
 */
void
cache_track_utility(PlannedStmt *pstmt, bool before)
{
	Node	   *stmt = pstmt->utilityStmt;
	DdlClass	class;

	if (!relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(ddl_relcache_callback, (Datum) 0);
		relcache_callback_registered = true;
	}

	if (!before)
	{
		if (IsA(stmt, TransactionStmt) &&
			castNode(TransactionStmt, stmt)->kind == TRANS_STMT_COMMIT_PREPARED)
		{
			cache_version_commit_done();
			cache_version_bump(cache_version_bucket(InvalidOid, InvalidOid));
		}
		class = ddl_class(stmt, false);
		if (class == DDL_TEMP)
			cache_version_bump(cache_track_session_bucket());
		if (class != DDL_PRECISE)
			return;

		/*
		 * Run the statement's pending invalidations now, so that the
		 * callback sees them, then mark what they named.
		 */
		if (IsTransactionState())
			CommandCounterIncrement();
		if (ddl_depth > 0)
			ddl_depth--;
		for (int i = 0; i < nddl_rels; i++)
			track_ddl_relation(ddl_rels[i]);
		nddl_rels = 0;
		if (ddl_overflow)
			mark_database = true;
		ddl_overflow = false;
		return;
	}

	class = ddl_class(stmt, true);
	switch (class)
	{
		case DDL_NONE:
			break;
		case DDL_TEMP:
			cache_version_bump(cache_track_session_bucket());
			break;
		case DDL_ROLES:
			mark_global = true;
			break;
		case DDL_DATABASE:
			mark_database = true;
			break;
		case DDL_PRECISE:
			ddl_depth++;
			break;
	}
}

/*
 * The bucket of this session: cached() results of a session that has a
 * temporary schema depend on it, and the session bumps it (at once, not
 * at commit: no other session reads these results) when it creates a
 * temporary object, which may shadow a relation such a result read.
 */
uint32
cache_track_session_bucket(void)
{
	static uint32 bucket = 0;

	if (bucket == 0)
	{
		char		name[64];

		snprintf(name, sizeof(name), "%d.%lld", MyProcPid, (long long) MyStartTimestamp);
		bucket = cache_version_bucket_name(MyDatabaseId, 's', name);
	}
	return bucket;
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
			nddl_rels = 0;
			ddl_overflow = false;
			ddl_depth = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			nmarks = 0;
			mark_database = mark_global = false;
			nddl_rels = 0;
			ddl_overflow = false;
			ddl_depth = 0;
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
