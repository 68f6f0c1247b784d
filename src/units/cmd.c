/* `ferry units`: parse the options, load the config, generate, then print, write or install.
 * The header of every generated file quotes the options that shaped it, in one canonical
 * order, so the same inputs always give the same bytes (--out and --install are left out:
 * they say where the files go, not what is in them). */
#include "units/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "config/config.h"
#include "units/install.h"
#include "units/units.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

const char units_usage[] =
	"Usage: ferry units --config FILE [--mode user|system|system-as=USER[:UID]]\n"
	"                   [--quadlet|--podman-run|--kube|--native] [--image REF]\n"
	"                   [--binary PATH] [--name NAME] [--echo] [--listen ADDR]...\n"
	"                   [--network NAME] [--config-path PATH] [--out DIR | --install]\n"
	"\n"
	"Write the systemd units that run ferry, socket-activated: NAME.socket with one\n"
	"ListenStream=/ListenDatagram= per 'listen ADDRESS' line of the config, and\n"
	"NAME.container (quadlet) or NAME.service (podman run) for a Podman container, or\n"
	"with --native a NAME.service running the ferry binary itself, hardened.\n"
	"The container runs with --network=none, --read-only, as uid 65534, with the config\n"
	"and the document roots bind-mounted read-only. A proxy upstream reached over TCP\n"
	"needs a network (--network NAME); for a Unix-socket upstream the socket's directory\n"
	"is bind-mounted read-write. The native service runs as a user allocated at start\n"
	"(DynamicUser=), on a read-only file system, without network unless an upstream is\n"
	"reached over TCP. Without --out or --install the files are printed.\n"
	"\n"
	"  -c, --config FILE     the ferry.conf to serve (read now, mounted at run time)\n"
	"  -m, --mode MODE       user: rootless Podman in the user's manager (default);\n"
	"                        system: rootful Podman; system-as=USER: a system service\n"
	"                        with User=USER running rootless Podman (ports below 1024\n"
	"                        for a user; UID is read from /etc/passwd unless given)\n"
	"      --quadlet         NAME.container for quadlet, Podman >= 5.4 (default)\n"
	"      --podman-run      NAME.service running `podman run`, Podman >= 4.3\n"
	"      --kube            NAME.yaml for `podman kube play` (ferry binds its ports)\n"
	"      --native          NAME.service running ferry itself, no container (--mode\n"
	"                        user or system)\n"
	"  -i, --image REF       the image (default localhost/ferry:latest)\n"
	"  -b, --binary PATH     with --native: the ferry to run (default\n"
	"                        /usr/local/bin/ferry, where make install puts it)\n"
	"  -n, --name NAME       base name of the units (default ferry)\n"
	"      --echo            run `ferry echo` instead of `ferry serve`\n"
	"  -l, --listen ADDR     another socket, besides the config's listen lines\n"
	"  -N, --network NAME    the Podman network of the proxy's TCP upstreams (required\n"
	"                        when there are any; else none); with --quadlet, NAME.network\n"
	"                        is a quadlet .network unit\n"
	"      --config-path P   where the units read the config (default /etc/ferry/NAME.conf,\n"
	"                        user mode ~/.config/ferry/NAME.conf)\n"
	"  -o, --out DIR         write the files into DIR\n"
	"      --install         put them where systemd and quadlet look, copy the config to\n"
	"                        the config path, and print the commands to run next\n"
	"  -h, --help            show this help\n";

enum {
	OPT_QUADLET = 256,
	OPT_PODMAN_RUN,
	OPT_KUBE,
	OPT_NATIVE,
	OPT_ECHO,
	OPT_CONFIG_PATH,
	OPT_INSTALL,
};

/* uid of user from /etc/passwd (a static binary has no NSS). */
static int passwd_uid(const char *user, uid_t *ret)
{
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return -errno;
	char line[1024];
	size_t ul = strlen(user);
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, user, ul) != 0 || line[ul] != ':')
			continue;
		char *p = strchr(line + ul + 1, ':'); /* past the password field */
		char *end;
		unsigned long uid = p ? strtoul(p + 1, &end, 10) : 0;
		if (p && end != p + 1 && *end == ':') {
			*ret = (uid_t)uid;
			r = 0;
		}
		break;
	}
	fclose(f);
	return r;
}

static int parse_mode(const char *s, struct units_opts *o, char **user_buf)
{
	if (!strcmp(s, "user")) {
		o->mode = UNITS_USER;
		return 0;
	}
	if (!strcmp(s, "system")) {
		o->mode = UNITS_SYSTEM;
		return 0;
	}
	if (strncmp(s, "system-as=", 10) != 0 || !s[10]) {
		fprintf(stderr, "ferry units: --mode %s: expected user, system or system-as=USER\n", s);
		return -EINVAL;
	}
	o->mode = UNITS_SYSTEM_AS;
	free(*user_buf);
	*user_buf = xstrdup(s + 10);
	o->user = *user_buf;
	char *colon = strchr(*user_buf, ':');
	if (colon) {
		*colon = '\0';
		char *end;
		unsigned long uid = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || uid > 0x7fffffff) {
			fprintf(stderr, "ferry units: --mode %s: bad uid\n", s);
			return -EINVAL;
		}
		o->uid = (uid_t)uid;
		return 0;
	}
	int r = passwd_uid(o->user, &o->uid);
	if (r < 0) {
		fprintf(stderr, "ferry units: --mode %s: no user '%s' in /etc/passwd; create it, or "
				"give its uid: system-as=%s:UID\n",
			s, o->user, o->user);
		return r;
	}
	return 0;
}

static void cmdline_add(struct buf *b, const char *opt, const char *val)
{
	buf_printf(b, " %s", opt);
	if (val)
		buf_printf(b, " %s", val);
}

