/*-------------------------------------------------------------------------
 *
 * distributed.c
 *	  Change capture for rollups on Citus distributed sources.
 *
 * A Citus distributed table keeps its rows in shards on the worker nodes;
 * a write entering through the coordinator or through any worker (with
 * metadata synced) executes on the node holding the shard.  The capture
 * of a rollup on such a table is therefore a trigger on every shard:
 * perfkit._rollup_dist_capture(), created on the distributed table (Citus
 * propagates it to the shards, citus.enable_unsafe_triggers on for that
 * command only; see the "Distributed sources (Citus)" section of
 * rollup.sql).  Citus puts no TRUNCATE trigger on shards: the BEFORE
 * TRUNCATE trigger fires on the shell table of the node where TRUNCATE
 * was issued, and logs every pair of the table through Citus (one
 * pushed-down INSERT ... SELECT) before the shards are emptied; only the
 * change table's owner may run it (Citus reaches a group of co-located
 * shards as one role per transaction).  No other
 * write fires the shell's triggers: they execute on the shards.
 *
 * The trigger appends one row per distinct (distribution value, bucket)
 * the statement touched to the rollup's change table, <name>_changes, a
 * distributed table co-located with the source: the shard of it that
 * holds the same hash range, on the same node, so the row is written
 * locally in the writer's transaction (Citus allows a trigger on a shard
 * to reach co-located shards).  The change row and the raw rows become
 * visible together, or not at all.  The refresh, on the coordinator,
 * claims them with one pushed-down statement and recomputes the claimed
 * groups from raw rows with a later one (rollup.sql).
 *
 * The trigger's arguments are the rollup id, the time column, the
 * granularity, the zone, the distribution column and the change table's
 * qualified name.  The co-located shard is found from Citus's metadata
 * (pg_dist_shard, on every node with metadata synced) by the shard id in
 * the shard's name; Citus is never linked against, only read at run time.
 *
 * Rights: the touched pairs are read from the transition tables (or, for
 * TRUNCATE, from the shard) as the shard's owner in a security-restricted
 * operation; they are appended as the change table's owner, likewise.
 * The trigger refuses to write a change table whose owner and the
 * shard's owner are unrelated roles.  A forged change row (a role that is
 * a member of the other) only makes the refresh recompute a group.
 *
 * A partitioned distributed source has the triggers on the parent and on
 * every partition (each a distributed table): a statement trigger fires
 * on the table the statement names, so a write through the parent is
 * captured by the parent's shard and one straight into a partition by
 * that partition's shard.  A partition that joins later (CREATE TABLE ...
 * PARTITION OF, ATTACH PARTITION, perfkit's premake) is distributed by
 * Citus in its own ProcessUtility post-processing, after event triggers
 * ran: rollup_dist_after_utility(), called by perfkit's ProcessUtility
 * hook once the command returned, hands it (or a detached one) to
 * perfkit._rollup_dist_partition_ddl().
 *
 * src/rollup/distributed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/acl.h"
#include "utils/regproc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "perfkit/rollup.h"
#include "perfkit/util.h"

PG_FUNCTION_INFO_V1(perfkit_rollup_dist_capture);

/*
 * The co-located shard of the change table.  No pg_class in it: Citus
 * hides shards from pg_class queries of client backends on a worker.
 */
static SPIPlanPtr shard_plan = NULL;

static const char *const shard_sql =
"SELECT pg_catalog.to_regclass(pg_catalog.shard_name(c.logicalrelid, c.shardid, false))::pg_catalog.oid "
"FROM pg_catalog.pg_dist_shard s "
"JOIN pg_catalog.pg_dist_shard c "
"  ON c.logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($2) "
" AND c.shardminvalue OPERATOR(pg_catalog.=) s.shardminvalue "
"WHERE s.shardid OPERATOR(pg_catalog.=) $1 "
"  AND pg_catalog.to_regclass(pg_catalog.shard_name(s.logicalrelid, s.shardid, false)) "
"      OPERATOR(pg_catalog.=) $3::pg_catalog.regclass";

