/* The files `ferry units` writes, generated from a parsed config: a .socket unit with one
 * Listen line per address, and a quadlet .container or a .service running `podman run` (or a
 * Kubernetes Pod for `podman kube play`). Pure: text in, text out; see units.h.
 *
 * The container always gets the same shape, whatever the mode:
 *   --network=none     ferry serves sockets systemd opened; nothing else needs the network,
 *                      unless a `proxy` upstream is reached over TCP (a name, an address or
 *                      {host}): then --network=NAME, the Podman network of the upstreams
 *                      (`ferry units --network NAME`, required then: collect_upstreams())
 *   Unix upstreams     the socket's directory bind-mounted read-write at the same path
 *                      (connect(2) needs write permission on the socket); no network
 *   --read-only, --user=65534:65534, no-new-privileges
 *   the config         bind-mounted read-only at /etc/ferry/ferry.conf
 *   document roots     of sites and path blocks, bind-mounted read-only at the same path
 *   certificates       the directories of the `tls` files (certificate, key, OCSP response),
 *                      bind-mounted read-only at the same path: ferry reads them again there on
 *                      reload and when they change; and those of `upstream-ca` files (the
 *                      image has no system CA bundle: https:// upstreams without upstream-ca
 *                      get a warning)
 *   --sdnotify=container, Type=notify: ferry sends READY=1 itself, once it serves
 *   reload             SIGHUP to ferry (ReloadSignal= in quadlet, podman kill elsewhere) */
#include "units/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/xalloc.h"

/* FileDescriptorStoreMax= of a native service: what ferry hands over at a restart, and takes
 * back with the socket unit's fds (sd/listen.c accepts at most 4096 in LISTEN_FDS). */
#define UNITS_FDSTORE_MAX 4000u
#define CONTAINER_CONFIG "/etc/ferry/ferry.conf"
#define CONTAINER_USER "65534" /* nobody; ferry needs no privilege: systemd binds the ports */
#define DEFAULT_NAME "ferry"
#define DEFAULT_IMAGE "localhost/ferry:latest"
#define DEFAULT_PODMAN "/usr/bin/podman"
#define DEFAULT_BINARY "/usr/local/bin/ferry"
#define DEFAULT_FDNAME "ferry"

/* One socket: from a `listen ADDRESS` line or from --listen. */
struct sock {
	struct net_addr addr;
	const char *spec;   /* as written, for messages */
	const char *fdname; /* `listen NAME ADDRESS`: NAME; else NULL (the default name) */
	bool from_cli;      /* --listen, not a config line */
	bool quic;          /* `listen ... quic`: a datagram socket serve takes (HTTP/3) */
};

/* One bind mount: host path = container path, except for the config. */
struct mount {
	const char *host; /* relative to the home directory when in_home */
	bool in_home;
	const char *container;
	bool rw;
	bool shared; /* SELinux: z (shared label) rather than Z (private) */
	bool file;   /* a file (hostPath type File) rather than a directory */
};

struct gen {
	const struct config *cfg;
	const struct units_opts *o;
	struct buf *diag;
	int r;
	const char *name;
	struct sock socks[UNITS_MAX_LISTEN];
	size_t n_socks;
	const char *fdname; /* for sockets without a name of their own */
	/* One socket unit per FileDescriptorName= (systemd sets one name per unit): the first
	 * is NAME.socket, the others NAME-FDNAME.socket. */
	const char *groups[UNITS_MAX_GROUPS];
	char group_units[UNITS_MAX_GROUPS][UNITS_NAME_MAX * 2 + 16];
	size_t n_groups;
	struct mount *mounts;
	size_t n_mounts;
	char *log_dir;
	char cid[128]; /* the cidfile, as written in the units */
	char run[64];  /* the runtime dir of the user that runs Podman, for system-as */
	unsigned stop_s;
	/* The network the container joins: NULL for --network=none. A TCP upstream needs one
	 * (net_why names the first, for messages); --network gives it. */
	const char *network;
	const struct config_upstream *net_why;
	unsigned net_why_line;
	char **unix_dirs; /* directories of Unix-socket upstreams (mounted read-write) */
	char **tls_dirs;  /* directories of the tls files (mounted read-only) */
	size_t n_tls_dirs;
	const struct config_tls *acme; /* a `tls acme` line (acme-dir is mounted), or NULL */
	size_t n_unix_dirs;
	bool unix_abstract; /* an upstream on an abstract socket (native: needs the host's netns) */
	char describe[UNITS_NAME_MAX + 16]; /* "ferry NAME", or NAME when it says ferry already */
};

static void diag(struct gen *g, bool error, const char *fmt, ...) _printf_(3, 4);
static void diag(struct gen *g, bool error, const char *fmt, ...)
{
	va_list ap;
	buf_appends(g->diag, error ? "ferry units: " : "ferry units: warning: ");
	va_start(ap, fmt);
	buf_vprintf(g->diag, fmt, ap);
	va_end(ap);
	buf_appends(g->diag, "\n");
	if (error)
		g->r = -EINVAL;
}

/* Appending past UNITS_MAX_FILE_BYTES fails once, at the end (units_generate checks). */
static void out(struct buf *b, const char *fmt, ...) _printf_(2, 3);
static void out(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *units_name(const struct units_opts *o)
{
	return o->name ? o->name : DEFAULT_NAME;
}

const char *units_image(const struct units_opts *o)
{
	return o->image ? o->image : DEFAULT_IMAGE;
}

static const char *podman(const struct gen *g)
{
	return g->o->podman ? g->o->podman : DEFAULT_PODMAN;
}

/* --- Escaping ------------------------------------------------------------------------------
 * Unit files expand %specifiers everywhere and $VARIABLES in Exec lines; Kubernetes YAML gets
 * double-quoted scalars. Paths with blanks, quotes, backslashes, ':' or ',' are refused
 * (check_path) rather than quoted: Podman's --volume has no quoting for ':' and ','. */
enum ctx { CTX_UNIT, CTX_EXEC, CTX_YAML };

static void put_esc(struct buf *b, enum ctx c, const char *s)
{
	for (; *s; s++) {
		if (c != CTX_YAML && *s == '%')
			buf_appends(b, "%%");
		else if (c == CTX_EXEC && *s == '$')
			buf_appends(b, "$$");
		else if (c == CTX_YAML && (*s == '"' || *s == '\\'))
			out(b, "\\%c", *s);
		else
			buf_append(b, s, 1);
	}
}

/* A host path: in user mode, the home directory becomes %h (not in YAML). */
static void put_path(const struct gen *g, struct buf *b, enum ctx c, const char *path)
{
	const char *home = g->o->mode == UNITS_USER ? g->o->home : NULL;
	size_t hl = home ? strlen(home) : 0;
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	if (c != CTX_YAML && hl > 1 && strncmp(path, home, hl) == 0 &&
	    (path[hl] == '/' || path[hl] == '\0')) {
		buf_appends(b, "%h");
		path += hl;
	}
	put_esc(b, c, path);
}

static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f || strchr("\"'\\:,;", *p))
			return false;
	return true;
}

static void check_path(struct gen *g, const char *what, const char *p)
{
	if (!path_ok(p))
		diag(g, true, "%s '%s' cannot be bind-mounted by a generated unit: it must be "
			      "absolute, without blanks, quotes, backslashes, ':', ',' or ';'",
		     what, p);
}

static bool word_ok(const char *s, const char *extra, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '-' || s[0] == '.')
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(extra, ch)))
			return false;
	}
	return true;
}

/* --- What the config asks for ------------------------------------------------------------- */

