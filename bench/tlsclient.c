/* tlsclient: the TLS side of bench/helper.c, for bench/tls.sh and bench/idle.sh (built into
 * their temp dir against the system's libgnutls, not part of ferry). TLS 1.3 only, X25519 then
 * P-256, the certificate not verified, SNI "localhost".
 *
 *   tlsclient first-byte HOST PORT PATH
 *       Make the session first, then time from just before connect() to the first byte of the
 *       HTTP/1.1 response (TLS handshake included: ALPN http/1.1, a full handshake, no ticket);
 *       print the microseconds, then read the rest of the head and fail (exit 1) unless the
 *       status line is "HTTP/1.x 200". Under systemd-socket-activate the connection is what
 *       makes it exec the server, as `helper first-byte` does for plain HTTP.
 *   tlsclient handshakes HOST PORT PATH SECONDS
 *       For SECONDS, one connection after the other, each a full TLS 1.3 handshake (no session
 *       is ever offered for resumption; one the server resumed anyway is counted) and one
 *       "GET PATH" with Connection: close whose 200 and body are read whole. Print
 *       "handshakes N resumed R failed F seconds S" (F: connections that failed at any step);
 *       exit 0 when F and R are 0. bench/tls.sh runs several at once for concurrency: wrk
 *       resumes its TLS sessions on every new connection, so it cannot measure full handshakes.
 *   tlsclient hold HOST PORT PATH N tls|h2
 *       As `helper hold`, over TLS: open N connections one after the other; on each, make a full
 *       TLS 1.3 handshake and send one GET PATH (tls: HTTP/1.1 keep-alive, ALPN http/1.1; h2:
 *       ALPN h2, the connection preface, an empty SETTINGS and one stream) and read the whole
 *       response (a 200 and its body; h2 also the server's SETTINGS ACK), then leave the
 *       connection idle. Print "open N" once all are, wait for a line (or end of file) on stdin,
 *       then count the connections the server closed meanwhile (or sent anything on), print
 *       "still-open M closed C unexpected-data D", close them all and exit (0 when M == N).
 *
 * Build: gcc -O2 -Wall -Wextra -o tlsclient bench/tlsclient.c -lgnutls
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"
#define H2_FRAME_MAX 16384 /* SETTINGS_MAX_FRAME_SIZE: the default, we announce no other */

static gnutls_certificate_credentials_t creds;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct conn {
	int fd;
	gnutls_session_t s;
};

/* A client session for ALPN protocol alpn (not connected yet); 0 on success. */
static int session_new(struct conn *c, const char *alpn)
{
	const char *err = NULL;
	if (gnutls_init(&c->s, GNUTLS_CLIENT) < 0 ||
	    gnutls_priority_set_direct(c->s, PRIORITY, &err) < 0 ||
	    gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, creds) < 0 ||
	    gnutls_server_name_set(c->s, GNUTLS_NAME_DNS, "localhost", 9) < 0) {
		fprintf(stderr, "tlsclient: cannot make a session%s%s\n", err ? " at " : "",
			err ? err : "");
		return -1;
	}
	gnutls_datum_t p = {(unsigned char *)alpn, (unsigned)strlen(alpn)};
	if (gnutls_alpn_set_protocols(c->s, &p, 1, 0) < 0)
		return -1;
	gnutls_handshake_set_timeout(c->s, 10000);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0) {
		fprintf(stderr, "tlsclient: socket: %s\n", strerror(errno));
		return -1;
	}
	struct timeval tv = {.tv_sec = 10};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	gnutls_transport_set_int(c->s, c->fd);
	return 0;
}

