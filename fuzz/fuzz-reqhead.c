/* libFuzzer target for http/reqhead.c: the request HTTP/2 and HTTP/3 build from the fields
 * their decoders hand over. The first byte chooses: bit 0, the head ends the stream; bit 1,
 * version 30 (else 20); bits 2-7, how many bytes below its size the head's max is (0: room
 * enough, else the joined cookie field may not fit: 431). The rest is one field a line,
 * "name: value": the first ": " after the name's first byte splits them; without one, the
 * line is a name with an empty value. Checked: the answer is one of the documented ones; on
 * 0, every view lies in the head, there is a method and a target, at most one cookie field
 * where several came, and chunked means "no length and more to come". Any broken invariant
 * aborts. Built with clang -fsanitize=fuzzer, and with gcc against fuzz/replay.c. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/macro.h"
#include "base/str.h"
#include "http/parser.h"
#include "http/reqhead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static bool inside(const struct buf *b, const char *p, size_t n)
{
	return p >= b->data && p + n <= b->data + b->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	struct buf head;
	size_t n_cookies = 0;

	if (size == 0)
		return 0;
	bool end_stream = data[0] & 1;
	int version = data[0] & 2 ? 30 : 20;
	size_t short_by = data[0] >> 2;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;

	buf_init(&head, SIZE_MAX / 2);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *sep = NULL;
		for (const char *q = p + 1; q + 1 < eol; q++)
			if (q[0] == ':' && q[1] == ' ') {
				sep = q;
				break;
			}
		const char *name = p, *value = sep ? sep + 2 : eol;
		size_t nl = (size_t)((sep ? sep : eol) - p), vl = (size_t)(eol - value);
		require(http_rec_put(&head, name, nl, value, vl, false) == 0);
		if (str_eq(name, nl, "cookie"))
			n_cookies++;
		p = eol + 1;
	}
	/* The head's max: what it holds, plus room for the joined cookie field, less short_by
	 * (never less than what it holds). */
	size_t spare = sizeof(struct http_rec) + 6 + head.len + 2 * n_cookies;
	head.max = head.len + spare - MIN(short_by, spare);
	size_t before = head.len;

	int r = http_reqhead_build(&head, &req, version, end_stream);
	require(r == 0 || r == -1 || r == 400 || r == 417 || r == 431);
	require(req.version == version);
	require(head.len >= before && head.len <= head.max);
	if (r == 0) {
		size_t cookies = 0;
		require(req.method && inside(&head, req.method, req.method_len));
		require(req.target && inside(&head, req.target, req.target_len));
		require(!req.host || inside(&head, req.host, req.host_len));
		require(req.n_headers <= HTTP_MAX_HEADERS_HARD);
		for (size_t i = 0; i < req.n_headers; i++) {
			const struct http_header *h = &req.headers[i];
			require(inside(&head, h->name, h->name_len));
			require(inside(&head, h->value, h->value_len));
			require(h->name_len == 0 || h->name[0] != ':');
			if (str_eq(h->name, h->name_len, "cookie"))
				cookies++;
		}
		require(cookies == (n_cookies > 1 ? 1 : n_cookies));
		require(req.content_length >= -1);
		require(req.chunked == (!end_stream && req.content_length < 0));
		require(req.keep_alive && !req.upgrade);
	}
	buf_free(&head);
	return 0;
}