static bool addr_any(const struct net_addr *a)
{
	if (a->family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return a->family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
}

static unsigned addr_port(const struct net_addr *a)
{
	if (a->family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
	if (a->family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return 0;
}

/* In user mode, the lowest IP port below 1024 among the sockets (of the sockets of one
 * FileDescriptorName=, when fdname is set), or 0. */
static unsigned user_low_port_of(const struct gen *g, const char *fdname)
{
	unsigned low = 0;
	if (g->o->mode != UNITS_USER)
		return 0;
	for (size_t i = 0; i < g->n_socks; i++) {
		const struct net_addr *a = &g->socks[i].addr;
		unsigned port = addr_port(a);
		if (fdname && strcmp(g->socks[i].fdname ? g->socks[i].fdname : g->fdname, fdname))
			continue;
		if ((a->family == AF_INET || a->family == AF_INET6) && port > 0 && port < 1024 &&
		    (!low || port < low))
			low = port;
	}
	return low;
}

static unsigned user_low_port(const struct gen *g)
{
	return user_low_port_of(g, NULL);
}

static void add_sock(struct gen *g, const struct net_addr *a, const char *spec,
		     const char *fdname, bool from_cli, bool quic)
{
	for (size_t i = 0; i < g->n_socks; i++)
		if (net_addr_equal(&g->socks[i].addr, a))
			return; /* --listen repeating a config line */
	if (g->n_socks == UNITS_MAX_LISTEN) {
		diag(g, true, "more than %d sockets", UNITS_MAX_LISTEN);
		return;
	}
	g->socks[g->n_socks++] =
		(struct sock){.addr = *a, .spec = spec, .fdname = fdname, .from_cli = from_cli,
			      .quic = quic};
}

static void collect_socks(struct gen *g)
{
	const struct config *cfg = g->cfg;
	const char *cfgname = cfg->path ? cfg->path : "config";

	/* `listen NAME ADDRESS` is a socket with its own name. A bare `listen NAME` carries no
	 * address: one such name can label the sockets that have none (addresses, --listen);
	 * several cannot be told apart. */
	for (size_t i = 0; i < cfg->n_listens; i++) {
		const struct config_listen *l = &cfg->listens[i];
		if (l->is_addr || l->has_fallback) {
			if (l->has_fallback && (strlen(l->spec) > UNITS_NAME_MAX ||
						!word_ok(l->spec, "_.-", UNITS_NAME_MAX)))
				diag(g, true, "%s:%u: listen %s: a socket unit is named after it: "
					      "use letters, digits, '_', '.' or '-'",
				     cfgname, l->line, l->spec);
			add_sock(g, &l->addr, l->spec, l->has_fallback ? l->spec : NULL, false,
				 l->quic);
			continue;
		}
		if (!g->fdname) {
			g->fdname = l->spec;
		} else if (strcmp(g->fdname, l->spec) != 0) {
			diag(g, true, "%s:%u: 'listen %s' has no address, and '%s' already names "
				      "the sockets without one: write 'listen NAME ADDRESS'",
			     cfgname, l->line, l->spec, g->fdname);
		}
	}
	for (size_t i = 0; i < g->o->n_listen; i++) {
		struct net_addr a;
		if (net_addr_parse(g->o->listen[i], &a) < 0) {
			diag(g, true, "--listen %s: not an address", g->o->listen[i]);
			continue;
		}
		add_sock(g, &a, g->o->listen[i], NULL, true, false);
	}
	if (!g->fdname)
		g->fdname = DEFAULT_FDNAME;
	for (size_t i = 0; i < g->n_socks; i++) {
		const char *n = g->socks[i].fdname ? g->socks[i].fdname : g->fdname;
		size_t k = 0;
		while (k < g->n_groups && strcmp(g->groups[k], n) != 0)
			k++;
		if (k < g->n_groups)
			continue;
		if (k == UNITS_MAX_GROUPS) {
			diag(g, true, "more than %d socket names", UNITS_MAX_GROUPS);
			break;
		}
		g->groups[k] = n;
		if (k == 0)
			snprintf(g->group_units[k], sizeof(g->group_units[k]), "%s.socket", g->name);
		else
			snprintf(g->group_units[k], sizeof(g->group_units[k]), "%s-%s.socket",
				 g->name, n);
		g->n_groups++;
	}

	if (g->n_socks == 0 && g->r == 0)
		diag(g, true, "%s has no 'listen ADDRESS' line, so there is nothing to put in %s: "
			      "add one (listen 0.0.0.0:8080) or pass --listen ADDRESS",
		     cfgname, g->o->flavor == UNITS_KUBE ? "the pod's ports" : "the .socket unit");

	/* A user's manager binds the socket units' ports itself, as that user: below the
	 * kernel's net.ipv4.ip_unprivileged_port_start (1024 by default) it cannot. */
	unsigned low = user_low_port(g);
	if (low && g->o->flavor != UNITS_KUBE)
		diag(g, false, "port %u: a user's service manager can bind it only once "
			       "net.ipv4.ip_unprivileged_port_start is at most %u (sysctl; a "
			       "file in /etc/sysctl.d/ keeps it), or use --mode system-as=USER",
		     low, low);
	for (size_t i = 0; i < g->n_socks; i++) {
		const struct net_addr *a = &g->socks[i].addr;
		if (!g->o->echo && a->type == SOCK_DGRAM && !g->socks[i].quic)
			diag(g, true, "listen %s: datagram sockets are for 'ferry echo' only "
				      "(ferry units --echo) or 'listen ... quic'", g->socks[i].spec);
		if (g->o->flavor != UNITS_KUBE)
			continue;
		if (a->family != AF_INET && a->family != AF_INET6)
			diag(g, true, "listen %s: a pod can only publish TCP and UDP ports",
			     g->socks[i].spec);
		else if (!g->socks[i].from_cli && !addr_any(a))
			/* ferry binds config lines as written, inside the pod, where published
			 * ports arrive on the pod's own address, not on this one. */
			diag(g, true, "listen %s: in a pod, ferry binds this address itself and "
				      "published ports do not reach it: write 'listen :%u' in the "
				      "config, or leave the line out and pass --listen %s",
			     g->socks[i].spec, addr_port(a), g->socks[i].spec);
	}
}

static void add_mount(struct gen *g, const char *host, bool in_home, const char *container,
		      bool rw, bool shared, bool file)
{
	for (size_t i = 0; i < g->n_mounts; i++)
		if (strcmp(g->mounts[i].host, host) == 0 && g->mounts[i].in_home == in_home)
			return;
	g->mounts = xrealloc(g->mounts, (g->n_mounts + 1) * sizeof(*g->mounts));
	g->mounts[g->n_mounts++] = (struct mount){host, in_home, container, rw, shared, file};
}

/* A site's or a path block's root (NULL: none), read-only at the same path. */
static void add_root(struct gen *g, const char *root)
{
	if (!root || g->o->echo)
		return;
	check_path(g, "root", root);
	add_mount(g, root, false, root, false, true, false);
}

/* The directory of a `tls` file (certificate, key, OCSP response), read-only at the same path:
 * the directory, not the file, so that a renewal renamed into place shows in the container. */
static void add_file_dir(struct gen *g, const char *file, const char *where, unsigned line,
			 const char *what)
{
	const char *slash = strrchr(file, '/');
	char *dir = xstrndup(file, slash && slash != file ? (size_t)(slash - file) : 1);
	for (size_t i = 0; i < g->n_tls_dirs; i++)
		if (!strcmp(g->tls_dirs[i], dir)) {
			free(dir);
			return;
		}
	check_path(g, "tls directory", dir);
	if (!strcmp(dir, "/") && g->o->flavor != UNITS_NATIVE) {
		diag(g, true, "%s:%u: %s %s: put the certificate files in a directory of their "
			      "own, which the container can mount",
		     where, line, what, file);
		free(dir);
		return;
	}
	g->tls_dirs = xrealloc(g->tls_dirs, (g->n_tls_dirs + 1) * sizeof(*g->tls_dirs));
	g->tls_dirs[g->n_tls_dirs++] = dir;
	add_mount(g, dir, false, dir, false, true, false);
}

static void add_tls_dir(struct gen *g, const char *file, const struct config_tls *t)
{
	add_file_dir(g, file, t->file ? t->file : g->cfg->path ? g->cfg->path : "config",
		     t->line, "tls");
}

/* https:// upstreams: the directory of their upstream-ca, or a word on the system bundle,
 * which the image does not have. */
static void add_upstream_ca(struct gen *g, const struct config_proxy *px)
{
	bool https = false;
	for (size_t i = 0; i < px->n_ups; i++)
		https |= px->ups[i].tls;
	if (!https)
		return;
	const char *where = g->cfg->path ? g->cfg->path : "config";
	if (px->upstream_ca)
		add_file_dir(g, px->upstream_ca, px->ca_file ? px->ca_file : where, px->ca_line,
			     "upstream-ca");
	else if (g->o->flavor != UNITS_NATIVE)
		diag(g, false, "%s:%u: proxy https://: the image has no system CA bundle (%s): "
			       "name the upstream's CAs with 'upstream-ca FILE'",
		     where, px->line, CONFIG_SYSTEM_CA);
}

/* The flavours and modes `ferry units` writes NAME-acme units for. */
static bool acme_flavor(const struct units_opts *o)
{
	return !o->echo && o->mode != UNITS_SYSTEM_AS &&
	       (o->flavor == UNITS_QUADLET || o->flavor == UNITS_PODMAN_RUN);
}

static void collect_mounts(struct gen *g, const char *config_path, bool in_home)
{
	const struct config *cfg = g->cfg;
	/* The container gets the one file at CONTAINER_CONFIG; what it includes would be missing. */
	if (cfg->n_include_dirs > 0)
		diag(g, true, "%s: 'include': the generated units mount only this file into the "
			      "container, not the files it includes; write the sites into one file",
		     cfg->path ? cfg->path : "config");
	add_mount(g, config_path, in_home, CONTAINER_CONFIG, false, false, true);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		add_root(g, cfg->sites[i].root);
		for (size_t j = 0; j < cfg->sites[i].n_paths; j++)
			add_root(g, cfg->sites[i].paths[j].root);
	}
	for (size_t i = 0; i < cfg->n_sites && !g->o->echo; i++) {
		add_upstream_ca(g, &cfg->sites[i].proxy);
		for (size_t j = 0; j < cfg->sites[i].n_paths; j++)
			add_upstream_ca(g, &cfg->sites[i].paths[j].proxy);
	}
	const struct config_tls *key = NULL;
	for (size_t i = 0; i < cfg->n_sites && !g->o->echo; i++) {
		for (size_t j = 0; j < cfg->sites[i].n_tls; j++) {
			const struct config_tls *t = &cfg->sites[i].tls[j];
			if (t->acme) {
				/* acme-dir itself: the challenges beside the certificates */
				if (!g->acme) {
					check_path(g, "acme-dir", cfg->acme_dir);
					add_mount(g, cfg->acme_dir, false, cfg->acme_dir, false, true,
						  false);
					g->acme = t;
				}
				continue;
			}
			add_tls_dir(g, t->cert, t);
			add_tls_dir(g, t->key, t);
			if (t->ocsp)
				add_tls_dir(g, t->ocsp, t);
			key = key ? key : t;
		}
	}
	if (g->acme && acme_flavor(g->o))
		diag(g, false, "%s:%u: tls acme: the server reads acme-dir %s (mounted read-only), "
			       "%s-acme writes it as uid %s: make it writable for that user "
			       "(rootless: podman unshare chown %s %s)",
		     g->acme->file ? g->acme->file : cfg->path ? cfg->path : "config",
		     g->acme->line, cfg->acme_dir, g->name, CONTAINER_USER, CONTAINER_USER,
		     cfg->acme_dir);
	else if (g->acme)
		diag(g, false, "%s:%u: tls acme: the server reads acme-dir %s (mounted read-only); "
			       "the units that run `ferry acme` (with network, twice a day) are "
			       "written for --quadlet and --podman-run in user or system mode only: "
			       "run `ferry acme --config FILE` where it can write %s",
		     g->acme->file ? g->acme->file : cfg->path ? cfg->path : "config",
		     g->acme->line, cfg->acme_dir, cfg->acme_dir);
	if (key && g->o->flavor == UNITS_NATIVE)
		diag(g, false, "tls %s: the service reads the certificates and keys as the user "
			       "systemd allocates at start (DynamicUser=): make them readable for it "
			       "(%s too)",
		     key->cert, key->key);
	else if (key)
		diag(g, false, "tls %s: the container reads the certificates and keys as uid %s: "
			       "make them readable for that user (rootless: podman unshare chown %s "
			       "%s)",
		     key->cert, CONTAINER_USER, CONTAINER_USER, key->key);
	if (cfg->access_log == CONFIG_LOG_FILE && cfg->access_log_path && !g->o->echo) {
		const char *p = cfg->access_log_path;
		const char *slash = strrchr(p, '/');
		g->log_dir = xstrndup(p, slash && slash != p ? (size_t)(slash - p) : 1);
		check_path(g, "access-log directory", g->log_dir);
		add_mount(g, g->log_dir, false, g->log_dir, true, false, false);
		if (g->o->flavor != UNITS_NATIVE)
			diag(g, false, "access-log %s: the container writes it as uid %s; make %s writable "
			       "for that user (rootless: podman unshare chown %s %s)",
		     p, CONTAINER_USER, g->log_dir, CONTAINER_USER, g->log_dir);
	}
}

/* The proxy upstreams decide the container's network: a Unix socket is reached through a
 * bind mount of its directory (the container keeps --network=none); anything over TCP (a
 * name, an address, {host}) needs the Podman network the upstreams are on. */
static void add_upstream(struct gen *g, const struct config_upstream *up, unsigned line)
{
	const char *cfgname = g->cfg->path ? g->cfg->path : "config";
	if (!up->is_unix) {
		if (!g->net_why) {
			g->net_why = up;
			g->net_why_line = line;
		}
		return;
	}
	const char *p = up->spec + STRLEN("unix:");
	if (p[0] != '/' && g->o->flavor == UNITS_NATIVE) {
		g->unix_abstract = true;
		return;
	}
	if (p[0] != '/') {
		/* an abstract socket lives in a network namespace, and the container has its own */
		diag(g, true, "%s:%u: proxy %s: an abstract socket cannot be reached from a "
			      "container with a network namespace of its own: use a socket path",
		     cfgname, line, up->spec);
		return;
	}
	const char *slash = strrchr(p, '/');
	char *dir = xstrndup(p, slash != p ? (size_t)(slash - p) : 1);
	for (size_t i = 0; i < g->n_unix_dirs; i++)
		if (!strcmp(g->unix_dirs[i], dir)) {
			free(dir);
			return;
		}
	check_path(g, "proxy socket directory", dir);
	if (!strcmp(dir, "/") && g->o->flavor != UNITS_NATIVE) {
		diag(g, true, "%s:%u: proxy %s: put the socket in a directory of its own, which "
			      "the container can mount", cfgname, line, up->spec);
		free(dir);
		return;
	}
	g->unix_dirs = xrealloc(g->unix_dirs, (g->n_unix_dirs + 1) * sizeof(*g->unix_dirs));
	g->unix_dirs[g->n_unix_dirs++] = dir;
	add_mount(g, dir, false, dir, true, true, false);
}

static void add_proxy(struct gen *g, const struct config_proxy *p)
{
	for (size_t i = 0; i < p->n_ups; i++)
		add_upstream(g, &p->ups[i], p->line);
}

static void collect_upstreams(struct gen *g)
{
	const struct config *cfg = g->cfg;
	const char *net = g->o->network;
	if (net && !strcmp(net, "none"))
		net = NULL;
	if (g->o->echo)
		return; /* ferry echo proxies nothing */
	for (size_t i = 0; i < cfg->n_sites; i++) {
		add_proxy(g, &cfg->sites[i].proxy);
		for (size_t k = 0; k < cfg->sites[i].n_paths; k++)
			add_proxy(g, &cfg->sites[i].paths[k].proxy);
	}
	if (g->o->flavor == UNITS_NATIVE) {
		/* the host's network, when an upstream needs one: nothing to choose */
		if (g->n_unix_dirs && g->o->mode == UNITS_SYSTEM)
			diag(g, false, "proxy unix:%s/...: ferry connects as a user allocated at "
				       "start (DynamicUser=), which needs write permission on the "
				       "socket: make it writable for others (mode 0666 in a directory "
				       "only the backend writes)",
			     g->unix_dirs[0]);
		return;
	}
	if (g->n_unix_dirs)
		diag(g, false, "proxy unix:%s/...: the container connects as uid %s, which needs "
			       "write permission on the socket: run the backend as the same user "
			       "(podman run --user %s:%s) or make the socket writable for it",
		     g->unix_dirs[0], CONTAINER_USER, CONTAINER_USER, CONTAINER_USER);
	if (!g->net_why) {
		if (net)
			diag(g, false, "--network %s: no proxy upstream is reached over TCP; the "
				       "container joins the network anyway",
			     net);
		g->network = net;
		return;
	}
	const char *cfgname = cfg->path ? cfg->path : "config";
	if (!net) {
		if (g->o->flavor == UNITS_KUBE) {
			diag(g, false, "%s:%u: proxy %s: the pod must be on the upstreams' network: "
				       "podman kube play --network NAME (or ferry units --network NAME, "
				       "which notes it in the file)",
			     cfgname, g->net_why_line, g->net_why->spec);
			return;
		}
		diag(g, true, "%s:%u: proxy %s: this upstream is reached over TCP, so the container "
			      "needs a network (with none, ferry's container has only loopback): pass "
			      "--network NAME, the Podman network the upstreams are on (podman network "
			      "create --internal NAME%s)",
		     cfgname, g->net_why_line, g->net_why->spec,
		     g->o->flavor == UNITS_QUADLET ? ", or a quadlet NAME.network: --network NAME.network"
						   : "");
		return;
	}
	g->network = net;
}

/* --- Pieces shared by every file ---------------------------------------------------------- */

static void header(const struct gen *g, struct buf *b, const char *file, const char *what)
{
	out(b, "# %s: %s\n", file, what);
	out(b, "# Generated by `%s`.\n", g->o->cmdline ? g->o->cmdline : "ferry units");
	out(b, "# Edit the config and generate again rather than editing this file.\n");
}

static const char *mode_words(const struct gen *g)
{
	switch (g->o->mode) {
	case UNITS_USER:
		return "Rootless Podman, in the user's service manager";
	case UNITS_SYSTEM:
		return "Rootful Podman, in the system service manager";
	case UNITS_SYSTEM_AS:
		return "Rootless Podman, run by a system service with User=";
	}
	return "";
}

/* `serve --config /etc/ferry/ferry.conf`: what the container runs. */
static const char *ferry_cmd(const struct gen *g)
{
	return g->o->echo ? "echo --config " CONTAINER_CONFIG : "serve --config " CONTAINER_CONFIG;
}

/* "/etc/ferry/x.conf:/etc/ferry/ferry.conf:ro,Z" */
static void put_host(const struct gen *g, struct buf *b, enum ctx c, const struct mount *m)
{
	if (m->in_home && c == CTX_YAML) {
		put_esc(b, c, g->o->home);
		buf_appends(b, "/");
	} else if (m->in_home) {
		buf_appends(b, "%h/");
	}
	put_path(g, b, c, m->host);
}

static void put_volume(const struct gen *g, struct buf *b, const struct mount *m)
{
	put_host(g, b, CTX_EXEC, m);
	out(b, ":%s:%s,%s", m->container, m->rw ? "rw" : "ro", m->shared ? "z" : "Z");
}

static void service_hardening(const struct gen *g, struct buf *b)
{
	if (g->o->mode == UNITS_USER)
		out(b, "# NoNewPrivileges= stops newuidmap (setuid), which rootless Podman needs to\n"
		       "# create the user's namespace: make sure it exists, unrestricted (\"+\").\n"
		       "ExecStartPre=+%s unshare /bin/true\n",
		    podman(g));
	else if (g->o->mode == UNITS_SYSTEM_AS)
		out(b, "# NoNewPrivileges= stops newuidmap (setuid), which rootless Podman needs to\n"
		       "# create %s's namespace: make sure it exists, unrestricted (\"+\").\n"
		       "ExecStartPre=+/usr/sbin/runuser -u %s -- %s unshare /bin/true\n",
		    g->o->user, g->o->user, podman(g));
	out(b, "# Hardening for podman, conmon and the OCI runtime (the container inherits it).\n"
	       "NoNewPrivileges=yes\n");
	if (!g->network)
		out(b, "# With --network=none, Unix and netlink sockets are all they create, and one\n"
		       "# AF_INET socket: crun brings the container's loopback up with it. ferry only\n"
		       "# uses the sockets systemd passed%s.\n"
		       "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET\n",
		    g->n_unix_dirs ? " and its upstreams' Unix sockets" : "");
	else
		out(b, "# The container joins the network %s: Podman's network helpers (netavark,\n"
		       "# aardvark-dns, pasta or slirp4netns) and ferry's upstream connections need\n"
		       "# IPv4 and IPv6 sockets too.\n"
		       "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6\n",
		    g->network);
}

/* Why the container has the network it has (a comment before Network= or ExecStart=). */
static void network_comment(const struct gen *g, struct buf *b)
{
	if (!g->network && !g->n_unix_dirs)
		out(b, "# ferry serves the sockets systemd passes: the container needs no network.\n");
	else if (!g->network)
		out(b, "# ferry serves the sockets systemd passes and reaches its upstreams over Unix\n"
		       "# sockets: the container needs no network.\n");
	else if (g->net_why)
		out(b, "# proxy %s: the container joins the Podman network of the upstreams.\n",
		    g->net_why->spec);
	else
		out(b, "# --network: the container joins this Podman network.\n");
}

/* none, or the network's name (quadlet: NAME.network for a quadlet .network unit). */
static void put_network(const struct gen *g, struct buf *b, enum ctx c)
{
	put_esc(b, c, g->network ? g->network : "none");
}

static void service_stop(const struct gen *g, struct buf *b)
{
	out(b, "# ferry drains connections for up to shutdown-timeout after SIGTERM.\n"
	       "TimeoutStopSec=%u\n"
	       "Restart=on-failure\n",
	    g->stop_s + 30);
}

static void unit_needs_sockets(const struct gen *g, struct buf *b)
{
	for (size_t i = 0; i < g->n_groups; i++)
		out(b, "Requires=%s\nAfter=%s\n", g->group_units[i], g->group_units[i]);
}

/* system-as: the user's manager must run (it owns /run/user/UID); linger keeps it up. */
static void unit_needs_user(const struct gen *g, struct buf *b)
{
	if (g->o->mode != UNITS_SYSTEM_AS)
		return;
	out(b, "# Rootless Podman needs %s's runtime directory and user manager\n"
	       "# (loginctl enable-linger %s keeps them up without a login).\n"
	       "Requires=user@%u.service\n"
	       "After=user@%u.service\n",
	    g->o->user, g->o->user, (unsigned)g->o->uid, (unsigned)g->o->uid);
}

static void service_user(const struct gen *g, struct buf *b)
{
	if (g->o->mode != UNITS_SYSTEM_AS)
		return;
	out(b, "User=%s\n"
	       "Environment=XDG_RUNTIME_DIR=%s\n",
	    g->o->user, g->run);
}

/* --- NAME.socket --------------------------------------------------------------------------- */

static void gen_socket(const struct gen *g, struct buf *b, size_t group)
{
	const char *fdname = g->groups[group];
	header(g, b, g->group_units[group], "sockets systemd opens for ferry");
	out(b, "#\n"
	       "# systemd binds these (a port below 1024 needs no privilege in the %s) and\n"
	       "# starts %s.service on the first connection, passing them as fds 3, 4, ... named\n"
	       "# \"%s\" (FileDescriptorName=); ferry matches each to its listen line, %s.\n",
	    g->o->flavor == UNITS_NATIVE ? "service" : "container", g->name, fdname,
	    group == 0 && !strcmp(fdname, DEFAULT_FDNAME) ? "by address" : "by name");
	unsigned low = user_low_port_of(g, fdname);
	if (low)
		out(b, "# The user's service manager binds them as that user: port %u needs\n"
		       "# net.ipv4.ip_unprivileged_port_start=%u (or lower; sysctl) on the host.\n",
		    low, low);
	out(b, "\n");
	out(b, "[Unit]\n"
	       "Description=%s sockets (%s)\n"
	       "Documentation=man:ferry.conf(5) man:systemd.socket(5)\n\n"
	       "[Socket]\n",
	    g->describe, fdname);
	bool any6 = false;
	for (size_t i = 0; i < g->n_socks; i++) {
		const struct net_addr *a = &g->socks[i].addr;
		if (strcmp(g->socks[i].fdname ? g->socks[i].fdname : g->fdname, fdname) != 0)
			continue;
		char s[NET_ADDR_STRLEN];
		net_addr_format(a, s, sizeof(s));
		const char *v = s;
		/* systemd's syntax: no "udp:"/"unix:"/"unixgram:" prefix, vsock as ferry writes it */
		if (!strncmp(v, "udp:", 4))
			v += 4;
		else if (!strncmp(v, "unixgram:", 9))
			v += 9;
		else if (!strncmp(v, "unix:", 5))
			v += 5;
		out(b, "%s=", a->type == SOCK_DGRAM ? "ListenDatagram" : "ListenStream");
		if (v[0] == '/')
			put_path(g, b, CTX_UNIT, v);
		else
			put_esc(b, CTX_UNIT, v);
		out(b, "\n");
		if (a->family == AF_INET6 && !strncmp(v, "[::]:", 5))
			any6 = true;
	}
	if (any6)
		out(b, "# [::]:PORT is dual-stack for ferry too: IPv4 and IPv6.\n"
		       "BindIPv6Only=both\n");
	out(b, "FileDescriptorName=%s\n", fdname);
	if (group > 0)
		out(b, "Service=%s.service\n", g->name);
	out(b, "\n[Install]\n"
	       "WantedBy=sockets.target\n");
}

/* ExecReload=/usr/bin/podman kill --signal=HUP --cidfile=%t/%N.cid; prefix "-": may fail */
static void exec_line(const struct gen *g, struct buf *b, const char *key, const char *prefix,
		      const char *args)
{
	out(b, "%s=%s%s %s --cidfile=%s\n", key, prefix, podman(g), args, g->cid);
}

/* --- NAME.container (quadlet) -------------------------------------------------------------- */

static void gen_container(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.container", g->name);
	header(g, b, file, "ferry in a Podman container, socket-activated");
	out(b, "#\n"
	       "# %s. Quadlet (Podman >= 5.4) turns this file into\n"
	       "# %s.service at daemon-reload; %s.socket starts it on the first connection.\n\n",
	    mode_words(g), g->name, g->name);

	out(b, "[Unit]\n"
	       "Description=%s (Podman container)\n"
	       "Documentation=man:ferry.conf(5) man:podman-systemd.unit(5)\n",
	    g->describe);
	unit_needs_sockets(g, b);
	unit_needs_user(g, b);

	out(b, "\n[Container]\n"
	       "Image=");
	put_esc(b, CTX_UNIT, units_image(g->o));
	out(b, "\n"
	       "# Never pull when a connection is waiting: load the image beforehand.\n"
	       "Pull=never\n"
	       "Exec=%s\n",
	    ferry_cmd(g));
	network_comment(g, b);
	out(b, "Network=");
	put_network(g, b, CTX_UNIT);
	out(b, "\n");
	out(b, "# ferry sends READY=1 itself once it serves every socket.\n"
	       "Notify=true\n"
	       "ReadOnly=true\n"
	       "User=" CONTAINER_USER "\n"
	       "Group=" CONTAINER_USER "\n"
	       "NoNewPrivileges=true\n"
	       "DropCapability=all\n");
	for (size_t i = 0; i < g->n_mounts; i++) {
		out(b, "Volume=");
		put_volume(g, b, &g->mounts[i]);
		out(b, "\n");
	}
	out(b, "StopTimeout=%u\n", g->stop_s);
	if (!g->network)
		out(b, "\n[Quadlet]\n"
		       "# No network: do not wait for network-online.target (the user's manager would\n"
		       "# wait for the system's, which nothing may start).\n"
		       "DefaultDependencies=false\n");
	else if (g->o->mode == UNITS_USER)
		out(b, "\n[Quadlet]\n"
		       "# The upstreams are containers on a Podman network, which needs no host network:\n"
		       "# do not wait for network-online.target (the user's manager would wait for the\n"
		       "# system's, which nothing may start). Network=NAME.network still pulls in its unit.\n"
		       "DefaultDependencies=false\n");

	out(b, "\n[Service]\n");
	service_user(g, b);
	if (g->o->mode == UNITS_SYSTEM_AS)
		out(b, "# Quadlet keeps the container id in %%t (/run), which %s cannot write.\n"
		       "ExecStartPre=+/usr/bin/install -o %s -m 0644 /dev/null %%t/%%N.cid\n",
		    g->o->user, g->o->user);
	/* ReloadSignal= is newer than Podman 5.4 (Debian 13): kill works everywhere. */
	out(b, "# systemctl reload: SIGHUP to ferry.\n");
	exec_line(g, b, "ExecReload", "", "kill --signal=HUP");
	service_hardening(g, b);
	service_stop(g, b);
}

/* --- NAME.service.d/ferry-user.conf (quadlet, system-as) -----------------------------------
 * A drop-in for the service quadlet generates: read after quadlet's own lines, so it can
 * replace them. Quadlet's ExecStop= removes %t/%N.cid, in /run, which the user cannot do:
 * that error would fail every stop. */
static void gen_dropin(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 32];
	snprintf(file, sizeof(file), "%s.service.d/ferry-user.conf", g->name);
	header(g, b, file, "what quadlet's service needs to run Podman as a user");
	out(b, "#\n"
	       "# Quadlet's ExecStop= removes the container id file from %%t (/run), which %s\n"
	       "# cannot do; the error would mark every stop as failed. Same command, error\n"
	       "# ignored, and the file removed with root's rights after.\n\n"
	       "[Service]\n"
	       "ExecStop=\n"
	       "ExecStop=-%s rm --force --ignore --volumes --cidfile=%%t/%%N.cid\n"
	       "ExecStopPost=+/bin/rm -f %%t/%%N.cid\n",
	    g->o->user, podman(g));
}

/* --- NAME.service (podman run) ------------------------------------------------------------- */

static void gen_service(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.service", g->name);
	header(g, b, file, "ferry in a Podman container, socket-activated");
	out(b, "#\n"
	       "# %s, started by `podman run` (any\n"
	       "# Podman >= 4.3; with quadlet, see `ferry units --quadlet`). %s.socket starts it\n"
	       "# on the first connection.\n\n",
	    mode_words(g), g->name);

	out(b, "[Unit]\n"
	       "Description=%s (Podman container)\n"
	       "Documentation=man:ferry.conf(5) man:podman-run(1)\n",
	    g->describe);
	unit_needs_sockets(g, b);
	unit_needs_user(g, b);
	if (g->network && g->o->mode != UNITS_USER)
		out(b, "# The container has a network: start once the host's is up.\n"
		       "Wants=network-online.target\n"
		       "After=network-online.target\n");
	out(b, "RequiresMountsFor=%s/containers\n\n", g->run);

	out(b, "[Service]\n");
	service_user(g, b);
	out(b, "Environment=PODMAN_SYSTEMD_UNIT=%%n\n"
	       "# conmon reports itself as the main process, ferry sends READY=1.\n"
	       "Type=notify\n"
	       "NotifyAccess=all\n"
	       "# Podman puts the container in a sub-cgroup of this service (--cgroups=split).\n"
	       "Delegate=yes\n"
	       "KillMode=mixed\n"
	       "SyslogIdentifier=%%N\n");
	network_comment(g, b);
	out(b, "ExecStart=%s run \\\n"
	       "\t--name=systemd-%%N \\\n"
	       "\t--cidfile=%s \\\n"
	       "\t--replace \\\n"
	       "\t--rm \\\n"
	       "\t--detach \\\n"
	       "\t--cgroups=split \\\n"
	       "\t--sdnotify=container \\\n"
	       "\t--pull=never \\\n",
	    podman(g), g->cid);
	out(b, "\t--network=");
	put_network(g, b, CTX_EXEC);
	out(b, " \\\n");
	out(b, "\t--read-only \\\n"
	       "\t--user=" CONTAINER_USER ":" CONTAINER_USER " \\\n"
	       "\t--security-opt=no-new-privileges \\\n"
	       "\t--cap-drop=all \\\n"
	       "\t--stop-timeout=%u \\\n",
	    g->stop_s);
	for (size_t i = 0; i < g->n_mounts; i++) {
		out(b, "\t--volume=");
		put_volume(g, b, &g->mounts[i]);
		out(b, " \\\n");
	}
	out(b, "\t");
	put_esc(b, CTX_EXEC, units_image(g->o));
	out(b, " %s\n", ferry_cmd(g));
	out(b, "# systemctl reload: SIGHUP to ferry.\n");
	exec_line(g, b, "ExecReload", "", "kill --signal=HUP");
	exec_line(g, b, "ExecStop", "", "rm --force --ignore --volumes");
	exec_line(g, b, "ExecStopPost", "-", "rm --force --ignore --volumes");
	service_hardening(g, b);
	service_stop(g, b);
}

/* --- NAME.service (native) ----------------------------------------------------------------
 * systemd runs the ferry binary itself: no Podman, no image. ferry needs no privilege and
 * writes nothing (ACME certificates will go to StateDirectory=): it gets a user allocated at
 * start, a read-only file system, no devices, no capabilities, a system call allow-list, and
 * no network at all unless an upstream is reached over TCP. Each line is one that keeps ferry
 * working; tests/integration/test_native_units.sh checks the score `systemd-analyze security`
 * gives it and tests/e2e/native.sh runs it under systemd 257. */

/* /home, /root and /run/user are hidden (ProtectHome=): what ferry reads there is bound. */
static bool in_home_dirs(const char *p)
{
	static const char *const dirs[] = {"/home", "/root", "/run/user"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		size_t n = strlen(dirs[i]);
		if (!strncmp(p, dirs[i], n) && (p[n] == '/' || p[n] == '\0'))
			return true;
	}
	return false;
}

static bool in_tmp_dirs(const char *p)
{
	return !strncmp(p, "/tmp/", 5) || !strcmp(p, "/tmp") || !strncmp(p, "/var/tmp/", 9) ||
	       !strcmp(p, "/var/tmp");
}

/* The directory of a file path, in buf ("/" for a file at the top). */
static const char *dir_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
	snprintf(buf, size, "%.*s", (int)n, path);
	return buf;
}

