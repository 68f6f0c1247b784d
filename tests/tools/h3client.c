/* h3client: the tests' HTTP/3 client, on ngtcp2 (with its GnuTLS crypto helper) and nghttp3,
 * because Debian 12 has none that sends arbitrary request fields (ngtcp2-client's gtlsclient
 * cannot). Not part of ferry; its QUIC connection is bench/quicconn.c, shared with
 * bench/h3load.c (make compiles the two together).
 *
 *   h3client [-s SNI] [-a AUTHORITY] [-t SECONDS] [-o FILE] [-w PREFIX] [-P MS] [-p] ADDR PORT
 *            REQUEST...
 *   REQUEST: [-X METHOD] [-H 'NAME: VALUE']... [-d DATA | -D FILE] PATH
 *
 * One QUIC connection to ADDR:PORT (an IPv4 or IPv6 literal), server name SNI (default
 * "localhost"), ALPN h3, the certificate not verified. Each REQUEST is one stream: METHOD
 * (default GET), ":scheme" https, ":authority" AUTHORITY (default "localhost"), ":path" PATH,
 * the -H fields (names lower-cased; a pseudo-field such as ':authority: x' replaces the
 * default one, ':authority:' with no value leaves it out) and, with -d or -D, a body (and its content-length unless -H gave one).
 * Requests go one after the other, each once the previous one is over; with -p all at once.
 *
 * Prints, for each request in command-line order (to FILE with -o, else to stdout):
 *
 *   request N METHOD PATH
 *   status NNN                 (one per response: interim 1xx ones first)
 *   header NAME: VALUE         (the fields of the response just above)
 *   trailer NAME: VALUE
 *   body LENGTH                (then exactly LENGTH bytes of body and a "\n")
 *   result ok | result reset 0xCODE | result incomplete
 *
 * With -w, each request's body bytes are also written to PREFIX.N as they arrive (flushed at
 * each DATA frame), so that a test can watch a response stream.
 *
 * With -P, the client stops reading its socket for MS milliseconds once the first body bytes
 * arrive (a slow reader: the server's flow-control windows fill and its packets queue or drop).
 *
 * "ok" is a response ended by the server with H3_NO_ERROR. Exit status: 0 when every request
 * is ok, 1 when a stream or the connection failed or SECONDS (default 20) passed first (what
 * arrived is printed all the same, the reason on stderr), 2 for a usage error. At the end the
 * connection is closed with CONNECTION_CLOSE (H3_NO_ERROR). One thread, poll(2). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "quicconn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REQS 256
#define MAX_FIELDS 64
#define MAX_BODY (256u << 20) /* a response body kept beyond this fails the request */

struct req {
	const char *method, *path;
	nghttp3_nv nv[4 + MAX_FIELDS];
	size_t nnv;
	bool omit[4]; /* a default pseudo-field left out (-H ':authority:') */
	uint8_t *body; /* the request body (NULL: none) */
	size_t body_len;
	char clen[24];
	int64_t sid;
	bool body_owned, started, ended, closed, too_big;
	uint64_t code;
	char *head; /* the printed status, header and trailer lines */
	size_t head_len;
	FILE *headf;
	FILE *tee; /* -w: the body as it comes */
	uint8_t *resp;
	size_t resp_len, resp_cap;
};

static struct req reqs[MAX_REQS];
static size_t nreqs, next_req, in_flight;
static bool parallel;
static const char *sni = "localhost", *authority = "localhost";

static struct quicconn conn;
static gnutls_certificate_credentials_t cred;
static bool conn_failed;
static uint64_t pause_ns, paused_until; /* -P */
static bool paused;
static const char *fail_why;

static void fail(const char *why)
{
	if (!conn_failed)
		fail_why = why;
	conn_failed = true;
}

/* ---- requests ------------------------------------------------------------------------- */

static nghttp3_ssize read_body(nghttp3_conn *h, int64_t sid, nghttp3_vec *vec, size_t veccnt,
			       uint32_t *pflags, void *ud, void *sud)
{
	struct req *r = sud;
	*pflags |= NGHTTP3_DATA_FLAG_EOF;
	if (r->body_len == 0)
		return 0;
	vec[0].base = r->body;
	vec[0].len = r->body_len;
	return 1;
}

static void start_requests(struct quicconn *qc)
{
	while (qc->h && next_req < nreqs && (parallel || in_flight == 0)) {
		struct req *r = &reqs[next_req];
		if (ngtcp2_conn_open_bidi_stream(qc->q, &r->sid, r) != 0)
			return; /* no stream credit now: extend_max_local_streams_bidi */
		nghttp3_data_reader dr = {read_body};
		if (nghttp3_conn_submit_request(qc->h, r->sid, r->nv, r->nnv, r->body ? &dr : NULL,
						r) != 0) {
			fail("cannot submit a request");
			return;
		}
		r->started = true;
		next_req++;
		in_flight++;
	}
}

