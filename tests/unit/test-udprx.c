/* Tests for src/net/udprx.c on real sockets (127.0.0.1, a Unix socketpair): with UDP_GRO, a
 * train of datagrams sent with GSO (UDP_SEGMENT) comes as one message and splits back into
 * the same datagrams, in order, with their sender and the local address from IP_PKTINFO;
 * without it (the option not asked, or refused: a Unix socket) datagrams come one a message;
 * a datagram larger than a slot is dropped, not cut. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/udprx.h"
#include "test.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static int udp_socket(struct sockaddr_in *ret)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		abort();
	*ret = a;
	return fd;
}

/* len bytes, byte i being (i + tag) & 0xff, as GSO segments of seg bytes (0: one datagram). */
static void send_train(int fd, const struct sockaddr_in *to, size_t len, uint16_t seg, int tag)
{
	static uint8_t buf[65536];
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i + (size_t)tag);
	struct iovec iov = {buf, len};
	char ctl[CMSG_SPACE(sizeof(uint16_t))] = {0};
	struct msghdr m = {
	    .msg_name = (void *)to, .msg_namelen = sizeof(*to), .msg_iov = &iov, .msg_iovlen = 1};
	if (seg) {
		m.msg_control = ctl;
		m.msg_controllen = sizeof(ctl);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	}
	CHECK_EQ_INT(sendmsg(fd, &m, 0), (ssize_t)len);
}

/* Every datagram of a train of len bytes in seg-byte segments, checked against what
 * send_train sent; returns how many came. */
static unsigned walk_train(struct udprx *rx, size_t len, size_t seg, int tag,
			   const struct sockaddr_in *from, const struct sockaddr_in *local)
{
	struct udprx_dgram g;
	size_t off = 0;
	unsigned k = 0;
	while (udprx_next(rx, &g)) {
		size_t want = seg && len - off > seg ? seg : len - off;
		CHECK_EQ_INT(g.len, want);
		bool same = true;
		for (size_t i = 0; i < g.len && i + off < len; i++)
			same &= g.p[i] == (uint8_t)(off + i + (size_t)tag);
		CHECK(same);
		CHECK_EQ_INT(g.peer_len, sizeof(*from));
		CHECK(memcmp(g.peer, from, sizeof(*from)) == 0);
		CHECK_EQ_INT(g.local_len, sizeof(*local));
		const struct sockaddr_in *la = (const struct sockaddr_in *)g.local;
		CHECK(la->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		      la->sin_port == local->sin_port);
		off += g.len;
		k++;
	}
	CHECK_EQ_INT(off, len);
	return k;
}

int main(void)
{
	struct udprx rx;
	udprx_init(&rx);
	struct sockaddr_in ra, sa, wild;
	int r = udp_socket(&ra), s = udp_socket(&sa);
	int one = 1;
	CHECK(setsockopt(r, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) == 0);
	/* the socket as if bound to 0.0.0.0: the local address comes from IP_PKTINFO */
	wild = ra;
	wild.sin_addr.s_addr = htonl(INADDR_ANY);

	/* GRO: 5 segments of 1200 bytes and one of 300, one message */
	CHECK(udprx_gro_enable(r));
	send_train(s, &ra, 6300, 1200, 7);
	CHECK_EQ_INT(udprx_read(&rx, r, (struct sockaddr *)&wild, sizeof(wild), true), 1);
	CHECK_EQ_INT(walk_train(&rx, 6300, 1200, 7, &sa, &ra), 6);
	CHECK_EQ_INT(rx.coalesced, 1);
	/* a lone datagram on the GRO socket: no cmsg, one datagram */
	send_train(s, &ra, 900, 0, 3);
	CHECK_EQ_INT(udprx_read(&rx, r, (struct sockaddr *)&wild, sizeof(wild), true), 1);
	CHECK_EQ_INT(walk_train(&rx, 900, 0, 3, &sa, &ra), 1);
	CHECK_EQ_INT(rx.coalesced, 0);
	/* nothing waiting */
	CHECK_EQ_INT(udprx_read(&rx, r, (struct sockaddr *)&wild, sizeof(wild), true), 0);
	CHECK(!udprx_next(&rx, &(struct udprx_dgram){0}));

	/* no GRO asked: the kernel splits the train, a datagram a message */
	int r2 = udp_socket(&ra);
	CHECK(setsockopt(r2, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) == 0);
	send_train(s, &ra, 3000, 1000, 11);
	CHECK_EQ_INT(udprx_read(&rx, r2, (struct sockaddr *)&ra, sizeof(ra), false), 3);
	CHECK_EQ_INT(walk_train(&rx, 3000, 1000, 11, &sa, &ra), 3);
	CHECK_EQ_INT(rx.coalesced, 0);
	/* larger than a slot without GRO: dropped whole, the next one comes */
	send_train(s, &ra, UDPRX_SLOT + 1, 0, 1);
	send_train(s, &ra, 100, 0, 5);
	CHECK_EQ_INT(udprx_read(&rx, r2, (struct sockaddr *)&ra, sizeof(ra), false), 2);
	CHECK_EQ_INT(walk_train(&rx, 100, 0, 5, &sa, &ra), 1);

	/* UDP_GRO refused (a Unix datagram socket): false, and reading goes on without it */
	int u[2];
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, u) == 0);
	errno = 0;
	CHECK(!udprx_gro_enable(u[0]));
	CHECK(errno != 0);
	CHECK_EQ_INT(write(u[1], "abc", 3), 3);
	CHECK_EQ_INT(write(u[1], "defgh", 5), 5);
	struct sockaddr un = {.sa_family = AF_UNIX};
	CHECK_EQ_INT(udprx_read(&rx, u[0], &un, sizeof(un), false), 2);
	struct udprx_dgram g;
	CHECK(udprx_next(&rx, &g) && g.len == 3 && memcmp(g.p, "abc", 3) == 0);
	CHECK(udprx_next(&rx, &g) && g.len == 5 && memcmp(g.p, "defgh", 5) == 0);
	CHECK(!udprx_next(&rx, &g));
	/* an error of the socket is -errno */
	CHECK_EQ_INT(udprx_read(&rx, -1, &un, sizeof(un), false), -EBADF);
	CHECK(!udprx_next(&rx, &g));

	close(u[0]);
	close(u[1]);
	close(r);
	close(r2);
	close(s);
	udprx_free(&rx);
	udprx_free(NULL);
	TEST_MAIN_END();
}
