/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  convert_to_partitioned(): turning a populated plain table into a
 *	  range-partitioned one under the same name, copying its rows in
 *	  batches while writers go on, and swapping the two at the end.
 *
 * The plan ("copy, then swap", what people do by hand as rename, create,
 * copy, verify, drop, without the downtime).  It runs in a background
 * worker (convert_worker.c) that commits where it says "transaction":
 *   1. Setup (one transaction).  Check that the table can be converted
 *      (below), create the new partitioned table N next to it with the
 *      same columns, defaults, CHECK and NOT NULL constraints, identity,
 *      foreign keys, comments and owner, but no index, plus one extra
 *      column __perfkit_src (tid, the row's origin), register N as a
 *      partition set and make its partitions (from the data's oldest slot
 *      to now + 4 slots, and a default partition), and put a row trigger
 *      on the old table T that logs the tid and the partition key of every
 *      row version any write touches (perfkit.convert_log).  Creating the
 *      trigger waits for the writers in flight, so every row version that
 *      existed before is visible to every later batch.
 *   2. Load (one transaction per batch; phase 'loading').  Rows are copied
 *      in physical order, a range of heap blocks at a time (a TID range
 *      scan), with the tid each came from in __perfkit_src; the next block
 *      to copy (the watermark) is committed with the batch, so an
 *      interrupted conversion resumes where it stopped.  N has no index
 *      yet: each is built once, in one pass, in step 3, which is cheaper
 *      than an entry per row.
 *   3. Index (one transaction, once the watermark reaches the end).  Sync
 *      the log (below), then build T's indexes on N in T's order.
 *   4. Catch up (one transaction per batch; phase 'copying').  Before each
 *      batch's copy of the blocks added meanwhile, on the same snapshot,
 *      the logged tids of blocks below the watermark are synced: N's rows
 *      from that tid are deleted and T's current version at that tid (if
 *      any) is copied again.  A logged write made to a block that is not
 *      copied yet is left in the log until the watermark passes it, since
 *      a batch that copied the block may not have seen the write; a write
 *      not committed yet is not visible to the sync and is synced later.
 *      So every write is synced after both its commit and the copy of its
 *      block: N converges to T.
 *   5. Check (one transaction, no lock that writers wait for).  On one
 *      snapshot, sync the log, copy the blocks added meanwhile, then count
 *      and checksum T and N (checksum.c: a row's hash includes its origin
 *      tid, so equal sums mean each tid of T has its row in N).  A write
 *      that snapshot does not see is still in the log, and every row in a
 *      block past the new watermark was written after it (verify_snapshot).
 *      The capture trigger is ENABLE ALWAYS (it fires under
 *      session_replication_role = replica too), and its catalog row at the
 *      check is noted.
 *   6. Swap (one transaction, lock_timeout, retried).  Lock T in
 *      EXCLUSIVE mode (writers wait, readers do not), sync the whole log,
 *      new blocks included, and check what was synced: T's rows at the
 *      tids logged against N's rows from them, and that no row of the new
 *      blocks escaped the log.  So writers wait for the writes made since
 *      the check, not for the table's size.  If the capture trigger's
 *      catalog row changed since the check (disabled, even for a moment),
 *      both tables are counted and checksummed in full instead, under the
 *      lock.  Between tries of the lock, the log is synced and checked
 *      the same way.  Then lock
 *      T in ACCESS EXCLUSIVE mode, drop the trigger and the extra column,
 *      hand over sequences (serial ones change owner, identity ones
 *      continue from T's value), grants and the table's comment, drop T,
 *      and rename N, its partitions and its indexes to T's names.
 *      Rollups reading T move with it: their capture triggers, which
 *      logged every write to T up to the lock, and their live views are
 *      dropped before T (perfkit._rollup_source_detach) and made again on
 *      N and each of its partitions at the end (_rollup_source_attach),
 *      which points their definitions at N.  Nothing is logged for the
 *      rows copied: N holds exactly the rows the rollups' state and
 *      pending changes account for (just checked), and copying them into
 *      N, which had no capture trigger, fired nothing.
 * Rows are never taken out of T before the swap, so an interrupted
 * conversion loses nothing: call it again to resume, or
 * convert_to_partitioned_abort() to drop N and the trigger.
 *
 * A Citus distributed table cannot be converted that way (Citus does not
 * fire T's trigger for the writes it routes to the shards): it is
 * converted with writes blocked, in the caller's transaction, by
 * part_convert_citus() (its plan is above that function), which reuses
 * the pieces of the swap (index_statements, carry_over, index_names,
 * rename_as_old).
 *
 * Who runs it: the caller must own the table, but every transaction of
 * the conversion runs as the table's owner in a security-restricted
 * operation (conv_owner_enter), so that a superuser's call never runs the
 * owner's defaults, constraints or index expressions with superuser
 * rights.  Row-level security policies, and whether it is enabled, are
 * carried over at the swap; the capture trigger writes the log as the
 * extension's owner (nobody else may write it).
 *
 * Refused (clear errors): tables with inheritance, row-level security
 * forced on the owner (the copy would not see every row), a NOT VALID
 * check constraint that a row violates (the copy checks it), perfkit
 * rollups on the table owned by a role whose privileges the table's owner
 * lacks (she could not make their triggers and live views again at the
 * swap), user triggers that PostgreSQL does not allow on a partitioned
 * table (tried on the copy at setup in a subtransaction rolled back, all
 * named; the others are made on the copy at the swap, after the last rows
 * are copied, so they fire on the table until then and never for the rows
 * copied), views (other than rollups' live views) or foreign keys of other
 * tables that depend on it (all listed), exclusion constraints, and unique
 * keys whose key columns do
 * not contain the partition column (a partitioned table cannot enforce
 * them), unless unique_keys => 'extend': then each such primary key,
 * unique constraint or unique index is built on the copy with the
 * partition column appended to its key columns (a NOTICE says so; the
 * choice is kept in perfkit.conversions for the resumed calls).
 *
 * Names.  After the swap the table, its indexes and constraints take the
 * old table's names; partitions take perfkit's names (part_partition_name,
 * table_default); the partitions' indexes and the identity sequences take
 * the names PostgreSQL would have chosen had the table been created
 * partitioned (rename_partition_indexes).  A rewrite of T while the conversion runs
 * (VACUUM FULL, CLUSTER) changes the tids and is detected; TRUNCATE is
 * refused by the trigger.  Column privileges and reloptions are not
 * carried over.
 *
 * src/partition/convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "utils/resowner.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "perfkit/partition.h"
#include "perfkit/perfkit.h"
#include "perfkit/util.h"

#define SRC_COLUMN	"__perfkit_src"
#define SWAP_TRIES	20

/* The state of one conversion, from perfkit.conversions. */
typedef struct ConvState
{
	Oid			relid;
	Oid			newrel;
	char	   *column;
	Interval   *every;
	int64		watermark;		/* next block to copy */
	int64		rows_copied;
	Oid			relfilenode;
	bool		loading;		/* phase 'loading': the copy has no indexes yet */
	bool		extend;			/* unique_keys 'extend': widen keys by the column */
	/* set by verify_snapshot, in this call only */
	bool		verified;		/* the copy was checked equal on a snapshot */
	int64		verified_rows;	/* its rows then, kept up to date by checked syncs */
	char	   *trigger_stamp;	/* the capture trigger's pg_trigger row then */
} ConvState;

static char *
qualified(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static void
exec(const char *sql)
{
	part_exec(sql, 0, NULL, NULL, NULL, false);
}

static Datum
oid_param(Oid relid)
{
	return ObjectIdGetDatum(relid);
}

/* First column of the only row of sql with one oid parameter, as text. */
static char *
query_text(const char *sql, Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	values[0] = oid_param(relid);
	if (part_exec(sql, 1, argtypes, values, NULL, false) == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The columns of relid that an INSERT may list (and the checksum covers):
 * not dropped, not generated, not the copy's origin tid.
 */
static List *
copy_columns(Oid relid)
{
	List	   *result = NIL;
	AttrNumber	attnum;

	for (attnum = 1;; attnum++)
	{
		HeapTuple	tup;
		Form_pg_attribute att;

		tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(tup))
			break;
		att = (Form_pg_attribute) GETSTRUCT(tup);
		if (!att->attisdropped && att->attgenerated == '\0' &&
			strcmp(NameStr(att->attname), SRC_COLUMN) != 0)
			result = lappend(result, pstrdup(NameStr(att->attname)));
		ReleaseSysCache(tup);
	}
	return result;
}

/* Those columns, quoted, comma separated. */
static char *
insert_columns(Oid relid)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, copy_columns(relid))
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier(lfirst(lc)));
	}
	return buf.data;
}

/*
 * The state of relid's conversion, allocated in mcxt (SPI calls switch
 * back to SPI's own context, which a commit frees), or NULL.
 */
static ConvState *
state_load(Oid relid, MemoryContext mcxt)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	ConvState  *st;
	MemoryContext old;

	values[0] = ObjectIdGetDatum(relid);
	if (part_exec("SELECT new_table::oid, column_name::text, every, watermark, rows_copied, "
				  "relfilenode::oid, phase = 'loading', unique_keys = 'extend' "
				  "FROM perfkit.conversions WHERE \"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
				  1, argtypes, values, NULL, false) == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(mcxt);
	st = palloc0(sizeof(ConvState));
	st->relid = relid;
	st->newrel = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	st->column = SPI_getvalue(tup, desc, 2);
	st->every = DatumGetIntervalP(datumCopy(SPI_getbinval(tup, desc, 3, &isnull), false, sizeof(Interval)));
	st->watermark = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	st->rows_copied = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	st->relfilenode = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
	st->loading = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	st->extend = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	MemoryContextSwitchTo(old);
	return st;
}

static void
state_save(ConvState *st)
{
	const char *phase = st->loading ? "loading" : "copying";
	Oid			argtypes[4] = {OIDOID, INT8OID, INT8OID, TEXTOID};
	Datum		values[4];
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	values[0] = ObjectIdGetDatum(st->relid);
	values[1] = Int64GetDatum(st->watermark);
	values[2] = Int64GetDatum(st->rows_copied);
	values[3] = CStringGetTextDatum(phase);
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec("UPDATE perfkit.conversions SET watermark = $2, rows_copied = $3, phase = $4, "
			  "blocks_total = pg_catalog.pg_relation_size($1::regclass) / "
			  "pg_catalog.current_setting('block_size')::bigint, updated_at = clock_timestamp() "
			  "WHERE \"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
			  4, argtypes, values, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);
}

/*
 * The definitions of relid's user triggers (not perfkit's own), as
 * pg_get_triggerdef() writes them, with their enabled state: a list of
 * "CREATE ... TRIGGER" strings and a parallel list of ALTER TABLE ...
 * (DISABLE | ENABLE REPLICA | ENABLE ALWAYS) TRIGGER suffixes (NULL when
 * enabled, the default), and their names.
 */
static void
user_triggers(Oid relid, List **defs, List **states, List **names)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		n,
				i;

	*defs = *states = *names = NIL;
	values[0] = ObjectIdGetDatum(relid);
	n = part_exec("SELECT pg_catalog.pg_get_triggerdef(t.oid), "
				  "CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA' "
				  "WHEN 'A' THEN 'ENABLE ALWAYS' END, t.tgname::text "
				  "FROM pg_catalog.pg_trigger t "
				  "WHERE t.tgrelid = $1 AND NOT t.tgisinternal "
				  "AND t.tgname NOT IN ('__perfkit_convert', '__perfkit_convert_truncate') "
				  "AND t.tgfoid OPERATOR(pg_catalog.<>) 'perfkit._rollup_capture()'::pg_catalog.regprocedure "
				  "ORDER BY t.tgname",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
	{
		*defs = lappend(*defs, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		*states = lappend(*states, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		*names = lappend(*names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
	}
}

/*
 * def (a trigger of the table qold) made on the table qnew instead:
 * pg_get_triggerdef() writes " ON schema.table " with the name qualified
 * as quote_qualified_identifier() does (search_path is pinned).
 */
static char *
trigger_def_on(const char *def, const char *qold, const char *qnew)
{
	char	   *on = psprintf(" ON %s ", qold);
	const char *p = strstr(def, on);

	if (p == NULL)
		elog(ERROR, "unexpected trigger definition: %s", def);
	return psprintf("%.*s ON %s %s", (int) (p - def), def, qnew, p + strlen(on));
}

/*
 * Run sql in a subtransaction that is rolled back whatever happens (a
 * test): NULL if it ran, else why not (the error's detail, or message).
 */
static char *
try_exec(const char *sql)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile why = NULL;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		exec(sql);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		why = edata->detail ? edata->detail : edata->message;
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return why;
}

/*
 * Make relid's user triggers on newrel (after the copy: they must not fire
 * on the rows copied), with their enabled state.  With dry_run, only try
 * each in a subtransaction rolled back at once, and refuse, naming them
 * all, those that PostgreSQL does not allow on a partitioned table (row
 * triggers with transition tables, for instance), with its reason.
 */
static void
copy_triggers(Oid relid, Oid newrel, bool dry_run)
{
	char	   *qold = qualified(relid);
	char	   *qnew = qualified(newrel);
	List	   *defs,
			   *states,
			   *names;
	ListCell   *lc,
			   *lc2,
			   *lc3;
	StringInfoData refused;
	char	   *reason = NULL;

	user_triggers(relid, &defs, &states, &names);
	initStringInfo(&refused);
	forthree(lc, defs, lc2, states, lc3, names)
	{
		char	   *def = trigger_def_on(lfirst(lc), qold, qnew);

		if (!dry_run)
		{
			exec(def);
			if (lfirst(lc2) != NULL)
				exec(psprintf("ALTER TABLE %s %s TRIGGER %s", qnew, (char *) lfirst(lc2),
							  quote_identifier(lfirst(lc3))));
			continue;
		}
		{
			char	   *why = try_exec(def);

			if (why != NULL)
			{
				if (refused.len > 0)
					appendStringInfoString(&refused, ", ");
				appendStringInfoString(&refused, quote_identifier(lfirst(lc3)));
				if (reason == NULL)
					reason = why;
			}
		}
	}
	if (refused.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("triggers of table \"%s\" cannot be made on a partitioned table: %s",
						get_rel_name(relid), refused.data),
				 errdetail("%s", reason),
				 errhint("Drop or change those triggers, convert the table, then create them again.")));
}

/*
 * Refuse what a conversion cannot carry over.  With extend, unique keys
 * that lack the partition column are announced (NOTICE) as widened by it
 * instead of refused.  citus: the table is a Citus table converted by
 * part_convert_citus(), which checks the rest itself.
 */
static void
check_convertible(Oid relid, const char *column, bool extend, bool citus)
{
	char	   *name = get_rel_name(relid);
	char	   *what;

	if (get_rel_relkind(relid) != RELKIND_RELATION || get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a plain table", name),
				 errdetail("Only ordinary tables that are not partitions can be converted.")));
	part_check_owner(relid);

	/*
	 * A Citus table is converted by part_convert_citus(), in the calling
	 * session with writes blocked: the capture trigger of the online
	 * conversion would have to run on the shards, on the workers, which
	 * Citus does not do.  One distributed since the call began lands here.
	 */
	if (!citus && pk_citus_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" became a Citus table while its conversion started", name),
				 errhint("Call perfkit.convert_to_partitioned() again: it converts a distributed table with writes blocked.")));
	if (has_subclass(relid) || has_superclass(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" takes part in inheritance", name)));
	if (get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", column, name)));
	if (get_attnum(relid, SRC_COLUMN) != InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("table \"%s\" has a column named \"%s\"", name, SRC_COLUMN)));

	what = query_text("SELECT c.relforcerowsecurity FROM pg_catalog.pg_class c WHERE c.oid = $1", relid);
	if (what != NULL && strcmp(what, "t") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" forces row-level security on its owner", name),
				 errdetail("The conversion reads the table as its owner, who would not see every row."),
				 errhint("Run ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, convert the table, then FORCE it again.")));
	/*
	 * The capture triggers and live views of perfkit rollups move to the
	 * partitioned table at the swap (perfkit._rollup_source_detach and
	 * _rollup_source_attach), as the table's owner, who must have the
	 * privileges of their owners (checked here, not only at the swap);
	 * user triggers are checked against the partitioned copy in
	 * conversion_setup (copy_triggers).
	 */
	(void) query_text("SELECT pg_catalog.count(*) FROM perfkit._rollup_source_views($1::pg_catalog.regclass)",
					  relid);
	/*
	 * Foreign keys of other tables: the swap drops the table they
	 * reference, and a key widened by the partition column could not serve
	 * them as they are.  Refused, listing every one.
	 */
	what = query_text("SELECT pg_catalog.string_agg(pg_catalog.format('%I on %s', c.conname, "
					  "c.conrelid::regclass), ', ' ORDER BY c.conrelid::regclass::text, c.conname) "
					  "FROM pg_catalog.pg_constraint c "
					  "WHERE c.confrelid = $1 AND c.contype = 'f' HAVING count(*) > 0", relid);
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign keys of other tables reference table \"%s\": %s", name, what),
				 errdetail("The swap drops the referenced table, and a unique key widened by the partition column could not serve them as they are."),
				 errhint("Drop those foreign keys, convert the table, then create them again (on a key that contains column \"%s\").",
						 column)));
	what = query_text("SELECT c.conname FROM pg_catalog.pg_constraint c "
					  "WHERE c.conrelid = $1 AND c.contype = 'x' LIMIT 1", relid);
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has exclusion constraint \"%s\"", name, what),
				 errdetail("PostgreSQL 15 does not support exclusion constraints on partitioned tables."),
				 errhint("Drop the constraint, convert the table, then enforce it on each partition.")));
	what = query_text("SELECT DISTINCT r.ev_class::regclass::text FROM pg_catalog.pg_depend d "
					  "JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
					  "WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass "
					  "AND d.refclassid = 'pg_catalog.pg_class'::regclass "
					  "AND d.refobjid = $1 AND r.ev_class <> $1 "
					  "AND r.ev_class NOT IN (SELECT v::pg_catalog.oid FROM perfkit._rollup_source_views($1::pg_catalog.regclass) v) "
					  "LIMIT 1", relid);
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("view \"%s\" depends on table \"%s\"", what, name),
				 errhint("Drop the views that use the table, convert it, then create them again.")));

	/*
	 * A NOT VALID check constraint is copied to the new table as a valid
	 * one, which every row copied must pass: a row that violates it would
	 * stop the copy for good.  Checked before anything starts (as the
	 * table's owner: the expression may call the owner's functions).
	 */
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];
		List	   *names = NIL;
		List	   *exprs = NIL;
		ListCell   *lc,
				   *lc2;
		uint64		n,
					i;

		values[0] = ObjectIdGetDatum(relid);
		n = part_exec("SELECT conname::text, pg_catalog.pg_get_expr(conbin, conrelid) "
					  "FROM pg_catalog.pg_constraint "
					  "WHERE conrelid = $1 AND contype = 'c' AND NOT convalidated ORDER BY oid",
					  1, argtypes, values, NULL, false);
		for (i = 0; i < n; i++)
		{
			names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			exprs = lappend(exprs, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		}
		forboth(lc, names, lc2, exprs)
		{
			if (part_exec(psprintf("SELECT 1 FROM ONLY %s WHERE NOT (%s) LIMIT 1",
								   qualified(relid), (char *) lfirst(lc2)),
						  0, NULL, NULL, NULL, false) > 0)
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("check constraint \"%s\" of table \"%s\" is violated by some row",
								(char *) lfirst(lc), name),
						 errdetail("The constraint is NOT VALID; the partitioned table would check it on every row copied."),
						 errhint("Fix those rows and run ALTER TABLE ... VALIDATE CONSTRAINT, or drop the constraint, then convert the table.")));
		}
	}
	/*
	 * Unique keys (constraints or indexes) whose key columns lack the
	 * partition column: a partitioned table cannot enforce them.  Refused,
	 * or with extend widened by that column (build_indexes).
	 */
	{
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2];
		uint64		n,
					i;

		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(column);
		n = part_exec("SELECT c.relname, coalesce(k.contype, 'i'), "
					  "(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY x.n) "
					  " FROM pg_catalog.unnest((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1]) "
					  " WITH ORDINALITY x(attnum, n) "
					  " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum), "
					  "i.indexprs IS NOT NULL "
					  "FROM pg_catalog.pg_index i "
					  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
					  "LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid "
					  "AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u') "
					  "WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND NOT EXISTS ("
					  " SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 "
					  " AND a.attname = $2 "
					  " AND a.attnum = ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1])) "
					  "ORDER BY i.indexrelid",
					  2, argtypes, values, NULL, false);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *idx = SPI_getvalue(tup, desc, 1);
			char	   *kind = SPI_getvalue(tup, desc, 2);
			char	   *keys = SPI_getvalue(tup, desc, 3);
			bool		isnull;
			bool		exprs = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			const char *what_key = kind[0] == 'p' ? "primary key" :
				kind[0] == 'u' ? "unique constraint" : "unique index";

			if (!extend)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("%s \"%s\" of table \"%s\" does not contain column \"%s\"",
								what_key, idx, name, column),
						 errdetail("A partitioned table can enforce only unique keys that contain the partition column."),
						 errhint("Call perfkit.convert_to_partitioned(..., unique_keys => 'extend') to add column \"%s\" to such keys "
								 "(values drawn from a sequence then stay unique by the sequence alone), "
								 "or replace the key by one that contains the column before converting.",
								 column)));
			if (exprs)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("unique index \"%s\" of table \"%s\" has expressions and does not contain column \"%s\"",
								idx, name, column),
						 errhint("Replace it by an index on (..., %s), then convert the table.",
								 quote_identifier(column))));
			ereport(NOTICE,
					(errmsg("%s \"%s\" of table \"%s\" becomes (%s, %s) on the partitioned table",
							what_key, idx, name, keys, quote_identifier(column)),
					 errdetail("No index then enforces that (%s) alone is unique: values a sequence or an identity draws stay unique, values written by hand may repeat at another %s.",
							   keys, quote_identifier(column))));
		}
	}
}

