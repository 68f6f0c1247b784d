/* HTTP field syntax shared by the request parser, the response parser and the chunked decoder
 * (RFC 9110 §5, RFC 9112 §5): octet classes, comma-separated lists, the field-line section,
 * and the fields that frame a message or decide its persistence, read the same way in both
 * directions. Pure functions over (buf, len): no I/O, no allocation.
 *
 * What those fields mean is left to the callers: a request with an unknown transfer-coding is
 * answered 501, a response with one is reported (te_other), and each maps -EBADMSG and
 * -EMSGSIZE to its own answer (400/431 or 502). */
#ifndef FERRY_HTTP_FIELDS_H
#define FERRY_HTTP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/str.h"

struct http_header; /* http/parser.h */

/* Octet classes, one table lookup per byte. */
enum {
	HTTP_FIELDS_TOKEN = 1 << 0, /* tchar (RFC 9110 §5.6.2): field names, methods, codings */
	HTTP_FIELDS_VALUE = 1 << 1, /* field-value octet: VCHAR, obs-text, SP, HTAB (§5.5) */
};

extern const unsigned char http_fields_class[256];

static inline bool http_fields_is_token(char c)
{
	return http_fields_class[(unsigned char)c] & HTTP_FIELDS_TOKEN;
}

static inline bool http_fields_is_value(char c)
{
	return http_fields_class[(unsigned char)c] & HTTP_FIELDS_VALUE;
}

static inline bool http_fields_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed; an empty value
 * yields one empty element, a trailing comma a final empty one. *pos starts at 0. */
static inline bool http_fields_list_next(const char *v, size_t n, size_t *pos, const char **ret,
					 size_t *ret_len)
{
	size_t s = *pos, e;
	if (s > n)
		return false;
	for (e = s; e < n && v[e] != ','; e++)
		;
	*pos = e + 1;
	while (s < e && http_fields_is_ows(v[s]))
		s++;
	while (e > s && http_fields_is_ows(v[e - 1]))
		e--;
	*ret = v + s;
	*ret_len = e - s;
	return true;
}

/* The field-line section that follows a start line, from buf[p] to the empty line that ends
 * it, with nothing at or past buf[end] looked at:
 *   field-line = field-name ":" OWS field-value OWS (RFC 9112 §5)
 * A line that does not start with a token followed at once by ":" is refused: obs-fold and
 * whitespace after the start line (§5.2, §2.2), whitespace before the colon (§5.1), an empty
 * name. Values hold VCHAR, obs-text, SP and HTAB only (RFC 9110 §5.5: CR, LF and NUL are
 * invalid, and so is every other CTL); lines end in CRLF only. headers[] (room for max
 * fields) is filled as lines are read, OWS around values stripped; it is scratch space
 * unless the call succeeds.
 * Returns the offset just past the empty line's CRLF, and *ret_n; 0 when the section does
 * not end before `end` (need more, or too long: the caller knows which); -EBADMSG for bad
 * syntax; -EMSGSIZE for more than max field lines. */
ssize_t http_fields_parse(const char *buf, size_t p, size_t end, struct http_header *headers,
			  size_t max, size_t *ret_n);

/* What the fields that frame a message and decide its persistence say, in either direction:
 * Content-Length, Transfer-Encoding, Connection, Upgrade. Fill with http_fields_framing_add()
 * for every field line in order, starting from HTTP_FIELDS_FRAMING_INIT. */
struct http_fields_framing {
	int64_t content_length; /* -1 until a Content-Length field */
	bool has_te;            /* a Transfer-Encoding field */
	unsigned n_chunked;     /* how often "chunked" appears in its codings */
	bool last_chunked;      /* the final coding is chunked */
	bool te_other;          /* a coding other than chunked appears */
	bool te_bad;            /* not a list of transfer-codings (or chunked with parameters) */
	bool has_upgrade;       /* an Upgrade field */
	bool conn_close, conn_keep_alive, conn_upgrade; /* Connection options */
};

#define HTTP_FIELDS_FRAMING_INIT ((struct http_fields_framing){.content_length = -1})

/* Content-Length = 1*DIGIT (RFC 9110 §8.6); a list ("5, 5") or repeated fields only when every
 * value is the same. Leading zeros ("05") are refused too: grammatical, but "0200" is read as
 * octal by some parsers, and no real sender sends them. *io is -1 until a value is seen, then
 * the value. Returns 0 or -EBADMSG. */
int http_fields_content_length(const char *v, size_t n, int64_t *io);

/* Transfer-Encoding = #transfer-coding, over every TE field in order (RFC 9112 §6.1): has_te,
 * n_chunked, last_chunked and the te_ members of f. */
void http_fields_transfer_encoding(struct http_fields_framing *f, const char *v, size_t n);

/* Connection = #connection-option (RFC 9110 §7.6.1): the conn_ members of f. */
void http_fields_connection(struct http_fields_framing *f, const char *v, size_t n);

/* Take one field line into f; any other field is ignored. Inline: it runs for every field
 * line of every head, and almost always finds nothing to do. Returns 0, or -EBADMSG for a
 * bad or conflicting Content-Length (f is then unspecified). */
static inline int http_fields_framing_add(struct http_fields_framing *f, const char *name,
					  size_t name_len, const char *value, size_t value_len)
{
	switch (name_len) {
	case 7:
		if (str_ieq(name, 7, "upgrade"))
			f->has_upgrade = true;
		break;
	case 10:
		if (str_ieq(name, 10, "connection"))
			http_fields_connection(f, value, value_len);
		break;
	case 14:
		if (str_ieq(name, 14, "content-length"))
			return http_fields_content_length(value, value_len, &f->content_length);
		break;
	case 17:
		if (str_ieq(name, 17, "transfer-encoding"))
			http_fields_transfer_encoding(f, value, value_len);
		break;
	}
	return 0;
}

#endif
