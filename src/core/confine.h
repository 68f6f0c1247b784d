/* Applying the sandbox (sandbox/sandbox.h) that the configuration calls for: see confine.c. */
#ifndef FERRY_CONFINE_H
#define FERRY_CONFINE_H

#include "core/server.h"

/* From the main thread, after the sockets are adopted and the roots and logs are open, before
 * server_run() starts any thread. Logs what was applied (one line) or why it failed. Returns 0,
 * or -EPERM when the process could not be confined as configured (then exit). */
int confine_apply(struct server *srv);

#endif
