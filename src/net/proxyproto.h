/* The PROXY protocol (haproxy's doc/proxy-protocol.txt), versions 1 (one text line) and 2
 * (binary): the header a proxy sends first on a connection to tell the server who the
 * client is. Pure: the encoder writes into a caller's array, the decoder reads (buf, len)
 * as bytes arrive.
 *
 * Only accept it from peers that are configured to send it: anyone who can write the
 * header can claim any address, and the spec forbids guessing whether it is present. */
#ifndef FERRY_NET_PROXYPROTO_H
#define FERRY_NET_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PROXYPROTO_V1_MAX 107 /* longest v1 line, CRLF included */
#define PROXYPROTO_V2_MIN 16  /* signature, version/command, family, length */
#define PROXYPROTO_ENCODE_MAX 108 /* room enough for anything proxyproto_encode() writes */

/* Encode the header for a connection from src (the client) to dst (the address it
 * reached), version 1 or 2, into buf. Both IPv4, or both IPv4-mapped IPv6: TCP4 / v2 INET.
 * Both IP otherwise: TCP6 / v2 INET6, IPv4 mapped into IPv6. Anything else (a Unix socket,
 * NULL): "PROXY UNKNOWN\r\n" / v2 LOCAL, which tells the receiver to use the connection's
 * own addresses. v2 headers carry no TLV. Returns the length written, -EINVAL for another
 * version, or -ENOBUFS when size is too small (PROXYPROTO_ENCODE_MAX always suffices). */
ssize_t proxyproto_encode(int version, const struct sockaddr *src, socklen_t src_len,
			  const struct sockaddr *dst, socklen_t dst_len, void *buf, size_t size);

struct proxyproto_result {
	int version; /* 1 or 2 */
	/* false: use the connection's own addresses (v1 UNKNOWN; v2 LOCAL; v2 UNSPEC, UDP or
	 * AF_UNIX, which the spec lets a receiver treat as UNSPEC). true: src and dst hold
	 * the client's and the proxy's AF_INET or AF_INET6 addresses with ports. */
	bool proxied;
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len;
};

/* Decode the header at the start of (buf, len). Returns:
 *   > 0  its length, the header is valid and *ret filled in (the application's bytes
 *        follow it);
 *   0    incomplete, call again with more: every byte so far is a valid prefix;
 *   < 0  -EBADMSG when the bytes are no valid header (the connection must be closed; the
 *        spec forbids falling back to reading them as the application protocol), or
 *        -EMSGSIZE for a v2 header longer than max bytes (the caller's buffer limit; v2
 *        allows up to 16 + 65535; a v1 line is at most 107 bytes whatever max says, so a
 *        buffer needs at least PROXYPROTO_V1_MAX).
 * Version 1: "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF, exactly
 * one space each, IPv4 dotted quads without leading zeros or IPv6 in the family the line
 * names, ports 0..65535 without leading zeros; or "PROXY UNKNOWN" and anything up to the
 * CRLF. The CRLF must come within 107 bytes; a bare CR or LF is refused.
 * Version 2: the 12-byte signature, version 2, command LOCAL or PROXY, for PROXY one of the
 * seven family/protocol pairs the spec lists, an address block as long as the family needs,
 * then TLVs that must exactly fill the rest (they are skipped, except that a CRC32C TLV,
 * when present, must match). */
ssize_t proxyproto_decode(const void *buf, size_t len, size_t max, struct proxyproto_result *ret);

#endif