/* The paths ferry reads that ProtectHome= would hide: bound read-only at the same place
 * (the config's directory, not the file, so an editor that replaces the file is seen by
 * a reload). Returns how many there are; prints them when b is not NULL. */
static size_t native_binds(const struct gen *g, const struct units *u, struct buf *b)
{
	size_t n = 0;
	if (g->o->mode == UNITS_USER) {
		/* the user manager's notify socket lives in /run/user/UID, which ProtectHome=
		 * hides: without it, no READY=1 (the start times out) */
		if (b)
			out(b, "BindReadOnlyPaths=%%t/systemd/notify\n");
		n++;
	}
	char cdir[4096];
	dir_of(u->config_path, cdir, sizeof(cdir)); /* "%h/..." for the default in user mode */
	bool spec = !strncmp(cdir, "%h/", 3);
	if (spec || in_home_dirs(cdir)) {
		if (b) {
			out(b, "BindReadOnlyPaths=");
			if (spec)
				out(b, "%s", cdir);
			else
				put_path(g, b, CTX_UNIT, cdir);
			out(b, "\n");
		}
		n++;
	}
	for (size_t i = 0; i < g->n_mounts; i++) {
		const struct mount *m = &g->mounts[i];
		if (m->file || m->in_home || !in_home_dirs(m->host))
			continue; /* the config (above), or visible anyway */
		if (b) {
			out(b, "%s=", m->rw ? "BindPaths" : "BindReadOnlyPaths");
			put_path(g, b, CTX_UNIT, m->host);
			out(b, "\n");
		}
		n++;
	}
	return n;
}

