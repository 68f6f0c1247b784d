/* Allocation wrappers: out of memory aborts here, in one place, so callers never check. */
#ifndef FERRY_BASE_XALLOC_H
#define FERRY_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void freep(void *p); /* for _cleanup_(freep) */

#endif
