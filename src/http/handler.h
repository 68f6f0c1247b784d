/* The handler interface: routing turns a request head into a handler and what it needs (a
 * root, a proxy setup, an error status); the protocol then calls the handler with the
 * exchange. Routing itself lives with the handlers (handler/route.c); main.c installs it, so
 * that protocol code below never includes a handler. */
#ifndef FERRY_HTTP_HANDLER_H
#define FERRY_HTTP_HANDLER_H

#include <stdbool.h>

struct worker;
struct http_request;
struct http_exchange;
struct http_route;
struct config_site;
struct config_path;
struct config_proxy;
struct config_auth;
struct config_rules;

struct http_handler {
	const char *name;
	/* The handler takes the request at its head and reads the body itself (the proxy).
	 * Otherwise the protocol reads and drops the body first, routes again (a reload may
	 * have come in between) and then calls serve. */
	bool streams_body;
	/* Answer: a complete response through http_resp_* before returning, or, for a
	 * streaming handler, take the exchange with http_x_set_stream. */
	void (*serve)(struct http_exchange *x, const struct http_request *req,
		      const struct http_route *rt);
};

struct http_route {
	const struct http_handler *handler;
	const struct config_site *site; /* NULL: the config has no sites */
	const struct config_path *path; /* the longest matching path block, or NULL */
	const struct config_proxy *proxy;
	const struct config_rules *rules; /* the block's response rules; NULL: it has none */
	int root_fd; /* static: the directory (-1: the embedded page) */
	int status;  /* error: the status to answer */
	const struct config_auth *auth; /* auth_handler: the block's basic-auth (its realm) */
	bool at_once; /* answer before reading any body, then close (a request that goes nowhere) */
};

struct http_router {
	/* Route req, which came on x (its worker, and whether it came over TLS and for which
	 * server name); also sets what x's responses carry for the site (x->hsts). */
	void (*route)(struct http_exchange *x, const struct http_request *req,
		      struct http_route *ret);
};

/* Once, at startup, before any worker runs. */
void http_router_install(const struct http_router *r);
void http_route(struct http_exchange *x, const struct http_request *req, struct http_route *ret);

#endif
