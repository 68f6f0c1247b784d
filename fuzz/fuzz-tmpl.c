/* libFuzzer target for the placeholder templates (http/tmpl.c): the check must never read
 * past the input, and a template it accepts must expand within the output bound (or say
 * -ENOBUFS), with each placeholder replaced and every other byte kept. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	unsigned all = (1u << HTTP_TMPL_N) - 1;
	size_t off, len;
	int used = http_tmpl_check(s, size, all, &off, &len);
	if (used < 0) {
		if (off >= size || len == 0 || off + len > size || s[off] != '{')
			abort();
		return 0;
	}
	struct http_tmpl_vars v = {.v = {"H", "/P", "S", "?Q"}, .len = {1, 2, 1, 2}};
	char out[512];
	ssize_t n = http_tmpl_expand(s, size, &v, out, sizeof(out));
	if (n == -ENOBUFS)
		return 0;
	if (n < 0 || (size_t)n >= sizeof(out) || out[n] != '\0')
		abort();
	/* Expanded with values no longer than their placeholders: never longer than s. */
	if ((size_t)n > size)
		abort();
	if (used == 0 && (size_t)n == size && memcmp(out, s, size) != 0)
		abort();
	return 0;
}
