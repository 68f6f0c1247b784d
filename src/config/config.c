/* ferry.conf: owns the directive tables (one per block context), the checks on every value, the
 * error list with file:line:col, the include directive (the files it reads, cycles, limits),
 * and the per-request lookup of a site by Host and of a path block by prefix, through the
 * indexes each load builds (hostmap.h, prefixmap.h).
 *
 * Parsing is statement at a time: the lexer's tokens up to a terminator (newline or ';', '{',
 * '}', end of file) form a statement whose first word names a directive. The directive's row
 * says where it may appear, how many arguments it takes, whether it may repeat, and which
 * handler validates and stores it; a row with a `block` context opens a { } body parsed with
 * that context's table. Adding a directive is adding a row (and maybe a handler). */
#include "config/config.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/str.h"
#include "base/xalloc.h"
#include "config/hostmap.h"
#include "config/lexer.h"
#include "config/prefixmap.h"
#include "http/fields.h"
#include "http/parser.h"
#include "http/path.h"
#include "http/tmpl.h"
#include "sd/listen.h"

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define SECOND_MS ((uint64_t)1000)
#define DAY_MS (24 * 3600 * SECOND_MS)

/* Deeper than any table nests today; a guard for when a context can contain itself. */
#define CONFIG_MAX_DEPTH 8
#define ARGS_UNBOUNDED UINT_MAX

/* Echo at most this much of a user's token in a message; escaping may quadruple it. */
#define ECHO_MAX 64
#define ECHO_SIZE (ECHO_MAX * 4 + 4)

struct pos {
	unsigned line, col; /* line 0: not seen */
	const char *file;   /* which file (an included one, or the main one) */
};

struct arg {
	char *text;
	size_t len;
	struct pos at;
	bool quoted; /* written "...": its text starts one column after at.col */
};

/* One directive as written: v[0] is its name. */
struct stmt {
	struct arg *v;
	size_t n, cap;
	bool bad; /* the lexer reported an error inside it: its arguments are incomplete */
};

/* A string set (open addressing) for catching duplicate listens, and for the distinct roots and
 * include directories, in linear time even in a pathological 64 MiB file. (Duplicate site
 * names are caught by the hostmap the workers match with.) */
struct name_entry {
	char *key;
	const char *file;
	unsigned line;
	uint32_t id;
};

struct name_set {
	struct name_entry *v;
	size_t n, cap;
};

struct context;

/* The block being parsed: its table, the object its directives write to, and where each
 * directive of the table was first seen (for duplicates and cross-checks). */
struct scope {
	const struct context *ctx;
	void *target;
	struct pos *seen; /* ctx->n entries */
	void *child;	  /* set by a block directive's handler: the target of its body */
};

/* A file being read: the main one, or one an include directive opened. */
struct frame {
	const char *name;
	dev_t dev;
	ino_t ino;
};

struct parser {
	const char *filename; /* the file being read, for messages */
	struct buf *errors;
	unsigned n_errors;
	bool stop;
	bool brace_pending; /* a block directive ended without '{': its '{' may follow alone */
	struct lexer lx;
	struct stmt stmt;
	struct config *cfg;
	size_t sites_cap, listens_cap;
	struct name_set listen_specs;

	/* include: only when reading files (config_load), never in config_parse */
	bool can_include;
	struct frame stack[CONFIG_MAX_INCLUDE_DEPTH + 1]; /* [0]: the main file */
	unsigned depth;					  /* frames in use */
	size_t total_bytes, files_cap;
	struct name_set include_dirs;
};

enum {
	DIR_ONCE = 1 << 0, /* a second one in the same block is an error */
};

struct directive {
	const char *name;
	unsigned min_args, max_args; /* not counting the name */
	const char *usage;	     /* the arguments, for messages: "COUNT|auto" */
	unsigned flags;
	/* Validates and stores; reports its own errors and then returns < 0. */
	int (*handler)(struct parser *p, struct scope *sc, const struct directive *d,
		       const struct stmt *s);
	/* For the generic handlers: which field of the scope's target, and its bounds. */
	size_t offset, size;
	uint64_t lo, hi;
	const struct context *block; /* takes a { } body parsed in this context */
};

struct context {
	const char *where; /* completes "'x' is not allowed ...": "at top level" */
	const struct directive *directives;
	size_t n;
	/* Checks across directives, once the block's last line has been read. */
	void (*finish)(struct parser *p, struct scope *sc);
};

#define FIELD(type, f) offsetof(struct type, f), sizeof(((struct type *)0)->f)

/* ---- errors ---------------------------------------------------------------------------- */

static void _printf_(5, 0) verror(struct parser *p, const char *file, unsigned line,
				  unsigned col, const char *fmt, va_list ap)
{
	if (p->stop)
		return;
	if (p->n_errors >= CONFIG_MAX_ERRORS) {
		if (p->errors)
			(void)buf_printf(p->errors, "%s:%u:%u: too many errors\n", file, line, col);
		p->stop = true;
		return;
	}
	p->n_errors++;
	if (!p->errors)
		return;
	(void)buf_printf(p->errors, "%s:%u:%u: ", file, line, col);
	(void)buf_vprintf(p->errors, fmt, ap);
	(void)buf_appends(p->errors, "\n");
}

static void _printf_(4, 5)
    error_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(p, p->filename, line, col, fmt, ap);
	va_end(ap);
}

/* At a position remembered from an earlier statement, maybe in another file. */
static void _printf_(3, 4) error_pos(struct parser *p, const struct pos *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(p, at->file ? at->file : p->filename, at->line, at->col, fmt, ap);
	va_end(ap);
}

#define error_arg(p, a, ...) error_at((p), (a)->at.line, (a)->at.col, __VA_ARGS__)

/* "line 4" when file is the one being read, else "other.conf:4": where something was first
 * seen, in a message about the file being read. Use with the format "%s%s%u". */
#define FIRST_AT(p, file, line)                                                                  \
	(!(file) || strcmp((file), (p)->filename) == 0 ? "line " : (file)),                      \
	    (!(file) || strcmp((file), (p)->filename) == 0 ? "" : ":"), (line)

/* The length of the UTF-8 sequence at s (at most n bytes) if it is valid and encodes a
 * printable code point (not C1 controls, which some terminals obey), else 0. */
static size_t utf8_printable_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF, C1 controls. */
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp < 0xa0)
		return 0;
	return len;
}

/* A token for quoting in a message: at most ECHO_MAX bytes of it, with control characters and
 * bytes that are not printable UTF-8 written as \xNN, so that a message is one line and safe
 * to print on a terminal. */
static const char *echo(const struct arg *a, char out[ECHO_SIZE])
{
	const unsigned char *t = (const unsigned char *)a->text;
	size_t n = MIN(a->len, (size_t)ECHO_MAX), o = 0;

	for (size_t i = 0; i < n;) {
		size_t u = t[i] >= 0x80 ? utf8_printable_len(t + i, n - i) : 0;
		if (u) {
			memcpy(out + o, t + i, u);
			o += u;
			i += u;
		} else if (t[i] < 0x20 || t[i] >= 0x7f) {
			snprintf(out + o, 5, "\\x%02x", t[i]);
			o += 4;
			i++;
		} else
			out[o++] = (char)t[i++];
	}
	if (a->len > ECHO_MAX) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- numbers --------------------------------------------------------------------------- */

/* Decimal digits only; -ERANGE past max. */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* clang-format off */
static const struct unit duration_units[] = {
	{"", SECOND_MS}, {"ms", 1}, {"s", SECOND_MS},
	{"m", 60 * SECOND_MS}, {"h", 3600 * SECOND_MS},
};

static const struct unit size_units[] = {
	{"", 1},      {"k", KIB},   {"K", KIB},   {"KiB", KIB}, {"m", MIB},
	{"M", MIB},   {"MiB", MIB}, {"g", GIB},   {"G", GIB},   {"GiB", GIB},
};
/* clang-format on */

/* NUMBER UNIT with UNIT from the table; value <= max. */
static int parse_with_unit(const char *s, const struct unit *units, size_t n_units, uint64_t max,
			   uint64_t *ret)
{
	size_t digits = 0;

	if (!s)
		return -EINVAL;
	while (s[digits] >= '0' && s[digits] <= '9')
		digits++;
	if (digits == 0)
		return -EINVAL;
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(s + digits, units[i].suffix) != 0)
			continue;
		uint64_t v;
		int r = parse_uint(s, digits, max / units[i].mult, &v);
		if (r < 0)
			return r;
		*ret = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int config_parse_duration_ms(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r = parse_with_unit(s, duration_units, ARRAY_SIZE(duration_units), UINT32_MAX, &v);
	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int config_parse_size(const char *s, size_t *ret)
{
	uint64_t v;
	int r = parse_with_unit(s, size_units, ARRAY_SIZE(size_units), SIZE_MAX, &v);
	if (r < 0)
		return r;
	*ret = (size_t)v;
	return 0;
}

/* A bound for a message, in the largest unit that states it exactly: "24h", "1 MiB". */
static const char *format_ms(uint64_t ms, char out[32])
{
	static const struct unit units[] = {
	    {"h", 3600 * SECOND_MS},
	    {"m", 60 * SECOND_MS},
	    {"s", SECOND_MS},
	    {"ms", 1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (ms && ms % units[i].mult == 0) {
			snprintf(out, 32, "%llu%s", (unsigned long long)(ms / units[i].mult),
				 units[i].suffix);
			return out;
		}
	}
	snprintf(out, 32, "%llu", (unsigned long long)ms);
	return out;
}

static const char *format_size(uint64_t n, char out[32])
{
	static const struct unit units[] = {{" GiB", GIB}, {" MiB", MIB}, {" KiB", KIB}};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (n && n % units[i].mult == 0) {
			snprintf(out, 32, "%llu%s", (unsigned long long)(n / units[i].mult),
				 units[i].suffix);
			return out;
		}
	}
	snprintf(out, 32, "%llu", (unsigned long long)n);
	return out;
}

/* Store v into the scope target's field of the directive's width. */
static void store_uint(const struct scope *sc, const struct directive *d, uint64_t v)
{
	char *f = (char *)sc->target + d->offset;
	switch (d->size) {
	case sizeof(uint32_t): {
		uint32_t x = (uint32_t)v;
		memcpy(f, &x, sizeof(x));
		break;
	}
	case sizeof(uint64_t): {
		uint64_t x = v;
		memcpy(f, &x, sizeof(x));
		break;
	}
	default:
		abort(); /* a table row with a field this code does not know: a programming error */
	}
}

/* ---- name sets ------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	/* FNV's low bits, which pick the slot, barely differ between "s1.example.com" and
	 * "s2.example.com": mix them (murmur3's finalizer), or thousands of such names cluster. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static struct name_entry *set_slot(struct name_entry *v, size_t cap, const char *key)
{
	size_t i = (size_t)hash_str(key) & (cap - 1);
	while (v[i].key && strcmp(v[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

/* The entry for key: an existing one (*ret_found), or a new one taking a copy of key. */
static struct name_entry *set_add(struct name_set *s, const char *key, bool *ret_found)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct name_entry *v = xcalloc(cap, sizeof(*v));
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i].key)
				*set_slot(v, cap, s->v[i].key) = s->v[i];
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	struct name_entry *e = set_slot(s->v, s->cap, key);
	*ret_found = e->key != NULL;
	if (!e->key) {
		e->key = xstrdup(key);
		s->n++;
	}
	return e;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->v[i].key);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* ---- generic handlers ------------------------------------------------------------------ */

static int dir_duration(struct parser *p, struct scope *sc, const struct directive *d,
			const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE], lo[32], hi[32];
	uint32_t ms;

	int r = config_parse_duration_ms(a->text, &ms);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid duration '%s' for '%s' (examples: 500ms, 10s, 2m, 1h)",
			  echo(a, e), d->name);
		return r;
	}
	if (r < 0 || ms < d->lo || ms > d->hi) {
		error_arg(p, a, "'%s' must be between %s and %s", d->name, format_ms(d->lo, lo),
			  format_ms(d->hi, hi));
		return -ERANGE;
	}
	store_uint(sc, d, ms);
	return 0;
}

static int dir_size(struct parser *p, struct scope *sc, const struct directive *d,
		    const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE], lo[32], hi[32];
	size_t n;

	int r = config_parse_size(a->text, &n);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid size '%s' for '%s' (examples: 512, 8k, 1M)", echo(a, e),
			  d->name);
		return r;
	}
	if (r < 0 || n < d->lo || n > d->hi) {
		error_arg(p, a, "'%s' must be between %s and %s", d->name, format_size(d->lo, lo),
			  format_size(d->hi, hi));
		return -ERANGE;
	}
	store_uint(sc, d, n);
	return 0;
}

static int dir_count(struct parser *p, struct scope *sc, const struct directive *d,
		     const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	uint64_t n;

	int r = parse_uint(a->text, a->len, UINT64_MAX, &n);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid number '%s' for '%s'", echo(a, e), d->name);
		return r;
	}
	if (r < 0 || n < d->lo || n > d->hi) {
		error_arg(p, a, "'%s' must be between %llu and %llu", d->name,
			  (unsigned long long)d->lo, (unsigned long long)d->hi);
		return -ERANGE;
	}
	store_uint(sc, d, n);
	return 0;
}

/* COUNT|auto: "auto" stores CONFIG_AUTO, for the field's user to decide. */
static int dir_count_or_auto(struct parser *p, struct scope *sc, const struct directive *d,
			     const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	uint64_t n;

	if (strcmp(a->text, "auto") == 0) {
		store_uint(sc, d, CONFIG_AUTO);
		return 0;
	}
	int r = parse_uint(a->text, a->len, UINT64_MAX, &n);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid number '%s' for '%s' (a count or auto)", echo(a, e),
			  d->name);
		return r;
	}
	if (r < 0 || n < d->lo || n > d->hi) {
		error_arg(p, a, "'%s' must be between %llu and %llu, or auto", d->name,
			  (unsigned long long)d->lo, (unsigned long long)d->hi);
		return -ERANGE;
	}
	store_uint(sc, d, n);
	return 0;
}

/* ---- top level ------------------------------------------------------------------------- */

static int dir_workers(struct parser *p, struct scope *sc, const struct directive *d,
		       const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	uint64_t n;

	if (strcmp(a->text, "auto") == 0) {
		store_uint(sc, d, 0);
		return 0;
	}
	int r = parse_uint(a->text, a->len, UINT64_MAX, &n);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid number '%s' for 'workers' (a count or auto)", echo(a, e));
		return r;
	}
	if (r < 0 || n < d->lo || n > d->hi) {
		error_arg(p, a, "'workers' must be between %llu and %llu, or auto",
			  (unsigned long long)d->lo, (unsigned long long)d->hi);
		return -ERANGE;
	}
	store_uint(sc, d, n);
	return 0;
}

static const struct {
	const char *word;
	enum config_log log;
} access_log_words[] = {
    {"off", CONFIG_LOG_OFF},
    {"stderr", CONFIG_LOG_STDERR},
};

static const struct {
	const char *word;
	enum config_log_format format;
} access_log_formats[] = {
    {"combined", CONFIG_LOG_COMBINED},
    {"json", CONFIG_LOG_JSON},
};

