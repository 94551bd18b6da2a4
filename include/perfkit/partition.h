/*-------------------------------------------------------------------------
 *
 * partition.h
 *	  Partition maintenance: time keys, partition sets, premaking,
 *	  default-partition draining, retention and conversion.
 *
 * Every time value inside src/partition/ is a "key time": an int64 count
 * of microseconds since 2000-01-01 00:00 in the wall clock of the key's
 * type.  For timestamptz keys that is UTC (a TimestampTz as it is); for
 * timestamp and date keys it is the value's own wall clock, encoded as if
 * it were UTC (as perfkit.rollup_blockers() expects).  Only timekey.c
 * knows how key times map to and from the three column types.
 *
 * include/perfkit/partition.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_PARTITION_H
#define PERFKIT_PARTITION_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

struct _SPI_plan;
struct SPITupleTable;

/* Unbounded ends of a range (MINVALUE, MAXVALUE). */
#define PK_TIME_MIN		PG_INT64_MIN
#define PK_TIME_MAX		PG_INT64_MAX

typedef enum PkKeyKind
{
	PK_KEY_TIMESTAMPTZ,
	PK_KEY_TIMESTAMP,
	PK_KEY_DATE
} PkKeyKind;

/* A partition key column and the width of one partition. */
typedef struct PkTimeKey
{
	PkKeyKind	kind;
	Oid			typid;
	int32		months;			/* exactly one of months, days, hours > 0 */
	int32		days;
	int64		hours;
} PkTimeKey;

/* One partition of a set: [lower, upper) in key time. */
typedef struct PkRange
{
	Oid			relid;
	int64		lower;
	int64		upper;
} PkRange;

/* A registered partition set, as read from perfkit.partition_config. */
typedef struct PkSet
{
	Oid			parent;
	char	   *column;
	AttrNumber	attnum;
	PkTimeKey	key;
	int			premake;
	int64		start;			/* key time; PK_TIME_MIN when unknown */
	bool		default_partition;
	bool		has_retention;
	Interval	keep;
	bool		drop;			/* retention mode: drop, else detach */
	char	   *archive_schema; /* NULL: detached tables stay in place */
	bool		require_rollups;
	bool		force;			/* the next run may drop past retention_drop_max_share */
	/* what the last full run found (fast path of a run with nothing to do) */
	bool		has_layout;
	uint64		layout_digest;
	int64		covered_from;	/* partitions cover [from, to) without a gap */
	int64		covered_to;
	int64		oldest_upper;	/* PK_TIME_MAX: no bounded partition */
	Oid			default_rel;
} PkSet;

/* What one maintenance run did to one set. */
typedef struct PkRunResult
{
	int			created;
	int64		moved;			/* rows moved out of the default partition */
	int			retired;
	int			kept;			/* partitions past retention, kept */
	StringInfo	kept_reasons;	/* "partition: rollup: reason" lines */
	int64		advanced_start; /* new start after retention, or PK_TIME_MIN */
	bool		fast;			/* nothing to do, seen without reading bounds */
	bool		has_layout;		/* layout facts to record (after a full run) */
	uint64		layout_digest;
	int64		covered_from;
	int64		covered_to;
	int64		oldest_upper;
	Oid			default_rel;
} PkRunResult;

/* The identity saved by part_as_table_owner_begin. */
typedef struct PkOwnerSave
{
	Oid			userid;
	int			sec;
	int			nestlevel;
} PkOwnerSave;

/* timekey.c */
extern bool part_key_kind(Oid typid, PkKeyKind *kind);
extern void part_key_init(PkTimeKey *key, Oid typid, const Interval *every);
extern Interval *part_key_every(const PkTimeKey *key);
extern int64 part_floor(const PkTimeKey *key, int64 t);
extern int64 part_add(const PkTimeKey *key, int64 t, int n);
extern int64 part_add_interval(int64 t, const Interval *span, bool subtract);
extern int64 part_from_datum(const PkTimeKey *key, Datum value);
extern Datum part_to_datum(const PkTimeKey *key, int64 t);
extern int64 part_from_timestamptz(const PkTimeKey *key, TimestampTz ts);
extern int64 part_now(const PkTimeKey *key);
extern char *part_literal(const PkTimeKey *key, int64 t);
extern char *part_suffix(const PkTimeKey *key, int64 t);

/* sets.c */
extern void part_check_owner(Oid relid);
extern PkSet *part_set_load(Oid parent, bool missing_ok);
extern List *part_set_list(bool oldest_first);
extern void part_set_record(Oid parent, const char *status, const char *error,
							const PkRunResult *res);
