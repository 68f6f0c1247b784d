/* Tests for src/http/response.c: the status line, field lines, the derived framing fields,
 * the framing decision of RFC 9112 §6.3, limits at their exact boundaries, and the response
 * smuggling / splitting cases a proxy must refuse. Every input is also parsed at every
 * prefix length, which must answer "need more" or the same verdict. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"
#include "test.h"

#define BAD_PREFIX 12345 /* returned by parse_all when a prefix disagrees */

static const struct http_response_limits LIM = {
	.max_head = 16384,
	.max_headers = 100,
};

static struct http_response resp;
static char *last_buf;

static ssize_t parse_lim(const char *s, size_t n, const struct http_response_limits *lim)
{
	free(last_buf);
	last_buf = malloc(n ? n : 1);
	if (!last_buf)
		abort();
	memcpy(last_buf, s, n);
	return http_parse_response(last_buf, n, lim, &resp);
}

static ssize_t parse_all_lim(const char *s, size_t n, const struct http_response_limits *lim)
{
	ssize_t full = parse_lim(s, n, lim);
	for (size_t k = 0; k < n; k++) {
		ssize_t r = parse_lim(s, k, lim);
		bool ok = full > 0 ? (k < (size_t)full ? r == 0 : r == full)
				   : (r == 0 || r == full);
		if (!ok) {
			fprintf(stderr, "prefix %zu of %zu gives %zd, all %zd: \"%.*s\"\n", k, n, r,
				full, (int)n, s);
			return BAD_PREFIX;
		}
	}
	return parse_lim(s, n, lim);
}

static ssize_t parse_all(const char *s, size_t n)
{
	return parse_all_lim(s, n, &LIM);
}

#define P(lit) parse_all(lit, sizeof(lit) - 1)
#define OK(lit) CHECK_EQ_INT(P(lit), (ssize_t)(sizeof(lit) - 1))
#define BAD(lit, code) CHECK_EQ_INT(P(lit), code)
#define R11(fields) "HTTP/1.1 200 OK\r\n" fields "\r\n"
#define R10(fields) "HTTP/1.0 200 OK\r\n" fields "\r\n"

