/* What every protocol's exchange shares: formatted header values, error pages, and the
 * installed router. */
#include "http/exchange.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/macro.h"
#include "base/str.h"
#include "http/handler.h"
#include "http/parser.h"
#include "http/status.h"
#include "http/tmpl.h"

void http_resp_headerf(struct http_exchange *x, const char *name, const char *fmt, ...)
{
	char v[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	http_resp_header(x, name, v, MIN((size_t)n, sizeof(v) - 1));
}

void http_resp_hsts(struct http_exchange *x)
{
	http_resp_headerf(x, "Strict-Transport-Security", "max-age=%u%s%s",
			  (unsigned)x->hsts_max_age,
			  x->hsts & HTTP_HSTS_SUBDOMAINS ? "; includeSubDomains" : "",
			  x->hsts & HTTP_HSTS_PRELOAD ? "; preload" : "");
}

void http_resp_alt_svc(struct http_exchange *x)
{
	http_resp_headerf(x, "Alt-Svc", "h3=\":%u\"; ma=86400", (unsigned)x->alt_svc_port);
}

void http_resp_error(struct http_exchange *x, int status)
{
	static const char fmt[] = "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
				  "<body><h1>%d %s</h1></body></html>\n";
	char body[256];
	const char *reason = http_status_reason(status);
	int n = snprintf(body, sizeof(body), fmt, status, reason, status, reason);
	/* After most client errors the rest of what the client sent cannot be trusted. */
	if (status >= 400 && status != 404 && status != 405 && status != 416 && status != 421)
		http_resp_close(x);
	if (unlikely(x->error_page) && x->req) {
		bool (*page)(struct http_exchange *, int) = x->error_page;
		x->error_page = NULL; /* an error while serving it gets the built-in page */
		if (page(x, status))
			return;
	}
	http_resp_start(x, status);
	if (status == 405)
		http_resp_header(x, "Allow", "GET, HEAD, OPTIONS", 18);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, n);
	http_resp_body_copy(x, body, (size_t)n);
}

void http_x_tmpl_vars(const struct http_exchange *x, struct http_tmpl_vars *ret)
{
	const struct http_request *req = x->req;
	const char *t = req->target, *end = t + req->target_len, *path = t;
	*ret = (struct http_tmpl_vars){0};
	ret->v[HTTP_TMPL_HOST] = req->host;
	ret->len[HTTP_TMPL_HOST] = req->host ? req->host_len : 0;
	if (req->target_len > 0 && t[0] != '/') {
		/* absolute-form: its authority is the host (RFC 9112 §3.2.2) */
		const char *s = memchr(t, ':', req->target_len);
		if (s && end - s >= 3 && s[1] == '/' && s[2] == '/') {
			const char *a = s + 3;
			path = a;
			while (path < end && *path != '/' && *path != '?')
				path++;
			ret->v[HTTP_TMPL_HOST] = a;
			ret->len[HTTP_TMPL_HOST] = (size_t)(path - a);
		} else {
			path = end;
		}
	}
	const char *q = memchr(path, '?', (size_t)(end - path));
	ret->v[HTTP_TMPL_PATH] = path < end && *path == '/' ? path : "/";
	ret->len[HTTP_TMPL_PATH] = path < end && *path == '/' ? (size_t)((q ? q : end) - path) : 1;
	ret->v[HTTP_TMPL_QUERY] = q;
	ret->len[HTTP_TMPL_QUERY] = q ? (size_t)(end - q) : 0;
	ret->v[HTTP_TMPL_SCHEME] = x->secure ? "https" : "http";
	ret->len[HTTP_TMPL_SCHEME] = x->secure ? 5 : 4;
}

bool http_resp_rules_drop(const struct http_exchange *x, const char *name, size_t name_len)
{
	for (size_t i = 0; i < x->rules->n; i++) {
		const struct http_field_rule *r = &x->rules->v[i];
		if (str_ieqn(r->name, r->name_len, name, name_len))
			return true;
	}
	return false;
}

void http_resp_rules_add(struct http_exchange *x)
{
	x->rules_on = false;
	struct http_tmpl_vars vars;
	bool have_vars = false;
	for (size_t i = 0; i < x->rules->n; i++) {
		const struct http_field_rule *r = &x->rules->v[i];
		if (!r->value)
			continue;
		if (!r->tmpl) {
			x->ops->resp_header(x, r->name, r->name_len, r->value, r->value_len);
			continue;
		}
		char v[HTTP_TMPL_MAX];
		if (!have_vars) {
			http_x_tmpl_vars(x, &vars);
			have_vars = true;
		}
		ssize_t n = http_tmpl_expand(r->value, r->value_len, &vars, v, sizeof(v));
		if (n >= 0) /* too long: the field is left out rather than cut */
			x->ops->resp_header(x, r->name, r->name_len, v, (size_t)n);
	}
}

static const struct http_router *router;

void http_router_install(const struct http_router *r)
{
	router = r;
}

void http_route(struct http_exchange *x, const struct http_request *req, struct http_route *ret)
{
	router->route(x, req, ret);
}