/* `access-log off|stderr|PATH [format combined|json]` */
static int dir_access_log(struct parser *p, struct scope *sc, const struct directive *d _unused_,
			  const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	enum config_log log = CONFIG_LOG_FILE;
	enum config_log_format format = CONFIG_LOG_COMBINED;

	for (size_t i = 0; i < ARRAY_SIZE(access_log_words); i++)
		if (strcmp(a->text, access_log_words[i].word) == 0)
			log = access_log_words[i].log;
	/* Relative paths would depend on the working directory of whoever starts ferry. */
	if (log == CONFIG_LOG_FILE && (a->text[0] != '/' || a->len > PATH_MAX)) {
		error_arg(p, a, "'access-log' takes off, stderr or an absolute path, not '%s'",
			  echo(a, e));
		return -EINVAL;
	}
	if (s->n > 2) {
		const struct arg *k = &s->v[2], *f = s->n > 3 ? &s->v[3] : NULL;
		if (strcmp(k->text, "format") != 0) {
			error_arg(p, k,
				  "'access-log' takes 'format' after the destination, not '%s'",
				  echo(k, e));
			return -EINVAL;
		}
		if (!f) {
			error_arg(p, k, "'format' takes combined or json");
			return -EINVAL;
		}
		size_t i = 0;
		while (i < ARRAY_SIZE(access_log_formats) &&
		       strcmp(f->text, access_log_formats[i].word) != 0)
			i++;
		if (i == ARRAY_SIZE(access_log_formats)) {
			error_arg(p, f, "unknown access-log format '%s' (combined or json)",
				  echo(f, e));
			return -EINVAL;
		}
		if (log == CONFIG_LOG_OFF) {
			error_arg(p, k, "'access-log off' takes no format");
			return -EINVAL;
		}
		format = access_log_formats[i].format;
	}
	c->access_log = log;
	c->access_log_format = format;
	if (log == CONFIG_LOG_FILE)
		c->access_log_path = xstrdup(a->text);
	return 0;
}

static int dir_reload_on_change(struct parser *p, struct scope *sc,
				const struct directive *d _unused_, const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];

	if (strcmp(a->text, "on") == 0)
		c->reload_on_change = true;
	else if (strcmp(a->text, "off") == 0)
		c->reload_on_change = false;
	else {
		error_arg(p, a, "'reload-on-change' takes on or off, not '%s'", echo(a, e));
		return -EINVAL;
	}
	return 0;
}

static int dir_sandbox(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		       const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];

	if (strcmp(a->text, "on") == 0)
		c->sandbox = true;
	else if (strcmp(a->text, "strict") == 0)
		c->sandbox = c->sandbox_strict = true;
	else if (strcmp(a->text, "off") == 0)
		c->sandbox = false;
	else {
		error_arg(p, a, "'sandbox' takes on, strict or off, not '%s'", echo(a, e));
		return -EINVAL;
	}
	return 0;
}

/* `user NAME` or `user UID[:GID]`: resolved at startup (from /etc/passwd, as a static binary
 * has no NSS), only used when started as root. */
static int dir_user(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		    const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];

	if (a->len == 0 || a->len > 64 || a->text[0] == '-' || strchr(a->text, '/')) {
		error_arg(p, a, "invalid user '%s'", echo(a, e));
		return -EINVAL;
	}
	c->user = xstrdup(a->text);
	return 0;
}

/* A FileDescriptorName= as systemd allows it, minus what sd/listen.h would reject. */
static bool valid_fdname(const char *s, size_t n)
{
	if (n == 0 || n > SD_FDNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
			return false;
	return true;
}

static int dir_listen(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		      const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE], key[2 + SD_FDNAME_MAX + NET_ADDR_STRLEN];
	struct net_addr addr;
	bool is_addr = net_addr_parse(a->text, &addr) == 0;
	/* Trailing flags, in any order: `proxy-protocol` (connections come from a front proxy
	 * that sends a PROXY header), `h2c` (HTTP/2 with prior knowledge, RFC 9113 §3.3), `tls`
	 * (TLS on these sockets, after the PROXY header if any), `quic` (a UDP socket: HTTP/3 over
	 * QUIC, RFC 9114, with the sites' certificates). */
	size_t nargs = s->n;
	bool proxy_protocol = false, h2c = false, tls = false, quic = false;
	while (nargs >= 3) {
		const char *w = s->v[nargs - 1].text;
		bool *flag = NULL;
		if (strcmp(w, "proxy-protocol") == 0)
			flag = &proxy_protocol;
		else if (strcmp(w, "h2c") == 0)
			flag = &h2c;
		else if (strcmp(w, "tls") == 0)
			flag = &tls;
		else if (strcmp(w, "quic") == 0)
			flag = &quic;
		if (!flag)
			break;
		if (*flag) {
			error_arg(p, &s->v[nargs - 1], "'%s' given twice", w);
			return -EINVAL;
		}
		*flag = true;
		nargs--;
	}

	/* Datagram addresses (udp:, unixgram:) pass: `ferry echo` serves them, and whether the
	 * mode can use a socket is listeners.c's to say, for inherited sockets too. */
	if (!is_addr && !valid_fdname(a->text, a->len)) {
		/* A ':' cannot be in a name, so the writer meant an address. */
		if (memchr(a->text, ':', a->len))
			error_arg(p, a, "invalid listen address '%s'", echo(a, e));
		else
			error_arg(p, a,
				  "'%s' is neither an address nor a socket name (1 to 255 "
				  "printable ASCII characters, no ':')",
				  echo(a, e));
		return -EINVAL;
	}

	/* Key addresses by their canonical form, so "127.0.0.1:80" and "127.0.0.1:080" clash. */
	if (is_addr) {
		char f[NET_ADDR_STRLEN];
		snprintf(key, sizeof(key), "a %s", net_addr_format(&addr, f, sizeof(f)));
	} else
		snprintf(key, sizeof(key), "n %s", a->text);
	bool found;
	struct name_entry *ent = set_add(&p->listen_specs, key, &found);
	if (found) {
		error_arg(p, a, "duplicate 'listen %s' (first at %s%s%u)", echo(a, e),
			  FIRST_AT(p, ent->file, ent->line));
		return -EEXIST;
	}
	ent->line = a->at.line;
	ent->file = p->filename;

	/* `listen NAME ADDRESS`: the sockets passed under NAME, or else ADDRESS (bound by ferry
	 * when nothing was passed, and what `ferry units` writes into the socket unit). */
	struct net_addr fallback;
	bool has_fallback = false;
	if (nargs >= 4) {
		error_arg(p, &s->v[3],
			  "'listen' takes ADDRESS|NAME [ADDRESS] [proxy-protocol] [h2c] [tls] [quic]");
		return -EINVAL;
	}
	if (nargs == 3) {
		const struct arg *b = &s->v[2];
		if (is_addr) {
			error_arg(p, a, "'listen %s %s': the first word must be a socket name when an "
				  "address follows", echo(a, e), b->text);
			return -EINVAL;
		}
		if (net_addr_parse(b->text, &fallback) < 0) {
			error_arg(p, b, "invalid listen address '%s'", echo(b, e));
			return -EINVAL;
		}
		has_fallback = true;
	}

	if (c->n_listens == p->listens_cap) {
		p->listens_cap = p->listens_cap ? p->listens_cap * 2 : 4;
		c->listens = xrealloc(c->listens, p->listens_cap * sizeof(*c->listens));
	}
	struct config_listen *l = &c->listens[c->n_listens++];
	memset(l, 0, sizeof(*l));
	l->spec = xstrdup(a->text);
	l->is_addr = is_addr;
	if (is_addr)
		l->addr = addr;
	if (has_fallback) {
		l->addr = fallback;
		l->has_fallback = true;
	}
	l->proxy_protocol = proxy_protocol;
	l->h2c = h2c;
	l->tls = tls;
	l->quic = quic;
	if (h2c && tls) {
		/* over TLS, HTTP/2 is what ALPN negotiates (RFC 9113 §3.2) */
		error_arg(p, &s->v[0], "'listen ... h2c' is for plain sockets: not with tls");
		return -EINVAL;
	}
	if (quic && (h2c || tls || proxy_protocol)) {
		/* QUIC has its own TLS (RFC 9001) and carries only HTTP/3 */
		error_arg(p, &s->v[0], "'listen ... quic' takes no other flag");
		return -EINVAL;
	}
	if (quic && (is_addr || has_fallback) && l->addr.type != SOCK_DGRAM) {
		error_arg(p, has_fallback ? &s->v[2] : a, "'listen ... quic' needs a udp: address");
		return -EINVAL;
	}
	l->line = s->v[0].at.line;
	return 0;
}

static bool valid_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A lower-case DNS-ish name (IPv4 literals are such names too): dot-separated labels of 1..63
 * letters, digits, '-' or '_', not starting or ending with '-', 253 bytes at most. */
static bool valid_dns_name(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!valid_label_char(s[i]) || (label == 0 && s[i] == '-'))
			return false;
		label++;
	}
	return true;
}

static bool valid_ipv6_literal(const char *s, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	struct in6_addr ip6;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof(host))
		return false;
	memcpy(host, s + 1, n - 2);
	host[n - 2] = '\0';
	return inet_pton(AF_INET6, host, &ip6) == 1;
}

/* Lower-case name and drop one trailing '.'; then: "*", "*.DNSNAME", DNSNAME or [IPv6]. */
static bool normalize_site_name(char *name, size_t *len)
{
	size_t n = *len;

	for (size_t i = 0; i < n; i++)
		name[i] = ascii_lower(name[i]);
	/* "*." stays as written (and invalid): it must not turn into the default site. */
	if (n > 1 && name[n - 1] == '.' && !str_eq(name, n, "*."))
		name[--n] = '\0';
	*len = n;
	if (str_eq(name, n, "*"))
		return true;
	if (n > 2 && name[0] == '*' && name[1] == '.')
		return valid_dns_name(name + 2, n - 2);
	if (name[0] == '[')
		return valid_ipv6_literal(name, n);
	return valid_dns_name(name, n);
}

static int dir_site(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		    const struct stmt *s)
{
	struct config *c = sc->target;
	int ret = 0;

	if (c->n_sites == p->sites_cap) {
		p->sites_cap = p->sites_cap ? p->sites_cap * 2 : 4;
		c->sites = xrealloc(c->sites, p->sites_cap * sizeof(*c->sites));
	}
	struct config_site *site = &c->sites[c->n_sites++];
	memset(site, 0, sizeof(*site));
	site->line = s->v[0].at.line;
	site->file = p->filename;
	site->http_redirect = true;
	site->rules.browse = -1;
	site->names = xcalloc(s->n, sizeof(*site->names));
	/* The body is parsed even when a name is bad, so its own errors are reported too. */
	sc->child = site;

	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		char e[ECHO_SIZE];
		char *name = xstrndup(a->text, a->len);
		size_t n = a->len;

		if (!normalize_site_name(name, &n)) {
			if (memchr(name, ':', n) && name[0] != '[')
				error_arg(p, a, "site name '%s' has a port: sites match any port",
					  echo(a, e));
			else
				error_arg(p, a,
					  "invalid site name '%s' (a host name, [IPv6 address], "
					  "'*' or '*.domain')",
					  echo(a, e));
			free(name);
			ret = -EINVAL;
			continue;
		}
		/* The index the workers match with finds duplicates too (built as we go). */
		if (!c->hostmap)
			c->hostmap = hostmap_new(64);
		uint32_t other;
		if (hostmap_add(c->hostmap, name, (uint32_t)(site - c->sites), &other) < 0) {
			const struct config_site *o = &c->sites[other];
			if (o == site)
				error_arg(p, a, "site name '%s' is listed twice", echo(a, e));
			else
				error_arg(p, a,
					  "site name '%s' is already used by the site at %s%s%u",
					  echo(a, e), FIRST_AT(p, o->file, o->line));
			free(name);
			ret = -EEXIST;
			continue;
		}
		site->names[site->n_names++] = name;
	}
	return ret;
}

static const struct pos *scope_seen(const struct scope *sc, const char *name)
{
	for (size_t i = 0; i < sc->ctx->n; i++)
		if (strcmp(sc->ctx->directives[i].name, name) == 0)
			return &sc->seen[i];
	return NULL;
}

static void acme_finish(struct parser *p, struct config *c);

/* The certificates a client without SNI gets: `site *`'s, else the first site's with any. */
static const struct config_site *tls_default_site(const struct config *c)
{
	const struct config_site *any = config_match_site(c, "", 0);
	if (any && any->n_tls)
		return any;
	for (size_t i = 0; i < c->n_sites; i++)
		if (c->sites[i].n_tls)
			return &c->sites[i];
	return NULL;
}

static void top_finish(struct parser *p, struct scope *sc)
{
	struct config *c = sc->target;

	acme_finish(p, c);
	/* The sites no longer move: a pointer into them stays valid. */
	c->tls_default = tls_default_site(c);
	for (size_t i = 0; i < c->n_listens && !c->tls_default; i++) {
		const struct config_listen *l = &c->listens[i];
		const struct pos at = {l->line, 1, l->file};
		if (l->tls || l->quic)
			error_pos(p, &at, "'listen %s ... %s' but no site has a certificate (tls "
				  "CERT KEY inside a site block)", l->spec, l->tls ? "tls" : "quic");
	}

	if (c->metrics) {
		const struct pos *at = scope_seen(sc, "metrics");
		struct config_listen *ml = NULL;
		for (size_t i = 0; i < c->n_listens && !ml; i++)
			if (strcmp(c->listens[i].spec, c->metrics) == 0)
				ml = &c->listens[i];
		if (!ml)
			error_pos(p, at, "'metrics %s': no 'listen %s' line names these sockets",
				  c->metrics, c->metrics);
		else if (ml->h2c)
			error_pos(p, at, "'metrics %s': the metrics page is served over HTTP/1.1, not "
				  "on an h2c listener", c->metrics);
		else
			ml->metrics = true;
	}

	if (c->max_header_bytes < c->max_request_line) {
		/* Point at whichever of the two was written; max-header-size if both. */
		const struct pos *at = scope_seen(sc, "max-header-size");
		if (!at->line)
			at = scope_seen(sc, "max-request-line");
		error_pos(p, at, "max-header-size (%zu) must be at least max-request-line (%zu)",
			  c->max_header_bytes, c->max_request_line);
	}
}

/* ---- response rules: header, redirect, try-files, error-page, index, browse, precompressed */

/* The struct config_rules a directive row points at: d->offset into the scope's target. */
static struct config_rules *rules_of(const struct scope *sc, const struct directive *d)
{
	return (struct config_rules *)((char *)sc->target + d->offset);
}

/* A template argument: every placeholder must be one of `allowed`; the error points at it. */
static int check_tmpl(struct parser *p, const struct arg *a, const char *what, unsigned allowed)
{
	size_t off, len;
	int r = http_tmpl_check(a->text, a->len, allowed, &off, &len);
	if (r >= 0)
		return r;
	char known[64] = "";
	for (int i = 0; i < HTTP_TMPL_N; i++)
		if (allowed & HTTP_TMPL_BIT(i)) {
			size_t k = strlen(known);
			snprintf(known + k, sizeof(known) - k, "%s{%s}", k ? " " : "",
				 http_tmpl_name(i));
		}
	len = MIN(len, (size_t)ECHO_MAX);
	error_at(p, a->at.line, a->at.col + (unsigned)a->quoted + (unsigned)MIN(off, 4096u),
		 "unknown placeholder '%.*s' in '%s' (known here: %s)", (int)len, a->text + off,
		 what, known);
	return -EINVAL;
}

/* Fields the protocol or ferry itself writes: framing, hop-by-hop, the ones other
 * directives own. A `header` line can neither set nor remove them. */
static const char *const owned_fields[] = {
	"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
	"proxy-connection", "te", "trailer", "date", "server", "content-range",
	"content-encoding", "strict-transport-security", "alt-svc",
};

#define HEADER_VALUE_MAX 4096
#define HEADER_RULES_MAX 64 /* per block */

/* `header NAME VALUE` (replace: the handler's NAME fields are dropped, VALUE added) or
 * `header -NAME` (drop). VALUE may use {host} and {path}. */
