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
#include "http/forward.h"
#include "http/coding.h"
#include "http/exchange.h"
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
	bool metrics;         /* named by `metrics`: these sockets serve only the metrics page */
	bool quic;            /* `... quic`: a UDP socket serving HTTP/3 (the sites' certificates) */
	unsigned line;
};

struct hostmap;
struct prefixmap;

#define CONFIG_ACME_CA "https://acme-v02.api.letsencrypt.org/directory"
#define CONFIG_ACME_DIR "/var/lib/ferry/acme"
#define CONFIG_ACME_EMAIL_MAX 254

#define CONFIG_MAX_UPSTREAMS 16 /* per `proxy` directive */
#define CONFIG_MAX_TLS 8        /* `tls` lines per site */

/* "auto" in a COUNT|auto field (but workers, where it is 0): the user of the field decides. */
#define CONFIG_AUTO UINT32_MAX

/* One upstream of a `proxy` directive:
 *   http://HOST:PORT   HOST a name (resolved at run time), an IPv4 literal, or [IPv6]
 *   http://{host}:PORT the host the request names (its Host), only into upstream-allow
 *   https://...        the same over TLS (port 443 by default): the upstream's certificate
 *                      verified for HOST against the system CAs or `upstream-ca`
 *   unix:/path         a Unix stream socket */
struct config_upstream {
	char *spec;	   /* as written (normalised), for logs */
	bool is_unix;
	bool tls;          /* https:// */
	bool host_tmpl;    /* {host} */
	bool numeric;      /* addr holds the address (unix, or an IP literal) */
	char *host;        /* a name to resolve (lower-case), when !numeric && !host_tmpl */
	uint16_t port;
	struct net_addr addr;
	/* its series on the metrics page (core/stats.h): set when its generation is built */
	unsigned stats_slot;
};

/* What `proxy` and its companion directives say for a site or a path block. */
struct config_proxy {
	struct config_upstream *ups; /* NULL: no proxy here */
	size_t n_ups;
	struct cidr *allow; /* upstream-allow */
	size_t n_allow;
	int proxy_protocol; /* 0: off, 1 or 2 */
	char *upstream_ca;  /* `upstream-ca FILE` (absolute): https:// upstreams trust these CAs
			     * instead of the system's; NULL: the system bundle */
	unsigned ca_line, ca_col;
	const char *ca_file; /* the config file it is written in */
	unsigned line;
	/* proxy-strip-prefix (path blocks only): the block's prefix is removed from the
	 * normalized path sent upstream; this is its length, 0: off */
	size_t strip_prefix;
	/* proxy-header-up: fields set or removed toward the upstream; `Host VALUE` is host */
	struct http_field_op *hdr_up;
	size_t n_hdr_up;
	char *host;
	/* proxy-header-down: fields set or removed in the upstream's responses */
	struct http_field_op *hdr_down;
	size_t n_hdr_down;
};

/* `basic-auth REALM|off`, `basic-auth-user NAME HASH`, `basic-auth-file FILE` in a site or a
 * path block. A path block without them takes its site's; `basic-auth off` exempts it. */
struct config_auth_user {
	char *name;
	size_t name_len;
	const char *file; /* where it is defined (config->files, or a basic-auth-file) */
	unsigned line;
	char *hash; /* crypt(3) setting: yescrypt "$y$...", bcrypt "$2b$...", sha-crypt */
};

struct config_auth {
	char *realm; /* NULL: not set in this block */
	bool off;
	struct config_auth_user *users; /* sorted by name: a binary search */
	size_t n_users;
	unsigned line;
};

/* `rate-limit N/s|N/m burst M | off` in a site or a path block: a token bucket per client
 * address (handler/ratelimit.c). A path block without it takes its site's. */
struct config_rate {
	uint32_t per_min;  /* requests per minute the bucket refills (N/s is 60 N); 0: not set */
	uint32_t burst;    /* its size */
	bool off;
	uint32_t id;       /* distinct per block in one load: buckets are per (id, address) */
	unsigned line;
};

/* The system CA bundle https:// upstreams are verified against without `upstream-ca`. */
#define CONFIG_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
struct config_error_page {
	int status;
	char *path; /* normalised, starts with '/' */
};

/* The response rules of a site or a path block (`header`, `redirect`, `try-files`,
 * `error-page`, `index`, `browse`, `precompressed`). A path block inherits each rule of its
 * site it does not set itself; its `header` lines come after the site's. */
struct config_rules {
	struct http_field_rules headers; /* `header`: NULL v when none */
	/* `redirect [STATUS] TARGET` (NULL: none): a template with {scheme} {host} {path}
	 * {query}; where it is written (a path block may inherit its site's). */
	char *redirect;
	size_t redirect_len;
	int redirect_status;
	bool redirect_tmpl;
	const char *redirect_file;
	unsigned redirect_line, redirect_col;
	/* `try-files TARGET... [=STATUS]`: templates with {path}, tried in order. */
	char **try_files;
	size_t n_try_files;
	int try_status; /* 0: none */
	/* `error-page STATUS... PATH`: the file (below the root) answering each status. */
	struct config_error_page *error_pages;
	size_t n_error_pages;
	/* `index NAME...` (NULL: index.html) and `browse` (-1: unset, inherit; 0 off; 1 on) */
	char **index;
	size_t n_index;
	int browse;
	/* `precompressed CODING...`: http/coding.h's codings, in the order given */
	unsigned char precompressed[HTTP_CODING_N];
	size_t n_precompressed;
	/* `encode CODING...`: compressed at serve time (gzip, zstd), in the order given */
	unsigned char encode[HTTP_CODING_N];
	size_t n_encode;
	/* Once the block's end is read: does it set anything? (routing looks at nothing more
	 * when it does not: no cost for a site without rules) */
	bool any;
	bool statics; /* try-files, index, browse, precompressed or encode: the static handler looks */
};

