/* Placeholder templates in ferry.conf values ("https://{host}{path}"): checked once when the
 * configuration loads, expanded per request. Pure: no I/O, no allocation. */
#ifndef FERRY_HTTP_TMPL_H
#define FERRY_HTTP_TMPL_H

#include <stddef.h>
#include <sys/types.h>

/* The placeholders, as bits of a mask and indexes of struct http_tmpl_vars. */
enum http_tmpl_var {
	HTTP_TMPL_HOST,   /* {host} */
	HTTP_TMPL_PATH,   /* {path} */
	HTTP_TMPL_SCHEME, /* {scheme} */
	HTTP_TMPL_QUERY,  /* {query} */
	HTTP_TMPL_N,
};

#define HTTP_TMPL_BIT(v) (1u << (v))
#define HTTP_TMPL_MAX 8192 /* an expansion never gets longer than this */

struct http_tmpl_vars {
	const char *v[HTTP_TMPL_N];
	size_t len[HTTP_TMPL_N];
};

/* Check template s: every '{' opens one of the placeholders in `allowed` (a mask of
 * HTTP_TMPL_BIT), closed by '}'. Returns the mask of those it uses, or -EINVAL with
 * *ret_off at the offending '{' (an unknown or unclosed placeholder, or one not allowed
 * here) and *ret_len the length of what it names. */
int http_tmpl_check(const char *s, size_t n, unsigned allowed, size_t *ret_off, size_t *ret_len);

/* Expand a checked template into out (NUL-terminated). Returns the length, or -ENOBUFS when
 * it does not fit in size. */
ssize_t http_tmpl_expand(const char *s, size_t n, const struct http_tmpl_vars *v, char *out,
			 size_t size);

/* The name of a placeholder ("host"), for messages. */
const char *http_tmpl_name(enum http_tmpl_var v);

#endif
