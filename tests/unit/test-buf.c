/* Tests for src/base/buf.c: bounded growth, printf, consume. */
#include <errno.h>
#include <stdint.h>

#include "base/buf.h"
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
	TEST_MAIN_END();
}
