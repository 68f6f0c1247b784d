/* Tests for src/config/prefixmap.c: the longest prefix wins, byte prefixes (not segments),
 * nesting, duplicates, and many prefixes against a linear scan. */
#include <stdio.h>

#include "config/prefixmap.h"
#include "test.h"

static struct prefixmap *build(const char *const *keys, size_t n)
{
	struct prefixmap *m = prefixmap_new(n);
	for (size_t i = 0; i < n; i++)
		prefixmap_add(m, keys[i], strlen(keys[i]), (uint32_t)i);
	prefixmap_seal(m);
	return m;
}

static uint32_t find(const struct prefixmap *m, const char *s)
{
	return prefixmap_find(m, s, strlen(s));
}

static void test_basic(void)
{
	static const char *const keys[] = {"/static/", "/static/api/", "/api/", "/api/docs/",
					   "/plain/", "/a", "/ab", "/abc/", "/static/"};
	struct prefixmap *m = build(keys, sizeof(keys) / sizeof(keys[0]));
	CHECK(find(m, "/") == PREFIXMAP_NONE);
	CHECK(find(m, "/static") == PREFIXMAP_NONE);
	CHECK_EQ_INT(find(m, "/static/"), 0); /* the first of two equal prefixes */
	CHECK_EQ_INT(find(m, "/static/a.css"), 0);
	CHECK_EQ_INT(find(m, "/static/api/x"), 1);
	CHECK_EQ_INT(find(m, "/static/apix"), 0);
	CHECK_EQ_INT(find(m, "/api/x"), 2);
	CHECK_EQ_INT(find(m, "/api/docs/i"), 3);
	CHECK_EQ_INT(find(m, "/api/docsx"), 2);
	CHECK_EQ_INT(find(m, "/plain/x"), 4);
	CHECK_EQ_INT(find(m, "/a"), 5);
	CHECK_EQ_INT(find(m, "/az"), 5);
	CHECK_EQ_INT(find(m, "/ab"), 6);
	CHECK_EQ_INT(find(m, "/abc"), 6);
	CHECK_EQ_INT(find(m, "/abc/d"), 7);
	CHECK_EQ_INT(find(m, "/abd"), 6);
	CHECK(find(m, "/b") == PREFIXMAP_NONE);
	CHECK(find(m, "") == PREFIXMAP_NONE);
	CHECK_EQ_INT(prefixmap_find(m, "/api/docs/", 9), 2); /* the length given counts */
	prefixmap_free(m);

	static const char *const root[] = {"/", "/x/"};
	m = build(root, 2);
	CHECK_EQ_INT(find(m, "/"), 0);
	CHECK_EQ_INT(find(m, "/y"), 0);
	CHECK_EQ_INT(find(m, "/x/y"), 1);
	CHECK(find(m, "") == PREFIXMAP_NONE);
	prefixmap_free(m);

	m = build(NULL, 0);
	CHECK(find(m, "/x") == PREFIXMAP_NONE);
	prefixmap_free(m);
	prefixmap_free(NULL);
	CHECK(prefixmap_find(NULL, "/", 1) == PREFIXMAP_NONE);
}

/* Deep nesting and siblings around it: the climb to the right ancestor. */
static void test_nested(void)
{
	enum { N = 4000 };
	static char keys[N][200];
	static const char *ptrs[N];
	size_t n = 0;
	char p[160] = "/";
	for (int d = 0; d < 20; d++) {
		size_t l = strlen(p);
		snprintf(p + l, sizeof(p) - l, "d%d/", d);
		snprintf(keys[n], sizeof(keys[n]), "%s", p);
		n++;
		for (int s = 0; s < 50 && n < N; s++) {
			snprintf(keys[n], sizeof(keys[n]), "%ss%d/", p, s);
			n++;
		}
	}
	for (size_t i = 0; i < n; i++)
		ptrs[i] = keys[i];
	struct prefixmap *m = build(ptrs, n);
	unsigned bad = 0;
	char q[240];
	for (size_t i = 0; i < n; i++) {
		static const char *const tails[] = {"", "x", "s", "s9", "s9/", "zzz/a", "d", "~"};
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			size_t kl = strlen(keys[i]);
			memcpy(q, keys[i], kl);
			memcpy(q + kl, tails[t], strlen(tails[t]) + 1);
			uint32_t want = PREFIXMAP_NONE;
			for (size_t j = 0; j < n; j++)
				if (strncmp(keys[j], q, strlen(keys[j])) == 0 &&
				    (want == PREFIXMAP_NONE || strlen(keys[j]) > strlen(keys[want])))
					want = (uint32_t)j;
			if (find(m, q) != want)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	prefixmap_free(m);
}

int main(void)
{
	test_basic();
	test_nested();
	TEST_MAIN_END();
}
