/* Tests for src/base/buf.c (bounded growth, printf, consume) and base/str.h's formatters. */
#include <errno.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "test.h"

int main(void)
{
	struct buf b;
	buf_init(&b, 10);
	CHECK_EQ_INT(buf_append(&b, "hello", 5), 0);
	CHECK_EQ_INT(buf_append(&b, "world", 5), 0);
	CHECK_EQ_INT(b.len, 10);
	CHECK_EQ_INT(buf_append(&b, "!", 1), -ENOBUFS); /* the maximum holds */
	CHECK_EQ_INT(b.len, 10);
	CHECK(memcmp(b.data, "helloworld", 10) == 0);
	CHECK_EQ_INT(buf_cstr(&b), -ENOBUFS); /* no room for the NUL either */
	buf_consume(&b, 5);
	CHECK_EQ_INT(b.len, 5);
	CHECK(memcmp(b.data, "world", 5) == 0);
	CHECK_EQ_INT(buf_cstr(&b), 0);
	CHECK_STREQ(b.data, "world");
	buf_consume(&b, 100);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(buf_printf(&b, "%d-%s", 42, "ab"), 0);
	CHECK_EQ_INT(b.len, 5);
	CHECK_EQ_INT(buf_printf(&b, "%s", "toolong"), -ENOBUFS);
	CHECK_EQ_INT(b.len, 5);
	/* Overflowing sizes are refused, not wrapped. */
	CHECK_EQ_INT(buf_reserve(&b, SIZE_MAX), -ENOBUFS);
	buf_free(&b);
	buf_free(&b); /* twice is fine */

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 10000; i++)
		CHECK_EQ_INT(buf_append(&b, "0123456789", 10), 0);
	CHECK_EQ_INT(b.len, 100000);
	CHECK(b.cap >= b.len && b.cap <= (1 << 20));
	buf_free(&b);

	/* the formatters the response heads use instead of printf */
	char d[24];
	CHECK_EQ_INT(str_fmt_u64(d, 0), 1);
	CHECK(memcmp(d, "0", 1) == 0);
	CHECK_EQ_INT(str_fmt_u64(d, 404), 3);
	CHECK(memcmp(d, "404", 3) == 0);
	CHECK_EQ_INT(str_fmt_u64(d, UINT64_MAX), 20);
	CHECK(memcmp(d, "18446744073709551615", 20) == 0);
	const unsigned char a1[4] = {0, 0, 0, 0}, a2[4] = {192, 0, 2, 255}, a3[4] = {10, 20, 100, 9};
	CHECK_EQ_INT(str_fmt_ipv4(d, a1), 7);
	CHECK_STREQ(d, "0.0.0.0");
	CHECK_EQ_INT(str_fmt_ipv4(d, a2), 11);
	CHECK_STREQ(d, "192.0.2.255");
	str_fmt_ipv4(d, a3);
	CHECK_STREQ(d, "10.20.100.9");
	TEST_MAIN_END();
}
