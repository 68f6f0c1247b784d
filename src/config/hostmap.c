/* The Host -> site index (hostmap.h): one open-addressing table keyed by exact names and by
 * the suffixes of wildcards (the name less its '*': ".example.com"). An exact key never starts
 * with '.', a wildcard key always does, so the two kinds share the table without a flag.
 *
 * Keys are hashed from their last byte to their first, so that one pass over a host, right to
 * left, gives the hash of every suffix on the way: the hash of ".example.com" is known when the
 * pass reaches that '.', and the hash of the whole host at its end. */
#include "config/hostmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"

struct hostmap_entry {
	const char *key; /* NULL: free slot */
	uint32_t hash;	 /* half of the mixed hash: its low bits pick the slot, all of it is
			  * compared before the key (and growing needs no key read) */
	uint32_t value;
};

struct hostmap {
	struct hostmap_entry *v;
	size_t cap, n;	  /* cap: a power of two, at least 3/2 n */
	size_t max_exact; /* the longest exact key: a longer host cannot match one */
	size_t max_wild;  /* the longest wildcard key: only suffixes up to this long are tried */
	uint32_t fallback; /* "*" */
};

#define FNV_BASIS 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a, fed from the end of the key: step(step(BASIS, key[n-1]), key[n-2]) ... */
static inline uint64_t hash_step(uint64_t h, char c)
{
	return (h ^ (unsigned char)ascii_lower(c)) * FNV_PRIME;
}

/* FNV's low bits are weak: mix before using them as a slot index (murmur3's finalizer). */
static inline uint64_t hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint32_t hash_key(const char *s, size_t n)
{
	uint64_t h = FNV_BASIS;
	while (n > 0)
		h = hash_step(h, s[--n]);
	return (uint32_t)hash_mix(h);
}

struct hostmap *hostmap_new(size_t n)
{
	struct hostmap *m = xcalloc(1, sizeof(*m));
	m->cap = 16;
	while (m->cap < n + n / 2)
		m->cap *= 2;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	m->fallback = HOSTMAP_NONE;
	return m;
}

void hostmap_free(struct hostmap *m)
{
	if (!m)
		return;
	free(m->v);
	free(m);
}

/* The slot of key (p, n) with hash h (from hash_key): the entry holding it, or the free slot
 * where it would go. Keys are stored in lower case; p is compared case-insensitively. */
static const struct hostmap_entry *slot(const struct hostmap_entry *v, size_t cap, const char *p,
					size_t n, uint32_t h)
{
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		const struct hostmap_entry *e = &v[i];
		if (!e->key || (e->hash == h && str_ieq(p, n, e->key)))
			return e;
	}
}

static void grow(struct hostmap *m)
{
	size_t cap = m->cap * 2;
	struct hostmap_entry *v = xcalloc(cap, sizeof(*v));
	for (size_t i = 0; i < m->cap; i++) {
		const struct hostmap_entry *e = &m->v[i];
		if (!e->key)
			continue;
		size_t j = e->hash & (cap - 1);
		while (v[j].key)
			j = (j + 1) & (cap - 1);
		v[j] = *e;
	}
	free(m->v);
	m->v = v;
	m->cap = cap;
}

int hostmap_add(struct hostmap *m, const char *name, uint32_t value, uint32_t *ret_other)
{
	size_t n = strlen(name);
	if (n == 0 || value == HOSTMAP_NONE)
		return -EINVAL;
	if (n > HOSTMAP_MAX_NAME)
		return -ENAMETOOLONG;
	if (n == 1 && name[0] == '*') {
		if (m->fallback != HOSTMAP_NONE) {
			if (ret_other)
				*ret_other = m->fallback;
			return -EEXIST;
		}
		m->fallback = value;
		return 0;
	}
	/* "*.example.com" is keyed ".example.com"; an exact name is keyed as it is. */
	bool wild = name[0] == '*' && name[1] == '.';
	const char *key = wild ? name + 1 : name;
	size_t kn = wild ? n - 1 : n;
	if (!wild && key[0] == '.')
		return -EINVAL; /* it would read as a wildcard key */
	if ((m->n + 1) * 3 > m->cap * 2)
		grow(m);
	uint32_t h = hash_key(key, kn);
	struct hostmap_entry *e = (struct hostmap_entry *)slot(m->v, m->cap, key, kn, h);
	if (e->key) {
		if (ret_other)
			*ret_other = e->value;
		return -EEXIST;
	}
	*e = (struct hostmap_entry){.key = key, .hash = h, .value = value};
	m->n++;
	if (wild)
		m->max_wild = MAX(m->max_wild, kn);
	else
		m->max_exact = MAX(m->max_exact, kn);
	return 0;
}

static uint32_t probe(const struct hostmap *m, const char *p, size_t n, uint64_t h)
{
	const struct hostmap_entry *e = slot(m->v, m->cap, p, n, (uint32_t)hash_mix(h));
	return e->key ? e->value : HOSTMAP_NONE;
}

uint32_t hostmap_find(const struct hostmap *m, const char *host, size_t len)
{
	if (!m)
		return HOSTMAP_NONE;
	if (!host)
		len = 0;

	/* Right to left over as much of the host as a key could cover, noting the suffix hash at
	 * every '.' with at least one byte before it (where a wildcard key could start). */
	bool exact = len > 0 && len <= m->max_exact && host[0] != '.';
	size_t reach = exact ? len : MIN(len, m->max_wild);
	uint16_t dot[HOSTMAP_MAX_NAME + 1];
	uint64_t dot_hash[HOSTMAP_MAX_NAME + 1];
	size_t n_dots = 0;
	uint64_t h = FNV_BASIS;
	for (size_t k = 1; k <= reach; k++) {
		size_t i = len - k;
		h = hash_step(h, host[i]);
		if (host[i] == '.' && i > 0 && k <= m->max_wild) {
			dot[n_dots] = (uint16_t)k;
			dot_hash[n_dots++] = h;
		}
	}
	if (exact) {
		uint32_t v = probe(m, host, len, h);
		if (v != HOSTMAP_NONE)
			return v;
	}
	/* The last '.' noted is the leftmost: the longest suffix, which wins. */
	while (n_dots-- > 0) {
		size_t k = dot[n_dots];
		uint32_t v = probe(m, host + len - k, k, dot_hash[n_dots]);
		if (v != HOSTMAP_NONE)
			return v;
	}
	return m->fallback;
}
