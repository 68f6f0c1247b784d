/* Small language helpers shared by every module: cleanup attributes, array sizes, min/max. */
#ifndef FERRY_BASE_MACRO_H
#define FERRY_BASE_MACRO_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

/* Hand an owned pointer over: returns it and clears the source (systemd's TAKE_PTR). */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})

/* The struct that holds member `field` at p (a watcher, timer, link or deferred call handed to
 * a callback), as the Linux kernel spells it. */
#define container_of(p, type, field) ((type *)((char *)(p) - offsetof(type, field)))

/* Literal string and its length, for memcmp-style comparisons. */
#define STRLEN(s) (sizeof(s) - 1)

/* Defined in an AddressSanitizer build (gcc or clang), whose runtime needs a few things a
 * sandbox would otherwise refuse. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

#endif
