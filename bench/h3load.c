/* h3load: a small HTTP/3 load generator on ngtcp2 (with its GnuTLS crypto helper) and nghttp3,
 * for bench/ (Debian 12 has none). Not part of ferry.
 *
 *   h3load [-c CONNS] [-m STREAMS] [-n REQUESTS | -d SECONDS] [-b BYTES] [-s SNI]
 *          [-H 'NAME: VALUE']... [-U] ADDR PORT AUTHORITY PATH
 *
 * CONNS connections (default 1) to ADDR:PORT (an IPv4 or IPv6 literal), opened together at the
 * start and kept to the end, each with up to STREAMS requests in flight (default 10): many
 * requests over a few connections (-c 4 -m 32) or many connections (-c 256 -m 1). REQUESTS GET
 * requests in all (default 100), or with -d as many as SECONDS allow (no new request after
 * that; those in flight finish). ":authority" AUTHORITY and ":path" PATH, and the -H fields
 * (lower-case names); the server name SNI (default: AUTHORITY without its port). The
 * certificate is not verified. A request counts as good when it gets a 2xx status, ends without
 * a stream error and, with -b, has exactly BYTES of body. At the end every connection is closed
 * with CONNECTION_CLOSE (H3_NO_ERROR), so that the server does not keep it to its idle timeout.
 * One thread, one UDP socket per connection, poll(2).
 * Prints one line: requests done, good (2xx of the right size), failed, not done, connections
 * that failed, body bytes, seconds (from the first handshake to the last response), requests/s,
 * MB/s (10^6 bytes of body per second); exits 1 when any request failed or did not complete.
 * -U (for tests, not load): never send the client's control and QPACK streams, as curl 8.14 over
 * OpenSSL's QUIC sometimes does (when its ClientHello's second datagram reached the server
 * late): a request whose field section refers to the dynamic table then never decodes.
 *
 * Build: gcc -O2 -Wall -Wextra -Wno-unused-parameter -o h3load bench/h3load.c -lngtcp2_crypto_gnutls -lngtcp2 -lnghttp3 -lgnutls
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <poll.h>
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define PKT 1452

struct conn {
	int fd;
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	ngtcp2_conn *q;
	nghttp3_conn *h;
	gnutls_session_t tls;
	ngtcp2_crypto_conn_ref ref;
	unsigned in_flight;
	bool done, failed;
};

/* One request stream (its nghttp3 stream user data). */
struct req {
	uint64_t bytes;
	unsigned status;
};

static const char *authority, *path, *sni;
#define MAX_FIELDS 16
static nghttp3_nv extra[MAX_FIELDS];
static size_t n_extra;
static unsigned total, started, finished, good, failed_reqs, failed_conns, per_conn = 10;
static bool withhold_uni; /* -U */
static uint64_t body_bytes, deadline;
static long long want_bytes = -1;
static gnutls_certificate_credentials_t cred;
static ngtcp2_callbacks qcb;
static nghttp3_callbacks hcb;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void rnd(void *p, size_t n)
{
	gnutls_rnd(GNUTLS_RND_NONCE, p, n);
}

/* ---- requests ------------------------------------------------------------------------- */