/* The shard id a shard's name ends with (name_102008), or -1. */
static int64
shard_id_of(const char *relname)
{
	const char *p = strrchr(relname, '_');
	int64		id = 0;

	if (p == NULL || p[1] == '\0')
		return -1;
	for (p++; *p; p++)
	{
		if (*p < '0' || *p > '9' || id > (PG_INT64_MAX - 9) / 10)
			return -1;
		id = id * 10 + (*p - '0');
	}
	return id;
}

/* SQL for the bucket of time column col (quoted) of type type. */
static char *
bucket_sql(const char *col, Oid type, const char *unit, const char *zone)
{
	if (type == TIMESTAMPTZOID)
		return psprintf("pg_catalog.date_trunc(%s, %s, %s)",
						quote_literal_cstr(unit), col, quote_literal_cstr(zone));
	return psprintf("(pg_catalog.date_trunc(%s, %s::pg_catalog.timestamp) AT TIME ZONE %s)",
					quote_literal_cstr(unit), col, quote_literal_cstr(zone));
}

/*
 * TRUNCATE of distributed table rel (its shell): every (value, bucket) of
 * it into the change table, as the change table's owner, restricted.
 * Within SPI.
 */
static void
truncate_shell(Relation rel, Trigger *trigger, Oid ttype, int sec_context)
{
	Oid			chg;
	Oid			chg_owner;
	HeapTuple	tuple;
	char	   *sql;
	int			rc;
	const char *dcol = quote_identifier(trigger->tgargs[4]);
	const char *tcol = quote_identifier(trigger->tgargs[1]);

	/* locked, so that it cannot go while its name is used below */
	chg = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(trigger->tgargs[5])),
						   AccessShareLock, true);
	if (!OidIsValid(chg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("change table %s of rollup %s does not exist", trigger->tgargs[5],
						trigger->tgargs[0])));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(chg));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", chg);
	chg_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	/*
	 * Citus lets one transaction touch a group of co-located shards as one
	 * role only: the log is written as the change table's owner, so the
	 * TRUNCATE that follows must run as that role too.
	 */
	if (GetUserId() != chg_owner)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("TRUNCATE of distributed table \"%s\" must be run by role \"%s\", the owner of rollup %s's change table",
						RelationGetRelationName(rel), GetUserNameFromId(chg_owner, false), trigger->tgargs[0]),
				 errdetail("The rows truncated are logged as that role, and Citus lets a transaction reach co-located shards as one role only."),
				 errhint("Run TRUNCATE as \"%s\", or DELETE the rows instead.",
						 GetUserNameFromId(chg_owner, false))));
	sql = psprintf("INSERT INTO %s (%s, bucket) SELECT DISTINCT %s, %s FROM %s WHERE pg_catalog.isfinite(%s)",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(chg)), get_rel_name(chg)),
				   dcol, dcol, bucket_sql(tcol, ttype, trigger->tgargs[2], trigger->tgargs[3]),
				   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  RelationGetRelationName(rel)),
				   tcol);
	SetUserIdAndSecContext(chg_owner, sec_context | SECURITY_RESTRICTED_OPERATION);	/* the same role */
	rc = SPI_execute(sql, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not log the truncated rows of rollup %s: %s", trigger->tgargs[0],
			 SPI_result_code_string(rc));
}

