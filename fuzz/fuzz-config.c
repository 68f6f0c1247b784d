/* libFuzzer target for the config parser: parses the input as ferry.conf (collecting errors into
 * a bounded buffer, as `ferry check` does), then, when it parsed, matches a few Host values
 * against its sites, and picks the certificates' site for them as a TLS handshake's SNI would
 * (config_tls_site). Also feeds the input to the number parsers. Builds with gcc for
 * fuzz/replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The site whose certificates a server name gets: one of the config's sites with `tls`
 * lines, the Host match when that has some, else the default; NULL only without any. */
static void check_tls_site(const struct config *c, const char *name, size_t len)
{
	const struct config_site *t = config_tls_site(c, name, len);
	if (!t) {
		if (c->tls_default)
			abort();
		return;
	}
	if (t < c->sites || t >= c->sites + c->n_sites || t->n_tls == 0)
		abort();
	const struct config_site *s = len ? config_match_site(c, name, len) : NULL;
	if (s && s->n_tls && t != s)
		abort();
	if ((!s || !s->n_tls) && t != c->tls_default)
		abort();
}

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
		check_tls_site(c, hosts[i], strlen(hosts[i]));
	}
	/* The input's first line as a Host value, with no terminating NUL after it. */
	const char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;
	const struct config_site *s = config_match_site(c, text, n);
	if (s && (s < c->sites || s >= c->sites + c->n_sites))
		abort();
	check_tls_site(c, text, n);
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
