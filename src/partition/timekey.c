/*-------------------------------------------------------------------------
 *
 * timekey.c
 *	  Data-type handling for time partition keys, in one place.
 *
 * A partition key is a timestamptz, timestamp or date column.  The rest of
 * src/partition/ works on "key times": int64 microseconds since
 * 2000-01-01 00:00 of the key type's wall clock (UTC for timestamptz; the
 * value's own wall clock for timestamp and date).  In that domain there is
 * no daylight saving time, so adding days or hours is plain arithmetic,
 * and only months need the calendar.  This file converts between key
 * times and column values, aligns key times to partition boundaries,
 * and formats bounds as SQL literals and partition name suffixes.
 *
 * Boundaries.  Monthly widths (n months) align to multiples of n months
 * since January of year 0, so 3 months are quarters and 12 are calendar
 * years; daily widths align to midnight, counted from 2000-01-01, or from
 * Monday 2000-01-03 when the width is a whole number of weeks; hourly
 * widths align to whole hours counted from 2000-01-01 00:00.  Partitions
 * of timestamptz keys are therefore aligned in UTC, whatever the session's
 * time zone.
 *
 * src/partition/timekey.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "perfkit/partition.h"

/* Is typid a time type perfkit can partition on? */
bool
part_key_kind(Oid typid, PkKeyKind *kind)
{
	switch (typid)
	{
		case TIMESTAMPTZOID:
			*kind = PK_KEY_TIMESTAMPTZ;
			return true;
		case TIMESTAMPOID:
			*kind = PK_KEY_TIMESTAMP;
			return true;
		case DATEOID:
			*kind = PK_KEY_DATE;
			return true;
		default:
			return false;
	}
}

/*
 * Set up key for a column of type typid cut every `every`.  The width
 * must be a whole number of months, of days, or of hours (hours not for
 * date keys), and not a mix of them.
 */
void
part_key_init(PkTimeKey *key, Oid typid, const Interval *every)
{
	char	   *text;

	if (!part_key_kind(typid, &key->kind))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("partition key must be of type timestamptz, timestamp or date, not %s",
						format_type_be(typid))));
	key->typid = typid;
	key->months = key->days = 0;
	key->hours = 0;

	text = DatumGetCString(DirectFunctionCall1(interval_out,
											   IntervalPGetDatum(every)));
	if (every->month > 0 && every->day == 0 && every->time == 0)
		key->months = every->month;
	else if (every->month == 0 && every->day > 0 && every->time == 0)
		key->days = every->day;
	else if (every->month == 0 && every->day == 0 && every->time > 0 &&
			 every->time % USECS_PER_HOUR == 0)
	{
		if (every->time % USECS_PER_DAY == 0)
			key->days = (int32) (every->time / USECS_PER_DAY);
		else
			key->hours = every->time / USECS_PER_HOUR;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition interval \"%s\" is not a whole number of months, days or hours",
						text),
				 errhint("Use an interval such as '1 month', '3 months', '1 day', '7 days' or '6 hours'.")));

	if (key->hours > 0 && key->kind == PK_KEY_DATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition interval \"%s\" is shorter than a day, but the key is of type date",
						text)));
}

/* The width of one partition, as an interval. */
Interval *
part_key_every(const PkTimeKey *key)
{
	Interval   *every = palloc0(sizeof(Interval));

	every->month = key->months;
	every->day = key->days;
	every->time = key->hours * USECS_PER_HOUR;
	return every;
}

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* The start of the partition slot that holds key time t. */
int64
part_floor(const PkTimeKey *key, int64 t)
{
	if (t == PK_TIME_MIN || t == PK_TIME_MAX)
		return t;
	if (key->months > 0)
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int64		m;
		Timestamp	result;

		if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		m = (int64) tm.tm_year * 12 + (tm.tm_mon - 1);
		m = floor_div(m, key->months) * key->months;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = (int) floor_div(m, 12);
		tm.tm_mon = (int) (m - floor_div(m, 12) * 12) + 1;
		tm.tm_mday = 1;
		if (tm2timestamp(&tm, 0, NULL, &result) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		return result;
	}
	if (key->days > 0)
	{
		int64		origin = (key->days % 7 == 0) ? 2 * USECS_PER_DAY : 0;
		int64		width = (int64) key->days * USECS_PER_DAY;

		return floor_div(t - origin, width) * width + origin;
	}
	return floor_div(t, key->hours * USECS_PER_HOUR) * key->hours * USECS_PER_HOUR;
}

/* t plus (or minus) an interval, in key time (no time zone involved). */
int64
part_add_interval(int64 t, const Interval *span, bool subtract)
{
	Datum		r;

	if (t == PK_TIME_MIN || t == PK_TIME_MAX)
		return t;
	r = DirectFunctionCall2(subtract ? timestamp_mi_interval : timestamp_pl_interval,
							TimestampGetDatum(t), IntervalPGetDatum(span));
	return DatumGetTimestamp(r);
}

/* t plus n partition widths. */
int64
part_add(const PkTimeKey *key, int64 t, int n)
{
	Interval	span;

	span.month = key->months * n;
	span.day = key->days * n;
	span.time = key->hours * USECS_PER_HOUR * n;
	return part_add_interval(t, &span, false);
}

