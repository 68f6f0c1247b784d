/* Placeholder templates: the check at load time and the expansion per request. */
#include "http/tmpl.h"

#include <errno.h>
#include <string.h>

#include "base/macro.h"

static const char *const names[HTTP_TMPL_N] = {
	[HTTP_TMPL_HOST] = "host",
	[HTTP_TMPL_PATH] = "path",
	[HTTP_TMPL_SCHEME] = "scheme",
	[HTTP_TMPL_QUERY] = "query",
};

const char *http_tmpl_name(enum http_tmpl_var v)
{
	return (unsigned)v < HTTP_TMPL_N ? names[v] : "?";
}

/* The placeholder named by s[0..n) (without braces), or -1. */
static int lookup(const char *s, size_t n)
{
	for (int i = 0; i < HTTP_TMPL_N; i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return i;
	return -1;
}

int http_tmpl_check(const char *s, size_t n, unsigned allowed, size_t *ret_off, size_t *ret_len)
{
	unsigned used = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '{')
			continue;
		const char *close = memchr(s + i + 1, '}', n - i - 1);
		const char *open = memchr(s + i + 1, '{', n - i - 1);
		if (!close || (open && open < close)) {
			*ret_off = i;
			*ret_len = (size_t)((open ? open : s + n) - (s + i));
			return -EINVAL;
		}
		int v = lookup(s + i + 1, (size_t)(close - s - i - 1));
		if (v < 0 || !(allowed & HTTP_TMPL_BIT(v))) {
			*ret_off = i;
			*ret_len = (size_t)(close - (s + i)) + 1;
			return -EINVAL;
		}
		used |= HTTP_TMPL_BIT(v);
		i = (size_t)(close - s);
	}
	return (int)used;
}

ssize_t http_tmpl_expand(const char *s, size_t n, const struct http_tmpl_vars *v, char *out,
			 size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const char *p = s + i;
		size_t len = 1, adv = 1;
		if (s[i] == '{') {
			const char *close = memchr(s + i + 1, '}', n - i - 1);
			int k = close ? lookup(s + i + 1, (size_t)(close - s - i - 1)) : -1;
			if (k >= 0) {
				p = v->v[k] ? v->v[k] : "";
				len = v->v[k] ? v->len[k] : 0;
				adv = (size_t)(close - (s + i)) + 1;
			}
		}
		if (len >= size - o)
			return -ENOBUFS;
		memcpy(out + o, p, len);
		o += len;
		i += adv;
	}
	if (o >= size)
		return -ENOBUFS;
	out[o] = '\0';
	return (ssize_t)o;
}
