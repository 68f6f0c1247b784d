/* HTTP/1.1 (RFC 9112) over a transport: the connection's request state machine and the
 * response serializer behind the http_exchange ops (http/exchange.h).
 *
 *   state     leaves when                          timer
 *   PPHDR     a PROXY header was read (proxy-protocol listeners only)     header
 *   HANDSHAKE the TLS handshake is done (tls listeners only: the transport becomes
 *             xport/tls.c's, taking what PPHDR read past the header)      header
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
 * (a handler whose streams_body is set: the proxy) streams the body and the response itself,
 * then gives the connection back with http_x_stream_end() (-> HEAD or LINGER, as after
 * WRITE), or answers an error with http_resp_* and http_x_stream_respond() (-> WRITE), or
 * closes it.
 *
 * Memory: a connection waiting for its next request holds no buffer and no parsed head;
 * they go back to a small per-worker pool (h1_worker) and come back with the next bytes. */
#ifndef FERRY_PROTO_H1_H
#define FERRY_PROTO_H1_H

#include <sys/socket.h>

struct worker;
struct listener;

/* server_app hook: take over an accepted (or inherited, connected) socket. A listener with
 * proxy_protocol: the connection starts with a PROXY header (v1 or v2), which must be there. */
void h1_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		   const struct listener *l);
/* server_app hook: a connection taken back from systemd's fd store (core/fdstore.c), idle
 * between requests: served as keep-alive, with what it has in its socket read at once. */
void h1_conn_resume(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		    const struct listener *l);
/* server_app hook: the worker's loop has ended (free its pools). */
void h1_worker_exit(struct worker *wk);

#endif
