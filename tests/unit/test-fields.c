/* Tests for src/http/fields.c: the octet classes against RFC 9110's ABNF, list elements, the
 * field-line section (verdicts, need-more at every cut, the field limit), and the framing
 * fields as both parsers read them. The parsers' own tests cover what each makes of them. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/fields.h"
#include "http/parser.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_classes(void)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	for (int c = 0; c < 256; c++) {
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool token = c != 0 && (alnum || strchr(tchar, c));
		bool value = c == '\t' || (c >= ' ' && c <= '~') || c >= 0x80;
		CHECK_EQ_INT(http_fields_is_token((char)c), token);
		CHECK_EQ_INT(http_fields_is_value((char)c), value);
		CHECK_EQ_INT(http_fields_is_ows((char)c), c == ' ' || c == '\t');
	}
}

/* The list elements of (v, n), joined with "|". */
static const char *elements(const char *v, size_t n)
{
	static char out[256];
	const char *e;
	size_t len, pos = 0, o = 0;
	bool first = true;
	out[0] = '\0';
	while (http_fields_list_next(v, n, &pos, &e, &len)) {
		if (!first)
			out[o++] = '|';
		first = false;
		memcpy(out + o, e, len);
		o += len;
		out[o] = '\0';
	}
	return out;
}

static void test_list(void)
{
	CHECK_STREQ(elements(S("")), "");
	CHECK_STREQ(elements(S("a")), "a");
	CHECK_STREQ(elements(S(" a ,\tb\t, c")), "a|b|c");
	CHECK_STREQ(elements(S("a,")), "a|");
	CHECK_STREQ(elements(S(",a")), "|a");
	CHECK_STREQ(elements(S("a,,b")), "a||b");
	CHECK_STREQ(elements(S(" , ")), "|");
	CHECK_STREQ(elements(S("a b, c")), "a b|c");
	/* The view ends where n says, not at a NUL. */
	CHECK_STREQ(elements("a,b", 1), "a");
}

static struct http_header hs[HTTP_MAX_HEADERS_HARD];

static ssize_t parse(const char *s, size_t n, size_t max, size_t *ret_n)
{
	return http_fields_parse(s, 0, n, hs, max, ret_n);
}

static void test_parse(void)
{
	size_t n = 99;
	static const char ok[] = "Host: a\r\nX-Empty:\r\nY:  v  w \t\r\n\r\nBODY";
	ssize_t r = parse(S(ok), 8, &n);
	CHECK_EQ_INT(r, sizeof(ok) - 1 - 4);
	CHECK_EQ_INT(n, 3);
	CHECK(n == 3 && hs[0].name_len == 4 && memcmp(hs[0].name, "Host", 4) == 0);
	CHECK(n == 3 && hs[0].value_len == 1 && hs[0].value[0] == 'a');
	CHECK(n == 3 && hs[1].name_len == 7 && hs[1].value_len == 0);
	CHECK(n == 3 && hs[2].value_len == 4 && memcmp(hs[2].value, "v  w", 4) == 0);

	/* Starting past a start line; an empty section. */
	n = 99;
	CHECK_EQ_INT(http_fields_parse("XX\r\n\r\n", 4, 6, hs, 8, &n), 6);
	CHECK_EQ_INT(n, 0);

	/* Every proper prefix asks for more, and leaves *ret_n alone. */
	for (size_t cut = 0; cut < sizeof(ok) - 1 - 4; cut++) {
		n = 99;
		CHECK_EQ_INT(parse(ok, cut, 8, &n), 0);
		CHECK_EQ_INT(n, 99);
	}

	static const char *const bad[] = {
		"X: a\n\r\n",         /* bare LF */
		"X: a\rb\r\n\r\n",    /* lone CR in a value */
		"X : a\r\n\r\n",      /* whitespace before the colon */
		" X: a\r\n\r\n",      /* obs-fold / leading whitespace */
		"X: a\r\n b\r\n\r\n", /* obs-fold */
		": a\r\n\r\n",        /* empty name */
		"X\r\n\r\n",          /* no colon */
		"X: a\x7f\r\n\r\n",   /* DEL */
		"X: a\x01\r\n\r\n",   /* CTL */
		"X(: a\r\n\r\n",      /* not a token */
		"\r\r\n",             /* CR not followed by LF */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		CHECK_EQ_INT(parse(bad[i], strlen(bad[i]), 8, &n), -EBADMSG);
		CHECK_EQ_INT(n, 99);
	}
	/* NUL in a value (strlen would stop at it). */
	CHECK_EQ_INT(parse(S("X: a\0b\r\n\r\n"), 8, &n), -EBADMSG);
	/* obs-text is a value octet. */
	CHECK_EQ_INT(parse(S("X: \xc3\xa9\r\n\r\n"), 8, &n), 9);

	/* The limit: max lines pass, max + 1 do not, however the section goes on. */
	CHECK_EQ_INT(parse(S("A: 1\r\nB: 2\r\n\r\n"), 2, &n), 14);
	CHECK_EQ_INT(parse(S("A: 1\r\nB: 2\r\nC: 3\r\n\r\n"), 2, &n), -EMSGSIZE);
	CHECK_EQ_INT(parse(S("A: 1\r\nB: 2\r\nC"), 2, &n), 0);
	CHECK_EQ_INT(parse(S("A: 1\r\nB: 2\r\nC:"), 2, &n), -EMSGSIZE);
}

