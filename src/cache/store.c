/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The cache's shared-memory store: entries with TTL, bounded memory,
 *	  least-recently-used eviction, and walks that never stall the cache.
 *
 * Layout.  perfkit.cache_size is split into CACHE_PARTITIONS partitions;
 * an entry lives in the partition chosen by the hash of its identity
 * (database, role, kind, key).  Each partition has its own LWLock, hash
 * table, recency list and pool of fixed-size chunks of CHUNK_SIZE bytes.
 * An entry is a chain of chunks: the first starts with the CacheEntry
 * header, and the payload (key, then dependencies, then value) runs on
 * through the chain.  Fixed chunks mean no fragmentation: any free chunk
 * serves any entry, so memory use is bounded by the pool and a put never
 * fails for want of contiguous space.  bytes_used counts whole chunks.
 *
 * Recency.  Each partition keeps its entries on a list from oldest to
 * newest insertion.  A hit sets the entry's "referenced" flag (an atomic,
 * so readers need only the shared lock); eviction takes entries from the
 * old end, giving a referenced entry a second chance (flag cleared, moved
 * to the new end) and evicting the first unreferenced one.  That is LRU as
 * memcached and PostgreSQL's buffer manager approximate it, without a
 * write to shared state on every hit.  Expired entries met on the way are
 * removed first, and counted as expirations, not evictions.
 *
 * TTL.  An expired entry is never returned: get checks expiry under the
 * lock.  Expired entries are removed lazily (by the get that finds one,
 * by eviction) and actively by cache_store_expire(), the cache_expire job.
 *
 * Walks (pattern and table invalidation, clear, expire, cache_entries) go
 * partition by partition, and within a partition in batches, releasing
 * the lock and checking for interrupts between batches: they never hold
 * more than one lock, nor one lock for long.  A batch examines entries
 * under the shared lock (readers of the partition go on meanwhile), then
 * takes the exclusive lock only to remove the entries it chose, if they
 * are still the same entries (see walk()).  A batch ends after
 * SCAN_BATCH chunk positions or SCAN_WORK units of work, whichever comes
 * first; a unit is one chunk of an entry read (key copied, dependencies
 * scanned, row collected) or freed, and matching a key against a pattern
 * costs its chunks times (1 + the matcher's width, at most 16), since the
 * matcher is linear in the key (src/cache/like.c).  So one hold does at
 * most SCAN_BATCH position checks plus SCAN_WORK units plus one entry's
 * (at most CACHE_MAX_KEY + cache_max_value() bytes), whatever the number,
 * size or keys of the entries and whatever the pattern: a few
 * milliseconds, which bounds how long a cache_get of the same partition
 * waits on the lock (LWLock waits cannot be cancelled; a short one need
 * not be: a cancel takes effect milliseconds later, once the waiter has
 * the lock and reaches its next interrupt check).  Writers (put, delete)
 * of a partition under a walk wait at most one batch at a time, but
 * LWLocks are not fair: a walk re-taking the lock at once may pass a
 * waiting writer more than once.  An entry is identified by the position
 * of its first chunk, so a walk can resume by position after releasing
 * the lock.
 *
 * Other lock holds are bounded by the partition, not by user input: get,
 * put and delete find a key in one hash chain and copy one entry (a key
 * of at most CACHE_MAX_KEY bytes, a value of at most cache_max_value(), a
 * quarter of a partition); put's eviction removes at most 2 * nentries + 2
 * entries from the recency list; stats reads a few counters.
 *
 * Lock order: a partition lock is a leaf (src/shmem.c).  Under it the
 * store may palloc (an ERROR releases LWLocks) but takes no other lock,
 * runs no SPI and matches patterns only with the non-failing pk_like_match,
 * on a pattern compiled before the walk.
 * Counters are atomics, updated without the exclusive lock; the hit and
 * miss counters of the read path (per partition and per entry) can be
 * switched off with perfkit.cache_track_stats.
 *
 * src/cache/store.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "perfkit/cache.h"
#include "perfkit/shmem.h"

#define CHUNK_SIZE		256
#define CHUNK_NONE		PG_UINT32_MAX
#define SCAN_BATCH		4096	/* chunk positions per lock hold in walks */
#define SCAN_WORK		4096	/* units of entry work per lock hold in walks */

typedef struct CacheEntry
{
	pg_atomic_uint64 hits;
	pg_atomic_uint32 referenced;
	uint32		hash;
	uint32		hnext;			/* next entry in the hash bucket */
	uint32		lprev;			/* recency list, towards the oldest */
	uint32		lnext;			/* recency list, towards the newest */
	uint32		nchunks;
	Oid			dbid;
	Oid			roleid;
	uint32		keylen;
	uint32		vallen;
	uint16		ndeps;
	uint16		kind;
	TimestampTz created;
	TimestampTz expires;
	TimestampTz since;			/* cached(): when its versions were read */
} CacheEntry;

#define HEADER_SIZE		MAXALIGN(sizeof(CacheEntry))

typedef struct CachePartition
{
	LWLock	   *lock;
	uint32		nchunks;
	uint32		nbuckets;
	uint32		free_head;
	uint32		nfree;
	uint32		lru_head;		/* oldest */
	uint32		lru_tail;		/* newest */
	uint32		nentries;
	pg_atomic_uint64 hits;
	pg_atomic_uint64 stale_hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 expirations;
	pg_atomic_uint64 invalidations;
	uint32	   *buckets;
	uint32	   *next;			/* per chunk: next in entry chain or free list */
	bool	   *is_head;		/* per chunk: first chunk of an entry */
	char	   *data;			/* nchunks * CHUNK_SIZE */
} CachePartition;

typedef struct CacheShared
{
	CachePartition parts[CACHE_PARTITIONS];
} CacheShared;

static CacheShared *cache = NULL;

#define CHUNK(p, i)		((p)->data + (Size) (i) * CHUNK_SIZE)
#define ENTRY(p, i)		((CacheEntry *) CHUNK(p, i))

/* Chunks in one partition, and its hash buckets. */
static uint32
partition_chunks(void)
{
	Size		bytes = (Size) perfkit_cache_size * 1024 / CACHE_PARTITIONS;

	/* a chunk's data, its next link, its head flag, half a bucket */
	return (uint32) (bytes / (CHUNK_SIZE + sizeof(uint32) + sizeof(bool) + sizeof(uint32) / 2));
}

static uint32
partition_buckets(uint32 nchunks)
{
	return Max(nchunks / 2, 16) | 1;
}

Size
cache_store_shmem_size(void)
{
	uint32		nchunks = partition_chunks();
	Size		per = 0;

	per = add_size(per, MAXALIGN(mul_size(partition_buckets(nchunks), sizeof(uint32))));
	per = add_size(per, MAXALIGN(mul_size(nchunks, sizeof(uint32))));
	per = add_size(per, MAXALIGN(mul_size(nchunks, sizeof(bool))));
	per = add_size(per, mul_size(nchunks, CHUNK_SIZE));
	return add_size(MAXALIGN(sizeof(CacheShared)), mul_size(per, CACHE_PARTITIONS));
}

/* Called under AddinShmemInitLock. */
void
cache_store_shmem_init(void)
{
	bool		found;
	char	   *mem;
	LWLockPadded *locks;
	int			i;

	cache = ShmemInitStruct("perfkit cache", cache_store_shmem_size(), &found);
	locks = GetNamedLWLockTranche("perfkit cache");
	if (found)
		return;

	mem = (char *) cache + MAXALIGN(sizeof(CacheShared));
	for (i = 0; i < CACHE_PARTITIONS; i++)
	{
		CachePartition *p = &cache->parts[i];
		uint32		c;

		p->lock = &locks[i].lock;
		p->nchunks = partition_chunks();
		p->nbuckets = partition_buckets(p->nchunks);
		p->buckets = (uint32 *) mem;
		mem += MAXALIGN(p->nbuckets * sizeof(uint32));
		p->next = (uint32 *) mem;
		mem += MAXALIGN(p->nchunks * sizeof(uint32));
		p->is_head = (bool *) mem;
		mem += MAXALIGN(p->nchunks * sizeof(bool));
		p->data = mem;
		mem += (Size) p->nchunks * CHUNK_SIZE;

		for (c = 0; c < p->nbuckets; c++)
			p->buckets[c] = CHUNK_NONE;
		for (c = 0; c < p->nchunks; c++)
		{
			p->next[c] = (c + 1 < p->nchunks) ? c + 1 : CHUNK_NONE;
			p->is_head[c] = false;
		}
		p->free_head = p->nchunks > 0 ? 0 : CHUNK_NONE;
		p->nfree = p->nchunks;
		p->lru_head = p->lru_tail = CHUNK_NONE;
		p->nentries = 0;
		pg_atomic_init_u64(&p->hits, 0);
		pg_atomic_init_u64(&p->stale_hits, 0);
		pg_atomic_init_u64(&p->misses, 0);
		pg_atomic_init_u64(&p->evictions, 0);
		pg_atomic_init_u64(&p->expirations, 0);
		pg_atomic_init_u64(&p->invalidations, 0);
	}
}

static void
require_cache(void)
{
	perfkit_require_preload();
	Assert(cache != NULL);
}

/* Fill in k's identity for the current database and user. */
void
cache_key_init(CacheKey *k, uint16 kind, const char *key, uint32 keylen)
{
	cache_key_init_role(k, kind, key, keylen, GetUserId());
}

/* Fill in k's identity for the current database and namespace roleid. */
void
cache_key_init_role(CacheKey *k, uint16 kind, const char *key, uint32 keylen, Oid roleid)
{
	k->dbid = MyDatabaseId;
	k->roleid = roleid;
	k->kind = kind;
	k->key = key;
	k->keylen = keylen;
	k->hash = hash_combine(hash_bytes((const unsigned char *) key, (int) keylen),
						   hash_combine(murmurhash32(k->dbid),
										murmurhash32(k->roleid ^ ((uint32) kind << 24))));
}

/*
 * The largest value an entry may hold: the GUC, but never more than a
 * quarter of a partition, so that eviction can always make room.
 */
Size
cache_max_value(void)
{
	Size		quarter = (Size) partition_chunks() * CHUNK_SIZE / 4;

	return Min((Size) perfkit_cache_max_value_size, quarter);
}

static CachePartition *
partition_of(uint32 hash)
{
	return &cache->parts[hash % CACHE_PARTITIONS];
}

/*
 * Copy len bytes between buf and an entry's payload at offset pos (after
 * the header).  Caller holds the partition lock (exclusive to write).
 */
static void
payload_copy(CachePartition *p, uint32 head, Size pos, char *buf, Size len, bool write)
{
	uint32		chunk = head;
	Size		cap = CHUNK_SIZE - HEADER_SIZE;
	Size		off = HEADER_SIZE;

	if (len == 0)
		return;
	/* find the chunk holding pos */
	while (pos >= cap)
	{
		pos -= cap;
		chunk = p->next[chunk];
		cap = CHUNK_SIZE;
		off = 0;
	}
	off += pos;
	cap -= pos;
	while (len > 0)
	{
		Size		n = Min(len, cap);

		if (write)
			memcpy(CHUNK(p, chunk) + off, buf, n);
		else
			memcpy(buf, CHUNK(p, chunk) + off, n);
		buf += n;
		len -= n;
		if (len > 0)
		{
			chunk = p->next[chunk];
			off = 0;
			cap = CHUNK_SIZE;
		}
	}
}

/* Does the entry at head have this key? */
static bool
key_equal(CachePartition *p, uint32 head, const char *key, uint32 keylen)
{
	char		buf[CHUNK_SIZE];
	Size		pos = 0;

	/* most keys fit in the first chunk: compare in place */
	if (keylen <= CHUNK_SIZE - HEADER_SIZE)
		return memcmp(CHUNK(p, head) + HEADER_SIZE, key, keylen) == 0;
	while (pos < keylen)
	{
		Size		n = Min((Size) keylen - pos, sizeof(buf));

		payload_copy(p, head, pos, buf, n, false);
		if (memcmp(buf, key + pos, n) != 0)
			return false;
		pos += n;
	}
	return true;
}

static uint32
entry_find(CachePartition *p, const CacheKey *k)
{
	uint32		i = p->buckets[k->hash % p->nbuckets];

	while (i != CHUNK_NONE)
	{
		CacheEntry *e = ENTRY(p, i);

		if (e->hash == k->hash && e->dbid == k->dbid && e->roleid == k->roleid &&
			e->kind == k->kind && e->keylen == k->keylen &&
			key_equal(p, i, k->key, k->keylen))
			return i;
		i = e->hnext;
	}
	return CHUNK_NONE;
}

static void
lru_unlink(CachePartition *p, uint32 i)
{
	CacheEntry *e = ENTRY(p, i);

	if (e->lprev != CHUNK_NONE)
		ENTRY(p, e->lprev)->lnext = e->lnext;
	else
		p->lru_head = e->lnext;
	if (e->lnext != CHUNK_NONE)
		ENTRY(p, e->lnext)->lprev = e->lprev;
	else
		p->lru_tail = e->lprev;
}

static void
lru_append(CachePartition *p, uint32 i)
{
	CacheEntry *e = ENTRY(p, i);

	e->lnext = CHUNK_NONE;
	e->lprev = p->lru_tail;
	if (p->lru_tail != CHUNK_NONE)
		ENTRY(p, p->lru_tail)->lnext = i;
	else
		p->lru_head = i;
	p->lru_tail = i;
}

/* Remove the entry at i and give its chunks back.  Exclusive lock held. */
static void
entry_remove(CachePartition *p, uint32 i)
{
	CacheEntry *e = ENTRY(p, i);
	uint32	   *link = &p->buckets[e->hash % p->nbuckets];
	uint32		last = i;
	uint32		n;

	while (*link != i)
		link = &ENTRY(p, *link)->hnext;
	*link = e->hnext;
	lru_unlink(p, i);

	for (n = 1; n < e->nchunks; n++)
		last = p->next[last];
	p->next[last] = p->free_head;
	p->free_head = i;
	p->nfree += e->nchunks;
	p->is_head[i] = false;
	p->nentries--;
}

/* Remove k's entry if there is one; true if there was.  Exclusive lock held. */
static bool
entry_take(CachePartition *p, const CacheKey *k)
{
	uint32		head = entry_find(p, k);

	if (head == CHUNK_NONE)
		return false;
	entry_remove(p, head);
	return true;
}

static uint32
chunks_for(Size payload)
{
	Size		first = CHUNK_SIZE - HEADER_SIZE;

	if (payload <= first)
		return 1;
	return 1 + (uint32) ((payload - first + CHUNK_SIZE - 1) / CHUNK_SIZE);
}

/*
 * Make nfree >= need by removing expired entries and evicting the least
 * recently used ones.  Exclusive lock held.
 */
static void
make_room(CachePartition *p, uint32 need, TimestampTz now)
{
	int64		budget = 2 * (int64) p->nentries + 2;

	while (p->nfree < need && p->lru_head != CHUNK_NONE && budget-- > 0)
	{
		uint32		i = p->lru_head;
		CacheEntry *e = ENTRY(p, i);

		if (e->expires <= now)
		{
			entry_remove(p, i);
			pg_atomic_fetch_add_u64(&p->expirations, 1);
		}
		else if (budget > p->nentries && pg_atomic_read_u32(&e->referenced) != 0)
		{
			/* second chance */
			pg_atomic_write_u32(&e->referenced, 0);
			lru_unlink(p, i);
			lru_append(p, i);
		}
		else
		{
			entry_remove(p, i);
			pg_atomic_fetch_add_u64(&p->evictions, 1);
		}
	}
}

/*
 * Store value under k for ttl microseconds, replacing any entry with the
 * same identity.  The caller has checked vallen against cache_max_value()
 * and the key length.
 */
void
cache_store_put(const CacheKey *k, const char *value, uint32 vallen,
				const CacheDep *deps, int ndeps, int64 ttl, TimestampTz since)
{
	CachePartition *p;
	Size		payload = (Size) k->keylen + (Size) ndeps * sizeof(CacheDep) + vallen;
	uint32		need = chunks_for(payload);
	TimestampTz now = GetCurrentTimestamp();
	uint32		head;
	uint32		last;
	uint32		n;
	CacheEntry *e;

	require_cache();
	p = partition_of(k->hash);
	LWLockAcquire(p->lock, LW_EXCLUSIVE);

	(void) entry_take(p, k);
	/*
	 * Callers keep whole entries within cache_max_value(), a quarter of a
	 * partition; never evict a partition for something that cannot fit.
	 */
	if (need > p->nchunks / 4 + 1)
	{
		LWLockRelease(p->lock);
		return;
	}
	make_room(p, need, now);
	if (p->nfree < need)
	{
		LWLockRelease(p->lock);
		elog(WARNING, "perfkit cache partition could not make room for %u chunks", need);
		return;
	}

	/* take need chunks off the free list */
	head = last = p->free_head;
	for (n = 1; n < need; n++)
		last = p->next[last];
	p->free_head = p->next[last];
	p->next[last] = CHUNK_NONE;
	p->nfree -= need;
	p->is_head[head] = true;

	e = ENTRY(p, head);
	pg_atomic_init_u64(&e->hits, 0);
	pg_atomic_init_u32(&e->referenced, 0);
	e->hash = k->hash;
	e->nchunks = need;
	e->dbid = k->dbid;
	e->roleid = k->roleid;
	e->keylen = k->keylen;
	e->vallen = vallen;
	e->ndeps = (uint16) ndeps;
	e->kind = k->kind;
	e->created = now;
	e->expires = now + ttl;
	e->since = since != 0 ? since : now;
	payload_copy(p, head, 0, (char *) k->key, k->keylen, true);
	if (ndeps > 0)
		payload_copy(p, head, k->keylen, (char *) deps, ndeps * sizeof(CacheDep), true);
	payload_copy(p, head, k->keylen + ndeps * sizeof(CacheDep), (char *) value, vallen, true);

	e->hnext = p->buckets[k->hash % p->nbuckets];
	p->buckets[k->hash % p->nbuckets] = head;
	lru_append(p, head);
	p->nentries++;

	LWLockRelease(p->lock);
}

typedef enum LookupResult
{
	LOOKUP_HIT,
	LOOKUP_MISS,
	LOOKUP_EXPIRED,				/* to be removed */
	LOOKUP_STALE,				/* a relation it read was written: remove */
	LOOKUP_STALE_HIT,			/* stale, but within the caller's bound */
	LOOKUP_OWN_WRITES			/* this transaction wrote what it read: skip */
} LookupResult;

bool
cache_store_get(const CacheKey *k, char **value, uint32 *vallen)
{
	return cache_store_get_bounded(k, value, vallen, 0);
}

/*
 * Look k up.  On a hit, *value is a palloc'd copy of the value.  A value
 * that expired or went stale is removed and reported as a miss; so is an
 * entry that depends on what this transaction has written, but that one
 * stays for other transactions.  With max_stale > 0 (microseconds), a
 * stale entry whose versions were read at most max_stale ago is served
 * and counted as a stale hit: whatever commit made it stale came after
 * those versions were read, so at most max_stale ago.  Never to a
 * transaction that wrote what it read.
 */
static bool
store_get(const CacheKey *k, char **value, uint32 *vallen, int64 max_stale,
		  CacheValueCounts counts)
{
	CachePartition *p;
	TimestampTz now = GetCurrentTimestamp();
	LookupResult result = LOOKUP_MISS;
	TimestampTz created = 0;
	uint32		head;
	bool		counted = true;

	require_cache();
	p = partition_of(k->hash);
	LWLockAcquire(p->lock, LW_SHARED);
	head = entry_find(p, k);
	if (head != CHUNK_NONE)
	{
		CacheEntry *e = ENTRY(p, head);

		created = e->created;
		if (e->expires <= now)
			result = LOOKUP_EXPIRED;
		else
		{
			result = LOOKUP_HIT;
			if (e->ndeps > 0)
			{
				CacheDep   *deps = palloc(e->ndeps * sizeof(CacheDep));

				payload_copy(p, head, e->keylen, (char *) deps,
							 e->ndeps * sizeof(CacheDep), false);
				if (cache_track_wrote_any(deps, e->ndeps))
					result = LOOKUP_OWN_WRITES;
				else if (!cache_deps_current(deps, e->ndeps))
					result = (max_stale > 0 && now - e->since <= max_stale) ?
						LOOKUP_STALE_HIT : LOOKUP_STALE;
				pfree(deps);
			}
		}
		if (result == LOOKUP_HIT || result == LOOKUP_STALE_HIT)
		{
			*vallen = e->vallen;
			*value = palloc(e->vallen);
			payload_copy(p, head, e->keylen + e->ndeps * sizeof(CacheDep),
						 *value, e->vallen, false);
			counted = counts == NULL || counts(*value, e->vallen);
			if (perfkit_cache_track_stats && counted)
				pg_atomic_fetch_add_u64(&e->hits, 1);
			if (pg_atomic_read_u32(&e->referenced) == 0)
				pg_atomic_write_u32(&e->referenced, 1);
		}
	}
	LWLockRelease(p->lock);

	if (result == LOOKUP_HIT)
	{
		if (perfkit_cache_track_stats && counted)
			pg_atomic_fetch_add_u64(&p->hits, 1);
		return true;
	}
	if (result == LOOKUP_STALE_HIT)
	{
		/* counted whatever perfkit.cache_track_stats says: it is opt-in */
		if (counted)
			pg_atomic_fetch_add_u64(&p->stale_hits, 1);
		return true;
	}
	if (perfkit_cache_track_stats)
		pg_atomic_fetch_add_u64(&p->misses, 1);

	if (result == LOOKUP_EXPIRED || result == LOOKUP_STALE)
	{
		/* remove it, unless someone replaced it meanwhile */
		LWLockAcquire(p->lock, LW_EXCLUSIVE);
		head = entry_find(p, k);
		if (head != CHUNK_NONE && ENTRY(p, head)->created == created)
		{
			entry_remove(p, head);
			pg_atomic_fetch_add_u64(result == LOOKUP_EXPIRED ?
									&p->expirations : &p->invalidations, 1);
		}
		LWLockRelease(p->lock);
	}
	return false;
}

bool
cache_store_get_bounded(const CacheKey *k, char **value, uint32 *vallen, int64 max_stale)
{
	return store_get(k, value, vallen, max_stale, NULL);
}

/*
 * cache_store_get_bounded(), but a hit whose value counts(value) says is
 * not a result (a redirect to another key, whose lookup counts) is not
 * counted, in the partition's counters nor in the entry's.  counts runs
 * under the partition's lock: it must only look at the bytes.
 */
bool
cache_store_get_counting(const CacheKey *k, char **value, uint32 *vallen,
						 int64 max_stale, CacheValueCounts counts)
{
	return store_get(k, value, vallen, max_stale, counts);
}

/*
 * Count a miss for k: a lookup of cache_store_get_counting() that found a
 * redirect which then could not be followed.
 */
void
cache_store_count_miss(const CacheKey *k)
{
	require_cache();
	if (perfkit_cache_track_stats)
		pg_atomic_fetch_add_u64(&partition_of(k->hash)->misses, 1);
}

bool
cache_store_delete(const CacheKey *k)
{
	CachePartition *p;
	bool		removed;

	require_cache();
	p = partition_of(k->hash);
	LWLockAcquire(p->lock, LW_EXCLUSIVE);
	removed = entry_take(p, k);
	LWLockRelease(p->lock);
	return removed;
}

/* An entry a walk has chosen to remove, as it was when chosen. */
typedef struct WalkCandidate
{
	uint32		pos;
	uint32		hash;
	Oid			roleid;
	TimestampTz created;
} WalkCandidate;

/*
 * The walk behind every bulk operation: calls visit(p, head, arg, &work)
 * for each entry, partition by partition and in batches of at most
 * SCAN_BATCH positions and SCAN_WORK units per lock hold; visit adds the
 * units it spent to work and returns true to remove the entry.  Returns
 * the number removed.
 *
 * Entries are visited (keys matched, dependencies scanned, rows copied)
 * under the shared lock, so that readers of the partition never wait for
 * a walk's matching; the batch's chosen entries are then removed under the
 * exclusive lock, each only if its position still holds the same entry
 * (same hash, role and creation time; a replacement made meanwhile is a
 * new entry, which the walk leaves alone, as if it had come after it).
 */
typedef bool (*entry_visitor) (CachePartition *p, uint32 head, void *arg, int64 *work);

static int64
walk(entry_visitor visit, void *arg, pg_atomic_uint64 *(*counter) (CachePartition *))
{
	int64		removed = 0;
	WalkCandidate *cand = palloc(sizeof(WalkCandidate) * SCAN_BATCH);
	int			i;

	require_cache();
	for (i = 0; i < CACHE_PARTITIONS; i++)
	{
		CachePartition *p = &cache->parts[i];
		uint32		pos = 0;

		while (pos < p->nchunks)
		{
			uint32		end = Min(pos + SCAN_BATCH, p->nchunks);
			int			ncand = 0;
			int64		n = 0;
			int64		work = 0;
			int			c;

			LWLockAcquire(p->lock, LW_SHARED);
			for (; pos < end && work < SCAN_WORK; pos++)
				if (p->is_head[pos] && visit(p, pos, arg, &work))
				{
					/* removing it will free its chain */
					work += ENTRY(p, pos)->nchunks;
					cand[ncand].pos = pos;
					cand[ncand].hash = ENTRY(p, pos)->hash;
					cand[ncand].roleid = ENTRY(p, pos)->roleid;
					cand[ncand].created = ENTRY(p, pos)->created;
					ncand++;
				}
			LWLockRelease(p->lock);

			if (ncand > 0)
			{
				LWLockAcquire(p->lock, LW_EXCLUSIVE);
				for (c = 0; c < ncand; c++)
				{
					uint32		head = cand[c].pos;

					if (p->is_head[head] && ENTRY(p, head)->hash == cand[c].hash &&
						ENTRY(p, head)->roleid == cand[c].roleid &&
						ENTRY(p, head)->created == cand[c].created)
					{
						entry_remove(p, head);
						n++;
					}
				}
				LWLockRelease(p->lock);
			}
			if (n > 0 && counter != NULL)
				pg_atomic_fetch_add_u64(counter(p), n);
			removed += n;
			CHECK_FOR_INTERRUPTS();
		}
	}
	pfree(cand);
	return removed;
}

static pg_atomic_uint64 *
invalidations_of(CachePartition *p)
{
	return &p->invalidations;
}

static pg_atomic_uint64 *
expirations_of(CachePartition *p)
{
	return &p->expirations;
}

typedef struct PatternArg
{
	Oid			dbid;
	Oid			roleid;
	PkLikePattern *pattern;
	int			width;			/* pk_like_width(pattern) */
	char	   *keybuf;			/* CACHE_MAX_KEY bytes */
} PatternArg;

static bool
visit_pattern(CachePartition *p, uint32 head, void *arg, int64 *work)
{
	PatternArg *a = arg;
	CacheEntry *e = ENTRY(p, head);

	if (e->dbid != a->dbid || e->roleid != a->roleid || e->kind != CACHE_KIND_VALUE)
		return false;
	/* the key's chunks, copied then matched in linear time */
	*work += (int64) chunks_for(e->keylen) * (1 + a->width);
	payload_copy(p, head, 0, a->keybuf, e->keylen, false);
	return pk_like_match(a->pattern, a->keybuf, e->keylen);
}

/*
 * Remove the role's cache_set() entries whose key matches the compiled
 * pattern.
 */
int64
cache_store_invalidate_pattern(Oid dbid, Oid roleid, PkLikePattern *pattern)
{
	PatternArg	a;
	int64		removed;

	a.dbid = dbid;
	a.roleid = roleid;
	a.pattern = pattern;
	a.width = pk_like_width(pattern);
	a.keybuf = palloc(CACHE_MAX_KEY);
	removed = walk(visit_pattern, &a, invalidations_of);
	pfree(a.keybuf);
	return removed;
}

typedef struct RelArg
{
	Oid			dbid;
	Oid			relid;
} RelArg;

static bool
visit_rel(CachePartition *p, uint32 head, void *arg, int64 *work)
{
	RelArg	   *a = arg;
	CacheEntry *e = ENTRY(p, head);
	CacheDep	dep;
	int			d;

	if (e->dbid != a->dbid || e->ndeps == 0)
		return false;
	/* each payload_copy walks the chain to the dependency: the entry */
	*work += (int64) e->ndeps * e->nchunks;
	for (d = 0; d < e->ndeps; d++)
	{
		payload_copy(p, head, e->keylen + d * sizeof(CacheDep), (char *) &dep,
					 sizeof(CacheDep), false);
		if (dep.relid == a->relid)
			return true;
	}
	return false;
}

/* Remove every entry of the database that read relid. */
int64
cache_store_invalidate_rel(Oid dbid, Oid relid)
{
	RelArg		a;

	a.dbid = dbid;
	a.relid = relid;
	return walk(visit_rel, &a, invalidations_of);
}

static bool
visit_db(CachePartition *p, uint32 head, void *arg, int64 *work)
{
	Oid			dbid = *(Oid *) arg;

	return !OidIsValid(dbid) || ENTRY(p, head)->dbid == dbid;
}

/* Remove every entry of database dbid, or of all (InvalidOid). */
int64
cache_store_clear(Oid dbid)
{
	return walk(visit_db, &dbid, invalidations_of);
}

static bool
visit_expired(CachePartition *p, uint32 head, void *arg, int64 *work)
{
	return ENTRY(p, head)->expires <= *(TimestampTz *) arg;
}

int64
cache_store_expire(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return walk(visit_expired, &now, expirations_of);
}

typedef struct EntriesArg
{
	TimestampTz now;
	bool		all_roles;
	Oid			roleid;
	List	   *result;
} EntriesArg;

static bool
visit_collect(CachePartition *p, uint32 head, void *arg, int64 *work)
{
	EntriesArg *a = arg;
	CacheEntry *e = ENTRY(p, head);
	CacheEntryInfo *info;
	int			d;

	if (!a->all_roles && e->roleid != a->roleid)
		return false;
	/* the key copied, and each dependency found along the chain */
	*work += (int64) chunks_for(e->keylen) + (int64) e->ndeps * e->nchunks;
	/* only live entries: not expired, every version still current */
	if (e->expires <= a->now)
		return false;
	if (e->ndeps > 0)
	{
		CacheDep   *deps = palloc(e->ndeps * sizeof(CacheDep));
		bool		current;

		payload_copy(p, head, e->keylen, (char *) deps, e->ndeps * sizeof(CacheDep), false);
		current = cache_deps_current(deps, e->ndeps);
		pfree(deps);
		if (!current)
			return false;
	}
	info = palloc(sizeof(CacheEntryInfo));
	info->dbid = e->dbid;
	info->roleid = e->roleid;
	info->kind = e->kind;
	info->key = palloc(e->keylen + 1);
	payload_copy(p, head, 0, info->key, e->keylen, false);
	info->key[e->keylen] = '\0';
	info->bytes = (int64) e->nchunks * CHUNK_SIZE;
	info->hits = (int64) pg_atomic_read_u64(&e->hits);
	info->created = e->created;
	info->expires = e->expires;
	info->ndeps = 0;
	info->deps = palloc(Max(e->ndeps, 1) * sizeof(Oid));
	for (d = 0; d < e->ndeps; d++)
	{
		CacheDep	dep;

		payload_copy(p, head, e->keylen + d * sizeof(CacheDep), (char *) &dep,
					 sizeof(CacheDep), false);
		if (OidIsValid(dep.relid))
			info->deps[info->ndeps++] = dep.relid;
	}
	a->result = lappend(a->result, info);
	return false;
}

/*
 * Every live entry (of the current role unless all_roles), as
 * CacheEntryInfo: expired entries and results a commit has invalidated
 * (which no lookup would serve fresh) are left out.
 */
List *
cache_store_entries(bool all_roles)
{
	EntriesArg	a;

	a.now = GetCurrentTimestamp();
	a.all_roles = all_roles;
	a.roleid = GetUserId();
	a.result = NIL;
	walk(visit_collect, &a, NULL);
	return a.result;
}

void
cache_store_stats(CacheStats *s)
{
	int			i;

	require_cache();
	memset(s, 0, sizeof(CacheStats));
	for (i = 0; i < CACHE_PARTITIONS; i++)
	{
		CachePartition *p = &cache->parts[i];

		LWLockAcquire(p->lock, LW_SHARED);
		s->entries += p->nentries;
		s->bytes_used += (int64) (p->nchunks - p->nfree) * CHUNK_SIZE;
		s->bytes_total += (int64) p->nchunks * CHUNK_SIZE;
		LWLockRelease(p->lock);
		s->hits += (int64) pg_atomic_read_u64(&p->hits);
		s->stale_hits += (int64) pg_atomic_read_u64(&p->stale_hits);
		s->misses += (int64) pg_atomic_read_u64(&p->misses);
		s->evictions += (int64) pg_atomic_read_u64(&p->evictions);
		s->expirations += (int64) pg_atomic_read_u64(&p->expirations);
		s->invalidations += (int64) pg_atomic_read_u64(&p->invalidations);
	}
}
