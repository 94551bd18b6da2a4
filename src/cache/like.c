/*-------------------------------------------------------------------------
 *
 * like.c
 *	  SQL LIKE matching for cache_invalidate(), usable under an LWLock.
 *
 * The store matches keys against the pattern while it holds a partition
 * lock, so matching must not allocate or fail: the pattern is checked
 * once, before any lock is taken (pk_like_valid), and matching itself
 * only compares bytes.  Semantics are LIKE's with the default escape
 * character: % matches any run of characters, _ one character (multibyte
 * aware), \ makes the next character literal; case-sensitive.
 *
 * src/cache/like.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "perfkit/cache.h"

/* A pattern is valid unless it ends with an unescaped escape character. */
bool
pk_like_valid(const char *pat, int patlen)
{
	int			i = 0;

	while (i < patlen)
	{
		if (pat[i] == '\\')
		{
			if (i + 1 >= patlen)
				return false;
			i++;
		}
		i += pg_mblen(pat + i);
	}
	return true;
}

bool
pk_like_match(const char *str, int slen, const char *pat, int plen)
{
	int			si = 0,
				pi = 0;
	int			star_pi = -1,
				star_si = 0;

	while (si < slen)
	{
		if (pi < plen && pat[pi] == '%')
		{
			star_pi = pi++;
			star_si = si;
			continue;
		}
		if (pi < plen && pat[pi] == '_')
		{
			si += pg_mblen(str + si);
			pi++;
			continue;
		}
		if (pi < plen)
		{
			int			lit = (pat[pi] == '\\') ? pi + 1 : pi;
			int			len = pg_mblen(pat + lit);

			if (si + len <= slen && memcmp(str + si, pat + lit, len) == 0)
			{
				si += len;
				pi = lit + len;
				continue;
			}
		}
		if (star_pi < 0)
			return false;
		/* Let the last % swallow one more character and retry. */
		star_si += pg_mblen(str + star_si);
		si = star_si;
		pi = star_pi + 1;
	}
	while (pi < plen && pat[pi] == '%')
		pi++;
	return pi == plen;
}
