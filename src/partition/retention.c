/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retiring partitions older than a set's retention: detached (kept as
 *	  standalone tables, optionally moved to an archive schema) or dropped,
 *	  and never while a rollup still needs their rows.
 *
 * A partition is past retention when its upper bound is at or before
 * now - keep (in key time).  With require_rollups, each such partition is
 * first checked with perfkit.rollup_blockers(parent, lower, upper): every
 * row it returns is a rollup whose buckets over that range are not final
 * yet, and the partition is kept, the reason recorded (partition_sets
 * shows it) and the check repeated at the next run.  Bounds are passed as
 * key times in a timestamptz, i.e. wall clock encoded as UTC for
 * timestamp and date keys, as that function expects; an unbounded lower
 * end is passed as -infinity.
 *
 * What a run will do is planned first (part_retention_plan), and the same
 * plan is what perfkit.retention_preview() and set_retention()'s NOTICE
 * show, so the preview is what the run does.  In drop mode, when the
 * partitions to drop hold more than perfkit.retention_drop_max_share of
 * the table's estimated rows (reltuples, or a count for a partition never
 * analyzed), the run drops none of them unless set_retention(...,
 * force => true) allowed it; the first run that drops with it clears it.
 *
 * DETACH PARTITION needs ACCESS EXCLUSIVE on the parent (DETACH ...
 * CONCURRENTLY cannot run inside a transaction, nor at all when the set
 * has a default partition); maintenance.c takes it with lock_timeout.
 *
 * src/partition/retention.c
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
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "perfkit/partition.h"
#include "perfkit/util.h"

/* Partitions whose upper bound is at or before this are past retention. */
int64
part_retention_cutoff(PkSet *set)
{
	return part_add_interval(part_now(&set->key), &set->keep, true);
}

/*
 * The rollups that keep [lo, hi) of set from being retired, as a list of
 * "rollup: reason" strings.
 */
List *
part_rollup_blockers(PkSet *set, int64 lo, int64 hi)
{
	Oid			argtypes[3] = {OIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	List	   *result = NIL;
	uint64		n,
				i;

	values[0] = ObjectIdGetDatum(set->parent);
	values[1] = TimestampTzGetDatum(lo == PK_TIME_MIN ? DT_NOBEGIN : lo);
	values[2] = TimestampTzGetDatum(hi);
	n = part_exec("SELECT rollup, reason FROM perfkit.rollup_blockers($1::regclass, $2, $3) "
				  "ORDER BY 1",
				  3, argtypes, values, NULL, false);
	for (i = 0; i < n; i++)
	{
		char	   *rollup = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *reason = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		result = lappend(result, psprintf("%s: %s", rollup ? rollup : "?",
										  reason ? reason : "not final"));
	}
	return result;
}

/*
 * The rows of relid, estimated: reltuples once VACUUM or ANALYZE has run,
 * else counted (a partition never analyzed is new or small).  As the
 * caller (the table's owner, in maintenance).
 */
static double
rows_estimate(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		isnull;
	double		reltuples;

	values[0] = ObjectIdGetDatum(relid);
	part_exec("SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = $1",
			  1, argtypes, values, NULL, false);
	reltuples = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
	if (reltuples >= 0)
		return reltuples;
	part_exec(psprintf("SELECT count(*)::float8 FROM ONLY %s",
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												  get_rel_name(relid))),
			  0, NULL, NULL, NULL, false);
	return DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
}

/*
 * What the next retention of set does: one PkRetireItem per partition past
 * retention (ranges sorted by lower bound), with the reasons it is kept,
 * if any: a rollup that still needs its rows (with require_rollups), or,
 * in drop mode without force, that the partitions to drop hold more than
 * perfkit.retention_drop_max_share of the table's rows (then every drop of
 * the run is held back: a retention set too short by a typo drops
 * nothing).  *total_rows: the table's estimated rows (its partitions and
 * the default).  The run (part_apply_retention) and retention_preview()
 * both use this, so the preview is what the run does.
 */
