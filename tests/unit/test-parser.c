/* Tests for src/http/parser.c: every rule of http_parse_request() with a valid and an invalid
 * case, the request-smuggling classics, limits at their exact boundaries, and, for each input,
 * that every prefix of it answers "need more" or the same verdict (the parser is called again
 * and again on a growing buffer). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"
#include "test.h"

#define BAD_PREFIX 12345 /* returned by parse_all when a prefix disagrees */

static const struct http_limits LIM = {
	.max_request_line = 8192,
	.max_head = 16384,
	.max_headers = 100,
};

static struct http_request req;
static char *last_buf; /* the copy req points into, kept until the next parse */

/* Parse a copy of s in an exact-size allocation (so ASan sees any read past the end). */
static ssize_t parse_lim(const char *s, size_t n, const struct http_limits *lim)
{
	free(last_buf);
	last_buf = malloc(n ? n : 1);
	if (!last_buf)
		abort();
	memcpy(last_buf, s, n);
	return http_parse_request(last_buf, n, lim, &req);
}

/* Parse all of s; also check that each prefix gives 0 or the same verdict, and that a
 * complete head is found again when more bytes follow it. */
static ssize_t parse_all_lim(const char *s, size_t n, const struct http_limits *lim)
{
	for (size_t k = 0; k < n; k++) {
		ssize_t r = parse_lim(s, k, lim);
		if (r > 0 || (r < 0 && r != parse_lim(s, n, lim))) {
			fprintf(stderr, "prefix %zu of %zu gives %zd: \"%.*s\"\n", k, n, r, (int)n, s);
			return BAD_PREFIX;
		}
	}
	ssize_t r = parse_lim(s, n, lim);
	if (r > 0) {
		/* The views must lie inside the head. */
		const char *b = last_buf, *e = last_buf + r;
		bool in = req.method >= b && req.method + req.method_len < e && req.target > b &&
			  req.target + req.target_len < e;
		for (size_t i = 0; i < req.n_headers; i++) {
			const struct http_header *h = &req.headers[i];
			in = in && h->name > b && h->name + h->name_len < e && h->value > b &&
			     h->value + h->value_len < e;
		}
		if (!in) {
			fprintf(stderr, "views outside the head: \"%.*s\"\n", (int)n, s);
			return BAD_PREFIX;
		}
	}
	return r;
}

static ssize_t parse_all(const char *s, size_t n)
{
	return parse_all_lim(s, n, &LIM);
}

/* For string literals, embedded NULs included. */
#define P(lit) parse_all(lit, sizeof(lit) - 1)
#define OK(lit) CHECK_EQ_INT(P(lit), (ssize_t)(sizeof(lit) - 1))
#define BAD(lit, code) CHECK_EQ_INT(P(lit), code)

/* A valid HTTP/1.1 request line and Host, then the given fields. */
#define RQ(fields) "GET / HTTP/1.1\r\nHost: h\r\n" fields "\r\n"
#define POST(fields) "POST / HTTP/1.1\r\nHost: h\r\n" fields "\r\n"

