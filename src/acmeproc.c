/* The integrated mode's child (acmeproc.h): a loop of acme_client_run() over the config file
 * read anew each round (a reload's sites apply at the next one), sleeping until the next
 * certificate falls due (at most 12 h), with up to 10% of jitter so that many servers do not
 * ask the CA at once, or after a failure `acme-retry` (1 min), doubling up to 6 h. After each
 * round one line goes up a pipe to the server, which puts it in its STATUS= (the child is
 * not the main PID that systemd listens to). It dies with the server (PR_SET_PDEATHSIG); the
 * server's signal loop reaps it. New certificates reach the server through acme-dir, as in
 * split mode. */
#include "acmeproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "acme/client.h"
#include "base/buf.h"
#include "config/config.h"
#include "core/log.h"
#include "core/server.h"

#define ROUND_MAX_S (12 * 3600)
#define RETRY_MAX_S (6 * 3600)

static int status_fd = -1;    /* the pipe's write end, in the child */
static char first_error[400]; /* the round's first error, the reason STATUS= gives */

static void acme_log(bool error, const char *line)
{
	if (error) {
		log_error("%s", line);
		if (!first_error[0]) /* without "acme: " */
			snprintf(first_error, sizeof(first_error), "%s",
				 strncmp(line, "acme: ", 6) == 0 ? line + 6 : line);
	} else {
		log_info("%s", line);
	}
}

/* One line up the pipe, in one write (less than PIPE_BUF: never torn). */
static void _printf_(1, 2) status(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(status_fd, line, (size_t)n);
	(void)w; /* the server gone: PR_SET_PDEATHSIG ends us */
}

static void round_status(const struct acme_options *o, int r, unsigned wait)
{
	if (r != 0) {
		const char *reason = first_error;
		/* "NAME: ..." about the site named already: once is enough */
		size_t n = o->first_failed ? strlen(o->first_failed) : 0;
		if (n && strncmp(reason, o->first_failed, n) == 0 && reason[n] == ':')
			reason += n + 2;
		char more[48] = "";
		if (o->n_failed > 1)
			snprintf(more, sizeof(more), " (and %zu more)", o->n_failed - 1);
		if (o->first_failed)
			status("acme: %s%s: waiting for a certificate (next try in %u s: %s)",
			       o->first_failed, more, wait, reason[0] ? reason : "see the log");
		else /* acme-dir unusable: no site was tried */
			status("acme: failing (next try in %u s: %s)", wait,
			       reason[0] ? reason : "see the log");
		return;
	}
	char when[32] = "none";
	struct tm tm;
	if (o->next_due && gmtime_r(&o->next_due, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	status("acme: %zu certificate%s ok, next renewal %s", o->n_ok, o->n_ok == 1 ? "" : "s",
	       when);
}

/* retry: the next wait after a failure, 0 for the first one (acme-retry). */
static unsigned one_round(const char *config_path, unsigned *retry)
{
	struct buf errors;
	struct config *cfg = NULL;
	buf_init(&errors, 1 << 20);
	if (config_load(config_path, &cfg, &errors) < 0) {
		log_lines(LOG_ERR, "acme: ", errors.data, errors.len);
		buf_free(&errors);
		return ROUND_MAX_S; /* the server keeps its config: so do we, until it changes */
	}
	buf_free(&errors);
	unsigned wait = ROUND_MAX_S;
	if (cfg->n_acme_sites && cfg->acme_integrated) {
		struct acme_options o = {.log = acme_log};
		first_error[0] = '\0';
		int r = acme_client_run(cfg, &o);
		time_t now = time(NULL);
		if (r != 0) {
			if (!*retry)
				*retry = (unsigned)(cfg->acme_retry_ms / 1000);
			wait = *retry;
			*retry = *retry >= RETRY_MAX_S / 2 ? RETRY_MAX_S : *retry * 2;
		} else {
			*retry = 0;
			if (o.next_due > now && o.next_due - now < ROUND_MAX_S)
				wait = (unsigned)(o.next_due - now);
			wait += (unsigned)(random() % (wait / 10 + 1));
		}
		/* a certificate falling due before the retry: its time */
		if (r != 0 && o.next_due > now && (time_t)wait > o.next_due - now)
			wait = (unsigned)(o.next_due - now) + 1;
		if (r != 0)
			log_notice("acme: trying again in %u s", wait);
		round_status(&o, r, wait);
	}
	config_free(cfg);
	return wait;
}

int acmeproc_start(struct server *srv, const char *config_path)
{
	const struct config *cfg = server_gen(srv)->cfg;
	if (!config_path || !cfg->n_acme_sites || !cfg->acme_integrated)
		return 0;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid > 0) {
		close(fds[1]);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		srv->status_fd = fds[0];
		log_info("acme: integrated mode: the ACME client runs in process %ld",
			 (long)pid);
		return 0;
	}
	close(fds[0]);
	status_fd = fds[1];
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL); /* the server blocked them for its signalfd */
	for (size_t i = 0; i < srv->n_listeners; i++)
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	unsigned retry = 0;
	for (;;) {
		unsigned wait = one_round(config_path, &retry);
		while (wait > 0)
			wait = sleep(wait);
	}
}