/* Setup: the new table, its partitions and the capture trigger. */
static void
conversion_setup(Oid relid, const char *column, const Interval *every, bool extend)
{
	char	   *name = get_rel_name(relid);
	Oid			nsp = get_rel_namespace(relid);
	char	   *nspname = get_namespace_name(nsp);
	char		newname[NAMEDATALEN];
	char	   *qold = qualified(relid);
	char	   *qnew;
	Oid			newrel;
	Oid			owner;
	PkTimeKey	key;
	int64		start = PK_TIME_MIN;
	int			len;
	uint64		n,
				i;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	check_convertible(relid, column, extend, false);
	part_key_init(&key, get_atttype(relid, get_attnum(relid, column)), every);

	/* Writers in flight finish first; new ones fire the trigger. */
	exec(psprintf("LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE", qold));

	len = pg_mbcliplen(name, strlen(name), NAMEDATALEN - 1 - strlen("_partitioned"));
	snprintf(newname, sizeof(newname), "%.*s_partitioned", len, name);
	if (OidIsValid(get_relname_relid(newname, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", newname),
				 errhint("convert_to_partitioned() creates the new table under that name while it runs.")));
	qnew = quote_qualified_identifier(nspname, newname);
	/* No indexes yet: they are built once the rows are in (build_indexes). */
	exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
				  "INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS "
				  "INCLUDING COMPRESSION INCLUDING STATISTICS, %s pg_catalog.tid) "
				  "PARTITION BY RANGE (%s)",
				  qnew, qold, SRC_COLUMN, quote_identifier(column)));
	newrel = get_relname_relid(newname, nsp);

	/* User triggers PostgreSQL refuses on a partitioned table: refused now. */
	copy_triggers(relid, newrel, true);

	/* Foreign keys to other tables. */
	{
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2];
		List	   *fks = NIL;
		ListCell   *lc;

		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(qnew);
		n = part_exec("SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2, conname, "
					  "pg_catalog.pg_get_constraintdef(oid)) FROM pg_catalog.pg_constraint "
					  "WHERE conrelid = $1 AND contype = 'f' ORDER BY oid",
					  2, argtypes, values, NULL, false);
		for (i = 0; i < n; i++)
			fks = lappend(fks, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		foreach(lc, fks)
			exec(lfirst(lc));
	}

	/* The owner of the old table owns the new one. */
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
		if (owner != GetUserId())
			exec(psprintf("ALTER TABLE %s OWNER TO %s", qnew,
						  quote_identifier(GetUserNameFromId(owner, false))));
	}

	/* Partitions from the oldest row's slot, and a default partition. */
	{
		const char *col = quote_identifier(column);
		Oid			argtypes[1] = {key.typid};
		Datum		values[1];
		bool		isnull;
		Datum		d;

		values[0] = part_to_datum(&key, PK_TIME_MIN);
		part_exec(psprintf("SELECT min(%s) FROM ONLY %s WHERE %s > $1", col, qold, col),
				  1, argtypes, values, NULL, false);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull && part_from_datum(&key, d) != PK_TIME_MAX)
			start = part_from_datum(&key, d);
	}
	(void) part_register_set(newrel, column, every, 4, NULL, start, true, false);

	/* Capture every write from now on. */
	exec(psprintf("CREATE TRIGGER __perfkit_convert AFTER INSERT OR UPDATE OR DELETE ON %s "
				  "FOR EACH ROW EXECUTE FUNCTION perfkit._convert_capture('%d')",
				  qold, (int) get_attnum(relid, column)));
	/* also under session_replication_role = replica (replication, restores) */
	exec(psprintf("ALTER TABLE ONLY %s ENABLE ALWAYS TRIGGER __perfkit_convert", qold));
	exec(psprintf("CREATE TRIGGER __perfkit_convert_truncate BEFORE TRUNCATE ON %s "
				  "FOR EACH STATEMENT EXECUTE FUNCTION perfkit._convert_capture()", qold));

	{
		Oid			argtypes[5] = {OIDOID, OIDOID, TEXTOID, INTERVALOID, TEXTOID};
		Datum		values[5];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = ObjectIdGetDatum(newrel);
		values[2] = CStringGetTextDatum(column);
		values[3] = IntervalPGetDatum(every);
		values[4] = CStringGetTextDatum(extend ? "extend" : "refuse");
		pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
		part_exec("INSERT INTO perfkit.conversions (\"table\", new_table, column_name, every, "
				  "relfilenode, phase, watermark, rows_copied, blocks_total, unique_keys) "
				  "SELECT $1::regclass, $2::regclass, $3, $4, c.relfilenode, 'loading', 0, 0, "
				  "pg_catalog.pg_relation_size($1::regclass) / "
				  "pg_catalog.current_setting('block_size')::bigint, $5 "
				  "FROM pg_catalog.pg_class c WHERE c.oid = $1",
				  5, argtypes, values, NULL, false);
		pk_as_owner_end(save_userid, save_sec, save_nest);
	}
}

