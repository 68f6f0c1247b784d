/* Tests for src/http/reqhead.c: the field records, and the request HTTP/2 and HTTP/3 build
 * from them (RFC 9113 §8.3, RFC 9114 §4.3): pseudo-header fields, Host against :authority,
 * cookies joined, Expect, Content-Length, the limits; and the connection-specific fields. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"
#include "http/parser.h"
#include "http/reqhead.h"
#include "test.h"

static struct http_request req;

/* Builds from "name", "value", ... (NULL-terminated) into a fresh head of at most max bytes. */
static int build_max(struct buf *head, size_t max, int version, bool end_stream,
		     const char *const *f)
{
	buf_init(head, max);
	for (size_t i = 0; f[i]; i += 2)
		if (http_rec_put(head, f[i], strlen(f[i]), f[i + 1], strlen(f[i + 1]), false) < 0)
			return -1000;
	return http_reqhead_build(head, &req, version, end_stream);
}

/* The head req's views point into: kept until the next build. */
static struct buf last;

static int build(int version, bool end_stream, const char *const *f)
{
	buf_free(&last);
	return build_max(&last, 65536, version, end_stream, f);
}

#define F(...) ((const char *const[]){__VA_ARGS__, NULL})
#define GET(...) F(":method", "GET", ":scheme", "https", ":path", "/", __VA_ARGS__)

static bool field_is(size_t i, const char *name, const char *value)
{
	return i < req.n_headers && str_eq(req.headers[i].name, req.headers[i].name_len, name) &&
	       req.headers[i].value_len == strlen(value) &&
	       memcmp(req.headers[i].value, value, strlen(value)) == 0;
}

static void test_records(void)
{
	struct buf b;
	const char *n, *v;
	size_t nl, vl, pos = 0;

	buf_init(&b, 64);
	CHECK_EQ_INT(http_rec_put(&b, "Content-Type", 12, "Text/Plain", 10, true), 0);
	CHECK_EQ_INT(http_rec_put(&b, "X-A", 3, "", 0, false), 0);
	CHECK(http_rec_next(&b, &pos, &n, &nl, &v, &vl));
	CHECK(nl == 12 && memcmp(n, "content-type", 12) == 0); /* lower-cased: the name only */
	CHECK(vl == 10 && memcmp(v, "Text/Plain", 10) == 0);
	CHECK(http_rec_next(&b, &pos, &n, &nl, &v, &vl));
	CHECK(nl == 3 && memcmp(n, "X-A", 3) == 0 && vl == 0);
	CHECK(!http_rec_next(&b, &pos, &n, &nl, &v, &vl));
	CHECK(!http_rec_next(&b, &pos, &n, &nl, &v, &vl));
	/* Past the buffer's max: refused, the records before it intact. */
	char big[64] = {0};
	CHECK(http_rec_put(&b, "x", 1, big, sizeof(big), false) < 0);
	pos = 0;
	CHECK(http_rec_next(&b, &pos, &n, &nl, &v, &vl) && nl == 12);
	buf_free(&b);
}

static void test_basic(void)
{
	CHECK_EQ_INT(build(20, true, GET(":authority", "example.com", "accept", "*/*")), 0);
	CHECK(req.method_len == 3 && memcmp(req.method, "GET", 3) == 0);
	CHECK_EQ_INT(req.method_id, HTTP_M_GET);
	CHECK(req.target_len == 1 && req.target[0] == '/');
	CHECK_EQ_INT(req.version, 20);
	CHECK(req.host_len == 11 && memcmp(req.host, "example.com", 11) == 0);
	CHECK_EQ_INT(req.n_headers, 1); /* pseudo-header fields are not fields */
	CHECK(field_is(0, "accept", "*/*"));
	CHECK_EQ_INT(req.content_length, -1);
	CHECK(!req.chunked && req.keep_alive && !req.expect_continue && !req.upgrade);

	/* The version is the protocol's; a body without a length comes as it comes. */
	CHECK_EQ_INT(build(30, false, GET("host", "example.com")), 0);
	CHECK_EQ_INT(req.version, 30);
	CHECK(req.chunked);
	CHECK(req.host_len == 11 && memcmp(req.host, "example.com", 11) == 0);
	CHECK_EQ_INT(build(30, false, GET("content-length", "5")), 0);
	CHECK_EQ_INT(req.content_length, 5);
	CHECK(!req.chunked && req.host == NULL);
}

