/* Routing: which handler answers a request, and with what. The site comes from the Host (or
 * the authority of an absolute-form target), the path block from the normalized path; the
 * block (or else the site) says static root or proxy. Over TLS, the site must be the one the
 * connection's certificate was chosen for (else 421), and the site's hsts goes on the
 * responses; over plain HTTP, a site with certificates redirects to https. Every protocol
 * asks here, through the router main.c installs (http/handler.h). */
#include "handler/route.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "base/macro.h"
#include "core/server.h"
#include "handler/auth.h"
#include "handler/metrics.h"
#include "handler/acme.h"
#include "handler/proxy.h"
#include "handler/ratelimit.h"
#include "handler/rules.h"
#include "handler/static.h"
#include "http/exchange.h"
#include "http/handler.h"
#include "http/parser.h"
#include "http/path.h"

static void error_serve(struct http_exchange *x, const struct http_request *req,
			const struct http_route *rt)
{
	http_resp_error(x, rt->status);
}

/* Answers rt->status (no site for the Host: 421; a target that does not normalize: 400/414). */
static const struct http_handler error_handler = {
	.name = "error",
	.streams_body = false,
	.serve = error_serve,
};

/* The Host the request is for: the authority of an absolute-form target wins over the Host
 * field (RFC 9112 §3.2.2). */
static void request_host(const struct http_request *req, const char **ret, size_t *ret_len)
{
	const char *t = req->target;
	size_t n = req->target_len;
	if (n > 0 && t[0] != '/' && t[0] != '*') {
		const char *s = memchr(t, ':', n);
		if (s && (size_t)(t + n - s) >= 3 && s[1] == '/' && s[2] == '/') {
			const char *a = s + 3, *e = a;
			while (e < t + n && *e != '/' && *e != '?' && *e != '#')
				e++;
			*ret = a;
			*ret_len = (size_t)(e - a);
			return;
		}
	}
	*ret = req->host;
	*ret_len = req->host ? req->host_len : 0;
}

static void route_error(struct http_route *rt, int status)
{
	rt->handler = &error_handler;
	rt->status = status;
}

/* The path (and query) of the target: itself in origin form, after the authority of an
 * absolute-form one ("/" when it has none). */
static void request_path(const struct http_request *req, const char **ret, size_t *ret_len)
{
	const char *t = req->target, *end = t + req->target_len;
	if (req->target_len == 0 || t[0] == '/') {
		*ret = t;
		*ret_len = req->target_len;
		return;
	}
	const char *s = memchr(t, ':', req->target_len);
	const char *p = s && end - s >= 3 && s[1] == '/' && s[2] == '/' ? s + 3 : end;
	while (p < end && *p != '/' && *p != '?')
		p++;
	*ret = p < end ? p : "/";
	*ret_len = p < end ? (size_t)(end - p) : 1;
}

/* The port https:// URLs of this server need: the first TLS listener's (none when it is 443,
 * or not a TCP socket). */
static unsigned tls_port(const struct worker *wk)
{
	const struct server *srv = wk->srv;
	for (size_t i = 0; i < srv->n_listeners; i++) {
		const struct listener *l = &srv->listeners[i];
		const struct sockaddr_storage *sa = &l->addr.sa;
		if (!l->tls)
			continue;
		unsigned port = sa->ss_family == AF_INET
					? ntohs(((const struct sockaddr_in *)sa)->sin_port)
				: sa->ss_family == AF_INET6
					? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port)
					: 443;
		return port == 443 ? 0 : port;
	}
	return 0;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
}

/* 308 to the same URL over https: the host without its port, the TLS listener's port. A Host
 * that could not be written into a URL as it is gets 400. */
