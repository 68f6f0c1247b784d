/* ferry's command line: the subcommand table, option parsing, and startup (config, roots,
 * logs, sockets) before handing over to the server. Exit codes: 0 ok, 1 runtime failure,
 * 2 usage or configuration error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/client.h"
#include "acmeproc.h"
#include "acme/store.h"
#include "base/macro.h"
#include "base/xalloc.h"
#include "config/config.h"
#include "core/confine.h"
#include "handler/auth.h"
#include "handler/encode.h"
#include "handler/route.h"
#include "handler/static.h"
#include "http/handler.h"
#include "proto/echo.h"
#include "proto/h1.h"
#include "proto/h2.h"
#include "core/fdstore.h"
#include "proto/h3.h"
#include "core/listeners.h"
#include "core/log.h"
#include "sd/notify.h"
#include "core/server.h"
#include "units/cmd.h"
#include "version.h"
#include "xport/tls.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static int cmd_serve(int argc, char **argv);
static int cmd_echo(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_units(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_acme(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{"serve", cmd_serve, "web server and reverse proxy: files, upstreams (the default)",
	 "Usage: ferry [serve] [--config FILE] [--root DIR] [--listen ADDR]...\n"
	 "\n"
	 "Serve HTTP/1.1 on the sockets systemd passed (LISTEN_FDS), on one connection\n"
	 "(Accept=yes, inetd), or on the addresses given: static files, and with a config\n"
	 "(ferry.conf(5)) sites by host name and reverse-proxied upstreams. Without a root,\n"
	 "ferry serves its built-in welcome page.\n"
	 "\n"
	 "  -c, --config FILE   read the configuration (see ferry.conf(5))\n"
	 "  -r, --root DIR      serve files from DIR (when the config has no site blocks)\n"
	 "  -l, --listen ADDR   also listen on ADDR: HOST:PORT, [V6]:PORT, unix:/path,\n"
	 "                      vsock:CID:PORT (repeatable)\n"
	 "  -h, --help          show this help\n"},
	{"echo", cmd_echo, "echo server: bytes back on every socket (TCP, UDP, Unix, vsock)",
	 "Usage: ferry echo [--config FILE] [--listen ADDR]...\n"
	 "\n"
	 "Echo every byte back on stream sockets until EOF, and every datagram back to its\n"
	 "sender, on the sockets systemd passed or the addresses given\n"
	 "(HOST:PORT, [V6]:PORT, udp:HOST:PORT, unix:/path, unixgram:/path, vsock:CID:PORT).\n"
	 "\n"
	 "  -c, --config FILE   read listen lines and limits from FILE\n"
	 "  -l, --listen ADDR   listen on ADDR (repeatable)\n"
	 "  -h, --help          show this help\n"},
	{"check", cmd_check, "validate a configuration file",
	 "Usage: ferry check CONFIG\n"
	 "\n"
	 "Print \"configuration OK\", or every error as file:line:col: message and exit 2.\n"},
	{"units", cmd_units, "write systemd units: native, or for Podman", units_usage},
	{"acme", cmd_acme, "obtain and renew the certificates of `tls acme` sites, then exit",
	 "Usage: ferry acme --config FILE [--force]\n"
	 "\n"
	 "For every site with `tls acme`: obtain a certificate from acme-ca when acme-dir has\n"
	 "none, renew it when a third of its lifetime is left, by http-01 challenges that\n"
	 "`ferry serve` with the same configuration answers from acme-dir (it may run with no\n"
	 "network). Exits 0 when every such site has a certificate that is not due, else 1.\n"
	 "\n"
	 "  -c, --config FILE   the configuration (see ferry.conf(5))\n"
	 "  -f, --force         renew every certificate, due or not\n"
	 "  -h, --help          show this help\n"},
	{"version", cmd_version, "print the version (--verbose: and the libraries linked in)",
	 "Usage: ferry version [--verbose]\n"},
	{"help", cmd_help, "show this help", "Usage: ferry help [COMMAND]\n"},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void main_usage(FILE *f)
{
	fprintf(f, "ferry %s: a web server, reverse proxy and echo server for systemd socket\n"
		   "activation and rootless Podman\n\n"
		   "Usage: ferry [COMMAND] [OPTIONS]\n\nCommands:\n",
		FERRY_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'ferry COMMAND --help' for a command's options; without a command,\n"
		   "ferry serves.\n"
		   "Manuals: ferry(1), ferry.conf(5).\n");
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		const struct command *c = find_command(argv[1]);
		if (!c) {
			fprintf(stderr, "ferry: unknown command '%s'\n", argv[1]);
			return EXIT_USAGE;
		}
		fputs(c->usage, stdout);
		return 0;
	}
	main_usage(stdout);
	return 0;
}

static int cmd_units(int argc, char **argv)
{
	return units_cmd(argc, argv);
}

static int cmd_version(int argc, char **argv)
{
	bool verbose = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			verbose = true;
			continue;
		}
		fputs(find_command("version")->usage, stderr);
		return EXIT_USAGE;
	}
	version_print(stdout, verbose);
	return 0;
}

static int print_errors(struct buf *errors)
{
	if (errors->len > 0) {
		fwrite(errors->data, 1, errors->len, stderr);
		if (errors->data[errors->len - 1] != '\n')
			fputc('\n', stderr);
	}
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(find_command("check")->usage, stdout);
			return 0;
		}
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' || path) {
			fputs(find_command("check")->usage, stderr);
			return EXIT_USAGE;
		}
		path = argv[i];
	}
	if (!path) {
		fputs(find_command("check")->usage, stderr);
		return EXIT_USAGE;
	}
	struct buf errors;
	buf_init(&errors, 1 << 20);
	struct config *cfg = NULL;
	int r = config_load(path, &cfg, &errors);
	if (r < 0) {
		print_errors(&errors);
		buf_free(&errors);
		return EXIT_USAGE;
	}
	/* `ferry serve` raises its soft limit to the hard one (raise_nofile): check against that. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    server_check_nofile(cfg, 0, rl.rlim_max, &errors) < 0) {
		print_errors(&errors);
		config_free(cfg);
		buf_free(&errors);
		return EXIT_USAGE;
	}
	/* The certificates too: parse, key, names, dates (warnings do not fail the check). */
	struct buf warnings;
	buf_init(&warnings, 1 << 20);
	r = xport_tls_certs_load(cfg, true, &errors, &warnings, NULL);
	print_errors(&warnings);
	buf_free(&warnings);
	config_free(cfg);
	if (r < 0) {
		print_errors(&errors);
		buf_free(&errors);
		return EXIT_USAGE;
	}
	printf("configuration OK\n");
	buf_free(&errors);
	return 0;
}

