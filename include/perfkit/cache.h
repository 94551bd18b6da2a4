/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  The shared-memory TTL result cache: store, relation versions and
 *	  write tracking, shared by the files of src/cache/.
 *
 * include/perfkit/cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERFKIT_CACHE_H
#define PERFKIT_CACHE_H

#include "datatype/timestamp.h"
#include "access/xact.h"
#include "executor/execdesc.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "tcop/utility.h"

/* Number of partitions of the store, each with its own LWLock. */
#define CACHE_PARTITIONS	16

/* Longest key, in bytes (a cached() key holds the query text). */
#define CACHE_MAX_KEY		(64 * 1024)

/*
 * Longest cache_invalidate() pattern, in bytes: it bounds the matcher's
 * state vector to 16 words (src/cache/like.c).
 */
#define CACHE_MAX_PATTERN	1024

/* Longest TTL: 100 years, in microseconds. */
#define CACHE_MAX_TTL_USECS	((int64) 100 * 365 * USECS_PER_DAY)

/* GUCs (src/perfkit.c) */
extern int	perfkit_cache_size;			/* kB */
extern int	perfkit_cache_default_ttl;	/* seconds */
extern int	perfkit_cache_max_value_size;	/* bytes */
extern bool perfkit_cache_enabled;
extern bool perfkit_cache_track_stats;

/* Kinds of entries. */
#define CACHE_KIND_VALUE	1			/* cache_set() */
#define CACHE_KIND_QUERY	2			/* cached() */

/*
 * A dependency of a cached() entry: a relation (InvalidOid for the
 * database and global epochs), its version bucket, and the bucket's
 * version when the result was computed.
 */
typedef struct CacheDep
{
	Oid			relid;
	uint32		bucket;
	uint64		version;
} CacheDep;

/* Identity of an entry: namespace and key. */
typedef struct CacheKey
{
	Oid			dbid;
	Oid			roleid;
	uint16		kind;
	const char *key;
	uint32		keylen;
	uint32		hash;
} CacheKey;

/* Aggregated counters, for cache_stats() and metrics. */
typedef struct CacheStats
{
	int64		entries;
	int64		bytes_used;
	int64		bytes_total;
	int64		hits;
	int64		stale_hits;
	int64		misses;
	int64		evictions;
	int64		expirations;
	int64		invalidations;
} CacheStats;

/* One entry as cache_entries shows it. */
typedef struct CacheEntryInfo
{
	Oid			dbid;
	Oid			roleid;
	uint16		kind;
	char	   *key;
	int64		bytes;
	int64		hits;
	TimestampTz created;
	TimestampTz expires;
	int			ndeps;
	Oid		   *deps;
} CacheEntryInfo;

/* store.c */
extern Size cache_store_shmem_size(void);
extern void cache_store_shmem_init(void);
extern void cache_key_init(CacheKey *k, uint16 kind, const char *key, uint32 keylen);
extern void cache_key_init_role(CacheKey *k, uint16 kind, const char *key, uint32 keylen,
								Oid roleid);
extern Size cache_max_value(void);
extern bool cache_store_get(const CacheKey *k, char **value, uint32 *vallen);
extern bool cache_store_get_bounded(const CacheKey *k, char **value, uint32 *vallen,
									int64 max_stale);
/* does a stored value count as a hit (it is not a redirect)? */
typedef bool (*CacheValueCounts) (const char *value, uint32 vallen);
extern bool cache_store_get_counting(const CacheKey *k, char **value, uint32 *vallen,
									 int64 max_stale, CacheValueCounts counts);
extern void cache_store_count_miss(const CacheKey *k);
extern void cache_store_put(const CacheKey *k, const char *value, uint32 vallen,
							const CacheDep *deps, int ndeps, int64 ttl, TimestampTz since);
extern bool cache_store_delete(const CacheKey *k);
typedef struct PkLikePattern PkLikePattern;
extern int64 cache_store_invalidate_pattern(Oid dbid, Oid roleid, PkLikePattern *pattern);
extern int64 cache_store_invalidate_rel(Oid dbid, Oid relid);
extern int64 cache_store_clear(Oid dbid);
extern int64 cache_store_expire(void);
extern void cache_store_stats(CacheStats *stats);
extern List *cache_store_entries(bool all_roles);

/* versions.c */
extern Size cache_versions_shmem_size(void);
extern void cache_versions_shmem_init(void);
extern uint32 cache_version_bucket(Oid dbid, Oid relid);
extern uint32 cache_version_bucket_name(Oid dbid, char kind, const char *name);
extern uint64 cache_version_read(uint32 bucket);
extern void cache_version_bump(uint32 bucket);
extern bool cache_deps_current(const CacheDep *deps, int ndeps);
extern void cache_version_commit_done(void);
extern uint64 cache_version_commits(void);
extern uint64 cache_versions_generation(void);

/* cached.c */
extern void cache_capture_executor_start(QueryDesc *queryDesc);

/* citus.c: cached() over Citus tables */
extern List *cache_citus_tables(List *rels);
extern bool cache_citus_usable(const char **why);
extern bool cache_citus_fingerprint(List *tables, StringInfo out, char **why);

/* tracking.c */
extern void cache_track_executor_start(QueryDesc *queryDesc);
extern void cache_track_executor_end(QueryDesc *queryDesc);
extern void cache_track_utility(PlannedStmt *pstmt, bool before);
extern void cache_track_xact(XactEvent event);
extern bool cache_track_wrote_any(const CacheDep *deps, int ndeps);
extern void cache_track_relation(Oid relid, bool with_descendants);
extern uint32 cache_track_session_bucket(void);

/* like.c */
extern PkLikePattern *pk_like_compile(const char *pat, int patlen);
extern int	pk_like_width(const PkLikePattern *p);
extern void pk_like_free(PkLikePattern *p);
extern bool pk_like_match(PkLikePattern *p, const char *str, int slen);

/* cache/gucs.c: registers the room's settings (called by _PG_init) */
extern void cache_define_gucs(void);

#endif							/* PERFKIT_CACHE_H */
