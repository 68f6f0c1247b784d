/* `redirect`: the Location from the block's template, and the guard against a redirect to
 * the request's own URL, which a client would follow forever: that is answered 508. */
#include "handler/rules.h"

#include <string.h>

#include "config/config.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"
#include "http/tmpl.h"

static bool seg_eq(const char **p, const char *end, const char *s, size_t n)
{
	if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
		return false;
	*p += n;
	return true;
}

/* Is loc the URL of the request itself: its path and query, alone or after its scheme and
 * host? */
static bool is_self(const struct http_tmpl_vars *v, const char *loc, size_t n)
{
	const char *p = loc, *end = loc + n;
	if (n && loc[0] != '/') {
		if (!seg_eq(&p, end, v->v[HTTP_TMPL_SCHEME], v->len[HTTP_TMPL_SCHEME]) ||
		    !seg_eq(&p, end, "://", 3) ||
		    !seg_eq(&p, end, v->v[HTTP_TMPL_HOST] ? v->v[HTTP_TMPL_HOST] : "",
			    v->len[HTTP_TMPL_HOST]))
			return false;
	}
	return seg_eq(&p, end, v->v[HTTP_TMPL_PATH], v->len[HTTP_TMPL_PATH]) &&
	       seg_eq(&p, end, v->v[HTTP_TMPL_QUERY] ? v->v[HTTP_TMPL_QUERY] : "",
		      v->len[HTTP_TMPL_QUERY]) &&
	       p == end;
}

static void redirect_serve(struct http_exchange *x, const struct http_request *req,
			   const struct http_route *rt)
{
	const struct config_rules *r = rt->rules;
	struct http_tmpl_vars v;
	char loc[HTTP_TMPL_MAX];
	http_x_tmpl_vars(x, &v);
	ssize_t n = http_tmpl_expand(r->redirect, r->redirect_len, &v, loc, sizeof(loc));
	if (n < 0) {
		http_resp_error(x, 414);
		return;
	}
	if (is_self(&v, loc, (size_t)n)) {
		/* Followed, it would come back here: say so rather than loop. */
		http_resp_error(x, 508);
		return;
	}
	http_resp_start(x, r->redirect_status);
	http_resp_header(x, "Location", loc, (size_t)n);
	http_resp_end_head(x, 0);
}

const struct http_handler rules_redirect_handler = {
	.name = "redirect",
	.streams_body = false,
	.serve = redirect_serve,
};
