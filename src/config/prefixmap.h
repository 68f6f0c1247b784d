/* The longest of a fixed set of byte-string prefixes that begins a string (a `path` block's
 * prefix for a request path), by a binary search over the sorted prefixes and a walk up their
 * nesting, not a scan over every one. Built once per configuration load, immutable afterwards:
 * the workers look up concurrently without locks. Pure: no I/O. */
#ifndef FERRY_CONFIG_PREFIXMAP_H
#define FERRY_CONFIG_PREFIXMAP_H

#include <stddef.h>
#include <stdint.h>

#define PREFIXMAP_NONE UINT32_MAX

struct prefixmap;

/* An empty map for n prefixes; add them, then seal it before the first lookup. */
struct prefixmap *prefixmap_new(size_t n);
void prefixmap_free(struct prefixmap *m);

/* Add a prefix (len bytes, borrowed: it must outlive the map) with its value (not NONE). Of
 * equal prefixes the first added counts. No more than the n given to prefixmap_new. */
void prefixmap_add(struct prefixmap *m, const char *key, size_t len, uint32_t value);
void prefixmap_seal(struct prefixmap *m);

/* The value of the longest prefix that s (len bytes) starts with, or PREFIXMAP_NONE. */
uint32_t prefixmap_find(const struct prefixmap *m, const char *s, size_t len);

#endif
