/* Routing: which handler answers a request, and with what. The site comes from the Host (or
 * the authority of an absolute-form target), the path block from the normalized path; the
 * block (or else the site) says static root or proxy. Every protocol asks here, through the
 * router main.c installs (http/handler.h). */
#include "handler/route.h"

#include <errno.h>
#include <string.h>

#include "core/server.h"
#include "handler/proxy.h"
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

/* Match the site by Host and, when the site has path blocks, the block by the normalised path,
 * as the static handler will see it: "/a/../api/" and "/%61pi/" are "/api/" to both. A site
 * without path blocks costs no normalisation here. A target that does not normalize is
 * answered 400 (414 when too long) when the site has path blocks: it cannot be known which
 * block it falls in, so it goes nowhere. */
static void route(struct worker *wk, const struct http_request *req, struct http_route *rt)
{
	const struct server_gen *gen = wk->gen;
	const struct config *cfg = gen->cfg;
	*rt = (struct http_route){.handler = &static_handler, .root_fd = gen->default_root_fd};
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
}

const struct http_router route_router = {
	.route = route,
};
