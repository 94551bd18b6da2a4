/*-------------------------------------------------------------------------
 *
 * like.c
 *	  SQL LIKE matching for cache_invalidate(), in time linear in the key
 *	  and usable under an LWLock.
 *
 * Semantics are LIKE's with the default escape character: % matches any
 * run of characters, _ one character (multibyte aware), \ makes the next
 * character literal; case-sensitive, byte-wise comparison of characters,
 * as PostgreSQL's own LIKE does for a deterministic collation.
 *
 * Design.  The pattern is compiled once, before any lock is taken
 * (pk_like_compile: it may allocate and ERROR, e.g. for a pattern ending
 * with the escape character or longer than CACHE_MAX_PATTERN bytes).
 * Matching (pk_like_match) only reads the key and the compiled pattern
 * and writes the pattern's own scratch state vector: it never allocates
 * nor fails, so the store may call it under a partition lock.
 *
 * The compiled pattern is a nondeterministic automaton simulated with
 * the bit-parallel Shift-And method.  The M characters of the pattern
 * that are not % are its states, one bit each: bit j set after reading a
 * prefix of the key means that pattern characters 0..j match a suffix of
 * that prefix, with % runs absorbing any gap.  Reading key character c:
 *
 *		D' = ((D << 1) | start) & B[c]  |  (D & G)
 *
 * where B[c] has the bits of the pattern characters that accept c (the
 * literal c, and every _), "start" is 1 when the pattern may begin here
 * (always after a leading %, else only at the key's first character), and
 * G has the bits of the pattern characters followed by a %: once reached
 * they stay, since the % may swallow the rest.  The key matches when the
 * bit of the last pattern character is set at the end (or at once, when
 * a % follows it); a pattern of only % matches every key.
 *
 * Bound.  Each key character costs one pg_mblen, one mask lookup (a table
 * of 256 entries for single-byte characters, a binary search among the
 * pattern's distinct multibyte literals otherwise) and W = ceil(M / 64)
 * word operations, so a match is O(key * W + key * log M) with
 * W <= CACHE_MAX_PATTERN / 64 = 16; there is no backtracking, so no input
 * is worse than that.  The matcher also stops early: an anchored pattern
 * as soon as no state is live, a pattern ending with % as soon as its
 * last character is reached.  pk_like_width() gives W, for the store's
 * budget of work per lock hold.
 *
 * src/cache/like.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "perfkit/cache.h"

/* A multibyte literal of the pattern and the states that accept it. */
typedef struct PkLikeWide
{
	uint32		code;			/* the character's bytes, big-endian */
	int			mask;			/* offset of its W words in masks[] */
} PkLikeWide;

struct PkLikePattern
{
	int			nstates;		/* M: pattern characters other than % */
	int			nwords;			/* W */
	bool		leading_percent;	/* may begin anywhere */
	bool		trailing_percent;	/* last state, once reached, accepts */
	bool		has_percent;
	uint64	   *single;			/* 256 * W: masks of single-byte characters */
	uint64	   *any;			/* W: states of _ */
	uint64	   *gap;			/* W: states followed by % */
	uint64	   *masks;			/* nwide * W */
	PkLikeWide *wide;			/* sorted by code */
	int			nwide;
	uint64	   *state;			/* W: scratch, the D of pk_like_match */
};

/* A character of at most 4 bytes as one number; 0 if longer. */
static inline uint32
char_code(const char *s, int len)
{
	uint32		code = 0;
	int			i;

	if (len > 4)
		return 0;
	for (i = 0; i < len; i++)
		code = (code << 8) | (unsigned char) s[i];
	return code;
}

static int
wide_cmp(const void *a, const void *b)
{
	uint32		x = ((const PkLikeWide *) a)->code;
	uint32		y = ((const PkLikeWide *) b)->code;

	return (x > y) - (x < y);
}

#define SETBIT(words, j)	((words)[(j) / 64] |= UINT64CONST(1) << ((j) % 64))

/*
 * Compile a LIKE pattern (default escape \).  Errors for a pattern ending
 * with the escape character or longer than CACHE_MAX_PATTERN bytes.
 */
