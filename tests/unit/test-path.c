/* Tests for src/http/path.c: percent-decoding and dot-segment removal. */
#include <errno.h>

#include "http/path.h"
#include "test.h"

static void ok(const char *in, const char *want)
{
	char out[HTTP_PATH_MAX];
	int r = http_path_normalize(in, strlen(in), out, sizeof(out));
	CHECK_EQ_INT(r, (int)strlen(want));
	if (r >= 0)
		CHECK_STREQ(out, want);
	else
		fprintf(stderr, "  input: %s\n", in);
}

static void bad(const char *in, int err)
{
	char out[HTTP_PATH_MAX];
	int r = http_path_normalize(in, strlen(in), out, sizeof(out));
	CHECK_EQ_INT(r, err);
	if (r != err)
		fprintf(stderr, "  input: %s\n", in);
}

static void enc(const char *in, const char *want)
{
	char out[64];
	int n = http_path_encode(in, strlen(in), out, sizeof(out));
	CHECK(n >= 0);
	if (n >= 0)
		CHECK_STREQ(out, want);
}

int main(void)
{
	enc("/a/b", "/a/b");
	enc("/sp ace/%/?#", "/sp%20ace/%25/%3F%23");
	enc("/caf\xc3\xa9", "/caf%C3%A9");
	enc("/!$&'()*+,;=:@-._~", "/!$&'()*+,;=:@-._~");
	enc("/\x01\x7f\"<>\\", "/%01%7F%22%3C%3E%5C");
	{
		char small[4];
		CHECK_EQ_INT(http_path_encode("/a b", 4, small, sizeof(small)), -ENAMETOOLONG);
		CHECK_EQ_INT(http_path_encode("abc", 3, small, sizeof(small)), 3);
		CHECK_EQ_INT(http_path_encode("abcd", 4, small, sizeof(small)), -ENAMETOOLONG);
	}
	ok("/", "/");
	ok("/index.html", "/index.html");
	ok("/a/b/", "/a/b/");
	ok("/a//b", "/a/b");
	ok("//a///b//", "/a/b/");
	ok("/a/./b", "/a/b");
	ok("/a/.", "/a/");
	ok("/a/./", "/a/");
	ok("/a/b/..", "/a/");
	ok("/a/b/../", "/a/");
	ok("/a/b/../c", "/a/c");
	ok("/a/../b/../c", "/c");
	ok("/a/..", "/");
	ok("/.", "/");
	ok("/./", "/");
	ok("/a?x=1", "/a");
	ok("/a/?x=/../../", "/a/");
	ok("/a#frag", "/a");
	ok("/%61%62c", "/abc");
	ok("/a%2Fb", "/a/b");
	ok("/a/%2e/b", "/a/b");
	ok("/a/b/%2e%2e/c", "/a/c");
	ok("/a%20b", "/a b");
	ok("/...", "/...");
	ok("/..a", "/..a");
	ok("/a..", "/a..");
	ok("http://example.com/a/b", "/a/b");
	ok("http://example.com", "/");
	ok("http://example.com?q", "/");
	ok("https://example.com:8443/x/../y", "/y");

	bad("/..", -EINVAL);
	bad("/../", -EINVAL);
	bad("/../etc/passwd", -EINVAL);
	bad("/a/../../etc", -EINVAL);
	bad("/%2e%2e/etc", -EINVAL);
	bad("/%2E%2E%2Fetc", -EINVAL);
	bad("/a/%2e%2e%2f%2e%2e%2fetc", -EINVAL);
	bad("//..", -EINVAL);
	bad("/a%00b", -EINVAL);
	bad("/a%", -EINVAL);
	bad("/a%4", -EINVAL);
	bad("/a%zz", -EINVAL);
	bad("a/b", -EINVAL);
	bad("", -EINVAL);
	bad("*", -EINVAL);
	bad("http:/x", -EINVAL);
	bad("http://example.com/../x", -EINVAL);

	/* A raw NUL inside the view */
	{
		char out[64];
		CHECK_EQ_INT(http_path_normalize("/a\0b", 4, out, sizeof(out)), -EINVAL);
	}
	/* Too long */
	{
		char out[8];
		CHECK_EQ_INT(http_path_normalize("/abcdefghij", 11, out, sizeof(out)), -ENAMETOOLONG);
		CHECK_EQ_INT(http_path_normalize("/abcdef", 7, out, sizeof(out)), 7);
	}
	TEST_MAIN_END();
}
