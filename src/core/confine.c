/* From the configuration to the sandbox: which paths ferry still needs once it serves (the
 * site and path roots, the config for reloads, the certificates' directories (and those of
 * the CAs https:// upstreams are verified against), the access log,
 * Unix-socket upstreams, the resolver's files), which TCP ports it may connect to
 * (upstreams), and who to become. sandbox/ does the enforcing; this file only decides. */
#include "core/confine.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/xalloc.h"
#include "core/log.h"
#include "sandbox/sandbox.h"

struct paths {
	struct sandbox_path v[SANDBOX_MAX_PATHS];
	char *owned[SANDBOX_MAX_PATHS];
	size_t n, n_owned;
	uint16_t ports[SANDBOX_MAX_PORTS];
	size_t n_ports;
	bool overflow;
};

static void add_path(struct paths *p, const char *path, unsigned access)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].path, path) == 0) {
			p->v[i].access |= access;
			return;
		}
	if (p->n == SANDBOX_MAX_PATHS) {
		p->overflow = true;
		return;
	}
	p->v[p->n].path = path;
	p->v[p->n].access = access;
	p->n++;
}

/* The directory of a file: a rule on the file itself would not survive the file being
 * replaced by a rename (editors, logrotate). */
static void add_dir_of(struct paths *p, const char *file, unsigned access)
{
	if (p->n_owned == SANDBOX_MAX_PATHS) {
		p->overflow = true;
		return;
	}
	char *copy = xstrdup(file);
	char *dir = xstrdup(dirname(copy));
	free(copy);
	for (size_t i = 0; i < p->n_owned; i++) {
		if (strcmp(p->owned[i], dir) == 0) { /* a certificate beside its key */
			add_path(p, p->owned[i], access);
			free(dir);
			return;
		}
	}
	p->owned[p->n_owned++] = dir;
	add_path(p, dir, access);
}

static void add_port(struct paths *p, uint16_t port)
{
	for (size_t i = 0; i < p->n_ports; i++)
		if (p->ports[i] == port)
			return;
	if (p->n_ports == SANDBOX_MAX_PORTS) {
		p->overflow = true;
		return;
	}
	p->ports[p->n_ports++] = port;
}

static void add_proxy(struct paths *p, const struct config_proxy *px, bool *needs_dns)
{
	for (size_t i = 0; i < px->n_ups; i++) {
		const struct config_upstream *u = &px->ups[i];
		if (u->is_unix) {
			/* "unix:/path" or "unix:@abstract": sandbox.h takes "/path" or "@name". */
			const char *path = strncmp(u->spec, "unix:", 5) == 0 ? u->spec + 5 : u->spec;
			add_path(p, path, SANDBOX_UNIX_CONNECT);
			continue;
		}
		add_port(p, u->port);
		/* https://: the CAs, read again with each generation (reload) */
		if (u->tls)
			add_dir_of(p, px->upstream_ca ? px->upstream_ca : CONFIG_SYSTEM_CA,
				   SANDBOX_READ);
		if (!u->numeric)
			*needs_dns = true; /* a name, or {host} (which may be a name) */
	}
}

/* Inside a container (Podman sets container=, and writes /run/.containerenv), root is already
 * mapped or confined by the runtime: `user` applies to a root ferry started outside one. */
static bool in_container(void)
{
	return getenv("container") != NULL || access("/run/.containerenv", F_OK) == 0 ||
	       access("/.dockerenv", F_OK) == 0;
}

