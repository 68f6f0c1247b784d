/* libFuzzer target for the config parser: parses the input as ferry.conf (collecting errors into
 * a bounded buffer, as `ferry check` does), then, when it parsed, matches a few Host values
 * against its sites. Also feeds the input to the number parsers. Builds with gcc for
 * fuzz/replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void match_hosts(const struct config *c, const char *text, size_t len)
{
	static const char *const hosts[] = {
	    "",	 "example.com", "WWW.Example.com.:8080", "a.b.example.com", "[::1]:80", "[::1", ":",
	    ".", "*",		"*.example.com",
	};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		const struct config_site *s = config_match_site(c, hosts[i], strlen(hosts[i]));
		if (s && (s < c->sites || s >= c->sites + c->n_sites))
			abort();
	}
	/* The input's first line as a Host value, with no terminating NUL after it. */
	const char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;
	const struct config_site *s = config_match_site(c, text, n);
	if (s && (s < c->sites || s >= c->sites + c->n_sites))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct config *c = NULL;
	struct buf errors;

	buf_init(&errors, 64 * 1024);
	int r = config_parse("fuzz.conf", text, size, &c, &errors);
	if (r == 0) {
		/* Success means no errors were written, and the other way round. */
		if (!c || errors.len != 0)
			abort();
		match_hosts(c, text, size);
		config_free(c);
	} else if (c || errors.len == 0) {
		abort();
	}
	buf_free(&errors);

	/* The number parsers want a C string. */
	if (size <= 64) {
		char s[65];
		uint32_t ms;
		size_t n;
		memcpy(s, data, size);
		s[size] = '\0';
		(void)config_parse_duration_ms(s, &ms);
		(void)config_parse_size(s, &n);
	}
	return 0;
}
