/* Content codings and the Accept-Encoding parser: strict grammar, bounded element count. */
#include "http/coding.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/str.h"
#include "http/fields.h"

static const char *const names[HTTP_CODING_N] = {"br", "zstd", "gzip"};
static const char *const suffixes[HTTP_CODING_N] = {"br", "zst", "gz"};

const char *http_coding_name(enum http_coding c)
{
	return (unsigned)c < HTTP_CODING_N ? names[c] : "identity";
}

const char *http_coding_suffix(enum http_coding c)
{
	return (unsigned)c < HTTP_CODING_N ? suffixes[c] : "";
}

int http_coding_lookup(const char *s, size_t n)
{
	for (int i = 0; i < HTTP_CODING_N; i++)
		if (str_ieq(s, n, names[i]))
			return i;
	return -1;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths. */
static int parse_qvalue(const char *p, size_t n, uint16_t *ret)
{
	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return -EINVAL;
	unsigned q = p[0] == '1' ? 1000 : 0;
	if (n == 1)
		goto done;
	if (p[1] != '.' || n > 5)
		return -EINVAL;
	unsigned scale = 100;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (p[i] < '0' || p[i] > '9' || (q == 1000 && p[i] != '0'))
			return -EINVAL;
		q += (unsigned)(p[i] - '0') * scale;
	}
done:
	*ret = (uint16_t)q;
	return 0;
}

int http_accept_encoding(const char *v, size_t n, uint16_t ret_q[HTTP_CODING_N])
{
	/* -1: not named; a named coding beats "*" whatever their order. */
	int named[HTTP_CODING_N];
	int star = -1;
	unsigned elements = 0;
	for (int i = 0; i < HTTP_CODING_N; i++)
		named[i] = -1;
	const char *p = v, *end = v + n;
	for (;;) {
		while (p < end && (is_ows(*p) || *p == ','))
			p++; /* empty list elements are allowed (RFC 9110 §5.6.1.2) */
		if (p == end)
			break;
		if (++elements > HTTP_ACCEPT_MAX_ELEMENTS)
			return -E2BIG;
		const char *tok = p;
		while (p < end && http_fields_is_token(*p))
			p++;
		size_t tok_len = (size_t)(p - tok);
		if (tok_len == 0)
			return -EINVAL;
		uint16_t q = 1000;
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p == ';') {
			p++;
			while (p < end && is_ows(*p))
				p++;
			if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
				return -EINVAL;
			p += 2;
			const char *qv = p;
			while (p < end && !is_ows(*p) && *p != ',')
				p++;
			if (parse_qvalue(qv, (size_t)(p - qv), &q) < 0)
				return -EINVAL;
			while (p < end && is_ows(*p))
				p++;
		}
		if (p < end && *p != ',')
			return -EINVAL;
		int c = http_coding_lookup(tok, tok_len);
		if (c < 0 && str_ieq(tok, tok_len, "x-gzip"))
			c = HTTP_CODING_GZIP;
		if (c >= 0)
			named[c] = named[c] < 0 ? q : (q > named[c] ? q : named[c]);
		else if (tok_len == 1 && tok[0] == '*')
			star = q;
	}
	for (int i = 0; i < HTTP_CODING_N; i++)
		ret_q[i] = (uint16_t)(named[i] >= 0 ? named[i] : star >= 0 ? star : 0);
	return 0;
}
