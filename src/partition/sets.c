/*-------------------------------------------------------------------------
 *
 * sets.c
 *	  Partition sets: the registry perfkit.partition_config, and the SQL
 *	  functions partition_table() and set_retention() that fill it.
 *
 * A partition set is a table already partitioned by range on one time
 * column, registered with partition_table().  Its row in
 * perfkit.partition_config holds the width of a partition, how many to
 * make ahead, where the set starts (in key time, see timekey.c), the
 * retention policy, and what the last maintenance run did.  The table is
 * registered with pg_extension_config_dump, so pg_dump keeps the rows.
 *
 * Privileges.  Managing a table needs ownership of it, checked here
 * against the calling role; the SQL on the table (DDL, the default
 * partition's drain, retention) then runs as the table's owner in a
 * security-restricted operation (part_as_table_owner_begin/end), so that a
 * superuser's call or job never runs the owner's triggers or functions
 * with superuser rights.
 * Ordinary roles cannot write perfkit.partition_config directly: its
 * writes are done as the owner of schema perfkit (the extension owner),
 * switched to for that statement only and with the security-restricted
 * flag set (pk_as_owner_begin/end), after the ownership check passed.
 * Every statement of the room runs with search_path pinned to
 * pg_catalog, pg_temp (part_exec, part_pin_search_path), whoever runs it.
 *
 * src/partition/sets.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "catalog/partition.h"
#include "partitioning/partdesc.h"

#include "perfkit/partition.h"
#include "perfkit/util.h"

/* Fail unless the calling role owns relid (or is a member of its owner). */
void
part_check_owner(Oid relid)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * Open a GUC nest level with search_path pinned to pg_catalog, pg_temp;
 * close it with AtEOXact_GUC(false, level).  Every statement of the room
 * runs inside one: a statement's operators and functions must resolve to
 * pg_catalog's whatever the caller's search_path (a role with CREATE on a
 * schema of that path could otherwise put an operator there, e.g.
 * =(oid, regclass), which no exact pg_catalog operator shadows, and have
 * a superuser's job run it).
 */
int
part_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return level;
}

/* pk_spi_exec with search_path pinned (part_pin_search_path). */
uint64
part_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
		  const char *nulls, bool read_only)
{
	int			level = part_pin_search_path();
	uint64		n;

	n = pk_spi_exec(sql, nargs, argtypes, values, nulls, read_only);
	AtEOXact_GUC(false, level);
	return n;
}

/* pk_spi_exec_saved with search_path pinned (prepared under it too). */
uint64
part_exec_saved(SPIPlanPtr *plan, const char *sql, int nargs,
				Oid *argtypes, Datum *values, const char *nulls)
{
	int			level = part_pin_search_path();
	uint64		n;

	n = pk_spi_exec_saved(plan, sql, nargs, argtypes, values, nulls);
	AtEOXact_GUC(false, level);
	return n;
}

/*
 * Switch to the owner of schema perfkit for a write to its tables, as
 * security-restricted operation (no temporary objects, no SET ROLE), with
 * search_path pinned to pg_catalog, pg_temp for the statement (a caller's
 * search_path must not resolve an operator of the statement to a
 * function of the caller's, run as the extension's owner).
 */
