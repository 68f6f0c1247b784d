/* ferry.conf: the parsed configuration and its loader.
 *
 * The file is a list of directives, one per line (`#` starts a comment), and blocks
 * `site NAME... { ... }`. Keywords live in tables (config.c), one per block context, so later
 * features add rows, not branches. Errors are collected, all of them, as
 * "file:line:col: message" lines. */
#ifndef FERRY_CONFIG_CONFIG_H
#define FERRY_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct config_listen {
	char *spec;   /* as written: a FileDescriptorName ("http") or an address ("127.0.0.1:8080") */
	bool is_addr; /* spec parses as an address (net/addr.h), else it is a name */
	unsigned line;
};

struct config_site {
	char **names; /* lower-case; "*" = default site; "*.example.com" = wildcard */
	size_t n_names;
	char *root; /* NULL: the embedded default page */
	unsigned line;
};

enum config_log { CONFIG_LOG_OFF, CONFIG_LOG_STDERR, CONFIG_LOG_FILE };

struct config {
	char *path; /* the file it came from, or NULL */

	struct config_listen *listens;
	size_t n_listens;

	unsigned workers; /* 0: one per online CPU */

	enum config_log access_log;
	char *access_log_path; /* for CONFIG_LOG_FILE */

	/* Limits (bytes / counts) */
	size_t max_request_line; /* default 8 KiB */
	size_t max_header_bytes; /* default 16 KiB */
	size_t max_header_fields; /* default 100 */
	unsigned max_connections; /* default 10000 per process */

	/* Timeouts in milliseconds */
	uint32_t header_timeout_ms;    /* default 10 s: from first byte to complete head */
	uint32_t body_timeout_ms;      /* default 30 s: between body reads */
	uint32_t keepalive_timeout_ms; /* default 60 s */
	uint32_t send_timeout_ms;      /* default 30 s: between successful writes */
	uint32_t shutdown_timeout_ms;  /* default 10 s: graceful stop limit */

	struct config_site *sites; /* in file order */
	size_t n_sites;
};

/* A config with every default and no sites (the embedded default page everywhere). */
struct config *config_new_default(void);
void config_free(struct config *c);

/* Parse text (not NUL-terminated necessarily) named `filename` in messages. On success returns
 * 0 and *ret. On failure returns -EINVAL and appends every error, one
 * "filename:line:col: message\n" per error, to errors. */
int config_parse(const char *filename, const char *text, size_t len, struct config **ret,
		 struct buf *errors);

/* Read and parse a file; I/O errors are reported in errors as "filename: strerror". */
int config_load(const char *path, struct config **ret, struct buf *errors);

/* The site for a Host value (port already stripped or not: this strips ":port" and a trailing
 * dot, compares case-insensitively; exact names beat wildcards beat "*"). NULL if none. */
const struct config_site *config_match_site(const struct config *c, const char *host,
					    size_t len);

/* Parse "30s", "500ms", "2m", "1h", or bare seconds; 0 on success. */
int config_parse_duration_ms(const char *s, uint32_t *ret);
/* Parse "16k", "8KiB", "1m", bare bytes; 0 on success. */
int config_parse_size(const char *s, size_t *ret);

#endif
