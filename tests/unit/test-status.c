/* Tests for src/http/status.c: reason phrases and HTTP-dates. */
#include <errno.h>

#include "http/status.h"
#include "test.h"

int main(void)
{
	CHECK_STREQ(http_status_reason(200), "OK");
	CHECK_STREQ(http_status_reason(431), "Request Header Fields Too Large");
	CHECK_STREQ(http_status_reason(299), "Unknown");

	char buf[32];
	CHECK_EQ_INT(http_date_format(784111777, buf), 29);
	CHECK_STREQ(buf, "Sun, 06 Nov 1994 08:49:37 GMT");

	time_t t = 0;
	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
	CHECK_EQ_INT(t, 784111777);
	t = 0;
	CHECK_EQ_INT(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
	CHECK_EQ_INT(t, 784111777);
	t = 0;
	CHECK_EQ_INT(http_date_parse("Sun Nov  6 08:49:37 1994", 24, &t), 0);
	CHECK_EQ_INT(t, 784111777);

	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", 29, &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", 29, &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("Sun, 32 Nov 1994 08:49:37 GMT", 29, &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("Sun, 06 Nov 1994 24:49:37 GMT", 29, &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("", 0, &t), -EINVAL);
	CHECK_EQ_INT(http_date_parse("garbage", 7, &t), -EINVAL);

	/* Round trip over a range of times */
	for (time_t x = 0; x < 4000000000LL; x += 86413 * 97) {
		http_date_format(x, buf);
		CHECK_EQ_INT(http_date_parse(buf, 29, &t), 0);
		CHECK_EQ_INT(t, x);
	}
	TEST_MAIN_END();
}
