/* libFuzzer target for what src/acme/parse.c reads from a CA or a request: the first byte
 * picks the parser (problem documents through jansson, Retry-After, challenge tokens, ARI
 * renewalInfo documents; 'U': the CA's URLs), the rest is its input. Invariants: the problem's type and detail
 * are NUL-terminated, within their buffers and printable ASCII; a Retry-After is at most
 * ACME_RETRY_MAX_S; a valid token is base64url only; an ARI window starts before it ends,
 * not before 1970, and its explanationURL is printable; a URL's host and authority are
 * NUL-terminated and printable, its port not 0, its path within the input and without a
 * space. Any broken invariant aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static void printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	require(n < size);
	for (size_t i = 0; i < n; i++)
		require(s[i] >= 0x20 && s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	if (data[0] == 'U') {
		struct acme_url u;
		if (acme_url_parse(p, n, &u) == 0) {
			printable(u.host, sizeof(u.host));
			printable(u.authority, sizeof(u.authority));
			require(u.host[0] && u.port != 0);
			require(u.path >= p && u.path + u.path_len <= p + n);
			require(!memchr(u.path, ' ', u.path_len));
		}
		return 0;
	}
	switch (data[0] % 4) {
	case 0: {
		char type[16], detail[ACME_DETAIL_MAX];
		memset(type, 'X', sizeof(type));
		memset(detail, 'X', sizeof(detail));
		if (acme_problem_parse(p, n, type, sizeof(type), detail, sizeof(detail)) == 0) {
			printable(type, sizeof(type));
			printable(detail, sizeof(detail));
		}
		break;
	}
	case 1: {
		uint32_t s = 0;
		if (acme_retry_after(p, n, 1700000000, &s) == 0)
			require(s <= ACME_RETRY_MAX_S);
		break;
	}
	case 3: {
		time_t start = -1, end = -1;
		char url[32];
		memset(url, 'X', sizeof(url));
		if (acme_ari_parse(p, n, &start, &end, url, sizeof(url)) == 0) {
			require(start >= 0 && start < end);
			printable(url, sizeof(url));
		}
		break;
	}
	default:
		if (acme_token_valid(p, n)) {
			require(n >= 1 && n <= ACME_TOKEN_MAX);
			require(!memchr(p, '/', n) && !memchr(p, '.', n) && !memchr(p, '\0', n));
		}
		break;
	}
	return 0;
}