static bool view_eq(const char *p, size_t n, const char *s)
{
	return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

static void test_basic(void)
{
	OK("GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
	CHECK(view_eq(req.method, req.method_len, "GET"));
	CHECK_EQ_INT(req.method_id, HTTP_M_GET);
	CHECK(view_eq(req.target, req.target_len, "/index.html"));
	CHECK_EQ_INT(req.version, 11);
	CHECK_EQ_INT(req.n_headers, 2);
	CHECK(view_eq(req.headers[0].name, req.headers[0].name_len, "Host"));
	CHECK(view_eq(req.headers[0].value, req.headers[0].value_len, "example.com"));
	CHECK(view_eq(req.headers[1].name, req.headers[1].name_len, "Accept"));
	CHECK(view_eq(req.headers[1].value, req.headers[1].value_len, "*/*"));
	CHECK(view_eq(req.host, req.host_len, "example.com"));
	CHECK_EQ_INT(req.content_length, -1);
	CHECK(!req.chunked);
	CHECK(req.keep_alive);
	CHECK(!req.expect_continue);
	CHECK(!req.upgrade);

	/* Incomplete input, at every length, asks for more. */
	CHECK_EQ_INT(parse_lim("", 0, &LIM), 0);
	CHECK_EQ_INT(parse_lim("GET", 3, &LIM), 0);
	CHECK_EQ_INT(parse_lim("GET / HTTP/1.1\r\nHost: a\r\n", 25, &LIM), 0);
	CHECK_EQ_INT(parse_lim("GET / HTTP/1.1\r\nHost: a\r\n\r", 26, &LIM), 0);

	/* HTTP/1.0 needs no Host and is not persistent by default. */
	OK("GET / HTTP/1.0\r\n\r\n");
	CHECK_EQ_INT(req.version, 10);
	CHECK(req.host == NULL);
	CHECK_EQ_INT(req.host_len, 0);
	CHECK(!req.keep_alive);
	CHECK_EQ_INT(req.n_headers, 0);
}

static void test_methods(void)
{
	static const struct {
		const char *m;
		enum http_method id;
	} t[] = {
		{"GET", HTTP_M_GET},       {"HEAD", HTTP_M_HEAD},       {"POST", HTTP_M_POST},
		{"PUT", HTTP_M_PUT},       {"DELETE", HTTP_M_DELETE},   {"OPTIONS", HTTP_M_OPTIONS},
		{"TRACE", HTTP_M_TRACE},   {"PATCH", HTTP_M_PATCH},     {"get", HTTP_M_OTHER},
		{"Get", HTTP_M_OTHER},     {"GETS", HTTP_M_OTHER},      {"GE", HTTP_M_OTHER},
		{"PROPFIND", HTTP_M_OTHER}, {"M-SEARCH", HTTP_M_OTHER}, {"X!#$%&'*+-.^_`|~9", HTTP_M_OTHER},
	};
	char b[256];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = snprintf(b, sizeof(b), "%s / HTTP/1.1\r\nHost: h\r\n\r\n", t[i].m);
		CHECK_EQ_INT(parse_all(b, (size_t)n), n);
		CHECK_EQ_INT(req.method_id, t[i].id);
		CHECK(view_eq(req.method, req.method_len, t[i].m));
	}
	OK("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	CHECK_EQ_INT(req.method_id, HTTP_M_CONNECT);

	BAD(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);   /* empty method */
	BAD("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", -400);    /* not a token */
	BAD("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);   /* tab is not SP */
	BAD("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", -400);   /* two SP */
	BAD("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400);   /* SP before CRLF */
	BAD("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET\x00/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GÉT / HTTP/1.1\r\nHost: h\r\n\r\n", -400);    /* non-ASCII */
	BAD("   \r\n\r\n", -400);                           /* whitespace-only line */
	BAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", -400); /* a TLS ClientHello */
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -505);      /* HTTP/2 preface */
}

static void test_version(void)
{
	OK("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(req.version, 11);
	OK("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(req.version, 10);
	/* RFC 9110 §6.2: a higher minor version is served as 1.1. */
	OK("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(req.version, 11);
	OK("GET / HTTP/1.9\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(req.version, 11);
	/* Another major version: 505. */
	BAD("GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505);
	BAD("GET / HTTP/0.9\r\nHost: h\r\n\r\n", -505);
	BAD("GET / HTTP/9.9\r\nHost: h\r\n\r\n", -505);
	BAD("GET / HTTP/3.0\r\n", -505);
	/* Malformed: 400. */
	BAD("GET / http/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/01.01\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.01\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.10\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/ 1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1 .1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/a.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1,1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / FOO\r\nHost: h\r\n\r\n", -400);
	BAD("GET /\r\n", -400);                                  /* HTTP/0.9 */
	BAD("GET / \r\nHost: h\r\n\r\n", -400);
	BAD("GET HTTP/1.1\r\nHost: h\r\n\r\n", -400);            /* no target */
	BAD("GET\r\nHost: h\r\n\r\n", -400);
}

static void test_line_endings(void)
{
	/* Bare LF anywhere: rejected, consistently. */
	BAD("GET / HTTP/1.1\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\nX-A: b\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\r\n\n", -400);
	BAD("GET / HTTP/1.1\nHost: h\n\n", -400);
	BAD("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	/* Bare CR: rejected. */
	BAD("GET / HTTP/1.1\rHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\rc\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\r\n\rX", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", -400);
	BAD("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", -400);

	/* Leading empty lines: a few are skipped and counted in the head. */
	OK("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK(view_eq(req.method, req.method_len, "GET"));
	OK("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	BAD("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	CHECK_EQ_INT(parse_lim("\r\n\r\n", 4, &LIM), 0);
	CHECK_EQ_INT(parse_lim("\r\n\r", 3, &LIM), 0);
	BAD("\r\n \r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
}

static void test_target(void)
{
	OK("GET /a/b?c=d&e=%41%2f HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK(view_eq(req.target, req.target_len, "/a/b?c=d&e=%41%2f"));
	OK("GET /!$&'()*+,;=:@-._~/?/? HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("GET /img[1].jpg?a[]=1&b={x}|^` HTTP/1.1\r\nHost: h\r\n\r\n"); /* raw from browsers */
	OK("GET /%00 HTTP/1.1\r\nHost: h\r\n\r\n"); /* well-formed: for the path decoder to judge */
	BAD("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /<script> HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /%4 HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /% HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /%4g HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /\x00test HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /\xc0\xaf HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", -400);

	/* asterisk-form: OPTIONS only. */
	OK("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK(view_eq(req.target, req.target_len, "*"));
	BAD("GET * HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("OPTIONS ** HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	OK("OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n");

	/* absolute-form: http and https, any method but CONNECT. */
	OK("GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n");
	CHECK(view_eq(req.target, req.target_len, "http://example.com/a?b"));
	CHECK(view_eq(req.host, req.host_len, "example.com"));
	OK("GET HTTPS://Example.com:8443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
	OK("POST http://[::1]:8080/x HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("OPTIONS http://a?q HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("GET http://other.example/ HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("GET http://a/ HTTP/1.1\r\nHost:\r\n\r\n"); /* empty Host: the URI has the authority */
	OK("GET http://a/ HTTP/1.0\r\n\r\n");
	BAD("GET http://a/ HTTP/1.1\r\n\r\n", -400);   /* HTTP/1.1 still needs Host */
	BAD("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://user@a/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://u:p@a/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://a/#f HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://a#f HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://[::g]/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://a:99999/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://a:8x/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET ftp://a/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http:/a HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http:a HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET http://a,b/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT http://a:443/ HTTP/1.1\r\nHost: h\r\n\r\n", -400);

	/* authority-form: CONNECT only, port required. */
	OK("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
	OK("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: h\r\n\r\n");
	OK("CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: h\r\n\r\n");
	BAD("CONNECT a.example HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT a.example: HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT a.example:65536 HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("CONNECT u@a:443 HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET a.example:443 HTTP/1.1\r\nHost: h\r\n\r\n", -400);
}

static void test_fields(void)
{
	OK(RQ("X-A:b\r\n"));
	CHECK(view_eq(req.headers[1].name, req.headers[1].name_len, "X-A"));
	CHECK(view_eq(req.headers[1].value, req.headers[1].value_len, "b"));
	OK(RQ("X-A: \t b c \t \r\n"));
	CHECK(view_eq(req.headers[1].value, req.headers[1].value_len, "b c"));
	OK(RQ("X-A:\r\n"));
	CHECK_EQ_INT(req.headers[1].value_len, 0);
	CHECK(req.headers[1].value != NULL);
	OK(RQ("X-A:   \r\n"));
	CHECK_EQ_INT(req.headers[1].value_len, 0);
	OK(RQ("X-A: a\tb\r\n"));
	OK(RQ("X-A: caf\xc3\xa9 \x80\xff\r\n")); /* obs-text */
	OK(RQ("!#$%&'*+-.^_`|~09azAZ: x\r\n"));

	BAD(RQ("X-A : b\r\n"), -400);      /* whitespace before the colon */
	BAD(RQ("X-A\t: b\r\n"), -400);
	BAD(RQ(": b\r\n"), -400);          /* empty name */
	BAD(RQ(":\r\n"), -400);
	BAD(RQ("X A: b\r\n"), -400);
	BAD(RQ("Bad[Name: b\r\n"), -400);
	BAD(RQ("X-\xc3\xab: b\r\n"), -400);
	BAD(RQ("Content\tLength: 5\r\n"), -400);
	BAD(RQ("NoColonHere\r\n"), -400);
	BAD(RQ("X-A: b\r\n c\r\n"), -400);  /* obs-fold */
	BAD(RQ("X-A: b\r\n\tc\r\n"), -400);
	BAD("GET / HTTP/1.1\r\n Host: h\r\n\r\n", -400); /* whitespace after the start line */
	BAD("GET / HTTP/1.1\r\n \r\nHost: h\r\n\r\n", -400);
	BAD(RQ("X-A: b\x00c\r\n"), -400);
	BAD(RQ("X-A: b\x7f\r\n"), -400);
	BAD(RQ("X-A: abc\x07\x08\x0b" "def\r\n"), -400);
	BAD(RQ("X-A: \x0c" "b\r\n"), -400);
	BAD(RQ("X-A: b\x1b\r\n"), -400);

	/* http_request_header(): first match, case-insensitive, NULL when absent. */
	OK(RQ("x-one: 1\r\nX-ONE: 2\r\nX-Two: 3\r\n"));
	const struct http_header *h = http_request_header(&req, "x-one");
	CHECK(h && view_eq(h->value, h->value_len, "1"));
	h = http_request_header(&req, "x-two");
	CHECK(h && view_eq(h->value, h->value_len, "3"));
	CHECK(http_request_header(&req, "x-three") == NULL);
	CHECK(http_request_header(&req, "x-on") == NULL);
	CHECK(http_request_header(&req, "x-one2") == NULL);
	h = http_request_header(&req, "host");
	CHECK(h && view_eq(h->value, h->value_len, "h"));
}

/* Every byte value, in each place of the head, against the sets of the RFCs. */
static void test_all_bytes(void)
{
	const char *tchar = "!#$%&'*+-.^_`|~";
	char b[128];
	int bad_name = 0, bad_value = 0, bad_target = 0, bad_method = 0;
	for (int c = 0; c < 256; c++) {
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool is_tchar = alnum || (c && strchr(tchar, c));
		bool is_field = c == '\t' || (c >= 0x20 && c != 0x7f);
		bool is_target = alnum || (c && strchr("-._~!$&'()*+,;=:@/?[]^`{|}", c));
		ssize_t r;
		int n;

		n = snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nX%cY: v\r\n\r\n", c);
		r = parse_lim(b, (size_t)n, &LIM);
		/* "X:Y: v" is the field "X" with the value "Y: v". */
		if ((r == n) != (is_tchar || c == ':'))
			bad_name++, fprintf(stderr, "name byte %#x: %zd\n", c, r);

		n = snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nX: a%cb\r\n\r\n", c);
		r = parse_lim(b, (size_t)n, &LIM);
		if ((r == n) != is_field)
			bad_value++, fprintf(stderr, "value byte %#x: %zd\n", c, r);

		n = snprintf(b, sizeof(b), "GET /a%cb HTTP/1.1\r\nHost: h\r\n\r\n", c);
		r = parse_lim(b, (size_t)n, &LIM);
		if ((r == n) != is_target)
			bad_target++, fprintf(stderr, "target byte %#x: %zd\n", c, r);

		n = snprintf(b, sizeof(b), "G%cT / HTTP/1.1\r\nHost: h\r\n\r\n", c);
		r = parse_lim(b, (size_t)n, &LIM);
		if ((r == n) != is_tchar)
			bad_method++, fprintf(stderr, "method byte %#x: %zd\n", c, r);
	}
	CHECK_EQ_INT(bad_name, 0);
	CHECK_EQ_INT(bad_value, 0);
	CHECK_EQ_INT(bad_target, 0);
	CHECK_EQ_INT(bad_method, 0);
}

static void test_host(void)
{
	BAD("GET / HTTP/1.1\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", -400);
	OK("GET / HTTP/1.1\r\nhOsT: h\r\n\r\n");
	CHECK(view_eq(req.host, req.host_len, "h"));
	OK("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
	CHECK(view_eq(req.host, req.host_len, "h"));

	/* More than one Host line: 400, even when equal, even in HTTP/1.0. */
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -400);
	BAD("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", -400);

	static const char *ok[] = {
		"example.com",    "example.com:80", "example.com:", "EXAMPLE.com.", "my_host",
		"a-b.c~d",        "ex%41mple",      "192.0.2.1",    "192.0.2.1:8080", "[::1]",
		"[::1]:8080",     "[2001:db8::ffff:192.0.2.1]",     "[v1.fe80::a+b]", "1.2.3.999",
		"a:0",            "a:65535",        "!$&'()*+;=",
	};
	static const char *bad[] = {
		"a b",    "a/b",     "a/",      "user@a",   "u:p@a",  "a, b",   "a,b",     "a:b",
		"a:-1",   "a:65536", "a:123456", "::1",     "[::1",   "[::1]x", "[::1]:x", "[]",
		"[::g]",  "[v1]",    "[v.x]",   "[vx.y]",   ":80",    "a:80:80", "%zz",    "a%4",
		"a?b",    "a#b",     "a\"b",    "a\\b",     "[1.2.3.4]", "a[b]", "<a>",     "a|b",
	};
	char b[256];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int n = snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", ok[i]);
		ssize_t r = parse_all(b, (size_t)n);
		if (r != n)
			fprintf(stderr, "Host: %s -> %zd\n", ok[i], r);
		CHECK_EQ_INT(r, n);
		CHECK(view_eq(req.host, req.host_len, ok[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
		ssize_t r = parse_all(b, (size_t)n);
		if (r != -400)
			fprintf(stderr, "Host: %s -> %zd\n", bad[i], r);
		CHECK_EQ_INT(r, -400);
	}
	/* Empty Host: only where the target carries the authority. */
	BAD("GET / HTTP/1.1\r\nHost: \r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost:\r\n\r\n", -400);
	BAD("OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n", -400);
	BAD("GET / HTTP/1.0\r\nHost:\r\n\r\n", -400);
	OK("GET http://a/ HTTP/1.1\r\nHost: \r\n\r\n");
	CHECK_EQ_INT(req.host_len, 0);
	/* OWS around the value is not part of it. */
	OK("GET / HTTP/1.1\r\nHost: \t a.example:81 \t\r\n\r\n");
	CHECK(view_eq(req.host, req.host_len, "a.example:81"));
}

static void test_content_length(void)
{
	OK(POST("Content-Length: 5\r\n"));
	CHECK_EQ_INT(req.content_length, 5);
	CHECK(!req.chunked);
	OK(POST("Content-Length: 0\r\n"));
	CHECK_EQ_INT(req.content_length, 0);
	OK(POST("content-length:\t 42 \t\r\n"));
	CHECK_EQ_INT(req.content_length, 42);
	OK(POST("Content-Length: 9223372036854775807\r\n"));
	CHECK_EQ_INT(req.content_length, INT64_MAX);
	OK(POST(""));
	CHECK_EQ_INT(req.content_length, -1);
	/* Repeated or listed: only when equal. */
	OK(POST("Content-Length: 5, 5\r\n"));
	CHECK_EQ_INT(req.content_length, 5);
	OK(POST("Content-Length: 5,5 ,\t5\r\n"));
	CHECK_EQ_INT(req.content_length, 5);
	OK(POST("Content-Length: 5\r\nContent-Length: 5\r\n"));
	CHECK_EQ_INT(req.content_length, 5);
	BAD(POST("Content-Length: 5\r\nContent-Length: 10\r\n"), -400);
	BAD(POST("Content-Length: 5, 10\r\n"), -400);
	BAD(POST("Content-Length: 5\r\nContent-Length: 5, 6\r\n"), -400);
	BAD(POST("Content-Length: 5,\r\n"), -400);
	BAD(POST("Content-Length: ,5\r\n"), -400);
	BAD(POST("Content-Length: 5,,5\r\n"), -400);
	/* Content-Length = 1*DIGIT. */
	BAD(POST("Content-Length:\r\n"), -400);
	BAD(POST("Content-Length:  \r\n"), -400);
	BAD(POST("Content-Length: +5\r\n"), -400);
	BAD(POST("Content-Length: -1\r\n"), -400);
	BAD(POST("Content-Length: -0\r\n"), -400);
	BAD(POST("Content-Length: 0x5\r\n"), -400);
	BAD(POST("Content-Length: 0o5\r\n"), -400);
	BAD(POST("Content-Length: 1_0\r\n"), -400);
	BAD(POST("Content-Length: 1 0\r\n"), -400);
	BAD(POST("Content-Length: 5.0\r\n"), -400);
	BAD(POST("Content-Length: 5e2\r\n"), -400);
	BAD(POST("Content-Length: abc\r\n"), -400);
	BAD(POST("Content-Length: 5x\r\n"), -400);
	BAD(POST("Content-Length: \"5\"\r\n"), -400);
	BAD(POST("Content-Length: \xd9\xa5\r\n"), -400); /* Arabic-Indic five */
	/* Leading zeros: refused (octal readings). */
	BAD(POST("Content-Length: 05\r\n"), -400);
	BAD(POST("Content-Length: 00\r\n"), -400);
	BAD(POST("Content-Length: 0200\r\n"), -400);
	/* Overflow. */
	BAD(POST("Content-Length: 9223372036854775808\r\n"), -400);
	BAD(POST("Content-Length: 18446744073709551616\r\n"), -400);
	BAD(POST("Content-Length: 99999999999999999999\r\n"), -400);
	BAD(POST("Content-Length: 99999999999999999999999999999999999999999\r\n"), -400);
	/* Not Content-Length: no framing meaning. */
	OK(POST("Content_Length: 99\r\n"));
	CHECK_EQ_INT(req.content_length, -1);
	OK(POST("Content-Length2: 99\r\nX-Content-Length: 7\r\n"));
	CHECK_EQ_INT(req.content_length, -1);
}

static void test_transfer_encoding(void)
{
	OK(POST("Transfer-Encoding: chunked\r\n"));
	CHECK(req.chunked);
	CHECK_EQ_INT(req.content_length, -1);
	OK(POST("Transfer-Encoding: Chunked\r\n"));
	CHECK(req.chunked);
	OK(POST("TRANSFER-ENCODING: CHUNKED\r\n"));
	CHECK(req.chunked);
	OK(POST("Transfer-Encoding:\tchunked\r\n"));
	CHECK(req.chunked);
	OK(POST("Transfer-Encoding: chunked \t\r\n")); /* trailing OWS is not part of the value */
	CHECK(req.chunked);

	/* HTTP/1.0: faulty framing. */
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400);
	BAD("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	    -400);
	/* Both framings: refused whichever comes first and whatever the values. */
	BAD(POST("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), -400);
	BAD(POST("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n"), -400);
	BAD(POST("Transfer-Encoding: identity\r\nContent-Length: 5\r\n"), -400);
	BAD(POST("Transfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked;ext=val\r\nContent-Length: 5\r\n"), -400);
	BAD(POST("Content-Length: +5\r\nTransfer-Encoding: chunked\r\n"), -400);
	/* chunked must be the final coding, and only once. */
	BAD(POST("Transfer-Encoding: xchunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunkedx\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunk\r\n"), -400);
	BAD(POST("Transfer-Encoding: gzip\r\n"), -400);
	BAD(POST("Transfer-Encoding: identity\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked, gzip\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked, chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), -400);
	/* Other codings before chunked: not implemented. */
	BAD(POST("Transfer-Encoding: gzip, chunked\r\n"), -501);
	BAD(POST("Transfer-Encoding: identity, chunked\r\n"), -501);
	BAD(POST("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), -501);
	BAD(POST("Transfer-Encoding: x;q=1, chunked\r\n"), -501);
	/* Not a list of codings. */
	BAD(POST("Transfer-Encoding:\r\n"), -400);
	BAD(POST("Transfer-Encoding: \r\n"), -400);
	BAD(POST("Transfer-Encoding: , chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked,\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked, ,\r\n"), -400);
	BAD(POST("Transfer-Encoding: ch unked\r\n"), -400);
	BAD(POST("Transfer-Encoding: \"chunked\"\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked;q=1\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked ;\r\n"), -400);
	BAD(POST("Transfer-Encoding: x y, chunked\r\n"), -400);
	/* Obfuscations: control characters, folding, space before the colon. */
	BAD(POST("Transfer-Encoding: \x0b" "chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: \x0c" "chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\x00\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\r\r\n"), -400);
	BAD(POST("Transfer-Encoding:\r\n chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding : chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding\t: chunked\r\n"), -400);
	BAD(POST(" Transfer-Encoding: chunked\r\n"), -400);
	BAD(POST("Transfer-Encoding: chunked\nContent-Length: 5\r\n"), -400);
	/* Look-alike names are plain fields, not framing. */
	OK(POST("Transfer_Encoding: chunked\r\n"));
	CHECK(!req.chunked);
	OK(POST("Transfer-Encodings: chunked\r\nXTransfer-Encoding: chunked\r\n"));
	CHECK(!req.chunked);
}

static void test_connection(void)
{
	OK(RQ(""));
	CHECK(req.keep_alive);
	OK(RQ("Connection: close\r\n"));
	CHECK(!req.keep_alive);
	OK(RQ("Connection: CLOSE\r\n"));
	CHECK(!req.keep_alive);
	OK(RQ("Connection: foo, close\r\n"));
	CHECK(!req.keep_alive);
	OK(RQ("Connection: foo\r\nConnection: close\r\n"));
	CHECK(!req.keep_alive);
	OK(RQ("Connection: closed, xclose\r\n"));
	CHECK(req.keep_alive);
	OK(RQ("Connection: keep-alive\r\n"));
	CHECK(req.keep_alive);
	OK("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	CHECK(req.keep_alive);
	OK("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	CHECK(req.keep_alive);
	OK("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	CHECK(!req.keep_alive);
	OK("GET / HTTP/1.0\r\nConnection: keep-alived\r\n\r\n");
	CHECK(!req.keep_alive);
	OK("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n");
	CHECK(!req.keep_alive);

	/* Upgrade needs the connection option, the field, and HTTP/1.1. */
	OK(RQ("Connection: Upgrade\r\nUpgrade: websocket\r\n"));
	CHECK(req.upgrade);
	CHECK(req.keep_alive);
	OK(RQ("Upgrade: websocket\r\nConnection: keep-alive, upgrade\r\n"));
	CHECK(req.upgrade);
	OK(RQ("Upgrade: websocket\r\n"));
	CHECK(!req.upgrade);
	OK(RQ("Connection: upgrade\r\n"));
	CHECK(!req.upgrade);
	OK(RQ("Connection: upgraded\r\nUpgrade: h2c\r\n"));
	CHECK(!req.upgrade);
	OK("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
	CHECK(!req.upgrade);
}

static void test_expect(void)
{
	OK(POST("Content-Length: 5\r\nExpect: 100-continue\r\n"));
	CHECK(req.expect_continue);
	OK(POST("Content-Length: 5\r\nExpect: 100-Continue\r\n"));
	CHECK(req.expect_continue);
	OK(POST(""));
	CHECK(!req.expect_continue);
	OK(POST("Expect:\r\n"));
	CHECK(!req.expect_continue);
	OK("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
	CHECK(!req.expect_continue); /* RFC 9110 §10.1.1: ignored in HTTP/1.0 */
	BAD(RQ("Expect: 200-ok\r\n"), -417);
	BAD(RQ("Expect: 100-continue, x\r\n"), -417);
	BAD(RQ("Expect: 100-continued\r\n"), -417);
	/* A 400 wins over a 417. */
	BAD(POST("Expect: foo\r\nContent-Length: x\r\n"), -400);
}

static void test_list_has_token(void)
{
	static const char v[] = "a, Keep-Alive ,\tc,,  ";
	CHECK(http_list_has_token(v, sizeof(v) - 1, "a"));
	CHECK(http_list_has_token(v, sizeof(v) - 1, "keep-alive"));
	CHECK(http_list_has_token(v, sizeof(v) - 1, "c"));
	CHECK(!http_list_has_token(v, sizeof(v) - 1, "keep"));
	CHECK(!http_list_has_token(v, sizeof(v) - 1, "alive"));
	CHECK(!http_list_has_token(v, sizeof(v) - 1, "d"));
	CHECK(!http_list_has_token("closed", 6, "close"));
	CHECK(!http_list_has_token("close", 4, "close")); /* the view ends before the "e" */
	CHECK(http_list_has_token("close", 5, "close"));
	CHECK(http_list_has_token("CLOSE", 5, "close"));
	CHECK(!http_list_has_token("", 0, "close"));
	CHECK(!http_list_has_token("x-close", 7, "close"));
	CHECK(http_list_has_token(" ,close", 7, "close"));
	CHECK(http_list_has_token("close,", 6, "close"));
	CHECK(!http_list_has_token("clo se", 6, "close"));
}

static void test_pipelining(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	const size_t first = strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_EQ_INT(parse_lim(two, sizeof(two) - 1, &LIM), first);
	CHECK(view_eq(req.target, req.target_len, "/a"));
	CHECK_EQ_INT(req.n_headers, 1);
	CHECK_EQ_INT(parse_lim(two + first, sizeof(two) - 1 - first, &LIM), first);
	CHECK(view_eq(req.target, req.target_len, "/b"));

	/* A body, then another request: the head stops before the body. */
	static const char body[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
				   "helloGET / HTTP/1.1\r\n\r\n";
	CHECK_EQ_INT(parse_lim(body, sizeof(body) - 1, &LIM),
		     strlen("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"));
	CHECK_EQ_INT(req.content_length, 5);

	/* Whatever follows the head is not looked at, even garbage or a partial request. */
	static const char junk[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n\x00\xff\n\r";
	CHECK_EQ_INT(parse_lim(junk, sizeof(junk) - 1, &LIM), sizeof(junk) - 1 - 4);
	static const char partial[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HT";
	CHECK_EQ_INT(parse_lim(partial, sizeof(partial) - 1, &LIM), sizeof(partial) - 1 - 8);

	/* A complete head followed by a long tail: the limits apply to the head only. */
	const struct http_limits tight = {.max_request_line = 16, .max_head = 27, .max_headers = 1};
	static const char big[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
	CHECK_EQ_INT(parse_lim(big, sizeof(big) - 1, &tight), 27);
}

/* A head whose request line is exactly n bytes with its CRLF. */
static size_t make_line(char *b, size_t n)
{
	/* "GET /" + x... + " HTTP/1.1\r\n" */
	size_t fixed = strlen("GET / HTTP/1.1\r\n");
	memcpy(b, "GET /", 5);
	memset(b + 5, 'x', n - fixed);
	memcpy(b + 5 + n - fixed, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
	return n + 11;
}

static void test_limits(void)
{
	struct http_limits lim = {.max_request_line = 64, .max_head = 256, .max_headers = 4};
	char b[1024];
	size_t n;

	/* Request line: exactly the limit passes; one more byte is 414. */
	n = make_line(b, 64);
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), n);
	n = make_line(b, 65);
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), -414);
	/* ... and is known before the line ends: 64 bytes without its end is enough. */
	CHECK_EQ_INT(parse_lim(b, 63, &lim), 0);
	CHECK_EQ_INT(parse_lim(b, 64, &lim), -414);
	/* The limit counts from after the skipped empty lines. */
	memmove(b + 2, b, sizeof(b) - 2);
	memcpy(b, "\r\n", 2);
	n = make_line(b + 2, 64) + 2;
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), n);
	/* A "method" that does not end within the line is no URI: 400. */
	memset(b, 'A', 200);
	CHECK_EQ_INT(parse_lim(b, 63, &lim), 0);
	CHECK_EQ_INT(parse_lim(b, 64, &lim), -400);
	CHECK_EQ_INT(parse_lim(b, 200, &lim), -400);
	/* A long target: 414, even with a bad byte after the limit. */
	memcpy(b, "GET /", 5);
	memset(b + 5, 'a', 195);
	b[100] = '\0';
	CHECK_EQ_INT(parse_lim(b, 200, &lim), -414);
	/* ... but a bad byte before the limit is 400. */
	b[30] = '\0';
	CHECK_EQ_INT(parse_lim(b, 200, &lim), -400);

	/* The head: exactly max_head passes, one more byte is 431 (complete or not). */
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n",
			     (int)(256 - 32), 0);
	CHECK_EQ_INT(n, 256);
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), 256);
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n",
			     (int)(257 - 32), 0);
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), -431);
	CHECK_EQ_INT(parse_lim(b, 255, &lim), 0);
	CHECK_EQ_INT(parse_lim(b, 256, &lim), -431);
	/* The final CRLF counts: a head one byte too long because of it is 431. */
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n",
			     (int)(256 - 32), 0);
	CHECK_EQ_INT(parse_lim(b, n - 1, &lim), 0);
	lim.max_head = 255;
	CHECK_EQ_INT(parse_lim(b, n, &lim), -431);
	CHECK_EQ_INT(parse_lim(b, n - 1, &lim), -431);
	lim.max_head = 256;

	/* Field count: max_headers passes, one more is 431. */
	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), n);
	CHECK_EQ_INT(req.n_headers, 4);
	n = (size_t)snprintf(b, sizeof(b),
			     "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
	CHECK_EQ_INT(parse_all_lim(b, n, &lim), -431);

	/* The configured count is capped at the array size. */
	static char big[64 * 1024];
	struct http_limits huge = {.max_request_line = 8192, .max_head = sizeof(big),
				   .max_headers = 100000};
	for (size_t count = HTTP_MAX_HEADERS_HARD; count <= HTTP_MAX_HEADERS_HARD + 1; count++) {
		size_t len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\n");
		for (size_t i = 0; i < count; i++)
			len += (size_t)snprintf(big + len, sizeof(big) - len,
						i ? "X-%zu: v\r\n" : "Host: h\r\n", i);
		len += (size_t)snprintf(big + len, sizeof(big) - len, "\r\n");
		ssize_t r = parse_lim(big, len, &huge);
		CHECK_EQ_INT(r, count == HTTP_MAX_HEADERS_HARD ? (ssize_t)len : -431);
	}
	/* 10,000 fields, as a flood test sends them. */
	size_t len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < 4000 && len + 32 < sizeof(big); i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "X-H-%d: value\r\n", i);
	CHECK_EQ_INT(parse_lim(big, len, &LIM), -431);
}

/* The classic smuggling requests, whole (with their bodies) as they arrive. */
static void test_smuggling(void)
{
	/* CL.TE and TE.CL. */
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\nSMUGGLED",
	    -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "8\r\nSMUGGLED\r\n0\r\n\r\n",
	    -400);
	/* TE.TE obfuscations with a CL fallback. */
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-length: 4\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-encoding: cow\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
	    -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
	    -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n",
	    -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\nContent-Length: 5\r\n\r\n",
	    -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nX: X\nTransfer-Encoding: chunked\r\n\r\n", -400);
	BAD("POST / HTTP/1.1\r\nHost: h\r\nX: X\rTransfer-Encoding: chunked\r\n\r\n", -400);
	/* Double Content-Length, Host confusion. */
	BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: a\r\n Host: b\r\n\r\n", -400);
	/* A request hidden behind a bare LF or a NUL. */
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\n\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n", -400);
	BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\x00\r\n\r\n", -400);
}

int main(void)
{
	test_basic();
	test_methods();
	test_version();
	test_line_endings();
	test_target();
	test_fields();
	test_all_bytes();
	test_host();
	test_content_length();
	test_transfer_encoding();
	test_connection();
	test_expect();
	test_list_has_token();
	test_pipelining();
	test_limits();
	test_smuggling();
	free(last_buf);
	TEST_MAIN_END();
}
