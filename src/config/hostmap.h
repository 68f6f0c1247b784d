/* Which site a Host names, in time independent of the number of sites: exact names and
 * wildcards ("*.example.com", by their label suffix ".example.com") in one hash table, and the
 * default ("*") aside. Built once per configuration load, immutable afterwards: the workers
 * look up concurrently without locks. Pure: no I/O.
 *
 * The order is the one ferry.conf(5) gives under SITE MATCHING: an exact name; else the longest
 * wildcard whose suffix ends the host with at least one byte before it; else "*". */
#ifndef FERRY_CONFIG_HOSTMAP_H
#define FERRY_CONFIG_HOSTMAP_H

#include <stddef.h>
#include <stdint.h>

#define HOSTMAP_NONE UINT32_MAX
#define HOSTMAP_MAX_NAME 256 /* longer names are refused (site names are 255 bytes at most) */

struct hostmap;

/* An empty map with room for about n names (it grows past that). */
struct hostmap *hostmap_new(size_t n);
void hostmap_free(struct hostmap *m);

/* Add a normalised name (lower case, no port, no trailing dot): "*", "*.SUFFIX" or an exact
 * name. The name is borrowed: it must outlive the map. A name already there keeps its value:
 * -EEXIST, and that value in *ret_other (when not NULL). -ENAMETOOLONG past HOSTMAP_MAX_NAME,
 * -EINVAL for an empty name, an exact one that starts with '.', or value NONE. */
int hostmap_add(struct hostmap *m, const char *name, uint32_t value, uint32_t *ret_other);

/* The value for a host (port and trailing dot already stripped; ASCII letters compared
 * case-insensitively), or HOSTMAP_NONE. At most one probe for the exact name, then one per
 * '.' within reach of the longest wildcard, longest suffix first. */
uint32_t hostmap_find(const struct hostmap *m, const char *host, size_t len);

#endif
