/* The integrated mode's child (acmeproc.h): an event loop of its own that runs a round of
 * the ACME client (acme/client.h: non-blocking, on this loop) over the config file read
 * anew each round (a reload's sites apply at the next one), then waits (a timer) until the next
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
#include "base/macro.h"
#include "config/config.h"
#include "core/log.h"
#include "core/server.h"
#include "event/loop.h"

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

struct rounds {
	struct loop loop;
	const char *config_path;
	unsigned retry; /* the next wait after a failure, 0 for the first one (acme-retry) */
	struct config *cfg;
	struct acme_options o;
	struct acme_client *client;
	struct timer timer; /* the next round */
};

static void round_start(struct loop *l, struct timer *t);

static void round_wait(struct rounds *rs, unsigned wait)
{
	timer_arm_at(&rs->loop, &rs->timer, rs->loop.now_ms + (uint64_t)wait * 1000);
}

/* A round is over: what it says in the log and up the pipe, and when the next one is. */
static void round_done(void *ctx, int r)
{
	struct rounds *rs = ctx;
	const struct config *cfg = rs->cfg;
	const struct acme_options *o = &rs->o;
	unsigned wait = ROUND_MAX_S;
	time_t now = time(NULL);
	if (r != 0) {
		if (!rs->retry)
			rs->retry = (unsigned)(cfg->acme_retry_ms / 1000);
		wait = rs->retry;
		rs->retry = rs->retry >= RETRY_MAX_S / 2 ? RETRY_MAX_S : rs->retry * 2;
	} else {
		rs->retry = 0;
		if (o->next_due > now && o->next_due - now < ROUND_MAX_S)
			wait = (unsigned)(o->next_due - now);
		wait += (unsigned)(random() % (wait / 10 + 1));
	}
	/* a certificate falling due before the retry: its time */
	if (r != 0 && o->next_due > now && (time_t)wait > o->next_due - now)
		wait = (unsigned)(o->next_due - now) + 1;
	if (r != 0)
		log_notice("acme: trying again in %u s", wait);
	round_status(o, r, wait);
	acme_client_free(rs->client);
	rs->client = NULL;
	config_free(rs->cfg);
	rs->cfg = NULL;
	round_wait(rs, wait);
}

static void round_start(struct loop *l, struct timer *t)
{
	struct rounds *rs = container_of(t, struct rounds, timer);
	struct buf errors;
	buf_init(&errors, 1 << 20);
	if (config_load(rs->config_path, &rs->cfg, &errors) < 0) {
		log_lines(LOG_ERR, "acme: ", errors.data, errors.len);
		buf_free(&errors);
		rs->cfg = NULL;
		round_wait(rs, ROUND_MAX_S); /* the server keeps its config: so do we */
		return;
	}
	buf_free(&errors);
	if (!rs->cfg->n_acme_sites || !rs->cfg->acme_integrated) {
		config_free(rs->cfg);
		rs->cfg = NULL;
		round_wait(rs, ROUND_MAX_S);
		return;
	}
	memset(&rs->o, 0, sizeof(rs->o));
	rs->o.log = acme_log;
	first_error[0] = '\0';
	acme_client_start(&rs->loop, rs->cfg, &rs->o, round_done, rs, &rs->client);
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
	static struct rounds rs;
	rs.config_path = config_path;
	rs.timer.cb = round_start;
	int r = loop_init(&rs.loop);
	if (r < 0) {
		status("acme: failing (no event loop: %s)", strerror(-r));
		_exit(1);
	}
	timer_arm_at(&rs.loop, &rs.timer, rs.loop.now_ms);
	r = loop_run(&rs.loop);
	log_error("acme: the ACME client's loop ended: %s", strerror(-r));
	_exit(1);
}
