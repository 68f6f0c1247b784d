/* JSON string escaping for the access log's json format. */
#include "base/json.h"

#include <stdint.h>

size_t json_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0; /* a continuation byte, 0xc0/0xc1 (overlong), 0xf5-0xff */
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int json_escape(struct buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, run = 0; /* run: bytes from i - run on that need no escaping */
	int r = 0;

	while (i < n && r >= 0) {
		unsigned char ch = s[i];
		size_t u = ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f
			       ? json_utf8_len(s + i, n - i)
			       : 0;
		if (u) {
			i += u;
			run += u;
			continue;
		}
		if (run)
			r = buf_append(b, s + i - run, run);
		run = 0;
		char e[6];
		switch (ch) {
		case '"':
			r = r < 0 ? r : buf_append(b, "\\\"", 2);
			break;
		case '\\':
			r = r < 0 ? r : buf_append(b, "\\\\", 2);
			break;
		case '\n':
			r = r < 0 ? r : buf_append(b, "\\n", 2);
			break;
		case '\r':
			r = r < 0 ? r : buf_append(b, "\\r", 2);
			break;
		case '\t':
			r = r < 0 ? r : buf_append(b, "\\t", 2);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				e[0] = '\\', e[1] = 'u', e[2] = '0', e[3] = '0';
				e[4] = hex[ch >> 4], e[5] = hex[ch & 15];
				r = r < 0 ? r : buf_append(b, e, 6);
			} else {
				r = r < 0 ? r : buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			}
		}
		i++;
	}
	if (run && r >= 0)
		r = buf_append(b, s + i - run, run);
	return r < 0 ? r : 0;
}