static int dir_header(struct parser *p, struct scope *sc, const struct directive *d,
		      const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	const struct arg *a = &s->v[1];
	bool remove = a->text[0] == '-';
	const char *name = a->text + remove;
	size_t name_len = a->len - remove;
	char e[ECHO_SIZE];
	if (remove ? s->n != 2 : s->n != 3) {
		error_arg(p, &s->v[remove ? 2 : 1], "'header' takes NAME VALUE or -NAME");
		return -EINVAL;
	}
	bool token = name_len > 0;
	for (size_t i = 0; i < name_len; i++)
		token = token && http_fields_is_token(name[i]);
	if (!token) {
		error_arg(p, a, "'header' needs a field name, not '%s'", echo(a, e));
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(owned_fields); i++) {
		if (str_ieq(name, name_len, owned_fields[i])) {
			error_arg(p, a, "'header' cannot %s %.*s: ferry writes it itself",
				  remove ? "remove" : "set", (int)name_len, name);
			return -EPERM;
		}
	}
	int used = 0;
	if (!remove) {
		const struct arg *v = &s->v[2];
		bool ok = v->len <= HEADER_VALUE_MAX;
		for (size_t i = 0; ok && i < v->len; i++)
			ok = http_fields_is_value(v->text[i]);
		if (!ok || (v->len && (v->text[0] == ' ' || v->text[v->len - 1] == ' ' ||
				       v->text[0] == '\t' || v->text[v->len - 1] == '\t'))) {
			error_arg(p, v, "'header' value must be at most %d bytes of visible "
				  "characters and inner spaces", HEADER_VALUE_MAX);
			return -EINVAL;
		}
		used = check_tmpl(p, v, "header",
				  HTTP_TMPL_BIT(HTTP_TMPL_HOST) | HTTP_TMPL_BIT(HTTP_TMPL_PATH));
		if (used < 0)
			return used;
	}
	if (r->headers.n == HEADER_RULES_MAX) {
		error_arg(p, &s->v[0], "at most %d 'header' lines per block", HEADER_RULES_MAX);
		return -E2BIG;
	}
	r->headers.v = xrealloc(r->headers.v, (r->headers.n + 1) * sizeof(*r->headers.v));
	r->headers.v[r->headers.n++] = (struct http_field_rule){
	    .name = xstrndup(name, name_len),
	    .name_len = name_len,
	    .value = remove ? NULL : xstrdup(s->v[2].text),
	    .value_len = remove ? 0 : s->v[2].len,
	    .tmpl = used > 0,
	};
	return 0;
}

#define REDIRECT_TARGET_MAX 4096

/* `redirect [301|302|307|308] TARGET`: TARGET a path ("/new{path}") or an http(s) URL, with
 * {scheme} {host} {path} {query}. */
static int dir_redirect(struct parser *p, struct scope *sc, const struct directive *d,
			const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	const struct arg *a = &s->v[s->n - 1];
	char e[ECHO_SIZE];
	int status = 308;
	if (s->n == 3) {
		const char *st = s->v[1].text;
		if (strcmp(st, "301") && strcmp(st, "302") && strcmp(st, "307") && strcmp(st, "308")) {
			error_arg(p, &s->v[1], "'redirect' status must be 301, 302, 307 or 308, not "
				  "'%s'", echo(&s->v[1], e));
			return -EINVAL;
		}
		status = atoi(st);
	}
	bool ok = a->len > 0 && a->len <= REDIRECT_TARGET_MAX;
	for (size_t i = 0; ok && i < a->len; i++)
		ok = http_fields_is_value(a->text[i]) && a->text[i] != ' ' && a->text[i] != '\t';
	const char *t = a->text;
	if (!ok || !((t[0] == '/' && t[1] != '/') || strncmp(t, "http://", 7) == 0 ||
		     strncmp(t, "https://", 8) == 0 || strncmp(t, "{scheme}://", 11) == 0 ||
		     strncmp(t, "{path}", 6) == 0)) {
		error_arg(p, a, "'redirect' takes a path starting with '/' or an http:// or https:// "
			  "URL, not '%s'", echo(a, e));
		return -EINVAL;
	}
	int used = check_tmpl(p, a, "redirect", HTTP_TMPL_BIT(HTTP_TMPL_HOST) |
				HTTP_TMPL_BIT(HTTP_TMPL_PATH) | HTTP_TMPL_BIT(HTTP_TMPL_SCHEME) |
				HTTP_TMPL_BIT(HTTP_TMPL_QUERY));
	if (used < 0)
		return used;
	r->redirect = xstrdup(a->text);
	r->redirect_len = a->len;
	r->redirect_status = status;
	r->redirect_tmpl = used > 0;
	r->redirect_file = p->filename;
	r->redirect_line = a->at.line;
	r->redirect_col = a->at.col;
	return 0;
}

#define LIST_MAX 16 /* try-files targets, index names, error-page statuses */

/* A path template in a try-files or error-page line: starts with '/' or {path}, and stays
 * below the root whatever the request ({path} is a normalised path, so a ".." segment
 * written here is the only way out, and it is refused). */
static int check_path_tmpl(struct parser *p, const struct arg *a, const char *what,
			   unsigned allowed)
{
	char e[ECHO_SIZE], out[HTTP_PATH_MAX], norm[HTTP_PATH_MAX];
	int used = check_tmpl(p, a, what, allowed);
	if (used < 0)
		return used;
	if (a->text[0] != '/' && strncmp(a->text, "{path}", 6) != 0) {
		error_arg(p, a, "'%s' takes paths starting with '/' or {path}, not '%s'", what,
			  echo(a, e));
		return -EINVAL;
	}
	/* {path} at its shortest ("/"): a ".." written here, encoded or not, climbs above it */
	struct http_tmpl_vars v = {.v = {[HTTP_TMPL_PATH] = "/"}, .len = {[HTTP_TMPL_PATH] = 1}};
	ssize_t n = http_tmpl_expand(a->text, a->len, &v, out, sizeof(out));
	bool dots = false;
	for (const char *q = a->text; (q = strstr(q, "..")); q += 2)
		dots = dots || ((q == a->text || q[-1] == '/') && (q[2] == '/' || q[2] == '\0'));
	if (n < 0 || dots || http_path_normalize(out, (size_t)n, norm, sizeof(norm)) < 0) {
		error_arg(p, a, "'%s' target '%s' leads outside the root", what, echo(a, e));
		return -EINVAL;
	}
	return used;
}

/* `try-files TARGET... [=STATUS]`: the first TARGET naming a file (or, ending in '/', a
 * directory with an index) below the root is served; else STATUS, or 404. */
static int dir_try_files(struct parser *p, struct scope *sc, const struct directive *d,
			 const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	char e[ECHO_SIZE];
	size_t n = s->n - 1; /* the row bounds it */
	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		if (a->text[0] == '=') {
			uint64_t st;
			if (i != s->n - 1 || i == 1 ||
			    parse_uint(a->text + 1, a->len - 1, 599, &st) < 0 || st < 400) {
				error_arg(p, a, "'try-files' ends with targets, then maybe one =STATUS "
					  "(400 to 599), not '%s'", echo(a, e));
				return -EINVAL;
			}
			r->try_status = (int)st;
			n--;
			continue;
		}
		if (check_path_tmpl(p, a, "try-files", HTTP_TMPL_BIT(HTTP_TMPL_PATH)) < 0)
			return -EINVAL;
	}
	r->try_files = xcalloc(n, sizeof(*r->try_files));
	for (size_t i = 0; i < n; i++)
		r->try_files[i] = xstrdup(s->v[i + 1].text);
	r->n_try_files = n;
	return 0;
}

/* `error-page STATUS... PATH`: PATH (below the block's root, or the site's) answers those
 * statuses when ferry itself answers one of them, with that status. */
static int dir_error_page(struct parser *p, struct scope *sc, const struct directive *d,
			  const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	const struct arg *a = &s->v[s->n - 1];
	char e[ECHO_SIZE], norm[HTTP_PATH_MAX];
	if (a->text[0] != '/' || memchr(a->text, '?', a->len) ||
	    http_path_normalize(a->text, a->len, norm, sizeof(norm)) < 0 ||
	    norm[strlen(norm) - 1] == '/') {
		error_arg(p, a, "'error-page' takes a file path below the root, starting with '/', "
			  "not '%s'", echo(a, e));
		return -EINVAL;
	}
	for (size_t i = 1; i + 1 < s->n; i++) {
		uint64_t st;
		const struct arg *sa = &s->v[i];
		if (parse_uint(sa->text, sa->len, 599, &st) < 0 || st < 400) {
			error_arg(p, sa, "'error-page' takes statuses from 400 to 599, not '%s'",
				  echo(sa, e));
			return -EINVAL;
		}
		for (size_t j = 0; j < r->n_error_pages; j++) {
			if (r->error_pages[j].status == (int)st) {
				error_arg(p, sa, "a second 'error-page' for %d in this block", (int)st);
				return -EEXIST;
			}
		}
		r->error_pages = xrealloc(r->error_pages,
					  (r->n_error_pages + 1) * sizeof(*r->error_pages));
		r->error_pages[r->n_error_pages++] = (struct config_error_page){
		    .status = (int)st,
		    .path = xstrdup(norm),
		};
	}
	return 0;
}

/* `index NAME...`: the files a directory request looks for, in order. */
static int dir_index(struct parser *p, struct scope *sc, const struct directive *d,
		     const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	char e[ECHO_SIZE];
	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		if (memchr(a->text, '/', a->len) || strcmp(a->text, ".") == 0 ||
		    strcmp(a->text, "..") == 0 || a->len == 0 || a->len > 255) {
			error_arg(p, a, "'index' takes file names (no '/'), not '%s'", echo(a, e));
			return -EINVAL;
		}
	}
	r->index = xcalloc(s->n - 1, sizeof(*r->index));
	for (size_t i = 1; i < s->n; i++)
		r->index[i - 1] = xstrdup(s->v[i].text);
	r->n_index = s->n - 1;
	return 0;
}

/* `browse [on|off]`: a listing for a directory without an index file. */
static int dir_browse(struct parser *p, struct scope *sc, const struct directive *d,
		      const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	char e[ECHO_SIZE];
	if (s->n == 1 || strcmp(s->v[1].text, "on") == 0)
		r->browse = 1;
	else if (strcmp(s->v[1].text, "off") == 0)
		r->browse = 0;
	else {
		error_arg(p, &s->v[1], "'browse' takes on or off, not '%s'", echo(&s->v[1], e));
		return -EINVAL;
	}
	return 0;
}

/* `precompressed CODING...` and `encode CODING...` (br, zstd, gzip): the codings, in the
 * order to prefer at equal weight. d->name says which. `encode br` needs brotli's encoder,
 * linked in only by `make BROTLI=1` (FERRY_BROTLI); precompressed br needs no library. */
static int dir_codings(struct parser *p, struct scope *sc, const struct directive *d,
		       const struct stmt *s)
{
	struct config_rules *r = rules_of(sc, d);
	bool encode = strcmp(d->name, "encode") == 0;
	unsigned char *list = encode ? r->encode : r->precompressed;
	size_t *n = encode ? &r->n_encode : &r->n_precompressed;
	char e[ECHO_SIZE];
	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		int c = http_coding_lookup(a->text, a->len);
		if (c < 0 || a->text[0] < 'a') {
			error_arg(p, a, "'%s' takes br, zstd and gzip, not '%s'", d->name,
				  echo(a, e));
			return -EINVAL;
		}
#if !FERRY_BROTLI
		if (encode && c == HTTP_CODING_BR) {
			error_arg(p, a, "'encode br': this ferry was built without brotli (build it "
					"with 'make BROTLI=1'; 'precompressed br' needs no library)");
			return -ENOTSUP;
		}
#endif
		for (size_t j = 0; j < *n; j++) {
			if (list[j] == c) {
				error_arg(p, a, "'%s' twice in '%s'", a->text, d->name);
				return -EEXIST;
			}
		}
		list[(*n)++] = (unsigned char)c;
	}
	return 0;
}

static char **strv_dup(char *const *v, size_t n)
{
	char **out = xcalloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void field_rules_append(struct http_field_rules *dst, const struct http_field_rules *src)
{
	if (!src->n)
		return;
	dst->v = xrealloc(dst->v, (dst->n + src->n) * sizeof(*dst->v));
	for (size_t i = 0; i < src->n; i++) {
		struct http_field_rule f = src->v[i];
		f.name = xstrdup(f.name);
		f.value = f.value ? xstrdup(f.value) : NULL;
		dst->v[dst->n++] = f;
	}
}

/* A path block gets the site's rules it does not set itself; `header` lines: the site's
 * for the names it does not name itself, then its own. */
static void rules_inherit(struct config_rules *r, const struct config_rules *site)
{
	if (site->headers.n) {
		struct http_field_rules own = r->headers;
		r->headers = (struct http_field_rules){0};
		/* the site's, but for the names the block sets or removes itself */
		for (size_t i = 0; i < site->headers.n; i++) {
			const struct http_field_rule *f = &site->headers.v[i];
			bool mine = false;
			for (size_t j = 0; j < own.n && !mine; j++)
				mine = str_ieqn(own.v[j].name, own.v[j].name_len, f->name,
						f->name_len);
			if (!mine)
				field_rules_append(&r->headers,
						   &(struct http_field_rules){(struct http_field_rule *)f, 1});
		}
		field_rules_append(&r->headers, &own);
		for (size_t i = 0; i < own.n; i++) {
			free(own.v[i].name);
			free(own.v[i].value);
		}
		free(own.v);
	}
	if (!r->redirect && site->redirect) {
		r->redirect = xstrdup(site->redirect);
		r->redirect_len = site->redirect_len;
		r->redirect_status = site->redirect_status;
		r->redirect_tmpl = site->redirect_tmpl;
		r->redirect_file = site->redirect_file;
		r->redirect_line = site->redirect_line;
		r->redirect_col = site->redirect_col;
	}
	if (!r->n_try_files && !r->try_status && (site->n_try_files || site->try_status)) {
		r->try_files = strv_dup(site->try_files, site->n_try_files);
		r->n_try_files = site->n_try_files;
		r->try_status = site->try_status;
	}
	if (!r->n_error_pages && site->n_error_pages) {
		r->error_pages = xcalloc(site->n_error_pages, sizeof(*r->error_pages));
		for (size_t i = 0; i < site->n_error_pages; i++)
			r->error_pages[i] = (struct config_error_page){
			    site->error_pages[i].status, xstrdup(site->error_pages[i].path)};
		r->n_error_pages = site->n_error_pages;
	}
	if (!r->n_index && site->n_index) {
		r->index = strv_dup(site->index, site->n_index);
		r->n_index = site->n_index;
	}
	if (r->browse < 0)
		r->browse = site->browse;
	if (!r->n_precompressed) {
		memcpy(r->precompressed, site->precompressed, sizeof(r->precompressed));
		r->n_precompressed = site->n_precompressed;
	}
	if (!r->n_encode) {
		memcpy(r->encode, site->encode, sizeof(r->encode));
		r->n_encode = site->n_encode;
	}
}

/* The rules of the block of site that serves the (normalised) path: the longest prefix. */
static const struct config_rules *rules_for_path(const struct config_site *site, const char *path,
						 size_t n)
{
	const struct config_path *best = NULL;
	for (size_t i = 0; i < site->n_paths; i++) {
		const struct config_path *cp = &site->paths[i];
		if (cp->prefix_len <= n && memcmp(cp->prefix, path, cp->prefix_len) == 0 &&
		    (!best || cp->prefix_len > best->prefix_len))
			best = cp;
	}
	return best ? &best->rules : &site->rules;
}

/* Where a redirect sends a request of this site, when that can be told from its text alone:
 * the same URL ("{path}", "{scheme}://{host}{path}{query}": returns NULL with *ret_self),
 * or a fixed local path (its normalised form in out). NULL otherwise (another host or
 * scheme, or a path made of placeholders and text). */
static const char *redirect_local(const struct config_rules *r, char *out, size_t size,
				  bool *ret_self)
{
	const char *t = r->redirect;
	*ret_self = false;
	if (strncmp(t, "{scheme}://{host}", 17) == 0)
		t += 17;
	if (t[0] != '/' && t[0] != '{')
		return NULL;
	if (strcmp(t, "{path}") == 0 || strcmp(t, "{path}{query}") == 0) {
		*ret_self = true;
		return NULL;
	}
	size_t n = strcspn(t, "?{");
	if (t[n] == '{' && strcmp(t + n, "{query}") != 0)
		return NULL;
	if (n == 0 || http_path_normalize(t, n, out, size) < 0)
		return NULL;
	return out;
}

/* A redirect that sends a request back to where it came from, found from the text: a block
 * redirecting to {path}, or to a fixed path that the same block serves (through other
 * redirecting blocks or not). Each is reported at the redirect line that starts it. */
static void redirect_loops(struct parser *p, const struct config_site *site)
{
	for (size_t b = 0; b <= site->n_paths; b++) {
		const struct config_rules *start = b < site->n_paths ? &site->paths[b].rules
								     : &site->rules;
		if (!start->redirect)
			continue;
		const struct config_rules *cur = start;
		for (size_t step = 0; step <= site->n_paths + 1; step++) {
			char norm[HTTP_PATH_MAX];
			bool self;
			const char *to = redirect_local(cur, norm, sizeof(norm), &self);
			if (self && cur == start) {
				struct pos at = {start->redirect_line, start->redirect_col,
						 start->redirect_file};
				error_pos(p, &at, "'redirect %s' sends a request to its own URL: a "
					  "redirect loop", start->redirect);
			}
			if (!to)
				break;
			cur = rules_for_path(site, to, strlen(to));
			if (!cur->redirect)
				break;
			if (cur == start) {
				struct pos at = {start->redirect_line, start->redirect_col,
						 start->redirect_file};
				error_pos(p, &at, "'redirect %s' leads back to %s, which redirects "
					  "again: a redirect loop", start->redirect,
					  b < site->n_paths ? "this path block" : "this site");
				break;
			}
		}
	}
}

static void rules_done(struct config_rules *r)
{
	if (r->browse < 0)
		r->browse = 0;
	r->statics = r->n_try_files || r->try_status || r->n_index || r->browse ||
		     r->n_precompressed || r->n_encode;
	r->any = r->headers.n > 0 || r->redirect || r->n_error_pages || r->statics;
}

static void rules_free(struct config_rules *r)
{
	for (size_t i = 0; i < r->headers.n; i++) {
		free(r->headers.v[i].name);
		free(r->headers.v[i].value);
	}
	free(r->headers.v);
	free(r->redirect);
	strv_free(r->try_files, r->n_try_files);
	for (size_t i = 0; i < r->n_error_pages; i++)
		free(r->error_pages[i].path);
	free(r->error_pages);
	strv_free(r->index, r->n_index);
}

/* At the end of a site block: what its path blocks inherit, and the cross-checks. */
static void rules_site_finish(struct parser *p, struct config_site *site)
{
	for (size_t i = 0; i < site->n_paths; i++) {
		rules_inherit(&site->paths[i].rules, &site->rules);
		rules_done(&site->paths[i].rules);
	}
	rules_done(&site->rules);
	redirect_loops(p, site);
}

/* ---- site and path blocks ------------------------------------------------------------- */

/* `root PATH` in a site or a path block: d->offset is the char * field of the scope's target. */
static int dir_root(struct parser *p, struct scope *sc, const struct directive *d,
		    const struct stmt *s)
{
	char **root = (char **)((char *)sc->target + d->offset);
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];

	/* Whether it exists is checked at startup: parsing stays free of file system access. */
	if (a->text[0] != '/') {
		error_arg(p, a, "'root' needs an absolute path, not '%s'", echo(a, e));
		return -EINVAL;
	}
	if (a->len > PATH_MAX) {
		error_arg(p, a, "'root' path is longer than %d bytes", PATH_MAX);
		return -ENAMETOOLONG;
	}
	*root = xstrdup(a->text);
	return 0;
}