/*
 * The parameters of the statements that find the copy's rows of synced
 * tids by partition key: $1 the tids, $2 and $3 the keys those rows had
 * and have now, each NULL when there is none.
 */
static void
synced_key_args(Datum tids, Datum old_keys, Datum cur_keys, Datum *args, char *nulls)
{
	args[0] = tids;
	args[1] = old_keys;
	args[2] = cur_keys;
	nulls[0] = ' ';
	nulls[1] = old_keys == (Datum) 0 ? 'n' : ' ';
	nulls[2] = cur_keys == (Datum) 0 ? 'n' : ' ';
}

/*
 * Run sql with the given snapshot (its command id advanced, so the
 * statement sees this transaction's earlier writes); the rows processed.
 */
static uint64
exec_snap(const char *sql, int nargs, Oid *argtypes, Datum *values,
		  const char *nulls, Snapshot snap)
{
	int			level = part_pin_search_path();
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, values, nulls, snap, InvalidSnapshot,
							  false, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_snapshot failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
	SPI_freeplan(plan);
	AtEOXact_GUC(false, level);
	return SPI_processed;
}

/* Copy blocks [from, to) (to < 0: to the end) of the old table into the new one. */
static int64
copy_blocks(ConvState *st, const char *cols, int64 from, int64 to, Snapshot snap)
{
	Oid			argtypes[2] = {TIDOID, TIDOID};
	Datum		values[2];
	ItemPointerData lo,
				hi;
	char		nulls[2] = {' ', ' '};

	ItemPointerSet(&lo, (BlockNumber) from, 0);
	values[0] = PointerGetDatum(&lo);
	if (to < 0)
		nulls[1] = 'n';
	else
	{
		ItemPointerSet(&hi, (BlockNumber) to, 0);
		values[1] = PointerGetDatum(&hi);
	}
	return (int64) exec_snap(psprintf("INSERT INTO %s (%s, %s) OVERRIDING SYSTEM VALUE "
									  "SELECT %s, ctid FROM ONLY %s "
									  "WHERE ctid >= $1 AND ($2 IS NULL OR ctid < $2)",
									  qualified(st->newrel), cols, SRC_COLUMN, cols,
									  qualified(st->relid)),
							 2, argtypes, values, nulls, snap);
}

/*
 * The key values logged by the capture trigger (bigint: a timestamp's or
 * timestamptz's int64, a date's day number) as an array of the key's type.
 */
static Datum
logged_keys(Datum arr, Oid keytype)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	deconstruct_array(DatumGetArrayTypeP(arr), INT8OID, 8, FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		int64		v = DatumGetInt64(elems[i]);

		elems[i] = keytype == DATEOID ? DateADTGetDatum((DateADT) v) : Int64GetDatum(v);
	}
	get_typlenbyvalalign(keytype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, keytype, typlen, typbyval, typalign));
}

/* What a checked sync of the log did (sync_log). */
typedef struct SyncCheck
{
	int64		new_from;		/* blocks from here must all be logged (-1: no check) */
	int64		inserted;		/* rows copied again */
	int64		deleted;		/* rows of the copy removed */
} SyncCheck;

static void check_new_blocks(ConvState *st, int64 new_from, Datum tids, Snapshot snap);

/*
 * Apply the logged writes to blocks below `below`: every row of the copy
 * that came from a logged tid goes, and the old table's current version at
 * that tid (if any) is copied again.
 *
 * The entries are taken as the extension's owner (ordinary roles may only
 * add to the log), in a statement of their own.  The sync and the copy of
 * the next blocks run on one snapshot (the caller's): a writer that
 * commits meanwhile has either all of its writes seen (its log entries and
 * its row versions together), or none; otherwise its new version could be
 * copied while the old one, still in the copy, is not removed yet: a
 * duplicate, for a moment, that a unique key would refuse.
 *
 * Finding the copy's rows from a tid: each was copied from a version that
 * is either the current one at that tid or one a later write replaced,
 * which the trigger logged with its key.  So one DELETE with "key = ANY
 * (those keys) AND origin = ANY (those tids)" finds them all, pruned to
 * the partitions of those keys and using an index on the key when the
 * table has one (else the origin's summary index).  Tids whose key is not
 * known (NULL, or logged by a trigger from before keys were logged) are
 * searched in every partition.
 *
 * With check (after the snapshot check, verify_snapshot), what was synced
 * is checked: the table's rows at the tids synced and the copy's rows
 * from them have the same count and checksum, origins included; and, when
 * check->new_from is set (the swap, which syncs every entry instead of
 * copying the blocks added since the snapshot check), every row of those
 * blocks was logged.  The counts of rows removed and copied are returned
 * in check.
 */
static int64
sync_log(ConvState *st, const char *cols, int64 below, Snapshot snap, SyncCheck *check)
{
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		values[2];
	Oid			tidarr[1] = {TIDARRAYOID};
	Oid			keytype = get_atttype(st->relid, get_attnum(st->relid, st->column));
	Oid			keyarrtype = get_array_type(keytype);
	const char *col = quote_identifier(st->column);
	bool		isnull;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	int			nestlevel;
	Datum		tids;
	Datum		old_keys = (Datum) 0;
	Datum		cur_keys = (Datum) 0;
	Datum		unknown[2] = {(Datum) 0, (Datum) 0};
	int64		deleted = 0;
	uint64		n;

	if (check != NULL)
		check->inserted = check->deleted = 0;
	values[0] = ObjectIdGetDatum(st->relid);
	values[1] = Int64GetDatum(below < 0 ? PG_INT64_MAX : below);
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	exec_snap("WITH e AS (DELETE FROM perfkit.convert_log WHERE relid OPERATOR(pg_catalog.=) $1 AND blk < $2 "
			  "RETURNING src, old, key) "
			  "SELECT array_agg(DISTINCT src), "
			  "array_agg(DISTINCT key) FILTER (WHERE old AND key IS NOT NULL), "
			  "array_agg(DISTINCT src) FILTER (WHERE old AND key IS NULL) FROM e",
			  2, argtypes, values, NULL, snap);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	tids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		if (check != NULL && check->new_from >= 0)
			check_new_blocks(st, check->new_from, (Datum) 0, snap);
		return 0;
	}
	tids = datumCopy(tids, false, -1);
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (!isnull)
			old_keys = logged_keys(d, keytype);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
			unknown[0] = datumCopy(d, false, -1);
	}
	if (check != NULL && check->new_from >= 0)
		check_new_blocks(st, check->new_from, tids, snap);

	/* The current versions' keys, and the tids whose current key is NULL. */
	n = exec_snap(psprintf("SELECT array_agg(DISTINCT o.k) FILTER (WHERE o.k IS NOT NULL), "
						   "array_agg(u.t) FILTER (WHERE o.k IS NULL) "
						   "FROM unnest($1) u(t) "
						   "JOIN LATERAL (SELECT %s AS k FROM ONLY %s WHERE ctid = u.t) o ON true",
						   col, qualified(st->relid)),
				  1, tidarr, &tids, NULL, snap);
	if (n > 0)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			cur_keys = datumCopy(d, false, -1);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
			unknown[1] = datumCopy(d, false, -1);
	}

	/*
	 * Without statistics on partitions just filled the planner would rather
	 * scan them than use an index: sequential scans are off for these.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	values[0] = ObjectIdGetDatum(st->newrel);
	exec_snap("SELECT count(pg_catalog.brin_summarize_new_values(i.indexrelid::regclass)) "
			  "FROM pg_catalog.pg_inherits h "
			  "JOIN pg_catalog.pg_index i ON i.indrelid = h.inhrelid "
			  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
			  "JOIN pg_catalog.pg_am a ON a.oid = c.relam "
			  "WHERE h.inhparent = $1 AND a.amname = 'brin'",
			  1, argtypes, values, NULL, snap);
	if (old_keys != (Datum) 0 || cur_keys != (Datum) 0)
	{
		Oid			types[3] = {TIDARRAYOID, keyarrtype, keyarrtype};
		Datum		args[3];
		char		nulls[3];

		synced_key_args(tids, old_keys, cur_keys, args, nulls);
		deleted += exec_snap(psprintf("DELETE FROM %s WHERE %s = ANY (pg_catalog.array_cat($2, $3)) "
									  "AND %s = ANY ($1)",
									  qualified(st->newrel), col, SRC_COLUMN),
							 3, types, args, nulls, snap);
	}
	if (unknown[0] != (Datum) 0 || unknown[1] != (Datum) 0)
	{
		Oid			types[2] = {TIDARRAYOID, TIDARRAYOID};
		char		nulls[2];

		nulls[0] = unknown[0] == (Datum) 0 ? 'n' : ' ';
		nulls[1] = unknown[1] == (Datum) 0 ? 'n' : ' ';
		deleted += exec_snap(psprintf("DELETE FROM %s WHERE %s = ANY (pg_catalog.array_cat($1, $2))",
									  qualified(st->newrel), SRC_COLUMN),
							 2, types, unknown, nulls, snap);
	}

	n = exec_snap(psprintf("INSERT INTO %s (%s, %s) OVERRIDING SYSTEM VALUE "
						   "SELECT %s, ctid FROM ONLY %s WHERE ctid = ANY ($1)",
						   qualified(st->newrel), cols, SRC_COLUMN, cols,
						   qualified(st->relid)),
				  1, tidarr, &tids, NULL, snap);

	/*
	 * The check: the table's rows at the tids synced, and the copy's rows
	 * from those tids (found as the DELETE finds them, which is what is
	 * checked), have the same count and checksum, origins included.
	 */
	if (check != NULL)
	{
		int			ncols = list_length(copy_columns(st->relid));
		int64		rows_old = 0,
					rows_new = 0;
		uint64		sum_old = 0,
					sum_new = 0;
		uint64		m;

		check->inserted = (int64) n;
		check->deleted = deleted;
		m = exec_snap(psprintf("SELECT %s, ctid FROM ONLY %s WHERE ctid = ANY ($1)",
							   cols, qualified(st->relid)),
					  1, tidarr, &tids, NULL, snap);
		part_rows_checksum(SPI_tuptable, m, ncols, &rows_old, &sum_old);
		if (old_keys != (Datum) 0 || cur_keys != (Datum) 0)
		{
			Oid			types[3] = {TIDARRAYOID, keyarrtype, keyarrtype};
			Datum		args[3];
			char		nulls[3];

			synced_key_args(tids, old_keys, cur_keys, args, nulls);
			m = exec_snap(psprintf("SELECT %s, %s FROM %s WHERE %s = ANY (pg_catalog.array_cat($2, $3)) "
								   "AND %s = ANY ($1)",
								   cols, SRC_COLUMN, qualified(st->newrel), col, SRC_COLUMN),
						  3, types, args, nulls, snap);
			part_rows_checksum(SPI_tuptable, m, ncols, &rows_new, &sum_new);
		}
		if (unknown[0] != (Datum) 0 || unknown[1] != (Datum) 0)
		{
			Oid			types[4] = {TIDARRAYOID, TIDARRAYOID, keyarrtype, keyarrtype};
			Datum		args[4];
			char		nulls[4];

			args[0] = unknown[0];
			args[1] = unknown[1];
			args[2] = old_keys;
			args[3] = cur_keys;
			nulls[0] = unknown[0] == (Datum) 0 ? 'n' : ' ';
			nulls[1] = unknown[1] == (Datum) 0 ? 'n' : ' ';
			nulls[2] = old_keys == (Datum) 0 ? 'n' : ' ';
			nulls[3] = cur_keys == (Datum) 0 ? 'n' : ' ';
			/* those the query above did not find */
			m = exec_snap(psprintf("SELECT %s, %s FROM %s WHERE %s = ANY (pg_catalog.array_cat($1, $2)) "
								   "AND (%s IS NULL OR NOT coalesce(%s = ANY (pg_catalog.array_cat($3, $4)), false))",
								   cols, SRC_COLUMN, qualified(st->newrel), SRC_COLUMN, col, col),
						  4, types, args, nulls, snap);
			part_rows_checksum(SPI_tuptable, m, ncols, &rows_new, &sum_new);
		}
		if (rows_old != rows_new || sum_old != sum_new)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the converted copy of table \"%s\" does not match it",
							get_rel_name(st->relid)),
					 errdetail("At the tids written since the last check, the table has %lld rows with checksum %016llx; the copy %lld rows with checksum %016llx.",
							   (long long) rows_old, (unsigned long long) sum_old,
							   (long long) rows_new, (unsigned long long) sum_new),
					 errhint("The table is unchanged.  Call perfkit.convert_to_partitioned_abort() and start over.")));
	}
	AtEOXact_GUC(true, nestlevel);
	return (int64) n;
}