static void test_malformed(void)
{
	/* No :method, or no :path: malformed, and a 400. */
	CHECK_EQ_INT(build(20, true, F(":scheme", "https", ":path", "/")), -1);
	CHECK_EQ_INT(build(20, true, F(":method", "GET", ":scheme", "https")), 400);
	CHECK_EQ_INT(build(20, true, F(":method", "GET", ":path", "no-slash")), 400);
	/* §8.3.1 / §4.3.1: :authority with userinfo, Host naming another authority. */
	CHECK_EQ_INT(build(20, true, GET(":authority", "user@example.com")), -1);
	CHECK_EQ_INT(build(30, true, GET(":authority", "a.example", "host", "b.example")), -1);
	CHECK_EQ_INT(build(30, true, GET(":authority", "a.example", "host", "A.Example")), 0);
	CHECK(req.host_len == 9 && memcmp(req.host, "a.example", 9) == 0);
	CHECK_EQ_INT(build(20, true, GET("host", "a.example", "host", "a.example")), -1);
	CHECK_EQ_INT(build(20, true, GET("host", "a b")), 400);
	/* Content-Length: 1 to 18 digits only. */
	CHECK_EQ_INT(build(20, false, GET("content-length", "")), -1);
	CHECK_EQ_INT(build(20, false, GET("content-length", "1x")), -1);
	CHECK_EQ_INT(build(20, false, GET("content-length", "+1")), -1);
	CHECK_EQ_INT(build(20, false, GET("content-length", "1234567890123456789")), -1);
	CHECK_EQ_INT(build(20, false, GET("content-length", "123456789012345678")), 0);
	CHECK_EQ_INT(req.content_length, 123456789012345678);
	/* Expect: only 100-continue (any case), else 417. */
	CHECK_EQ_INT(build(20, false, GET("expect", "100-Continue")), 0);
	CHECK(req.expect_continue);
	CHECK_EQ_INT(build(20, false, GET("expect", "200-ok")), 417);
}

static void test_connect(void)
{
	/* CONNECT: the authority is the target (no :path, no :scheme). */
	CHECK_EQ_INT(build(20, false, F(":method", "CONNECT", ":authority", "example.com:443")), 0);
	CHECK_EQ_INT(req.method_id, HTTP_M_CONNECT);
	CHECK(req.target_len == 15 && memcmp(req.target, "example.com:443", 15) == 0);
	CHECK_EQ_INT(build(30, false, F(":method", "CONNECT")), 400);
}

static void test_cookies(void)
{
	struct buf head;
	/* Several cookie fields: one, joined with "; ", where the first stood. */
	CHECK_EQ_INT(
	    build_max(&head, 65536, 20, true,
		      GET("cookie", "a=1", "accept", "x", "cookie", "b=2", "cookie", "c=3")),
	    0);
	CHECK_EQ_INT(req.n_headers, 2);
	CHECK(field_is(0, "accept", "x"));
	CHECK(field_is(1, "cookie", "a=1; b=2; c=3"));
	buf_free(&head);
	/* One cookie field stays as it is. */
	CHECK_EQ_INT(build(30, true, GET("cookie", "a=1; b=2")), 0);
	CHECK_EQ_INT(req.n_headers, 1);
	CHECK(field_is(0, "cookie", "a=1; b=2"));
	/* No room to join them within the head's max: 431. */
	const char *const f[] = {":method", "GET",    ":path", "/", "cookie",
				 "a=1",	    "cookie", "b=2",   NULL};
	size_t used = 0;
	for (size_t i = 0; f[i]; i += 2)
		used += sizeof(struct http_rec) + strlen(f[i]) + strlen(f[i + 1]);
	CHECK_EQ_INT(build_max(&head, used, 20, true, f), 431);
	buf_free(&head);
	CHECK_EQ_INT(build_max(&head, used + sizeof(struct http_rec) + 6 + 10, 20, true, f), 0);
	CHECK(field_is(0, "cookie", "a=1; b=2"));
	buf_free(&head);
}

static void test_limits(void)
{
	static char names[HTTP_MAX_HEADERS_HARD + 1][8];
	static const char *f[2 * (HTTP_MAX_HEADERS_HARD + 1) + 7];
	size_t n = 0;
	f[n++] = ":method";
	f[n++] = "GET";
	f[n++] = ":path";
	f[n++] = "/";
	for (size_t i = 0; i < HTTP_MAX_HEADERS_HARD; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%zu", i);
		f[n++] = names[i];
		f[n++] = "v";
	}
	f[n] = NULL;
	CHECK_EQ_INT(build(20, true, f), 0);
	CHECK_EQ_INT(req.n_headers, HTTP_MAX_HEADERS_HARD);
	f[n++] = "x-last";
	f[n++] = "v";
	f[n] = NULL;
	CHECK_EQ_INT(build(20, true, f), 431);

	/* A reset request (a head that passed the limits): no method, the version set. */
	http_reqhead_reset(&req, 30);
	CHECK(req.method == NULL && req.n_headers == 0 && req.version == 30);
	CHECK(req.host == NULL && req.content_length == -1);
}

static void test_connection_specific(void)
{
	CHECK(http_reqhead_connection_specific("connection", 10));
	CHECK(http_reqhead_connection_specific("Keep-Alive", 10));
	CHECK(http_reqhead_connection_specific("proxy-connection", 16));
	CHECK(http_reqhead_connection_specific("Transfer-Encoding", 17));
	CHECK(http_reqhead_connection_specific("upgrade", 7));
	CHECK(!http_reqhead_connection_specific("te", 2));
	CHECK(!http_reqhead_connection_specific("content-length", 14));
	CHECK(!http_reqhead_connection_specific("connectio", 9));
}

int main(void)
{
	test_records();
	test_basic();
	test_malformed();
	test_connect();
	test_cookies();
	test_limits();
	test_connection_specific();
	buf_free(&last);
	TEST_MAIN_END();
}
