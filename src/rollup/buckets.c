/*-------------------------------------------------------------------------
 *
 * buckets.c
 *	  The bucket arithmetic of a refresh batch: a cheap exact replacement
 *	  for date_trunc(unit, timestamptz, zone) where the bucket has a fixed
 *	  width, and the planner fence that lets a batch's aggregate run in
 *	  parallel.
 *
 * A first refresh (backfill) reads every raw row once; per row it computes
 * the bucket and folds the row into its group.  date_trunc with a time
 * zone converts the instant to local broken-down time and back, about a
 * third of a backfill's CPU.  Where the zone has one UTC offset for all
 * time (UTC, 'Etc/GMT-3', 'EST', '+05:30'...) and the unit is a minute, an
 * hour, a day or a week, the bucket start is plain arithmetic on the
 * microseconds: ts - ((ts + shift) mod width), with shift the zone's
 * offset east of UTC (plus five days for weeks: 2000-01-01, PostgreSQL's
 * epoch, is a Saturday and weeks start on Monday).
 * perfkit._bucket_fixed_shift(unit, zone) says whether that holds: it
 * resolves the zone as date_trunc does (a time zone abbreviation first,
 * then a zone name) and asks the zone database whether the zone ever had
 * another offset; NULL sends the caller back to date_trunc.  Zones with
 * daylight saving time, or any past change of offset, always take
 * date_trunc, as do months, quarters and years.
 *
 * The fence.  The planner cannot know that a bucket expression has few
 * distinct values: it takes the number of groups of GROUP BY
 * bucket(ts), dims to be the number of distinct times, about one per row,
 * and then a partial (parallel) aggregate looks useless and is never
 * chosen.  A batch therefore groups on the output column of a subquery
 * that computes perfkit._rollup_fence(bucket): an identity function
 * declared VOLATILE (so the planner keeps the subquery and, knowing
 * nothing of that column, assumes its default of 200 distinct values) and
 * PARALLEL SAFE (so parallel workers may still compute it).  It costs one
 * function call per row and changes no result.
 *
 * src/rollup/buckets.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "parser/scansup.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "perfkit/rollup.h"


PG_FUNCTION_INFO_V1(perfkit_bucket_fixed);
PG_FUNCTION_INFO_V1(perfkit_bucket_fixed_shift);
PG_FUNCTION_INFO_V1(perfkit_rollup_fence);

/*
 * perfkit._bucket_fixed(ts timestamptz, width bigint, shift bigint)
 *	  RETURNS timestamptz
 *
 * The start of the bucket of width microseconds holding ts, buckets
 * starting where ts + shift is a multiple of width.  Infinite times are
 * their own bucket (as with date_trunc).
 */
Datum
perfkit_bucket_fixed(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	int64		width = PG_GETARG_INT64(1);
	int64		shift = PG_GETARG_INT64(2);
	TimestampTz result;

	if (width <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket width must be positive")));
	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_TIMESTAMPTZ(ts);

	result = rollup_bucket_floor(ts, width, shift);
	if (!IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_TIMESTAMPTZ(result);
}

/*
 * The start of the bucket of width (> 0) microseconds holding the finite
 * ts, buckets starting where ts + shift is a multiple of width; shared with
 * the capture trigger (capture.c), so that a batch and the trigger never
 * disagree on a bucket.
 */
TimestampTz
rollup_bucket_floor(TimestampTz ts, int64 width, int64 shift)
{
	int64		r;

	/* (ts + shift) mod width, in [0, width), without overflowing */
	r = (ts % width + shift % width) % width;
	if (r < 0)
		r += width;				/* before 2000: round down, not toward 0 */
	return ts - r;
}

/*
 * perfkit._bucket_fixed_shift(granularity text, zone text) RETURNS bigint
 *
 * The shift for perfkit._bucket_fixed() that makes it equal to
 * date_trunc(granularity, ts, zone) for every ts, or NULL when there is
 * none (the zone's offset ever changed, or the unit is longer than a
 * week).  The width is the unit's length; the caller knows it.
 */
Datum
perfkit_bucket_fixed_shift(PG_FUNCTION_ARGS)
{
	char	   *unit = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		tzname[TZ_STRLEN_MAX + 1];
	char	   *lowzone;
	int			type;
	int			val;
	pg_tz	   *tzp;
	long int	gmtoff;
	int64		shift;

	if (strcmp(unit, "minute") != 0 && strcmp(unit, "hour") != 0 &&
		strcmp(unit, "day") != 0 && strcmp(unit, "week") != 0)
		PG_RETURN_NULL();

	/* The zone as timestamptz_trunc_zone() resolves it. */
	text_to_cstring_buffer(PG_GETARG_TEXT_PP(1), tzname, sizeof(tzname));
	lowzone = downcase_truncate_identifier(tzname, strlen(tzname), false);
	type = DecodeTimezoneAbbrev(0, lowzone, &val, &tzp);
	if (type == TZ || type == DTZ)
		tzp = pg_tzset_offset(-val);
	else if (type != DYNTZ)
		tzp = pg_tzset(tzname);
	if (tzp == NULL || !pg_get_timezone_offset(tzp, &gmtoff))
		PG_RETURN_NULL();

	shift = (int64) gmtoff * USECS_PER_SEC;
	if (strcmp(unit, "week") == 0)
		shift += 5 * USECS_PER_DAY;
	PG_RETURN_INT64(shift);
}

/*
 * perfkit._rollup_fence(timestamptz) RETURNS timestamptz
 *
 * The identity; VOLATILE PARALLEL SAFE for the planner (see the header).
 */
Datum
perfkit_rollup_fence(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