/*
 * Every row of the table in blocks from new_from on is in the log (tids,
 * an array, or 0 for none): those blocks were added after the snapshot
 * check, so each of their rows was written since and must have been
 * logged.  A row that was not means that a write escaped the capture
 * trigger: refused rather than lost.
 */
static void
check_new_blocks(ConvState *st, int64 new_from, Datum tids, Snapshot snap)
{
	Oid			types[2] = {TIDOID, TIDARRAYOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	ItemPointerData lo;
	bool		isnull;
	int64		missed;

	ItemPointerSet(&lo, (BlockNumber) new_from, 0);
	args[0] = PointerGetDatum(&lo);
	args[1] = tids;
	if (tids == (Datum) 0)
		nulls[1] = 'n';
	exec_snap(psprintf("SELECT count(*) FROM ONLY %s WHERE ctid >= $1 "
					   "AND NOT coalesce(ctid = ANY ($2), false)", qualified(st->relid)),
			  2, types, args, nulls, snap);
	missed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (missed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%lld rows written to table \"%s\" during its conversion were not captured",
						(long long) missed, get_rel_name(st->relid)),
				 errdetail("Its capture trigger __perfkit_convert did not fire for them."),
				 errhint("The table is unchanged.  Call perfkit.convert_to_partitioned_abort() and start over.")));
}

static void
check_not_rewritten(ConvState *st)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(st->relid));
	Oid			filenode = ((Form_pg_class) GETSTRUCT(tup))->relfilenode;

	ReleaseSysCache(tup);
	if (filenode != st->relfilenode)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was rewritten while it was being converted",
						get_rel_name(st->relid)),
				 errhint("Call perfkit.convert_to_partitioned_abort() and start over.")));
}

static BlockNumber
nblocks(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	BlockNumber n = RelationGetNumberOfBlocks(rel);

	relation_close(rel, AccessShareLock);
	return n;
}

/*
 * def with ", column" added at the end of its first parenthesized list at
 * or after offset from: the key columns of "PRIMARY KEY (...)", "UNIQUE
 * [NULLS NOT DISTINCT] (...) [INCLUDE (...)]" or "btree (...) [INCLUDE
 * (...)] [WHERE ...]" as pg_get_constraintdef() and pg_get_indexdef()
 * write them (quoted identifiers and literals skipped over).
 */
static char *
widen_key_list(const char *def, int from, const char *column)
{
	const char *p = def + from;
	int			depth = 0;

	while (*p && *p != '(')
		p++;
	for (; *p; p++)
	{
		if (*p == '"' || *p == '\'')
		{
			char		q = *p;

			for (p++; *p && (*p != q || p[1] == q); p++)
				if (*p == q)
					p++;
			if (!*p)
				break;
			continue;
		}
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return psprintf("%.*s, %s%s", (int) (p - def), def,
							quote_identifier(column), p);
	}
	elog(ERROR, "unexpected key definition: %s", def);
	return NULL;				/* keep compiler quiet */
}

/*
 * The statements that make relid's indexes on newrel, in their creation
 * order (the swap pairs their names by that order): those that back a
 * constraint (primary key, unique) as that constraint, and with extend
 * the unique ones that lack column widened by it.
 */
static List *
index_statements(Oid relid, Oid newrel, const char *column, bool extend)
{
	char	   *qold = qualified(relid);
	char	   *qnew = qualified(newrel);
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	List	   *stmts = NIL;
	uint64		n,
				i;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum(get_attnum(relid, column));
	n = part_exec("SELECT c.relname, i.indisunique, k.oid IS NOT NULL, "
				  "pg_catalog.pg_get_indexdef(i.indexrelid), pg_catalog.pg_get_constraintdef(k.oid), "
				  "$2 = ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1]) "
				  "FROM pg_catalog.pg_index i "
				  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
				  "LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid "
				  "AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x') "
				  "WHERE i.indrelid = $1 AND i.indisvalid ORDER BY i.indexrelid",
				  2, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *idxname = SPI_getvalue(tup, desc, 1);
		bool		unique = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		bool		constraint = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		char	   *def = SPI_getvalue(tup, desc, 4);
		bool		widen = extend &&
			!DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		char	   *prefix;

		if (constraint)
		{
			char	   *cdef = SPI_getvalue(tup, desc, 5);

			if (unique && widen)
				cdef = widen_key_list(cdef, 0, column);
			stmts = lappend(stmts, psprintf("ALTER TABLE %s ADD %s", qnew, cdef));
			continue;
		}

		/*
		 * pg_get_indexdef() writes "CREATE [UNIQUE ]INDEX name ON
		 * schema.table USING ...": the same definition on the copy is
		 * what follows the table's name.
		 */
		prefix = psprintf("CREATE %sINDEX %s ON %s USING ", unique ? "UNIQUE " : "",
						  quote_identifier(idxname), qold);
		if (strncmp(def, prefix, strlen(prefix)) != 0)
			elog(ERROR, "unexpected definition of index \"%s\": %s", idxname, def);
		def = def + strlen(prefix);
		if (unique && widen)
			def = widen_key_list(def, 0, column);
		stmts = lappend(stmts, psprintf("CREATE %sINDEX ON %s USING %s", unique ? "UNIQUE " : "",
										qnew, def));
	}
	return stmts;
}

/*
 * Index the copy, once every row of the table has been copied once: the
 * summary index on the origin tid first (when needed), then the writes
 * logged so far are synced (the copy is then the table as of one
 * snapshot, over the blocks copied, so a unique index can be built on
 * it), then the table's
 * own indexes, in their creation order (the swap pairs their names by that
 * order), each built in one pass over the rows instead of an entry per
 * row as they are copied.  Indexes that back a constraint (primary key,
 * unique) are made as that constraint.
 */
static void
build_indexes(ConvState *st, const char *cols)
{
	char	   *qnew = qualified(st->newrel);
	List	   *stmts;
	ListCell   *lc;
	bool		has_key_index;

	/*
	 * The sync finds the copy's rows from a tid by their key: with an index
	 * that leads with the key (built below), that is an index probe; without
	 * one, a summary index on the origin tid narrows the scan.
	 */
	{
		Oid			keyargs[2] = {OIDOID, INT2OID};
		Datum		keyvals[2];

		keyvals[0] = ObjectIdGetDatum(st->relid);
		keyvals[1] = Int16GetDatum(get_attnum(st->relid, st->column));
		has_key_index = part_exec("SELECT FROM pg_catalog.pg_index i "
								  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
								  "JOIN pg_catalog.pg_am a ON a.oid = c.relam "
								  "WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NULL "
								  "AND i.indkey[0] = $2 AND a.amname IN ('btree', 'hash')",
								  2, keyargs, keyvals, NULL, false) > 0;
	}
	if (!has_key_index)
		exec(psprintf("CREATE INDEX ON %s USING brin (%s) WITH (pages_per_range = 8)",
					  qnew, SRC_COLUMN));
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

		(void) sync_log(st, cols, st->watermark, snap, NULL);
		UnregisterSnapshot(snap);
	}

	stmts = index_statements(st->relid, st->newrel, st->column, st->extend);
	foreach(lc, stmts)
		exec(lfirst(lc));
	st->loading = false;
	state_save(st);
}

/*
 * The capture trigger's pg_trigger row, as "xmin enabled" (NULL when it is
 * gone): any change to the trigger (DISABLE, ENABLE, ...) writes a new row
 * version, with a new xmin.
 */
static char *
capture_trigger_stamp(Oid relid)
{
	return query_text("SELECT t.xmin::text || ' ' || t.tgenabled::text FROM pg_catalog.pg_trigger t "
					  "WHERE t.tgrelid = $1 AND t.tgname = '__perfkit_convert'", relid);
}

/*
 * Count and checksum both tables on snap (which must see this
 * transaction's writes to the copy), origins included: refuse if they
 * differ, else return the count.
 */
static int64
verify_full(ConvState *st, Snapshot snap)
{
	List	   *sumcols = copy_columns(st->relid);
	int64		count_old,
				count_new;
	uint64		sum_old,
				sum_new;

	part_rel_checksum(st->relid, sumcols, NULL, snap, &count_old, &sum_old);
	part_rel_checksum(st->newrel, sumcols, SRC_COLUMN, snap, &count_new, &sum_new);
	if (count_old != count_new || sum_old != sum_new)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the converted copy of table \"%s\" does not match it",
						get_rel_name(st->relid)),
				 errdetail("The table has %lld rows with checksum %016llx; the copy %lld rows with checksum %016llx.",
						   (long long) count_old, (unsigned long long) sum_old,
						   (long long) count_new, (unsigned long long) sum_new),
				 errhint("The table is unchanged.  Call perfkit.convert_to_partitioned_abort() and start over.")));
	return count_new;
}

/*
 * The check before the swap, without blocking writers (one transaction,
 * the caller commits it): on one snapshot, sync the log of the blocks
 * copied and copy the blocks added since (read after the snapshot is
 * taken, so that every row it sees is in a block below the new
 * watermark), then count and checksum both tables on that snapshot, with
 * this transaction's writes to the copy.  Every write the snapshot does
 * not see is still in the log (its entries are no more visible than its
 * rows), and every row in a block from the new watermark on was written
 * after it: the swap has only the log to apply and check.  What the
 * capture trigger's catalog row was is noted, for the swap to see that
 * nothing disabled it meanwhile.
 */