List *
part_retention_plan(PkSet *set, List *ranges, Oid default_oid, double *total_rows)
{
	List	   *items = NIL;
	int64		cutoff;
	ListCell   *lc;
	double		total = 0;
	double		retiring = 0;

	*total_rows = 0;
	if (!set->has_retention)
		return NIL;
	cutoff = part_retention_cutoff(set);
	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);
		PkRetireItem *item;

		if (r->upper == PK_TIME_MAX || r->upper > cutoff)
			continue;
		item = palloc0(sizeof(PkRetireItem));
		item->range = *r;
		item->rows = rows_estimate(r->relid);
		if (set->require_rollups)
		{
			ListCell   *bc;

			foreach(bc, part_rollup_blockers(set, r->lower, r->upper))
				item->blockers = lappend(item->blockers,
										 psprintf("rollup %s", (char *) lfirst(bc)));
		}
		if (item->blockers == NIL)
			retiring += item->rows;
		items = lappend(items, item);
	}
	if (!set->drop || set->force || retiring <= 0)
		return items;

	/* the table's rows: only needed for the share of a drop */
	foreach(lc, ranges)
		total += rows_estimate(((PkRange *) lfirst(lc))->relid);
	if (OidIsValid(default_oid))
		total += rows_estimate(default_oid);
	*total_rows = total;
	if (retiring > perfkit_retention_drop_max_share * total)
	{
		char	   *why = psprintf("drop of %.0f rows, %.0f%% of the table's, exceeds perfkit.retention_drop_max_share (%.0f%%): "
								   "call set_retention(..., force => true) to allow it",
								   retiring, 100.0 * retiring / total,
								   100.0 * perfkit_retention_drop_max_share);

		foreach(lc, items)
		{
			PkRetireItem *item = lfirst(lc);

			if (item->blockers == NIL)
			{
				item->blockers = list_make1(why);
				item->held_by_share = true;
			}
		}
	}
	return items;
}

/*
 * Retire the partitions of set past its retention that nothing keeps
 * (part_retention_plan); ranges is the set's partitions sorted by lower
 * bound.  The caller runs this inside the table's unit of work with
 * lock_timeout set.  A force given to set_retention() is used up by the
 * run that drops with it.
 */
void
part_apply_retention(PkSet *set, List *ranges, Oid default_oid, PkRunResult *res)
{
	ListCell   *lc;
	char	   *qparent;
	bool		locked = false;
	double		total;
	List	   *plan;

	if (!set->has_retention)
		return;
	plan = part_retention_plan(set, ranges, default_oid, &total);
	qparent = quote_qualified_identifier(get_namespace_name(get_rel_namespace(set->parent)),
										 get_rel_name(set->parent));
	foreach(lc, plan)
	{
		PkRetireItem *item = lfirst(lc);
		PkRange    *r = &item->range;
		char	   *qchild;

		if (item->blockers != NIL)
		{
			ListCell   *bc;

			res->kept++;
			foreach(bc, item->blockers)
			{
				if (res->kept_reasons->len > 0)
					appendStringInfoChar(res->kept_reasons, '\n');
				appendStringInfo(res->kept_reasons, "%s kept: %s",
								 get_rel_name(r->relid), (char *) lfirst(bc));
			}
			continue;
		}
		if (!locked)
		{
			part_lock_relation(set->parent, AccessExclusiveLock);
			locked = true;
		}
		qchild = quote_qualified_identifier(get_namespace_name(get_rel_namespace(r->relid)),
											get_rel_name(r->relid));
		part_exec(psprintf("ALTER TABLE %s DETACH PARTITION %s", qparent, qchild),
				  0, NULL, NULL, NULL, false);
		if (set->drop)
			part_exec(psprintf("DROP TABLE %s", qchild), 0, NULL, NULL, NULL, false);
		else if (set->archive_schema != NULL)
			part_exec(psprintf("ALTER TABLE %s SET SCHEMA %s", qchild,
							   quote_identifier(set->archive_schema)),
					  0, NULL, NULL, NULL, false);
		res->retired++;
		if (res->advanced_start == PK_TIME_MIN || r->upper > res->advanced_start)
			res->advanced_start = r->upper;
	}
	if (set->force && set->drop && res->retired > 0)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];
		Oid			save_userid;
		int			save_sec;
		int			save_nest;

		values[0] = ObjectIdGetDatum(set->parent);
		pk_as_owner_begin(&save_userid, &save_sec, &save_nest);
		part_exec("UPDATE perfkit.partition_config SET retention_force = false "
				  "WHERE parent::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
				  1, argtypes, values, NULL, false);
		pk_as_owner_end(save_userid, save_sec, save_nest);
		set->force = false;
	}
}