static int h_begin_headers(nghttp3_conn *h, int64_t sid, void *ud, void *sud)
{
	return 0;
}

static int h_recv_field(struct req *r, const char *kind, nghttp3_rcbuf *name,
			nghttp3_rcbuf *value)
{
	nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
	if (!r)
		return 0;
	if (n.len == 7 && memcmp(n.base, ":status", 7) == 0)
		fprintf(r->headf, "status %.*s\n", (int)v.len, (const char *)v.base);
	else
		fprintf(r->headf, "%s %.*s: %.*s\n", kind, (int)n.len, (const char *)n.base,
			(int)v.len, (const char *)v.base);
	return 0;
}

static int h_recv_header(nghttp3_conn *h, int64_t sid, int32_t token, nghttp3_rcbuf *name,
			 nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
	return h_recv_field(sud, "header", name, value);
}

static int h_recv_trailer(nghttp3_conn *h, int64_t sid, int32_t token, nghttp3_rcbuf *name,
			  nghttp3_rcbuf *value, uint8_t flags, void *ud, void *sud)
{
	return h_recv_field(sud, "trailer", name, value);
}

static int h_recv_data(nghttp3_conn *h, int64_t sid, const uint8_t *data, size_t len, void *ud,
		       void *sud)
{
	struct req *r = sud;
	quicconn_consume(ud, sid, len);
	if (pause_ns && !paused && len) {
		paused = true;
		paused_until = quicconn_now() + pause_ns;
	}
	if (!r || r->too_big)
		return 0;
	if (r->resp_len + len > MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	if (r->resp_len + len > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 65536;
		while (cap < r->resp_len + len)
			cap *= 2;
		uint8_t *p = realloc(r->resp, cap);
		if (!p)
			abort();
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, len);
	r->resp_len += len;
	if (r->tee && (fwrite(data, 1, len, r->tee) != len || fflush(r->tee) != 0))
		fail("cannot write the -w file");
	return 0;
}

static int h_end_stream(nghttp3_conn *h, int64_t sid, void *ud, void *sud)
{
	struct req *r = sud;
	if (r)
		r->ended = true;
	return 0;
}

static int h_stream_close(nghttp3_conn *h, int64_t sid, uint64_t code, void *ud, void *sud)
{
	struct req *r = sud;
	if (!ngtcp2_is_bidi_stream(sid) || !r)
		return 0;
	r->closed = true;
	r->code = code;
	in_flight--;
	start_requests(ud);
	return 0;
}

static const nghttp3_callbacks hcb = {
	.stream_close = h_stream_close,
	.recv_data = h_recv_data,
	.deferred_consume = quicconn_deferred_consume,
	.begin_headers = h_begin_headers,
	.recv_header = h_recv_header,
	.begin_trailers = h_begin_headers,
	.recv_trailer = h_recv_trailer,
	.stop_sending = quicconn_stop_sending,
	.end_stream = h_end_stream,
	.reset_stream = quicconn_reset_stream,
};

/* ---- the connection's steps (bench/quicconn.c), with this client's messages ------------ */

static void conn_read(void)
{
	int r = quicconn_read(&conn);
	if (r == -ECONNREFUSED) { /* an ICMP port unreachable */
		fail("connection refused");
	} else if (r < 0) {
		if (conn.h3_err)
			fprintf(stderr, "h3client: stream %lld: %s\n", (long long)conn.h3_err_sid,
				nghttp3_strerror(conn.h3_err));
		const ngtcp2_ccerr *ce = ngtcp2_conn_get_ccerr(conn.q);
		fprintf(stderr, "h3client: read: %s (error code 0x%llx)\n",
			ngtcp2_strerror(conn.quic_err), (unsigned long long)ce->error_code);
		fail(conn.quic_err == NGTCP2_ERR_DRAINING ? "the server closed the connection"
							  : "the connection failed");
	}
}

static void conn_expire(void)
{
	if (quicconn_expire(&conn) < 0) {
		fprintf(stderr, "h3client: %s\n", ngtcp2_strerror(conn.quic_err));
		fail(conn.quic_err == NGTCP2_ERR_HANDSHAKE_TIMEOUT ? "handshake timed out"
								   : "idle timeout");
	}
}

static void conn_write(void)
{
	int r = quicconn_write(&conn);
	if (r == -EIO) {
		fprintf(stderr, "h3client: write: %s\n", ngtcp2_strerror(conn.quic_err));
		fail("cannot write a packet");
	} else if (r < 0) {
		fail("nghttp3_conn_writev_stream failed");
	}
}

/* ---- command line --------------------------------------------------------------------- */

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
	int f = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (f < 0 || fstat(f, &sb) < 0 || (uint64_t)sb.st_size > MAX_BODY) {
		if (f >= 0)
			close(f);
		return -1;
	}
	uint8_t *p = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	if (!p)
		abort();
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(f, p + got, (size_t)sb.st_size - got);
		if (n <= 0) {
			free(p);
			close(f);
			return -1;
		}
		got += (size_t)n;
	}
	close(f);
	*ret = p;
	*ret_len = got;
	return 0;
}

