/* Tests for src/http/tmpl.c: placeholder templates, checked and expanded. */
#include <errno.h>

#include "http/tmpl.h"
#include "test.h"

#define ALL (HTTP_TMPL_BIT(HTTP_TMPL_HOST) | HTTP_TMPL_BIT(HTTP_TMPL_PATH) | \
	     HTTP_TMPL_BIT(HTTP_TMPL_SCHEME) | HTTP_TMPL_BIT(HTTP_TMPL_QUERY))

static void ok(const char *t, unsigned allowed, int used)
{
	size_t off = 99, len = 99;
	CHECK_EQ_INT(http_tmpl_check(t, strlen(t), allowed, &off, &len), used);
}

static void bad(const char *t, unsigned allowed, size_t want_off, size_t want_len)
{
	size_t off = 99, len = 99;
	CHECK_EQ_INT(http_tmpl_check(t, strlen(t), allowed, &off, &len), -EINVAL);
	CHECK_EQ_INT(off, want_off);
	CHECK_EQ_INT(len, want_len);
}

static void expand(const char *t, const char *want, size_t size)
{
	struct http_tmpl_vars v = {
		.v = {"h.example", "/a/b", "https", "?x=1"},
		.len = {9, 4, 5, 4},
	};
	char out[256];
	ssize_t n = http_tmpl_expand(t, strlen(t), &v, out, size);
	if (!want) {
		CHECK_EQ_INT(n, -ENOBUFS);
		return;
	}
	CHECK_EQ_INT(n, (ssize_t)strlen(want));
	if (n >= 0)
		CHECK_STREQ(out, want);
}

int main(void)
{
	ok("", ALL, 0);
	ok("plain}text", ALL, 0);
	ok("{host}", ALL, HTTP_TMPL_BIT(HTTP_TMPL_HOST));
	ok("{scheme}://{host}{path}{query}", ALL, ALL);
	ok("{path}.html", HTTP_TMPL_BIT(HTTP_TMPL_PATH), HTTP_TMPL_BIT(HTTP_TMPL_PATH));
	bad("x{hots}", ALL, 1, 6);
	bad("{query}", HTTP_TMPL_BIT(HTTP_TMPL_HOST), 0, 7);
	bad("a{host", ALL, 1, 5);
	bad("{ho{st}", ALL, 0, 3);
	bad("{}", ALL, 0, 2);
	bad("{Host}", ALL, 0, 6);

	expand("{scheme}://{host}{path}{query}", "https://h.example/a/b?x=1", 256);
	expand("{path}.html", "/a/b.html", 256);
	expand("no placeholder", "no placeholder", 256);
	expand("{path}", "/a/b", 5);
	expand("{path}", NULL, 4);
	expand("abc", NULL, 3);
	expand("", "", 1);
	TEST_MAIN_END();
}