/* A column value as key time; infinities map to PK_TIME_MIN/MAX. */
int64
part_from_datum(const PkTimeKey *key, Datum value)
{
	switch (key->kind)
	{
		case PK_KEY_TIMESTAMPTZ:
			return DatumGetTimestampTz(value);
		case PK_KEY_TIMESTAMP:
			return DatumGetTimestamp(value);
		case PK_KEY_DATE:
			{
				DateADT		d = DatumGetDateADT(value);

				if (DATE_IS_NOBEGIN(d))
					return PK_TIME_MIN;
				if (DATE_IS_NOEND(d))
					return PK_TIME_MAX;
				return (int64) d * USECS_PER_DAY;
			}
	}
	return 0;					/* keep compiler quiet */
}

/* Key time t as a value of the column's type. */
Datum
part_to_datum(const PkTimeKey *key, int64 t)
{
	switch (key->kind)
	{
		case PK_KEY_TIMESTAMPTZ:
			return TimestampTzGetDatum(t);
		case PK_KEY_TIMESTAMP:
			return TimestampGetDatum(t);
		case PK_KEY_DATE:
			if (t == PK_TIME_MIN)
			{
				DateADT		d;

				DATE_NOBEGIN(d);
				return DateADTGetDatum(d);
			}
			if (t == PK_TIME_MAX)
			{
				DateADT		d;

				DATE_NOEND(d);
				return DateADTGetDatum(d);
			}
			return DateADTGetDatum((DateADT) floor_div(t, USECS_PER_DAY));
	}
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * A timestamptz given by the user (a start) as key time: itself for
 * timestamptz keys, its wall clock in the session's time zone for the
 * others (what '2026-01-01'::timestamptz::timestamp gives).
 */
int64
part_from_timestamptz(const PkTimeKey *key, TimestampTz ts)
{
	if (key->kind == PK_KEY_TIMESTAMPTZ || TIMESTAMP_NOT_FINITE(ts))
		return ts;
	return DatumGetTimestamp(DirectFunctionCall1(timestamptz_timestamp,
												 TimestampTzGetDatum(ts)));
}

/* The current transaction's start time as key time. */
int64
part_now(const PkTimeKey *key)
{
	return part_from_timestamptz(key, GetCurrentTransactionStartTimestamp());
}

static void
key_tm(int64 t, struct pg_tm *tm)
{
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
}

/*
 * The calendar year of tm, and whether it is before Christ: the
 * astronomical year 0 is 1 BC, -43 is 44 BC (what timestamp_out shows).
 */
static int
key_year(const struct pg_tm *tm, bool *bc)
{
	*bc = (tm->tm_year <= 0);
	return *bc ? 1 - tm->tm_year : tm->tm_year;
}

/*
 * Key time t as a quoted SQL literal of the key's type, for a partition
 * bound: independent of DateStyle and TimeZone.  Years before 1 are
 * written with " BC".
 */
char *
part_literal(const PkTimeKey *key, int64 t)
{
	struct pg_tm tm;
	bool		bc;
	int			year;

	if (t == PK_TIME_MIN)
		return pstrdup("MINVALUE");
	if (t == PK_TIME_MAX)
		return pstrdup("MAXVALUE");
	key_tm(t, &tm);
	year = key_year(&tm, &bc);
	switch (key->kind)
	{
		case PK_KEY_TIMESTAMPTZ:
			return psprintf("'%04d-%02d-%02d %02d:%02d:%02d+00%s'",
							year, tm.tm_mon, tm.tm_mday,
							tm.tm_hour, tm.tm_min, tm.tm_sec, bc ? " BC" : "");
		case PK_KEY_TIMESTAMP:
			return psprintf("'%04d-%02d-%02d %02d:%02d:%02d%s'",
							year, tm.tm_mon, tm.tm_mday,
							tm.tm_hour, tm.tm_min, tm.tm_sec, bc ? " BC" : "");
		case PK_KEY_DATE:
			return psprintf("'%04d-%02d-%02d%s'", year, tm.tm_mon, tm.tm_mday,
							bc ? " BC" : "");
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * The name suffix of the partition starting at t: p20260101 for monthly
 * and daily sets, p20260101_1300 for hourly ones; a year before 1 ends
 * the suffix with "bc" (p00440301bc is 44 BC).
 */
char *
part_suffix(const PkTimeKey *key, int64 t)
{
	struct pg_tm tm;
	bool		bc;
	int			year;

	if (t == PK_TIME_MIN)
		return pstrdup("pmin");
	key_tm(t, &tm);
	year = key_year(&tm, &bc);
	if (key->hours > 0 || tm.tm_hour != 0 || tm.tm_min != 0)
		return psprintf("p%04d%02d%02d_%02d%02d%s", year, tm.tm_mon,
						tm.tm_mday, tm.tm_hour, tm.tm_min, bc ? "bc" : "");
	return psprintf("p%04d%02d%02d%s", year, tm.tm_mon, tm.tm_mday, bc ? "bc" : "");
}
