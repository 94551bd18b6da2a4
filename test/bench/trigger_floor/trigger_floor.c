/*-------------------------------------------------------------------------
 *
 * trigger_floor.c
 *	  The least a C trigger can do, for test/bench/trigger_floor.sh.
 *
 * Not part of perfkit: the benchmark builds it into a scratch directory
 * to measure what PostgreSQL 15's trigger machinery alone costs a writing
 * statement (BEFORE ROW, AFTER ROW, AFTER STATEMENT with a transition
 * table), which bounds what any trigger-based change capture can reach.
 * The function reads the first column of the row it is given (the time
 * column a capture would bucket) and compares it with the last one seen,
 * nothing more; a BEFORE ROW call returns its row unchanged.
 *
 * test/bench/trigger_floor/trigger_floor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(trigger_floor);

/*
 * Not static: what the function computes must stay observable, or the
 * compiler could drop the read it exists to measure.
 */
TimestampTz trigger_floor_last_seen = 0;
uint64		trigger_floor_late_seen = 0;

Datum
trigger_floor(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	bool		isnull;
	Datum		ts;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "trigger_floor: not called as a trigger");
	tuple = td->tg_trigtuple;
	if (tuple != NULL)
	{
		ts = heap_getattr(tuple, 1, RelationGetDescr(td->tg_relation), &isnull);
		if (!isnull)
		{
			if (DatumGetTimestampTz(ts) < trigger_floor_last_seen)
				trigger_floor_late_seen++;
			trigger_floor_last_seen = DatumGetTimestampTz(ts);
		}
	}
	if (TRIGGER_FIRED_BEFORE(td->tg_event) && TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
							   td->tg_newtuple : td->tg_trigtuple);
	return PointerGetDatum(NULL);
}