/* PrivateTmp= (DynamicUser= implies it) gives the service a /tmp and /var/tmp of its own. */
static void native_check_paths(struct gen *g, const struct units *u)
{
	if (in_tmp_dirs(u->config_path))
		diag(g, true, "config path %s: a native service has a /tmp and /var/tmp of its "
			      "own (PrivateTmp=): put the config elsewhere (--config-path)",
		     u->config_path);
	for (size_t i = 0; i < g->n_mounts; i++)
		if (!g->mounts[i].in_home && !g->mounts[i].file && in_tmp_dirs(g->mounts[i].host))
			diag(g, true, "%s: a native service has a /tmp and /var/tmp of its own "
				      "(PrivateTmp=), where this is not: put it elsewhere",
			     g->mounts[i].host);
}

static void gen_native(const struct gen *g, const struct units *u, struct buf *b)
{
	const struct units_opts *o = g->o;
	bool system = o->mode == UNITS_SYSTEM;
	bool net = g->net_why || g->unix_abstract;
	char file[UNITS_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.service", g->name);
	header(g, b, file, "ferry as a native service, socket-activated");
	out(b, "#\n"
	       "# %s runs ferry itself, no container: %s.socket starts it on\n"
	       "# the first connection. It sees the whole file system read-only (the config, the\n"
	       "# roots) and gets no capabilities, no devices and a system call allow-list; ferry\n"
	       "# then confines itself further (Landlock, seccomp: the `sandbox` directive).\n\n",
	    system ? "The system service manager" : "The user's service manager", g->name);

	out(b, "[Unit]\n"
	       "Description=%s (native service)\n"
	       "Documentation=man:ferry(1) man:ferry.conf(5)\n",
	    g->describe);
	unit_needs_sockets(g, b);
	if (g->net_why && system)
		out(b, "# proxy %s: upstreams over TCP, once the host's network is up.\n"
		       "Wants=network-online.target\n"
		       "After=network-online.target\n",
		    g->net_why->spec);

	out(b, "\n[Service]\n"
	       "# ferry sends READY=1 once it serves every socket; systemctl reload sends SIGHUP\n"
	       "# (the default ReloadSignal=) and ferry answers RELOADING=1, then READY=1.\n"
	       "Type=notify-reload\n"
	       "ExecStart=");
	put_esc(b, CTX_EXEC, o->binary ? o->binary : DEFAULT_BINARY);
	out(b, " %s --config ", o->echo ? "echo" : "serve");
	if (!strncmp(u->config_path, "%h/", 3))
		out(b, "%s", u->config_path); /* already a specifier */
	else
		put_path(g, b, CTX_EXEC, u->config_path);
	out(b, "\n");
	if (!o->echo)
		out(b, "# A restart (or an upgrade) drops no connection: ferry hands its idle keep-alive\n"
		       "# connections to systemd's fd store before it exits and the next ferry serves\n"
		       "# them on (TLS ones close). The store is kept across a restart, emptied at stop.\n"
		       "FileDescriptorStoreMax=%u\n",
		    g->cfg->max_connections < UNITS_FDSTORE_MAX ? g->cfg->max_connections
								: UNITS_FDSTORE_MAX);
	if (system)
		out(b, "# A user of its own, allocated at start: the config and the roots must be\n"
		       "# readable by others (mode 0644 files, 0755 directories).\n"
		       "DynamicUser=yes\n");
	out(b, "# What ferry writes (nothing yet; ACME certificates later): %s/%s.\n"
	       "StateDirectory=%s\n",
	    system ? "/var/lib" : "~/.local/state", g->name, g->name);
	if (g->log_dir) {
		const char *d = g->log_dir;
		if (system && !strncmp(d, "/var/log/", 9) && !strchr(d + 9, '/') && d[9])
			out(b, "# The access log: systemd makes its directory, owned by ferry's user.\n"
			       "LogsDirectory=%s\n",
			    d + 9);
		else if (!in_home_dirs(d)) {
			out(b, "# The access log's directory, writable (by the service's user).\n"
			       "ReadWritePaths=");
			put_path(g, b, CTX_UNIT, d);
			out(b, "\n");
		}
	}

	out(b, "\n# The file system: read-only everywhere; /home, /root and /run/user hidden");
	size_t binds = native_binds(g, u, NULL);
	out(b, "%s\n", binds ? "\n# but for what ferry reads there, bound at the same place." : ".");
	out(b, "ProtectSystem=strict\n"
	       "ProtectHome=%s\n",
	    binds ? "tmpfs" : "yes");
	native_binds(g, u, b);
	out(b, "PrivateTmp=yes\n"
	       "PrivateMounts=yes\n"
	       "PrivateDevices=yes\n"
	       "DevicePolicy=closed\n"
	       "PrivateUsers=yes\n"
	       "PrivateIPC=yes\n"
	       "ProtectProc=invisible\n"
	       "ProcSubset=pid\n"
	       "ProtectHostname=yes\n"
	       "ProtectClock=yes\n"
	       "ProtectKernelTunables=yes\n"
	       "ProtectKernelModules=yes\n");
	if (system) /* a user manager (systemd 257) fails to mask /proc/kmsg: 226/NAMESPACE */
		out(b, "ProtectKernelLogs=yes\n");
	out(b, "ProtectControlGroups=yes\n");

	out(b, "\n# The network. ");
	if (!net) {
		out(b, "No upstream is reached over TCP: none at all (the sockets\n"
		       "# systemd passed work all the same); Unix sockets only, for sd_notify%s.\n"
		       "PrivateNetwork=yes\n",
		    g->n_unix_dirs ? " and the upstreams" : "");
		if (system)
			out(b, "IPAddressDeny=any\n");
		out(b, "RestrictAddressFamilies=AF_UNIX\n");
	} else if (g->net_why) {
		out(b, "proxy %s: ferry connects to its upstreams over\n"
		       "# TCP, from the host's network.\n"
		       "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n",
		    g->net_why->spec);
	} else {
		out(b, "An upstream on an abstract Unix socket: those live in the host's\n"
		       "# network namespace, so ferry stays in it, but with Unix sockets only.\n"
		       "RestrictAddressFamilies=AF_UNIX\n");
	}

	out(b, "\n# No privilege, no way to gain one.\n"
	       "NoNewPrivileges=yes\n"
	       "CapabilityBoundingSet=\n"
	       "AmbientCapabilities=\n"
	       "RestrictSUIDSGID=yes\n"
	       "RestrictNamespaces=yes\n"
	       "RestrictRealtime=yes\n"
	       "LockPersonality=yes\n"
	       "MemoryDenyWriteExecute=yes\n"
	       "UMask=0077\n"
	       "# The system calls of a service, and those ferry's own sandbox installs itself\n"
	       "# with (Landlock, seccomp).\n"
	       "SystemCallArchitectures=native\n"
	       "SystemCallFilter=@system-service landlock_create_ruleset landlock_add_rule "
	       "landlock_restrict_self seccomp\n");
	if (system)
		out(b, "SystemCallFilter=~@privileged @resources\n");
	out(b, "SystemCallErrorNumber=EPERM\n");
	if (system)
		out(b, "# One fd per connection; ferry's setrlimit is filtered (@resources).\n"
		       "LimitNOFILE=524288\n");

	out(b, "\n# ferry drains connections for up to shutdown-timeout after SIGTERM.\n"
	       "TimeoutStopSec=%u\n"
	       "Restart=on-failure\n",
	    g->stop_s + 30);
}

/* --- NAME.yaml (podman kube play) ---------------------------------------------------------- */

static void yaml_str(struct buf *b, const char *s)
{
	out(b, "\"");
	put_esc(b, CTX_YAML, s);
	out(b, "\"");
}

static void gen_kube(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 16];
	snprintf(file, sizeof(file), "%s.yaml", g->name);
	header(g, b, file, "ferry in a Podman pod (podman kube play)");
	out(b, "#\n"
	       "# No socket activation here: ferry binds its own ports inside the pod and Podman\n"
	       "# publishes them (hostPort). ferry binds every address of the pod; hostIP says\n"
	       "# which host address the port is published on.\n");
	if (g->network) {
		out(b, "# The proxy's upstreams are on the Podman network %s: play it there:\n"
		       "#   podman kube play --network ",
		    g->network);
		put_esc(b, CTX_YAML, g->network);
		out(b, " %s.yaml\n", g->name);
	} else if (g->n_unix_dirs) {
		out(b, "# The proxy reaches its upstreams over Unix sockets: podman kube play\n"
		       "# --network none works too.\n");
	}
	out(b, "apiVersion: v1\n"
	       "kind: Pod\n"
	       "metadata:\n"
	       "  name: ");
	yaml_str(b, g->name);
	out(b, "\n  labels:\n"
	       "    app: ferry\n"
	       "spec:\n"
	       "  restartPolicy: OnFailure\n"
	       "  containers:\n"
	       "  - name: ferry\n"
	       "    image: ");
	yaml_str(b, units_image(g->o));
	out(b, "\n    imagePullPolicy: Never\n"
	       "    args: [\"%s\", \"--config\", \"" CONTAINER_CONFIG "\"",
	    g->o->echo ? "echo" : "serve");
	/* --listen addresses: ferry binds them in the pod on every address (config lines it
	 * binds as written: collect_socks checked those are any-address). */
	bool low_port = false;
	for (size_t i = 0; i < g->n_socks; i++) {
		const struct net_addr *a = &g->socks[i].addr;
		if (addr_port(a) < 1024)
			low_port = true;
		if (!g->socks[i].from_cli)
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= g->socks[j].from_cli && g->socks[j].addr.type == a->type &&
			       addr_port(&g->socks[j].addr) == addr_port(a);
		if (!dup)
			out(b, ", \"--listen\", \"%s0.0.0.0:%u\"",
			    a->type == SOCK_DGRAM ? "udp:" : "", addr_port(a));
	}
	out(b, "]\n"
	       "    ports:\n");
	for (size_t i = 0; i < g->n_socks; i++) {
		const struct net_addr *a = &g->socks[i].addr;
		char host[INET6_ADDRSTRLEN];
		unsigned port = addr_port(a);
		bool any = addr_any(a);
		if (a->family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, host,
				  sizeof(host));
		out(b, "    - containerPort: %u\n"
		       "      hostPort: %u\n",
		    port, port);
		if (!any)
			out(b, "      hostIP: \"%s\"\n", host);
		out(b, "      protocol: %s\n", a->type == SOCK_DGRAM ? "UDP" : "TCP");
	}
	out(b, "    securityContext:\n"
	       "      readOnlyRootFilesystem: true\n"
	       "      allowPrivilegeEscalation: false\n");
	if (!low_port)
		out(b, "      runAsUser: " CONTAINER_USER "\n"
		       "      runAsGroup: " CONTAINER_USER "\n");
	out(b, "    volumeMounts:\n");
	for (size_t i = 0; i < g->n_mounts; i++) {
		out(b, "    - name: vol%zu\n"
		       "      mountPath: ",
		    i);
		yaml_str(b, g->mounts[i].container);
		out(b, "\n      readOnly: %s\n", g->mounts[i].rw ? "false" : "true");
	}
	out(b, "  volumes:\n");
	for (size_t i = 0; i < g->n_mounts; i++) {
		out(b, "  - name: vol%zu\n"
		       "    hostPath:\n"
		       "      path: ",
		    i);
		out(b, "\"");
		put_host(g, b, CTX_YAML, &g->mounts[i]);
		out(b, "\"\n      type: %s\n", g->mounts[i].file ? "File" : "Directory");
	}
}