static int framing(const char *const *fields, struct http_fields_framing *ret)
{
	struct http_fields_framing f = HTTP_FIELDS_FRAMING_INIT;
	for (size_t i = 0; fields[i]; i++) {
		const char *colon = strchr(fields[i], ':');
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		int r = http_fields_framing_add(&f, fields[i], (size_t)(colon - fields[i]), v,
						strlen(v));
		if (r < 0)
			return r;
	}
	*ret = f;
	return 0;
}

#define FRAMING(f, ...) framing((const char *const[]){__VA_ARGS__, NULL}, f)

static void test_framing(void)
{
	struct http_fields_framing f;

	CHECK_EQ_INT(FRAMING(&f, "X-Other: close"), 0);
	CHECK_EQ_INT(f.content_length, -1);
	CHECK(!f.has_te && !f.has_upgrade && !f.conn_close && !f.conn_keep_alive);

	/* Content-Length */
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 0"), 0);
	CHECK_EQ_INT(f.content_length, 0);
	CHECK_EQ_INT(FRAMING(&f, "content-length: 42", "CONTENT-LENGTH: 42, 42"), 0);
	CHECK_EQ_INT(f.content_length, 42);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 9223372036854775807"), 0);
	CHECK_EQ_INT(f.content_length, INT64_MAX);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 9223372036854775808"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 05"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: "), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 5,"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 5, 6"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 5", "Content-Length: 6"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: +5"), -EBADMSG);
	CHECK_EQ_INT(FRAMING(&f, "Content-Length: 5 5"), -EBADMSG);

	/* Transfer-Encoding: recorded, never refused here. */
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: chunked"), 0);
	CHECK(f.has_te && f.last_chunked && f.n_chunked == 1 && !f.te_other && !f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: gzip", "transfer-encoding: CHUNKED"), 0);
	CHECK(f.has_te && f.last_chunked && f.n_chunked == 1 && f.te_other && !f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: chunked, gzip;level=1"), 0);
	CHECK(!f.last_chunked && f.n_chunked == 1 && f.te_other && !f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: chunked, chunked"), 0);
	CHECK(f.n_chunked == 2 && !f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: chunked;a=b"), 0);
	CHECK(f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: gzip x"), 0);
	CHECK(f.te_bad);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: , chunked"), 0);
	CHECK(f.te_bad && f.last_chunked);
	CHECK_EQ_INT(FRAMING(&f, "Transfer-Encoding: "), 0);
	CHECK(f.has_te && f.te_bad);

	/* Connection and Upgrade */
	CHECK_EQ_INT(FRAMING(&f, "Connection: Keep-Alive, x, Upgrade", "Upgrade: websocket"), 0);
	CHECK(!f.conn_close && f.conn_keep_alive && f.conn_upgrade && f.has_upgrade);
	CHECK_EQ_INT(FRAMING(&f, "connection: close"), 0);
	CHECK(f.conn_close && !f.conn_keep_alive && !f.conn_upgrade && !f.has_upgrade);
	CHECK_EQ_INT(FRAMING(&f, "Connection: closed, keep"), 0);
	CHECK(!f.conn_close && !f.conn_keep_alive);
	/* Names are matched whole: a longer or shorter name is another field. */
	CHECK_EQ_INT(FRAMING(&f, "Content-Lengths: x", "Upgrades: x", "Connectio: close"), 0);
	CHECK(f.content_length == -1 && !f.has_upgrade && !f.conn_close);
}

int main(void)
{
	test_classes();
	test_list();
	test_parse();
	test_framing();
	TEST_MAIN_END();
}