static void
verify_snapshot(ConvState *st, const char *cols)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	BlockNumber total = nblocks(st->relid);
	MemoryContext mcxt = GetMemoryChunkContext(st);
	char	   *stamp;

	check_not_rewritten(st);
	stamp = capture_trigger_stamp(st->relid);
	(void) sync_log(st, cols, st->watermark, snap, NULL);
	if ((int64) total > st->watermark)
		st->rows_copied += copy_blocks(st, cols, st->watermark, total, snap);
	st->watermark = Max(st->watermark, (int64) total);
	CommandCounterIncrement();
	PushCopiedSnapshot(snap);
	UpdateActiveSnapshotCommandId();
	st->verified_rows = verify_full(st, GetActiveSnapshot());
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	/* only an ALWAYS trigger logs every write (session_replication_role) */
	if (stamp != NULL && strlen(stamp) > 2 && strcmp(stamp + strlen(stamp) - 2, " A") == 0)
		st->trigger_stamp = MemoryContextStrdup(mcxt, stamp);
	else
		st->trigger_stamp = NULL;
	st->verified = true;
	state_save(st);
}

/*
 * Rename the indexes of partition partoid to the names PostgreSQL gives
 * the indexes it makes on a partition of a partitioned table (what
 * ChooseIndexName() in indexcmds.c does): the partition's name, its
 * columns ("expr" for an expression, numbered when repeated) joined by
 * "_", and "pkey", "key" (unique constraint), "excl" or "idx", numbered
 * when taken.  The copy's partitions got their index names while they
 * still had the copy's name.
 */
static void
rename_partition_indexes(Oid partoid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	Oid			nsp = get_rel_namespace(partoid);
	char	   *partname = get_rel_name(partoid);
	List	   *renames = NIL;
	ListCell   *lc;
	uint64		n,
				i;

	values[0] = ObjectIdGetDatum(partoid);
	n = part_exec("SELECT i.indexrelid, c.relname, coalesce(k.contype, 'i'), "
				  "(SELECT pg_catalog.array_agg(coalesce(a.attname::text, 'expr') ORDER BY x.n) "
				  " FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY x(attnum, n) "
				  " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid "
				  " AND a.attnum = x.attnum AND x.attnum > 0) "
				  "FROM pg_catalog.pg_index i "
				  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
				  "LEFT JOIN pg_catalog.pg_constraint k ON k.conindid = i.indexrelid "
				  "AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x') "
				  "WHERE i.indrelid = $1 ORDER BY i.indexrelid",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			idx = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		char		kind = SPI_getvalue(tup, desc, 3)[0];
		Datum		arr = SPI_getbinval(tup, desc, 4, &isnull);
		List	   *cols = NIL;
		StringInfoData addition;
		const char *label;
		char	   *newname;

		/* the column names, each made unique as ChooseIndexColumnNames() does */
		if (!isnull)
		{
			Datum	   *elems;
			int			nelems;
			int			j;

			deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, NULL, &nelems);
			for (j = 0; j < nelems; j++)
			{
				char	   *orig = TextDatumGetCString(elems[j]);
				char	   *name = orig;
				int			k = 0;
				bool		taken;

				do
				{
					ListCell   *lc2;

					taken = false;
					foreach(lc2, cols)
						if (strcmp(lfirst(lc2), name) == 0)
							taken = true;
					if (taken)
						name = psprintf("%s%d", orig, ++k);
				} while (taken);
				cols = lappend(cols, name);
			}
		}
		initStringInfo(&addition);
		foreach(lc, cols)
		{
			if (addition.len > 0)
				appendStringInfoChar(&addition, '_');
			appendStringInfoString(&addition, lfirst(lc));
			if (addition.len >= NAMEDATALEN)
				break;
		}
		label = kind == 'p' ? "pkey" : kind == 'u' ? "key" : kind == 'x' ? "excl" : "idx";
		if (strcmp(SPI_getvalue(tup, desc, 2),
				   makeObjectName(partname, kind == 'p' ? NULL : addition.data, label)) == 0)
			continue;
		newname = ChooseRelationName(partname, kind == 'p' ? NULL : addition.data, label,
									 nsp, kind != 'i');
		renames = lappend(renames,
						  psprintf("ALTER INDEX %s RENAME TO %s", qualified(idx),
								   quote_identifier(newname)));
	}
	foreach(lc, renames)
		exec(lfirst(lc));
}

/*
 * Carry relid's sequences (serial ones change owner, identity ones
 * continue from relid's value), grants, comment and row-level security
 * over to newrel.
 */
static void
carry_over(Oid relid, Oid newrel)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	List	   *stmts = NIL;
	ListCell   *lc;
	uint64		n,
				i;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(newrel);
	n = part_exec("SELECT format('ALTER SEQUENCE %s OWNED BY %s.%I', d.objid::regclass, "
				  "$2::regclass, a.attname) "
				  "FROM pg_catalog.pg_depend d "
				  "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
				  "JOIN pg_catalog.pg_attribute a "
				  "ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
				  "WHERE d.classid = 'pg_catalog.pg_class'::regclass "
				  "AND d.refclassid = 'pg_catalog.pg_class'::regclass "
				  "AND d.refobjid = $1 AND d.deptype = 'a' "
				  "UNION ALL "
				  "SELECT format('SELECT pg_catalog.setval(%L, last_value, is_called) FROM %s', "
				  "pg_catalog.pg_get_serial_sequence($2::regclass::text, a.attname), "
				  "pg_catalog.pg_get_serial_sequence($1::regclass::text, a.attname)) "
				  "FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attidentity <> '' "
				  "AND NOT a.attisdropped "
				  "UNION ALL "
				  "SELECT format('GRANT %s ON %s TO %s%s', x.privilege_type, $2::regclass, "
				  "CASE WHEN x.grantee = 0 THEN 'PUBLIC' "
				  "ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END, "
				  "CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
				  "FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x "
				  "WHERE c.oid = $1 AND x.grantee <> c.relowner "
				  "UNION ALL "
				  "SELECT format('COMMENT ON TABLE %s IS %L', $2::regclass, d) "
				  "FROM pg_catalog.obj_description($1, 'pg_class') d WHERE d IS NOT NULL "
				  "UNION ALL "
				  "SELECT format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, "
				  "$2::regclass, CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, "
				  "CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' "
				  "WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, "
				  "(SELECT pg_catalog.string_agg(CASE WHEN r.r = 0 THEN 'PUBLIC' "
				  "ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.r)) END, ', ' "
				  "ORDER BY r.n) FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY r(r, n)), "
				  "' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')', "
				  "' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')') "
				  "FROM pg_catalog.pg_policy p WHERE p.polrelid = $1 "
				  "UNION ALL "
				  "SELECT format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', $2::regclass) "
				  "FROM pg_catalog.pg_class c WHERE c.oid = $1 AND c.relrowsecurity "
				  "UNION ALL "
				  "SELECT format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', $2::regclass) "
				  "FROM pg_catalog.pg_class c WHERE c.oid = $1 AND c.relforcerowsecurity",
				  2, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
		stmts = lappend(stmts, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, stmts)
		exec(lfirst(lc));

}

/*
 * The names of relid's indexes and the qualified names of newrel's, both
 * in creation order (LIKE and index_statements() make them in Oid order),
 * for rename_as_old() to pair.
 */
static void
index_names(Oid relid, Oid newrel, List **old_indexes, List **new_indexes)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		n,
				i;

	*old_indexes = *new_indexes = NIL;
	values[0] = ObjectIdGetDatum(relid);
	n = part_exec("SELECT c.relname FROM pg_catalog.pg_index i "
				  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
				  "WHERE i.indrelid = $1 AND i.indisvalid ORDER BY i.indexrelid",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
		*old_indexes = lappend(*old_indexes, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	values[0] = ObjectIdGetDatum(newrel);
	n = part_exec("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
				  "FROM pg_catalog.pg_index i "
				  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
				  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				  "WHERE i.indrelid = $1 ORDER BY i.indexrelid",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
		*new_indexes = lappend(*new_indexes, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

}

/*
 * newrel, once the old table is dropped, takes its name (name), its
 * indexes' names (paired in creation order), and its partitions the
 * names perfkit gives partitions of a table so named.
 */
static void
rename_as_old(Oid newrel, const char *name, List *old_indexes, List *new_indexes)
{
	char	   *qnew = qualified(newrel);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	ListCell   *lc,
			   *lc2;
	uint64		n,
				i;
	PkSet	   *set;
	Oid			default_oid;
	List	   *ranges;

	exec(psprintf("ALTER TABLE %s RENAME TO %s", qnew, quote_identifier(name)));

	/*
	 * Identity sequences were made for the copy (LIKE ... INCLUDING
	 * IDENTITY) under its name: they take the name the table's own had
	 * (table_column_seq, as PostgreSQL chooses it).  Serial sequences are
	 * the table's own, handed over above.
	 */
	{
		List	   *seqs = NIL;
		List	   *atts = NIL;
		ListCell   *lc3;

		values[0] = ObjectIdGetDatum(newrel);
		n = part_exec("SELECT pg_catalog.pg_get_serial_sequence($1::regclass::text, a.attname), "
					  "a.attname::text, s.relname::text "
					  "FROM pg_catalog.pg_attribute a "
					  "JOIN pg_catalog.pg_class s "
					  "ON s.oid = pg_catalog.pg_get_serial_sequence($1::regclass::text, a.attname)::regclass "
					  "WHERE a.attrelid = $1 AND a.attidentity <> '' AND NOT a.attisdropped",
					  1, argtypes, values, NULL, false);
		for (i = 0; i < n; i++)
		{
			char	   *att = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			if (strcmp(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3),
					   makeObjectName(name, att, "seq")) == 0)
				continue;
			seqs = lappend(seqs, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			atts = lappend(atts, att);
		}
		forboth(lc, seqs, lc3, atts)
			exec(psprintf("ALTER SEQUENCE %s RENAME TO %s", (char *) lfirst(lc),
						  quote_identifier(ChooseRelationName(name, lfirst(lc3), "seq",
															  get_rel_namespace(newrel), false))));
	}
	if (list_length(old_indexes) == list_length(new_indexes))
		forboth(lc, old_indexes, lc2, new_indexes)
			exec(psprintf("ALTER INDEX %s RENAME TO %s", (char *) lfirst(lc2),
						  quote_identifier((char *) lfirst(lc))));

	/* Partition names follow the table's. */
	set = part_set_load(newrel, false);
	ranges = part_layout_read(set, &default_oid);
	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);

		exec(psprintf("ALTER TABLE %s RENAME TO %s", qualified(r->relid),
					  quote_identifier(part_partition_name(set, r->lower))));
		rename_partition_indexes(r->relid);
	}
	if (OidIsValid(default_oid))
	{
		char		dname[NAMEDATALEN];
		int			len = pg_mbcliplen(name, strlen(name), NAMEDATALEN - 1 - strlen("_default"));

		snprintf(dname, sizeof(dname), "%.*s_default", len, name);
		exec(psprintf("ALTER TABLE %s RENAME TO %s", qualified(default_oid),
					  quote_identifier(dname)));
		rename_partition_indexes(default_oid);
	}

}

/*
 * The swap; errors propagate (the caller runs it in a subtransaction).
 * The rows copied again go in *copied; st is left as it was (a lock not
 * granted in time rolls the swap back, and it is tried again).
 */
static int64
conversion_swap(ConvState *st, const char *cols, int64 *copied)
{
	Oid			relid = st->relid;
	Oid			newrel = st->newrel;
	char	   *name = pstrdup(get_rel_name(relid));
	char	   *qold = qualified(relid);
	char	   *qnew = qualified(newrel);
	int64		count_new;
	List	   *old_indexes = NIL;
	List	   *new_indexes = NIL;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];

	exec(psprintf("LOCK TABLE ONLY %s IN EXCLUSIVE MODE", qold));
	check_not_rewritten(st);

	/*
	 * Writers are done.  The copy was checked equal to the table on a
	 * snapshot (verify_snapshot), and every write since is in the log,
	 * blocks added since included: syncing every entry, checked, makes the
	 * copy equal to the table as it is now, at the cost of those writes
	 * only.  Unless the capture trigger was changed since the check
	 * (disabled, even for a moment): then the blocks not copied are copied
	 * and both tables counted and checksummed in full, under the lock.
	 */
	Assert(st->verified);
	if (capture_trigger_stamp(relid) != NULL && st->trigger_stamp != NULL &&
		strcmp(capture_trigger_stamp(relid), st->trigger_stamp) == 0)
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
		SyncCheck	check;

		check.new_from = st->watermark;
		(void) sync_log(st, cols, -1, snap, &check);
		UnregisterSnapshot(snap);
		*copied = check.inserted;
		count_new = st->verified_rows + check.inserted - check.deleted;
	}
	else
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

		ereport(NOTICE,
				(errmsg("converting table \"%s\": its capture trigger changed since the copy was checked, checking every row under the lock",
						name)));
		(void) sync_log(st, cols, st->watermark, snap, NULL);
		*copied = copy_blocks(st, cols, st->watermark, -1, snap);
		UnregisterSnapshot(snap);
		CommandCounterIncrement();
		snap = RegisterSnapshot(GetLatestSnapshot());
		count_new = verify_full(st, snap);
		UnregisterSnapshot(snap);
	}

	exec(psprintf("LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE", qold));
	exec(psprintf("DROP TRIGGER __perfkit_convert ON %s", qold));
	exec(psprintf("DROP TRIGGER __perfkit_convert_truncate ON %s", qold));
	exec(psprintf("ALTER TABLE %s DROP COLUMN %s", qnew, SRC_COLUMN));
	/* the user's triggers, from now on only */
	copy_triggers(relid, newrel, false);

	carry_over(relid, newrel);
	index_names(relid, newrel, &old_indexes, &new_indexes);

	/* The state goes with the old table. */
	{
		Oid			save_userid;
		int			save_sec;
		int			save_nest;

		values[0] = ObjectIdGetDatum(relid);
		pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
		part_exec("DELETE FROM perfkit.conversions WHERE \"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
				  1, argtypes, values, NULL, false);
		part_exec("DELETE FROM perfkit.convert_log WHERE relid OPERATOR(pg_catalog.=) $1",
				  1, argtypes, values, NULL, false);
		pk_as_owner_end(save_userid, save_sec, save_nest);
	}

	/*
	 * Rollups reading the table: their capture triggers and live views go
	 * with it (the triggers logged every write up to our lock), to be made
	 * again on the partitioned table at the end.
	 */
	values[0] = ObjectIdGetDatum(relid);
	part_exec("SELECT perfkit._rollup_source_detach($1::pg_catalog.regclass)",
			  1, argtypes, values, NULL, false);
	exec(psprintf("DROP TABLE %s", qold));
	rename_as_old(newrel, name, old_indexes, new_indexes);

	/*
	 * The rollups read the partitioned table now, with capture triggers on
	 * each of its tables.  Nothing is logged for the rows: the copy holds
	 * exactly the rows their state and pending changes account for.
	 */
	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(newrel);
	part_exec("SELECT perfkit._rollup_source_attach($1, $2::pg_catalog.regclass)",
			  2, argtypes, values, NULL, false);
	return count_new;
}

