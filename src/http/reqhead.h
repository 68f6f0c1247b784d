/* The request head of a multiplexed protocol (HTTP/2, HTTP/3) as struct http_request: the
 * field records the protocol collects from its decoder (HPACK, QPACK), the request built and
 * checked from their pseudo-header and regular fields (RFC 9113 §8.3, RFC 9114 §4.3, which
 * ask the same), and the fields no response of either may carry. Pure: no I/O; the only
 * allocation is the record buffer's (base/buf.h, bounded by its max).
 *
 * The decoders (nghttp2, nghttp3) have already checked what both RFCs ask of the field
 * section itself: the pseudo-header fields present, once each, before the regular ones,
 * lower-case names, no connection-specific field, TE only "trailers". What is left is here. */
#ifndef FERRY_HTTP_REQHEAD_H
#define FERRY_HTTP_REQHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct http_request; /* http/parser.h */

/* A field record in a buffer: this header, then the name, then the value (no terminators). */
struct http_rec {
	uint32_t name_len, value_len;
};

/* Appends (name, value) to b, the name in lower case when lower; -ENOBUFS past b's max. */
int http_rec_put(struct buf *b, const char *name, size_t nl, const char *value, size_t vl,
		 bool lower);

/* The record at *pos of b (pos starts at 0): its name and value; false at the end. */
bool http_rec_next(const struct buf *b, size_t *pos, const char **name, size_t *nl,
		   const char **value, size_t *vl);

/* req emptied for a request of this version (20, 30): no method, no fields, no length. */
void http_reqhead_reset(struct http_request *req, int version);

/* The field records of head -> *req, whose views point into head, which must not grow
 * afterwards (several cookie fields are joined into one record appended here: RFC 9113
 * §8.2.3, RFC 9114 §4.2.1). end_stream: the head ended the stream (no body).
 * Returns 0; a status to answer: 400 (bad target or Host), 417 (an Expect other than
 * 100-continue), 431 (too many fields, or head at its max); or -1: malformed (RFC 9113
 * §8.1.1, RFC 9114 §4.1.2), which the protocol answers with a stream error: no :method, two
 * Host fields, an :authority with userinfo or that is no authority, a Host that names another
 * authority than :authority, a Content-Length that is not 1 to 18 digits. */
int http_reqhead_build(struct buf *head, struct http_request *req, int version, bool end_stream);

/* RFC 9113 §8.2.2, RFC 9114 §4.2: a field never sent in HTTP/2 or HTTP/3, whatever a handler
 * (or an upstream) says. Any case. */
bool http_reqhead_connection_specific(const char *name, size_t n);

#endif