/* ---- TLS ------------------------------------------------------------------------------- */

/* `tls CERT KEY [ocsp FILE]` (repeatable: one per key type). Whether the files parse, match
 * and cover the site's names is checked when they are loaded (xport/tls.c, `ferry check`). */
static int dir_tls(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		   const struct stmt *s)
{
	struct config_site *site = sc->target;
	char e[ECHO_SIZE];
	if (s->n == 2 && strcmp(s->v[1].text, "acme") == 0) {
		if (site->acme || site->n_tls) {
			error_arg(p, &s->v[1], "'tls acme' is the only 'tls' line of its site");
			return -EINVAL;
		}
		site->acme = true;
		site->acme_col = s->v[1].at.col;
		site->tls = xcalloc(1, sizeof(*site->tls));
		site->n_tls = 1;
		/* the paths are known at the end of the file, after `acme-dir` (top_finish) */
		site->tls[0] = (struct config_tls){.file = p->filename, .acme = true,
						   .line = s->v[0].at.line,
						   .cert_col = s->v[1].at.col,
						   .key_col = s->v[1].at.col};
		return 0;
	}
	if (site->acme) {
		error_arg(p, &s->v[0], "'tls acme' is the only 'tls' line of its site");
		return -EINVAL;
	}
	if (s->n != 3 && (s->n != 5 || strcmp(s->v[3].text, "ocsp") != 0)) {
		error_arg(p, &s->v[s->n == 2 ? 1 : 3],
			  "'tls' takes CERT_FILE KEY_FILE [ocsp OCSP_FILE], or acme");
		return -EINVAL;
	}
	for (size_t i = 1; i < s->n; i += i == 2 ? 2 : 1) {
		const struct arg *a = &s->v[i];
		if (a->text[0] != '/') {
			error_arg(p, a, "'tls' needs absolute paths, not '%s'", echo(a, e));
			return -EINVAL;
		}
		if (a->len > PATH_MAX) {
			error_arg(p, a, "'tls' path is longer than %d bytes", PATH_MAX);
			return -ENAMETOOLONG;
		}
	}
	if (site->n_tls == CONFIG_MAX_TLS) {
		error_arg(p, &s->v[0], "at most %d 'tls' lines per site", CONFIG_MAX_TLS);
		return -E2BIG;
	}
	site->tls = xrealloc(site->tls, (site->n_tls + 1) * sizeof(*site->tls));
	site->tls[site->n_tls++] = (struct config_tls){
	    .file = p->filename,
	    .cert = xstrdup(s->v[1].text),
	    .key = xstrdup(s->v[2].text),
	    .ocsp = s->n == 5 ? xstrdup(s->v[4].text) : NULL,
	    .line = s->v[0].at.line,
	    .cert_col = s->v[1].at.col,
	    .key_col = s->v[2].at.col,
	    .ocsp_col = s->n == 5 ? s->v[4].at.col : 0,
	};
	return 0;
}

static int dir_http_redirect(struct parser *p, struct scope *sc,
			     const struct directive *d _unused_, const struct stmt *s)
{
	struct config_site *site = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (strcmp(a->text, "on") == 0)
		site->http_redirect = true;
	else if (strcmp(a->text, "off") == 0)
		site->http_redirect = false;
	else {
		error_arg(p, a, "'http-redirect' takes on or off, not '%s'", echo(a, e));
		return -EINVAL;
	}
	return 0;
}

#define HSTS_MAX_S (5 * 366 * 24 * 3600ull)

/* `hsts DURATION [include-subdomains] [preload]` or `hsts off`: DURATION in seconds (bare),
 * or with s, m, h or d; up to 5 years. 0 is max-age=0: browsers forget the site's HSTS. */
static int dir_hsts(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		    const struct stmt *s)
{
	static const struct unit units[] = {
	    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
	};
	struct config_site *site = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	uint64_t v;
	if (strcmp(a->text, "off") == 0) {
		if (s->n > 2) {
			error_arg(p, &s->v[2], "'hsts off' takes nothing after it");
			return -EINVAL;
		}
		site->hsts = 0;
		return 0;
	}
	int r = parse_with_unit(a->text, units, ARRAY_SIZE(units), HSTS_MAX_S, &v);
	if (r == -EINVAL) {
		error_arg(p, a, "invalid duration '%s' for 'hsts' (examples: 365d, 31536000, off)",
			  echo(a, e));
		return r;
	}
	if (r < 0) {
		error_arg(p, a, "'hsts' must be at most 5 years (1830d)");
		return r;
	}
	unsigned flags = CONFIG_HSTS_ON;
	for (size_t i = 2; i < s->n; i++) {
		const struct arg *o = &s->v[i];
		unsigned f = strcmp(o->text, "include-subdomains") == 0 ? CONFIG_HSTS_SUBDOMAINS
			     : strcmp(o->text, "preload") == 0	    ? CONFIG_HSTS_PRELOAD
								    : 0;
		if (!f || (flags & f)) {
			error_arg(p, o, "'hsts' takes DURATION [include-subdomains] [preload], not "
				  "'%s' here", echo(o, e));
			return -EINVAL;
		}
		flags |= f;
	}
	site->hsts = flags;
	site->hsts_max_age = (uint32_t)v;
	return 0;
}

/* ---- reverse proxy --------------------------------------------------------------------- */

/* The struct config_proxy a directive row points at: d->offset into the scope's target
 * (a site or a path block). */
static struct config_proxy *proxy_of(const struct scope *sc, const struct directive *d)
{
	return (struct config_proxy *)((char *)sc->target + d->offset);
}

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
	uint64_t v;
	if (n == 0 || (n > 1 && s[0] == '0') || parse_uint(s, n, 65535, &v) < 0 || v == 0)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* unix:/path, http://HOST[:PORT], http://[V6][:PORT], http://{host}[:PORT]; https:// the
 * same over TLS. */
static int parse_upstream(const char *text, struct config_upstream *u)
{
	memset(u, 0, sizeof(*u));
	if (str_startswith(text, "unix:")) {
		if (net_addr_parse(text, &u->addr) < 0 || u->addr.family != AF_UNIX ||
		    u->addr.type != SOCK_STREAM)
			return -EINVAL;
		u->is_unix = u->numeric = true;
		u->spec = xstrdup(text);
		return 0;
	}
	const char *h;
	if (str_startswith(text, "http://"))
		h = text + STRLEN("http://");
	else if (str_startswith(text, "https://"))
		h = text + STRLEN("https://"), u->tls = true;
	else
		return -EINVAL;
	const char *end = h + strlen(h);
	if (end > h && end[-1] == '/')
		end--; /* "http://x:80/" : a path other than "/" is refused below */
	const char *host_end, *port = NULL;
	if (*h == '[') {
		host_end = memchr(h, ']', (size_t)(end - h));
		if (!host_end)
			return -EINVAL;
		host_end++;
	} else {
		host_end = h;
		while (host_end < end && *host_end != ':')
			host_end++;
	}
	if (host_end < end) {
		if (*host_end != ':')
			return -EINVAL;
		port = host_end + 1;
	}
	u->port = u->tls ? 443 : 80;
	if (port && parse_port(port, (size_t)(end - port), &u->port) < 0)
		return -EINVAL;
	size_t hl = (size_t)(host_end - h);
	char host[256], buf[300];
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	for (size_t i = 0; i < hl; i++)
		host[i] = ascii_lower(host[i]);
	struct in_addr ip4;
	if (strcmp(host, "{host}") == 0) {
		u->host_tmpl = true;
	} else if (host[0] == '[' || inet_pton(AF_INET, host, &ip4) == 1) {
		snprintf(buf, sizeof(buf), "%s:%u", host, u->port);
		if (net_addr_parse(buf, &u->addr) < 0)
			return -EINVAL;
		u->numeric = true;
	} else if (valid_dns_name(host, hl)) {
		u->host = xstrdup(host);
	} else {
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s://%s:%u", u->tls ? "https" : "http", host, u->port);
	u->spec = xstrdup(buf);
	return 0;
}

static void upstream_free(struct config_upstream *u)
{
	free(u->spec);
	free(u->host);
}

static int dir_proxy(struct parser *p, struct scope *sc, const struct directive *d,
		     const struct stmt *s)
{
	struct config_proxy *px = proxy_of(sc, d);
	char e[ECHO_SIZE];
	int ret = 0;

	if (s->n - 1 > CONFIG_MAX_UPSTREAMS) {
		error_arg(p, &s->v[0], "'proxy' takes at most %d upstreams", CONFIG_MAX_UPSTREAMS);
		return -E2BIG;
	}
	px->ups = xcalloc(s->n - 1, sizeof(*px->ups));
	px->line = s->v[0].at.line;
	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		struct config_upstream *u = &px->ups[px->n_ups];
		if (parse_upstream(a->text, u) < 0) {
			upstream_free(u);
			error_arg(p, a,
				  "invalid upstream '%s' (http[s]://HOST:PORT, http[s]://[IPv6]:PORT, "
				  "http[s]://{host}:PORT or unix:/path)",
				  echo(a, e));
			ret = -EINVAL;
			continue;
		}
		px->n_ups++;
	}
	return ret;
}

/* CIDR lists: `upstream-allow` (per proxy) and `trusted-proxies` (top level). */
static int parse_cidrs(struct parser *p, const struct stmt *s, struct cidr **list, size_t *n)
{
	char e[ECHO_SIZE];
	int ret = 0;
	*list = xrealloc(*list, (*n + s->n) * sizeof(**list));
	for (size_t i = 1; i < s->n; i++) {
		const struct arg *a = &s->v[i];
		if (cidr_parse(a->text, &(*list)[*n]) < 0) {
			error_arg(p, a, "invalid address range '%s' (ADDR or ADDR/PREFIX)",
				  echo(a, e));
			ret = -EINVAL;
			continue;
		}
		(*n)++;
	}
	return ret;
}

static int dir_upstream_allow(struct parser *p, struct scope *sc, const struct directive *d,
			      const struct stmt *s)
{
	struct config_proxy *px = proxy_of(sc, d);
	return parse_cidrs(p, s, &px->allow, &px->n_allow);
}

static int dir_trusted_proxies(struct parser *p, struct scope *sc,
			       const struct directive *d _unused_, const struct stmt *s)
{
	struct config *c = sc->target;
	return parse_cidrs(p, s, &c->trusted_proxies, &c->n_trusted_proxies);
}

static int dir_proxy_protocol(struct parser *p, struct scope *sc, const struct directive *d,
			      const struct stmt *s)
{
	struct config_proxy *px = proxy_of(sc, d);
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (strcmp(a->text, "v1") == 0)
		px->proxy_protocol = 1;
	else if (strcmp(a->text, "v2") == 0)
		px->proxy_protocol = 2;
	else {
		error_arg(p, a, "'proxy-protocol' takes v1 or v2, not '%s'", echo(a, e));
		return -EINVAL;
	}
	return 0;
}

static int dir_upstream_ca(struct parser *p, struct scope *sc, const struct directive *d,
			   const struct stmt *s)
{
	struct config_proxy *px = proxy_of(sc, d);
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (a->text[0] != '/') {
		error_arg(p, a, "'upstream-ca' needs an absolute path, not '%s'", echo(a, e));
		return -EINVAL;
	}
	if (a->len > PATH_MAX) {
		error_arg(p, a, "'upstream-ca' path is longer than %d bytes", PATH_MAX);
		return -ENAMETOOLONG;
	}
	px->upstream_ca = xstrdup(a->text);
	px->ca_file = p->filename;
	px->ca_line = a->at.line;
	px->ca_col = a->at.col;
	return 0;
}

static int dir_resolver(struct parser *p, struct scope *sc, const struct directive *d _unused_,
			const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE], buf[NET_ADDR_STRLEN + 8];
	struct net_addr addr;
	/* A bare address means port 53. */
	bool has_port = a->text[0] == '[' ? strstr(a->text, "]:") != NULL
					  : strchr(a->text, ':') != NULL;
	snprintf(buf, sizeof(buf), has_port ? "%s" : "%s:53", a->text);
	if (net_addr_parse(buf, &addr) < 0 ||
	    (addr.family != AF_INET && addr.family != AF_INET6)) {
		error_arg(p, a, "'resolver' takes an IP address [and port], not '%s'", echo(a, e));
		return -EINVAL;
	}
	addr.type = SOCK_DGRAM;
	c->resolver = addr;
	c->has_resolver = true;
	return 0;
}

/* ---- ACME ------------------------------------------------------------------------------ */

/* `acme-ca URL`: the CA's directory, https:// only (the account key signs, but the directory
 * itself says where to post: it must come over an authenticated channel). */
