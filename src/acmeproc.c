/* The integrated mode's child (acmeproc.h): a loop of acme_client_run() over the config file
 * read anew each round (a reload's sites apply at the next one), sleeping until the next
 * certificate falls due (at most 12 h, with up to 10% of jitter), or after a failure 1 min,
 * doubling up to 6 h. It dies with the server (PR_SET_PDEATHSIG); the server's signal loop
 * reaps it. New certificates reach the server through acme-dir, as in split mode. */
#include "acmeproc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
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
#define RETRY_MIN_S 60
#define RETRY_MAX_S (6 * 3600)

static void acme_log(bool error, const char *line)
{
	if (error)
		log_error("%s", line);
	else
		log_info("%s", line);
}

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
		int r = acme_client_run(cfg, &o);
		time_t now = time(NULL);
		if (r != 0) {
			wait = *retry;
			*retry = *retry >= RETRY_MAX_S / 2 ? RETRY_MAX_S : *retry * 2;
			log_notice("acme: trying again in %u s", wait);
		} else {
			*retry = RETRY_MIN_S;
			if (o.next_due > now && o.next_due - now < ROUND_MAX_S)
				wait = (unsigned)(o.next_due - now);
			wait += (unsigned)(random() % (wait / 10 + 1));
		}
		/* a certificate falling due before the retry: its time */
		if (r != 0 && o.next_due > now && (time_t)wait > o.next_due - now)
			wait = (unsigned)(o.next_due - now) + 1;
	}
	config_free(cfg);
	return wait;
}

int acmeproc_start(struct server *srv, const char *config_path)
{
	const struct config *cfg = server_gen(srv)->cfg;
	if (!config_path || !cfg->n_acme_sites || !cfg->acme_integrated)
		return 0;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		log_info("acme: integrated mode: the ACME client runs in process %ld",
			 (long)pid);
		return 0;
	}
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
	unsigned retry = RETRY_MIN_S;
	for (;;) {
		unsigned wait = one_round(config_path, &retry);
		while (wait > 0)
			wait = sleep(wait);
	}
}