/* --- Putting it together ------------------------------------------------------------------- */

static struct buf *add_unit(struct units *u, const char *file, enum units_place place)
{
	struct units_file *f = &u->files[u->n_files++];
	snprintf(f->name, sizeof(f->name), "%s", file);
	f->place = place;
	buf_init(&f->text, UNITS_MAX_FILE_BYTES);
	return &f->text;
}

static struct buf *add_file(struct units *u, const char *name, const char *ext,
			    enum units_place place)
{
	char file[UNITS_NAME_MAX * 2 + 32];
	snprintf(file, sizeof(file), "%s.%s", name, ext);
	return add_unit(u, file, place);
}

static void check_opts(struct gen *g)
{
	const struct units_opts *o = g->o;
	if (!word_ok(g->name, "_.-", UNITS_NAME_MAX))
		diag(g, true, "--name '%s': 1 to %d letters, digits, '_', '.' or '-', not "
			      "starting with '-' or '.'",
		     g->name, UNITS_NAME_MAX);
	if (!word_ok(units_image(o), "_.-/:@", 255))
		diag(g, true, "--image '%s': not an image reference", units_image(o));
	if (o->mode == UNITS_SYSTEM_AS && (!o->user || !word_ok(o->user, "_-", 32)))
		diag(g, true, "--mode system-as=USER: '%s' is not a user name",
		     o->user ? o->user : "");
	if (o->mode == UNITS_SYSTEM_AS && o->uid == 0)
		diag(g, true, "--mode system-as=%s: the user must not be root (use --mode system)",
		     o->user ? o->user : "");
	if (o->config_path)
		check_path(g, "--config-path", o->config_path);
	if (o->podman && !path_ok(o->podman))
		diag(g, true, "--podman '%s': not an absolute path", o->podman);
	if (o->network) {
		const char *n = o->network;
		size_t len = strlen(n);
		bool unit = len > 8 && !strcmp(n + len - 8, ".network");
		if (!word_ok(n, "_.-", 255))
			diag(g, true, "--network '%s': not a Podman network name", n);
		else if (unit && o->flavor != UNITS_QUADLET)
			diag(g, true, "--network %s: a quadlet .network unit works with --quadlet only; "
				      "give the Podman network's name (quadlet names it systemd-%.*s "
				      "unless NetworkName= says otherwise)",
			     n, (int)(len - 8), n);
		else if (unit && o->mode == UNITS_SYSTEM_AS)
			diag(g, true, "--network %s: with --mode system-as=%s the network must be %s's, "
				      "not the system's: create it in %s's manager (a .network unit there "
				      "makes systemd-%.*s) and give that name",
			     n, o->user ? o->user : "", o->user ? o->user : "",
			     o->user ? o->user : "", (int)(len - 8), n);
	}
	if (o->flavor == UNITS_NATIVE) {
		if (o->mode == UNITS_SYSTEM_AS)
			diag(g, true, "--native --mode system-as=%s: a native system service runs as a "
				      "user allocated at start (DynamicUser=): use --mode system, or "
				      "--mode user in %s's manager",
			     o->user ? o->user : "", o->user ? o->user : "USER");
		if (o->image)
			diag(g, true, "--image: a native service runs no container (--binary PATH "
				      "names the ferry it runs)");
		if (o->network)
			diag(g, true, "--network: a native service uses the host's network when an "
				      "upstream needs one");
		if (o->binary && !path_ok(o->binary))
			diag(g, true, "--binary '%s': an absolute path without blanks, quotes, "
				      "backslashes, ':', ',' or ';'",
			     o->binary);
	} else if (o->binary) {
		diag(g, true, "--binary: only with --native (the container runs the image's ferry)");
	}
	if (o->flavor == UNITS_KUBE && o->mode == UNITS_USER && !o->home && !o->config_path)
		diag(g, true, "--kube needs the home directory or --config-path in user mode");
}