static void start_requests(struct conn *c)
{
	while (c->h && started < total && c->in_flight < per_conn) {
		int64_t sid;
		struct req *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		if (ngtcp2_conn_open_bidi_stream(c->q, &sid, NULL) != 0) {
			free(r);
			return; /* no stream credit now: extend_max_local_streams_bidi */
		}
		nghttp3_nv nva[5 + MAX_FIELDS] = {
			{(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP3_NV_FLAG_NONE},
			{(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, NGHTTP3_NV_FLAG_NONE},
			{(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
			 NGHTTP3_NV_FLAG_NONE},
			{(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP3_NV_FLAG_NONE},
			{(uint8_t *)"user-agent", (uint8_t *)"h3load", 10, 6, NGHTTP3_NV_FLAG_NONE},
		};
		memcpy(nva + 5, extra, n_extra * sizeof(*extra));
		if (nghttp3_conn_submit_request(c->h, sid, nva, 5 + n_extra, NULL, r) != 0) {
			free(r);
			return;
		}
		started++;
		c->in_flight++;
	}
}

static int h_recv_header(nghttp3_conn *h, int64_t sid, int32_t token, nghttp3_rcbuf *name,
			 nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
	if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
		nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
		if (sud && v.len == 3 && v.base[0] >= '1' && v.base[0] <= '5' &&
		    v.base[1] >= '0' && v.base[1] <= '9' && v.base[2] >= '0' && v.base[2] <= '9')
			((struct req *)sud)->status = (unsigned)(v.base[0] - '0') * 100 +
						      (unsigned)(v.base[1] - '0') * 10 +
						      (unsigned)(v.base[2] - '0');
	}
	return 0;
}

static int h_recv_data(nghttp3_conn *h, int64_t sid, const uint8_t *data, size_t len, void *ud,
		       void *sud)
{
	struct conn *c = ud;
	body_bytes += len;
	if (sud)
		((struct req *)sud)->bytes += len;
	ngtcp2_conn_extend_max_stream_offset(c->q, sid, len);
	ngtcp2_conn_extend_max_offset(c->q, len);
	return 0;
}

static int h_deferred_consume(nghttp3_conn *h, int64_t sid, size_t n, void *ud, void *sud)
{
	struct conn *c = ud;
	ngtcp2_conn_extend_max_stream_offset(c->q, sid, n);
	ngtcp2_conn_extend_max_offset(c->q, n);
	return 0;
}

static int h_stream_close(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct conn *c = ud;
	struct req *r = sud;
	if (!ngtcp2_is_bidi_stream(sid))
		return 0;
	finished++;
	c->in_flight--;
	if (r && r->status / 100 == 2 && code == NGHTTP3_H3_NO_ERROR &&
	    (want_bytes < 0 || r->bytes == (uint64_t)want_bytes)) {
		good++;
	} else {
		if (failed_reqs++ == 0) /* say why, once */
			fprintf(stderr, "h3load: first failed request: status %u, %llu body bytes, "
					"stream closed with error code 0x%llx\n",
				r ? r->status : 0, r ? (unsigned long long)r->bytes : 0ull,
				(unsigned long long)code);
	}
	free(r);
	start_requests(c);
	return 0;
}

static int h_stop_sending(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct conn *c = ud;
	ngtcp2_conn_shutdown_stream_read(c->q, 0, sid, code);
	return 0;
}

static int h_reset_stream(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct conn *c = ud;
	ngtcp2_conn_shutdown_stream_write(c->q, 0, sid, code);
	return 0;
}

/* ---- QUIC ----------------------------------------------------------------------------- */

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
	struct conn *c = ud;
	nghttp3_settings st;
	nghttp3_settings_default(&st);
	if (nghttp3_conn_client_new(&c->h, &hcb, &st, nghttp3_mem_default(), c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	int64_t ctrl, enc, dec;
	if (ngtcp2_conn_open_uni_stream(q, &ctrl, NULL) != 0 ||
	    nghttp3_conn_bind_control_stream(c->h, ctrl) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &enc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(q, &dec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(c->h, enc, dec) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	start_requests(c);
	return 0;
}

static int q_recv_stream_data(ngtcp2_conn *q, uint32_t flags, int64_t sid, uint64_t off,
			      const uint8_t *data, size_t len, void *ud, void *sud)
{
	struct conn *c = ud;
	if (!c->h)
		return 0;
	nghttp3_ssize n = nghttp3_conn_read_stream(c->h, sid, data, len,
						   flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	ngtcp2_conn_extend_max_stream_offset(q, sid, (uint64_t)n);
	ngtcp2_conn_extend_max_offset(q, (uint64_t)n);
	return 0;
}

static int q_acked(ngtcp2_conn *q, int64_t sid, uint64_t off, uint64_t len, void *ud, void *sud)
{
	struct conn *c = ud;
	if (c->h && nghttp3_conn_add_ack_offset(c->h, sid, len) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int q_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t sid, uint64_t code, void *ud,
			  void *sud)
{
	struct conn *c = ud;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		code = NGHTTP3_H3_NO_ERROR;
	if (c->h) {
		int r = nghttp3_conn_close_stream(c->h, sid, code);
		if (r != 0 && r != NGHTTP3_ERR_STREAM_NOT_FOUND)
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int q_stream_reset(ngtcp2_conn *q, int64_t sid, uint64_t size, uint64_t code, void *ud,
			  void *sud)
{
	struct conn *c = ud;
	if (c->h)
		nghttp3_conn_shutdown_stream_read(c->h, sid);
	return 0;
}

static int q_extend_streams(ngtcp2_conn *q, uint64_t max, void *ud)
{
	start_requests(ud);
	return 0;
}

static int q_extend_stream_data(ngtcp2_conn *q, int64_t sid, uint64_t max, void *ud, void *sud)
{
	struct conn *c = ud;
	if (c->h)
		nghttp3_conn_unblock_stream(c->h, sid);
	return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct conn *)ref->user_data)->q;
}

static int conn_open(struct conn *c, const struct sockaddr *sa, socklen_t salen)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0 || connect(c->fd, sa, salen) < 0)
		return -1;
	/* A burst of a 1 MiB response must not overflow the default buffer (a drop is a loss
	 * to ngtcp2, and slows the connection down): beyond net.core.rmem_max when allowed
	 * (CAP_NET_ADMIN), as quic-go does for its server. */
	int sz = 4 << 20;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memcpy(&c->remote, sa, salen);
	c->remote_len = salen;
	c->local_len = sizeof(c->local);
	getsockname(c->fd, (struct sockaddr *)&c->local, &c->local_len);
	ngtcp2_path path = {{(ngtcp2_sockaddr *)&c->local, c->local_len},
			    {(ngtcp2_sockaddr *)&c->remote, c->remote_len}, NULL};
	ngtcp2_cid dcid = {.datalen = 18}, scid = {.datalen = 17};
	rnd(dcid.data, dcid.datalen);
	rnd(scid.data, scid.datalen);
	ngtcp2_settings st;
	ngtcp2_settings_default(&st);
	st.initial_ts = now_ns();
	st.handshake_timeout = 10 * NGTCP2_SECONDS;
	st.max_window = 24 << 20;
	st.max_stream_window = 16 << 20;
	ngtcp2_transport_params tp;
	ngtcp2_transport_params_default(&tp);
	tp.initial_max_stream_data_bidi_local = 1 << 20;
	tp.initial_max_stream_data_uni = 256 << 10;
	tp.initial_max_data = 8 << 20;
	tp.initial_max_streams_uni = 3;
	tp.max_idle_timeout = 30 * NGTCP2_SECONDS;
	if (ngtcp2_conn_client_new(&c->q, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &qcb, &st, &tp,
				   NULL, c) != 0)
		return -1;
	static const gnutls_datum_t alpn = {(unsigned char *)"h3", 2};
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA) < 0 ||
	    gnutls_priority_set_direct(c->tls,
				       "NORMAL:-VERS-ALL:+VERS-TLS1.3:%DISABLE_TLS13_COMPAT_MODE",
				       NULL) < 0 ||
	    ngtcp2_crypto_gnutls_configure_client_session(c->tls) != 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0 ||
	    gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, sni, strlen(sni)) < 0)
		return -1;
	gnutls_session_set_ptr(c->tls, &c->ref);
	ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
	return 0;
}

static void conn_fail(struct conn *c)
{
	if (c->done)
		return;
	c->done = c->failed = true;
	failed_conns++;
	failed_reqs += c->in_flight;
	finished += c->in_flight;
	c->in_flight = 0;
}

static void conn_write(struct conn *c)
{
	uint8_t buf[PKT];
	ngtcp2_path_storage ps;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_pkt_info pi;
	uint64_t ts = now_ns();
	for (;;) {
		int64_t sid = -1;
		int fin = 0;
		nghttp3_vec vec[16];
		nghttp3_ssize sv = 0;
		if (c->h && ngtcp2_conn_get_max_data_left(c->q)) {
			sv = nghttp3_conn_writev_stream(c->h, &sid, &fin, vec, 16);
			if (sv < 0) {
				conn_fail(c);
				return;
			}
			if (withhold_uni && sid >= 0 && (sid & 0x2)) {
				nghttp3_conn_block_stream(c->h, sid); /* never unblocked */
				continue;
			}
		}
		ngtcp2_ssize nd = -1;
		uint32_t fl = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
		ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->q, &ps.path, &pi, buf, sizeof(buf), &nd,
							   fl, sid, (const ngtcp2_vec *)vec,
							   (size_t)sv, ts);
		if (n < 0) {
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				nghttp3_conn_block_stream(c->h, sid);
				continue;
			}
			if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
				nghttp3_conn_shutdown_stream_write(c->h, sid);
				continue;
			}
			if (n == NGTCP2_ERR_WRITE_MORE) {
				nghttp3_conn_add_write_offset(c->h, sid, (size_t)nd);
				continue;
			}
			conn_fail(c);
			return;
		}
		if (nd >= 0 && sid >= 0)
			nghttp3_conn_add_write_offset(c->h, sid, (size_t)nd);
		if (n == 0)
			break;
		if (send(c->fd, buf, (size_t)n, 0) < 0 && errno != EAGAIN)
			break;
	}
	ngtcp2_conn_update_pkt_tx_time(c->q, ts);
}

