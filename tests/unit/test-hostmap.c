/* Tests for src/config/hostmap.c: the matching order (exact, longest wildcard, "*"), the edges
 * of a wildcard (a byte before its suffix, whole labels), case, growth past the size given, and
 * many names against a linear scan. */
#include <errno.h>
#include <stdio.h>

#include "config/hostmap.h"
#include "test.h"

static uint32_t find(const struct hostmap *m, const char *host)
{
	return hostmap_find(m, host, strlen(host));
}

static void test_order(void)
{
	struct hostmap *m = hostmap_new(0);
	CHECK(find(m, "example.com") == HOSTMAP_NONE);
	CHECK_EQ_INT(hostmap_add(m, "*.example.com", 1, NULL), 0);
	CHECK_EQ_INT(hostmap_add(m, "example.com", 2, NULL), 0);
	CHECK_EQ_INT(hostmap_add(m, "*.a.example.com", 3, NULL), 0);
	CHECK_EQ_INT(hostmap_add(m, "www.a.example.com", 4, NULL), 0);
	CHECK(find(m, "nothing.test") == HOSTMAP_NONE);
	CHECK_EQ_INT(hostmap_add(m, "*", 5, NULL), 0);
	uint32_t other = 0;
	CHECK_EQ_INT(hostmap_add(m, "*", 6, &other), -EEXIST); /* the first stays */
	CHECK_EQ_INT(other, 5);
	CHECK_EQ_INT(hostmap_add(m, "example.com", 7, &other), -EEXIST);
	CHECK_EQ_INT(other, 2);
	CHECK_EQ_INT(hostmap_add(m, "*.a.example.com", 7, NULL), -EEXIST);

	CHECK_EQ_INT(find(m, "example.com"), 2);
	CHECK_EQ_INT(find(m, "EXAMPLE.Com"), 2);
	CHECK_EQ_INT(find(m, "x.example.com"), 1);
	CHECK_EQ_INT(find(m, "x.y.example.com"), 1);
	CHECK_EQ_INT(find(m, "a.example.com"), 1);	   /* "*.a.example.com" needs a byte more */
	CHECK_EQ_INT(find(m, "x.a.example.com"), 3);	   /* the longer wildcard wins */
	CHECK_EQ_INT(find(m, "www.a.example.com"), 4); /* the exact name beats both */
	CHECK_EQ_INT(find(m, ".example.com"), 5);	   /* nothing before the suffix */
	CHECK_EQ_INT(find(m, "xexample.com"), 5);	   /* a whole label only */
	CHECK_EQ_INT(find(m, "example.com.evil"), 5);
	CHECK_EQ_INT(find(m, ""), 5);
	CHECK_EQ_INT(hostmap_find(m, NULL, 3), 5);
	CHECK_EQ_INT(hostmap_find(m, "example.comX", 11), 2); /* the length given counts */

	CHECK_EQ_INT(hostmap_add(m, "", 1, NULL), -EINVAL);
	CHECK_EQ_INT(hostmap_add(m, ".x", 1, NULL), -EINVAL);
	CHECK_EQ_INT(hostmap_add(m, "x", HOSTMAP_NONE, NULL), -EINVAL);
	char long_name[HOSTMAP_MAX_NAME + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_EQ_INT(hostmap_add(m, long_name, 1, NULL), -ENAMETOOLONG);
	long_name[HOSTMAP_MAX_NAME] = '\0';
	CHECK_EQ_INT(hostmap_add(m, long_name, 8, NULL), 0);
	CHECK_EQ_INT(find(m, long_name), 8);
	hostmap_free(m);
	hostmap_free(NULL);
	CHECK(hostmap_find(NULL, "x", 1) == HOSTMAP_NONE);
}

/* A host longer than any name, with many labels: only the suffixes a wildcard could cover are
 * tried, and the answer stays right. */
static void test_long_hosts(void)
{
	struct hostmap *m = hostmap_new(4);
	hostmap_add(m, "*.b.c", 1, NULL);
	hostmap_add(m, "a.b.c", 2, NULL);
	char host[8192];
	size_t n = 0;
	while (n + 2 < sizeof(host) - 8) {
		host[n++] = 'x';
		host[n++] = '.';
	}
	memcpy(host + n, "a.b.c", 5);
	n += 5;
	CHECK_EQ_INT(hostmap_find(m, host, n), 1);
	CHECK(hostmap_find(m, host, n - 1) == HOSTMAP_NONE);
	memset(host, '.', sizeof(host));
	CHECK(hostmap_find(m, host, sizeof(host)) == HOSTMAP_NONE);
	hostmap_free(m);
}

/* The scan hostmap replaced (config.c before it). */
static uint32_t linear(char names[][32], size_t n, const char *host)
{
	size_t len = strlen(host), wild_len = 0;
	uint32_t wild = HOSTMAP_NONE, fallback = HOSTMAP_NONE;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		if (name[0] != '*') {
			if (len > 0 && strcmp(host, name) == 0)
				return (uint32_t)i;
		} else if (name[1] == '\0') {
			if (fallback == HOSTMAP_NONE)
				fallback = (uint32_t)i;
		} else {
			size_t k = strlen(name + 1);
			if (len > k && k > wild_len && strcmp(host + len - k, name + 1) == 0) {
				wild = (uint32_t)i;
				wild_len = k;
			}
		}
	}
	return wild != HOSTMAP_NONE ? wild : fallback;
}

static void test_many(void)
{
	enum { N = 30000 };
	static char names[N][32];
	struct hostmap *m = hostmap_new(10); /* grows */
	unsigned bad = 0;
	for (size_t i = 0; i < N; i++) {
		switch (i % 3) {
		case 0:
			snprintf(names[i], sizeof(names[i]), "s%zu.example.com", i);
			break;
		case 1:
			snprintf(names[i], sizeof(names[i]), "*.w%zu.example.org", i);
			break;
		default:
			snprintf(names[i], sizeof(names[i]), "*.%zu.w%zu.example.org", i, i - 1);
			break;
		}
		if (hostmap_add(m, names[i], (uint32_t)i, NULL) < 0)
			bad++;
	}
	char host[64];
	for (size_t i = 0; i < N; i += 97) {
		for (int f = 0; f < 6; f++) {
			switch (f) {
			case 0:
				snprintf(host, sizeof(host), "s%zu.example.com", i);
				break;
			case 1:
				snprintf(host, sizeof(host), "x.w%zu.example.org", i);
				break;
			case 2:
				snprintf(host, sizeof(host), "x.%zu.w%zu.example.org", i, i - 1);
				break;
			case 3:
				snprintf(host, sizeof(host), "w%zu.example.org", i);
				break;
			case 4:
				snprintf(host, sizeof(host), "s%zu.example.comm", i);
				break;
			default:
				snprintf(host, sizeof(host), "%zu.w%zu.example.org", i, i - 1);
				break;
			}
			if (find(m, host) != linear(names, N, host))
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(find(m, "s0.example.com"), 0);
	CHECK_EQ_INT(find(m, "s29997.example.com"), 29997);
	CHECK_EQ_INT(find(m, "a.w29998.example.org"), 29998);
	CHECK_EQ_INT(find(m, "a.29999.w29998.example.org"), 29999);
	CHECK(find(m, "example.org") == HOSTMAP_NONE);
	hostmap_add(m, "*", 99, NULL);
	CHECK_EQ_INT(find(m, "example.org"), 99);
	hostmap_free(m);
}

int main(void)
{
	test_order();
	test_long_hosts();
	test_many();
	TEST_MAIN_END();
}
