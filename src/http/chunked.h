/* Pure decoder for the chunked transfer coding (RFC 9112 §7.1): no I/O, no allocation.
 *
 * Bytes are fed as they arrive; the decoder copies the chunk data to the front of the same
 * buffer (in place, like picohttpparser's phr_decode_chunked) and remembers where it is in the
 * grammar between calls. chunk-ext and trailer fields are parsed and discarded, bounded. */
#ifndef FERRY_HTTP_CHUNKED_H
#define FERRY_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_CHUNKED_MAX_EXT 4096      /* bytes of chunk-ext per chunk line */
#define HTTP_CHUNKED_MAX_TRAILER 16384 /* bytes of the whole trailer section */

struct http_chunked {
	int state;
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t count;       /* bytes seen in the current size line / trailer (for limits) */
	unsigned ndigits;
};

void http_chunked_init(struct http_chunked *c);

/* Decode up to len bytes of buf. Decoded data is moved to buf[0 .. *ret_data_len).
 * Returns the number of input bytes consumed (all of len unless the body ended inside buf;
 * bytes after the end belong to the next request and are not touched), or a negated HTTP
 * status (-400 for bad syntax, a size that overflows 2^63, a bare LF, too long chunk-ext or
 * trailer). */
ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *ret_data_len);

/* True once the last-chunk and the trailer section's final CRLF were consumed. */
bool http_chunked_done(const struct http_chunked *c);

#endif
