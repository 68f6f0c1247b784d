/* Batched reads of a UDP socket, with GRO's trains split back into datagrams (udprx.h). */
#include "net/udprx.h"

#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/xalloc.h"

#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h: since Linux 5.0 */
#endif

bool udprx_gro_enable(int fd)
{
	int one = 1;
	return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
}

void udprx_init(struct udprx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->buf = xmalloc(UDPRX_BUF);
}

void udprx_free(struct udprx *rx)
{
	if (!rx)
		return;
	free(rx->buf);
	rx->buf = NULL;
}

int udprx_slots(bool gro)
{
	return gro ? UDPRX_GRO_SLOTS : UDPRX_SLOTS;
}

int udprx_read(struct udprx *rx, int fd, const struct sockaddr *bound, socklen_t bound_len,
	       bool gro)
{
	int slots = udprx_slots(gro);
	rx->slot = gro ? UDPRX_GRO_SLOT : UDPRX_SLOT;
	for (int i = 0; i < slots; i++) {
		rx->iov[i] = (struct iovec){rx->buf + (size_t)i * rx->slot, rx->slot};
		rx->m[i].msg_hdr = (struct msghdr){.msg_name = &rx->from[i],
						   .msg_namelen = sizeof(rx->from[i]),
						   .msg_iov = &rx->iov[i],
						   .msg_iovlen = 1,
						   .msg_control = rx->ctl[i],
						   .msg_controllen = sizeof(rx->ctl[i])};
		rx->m[i].msg_len = 0;
	}
	rx->n = rx->i = 0;
	rx->off = 0;
	rx->seg = 0;
	rx->coalesced = 0;
	rx->bound_len = MIN(bound_len, (socklen_t)sizeof(rx->bound));
	memcpy(&rx->bound, bound, rx->bound_len);
	int n;
	do
		n = recvmmsg(fd, rx->m, (unsigned)slots, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	rx->n = n;
	rx->i = -1; /* udprx_next starts at message 0 */
	return n;
}

/* Message i's datagram size and local address, from its cmsgs. */
static void take_message(struct udprx *rx)
{
	struct msghdr *mh = &rx->m[rx->i].msg_hdr;
	size_t len = rx->m[rx->i].msg_len;
	rx->off = 0;
	rx->seg = len;
	memcpy(&rx->local, &rx->bound, rx->bound_len);
	rx->local_len = rx->bound_len;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
			int seg;
			memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
			if (seg > 0 && (size_t)seg < len) {
				rx->seg = (size_t)seg;
				rx->coalesced++;
			}
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
			   rx->local.ss_family == AF_INET6) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			((struct sockaddr_in6 *)&rx->local)->sin6_addr = pi.ipi6_addr;
		} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			if (rx->local.ss_family == AF_INET) {
				((struct sockaddr_in *)&rx->local)->sin_addr = pi.ipi_addr;
			} else if (rx->local.ss_family == AF_INET6) {
				/* IPv4 on a dual-stack socket: v4-mapped */
				struct in6_addr *a6 =
				    &((struct sockaddr_in6 *)&rx->local)->sin6_addr;
				memset(a6, 0, 10);
				memset(a6->s6_addr + 10, 0xff, 2);
				memcpy(a6->s6_addr + 12, &pi.ipi_addr, 4);
			}
		}
	}
}

bool udprx_next(struct udprx *rx, struct udprx_dgram *ret)
{
	for (;;) {
		if (rx->i >= 0 && rx->i < rx->n && rx->off < rx->m[rx->i].msg_len)
			break;
		if (rx->i + 1 >= rx->n) {
			rx->i = rx->n;
			return false;
		}
		rx->i++;
		if (rx->m[rx->i].msg_hdr.msg_flags & MSG_TRUNC) {
			/* too large for a slot: dropped whole (QUIC resends) */
			rx->off = rx->m[rx->i].msg_len;
			continue;
		}
		take_message(rx);
	}
	struct msghdr *mh = &rx->m[rx->i].msg_hdr;
	size_t len = rx->m[rx->i].msg_len;
	size_t n = MIN(rx->seg, len - rx->off);
	*ret = (struct udprx_dgram){
	    .p = rx->buf + (size_t)rx->i * rx->slot + rx->off,
	    .len = n,
	    .peer = (const struct sockaddr *)&rx->from[rx->i],
	    .peer_len = mh->msg_namelen,
	    .local = (const struct sockaddr *)&rx->local,
	    .local_len = rx->local_len,
	};
	rx->off += n;
	return true;
}
