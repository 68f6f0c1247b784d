/* JSON string contents for log lines: bytes from a client made safe to embed between
 * quotes, whatever they are. */
#ifndef FERRY_BASE_JSON_H
#define FERRY_BASE_JSON_H

#include <stddef.h>

#include "base/buf.h"

/* Append p[0..n) to b as the inside of a JSON string (RFC 8259 §7): '"' and '\' escaped,
 * control characters (U+0000-U+001F, U+007F) as \n \r \t or \u00XX, valid UTF-8 kept as it
 * is, and each byte of an invalid UTF-8 sequence (overlong forms, surrogates, past U+10FFFF,
 * a truncated one) as U+FFFD, so the line is always valid UTF-8 and valid JSON. Returns 0,
 * or < 0 when b is full (b then holds a prefix). */
int json_escape(struct buf *b, const char *p, size_t n);

/* The length of the valid UTF-8 sequence at s (n >= 1 bytes available), or 0. */
size_t json_utf8_len(const unsigned char *s, size_t n);

#endif
