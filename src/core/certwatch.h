/* Certificates renewed in place: the main thread polls the `tls` and `upstream-ca` files of
 * the running configuration and asks for a reload (as SIGHUP does) once a change has
 * settled. */
#ifndef FERRY_CORE_CERTWATCH_H
#define FERRY_CORE_CERTWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

#define CERTWATCH_POLL_MS 2000

struct certwatch {
	uint64_t loaded;  /* the files' signature when cfg's certificates were loaded */
	uint64_t seen;    /* at the last poll */
	bool settling;    /* changed at the last poll: reload when the next one sees no change */
	uint64_t next_ms; /* the next poll (0: cfg has no certificates) */
};

/* cfg's certificates were just loaded (startup, or a reload, successful or not). */
void certwatch_reset(struct certwatch *w, const struct config *cfg, uint64_t now_ms);

/* Poll when due: true when the files changed and then stayed the same for a poll (a renewal
 * writes the certificate and the key one after the other), and a reload should load them. */
bool certwatch_poll(struct certwatch *w, const struct config *cfg, uint64_t now_ms);

#endif