extern void pk_as_owner_begin(Oid *save_userid, int *save_sec, int *save_nest);
extern void pk_as_owner_end(Oid save_userid, int save_sec, int save_nest);
extern Oid	part_rel_owner(Oid relid);
extern void part_as_table_owner_begin(Oid relid, PkOwnerSave *save);
extern int	part_pin_search_path(void);
extern uint64 part_exec(const char *sql, int nargs, Oid *argtypes,
						Datum *values, const char *nulls, bool read_only);
extern uint64 part_exec_saved(struct _SPI_plan **plan, const char *sql,
							  int nargs, Oid *argtypes, Datum *values,
							  const char *nulls);
extern void part_as_table_owner_end(PkOwnerSave *save);
extern int	part_register_set(Oid parent, const char *column, const Interval *every,
							  int premake, const TimestampTz *user_start, int64 start_key,
							  bool want_default, bool brin);

/* layout.c */
extern List *part_layout_read(PkSet *set, Oid *default_oid);
extern uint64 part_layout_digest(Oid parent);
extern bool part_covered_run(List *ranges, int64 t, int64 *lo, int64 *hi);
extern bool part_free_gap(List *ranges, int64 v, int64 *lo, int64 *hi);
extern List *part_missing_ranges(PkSet *set, List *ranges, int64 from, int64 to);
extern Oid	part_create_partition(PkSet *set, int64 lo, int64 hi,
								  Oid default_oid, int64 *moved,
								  bool partition_of);
extern bool part_partition_of_same(PkSet *set);
extern char *part_partition_name(PkSet *set, int64 lo);
extern void part_lock_relation(Oid relid, LOCKMODE mode);

/* checksum.c */
extern void part_rel_checksum(Oid relid, List *colnames, const char *tidcol,
							  Snapshot snap, int64 *rows, uint64 *sum);
extern void part_rows_checksum(struct SPITupleTable *tuptable, uint64 ntuples,
							   int ncols, int64 *rows, uint64 *sum);

/* convert.c */
extern void part_conversion_lock(Oid relid, bool session);
extern int64 part_convert_citus(Oid relid, const char *column, const Interval *every,
								char unique_keys);
extern int64 part_convert_run(Oid relid, const char *column, const Interval *every,
							  int batch_rows, int max_batches, char unique_keys);

/* convert_worker.c */
extern PGDLLEXPORT void perfkit_convert_worker_main(Datum main_arg);

/* drain.c */
extern int64 part_drain_default(PkSet *set, List **ranges, Oid default_oid,
								int *created);
extern bool part_default_has_movable(PkSet *set, Oid default_oid);
extern List *part_insert_range(List *ranges, PkRange *r);
extern bool part_default_never_written(Oid default_oid);

/* retention.c */

/* A partition past retention: what the next run does with it. */
typedef struct PkRetireItem
{
	PkRange		range;
	double		rows;			/* estimated: reltuples, else counted */
	List	   *blockers;		/* why it is kept (strings); NIL: retired */
	bool		held_by_share;	/* kept only by retention_drop_max_share */
} PkRetireItem;

/* GUC perfkit.retention_drop_max_share (a fraction, 0..1) */
extern double perfkit_retention_drop_max_share;

extern List *part_retention_plan(PkSet *set, List *ranges, Oid default_oid,
								 double *total_rows);
extern int64 part_retention_cutoff(PkSet *set);
extern void part_apply_retention(PkSet *set, List *ranges, Oid default_oid,
								 PkRunResult *res);
extern List *part_rollup_blockers(PkSet *set, int64 lo, int64 hi);

/* maintenance.c */
extern void part_maintain(Oid parent, bool commits_after, PkRunResult *res);
extern void part_check_partition_budget(PkSet *set, int needed);
extern bool part_maintain_one(Oid parent, bool commits_after, PkRunResult *res,
							  char **error, bool *lock_failed);

/* partition/gucs.c: registers the room's settings (called by _PG_init) */
extern PGDLLIMPORT int perfkit_partition_step_timeout;
extern PGDLLIMPORT int perfkit_partition_max_steps;
extern PGDLLIMPORT int perfkit_max_partitions_per_run;
extern PGDLLIMPORT int perfkit_max_conversion_workers;
extern PGDLLIMPORT int perfkit_conversion_lock_timeout;
extern void partition_define_gucs(void);

#endif							/* PERFKIT_PARTITION_H */
