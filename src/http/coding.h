/* Content codings: the ones ferry serves precompressed files in, and the Accept-Encoding
 * request field (RFC 9110 §12.5.3) that says which a client takes. Pure. */
#ifndef FERRY_HTTP_CODING_H
#define FERRY_HTTP_CODING_H

#include <stddef.h>
#include <stdint.h>

enum http_coding {
	HTTP_CODING_BR,
	HTTP_CODING_ZSTD,
	HTTP_CODING_GZIP,
	HTTP_CODING_N,
};

/* More list elements than this in one Accept-Encoding: the field is ignored (identity). */
#define HTTP_ACCEPT_MAX_ELEMENTS 64

/* The coding's token ("br") and the suffix of its files ("br", "zst", "gz"). */
const char *http_coding_name(enum http_coding c);
const char *http_coding_suffix(enum http_coding c);
/* The coding a config token names ("br", "zstd", "gzip"), or -1. */
int http_coding_lookup(const char *s, size_t n);

/* Parse an Accept-Encoding value: the weight of each coding in thousandths (0: not
 * acceptable), a named coding beating "*", "x-gzip" as "gzip". Returns 0, or -EINVAL for a
 * value that does not follow the grammar (bad token, bad qvalue, a parameter other than q) and
 * -E2BIG for more than HTTP_ACCEPT_MAX_ELEMENTS elements: the caller then sends identity.
 * Linear in n, however long the value. */
int http_accept_encoding(const char *v, size_t n, uint16_t ret_q[HTTP_CODING_N]);

#endif