void
pk_as_owner_begin(Oid *save_userid, int *save_sec, int *save_nest)
{
	Oid			nsp = get_namespace_oid("perfkit", false);
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	*save_nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
pk_as_owner_end(Oid save_userid, int save_sec, int save_nest)
{
	AtEOXact_GUC(false, save_nest);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/* The owner of relation relid. */
Oid
part_rel_owner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Switch to the owner of relid, as a security-restricted operation, with
 * a GUC nest level of its own: what the SQL that touches a user's table
 * runs as, whoever called (a job run by a superuser included).  Triggers,
 * constraints, defaults, generated columns and index expressions of the
 * table then run with its owner's rights and cannot change the session
 * (no SET ROLE, no temporary objects; settings are rolled back by
 * part_as_table_owner_end).  An error in between needs no cleanup: the
 * (sub)transaction abort restores the user id and the settings.
 */
void
part_as_table_owner_begin(Oid relid, PkOwnerSave *save)
{
	Oid			owner = part_rel_owner(relid);

	GetUserIdAndSecContext(&save->userid, &save->sec);
	SetUserIdAndSecContext(owner, save->sec | SECURITY_RESTRICTED_OPERATION);
	save->nestlevel = part_pin_search_path();
}

void
part_as_table_owner_end(PkOwnerSave *save)
{
	AtEOXact_GUC(false, save->nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec);
}

static bool
getbool(HeapTuple tup, TupleDesc desc, int col, bool dflt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? dflt : DatumGetBool(d);
}

static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr record_plan = NULL;

/*
 * The registered set of parent, allocated in the caller's memory context;
 * NULL when it is not registered and missing_ok.  SPI must be connected.
 */
PkSet *
part_set_load(Oid parent, bool missing_ok)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	PkSet	   *set;
	bool		isnull;
	Datum		d;
	MemoryContext old;
	Oid			typid;
	int32		typmod;
	Oid			collid;

	values[0] = ObjectIdGetDatum(parent);
	if (part_exec_saved(&load_plan,
						"SELECT column_name::text, every, premake, start, default_partition, "
						"retention, retention_mode, archive_schema::text, require_rollups, "
						"layout_digest, covered_from, covered_to, oldest_upper, default_rel, "
						"retention_force "
						"FROM perfkit.partition_config WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
						1, argtypes, values, NULL) == 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not managed by perfkit", get_rel_name(parent)),
				 errhint("Register it with perfkit.partition_table().")));
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(cxt);
	set = palloc0(sizeof(PkSet));
	set->parent = parent;
	set->column = SPI_getvalue(tup, desc, 1);
	set->attnum = get_attnum(parent, set->column);
	if (set->attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						set->column, get_rel_name(parent))));
	get_atttypetypmodcoll(parent, set->attnum, &typid, &typmod, &collid);
	d = SPI_getbinval(tup, desc, 2, &isnull);
	part_key_init(&set->key, typid, DatumGetIntervalP(d));
	set->premake = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	d = SPI_getbinval(tup, desc, 4, &isnull);
	set->start = isnull ? PK_TIME_MIN : DatumGetTimestampTz(d);
	set->default_partition = getbool(tup, desc, 5, true);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	set->has_retention = !isnull;
	if (!isnull)
		set->keep = *DatumGetIntervalP(d);
	d = SPI_getbinval(tup, desc, 7, &isnull);
	set->drop = !isnull && strcmp(TextDatumGetCString(d), "drop") == 0;
	set->archive_schema = SPI_getvalue(tup, desc, 8);
	set->require_rollups = getbool(tup, desc, 9, true);
	set->force = getbool(tup, desc, 15, false);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	set->has_layout = !isnull;
	if (!isnull)
	{
		set->layout_digest = (uint64) DatumGetInt64(d);
		set->covered_from = DatumGetTimestampTz(SPI_getbinval(tup, desc, 11, &isnull));
		set->has_layout &= !isnull;
		set->covered_to = DatumGetTimestampTz(SPI_getbinval(tup, desc, 12, &isnull));
		set->has_layout &= !isnull;
		set->oldest_upper = DatumGetTimestampTz(SPI_getbinval(tup, desc, 13, &isnull));
		set->has_layout &= !isnull;
		d = SPI_getbinval(tup, desc, 14, &isnull);
		set->default_rel = isnull ? InvalidOid : DatumGetObjectId(d);
	}
	MemoryContextSwitchTo(old);
	return set;
}

/*
 * Every registered parent (as Oids, in the caller's context), in Oid
 * order, or with oldest_first those run longest ago (or never) first.
 * Rows whose table no longer exists are skipped.
 */
