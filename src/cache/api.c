/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The cache's key/value SQL API: cache_set, cache_get, cache_delete,
 *	  cache_invalidate, cache_invalidate_table, cache_clear, cache_expire,
 *	  cache_stats and the rows behind the cache_entries view.
 *
 * Every entry is namespaced by database and by a role: by default the
 * current user (GetUserId(): SET ROLE and SECURITY DEFINER functions
 * count); with namespace => 'app', the role app, which the current user
 * must be a member of (is_member_of_role(), superusers are members of
 * every role), so every member shares it; the last namespace named is
 * remembered per backend until a role or membership changes (see
 * namespace_arg()).  A role never reads, overwrites
 * or invalidates keys of a namespace it is not a member of.  cache_clear()
 * clears everything for a superuser, this database's entries for the
 * database's owner, and is refused to anyone else.  Input is
 * checked before any lock is taken: keys must be non-empty and at most
 * CACHE_MAX_KEY bytes, values at most cache_max_value(), TTLs positive,
 * LIKE patterns well formed and at most CACHE_MAX_PATTERN bytes (compiled
 * by like.c before the walk).  With perfkit.cache_enabled off, get misses,
 * set stores nothing and cached() runs its query every time.
 *
 * src/cache/api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/partition.h"
#include "catalog/objectaddress.h"
#include "common/int.h"
#include "catalog/pg_inherits.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "perfkit/cache.h"
#include "perfkit/shmem.h"

/* Key argument argno as bytes; errors for NULL, empty and too long. */
static char *
key_arg(FunctionCallInfo fcinfo, int argno, uint32 *keylen)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key must not be null")));
	t = PG_GETARG_TEXT_PP(argno);
	*keylen = VARSIZE_ANY_EXHDR(t);
	if (*keylen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache key must not be empty")));
	if (*keylen > CACHE_MAX_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache key is too long"),
				 errdetail("The key is %u bytes; the limit is %d bytes.",
						   *keylen, CACHE_MAX_KEY)));
	return VARDATA_ANY(t);
}

/*
 * The last namespace named, per backend: the name, the role it resolved
 * to, and the user whose membership was checked.  A call naming the same
 * namespace as the same user skips the role lookup.  Any change to a role
 * or to a membership (a syscache invalidation of pg_authid or
 * pg_auth_members: rename, drop, REVOKE, NOSUPERUSER) forgets it, as
 * is_member_of_role()'s own cache does.
 */
static char ns_name[NAMEDATALEN];
static Oid	ns_roleid = InvalidOid;
static Oid	ns_user = InvalidOid;
static bool ns_valid = false;
static bool ns_callbacks = false;

static void
ns_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	ns_valid = false;
}

/*
 * The namespace argument argno: NULL for the current user's own, else a
 * role the current user is a member of.
 */
static Oid
namespace_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	int			len;
	char	   *name;
	Oid			roleid;
	Oid			user = GetUserId();

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return user;
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (ns_valid && ns_user == user && len < NAMEDATALEN && ns_name[len] == '\0' &&
		memcmp(ns_name, VARDATA_ANY(t), len) == 0)
		return ns_roleid;

	if (!ns_callbacks)
	{
		CacheRegisterSyscacheCallback(AUTHOID, ns_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHNAME, ns_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, ns_invalidate, (Datum) 0);
		ns_callbacks = true;
	}
	/*
	 * Forget the last one, then look up; an invalidation during the lookups
	 * clears ns_valid again, and an error leaves nothing behind.
	 */
	ns_name[0] = '\0';
	ns_user = InvalidOid;
	ns_valid = true;
	name = text_to_cstring(t);
	roleid = get_role_oid(name, false);
	if (roleid != user && !is_member_of_role(user, roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for cache namespace \"%s\"", name),
				 errdetail("Only members of role \"%s\" may use its namespace.", name)));
	if (ns_valid && len < NAMEDATALEN)
	{
		memcpy(ns_name, name, len);
		ns_name[len] = '\0';
		ns_roleid = roleid;
		ns_user = user;
	}
	else
		ns_valid = false;
	return roleid;
}

/*
 * The TTL argument argno in microseconds (NULL: the default).  Shared with
 * cached.c.
 */
int64		cache_ttl_arg(FunctionCallInfo fcinfo, int argno);

int64
cache_ttl_arg(FunctionCallInfo fcinfo, int argno)
{
	int64		usecs;

	if (PG_ARGISNULL(argno))
		usecs = (int64) perfkit_cache_default_ttl * USECS_PER_SEC;
	else
	{
		Interval   *ttl = PG_GETARG_INTERVAL_P(argno);
		int64		days;
		int64		dayusecs;

		/* overflow-checked: a TTL of a few hundred thousand years overflows */
		if (pg_mul_s64_overflow((int64) ttl->month, DAYS_PER_MONTH, &days) ||
			pg_add_s64_overflow(days, (int64) ttl->day, &days) ||
			pg_mul_s64_overflow(days, USECS_PER_DAY, &dayusecs) ||
			pg_add_s64_overflow(dayusecs, ttl->time, &usecs) ||
			usecs > CACHE_MAX_TTL_USECS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cache TTL must be at most 100 years")));
		if (usecs <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cache TTL must be positive"),
					 errhint("Pass NULL for the default, perfkit.cache_default_ttl.")));
	}
	return usecs;
}