struct serve_opts {
	const char *config;
	const char *root;
	char **listen;
	size_t n_listen;
};

static int parse_serve_opts(int argc, char **argv, const struct command *cmd, bool allow_root,
			    struct serve_opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"root", required_argument, NULL, 'r'},
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int ch;
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, allow_root ? "c:r:l:h" : "c:l:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'r':
			if (!allow_root)
				goto usage;
			o->root = optarg;
			break;
		case 'l':
			o->listen = xrealloc(o->listen, (o->n_listen + 1) * sizeof(char *));
			o->listen[o->n_listen++] = optarg;
			break;
		case 'h':
			fputs(cmd->usage, stdout);
			return 1;
		default:
			goto usage;
		}
	}
	if (optind == argc)
		return 0;
	fprintf(stderr, "ferry: unexpected argument '%s'\n", argv[optind]);
usage:
	fputs(cmd->usage, stderr);
	return -EINVAL;
}

/* One fd per connection and one per distinct root: use the hard limit (systemd's default soft
 * limit is 1024, its hard limit far higher), as nginx's worker_rlimit_nofile would. When even
 * that cannot hold the roots, server_gen_new says so with the numbers. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The wiring of the layers above core: what a connection speaks and who answers. */
static void http_worker_gen(struct worker *wk)
{
	static_worker_gen(wk);
	h3_worker_init(wk);
}

static void http_worker_exit(struct worker *wk)
{
	static_worker_exit(wk);
	auth_worker_exit(wk);
	h1_worker_exit(wk);
	h2_worker_exit(wk);
	h3_worker_exit(wk);
	encode_thread_end();
}

/* Which protocol a new connection speaks: its listener says (h2c: HTTP/2 with prior
 * knowledge); the others, and Accept=yes/inetd connections, start as HTTP/1.1. */
static void http_conn_start(struct worker *wk, int fd, const struct sockaddr *peer,
			    socklen_t peer_len, const struct listener *l)
{
	if (l && l->h2c)
		h2_conn_start(wk, fd, peer, peer_len, l);
	else
		h1_conn_start(wk, fd, peer, peer_len, l);
}

/* The sites' certificates, loaded with each generation; what does not stop serving (an
 * expired certificate, a name it does not cover) is logged. */
static int http_gen_init(struct server_gen *g, struct buf *err)
{
	struct buf warn;
	buf_init(&warn, 1 << 20);
	int r = xport_tls_certs_load(g->cfg, false, err, &warn, &g->tls);
	log_lines(LOG_WARNING, "", warn.data, warn.len);
	buf_free(&warn);
	if (r == 0)
		g->tls_free = xport_tls_certs_free;
	return r;
}

