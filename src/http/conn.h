/* An HTTP/1.1 connection: the request state machine and the response writer.
 *
 *   state     leaves when                          timer
 *   HEAD      a complete head is parsed            keepalive (empty buffer) / header
 *   BODY      the request body was read (dropped)  body (re-armed on every read)
 *   WRITE     the response was sent                send (re-armed on progress)
 *   LINGER    the peer closed, or 2 s passed       linger
 * After WRITE: keep-alive -> HEAD (pipelined bytes are parsed at once), else LINGER: our
 * side is shut down and what the client still sends is read and dropped, so that a reset
 * does not destroy the response we just sent.
 *
 * Handlers answer through http_resp_*: one head, then at most one body (memory or file). */
#ifndef FERRY_HTTP_CONN_H
#define FERRY_HTTP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct worker;
struct http_conn;
struct http_request;

/* Take over an accepted (or inherited, connected) socket. */
void http_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len);

/* Status line, Server, Date, and Connection when needed. */
void http_resp_start(struct http_conn *c, int status);
void http_resp_header(struct http_conn *c, const char *name, const char *value, size_t len);
void http_resp_headerf(struct http_conn *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Content-Length (unless < 0) and the empty line. */
void http_resp_end_head(struct http_conn *c, int64_t content_length);
/* Body from memory that outlives the response (not copied). Skipped for HEAD. */
void http_resp_body_mem(struct http_conn *c, const void *p, size_t len);
/* Body copied after the head (small: it must fit the head buffer with the head). */
void http_resp_body_copy(struct http_conn *c, const void *p, size_t len);
/* Body from a file, sent with sendfile; the connection takes ownership of fd. */
void http_resp_body_file(struct http_conn *c, int fd, off_t off, off_t len);
/* A complete small HTML error response; adds Allow for 405. */
void http_resp_error(struct http_conn *c, int status);
/* Force "Connection: close" on this response (call before http_resp_start). */
void http_resp_close(struct http_conn *c);
bool http_conn_is_head(const struct http_conn *c);

#endif
