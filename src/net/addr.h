/* Socket addresses as ferry's config and CLI write them, and as the kernel reports them.
 *
 *   HOST:PORT       TCP; HOST is an IPv4 literal, "localhost" (127.0.0.1) or "*" (any)
 *   [V6]:PORT       TCP over IPv6
 *   :PORT / PORT    TCP on every address
 *   unix:/path      Unix stream socket; unix:@name for the abstract namespace
 *   unixgram:/path  Unix datagram socket (echo only)
 *   vsock:CID:PORT  vsock stream (CID -1 or 4294967295 = any)
 *   udp:HOST:PORT   UDP (echo only); also udp:[V6]:PORT
 * Only numeric addresses: static binaries cannot use NSS, and listeners need no DNS.
 * Ports are 1..65535 in decimal without leading zeros. "*:P", ":P", "P" and "[::]:P" all mean
 * the IPv6 any address, which net_listen() always makes dual-stack (IPV6_V6ONLY=0), so they
 * format as "[::]:P". IPv6 zones ("%eth0") are refused. Unix paths must be absolute and at
 * most 107 bytes; abstract names 1..107 bytes; neither may hold control characters. */
#ifndef FERRY_NET_ADDR_H
#define FERRY_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct net_addr {
	int family; /* AF_INET, AF_INET6, AF_UNIX, AF_VSOCK */
	int type;   /* SOCK_STREAM or SOCK_DGRAM */
	socklen_t len;
	struct sockaddr_storage sa;
};

#define NET_ADDR_STRLEN 160 /* enough for any formatted address, NUL included */

/* 0 on success, -EINVAL when s is not an address of the forms above. Pure; *ret is fully
 * written (padding zeroed), so two parses of one string compare equal with memcmp. */
int net_addr_parse(const char *s, struct net_addr *ret);

/* Format like the forms above ("127.0.0.1:8080", "[::1]:8080", "unix:/run/x.sock",
 * "unix:@name", "vsock:4294967295:3000", "udp:127.0.0.1:53"). Returns buf. parse(format(a))
 * gives a back for every parsed a. Kernel-reported oddities format without round trip:
 * an unnamed unix socket as "unix:(unnamed)", NUL bytes inside an abstract name as '@'. */
char *net_addr_format(const struct net_addr *a, char *buf, size_t size);

/* Same family, type and socket address (for matching a `listen ADDR` to an inherited fd;
 * unix paths compared as strings). */
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);

/* Just the host part for logs: "127.0.0.1", "::1" (no brackets), "unix" for any AF_UNIX peer,
 * "vsock:CID". IPv4-mapped IPv6 (::ffff:1.2.3.4) is shown as "1.2.3.4". "?" when unknown. */
char *net_addr_host(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Describe an open socket: family, type, whether it listens, local address. 0 or -errno
 * (-ENOTSOCK for something that is not a socket). */
int net_sock_info(int fd, struct net_addr *ret_local, bool *ret_listening);

/* Create a listening (stream) or bound (datagram) socket for a, non-blocking and CLOEXEC,
 * with SO_REUSEADDR for TCP (not UDP) and IPV6_V6ONLY=0 for the IPv6 any address. For a unix
 * path, a stale socket file is unlinked first (only if it is a socket). Returns the fd or
 * -errno. */
int net_listen(const struct net_addr *a, int backlog);

#endif
