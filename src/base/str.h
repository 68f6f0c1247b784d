/* String views and ASCII helpers (locale-free, as protocols need). */
#ifndef FERRY_BASE_STR_H
#define FERRY_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool ascii_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The value of a hex digit, or -1. */
static inline int ascii_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Case-insensitive equality of a (p, n) view with a NUL-terminated lower-case literal. */
static inline bool str_ieq(const char *p, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' || ascii_lower(p[i]) != lit[i])
			return false;
	}
	return lit[i] == '\0';
}

static inline bool str_ieqn(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

static inline bool str_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static inline bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The decimal digits of v at dst (room for 20), not NUL-terminated; returns how many. For the
 * per-request numbers (status, Content-Length, addresses) that printf would cost a lot for. */
static inline size_t str_fmt_u64(char *dst, uint64_t v)
{
	char t[20];
	size_t n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	for (size_t i = 0; i < n; i++)
		dst[i] = t[n - 1 - i];
	return n;
}

/* An IPv4 address (4 bytes, network order) as dotted decimal, NUL-terminated (room for 16). */
static inline size_t str_fmt_ipv4(char *dst, const unsigned char a[4])
{
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		if (i)
			dst[n++] = '.';
		n += str_fmt_u64(dst + n, a[i]);
	}
	dst[n] = '\0';
	return n;
}

#endif
