/* `ferry units`: systemd, quadlet and Kubernetes files that run ferry in a Podman container,
 * or as a native systemd service, generated from a parsed ferry.conf.
 *
 * Generation is pure: units_generate() turns a struct config and struct units_opts into text
 * buffers, with no file system or environment access, so the output depends only on its
 * inputs (deterministic, unit-testable). Writing the files (--out DIR) and placing them where
 * systemd and quadlet look (--install) is units_write()/units_install(), in install.c, and the
 * command line is units_cmd(), in cmd.c. */
#ifndef FERRY_UNITS_UNITS_H
#define FERRY_UNITS_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "config/config.h"

#define UNITS_MAX_GROUPS 8 /* socket units: one per FileDescriptorName= */
#define UNITS_MAX_FILES (UNITS_MAX_GROUPS + 5) /* + service, drop-in, acme's two */
#define UNITS_MAX_FILE_BYTES (256 * 1024) /* one generated file */
#define UNITS_MAX_LISTEN 64               /* sockets in one .socket unit */
#define UNITS_NAME_MAX 64                 /* --name */

/* Who runs Podman, and which manager starts it. */
enum units_mode {
	UNITS_USER,      /* systemctl --user, rootless Podman */
	UNITS_SYSTEM,    /* system service, rootful Podman */
	UNITS_SYSTEM_AS, /* system service with User=, rootless Podman (ports < 1024 for a user) */
};

/* What runs ferry. */
enum units_flavor {
	UNITS_QUADLET,    /* NAME.container, for quadlet (Podman >= 5.4) */
	UNITS_PODMAN_RUN, /* NAME.service running `podman run` (any Podman >= 4.3) */
	UNITS_KUBE,       /* NAME.yaml for `podman kube play`: no systemd, ferry binds its ports */
	UNITS_NATIVE,     /* NAME.service running the ferry binary itself, hardened, no Podman */
};

/* Where --install puts a file. */
enum units_place {
	UNITS_PLACE_SYSTEMD, /* /etc/systemd/system, ~/.config/systemd/user */
	UNITS_PLACE_QUADLET, /* /etc/containers/systemd, ~/.config/containers/systemd */
	UNITS_PLACE_KUBE,    /* not installed: --out only */
};

struct units_opts {
	enum units_mode mode;
	enum units_flavor flavor;
	const char *name;  /* base name of every file; default "ferry" */
	const char *image; /* default "localhost/ferry:latest" */
	bool echo;         /* run `ferry echo` instead of `ferry serve` */
	/* UNITS_SYSTEM_AS: the user that runs Podman, and its uid (for /run/user/UID). */
	const char *user;
	uid_t uid;
	/* UNITS_USER: the user's home; paths under it are written as %h (and as themselves in the
	 * Kubernetes YAML, which has no specifiers). NULL: no %h rewriting. */
	const char *home;
	/* Where the units expect the config on the host; NULL: /etc/ferry/NAME.conf, or for
	 * UNITS_USER %h/.config/ferry/NAME.conf. Absolute. */
	const char *config_path;
	/* Addresses for the socket unit (or the pod's ports) besides the config's `listen ADDRESS`
	 * lines: `ferry units --listen`. */
	char *const *listen;
	size_t n_listen;
	/* The Podman network the container joins, for proxy upstreams reached over TCP (required
	 * then; NULL or "none": --network=none). With UNITS_QUADLET, NAME.network names a
	 * quadlet .network unit. */
	const char *network;
	const char *podman;  /* default "/usr/bin/podman" */
	const char *binary;  /* UNITS_NATIVE: the ferry that runs; default "/usr/local/bin/ferry" */
	const char *cmdline; /* how the files were generated, quoted in their header; may be NULL */
};

struct units_file {
	char name[UNITS_NAME_MAX * 2 + 32]; /* "ferry.socket", "ferry.service.d/x.conf" */
	enum units_place place;
	struct buf text;
};

struct units {
	struct units_file files[UNITS_MAX_FILES];
	size_t n_files;
	char config_path[4096]; /* where the units read the config (as written in them) */
};

/* Generate every file for cfg and o into *ret (units_free() it). On failure returns -EINVAL
 * and appends one "ferry units: message\n" line per problem to diag; warnings (things that
 * work but may surprise) are appended as "ferry units: warning: ...\n" on success too. */
int units_generate(const struct config *cfg, const struct units_opts *o, struct units *ret,
		   struct buf *diag);
void units_free(struct units *u);

/* The default --name, image and the config path the units read (o's or the default). */
const char *units_name(const struct units_opts *o);
const char *units_image(const struct units_opts *o);

#endif