static int dir_acme_ca(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		       const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	bool ok = a->len > 8 && a->len <= 2048 && strncmp(a->text, "https://", 8) == 0;
	for (size_t i = 0; ok && i < a->len; i++)
		ok = (unsigned char)a->text[i] > 0x20 && (unsigned char)a->text[i] < 0x7f;
	if (!ok) {
		error_arg(p, a, "'acme-ca' takes an https:// URL, not '%s'", echo(a, e));
		return -EINVAL;
	}
	free(c->acme_ca);
	c->acme_ca = xstrdup(a->text);
	return 0;
}

static int dir_acme_email(struct parser *p, struct scope *sc, const struct directive *d _unused_,
			  const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	const char *at = strchr(a->text, '@');
	bool ok = at && at != a->text && at[1] && !strchr(at + 1, '@') &&
		  a->len <= CONFIG_ACME_EMAIL_MAX;
	for (size_t i = 0; ok && i < a->len; i++) /* it goes into a mailto: URL in JSON */
		ok = (unsigned char)a->text[i] > 0x20 && (unsigned char)a->text[i] < 0x7f &&
		     !strchr("\"\\<>,;:?&%", a->text[i]);
	if (!ok) {
		error_arg(p, a, "'acme-email' takes an address like name@example.com, not '%s'",
			  echo(a, e));
		return -EINVAL;
	}
	c->acme_email = xstrdup(a->text);
	return 0;
}

/* `acme-challenge http-01|tls-alpn-01`: how `ferry acme` proves the names. */
static int dir_acme_challenge(struct parser *p, struct scope *sc,
			      const struct directive *d _unused_, const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (strcmp(a->text, "http-01") == 0 || strcmp(a->text, "tls-alpn-01") == 0) {
		c->acme_tls_alpn = a->text[0] == 't';
		return 0;
	}
	error_arg(p, a, "'acme-challenge' takes http-01 or tls-alpn-01, not '%s'%s", echo(a, e),
		  strcmp(a->text, "dns-01") == 0 ? " (dns-01 is not supported)" : "");
	return -EINVAL;
}

/* `acme-mode split|integrated`: who runs the ACME client, `ferry acme` or `ferry serve`. */
static int dir_acme_mode(struct parser *p, struct scope *sc, const struct directive *d _unused_,
			 const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (strcmp(a->text, "split") == 0 || strcmp(a->text, "integrated") == 0) {
		c->acme_integrated = a->text[0] == 'i';
		return 0;
	}
	error_arg(p, a, "'acme-mode' takes split or integrated, not '%s'", echo(a, e));
	return -EINVAL;
}

/* `acme-ca-root FILE`, `acme-dir DIR`: absolute paths. */
static int dir_acme_path(struct parser *p, struct scope *sc, const struct directive *d,
			 const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (a->text[0] != '/' || a->len > PATH_MAX - 64) {
		error_arg(p, a, "'%s' needs an absolute path, not '%s'", d->name, echo(a, e));
		return -EINVAL;
	}
	char **f = strcmp(d->name, "acme-dir") == 0 ? &c->acme_dir : &c->acme_ca_root;
	*f = xstrdup(a->text);
	return 0;
}

/* The `tls acme` sites, once acme-dir is known: their certificate file, and the names an
 * http-01 challenge can prove (no wildcard: that needs dns-01; no "*"). */
static void acme_finish(struct parser *p, struct config *c)
{
	if (!c->acme_dir) {
		/* systemd's StateDirectory= (several are separated by ':': the first) */
		const char *sd = getenv("STATE_DIRECTORY");
		size_t n = sd && sd[0] == '/' ? strcspn(sd, ":") : 0;
		c->acme_dir = n && n < PATH_MAX - 64 ? xstrndup(sd, n) : xstrdup(CONFIG_ACME_DIR);
	}
	if (!c->acme_ca)
		c->acme_ca = xstrdup(CONFIG_ACME_CA);
	for (size_t i = 0; i < c->n_sites; i++) {
		struct config_site *site = &c->sites[i];
		if (!site->acme)
			continue;
		c->n_acme_sites++;
		if (!site->n_names) /* its names were all bad: said already */
			continue;
		const struct pos at = {site->tls[0].line, site->acme_col, site->tls[0].file};
		for (size_t j = 0; j < site->n_names; j++) {
			const char *name = site->names[j];
			if (strcmp(name, "*") == 0)
				error_pos(p, &at, "'tls acme' needs the site's names: 'site *' has "
					  "none a certificate can be issued for");
			else if (name[0] == '*')
				error_pos(p, &at, "'tls acme' cannot get a certificate for the wildcard "
					  "%s: that needs the dns-01 challenge, which ferry does not "
					  "support (name the hosts, or use tls CERT KEY)", name);
			else if (name[0] == '[' || strspn(name, "0123456789.") == strlen(name))
				error_pos(p, &at, "'tls acme' is for DNS names, not the address %s",
					  name);
		}
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/certificates/%s.pem", c->acme_dir,
			 site->names[0]);
		free(site->tls[0].cert);
		free(site->tls[0].key);
		site->tls[0].cert = xstrdup(path);
		site->tls[0].key = xstrdup(path);
	}
}

static int dir_path(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		    const struct stmt *s)
{
	struct config_site *site = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE], norm[4096];

	int n = a->text[0] == '/' ? http_path_normalize(a->text, a->len, norm, sizeof(norm)) : -1;
	if (n < 0 || memchr(a->text, '?', a->len)) {
		error_arg(p, a, "'path' takes a path prefix starting with '/', not '%s'", echo(a, e));
		return -EINVAL;
	}
	for (size_t i = 0; i < site->n_paths; i++) {
		if (strcmp(site->paths[i].prefix, norm) == 0) {
			error_arg(p, a, "duplicate 'path %s' (first at line %u)", echo(a, e),
				  site->paths[i].line);
			return -EEXIST;
		}
	}
	site->paths = xrealloc(site->paths, (site->n_paths + 1) * sizeof(*site->paths));
	struct config_path *cp = &site->paths[site->n_paths++];
	memset(cp, 0, sizeof(*cp));
	cp->rules.browse = -1;
	cp->prefix = xstrdup(norm);
	cp->prefix_len = (size_t)n;
	cp->line = s->v[0].at.line;
	sc->child = cp;
	return 0;
}

/* Cross-checks of one proxy block (site or path), at the block's end. */
static void proxy_finish(struct parser *p, struct scope *sc, const struct config_proxy *px)
{
	const struct pos *at;
	if (!px->ups) {
		const char *const lone[] = {"upstream-allow", "proxy-protocol", "upstream-ca",
					    "proxy-header-up", "proxy-header-down",
					    "proxy-strip-prefix"};
		for (size_t i = 0; i < ARRAY_SIZE(lone); i++) {
			at = scope_seen(sc, lone[i]);
			if (at && at->line)
				error_at(p, at->line, at->col, "'%s' without 'proxy' in this block",
					 lone[i]);
		}
		return;
	}
	bool any_tls = false;
	for (size_t i = 0; i < px->n_ups; i++)
		any_tls |= px->ups[i].tls;
	if (px->upstream_ca && !any_tls) {
		at = scope_seen(sc, "upstream-ca");
		error_at(p, at->line, at->col, "'upstream-ca' without an https:// upstream");
		return;
	}
	if (px->proxy_protocol && any_tls) {
		/* The header would have to go before the ClientHello, outside TLS. */
		at = scope_seen(sc, "proxy-protocol");
		error_at(p, at->line, at->col,
			 "'proxy-protocol' is not supported with an https:// upstream");
		return;
	}
	for (size_t i = 0; i < px->n_ups; i++) {
		if (px->ups[i].host_tmpl && px->n_allow == 0) {
			at = scope_seen(sc, "proxy");
			error_at(p, at->line, at->col,
				 "'proxy http://{host}:...' needs 'upstream-allow CIDR...': the "
				 "networks requests may be forwarded into");
			return;
		}
	}
}

static void auth_finish(struct parser *p, struct scope *sc, struct config_auth *au, bool site);

static void path_finish(struct parser *p, struct scope *sc)
{
	struct config_path *cp = sc->target;
	proxy_finish(p, sc, &cp->proxy);
	auth_finish(p, sc, &cp->auth, false);
	if (cp->proxy.ups && cp->root) {
		const struct pos *at = scope_seen(sc, "root");
		error_at(p, at->line, at->col,
			 "a path block has either 'root' or 'proxy', not both");
	}
}

static void site_finish(struct parser *p, struct scope *sc)
{
	struct config_site *site = sc->target;
	rules_site_finish(p, site);
	proxy_finish(p, sc, &site->proxy);
	auth_finish(p, sc, &site->auth, true);
	if (site->proxy.ups && site->root) {
		const struct pos *at = scope_seen(sc, "root");
		error_at(p, at->line, at->col,
			 "a site has either 'root' or 'proxy' (put one of them in a 'path' block)");
	}
}

/* ---- proxy-strip-prefix, proxy-header-up, proxy-header-down ------------------------------ */

static int dir_proxy_strip_prefix(struct parser *p, struct scope *sc, const struct directive *d,
				  const struct stmt *s _unused_)
{
	const struct config_path *cp = sc->target;
	struct config_proxy *px = proxy_of(sc, d);
	/* A prefix "/api/" keeps its '/' for the upstream: "/api/x" goes as "/x". */
	px->strip_prefix = cp->prefix_len > 1 && cp->prefix[cp->prefix_len - 1] == '/'
				   ? cp->prefix_len - 1
				   : cp->prefix_len;
	return 0;
}

/* Response fields ferry writes itself, or that frame the body: never the configuration's. */
static bool owned_response_field(const char *name, size_t len)
{
	return http_forward_is_hop_by_hop(name, len) || str_ieq(name, len, "content-length");
}

/* field-value (RFC 9110 §5.5): visible characters, SP and HTAB inside, obs-text; no CR, LF,
 * NUL or other control; nothing to strip at either end. */
static bool valid_field_value(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t');
}

/* `proxy-header-up NAME VALUE | -NAME`, `proxy-header-down ...`: d->lo tells which. */
static int dir_proxy_header(struct parser *p, struct scope *sc, const struct directive *d,
			    const struct stmt *s)
{
	struct config_proxy *px = proxy_of(sc, d);
	const struct arg *a = &s->v[1];
	bool up = d->lo == 0, remove = a->text[0] == '-';
	const char *name = a->text + remove;
	size_t name_len = a->len - remove;
	char e[ECHO_SIZE];

	bool token = name_len > 0 && name_len <= 256;
	for (size_t i = 0; i < name_len && token; i++)
		token = http_fields_is_token(name[i]);
	if (!token) {
		error_arg(p, a, "'%s' takes a field name (a token), not '%s'", d->name, echo(a, e));
		return -EINVAL;
	}
	if (remove != (s->n == 2)) {
		error_arg(p, a, remove ? "'%s -NAME' removes a field: it takes no value"
				       : "'%s NAME' takes a value (or -NAME to remove the field)",
			  d->name);
		return -EINVAL;
	}
	bool host = up && str_ieq(name, name_len, "host");
	if (host && remove) {
		error_arg(p, a, "'%s -Host': an HTTP/1.1 request must carry Host; set it instead",
			  d->name);
		return -EINVAL;
	}
	if (!host && (up ? http_forward_owns_request_field(name, name_len)
			 : owned_response_field(name, name_len))) {
		error_arg(p, a,
			  "'%s' cannot change %s: ferry writes it itself (hop-by-hop, framing or "
			  "forwarding field)",
			  d->name, echo(a, e));
		return -EPERM;
	}
	const struct arg *v = s->n > 2 ? &s->v[2] : NULL;
	if (v && (!valid_field_value(v->text, v->len) || v->len > 8192)) {
		error_arg(p, v, "invalid field value for %s: no control characters, no space at "
				"either end, at most 8 KiB", echo(a, e));
		return -EINVAL;
	}
	struct http_field_op **ops = up ? &px->hdr_up : &px->hdr_down;
	size_t *n = up ? &px->n_hdr_up : &px->n_hdr_down;
	for (size_t i = 0; i < *n; i++) {
		if (str_ieqn((*ops)[i].name, (*ops)[i].name_len, name, name_len)) {
			error_arg(p, a, "'%s' for %.*s again in this block", d->name, (int)name_len,
				  name);
			return -EEXIST;
		}
	}
	if (host) {
		if (px->host) {
			error_arg(p, a, "'%s' for Host again in this block", d->name);
			return -EEXIST;
		}
		if (v->len == 0) {
			error_arg(p, v, "'%s Host' takes a non-empty value", d->name);
			return -EINVAL;
		}
		px->host = xstrdup(v->text);
		return 0;
	}
	if (*n >= 64) {
		error_arg(p, a, "'%s': at most 64 fields per block", d->name);
		return -E2BIG;
	}
	*ops = xrealloc(*ops, (*n + 1) * sizeof(**ops));
	(*ops)[(*n)++] = (struct http_field_op){
		.name = xstrndup(name, name_len),
		.name_len = name_len,
		.value = v ? xstrdup(v->text) : NULL,
		.value_len = v ? v->len : 0,
	};
	return 0;
}

static void field_ops_free(struct http_field_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)ops[i].name);
		free((char *)ops[i].value);
	}
	free(ops);
}

/* ---- include ---------------------------------------------------------------------------- */

static void parse_stmts(struct parser *p, struct scope *sc, const struct lexer_token *open,
			unsigned depth);

/* Read what fd holds, at most max bytes: -EFBIG past that (one byte more is read to tell, so a
 * file of exactly max bytes passes). st (from fstat) sizes the buffer of a regular file. */
static int read_text(int fd, const struct stat *st, size_t max, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 16 * 1024;
	if (S_ISREG(st->st_mode) && st->st_size >= 0)
		cap = (size_t)MIN((uint64_t)st->st_size + 1, (uint64_t)max + 1);
	char *text = xmalloc(MAX(cap, (size_t)1));

	for (;;) {
		if (len == cap) {
			if (cap > max)
				break;
			cap = MIN(MAX(cap * 4, (size_t)16 * 1024), max + 1);
			text = xrealloc(text, cap);
		}
		ssize_t n = read(fd, text + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			free(text);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* A regular file read up to its size: no read(2) more to see its end (this halves
		 * the system calls of 20,000 included files). */
		if (S_ISREG(st->st_mode) && len < cap && (off_t)len >= st->st_size)
			break;
	}
	if (len > max) {
		free(text);
		return -EFBIG;
	}
	*ret = text;
	*ret_len = len;
	return 0;
}

/* A NUL means a binary file, or a truncated one: one error says it better than a hundred about
 * the bytes around it. */
static bool check_nul(struct parser *p, const char *text, size_t len)
{
	const char *nul = len ? memchr(text, '\0', len) : NULL;
	if (!nul)
		return true;
	unsigned line = 1, col = 1;
	for (const char *q = text; q < nul; q++, col++)
		if (*q == '\n')
			line++, col = 0;
	error_at(p, line, col, "NUL byte in the configuration");
	return false;
}

static bool has_glob_chars_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	return false;
}

static bool has_glob_chars(const char *s)
{
	return has_glob_chars_n(s, strlen(s));
}

/* path, relative to the directory of the file being read unless absolute. */
static char *include_path(const struct parser *p, const char *path)
{
	const char *slash = strrchr(p->filename, '/');
	if (path[0] == '/' || !slash)
		return xstrdup(path);
	size_t dl = (size_t)(slash - p->filename) + 1, pl = strlen(path);
	char *r = xmalloc(dl + pl + 1);
	memcpy(r, p->filename, dl);
	memcpy(r + dl, path, pl + 1);
	return r;
}

/* The directory an include reads from (of its file, or its pattern). The sandbox
 * (core/confine.c) keeps these readable, for reloads. */
static void note_include_dir(struct parser *p, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? xstrdup(".") : xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	bool found;
	set_add(&p->include_dirs, dir, &found);
	if (found) {
		free(dir);
		return;
	}
	struct config *c = p->cfg;
	c->include_dirs = xrealloc(c->include_dirs, (c->n_include_dirs + 1) * sizeof(char *));
	c->include_dirs[c->n_include_dirs++] = dir;
}