PG_FUNCTION_INFO_V1(perfkit_cache_set);

/*
 * cache_set(key text, value jsonb, ttl interval DEFAULT NULL, namespace
 * text DEFAULT NULL) RETURNS void
 */
Datum
perfkit_cache_set(PG_FUNCTION_ARGS)
{
	uint32		keylen;
	char	   *key = key_arg(fcinfo, 0, &keylen);
	Jsonb	   *value;
	int64		ttl;
	CacheKey	k;
	Oid			roleid = namespace_arg(fcinfo, 3);

	perfkit_require_preload();
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache value must not be null"),
				 errhint("Use cache_delete() to remove a key, or store 'null'::jsonb.")));
	value = PG_GETARG_JSONB_P(1);
	ttl = cache_ttl_arg(fcinfo, 2);
	if ((Size) keylen + VARSIZE(value) > cache_max_value())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache value is too large"),
				 errdetail("Key and value are %zu bytes; the limit is %zu bytes.",
						   (Size) keylen + VARSIZE(value), cache_max_value()),
				 errhint("Raise perfkit.cache_max_value_size, or perfkit.cache_size "
						 "(a value may use at most a quarter of one of its %d partitions).",
						 CACHE_PARTITIONS)));
	if (!perfkit_cache_enabled)
		PG_RETURN_VOID();

	cache_key_init_role(&k, CACHE_KIND_VALUE, key, keylen, roleid);
	cache_store_put(&k, (char *) value, VARSIZE(value), NULL, 0, ttl, 0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(perfkit_cache_get);

/*
 * cache_get(key text) and cache_get(key text, namespace text) RETURNS
 * jsonb: NULL on a miss.  The hit path is the floor of the cache: one hash
 * of the key, one shared partition lock, one copy of the value, no catalog
 * lookup (the namespace is the current user unless one is named).
 */
Datum
perfkit_cache_get(PG_FUNCTION_ARGS)
{
	uint32		keylen;
	char	   *key;
	CacheKey	k;
	char	   *value;
	uint32		vallen;
	Oid			roleid;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	key = key_arg(fcinfo, 0, &keylen);
	roleid = namespace_arg(fcinfo, 1);
	perfkit_require_preload();
	if (!perfkit_cache_enabled)
		PG_RETURN_NULL();
	cache_key_init_role(&k, CACHE_KIND_VALUE, key, keylen, roleid);
	if (!cache_store_get(&k, &value, &vallen))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(value);
}

PG_FUNCTION_INFO_V1(perfkit_cache_delete);

/* cache_delete(key text, namespace text DEFAULT NULL) RETURNS boolean */
Datum
perfkit_cache_delete(PG_FUNCTION_ARGS)
{
	uint32		keylen;
	char	   *key = key_arg(fcinfo, 0, &keylen);
	CacheKey	k;
	Oid			roleid = namespace_arg(fcinfo, 1);

	perfkit_require_preload();
	cache_key_init_role(&k, CACHE_KIND_VALUE, key, keylen, roleid);
	PG_RETURN_BOOL(cache_store_delete(&k));
}

PG_FUNCTION_INFO_V1(perfkit_cache_invalidate);

/* cache_invalidate(pattern text, namespace text DEFAULT NULL) RETURNS bigint */
Datum
perfkit_cache_invalidate(PG_FUNCTION_ARGS)
{
	text	   *pattern;
	int			patlen;
	PkLikePattern *compiled;
	int64		removed;
	Oid			roleid;

	perfkit_require_preload();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key pattern must not be null")));
	pattern = PG_GETARG_TEXT_PP(0);
	patlen = VARSIZE_ANY_EXHDR(pattern);
	if (patlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache key pattern must not be empty"),
				 errhint("Use '%%' to match every key.")));
	roleid = namespace_arg(fcinfo, 1);
	compiled = pk_like_compile(VARDATA_ANY(pattern), patlen);
	/* Redis' KEYS/SCAN habit: 'k:*' matches only the key "k:*" here */
	if (memchr(VARDATA_ANY(pattern), '*', patlen) != NULL &&
		memchr(VARDATA_ANY(pattern), '%', patlen) == NULL &&
		memchr(VARDATA_ANY(pattern), '_', patlen) == NULL)
		ereport(NOTICE,
				(errmsg("cache key pattern \"%s\" has \"*\" but no LIKE wildcard",
						text_to_cstring(pattern)),
				 errdetail("cache_invalidate() takes LIKE patterns, in which \"*\" matches only itself."),
				 errhint("Use %% for any run of characters and _ for one, as in 'k:%%'.")));
	removed = cache_store_invalidate_pattern(MyDatabaseId, roleid, compiled);
	pk_like_free(compiled);
	PG_RETURN_INT64(removed);
}

