/* Tests for src/base/json.c: JSON string escaping of client bytes. */
#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "test.h"

static const char *esc(struct buf *b, const char *in, size_t n)
{
	buf_reset(b);
	CHECK_EQ_INT(json_escape(b, in, n), 0);
	CHECK_EQ_INT(buf_cstr(b), 0);
	return b->data;
}

#define ESC(b, lit) esc((b), (lit), sizeof(lit) - 1)

int main(void)
{
	struct buf b;
	buf_init(&b, 4096);
	CHECK_STREQ(ESC(&b, ""), "");
	CHECK_STREQ(ESC(&b, "/plain/path?a=1"), "/plain/path?a=1");
	CHECK_STREQ(ESC(&b, "a\"b\\c"), "a\\\"b\\\\c");
	CHECK_STREQ(ESC(&b, "\n\r\t"), "\\n\\r\\t");
	CHECK_STREQ(ESC(&b, "\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
	CHECK_STREQ(ESC(&b, "nul\0x"), "nul\\u0000x");
	/* valid UTF-8 as it is: 2, 3 and 4 bytes */
	CHECK_STREQ(ESC(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* invalid: a lone continuation, 0xff, an overlong '/', a surrogate, past U+10FFFF, a
	 * sequence cut short: one U+FFFD per byte */
	CHECK_STREQ(ESC(&b, "\x80"), "\xef\xbf\xbd");
	CHECK_STREQ(ESC(&b, "a\xff"
			    "b"),
		    "a\xef\xbf\xbd"
		    "b");
	CHECK_STREQ(ESC(&b, "\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STREQ(ESC(&b, "\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STREQ(ESC(&b, "\xf4\x90\x80\x80"),
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STREQ(ESC(&b, "\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STREQ(ESC(&b, "\xe2\x82\""), "\xef\xbf\xbd\xef\xbf\xbd\\\"");
	CHECK_EQ_INT(json_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	CHECK_EQ_INT(json_utf8_len((const unsigned char *)"\xf0\x9f\x98", 3), 0);
	buf_free(&b);

	/* a full buffer: an error, never more than the maximum */
	buf_init(&b, 8);
	CHECK(json_escape(&b, "\"\"\"\"\"", 5) < 0);
	CHECK(b.len <= 8);
	buf_free(&b);
	TEST_MAIN_END();
}
