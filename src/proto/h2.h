/* HTTP/2 (RFC 9113) over a transport, with nghttp2 for the framing, HPACK and flow control.
 * Each stream is an http_exchange (http/exchange.h): its request head comes from HEADERS (+
 * CONTINUATION), its response goes out as HEADERS and DATA frames, and handlers see no
 * difference from HTTP/1.1 but the version (20) in the request.
 *
 * A stream, as this module tracks it (the connection's one timer in the last column):
 *
 *   state    leaves when                                          timer
 *   HEAD     the header block ended (END_HEADERS): routed          header
 *   BODY     END_STREAM: the body a non-streaming route drops      body (and body-total,
 *                                                                   the stream's own)
 *   SERVE    dispatched after the read pass (handler->serve)       -
 *   HANDLER  the streaming handler ends, answers or resets it      the handler's own
 *   WRITE    the response's last DATA (END_STREAM) was sent        send (re-armed on progress)
 * In any state: RST_STREAM either way, GOAWAY or the connection's end -> freed (nghttp2's
 * on_stream_close). A response that ends before its request (an early error, a proxied
 * response with the upload still coming) is followed by RST_STREAM(NO_ERROR) (§8.1).
 *
 * The connection: idle (no stream) -> keepalive timer (header timer before the first one),
 * and after 500 ms idle the pages of nghttp2's frame buffer go back to the kernel;
 * graceful stop -> GOAWAY(last stream), the streams in flight finish, then close.
 *
 * Limits: h2-max-streams concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS), the header
 * list bounded by max-header-size and max-header-fields (431), 64 KiB of window (and buffer)
 * per stream and 1 MiB per connection for request bodies, bounded output buffers; rapid reset
 * (CVE-2023-44487), floods of SETTINGS, PING, PRIORITY, empty DATA or CONTINUATION frames and
 * protocol errors provoked to make the server reset streams are each a token bucket per
 * connection, and an empty bucket is GOAWAY(ENHANCE_YOUR_CALM). nghttp2's own memory per
 * connection is capped. */
#ifndef FERRY_PROTO_H2_H
#define FERRY_PROTO_H2_H

#include <stddef.h>
#include <sys/socket.h>

struct worker;
struct listener;
struct xport;

/* server_app hook, for listeners with the h2c flag: take over an accepted socket that speaks
 * HTTP/2 with prior knowledge (RFC 9113 §3.3). With proxy_protocol, a PROXY header comes
 * first. */
void h2_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		   const struct listener *l);

/* Take over a connection whose transport is already set up (TLS after ALPN chose "h2"). xp is
 * h2's from now on: it calls xp->ops->close(xp) once at the end, and that op must free
 * whatever the transport allocated, xp itself included. The socket may be registered with the
 * worker's epoll already (its watcher is replaced) or not. peer: the client (after a PROXY
 * header: as it said). data/len: bytes already read from the transport (the client preface
 * and what follows), fed to the session first; may be NULL/0. l may be NULL. */
void h2_conn_adopt(struct worker *wk, struct xport *xp, const struct sockaddr *peer,
		   socklen_t peer_len, const struct listener *l, const void *data, size_t len);

/* server_app hook: the worker's loop has ended (free its pools). */
void h2_worker_exit(struct worker *wk);

#endif
