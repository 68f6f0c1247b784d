/* HTTP/3 (RFC 9114) over QUIC (RFC 9000, 9001), with ngtcp2 for QUIC and its GnuTLS crypto
 * helper, and nghttp3 for HTTP/3 framing and QPACK. The UDP socket of a `listen ... quic`
 * line is read here (server_app.datagrams); each request stream is an http_exchange
 * (http/exchange.h), so handlers see no difference from HTTP/2 but the version (30).
 *
 * A stream goes through the states of h2.h (HEAD, BODY, SERVE, HANDLER, WRITE); the
 * connection has one timer, at ngtcp2's expiry (retransmissions, ACK delay, pacing, the idle
 * timeout = keepalive-timeout, the handshake timeout = header-timeout).
 *
 * QUIC: version negotiation for versions ngtcp2 does not speak; a stateless reset for a
 * short-header packet of no connection; address validation with a Retry token when
 * max-tls-handshakes QUIC handshakes are in progress; 0-RTT off (no session tickets);
 * migration and NAT rebinding as ngtcp2 does them. Graceful stop and reload: GOAWAY, the
 * streams in flight finish, then CONNECTION_CLOSE(H3_NO_ERROR).
 *
 * Limits: h2-max-streams concurrent request streams, the header section bounded by
 * max-header-size and max-header-fields (431), 256 KiB of window per stream and 1 MiB per
 * connection for request bodies (growing to 1 and 4 MiB), 256 KiB of response bytes a stream
 * holds until the client acknowledges them (read ahead only as far as its window), streams
 * reset by the client (a token bucket: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD)); keepalive-timeout
 * without a request (GOAWAY, close), send-timeout for a response not taken (reset).
 *
 * Workers: every worker reads the QUIC socket (EPOLLEXCLUSIVE); the connection IDs ferry
 * makes start with their worker's index, and a datagram read by another worker than the one
 * its destination ID names is handed to that one (its inbox: a locked list and an eventfd). */
#ifndef FERRY_PROTO_H3_H
#define FERRY_PROTO_H3_H

struct worker;
struct listener;

/* server_app hook: the QUIC socket of l is readable. */
void h3_datagrams(struct worker *wk, const struct listener *l);

/* From server_app.worker_gen: first for each worker before any runs (main thread): with
 * several workers, each gets the inbox the others hand its connections' datagrams to; then at
 * each reload (the worker's thread): GOAWAY on its connections. */
void h3_worker_init(struct worker *wk);

/* server_app hook: the worker's loop has ended. */
void h3_worker_exit(struct worker *wk);

#endif