/* Parse one included file at top level, in scope sc, as if it were written where its include
 * directive is (at): name_in_dir in dir_fd (or AT_FDCWD), called path in messages. Returns < 0
 * when a limit is reached and no more files should be read. */
static int include_file(struct parser *p, struct scope *sc, const struct pos *at, int dir_fd,
			const char *name_in_dir, const char *path)
{
	struct config *c = p->cfg;
	char lim[32];
	struct stat st;

	if (c->n_files + 1 >= CONFIG_MAX_FILES) {
		error_pos(p, at, "include %s: more than %d configuration files", path,
			  CONFIG_MAX_FILES);
		return -E2BIG;
	}
	int fd = openat(dir_fd, name_in_dir, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		error_pos(p, at, "include %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (unsigned i = 0; i < p->depth; i++) {
		if (p->stack[i].dev != st.st_dev || p->stack[i].ino != st.st_ino)
			continue;
		struct buf chain;
		buf_init(&chain, 64 * 1024);
		for (unsigned j = i; j < p->depth; j++)
			(void)buf_printf(&chain, "%s -> ", p->stack[j].name);
		(void)buf_appends(&chain, path);
		(void)buf_cstr(&chain);
		error_pos(p, at, "include cycle: %s", chain.data);
		buf_free(&chain);
		close(fd);
		return 0;
	}
	_cleanup_(freep) char *text = NULL;
	size_t len = 0;
	int r = read_text(fd, &st, CONFIG_MAX_BYTES, &text, &len);
	close(fd);
	if (r == -EFBIG) {
		error_pos(p, at, "include %s: larger than %s", path,
			  format_size(CONFIG_MAX_BYTES, lim));
		return 0;
	}
	if (r < 0) {
		error_pos(p, at, "include %s: %s", path, strerror(-r));
		return 0;
	}
	if (len > CONFIG_MAX_TOTAL_BYTES - p->total_bytes) {
		error_pos(p, at, "include %s: the configuration files together are larger than %s",
			  path, format_size(CONFIG_MAX_TOTAL_BYTES, lim));
		return -EFBIG;
	}
	p->total_bytes += len;

	if (c->n_files == p->files_cap) {
		p->files_cap = p->files_cap ? p->files_cap * 2 : 16;
		c->files = xrealloc(c->files, p->files_cap * sizeof(*c->files));
	}
	char *name = c->files[c->n_files++] = xstrdup(path);
	size_t listens0 = c->n_listens;

	/* The file's own lexer and name; then back to the including file's. */
	struct lexer outer = p->lx;
	const char *outer_name = p->filename;
	p->filename = name;
	p->stack[p->depth++] = (struct frame){name, st.st_dev, st.st_ino};
	if (check_nul(p, text, len)) {
		lexer_init(&p->lx, text, len);
		parse_stmts(p, sc, NULL, 0);
		lexer_done(&p->lx);
	}
	p->depth--;
	p->lx = outer;
	p->filename = outer_name;
	p->brace_pending = false;

	/* What this file defined, but not what the files it included did (set already). */
	for (size_t i = listens0; i < c->n_listens; i++)
		if (!c->listens[i].file)
			c->listens[i].file = name;
	return 0;
}

/* Does name match pattern? `*` any run of bytes, `?` any one, `[...]` one of a set (ranges
 * a-z, `!` or `^` first negates, `]` first is literal), `\` quotes the next byte; a name that
 * starts with '.' needs a pattern that starts with '.', as in the shell. glob(3) would do, but
 * statically linked it brings 160 KiB (fnmatch, locales, NSS) for this. */
static bool glob_match(const char *pat, const char *name)
{
	const char *star_pat = NULL, *star_name = NULL;

	if (name[0] == '.' && pat[0] != '.')
		return false;
	for (;;) {
		const char *next = NULL; /* where pat goes on after matching one byte of name */
		if (*pat == '*') {
			star_pat = ++pat;
			star_name = name;
			continue;
		}
		if (*name == '\0' && *pat == '\0')
			return true;
		if (*name != '\0') {
			if (*pat == '?') {
				next = pat + 1;
			} else if (*pat == '[') {
				const char *q = pat + 1;
				bool neg = *q == '!' || *q == '^', hit = false;
				if (neg)
					q++;
				const char *first = q;
				while (*q && (*q != ']' || q == first)) {
					unsigned char lo = (unsigned char)*q, hi = lo;
					if (q[1] == '-' && q[2] && q[2] != ']') {
						hi = (unsigned char)q[2];
						q += 2;
					}
					if ((unsigned char)*name >= lo && (unsigned char)*name <= hi)
						hit = true;
					q++;
				}
				if (*q == ']') {
					if (hit != neg)
						next = q + 1;
				} else if (*name == '[') {
					next = pat + 1; /* no closing ']': a literal '[' */
				}
			} else if (*pat == '\\' && pat[1]) {
				if (pat[1] == *name)
					next = pat + 2;
			} else if (*pat && *pat == *name) {
				next = pat + 1;
			}
		}
		if (next) {
			pat = next;
			name++;
			continue;
		}
		/* A mismatch: let the last '*' take one more byte, if there was one. */
		if (!star_pat || *star_name == '\0')
			return false;
		pat = star_pat;
		name = ++star_name;
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in d that match pattern (a last component), sorted in byte order. */
static int list_matches(DIR *d, const char *pattern, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	const struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !glob_match(pattern, e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(e->d_name);
		errno = 0;
	}
	if (errno) {
		int r = -errno;
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_names);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* `include FILE|GLOB`: each file it names, in byte order, parsed as if written here (top level
 * only). Wildcards only in the last component; a pattern with them may match nothing (an empty
 * sites-enabled/), a name without them must exist. Relative to the directory of the file the
 * directive is in. */
static int dir_include(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		       const struct stmt *s)
{
	const struct arg *a = &s->v[1];
	const struct pos at = a->at; /* p->stmt is reused by the files read below */
	char e[ECHO_SIZE];

	if (!p->can_include) {
		error_arg(p, a, "'include' needs the configuration to be read from a file");
		return -EINVAL;
	}
	if (a->len == 0 || a->len > PATH_MAX) {
		error_arg(p, a, "invalid include path '%s'", echo(a, e));
		return -EINVAL;
	}
	const char *slash = strrchr(a->text, '/');
	const char *last = slash ? slash + 1 : a->text;
	bool wild = has_glob_chars(last);
	if (wild ? has_glob_chars_n(a->text, (size_t)(last - a->text)) : has_glob_chars(a->text)) {
		error_arg(p, a, "include '%s': wildcards only in the last component of the path",
			  echo(a, e));
		return -EINVAL;
	}
	if (!wild && *last == '\0') {
		error_arg(p, a, "include '%s' names a directory: add a pattern, like '%s*.conf'",
			  echo(a, e), echo(a, e));
		return -EINVAL;
	}
	if (p->depth > CONFIG_MAX_INCLUDE_DEPTH) {
		error_arg(p, a, "include '%s': includes nested more than %d deep", echo(a, e),
			  CONFIG_MAX_INCLUDE_DEPTH);
		return -ELOOP;
	}
	_cleanup_(freep) char *path = include_path(p, a->text);
	note_include_dir(p, path);
	if (!wild) {
		include_file(p, sc, &at, AT_FDCWD, path, path);
		return 0;
	}

	/* The matches are opened relative to their directory: one path component to look up
	 * each, not the whole path. A directory that does not exist holds none, as in nginx. */
	char *pslash = strrchr(path, '/');
	const char *pattern = pslash ? pslash + 1 : path;
	size_t dl = pslash ? (size_t)(pslash - path) : 0;
	_cleanup_(freep) char *dir = !pslash ? xstrdup(".") : xstrndup(path, dl ? dl : 1);
	DIR *dh = opendir(dir);
	if (!dh) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		error_pos(p, &at, "include %s: %s", dir, strerror(errno));
		return -errno;
	}
	char **names = NULL;
	size_t n = 0;
	int r = list_matches(dh, pattern, &names, &n);
	if (r < 0)
		error_pos(p, &at, "include %s: %s", dir, strerror(-r));
	struct buf full;
	buf_init(&full, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!p->stop && r == 0) {
			buf_reset(&full);
			if (pslash)
				(void)buf_append(&full, path, dl + 1);
			(void)buf_appends(&full, names[i]);
			(void)buf_cstr(&full);
			r = include_file(p, sc, &at, dirfd(dh), names[i], full.data);
		}
		free(names[i]);
	}
	buf_free(&full);
	free(names);
	closedir(dh);
	return 0;
}

/* ---- basic-auth, basic-auth-user, basic-auth-file ---------------------------------------- */

#define AUTH_NAME_MAX 256
#define AUTH_HASH_MAX 512
#define AUTH_USERS_MAX 100000
#define AUTH_FILE_MAX (16 * 1024 * 1024)

static struct config_auth *auth_of(const struct scope *sc, const struct directive *d)
{
	return (struct config_auth *)((char *)sc->target + d->offset);
}

static int dir_basic_auth(struct parser *p, struct scope *sc, const struct directive *d,
			  const struct stmt *s)
{
	struct config_auth *au = auth_of(sc, d);
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	au->line = s->v[0].at.line;
	if (strcmp(a->text, "off") == 0) {
		au->off = true;
		return 0;
	}
	/* written into WWW-Authenticate as a quoted-string: no quote, backslash or control */
	bool ok = a->len > 0 && a->len <= 256;
	for (size_t i = 0; i < a->len && ok; i++) {
		unsigned char c = (unsigned char)a->text[i];
		ok = c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
	}
	if (!ok) {
		error_arg(p, a, "'basic-auth' takes a realm (no quote, backslash or control "
				"character, at most 256 bytes) or off, not '%s'", echo(a, e));
		return -EINVAL;
	}
	au->realm = xstrdup(a->text);
	return 0;
}

/* A user name, from a basic-auth-user line or a basic-auth-file: NULL, or what it should be
 * (for the caller's message). */
static const char *auth_check_name(const char *name, size_t name_len)
{
	if (name_len == 0 || name_len > AUTH_NAME_MAX)
		return "a user name of 1 to 256 bytes";
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == ':')
			return "a user name without ':' or control characters";
	}
	return NULL;
}

/* The same for a hash: a crypt(3) setting libxcrypt takes, and not a legacy method. */
static const char *auth_check_hash(const char *hash)
{
	static const char want[] = "a password hash from crypt(3): yescrypt ($y$, mkpasswd -m "
				   "yescrypt) or bcrypt ($2b$)";
	if (strlen(hash) > AUTH_HASH_MAX || hash[0] != '$')
		return want;
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return NULL;
	case CRYPT_SALT_METHOD_LEGACY:
		return "a hash of a current method, not a legacy one (DES, MD5, ...): yescrypt "
		       "($y$, mkpasswd -m yescrypt) or bcrypt ($2b$)";
	default:
		return want;
	}
}

static void auth_add_user(struct config_auth *au, const char *name, size_t name_len,
			  const char *hash, const char *file, unsigned line)
{
	if ((au->n_users & (au->n_users - 1)) == 0) /* 0, 1, 2, 4, ...: grow */
		au->users = xrealloc(au->users, (au->n_users ? 2 * au->n_users : 1) *
						    sizeof(*au->users));
	au->users[au->n_users++] = (struct config_auth_user){
		.name = xstrndup(name, name_len),
		.name_len = name_len,
		.file = file,
		.line = line,
		.hash = xstrdup(hash),
	};
}

static int dir_basic_auth_user(struct parser *p, struct scope *sc, const struct directive *d,
			       const struct stmt *s)
{
	struct config_auth *au = auth_of(sc, d);
	const struct arg *n = &s->v[1], *h = &s->v[2];
	const char *msg = auth_check_name(n->text, n->len);
	if (msg) {
		error_arg(p, n, "'basic-auth-user' takes %s", msg);
		return -EINVAL;
	}
	if ((msg = auth_check_hash(h->text))) {
		error_arg(p, h, "'basic-auth-user' takes %s", msg); /* never echoes the hash */
		return -EINVAL;
	}
	if (au->n_users >= AUTH_USERS_MAX) {
		error_arg(p, n, "more than %d users in one block", AUTH_USERS_MAX);
		return -E2BIG;
	}
	auth_add_user(au, n->text, n->len, h->text, n->at.file, n->at.line);
	return 0;
}

/* The file's name, kept in c->auth_files (the sandbox lets a reload read it again; users
 * point at it for messages). */
static const char *note_auth_file(struct config *c, const char *path)
{
	c->auth_files = xrealloc(c->auth_files, (c->n_auth_files + 1) * sizeof(char *));
	return c->auth_files[c->n_auth_files++] = xstrdup(path);
}

static void _printf_(5, 6) verror_at(struct parser *p, const char *file, unsigned line,
				     unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(p, file ? file : p->filename, line, col, fmt, ap);
	va_end(ap);
}

/* `basic-auth-file FILE`: "user:hash" lines (htpasswd's format, crypt(3) hashes only), '#'
 * comments and empty lines; errors at FILE:line:col. Read now (and on every reload), so
 * `ferry check` sees them. */
static int dir_basic_auth_file(struct parser *p, struct scope *sc, const struct directive *d,
			       const struct stmt *s)
{
	struct config_auth *au = auth_of(sc, d);
	const struct arg *a = &s->v[1];
	const struct pos at = a->at;
	char e[ECHO_SIZE];
	if (!p->can_include) {
		error_arg(p, a, "'basic-auth-file' needs the configuration to be read from a file");
		return -EINVAL;
	}
	if (a->len == 0 || a->len > PATH_MAX) {
		error_arg(p, a, "invalid basic-auth-file path '%s'", echo(a, e));
		return -EINVAL;
	}
	_cleanup_(freep) char *path = include_path(p, a->text);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int r = fd < 0 ? -errno : fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0)
		r = read_text(fd, &st, AUTH_FILE_MAX, &text, &len);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		error_pos(p, &at, "basic-auth-file %s: %s", path,
			  r == -EINVAL ? "not a regular file" : r == -EFBIG ? "larger than 16 MiB"
									    : strerror(-r));
		return r;
	}
	const char *fname = note_auth_file(p->cfg, path);
	unsigned line = 0;
	size_t pos = 0;
	while (pos < len && !p->stop) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		pos += n + 1;
		line++;
		if (n && l[n - 1] == '\r')
			n--;
		size_t i = 0;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n || l[i] == '#')
			continue;
		l += i; /* leading blanks are not part of the name */
		n -= i;
		const char *colon = memchr(l, ':', n);
		if (!colon) {
			verror_at(p, fname, line, 1, "expected NAME:HASH");
			continue;
		}
		size_t nlen = (size_t)(colon - l);
		char hash[AUTH_HASH_MAX + 2];
		size_t hlen = n - nlen - 1;
		if (hlen > AUTH_HASH_MAX)
			hlen = AUTH_HASH_MAX + 1;
		memcpy(hash, colon + 1, hlen);
		hash[hlen] = '\0';
		const char *msg = memchr(colon + 1, '\0', n - nlen - 1)
					  ? "no NUL byte"
					  : auth_check_name(l, nlen);
		if (msg) {
			verror_at(p, fname, line, (unsigned)i + 1, "expected %s", msg);
			continue;
		}
		if ((msg = auth_check_hash(hash))) {
			verror_at(p, fname, line, (unsigned)(i + nlen + 2), "expected %s", msg);
			continue;
		}
		if (au->n_users >= AUTH_USERS_MAX) {
			verror_at(p, fname, line, 1, "more than %d users in one block",
				  AUTH_USERS_MAX);
			break;
		}
		auth_add_user(au, l, nlen, hash, fname, line);
	}
	free(text);
	return 0;
}

