/* libFuzzer target for the request matchers (config/hostmap.c, config/prefixmap.c): builds
 * both from the input and checks every lookup against the linear scans they replaced, whose
 * answers define the matching order (ferry.conf(5), SITE MATCHING). Builds with gcc for
 * fuzz/replay.c.
 *
 * Input: lines. "h NAME" adds a site name (lower-cased; "*", "*.SUFFIX" or an exact name),
 * "p PREFIX" a path prefix; every line, those too, is then looked up as a host and as a path. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "config/hostmap.h"
#include "config/prefixmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ITEMS 256

struct item {
	char *s;
	size_t len;
};

/* config.c's config_match_site before hostmap: every name, in order. */
static uint32_t ref_host(const struct item *names, size_t n, const char *host, size_t len)
{
	uint32_t wild = HOSTMAP_NONE, fallback = HOSTMAP_NONE;
	size_t wild_len = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i].s;
		if (name[0] != '*') {
			if (len > 0 && str_ieq(host, len, name))
				return (uint32_t)i;
			continue;
		}
		if (name[1] == '\0') {
			if (fallback == HOSTMAP_NONE)
				fallback = (uint32_t)i;
			continue;
		}
		size_t k = strlen(name + 1);
		if (len > k && k > wild_len && str_ieq(host + len - k, k, name + 1)) {
			wild = (uint32_t)i;
			wild_len = k;
		}
	}
	return wild != HOSTMAP_NONE ? wild : fallback;
}

/* config.c's config_match_path before prefixmap. */
static uint32_t ref_path(const struct item *prefixes, size_t n, const char *path, size_t len)
{
	uint32_t best = PREFIXMAP_NONE;
	for (size_t i = 0; i < n; i++)
		if (prefixes[i].len <= len && memcmp(prefixes[i].s, path, prefixes[i].len) == 0 &&
		    (best == PREFIXMAP_NONE || prefixes[i].len > prefixes[best].len))
			best = (uint32_t)i;
	return best;
}

/* The shapes config.c lets through: "*", "*.X", or an exact name that starts with neither
 * '*' nor '.'; no NUL (they are C strings). */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > HOSTMAP_MAX_NAME || memchr(s, '\0', n))
		return false;
	if (s[0] == '*')
		return n == 1 || s[1] == '.';
	return s[0] != '.';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct item names[MAX_ITEMS], prefixes[MAX_ITEMS];
	size_t n_names = 0, n_prefixes = 0;
	const char *text = (const char *)data, *end = text + size;

	for (const char *l = text; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t n = nl ? (size_t)(nl - l) : (size_t)(end - l);
		if (n >= 2 && l[0] == 'h' && l[1] == ' ' && n_names < MAX_ITEMS &&
		    name_ok(l + 2, n - 2)) {
			char *s = malloc(n - 1);
			for (size_t i = 0; i < n - 2; i++)
				s[i] = ascii_lower(l[2 + i]);
			s[n - 2] = '\0';
			names[n_names++] = (struct item){s, n - 2};
		} else if (n >= 2 && l[0] == 'p' && l[1] == ' ' && n_prefixes < MAX_ITEMS) {
			char *s = malloc(n - 1);
			memcpy(s, l + 2, n - 2);
			s[n - 2] = '\0';
			prefixes[n_prefixes++] = (struct item){s, n - 2};
		}
		l += n + 1;
	}

	struct hostmap *hm = hostmap_new(n_names / 2); /* small, so that it has to grow */
	for (size_t i = 0; i < n_names; i++) {
		/* A name again: the first stays, and says which it is. */
		uint32_t other = HOSTMAP_NONE;
		int r = hostmap_add(hm, names[i].s, (uint32_t)i, &other);
		if (r < 0 && (r != -EEXIST || other >= i || strcmp(names[other].s, names[i].s)))
			abort();
	}
	struct prefixmap *pm = prefixmap_new(n_prefixes);
	for (size_t i = 0; i < n_prefixes; i++)
		prefixmap_add(pm, prefixes[i].s, prefixes[i].len, (uint32_t)i);
	prefixmap_seal(pm);

	for (const char *l = text; l <= end;) {
		const char *nl = l < end ? memchr(l, '\n', (size_t)(end - l)) : NULL;
		size_t n = nl ? (size_t)(nl - l) : (size_t)(end - l);
		/* An exact-size copy, so that a read past the end shows under ASan. */
		char *q = malloc(n ? n : 1);
		memcpy(q, l, n);
		for (size_t off = 0; off <= 2 && off <= n; off += 2) {
			if (hostmap_find(hm, q + off, n - off) != ref_host(names, n_names, q + off, n - off))
				abort();
			if (prefixmap_find(pm, q + off, n - off) !=
			    ref_path(prefixes, n_prefixes, q + off, n - off))
				abort();
		}
		free(q);
		l += n + 1;
	}
	if (hostmap_find(hm, NULL, 5) != ref_host(names, n_names, "", 0))
		abort();

	hostmap_free(hm);
	prefixmap_free(pm);
	for (size_t i = 0; i < n_names; i++)
		free(names[i].s);
	for (size_t i = 0; i < n_prefixes; i++)
		free(prefixes[i].s);
	return 0;
}