static void set_nv(nghttp3_nv *nv, const char *name, size_t nlen, const char *value)
{
	*nv = (nghttp3_nv){(uint8_t *)name, (uint8_t *)value, nlen, strlen(value),
			   NGHTTP3_NV_FLAG_NONE};
}

/* One REQUEST from argv[*i]: its options, then its path. */
static int parse_request(int argc, char **argv, int *i, struct req *r)
{
	bool has_clen = false;
	set_nv(&r->nv[0], ":method", 7, "GET");
	set_nv(&r->nv[1], ":scheme", 7, "https");
	set_nv(&r->nv[2], ":authority", 10, authority);
	r->nnv = 4;
	for (; *i < argc; (*i)++) {
		char *a = argv[*i];
		if (a[0] != '-' || a[1] == '\0' || a[2] != '\0') {
			set_nv(&r->nv[3], ":path", 5, a);
			r->path = a;
			(*i)++;
			r->method = (const char *)r->nv[0].value;
			for (size_t k = 4; k-- > 0;)
				if (r->omit[k]) {
					memmove(&r->nv[k], &r->nv[k + 1], (r->nnv - k - 1) * sizeof(r->nv[0]));
					r->nnv--;
				}
			if (r->body && !has_clen) {
				if (r->nnv == 4 + MAX_FIELDS)
					return -1;
				snprintf(r->clen, sizeof(r->clen), "%zu", r->body_len);
				set_nv(&r->nv[r->nnv++], "content-length", 14, r->clen);
			}
			return 0;
		}
		if (*i + 1 >= argc)
			return -1;
		char *v = argv[++(*i)];
		switch (a[1]) {
		case 'X':
			set_nv(&r->nv[0], ":method", 7, v);
			break;
		case 'd':
			if (r->body_owned)
				free(r->body);
			r->body_owned = false;
			r->body = (uint8_t *)v;
			r->body_len = strlen(v);
			break;
		case 'D':
			if (r->body_owned)
				free(r->body);
			r->body_owned = true;
			if (read_all(v, &r->body, &r->body_len) < 0) {
				fprintf(stderr, "h3client: cannot read %s\n", v);
				return -1;
			}
			break;
		case 'H': {
			char *colon = strchr(v[0] == ':' ? v + 1 : v, ':');
			if (!colon || colon == v)
				return -1;
			size_t nlen = (size_t)(colon - v);
			for (char *c = v; c < colon; c++)
				*c = (char)tolower((unsigned char)*c);
			const char *val = colon + 1;
			while (*val == ' ' || *val == '\t')
				val++;
			if (nlen == 14 && memcmp(v, "content-length", 14) == 0)
				has_clen = true;
			size_t k;
			for (k = 0; v[0] == ':' && k < 4; k++)
				if (r->nv[k].namelen == nlen && memcmp(r->nv[k].name, v, nlen) == 0)
					break;
			if (v[0] != ':' || k == 4) {
				if (r->nnv == 4 + MAX_FIELDS)
					return -1;
				k = r->nnv++;
			} else {
				r->omit[k] = *val == '\0';
			}
			set_nv(&r->nv[k], v, nlen, val);
			break;
		}
		default:
			return -1;
		}
	}
	return -1; /* options without a path */
}

static void print_results(FILE *out)
{
	for (size_t i = 0; i < nreqs; i++) {
		struct req *r = &reqs[i];
		fclose(r->headf);
		if (r->tee)
			fclose(r->tee);
		fprintf(out, "request %zu %s %s\n", i, r->method, r->path);
		fwrite(r->head, 1, r->head_len, out);
		fprintf(out, "body %zu\n", r->resp_len);
		if (r->resp_len)
			fwrite(r->resp, 1, r->resp_len, out);
		fputc('\n', out);
		if (r->closed && r->ended && r->code == NGHTTP3_H3_NO_ERROR && !r->too_big)
			fprintf(out, "result ok\n");
		else if (r->closed && r->code != NGHTTP3_H3_NO_ERROR)
			fprintf(out, "result reset 0x%llx\n", (unsigned long long)r->code);
		else
			fprintf(out, "result incomplete\n");
	}
}

