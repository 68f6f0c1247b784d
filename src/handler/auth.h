/* HTTP Basic authentication for a site or path block (`basic-auth`): checks a request's
 * credentials against the block's users (crypt(3) hashes through libxcrypt), and answers 401
 * with a challenge. Routing (route.c) asks before it picks a handler. */
#ifndef FERRY_HANDLER_AUTH_H
#define FERRY_HANDLER_AUTH_H

struct http_exchange;
struct http_request;
struct config_auth;
struct worker;

/* 1: the request's credentials are those of a user of au; 0: none or wrong (401); -1: an
 * Authorization field that does not parse, or more than one (400). A verified user:password
 * pair is remembered per worker for a while (a bounded table), so a client sending the same
 * credentials on each request pays the hash once. */
int auth_check(struct http_exchange *x, const struct http_request *req,
	       const struct config_auth *au);

/* Answers 401 with WWW-Authenticate for rt->auth's realm. */
extern const struct http_handler auth_handler;

void auth_worker_exit(struct worker *wk);

#endif
