/* libFuzzer target for JSON string escaping (base/json.c): whatever the bytes, the output is
 * valid UTF-8 with no raw control character, no unescaped '"', every '\' starting one of the
 * escapes RFC 8259 allows; and an input that is valid UTF-8 without any byte to escape comes
 * out unchanged. Any broken invariant aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b;
	buf_init(&b, 6 * size + 16);
	require(json_escape(&b, (const char *)data, size) == 0);
	const unsigned char *o = (const unsigned char *)b.data;
	bool plain = true;
	for (size_t i = 0; i < size;) {
		size_t u = json_utf8_len(data + i, size - i);
		if (!u || data[i] < 0x20 || data[i] == 0x7f || data[i] == '"' || data[i] == '\\') {
			plain = false;
			break;
		}
		i += u;
	}
	for (size_t i = 0; i < b.len;) {
		require(o[i] >= 0x20 && o[i] != 0x7f && o[i] != '"');
		if (o[i] == '\\') {
			require(i + 1 < b.len);
			char e = (char)o[i + 1];
			if (e == 'u') {
				require(i + 6 <= b.len && memcmp(o + i + 2, "00", 2) == 0);
				i += 6;
			} else {
				require(strchr("\"\\nrt", e) != NULL && e != '\0');
				i += 2;
			}
			continue;
		}
		size_t u = json_utf8_len(o + i, b.len - i);
		require(u > 0);
		i += u;
	}
	if (plain)
		require(b.len == size && (size == 0 || memcmp(b.data, data, size) == 0));
	buf_free(&b);
	return 0;
}
