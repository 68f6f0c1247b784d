/* Tests for src/handler/encode.c: what it compresses decompresses to the input; what would
 * not shrink is refused. */
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "handler/encode.h"
#include "test.h"

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
	CHECK_EQ_INT(encode_body(HTTP_CODING_BR, text, sizeof(text), &out, &len), -EINVAL);

	CHECK(encode_type_ok("text/html; charset=utf-8"));
	CHECK(encode_type_ok("image/svg+xml"));
	CHECK(encode_type_ok("application/json"));
	CHECK(!encode_type_ok("application/jsonx"));
	CHECK(!encode_type_ok("image/png"));
	CHECK(!encode_type_ok("application/gzip"));
	TEST_MAIN_END();
}
