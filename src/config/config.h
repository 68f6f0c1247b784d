/* ferry.conf: the parsed configuration and its loader.
 *
 * The file is a list of directives, one per line (`#` starts a comment), and blocks
 * `site NAME... { ... }`; `include GLOB` reads more files at top level. Keywords live in tables
 * (config.c), one per block context, so later features add rows, not branches. Errors are
 * collected, all of them, as "file:line:col: message" lines. Each load also builds the indexes
 * the workers match requests with (hostmap.h, prefixmap.h), part of the immutable config. */
#ifndef FERRY_CONFIG_CONFIG_H
#define FERRY_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "net/addr.h"
#include "net/cidr.h"

#define CONFIG_MAX_BYTES (64 * 1024 * 1024)        /* per file: larger ones are refused */
#define CONFIG_MAX_TOTAL_BYTES (256 * 1024 * 1024) /* all files of one load together */
#define CONFIG_MAX_FILES 100000                    /* the main file and every included one */
#define CONFIG_MAX_INCLUDE_DEPTH 16                /* a file including one including one ... */
#define CONFIG_MAX_ERRORS 100          /* then one "too many errors" line, and parsing stops */

struct config_listen {
	const char *file; /* the file it is written in (config->files), or NULL */
	char *spec;   /* as written: a FileDescriptorName ("http") or an address ("127.0.0.1:8080") */
	bool is_addr; /* spec parses as an address (net/addr.h), else it is a name */
	struct net_addr addr; /* the parsed address when is_addr or has_fallback */
	bool has_fallback;    /* `listen NAME ADDRESS`: use addr when nothing is passed as NAME */
	bool proxy_protocol;  /* `... proxy-protocol`: connections start with a PROXY header */
	bool h2c;             /* `... h2c`: HTTP/2 with prior knowledge (no HTTP/1.1) */
	bool tls;             /* `... tls`: TLS on these sockets (after the PROXY header, if any) */
	bool quic;            /* `... quic`: a UDP socket serving HTTP/3 (the sites' certificates) */
	unsigned line;
};

struct hostmap;
struct prefixmap;

#define CONFIG_MAX_UPSTREAMS 16 /* per `proxy` directive */
#define CONFIG_MAX_TLS 8        /* `tls` lines per site */

/* "auto" in a COUNT|auto field (but workers, where it is 0): the user of the field decides. */
#define CONFIG_AUTO UINT32_MAX

/* One upstream of a `proxy` directive:
 *   http://HOST:PORT   HOST a name (resolved at run time), an IPv4 literal, or [IPv6]
 *   http://{host}:PORT the host the request names (its Host), only into upstream-allow
 *   unix:/path         a Unix stream socket */
struct config_upstream {
	char *spec;	   /* as written (normalised), for logs */
	bool is_unix;
	bool host_tmpl;    /* {host} */
	bool numeric;      /* addr holds the address (unix, or an IP literal) */
	char *host;        /* a name to resolve (lower-case), when !numeric && !host_tmpl */
	uint16_t port;
	struct net_addr addr;
};

/* What `proxy` and its companion directives say for a site or a path block. */
struct config_proxy {
	struct config_upstream *ups; /* NULL: no proxy here */
	size_t n_ups;
	struct cidr *allow; /* upstream-allow */
	size_t n_allow;
	int proxy_protocol; /* 0: off, 1 or 2 */
	unsigned line;
};

/* `path PREFIX { ... }` inside a site: the longest matching prefix wins. A block has a root,
 * a proxy, or neither (then its prefix is served like the rest of the site), never both. */
struct config_path {
	char *prefix; /* starts with '/' */
	size_t prefix_len;
	char *root; /* NULL: none; else its files, looked up with the whole request path */
	unsigned root_id; /* with a root: its index in config->roots */
	struct config_proxy proxy;
	unsigned line;
};

/* `tls CERT KEY [ocsp FILE]` in a site: a certificate chain (PEM, leaf first), its private
 * key, and an OCSP response (DER) to staple. The files are read when a generation is built
 * (xport/tls.c), not here. */
struct config_tls {
	const char *file; /* the file it is written in (config->files), or NULL */
	char *cert, *key; /* absolute paths */
	char *ocsp;       /* NULL: none */
	unsigned line, cert_col, key_col, ocsp_col;
};

enum {
	CONFIG_HSTS_ON = 1 << 0,
	CONFIG_HSTS_SUBDOMAINS = 1 << 1, /* includeSubDomains */
	CONFIG_HSTS_PRELOAD = 1 << 2,
};

struct config_site {
	char **names; /* lower-case; "*" = default site; "*.example.com" = wildcard */
	size_t n_names;
	char *root; /* NULL: the embedded default page */
	struct config_proxy proxy;
	struct config_path *paths;
	size_t n_paths;
	struct prefixmap *path_map; /* the paths by prefix, when there are any (prefixmap.h) */
	unsigned root_id; /* with a root: its index in config->roots */
	struct config_tls *tls; /* its certificates (several: ECDSA and RSA), in file order */
	size_t n_tls;
	bool http_redirect; /* default on: a plain-HTTP request for a site with tls: 308 to https */
	unsigned hsts;      /* CONFIG_HSTS_*: Strict-Transport-Security on its TLS responses */
	uint32_t hsts_max_age; /* seconds */
	const char *file; /* the file it is written in (config->files), or NULL */
	unsigned line;
};

/* A distinct root directory: opened once (core/server.c), shared by every site and path block
 * that names it. file:line is its first use, for messages. */
struct config_root {
	const char *path;
	const char *file;
	unsigned line;
};

enum config_log { CONFIG_LOG_OFF, CONFIG_LOG_STDERR, CONFIG_LOG_FILE };

struct config {
	char *path; /* the file it came from, or NULL */