List *
part_set_list(bool oldest_first)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result = NIL;
	uint64		n,
				i;

	n = part_exec(oldest_first ?
				  "SELECT c.oid FROM perfkit.partition_config s "
				  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.parent::pg_catalog.oid "
				  "ORDER BY s.last_run NULLS FIRST, c.oid" :
				  "SELECT c.oid FROM perfkit.partition_config s "
				  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.parent::pg_catalog.oid ORDER BY c.oid",
				  0, NULL, NULL, NULL, false);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = lappend_oid(result, relid);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * Record the outcome of a maintenance run of parent, and what a full run
 * found about its partitions (for the next run's fast path).  SPI
 * connected.
 */
void
part_set_record(Oid parent, const char *status, const char *error,
				const PkRunResult *res)
{
	Oid			argtypes[11] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
		BOOLOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, OIDOID};
	Datum		values[11];
	char		nulls[11] = {' ', ' ', 'n', 'n', 'n', ' ', 'n', 'n', 'n', 'n', 'n'};
	bool		layout = (res != NULL && res->has_layout);
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	values[0] = ObjectIdGetDatum(parent);
	values[1] = CStringGetTextDatum(status);
	if (error != NULL)
	{
		values[2] = CStringGetTextDatum(error);
		nulls[2] = ' ';
	}
	if (res != NULL && res->kept_reasons != NULL && res->kept_reasons->len > 0)
	{
		values[3] = CStringGetTextDatum(res->kept_reasons->data);
		nulls[3] = ' ';
	}
	if (res != NULL && res->advanced_start != PK_TIME_MIN)
	{
		values[4] = TimestampTzGetDatum(res->advanced_start);
		nulls[4] = ' ';
	}
	values[5] = BoolGetDatum(layout);
	if (layout)
	{
		values[6] = Int64GetDatum((int64) res->layout_digest);
		values[7] = TimestampTzGetDatum(res->covered_from);
		values[8] = TimestampTzGetDatum(res->covered_to);
		values[9] = TimestampTzGetDatum(res->oldest_upper);
		values[10] = ObjectIdGetDatum(res->default_rel);
		nulls[6] = nulls[7] = nulls[8] = nulls[9] = ' ';
		nulls[10] = OidIsValid(res->default_rel) ? ' ' : 'n';
	}
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec_saved(&record_plan,
					"UPDATE perfkit.partition_config SET last_run = now(), "
					"last_status = $2, last_error = $3, "
					"last_kept = CASE WHEN $2 = 'ok' THEN $4 ELSE last_kept END, "
					"start = CASE WHEN $5 IS NOT NULL AND (start IS NULL OR start < $5) "
					"THEN $5 ELSE start END, "
					"layout_digest = CASE WHEN $6 THEN $7 WHEN $2 = 'ok' THEN layout_digest END, "
					"covered_from = CASE WHEN $6 THEN $8 WHEN $2 = 'ok' THEN covered_from END, "
					"covered_to = CASE WHEN $6 THEN $9 WHEN $2 = 'ok' THEN covered_to END, "
					"oldest_upper = CASE WHEN $6 THEN $10 WHEN $2 = 'ok' THEN oldest_upper END, "
					"default_rel = CASE WHEN $6 THEN $11 WHEN $2 = 'ok' THEN default_rel END "
					"WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
					11, argtypes, values, nulls);
	pk_as_owner_end(save_userid, save_sec, save_nest);
}

/*
 * Check that relid is range-partitioned on the single column attnum.
 */
static void
check_partitioning(Relation rel, AttrNumber attnum, const char *column)
{
	PartitionKey pkey;

	if (rel->rd_rel->relkind == RELKIND_RELATION)
	{
		/*
		 * A plain table whose unique keys lack the column: PostgreSQL
		 * would refuse them on the partitioned table the user is told to
		 * create, so say what to do about them.
		 */
		Oid			argtypes[2] = {OIDOID, INT2OID};
		Datum		values[2];

		values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
		values[1] = Int16GetDatum(attnum);
		if (part_exec("SELECT c.relname FROM pg_catalog.pg_index i "
					  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
					  "WHERE i.indrelid = $1 AND i.indisunique AND NOT "
					  "$2 = ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1]) "
					  "ORDER BY i.indexrelid LIMIT 1",
					  2, argtypes, values, NULL, false) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not partitioned", RelationGetRelationName(rel)),
					 errdetail("Its unique key \"%s\" does not contain column \"%s\", which a partitioned table requires.",
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), column),
					 errhint("Convert it with perfkit.convert_to_partitioned(..., unique_keys => 'extend'), which adds column \"%s\" to such keys, "
							 "or create it with PARTITION BY RANGE (%s) and keys that contain the column, such as PRIMARY KEY (id, %s).",
							 column, quote_identifier(column), quote_identifier(column))));
	}
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned", RelationGetRelationName(rel)),
				 errhint("Create it with PARTITION BY RANGE (%s), or convert it with perfkit.convert_to_partitioned().",
						 quote_identifier(column))));
	pkey = RelationGetPartitionKey(rel);
	if (pkey->strategy != PARTITION_STRATEGY_RANGE || pkey->partnatts != 1 ||
		pkey->partattrs[0] != attnum)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("table \"%s\" is not partitioned by range on column \"%s\"",
						RelationGetRelationName(rel), column),
				 errdetail("perfkit manages tables partitioned by RANGE on exactly one time column.")));
}

