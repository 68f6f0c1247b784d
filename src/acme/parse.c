/* The small parsers of the ACME code (parse.h): tokens, Retry-After, problem documents, ARI
 * windows and their RFC 3339 times. */
#include "acme/parse.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "http/status.h"

static bool b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool acme_token_valid(const char *s, size_t len)
{
	if (len == 0 || len > ACME_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!b64url_char((unsigned char)s[i]))
			return false;
	return true;
}

int acme_retry_after(const char *s, size_t len, time_t now, uint32_t *ret_s)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	if (len == 0)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '9') {
		uint64_t v = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -EINVAL;
			if (v < 10 * (uint64_t)ACME_RETRY_MAX_S)
				v = v * 10 + (uint64_t)(s[i] - '0');
		}
		*ret_s = v > ACME_RETRY_MAX_S ? ACME_RETRY_MAX_S : (uint32_t)v;
		return 0;
	}
	time_t t;
	if (http_date_parse(s, len, &t) < 0)
		return -EINVAL;
	*ret_s = t <= now ? 0 : t - now > ACME_RETRY_MAX_S ? ACME_RETRY_MAX_S : (uint32_t)(t - now);
	return 0;
}

/* Copy a string into a log-safe, NUL-terminated buffer. */
static void safe_copy(char *out, size_t size, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < size; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

int acme_problem_parse(const char *json, size_t len, char *type, size_t type_size,
		       char *detail, size_t detail_size)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	const char *t = json_string_value(json_object_get(root, "type"));
	if (t && strncmp(t, prefix, sizeof(prefix) - 1) == 0)
		t += sizeof(prefix) - 1;
	safe_copy(type, type_size, t);
	safe_copy(detail, detail_size, json_string_value(json_object_get(root, "detail")));
	json_decref(root);
	return 0;
}

/* n digits at s (no sign): their value, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int acme_rfc3339_parse(const char *s, size_t len, time_t *ret)
{
	/* full-date "T" partial-time: 19 bytes, then fractions, then the offset */
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -EINVAL;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -EINVAL;
	size_t i = 19;
	if (s[i] == '.') {
		size_t start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return -EINVAL;
	}
	int64_t off = 0;
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
		i += 6;
	}
	if (i != len)
		return -EINVAL;
	int64_t t =
	    days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec) - off;
	if (t < 0 || (sizeof(time_t) < 8 && t > INT32_MAX))
		return -EINVAL;
	*ret = (time_t)t;
	return 0;
}

int acme_ari_parse(const char *json, size_t len, time_t *ret_start, time_t *ret_end, char *url,
		   size_t url_size)
{
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *w = json_is_object(root) ? json_object_get(root, "suggestedWindow") : NULL;
	json_t *js = json_object_get(w, "start"), *je = json_object_get(w, "end");
	time_t start, end;
	int r = -EINVAL;
	if (json_is_object(w) && json_is_string(js) && json_is_string(je) &&
	    acme_rfc3339_parse(json_string_value(js), json_string_length(js), &start) == 0 &&
	    acme_rfc3339_parse(json_string_value(je), json_string_length(je), &end) == 0 &&
	    start < end) {
		*ret_start = start;
		*ret_end = end;
		safe_copy(url, url_size,
			  json_string_value(json_object_get(root, "explanationURL")));
		r = 0;
	}
	json_decref(root);
	return r;
}

int acme_ari_cert_id(const void *aki, size_t aki_len, const void *serial, size_t serial_len,
		     char *out, size_t size)
{
	if (aki_len == 0 || serial_len == 0 || aki_len > 1024 || serial_len > 1024)
		return -EINVAL;
	if (ACME_B64URL_LEN(aki_len) + 1 + ACME_B64URL_LEN(serial_len) + 1 > size)
		return -ENOSPC;
	size_t n = acme_b64url(aki, aki_len, out);
	out[n++] = '.';
	acme_b64url(serial, serial_len, out + n);
	return 0;
}

size_t acme_b64url(const void *p, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *b = p;
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)b[i] << 16;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

int acme_url_parse(const char *url, size_t len, struct acme_url *ret)
{
	if (len < 8 || strncasecmp(url, "https://", 8) != 0)
		return -EINVAL;
	const char *a = url + 8, *end = url + len;
	const char *e = a;
	while (e < end && *e != '/' && *e != '?' && *e != '#')
		e++;
	size_t alen = (size_t)(e - a);
	if (alen == 0 || alen >= sizeof(ret->authority))
		return -EINVAL;
	const char *hs = a, *he, *colon = NULL;
	if (*a == '[') { /* an IPv6 literal */
		he = memchr(a, ']', alen);
		if (!he || he == a + 1)
			return -EINVAL;
		hs = a + 1;
		for (const char *c = hs; c < he; c++)
			if (*c == '\0' || !strchr("0123456789abcdefABCDEF:.", *c))
				return -EINVAL;
		if (he + 1 < e && he[1] == ':')
			colon = he + 1;
		else if (he + 1 != e)
			return -EINVAL;
	} else {
		colon = memchr(a, ':', alen);
		he = colon ? colon : e;
		if (he == hs)
			return -EINVAL;
		for (const char *c = hs; c < he; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_'))
				return -EINVAL;
	}
	size_t hl = (size_t)(he - hs);
	if (hl >= sizeof(ret->host))
		return -EINVAL;
	uint32_t port = 443;
	if (colon) {
		size_t pl = (size_t)(e - colon - 1);
		if (pl == 0 || pl > 5)
			return -EINVAL;
		port = 0;
		for (size_t i = 1; i <= pl; i++) {
			if (colon[i] < '0' || colon[i] > '9')
				return -EINVAL;
			port = port * 10 + (uint32_t)(colon[i] - '0');
		}
		if (port == 0 || port > 65535)
			return -EINVAL;
	}
	/* the path and query, what the request line carries: visible ASCII; a fragment is
	 * never sent */
	const char *p = e, *pe = p;
	while (pe < end && *pe != '#') {
		if ((unsigned char)*pe <= 0x20 || (unsigned char)*pe >= 0x7f)
			return -EINVAL;
		pe++;
	}
	for (const char *c = pe; c < end; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -EINVAL;
	memcpy(ret->host, hs, hl);
	ret->host[hl] = '\0';
	memcpy(ret->authority, a, alen);
	ret->authority[alen] = '\0';
	ret->port = (uint16_t)port;
	ret->path = p;
	ret->path_len = (size_t)(pe - p);
	return 0;
}
