/* Restarts that drop no connection: under a service with FileDescriptorStoreMax=, ferry keeps
 * the listening sockets it bound itself in systemd's fd store, and at a graceful stop hands
 * its idle HTTP/1.1 keep-alive connections over too (FDSTORE=1); the next ferry gets them back
 * with LISTEN_FDS and serves them on (sd_notify(3), systemd.service(5)).
 *
 * Names (FDNAME=, at most 255 printable characters, no ':'):
 *   ferry-listen                  a listening socket ferry bound (not the socket unit's)
 *   ferry-conn-KKKKKKKK           an idle connection; K: the key of its listener (a hash of
 *                                 the listener's address), the peer from getpeername
 *   ferry-conn-KKKKKKKK-4-AAAAAAAA-PPPP, ferry-conn-KKKKKKKK-6-<32 hex>-PPPP
 *                                 the same with the client's address from a PROXY header
 * A stored connection is removed from the store once the next ferry has it (FDSTOREREMOVE=1):
 * systemd's copy would otherwise keep it open after ferry closes it. */
#ifndef FERRY_FDSTORE_H
#define FERRY_FDSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/server.h"
#include "net/addr.h"

#define FDSTORE_LISTEN_NAME "ferry-listen"
#define FDSTORE_CONN_PREFIX "ferry-conn-"
#define FDSTORE_NAME_MAX 255

/* A connection systemd passed back (LISTEN_FDNAMES ferry-conn-...). */
struct fdstore_conn {
	int fd;
	char name[FDSTORE_NAME_MAX + 1];
	size_t listener; /* index in srv->listeners; SIZE_MAX: none (closed) */
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

/* The key of a listener: FNV-1a of its address as net_addr_format writes it. */
uint32_t fdstore_listener_key(const struct net_addr *a);

/* The name of a connection from the listener with key; peer (NULL: none) is what a PROXY
 * header said (AF_INET or AF_INET6; other families are left out). Returns the length, or
 * -ENOBUFS when size is too small. Pure. */
int fdstore_conn_name(char *buf, size_t size, uint32_t key, const struct sockaddr *peer,
		      socklen_t peer_len);
/* The other way: 0 with *ret_key, and the peer in *ret_peer with *ret_peer_len (0: none);
 * -EINVAL for anything else. Pure; outputs written on success only. */
int fdstore_conn_name_parse(const char *name, uint32_t *ret_key, struct sockaddr_storage *ret_peer,
			    socklen_t *ret_peer_len);

/* Main thread, after listeners_setup: read $FDSTORE, give the store the listeners ferry bound,
 * take the stored connections out of it and match each to its listener (one that is gone, or
 * is no longer plain HTTP/1.1, closes the connection). Logs what it did. */
void fdstore_setup(struct server *srv);
/* Worker, before its loop runs: start its share of the connections taken back. */
void fdstore_resume(struct worker *wk);
/* Worker, graceful stop: hand fd (an idle connection accepted on l; the caller has removed
 * it from its epoll set) to the store. 0: the fd is the store's now (sent, then closed, by
 * fdstore_flush); -EOPNOTSUPP (no store) or -ENOSPC (FileDescriptorStoreMax= reached): the
 * fd is still the caller's, to close. */
int fdstore_conn_put(struct worker *wk, int fd, const struct listener *l,
		     const struct sockaddr *peer, socklen_t peer_len);
/* Worker: send what fdstore_conn_put collected (end of each loop iteration, and at exit). */
void fdstore_flush(struct worker *wk);
/* Main thread, once every worker has ended: wait until systemd has what was sent (BARRIER=1),
 * free what fdstore_setup kept. */
void fdstore_finish(struct server *srv);

#endif