static void redirect_serve(struct http_exchange *x, const struct http_request *req,
			   const struct http_route *rt)
{
	const char *host, *path;
	size_t host_len, path_len;
	request_host(req, &host, &host_len);
	request_path(req, &path, &path_len);
	/* Drop ":port": after the ']' of an IPv6 literal, else at the first ':'. */
	const char *colon = host_len && host[0] == '[' ? memchr(host, ']', host_len) : host;
	colon = colon ? memchr(colon, ':', host_len - (size_t)(colon - host)) : NULL;
	if (colon)
		host_len = (size_t)(colon - host);
	bool ok = host_len > 0 && host_len <= 255 && path_len <= 8192;
	for (size_t i = 0; ok && i < host_len; i++)
		ok = host_char(host[i]);
	if (!ok) {
		http_resp_error(x, 400);
		return;
	}
	char port[8] = "";
	unsigned p = tls_port(x->wk);
	if (p)
		snprintf(port, sizeof(port), ":%u", p);
	http_resp_start(x, 308);
	http_resp_headerf(x, "Location", "https://%.*s%s%.*s", (int)host_len, host, port,
			  (int)path_len, path);
	http_resp_header(x, "Content-Type", "text/plain; charset=utf-8", 25);
	static const char body[] = "This site is served over https.\n";
	http_resp_end_head(x, STRLEN(body));
	http_resp_body_mem(x, body, STRLEN(body));
}

/* Answers a plain-HTTP request for a site with certificates (http-redirect on). */
static const struct http_handler redirect_handler = {
	.name = "redirect",
	.streams_body = false,
	.serve = redirect_serve,
};

#define ACME_CHALLENGE ACME_CHALLENGE_PREFIX

/* ACME http-01 challenges must be answered over plain HTTP (a site with `tls acme` answers
 * them itself: handler/acme.c). */
static bool acme_challenge(const struct http_request *req)
{
	const char *path;
	size_t n;
	request_path(req, &path, &n);
	return n >= STRLEN(ACME_CHALLENGE) &&
	       memcmp(path, ACME_CHALLENGE, STRLEN(ACME_CHALLENGE)) == 0;
}

/* TLS: the request must be for the site whose certificate the connection got (RFC 9110
 * §15.5.20: a client reusing a connection for another name it covers is misdirected here);
 * then the site's hsts. Plain HTTP: a site with certificates redirects (unless http-redirect
 * off, or an ACME challenge). Returns false when rt now answers with a handler of its own. */
static bool route_scheme(struct http_exchange *x, const struct config *cfg,
			 const struct config_site *cs, const struct http_request *req,
			 struct http_route *rt)
{
	if (x->secure) {
		if (config_tls_site(cfg, x->tls_name, x->tls_name_len) != cs) {
			route_error(rt, 421);
			return false;
		}
		x->hsts = (cs->hsts & CONFIG_HSTS_ON ? HTTP_HSTS_ON : 0) |
			  (cs->hsts & CONFIG_HSTS_SUBDOMAINS ? HTTP_HSTS_SUBDOMAINS : 0) |
			  (cs->hsts & CONFIG_HSTS_PRELOAD ? HTTP_HSTS_PRELOAD : 0);
		x->hsts_max_age = cs->hsts_max_age;
		return true;
	}
	if (cs->n_tls && cs->http_redirect && !acme_challenge(req)) {
		rt->handler = &redirect_handler;
		return false;
	}
	return true;
}

/* Match the site by Host and, when the site has path blocks, the block by the normalised path,
 * as the static handler will see it: "/a/../api/" and "/%61pi/" are "/api/" to both. A site
 * without path blocks costs no normalisation here. A target that does not normalize is
 * answered 400 (414 when too long) when the site has path blocks: it cannot be known which
 * block it falls in, so it goes nowhere. */
