/* libFuzzer target for http_parse_request() and http_forward_request(): any input, under a
 * roomy and a tight set of limits, must give a known status or a head whose every view lies
 * inside it, and every prefix of the input must give "need more" or the same verdict. A head
 * that parses is forwarded as the proxy would: the result must parse again as exactly one
 * head (no second request hidden in it), with one Host, no hop-by-hop field, and exactly the
 * framing asked for. Any broken invariant aborts. Built with clang -fsanitize=fuzzer, and
 * with gcc against fuzz/replay.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"
#include "http/forward.h"
#include "http/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_request req, again;

static void require(bool ok)
{
	if (!ok)
		abort();
}

/* Parse a copy in an exact-size allocation, so ASan sees reads past len. */
static ssize_t parse_copy(const uint8_t *data, size_t len, const struct http_limits *lim,
			  char **ret_buf)
{
	char *buf = calloc(len ? len : 1, 1);
	require(buf != NULL);
	if (len)
		memcpy(buf, data, len);
	ssize_t r = http_parse_request(buf, len, lim, &req);
	if (ret_buf)
		*ret_buf = buf;
	else
		free(buf);
	return r;
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static bool has_byte_outside(const char *p, size_t n, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < lo || (unsigned char)p[i] > hi)
			return true;
	return false;
}

static void check_head(const char *buf, size_t len, const struct http_limits *lim, size_t r)
{
	require(r <= len && r <= lim->max_head && r >= 16);
	require(memcmp(buf + r - 4, "\r\n\r\n", 4) == 0);
	require(req.method_len >= 1 && inside(req.method, req.method_len, buf, r));
	require(!has_byte_outside(req.method, req.method_len, 0x21, 0x7e));
	require(req.target_len >= 1 && inside(req.target, req.target_len, buf, r));
	require(!has_byte_outside(req.target, req.target_len, 0x21, 0x7e));
	require(req.method_id >= HTTP_M_OTHER && req.method_id <= HTTP_M_PATCH);
	require(req.version == 10 || req.version == 11);
	require(req.n_headers <= lim->max_headers && req.n_headers <= HTTP_MAX_HEADERS_HARD);
	for (size_t i = 0; i < req.n_headers; i++) {
		const struct http_header *h = &req.headers[i];
		require(h->name_len >= 1 && inside(h->name, h->name_len, buf, r));
		require(!has_byte_outside(h->name, h->name_len, 0x21, 0x7e));
		require(memchr(h->name, ':', h->name_len) == NULL);
		require(inside(h->value, h->value_len, buf, r));
		require(!memchr(h->value, '\r', h->value_len) && !memchr(h->value, '\n', h->value_len) &&
			!memchr(h->value, '\0', h->value_len));
		if (h->value_len > 0) {
			char a = h->value[0], z = h->value[h->value_len - 1];
			require(a != ' ' && a != '\t' && z != ' ' && z != '\t');
		}
	}
	const struct http_header *host = http_request_header(&req, "host");
	require(req.host == (host ? host->value : NULL));
	require(req.version == 10 || req.host != NULL);
	require(req.content_length >= -1);
	require(!req.chunked || (req.content_length == -1 && req.version == 11));
	require(!req.expect_continue || req.version == 11);
	require(!req.upgrade || req.version == 11);
}

static size_t count_fields(const struct http_request *r, const char *lname)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_headers; i++)
		n += str_ieq(r->headers[i].name, r->headers[i].name_len, lname);
	return n;
}

/* Forward req (parsed from buf) with options from knobs; the head must parse again. */
static void check_forward(uint8_t knobs)
{
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(4000)};
	peer.sin_addr.s_addr = htonl(0xc0000201);
	struct http_forward_opts o = {
		.peer = (const struct sockaddr *)&peer,
		.peer_len = sizeof(peer),
		.peer_trusted = knobs & 1,
		.content_length = req.chunked ? -1 : req.content_length,
		.chunked = req.chunked,
		.upgrade = (knobs & 2) && req.upgrade,
		.close = knobs & 4,
	};
	if (knobs & 8) {
		o.host = "upstream.test";
		o.host_len = 13;
	}
	struct buf b;
	buf_init(&b, 1 << 17);
	int r = http_forward_request(&b, &req, &o);
	if (r < 0) {
		/* No authority to name: an HTTP/1.0 request without Host, or an empty one. */
		require(r == -EDESTADDRREQ && !o.host && b.len == 0);
		buf_free(&b);
		return;
	}
	static const struct http_limits lim = {
		.max_request_line = 1 << 16, .max_head = 1 << 17, .max_headers = 256};
	ssize_t n = http_parse_request(b.data, b.len, &lim, &again);
	require(n > 0 && (size_t)n == b.len); /* one head, nothing after it */
	require(again.version == 11 && again.method_id == req.method_id);
	require(count_fields(&again, "host") == 1);
	require(count_fields(&again, "connection") == 1);
	require(count_fields(&again, "transfer-encoding") == (req.chunked ? 1u : 0u));
	require(again.chunked == req.chunked);
	require(again.content_length == (req.chunked ? -1 : req.content_length) ||
		(req.content_length == -1 && again.content_length == -1));
	require(count_fields(&again, "content-length") == (o.content_length >= 0 ? 1u : 0u));
	static const char *const gone[] = {"keep-alive", "proxy-connection", "te", "trailer"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		require(count_fields(&again, gone[i]) == 0);
	require(count_fields(&again, "upgrade") == 0 || o.upgrade);
	require(count_fields(&again, "x-forwarded-for") == 1 &&
		count_fields(&again, "forwarded") == 1);
	buf_free(&b);
}

static void check(const uint8_t *data, size_t size, const struct http_limits *lim)
{
	char *buf;
	ssize_t r = parse_copy(data, size, lim, &buf);

	if (r > 0) {
		check_head(buf, size, lim, (size_t)r);
		check_forward((uint8_t)(size ^ (size >> 3) ^ (size >> 6)));
	} else
		require(r == 0 || r == -400 || r == -414 || r == -417 || r == -431 || r == -501 ||
			r == -505);
	free(buf);

	/* A prefix is "need more" or the same verdict; a complete head is found again as
	 * soon as all of it is there, and not before. */
	size_t probes[4] = {size / 2, size ? size - 1 : 0, 0, 0};
	size_t n_probes = 2;
	if (r > 0) {
		probes[n_probes++] = (size_t)r - 1;
		probes[n_probes++] = (size_t)r;
	}
	for (size_t i = 0; i < n_probes; i++) {
		if (probes[i] >= size && !(r > 0 && probes[i] == (size_t)r))
			continue;
		ssize_t p = parse_copy(data, probes[i], lim, NULL);
		if (r > 0)
			require(probes[i] >= (size_t)r ? p == r : p == 0);
		else
			require(p == 0 || p == r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits roomy = {
		.max_request_line = 8192,
		.max_head = 16384,
		.max_headers = 100,
	};
	check(data, size, &roomy);

	/* Tight limits, derived from the input so each one meets its boundary sometimes. */
	struct http_limits tight = {
		.max_request_line = 16 + size % 61,
		.max_head = 24 + size % 199,
		.max_headers = size % 5,
	};
	check(data, size, &tight);
	return 0;
}