/* A bound as text in the key's type (the FOR VALUES literal, unquoted). */
static Datum
bound_datum(PkSet *set, int64 t)
{
	char	   *lit = part_literal(&set->key, t);
	size_t		len = strlen(lit);

	if (len >= 2 && lit[0] == '\'')
		return CStringGetTextDatum(pnstrdup(lit + 1, len - 2));
	return CStringGetTextDatum(lit);
}

PG_FUNCTION_INFO_V1(perfkit_retention_preview);

/*
 * perfkit.retention_preview(tbl regclass DEFAULT NULL)
 *   RETURNS TABLE(partitioned_table regclass, partition regclass,
 *                 range_start text, range_end text, rows_estimate bigint,
 *                 mode text, action text, blocked_by text)
 *
 * What the next maintenance run's retention would do to each partition
 * past retention of tbl (or of every set the caller owns): action is the
 * mode (detach, drop) or 'keep', blocked_by why.  Computed by the run's
 * own plan (part_retention_plan), as the table's owner, restricted.
 */
Datum
perfkit_retention_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *tables = NIL;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (!PG_ARGISNULL(0))
	{
		Oid			only = PG_GETARG_OID(0);

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(only)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", only)));
		part_check_owner(only);
		(void) part_set_load(only, false);
		tables = list_make1_oid(only);
	}
	else
	{
		foreach(lc, part_set_list(false))
		{
			Oid			relid = lfirst_oid(lc);

			if (pg_class_ownercheck(relid, GetUserId()))
				tables = lappend_oid(tables, relid);
		}
	}
	foreach(lc, tables)
	{
		Oid			parent = lfirst_oid(lc);
		PkSet	   *set = part_set_load(parent, false);
		PkOwnerSave owner;
		Oid			default_oid;
		List	   *ranges;
		List	   *plan;
		double		total;
		ListCell   *ic;

		part_as_table_owner_begin(parent, &owner);
		ranges = part_layout_read(set, &default_oid);
		plan = part_retention_plan(set, ranges, default_oid, &total);
		part_as_table_owner_end(&owner);
		foreach(ic, plan)
		{
			PkRetireItem *item = lfirst(ic);
			Datum		values[8];
			bool		nulls[8] = {0};
			const char *mode = set->drop ? "drop" : "detach";

			values[0] = ObjectIdGetDatum(parent);
			values[1] = ObjectIdGetDatum(item->range.relid);
			if (item->range.lower == PK_TIME_MIN)
				nulls[2] = true;
			else
				values[2] = bound_datum(set, item->range.lower);
			values[3] = bound_datum(set, item->range.upper);
			values[4] = Int64GetDatum((int64) item->rows);
			values[5] = CStringGetTextDatum(mode);
			values[6] = CStringGetTextDatum(item->blockers == NIL ? mode : "keep");
			if (item->blockers == NIL)
				nulls[7] = true;
			else
			{
				StringInfoData buf;
				ListCell   *bc;

				initStringInfo(&buf);
				foreach(bc, item->blockers)
				{
					if (buf.len > 0)
						appendStringInfoString(&buf, "; ");
					appendStringInfoString(&buf, lfirst(bc));
				}
				values[7] = CStringGetTextDatum(buf.data);
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
