/* The reverse proxy: forwards a request to an upstream (HTTP over TCP or a Unix socket) and
 * streams the response back, both bodies through fixed-size buffers with backpressure.
 *
 * One exchange per client request, one request at a time per client connection:
 *
 *   state      leaves when                                   timer
 *   RESOLVE    the upstream's name has addresses             proxy-connect-timeout
 *   CONNECT    the socket connected (or a pooled one taken)  proxy-connect-timeout
 *              (a missing Unix socket is retried every 100 ms until then)
 *   EXCHANGE   the response was sent and the request body    proxy-timeout, re-armed on
 *              forwarded: the client connection goes back    progress either way
 *              to http/conn.c, the upstream one to the pool
 *   TUNNEL     after a 101: either side closed               proxy-timeout
 *
 * Errors before a response head was sent: connect refused/reset 502 (another upstream is
 * tried first when nothing was sent or the request is idempotent), timeouts 504, every
 * upstream marked down 503, a {host} outside upstream-allow 403. After: the client
 * connection is closed, so a cut response never looks complete. */
#ifndef FERRY_HANDLER_PROXY_H
#define FERRY_HANDLER_PROXY_H

struct http_conn;
struct http_request;
struct config_proxy;
struct proxy_x;

/* Take over c for req (its head parsed, its body not read yet), to be forwarded as px says.
 * req and px are only looked at during the call. */
void proxy_start(struct http_conn *c, const struct http_request *req,
		 const struct config_proxy *px);
/* The client socket has news (http/conn.c updated its readable/writable flags). */
void proxy_client_event(struct proxy_x *x);
/* The client connection is closing: drop the exchange (the upstream connection is closed). */
void proxy_abort(struct proxy_x *x);

#endif
