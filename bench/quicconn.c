/* quicconn: the QUIC connection of ferry's two HTTP/3 clients, bench/h3load.c (the load
 * generator) and tests/tools/h3client.c (the tests' client): the UDP socket, ngtcp2 and its
 * callbacks, the GnuTLS session, nghttp3's control and QPACK streams, and the read, write and
 * timer steps between them. What a client asks and does with the answers (its requests,
 * nghttp3's header and data callbacks, its poll loop) stays in the program. Not part of ferry.
 *
 * It lives in bench/ because bench/h3.sh builds h3load from bench/ alone, and the tests already
 * reach into bench/ (test_h3.py builds h3load.c); the Makefile's rule for B/tools/h3client
 * compiles it with -Ibench, so nothing in bench/ depends on tests/.
 *
 * Build: with the program, e.g. gcc ... bench/h3load.c bench/quicconn.c -lngtcp2_crypto_gnutls
 * -lngtcp2 -lnghttp3 -lgnutls */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "quicconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t quicconn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rnd(void *p, size_t n)
{
	gnutls_rnd(GNUTLS_RND_NONCE, p, n);
}

int quicconn_addr(const char *addr, uint16_t port, struct sockaddr_storage *ret,
		  socklen_t *ret_len)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	*ret = ss;
	*ret_len = sl;
	return 0;
}

void quicconn_consume(struct quicconn *qc, int64_t sid, size_t n)
{
	ngtcp2_conn_extend_max_stream_offset(qc->q, sid, n);
	ngtcp2_conn_extend_max_offset(qc->q, n);
}

/* ---- nghttp3 callbacks both programs use --------------------------------------------- */

int quicconn_deferred_consume(nghttp3_conn *h, int64_t sid, size_t n, void *ud, void *sud)
{
	quicconn_consume(ud, sid, n);
	return 0;
}

int quicconn_stop_sending(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	ngtcp2_conn_shutdown_stream_read(qc->q, 0, sid, code);
	return 0;
}

int quicconn_reset_stream(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	ngtcp2_conn_shutdown_stream_write(qc->q, 0, sid, code);
	return 0;
}

/* ---- ngtcp2 callbacks ------------------------------------------------------------------ */

static void q_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	rnd(dest, len);
}

