/* Choosing the sockets to serve: inherited (LISTEN_FDS, by name or by address), a single
 * connection (Accept=yes, inetd), or bound by ferry (--listen, unmatched `listen ADDR`). */
#ifndef FERRY_LISTENERS_H
#define FERRY_LISTENERS_H

#include <stddef.h>

#include "base/buf.h"
#include "core/server.h"

/* Fill srv->listeners (or srv->single_fd) from the environment, srv->cfg and the --listen
 * addresses in cli. On failure returns -errno and appends every problem to err. */
int listeners_setup(struct server *srv, char **cli, size_t n_cli, struct buf *err);

#endif