static bool view_eq(const char *p, size_t n, const char *s)
{
	return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

static int framing(enum http_method m)
{
	return http_response_framing(&resp, m, false);
}

static void test_basic(void)
{
	OK("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
	CHECK_EQ_INT(resp.version, 11);
	CHECK_EQ_INT(resp.status, 200);
	CHECK(view_eq(resp.reason, resp.reason_len, "OK"));
	CHECK_EQ_INT(resp.n_headers, 2);
	CHECK(view_eq(resp.headers[0].name, resp.headers[0].name_len, "Content-Type"));
	CHECK(view_eq(resp.headers[0].value, resp.headers[0].value_len, "text/plain"));
	CHECK_EQ_INT(resp.content_length, 5);
	CHECK(!resp.te && !resp.chunked && !resp.te_other && !resp.cl_ignored);
	CHECK(resp.keep_alive);
	CHECK(!resp.upgrade);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_LENGTH);
	CHECK(!http_response_is_interim(&resp));
	CHECK(http_response_header(&resp, "content-length") == &resp.headers[1]);
	CHECK(http_response_header(&resp, "content") == NULL);

	/* The body and the next response are not looked at. */
	CHECK_EQ_INT(P("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n"), 38);

	CHECK_EQ_INT(parse_lim("", 0, &LIM), 0);
	CHECK_EQ_INT(parse_lim("HTTP/1.1 200 OK\r\n", 17, &LIM), 0);
	CHECK_EQ_INT(parse_lim("HTTP/1.1 200 OK\r\n\r", 18, &LIM), 0);

	/* OWS around values is stripped; names keep their case. */
	OK(R11("X-A:\t  v w \t\r\nx-b:\r\n"));
	CHECK(view_eq(resp.headers[0].value, resp.headers[0].value_len, "v w"));
	CHECK(view_eq(resp.headers[1].name, resp.headers[1].name_len, "x-b"));
	CHECK_EQ_INT(resp.headers[1].value_len, 0);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
}

static void test_status_line(void)
{
	/* The reason may be empty, with or without its SP, and holds SP, HTAB, obs-text. */
	OK("HTTP/1.1 204 \r\n\r\n");
	CHECK_EQ_INT(resp.status, 204);
	CHECK_EQ_INT(resp.reason_len, 0);
	OK("HTTP/1.1 204\r\n\r\n");
	CHECK_EQ_INT(resp.reason_len, 0);
	OK("HTTP/1.1 404 Not  Found \t\xc3\xa9\r\n\r\n");
	CHECK(view_eq(resp.reason, resp.reason_len, "Not  Found \t\xc3\xa9"));
	OK("HTTP/1.1 599 Whatever\r\n\r\n");
	OK("HTTP/1.1 100 Continue\r\n\r\n");
	CHECK_EQ_INT(resp.status, 100);

	OK("HTTP/1.0 200 OK\r\n\r\n");
	CHECK_EQ_INT(resp.version, 10);
	OK("HTTP/1.9 200 OK\r\n\r\n");
	CHECK_EQ_INT(resp.version, 11);

	BAD("HTTP/2.0 200 OK\r\n\r\n", -EPROTONOSUPPORT);
	BAD("HTTP/0.9 200 OK\r\n\r\n", -EPROTONOSUPPORT);
	BAD("HTTP/2 200 OK\r\n\r\n", -EPROTONOSUPPORT);
	BAD("http/1.1 200 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 OK", 0);
	BAD("HTTP/1.1  200 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1\t200 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1 200 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 20 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 20a OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 -20 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 099 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 600 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 999 OK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 O\x7fK\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 O\x01K\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 O\0K\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 OK\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 OK\r\r\n\r\n", -EBADMSG);
	/* No empty lines before a response, no HTTP/0.9 bodies without a head. */
	BAD("\r\nHTTP/1.1 200 OK\r\n\r\n", -EBADMSG);
	BAD("<html>", -EBADMSG);
	BAD(" HTTP/1.1 200 OK\r\n\r\n", -EBADMSG);
}

static void test_fields(void)
{
	BAD(R11("A: b\n"), -EBADMSG);                     /* bare LF */
	BAD("HTTP/1.1 200 OK\r\nA: b\r\n\n", -EBADMSG);   /* bare LF ends the head */
	BAD(R11("A: b\rc\r\n"), -EBADMSG);                /* bare CR */
	BAD(R11("A: b\r\n c\r\n"), -EBADMSG);             /* obs-fold */
	BAD(R11("A: b\r\n\tc\r\n"), -EBADMSG);
	BAD(R11("A : b\r\n"), -EBADMSG);                  /* space before the colon */
	BAD(R11("A\t: b\r\n"), -EBADMSG);
	BAD(R11(": b\r\n"), -EBADMSG);                    /* empty name */
	BAD(R11("A(: b\r\n"), -EBADMSG);                  /* not a token */
	BAD(R11("A b: c\r\n"), -EBADMSG);
	BAD(R11("A: b\0c\r\n"), -EBADMSG);                /* NUL */
	BAD(R11("A: b\x01\r\n"), -EBADMSG);               /* CTL */
	BAD(R11("A: b\x7f\r\n"), -EBADMSG);               /* DEL */
	BAD(R11("A: b\x0b\r\n"), -EBADMSG);               /* VT */
	BAD(R11("A\r\n"), -EBADMSG);                      /* no colon */
	BAD(R11("\xc3\xa9: b\r\n"), -EBADMSG);            /* non-ASCII name */
	OK(R11("A: \xc3\xa9\xff\r\n"));                   /* obs-text value */
	OK(R11("!#$%&'*+-.^_`|~09azAZ: x\r\n"));          /* every tchar */
}

static void test_content_length(void)
{
	OK(R11("Content-Length: 0\r\n"));
	CHECK_EQ_INT(resp.content_length, 0);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_LENGTH);
	OK(R11("content-LENGTH:   42  \r\n"));
	CHECK_EQ_INT(resp.content_length, 42);
	OK(R11("Content-Length: 9223372036854775807\r\n"));
	CHECK_EQ_INT(resp.content_length, INT64_MAX);
	OK(R11("Content-Length: 5, 5\r\n"));
	CHECK_EQ_INT(resp.content_length, 5);
	OK(R11("Content-Length: 5\r\nContent-Length: 5\r\n"));
	CHECK_EQ_INT(resp.content_length, 5);

	BAD(R11("Content-Length: 5\r\nContent-Length: 6\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5, 6\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5,\r\n"), -EBADMSG);
	BAD(R11("Content-Length: \r\n"), -EBADMSG);
	BAD(R11("Content-Length: -1\r\n"), -EBADMSG);
	BAD(R11("Content-Length: +5\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 05\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 0x5\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5 5\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5.0\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 9223372036854775808\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 99999999999999999999999\r\n"), -EBADMSG);
}