/* The canonical command line quoted in the files' headers. */
static void make_cmdline(struct buf *b, const char *config, const struct units_opts *o,
			 const char *mode_arg)
{
	static const char *const flavors[] = {"--quadlet", "--podman-run", "--kube", "--native"};
	buf_appends(b, "ferry units");
	cmdline_add(b, "--config", config);
	cmdline_add(b, "--mode", mode_arg ? mode_arg : "user");
	cmdline_add(b, flavors[o->flavor], NULL);
	if (o->name)
		cmdline_add(b, "--name", o->name);
	if (o->image)
		cmdline_add(b, "--image", o->image);
	if (o->binary)
		cmdline_add(b, "--binary", o->binary);
	if (o->echo)
		cmdline_add(b, "--echo", NULL);
	for (size_t i = 0; i < o->n_listen; i++)
		cmdline_add(b, "--listen", o->listen[i]);
	if (o->network)
		cmdline_add(b, "--network", o->network);
	if (o->config_path)
		cmdline_add(b, "--config-path", o->config_path);
	(void)buf_cstr(b);
}

int units_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"mode", required_argument, NULL, 'm'},
		{"quadlet", no_argument, NULL, OPT_QUADLET},
		{"podman-run", no_argument, NULL, OPT_PODMAN_RUN},
		{"kube", no_argument, NULL, OPT_KUBE},
		{"native", no_argument, NULL, OPT_NATIVE},
		{"binary", required_argument, NULL, 'b'},
		{"image", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"echo", no_argument, NULL, OPT_ECHO},
		{"listen", required_argument, NULL, 'l'},
		{"network", required_argument, NULL, 'N'},
		{"config-path", required_argument, NULL, OPT_CONFIG_PATH},
		{"out", required_argument, NULL, 'o'},
		{"install", no_argument, NULL, OPT_INSTALL},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct units_opts o = {.mode = UNITS_USER, .flavor = UNITS_QUADLET};
	const char *config = NULL, *out_dir = NULL, *mode_arg = NULL;
	char *user_buf = NULL;
	char **listen = NULL;
	bool install = false;
	int flavors = 0, ch, status = EXIT_USAGE;
	struct config *cfg = NULL;
	struct units u = {0};
	struct buf diag, cmdline;
	buf_init(&diag, 1 << 20);
	buf_init(&cmdline, 1 << 16);

	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "c:m:i:b:n:l:N:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'm':
			mode_arg = optarg;
			if (parse_mode(optarg, &o, &user_buf) < 0)
				goto out;
			break;
		case OPT_QUADLET:
		case OPT_PODMAN_RUN:
		case OPT_KUBE:
		case OPT_NATIVE:
			o.flavor = ch == OPT_QUADLET  ? UNITS_QUADLET
				   : ch == OPT_KUBE   ? UNITS_KUBE
				   : ch == OPT_NATIVE ? UNITS_NATIVE
						      : UNITS_PODMAN_RUN;
			flavors++;
			break;
		case 'b':
			o.binary = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case OPT_ECHO:
			o.echo = true;
			break;
		case 'l':
			listen = xrealloc(listen, (o.n_listen + 1) * sizeof(*listen));
			listen[o.n_listen++] = optarg;
			o.listen = listen;
			break;
		case 'N':
			o.network = optarg;
			break;
		case OPT_CONFIG_PATH:
			o.config_path = optarg;
			break;
		case 'o':
			out_dir = optarg;
			break;
		case OPT_INSTALL:
			install = true;
			break;
		case 'h':
			fputs(units_usage, stdout);
			status = 0;
			goto out;
		default:
			fputs(units_usage, stderr);
			goto out;
		}
	}
	if (optind < argc || !config || flavors > 1 || (out_dir && install)) {
		if (optind < argc)
			fprintf(stderr, "ferry units: unexpected argument '%s'\n", argv[optind]);
		else if (!config)
			fprintf(stderr, "ferry units: --config FILE is required\n");
		else if (flavors > 1)
			fprintf(stderr, "ferry units: choose one of --quadlet, --podman-run, --kube, "
					"--native\n");
		else
			fprintf(stderr, "ferry units: choose --out DIR or --install\n");
		fputs(units_usage, stderr);
		goto out;
	}

	if (config_load(config, &cfg, &diag) < 0)
		goto out;
	o.home = getenv("HOME");
	make_cmdline(&cmdline, config, &o, mode_arg);
	o.cmdline = cmdline.data;
	if (units_generate(cfg, &o, &u, &diag) < 0)
		goto out;
	if (diag.len) /* warnings */
		fwrite(diag.data, 1, diag.len, stderr);
	buf_reset(&diag);

	status = EXIT_RUNTIME;
	if (install) {
		printf("Installing %s:\n", units_name(&o));
		if (units_install(&u, &o, config, o.home, stdout, &diag) < 0)
			goto out;
		units_print_next(&u, &o, config, NULL, true, stdout);
	} else if (out_dir) {
		if (units_write(&u, out_dir, &diag) < 0)
			goto out;
		for (size_t i = 0; i < u.n_files; i++)
			fprintf(stderr, "wrote %s/%s\n", out_dir, u.files[i].name);
		units_print_next(&u, &o, config, out_dir, false, stderr);
	} else {
		for (size_t i = 0; i < u.n_files; i++)
			printf("%s### %s\n%s", i ? "\n" : "", u.files[i].name, u.files[i].text.data);
	}
	status = 0;
out:
	if (diag.len)
		fwrite(diag.data, 1, diag.len, stderr);
	units_free(&u);
	config_free(cfg);
	free(listen);
	free(user_buf);
	buf_free(&diag);
	buf_free(&cmdline);
	return status;
}
