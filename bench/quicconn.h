/* quicconn: one client HTTP/3 connection over QUIC (ngtcp2 with its GnuTLS crypto helper,
 * nghttp3) on a connected UDP socket, for bench/h3load.c and tests/tools/h3client.c. See
 * quicconn.c. */
#ifndef QUICCONN_H
#define QUICCONN_H

#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define QUICCONN_PKT 1452 /* the largest UDP payload sent */

struct quicconn;

/* How quicconn_open sets a connection up; the program's part of it. */
struct quicconn_opts {
	const char *sni;
	gnutls_certificate_credentials_t cred; /* nothing verified: a client without trust */
	/* The program's nghttp3 callbacks; their user data is the struct quicconn. */
	const nghttp3_callbacks *hcb;
	/* Submits what requests it can: called once HTTP/3 is up and again on more stream
	 * credit (extend_max_local_streams_bidi). */
	void (*start)(struct quicconn *qc);
	void *app;                 /* the program's, kept in quicconn.app */
	bool rcvbuf_force;         /* the 4 MiB receive buffer beyond net.core.rmem_max if allowed */
	uint64_t max_window;       /* ngtcp2's window auto-tuning; 0: ngtcp2's default */
	uint64_t max_stream_window;
	bool withhold_uni;         /* never send the control and QPACK streams (h3load -U) */
};

struct quicconn {
	int fd;
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	ngtcp2_conn *q;
	nghttp3_conn *h; /* once the handshake is done */
	gnutls_session_t tls;
	ngtcp2_crypto_conn_ref ref;
	const nghttp3_callbacks *hcb;
	void (*start)(struct quicconn *qc);
	void *app;
	bool withhold_uni;
	/* Behind the last failure, for the program's message: the ngtcp2 error (-EIO), the
	 * nghttp3 one (-EPROTO; h3_err_sid: the stream it was read on, or -1). */
	int quic_err, h3_err;
	int64_t h3_err_sid;
};

uint64_t quicconn_now(void); /* CLOCK_MONOTONIC in ns, ngtcp2's clock */

/* ADDR (an IPv4 or IPv6 literal) and PORT as a socket address; -EINVAL for another ADDR. */
int quicconn_addr(const char *addr, uint16_t port, struct sockaddr_storage *ret,
		  socklen_t *ret_len);

/* A non-blocking UDP socket connected to sa, the QUIC connection and its TLS session; the
 * first flight is sent by quicconn_write. 0, the socket's -errno, or -EIO when ngtcp2 (its
 * error in quic_err) or GnuTLS refuses. */
int quicconn_open(struct quicconn *qc, const struct sockaddr *sa, socklen_t salen,
		  const struct quicconn_opts *o);

/* Reads every datagram waiting: 0, -ECONNREFUSED (an ICMP port unreachable came), -EIO
 * (quic_err; h3_err too when HTTP/3 could not take a stream's data). */
int quicconn_read(struct quicconn *qc);

/* Handles ngtcp2's timer if it is due: 0 or -EIO (quic_err: idle, handshake timeout...). */
int quicconn_expire(struct quicconn *qc);

/* Sends what ngtcp2 and nghttp3 have: 0, -EPROTO (h3_err) or -EIO (quic_err). */
int quicconn_write(struct quicconn *qc);

/* CONNECTION_CLOSE with H3_NO_ERROR, sent once (the connection is not used after it). */
void quicconn_close(struct quicconn *qc);

void quicconn_free(struct quicconn *qc);

/* n bytes of stream sid consumed by the program: flow-control credit back to the server. */
void quicconn_consume(struct quicconn *qc, int64_t sid, size_t n);

/* nghttp3 callbacks every client wants as they are (user data: the struct quicconn). */
int quicconn_deferred_consume(nghttp3_conn *h, int64_t sid, size_t n, void *ud, void *sud);
int quicconn_stop_sending(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud);
int quicconn_reset_stream(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud);

#endif