PG_FUNCTION_INFO_V1(perfkit_cache_invalidate_table);

/*
 * cache_invalidate_table(tbl regclass) RETURNS bigint
 *
 * Invalidates every cached() result of this database that read tbl, one
 * of its children or one of its partitioned ancestors, whichever role
 * computed it, at once rather than at commit.  Needs SELECT on tbl.
 */
Datum
perfkit_cache_invalidate_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	List	   *rels;
	ListCell   *lc;
	int64		removed = 0;

	perfkit_require_preload();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));

	/*
	 * The table, what inherits from it, and the partitioned tables it is a
	 * partition of: results that read any of them read the table's rows.
	 * Each is bumped before its entries are removed, so that a result being
	 * computed meanwhile is not stored as current.
	 */
	rels = has_subclass(relid) ? find_all_inheritors(relid, NoLock, NULL) :
		list_make1_oid(relid);
	if (get_rel_relispartition(relid))
		rels = list_concat(rels, get_partition_ancestors(relid));
	foreach(lc, rels)
	{
		cache_version_bump(cache_version_bucket(MyDatabaseId, lfirst_oid(lc)));
		removed += cache_store_invalidate_rel(MyDatabaseId, lfirst_oid(lc));
	}
	PG_RETURN_INT64(removed);
}

PG_FUNCTION_INFO_V1(perfkit_cache_clear);

/*
 * cache_clear() RETURNS bigint: every entry of every database and role for
 * a superuser; every entry of this database for its owner.
 */
Datum
perfkit_cache_clear(PG_FUNCTION_ARGS)
{
	perfkit_require_preload();
	if (superuser())
		PG_RETURN_INT64(cache_store_clear(InvalidOid));
	if (pg_database_ownercheck(MyDatabaseId, GetUserId()))
		PG_RETURN_INT64(cache_store_clear(MyDatabaseId));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to clear the cache"),
			 errdetail("Superusers clear every entry, the owner of a database its entries."),
			 errhint("Use cache_invalidate('%%', namespace => ...) for the keys of a role you are a member of.")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(perfkit_cache_expire);

/* cache_expire() RETURNS bigint: the cache_expire job */
Datum
perfkit_cache_expire(PG_FUNCTION_ARGS)
{
	perfkit_require_preload();
	PG_RETURN_INT64(cache_store_expire());
}

PG_FUNCTION_INFO_V1(perfkit_cache_stats);

/* cache_stats() RETURNS TABLE(entries, bytes_used, ...) */
Datum
perfkit_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	CacheStats	s;
	Datum		values[10];
	bool		nulls[10] = {0};

	perfkit_require_preload();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	cache_store_stats(&s);
	values[0] = Int64GetDatum(s.entries);
	values[1] = Int64GetDatum(s.bytes_used);
	values[2] = Int64GetDatum(s.bytes_total);
	values[3] = Int64GetDatum(s.hits);
	values[4] = Int64GetDatum(s.misses);
	/* hit_ratio: reads served, fresh or within their staleness bound */
	if (s.hits + s.stale_hits + s.misses > 0)
		values[5] = Float8GetDatum((double) (s.hits + s.stale_hits) /
								   (double) (s.hits + s.stale_hits + s.misses));
	else
		nulls[5] = true;
	values[6] = Int64GetDatum(s.evictions);
	values[7] = Int64GetDatum(s.expirations);
	values[8] = Int64GetDatum(s.invalidations);
	values[9] = Int64GetDatum(s.stale_hits);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(perfkit_cache_entries);

/*
 * perfkit._cache_entries(): the current role's entries, every entry for
 * superusers.
 */
Datum
perfkit_cache_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *entries;
	ListCell   *lc;

	perfkit_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	entries = cache_store_entries(superuser());
	foreach(lc, entries)
	{
		CacheEntryInfo *e = lfirst(lc);
		Datum		values[9];
		bool		nulls[9] = {0};
		Datum	   *deps = palloc(Max(e->ndeps, 1) * sizeof(Datum));
		int			d;

		values[0] = ObjectIdGetDatum(e->dbid);
		values[1] = ObjectIdGetDatum(e->roleid);
		values[2] = CStringGetTextDatum(e->kind == CACHE_KIND_VALUE ? "value" : "query");
		/* a cached() key is query, search_path and parameters, NUL-separated */
		values[3] = CStringGetTextDatum(e->key);
		values[4] = Int64GetDatum(e->bytes);
		values[5] = Int64GetDatum(e->hits);
		values[6] = TimestampTzGetDatum(e->created);
		values[7] = TimestampTzGetDatum(e->expires);
		for (d = 0; d < e->ndeps; d++)
			deps[d] = ObjectIdGetDatum(e->deps[d]);
		values[8] = PointerGetDatum(construct_array(deps, e->ndeps, REGCLASSOID,
													sizeof(Oid), true, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
