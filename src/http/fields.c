/* HTTP field syntax both parsers and the chunked decoder share: the token and field-value
 * octet classes, the field-line section after a start line, and the reading of the fields
 * that frame a message (Content-Length, Transfer-Encoding) or decide its persistence
 * (Connection, Upgrade). The rules are the same in both directions; what a caller does with
 * the result (400, 501 or 502) is its own business. */
#include <errno.h>

#include "base/str.h"
#include "http/fields.h"
#include "http/parser.h"

#define T HTTP_FIELDS_TOKEN
#define V HTTP_FIELDS_VALUE
#define TV (T | V)

/* clang-format off */
const unsigned char http_fields_class[256] = {
	['\t'] = V, [' '] = V,
	['!'] = TV, ['"'] = V, ['#'] = TV, ['$'] = TV, ['%'] = TV, ['&'] = TV, ['\''] = TV,
	['('] = V, [')'] = V, ['*'] = TV, ['+'] = TV, [','] = V, ['-'] = TV, ['.'] = TV,
	['/'] = V, ['0' ... '9'] = TV, [':'] = V, [';'] = V, ['<'] = V, ['='] = V, ['>'] = V,
	['?'] = V, ['@'] = V, ['A' ... 'Z'] = TV, ['['] = V, ['\\'] = V, [']'] = V, ['^'] = TV,
	['_'] = TV, ['`'] = TV, ['a' ... 'z'] = TV, ['{'] = V, ['|'] = TV, ['}'] = V, ['~'] = TV,
	[0x80 ... 0xff] = V,
};
/* clang-format on */

#undef T
#undef V
#undef TV

ssize_t http_fields_parse(const char *buf, size_t p, size_t end, struct http_header *headers,
			  size_t max, size_t *ret_n)
{
	size_t n = 0;
	for (;;) {
		if (p >= end)
			return 0;
		if (buf[p] == '\r') {
			if (p + 1 >= end)
				return 0;
			if (buf[p + 1] != '\n')
				return -EBADMSG;
			p += 2;
			break;
		}
		const size_t name = p;
		while (p < end && http_fields_is_token(buf[p]))
			p++;
		if (p >= end)
			return 0;
		if (buf[p] != ':' || p == name)
			return -EBADMSG;
		if (n == max)
			return -EMSGSIZE;
		const size_t colon = p;
		for (p++; p < end && http_fields_is_ows(buf[p]); p++)
			;
		const size_t value = p;
		/* Values are most of a head: four bytes a step while they last. */
		while (p + 4 <= end && http_fields_is_value(buf[p]) &&
		       http_fields_is_value(buf[p + 1]) && http_fields_is_value(buf[p + 2]) &&
		       http_fields_is_value(buf[p + 3]))
			p += 4;
		while (p < end && http_fields_is_value(buf[p]))
			p++;
		if (p >= end)
			return 0;
		if (buf[p] != '\r')
			return -EBADMSG;
		if (p + 1 >= end)
			return 0;
		if (buf[p + 1] != '\n')
			return -EBADMSG;
		size_t value_end = p;
		while (value_end > value && http_fields_is_ows(buf[value_end - 1]))
			value_end--;
		headers[n].name = buf + name;
		headers[n].name_len = colon - name;
		headers[n].value = buf + value;
		headers[n].value_len = value_end - value;
		n++;
		p += 2;
	}
	*ret_n = n;
	return (ssize_t)p;
}

int http_fields_content_length(const char *v, size_t n, int64_t *io)
{
	const char *e;
	size_t len, pos = 0;
	while (http_fields_list_next(v, n, &pos, &e, &len)) {
		int64_t x = 0;
		if (len == 0 || (len > 1 && e[0] == '0'))
			return -EBADMSG;
		for (size_t i = 0; i < len; i++) {
			if (!ascii_is_digit(e[i]))
				return -EBADMSG;
			if (x > (INT64_MAX - (e[i] - '0')) / 10)
				return -EBADMSG;
			x = x * 10 + (e[i] - '0');
		}
		if (*io >= 0 && *io != x)
			return -EBADMSG;
		*io = x;
	}
	return 0;
}

/* transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) ). Empty
 * elements are refused although RFC 9110 §5.6.1 lets lists carry them: on the one field that
 * frames the body, anything unusual is refused rather than interpreted. "chunked" defines no
 * parameters and RFC 9112 §7 says their presence SHOULD be an error. Parameters of other
 * codings are only checked to start with ";": no caller decodes those codings (a request
 * with one is refused, a response with one is framed by whether chunked comes last, which a
 * parameter cannot change). */
void http_fields_transfer_encoding(struct http_fields_framing *f, const char *v, size_t n)
{
	const char *e;
	size_t len, pos = 0;
	f->has_te = true;
	while (http_fields_list_next(v, n, &pos, &e, &len)) {
		size_t k = 0;
		while (k < len && http_fields_is_token(e[k]))
			k++;
		if (k == 0) {
			f->te_bad = true;
			continue;
		}
		bool chunked = str_ieq(e, k, "chunked");
		if (k < len) {
			while (k < len && http_fields_is_ows(e[k]))
				k++;
			if (chunked || k == len || e[k] != ';')
				f->te_bad = true;
		}
		f->last_chunked = chunked;
		if (chunked)
			f->n_chunked++;
		else
			f->te_other = true;
	}
}

void http_fields_connection(struct http_fields_framing *f, const char *v, size_t n)
{
	const char *e;
	size_t len, pos = 0;
	while (http_fields_list_next(v, n, &pos, &e, &len)) {
		if (str_ieq(e, len, "close"))
			f->conn_close = true;
		else if (str_ieq(e, len, "keep-alive"))
			f->conn_keep_alive = true;
		else if (str_ieq(e, len, "upgrade"))
			f->conn_upgrade = true;
	}
}
