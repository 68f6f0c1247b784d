/* Minimal unit-test harness: CHECK records a failure and goes on; the test binary exits 1
 * when any check failed. Each test-<module>.c mirrors src/<module>.c. */
#ifndef FERRY_TEST_H
#define FERRY_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                               \
	do {                                                                                      \
		test_checks++;                                                                    \
		if (!(cond)) {                                                                    \
			test_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
		}                                                                                 \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
	do {                                                                                      \
		long long _a = (long long)(a), _b = (long long)(b);                               \
		test_checks++;                                                                    \
		if (_a != _b) {                                                                   \
			test_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, _a, _b);                                        \
		}                                                                                 \
	} while (0)

#define CHECK_STREQ(a, b)                                                                         \
	do {                                                                                      \
		const char *_a = (a), *_b = (b);                                                  \
		test_checks++;                                                                    \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                          \
			test_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",     \
				__FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
		}                                                                                 \
	} while (0)

#define TEST_MAIN_END()                                                                           \
	do {                                                                                      \
		fprintf(stderr, "%s: %d checks, %d failed\n", __FILE__, test_checks, test_failures); \
		return test_failures ? 1 : 0;                                                     \
	} while (0)

#endif