PkLikePattern *
pk_like_compile(const char *pat, int patlen)
{
	PkLikePattern *p;
	int			i;
	int			nstates = 0;
	int			nwide = 0;
	int			w;
	int			j;

	if (patlen > CACHE_MAX_PATTERN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache key pattern is too long"),
				 errdetail("The pattern is %d bytes; the limit is %d bytes.",
						   patlen, CACHE_MAX_PATTERN)));

	/* first pass: validate, count the states and the multibyte literals */
	i = 0;
	while (i < patlen)
	{
		int			len;

		if (pat[i] == '%')
		{
			i++;
			continue;
		}
		if (pat[i] == '\\')
		{
			if (i + 1 >= patlen)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_ESCAPE_SEQUENCE),
						 errmsg("LIKE pattern must not end with escape character")));
			i++;
		}
		else if (pat[i] == '_')
		{
			nstates++;
			i++;
			continue;
		}
		len = Min(pg_mblen(pat + i), patlen - i);
		if (len > 1)
			nwide++;
		nstates++;
		i += len;
	}

	p = palloc0(sizeof(PkLikePattern));
	p->nstates = nstates;
	p->nwords = w = Max((nstates + 63) / 64, 1);
	p->single = palloc0(sizeof(uint64) * 256 * w);
	p->any = palloc0(sizeof(uint64) * w);
	p->gap = palloc0(sizeof(uint64) * w);
	p->state = palloc0(sizeof(uint64) * w);
	p->wide = palloc0(sizeof(PkLikeWide) * Max(nwide, 1));
	p->masks = palloc0(sizeof(uint64) * w * Max(nwide, 1));

	/* second pass: the masks */
	i = 0;
	j = 0;
	while (i < patlen)
	{
		int			len;

		if (pat[i] == '%')
		{
			p->has_percent = true;
			if (j == 0)
				p->leading_percent = true;
			else
				SETBIT(p->gap, j - 1);
			i++;
			continue;
		}
		if (pat[i] == '_')
		{
			SETBIT(p->any, j);
			j++;
			i++;
			continue;
		}
		if (pat[i] == '\\')
			i++;
		len = Min(pg_mblen(pat + i), patlen - i);
		if (len == 1)
			SETBIT(p->single + (Size) (unsigned char) pat[i] * w, j);
		else
		{
			/* distinct codes are merged after sorting */
			p->wide[p->nwide].code = char_code(pat + i, len);
			p->wide[p->nwide].mask = j;		/* the state, for now */
			p->nwide++;
		}
		j++;
		i += len;
	}
	/* a % after the last state: reaching it accepts */
	if (nstates > 0)
		p->trailing_percent = ((p->gap[(nstates - 1) / 64] >>
								 ((nstates - 1) % 64)) & 1) != 0;
	else
		p->trailing_percent = p->has_percent;

	/* merge multibyte literals by code; each gets its mask words */
	if (p->nwide > 0)
	{
		int			n = 0;
		int			k;

		qsort(p->wide, p->nwide, sizeof(PkLikeWide), wide_cmp);
		for (k = 0; k < p->nwide; k++)
		{
			int			state = p->wide[k].mask;

			if (n == 0 || p->wide[n - 1].code != p->wide[k].code)
			{
				p->wide[n].code = p->wide[k].code;
				p->wide[n].mask = n * w;
				n++;
			}
			SETBIT(p->masks + p->wide[n - 1].mask, state);
		}
		p->nwide = n;
	}

	/* _ accepts every character */
	for (i = 0; i < 256; i++)
		for (j = 0; j < w; j++)
			p->single[(Size) i * w + j] |= p->any[j];
	for (i = 0; i < p->nwide; i++)
		for (j = 0; j < w; j++)
			p->masks[(Size) i * w + j] |= p->any[j];
	return p;
}

/* Words of the state vector: the per-character cost factor of a match. */
int
pk_like_width(const PkLikePattern *p)
{
	return p->nwords;
}

void
pk_like_free(PkLikePattern *p)
{
	pfree(p->single);
	pfree(p->any);
	pfree(p->gap);
	pfree(p->state);
	pfree(p->wide);
	pfree(p->masks);
	pfree(p);
}

/* The states accepting the character of len bytes at s. */
static inline const uint64 *
mask_of(const PkLikePattern *p, const char *s, int len)
{
	uint32		code;
	int			lo,
				hi;

	if (len == 1)
		return p->single + (Size) (unsigned char) *s * p->nwords;
	code = char_code(s, len);
	lo = 0;
	hi = p->nwide - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (p->wide[mid].code == code)
			return p->masks + p->wide[mid].mask;
		if (p->wide[mid].code < code)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return p->any;
}

/*
 * Does str match the compiled pattern?  Never allocates nor fails; writes
 * only p's scratch state, so a compiled pattern serves one matcher at a
 * time.
 */
bool
pk_like_match(PkLikePattern *p, const char *str, int slen)
{
	int			w = p->nwords;
	int			last = p->nstates - 1;
	uint64	   *d = p->state;
	int			si = 0;
	uint64		start = 1;

	if (p->nstates == 0)
		return p->has_percent || slen == 0;

	memset(d, 0, sizeof(uint64) * w);
	while (si < slen)
	{
		int			len = Min(pg_mblen(str + si), slen - si);
		const uint64 *m = mask_of(p, str + si, len);
		uint64		carry = start;
		uint64		live = 0;
		int			k;

		for (k = 0; k < w; k++)
		{
			uint64		old = d[k];

			d[k] = (((old << 1) | carry) & m[k]) | (old & p->gap[k]);
			carry = old >> 63;
			live |= d[k];
		}
		si += len;
		if (p->trailing_percent && ((d[last / 64] >> (last % 64)) & 1))
			return true;
		if (!p->leading_percent)
		{
			start = 0;
			if (live == 0)
				return false;
		}
	}
	return (d[last / 64] >> (last % 64)) & 1;
}
