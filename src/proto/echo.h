/* `ferry echo`: stream connections get every byte back until EOF; datagrams go back to their
 * sender. Bounded: one 64 KiB buffer per stream connection, and a peer that does not read
 * its echo stops being read from (backpressure). */
#ifndef FERRY_PROTO_ECHO_H
#define FERRY_PROTO_ECHO_H

#include <sys/socket.h>

struct worker;
struct listener;

/* server_app hooks (main.c wires them for `ferry echo`). */
void echo_conn_start(struct worker *wk, int fd, const struct sockaddr *peer, socklen_t peer_len,
		     const struct listener *l);
/* Answer the datagrams waiting on l (a bounded batch per call). */
void echo_datagrams(struct worker *wk, const struct listener *l);

#endif