static void conn_read(struct conn *c)
{
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return;
		ngtcp2_path path = {{(ngtcp2_sockaddr *)&c->local, c->local_len},
				    {(ngtcp2_sockaddr *)&c->remote, c->remote_len}, NULL};
		ngtcp2_pkt_info pi = {0};
		if (ngtcp2_conn_read_pkt(c->q, &path, &pi, buf, (size_t)n, now_ns()) != 0) {
			conn_fail(c);
			return;
		}
	}
}

/* CONNECTION_CLOSE with H3_NO_ERROR, sent once (the connection is not used after it). */
static void conn_close(struct conn *c)
{
	uint8_t buf[PKT];
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ccerr ce;
	if (c->failed || !c->q)
		return;
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_ccerr_set_application_error(&ce, NGHTTP3_H3_NO_ERROR, NULL, 0);
	ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->q, &ps.path, &pi, buf, sizeof(buf),
							    &ce, now_ns());
	if (n > 0)
		(void)send(c->fd, buf, (size_t)n, 0);
}

int main(int argc, char **argv)
{
	unsigned nconns = 1;
	int opt;
	total = 100;
	double duration = 0;
	while ((opt = getopt(argc, argv, "b:c:d:m:n:s:H:U")) != -1) {
		switch (opt) {
		case 'H': {
			char *colon = strchr(optarg, ':');
			if (!colon || colon == optarg || n_extra == MAX_FIELDS)
				goto usage;
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			extra[n_extra++] = (nghttp3_nv){(uint8_t *)optarg, (uint8_t *)v,
							(size_t)(colon - optarg), strlen(v),
							NGHTTP3_NV_FLAG_NONE};
			break;
		}
		case 'c':
			nconns = (unsigned)atoi(optarg);
			break;
		case 'm':
			per_conn = (unsigned)atoi(optarg);
			break;
		case 'n':
			total = (unsigned)atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			if (duration <= 0)
				goto usage;
			break;
		case 'b':
			want_bytes = atoll(optarg);
			if (want_bytes < 0)
				goto usage;
			break;
		case 's':
			sni = optarg;
			break;
		case 'U':
			withhold_uni = true;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 4 || nconns < 1 || nconns > MAX_CONNS || per_conn < 1)
		goto usage;
	const char *addr = argv[optind], *port = argv[optind + 1];
	authority = argv[optind + 2];
	path = argv[optind + 3];
	static char host[256];
	if (!sni) {
		snprintf(host, sizeof(host), "%s", authority);
		char *colon = strrchr(host, ':');
		if (colon && host[0] != '[')
			*colon = '\0';
		sni = host;
	}
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(port));
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(port));
		sl = sizeof(*s6);
	} else {
		goto usage;
	}

	qcb = (ngtcp2_callbacks){
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
	hcb = (nghttp3_callbacks){
		.stream_close = h_stream_close,
		.recv_data = h_recv_data,
		.deferred_consume = h_deferred_consume,
		.recv_header = h_recv_header,
		.stop_sending = h_stop_sending,
		.reset_stream = h_reset_stream,
	};
	gnutls_certificate_allocate_credentials(&cred);

	struct conn *conns = calloc(nconns, sizeof(*conns));
	struct pollfd *pfd = calloc(nconns, sizeof(*pfd));
	if (!conns || !pfd)
		return 1;
	uint64_t t0 = now_ns();
	if (duration > 0) {
		total = UINT_MAX;
		deadline = t0 + (uint64_t)(duration * 1e9);
	}
	for (unsigned i = 0; i < nconns; i++) {
		if (conn_open(&conns[i], (struct sockaddr *)&ss, sl) < 0) {
			fprintf(stderr, "h3load: connection %u: cannot set up\n", i);
			return 1;
		}
		conn_write(&conns[i]);
	}
	while (finished < total) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		if (deadline && now >= deadline && total > started)
			total = started; /* time is up: no new request, those in flight finish */
		unsigned live = 0;
		for (unsigned i = 0; i < nconns; i++) {
			pfd[i].fd = conns[i].done ? -1 : conns[i].fd;
			pfd[i].events = POLLIN;
			if (!conns[i].done) {
				uint64_t e = ngtcp2_conn_get_expiry(conns[i].q);
				next = e < next ? e : next;
				live++;
			}
		}
		if (live == 0)
			break;
		if (deadline && total > started && deadline < next)
			next = deadline;
		int ms = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int)((next - now) / 1000000 + 1);
		if (poll(pfd, nconns, ms) < 0 && errno != EINTR)
			break;
		now = now_ns();
		for (unsigned i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			if (c->done)
				continue;
			if (pfd[i].revents & (POLLIN | POLLERR)) /* recv also takes a pending error */
				conn_read(c);
			now = now_ns(); /* ngtcp2's clock must not go back */
			if (!c->done && ngtcp2_conn_get_expiry(c->q) <= now &&
			    ngtcp2_conn_handle_expiry(c->q, now) != 0)
				conn_fail(c);
			if (!c->done)
				conn_write(c);
			if (!c->done && started >= total && c->in_flight == 0)
				c->done = true; /* its share is over */
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	if (deadline && total > started)
		total = started; /* every connection failed before the time was up */
	unsigned missing = total - finished;
	for (unsigned i = 0; i < nconns; i++) {
		if (!conns[i].failed && !conns[i].h)
			failed_conns++; /* its handshake did not complete in time */
		conn_close(&conns[i]);
	}
	printf("requests %u done, %u good, %u failed, %u not done; %u connections failed; "
	       "%llu body bytes; %.3f s; %.0f req/s; %.2f MB/s\n",
	       finished, good, failed_reqs, missing, failed_conns, (unsigned long long)body_bytes,
	       secs, finished / secs, body_bytes / secs / 1e6);
	return failed_reqs || missing || failed_conns || !finished ? 1 : 0;
usage:
	fprintf(stderr, "usage: h3load [-c CONNS] [-m STREAMS] [-n REQUESTS | -d SECONDS] "
			"[-b BYTES] [-s SNI] [-H 'NAME: VALUE']... [-U] ADDR PORT AUTHORITY PATH\n");
	return 2;
}