/* The default partition of parent, or InvalidOid. */
static Oid
default_partition_of(Relation rel)
{
	return get_default_oid_from_partdesc(RelationGetPartitionDesc(rel, true));
}

static void
run_ddl(const char *sql)
{
	part_exec(sql, 0, NULL, NULL, NULL, false);
}

/*
 * Register parent as a partition set (or update its settings), create its
 * default partition and BRIN index if asked, and run its maintenance in
 * this transaction; returns the partitions created.  The set starts at
 * user_start (a timestamptz given by the user) when not NULL, else at
 * start_key (key time) when not PK_TIME_MIN, else at the data's minimum,
 * else now.  SPI must be connected.
 */
int
part_register_set(Oid parent, const char *column, const Interval *every,
				  int premake, const TimestampTz *user_start, int64 start_key,
				  bool want_default, bool brin)
{
	AttrNumber	attnum;
	Oid			typid;
	PkTimeKey	key;
	Relation	rel;
	int64		start;
	Oid			default_oid;
	Oid			argtypes[7] = {OIDOID, TEXTOID, INTERVALOID, INT4OID, TIMESTAMPTZOID,
	BOOLOID, BOOLOID};
	Datum		values[7];
	Oid			save_userid;
	int			save_sec;
	int			save_nest;
	PkOwnerSave table_owner;
	PkRunResult res;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", parent)));
	part_check_owner(parent);
	if (premake < 0 || premake > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("premake must be between 0 and 1000, not %d", premake)));

	attnum = get_attnum(parent, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						column, get_rel_name(parent))));
	typid = get_atttype(parent, attnum);
	if (!part_key_kind(typid, &key.kind))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" is of type %s, not a time type",
						column, get_rel_name(parent), format_type_be(typid)),
				 errhint("Partition keys must be timestamptz, timestamp or date.")));
	part_key_init(&key, typid, every);

	rel = table_open(parent, AccessShareLock);
	check_partitioning(rel, attnum, column);
	default_oid = default_partition_of(rel);
	table_close(rel, NoLock);

	/* From here on, what touches the table runs as its owner, restricted. */
	part_as_table_owner_begin(parent, &table_owner);

	/* Where the set starts: the argument, or the data's minimum, or now. */
	if (user_start != NULL)
		start = part_floor(&key, part_from_timestamptz(&key, *user_start));
	else if (start_key != PK_TIME_MIN)
		start = part_floor(&key, start_key);
	else
	{
		char	   *sql;
		bool		isnull;
		Datum		d;

		sql = psprintf("SELECT min(%s) FROM %s WHERE %s > $1",
					   quote_identifier(column),
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
												  get_rel_name(parent)),
					   quote_identifier(column));
		values[0] = part_to_datum(&key, PK_TIME_MIN);
		argtypes[0] = typid;
		part_exec(sql, 1, argtypes, values, NULL, false);
		argtypes[0] = OIDOID;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull || part_from_datum(&key, d) == PK_TIME_MAX)
			start = part_floor(&key, part_now(&key));
		else
			start = part_floor(&key, part_from_datum(&key, d));
	}
	if (start == PK_TIME_MIN || start == PK_TIME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("start must be a finite time")));

	values[0] = ObjectIdGetDatum(parent);
	values[1] = CStringGetTextDatum(column);
	values[2] = IntervalPGetDatum(part_key_every(&key));
	values[3] = Int32GetDatum(premake);
	values[4] = TimestampTzGetDatum(start);
	values[5] = BoolGetDatum(want_default);
	values[6] = BoolGetDatum(brin);
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec("INSERT INTO perfkit.partition_config AS c "
			  "(parent, column_name, every, premake, start, default_partition, brin) "
			  "VALUES ($1::regclass, $2, $3, $4, $5, $6, $7) "
			  "ON CONFLICT (parent) DO UPDATE SET column_name = EXCLUDED.column_name, "
			  "every = EXCLUDED.every, premake = EXCLUDED.premake, "
			  "start = EXCLUDED.start, default_partition = EXCLUDED.default_partition, "
			  "brin = EXCLUDED.brin",
			  7, argtypes, values, NULL, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);

	/* The default partition, as the table's owner. */
	if (want_default && !OidIsValid(default_oid))
	{
		char	   *relname = get_rel_name(parent);
		char	   *nsp = get_namespace_name(get_rel_namespace(parent));
		char		name[NAMEDATALEN];
		int			len;

		len = pg_mbcliplen(relname, strlen(relname), NAMEDATALEN - 1 - strlen("_default"));
		snprintf(name, sizeof(name), "%.*s_default", len, relname);
		run_ddl(psprintf("CREATE TABLE %s PARTITION OF %s DEFAULT",
						 quote_qualified_identifier(nsp, name),
						 quote_qualified_identifier(nsp, relname)));
	}

	/* BRIN on the time column, unless the parent has one on it already. */
	if (brin)
	{
		Oid			bargs[2] = {OIDOID, INT2OID};
		Datum		bvals[2];

		bvals[0] = ObjectIdGetDatum(parent);
		bvals[1] = Int16GetDatum(attnum);
		if (part_exec("SELECT 1 FROM pg_catalog.pg_index i "
					  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
					  "JOIN pg_catalog.pg_am a ON a.oid = c.relam "
					  "WHERE i.indrelid = $1 AND a.amname = 'brin' "
					  "AND i.indnatts = 1 AND i.indkey[0] = $2",
					  2, bargs, bvals, NULL, false) == 0)
			run_ddl(psprintf("CREATE INDEX ON %s USING brin (%s)",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
														get_rel_name(parent)),
							 quote_identifier(column)));
	}

	part_as_table_owner_end(&table_owner);

	/* Make the partitions now, in this transaction; errors reach the caller. */
	part_maintain(parent, false, &res);
	part_set_record(parent, "ok", NULL, &res);
	return res.created;
}