/* The arguments and the result of one try of the swap. */
typedef struct SwapTry
{
	ConvState  *st;
	const char *cols;
	int64		rows;
	int64		copied;
} SwapTry;

static void
swap_fn(void *arg)
{
	SwapTry    *t = (SwapTry *) arg;

	t->rows = conversion_swap(t->st, t->cols, &t->copied);
}

/*
 * The swap in a subtransaction with lock_timeout
 * perfkit.partition_lock_timeout (pk_try_subxact, src/util/subxact.c):
 * false when a lock was not granted in time (other errors propagate).
 */
static bool
try_swap(ConvState *st, const char *cols, int64 *rows)
{
	SwapTry		t;

	t.st = st;
	t.cols = cols;
	t.rows = 0;
	t.copied = 0;
	if (pk_try_subxact(perfkit_partition_lock_timeout, swap_fn, &t,
					   NULL, NULL) != PK_TRY_OK)
		return false;
	*rows = t.rows;
	st->rows_copied += t.copied;
	return true;
}

/*
 * The conversion's SQL runs as the table's owner in a security-restricted
 * operation, whoever called (a superuser included), one transaction at a
 * time: conv_owner_enter() after a transaction starts, conv_owner_leave()
 * before it commits (the commit then runs as the caller, as does firing
 * deferred triggers; the settings the owner's code changed are rolled
 * back).  The owner is kept by Oid: the table is gone after the swap.
 */
static Oid	conv_owner = InvalidOid;
static PkOwnerSave conv_save;
static bool conv_entered = false;
static bool conv_async_commit = false;

static void
conv_owner_enter(void)
{
	Assert(!conv_entered);
	GetUserIdAndSecContext(&conv_save.userid, &conv_save.sec);
	SetUserIdAndSecContext(conv_owner, conv_save.sec | SECURITY_RESTRICTED_OPERATION);
	conv_save.nestlevel = NewGUCNestLevel();
	conv_entered = true;
}

static void
conv_owner_leave(void)
{
	if (!conv_entered)
		return;
	AtEOXact_GUC(false, conv_save.nestlevel);
	SetUserIdAndSecContext(conv_save.userid, conv_save.sec);
	conv_entered = false;
}

/*
 * Commit the work so far and go on in a new transaction, with a new SPI
 * connection (memory that must survive lives in the conversion's own
 * context).  The worker runs the conversion with a snapshot pushed, as
 * SPI wants one outside a portal; each transaction gets its own.
 */
static void
conv_commit(void)
{
	SPI_finish();
	conv_owner_leave();

	/*
	 * A batch's commit need not wait for its WAL to reach disk: a batch
	 * lost in a crash loses its watermark with it, and is copied again.
	 */
	if (conv_async_commit)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	conv_async_commit = false;
	PopActiveSnapshot();
	CommitTransactionCommand();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	conv_owner_enter();
}

/*
 * Start or resume the conversion of relid: copy at most max_batches
 * batches (-1: all, then index the copy, catch up and swap).  Returns the
 * rows of the new table once swapped, else the rows copied so far.  Runs
 * in the conversion's background worker (convert_worker.c), in a
 * transaction it commits (each batch is one), with an active snapshot:
 * it returns in a transaction of its own, its snapshot pushed.
 */
int64
part_convert_run(Oid relid, const char *column_arg, const Interval *every_arg,
				 int batch_rows, int max_batches, char unique_keys)
{
	char	   *column;
	Interval   *every;
	ConvState  *st;
	char	   *cols;
	int			batches = 0;
	int64		result = 0;
	int			tries;
	MemoryContext runcxt;
	MemoryContext old;
	double		next_notice = 0.1;

	/* survives the commits below */
	runcxt = AllocSetContextCreate(TopMemoryContext, "perfkit conversion",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(runcxt);
	column = pstrdup(column_arg);
	every = palloc(sizeof(Interval));
	*every = *every_arg;
	MemoryContextSwitchTo(old);

	SPI_connect();
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	part_check_owner(relid);
	conv_owner = part_rel_owner(relid);
	conv_owner_enter();
	st = state_load(relid, runcxt);
	if (st == NULL)
	{
		conversion_setup(relid, column, every, unique_keys == 'e');
		st = state_load(relid, runcxt);
		conv_commit();
		ereport(NOTICE,
				(errmsg("converting table \"%s\": new table \"%s\" created, copying rows",
						get_rel_name(relid), get_rel_name(st->newrel))));
	}
	else
	{
		if (strcmp(st->column, column) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a conversion of table \"%s\" on column \"%s\" is in progress",
							get_rel_name(relid), st->column),
					 errhint("Resume it with the same arguments, or call perfkit.convert_to_partitioned_abort().")));
		if (unique_keys != '\0' && (unique_keys == 'e') != st->extend)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the conversion of table \"%s\" in progress was started with unique_keys => '%s'",
							get_rel_name(relid), st->extend ? "extend" : "refuse"),
					 errhint("Resume it without unique_keys, or call perfkit.convert_to_partitioned_abort() and start over.")));
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(st->newrel)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the new table of the conversion of \"%s\" is gone",
							get_rel_name(relid)),
					 errhint("Call perfkit.convert_to_partitioned_abort() and start over.")));
	}
	old = MemoryContextSwitchTo(runcxt);
	cols = insert_columns(relid);
	MemoryContextSwitchTo(old);

	/*
	 * Copy, a batch per transaction.  While loading, the copy has no
	 * indexes and the log is left alone; once every block is copied, the
	 * copy is indexed and the log synced; from then on each batch syncs the
	 * log before it copies the blocks added meanwhile.
	 */
	for (;;)
	{
		BlockNumber total;
		double		per_block;
		int64		step;
		int64		to;

		if (max_batches >= 0 && batches >= max_batches)
			break;
		check_not_rewritten(st);
		total = nblocks(relid);
		if (st->watermark >= (int64) total)
		{
			if (!st->loading)
				break;
			build_indexes(st, cols);
			conv_commit();
			ereport(NOTICE,
					(errmsg("converting table \"%s\": %lld rows copied, indexes built",
							get_rel_name(relid), (long long) st->rows_copied)));
			continue;
		}
		{
			HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
			Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

			per_block = (c->relpages > 0 && c->reltuples > 0) ? c->reltuples / c->relpages : 0;
			ReleaseSysCache(tup);
		}
		if (per_block <= 0)
			per_block = 100;
		step = Max(1, (int64) (batch_rows / per_block));
		to = Min((int64) total, st->watermark + step);

		conv_async_commit = true;	/* see conv_commit */
		{
			Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

			/* the writes to blocks copied before, then the next blocks */
			if (!st->loading)
				(void) sync_log(st, cols, st->watermark, snap, NULL);
			st->rows_copied += copy_blocks(st, cols, st->watermark, to, snap);
			UnregisterSnapshot(snap);
		}
		st->watermark = to;
		state_save(st);
		conv_commit();
		batches++;
		if ((double) st->watermark / total >= next_notice)
		{
			ereport(NOTICE,
					(errmsg("converting table \"%s\": %lld rows copied, %d%% of its blocks",
							get_rel_name(relid), (long long) st->rows_copied,
							(int) (100.0 * st->watermark / total))));
			while (next_notice <= (double) st->watermark / total)
				next_notice += 0.1;
		}
	}

	if (st->loading || st->watermark < (int64) nblocks(relid))
	{
		result = st->rows_copied;
		ereport(NOTICE,
				(errmsg("converting table \"%s\": paused after %d batches, %lld rows copied",
						get_rel_name(relid), batches, (long long) st->rows_copied),
				 errhint("Call perfkit.convert_to_partitioned() again to resume.")));
	}
	else
	{
		char	   *name = MemoryContextStrdup(runcxt, get_rel_name(relid));

		/* the copy checked without the lock, then the swap */
		verify_snapshot(st, cols);
		conv_commit();
		for (tries = 0; tries < SWAP_TRIES; tries++)
		{
			if (try_swap(st, cols, &result))
				break;
			/* let the lock holders finish; catch up meanwhile, checked */
			conv_commit();
			{
				Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
				SyncCheck	check;

				check.new_from = -1;
				(void) sync_log(st, cols, st->watermark, snap, &check);
				UnregisterSnapshot(snap);
				st->rows_copied += check.inserted;
				st->verified_rows += check.inserted - check.deleted;
			}
			conv_commit();
			pg_usleep(100000L);
		}
		if (tries == SWAP_TRIES)
		{
			conv_owner_leave();
			SPI_finish();
			name = pstrdup(name);
			MemoryContextDelete(runcxt);
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock table \"%s\" for the final swap", name),
					 errdetail("%d attempts waited perfkit.partition_lock_timeout each.", SWAP_TRIES),
					 errhint("Every row is copied; call perfkit.convert_to_partitioned() again to finish.")));
		}
		conv_commit();
		ereport(NOTICE,
				(errmsg("table \"%s\" is now partitioned: %lld rows, count and checksum verified",
						name, (long long) result),
				 errhint("Run ANALYZE on it: autovacuum analyzes its partitions, not the table.")));
	}
	conv_owner_leave();
	SPI_finish();
	MemoryContextDelete(runcxt);
	return result;
}

