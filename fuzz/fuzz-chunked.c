/* libFuzzer target for the chunked decoder. The first byte picks how the rest is cut into
 * pieces (0: byte by byte; otherwise pseudo-random pieces of 1..byte bytes); the pieces are
 * fed in turn, each in an exact-size allocation, and must decode exactly as the whole input
 * fed at once does: same verdict, same bytes, same number consumed. Per call: consumed <= the
 * piece, decoded <= consumed, stopping early only at the end of the body, bytes after the end
 * untouched, nothing consumed once done, errors sticky. Any broken invariant aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	ssize_t err;
	bool done;
	size_t consumed;
	size_t out_len;
	char *out;
};

static void require(bool ok)
{
	if (!ok)
		abort();
}

/* Feed in[0 .. n) in pieces whose sizes come from next_piece(); collect the outcome. */
static void run(const uint8_t *in, size_t n, uint8_t mode, uint32_t seed, struct outcome *o)
{
	struct http_chunked c;
	size_t pos = 0;

	memset(o, 0, sizeof(*o));
	o->out = malloc(n ? n : 1);
	require(o->out != NULL);
	http_chunked_init(&c);
	while (pos < n) {
		size_t len = n - pos;
		if (mode == 0) {
			len = 1;
		} else if (mode != 0xff) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % mode;
			if (want < len)
				len = want;
		}
		char *piece = malloc(len);
		require(piece != NULL);
		memcpy(piece, in + pos, len);
		size_t dlen = (size_t)-1;
		ssize_t r = http_chunked_decode(&c, piece, len, &dlen);
		if (r < 0) {
			require(r == -400);
			require(!http_chunked_done(&c));
			/* Sticky. */
			require(http_chunked_decode(&c, piece, len, &dlen) == r);
			o->err = r;
			free(piece);
			break;
		}
		require((size_t)r <= len);
		require(dlen <= (size_t)r);
		require((size_t)r == len || http_chunked_done(&c));
		require(memcmp(piece + r, in + pos + r, len - (size_t)r) == 0);
		memcpy(o->out + o->out_len, piece, dlen);
		o->out_len += dlen;
		o->consumed += (size_t)r;
		pos += (size_t)r;
		if (http_chunked_done(&c)) {
			size_t d2 = (size_t)-1;
			require(http_chunked_decode(&c, piece, len, &d2) == 0 && d2 == 0);
			require(http_chunked_done(&c));
			o->done = true;
			free(piece);
			break;
		}
		free(piece);
	}
	require(o->out_len <= o->consumed);
	/* Every chunk costs at least "1\r\n" and "\r\n" around its data, and the end "0\r\n\r\n". */
	require(!o->done || o->consumed >= o->out_len + 5);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct outcome whole, split;
	run(data + 1, size - 1, 0xff, 0, &whole);
	run(data + 1, size - 1, data[0] == 0xff ? 0 : data[0], (uint32_t)size, &split);
	if (whole.err || split.err) {
		require(whole.err == split.err);
	} else {
		require(whole.done == split.done);
		require(whole.consumed == split.consumed);
		require(whole.out_len == split.out_len);
		require(memcmp(whole.out, split.out, whole.out_len) == 0);
	}
	free(whole.out);
	free(split.out);
	return 0;
}
