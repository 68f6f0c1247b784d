/* Tests for src/http/coding.c: Accept-Encoding (RFC 9110 §12.5.3). */
#include <errno.h>

#include "http/coding.h"
#include "test.h"

static void q(const char *v, int br, int zstd, int gzip)
{
	uint16_t w[HTTP_CODING_N] = {7, 7, 7};
	int r = http_accept_encoding(v, strlen(v), w);
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(w[HTTP_CODING_BR], br);
	CHECK_EQ_INT(w[HTTP_CODING_ZSTD], zstd);
	CHECK_EQ_INT(w[HTTP_CODING_GZIP], gzip);
	if (r || w[0] != br || w[1] != zstd || w[2] != gzip)
		fprintf(stderr, "  value: %s\n", v);
}

static void bad(const char *v, int err)
{
	uint16_t w[HTTP_CODING_N] = {7, 7, 7};
	CHECK_EQ_INT(http_accept_encoding(v, strlen(v), w), err);
	CHECK(w[0] == 7 && w[1] == 7 && w[2] == 7);
}

int main(void)
{
	q("", 0, 0, 0);
	q("gzip", 0, 0, 1000);
	q("gzip, deflate, br, zstd", 1000, 1000, 1000);
	q("br;q=0.5, gzip;q=0.8", 500, 0, 800);
	q("BR ; Q=0.25 ,GZIP", 250, 0, 1000);
	q("*", 1000, 1000, 1000);
	q("*;q=0.1, gzip;q=0", 100, 100, 0);
	q("gzip;q=0, *", 1000, 1000, 0);
	q("x-gzip", 0, 0, 1000);
	q("identity, zstd;q=1.000", 0, 1000, 0);
	q(",,gzip,,", 0, 0, 1000);
	q("br;q=0.001", 1, 0, 0);
	q("br;q=1.", 1000, 0, 0);
	bad("gzip;q=1.5", -EINVAL);
	bad("gzip;q=0.1234", -EINVAL);
	bad("gzip;q=2", -EINVAL);
	bad("gzip;q=", -EINVAL);
	bad("gzip;level=1", -EINVAL);
	bad("gzip br", -EINVAL);
	bad("gz\"ip", -EINVAL);
	bad(";q=1", -EINVAL);
	bad("gzip;q=0.5x", -EINVAL);
	/* a long list: refused past the element bound, in linear time */
	char big[64 * 1024];
	size_t n = 0;
	while (n + 6 < sizeof(big)) {
		memcpy(big + n, "gzip, ", 6);
		n += 6;
	}
	big[n] = '\0';
	bad(big, -E2BIG);
	char ok_list[HTTP_ACCEPT_MAX_ELEMENTS * 4 + 1];
	for (int i = 0; i < HTTP_ACCEPT_MAX_ELEMENTS; i++)
		memcpy(ok_list + 4 * i, "br, ", 4);
	ok_list[sizeof(ok_list) - 1] = '\0';
	q(ok_list, 1000, 0, 0);
	CHECK_EQ_INT(http_coding_lookup("zstd", 4), HTTP_CODING_ZSTD);
	CHECK_EQ_INT(http_coding_lookup("deflate", 7), -1);
	CHECK_STREQ(http_coding_suffix(HTTP_CODING_ZSTD), "zst");
	TEST_MAIN_END();
}