static void route(struct http_exchange *x, const struct http_request *req, struct http_route *rt)
{
	const struct server_gen *gen = x->wk->gen;
	const struct config *cfg = gen->cfg;
	x->hsts = 0;
	x->rules = NULL;
	x->rules_on = false;
	x->error_page = NULL;
	x->stats_site = 0;
	*rt = (struct http_route){.handler = &static_handler, .root_fd = gen->default_root_fd};
	if (x->metrics_only) {
		rt->handler = &metrics_handler;
		return;
	}
	if (cfg->n_sites == 0)
		return;
	const char *host;
	size_t host_len;
	request_host(req, &host, &host_len);
	const struct config_site *cs = config_match_site(cfg, host ? host : "", host_len);
	if (!cs) {
		route_error(rt, 421);
		return;
	}
	rt->site = cs;
	x->stats_site = cs->stats_slot;
	/* before the scheme's redirect and any proxy: the CA asks over plain HTTP */
	if (cs->acme && acme_challenge(req)) {
		rt->handler = &acme_challenge_handler;
		return;
	}
	if (!route_scheme(x, cfg, cs, req, rt))
		return;
	if (cs->n_paths > 0 && req->method_id != HTTP_M_CONNECT && req->target[0] != '*') {
		char path[HTTP_PATH_MAX];
		int n = http_path_normalize(req->target, req->target_len, path, sizeof(path));
		if (n < 0) {
			/* No path block can be told: the site's handler must not get what one of
			 * them may have kept from it (a `root` block's requests forwarded by a
			 * site's proxy). */
			route_error(rt, n == -ENAMETOOLONG ? 414 : 400);
			rt->at_once = true;
			return;
		}
		rt->path = config_match_path(cs, path, (size_t)n);
	}
	/* The block's rules first (a redirect is answered before any limit or password, as
	 * nginx's rewrite phase and Caddy's redir come first), then rate-limit, then
	 * basic-auth: before any handler sees the request (and before a password hash is
	 * paid for); a site without path blocks or either costs two tests */
	const struct config_rules *rules = rt->path ? &rt->path->rules : &cs->rules;
	if (unlikely(rules->any)) {
		rt->rules = rules;
		x->rules = rules->headers.n ? &rules->headers : NULL;
		if (rules->n_error_pages) {
			/* below the block's root, else the site's (a proxied block's pages) */
			x->error_page = rules_error_page;
			x->error_page_arg = rules;
			x->error_page_root_fd =
				rt->path && rt->path->root ? gen->root_fds[rt->path->root_id]
				: cs->root		   ? gen->root_fds[cs->root_id]
							   : -1;
		}
		if (rules->redirect) {
			rt->handler = &rules_redirect_handler;
			return;
		}
	}
	bool paths = cs->n_paths > 0;
	const struct config_rate *rl =
		paths || cs->rate.per_min ? config_route_rate(cs, rt->path) : NULL;
	if (rl && !x->rate_taken) {
		uint32_t wait = ratelimit_take(rl, x->peer, x->peer_len, x->wk->loop.now_ms);
		if (wait) {
			rt->handler = &ratelimit_handler;
			rt->status = (int)wait;
			return;
		}
		x->rate_taken = true;
	}
	const struct config_auth *au =
		paths || cs->auth.realm ? config_route_auth(cs, rt->path) : NULL;
	if (au) {
		int a = auth_check(x, req, au);
		if (a < 0) {
			route_error(rt, 400);
			return;
		}
		if (a == 0) {
			rt->handler = &auth_handler;
			rt->auth = au;
			return;
		}
	}
	rt->proxy = config_route_proxy(cs, rt->path);
	if (rt->proxy) {
		rt->handler = &proxy_handler;
		return;
	}
	/* Each distinct root is opened once per generation (core/server.c), shared by every site
	 * and block naming it. */
	if (rt->path && rt->path->root)
		rt->root_fd = gen->root_fds[rt->path->root_id];
	else
		rt->root_fd = cs->root ? gen->root_fds[cs->root_id] : -1;
	/* `encode`: a large file is compressed as it is sent, by the streaming variant (a
	 * bodiless GET only: it never reads a body) */
	if (unlikely(rt->rules) && rt->rules->n_encode && rt->root_fd >= 0 &&
	    req->method_id == HTTP_M_GET && !req->chunked && req->content_length <= 0)
		rt->handler = &static_stream_handler;
}

const struct http_router route_router = {
	.route = route,
};