/* --- NAME-acme.container / NAME-acme.service and NAME-acme.timer (tls acme) ----------------
 * `ferry acme` in a container of its own, with the network the server has not: the config
 * and acme-ca-root read-only, acme-dir read-write (the server reads it: challenges and
 * certificates). Oneshot, started by the timer twice a day. */

static void acme_volumes(const struct gen *g, struct buf *b, const char *pre, const char *post)
{
	const struct config *cfg = g->cfg;
	for (size_t i = 0; i < g->n_mounts; i++)
		if (g->mounts[i].file) { /* the config, shared with the server's container */
			struct mount m = g->mounts[i];
			m.shared = true;
			out(b, "%s", pre);
			put_volume(g, b, &m);
			out(b, "%s", post);
		}
	struct mount dir = {cfg->acme_dir, false, cfg->acme_dir, true, true, false};
	out(b, "%s", pre);
	put_volume(g, b, &dir);
	out(b, "%s", post);
	if (cfg->acme_ca_root) {
		struct mount root = {cfg->acme_ca_root, false, cfg->acme_ca_root, false, true, true};
		out(b, "%s", pre);
		put_volume(g, b, &root);
		out(b, "%s", post);
	}
}

static void acme_comment(const struct gen *g, struct buf *b)
{
	out(b, "#\n"
	       "# `ferry acme` gets and renews the certificates of the `tls acme` sites, with the\n"
	       "# network %s.service does without: it writes the http-01 challenges and the\n"
	       "# certificates into acme-dir, %s, which the server reads. Started by\n"
	       "# %s-acme.timer; a failure leaves the current certificates in place.\n\n",
	    g->name, g->cfg->acme_dir, g->name);
}

