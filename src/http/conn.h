/* An HTTP/1.1 connection: the request state machine and the response writer.
 *
 *   state     leaves when                          timer
 *   PPHDR     a PROXY header was read (proxy-protocol listeners only)     header
 *   HEAD      a complete head is parsed            keepalive (empty buffer) / header
 *   BODY      the request body was read (dropped)  body (re-armed on every read), and
 *                                                  body-total (once, for the whole body)
 *   WRITE     the response was sent                send (re-armed on progress)
 *   LINGER    the peer closed, or 2 s passed       linger
 *   PROXY     the proxy gave the connection back   the proxy's own
 * After WRITE: keep-alive -> HEAD (pipelined bytes are parsed at once), else LINGER: our
 * side is shut down and what the client still sends is read and dropped, so that a reset
 * does not destroy the response we just sent.
 *
 * A proxied request goes from HEAD to PROXY as soon as its head is parsed: the proxy
 * (handler/proxy.c) streams the body and the response itself, then gives the connection
 * back with http_conn_stream_end() (-> HEAD or LINGER, as after WRITE), or answers an error
 * with http_resp_* and http_conn_stream_respond() (-> WRITE), or closes it.
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

/* Take over an accepted (or inherited, connected) socket. proxy_protocol: it comes from a
 * front proxy that starts with a PROXY protocol header (v1 or v2), which must be there. */
void http_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		     bool proxy_protocol);

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

/* ---- streaming hand-off (state PROXY) ------------------------------------------------- */

struct proxy_x;
/* The exchange that has the connection (NULL: none); it is told of client events by
 * proxy_client_event() and of the connection closing by proxy_abort(). */
void http_conn_set_stream(struct http_conn *c, struct proxy_x *px);
int http_conn_fd(const struct http_conn *c);
struct worker *http_conn_worker(const struct http_conn *c);
const struct sockaddr *http_conn_peer(const struct http_conn *c, socklen_t *ret_len);
/* The client wants the connection kept open after this response (and we are not stopping). */
bool http_conn_keep_alive(const struct http_conn *c);
/* The input buffer: the request head at [0, head_len), request body bytes after it as read
 * (the proxy consumes them in place; whatever follows the body must stay there). */
struct buf *http_conn_in(struct http_conn *c, size_t *ret_head_len);
/* Read more of the body: 1 bytes arrived, 0 nothing now (or 64 KiB already buffered),
 * -1 EOF or error. */
int http_conn_read(struct http_conn *c);
/* Send to the client: bytes sent (0 when its socket is full), -1 on error. */
ssize_t http_conn_send(struct http_conn *c, const void *p, size_t n);
/* The same for n bytes waiting in a pipe (splice(2), no copy through user space). */
ssize_t http_conn_splice(struct http_conn *c, int pipe_fd, size_t n);
/* Move up to n body bytes from the client into a pipe (nothing of the body may wait in the
 * input buffer): bytes moved, 0 none now, -1 EOF or error. pipe_empty: the pipe held
 * nothing, so EAGAIN means the socket is drained. */
ssize_t http_conn_splice_in(struct http_conn *c, int pipe_fd, size_t n, bool pipe_empty);
/* The exchange is over (status and body bytes for the access log). keep_alive: the client
 * may send its next request; else the connection closes (lingering). */
void http_conn_stream_end(struct http_conn *c, int status, uint64_t body_bytes, bool keep_alive);
/* A response was written with http_resp_* instead: send it like a handler's. */
void http_conn_stream_respond(struct http_conn *c);
/* Close the client connection now (a response cut short must not look complete). */
void http_conn_stream_abort(struct http_conn *c);

#endif