static const struct server_app http_app = {
	.conn_start = http_conn_start,
	.conn_resume = h1_conn_resume,
	.datagrams = h3_datagrams,
	.gen_init = http_gen_init,
	.worker_gen = http_worker_gen,
	.worker_exit = http_worker_exit,
};

static const struct server_app echo_app = {
	.conn_start = echo_conn_start,
	.datagrams = echo_datagrams,
};

static int run_server(int argc, char **argv, enum server_mode mode)
{
	server_block_signals();
	raise_nofile();
	const struct command *cmd = find_command(mode == SERVER_ECHO ? "echo" : "serve");
	struct serve_opts o = {0};
	int r = parse_serve_opts(argc, argv, cmd, mode == SERVER_HTTP, &o);
	if (r != 0) {
		free(o.listen);
		return r > 0 ? 0 : EXIT_USAGE;
	}

	struct server srv = {.mode = mode,
			     .single_fd = -1,
			     .status_fd = -1,
			     .config_path = o.config,
			     .cli_root = o.root,
			     .app = mode == SERVER_ECHO ? &echo_app : &http_app};
	http_router_install(&route_router);
	struct buf errors;
	buf_init(&errors, 1 << 20);
	struct config *cfg = NULL;
	struct server_gen *gen = NULL;
	int rc;
	if (o.config) {
		if (config_load(o.config, &cfg, &errors) < 0) {
			print_errors(&errors);
			rc = EXIT_USAGE;
			goto out;
		}
	} else {
		cfg = config_new_default();
	}
	if (cfg->n_acme_sites && acme_store_prepare(cfg, &errors) < 0) {
		/* `ferry acme` may still make it (another user, a volume mounted later) */
		log_lines(LOG_WARNING, "", errors.data, errors.len);
		buf_reset(&errors);
	}
	r = server_gen_new(&srv, cfg, &errors, &gen);
	if (r < 0) {
		print_errors(&errors);
		config_free(cfg);
		rc = r == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	atomic_store(&srv.gen, gen);

	sd_notify_init();
	if (listeners_setup(&srv, o.listen, o.n_listen, &errors) < 0) {
		/* Each line is its own log entry, so the journal shows every problem. */
		log_lines(LOG_ERR, "", errors.data, errors.len);
		sd_notify("STATUS=failed to set up sockets");
		server_gen_free(gen);
		stats_names_free(&srv.site_names);
		stats_names_free(&srv.upstream_names);
		rc = EXIT_RUNTIME;
		goto out;
	}

	r = acmeproc_start(&srv, o.config);
	if (r < 0)
		log_error("acme: cannot start the integrated ACME client: %s", strerror(-r));
	fdstore_setup(&srv);
	static_test_hooks();
	srv.n_workers = server_workers(gen->cfg);
	if (confine_apply(&srv) < 0) {
		rc = EXIT_RUNTIME;
		goto out;
	}

	rc = server_run(&srv) == 0 ? 0 : EXIT_RUNTIME;
out:
	fdstore_finish(&srv);
	free(srv.listeners);
	free(o.listen);
	buf_free(&errors);
	return rc;
}

static int cmd_serve(int argc, char **argv)
{
	return run_server(argc, argv, SERVER_HTTP);
}

static int cmd_echo(int argc, char **argv)
{
	return run_server(argc, argv, SERVER_ECHO);
}

int main(int argc, char **argv)
{
	log_init();
	if (argc > 1) {
		if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
			return cmd_version(argc - 1, argv + 1);
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
			return cmd_help(1, argv);
		if (argv[1][0] != '-') {
			const struct command *c = find_command(argv[1]);
			if (!c) {
				fprintf(stderr, "ferry: unknown command '%s'\n\n", argv[1]);
				main_usage(stderr);
				return EXIT_USAGE;
			}
			return c->run(argc - 1, argv + 1);
		}
	}
	return cmd_serve(argc, argv);
}

static void acme_log(bool error, const char *line)
{
	if (error)
		log_error("%s", line);
	else
		log_info("%s", line);
}

static int cmd_acme(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *path = NULL;
	struct acme_options o = {.log = acme_log};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			fputs(find_command("acme")->usage, stdout);
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (!path || optind < argc) {
		fputs(find_command("acme")->usage, stderr);
		return EXIT_USAGE;
	}
	struct buf errors;
	buf_init(&errors, 1 << 20);
	struct config *cfg = NULL;
	if (config_load(path, &cfg, &errors) < 0) {
		print_errors(&errors);
		buf_free(&errors);
		return EXIT_USAGE;
	}
	buf_free(&errors);
	if (!cfg->n_acme_sites) {
		log_error("acme: %s has no site with `tls acme`", path);
		config_free(cfg);
		return EXIT_USAGE;
	}
	int r = acme_client_run(cfg, &o);
	config_free(cfg);
	return r == 0 ? 0 : 1;
}
