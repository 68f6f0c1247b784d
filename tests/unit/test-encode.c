/* Tests for src/handler/encode.c: what it compresses decompresses to the input; what would
 * not shrink is refused; a stream, whatever the sizes of its pieces and of the room for its
 * output, decodes to what was given, and after a flush to everything given so far. Built
 * twice: test-encode against the default encode.c (br refused), test-encode-br with
 * FERRY_BROTLI against its `make BROTLI=1` object (br decoded with brotli's decoder). */
#if FERRY_BROTLI
#include <brotli/decode.h>
#endif
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "base/macro.h"
#include "handler/encode.h"
#include "test.h"

/* Everything the encoder has for op, out through a buffer of cap bytes at a time, into out
 * (grown by the bytes written); the input taken. */
static size_t drain(struct encoder *e, const char *in, size_t n, enum encode_op op, size_t cap,
		    unsigned char *out, size_t *out_len, size_t out_max)
{
	size_t taken = 0;
	for (int guard = 0; guard < 1000000; guard++) {
		size_t i = 0, o = 0;
		size_t room = out_max - *out_len < cap ? out_max - *out_len : cap;
		int r = encoder_run(e, in + taken, n - taken, &i, out + *out_len, room, &o, op);
		if (r < 0 || room == 0) {
			CHECK(r >= 0 && room > 0);
			break;
		}
		taken += i;
		*out_len += o;
		if (r == 1)
			break;
		if (o != room) { /* 0 only when the room was filled */
			CHECK(o == room);
			break;
		}
	}
	return taken;
}

/* What a decoder makes of the stream so far (gzip: inflate with a sync flush; zstd and br: the
 * streaming decompressor): its length, the bytes in back. */
static size_t decode_so_far(enum http_coding c, const unsigned char *z, size_t n, char *back,
			    size_t cap)
{
	if (c == HTTP_CODING_GZIP) {
		z_stream s = {0};
		if (inflateInit2(&s, 15 + 16) != Z_OK)
			return 0;
		s.next_in = (unsigned char *)z;
		s.avail_in = (uInt)n;
		s.next_out = (unsigned char *)back;
		s.avail_out = (uInt)cap;
		int r = inflate(&s, Z_SYNC_FLUSH);
		CHECK(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR);
		size_t got = s.total_out;
		inflateEnd(&s);
		return got;
	}
#if FERRY_BROTLI
	if (c == HTTP_CODING_BR) {
		BrotliDecoderState *d = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		size_t ai = n, ao = cap;
		const uint8_t *ni = z;
		uint8_t *no = (uint8_t *)back;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(d, &ai, &ni, &ao, &no, NULL);
		CHECK(r != BROTLI_DECODER_RESULT_ERROR);
		BrotliDecoderDestroyInstance(d);
		return cap - ao;
	}
#endif
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer ib = {z, n, 0};
	ZSTD_outBuffer ob = {back, cap, 0};
	while (ib.pos < ib.size) {
		size_t r = ZSTD_decompressStream(d, &ob, &ib);
		CHECK(!ZSTD_isError(r));
		if (ZSTD_isError(r) || ob.pos == ob.size)
			break;
	}
	ZSTD_freeDStream(d);
	return ob.pos;
}

static void stream_case(enum http_coding c, const char *text, size_t n, size_t piece, size_t cap)
{
	struct encoder *e = encoder_new(c);
	CHECK(e != NULL);
	if (!e)
		return;
	size_t out_max = 2 * n + 65536, out_len = 0, fed = 0, next_flush = n / 4;
	unsigned char *out = malloc(out_max);
	char *back = malloc(n + 1);
	while (fed < n) {
		size_t k = n - fed < piece ? n - fed : piece;
		CHECK_EQ_INT(drain(e, text + fed, k, ENCODE_RUN, cap, out, &out_len, out_max), k);
		fed += k;
		if (fed >= next_flush) {
			next_flush += n / 4;
			/* flushed: a client decodes everything given so far */
			drain(e, NULL, 0, ENCODE_FLUSH, cap, out, &out_len, out_max);
			CHECK_EQ_INT(decode_so_far(c, out, out_len, back, n), fed);
			CHECK(memcmp(back, text, fed) == 0);
		}
	}
	drain(e, NULL, 0, ENCODE_END, cap, out, &out_len, out_max);
	CHECK_EQ_INT(decode_so_far(c, out, out_len, back, n + 1), n);
	CHECK(memcmp(back, text, n) == 0);
	size_t i, o;
	CHECK_EQ_INT(encoder_run(e, text, 1, &i, out, 16, &o, ENCODE_RUN), -EIO); /* ended */
	encoder_free(e);
	free(out);
	free(back);
}

