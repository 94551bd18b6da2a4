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
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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
 * Retire the partitions of set past its retention; ranges is the set's
 * partitions sorted by lower bound.  The caller runs this inside the
 * table's unit of work with lock_timeout set.
 */
void
part_apply_retention(PkSet *set, List *ranges, PkRunResult *res)
{
	int64		cutoff;
	ListCell   *lc;
	char	   *qparent;
	bool		locked = false;

	if (!set->has_retention)
		return;
	cutoff = part_retention_cutoff(set);
	qparent = quote_qualified_identifier(get_namespace_name(get_rel_namespace(set->parent)),
										 get_rel_name(set->parent));
	foreach(lc, ranges)
	{
		PkRange    *r = lfirst(lc);
		char	   *qchild;

		if (r->upper == PK_TIME_MAX || r->upper > cutoff)
			continue;
		if (set->require_rollups)
		{
			List	   *blockers = part_rollup_blockers(set, r->lower, r->upper);
			ListCell   *bc;

			if (blockers != NIL)
			{
				res->kept++;
				foreach(bc, blockers)
				{
					if (res->kept_reasons->len > 0)
						appendStringInfoChar(res->kept_reasons, '\n');
					appendStringInfo(res->kept_reasons, "%s kept: rollup %s",
									 get_rel_name(r->relid), (char *) lfirst(bc));
				}
				continue;
			}
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
}
