/* The ACME client (RFC 8555) of `ferry acme` and of `acme-mode integrated`: for every
 * `tls acme` site of a config, obtain a certificate when there is none and renew it when a
 * third of its lifetime is left (or when ARI says so), by http-01 or tls-alpn-01 challenges
 * that a running `ferry serve` answers from acme-dir (split mode: this command has the
 * network, the server may have none). Non-blocking: one run is a state machine on an event
 * loop (event/loop.h), its requests through acme/fetch.h. */
#ifndef FERRY_ACME_CLIENT_H
#define FERRY_ACME_CLIENT_H

#include <stdbool.h>
#include <time.h>

#include "config/config.h"

/* One line for the log: error or not, without a trailing newline. */
typedef void acme_log_fn(bool error, const char *line);

struct acme_options {
	bool force; /* renew every site, due or not */
	acme_log_fn *log;
	/* out: when the next certificate falls due (0: none known, e.g. all failed) */
	time_t next_due;
	/* out: the sites with a certificate that is not due (renewed or not), those that need
	 * one and did not get it, and the first of these (its first name, from the config) */
	size_t n_ok, n_failed;
	const char *first_failed;
};

struct loop;
struct acme_client;

/* The end of a run: the number of sites that failed (0: every site has a certificate that
 * is not due), or -errno when nothing could be tried (acme-dir, the account, the CA's
 * directory); o's out members are written. */
typedef void acme_done_fn(void *ctx, int r);

/* Start one run on l (it begins once l runs); done(ctx, r) comes from l when it is over,
 * and may free the client. cfg and o must outlive the run. 0. */
int acme_client_start(struct loop *l, const struct config *cfg, struct acme_options *o,
		      acme_done_fn *done, void *ctx, struct acme_client **ret);
/* Once done was called (or before l ran again after the start). NULL is fine. */
void acme_client_free(struct acme_client *c);

/* One run on a loop of its own (`ferry acme`): what done would get. */
int acme_client_run(const struct config *cfg, struct acme_options *o);

/* Is a certificate valid from start to end due for renewal at now (a third of its lifetime
 * or less left)? */
bool acme_renewal_due(time_t start, time_t end, time_t now);

#endif