/* `path PREFIX { ... }` inside a site: the longest matching prefix wins. A block has a root,
 * a proxy, or neither (then its prefix is served like the rest of the site), never both. */
struct config_path {
	char *prefix; /* starts with '/' */
	size_t prefix_len;
	char *root; /* NULL: none; else its files, looked up with the whole request path */
	unsigned root_id; /* with a root: its index in config->roots */
	struct config_proxy proxy;
	struct config_auth auth;
	struct config_rate rate;
	struct config_rules rules; /* its own, then what it inherits (site_finish) */
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
	/* `tls acme`: cert and key are one file, ACME_DIR/certificates/NAME.pem (the key, then
	 * the chain), written by `ferry acme`; until it exists the site has no certificate
	 * (a warning, not an error; its handshakes fail). */
	bool acme;
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
	struct config_rules rules;
	struct config_path *paths;
	size_t n_paths;
	struct prefixmap *path_map; /* the paths by prefix, when there are any (prefixmap.h) */
	unsigned root_id; /* with a root: its index in config->roots */
	struct config_tls *tls; /* its certificates (several: ECDSA and RSA), in file order */
	size_t n_tls;
	bool acme;          /* `tls acme`: its certificate comes from the ACME CA (acme/) */
	unsigned acme_col;  /* where `acme` is written (line: tls[0].line) */
	bool http_redirect; /* default on: a plain-HTTP request for a site with tls: 308 to https */
	unsigned hsts;      /* CONFIG_HSTS_*: Strict-Transport-Security on its TLS responses */
	uint32_t hsts_max_age; /* seconds */
	struct config_auth auth;
	struct config_rate rate;
	const char *file; /* the file it is written in (config->files), or NULL */
	unsigned line;
	/* its series on the metrics page (core/stats.h): set when its generation is built */
	unsigned stats_slot;
};

/* A distinct root directory: opened once (core/server.c), shared by every site and path block
 * that names it. file:line is its first use, for messages. */
struct config_root {
	const char *path;
	const char *file;
	unsigned line;
};

enum config_log { CONFIG_LOG_OFF, CONFIG_LOG_STDERR, CONFIG_LOG_FILE };
/* `access-log ... format combined|json` */
enum config_log_format { CONFIG_LOG_COMBINED, CONFIG_LOG_JSON };

struct config {
	char *path; /* the file it came from, or NULL */

	struct config_listen *listens;
	size_t n_listens;

	unsigned workers; /* 0 ("auto", the default): one per online CPU */

	enum config_log access_log;
	char *access_log_path; /* for CONFIG_LOG_FILE */
	enum config_log_format access_log_format; /* default combined */

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
	char **auth_files;          /* the basic-auth-file files, read again on reload */
	size_t n_auth_files;
	uint32_t n_rates;           /* rate-limit lines: their ids are 1..n_rates */

	char *metrics; /* `metrics NAME`: the listen line (its spec) serving the metrics page */

	/* ACME (`tls acme` in a site; acme/acme.h) */
	char *acme_ca;      /* directory URL (https://); default: Let's Encrypt's production */
	char *acme_email;   /* contact for the account, or NULL */
	char *acme_ca_root; /* PEM file trusted for the CA's own HTTPS (NULL: the system's) */
	char *acme_dir;     /* absolute: `acme-dir`, else $STATE_DIRECTORY, else CONFIG_ACME_DIR */
	bool acme_tls_alpn; /* `acme-challenge tls-alpn-01` (RFC 8737); default http-01 */
	bool acme_integrated; /* `acme-mode integrated`: ferry serve runs the client itself */
	uint32_t acme_timeout_ms; /* `acme-timeout`: what one request to the CA may take */
	uint32_t acme_retry_ms; /* `acme-retry`: integrated mode's first retry after a failure
				 * (then doubling up to 6 h); default 1 min */
	size_t n_acme_sites; /* sites with `tls acme` */

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

/* The basic-auth a request to site s in block cp (NULL: none) must pass: cp's when it sets
 * one, else the site's; NULL when neither does or cp says `basic-auth off`. */
const struct config_auth *config_route_auth(const struct config_site *s,
					    const struct config_path *cp);
/* The rate-limit for site s in block cp (as config_route_auth), or NULL. */
const struct config_rate *config_route_rate(const struct config_site *s,
					    const struct config_path *cp);
/* The user of that name, or NULL (binary search). */
const struct config_auth_user *config_auth_user(const struct config_auth *a, const char *name,
						size_t len);

/* Parse "30s", "500ms", "2m", "1h", or bare seconds. 0 on success, -EINVAL for bad syntax,
 * -ERANGE for more than UINT32_MAX milliseconds. No bounds beyond that: directives check their
 * own. */
int config_parse_duration_ms(const char *s, uint32_t *ret);
/* Parse bare bytes or a number with one of k K KiB, m M MiB, g G GiB (all powers of 1024).
 * 0 on success, -EINVAL for bad syntax, -ERANGE when it does not fit a size_t. */
int config_parse_size(const char *s, size_t *ret);

#endif
