/* Request-target to normalized path: percent-decoding and dot-segment removal. */
#include "http/path.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/str.h"

int http_path_normalize(const char *target, size_t len, char *out, size_t outsize)
{
	const char *p = target, *end = target + len;

	/* absolute-form: skip "scheme://authority" */
	if (len > 0 && p[0] != '/') {
		const char *s = memchr(p, ':', len);
		if (!s || end - s < 3 || s[1] != '/' || s[2] != '/')
			return -EINVAL;
		p = s + 3;
		while (p < end && *p != '/' && *p != '?' && *p != '#')
			p++;
		if (p == end || *p != '/') {
			/* "http://host" or "http://host?q": the path is "/" */
			if (outsize < 2)
				return -ENAMETOOLONG;
			out[0] = '/';
			out[1] = '\0';
			return 1;
		}
	}
	if (p == end || *p != '/')
		return -EINVAL;

	/* Decode into out, segment by segment, resolving dot segments as they complete. */
	size_t o = 0;
	size_t seg_start = 0; /* index in out just after the last '/' */
	if (outsize < 2)
		return -ENAMETOOLONG;
	while (p < end && *p != '?' && *p != '#') {
		char c = *p++;
		if (c == '%') {
			if (end - p < 2)
				return -EINVAL;
			int hi = ascii_hex_value(p[0]), lo = ascii_hex_value(p[1]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (c == '\0')
			return -EINVAL;
		if (c == '/') {
			if (o > 0 && out[o - 1] == '/')
				continue; /* "//" */
			/* Finish the segment out[seg_start .. o) */
			size_t sl = o - seg_start;
			if (o > 0 && sl == 1 && out[seg_start] == '.') {
				o = seg_start;
				continue;
			}
			if (o > 0 && sl == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.') {
				if (seg_start <= 1)
					return -EINVAL; /* above the root */
				/* drop "../" and the previous segment */
				o = seg_start - 1; /* at the '/' before ".." */
				while (o > 0 && out[o - 1] != '/')
					o--;
				seg_start = o;
				continue;
			}
			if (o + 1 >= outsize)
				return -ENAMETOOLONG;
			out[o++] = '/';
			seg_start = o;
			continue;
		}
		if (o + 1 >= outsize)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	/* A final "." or ".." segment (no trailing slash) */
	size_t sl = o - seg_start;
	if (sl == 1 && out[seg_start] == '.') {
		o = seg_start;
	} else if (sl == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.') {
		if (seg_start <= 1)
			return -EINVAL;
		o = seg_start - 1;
		while (o > 0 && out[o - 1] != '/')
			o--;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return (int)o;
}

int http_path_encode(const char *path, size_t len, char *out, size_t outsize)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		bool raw = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c != 0 && strchr("-._~!$&'()*+,;=:@/", c));
		if (o + (raw ? 1 : 3) >= outsize)
			return -ENAMETOOLONG;
		if (raw) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outsize)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}
