/* String views and ASCII helpers (locale-free, as protocols need). */
#ifndef FERRY_BASE_STR_H
#define FERRY_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
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

#endif