	struct config_listen *listens;
	size_t n_listens;

	unsigned workers; /* 0 ("auto", the default): one per online CPU */

	enum config_log access_log;
	char *access_log_path; /* for CONFIG_LOG_FILE */

	/* Limits (bytes / counts) */
	size_t max_request_line; /* default 8 KiB */
	size_t max_header_bytes; /* default 16 KiB */
	size_t max_header_fields; /* default 100 */
	unsigned max_connections; /* default 10000 per process */
	unsigned h2_max_streams;  /* default 100: concurrent streams per HTTP/2 connection */

	/* Timeouts in milliseconds. Only keepalive (0: no keep-alive, close after each response)
	 * and shutdown (0: close connections at once) may be 0; the others are at least 1 ms. */
	uint32_t header_timeout_ms;    /* default 10 s: from first byte to complete head */
	uint32_t body_timeout_ms;      /* default 30 s: between body reads */
	uint32_t body_total_timeout_ms; /* default 60 s: a whole body read to be dropped */
	uint32_t keepalive_timeout_ms; /* default 60 s */
	uint32_t send_timeout_ms;      /* default 30 s: between successful writes */
	uint32_t shutdown_timeout_ms;  /* default 10 s: graceful stop limit */
	uint32_t idle_exit_ms;         /* default 0 (off): exit after this long without connections */
	bool reload_on_change;         /* default off: reload when the config file changes (inotify) */

	/* Reverse proxy */
	struct cidr *trusted_proxies; /* peers whose X-Forwarded-* and Forwarded are kept */
	size_t n_trusted_proxies;
	uint32_t proxy_connect_timeout_ms; /* default 5 s */
	uint32_t proxy_timeout_ms;         /* default 60 s: no progress upstream -> 504 */
	uint32_t proxy_idle_timeout_ms;    /* default 30 s: pooled upstream connections */
	unsigned proxy_idle_max;           /* default CONFIG_AUTO, else per upstream and worker */
	bool has_resolver;
	struct net_addr resolver; /* `resolver ADDR`; default: /etc/resolv.conf */

	bool sandbox; /* default on: no_new_privs, Landlock, seccomp after startup */
	bool sandbox_strict; /* a forbidden syscall kills the process instead of EPERM */
	char *user;   /* drop to this user when started as root (NULL: stay) */

	struct config_site *sites; /* in file order */
	size_t n_sites;

	/* Built once per load, read-only afterwards. */
	struct hostmap *hostmap;    /* site names -> index in sites (hostmap.h) */
	struct config_root *roots;  /* every distinct root path, in order of first use */
	size_t n_roots;
	char **files;               /* every file read: path, then the included ones in order */
	size_t n_files;
	char **include_dirs;        /* the directories include directives read from, distinct */
	size_t n_include_dirs;

	/* TLS */
	unsigned max_tls_handshakes; /* default 1000 per process: more in progress are refused */
	/* The site whose certificates a TLS client without SNI (or with a name no site with
	 * certificates matches) gets: `site *` if it has any, else the first site that has. NULL:
	 * no site has a `tls` line. */
	const struct config_site *tls_default;
};

/* A config with every default and no sites (the embedded default page everywhere). */
struct config *config_new_default(void);
void config_free(struct config *c);

/* Parse text (not NUL-terminated necessarily) named `filename` in messages. On success returns
 * 0 and *ret (with path = a copy of filename). On failure returns -EINVAL and appends every
 * error, one "filename:line:col: message\n" per error, to errors (which may be NULL); text
 * longer than CONFIG_MAX_BYTES or holding a NUL byte gets a single error. Pure: no file
 * system access (a root that does not exist is found at startup, not here), so `include`
 * is an error here: only config_load reads included files. */
int config_parse(const char *filename, const char *text, size_t len, struct config **ret,
		 struct buf *errors);

/* Read and parse a file and the files it includes; I/O errors are reported in errors as
 * "filename: strerror" (for an included file, at the include directive's file:line:col). */
int config_load(const char *path, struct config **ret, struct buf *errors);

/* The site for a Host value (port already stripped or not: this strips ":port" and a trailing
 * dot, compares case-insensitively; exact names beat wildcards beat "*"). NULL if none. Time
 * independent of the number of sites (hostmap.h). */
const struct config_site *config_match_site(const struct config *c, const char *host,
					    size_t len);

/* The site whose certificates a TLS handshake for this server name (SNI; len 0: none) uses:
 * the site config_match_site() finds for it when that site has `tls` lines, else
 * c->tls_default. NULL when no site has certificates. */
const struct config_site *config_tls_site(const struct config *c, const char *name, size_t len);

/* The path block of site s with the longest prefix of this (normalised) path, or NULL; a
 * binary search, not a scan over the blocks (prefixmap.h). */
const struct config_path *config_match_path(const struct config_site *s, const char *path,
					    size_t len);

/* The proxy for a request to site s whose longest matching path block is cp (NULL: none):
 * NULL when cp has a root (served here), cp's proxy when it has one; otherwise (no block, or
 * one with neither) the site's own proxy, or NULL (served from the site's root). */
const struct config_proxy *config_route_proxy(const struct config_site *s,
					      const struct config_path *cp);

/* Parse "30s", "500ms", "2m", "1h", or bare seconds. 0 on success, -EINVAL for bad syntax,
 * -ERANGE for more than UINT32_MAX milliseconds. No bounds beyond that: directives check their
 * own. */
int config_parse_duration_ms(const char *s, uint32_t *ret);
/* Parse bare bytes or a number with one of k K KiB, m M MiB, g G GiB (all powers of 1024).
 * 0 on success, -EINVAL for bad syntax, -ERANGE when it does not fit a size_t. */
int config_parse_size(const char *s, size_t *ret);

#endif
