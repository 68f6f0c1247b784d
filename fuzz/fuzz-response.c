/* libFuzzer target for http_parse_response(), http_response_framing() and
 * http_forward_response(): any input, under a roomy and a tight set of limits, must give a
 * known error or a head whose every view lies inside it; every prefix must give "need
 * more" or the same verdict; the framing must follow RFC 9112 §6.3; and the head the proxy
 * would forward must parse again, with the same status, no hop-by-hop field, and exactly
 * the framing fields asked for. Any broken invariant aborts. Built with clang
 * -fsanitize=fuzzer, and with gcc against fuzz/replay.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "http/forward.h"
#include "http/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_response resp, again;

static void require(bool ok)
{
	if (!ok)
		abort();
}

static ssize_t parse_copy(const uint8_t *data, size_t len, const struct http_response_limits *lim,
			  struct http_response *ret, char **ret_buf)
{
	char *buf = calloc(len ? len : 1, 1);
	require(buf != NULL);
	if (len)
		memcpy(buf, data, len);
	ssize_t r = http_parse_response(buf, len, lim, ret);
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

static bool has_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

static bool view_ieq(const char *p, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (lit[i] == '\0' || c != lit[i])
			return false;
	}
	return lit[i] == '\0';
}

static void check_head(const char *buf, size_t len, const struct http_response_limits *lim,
		       size_t r)
{
	require(r <= len && r <= lim->max_head && r >= 16);
	require(memcmp(buf, "HTTP/1.", 7) == 0);
	require(memcmp(buf + r - 4, "\r\n\r\n", 4) == 0);
	require(resp.version == 10 || resp.version == 11);
	require(resp.status >= 100 && resp.status <= 599);
	require(inside(resp.reason, resp.reason_len, buf, r) &&
		!has_ctl(resp.reason, resp.reason_len));
	require(resp.n_headers <= lim->max_headers && resp.n_headers <= HTTP_MAX_HEADERS_HARD);
	for (size_t i = 0; i < resp.n_headers; i++) {
		const struct http_header *h = &resp.headers[i];
		require(h->name_len >= 1 && inside(h->name, h->name_len, buf, r));
		require(!memchr(h->name, ':', h->name_len) && !has_ctl(h->name, h->name_len));
		require(!memchr(h->name, ' ', h->name_len));
		require(inside(h->value, h->value_len, buf, r) && !has_ctl(h->value, h->value_len));
		if (h->value_len > 0) {
			char a = h->value[0], z = h->value[h->value_len - 1];
			require(a != ' ' && a != '\t' && z != ' ' && z != '\t');
		}
	}
	require(resp.content_length >= -1);
	require(!resp.chunked || resp.te);
	require(!resp.te_other || resp.te);
	require(!resp.cl_ignored || (resp.te && resp.content_length == -1));
	require(!resp.te || resp.version == 11);
	require(resp.te == (http_response_header(&resp, "transfer-encoding") != NULL));
	require(resp.cl_ignored || resp.te ||
		(resp.content_length >= 0) ==
		    (http_response_header(&resp, "content-length") != NULL));
}

static void check_framing(void)
{
	static const enum http_method methods[] = {HTTP_M_GET, HTTP_M_HEAD, HTTP_M_POST,
						   HTTP_M_CONNECT};
	const int s = resp.status;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		for (int up = 0; up <= 1; up++) {
			int f = http_response_framing(&resp, methods[i], up);
			if (s == 101) {
				require(f == (up && resp.upgrade ? HTTP_FRAMING_TUNNEL : -EBADMSG));
				continue;
			}
			require(f >= HTTP_FRAMING_NONE && f <= HTTP_FRAMING_TUNNEL);
			if (methods[i] == HTTP_M_HEAD || s < 200 || s == 204 || s == 304)
				require(f == HTTP_FRAMING_NONE);
			else if (methods[i] == HTTP_M_CONNECT && s < 300)
				require(f == HTTP_FRAMING_TUNNEL);
			else if (f == HTTP_FRAMING_LENGTH)
				require(resp.content_length >= 0 && !resp.te);
			else if (f == HTTP_FRAMING_CHUNKED)
				require(resp.chunked);
			else
				require(f == HTTP_FRAMING_UNTIL_CLOSE &&
					(resp.te ? !resp.chunked : resp.content_length < 0));
		}
	}
}

/* Forward the head with options from the input; the result must parse again. */
static void check_forward(uint8_t knobs)
{
	const struct http_forward_response_opts o = {
		.content_length = knobs & 1,
		.chunked = knobs & 2,
		.close = knobs & 4,
	};
	struct buf b;
	buf_init(&b, 1 << 16);
	int r = http_forward_response(&b, &resp, &o);
	if (o.content_length && o.chunked) {
		require(r == -EINVAL && b.len == 0);
		buf_free(&b);
		return;
	}
	require(r == 0);
	require(!memchr(b.data, '\0', b.len));

	static const struct http_response_limits lim = {.max_head = 1 << 16, .max_headers = 256};
	ssize_t n = http_parse_response(b.data, b.len, &lim, &again);
	require(n == (ssize_t)b.len);
	require(again.version == 11 && again.status == resp.status);
	require(again.reason_len == resp.reason_len &&
		memcmp(again.reason, resp.reason, resp.reason_len) == 0);
	require(!again.cl_ignored);

	const int s = resp.status;
	bool want_cl = s >= 200 && s != 204 && o.content_length && resp.content_length >= 0;
	require(again.content_length == (want_cl ? resp.content_length : -1));
	require(again.te == (s >= 200 && s != 101 && o.chunked));
	require(!again.te || (again.chunked && !again.te_other));
	size_t n_conn = 0, n_upgrade = 0;
	for (size_t i = 0; i < again.n_headers; i++) {
		const struct http_header *h = &again.headers[i];
		if (view_ieq(h->name, h->name_len, "connection")) {
			n_conn++;
			require(s == 101 ? view_ieq(h->value, h->value_len, "upgrade")
					 : view_ieq(h->value, h->value_len, "close"));
		} else if (view_ieq(h->name, h->name_len, "upgrade")) {
			n_upgrade++;
		} else if (view_ieq(h->name, h->name_len, "transfer-encoding")) {
			/* ours: checked against the options above */
			require(view_ieq(h->value, h->value_len, "chunked"));
		} else {
			require(!http_forward_is_hop_by_hop(h->name, h->name_len));
		}
	}
	require(n_conn == (s == 101 || (s >= 200 && o.close) ? 1u : 0u));
	require(s == 101 || n_upgrade == 0);
	buf_free(&b);
}

