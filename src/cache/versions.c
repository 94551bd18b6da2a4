/*-------------------------------------------------------------------------
 *
 * versions.c
 *	  Relation versions: how the cache knows that a table it read has been
 *	  written since.
 *
 * A fixed array of 65,536 atomic 64-bit counters in shared memory.  A
 * relation's version lives in the bucket hash(database, relation); the
 * database epoch in hash(database, 0), and the global epoch in bucket 0.
 * A committed write bumps the buckets of every relation it wrote (see
 * tracking.c), DDL the relations it changes and the names it creates;
 * the routine and type epochs of a database live in buckets of names too
 * (cache_version_bucket_name); DDL that perfkit cannot attribute bumps
 * the database epoch; COMMIT PREPARED bumps the global one.
 *
 * A cached() result records, for every relation it read and for both
 * epochs, the bucket and its version before the query's snapshot was
 * taken; it is served only while every recorded version is still current.
 * Two relations may share a bucket: a write to one then also invalidates
 * results that read the other.  That costs a miss, never a stale hit, and
 * there is no table to fill up or lock.
 *
 * Concurrency: counters are read and bumped with atomics, no lock.  A bump
 * is a full barrier; readers issue a barrier after reading versions and
 * before taking their snapshot (cached.c).
 *
 * src/cache/versions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "perfkit/cache.h"

#define VERSION_BUCKETS		65536

/*
 * versions[VERSION_BUCKETS] counts commits that bumped anything: cached()
 * uses it to tell whether any writing transaction committed while its
 * query ran.
 */
#define COMMITS		VERSION_BUCKETS

/*
 * versions[GENERATION] is a random number drawn whenever the counters are
 * made (at server start and after every crash restart, when they start
 * again from zero): with it, a version read before a restart never equals
 * one read after it (Citus nodes put it in their fingerprints, citus.c).
 */
#define GENERATION	(VERSION_BUCKETS + 1)

static pg_atomic_uint64 *versions = NULL;

Size
cache_versions_shmem_size(void)
{
	return mul_size(VERSION_BUCKETS + 2, sizeof(pg_atomic_uint64));
}

/* Called under AddinShmemInitLock. */
void
cache_versions_shmem_init(void)
{
	bool		found;
	int			i;

	versions = ShmemInitStruct("perfkit cache versions",
							   cache_versions_shmem_size(), &found);
	if (!found)
	{
		uint64		generation = 0;

		for (i = 0; i <= VERSION_BUCKETS; i++)
			pg_atomic_init_u64(&versions[i], 0);
		if (!pg_strong_random(&generation, sizeof(generation)))
			generation = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
		pg_atomic_init_u64(&versions[GENERATION], generation);
	}
}

/* The counters' generation: changes whenever they start again from zero. */
uint64
cache_versions_generation(void)
{
	return pg_atomic_read_u64(&versions[GENERATION]);
}

/*
 * The bucket of (dbid, relid); relid InvalidOid is the database epoch, and
 * dbid InvalidOid with relid InvalidOid the global epoch (bucket 0, which
 * no relation uses).
 */
uint32
cache_version_bucket(Oid dbid, Oid relid)
{
	uint32		h;

	if (!OidIsValid(dbid) && !OidIsValid(relid))
		return 0;
	h = hash_combine(murmurhash32((uint32) dbid), murmurhash32((uint32) relid));
	h %= VERSION_BUCKETS - 1;
	return h + 1;
}

/*
 * The bucket of a name (kind 'r' relation, 'f' function) or, with an
 * empty name, of an epoch ('R' routines, 'T' types) of database dbid:
 * see src/cache/tracking.c for who bumps them.
 */
uint32
cache_version_bucket_name(Oid dbid, char kind, const char *name)
{
	uint32		h;

	h = hash_combine(murmurhash32((uint32) dbid),
					 hash_bytes((const unsigned char *) name, (int) strlen(name)));
	h = hash_combine(h, murmurhash32((uint32) (unsigned char) kind | 0x5a000000));
	h %= VERSION_BUCKETS - 1;
	return h + 1;
}

uint64
cache_version_read(uint32 bucket)
{
	return pg_atomic_read_u64(&versions[bucket]);
}

void
cache_version_bump(uint32 bucket)
{
	(void) pg_atomic_fetch_add_u64(&versions[bucket], 1);
}

/* Called once per writing commit, after its buckets were bumped. */
void
cache_version_commit_done(void)
{
	(void) pg_atomic_fetch_add_u64(&versions[COMMITS], 1);
}

uint64
cache_version_commits(void)
{
	return pg_atomic_read_u64(&versions[COMMITS]);
}

/* Are all recorded versions still current? */
bool
cache_deps_current(const CacheDep *deps, int ndeps)
{
	int			i;

	for (i = 0; i < ndeps; i++)
		if (pg_atomic_read_u64(&versions[deps[i].bucket]) != deps[i].version)
			return false;
	return true;
}