static void gen_acme_container(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 32];
	snprintf(file, sizeof(file), "%s-acme.container", g->name);
	header(g, b, file, "ferry acme in a Podman container, started by its timer");
	acme_comment(g, b);
	out(b, "[Unit]\n"
	       "Description=%s: ACME certificates (Podman container)\n"
	       "Documentation=man:ferry(1) man:ferry.conf(5)\n"
	       "\n[Container]\n"
	       "Image=",
	    g->describe);
	put_esc(b, CTX_UNIT, units_image(g->o));
	out(b, "\n"
	       "Pull=never\n"
	       "Exec=acme --config " CONTAINER_CONFIG "\n"
	       "# No Network=: Podman's default network, the CA is on the Internet.\n"
	       "ReadOnly=true\n"
	       "User=" CONTAINER_USER "\n"
	       "Group=" CONTAINER_USER "\n"
	       "NoNewPrivileges=true\n"
	       "DropCapability=all\n");
	acme_volumes(g, b, "Volume=", "\n");
	out(b, "\n[Service]\n"
	       "Type=oneshot\n");
}

static void gen_acme_service(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 32];
	snprintf(file, sizeof(file), "%s-acme.service", g->name);
	header(g, b, file, "ferry acme in a Podman container, started by its timer");
	acme_comment(g, b);
	out(b, "[Unit]\n"
	       "Description=%s: ACME certificates (Podman container)\n"
	       "Documentation=man:ferry(1) man:podman-run(1)\n",
	    g->describe);
	if (g->o->mode != UNITS_USER)
		out(b, "Wants=network-online.target\n"
		       "After=network-online.target\n");
	out(b, "\n[Service]\n"
	       "Type=oneshot\n"
	       "ExecStart=%s run --rm --pull=never --read-only \\\n"
	       "\t--user=" CONTAINER_USER ":" CONTAINER_USER " \\\n"
	       "\t--security-opt=no-new-privileges \\\n"
	       "\t--cap-drop=all \\\n",
	    podman(g));
	acme_volumes(g, b, "\t--volume=", " \\\n");
	out(b, "\t");
	put_esc(b, CTX_EXEC, units_image(g->o));
	out(b, " acme --config " CONTAINER_CONFIG "\n");
}