/*
 * Citus: the conversion of a hash-distributed table (part_convert_citus).
 *
 * The online plan above captures writes with a row trigger on the table,
 * which Citus does not fire for the writes it routes to the shards (and a
 * write may enter through any node with metadata).  So a distributed table
 * is converted with writes blocked, in one transaction of the calling
 * session on the coordinator, which Citus commits on every node at once
 * (two-phase): an error anywhere rolls everything back and the table is as
 * it was.
 *   1. LOCK TABLE ... IN EXCLUSIVE MODE: Citus sends the same LOCK to every
 *      node with metadata, in one order (AcquireDistributedLockOnRelations
 *      in Citus's resource_lock.c), so a write entering through any node
 *      waits on that node's shell until the conversion ends, while reads
 *      go on.  The caller's lock_timeout bounds the waits on the other
 *      nodes too: it is set there as well (SET LOCAL, which Citus sends to
 *      the nodes of the transaction when citus.propagate_set_commands is
 *      'local' and the SET runs in a DO block).
 *   2. The partitioned table, under the name <table>_partitioned: the
 *      table's columns, defaults, constraints and indexes (unique keys
 *      without the partition column refused, or widened with unique_keys
 *      => 'extend', as above), distributed on the same column co-located
 *      with the table (create_distributed_table(..., colocate_with)), then
 *      registered as a partition set with partitions from the oldest row's
 *      slot to now + 4 slots and a default partition (part_register_set);
 *      Citus distributes each partition as it is made.
 *   3. One INSERT ... SELECT from the table: co-located, same distribution
 *      column, so Citus pushes it down as one task per pair of shards.
 *      Then both tables' row counts and sums of a hash of every row (md5
 *      of the row's text) must match, or the conversion is rolled back.
 *   4. ACCESS EXCLUSIVE (cluster-wide again), serial sequences handed over
 *      (below), grants and the comment carried over, the table dropped (on
 *      every node: Citus drops its shards and shells), the new table, its
 *      indexes and partitions renamed as the single-node swap does (Citus
 *      propagates renames).
 * Serial sequences: Citus refuses ALTER SEQUENCE on a distributed sequence,
 * and the table's shell on each worker owns that node's copy of the
 * sequence (whose values are the node's own range), so dropping the table
 * there would drop it.  As Citus's own table replacement does
 * (alter_distributed_table), the dependency is moved: on each worker by
 * worker_drop_sequence_dependency(table), run through a query routed to a
 * shard the worker holds (an aggregate, so it runs once, in the
 * transaction), and here by worker_change_sequence_dependency(); making
 * the new table distributed then records the workers' dependency on it.
 * Every metadata worker must hold a shard of the table for that.
 *
 * Refused (0A000, with what would work): reference, Citus local, append
 * and range tables; a call on a worker; identity columns, foreign keys,
 * triggers, row-level security, rollup sources; and what the single-node
 * conversion refuses (check_convertible).
 */

/* Run sql as a DO block, so that Citus sends its SET LOCALs to the nodes. */
static void
citus_set_local(const char *setting, const char *value)
{
	exec(psprintf("DO %s", quote_literal_cstr(psprintf("BEGIN SET LOCAL %s = %s; END",
														 setting, quote_literal_cstr(value)))));
}

/* A Citus refusal of table name: 0A000, with a detail and a hint. */
static void
citus_refuse(const char *name, const char *what, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot convert Citus table \"%s\": %s", name, what),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("%s", hint)));
}

/*
 * What the conversion of a Citus table needs that the plain one does not:
 * the coordinator, a hash-distributed table, nothing it cannot carry over.
 * Returns the distribution column.
 */
static char *
citus_check_convertible(Oid relid, const char *column)
{
	char	   *name = get_rel_name(relid);
	char	   *what;
	char	   *method;
	char	   *repmodel;
	char	   *distcol;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	part_exec("SELECT pg_catalog.citus_is_coordinator()", 0, NULL, NULL, NULL, false);
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot convert Citus table \"%s\" on a worker node", name),
				 errdetail("The conversion of a distributed table creates, distributes and drops tables, which Citus does from the coordinator."),
				 errhint("Call perfkit.convert_to_partitioned() on the coordinator.")));

	values[0] = ObjectIdGetDatum(relid);
	part_exec("SELECT p.partmethod::text, p.repmodel::text, "
			  "CASE WHEN p.partkey IS NOT NULL "
			  "THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END "
			  "FROM pg_catalog.pg_dist_partition p "
			  "WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
			  1, argtypes, values, NULL, false);
	if (SPI_processed != 1)
		elog(ERROR, "table \"%s\" is not in pg_dist_partition", name);
	method = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	repmodel = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	distcol = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (method[0] == 'n' && repmodel[0] == 't')
		citus_refuse(name, "it is a reference table",
					 "Citus partitions only hash-distributed tables.",
					 "Keep it unpartitioned, or distribute it with create_distributed_table() first.");
	if (method[0] == 'n')
		citus_refuse(name, "it is a Citus local table",
					 "Citus partitions only hash-distributed tables.",
					 "Call undistribute_table() on it, convert it, then add it to the metadata again with citus_add_local_table_to_metadata().");
	if (method[0] != 'h' || distcol == NULL)
		citus_refuse(name, "it is not hash-distributed",
					 "Citus partitions only hash-distributed tables.",
					 "Redistribute it by hash with alter_distributed_table(), then convert it.");

	/* rollups: a distributed rollup's capture triggers are on the shards */
	{
		Oid			save_userid;
		int			save_sec;
		int			save_nest;

		pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
		what = query_text("SELECT pg_catalog.string_agg(r.rel::text, ', ' ORDER BY r.id) "
						  "FROM perfkit.rollup_defs r "
						  "WHERE r.raw_source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
						  "HAVING count(*) > 0", relid);
		pk_as_owner_end(save_userid, save_sec, save_nest);
	}
	if (what != NULL)
		citus_refuse(name, psprintf("perfkit rollups read it: %s", what),
					 "The rollups of a distributed table capture writes with triggers on its shards, which would go with the table.",
					 "Drop those rollups, convert the table, then create them again.");
	what = query_text("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ') "
					  "FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attidentity <> '' "
					  "AND NOT a.attisdropped HAVING count(*) > 0", relid);
	if (what != NULL)
		citus_refuse(name, psprintf("identity columns %s", what), NULL,
					 "Use a column with a sequence default (bigserial) instead, or convert the table before distributing it.");
	what = query_text("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c.conname), ', ' ORDER BY c.conname) "
					  "FROM pg_catalog.pg_constraint c WHERE c.conrelid = $1 AND c.contype = 'f' "
					  "HAVING count(*) > 0", relid);
	if (what != NULL)
		citus_refuse(name, psprintf("it has foreign keys %s", what), NULL,
					 "Drop those foreign keys, convert the table, then create them again on the partitioned table.");
	what = query_text("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(t.tgname), ', ' ORDER BY t.tgname) "
					  "FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1 AND NOT t.tgisinternal "
					  "HAVING count(*) > 0", relid);
	if (what != NULL)
		citus_refuse(name, psprintf("it has triggers %s", what), NULL,
					 "Drop those triggers, convert the table, then create them again.");
	what = query_text("SELECT 't' FROM pg_catalog.pg_class c WHERE c.oid = $1 "
					  "AND (c.relrowsecurity OR EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = $1))",
					  relid);
	if (what != NULL)
		citus_refuse(name, "it has row-level security or policies", NULL,
					 "Disable row-level security and drop its policies, convert the table, then create them again.");

	if (strcmp(distcol, column) != 0 && get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", column, name)));
	return distcol;
}

/*
 * Move the serial sequences of relid (an auto dependency of the sequence
 * on the column) to newrel, which is not distributed yet: on every worker
 * with metadata by a query routed to one of its shards of relid, here
 * directly (see above).
 */
static void
citus_hand_over_sequences(Oid relid, Oid newrel, const char *distcol)
{
	char	   *name = get_rel_name(relid);
	char	   *qold = qualified(relid);
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	List	   *routes = NIL;
	List	   *seqs = NIL;
	ListCell   *lc;
	char	   *what;
	uint64		n,
				i;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(newrel);
	n = part_exec("SELECT d.objid::pg_catalog.regclass::text FROM pg_catalog.pg_depend d "
				  "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
				  "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
				  "AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
				  "AND d.refobjid = $1 AND d.deptype = 'a' ORDER BY d.objid",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
		seqs = lappend(seqs, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if (seqs == NIL)
		return;

	/* every other metadata node must hold a shard of the table */
	what = query_text("SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s', w.nodename, w.nodeport), ', ') "
					  "FROM pg_catalog.pg_dist_node w "
					  "WHERE w.hasmetadata AND w.isactive AND w.noderole = 'primary' "
					  "AND w.groupid <> (SELECT groupid FROM pg_catalog.pg_dist_local_group) "
					  "AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_shard s "
					  " JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid "
					  " WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					  " AND p.groupid = w.groupid) "
					  "HAVING count(*) > 0", relid);
	if (what != NULL)
		citus_refuse(name, psprintf("nodes %s hold none of its shards", what),
					 "Its serial sequences are handed over on each node through a shard there.",
					 "Move a shard of the table to each of those nodes (citus_rebalance_start()), then convert it.");

	/*
	 * For each other node, a value of the distribution column whose shard
	 * is there: candidates 0, 1, 2, ... as text (what integer and text
	 * columns take).
	 */
	n = part_exec("SELECT DISTINCT ON (p.groupid) c.v FROM pg_catalog.pg_dist_placement p "
				  "JOIN pg_catalog.pg_dist_shard s ON s.shardid = p.shardid "
				  "JOIN LATERAL (SELECT g::text AS v, g FROM pg_catalog.generate_series(0, 100000) g "
				  " WHERE pg_catalog.get_shard_id_for_distribution_column($1::pg_catalog.regclass, g::text) "
				  "  OPERATOR(pg_catalog.=) s.shardid LIMIT 1) c ON true "
				  "WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
				  "AND p.groupid <> (SELECT groupid FROM pg_catalog.pg_dist_local_group) "
				  "ORDER BY p.groupid, c.g",
				  1, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
		routes = lappend(routes, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	what = query_text("SELECT count(DISTINCT p.groupid)::text FROM pg_catalog.pg_dist_placement p "
					  "JOIN pg_catalog.pg_dist_shard s ON s.shardid = p.shardid "
					  "WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					  "AND p.groupid <> (SELECT groupid FROM pg_catalog.pg_dist_local_group)", relid);
	if (list_length(routes) != atoi(what))
		citus_refuse(name, "its serial sequences cannot be handed over",
					 psprintf("No value of its distribution column \"%s\" in 0 to 100000 routes to a shard on each node.", distcol),
					 "Convert the table with its sequence defaults dropped, then set them again.");
	foreach(lc, routes)
		exec(psprintf("SELECT pg_catalog.count(*), pg_catalog.worker_drop_sequence_dependency(%s) "
					  "FROM %s WHERE %s = %s",
					  quote_literal_cstr(qold), qold, quote_identifier(distcol),
					  quote_literal_cstr(lfirst(lc))));
	foreach(lc, seqs)
		exec(psprintf("SELECT pg_catalog.worker_change_sequence_dependency(%s::pg_catalog.regclass, %u, %u)",
					  quote_literal_cstr(lfirst(lc)), relid, newrel));
}

/* Count and a sum of row hashes of relid's columns cols, as text. */
static char *
citus_checksum(Oid relid, const char *cols)
{
	part_exec(psprintf("SELECT pg_catalog.count(*)::text || ' ' || "
					   "coalesce(pg_catalog.sum(('x' || pg_catalog.substr(pg_catalog.md5(ROW(%s)::text), 1, 15))"
					   "::bit(60)::bigint), 0)::text FROM %s",
					   cols, qualified(relid)),
			  0, NULL, NULL, NULL, false);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Convert the hash-distributed table relid, with writes blocked, in the
 * caller's transaction (see above).  Returns the rows of the partitioned
 * table.
 */
int64
part_convert_citus(Oid relid, const char *column, const Interval *every, char unique_keys)
{
	bool		extend = unique_keys == 'e';
	char	   *name;
	char	   *qold;
	char	   *qnew;
	char	   *distcol;
	char	   *cols;
	char	   *sum_old;
	char	   *sum_new;
	char		newname[NAMEDATALEN];
	Oid			nsp;
	Oid			newrel;
	PkOwnerSave owner;
	PkTimeKey	key;
	int64		start = PK_TIME_MIN;
	int64		rows;
	int			len;
	List	   *old_indexes;
	List	   *new_indexes;
	ListCell   *lc;
	const char *lock_timeout;

	SPI_connect();
	part_check_owner(relid);
	name = pstrdup(get_rel_name(relid));
	nsp = get_rel_namespace(relid);
	qold = qualified(relid);
	part_as_table_owner_begin(relid, &owner);
	(void) citus_check_convertible(relid, column);	/* refuse before waiting */

	/*
	 * Writes wait on every node from here; lock_timeout holds there too.
	 * What may be converted is checked again under the lock, on the table
	 * the name still designates: a trigger, a policy or a rollup added
	 * meanwhile, or a concurrent conversion's swap, is seen.
	 */
	lock_timeout = GetConfigOption("lock_timeout", false, false);
	if (lock_timeout != NULL && strcmp(lock_timeout, "0") != 0)
	{
		(void) set_config_option("citus.propagate_set_commands", "local", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
		citus_set_local("lock_timeout", lock_timeout);
	}
	exec(psprintf("LOCK TABLE ONLY %s IN EXCLUSIVE MODE", qold));
	if (get_relname_relid(name, nsp) != relid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("table \"%s\" was replaced while convert_to_partitioned() waited for its lock", name),
				 errhint("Call convert_to_partitioned() again.")));
	distcol = citus_check_convertible(relid, column);
	check_convertible(relid, column, extend, true);
	part_key_init(&key, get_atttype(relid, get_attnum(relid, column)), every);

	len = pg_mbcliplen(name, strlen(name), NAMEDATALEN - 1 - strlen("_partitioned"));
	snprintf(newname, sizeof(newname), "%.*s_partitioned", len, name);
	if (OidIsValid(get_relname_relid(newname, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", newname),
				 errhint("convert_to_partitioned() creates the new table under that name while it runs.")));
	qnew = quote_qualified_identifier(get_namespace_name(nsp), newname);
	exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
				  "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS "
				  "INCLUDING COMPRESSION INCLUDING STATISTICS) PARTITION BY RANGE (%s)",
				  qnew, qold, quote_identifier(column)));
	newrel = get_relname_relid(newname, nsp);
	foreach(lc, index_statements(relid, newrel, column, extend))
		exec(lfirst(lc));
	citus_hand_over_sequences(relid, newrel, distcol);
	{
		Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
		Datum		values[3];

		values[0] = ObjectIdGetDatum(newrel);
		values[1] = CStringGetTextDatum(distcol);
		values[2] = CStringGetTextDatum(qold);
		part_exec("SELECT pg_catalog.create_distributed_table($1::pg_catalog.regclass, $2, colocate_with => $3)",
				  3, argtypes, values, NULL, false);
	}

	/* Partitions from the oldest row's slot, and a default partition. */
	{
		const char *col = quote_identifier(column);
		Oid			argtypes[1] = {key.typid};
		Datum		values[1];
		bool		isnull;
		Datum		d;

		values[0] = part_to_datum(&key, PK_TIME_MIN);
		part_exec(psprintf("SELECT min(%s) FROM %s WHERE %s > $1", col, qold, col),
				  1, argtypes, values, NULL, false);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull && part_from_datum(&key, d) != PK_TIME_MAX)
			start = part_from_datum(&key, d);
	}
	(void) part_register_set(newrel, column, every, 4, NULL, start, true, false);

	/* The copy: co-located, pushed down to the shards. */
	cols = insert_columns(relid);
	rows = (int64) part_exec(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s",
									  qnew, cols, cols, qold),
							 0, NULL, NULL, NULL, false);
	sum_old = citus_checksum(relid, cols);
	sum_new = citus_checksum(newrel, cols);
	if (strcmp(sum_old, sum_new) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the converted copy of table \"%s\" does not match it", name),
				 errdetail("The table has (rows, checksum) %s; the copy %s.", sum_old, sum_new),
				 errhint("Nothing was changed.")));

	/* The swap. */
	exec(psprintf("LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE", qold));
	carry_over(relid, newrel);
	index_names(relid, newrel, &old_indexes, &new_indexes);
	exec(psprintf("DROP TABLE %s", qold));
	rename_as_old(newrel, name, old_indexes, new_indexes);
	part_as_table_owner_end(&owner);
	SPI_finish();
	ereport(NOTICE,
			(errmsg("table \"%s\" is now partitioned and distributed: %lld rows, count and checksum verified",
					name, (long long) rows),
			 errdetail("Writes to it waited on every node while it was converted.")));
	return rows;
}

