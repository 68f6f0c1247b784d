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
 * One thread, one UDP socket per connection, poll(2); the QUIC connection is bench/quicconn.c,
 * shared with the tests' HTTP/3 client.
 * Prints one line: requests done, good (2xx of the right size), failed, not done, connections
 * that failed, body bytes, seconds (from the first handshake to the last response), requests/s,
 * MB/s (10^6 bytes of body per second); exits 1 when any request failed or did not complete.
 * -U (for tests, not load): never send the client's control and QPACK streams, as curl 8.14 over
 * OpenSSL's QUIC sometimes does (when its ClientHello's second datagram reached the server
 * late): a request whose field section refers to the dynamic table then never decodes.
 *
 * Build: gcc -O2 -Wall -Wextra -Wno-unused-parameter -o h3load bench/h3load.c bench/quicconn.c -lngtcp2_crypto_gnutls -lngtcp2 -lnghttp3 -lgnutls
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "quicconn.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONNS 1024

struct conn {
	struct quicconn qc; /* qc.app points back here */
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

/* ---- requests ------------------------------------------------------------------------- */

static void start_requests(struct quicconn *qc)
{
	struct conn *c = qc->app;
	while (qc->h && started < total && c->in_flight < per_conn) {
		int64_t sid;
		struct req *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		if (ngtcp2_conn_open_bidi_stream(qc->q, &sid, NULL) != 0) {
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
		if (nghttp3_conn_submit_request(qc->h, sid, nva, 5 + n_extra, NULL, r) != 0) {
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
	body_bytes += len;
	if (sud)
		((struct req *)sud)->bytes += len;
	quicconn_consume(ud, sid, len);
	return 0;
}

static int h_stream_close(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct quicconn *qc = ud;
	struct conn *c = qc->app;
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
	start_requests(qc);
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
	struct sockaddr_storage ss;
	socklen_t sl;
	if (quicconn_addr(addr, (uint16_t)atoi(port), &ss, &sl) < 0)
		goto usage;

	static const nghttp3_callbacks hcb = {
		.stream_close = h_stream_close,
		.recv_data = h_recv_data,
		.deferred_consume = quicconn_deferred_consume,
		.recv_header = h_recv_header,
		.stop_sending = quicconn_stop_sending,
		.reset_stream = quicconn_reset_stream,
	};
	gnutls_certificate_allocate_credentials(&cred);

	struct conn *conns = calloc(nconns, sizeof(*conns));
	struct pollfd *pfd = calloc(nconns, sizeof(*pfd));
	if (!conns || !pfd)
		return 1;
	struct quicconn_opts o = {
		.sni = sni,
		.cred = cred,
		.hcb = &hcb,
		.start = start_requests,
		.rcvbuf_force = true,
		.max_window = 24 << 20,
		.max_stream_window = 16 << 20,
		.withhold_uni = withhold_uni,
	};
	uint64_t t0 = quicconn_now();
	if (duration > 0) {
		total = UINT_MAX;
		deadline = t0 + (uint64_t)(duration * 1e9);
	}
	for (unsigned i = 0; i < nconns; i++) {
		o.app = &conns[i];
		if (quicconn_open(&conns[i].qc, (struct sockaddr *)&ss, sl, &o) < 0) {
			fprintf(stderr, "h3load: connection %u: cannot set up\n", i);
			return 1;
		}
		if (quicconn_write(&conns[i].qc) < 0)
			conn_fail(&conns[i]);
	}
	while (finished < total) {
		uint64_t now = quicconn_now(), next = UINT64_MAX;
		if (deadline && now >= deadline && total > started)
			total = started; /* time is up: no new request, those in flight finish */
		unsigned live = 0;
		for (unsigned i = 0; i < nconns; i++) {
			pfd[i].fd = conns[i].done ? -1 : conns[i].qc.fd;
			pfd[i].events = POLLIN;
			if (!conns[i].done) {
				uint64_t e = ngtcp2_conn_get_expiry(conns[i].qc.q);
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
		for (unsigned i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			if (c->done)
				continue;
			/* recv also takes a pending error; an ICMP refusal is left to the
			 * handshake timeout */
			if ((pfd[i].revents & (POLLIN | POLLERR)) && quicconn_read(&c->qc) == -EIO)
				conn_fail(c);
			if (!c->done && quicconn_expire(&c->qc) < 0)
				conn_fail(c);
			if (!c->done && quicconn_write(&c->qc) < 0)
				conn_fail(c);
			if (!c->done && started >= total && c->in_flight == 0)
				c->done = true; /* its share is over */
		}
	}
	double secs = (double)(quicconn_now() - t0) / 1e9;
	if (deadline && total > started)
		total = started; /* every connection failed before the time was up */
	unsigned missing = total - finished;
	for (unsigned i = 0; i < nconns; i++) {
		if (conns[i].failed)
			continue;
		if (!conns[i].qc.h)
			failed_conns++; /* its handshake did not complete in time */
		quicconn_close(&conns[i].qc);
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