static void gen_acme_timer(const struct gen *g, struct buf *b)
{
	char file[UNITS_NAME_MAX + 32];
	snprintf(file, sizeof(file), "%s-acme.timer", g->name);
	header(g, b, file, "ferry acme twice a day");
	out(b, "#\n"
	       "# Certificates are renewed when a third of their lifetime is left: two runs a\n"
	       "# day, at a random time in each half (RandomizedDelaySec=), catch that in time\n"
	       "# and spread the load on the CA. Persistent=: a run missed while the machine was\n"
	       "# off happens at boot.\n\n"
	       "[Unit]\n"
	       "Description=%s: ACME certificates, twice a day\n"
	       "\n[Timer]\n"
	       "OnCalendar=*-*-* 00,12:00:00\n"
	       "RandomizedDelaySec=12h\n"
	       "Persistent=true\n"
	       "\n[Install]\n"
	       "WantedBy=timers.target\n",
	    g->describe);
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->n_unix_dirs; i++)
		free(g->unix_dirs[i]);
	free(g->unix_dirs);
	for (size_t i = 0; i < g->n_tls_dirs; i++)
		free(g->tls_dirs[i]);
	free(g->tls_dirs);
	free(g->mounts);
	free(g->log_dir);
}

int units_generate(const struct config *cfg, const struct units_opts *o, struct units *ret,
		   struct buf *dg)
{
	struct gen g = {.cfg = cfg, .o = o, .diag = dg, .name = units_name(o)};
	struct units u = {0};
	snprintf(g.describe, sizeof(g.describe), strstr(g.name, "ferry") ? "%s" : "ferry %s",
		 g.name);

	check_opts(&g);
	collect_socks(&g);

	/* Where the units read the config: the default for user mode lives in the home. */
	bool in_home = o->mode == UNITS_USER && !o->config_path;
	char home_rel[UNITS_NAME_MAX + 32];
	snprintf(home_rel, sizeof(home_rel), ".config/ferry/%s.conf", g.name);
	if (o->config_path)
		snprintf(u.config_path, sizeof(u.config_path), "%s", o->config_path);
	else if (in_home)
		snprintf(u.config_path, sizeof(u.config_path), "%%h/%s", home_rel);
	else
		snprintf(u.config_path, sizeof(u.config_path), "/etc/ferry/%s.conf", g.name);
	collect_mounts(&g, in_home ? home_rel : u.config_path, in_home);
	collect_upstreams(&g);

	if (o->mode == UNITS_SYSTEM_AS) {
		snprintf(g.run, sizeof(g.run), "/run/user/%u", (unsigned)o->uid);
		/* quadlet puts the cidfile in %t whoever runs Podman */
		snprintf(g.cid, sizeof(g.cid), "%s/%%N.cid",
			 o->flavor == UNITS_QUADLET ? "%t" : g.run);
	} else {
		snprintf(g.run, sizeof(g.run), "%%t");
		snprintf(g.cid, sizeof(g.cid), "%%t/%%N.cid");
	}
	g.stop_s = (unsigned)((cfg->shutdown_timeout_ms + 999) / 1000) + 5;
	if (o->flavor == UNITS_NATIVE)
		native_check_paths(&g, &u);

	if (g.r < 0)
		goto fail;

	/* tls acme: the units that run `ferry acme` (collect_mounts warns where there are none) */
	bool acme_units = g.acme && acme_flavor(o);
	char acme_name[UNITS_NAME_MAX + 8];
	snprintf(acme_name, sizeof(acme_name), "%s-acme", g.name);
	switch (o->flavor) {
	case UNITS_QUADLET:
		for (size_t i = 0; i < g.n_groups; i++)
			gen_socket(&g, add_unit(&u, g.group_units[i], UNITS_PLACE_SYSTEMD), i);
		gen_container(&g, add_file(&u, g.name, "container", UNITS_PLACE_QUADLET));
		if (o->mode == UNITS_SYSTEM_AS)
			gen_dropin(&g, add_file(&u, g.name, "service.d/ferry-user.conf",
						UNITS_PLACE_SYSTEMD));
		if (acme_units) {
			gen_acme_container(&g, add_file(&u, acme_name, "container",
							UNITS_PLACE_QUADLET));
			gen_acme_timer(&g, add_file(&u, acme_name, "timer", UNITS_PLACE_SYSTEMD));
		}
		break;
	case UNITS_PODMAN_RUN:
		for (size_t i = 0; i < g.n_groups; i++)
			gen_socket(&g, add_unit(&u, g.group_units[i], UNITS_PLACE_SYSTEMD), i);
		gen_service(&g, add_file(&u, g.name, "service", UNITS_PLACE_SYSTEMD));
		if (acme_units) {
			gen_acme_service(&g, add_file(&u, acme_name, "service", UNITS_PLACE_SYSTEMD));
			gen_acme_timer(&g, add_file(&u, acme_name, "timer", UNITS_PLACE_SYSTEMD));
		}
		break;
	case UNITS_KUBE:
		gen_kube(&g, add_file(&u, g.name, "yaml", UNITS_PLACE_KUBE));
		break;
	case UNITS_NATIVE:
		for (size_t i = 0; i < g.n_groups; i++)
			gen_socket(&g, add_unit(&u, g.group_units[i], UNITS_PLACE_SYSTEMD), i);
		gen_native(&g, &u, add_file(&u, g.name, "service", UNITS_PLACE_SYSTEMD));
		break;
	}
	for (size_t i = 0; i < u.n_files; i++) {
		struct buf *t = &u.files[i].text;
		if (buf_cstr(t) < 0 || t->len >= UNITS_MAX_FILE_BYTES - 1) {
			diag(&g, true, "%s: larger than %d bytes", u.files[i].name,
			     UNITS_MAX_FILE_BYTES);
			goto fail;
		}
	}
	gen_free(&g);
	*ret = u;
	return 0;
fail:
	gen_free(&g);
	units_free(&u);
	return -EINVAL;
}

void units_free(struct units *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n_files; i++)
		buf_free(&u->files[i].text);
	u->n_files = 0;
}