PG_FUNCTION_INFO_V1(perfkit_convert_abort);

/*
 * perfkit.convert_to_partitioned_abort(tbl regclass) RETURNS boolean:
 * drops the new table and the trigger of a conversion in progress; the
 * table itself was never changed.  False when there was none.
 */
Datum
perfkit_convert_abort(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ConvState  *st;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	PkOwnerSave owner;

	SPI_connect();
	part_check_owner(relid);
	/* not while a call converts it (55P03 at once) */
	part_conversion_lock(relid, false);
	st = state_load(relid, CurrentMemoryContext);
	if (st == NULL)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	part_as_table_owner_begin(relid, &owner);
	exec(psprintf("DROP TRIGGER IF EXISTS __perfkit_convert ON %s", qualified(relid)));
	exec(psprintf("DROP TRIGGER IF EXISTS __perfkit_convert_truncate ON %s", qualified(relid)));
	values[0] = ObjectIdGetDatum(st->newrel);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(st->newrel)))
		exec(psprintf("DROP TABLE %s", qualified(st->newrel)));
	part_as_table_owner_end(&owner);
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec("DELETE FROM perfkit.partition_config WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
			  1, argtypes, values, NULL, false);
	values[0] = ObjectIdGetDatum(relid);
	part_exec("DELETE FROM perfkit.conversions WHERE \"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
			  1, argtypes, values, NULL, false);
	part_exec("DELETE FROM perfkit.convert_log WHERE relid OPERATOR(pg_catalog.=) $1",
			  1, argtypes, values, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * The saved plans of the capture trigger's insert: with the key, and
 * without it for a trigger created before 0.7 (no argument), whose log
 * may not have the key column yet.
 */
static SPIPlanPtr capture_plan = NULL;
static SPIPlanPtr capture_plan_nokey = NULL;

PG_FUNCTION_INFO_V1(perfkit_convert_capture);

/*
 * The trigger on a table being converted: logs the tid of every row
 * version a write touches (AFTER ... FOR EACH ROW), with the version's
 * partition key (the trigger's argument is the key's attribute number;
 * the key is logged as a bigint: a timestamp's int64, a date's day), and
 * refuses TRUNCATE.
 */
Datum
perfkit_convert_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tuples[2];
	ItemPointerData tids[2];
	bool		olds[2];
	int			ntids = 0;
	int			i;
	Relation	rel;
	AttrNumber	keyatt = InvalidAttrNumber;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "perfkit._convert_capture() must be called as a trigger");
	rel = td->tg_relation;
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("table \"%s\" is being converted to a partitioned table",
						RelationGetRelationName(rel)),
				 errhint("Wait for perfkit.convert_to_partitioned() to finish, or abort it.")));
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "perfkit._convert_capture() must run AFTER ... FOR EACH ROW");
	if (td->tg_trigger->tgnargs >= 1)
		keyatt = (AttrNumber) pg_strtoint32(td->tg_trigger->tgargs[0]);

	/* old: a version that stops being current (updated or deleted) */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		olds[ntids] = false;
		tuples[ntids++] = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		olds[ntids] = true;
		tuples[ntids++] = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		olds[ntids] = true;
		tuples[ntids++] = td->tg_trigtuple;
		olds[ntids] = false;
		tuples[ntids++] = td->tg_newtuple;
	}

	/*
	 * The log is written as the extension's owner: ordinary roles cannot
	 * write it, so none can add entries for another role's conversion.
	 * The plan is prepared there too, under the pinned search_path, not as
	 * the writer under the writer's.  A row is logged only for a table
	 * being converted: attached to any other table, the trigger refuses
	 * (no role can fill the log through a trigger of her own).
	 */
	SPI_connect();
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	if (keyatt == InvalidAttrNumber ? capture_plan_nokey == NULL : capture_plan == NULL)
	{
		Oid			argtypes[5] = {OIDOID, INT8OID, TIDOID, BOOLOID, INT8OID};
		SPIPlanPtr	plan;

		if (keyatt == InvalidAttrNumber)
			plan = SPI_prepare("INSERT INTO perfkit.convert_log (relid, blk, src, old) "
							   "SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT FROM perfkit.conversions c "
							   "WHERE c.\"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1)",
							   4, argtypes);
		else
			plan = SPI_prepare("INSERT INTO perfkit.convert_log (relid, blk, src, old, key) "
							   "SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT FROM perfkit.conversions c "
							   "WHERE c.\"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1)",
							   5, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		if (keyatt == InvalidAttrNumber)
			capture_plan_nokey = plan;
		else
			capture_plan = plan;
	}
	for (i = 0; i < ntids; i++)
	{
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', 'n'};
		int			rc;

		tids[i] = tuples[i]->t_self;
		values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
		values[1] = Int64GetDatum((int64) ItemPointerGetBlockNumber(&tids[i]));
		values[2] = PointerGetDatum(&tids[i]);
		values[3] = BoolGetDatum(olds[i]);
		if (keyatt > 0 && keyatt <= RelationGetDescr(rel)->natts)
		{
			Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), keyatt - 1);
			bool		isnull;
			Datum		key = heap_getattr(tuples[i], keyatt, RelationGetDescr(rel), &isnull);

			if (!isnull && !att->attisdropped)
			{
				values[4] = Int64GetDatum(att->atttypid == DATEOID ?
										  (int64) DatumGetDateADT(key) : DatumGetInt64(key));
				nulls[4] = ' ';
			}
		}
		rc = SPI_execute_plan(keyatt == InvalidAttrNumber ? capture_plan_nokey : capture_plan,
							  values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not being converted to a partitioned table",
							RelationGetRelationName(rel)),
					 errhint("perfkit._convert_capture() is the trigger of perfkit.convert_to_partitioned(); drop this trigger.")));
	}
	pk_as_owner_end(save_userid, save_sec, save_nest);
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(perfkit_partition_sql_drop);

/*
 * The sql_drop event trigger of the partitions room: when a table being
 * converted is dropped (DROP TABLE ... CASCADE takes the capture trigger
 * with it), its half-built copy is dropped (as its owner, restricted) and
 * its conversion row and log go; when a partition set's table is
 * dropped, its perfkit.partition_config row goes.  Perfkit's catalogs
 * are written as the extension's owner.  Nothing happens while the
 * extension itself is being dropped (its tables are gone).
 */
Datum
perfkit_partition_sql_drop(PG_FUNCTION_ARGS)
{
	Oid			nsp;
	uint64		n,
				i;
	List	   *tables = NIL;
	List	   *copies = NIL;
	ListCell   *lc,
			   *lc2;
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("perfkit._partition_sql_drop() must be called as an event trigger")));
	nsp = get_namespace_oid("perfkit", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("conversions", nsp)) ||
		!OidIsValid(get_relname_relid("partition_config", nsp)))
		PG_RETURN_VOID();

	SPI_connect();
	n = part_exec("SELECT c.\"table\"::pg_catalog.oid, c.new_table::pg_catalog.oid "
				  "FROM perfkit.conversions c "
				  "JOIN pg_catalog.pg_event_trigger_dropped_objects() d "
				  "ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0 "
				  "AND d.objid OPERATOR(pg_catalog.=) c.\"table\"::pg_catalog.oid",
				  0, NULL, NULL, NULL, false);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 1, &isnull)));
		copies = lappend_oid(copies, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 2, &isnull)));
	}
	forboth(lc, tables, lc2, copies)
	{
		Oid			newrel = lfirst_oid(lc2);
		Oid			argtypes[2] = {OIDOID, OIDOID};
		Datum		values[2];

		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(newrel)))
		{
			PkOwnerSave owner;

			part_as_table_owner_begin(newrel, &owner);
			exec(psprintf("DROP TABLE %s", qualified(newrel)));
			part_as_table_owner_end(&owner);
		}
		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		values[1] = ObjectIdGetDatum(newrel);
		pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
		part_exec("DELETE FROM perfkit.conversions WHERE \"table\"::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
				  2, argtypes, values, NULL, false);
		part_exec("DELETE FROM perfkit.convert_log WHERE relid OPERATOR(pg_catalog.=) $1",
				  2, argtypes, values, NULL, false);
		part_exec("DELETE FROM perfkit.partition_config WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $2",
				  2, argtypes, values, NULL, false);
		pk_as_owner_end(save_userid, save_sec, save_nest);
	}
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec("DELETE FROM perfkit.partition_config p "
			  "USING pg_catalog.pg_event_trigger_dropped_objects() d "
			  "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0 "
			  "AND d.objid OPERATOR(pg_catalog.=) p.parent::pg_catalog.oid",
			  0, NULL, NULL, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);
	SPI_finish();
	PG_RETURN_VOID();
}
