/* Growable byte buffer with a hard maximum (curl's dynbuf habit): every buffer says how big
 * it may get, and appending past that fails with -ENOBUFS instead of growing. */
#ifndef FERRY_BASE_BUF_H
#define FERRY_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "base/macro.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Make room for n more bytes; -ENOBUFS when len + n would pass max. */
int buf_reserve(struct buf *b, size_t n);
int buf_append_slow(struct buf *b, const void *p, size_t n);
/* The common case (the room is there) inline, since heads are built from many short
 * appends. max is checked too: a user may lower it below a reused buffer's cap. */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len || b->len + n > b->max)
		return buf_append_slow(b, p, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}
static inline int buf_appends(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }
int buf_printf(struct buf *b, const char *fmt, ...) _printf_(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
static inline void buf_reset(struct buf *b) { b->len = 0; }
/* Exchange the contents (data, len, cap) of two buffers; each keeps its own max, which the
 * contents must fit (len <= max). */
static inline void buf_swap(struct buf *a, struct buf *b)
{
	struct buf t = *a;
	a->data = b->data, a->len = b->len, a->cap = b->cap;
	b->data = t.data, b->len = t.len, b->cap = t.cap;
}
static inline size_t buf_space(const struct buf *b) { return b->cap - b->len; }
/* NUL-terminate (not counted in len); the buffer must have room or be growable by one. */
int buf_cstr(struct buf *b);

#endif
