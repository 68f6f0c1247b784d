/* The access log line every protocol writes for each response: Combined Log Format, or one
 * JSON object (`access-log ... format json`), into the worker's buffer (flushed once per
 * loop iteration), the protocol version as the request came ("HTTP/1.1", "HTTP/2.0"). */
#ifndef FERRY_PROTO_ACCESSLOG_H
#define FERRY_PROTO_ACCESSLOG_H

#include <stdint.h>
#include <sys/socket.h>

struct worker;
struct http_exchange;
struct http_request;

/* x: the exchange (its start time and upstream, for the json format); req: the request's
 * parsed head (NULL when it did not parse); bytes: the body bytes of the response. Nothing
 * when the access log is off. */
void accesslog_write(struct worker *wk, const struct http_exchange *x,
		     const struct sockaddr *peer, socklen_t peer_len,
		     const struct http_request *req, int status, uint64_t bytes);

#endif