Datum
perfkit_rollup_dist_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	rel;
	TupleDesc	desc;
	int			tattno;
	int			dattno;
	Oid			ttype;
	Oid			dtype;
	Oid			darray;
	int64		shardid;
	Oid			chg_shard;
	Oid			chg_owner;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	const char *tcol;
	const char *dcol;
	char	   *bucket;
	char	   *from;
	char	   *sql;
	bool		isnull;
	HeapTuple	tuple;
	int			rc;
	Datum		pairs[2];
	bool		pairs_null[2];

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_dist_capture() must be called as a trigger")));
	trigger = trigdata->tg_trigger;
	rel = trigdata->tg_relation;
	if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		(TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ?
		 !TRIGGER_FIRED_BEFORE(trigdata->tg_event) :
		 !TRIGGER_FIRED_AFTER(trigdata->tg_event)) ||
		trigger->tgnargs != 6)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._rollup_dist_capture() must be a statement trigger made by perfkit.create_rollup()")));

	desc = RelationGetDescr(rel);
	tcol = trigger->tgargs[1];
	dcol = trigger->tgargs[4];
	tattno = SPI_fnumber(desc, tcol);
	dattno = SPI_fnumber(desc, dcol);
	if (tattno <= 0 || dattno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" or \"%s\" of rollup %s no longer exists in table \"%s\"",
						tcol, dcol, trigger->tgargs[0], RelationGetRelationName(rel))));
	ttype = SPI_gettypeid(desc, tattno);
	dtype = SPI_gettypeid(desc, dattno);
	darray = get_array_type(dtype);
	if (!OidIsValid(darray))
		elog(ERROR, "type %u has no array type", dtype);

	shardid = shard_id_of(RelationGetRelationName(rel));

	SPI_connect();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/* Which shard of the change table sits beside this one. */
	{
		Oid			argtypes[3] = {INT8OID, TEXTOID, OIDOID};
		Datum		args[3];

		if (shard_plan == NULL)
		{
			shard_plan = SPI_prepare(shard_sql, 3, argtypes);
			if (shard_plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(shard_plan);
		}
		args[0] = Int64GetDatum(shardid);
		args[1] = CStringGetTextDatum(trigger->tgargs[5]);
		args[2] = ObjectIdGetDatum(RelationGetRelid(rel));
		rc = SPI_execute_plan(shard_plan, args, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1 && pk_citus_table(RelationGetRelid(rel)))
		{
			/*
			 * The shell of the distributed table itself, on the node where
			 * a TRUNCATE was issued: Citus puts no TRUNCATE trigger on
			 * shards.  Before it runs, log every pair of the table through
			 * Citus, one pushed-down INSERT ... SELECT between co-located
			 * shards, in the truncating transaction.  Other writes never
			 * fire the shell's triggers (they execute on the shards).
			 */
			if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
				truncate_shell(rel, trigger, ttype, save_sec_context);
			AtEOXact_GUC(false, save_nestlevel);
			SetUserIdAndSecContext(save_userid, save_sec_context);
			SPI_finish();
			return PointerGetDatum(NULL);
		}
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not a shard co-located with change table %s of rollup %s",
							RelationGetRelationName(rel), trigger->tgargs[5], trigger->tgargs[0]),
					 errdetail("Trigger \"%s\" captures the changes of a rollup on a Citus distributed table; it must fire on the shards of that table.",
							   trigger->tgname),
					 errhint("Drop and create the rollup again if its tables were moved or altered by hand.")));
		chg_shard = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			elog(ERROR, "shard of change table %s of rollup %s not found", trigger->tgargs[5], trigger->tgargs[0]);
		tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(chg_shard));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", chg_shard);
		chg_owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
		if (!has_privs_of_role(chg_owner, rel->rd_rel->relowner) &&
			!has_privs_of_role(rel->rd_rel->relowner, chg_owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("change table %s of rollup %s does not belong with table \"%s\"",
							trigger->tgargs[5], trigger->tgargs[0], RelationGetRelationName(rel)),
					 errdetail("Their owners are unrelated roles.")));

		/*
		 * The change rows are written as the change table's owner from
		 * values of the writer's table: they must go in as they are.  A
		 * column of another type would run a cast, code the writer's side
		 * may own, with the change table owner's rights.
		 */
		{
			AttrNumber	chg_d = get_attnum(chg_shard, dcol);
			AttrNumber	chg_b = get_attnum(chg_shard, "bucket");

			if (chg_d == InvalidAttrNumber || chg_b == InvalidAttrNumber ||
				get_atttype(chg_shard, chg_d) != dtype ||
				get_atttype(chg_shard, chg_b) != TIMESTAMPTZOID)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("change table %s of rollup %s does not belong with table \"%s\"",
								trigger->tgargs[5], trigger->tgargs[0], RelationGetRelationName(rel)),
						 errdetail("Column \"%s\" of the change table must have the type of the table's column, and \"bucket\" must be timestamp with time zone.",
								   dcol)));
		}
	}

	/* The touched pairs, as the shard's owner, restricted. */
	bucket = bucket_sql(quote_identifier(tcol), ttype, trigger->tgargs[2], trigger->tgargs[3]);
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		from = psprintf("ONLY %s", quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
															  RelationGetRelationName(rel)));
	else if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		from = "perfkit_new";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		from = "perfkit_old";
	else
		from = psprintf("(SELECT %s, %s FROM perfkit_old UNION ALL SELECT %s, %s FROM perfkit_new) perfkit_x",
						quote_identifier(dcol), quote_identifier(tcol),
						quote_identifier(dcol), quote_identifier(tcol));
	sql = psprintf("SELECT pg_catalog.array_agg(perfkit_d), pg_catalog.array_agg(perfkit_b) FROM "
				   "(SELECT DISTINCT %s AS perfkit_d, %s AS perfkit_b FROM %s "
				   "WHERE pg_catalog.isfinite(%s)) perfkit_t",
				   quote_identifier(dcol), bucket, from, quote_identifier(tcol));
	SetUserIdAndSecContext(rel->rd_rel->relowner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) &&
		SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "could not register the transition tables of rollup %s", trigger->tgargs[0]);
	rc = SPI_execute(sql, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the changes of rollup %s: %s", trigger->tgargs[0],
			 SPI_result_code_string(rc));
	pairs[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pairs_null[0]);
	pairs[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &pairs_null[1]);

	/* Appended as the change table's owner, restricted. */
	if (!pairs_null[0] && !pairs_null[1])
	{
		Oid			argtypes[2] = {darray, TIMESTAMPTZARRAYOID};

		SetUserIdAndSecContext(chg_owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
		sql = psprintf("INSERT INTO %s (%s, bucket) SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))",
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(chg_shard)),
												  get_rel_name(chg_shard)),
					   quote_identifier(dcol));
		rc = SPI_execute_with_args(sql, 2, argtypes, pairs, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not log the changes of rollup %s: %s", trigger->tgargs[0],
				 SPI_result_code_string(rc));
	}

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * After a utility command (perfkit's ProcessUtility hook, once the
 * previous hook, Citus's among them, has returned): CREATE TABLE ...
 * PARTITION OF and ALTER TABLE ... ATTACH / DETACH PARTITION hand the
 * partition to perfkit._rollup_dist_partition_ddl(), which brings the
 * capture of the distributed rollups on its tree in line with it.  Any
 * other command, or a database without Citus or perfkit, costs a node
 * tag test and, for those commands only, two syscache lookups.  Runs as
 * the role that ran the command.
 */
void
rollup_dist_after_utility(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;
	RangeVar   *parent_rv = NULL;
	RangeVar   *part_rv = NULL;
	bool		attached = true;
	Oid			nsp;
	Oid			parent;
	Oid			part;
	Oid			argtypes[3] = {OIDOID, OIDOID, BOOLOID};
	Datum		args[3];
	int			rc;

	if (stmt == NULL)
		return;
	if (IsA(stmt, CreateStmt))
	{
		CreateStmt *cs = (CreateStmt *) stmt;

		if (cs->partbound == NULL || list_length(cs->inhRelations) != 1)
			return;
		parent_rv = linitial_node(RangeVar, cs->inhRelations);
		part_rv = cs->relation;
	}
	else if (IsA(stmt, AlterTableStmt))
	{
		AlterTableStmt *as = (AlterTableStmt *) stmt;
		ListCell   *lc;

		if (as->objtype != OBJECT_TABLE)
			return;
		foreach(lc, as->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_AttachPartition || cmd->subtype == AT_DetachPartition ||
				cmd->subtype == AT_DetachPartitionFinalize)
			{
				part_rv = ((PartitionCmd *) cmd->def)->name;
				attached = cmd->subtype == AT_AttachPartition;
			}
		}
		parent_rv = as->relation;
	}
	if (part_rv == NULL || parent_rv == NULL || !pk_citus_installed())
		return;
	nsp = get_namespace_oid("perfkit", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("rollup_distributed", nsp)))
		return;
	parent = RangeVarGetRelid(parent_rv, NoLock, true);
	part = RangeVarGetRelid(part_rv, NoLock, true);
	if (!OidIsValid(parent) || !OidIsValid(part))
		return;

	args[0] = ObjectIdGetDatum(parent);
	args[1] = ObjectIdGetDatum(part);
	args[2] = BoolGetDatum(attached);
	SPI_connect();
	rc = SPI_execute_with_args("SELECT perfkit._rollup_dist_partition_ddl($1, $2, $3)",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	SPI_finish();
}
