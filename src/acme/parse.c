/* The small parsers of the ACME code (parse.h): tokens, Retry-After, problem documents. */
#include "acme/parse.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

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
