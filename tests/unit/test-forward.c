/* Tests for src/http/forward.c: the request head sent upstream (request line, Host,
 * hop-by-hop removal, framing fields, X-Forwarded-* and Forwarded, spoofed by an untrusted
 * client or extended for a trusted one) and the response head sent back, each compared
 * byte for byte with what it must be. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "http/forward.h"
#include "http/parser.h"
#include "http/response.h"
#include "test.h"

static const struct http_limits LIM = {
	.max_request_line = 8192,
	.max_head = 16384,
	.max_headers = 100,
};

static struct http_request req;
static struct http_response resp;
static struct sockaddr_storage peer;
static socklen_t peer_len;
static char out_str[32768];

static const struct sockaddr *ip(const char *a, unsigned short port)
{
	memset(&peer, 0, sizeof(peer));
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&peer;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		if (inet_pton(AF_INET6, a, &s->sin6_addr) != 1)
			abort();
		peer_len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&peer;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		if (inet_pton(AF_INET, a, &s->sin_addr) != 1)
			abort();
		peer_len = sizeof(*s);
	}
	return (const struct sockaddr *)&peer;
}

static void parse_req(const char *raw)
{
	ssize_t r = http_parse_request(raw, strlen(raw), &LIM, &req);
	if (r != (ssize_t)strlen(raw)) {
		fprintf(stderr, "test request does not parse (%zd): %s\n", r, raw);
		abort();
	}
}

/* Forward raw with opts; the head as a string, or NULL on error (r in *ret_r). */
static const char *fwd_r(const char *raw, struct http_forward_opts *o, int *ret_r)
{
	struct buf b;
	parse_req(raw);
	buf_init(&b, sizeof(out_str) - 1);
	int r = http_forward_request(&b, &req, o);
	if (ret_r)
		*ret_r = r;
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	memcpy(out_str, b.data, b.len);
	out_str[b.len] = '\0';
	buf_free(&b);
	return out_str;
}

static const char *fwd(const char *raw, struct http_forward_opts *o)
{
	return fwd_r(raw, o, NULL);
}

/* Untrusted client 192.0.2.1, plain HTTP, no body. */
static struct http_forward_opts base(void)
{
	struct http_forward_opts o = {0};
	o.peer = ip("192.0.2.1", 40000);
	o.peer_len = peer_len;
	o.content_length = -1;
	return o;
}

static bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static void test_basic(void)
{
	struct http_forward_opts o = base();
	CHECK_STREQ(fwd("GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n", &o),
		    "GET /a?b HTTP/1.1\r\n"
		    "Host: example.com\r\n"
		    "Accept: */*\r\n"
		    "X-Forwarded-For: 192.0.2.1\r\n"
		    "X-Forwarded-Proto: http\r\n"
		    "X-Forwarded-Host: example.com\r\n"
		    "Forwarded: for=192.0.2.1;proto=http;host=example.com\r\n"
		    "Connection: keep-alive\r\n"
		    "\r\n");

	/* Host goes first wherever it was; order of the rest is kept; HTTP/1.0 in, 1.1 out. */
	CHECK_STREQ(fwd("GET / HTTP/1.0\r\nA: 1\r\nHost: h:8080\r\nB: 2\r\nA: 3\r\n\r\n", &o),
		    "GET / HTTP/1.1\r\n"
		    "Host: h:8080\r\n"
		    "A: 1\r\n"
		    "B: 2\r\n"
		    "A: 3\r\n"
		    "X-Forwarded-For: 192.0.2.1\r\n"
		    "X-Forwarded-Proto: http\r\n"
		    "X-Forwarded-Host: h:8080\r\n"
		    "Forwarded: for=192.0.2.1;proto=http;host=\"h:8080\"\r\n"
		    "Connection: keep-alive\r\n"
		    "\r\n");

	/* HTTP/1.0 without Host: the caller must say which Host to send; no host to forward
	 * in X-Forwarded-Host or Forwarded. */
	int r;
	CHECK(fwd_r("GET / HTTP/1.0\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EDESTADDRREQ);
	o.host = "127.0.0.1:8080";
	o.host_len = strlen(o.host);
	CHECK_STREQ(fwd("GET / HTTP/1.0\r\n\r\n", &o),
		    "GET / HTTP/1.1\r\n"
		    "Host: 127.0.0.1:8080\r\n"
		    "X-Forwarded-For: 192.0.2.1\r\n"
		    "X-Forwarded-Proto: http\r\n"
		    "Forwarded: for=192.0.2.1;proto=http\r\n"
		    "Connection: keep-alive\r\n"
		    "\r\n");
	o.host_len = 0;
	CHECK(fwd_r("GET / HTTP/1.0\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EINVAL);
	o.host = NULL;

	o.https = true;
	o.close = true;
	const char *s = fwd("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", &o);
	CHECK(has(s, "X-Forwarded-Proto: https\r\n"));
	CHECK(has(s, ";proto=https;"));
	CHECK(has(s, "\r\nConnection: close\r\n\r\n"));
	CHECK(has(s, "\r\nExpect: 100-continue\r\n"));
}

static void test_targets(void)
{
	struct http_forward_opts o = base();
	const char *s;

	s = fwd("GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", &o);
	CHECK(has(s, "GET /p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
	CHECK(!has(s, "other"));
	CHECK(has(s, "X-Forwarded-Host: example.com:8080\r\n"));
	CHECK(has(s, ";host=\"example.com:8080\"\r\n"));
	s = fwd("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", &o);
	CHECK(has(s, "GET / HTTP/1.1\r\nHost: example.com\r\n"));
	s = fwd("GET HTTPS://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", &o);
	CHECK(has(s, "GET /?x=1 HTTP/1.1\r\n"));
	s = fwd("GET http://[::1]:81/ HTTP/1.1\r\nHost: \r\n\r\n", &o);
	CHECK(has(s, "GET / HTTP/1.1\r\nHost: [::1]:81\r\n"));
	CHECK(has(s, ";host=\"[::1]:81\"\r\n"));
	s = fwd("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &o);
	CHECK(has(s, "OPTIONS * HTTP/1.1\r\nHost: h\r\n"));
	s = fwd("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", &o);
	CHECK(has(s, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n"));
	s = fwd("PROPFIND /%7Euser/[x] HTTP/1.1\r\nHost: h\r\n\r\n", &o);
	CHECK(has(s, "PROPFIND /%7Euser/[x] HTTP/1.1\r\n"));

	/* A replacement Host; X-Forwarded-Host and host= keep what the client asked for. */
	o.host = "backend.internal";
	o.host_len = strlen(o.host);
	s = fwd("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &o);
	CHECK(has(s, "GET / HTTP/1.1\r\nHost: backend.internal\r\n"));
	CHECK(has(s, "X-Forwarded-Host: example.com\r\n"));
	CHECK(has(s, ";host=example.com\r\n"));
	CHECK(!has(s, "Host: example.com\r\nX"));
}

/* The client claims to be someone else: from an untrusted peer none of it survives. */
static void test_spoofing_untrusted(void)
{
	struct http_forward_opts o = base();
	const char *s = fwd("GET / HTTP/1.1\r\nHost: h\r\n"
			    "X-Forwarded-For: 6.6.6.6\r\n"
			    "x-forwarded-for: 7.7.7.7\r\n"
			    "X-Forwarded-Proto: https\r\n"
			    "X-Forwarded-Host: evil.example\r\n"
			    "Forwarded: for=6.6.6.6;proto=https\r\n"
			    "FORWARDED: for=\"[2001:db8::6]\"\r\n"
			    "\r\n",
			    &o);
	CHECK_STREQ(s, "GET / HTTP/1.1\r\n"
		       "Host: h\r\n"
		       "X-Forwarded-For: 192.0.2.1\r\n"
		       "X-Forwarded-Proto: http\r\n"
		       "X-Forwarded-Host: h\r\n"
		       "Forwarded: for=192.0.2.1;proto=http;host=h\r\n"
		       "Connection: keep-alive\r\n"
		       "\r\n");
	CHECK(!has(s, "6.6.6.6") && !has(s, "7.7.7.7") && !has(s, "evil") && !has(s, "https"));
}

/* From a trusted proxy the chain is kept and ours appended. */
static void test_spoofing_trusted(void)
{
	struct http_forward_opts o = base();
	o.peer = ip("10.0.0.2", 5555);
	o.peer_len = peer_len;
	o.peer_trusted = true;

	const char *s = fwd("GET / HTTP/1.1\r\nHost: h\r\n"
			    "X-Forwarded-For: 6.6.6.6\r\n"
			    "Forwarded: for=6.6.6.6\r\n"
			    "\r\n",
			    &o);
	CHECK_STREQ(s, "GET / HTTP/1.1\r\n"
		       "Host: h\r\n"
		       "X-Forwarded-For: 6.6.6.6, 10.0.0.2\r\n"
		       "X-Forwarded-Proto: http\r\n"
		       "X-Forwarded-Host: h\r\n"
		       "Forwarded: for=6.6.6.6, for=10.0.0.2;proto=http;host=h\r\n"
		       "Connection: keep-alive\r\n"
		       "\r\n");

	/* Several fields make one list, in order; Proto and Host from the front proxy stay. */
	s = fwd("GET / HTTP/1.1\r\nHost: h\r\n"
		"X-Forwarded-For: 1.1.1.1\r\n"
		"X-Forwarded-Proto: https\r\n"
		"X-Forwarded-Host: www.example\r\n"
		"X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n"
		"Forwarded: for=1.1.1.1;proto=https\r\n"
		"Forwarded: for=\"[2001:db8::1]:4711\"\r\n"
		"\r\n",
		&o);
	CHECK(has(s, "\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.2\r\n"));
	CHECK(has(s, "\r\nX-Forwarded-Proto: https\r\n"));
	CHECK(has(s, "\r\nX-Forwarded-Host: www.example\r\n"));
	CHECK(has(s, "\r\nForwarded: for=1.1.1.1;proto=https, for=\"[2001:db8::1]:4711\", "
		     "for=10.0.0.2;proto=http;host=h\r\n"));

	/* No prior values: just ours. An empty prior value adds nothing. */
	s = fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\n\r\n", &o);
	CHECK(has(s, "\r\nX-Forwarded-For: 10.0.0.2\r\n"));
	CHECK(has(s, "\r\nForwarded: for=10.0.0.2;proto=http;host=h\r\n"));

	/* A trusted peer cannot make us drop our own fields, only its own values. */
	s = fwd("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For, Forwarded\r\n"
		"X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n",
		&o);
	CHECK(has(s, "\r\nX-Forwarded-For: 10.0.0.2\r\n"));
	CHECK(has(s, "\r\nForwarded: for=10.0.0.2;proto=http;host=h\r\n"));
	CHECK(!has(s, "6.6.6.6"));
}

static void test_peers(void)
{
	struct http_forward_opts o = base();
	const char *r = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *s;

	o.peer = ip("2001:db8::1", 443);
	o.peer_len = peer_len;
	s = fwd(r, &o);
	CHECK(has(s, "\r\nX-Forwarded-For: 2001:db8::1\r\n"));
	CHECK(has(s, "\r\nForwarded: for=\"[2001:db8::1]\";proto=http;host=h\r\n"));

	o.peer = ip("::ffff:192.0.2.7", 443);
	o.peer_len = peer_len;
	s = fwd(r, &o);
	CHECK(has(s, "\r\nX-Forwarded-For: 192.0.2.7\r\n"));
	CHECK(has(s, "\r\nForwarded: for=192.0.2.7;"));

	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
	o.peer = (const struct sockaddr *)&un;
	o.peer_len = sizeof(un);
	s = fwd(r, &o);
	CHECK(has(s, "\r\nX-Forwarded-For: unknown\r\n"));
	CHECK(has(s, "\r\nForwarded: for=unknown;"));

	o.peer = NULL;
	s = fwd(r, &o);
	CHECK(has(s, "\r\nX-Forwarded-For: unknown\r\n"));

	/* A short length is no address. */
	o.peer = ip("192.0.2.9", 1);
	o.peer_len = 4;
	s = fwd(r, &o);
	CHECK(has(s, "\r\nX-Forwarded-For: unknown\r\n"));
}

static void test_hop_by_hop(void)
{
	struct http_forward_opts o = base();
	const char *s = fwd("GET / HTTP/1.1\r\nHost: h\r\n"
			    "Connection: X-Secret, keep-alive\r\n"
			    "connection: x-other\r\n"
			    "X-Secret: 1\r\n"
			    "X-SECRET: 2\r\n"
			    "X-Other: 3\r\n"
			    "X-Secretive: stays\r\n"
			    "Keep-Alive: timeout=5\r\n"
			    "TE: trailers\r\n"
			    "Trailer: X-Checksum\r\n"
			    "Proxy-Connection: keep-alive\r\n"
			    "Upgrade: h2c\r\n"
			    "Accept: */*\r\n"
			    "\r\n",
			    &o);
	CHECK_STREQ(s, "GET / HTTP/1.1\r\n"
		       "Host: h\r\n"
		       "X-Secretive: stays\r\n"
		       "Accept: */*\r\n"
		       "X-Forwarded-For: 192.0.2.1\r\n"
		       "X-Forwarded-Proto: http\r\n"
		       "X-Forwarded-Host: h\r\n"
		       "Forwarded: for=192.0.2.1;proto=http;host=h\r\n"
		       "Connection: keep-alive\r\n"
		       "\r\n");

	/* Connection naming end-to-end fields the proxy writes itself changes nothing. */
	o.content_length = 5;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nConnection: Host, Content-Length\r\n"
		"Content-Length: 5\r\n\r\n",
		&o);
	CHECK(has(s, "POST / HTTP/1.1\r\nHost: h\r\n"));
	CHECK(has(s, "\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"));

	/* More connection options than the short list holds: every one still goes. */
	o.content_length = -1;
	s = fwd("GET / HTTP/1.1\r\nHost: h\r\n"
		"Connection: x-a, x-b, x-c, x-d, x-e, x-f\r\n"
		"Connection: x-g, x-h, x-i, x-j, keep-alive\r\n"
		"X-A: 1\r\nX-F: 1\r\nX-J: 1\r\nX-K: stays\r\n\r\n",
		&o);
	CHECK(has(s, "\r\nX-K: stays\r\n"));
	CHECK(!has(s, "X-A:"));
	CHECK(!has(s, "X-F:"));
	CHECK(!has(s, "X-J:"));

	CHECK(http_forward_is_hop_by_hop("Transfer-Encoding", 17));
	CHECK(http_forward_is_hop_by_hop("TE", 2));
	CHECK(!http_forward_is_hop_by_hop("TEE", 3));
	CHECK(!http_forward_is_hop_by_hop("T", 1));
	CHECK(!http_forward_is_hop_by_hop("Content-Length", 14));
}

static void test_framing(void)
{
	struct http_forward_opts o = base();
	const char *s;
	int r;

	/* As received, normalised to one value. */
	o.content_length = 5;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
		&o);
	CHECK(has(s, "\r\nContent-Length: 5\r\nConnection"));
	CHECK(!has(s, "5, 5"));
	CHECK(!has(strstr(s ? s : "", "Content-Length: 5") + 1, "Content-Length"));

	/* Chunked in, chunked out: exactly one Transfer-Encoding, no Content-Length. */
	o.content_length = -1;
	o.chunked = true;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &o);
	CHECK(has(s, "\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"));
	CHECK(!has(s, "Content-Length"));
	CHECK(!has(strstr(s ? s : "", "Transfer-Encoding") + 1, "Transfer-Encoding"));

	/* Chunked in, buffered and sent with a length. */
	o.chunked = false;
	o.content_length = 12;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &o);
	CHECK(has(s, "\r\nContent-Length: 12\r\n"));
	CHECK(!has(s, "Transfer-Encoding"));

	/* Length in, re-framed as chunked. */
	o.chunked = true;
	o.content_length = -1;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &o);
	CHECK(has(s, "\r\nTransfer-Encoding: chunked\r\n"));
	CHECK(!has(s, "Content-Length"));

	/* No body: neither. */
	o.chunked = false;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &o);
	CHECK(!has(s, "Content-Length") && !has(s, "Transfer-Encoding"));
	o.content_length = 0;
	s = fwd("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &o);
	CHECK(has(s, "\r\nContent-Length: 0\r\n"));

	/* Both: refused. */
	o.content_length = 3;
	o.chunked = true;
	CHECK(fwd_r("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EINVAL);
}

static void test_upgrade(void)
{
	struct http_forward_opts o = base();
	const char *ws = "GET /chat HTTP/1.1\r\nHost: h\r\n"
			 "Connection: keep-alive, Upgrade\r\n"
			 "Upgrade: websocket\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "\r\n";
	const char *s;
	int r;

	o.upgrade = true;
	CHECK_STREQ(fwd(ws, &o), "GET /chat HTTP/1.1\r\n"
				 "Host: h\r\n"
				 "Upgrade: websocket\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n"
				 "X-Forwarded-For: 192.0.2.1\r\n"
				 "X-Forwarded-Proto: http\r\n"
				 "X-Forwarded-Host: h\r\n"
				 "Forwarded: for=192.0.2.1;proto=http;host=h\r\n"
				 "Connection: upgrade\r\n"
				 "\r\n");

	/* Not upgrading: Upgrade dropped, an ordinary request. */
	o.upgrade = false;
	s = fwd(ws, &o);
	CHECK(!has(s, "Upgrade:") && !has(s, "upgrade"));
	CHECK(has(s, "\r\nConnection: keep-alive\r\n\r\n"));

	/* Upgrading what the client did not ask to upgrade: refused. */
	o.upgrade = true;
	CHECK(fwd_r("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EINVAL);
}

static void test_defence(void)
{
	struct http_forward_opts o = base();
	struct buf b;
	int r;

	/* CR or LF in a replacement Host. */
	o.host = "a\r\nX-Injected: 1";
	o.host_len = strlen(o.host);
	CHECK(fwd_r("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EINVAL);
	o.host = "a\0b";
	o.host_len = 3;
	CHECK(fwd_r("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &o, &r) == NULL);
	CHECK_EQ_INT(r, -EINVAL);
	o.host = NULL;

	/* A request the parser would never produce: the builder refuses it, and the bytes
	 * already in the buffer are left alone. */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n");
	static const char evil[] = "b\r\n\r\nGET /admin HTTP/1.1";
	req.headers[1].value = evil;
	req.headers[1].value_len = sizeof(evil) - 1;
	buf_init(&b, 4096);
	buf_appends(&b, "keep");
	CHECK_EQ_INT(http_forward_request(&b, &req, &o), -EINVAL);
	CHECK_EQ_INT(b.len, 4);
	req.headers[1].value = "ok";
	req.headers[1].value_len = 2;
	req.target = "/\n";
	req.target_len = 2;
	CHECK_EQ_INT(http_forward_request(&b, &req, &o), -EINVAL);
	CHECK_EQ_INT(b.len, 4);
	req.target = "/";
	req.target_len = 1;
	req.headers[1].name = "X\rA";
	req.headers[1].name_len = 3;
	CHECK_EQ_INT(http_forward_request(&b, &req, &o), -EINVAL);
	CHECK_EQ_INT(b.len, 4);
	buf_free(&b);

	/* A buffer too small at every size: -ENOBUFS, nothing half-written. */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	buf_init(&b, 1 << 16);
	CHECK_EQ_INT(http_forward_request(&b, &req, &o), 0);
	size_t need = b.len;
	buf_free(&b);
	bool all = true;
	for (size_t max = 0; max < need; max++) {
		buf_init(&b, max);
		r = http_forward_request(&b, &req, &o);
		all = all && r == -ENOBUFS && b.len == 0;
		buf_free(&b);
	}
	CHECK(all);
	buf_init(&b, need);
	CHECK_EQ_INT(http_forward_request(&b, &req, &o), 0);
	CHECK_EQ_INT(b.len, need);
	buf_free(&b);
}

/* ---- responses ---------------------------------------------------------------------- */

static const char *fwd_resp(const char *raw, const struct http_forward_response_opts *o)
{
	static const struct http_response_limits rlim = {.max_head = 16384, .max_headers = 100};
	struct buf b;
	ssize_t n = http_parse_response(raw, strlen(raw), &rlim, &resp);
	if (n != (ssize_t)strlen(raw)) {
		fprintf(stderr, "test response does not parse (%zd): %s\n", n, raw);
		abort();
	}
	buf_init(&b, sizeof(out_str) - 1);
	int r = http_forward_response(&b, &resp, o);
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	memcpy(out_str, b.data, b.len);
	out_str[b.len] = '\0';
	buf_free(&b);
	return out_str;
}

static void test_response(void)
{
	struct http_forward_response_opts o = {.content_length = true};
	const char *s;

	CHECK_STREQ(fwd_resp("HTTP/1.1 200 OK\r\n"
			     "Server: up\r\n"
			     "Connection: X-Secret, close\r\n"
			     "X-Secret: 1\r\n"
			     "Keep-Alive: timeout=5\r\n"
			     "Proxy-Connection: keep-alive\r\n"
			     "Trailer: X-Sum\r\n"
			     "Upgrade: h2c\r\n"
			     "TE: trailers\r\n"
			     "Content-Length: 5, 5\r\n"
			     "Set-Cookie: a=1\r\n"
			     "Set-Cookie: b=2\r\n"
			     "\r\n",
			     &o),
		    "HTTP/1.1 200 OK\r\n"
		    "Server: up\r\n"
		    "Set-Cookie: a=1\r\n"
		    "Set-Cookie: b=2\r\n"
		    "Content-Length: 5\r\n"
		    "\r\n");
	CHECK(!http_forward_response_keeps(&resp, 2));
	CHECK(http_forward_response_keeps(&resp, 0));
	CHECK(!http_forward_response_keeps(&resp, 8)); /* Content-Length */
	CHECK(http_forward_response_keeps(&resp, 9));

	/* Re-framed by the proxy: no Content-Length, ours instead. */
	o.content_length = false;
	o.chunked = true;
	CHECK_STREQ(fwd_resp("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", &o),
		    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	o.chunked = false;
	o.close = true;
	CHECK_STREQ(fwd_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &o),
		    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");

	/* TE + CL: the CL never reaches the client, even if asked for. */
	o.content_length = true;
	o.chunked = false;
	o.close = false;
	s = fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
		     &o);
	CHECK_STREQ(s, "HTTP/1.1 200 OK\r\n\r\n");
	/* Both framings at once: refused. */
	o.chunked = true;
	CHECK(fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", &o) == NULL);

	/* HEAD and 304 keep the representation's length; 204 and 1xx carry none. */
	o.chunked = false;
	CHECK_STREQ(
	    fwd_resp("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 9\r\n\r\n", &o),
	    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 9\r\n\r\n");
	CHECK_STREQ(fwd_resp("HTTP/1.1 204 \r\nContent-Length: 0\r\n\r\n", &o),
		    "HTTP/1.1 204 \r\n\r\n");
	o.close = true;
	CHECK_STREQ(fwd_resp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
			     "Connection: close\r\n\r\n",
			     &o),
		    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
	CHECK_STREQ(fwd_resp("HTTP/1.1 200\r\n\r\n", &o),
		    "HTTP/1.1 200 \r\nConnection: close\r\n\r\n");

	/* 101: Upgrade stays although Connection names it; Connection: upgrade is written. */
	CHECK_STREQ(fwd_resp("HTTP/1.1 101 Switching Protocols\r\n"
			     "Upgrade: websocket\r\n"
			     "Connection: Upgrade\r\n"
			     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
			     "\r\n",
			     &o),
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		    "Connection: upgrade\r\n"
		    "\r\n");

	/* Defence: a reason or value the parser would have refused. */
	struct buf b;
	fwd_resp("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", &o);
	resp.reason = "OK\r\nSet-Cookie: x=1";
	resp.reason_len = strlen(resp.reason);
	buf_init(&b, 4096);
	CHECK_EQ_INT(http_forward_response(&b, &resp, &o), -EINVAL);
	CHECK_EQ_INT(b.len, 0);
	resp.reason = "OK";
	resp.reason_len = 2;
	resp.headers[0].value = "b\nc";
	resp.headers[0].value_len = 3;
	CHECK_EQ_INT(http_forward_response(&b, &resp, &o), -EINVAL);
	CHECK_EQ_INT(b.len, 0);
	buf_free(&b);
	buf_init(&b, 10);
	resp.headers[0].value = "b";
	resp.headers[0].value_len = 1;
	CHECK_EQ_INT(http_forward_response(&b, &resp, &o), -ENOBUFS);
	CHECK_EQ_INT(b.len, 0);
	buf_free(&b);
}

/* proxy-header-up (ops) and proxy-strip-prefix (target) */
static void test_ops_target(void)
{
	static const struct http_field_op ops[] = {
		{"X-Env", 5, "prod", 4},
		{"cookie", 6, NULL, 0},
		{"X-Set", 5, "ours", 4},
	};
	struct http_forward_opts o = base();
	o.ops = ops;
	o.n_ops = ARRAY_SIZE(ops);
	o.target = "/x?q=1";
	o.target_len = 6;
	const char *h = fwd("GET /api/x?q=1 HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX-Set: theirs\r\n"
			    "x-set: again\r\nX-Keep: k\r\n\r\n",
			    &o);
	CHECK(h != NULL);
	CHECK(has(h, "GET /x?q=1 HTTP/1.1\r\nHost: h\r\n"));
	CHECK(!has(h, "Cookie") && !has(h, "theirs") && !has(h, "again"));
	CHECK(has(h, "\r\nX-Env: prod\r\n") && has(h, "\r\nX-Set: ours\r\n"));
	CHECK(has(h, "\r\nX-Keep: k\r\n"));
	/* an op naming a field ferry owns, or a target not in origin-form: refused */
	static const struct http_field_op bad[] = {{"X-Forwarded-For", 15, "1.2.3.4", 7}};
	o.ops = bad;
	o.n_ops = 1;
	int r = 0;
	CHECK(fwd_r("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &o, &r) == NULL && r == -EINVAL);
	o.n_ops = 0;
	o.target = "x";
	o.target_len = 1;
	CHECK(fwd_r("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &o, &r) == NULL && r == -EINVAL);
	CHECK(http_forward_owns_request_field("Forwarded", 9));
	CHECK(http_forward_owns_request_field("TE", 2));
	CHECK(!http_forward_owns_request_field("Cookie", 6));
}

int main(void)
{
	test_ops_target();
	test_basic();
	test_targets();
	test_spoofing_untrusted();
	test_spoofing_trusted();
	test_peers();
	test_hop_by_hop();
	test_framing();
	test_upgrade();
	test_defence();
	test_response();
	TEST_MAIN_END();
}
