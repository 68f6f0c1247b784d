/* MIME types by file extension: a small table, as nginx's mime.types but the common part. */
#include <stddef.h>

#include "base/macro.h"
#include "base/str.h"
#include "handler/static.h"

static const struct {
	const char *ext; /* lower case */
	const char *type;
} mime_table[] = {
	{"html", "text/html; charset=utf-8"},
	{"htm", "text/html; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"json", "application/json"},
	{"map", "application/json"},
	{"txt", "text/plain; charset=utf-8"},
	{"md", "text/markdown; charset=utf-8"},
	{"csv", "text/csv; charset=utf-8"},
	{"xml", "application/xml"},
	{"rss", "application/rss+xml"},
	{"atom", "application/atom+xml"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"jpg", "image/jpeg"},
	{"jpeg", "image/jpeg"},
	{"gif", "image/gif"},
	{"webp", "image/webp"},
	{"avif", "image/avif"},
	{"ico", "image/x-icon"},
	{"bmp", "image/bmp"},
	{"woff", "font/woff"},
	{"woff2", "font/woff2"},
	{"ttf", "font/ttf"},
	{"otf", "font/otf"},
	{"pdf", "application/pdf"},
	{"wasm", "application/wasm"},
	{"zip", "application/zip"},
	{"gz", "application/gzip"},
	{"tar", "application/x-tar"},
	{"mp4", "video/mp4"},
	{"webm", "video/webm"},
	{"mp3", "audio/mpeg"},
	{"ogg", "audio/ogg"},
	{"wav", "audio/wav"},
	{"webmanifest", "application/manifest+json"},
};

const char *mime_type(const char *name, size_t len)
{
	size_t dot = len;
	while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
		dot--;
	if (dot == 0 || name[dot - 1] != '.')
		return "application/octet-stream";
	const char *ext = name + dot;
	size_t elen = len - dot;
	for (size_t i = 0; i < ARRAY_SIZE(mime_table); i++)
		if (str_ieq(ext, elen, mime_table[i].ext))
			return mime_table[i].type;
	return "application/octet-stream";
}