static int q_new_cid(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
	rnd(cid->data, cidlen);
	cid->datalen = cidlen;
	rnd(token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int q_handshake_completed(ngtcp2_conn *q, void *ud)
{
	struct quicconn *qc = ud;
	nghttp3_settings st;
	nghttp3_settings_default(&st);
	if (nghttp3_conn_client_new(&qc->h, qc->hcb, &st, nghttp3_mem_default(), qc) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	int64_t ctrl, enc, dec;
	if (ngtcp2_conn_open_uni_stream(q, &ctrl, NULL) != 0 ||
	    nghttp3_conn_bind_control_stream(qc->h, ctrl) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &enc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &dec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(qc->h, enc, dec) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	qc->start(qc);
	return 0;
}

static int q_recv_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t sid, uint64_t off,
			      const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	if (!qc->h)
		return 0;
	nghttp3_ssize n = nghttp3_conn_read_stream(qc->h, sid, data, len,
						   flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		qc->h3_err = (int)n;
		qc->h3_err_sid = sid;
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	quicconn_consume(qc, sid, (size_t)n);
	return 0;
}

static int q_acked(ngtcp2_conn *q, int64_t sid, uint64_t off, uint64_t len, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	if (qc->h && nghttp3_conn_add_ack_offset(qc->h, sid, len) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t sid, uint64_t code, void *ud,
			  void *sud)
{
	struct quicconn *qc = ud;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		code = NGHTTP3_H3_NO_ERROR;
	if (qc->h) {
		int r = nghttp3_conn_close_stream(qc->h, sid, code);
		if (r != 0 && r != NGHTTP3_ERR_STREAM_NOT_FOUND)
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int q_stream_reset(ngtcp2_conn *q, int64_t sid, uint64_t size, uint64_t code, void *ud,
			  void *sud)
{
	struct quicconn *qc = ud;
	if (qc->h)
		nghttp3_conn_shutdown_stream_read(qc->h, sid);
	return 0;
}

static int q_extend_streams(ngtcp2_conn *q, uint64_t max, void *ud)
{
	struct quicconn *qc = ud;
	qc->start(qc);
	return 0;
}

static int q_extend_stream_data(ngtcp2_conn *q, int64_t sid, uint64_t max, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	if (qc->h)
		nghttp3_conn_unblock_stream(qc->h, sid);
	return 0;
}

static const ngtcp2_callbacks qcb = {
	.client_initial = ngtcp2_crypto_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = q_handshake_completed,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = q_recv_stream_data,
	.acked_stream_data_offset = q_acked,
	.stream_close = q_stream_close,
	.recv_retry = ngtcp2_crypto_recv_retry_cb,
	.extend_max_local_streams_bidi = q_extend_streams,
	.rand = q_rand,
	.get_new_connection_id = q_new_cid,
	.update_key = ngtcp2_crypto_update_key_cb,
	.stream_reset = q_stream_reset,
	.extend_max_stream_data = q_extend_stream_data,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct quicconn *)ref->user_data)->q;
}

/* ---- the connection -------------------------------------------------------------------- */

int quicconn_open(struct quicconn *qc, const struct sockaddr *sa, socklen_t salen,
		  const struct quicconn_opts *o)
{
	memset(qc, 0, sizeof(*qc));
	qc->hcb = o->hcb;
	qc->start = o->start;
	qc->app = o->app;
	qc->withhold_uni = o->withhold_uni;
	qc->h3_err_sid = -1;
	qc->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (qc->fd < 0 || connect(qc->fd, sa, salen) < 0)
		return -errno;
	/* A burst of a 1 MiB response must not overflow the default buffer (a drop is a loss
	 * to ngtcp2, and slows the connection down): with rcvbuf_force beyond
	 * net.core.rmem_max when allowed (CAP_NET_ADMIN), as quic-go does for its server. */
	int sz = 4 << 20;
	if (!o->rcvbuf_force || setsockopt(qc->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(qc->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memcpy(&qc->remote, sa, salen);
	qc->remote_len = salen;
	qc->local_len = sizeof(qc->local);
	if (getsockname(qc->fd, (struct sockaddr *)&qc->local, &qc->local_len) < 0)
		return -errno;
	ngtcp2_path path = {{(ngtcp2_sockaddr *)&qc->local, qc->local_len},
			    {(ngtcp2_sockaddr *)&qc->remote, qc->remote_len}, NULL};
	ngtcp2_cid dcid = {.datalen = 18}, scid = {.datalen = 17};
	rnd(dcid.data, dcid.datalen);
	rnd(scid.data, scid.datalen);
	ngtcp2_settings st;
	ngtcp2_settings_default(&st);
	st.initial_ts = quicconn_now();
	st.handshake_timeout = 10 * NGTCP2_SECONDS;
	if (o->max_window)
		st.max_window = o->max_window;
	if (o->max_stream_window)
		st.max_stream_window = o->max_stream_window;
	ngtcp2_transport_params tp;
	ngtcp2_transport_params_default(&tp);
	tp.initial_max_stream_data_bidi_local = 1 << 20;
	tp.initial_max_stream_data_uni = 256 << 10;
	tp.initial_max_data = 8 << 20;
	tp.initial_max_streams_uni = 3;
	tp.max_idle_timeout = 30 * NGTCP2_SECONDS;
	int rv = ngtcp2_conn_client_new(&qc->q, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &qcb,
					&st, &tp, NULL, qc);
	if (rv != 0) {
		qc->quic_err = rv;
		return -EIO;
	}
	static const gnutls_datum_t alpn = {(unsigned char *)"h3", 2};
	qc->ref.get_conn = get_conn;
	qc->ref.user_data = qc;
	if (gnutls_init(&qc->tls, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA) < 0 ||
	    gnutls_priority_set_direct(qc->tls,
				       "NORMAL:-VERS-ALL:+VERS-TLS1.3:%DISABLE_TLS13_COMPAT_MODE",
				       NULL) < 0 ||
	    ngtcp2_crypto_gnutls_configure_client_session(qc->tls) != 0 ||
	    gnutls_credentials_set(qc->tls, GNUTLS_CRD_CERTIFICATE, o->cred) < 0 ||
	    gnutls_alpn_set_protocols(qc->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0 ||
	    gnutls_server_name_set(qc->tls, GNUTLS_NAME_DNS, o->sni, strlen(o->sni)) < 0)
		return -EIO;
	gnutls_session_set_ptr(qc->tls, &qc->ref);
	ngtcp2_conn_set_tls_native_handle(qc->q, qc->tls);
	return 0;
}

int quicconn_read(struct quicconn *qc)
{
	uint8_t buf[65536];
	qc->h3_err = 0;
	qc->h3_err_sid = -1;
	for (;;) {
		ssize_t n = recv(qc->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == ECONNREFUSED)
			return -ECONNREFUSED;
		if (n <= 0)
			return 0;
		ngtcp2_path path = {{(ngtcp2_sockaddr *)&qc->local, qc->local_len},
				    {(ngtcp2_sockaddr *)&qc->remote, qc->remote_len}, NULL};
		ngtcp2_pkt_info pi = {0};
		int rv = ngtcp2_conn_read_pkt(qc->q, &path, &pi, buf, (size_t)n, quicconn_now());
		if (rv != 0) {
			qc->quic_err = rv;
			return -EIO;
		}
	}
}

int quicconn_expire(struct quicconn *qc)
{
	uint64_t now = quicconn_now(); /* after the reads: ngtcp2's clock must not go back */
	if (ngtcp2_conn_get_expiry(qc->q) > now)
		return 0;
	int rv = ngtcp2_conn_handle_expiry(qc->q, now);
	if (rv != 0) {
		qc->quic_err = rv;
		return -EIO;
	}
	return 0;
}

int quicconn_write(struct quicconn *qc)
{
	uint8_t buf[QUICCONN_PKT];
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_pkt_info pi;
	uint64_t ts = quicconn_now();
	for (;;) {
		int64_t sid = -1;
		int fin = 0;
		nghttp3_vec vec[16];
		nghttp3_ssize sv = 0;
		if (qc->h && ngtcp2_conn_get_max_data_left(qc->q)) {
			sv = nghttp3_conn_writev_stream(qc->h, &sid, &fin, vec, 16);
			if (sv < 0) {
				qc->h3_err = (int)sv;
				qc->h3_err_sid = -1;
				return -EPROTO;
			}
			if (qc->withhold_uni && sid >= 0 && (sid & 0x2)) {
				nghttp3_conn_block_stream(qc->h, sid); /* never unblocked */
				continue;
			}
		}
		ngtcp2_ssize nd = -1;
		uint32_t fl = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
		ngtcp2_ssize n = ngtcp2_conn_writev_stream(qc->q, &ps.path, &pi, buf, sizeof(buf), &nd,
							   fl, sid, (const ngtcp2_vec *)vec,
							   (size_t)sv, ts);
		if (n < 0) {
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				nghttp3_conn_block_stream(qc->h, sid);
				continue;
			}
			if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
				nghttp3_conn_shutdown_stream_write(qc->h, sid);
				continue;
			}
			if (n == NGTCP2_ERR_WRITE_MORE) {
				nghttp3_conn_add_write_offset(qc->h, sid, (size_t)nd);
				continue;
			}
			qc->quic_err = (int)n;
			return -EIO;
		}
		if (nd >= 0 && sid >= 0)
			nghttp3_conn_add_write_offset(qc->h, sid, (size_t)nd);
		if (n == 0)
			break;
		if (send(qc->fd, buf, (size_t)n, 0) < 0 && errno != EAGAIN)
			break;
	}
	ngtcp2_conn_update_pkt_tx_time(qc->q, ts);
	return 0;
}

void quicconn_close(struct quicconn *qc)
{
	uint8_t buf[QUICCONN_PKT];
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ccerr ce;
	if (!qc->q)
		return;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_ccerr_set_application_error(&ce, NGHTTP3_H3_NO_ERROR, NULL, 0);
	ngtcp2_ssize n = ngtcp2_conn_write_connection_close(qc->q, &ps.path, &pi, buf, sizeof(buf),
							    &ce, quicconn_now());
	if (n > 0)
		(void)send(qc->fd, buf, (size_t)n, 0);
}

void quicconn_free(struct quicconn *qc)
{
	if (qc->h)
		nghttp3_conn_del(qc->h);
	ngtcp2_conn_del(qc->q);
	if (qc->tls)
		gnutls_deinit(qc->tls);
	if (qc->fd >= 0)
		close(qc->fd);
	qc->h = NULL;
	qc->q = NULL;
	qc->tls = NULL;
	qc->fd = -1;
}
