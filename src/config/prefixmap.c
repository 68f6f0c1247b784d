/* Longest-prefix lookup (prefixmap.h) over a sorted array. If P is the greatest prefix that
 * sorts at or before the string s, the longest prefix L of s in the set is P or one of the
 * prefixes of P (every string between L and s in byte order starts with L). So each entry
 * keeps its parent, the longest other entry that is a prefix of it, computed once in sorted
 * order with a stack; a lookup binary-searches P, measures how far P agrees with s, and climbs
 * parents until one is no longer than that. The climb is bounded by the nesting depth of the
 * prefixes (/a/, /a/b/, /a/b/c/: 3), however many there are. */
#include "config/prefixmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/xalloc.h"

struct prefixmap_entry {
	const char *key;
	size_t len;
	uint32_t value;
	uint32_t parent; /* index of the longest entry that is a prefix of this one, or NONE */
	size_t order;	 /* when it was added: of equal keys the first stays */
};

struct prefixmap {
	struct prefixmap_entry *v;
	size_t n, cap;
};

struct prefixmap *prefixmap_new(size_t n)
{
	struct prefixmap *m = xcalloc(1, sizeof(*m));
	m->cap = n;
	m->v = xcalloc(n ? n : 1, sizeof(*m->v));
	return m;
}

void prefixmap_free(struct prefixmap *m)
{
	if (!m)
		return;
	free(m->v);
	free(m);
}

void prefixmap_add(struct prefixmap *m, const char *key, size_t len, uint32_t value)
{
	if (m->n == m->cap || value == PREFIXMAP_NONE)
		abort(); /* a caller that miscounted: a programming error */
	m->v[m->n] = (struct prefixmap_entry){.key = key, .len = len, .value = value,
					      .parent = PREFIXMAP_NONE, .order = m->n};
	m->n++;
}

/* Byte order of (a, an) and (b, bn); a proper prefix sorts first. */
static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, MIN(an, bn));
	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int cmp_entry(const void *x, const void *y)
{
	const struct prefixmap_entry *a = x, *b = y;
	int c = cmp_bytes(a->key, a->len, b->key, b->len);
	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

static bool is_prefix(const struct prefixmap_entry *p, const struct prefixmap_entry *e)
{
	return p->len <= e->len && memcmp(p->key, e->key, p->len) == 0;
}

void prefixmap_seal(struct prefixmap *m)
{
	qsort(m->v, m->n, sizeof(*m->v), cmp_entry);
	/* Drop the later of equal keys (sorted right after the first). */
	size_t w = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (w > 0 && m->v[w - 1].len == m->v[i].len &&
		    memcmp(m->v[w - 1].key, m->v[i].key, m->v[i].len) == 0)
			continue;
		m->v[w++] = m->v[i];
	}
	m->n = w;
	/* The stack is the chain of prefixes of the previous entry: in sorted order, the prefixes
	 * of an entry are on it. Each entry's parent already links that chain, so walking parents
	 * from the previous entry is popping. */
	uint32_t top = PREFIXMAP_NONE;
	for (size_t i = 0; i < m->n; i++) {
		while (top != PREFIXMAP_NONE && !is_prefix(&m->v[top], &m->v[i]))
			top = m->v[top].parent;
		m->v[i].parent = top;
		top = (uint32_t)i;
	}
}

uint32_t prefixmap_find(const struct prefixmap *m, const char *s, size_t len)
{
	if (!m || m->n == 0)
		return PREFIXMAP_NONE;
	/* The first entry that sorts after s; the one before it is P. */
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_bytes(m->v[mid].key, m->v[mid].len, s, len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return PREFIXMAP_NONE;
	uint32_t i = (uint32_t)(lo - 1);
	const struct prefixmap_entry *p = &m->v[i];
	size_t common = 0, max = MIN(p->len, len);
	while (common < max && p->key[common] == s[common])
		common++;
	while (i != PREFIXMAP_NONE && m->v[i].len > common)
		i = m->v[i].parent;
	return i == PREFIXMAP_NONE ? PREFIXMAP_NONE : m->v[i].value;
}