int main(void)
{
	char text[20000];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "ferry encodes text "[i % 19];
	void *out = NULL;
	size_t len = 0;

	CHECK_EQ_INT(encode_body(HTTP_CODING_GZIP, text, sizeof(text), &out, &len), 0);
	CHECK(len > 18 && len < sizeof(text) / 10);
	if (out) {
		unsigned char *o = out;
		CHECK(o[0] == 0x1f && o[1] == 0x8b); /* a gzip member */
		char back[sizeof(text)];
		z_stream z = {0};
		CHECK_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
		z.next_in = out;
		z.avail_in = (uInt)len;
		z.next_out = (unsigned char *)back;
		z.avail_out = sizeof(back);
		CHECK_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
		CHECK_EQ_INT(z.total_out, sizeof(text));
		CHECK(memcmp(back, text, sizeof(text)) == 0);
		inflateEnd(&z);
		free(out);
	}

	out = NULL;
	CHECK_EQ_INT(encode_body(HTTP_CODING_ZSTD, text, sizeof(text), &out, &len), 0);
	if (out) {
		char back[sizeof(text)];
		CHECK_EQ_INT(ZSTD_decompress(back, sizeof(back), out, len), sizeof(text));
		CHECK(memcmp(back, text, sizeof(text)) == 0);
		free(out);
	}

	/* random bytes do not shrink: refused, nothing returned */
	unsigned char noise[4096];
	unsigned s = 12345;
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (unsigned char)((s = s * 1103515245 + 12345) >> 16);
	out = NULL;
	CHECK_EQ_INT(encode_body(HTTP_CODING_GZIP, noise, sizeof(noise), &out, &len), -E2BIG);
	CHECK(out == NULL);
	CHECK_EQ_INT(encode_body(HTTP_CODING_N, text, sizeof(text), &out, &len), -EINVAL);
#if FERRY_BROTLI
	CHECK(encode_supported(HTTP_CODING_BR));
	CHECK(encode_brotli_version() != NULL);
	CHECK_EQ_INT(encode_body(HTTP_CODING_BR, noise, sizeof(noise), &out, &len), -E2BIG);
	CHECK(out == NULL);
	out = NULL;
	CHECK_EQ_INT(encode_body(HTTP_CODING_BR, text, sizeof(text), &out, &len), 0);
	CHECK(len < sizeof(text) / 10);
	if (out) {
		char back[sizeof(text)];
		size_t back_len = sizeof(back);
		CHECK_EQ_INT(BrotliDecoderDecompress(len, out, &back_len, (uint8_t *)back),
			     BROTLI_DECODER_RESULT_SUCCESS);
		CHECK_EQ_INT(back_len, sizeof(text));
		CHECK(memcmp(back, text, sizeof(text)) == 0);
		free(out);
	}
#else
	/* without brotli: refused, never a body, never an encoder */
	CHECK(!encode_supported(HTTP_CODING_BR));
	CHECK(encode_brotli_version() == NULL);
	CHECK_EQ_INT(encode_body(HTTP_CODING_BR, text, sizeof(text), &out, &len), -EINVAL);
	CHECK(out == NULL);
	CHECK(encoder_new(HTTP_CODING_BR) == NULL);
#endif

	/* streams: pieces from 1 byte to all at once, output room from 7 bytes to plenty */
	static char big[300000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)("0123456789 ferry streams text\n"[i % 30] + (i / 4096 % 3));
	enum http_coding cs[] = {HTTP_CODING_GZIP, HTTP_CODING_ZSTD,
#if FERRY_BROTLI
				 HTTP_CODING_BR
#endif
	};
	for (size_t k = 0; k < ARRAY_SIZE(cs); k++) {
		stream_case(cs[k], text, sizeof(text), 1, 7);
		stream_case(cs[k], text, sizeof(text), 1000, 64);
		stream_case(cs[k], big, sizeof(big), 65536, 65536);
		stream_case(cs[k], big, sizeof(big), 100000, 100);
		stream_case(cs[k], big, sizeof(big), sizeof(big), 1 << 20);
	}
	CHECK(encoder_new(HTTP_CODING_N) == NULL);
	encoder_free(NULL);

	CHECK(encode_type_ok("text/html; charset=utf-8"));
	CHECK(encode_type_ok("image/svg+xml"));
	CHECK(encode_type_ok("application/json"));
	CHECK(!encode_type_ok("application/jsonx"));
	CHECK(!encode_type_ok("image/png"));
	CHECK(!encode_type_ok("application/gzip"));
	TEST_MAIN_END();
}