int main(int argc, char **argv)
{
	const char *outpath = NULL, *teepath = NULL;
	double timeout = 20;
	int opt;
	while ((opt = getopt(argc, argv, "+s:a:t:o:w:P:p")) != -1) {
		switch (opt) {
		case 's':
			sni = optarg;
			break;
		case 'a':
			authority = optarg;
			break;
		case 't':
			timeout = atof(optarg);
			if (timeout <= 0)
				goto usage;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'w':
			teepath = optarg;
			break;
		case 'P':
			pause_ns = (uint64_t)(atof(optarg) * 1e6);
			break;
		case 'p':
			parallel = true;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind < 3)
		goto usage;
	const char *addr = argv[optind], *port = argv[optind + 1];
	char *end;
	long portn = strtol(port, &end, 10);
	if (*end || portn < 1 || portn > 65535)
		goto usage;
	for (int i = optind + 2; i < argc;) {
		if (nreqs == MAX_REQS || parse_request(argc, argv, &i, &reqs[nreqs]) < 0)
			goto usage;
		struct req *r = &reqs[nreqs++];
		r->headf = open_memstream(&r->head, &r->head_len);
		if (!r->headf)
			abort();
		if (teepath) {
			char name[4096];
			snprintf(name, sizeof(name), "%s.%zu", teepath, nreqs - 1);
			if (!(r->tee = fopen(name, "we"))) {
				perror(name);
				return 1;
			}
		}
	}

	struct sockaddr_storage ss;
	socklen_t sl;
	if (quicconn_addr(addr, (uint16_t)portn, &ss, &sl) < 0)
		goto usage;
	FILE *out = stdout;
	if (outpath && !(out = fopen(outpath, "we"))) {
		perror(outpath);
		return 1;
	}
	gnutls_certificate_allocate_credentials(&cred);
	struct quicconn_opts o = {.sni = sni, .cred = cred, .hcb = &hcb, .start = start_requests};
	if (quicconn_open(&conn, (struct sockaddr *)&ss, sl, &o) < 0) {
		fprintf(stderr, "h3client: cannot set up the connection\n");
		return 1;
	}
	uint64_t deadline = quicconn_now() + (uint64_t)(timeout * 1e9);
	conn_write();
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < nreqs; i++)
			done += reqs[i].closed;
		if (done == nreqs || conn_failed)
			break;
		uint64_t now = quicconn_now(), next = ngtcp2_conn_get_expiry(conn.q);
		if (now >= deadline) {
			fail("timed out");
			break;
		}
		if (next > deadline)
			next = deadline;
		bool hold = paused_until > now; /* -P: the socket is not read meanwhile */
		if (hold && paused_until < next)
			next = paused_until;
		int ms = next <= now ? 0 : (int)((next - now) / 1000000 + 1);
		struct pollfd pfd = {hold ? -1 : conn.fd, POLLIN, 0};
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
			fail("poll failed");
			break;
		}
		if (pfd.revents & (POLLIN | POLLERR)) /* recv also takes a pending error */
			conn_read();
		if (!conn_failed)
			conn_expire();
		if (!conn_failed)
			conn_write();
	}
	if (!conn_failed)
		quicconn_close(&conn);
	bool ok = !conn_failed;
	for (size_t i = 0; i < nreqs; i++)
		ok = ok && reqs[i].closed && reqs[i].ended && !reqs[i].too_big &&
		     reqs[i].code == NGHTTP3_H3_NO_ERROR;
	if (conn_failed)
		fprintf(stderr, "h3client: %s\n", fail_why);
	print_results(out);
	if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
		perror("h3client: output");
		return 1;
	}
	for (size_t i = 0; i < nreqs; i++)
		free(reqs[i].resp), free(reqs[i].head), free(reqs[i].body_owned ? reqs[i].body : NULL);
	quicconn_free(&conn);
	gnutls_certificate_free_credentials(cred);
	return ok ? 0 : 1;
usage:
	fprintf(stderr, "usage: h3client [-s SNI] [-a AUTHORITY] [-t SECONDS] [-o FILE] [-w PREFIX] [-P MS] [-p] ADDR "
			"PORT REQUEST...\n"
			"  REQUEST: [-X METHOD] [-H 'NAME: VALUE']... [-d DATA | -D FILE] PATH\n");
	return 2;
}
