/* `redirect`: the Location from the block's template, and the guard against a redirect to
 * the request's own URL, which a client would follow forever: that is answered 508. */
#include "handler/rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "config/config.h"
#include "handler/static.h"
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

#define ERROR_PAGE_MAX (1 << 20)

static const struct config_error_page *page_for(const struct http_exchange *x, int status)
{
	const struct config_rules *r = x->error_page_arg;
	if (!x->error_page || x->error_page_root_fd < 0)
		return NULL;
	for (size_t i = 0; i < r->n_error_pages; i++)
		if (r->error_pages[i].status == status)
			return &r->error_pages[i];
	return NULL;
}

bool rules_has_error_page(const struct http_exchange *x, int status)
{
	return page_for(x, status) != NULL;
}

bool rules_error_page(struct http_exchange *x, int status)
{
	/* http_resp_error cleared x->error_page before calling: look with the arg alone */
	const struct config_rules *r = x->error_page_arg;
	const struct config_error_page *ep = NULL;
	for (size_t i = 0; i < r->n_error_pages && !ep; i++)
		if (r->error_pages[i].status == status)
			ep = &r->error_pages[i];
	if (!ep || x->error_page_root_fd < 0)
		return false;
	int fd = static_open(x->error_page_root_fd, ep->path);
	if (fd < 0)
		return false;
	/* Read into memory: the page must go out from any state the exchange is in (a proxy's
	 * error too), and it is small. */
	struct stat st;
	char *body = NULL;
	size_t n = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= ERROR_PAGE_MAX) {
		body = xmalloc((size_t)st.st_size + 1);
		while (n < (size_t)st.st_size) {
			ssize_t k = pread(fd, body + n, (size_t)st.st_size - n, (off_t)n);
			if (k <= 0)
				break;
			n += (size_t)k;
		}
	}
	close(fd);
	if (!body || n != (size_t)st.st_size) {
		free(body);
		return false;
	}
	const char *type = mime_type(ep->path, strlen(ep->path));
	http_resp_start(x, status);
	if (status == 405)
		http_resp_header(x, "Allow", "GET, HEAD, OPTIONS", 18);
	if (status == 503) /* every upstream is down (the proxy's own 503) */
		http_resp_header(x, "Retry-After", "2", 1);
	http_resp_header(x, "Content-Type", type, strlen(type));
	http_resp_end_head(x, (int64_t)n);
	http_resp_body_owned(x, body, n);
	return true;
}