static int auth_user_cmp(const void *a, const void *b)
{
	const struct config_auth_user *x = a, *y = b;
	size_t n = MIN(x->name_len, y->name_len);
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* At a site's or path block's end: the directives agree, the users sorted, none twice. */
static void auth_finish(struct parser *p, struct scope *sc, struct config_auth *au, bool site)
{
	const struct pos *at = scope_seen(sc, "basic-auth");
	if (au->off && (site || au->n_users))
		error_at(p, at->line, at->col, "%s",
			 site ? "'basic-auth off' is for path blocks (a site without basic-auth "
				"has none)"
			      : "'basic-auth off' with users in the same block");
	if (!au->realm && !au->off && au->n_users) {
		at = scope_seen(sc, "basic-auth-user");
		if (!at || !at->line)
			at = scope_seen(sc, "basic-auth-file");
		error_at(p, at->line, at->col, "users without 'basic-auth REALM' in this block");
	}
	if (au->realm && !au->n_users)
		error_at(p, at->line, at->col,
			 "'basic-auth' needs users: basic-auth-user NAME HASH or basic-auth-file "
			 "FILE");
	if (au->n_users > 1)
		qsort(au->users, au->n_users, sizeof(*au->users), auth_user_cmp);
	for (size_t i = 1; i < au->n_users; i++) {
		const struct config_auth_user *u = &au->users[i], *v = &au->users[i - 1];
		if (auth_user_cmp(u, v) == 0) {
			const struct config_auth_user *later =
				u->file == v->file && u->line < v->line ? v : u;
			const struct config_auth_user *first = later == u ? v : u;
			verror_at(p, later->file, later->line, 1,
				  "user '%.*s' again (first at %s:%u)", (int)MIN(u->name_len, 64),
				  u->name, first->file, first->line);
		}
	}
}

static void auth_free(struct config_auth *au)
{
	for (size_t i = 0; i < au->n_users; i++) {
		free(au->users[i].name);
		explicit_bzero(au->users[i].hash, strlen(au->users[i].hash));
		free(au->users[i].hash);
	}
	free(au->users);
	free(au->realm);
}

const struct config_auth *config_route_auth(const struct config_site *s,
					    const struct config_path *cp)
{
	if (cp && (cp->auth.realm || cp->auth.off))
		return cp->auth.off ? NULL : &cp->auth;
	return s->auth.realm ? &s->auth : NULL;
}

const struct config_auth_user *config_auth_user(const struct config_auth *a, const char *name,
						size_t len)
{
	struct config_auth_user key = {.name = (char *)name, .name_len = len};
	return bsearch(&key, a->users, a->n_users, sizeof(*a->users), auth_user_cmp);
}

/* ---- rate-limit ------------------------------------------------------------------------ */

#define RATE_MAX 1000000

static int dir_rate_limit(struct parser *p, struct scope *sc, const struct directive *d,
			  const struct stmt *s)
{
	struct config_rate *rl = (struct config_rate *)((char *)sc->target + d->offset);
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	rl->line = s->v[0].at.line;
	if (strcmp(a->text, "off") == 0) {
		if (s->n != 2) {
			error_arg(p, &s->v[2], "'rate-limit off' takes nothing more");
			return -EINVAL;
		}
		if (d->lo == 0) { /* the site's row */
			error_arg(p, a, "'rate-limit off' is for path blocks (a site without "
					"rate-limit has none)");
			return -EINVAL;
		}
		rl->off = true;
		return 0;
	}
	const char *slash = strchr(a->text, '/');
	uint64_t n = 0, m = 0;
	bool per_min = slash && strcmp(slash, "/m") == 0;
	if (!slash || (!per_min && strcmp(slash, "/s") != 0) ||
	    parse_uint(a->text, (size_t)(slash - a->text), RATE_MAX, &n) < 0 || n == 0) {
		error_arg(p, a, "'rate-limit' takes N/s or N/m (N from 1 to %d), not '%s'",
			  RATE_MAX, echo(a, e));
		return -EINVAL;
	}
	if (s->n != 4 || strcmp(s->v[2].text, "burst") != 0) {
		error_arg(p, s->n > 2 ? &s->v[2] : a, "'rate-limit %s' takes 'burst M' after it",
			  echo(a, e));
		return -EINVAL;
	}
	const struct arg *b = &s->v[3];
	if (parse_uint(b->text, b->len, RATE_MAX, &m) < 0 || m == 0) {
		error_arg(p, b, "'burst' takes a count from 1 to %d, not '%s'", RATE_MAX,
			  echo(b, e));
		return -EINVAL;
	}
	rl->per_min = (uint32_t)(per_min ? n : n * 60); /* at most 6e7: fits */
	rl->burst = (uint32_t)m;
	rl->id = ++p->cfg->n_rates;
	return 0;
}

const struct config_rate *config_route_rate(const struct config_site *s,
					    const struct config_path *cp)
{
	if (cp && (cp->rate.per_min || cp->rate.off))
		return cp->rate.off ? NULL : &cp->rate;
	return s->rate.per_min ? &s->rate : NULL;
}

/* ---- metrics --------------------------------------------------------------------------- */

/* `metrics NAME`: a listen line's NAME or ADDRESS as written (top_finish checks it). */
static int dir_metrics(struct parser *p, struct scope *sc, const struct directive *d _unused_,
		       const struct stmt *s)
{
	struct config *c = sc->target;
	const struct arg *a = &s->v[1];
	char e[ECHO_SIZE];
	if (a->len == 0 || a->len > 255) {
		error_arg(p, a, "'metrics' takes the NAME or ADDRESS of a listen line, not '%s'",
			  echo(a, e));
		return -EINVAL;
	}
	c->metrics = xstrdup(a->text);
	return 0;
}

/* ---- the tables ------------------------------------------------------------------------ */

/* clang-format off */
/* Row shapes: a plain directive; one that may appear once and stores a number, within lo..hi,
 * in a field (TOP(f): of struct config); one that opens a block parsed with ctx's table. */
#define PLAIN(name, min, max, usage, flags, handler) \
	{name, min, max, usage, flags, handler, 0, 0, 0, 0, NULL}
#define NUMBER(name, usage, handler, field, lo, hi) \
	{name, 1, 1, usage, DIR_ONCE, handler, field, lo, hi, NULL}
#define COUNT(name, field, lo, hi) \
	{name, 1, 1, "COUNT", DIR_ONCE, dir_count, field, lo, hi, NULL}
#define SIZE(name, field, lo, hi) \
	{name, 1, 1, "SIZE", DIR_ONCE, dir_size, field, lo, hi, NULL}
#define DURATION(name, field, lo, hi) \
	{name, 1, 1, "DURATION", DIR_ONCE, dir_duration, field, lo, hi, NULL}
#define BLOCK(name, min, max, usage, handler, ctx) \
	{name, min, max, usage, 0, handler, 0, 0, 0, 0, ctx}
#define TOP(f) FIELD(config, f)

/* Rows shared by site and path blocks: the field root (a char *) and proxy (a struct
 * config_proxy) of each. */
#define ROOT_ROW(type) \
	{"root", 1, 1, "PATH", DIR_ONCE, dir_root, offsetof(struct type, root), 0, 0, 0, NULL}
#define PROXY_ROWS(type) \
	{"proxy", 1, ARGS_UNBOUNDED, "UPSTREAM...", DIR_ONCE, dir_proxy, \
	 offsetof(struct type, proxy), 0, 0, 0, NULL}, \
	{"upstream-allow", 1, ARGS_UNBOUNDED, "CIDR...", 0, dir_upstream_allow, \
	 offsetof(struct type, proxy), 0, 0, 0, NULL}, \
	{"proxy-protocol", 1, 1, "v1|v2", DIR_ONCE, dir_proxy_protocol, \
	 offsetof(struct type, proxy), 0, 0, 0, NULL}, \
	{"upstream-ca", 1, 1, "FILE", DIR_ONCE, dir_upstream_ca, \
	 offsetof(struct type, proxy), 0, 0, 0, NULL}, \
	{"proxy-header-up", 1, 2, "NAME VALUE|-NAME", 0, dir_proxy_header, \
	 offsetof(struct type, proxy), 0, 0, 0, NULL}, \
	{"proxy-header-down", 1, 2, "NAME VALUE|-NAME", 0, dir_proxy_header, \
	 offsetof(struct type, proxy), 0, 1, 1, NULL}

#define AUTH_ROWS(type) \
	{"basic-auth", 1, 1, "REALM|off", DIR_ONCE, dir_basic_auth, \
	 offsetof(struct type, auth), 0, 0, 0, NULL}, \
	{"basic-auth-user", 2, 2, "NAME HASH", 0, dir_basic_auth_user, \
	 offsetof(struct type, auth), 0, 0, 0, NULL}, \
	{"basic-auth-file", 1, 1, "FILE", 0, dir_basic_auth_file, \
	 offsetof(struct type, auth), 0, 0, 0, NULL}

#define RATE_ROW(type, in_path) \
	{"rate-limit", 1, 3, "N/s|N/m burst M|off", DIR_ONCE, dir_rate_limit, \
	 offsetof(struct type, rate), 0, in_path, in_path, NULL}

/* Response rules, in site and path blocks alike: the field rules (a struct config_rules). */
#define RULES_ROWS(type) \
	{"header", 1, 2, "NAME VALUE|-NAME", 0, dir_header, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"redirect", 1, 2, "[301|302|307|308] TARGET", DIR_ONCE, dir_redirect, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"try-files", 1, LIST_MAX + 1, "TARGET... [=STATUS]", DIR_ONCE, dir_try_files, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"error-page", 2, LIST_MAX + 1, "STATUS... PATH", 0, dir_error_page, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"index", 1, LIST_MAX, "NAME...", DIR_ONCE, dir_index, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"browse", 0, 1, "[on|off]", DIR_ONCE, dir_browse, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"precompressed", 1, HTTP_CODING_N, "br|zstd|gzip...", DIR_ONCE, dir_codings, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}, \
	{"encode", 1, HTTP_CODING_N, "br|zstd|gzip...", DIR_ONCE, dir_codings, \
	 offsetof(struct type, rules), 0, 0, 0, NULL}

static const struct directive path_directives[] = {
	RATE_ROW(config_path, 1),
	AUTH_ROWS(config_path),
	ROOT_ROW(config_path),
	PROXY_ROWS(config_path),
	{"proxy-strip-prefix", 0, 0, "", DIR_ONCE, dir_proxy_strip_prefix,
	 offsetof(struct config_path, proxy), 0, 0, 0, NULL},
	RULES_ROWS(config_path),
};

static const struct context path_context = {
	.where = "inside a path block",
	.directives = path_directives,
	.n = ARRAY_SIZE(path_directives),
	.finish = path_finish,
};

static const struct directive site_directives[] = {
	ROOT_ROW(config_site),
	PROXY_ROWS(config_site),
	AUTH_ROWS(config_site),
	RATE_ROW(config_site, 0),
	BLOCK("path", 1, 1, "PREFIX { ... }", dir_path, &path_context),
	RULES_ROWS(config_site),
	PLAIN("tls",           1, 4, "CERT_FILE KEY_FILE [ocsp OCSP_FILE]|acme", 0, dir_tls),
	PLAIN("http-redirect", 1, 1, "on|off", DIR_ONCE, dir_http_redirect),
	PLAIN("hsts",          1, 3, "DURATION [include-subdomains] [preload]|off", DIR_ONCE,
	      dir_hsts),
};

static const struct context site_context = {
	.where = "inside a site block",
	.directives = site_directives,
	.n = ARRAY_SIZE(site_directives),
	.finish = site_finish,
};

static const struct directive top_directives[] = {
	PLAIN("listen",     1, 5, "ADDRESS|NAME [ADDRESS] [proxy-protocol] [h2c] [tls] [quic]", 0,
	      dir_listen),
	PLAIN("include",    1, 1, "FILE|GLOB", 0, dir_include),
	PLAIN("metrics",    1, 1, "NAME|ADDRESS", DIR_ONCE, dir_metrics),
	PLAIN("access-log", 1, 3, "off|stderr|PATH [format combined|json]", DIR_ONCE,
	      dir_access_log),
	NUMBER("workers", "COUNT|auto", dir_workers, TOP(workers), 1, 1024),
	COUNT("max-connections",      TOP(max_connections),      1,   1000000),
	SIZE("max-request-line",      TOP(max_request_line),     256, MIB),
	SIZE("max-header-size",       TOP(max_header_bytes),     KIB, MIB),
	COUNT("max-header-fields",    TOP(max_header_fields),    1,   HTTP_MAX_HEADERS_HARD),
	COUNT("h2-max-streams",       TOP(h2_max_streams),       1,   10000),
	DURATION("header-timeout",    TOP(header_timeout_ms),    1,   DAY_MS),
	DURATION("body-timeout",      TOP(body_timeout_ms),      1,   DAY_MS),
	DURATION("body-total-timeout", TOP(body_total_timeout_ms), 1, DAY_MS),
	/* 0: no keep-alive, close after each response. */
	DURATION("keepalive-timeout", TOP(keepalive_timeout_ms), 0,   DAY_MS),
	DURATION("send-timeout",      TOP(send_timeout_ms),      1,   DAY_MS),
	/* 0: on stop, close open connections at once. */
	DURATION("shutdown-timeout",  TOP(shutdown_timeout_ms),  0,   DAY_MS),
	/* 0: never. */
	DURATION("idle-exit",         TOP(idle_exit_ms),         0,   DAY_MS),
	PLAIN("sandbox",    1, 1, "on|strict|off",   DIR_ONCE, dir_sandbox),
	PLAIN("reload-on-change", 1, 1, "on|off",    DIR_ONCE, dir_reload_on_change),
	PLAIN("user",       1, 1, "NAME|UID[:GID]",  DIR_ONCE, dir_user),
	PLAIN("trusted-proxies", 1, ARGS_UNBOUNDED, "CIDR...", 0, dir_trusted_proxies),
	PLAIN("resolver",   1, 1, "ADDRESS[:PORT]",  DIR_ONCE, dir_resolver),
	DURATION("proxy-connect-timeout", TOP(proxy_connect_timeout_ms), 1, DAY_MS),
	DURATION("proxy-timeout",         TOP(proxy_timeout_ms),         1, DAY_MS),
	DURATION("proxy-idle-timeout",    TOP(proxy_idle_timeout_ms),    1, DAY_MS),
	NUMBER("proxy-idle-max", "COUNT|auto", dir_count_or_auto, TOP(proxy_idle_max), 0, 10000),
	COUNT("max-tls-handshakes",       TOP(max_tls_handshakes),       1, 1000000),
	PLAIN("acme-ca",    1, 1, "URL",             DIR_ONCE, dir_acme_ca),
	PLAIN("acme-email", 1, 1, "ADDRESS",         DIR_ONCE, dir_acme_email),
	PLAIN("acme-ca-root", 1, 1, "FILE",          DIR_ONCE, dir_acme_path),
	PLAIN("acme-dir",   1, 1, "DIR",             DIR_ONCE, dir_acme_path),
	PLAIN("acme-challenge", 1, 1, "http-01|tls-alpn-01", DIR_ONCE, dir_acme_challenge),
	PLAIN("acme-mode",  1, 1, "split|integrated", DIR_ONCE, dir_acme_mode),
	DURATION("acme-retry",        TOP(acme_retry_ms),        SECOND_MS, DAY_MS),
	DURATION("acme-timeout",      TOP(acme_timeout_ms),      SECOND_MS, 600 * SECOND_MS),
	BLOCK("site", 1, ARGS_UNBOUNDED, "NAME... { ... }", dir_site, &site_context),
};

static const struct context top_context = {
	.where = "at top level",
	.directives = top_directives,
	.n = ARRAY_SIZE(top_directives),
	.finish = top_finish,
};
/* clang-format on */

/* Every context, to tell "not allowed here" from "unknown". */
static const struct context *const contexts[] = {&top_context, &site_context, &path_context};

static const struct directive *context_find(const struct context *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->n; i++)
		if (strcmp(ctx->directives[i].name, name) == 0)
			return &ctx->directives[i];
	return NULL;
}

/* ---- the parser ------------------------------------------------------------------------ */

