/* Certificates renewed in place: the main thread watches the `tls` and `upstream-ca` files of
 * the running configuration and asks for a reload (as SIGHUP does) once a change has
 * settled. inotify on their directories (core/confwatch.h) brings a change at once; a stat(2)
 * of every file every CERTWATCH_POLL_MS is the fallback (a directory that does not exist yet,
 * too many files, a file system without inotify events such as a network one). */
#ifndef FERRY_CORE_CERTWATCH_H
#define FERRY_CORE_CERTWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/confwatch.h"

#define CERTWATCH_POLL_MS 2000
#define CERTWATCH_SETTLE_MS 150 /* after an inotify event: no further change this long */

struct certwatch {
	uint64_t loaded;  /* the files' signature when cfg's certificates were loaded */
	uint64_t seen;    /* at the last poll */
	bool settling;    /* changed at the last poll: reload when the next one sees no change */
	uint64_t next_ms; /* the next poll (0: cfg has no certificates) */
	struct confwatch cw; /* cw.fd: for poll(2), -1 when inotify is not used */
};

/* Before the first reset. */
void certwatch_init(struct certwatch *w);

/* cfg's certificates were just loaded (startup, or a reload, successful or not). */
void certwatch_reset(struct certwatch *w, const struct config *cfg, uint64_t now_ms);

/* w->cw.fd is readable: a change to a watched name brings the next poll to
 * CERTWATCH_SETTLE_MS from now. */
void certwatch_event(struct certwatch *w, uint64_t now_ms);

void certwatch_close(struct certwatch *w);

/* Poll when due: true when the files changed and then stayed the same for a poll (a renewal
 * writes the certificate and the key one after the other), and a reload should load them. */
bool certwatch_poll(struct certwatch *w, const struct config *cfg, uint64_t now_ms);

#endif