static void test_transfer_encoding(void)
{
	OK(R11("Transfer-Encoding: chunked\r\n"));
	CHECK(resp.te && resp.chunked && !resp.te_other);
	CHECK_EQ_INT(resp.content_length, -1);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_CHUNKED);
	OK(R11("Transfer-Encoding: CHUNKED\r\n"));
	CHECK(resp.chunked);
	OK(R11("Transfer-Encoding:\tchunked\t\r\n"));
	CHECK(resp.chunked);

	/* Chunked last: chunked framing, but a coding ferry cannot pass on is reported. */
	OK(R11("Transfer-Encoding: gzip, chunked\r\n"));
	CHECK(resp.chunked && resp.te_other);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_CHUNKED);
	OK(R11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"));
	CHECK(resp.chunked && resp.te_other);
	OK(R11("Transfer-Encoding: gzip;level=1, chunked\r\n"));
	CHECK(resp.chunked);

	/* RFC 9112 §6.3 (4): chunked not last in a response -> read until close. */
	OK(R11("Transfer-Encoding: chunked, gzip\r\n"));
	CHECK(resp.te && !resp.chunked && resp.te_other);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
	OK(R11("Transfer-Encoding: gzip\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
	OK(R11("Transfer-Encoding: xchunked\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
	OK(R11("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);

	BAD(R11("Transfer-Encoding: chunked, chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked;q=1\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked ;x\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked,\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: , chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: \r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: gzip chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: \"chunked\"\r\n"), -EBADMSG);
	/* RFC 9112 §6.1: in HTTP/1.0 the framing is faulty. */
	BAD(R10("Transfer-Encoding: chunked\r\n"), -EBADMSG);
	BAD(R10("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"), -EBADMSG);
}

/* Response smuggling and splitting: every way two parsers could disagree on where this
 * response ends is refused, or resolved as RFC 9112 §6.3 says. */
static void test_smuggling(void)
{
	/* TE + CL: TE wins, CL is reported so the proxy drops it (and never forwards it). */
	OK(R11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"));
	CHECK(resp.chunked && resp.cl_ignored);
	CHECK_EQ_INT(resp.content_length, -1);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_CHUNKED);
	OK(R11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"));
	CHECK(resp.cl_ignored);
	OK(R11("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"));
	CHECK(resp.cl_ignored);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
	/* ... but a broken Content-Length is still an error. */
	BAD(R11("Transfer-Encoding: chunked\r\nContent-Length: x\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked\r\nContent-Length: 1\r\nContent-Length: 2\r\n"),
	    -EBADMSG);

	/* Obfuscated framing fields. */
	BAD(R11("Transfer-Encoding : chunked\r\n"), -EBADMSG);
	BAD(R11(" Transfer-Encoding: chunked\r\n"), -EBADMSG);
	BAD(R11("X: y\r\n Transfer-Encoding: chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: \x0b" "chunked\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding: chunked\x00\r\n"), -EBADMSG);
	BAD(R11("Transfer-Encoding:\r\n chunked\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5\x00\r\n"), -EBADMSG);
	BAD(R11("Content-Length\r\n: 5\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5\rContent-Length: 0\r\n"), -EBADMSG);
	BAD(R11("Content-Length: 5\nContent-Length: 0\r\n"), -EBADMSG);
	/* Not the framing fields at all: another name, so no influence on the framing. */
	OK(R11("Transfer_Encoding: chunked\r\nContent-Length: 3\r\n"));
	CHECK(!resp.te);
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_LENGTH);
	OK(R11("Content-Length-X: 3\r\nX-Transfer-Encoding: chunked\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);

	/* A head ends at the first empty line: a second response after it is the body (or
	 * the next response), never part of this head. */
	const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	CHECK_EQ_INT(parse_all(two, sizeof(two) - 1), (sizeof(two) - 1) / 2);

	/* Status lines that hide a second status line. */
	BAD("HTTP/1.1 200 OK\rHTTP/1.1 404 No\r\n\r\n", -EBADMSG);
	BAD("HTTP/1.1 200 OK\nHTTP/1.1 404 No\r\n\r\n", -EBADMSG);
}

static void test_connection(void)
{
	OK(R11(""));
	CHECK(resp.keep_alive);
	OK(R11("Connection: close\r\n"));
	CHECK(!resp.keep_alive);
	OK(R11("Connection: keep-alive, CLOSE\r\n"));
	CHECK(!resp.keep_alive);
	OK(R11("Connection: x, y\r\nConnection: close\r\n"));
	CHECK(!resp.keep_alive);
	OK(R10(""));
	CHECK(!resp.keep_alive);
	OK(R10("Connection: Keep-Alive\r\n"));
	CHECK(resp.keep_alive);
	OK(R10("Connection: keep-alive, close\r\n"));
	CHECK(!resp.keep_alive);
	OK(R11("Connection: closed\r\n"));
	CHECK(resp.keep_alive);
}

static void test_framing(void)
{
	/* HEAD: no body whatever the fields say. */
	OK(R11("Content-Length: 100\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_HEAD), HTTP_FRAMING_NONE);
	OK(R11("Transfer-Encoding: chunked\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_HEAD), HTTP_FRAMING_NONE);

	/* 1xx, 204, 304: no body. */
	OK("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_NONE);
	OK("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_NONE);
	OK("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_NONE);
	OK("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_LENGTH);

	/* Interim responses: no body, another head follows. */
	const char hints[] = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
			     "HTTP/1.1 100 Continue\r\n\r\n"
			     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	size_t off = 0;
	int seen[3], n = 0;
	for (;;) {
		ssize_t r = parse_all(hints + off, sizeof(hints) - 1 - off);
		CHECK(r > 0);
		if (r <= 0 || n == 3)
			break;
		seen[n++] = resp.status;
		off += (size_t)r;
		if (!http_response_is_interim(&resp))
			break;
		CHECK_EQ_INT(framing(HTTP_M_POST), HTTP_FRAMING_NONE);
	}
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(seen[0], 103);
	CHECK_EQ_INT(seen[1], 100);
	CHECK_EQ_INT(seen[2], 200);
	CHECK_EQ_INT(framing(HTTP_M_POST), HTTP_FRAMING_LENGTH);
	CHECK_EQ_INT(sizeof(hints) - 1 - off, 2);

	/* 101: a tunnel, only when the request asked to upgrade and the answer says to what. */
	OK("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	CHECK(resp.upgrade);
	CHECK(!http_response_is_interim(&resp));
	CHECK_EQ_INT(http_response_framing(&resp, HTTP_M_GET, true), HTTP_FRAMING_TUNNEL);
	CHECK_EQ_INT(http_response_framing(&resp, HTTP_M_GET, false), -EBADMSG);
	OK("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
	CHECK(!resp.upgrade);
	CHECK_EQ_INT(http_response_framing(&resp, HTTP_M_GET, true), -EBADMSG);
	OK("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n");
	CHECK_EQ_INT(http_response_framing(&resp, HTTP_M_GET, true), -EBADMSG);
	/* A 200 to an upgrade request is an ordinary response. */
	OK(R11("Content-Length: 1\r\n"));
	CHECK_EQ_INT(http_response_framing(&resp, HTTP_M_GET, true), HTTP_FRAMING_LENGTH);

	/* CONNECT: 2xx is a tunnel, the rest as usual. */
	OK(R11(""));
	CHECK_EQ_INT(framing(HTTP_M_CONNECT), HTTP_FRAMING_TUNNEL);
	OK("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
	CHECK_EQ_INT(framing(HTTP_M_CONNECT), HTTP_FRAMING_LENGTH);

	/* No framing fields: until close. */
	OK(R11(""));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_UNTIL_CLOSE);
	OK(R10("Content-Length: 3\r\n"));
	CHECK_EQ_INT(framing(HTTP_M_GET), HTTP_FRAMING_LENGTH);
}

static void test_limits(void)
{
	const char h[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	const size_t n = sizeof(h) - 1;
	struct http_response_limits lim = {.max_head = n, .max_headers = 3};

	CHECK_EQ_INT(parse_all_lim(h, n, &lim), n);
	lim.max_head = n - 1;
	CHECK_EQ_INT(parse_all_lim(h, n, &lim), -EMSGSIZE);
	/* Fewer bytes than the limit: still "need more". */
	CHECK_EQ_INT(parse_lim(h, n - 2, &lim), 0);
	CHECK_EQ_INT(parse_lim(h, n - 1, &lim), -EMSGSIZE);
	lim.max_head = n;
	lim.max_headers = 2;
	CHECK_EQ_INT(parse_all_lim(h, n, &lim), -EMSGSIZE);
	lim.max_headers = 0;
	CHECK_EQ_INT(parse_all_lim("HTTP/1.1 200 OK\r\n\r\n", 19, &lim), 19);
	CHECK_EQ_INT(parse_all_lim(h, n, &lim), -EMSGSIZE);
	/* A limit inside the status line. */
	lim.max_head = 5;
	CHECK_EQ_INT(parse_all_lim(h, n, &lim), -EMSGSIZE);
	/* The hard cap applies to a larger configured count. */
	lim.max_head = 1 << 20;
	lim.max_headers = 100000;
	static char big[17 + 6 * (HTTP_MAX_HEADERS_HARD + 1) + 2];
	size_t k = 0;
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	k = 17;
	for (int i = 0; i <= HTTP_MAX_HEADERS_HARD; i++) {
		memcpy(big + k, "A: b\r\n", 6);
		k += 6;
	}
	memcpy(big + k, "\r\n", 2);
	k += 2;
	CHECK_EQ_INT(parse_lim(big, k, &lim), -EMSGSIZE);
	CHECK_EQ_INT(parse_lim(big + 6, k - 6, &lim), -EBADMSG); /* not a status line */
	memmove(big + 17, big + 23, k - 23);
	CHECK_EQ_INT(parse_lim(big, k - 6, &lim), (ssize_t)(k - 6));
	CHECK_EQ_INT(resp.n_headers, HTTP_MAX_HEADERS_HARD);
}

int main(void)
{
	test_basic();
	test_status_line();
	test_fields();
	test_content_length();
	test_transfer_encoding();
	test_smuggling();
	test_connection();
	test_framing();
	test_limits();
	free(last_buf);
	TEST_MAIN_END();
}
