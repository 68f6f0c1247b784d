/* Reading a UDP socket in batches: recvmmsg(2), and with UDP_GRO (udp(7): the kernel hands
 * over a train of same-sized datagrams from one sender as one buffer, with a cmsg giving their
 * size) the buffers split back into datagrams; each with its sender and the local address it
 * came to (IP_PKTINFO/IPV6_PKTINFO, for a socket bound to a wildcard). No state beyond the
 * batch being walked; the socket's options are the caller's to set (udprx_gro_enable, and
 * the PKTINFO ones). */
#ifndef FERRY_NET_UDPRX_H
#define FERRY_NET_UDPRX_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDPRX_SLOTS 32	  /* messages per recvmmsg without GRO: a datagram each */
#define UDPRX_SLOT 2048	  /* ... of at most this many bytes (larger ones are dropped) */
#define UDPRX_GRO_SLOTS 8 /* with GRO: a message may hold up to 64 KiB of datagrams */
#define UDPRX_GRO_SLOT 65536
#define UDPRX_BUF (UDPRX_GRO_SLOTS * UDPRX_GRO_SLOT)

struct udprx {
	uint8_t *buf; /* UDPRX_BUF bytes, owned */
	struct mmsghdr m[UDPRX_SLOTS];
	struct iovec iov[UDPRX_SLOTS];
	struct sockaddr_storage from[UDPRX_SLOTS];
	char ctl[UDPRX_SLOTS]
		[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + 64];
	/* the batch being walked */
	int n, i;    /* messages read; the one at hand */
	size_t slot; /* bytes per message slot in this batch */
	size_t off;  /* the offset of the next datagram in message i */
	size_t seg;  /* message i's datagram size (GRO), or its whole length */
	struct sockaddr_storage bound, local; /* the socket's address; message i's local one */
	socklen_t bound_len, local_len;
	unsigned coalesced; /* messages of this batch that held several datagrams */
};

struct udprx_dgram {
	const uint8_t *p;
	size_t len;
	const struct sockaddr *peer;
	socklen_t peer_len;
	const struct sockaddr *local;
	socklen_t local_len;
};

/* Asks for UDP_GRO on fd: true when the kernel takes it (else datagrams come one by one). */
bool udprx_gro_enable(int fd);

void udprx_init(struct udprx *rx);
void udprx_free(struct udprx *rx);

/* One recvmmsg on fd (non-blocking), bound being its own address: the messages read (0: none
 * waiting), or -errno. gro: the socket has UDP_GRO (bigger, fewer slots). Then udprx_next
 * walks them. The batch was full, and more may wait, when the count is udprx_slots(gro). */
int udprx_read(struct udprx *rx, int fd, const struct sockaddr *bound, socklen_t bound_len,
	       bool gro);
int udprx_slots(bool gro);

/* The next datagram of the batch (pointers into rx, valid until the next udprx_read): false
 * when every one was walked. Truncated messages and empty ones are skipped. */
bool udprx_next(struct udprx *rx, struct udprx_dgram *ret);

#endif