static void check(const uint8_t *data, size_t size, const struct http_response_limits *lim,
		  uint8_t knobs)
{
	char *buf;
	ssize_t r = parse_copy(data, size, lim, &resp, &buf);

	if (r > 0) {
		check_head(buf, size, lim, (size_t)r);
		check_framing();
		check_forward(knobs);
	} else {
		require(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -EPROTONOSUPPORT);
	}
	free(buf);

	size_t probes[4] = {size / 2, size ? size - 1 : 0, 0, 0};
	size_t n_probes = 2;
	if (r > 0) {
		probes[n_probes++] = (size_t)r - 1;
		probes[n_probes++] = (size_t)r;
	}
	for (size_t i = 0; i < n_probes; i++) {
		if (probes[i] >= size && !(r > 0 && probes[i] == (size_t)r))
			continue;
		ssize_t p = parse_copy(data, probes[i], lim, &again, NULL);
		if (r > 0)
			require(probes[i] >= (size_t)r ? p == r : p == 0);
		else
			require(p == 0 || p == r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_response_limits roomy = {.max_head = 16384, .max_headers = 100};
	uint8_t knobs = size ? data[size - 1] : 0;
	check(data, size, &roomy, knobs);

	struct http_response_limits tight = {
		.max_head = 16 + size % 199,
		.max_headers = size % 5,
	};
	check(data, size, &tight, (uint8_t)(knobs >> 3));
	return 0;
}