int confine_apply(struct server *srv)
{
	const struct config *cfg = server_gen(srv)->cfg;
	if (!cfg->sandbox) {
		log_notice("sandbox off: running without no_new_privs, Landlock or seccomp");
		return 0;
	}
	struct paths *p = xcalloc(1, sizeof(*p));
	bool needs_dns = false;

	if (srv->config_path)
		add_dir_of(p, srv->config_path, SANDBOX_READ);
	/* A reload reads the included files again, and the directories they are listed from. */
	for (size_t i = 0; i < cfg->n_include_dirs; i++)
		add_path(p, cfg->include_dirs[i], SANDBOX_READ);
	if (srv->cli_root)
		add_path(p, srv->cli_root, SANDBOX_READ);
	for (size_t i = 0; i < cfg->n_roots; i++)
		add_path(p, cfg->roots[i].path, SANDBOX_READ);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		add_proxy(p, &s->proxy, &needs_dns);
		for (size_t j = 0; j < s->n_paths; j++)
			add_proxy(p, &s->paths[j].proxy, &needs_dns);
		/* certificates and keys, read again on reload (renewed files are usually
		 * renamed into place: the directory, not the file) */
		for (size_t j = 0; j < s->n_tls; j++) {
			add_dir_of(p, s->tls[j].cert, SANDBOX_READ);
			add_dir_of(p, s->tls[j].key, SANDBOX_READ);
			if (s->tls[j].ocsp)
				add_dir_of(p, s->tls[j].ocsp, SANDBOX_READ);
		}
	}
	/* acme-dir, not only its folders: `ferry acme` (in another container, maybe) may make
	 * challenges/ and certificates/ after the server started */
	if (cfg->n_acme_sites)
		add_path(p, cfg->acme_dir, SANDBOX_READ);
	if (cfg->access_log == CONFIG_LOG_FILE)
		add_dir_of(p, cfg->access_log_path, SANDBOX_READ | SANDBOX_WRITE);
	/* basic-auth-file: read again on reload (edited files are often renamed into place) */
	for (size_t i = 0; i < cfg->n_auth_files; i++)
		add_dir_of(p, cfg->auth_files[i], SANDBOX_READ);
	/* SIGUSR1 opens the error log again when stderr is a file (a rotation renamed it):
	 * creating and writing files in its directory, never reading them */
	if (log_file_path())
		add_dir_of(p, log_file_path(), SANDBOX_WRITE);
	/* resolv.conf also with `resolver`: its search domains and options still apply, and a
	 * reload may drop `resolver` for its nameservers. */
	if (needs_dns) {
		add_path(p, "/etc/resolv.conf", SANDBOX_READ);
		add_path(p, "/etc/hosts", SANDBOX_READ);
	}

	struct sandbox_user user;
	bool become = false;
	if (cfg->user) {
		if (geteuid() != 0)
			log_notice("user %s: not started as root, staying uid %u", cfg->user,
				   (unsigned)geteuid());
		else if (in_container())
			log_notice("user %s: in a container, staying as started (the runtime maps "
				   "users)", cfg->user);
		else {
			int r = sandbox_user_resolve(cfg->user, "/etc/passwd", "/etc/group", &user);
			if (r < 0) {
				log_error("user %s: %s", cfg->user,
					  r == -ENOENT ? "no such user or group" : strerror(-r));
				goto fail;
			}
			become = true;
		}
	}
	if (p->overflow) {
		log_error("sandbox: more than %d paths or %d upstream ports; set 'sandbox off'",
			  SANDBOX_MAX_PATHS, SANDBOX_MAX_PORTS);
		goto fail;
	}

	const char *ns = getenv("NOTIFY_SOCKET");
	struct sandbox_spec spec = {
		.paths = p->v,
		.n_paths = p->n,
		.tcp_connect_ports = p->ports,
		.n_tcp_connect_ports = p->n_ports,
		.user = become ? &user : NULL,
		.flags = (ns && strncmp(ns, "vsock:", 6) == 0 ? SANDBOX_VSOCK_CONNECT : 0) |
			 (cfg->sandbox_strict ? SANDBOX_STRICT : 0),
	};
	struct sandbox_report rep;
	int r = sandbox_apply(&spec, &rep);
	if (r < 0) {
		log_error("sandbox: %s%s%s: %s", rep.step ? rep.step : "apply",
			  rep.path ? " " : "", rep.path ? rep.path : "", strerror(-r));
		goto fail;
	}
	char line[512];
	sandbox_report_format(&rep, line, sizeof(line));
	log_info("sandbox: %s", line);
	for (size_t i = 0; i < rep.n_skipped; i++)
		log_warning("sandbox: %s: %s (not allowed: it does not exist now)",
			    rep.skipped[i].path, strerror(rep.skipped[i].error));
	if (rep.landlock_abi < 0)
		log_warning("sandbox: no Landlock (%s): file system access is not restricted",
			    strerror(-rep.landlock_abi));
	if (rep.seccomp < 0)
		log_warning("sandbox: no seccomp (%s): system calls are not restricted",
			    strerror(-rep.seccomp));
	for (size_t i = 0; i < p->n_owned; i++)
		free(p->owned[i]);
	free(p);
	return 0;
fail:
	for (size_t i = 0; i < p->n_owned; i++)
		free(p->owned[i]);
	free(p);
	return -EPERM;
}
