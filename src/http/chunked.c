/* The chunked transfer coding decoder (RFC 9112 §7.1): a byte-at-a-time state machine that
 * stops and resumes at any byte boundary, decodes in place, and bounds what it discards.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted
 *
 *   state          on                        next
 *   SIZE_FIRST     HEXDIG                    SIZE
 *   SIZE           HEXDIG (<= 16, < 2^63)    SIZE
 *                  SP / HTAB                 EXT_PRE_SEMI
 *                  ";"                       EXT_NAME_PRE
 *                  CR                        SIZE_LF
 *   EXT_PRE_SEMI   SP / HTAB                 EXT_PRE_SEMI     (BWS must lead to ";")
 *                  ";"                       EXT_NAME_PRE
 *   EXT_NAME_PRE   SP / HTAB                 EXT_NAME_PRE
 *                  tchar                     EXT_NAME
 *   EXT_NAME       tchar                     EXT_NAME
 *                  SP / HTAB                 EXT_POST_NAME
 *                  "="                       EXT_VAL_PRE
 *                  ";"                       EXT_NAME_PRE
 *                  CR                        SIZE_LF
 *   EXT_POST_NAME  SP / HTAB                 EXT_POST_NAME
 *                  "="                       EXT_VAL_PRE
 *                  ";"                       EXT_NAME_PRE
 *   EXT_VAL_PRE    SP / HTAB                 EXT_VAL_PRE
 *                  tchar                     EXT_VAL
 *                  DQUOTE                    EXT_QUOTED
 *   EXT_VAL        tchar                     EXT_VAL
 *                  SP / HTAB                 EXT_PRE_SEMI
 *                  ";"                       EXT_NAME_PRE
 *                  CR                        SIZE_LF
 *   EXT_QUOTED     qdtext                    EXT_QUOTED
 *                  "\"                       EXT_QUOTED_PAIR
 *                  DQUOTE                    EXT_POST_QUOTE
 *   EXT_QUOTED_PAIR HTAB / SP / VCHAR / obs  EXT_QUOTED
 *   EXT_POST_QUOTE SP / HTAB                 EXT_PRE_SEMI
 *                  ";"                       EXT_NAME_PRE
 *                  CR                        SIZE_LF
 *   SIZE_LF        LF, size > 0              DATA
 *                  LF, size == 0             TRAILER_START   (last-chunk)
 *   DATA           size bytes                DATA_CR
 *   DATA_CR        CR                        DATA_LF
 *   DATA_LF        LF                        SIZE_FIRST
 *   TRAILER_START  tchar                     TRAILER_NAME
 *                  CR                        FINAL_LF
 *   TRAILER_NAME   tchar                     TRAILER_NAME
 *                  ":"                       TRAILER_VALUE
 *   TRAILER_VALUE  VCHAR / obs / SP / HTAB   TRAILER_VALUE
 *                  CR                        TRAILER_LF
 *   TRAILER_LF     LF                        TRAILER_START
 *   FINAL_LF       LF                        DONE            (consumes nothing more)
 *   anything else                            ERROR           (sticky: -400 from then on)
 *
 * A bare LF, a CR not followed by LF, whitespace before a chunk-size or after it without a
 * ";" all fall into "anything else": the looser readings are how chunked smuggling works. */
#include <string.h>

#include "http/chunked.h"

#include "base/str.h"
#include "http/fields.h"

enum {
	S_SIZE_FIRST,
	S_SIZE,
	S_EXT_PRE_SEMI,
	S_EXT_NAME_PRE,
	S_EXT_NAME,
	S_EXT_POST_NAME,
	S_EXT_VAL_PRE,
	S_EXT_VAL,
	S_EXT_QUOTED,
	S_EXT_QUOTED_PAIR,
	S_EXT_POST_QUOTE,
	S_SIZE_LF,
	S_DATA,
	S_DATA_CR,
	S_DATA_LF,
	S_TRAILER_START,
	S_TRAILER_NAME,
	S_TRAILER_VALUE,
	S_TRAILER_LF,
	S_FINAL_LF,
	S_DONE,
	S_ERROR,
};

#define MAX_SIZE_DIGITS 16

void http_chunked_init(struct http_chunked *c)
{
	*c = (struct http_chunked){.state = S_SIZE_FIRST};
}

bool http_chunked_done(const struct http_chunked *c)
{
	return c->state == S_DONE;
}