PG_FUNCTION_INFO_V1(perfkit_partition_table);

/*
 * perfkit.partition_table(tbl regclass, column name, every interval,
 *     premake int, start timestamptz, default_partition boolean,
 *     brin boolean) RETURNS integer
 *
 * Registers a range-partitioned table, or changes the settings of one
 * registered, and runs its maintenance at once; returns the partitions
 * created.  The optional arguments default to NULL: on a new set that
 * means premake 4, a start at the data's oldest row (else now), a default
 * partition and no BRIN index; on a registered set, the setting it has
 * (start included: it moves only when given).
 */
Datum
perfkit_partition_table(PG_FUNCTION_ARGS)
{
	TimestampTz start;
	int64		start_key = PK_TIME_MIN;
	int			premake = 4;
	bool		want_default = true;
	bool		brin = false;
	int			created;
	PkSet	   *set;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table, column and interval must not be null")));
	if (!PG_ARGISNULL(4))
		start = PG_GETARG_TIMESTAMPTZ(4);
	SPI_connect();
	set = part_set_load(PG_GETARG_OID(0), true);
	if (set != NULL)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];

		premake = set->premake;
		start_key = set->start;
		want_default = set->default_partition;
		values[0] = ObjectIdGetDatum(set->parent);
		if (part_exec("SELECT brin FROM perfkit.partition_config "
					  "WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
					  1, argtypes, values, NULL, false) > 0)
		{
			bool		isnull;

			brin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	if (!PG_ARGISNULL(3))
		premake = PG_GETARG_INT32(3);
	if (!PG_ARGISNULL(5))
		want_default = PG_GETARG_BOOL(5);
	if (!PG_ARGISNULL(6))
		brin = PG_GETARG_BOOL(6);
	created = part_register_set(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)),
								PG_GETARG_INTERVAL_P(2), premake,
								PG_ARGISNULL(4) ? NULL : &start, start_key,
								want_default, brin);
	SPI_finish();
	PG_RETURN_INT32(created);
}

PG_FUNCTION_INFO_V1(perfkit_set_retention);

/*
 * perfkit.set_retention(tbl regclass, keep interval, mode text,
 *     require_rollups boolean, archive_schema name) RETURNS void
 *
 * A NULL keep removes the retention policy.
 */
