/* What ferry itself reads of a QUIC datagram before ngtcp2 has it: which worker's connection
 * it is for (the first two bytes of the connection IDs ferry makes are their worker's index),
 * and what to do with it when it is this worker's. Pure: no I/O, no allocation, no state, so
 * that fuzz/fuzz-h3dispatch.c drives it (ngtcp2 decodes the header's version and IDs).
 *
 *   verdict    the datagram is                          h3.c then
 *   DROP       no QUIC header ngtcp2 can decode, or a    ignores it
 *              Version Negotiation packet (version 0)
 *   VN         a long header of a version not spoken     sends Version Negotiation
 *   HANDOVER   for another worker's connection ID        puts it in that worker's inbox
 *   SHORT      a short header for this worker            its connection's; or stateless reset
 *   LONG       a long header for this worker             its connection's; or a new one
 *                                                        (an Initial: accept or Retry) */
#ifndef FERRY_PROTO_H3DISPATCH_H
#define FERRY_PROTO_H3DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H3DISPATCH_CID_LEN 18	/* the connection IDs ferry makes */
#define H3DISPATCH_RESET_MAX 64 /* random bytes of a stateless reset, at most */

enum h3dispatch_verdict {
	H3DISPATCH_VN,
	H3DISPATCH_HANDOVER,
	H3DISPATCH_SHORT,
	H3DISPATCH_LONG,
};

struct h3dispatch {
	enum h3dispatch_verdict verdict;
	unsigned owner; /* the worker the destination connection ID names (< workers) */
	uint32_t version;
	const uint8_t *dcid, *scid; /* into the datagram */
	size_t dcidlen, scidlen;
	/* SHORT: the random bytes of a stateless reset answering it, smaller than the datagram
	 * so that two endpoints cannot loop (RFC 9000 §10.3); 0: too short for one */
	size_t reset_len;
};

/* The worker (< workers) a connection ID is for: its first two bytes, little-endian. */
unsigned h3dispatch_worker(const uint8_t *cid, size_t len, unsigned workers);

/* Marks a new connection ID of len >= 2 bytes as worker's. */
void h3dispatch_mark(uint8_t *cid, size_t len, unsigned worker);

/* The datagram p[0..len) as read by worker self of workers (>= 1). Returns the verdict (and
 * fills *ret), or -EBADMSG: nothing ngtcp2 can decode (drop it). */
int h3dispatch_classify(const uint8_t *p, size_t len, unsigned self, unsigned workers,
			struct h3dispatch *ret);

/* An Initial's token is one of ferry's Retry tokens (its magic byte; the token's MAC and age
 * are ngtcp2_crypto's to check). */
bool h3dispatch_retry_token(const uint8_t *token, size_t len);

#endif