/* One byte of everything but chunk-data. Returns the next state, S_ERROR on bad syntax. */
static int step(struct http_chunked *c, char ch)
{
	const bool ws = http_fields_is_ows(ch);
	int s = c->state;

	/* Bound what we read only to throw away: the chunk-ext of one line, and the whole
	 * trailer section (RFC 9112 §7.1.1 says to limit extensions, §7.1.2 trailers). */
	if (s >= S_EXT_PRE_SEMI && s <= S_EXT_POST_QUOTE) {
		if (ch != '\r' && ++c->count > HTTP_CHUNKED_MAX_EXT)
			return S_ERROR;
	} else if (s >= S_TRAILER_START && s <= S_FINAL_LF) {
		if (++c->count > HTTP_CHUNKED_MAX_TRAILER)
			return S_ERROR;
	}

	switch (s) {
	case S_SIZE_FIRST:
	case S_SIZE: {
		int v = ascii_hex_value(ch);
		if (v >= 0) {
			/* More than 16 digits is refused even when they are leading zeros. */
			if (c->ndigits == MAX_SIZE_DIGITS)
				return S_ERROR;
			c->ndigits++;
			c->remaining = c->remaining << 4 | (uint64_t)v;
			if (c->remaining > (uint64_t)INT64_MAX)
				return S_ERROR;
			return S_SIZE;
		}
		if (s == S_SIZE_FIRST)
			return S_ERROR;
		if (ch == '\r')
			return S_SIZE_LF;
		/* The first byte of chunk-ext; it counts towards the limit too. */
		c->count = 1;
		if (ch == ';')
			return S_EXT_NAME_PRE;
		return ws ? S_EXT_PRE_SEMI : S_ERROR;
	}
	case S_EXT_PRE_SEMI:
		if (ch == ';')
			return S_EXT_NAME_PRE;
		return ws ? s : S_ERROR;
	case S_EXT_NAME_PRE:
		if (http_fields_is_token(ch))
			return S_EXT_NAME;
		return ws ? s : S_ERROR;
	case S_EXT_NAME:
		if (http_fields_is_token(ch))
			return s;
		if (ch == '=')
			return S_EXT_VAL_PRE;
		if (ch == ';')
			return S_EXT_NAME_PRE;
		if (ch == '\r')
			return S_SIZE_LF;
		return ws ? S_EXT_POST_NAME : S_ERROR;
	case S_EXT_POST_NAME:
		if (ch == '=')
			return S_EXT_VAL_PRE;
		if (ch == ';')
			return S_EXT_NAME_PRE;
		return ws ? s : S_ERROR;
	case S_EXT_VAL_PRE:
		if (http_fields_is_token(ch))
			return S_EXT_VAL;
		if (ch == '"')
			return S_EXT_QUOTED;
		return ws ? s : S_ERROR;
	case S_EXT_VAL:
	case S_EXT_POST_QUOTE:
		if (s == S_EXT_VAL && http_fields_is_token(ch))
			return s;
		if (ch == ';')
			return S_EXT_NAME_PRE;
		if (ch == '\r')
			return S_SIZE_LF;
		return ws ? S_EXT_PRE_SEMI : S_ERROR;
	case S_EXT_QUOTED:
		if (ch == '"')
			return S_EXT_POST_QUOTE;
		if (ch == '\\')
			return S_EXT_QUOTED_PAIR;
		return http_fields_is_value(ch) ? s : S_ERROR;
	case S_EXT_QUOTED_PAIR:
		return http_fields_is_value(ch) ? S_EXT_QUOTED : S_ERROR;
	case S_SIZE_LF:
		if (ch != '\n')
			return S_ERROR;
		if (c->remaining > 0)
			return S_DATA;
		c->count = 0;
		return S_TRAILER_START;
	case S_DATA_CR:
		return ch == '\r' ? S_DATA_LF : S_ERROR;
	case S_DATA_LF:
		if (ch != '\n')
			return S_ERROR;
		c->ndigits = 0;
		c->count = 0;
		return S_SIZE_FIRST;
	case S_TRAILER_START:
		/* A field line (obs-fold, bare LF and empty names are refused as in the head),
		 * or the CRLF that ends the body. */
		if (ch == '\r')
			return S_FINAL_LF;
		return http_fields_is_token(ch) ? S_TRAILER_NAME : S_ERROR;
	case S_TRAILER_NAME:
		if (ch == ':')
			return S_TRAILER_VALUE;
		return http_fields_is_token(ch) ? s : S_ERROR;
	case S_TRAILER_VALUE:
		if (ch == '\r')
			return S_TRAILER_LF;
		return http_fields_is_value(ch) ? s : S_ERROR;
	case S_TRAILER_LF:
		return ch == '\n' ? S_TRAILER_START : S_ERROR;
	case S_FINAL_LF:
		return ch == '\n' ? S_DONE : S_ERROR;
	}
	return S_ERROR;
}

ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *ret_data_len)
{
	size_t p = 0, out = 0;

	if (c->state == S_ERROR)
		return -400;
	while (p < len && c->state != S_DONE) {
		if (c->state == S_DATA) {
			size_t n = len - p;
			if ((uint64_t)n > c->remaining)
				n = (size_t)c->remaining;
			/* out <= p always: the data only ever moves towards the front. */
			if (out != p)
				memmove(buf + out, buf + p, n);
			out += n;
			p += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = S_DATA_CR;
			continue;
		}
		c->state = step(c, buf[p++]);
		if (c->state == S_ERROR)
			return -400;
	}
	*ret_data_len = out;
	return (ssize_t)p;
}
