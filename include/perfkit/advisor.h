/*-------------------------------------------------------------------------
 *
 * advisor.h
 *	  The index advisor: workload capture, hypothetical indexes, candidate
 *	  generation and selection, shared by the files of src/advisor/.
 *
 * include/perfkit/advisor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_ADVISOR_H
#define PERFKIT_ADVISOR_H

#include "access/xact.h"
#include "executor/execdesc.h"
#include "nodes/parsenodes.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "nodes/params.h"

/* GUCs (src/perfkit.c) */
extern double perfkit_advisor_sample_rate;
extern int	perfkit_advisor_max_queries;
extern int	perfkit_advisor_max_query_length;

/* Kinds of candidate indexes. */
typedef enum AdvisorKind
{
	ADVISOR_BTREE,				/* plain btree, maybe multi-column, maybe INCLUDE */
	ADVISOR_PARTIAL,			/* btree with a WHERE predicate */
	ADVISOR_BRIN,				/* BRIN minmax on one column */
	ADVISOR_PATTERN				/* btree with text_pattern_ops (LIKE 'x%') */
} AdvisorKind;

/*
 * A candidate index, hypothetical while it is costed.  Columns are the
 * table's attribute numbers; the predicate, if any, is an implicitly
 * AND-ed list whose Vars have varno 1.
 */
typedef struct HypoIndex
{
	Oid			relid;
	AdvisorKind kind;
	int			nkeys;			/* key columns */
	int			ncols;			/* key plus INCLUDE columns */
	AttrNumber	attnums[INDEX_MAX_KEYS];
	List	   *predicate;		/* implicit-AND list, or NIL */
	char	   *predicate_sql;	/* deparsed predicate, or NULL */
	double		correlation;	/* physical order correlation (BRIN) */
	double		tuples;			/* estimated index tuples */
	BlockNumber pages;			/* estimated size */
	int			tree_height;
	Oid			fakeoid;		/* never a real relation's OID */
	char	   *signature;		/* canonical text: equal signatures, same index */
	char	   *name;			/* stable index name */
	char	   *statement;		/* CREATE INDEX CONCURRENTLY ..., or for a
								 * partitioned table the script that builds
								 * it without blocking writes */
	List	   *steps;			/* what apply_index() runs: the statements
								 * of the script without CONCURRENTLY */
	char	   *reason;			/* what the index serves, in words */
} HypoIndex;

/* One query to cost: analyzed and rewritten, with its weight. */
typedef struct AdvisorQuery
{
	Query	   *query;			/* never planned itself: costing copies it */
	double		weight;			/* calls */
	double		rows_per_call;
	List	   *relids;			/* OIDs of the tables it reads or writes */
	Oid			write_relid;	/* INSERT/UPDATE target, or InvalidOid */
	Bitmapset  *updated_cols;	/* UPDATE's target columns */
	double		cost;			/* cost under the current choice */
	Oid			userid;			/* plan as this role (the statement's author),
								 * or InvalidOid: as the caller */
	bool		broken;			/* planning it as its author failed */
} AdvisorQuery;

/* A saved identity, while the advisor acts as a statement's author. */
typedef struct AdvisorIdentity
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		switched;
} AdvisorIdentity;

/* src/advisor/workload.c */
extern Size advisor_workload_shmem_size(void);
extern void advisor_workload_shmem_init(void);
extern void advisor_executor_start(QueryDesc *queryDesc, int eflags);
extern void advisor_executor_end(QueryDesc *queryDesc);
extern void advisor_xact(XactEvent event);

/* One captured statement, copied out of shared memory. */
typedef struct WorkloadSample
{
	uint64		queryid;
	int64		calls;
	double		total_ms;
	int64		rows;
	CmdType		cmd;
	bool		replannable;
	Oid			userid;			/* who ran the example */
	char	   *example;
	int			nparams;		/* its parameters ($1, ...) */
	Oid		   *paramtypes;		/* their types, as bound */
} WorkloadSample;

/* Most parameters whose types capture keeps for one statement. */
#define ADVISOR_MAX_PARAMS	32

extern List *advisor_workload_samples(Oid dbid);

/* src/advisor/hypo.c */
extern void advisor_get_relation_info(PlannerInfo *root, Oid relationObjectId,
									  bool inhparent, RelOptInfo *rel);
extern bool advisor_costing_active(void);
extern void advisor_planner_enter(void);
extern void advisor_planner_exit(void);
extern void advisor_become(Oid userid, AdvisorIdentity *id);
extern void advisor_unbecome(AdvisorIdentity *id);
extern bool advisor_error_propagates(ErrorData *edata, void *arg);
extern int	advisor_left_out(ErrorData *edata);
extern double advisor_cost(Query *query, Oid userid, List *hypos);
extern void advisor_hypo_estimate(HypoIndex *hypo, double fraction);
extern void advisor_rel_size(Oid relid, double *tuples, double *pages,
							 double *allvisible);

/* src/advisor/candidates.c */
extern Query *advisor_analyze(const char *sql, bool for_user,
							  Oid *paramtypes, int nparams);
extern AdvisorQuery *advisor_query_info(Query *query, double weight,
										double rows_per_call);
extern List *advisor_candidates(List *queries);
extern HypoIndex *advisor_candidate_from_statement(const char *stmt);

/* src/advisor/recommend.c */
extern List *advisor_produced;

/* advisor/gucs.c: registers the room's settings (called by _PG_init) */
extern void advisor_define_gucs(void);

#endif							/* PERFKIT_ADVISOR_H */
