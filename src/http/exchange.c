/* What every protocol's exchange shares: formatted header values, error pages, and the
 * installed router. */
#include "http/exchange.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/macro.h"
#include "http/handler.h"
#include "http/status.h"

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
	http_resp_start(x, status);
	if (status == 405)
		http_resp_header(x, "Allow", "GET, HEAD, OPTIONS", 18);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, n);
	http_resp_body_copy(x, body, (size_t)n);
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