Datum
perfkit_set_retention(PG_FUNCTION_ARGS)
{
	Oid			parent;
	char	   *mode;
	bool		require_rollups;
	Oid			argtypes[6] = {OIDOID, INTERVALOID, TEXTOID, BOOLOID, TEXTOID, BOOLOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', 'n', ' '};
	Oid			save_userid;
	int			save_sec;
	int			save_nest;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	parent = PG_GETARG_OID(0);
	mode = PG_ARGISNULL(2) ? "detach" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	require_rollups = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", parent)));
	part_check_owner(parent);
	if (strcmp(mode, "detach") != 0 && strcmp(mode, "drop") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention mode must be \"detach\" or \"drop\", not \"%s\"", mode)));
	if (!PG_ARGISNULL(1))
	{
		Interval   *keep = PG_GETARG_INTERVAL_P(1);

		if (keep->month < 0 || keep->day < 0 || keep->time < 0 ||
			(keep->month == 0 && keep->day == 0 && keep->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention must be a positive interval")));
	}
	if (!PG_ARGISNULL(4))
	{
		char	   *schema = NameStr(*PG_GETARG_NAME(4));
		Oid			nsp;
		AclResult	aclresult;

		if (strcmp(mode, "drop") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an archive schema needs retention mode \"detach\"")));
		nsp = get_namespace_oid(schema, false);
		aclresult = pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_SCHEMA, schema);
		values[4] = CStringGetTextDatum(schema);
		nulls[4] = ' ';
	}

	SPI_connect();
	(void) part_set_load(parent, false);
	values[0] = ObjectIdGetDatum(parent);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = CStringGetTextDatum(mode);
	values[3] = BoolGetDatum(require_rollups);
	values[5] = BoolGetDatum(!PG_ARGISNULL(5) && PG_GETARG_BOOL(5));
	pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
	part_exec("UPDATE perfkit.partition_config SET retention = $2, "
			  "retention_mode = CASE WHEN $2 IS NULL THEN NULL ELSE $3 END, "
			  "require_rollups = $4, archive_schema = $5, retention_force = $6 "
			  "WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
			  6, argtypes, values, nulls, false);
	pk_as_owner_end(save_userid, save_sec, save_nest);

	/* What the next run retires with this policy (retention_preview). */
	if (!PG_ARGISNULL(1))
	{
		PkSet	   *set;
		PkOwnerSave owner;
		Oid			default_oid = InvalidOid;
		List	   *ranges;
		List	   *plan;
		double		total;
		double		rows = 0;
		double		held_rows = 0;
		int			retired = 0;
		int			kept = 0;
		int			held = 0;
		ListCell   *lc;
		StringInfoData names;
		const char *verb;

		CommandCounterIncrement();
		set = part_set_load(parent, false);
		verb = set->drop ? "drop" : "detach";
		part_as_table_owner_begin(parent, &owner);
		/* two statements: C leaves the order of a call's arguments open */
		ranges = part_layout_read(set, &default_oid);
		plan = part_retention_plan(set, ranges, default_oid, &total);
		part_as_table_owner_end(&owner);
		initStringInfo(&names);
		foreach(lc, plan)
		{
			PkRetireItem *item = lfirst(lc);

			if (item->held_by_share)
			{
				held++;
				held_rows += item->rows;
				continue;
			}
			if (item->blockers != NIL)
			{
				kept++;
				continue;
			}
			retired++;
			rows += item->rows;
			if (retired > 10)
				continue;
			if (names.len > 0)
				appendStringInfoString(&names, ", ");
			appendStringInfoString(&names, get_rel_name(item->range.relid));
		}
		if (retired > 10)
			appendStringInfo(&names, " and %d more", retired - 10);
		if (held > 0)
			ereport(WARNING,
					(errmsg("the next run of retention on table \"%s\" drops nothing: its %d partitions to drop hold about %.0f rows, %.0f%% of the table's",
							get_rel_name(parent), held, held_rows,
							total > 0 ? 100.0 * held_rows / total : 0.0),
					 errdetail("A run drops at most perfkit.retention_drop_max_share (%.0f%%) of a table's rows.",
							   100.0 * perfkit_retention_drop_max_share),
					 errhint("Check keep; if it is meant, call perfkit.set_retention(..., force => true) to allow the next run.  perfkit.retention_preview('%s') lists the partitions.",
							 get_rel_name(parent))));
		else
			ereport(NOTICE,
					(errmsg("the next run of retention on table \"%s\" will %s %d partitions (about %.0f rows)%s",
							get_rel_name(parent), verb, retired, rows,
							kept > 0 ? psprintf(" and keep %d that rollups still need", kept) : ""),
					 retired > 0 ? errdetail("To %s: %s.", verb, names.data) : 0,
					 errhint("perfkit.retention_preview('%s') lists them.", get_rel_name(parent))));
	}
	SPI_finish();
	PG_RETURN_VOID();
}