static void stmt_reset(struct stmt *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].text);
	s->n = 0;
	s->bad = false;
}

static void stmt_push(struct stmt *s, const struct lexer_token *t, const char *file)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct arg){
	    .text = xstrndup(t->text, t->len),
	    .len = t->len,
	    .at = {t->line, t->col, file},
	    .quoted = t->kind == LEXER_STRING,
	};
}

/* Read tokens into p->stmt up to a terminator, which is returned in *term. */
static void read_stmt(struct parser *p, struct lexer_token *term)
{
	stmt_reset(&p->stmt);
	for (;;) {
		lexer_next(&p->lx, term);
		if (p->stop) {
			term->kind = LEXER_EOF;
			return;
		}
		switch (term->kind) {
		case LEXER_WORD:
		case LEXER_STRING:
			stmt_push(&p->stmt, term, p->filename);
			break;
		case LEXER_ERROR:
			error_at(p, term->line, term->col, "%s", p->lx.error);
			p->stmt.bad = true;
			break;
		default:
			return;
		}
	}
}

/* Skip a { } body without looking at it: after an error in the directive that opened it. */
static void skip_block(struct parser *p, const struct lexer_token *open)
{
	unsigned depth = 1;
	struct lexer_token t;

	while (depth > 0 && !p->stop) {
		lexer_next(&p->lx, &t);
		switch (t.kind) {
		case LEXER_OPEN:
			depth++;
			break;
		case LEXER_CLOSE:
			depth--;
			break;
		case LEXER_ERROR:
			error_at(p, t.line, t.col, "%s", p->lx.error);
			break;
		case LEXER_EOF:
			error_at(p, t.line, t.col, "missing '}' for the block opened at %u:%u",
				 open->line, open->col);
			return;
		default:
			break;
		}
	}
}

static void parse_body(struct parser *p, const struct context *ctx, void *target,
		       const struct lexer_token *open, unsigned depth);

static void arg_count_error(struct parser *p, const struct directive *d, const struct arg *name)
{
	if (d->max_args == 0)
		error_arg(p, name, "'%s' takes no arguments", d->name);
	else if (d->min_args == d->max_args)
		error_arg(p, name, "'%s' takes %u argument%s: %s %s", d->name, d->min_args,
			  d->min_args == 1 ? "" : "s", d->name, d->usage);
	else if (d->max_args == ARGS_UNBOUNDED)
		error_arg(p, name, "'%s' takes at least %u argument%s: %s %s", d->name, d->min_args,
			  d->min_args == 1 ? "" : "s", d->name, d->usage);
	else
		error_arg(p, name, "'%s' takes %u to %u arguments: %s %s", d->name, d->min_args,
			  d->max_args, d->name, d->usage);
}

/* Run the statement in p->stmt, which ended with term. */
static void dispatch(struct parser *p, struct scope *sc, const struct lexer_token *term,
		     unsigned depth)
{
	const struct stmt *s = &p->stmt;
	const struct arg *name = &s->v[0];
	bool opens = term->kind == LEXER_OPEN;
	char e[ECHO_SIZE];
	const struct directive *d = context_find(sc->ctx, name->text);

	if (!d) {
		const struct context *other = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(contexts) && !other; i++)
			if (contexts[i] != sc->ctx && context_find(contexts[i], name->text))
				other = contexts[i];
		if (other)
			error_arg(p, name, "'%s' is not allowed %s (only %s)", echo(name, e),
				  sc->ctx->where, other->where);
		else
			error_arg(p, name, "unknown directive '%s'", echo(name, e));
		goto skip;
	}
	if (d->block && !opens) {
		error_arg(p, name, "'%s' needs a block opened on the same line: %s %s", d->name,
			  d->name, d->usage);
		p->brace_pending = true;
		return;
	}
	if (!d->block && opens) {
		error_arg(p, name, "'%s' does not take a block", d->name);
		goto skip;
	}
	if (d->block && depth >= CONFIG_MAX_DEPTH) {
		error_arg(p, name, "blocks nested too deeply");
		goto skip;
	}

	/* After a lexer error the arguments are incomplete: checking them would only add noise.
	 * A block directive still runs, so that its body is parsed in the right context. */
	if (s->bad && !d->block)
		return;

	size_t i = (size_t)(d - sc->ctx->directives);
	if ((d->flags & DIR_ONCE) && sc->seen[i].line) {
		error_arg(p, name, "duplicate '%s' (first at %s%s%u)", d->name,
			  FIRST_AT(p, sc->seen[i].file, sc->seen[i].line));
		goto skip;
	}
	if (!sc->seen[i].line)
		sc->seen[i] = name->at;

	/* A handler reads exactly its min..max arguments: with another count (after a lexer
	 * error too) it does not run, and a block's body is skipped. */
	size_t n_args = s->n - 1;
	if (n_args < d->min_args || n_args > d->max_args) {
		if (!s->bad)
			arg_count_error(p, d, name);
		if (!d->block)
			return;
		goto skip;
	}

	sc->child = NULL;
	d->handler(p, sc, d, s);
	if (!d->block)
		return;
	if (sc->child) {
		parse_body(p, d->block, sc->child, term, depth + 1);
		return;
	}
skip:
	if (opens)
		skip_block(p, term);
}

/* Parse directives into scope sc up to the '}' matching open, or to the end of the file at top
 * level (of the main file, or of an included one: the same scope). */
static void parse_stmts(struct parser *p, struct scope *sc, const struct lexer_token *open,
			unsigned depth)
{
	struct lexer_token term;

	for (;;) {
		read_stmt(p, &term);
		if (p->stop)
			break;
		if (p->stmt.n > 0) {
			p->brace_pending = false;
			dispatch(p, sc, &term, depth);
		} else if (term.kind == LEXER_OPEN) {
			/* `site x` NEWLINE `{`: the site line already got the error. */
			if (!p->brace_pending && !p->stmt.bad)
				error_at(p, term.line, term.col,
					 "unexpected '{' (a block opens on its directive's line)");
			p->brace_pending = false;
			skip_block(p, &term);
		}
		if (term.kind == LEXER_CLOSE) {
			if (open)
				break;
			error_at(p, term.line, term.col, "unexpected '}'");
		} else if (term.kind == LEXER_EOF) {
			if (open)
				error_at(p, term.line, term.col,
					 "missing '}' for the block opened at %u:%u", open->line,
					 open->col);
			break;
		}
	}
}

static void parse_body(struct parser *p, const struct context *ctx, void *target,
		       const struct lexer_token *open, unsigned depth)
{
	struct scope sc = {
	    .ctx = ctx, .target = target, .seen = xcalloc(ctx->n, sizeof(struct pos))};

	parse_stmts(p, &sc, open, depth);
	if (!p->stop && ctx->finish)
		ctx->finish(p, &sc);
	free(sc.seen);
}

/* ---- the public functions -------------------------------------------------------------- */

struct config *config_new_default(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->workers = 0;
	c->access_log = CONFIG_LOG_STDERR;
	c->max_request_line = 8 * KIB;
	c->max_header_bytes = 16 * KIB;
	c->max_header_fields = 100;
	c->max_connections = 10000;
	c->h2_max_streams = 100;
	c->header_timeout_ms = 10 * SECOND_MS;
	c->body_timeout_ms = 30 * SECOND_MS;
	c->body_total_timeout_ms = 60 * SECOND_MS;
	c->keepalive_timeout_ms = 60 * SECOND_MS;
	c->send_timeout_ms = 30 * SECOND_MS;
	c->shutdown_timeout_ms = 10 * SECOND_MS;
	c->proxy_connect_timeout_ms = 5 * SECOND_MS;
	c->proxy_timeout_ms = 60 * SECOND_MS;
	c->proxy_idle_timeout_ms = 30 * SECOND_MS;
	c->acme_retry_ms = 60 * SECOND_MS;
	c->acme_timeout_ms = 30 * SECOND_MS;
	c->proxy_idle_max = CONFIG_AUTO;
	c->max_tls_handshakes = 1000;
	c->sandbox = true;
	return c;
}

static void proxy_free(struct config_proxy *px)
{
	for (size_t i = 0; i < px->n_ups; i++)
		upstream_free(&px->ups[i]);
	free(px->ups);
	free(px->allow);
	free(px->upstream_ca);
	field_ops_free(px->hdr_up, px->n_hdr_up);
	field_ops_free(px->hdr_down, px->n_hdr_down);
	free(px->host);
}

static void auth_free(struct config_auth *au);

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	for (size_t i = 0; i < c->n_listens; i++)
		free(c->listens[i].spec);
	free(c->listens);
	free(c->access_log_path);
	free(c->acme_ca);
	free(c->acme_email);
	free(c->acme_ca_root);
	free(c->acme_dir);
	free(c->user);
	for (size_t i = 0; i < c->n_sites; i++) {
		for (size_t j = 0; j < c->sites[i].n_names; j++)
			free(c->sites[i].names[j]);
		free(c->sites[i].names);
		free(c->sites[i].root);
		proxy_free(&c->sites[i].proxy);
		auth_free(&c->sites[i].auth);
		rules_free(&c->sites[i].rules);
		for (size_t j = 0; j < c->sites[i].n_paths; j++) {
			free(c->sites[i].paths[j].prefix);
			free(c->sites[i].paths[j].root);
			proxy_free(&c->sites[i].paths[j].proxy);
			auth_free(&c->sites[i].paths[j].auth);
			rules_free(&c->sites[i].paths[j].rules);
		}
		free(c->sites[i].paths);
		prefixmap_free(c->sites[i].path_map);
		for (size_t j = 0; j < c->sites[i].n_tls; j++) {
			free(c->sites[i].tls[j].cert);
			free(c->sites[i].tls[j].key);
			free(c->sites[i].tls[j].ocsp);
		}
		free(c->sites[i].tls);
	}
	free(c->trusted_proxies);
	free(c->sites);
	hostmap_free(c->hostmap);
	free(c->roots);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	for (size_t i = 0; i < c->n_include_dirs; i++)
		free(c->include_dirs[i]);
	free(c->include_dirs);
	for (size_t i = 0; i < c->n_auth_files; i++)
		free(c->auth_files[i]);
	free(c->auth_files);
	free(c->metrics);
	free(c);
}

/* What the workers match requests with, built once the whole configuration has parsed: each
 * site's path blocks (prefixmap.h) and the distinct roots. (The site names went into the
 * hostmap as they were read: it finds duplicates too.) */
static void build_indexes(struct parser *p)
{
	struct config *c = p->cfg;
	struct name_set roots = {0};
	size_t roots_cap = 0;
	for (size_t i = 0; i < c->n_sites; i++) {
		struct config_site *s = &c->sites[i];
		if (s->n_paths > 0) {
			s->path_map = prefixmap_new(s->n_paths);
			for (size_t j = 0; j < s->n_paths; j++)
				prefixmap_add(s->path_map, s->paths[j].prefix, s->paths[j].prefix_len,
					      (uint32_t)j);
			prefixmap_seal(s->path_map);
		}
		/* One entry per distinct root path: opened once, shared by whoever names it. */
		for (size_t j = 0; j <= s->n_paths; j++) {
			const char *root = j == 0 ? s->root : s->paths[j - 1].root;
			unsigned *id = j == 0 ? &s->root_id : &s->paths[j - 1].root_id;
			unsigned line = j == 0 ? s->line : s->paths[j - 1].line;
			if (!root)
				continue;
			bool found;
			struct name_entry *e = set_add(&roots, root, &found);
			if (!found) {
				if (c->n_roots == roots_cap) {
					roots_cap = roots_cap ? roots_cap * 2 : 8;
					c->roots = xrealloc(c->roots, roots_cap * sizeof(*c->roots));
				}
				e->id = (uint32_t)c->n_roots;
				c->roots[c->n_roots++] =
				    (struct config_root){.path = root, .file = s->file, .line = line};
			}
			*id = e->id;
		}
	}
	set_free(&roots);
	for (size_t i = 0; i < c->n_listens; i++)
		if (!c->listens[i].file)
			c->listens[i].file = c->path;
}

/* Parse the main file's text; st (its fstat) when it was read from disk, which allows include. */
static int parse_main(const char *filename, const char *text, size_t len, const struct stat *st,
		      struct config **ret, struct buf *errors)
{
	struct parser p = {.filename = filename ? filename : "<config>", .errors = errors};
	char lim[32];

	if (!text)
		len = 0;
	if (len > CONFIG_MAX_BYTES) {
		if (errors)
			(void)buf_printf(errors, "%s: larger than %s\n", p.filename,
					 format_size(CONFIG_MAX_BYTES, lim));
		return -EINVAL;
	}
	if (!check_nul(&p, text, len))
		return -EINVAL;

	p.cfg = config_new_default();
	if (filename)
		p.filename = p.cfg->path = xstrdup(filename); /* sites point at it: the config's copy */
	p.can_include = st != NULL;
	p.stack[0] = (struct frame){p.filename, st ? st->st_dev : 0, st ? st->st_ino : 0};
	p.depth = 1;
	p.total_bytes = len;
	lexer_init(&p.lx, text ? text : "", len);
	parse_body(&p, &top_context, p.cfg, NULL, 0);
	lexer_done(&p.lx);
	stmt_reset(&p.stmt);
	free(p.stmt.v);
	set_free(&p.listen_specs);
	set_free(&p.include_dirs);

	if (p.n_errors > 0 || p.stop) {
		config_free(p.cfg);
		return -EINVAL;
	}
	build_indexes(&p);
	*ret = p.cfg;
	return 0;
}

int config_parse(const char *filename, const char *text, size_t len, struct config **ret,
		 struct buf *errors)
{
	return parse_main(filename, text, len, NULL, ret, errors);
}

int config_load(const char *path, struct config **ret, struct buf *errors)
{
	_cleanup_(freep) char *text = NULL;
	char lim[32];
	struct stat st;
	size_t len = 0;
	int r;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	r = read_text(fd, &st, CONFIG_MAX_BYTES, &text, &len);
	close(fd);
	if (r == -EFBIG) {
		if (errors)
			(void)buf_printf(errors, "%s: larger than %s\n", path,
					 format_size(CONFIG_MAX_BYTES, lim));
		return -EINVAL;
	}
	if (r < 0)
		goto fail;
	return parse_main(path, text, len, &st, ret, errors);

fail:
	if (errors)
		(void)buf_printf(errors, "%s: %s\n", path, strerror(-r));
	return r;
}

/* ---- per request ----------------------------------------------------------------------- */

const struct config_site *config_match_site(const struct config *c, const char *host, size_t len)
{
	if (!c)
		return NULL;
	if (!host)
		len = 0;

	/* Strip ":port": after the ']' of an IPv6 literal, else at the first ':'. */
	if (len > 0 && host[0] == '[') {
		const char *close = memchr(host, ']', len);
		if (close)
			len = (size_t)(close - host) + 1;
	} else if (len > 0) {
		const char *colon = memchr(host, ':', len);
		if (colon)
			len = (size_t)(colon - host);
	}
	if (len > 0 && host[len - 1] == '.')
		len--;

	uint32_t i = hostmap_find(c->hostmap, host, len);
	return i == HOSTMAP_NONE ? NULL : &c->sites[i];
}

const struct config_site *config_tls_site(const struct config *c, const char *name, size_t len)
{
	const struct config_site *s = len ? config_match_site(c, name, len) : NULL;
	return s && s->n_tls ? s : c->tls_default;
}

const struct config_path *config_match_path(const struct config_site *s, const char *path,
					    size_t len)
{
	uint32_t i = prefixmap_find(s->path_map, path, len);
	return i == PREFIXMAP_NONE ? NULL : &s->paths[i];
}

const struct config_proxy *config_route_proxy(const struct config_site *s,
					      const struct config_path *cp)
{
	if (cp && cp->root)
		return NULL;
	if (cp && cp->proxy.ups)
		return &cp->proxy;
	/* No path block, or one with neither: like the rest of the site. */
	return s->proxy.ups ? &s->proxy : NULL;
}