/* connect() and the handshake; checks that ALPN chose alpn. */
static int session_connect(struct conn *c, const struct sockaddr_in *a, const char *alpn, int i)
{
	if (connect(c->fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		fprintf(stderr, "tlsclient: connect %d: %s\n", i, strerror(errno));
		return -1;
	}
	int r;
	do
		r = gnutls_handshake(c->s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		fprintf(stderr, "tlsclient: handshake %d: %s\n", i, gnutls_strerror(r));
		return -1;
	}
	gnutls_datum_t sel;
	if (gnutls_alpn_get_selected_protocol(c->s, &sel) < 0 || sel.size != strlen(alpn) ||
	    memcmp(sel.data, alpn, sel.size) != 0) {
		/* Without ALPN a server speaks HTTP/1.1: only h2 must be negotiated. */
		if (strcmp(alpn, "h2") == 0) {
			fprintf(stderr, "tlsclient: connection %d: ALPN did not choose h2\n", i);
			return -1;
		}
	}
	return 0;
}

static int send_all(struct conn *c, const void *p, size_t n, int i)
{
	const char *b = p;
	while (n > 0) {
		ssize_t r = gnutls_record_send(c->s, b, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r < 0) {
			fprintf(stderr, "tlsclient: connection %d: send: %s\n", i, gnutls_strerror((int)r));
			return -1;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Up to n bytes; 0 at the end of the stream, -1 on an error. */
static ssize_t recv_some(struct conn *c, void *p, size_t n, int i)
{
	for (;;) {
		ssize_t r = gnutls_record_recv(c->s, p, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (r < 0) {
			fprintf(stderr, "tlsclient: connection %d: recv: %s\n", i, gnutls_strerror((int)r));
			return -1;
		}
		return r;
	}
}

static int recv_exact(struct conn *c, void *p, size_t n, int i)
{
	char *b = p;
	while (n > 0) {
		ssize_t r = recv_some(c, b, n, i);
		if (r <= 0) {
			if (r == 0)
				fprintf(stderr, "tlsclient: connection %d: closed mid-frame\n", i);
			return -1;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One HTTP/1.1 response (head, then a Content-Length body); 0 if it is a 200. With t_first,
 * the time of its first byte goes there. */
static int h1_response(struct conn *c, int i, double *t_first)
{
	char buf[16384];
	size_t got = 0;
	char *end = NULL;
	while (!end) {
		if (got == sizeof(buf) - 1) {
			fprintf(stderr, "tlsclient: connection %d: response head too large\n", i);
			return -1;
		}
		ssize_t r = recv_some(c, buf + got, sizeof(buf) - 1 - got, i);
		if (r <= 0) {
			if (r == 0)
				fprintf(stderr, "tlsclient: connection %d: closed before a whole head\n", i);
			return -1;
		}
		if (got == 0 && t_first)
			*t_first = now_us();
		got += (size_t)r;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 && strncmp(buf, "HTTP/1.0 200 ", 13) != 0) {
		*strstr(buf, "\r\n") = 0;
		fprintf(stderr, "tlsclient: connection %d: unexpected status line: %s\n", i, buf);
		return -1;
	}
	*end = 0;
	long len = -1;
	for (char *l = strstr(buf, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "content-length:", 15) == 0)
			len = strtol(l + 17, NULL, 10);
	if (len < 0) {
		fprintf(stderr, "tlsclient: connection %d: no Content-Length\n", i);
		return -1;
	}
	size_t body = got - (size_t)(end + 4 - buf);
	while (body < (size_t)len) {
		ssize_t r = recv_some(c, buf, sizeof(buf), i);
		if (r <= 0) {
			fprintf(stderr, "tlsclient: connection %d: body cut short\n", i);
			return -1;
		}
		body += (size_t)r;
	}
	if (body != (size_t)len) {
		fprintf(stderr, "tlsclient: connection %d: %zu body bytes for a Content-Length of %ld\n",
			i, body, len);
		return -1;
	}
	return 0;
}

/* ---- HTTP/2, just enough for one GET (RFC 9113, HPACK RFC 7541) ---------------------------- */

static size_t h2_frame(unsigned char *p, size_t len, int type, int flags, uint32_t stream)
{
	p[0] = (unsigned char)(len >> 16);
	p[1] = (unsigned char)(len >> 8);
	p[2] = (unsigned char)len;
	p[3] = (unsigned char)type;
	p[4] = (unsigned char)flags;
	p[5] = (unsigned char)(stream >> 24 & 0x7f);
	p[6] = (unsigned char)(stream >> 16);
	p[7] = (unsigned char)(stream >> 8);
	p[8] = (unsigned char)stream;
	return 9;
}

/* An HPACK literal without indexing, name from the static table (index < 15), value raw. */
static size_t hpack_literal(unsigned char *p, int index, const char *v)
{
	size_t n = strlen(v);
	p[0] = (unsigned char)index;
	p[1] = (unsigned char)n; /* < 127: checked by the caller */
	memcpy(p + 2, v, n);
	return 2 + n;
}

/* The preface, an empty SETTINGS and GET PATH on stream 1; then read frames until stream 1
 * has ended with a 200 and its body, and the server acknowledged our SETTINGS. */
static int h2_get(struct conn *c, const char *authority, const char *path, int i)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	unsigned char out[512], *p = out, hdr[9];
	static unsigned char in[H2_FRAME_MAX];
	if (strlen(authority) > 100 || strlen(path) > 200)
		return -1;
	memcpy(p, preface, sizeof(preface) - 1);
	p += sizeof(preface) - 1;
	p += h2_frame(p, 0, 4, 0, 0);         /* SETTINGS, empty: the defaults */
	unsigned char *h = p + 9, *b = h;
	*b++ = 0x82;                          /* :method GET */
	*b++ = 0x87;                          /* :scheme https */
	b += hpack_literal(b, 1, authority);  /* :authority */
	b += hpack_literal(b, 4, path);       /* :path */
	p += h2_frame(p, (size_t)(b - h), 1, 0x5, 1); /* HEADERS, END_STREAM | END_HEADERS */
	p = b;
	if (send_all(c, out, (size_t)(p - out), i) < 0)
		return -1;

	int ended = 0, acked = 0, status_ok = 0;
	size_t body = 0;
	while (!ended || !acked) {
		if (recv_exact(c, hdr, 9, i) < 0)
			return -1;
		size_t len = (size_t)hdr[0] << 16 | (size_t)hdr[1] << 8 | hdr[2];
		int type = hdr[3], flags = hdr[4];
		uint32_t sid = ((uint32_t)hdr[5] & 0x7f) << 24 | (uint32_t)hdr[6] << 16 |
			       (uint32_t)hdr[7] << 8 | hdr[8];
		if (len > sizeof(in)) {
			fprintf(stderr, "tlsclient: connection %d: frame of %zu bytes\n", i, len);
			return -1;
		}
		if (recv_exact(c, in, len, i) < 0)
			return -1;
		size_t off = 0, pad = 0;
		if ((type == 0 || type == 1) && (flags & 0x8) && len > 0)
			pad = in[off++];
		if (type == 1 && (flags & 0x20))
			off += 5;
		if (off + pad > len) {
			fprintf(stderr, "tlsclient: connection %d: bad padding\n", i);
			return -1;
		}
		switch (type) {
		case 0: /* DATA */
			if (sid == 1) {
				body += len - off - pad;
				ended |= flags & 0x1;
			}
			break;
		case 1: /* HEADERS: :status 200 is static-table entry 8 */
			if (sid == 1) {
				status_ok = off < len - pad && in[off] == 0x88;
				if (!status_ok) {
					fprintf(stderr, "tlsclient: connection %d: the response is not a 200 (HPACK byte 0x%02x)\n",
						i, off < len ? in[off] : 0);
					return -1;
				}
				ended |= flags & 0x1;
			}
			break;
		case 3: /* RST_STREAM */
			fprintf(stderr, "tlsclient: connection %d: RST_STREAM on stream %u\n", i, sid);
			return -1;
		case 4: /* SETTINGS */
			if (flags & 0x1) {
				acked = 1;
			} else {
				unsigned char ack[9];
				h2_frame(ack, 0, 4, 0x1, 0);
				if (send_all(c, ack, 9, i) < 0)
					return -1;
			}
			break;
		case 6: /* PING */
			if (!(flags & 0x1) && len == 8) {
				unsigned char pong[17];
				h2_frame(pong, 8, 6, 0x1, 0);
				memcpy(pong + 9, in, 8);
				if (send_all(c, pong, 17, i) < 0)
					return -1;
			}
			break;
		case 7: /* GOAWAY */
			fprintf(stderr, "tlsclient: connection %d: GOAWAY\n", i);
			return -1;
		default: /* WINDOW_UPDATE, PRIORITY, unknown: nothing to do */
			break;
		}
	}
	if (!status_ok || body == 0) {
		fprintf(stderr, "tlsclient: connection %d: no 200 with a body (%zu bytes)\n", i, body);
		return -1;
	}
	return 0;
}

/* ---- the commands -------------------------------------------------------------------------- */

static int parse_addr(struct sockaddr_in *a, const char *host, const char *port)
{
	*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		fprintf(stderr, "tlsclient: bad address %s\n", host);
		return -1;
	}
	return 0;
}

static int cmd_first_byte(const char *host, const char *port, const char *path)
{
	struct sockaddr_in a;
	struct conn c;
	char req[1024];
	if (parse_addr(&a, host, port) < 0 || session_new(&c, "http/1.1") < 0)
		return 2;
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
			 path);
	double t0 = now_us(), t1 = 0;
	if (session_connect(&c, &a, "http/1.1", 0) < 0 || send_all(&c, req, (size_t)n, 0) < 0 ||
	    h1_response(&c, 0, &t1) < 0)
		return 1;
	printf("%.1f\n", t1 - t0);
	gnutls_deinit(c.s);
	close(c.fd);
	return 0;
}

static int cmd_handshakes(const char *host, const char *port, const char *path, double secs)
{
	struct sockaddr_in a;
	char req[1024];
	if (parse_addr(&a, host, port) < 0 || secs <= 0)
		return 2;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	long done = 0, resumed = 0, failed = 0;
	double t0 = now_us(), t;
	while ((t = now_us()) - t0 < secs * 1e6) {
		struct conn c;
		if (session_new(&c, "http/1.1") < 0)
			return 1;
		if (session_connect(&c, &a, "http/1.1", (int)done) < 0 ||
		    send_all(&c, req, (size_t)n, (int)done) < 0 || h1_response(&c, (int)done, NULL) < 0)
			failed++;
		else if (gnutls_session_is_resumed(c.s))
			resumed++;
		else
			done++;
		gnutls_deinit(c.s);
		close(c.fd);
		if (failed > 100) /* the server is gone: stop */
			break;
	}
	printf("handshakes %ld resumed %ld failed %ld seconds %.3f\n", done, resumed, failed,
	       (now_us() - t0) / 1e6);
	return failed || resumed ? 1 : 0;
}

static int cmd_hold(const char *host, const char *port, const char *path, int n, const char *mode)
{
	struct sockaddr_in a;
	int h2 = strcmp(mode, "h2") == 0;
	if (parse_addr(&a, host, port) < 0 || n < 1 || (!h2 && strcmp(mode, "tls") != 0)) {
		fprintf(stderr, "tlsclient hold: bad address, count or mode\n");
		return 2;
	}
	const char *alpn = h2 ? "h2" : "http/1.1";
	char req[1024];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	if (!cs)
		return 1;
	for (int i = 0; i < n; i++) {
		if (session_new(&cs[i], alpn) < 0 || session_connect(&cs[i], &a, alpn, i) < 0)
			return 1;
		if (h2 ? h2_get(&cs[i], "localhost", path, i) < 0
		       : send_all(&cs[i], req, (size_t)len, i) < 0 || h1_response(&cs[i], i, NULL) < 0)
			return 1;
	}
	printf("open %d\n", n);
	fflush(stdout);

	char line[64];
	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		perror("tlsclient hold: stdin");

	int open = 0, closed = 0, data = 0;
	for (int i = 0; i < n; i++) {
		char ch;
		ssize_t r = recv(cs[i].fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0 || gnutls_record_check_pending(cs[i].s) > 0)
			data++;
		else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			open++;
		else
			closed++;
	}
	for (int i = 0; i < n; i++) {
		gnutls_deinit(cs[i].s);
		close(cs[i].fd);
	}
	free(cs);
	printf("still-open %d closed %d unexpected-data %d\n", open, closed, data);
	fflush(stdout);
	return open == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (gnutls_certificate_allocate_credentials(&creds) < 0)
		return 1;
	if (argc == 5 && strcmp(argv[1], "first-byte") == 0)
		return cmd_first_byte(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "handshakes") == 0)
		return cmd_handshakes(argv[2], argv[3], argv[4], atof(argv[5]));
	if (argc == 7 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(argv[2], argv[3], argv[4], atoi(argv[5]), argv[6]);
	fprintf(stderr, "usage: tlsclient first-byte HOST PORT PATH | handshakes HOST PORT PATH SECONDS |\n"
			"       hold HOST PORT PATH N tls|h2\n");
	return 2;
}
