/* Tests for src/proto/h3dispatch.c: the worker a connection ID names and the marking of new
 * ones; the verdict for short and long headers of this worker's and another's, a version
 * ferry does not speak, a client's Version Negotiation packet, empty and truncated datagrams;
 * the size of a stateless reset at its bounds; the Retry token's magic. */
#include <errno.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <stdint.h>
#include <string.h>

#include "proto/h3dispatch.h"
#include "test.h"

/* A short-header packet of len bytes for the ID of worker w. */
static size_t short_pkt(uint8_t *p, size_t len, unsigned w)
{
	memset(p, 0x5a, len);
	p[0] = 0x41;
	h3dispatch_mark(p + 1, H3DISPATCH_CID_LEN, w);
	return len;
}

/* A long header (an Initial's first byte) of version v with these IDs, padded to 1200. */
static size_t long_pkt(uint8_t *p, uint32_t v, const uint8_t *dcid, size_t dl, size_t sl)
{
	size_t n = 0;
	memset(p, 0, 1200);
	p[n++] = 0xc3;
	p[n++] = (uint8_t)(v >> 24);
	p[n++] = (uint8_t)(v >> 16);
	p[n++] = (uint8_t)(v >> 8);
	p[n++] = (uint8_t)v;
	p[n++] = (uint8_t)dl;
	memcpy(p + n, dcid, dl);
	n += dl;
	p[n++] = (uint8_t)sl;
	memset(p + n, 0x33, sl);
	return 1200;
}

int main(void)
{
	uint8_t cid[H3DISPATCH_CID_LEN] = {0};
	for (unsigned w = 0; w < 300; w += 7) {
		h3dispatch_mark(cid, sizeof(cid), w);
		CHECK_EQ_INT(h3dispatch_worker(cid, sizeof(cid), 300), w);
		CHECK_EQ_INT(h3dispatch_worker(cid, sizeof(cid), 1), 0);
	}
	CHECK_EQ_INT(h3dispatch_worker(cid, 1, 4), 0); /* too short to name one: worker 0 */
	uint8_t c2[2] = {0x05, 0x01};		       /* 261 */
	CHECK_EQ_INT(h3dispatch_worker(c2, 2, 4), 261 % 4);

	uint8_t p[1500];
	struct h3dispatch d;
	/* short header: the owner's own, another worker's */
	size_t n = short_pkt(p, 100, 2);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 2, 4, &d), H3DISPATCH_SHORT);
	CHECK_EQ_INT(d.owner, 2);
	CHECK(d.dcid == p + 1 && d.dcidlen == H3DISPATCH_CID_LEN);
	CHECK_EQ_INT(d.reset_len, H3DISPATCH_RESET_MAX);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 1, 4, &d), H3DISPATCH_HANDOVER);
	CHECK_EQ_INT(d.owner, 2);
	CHECK_EQ_INT(d.reset_len, 0);
	/* one worker: whatever the ID says, its own */
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 1, &d), H3DISPATCH_SHORT);
	/* the stateless reset's size: none below 23 bytes, then the datagram's less 18, at most
	 * 64 (RFC 9000 §10.3: smaller than what it answers) */
	n = short_pkt(p, 22, 0);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 1, &d), H3DISPATCH_SHORT);
	CHECK_EQ_INT(d.reset_len, 0);
	n = short_pkt(p, 23, 0);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 1, &d), H3DISPATCH_SHORT);
	CHECK_EQ_INT(d.reset_len, NGTCP2_MIN_STATELESS_RESET_RANDLEN);
	n = short_pkt(p, 60, 0);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 1, &d), H3DISPATCH_SHORT);
	CHECK_EQ_INT(d.reset_len, 42);
	/* shorter than ferry's ID, empty: dropped */
	CHECK_EQ_INT(h3dispatch_classify(p, 10, 0, 1, &d), -EBADMSG);
	CHECK_EQ_INT(h3dispatch_classify(p, 0, 0, 1, &d), -EBADMSG);

	/* long header, version 1: the client's ID picks the worker */
	uint8_t dcid[8] = {3, 0, 9, 9, 9, 9, 9, 9};
	n = long_pkt(p, NGTCP2_PROTO_VER_V1, dcid, sizeof(dcid), 8);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 3, 4, &d), H3DISPATCH_LONG);
	CHECK(d.dcid == p + 6 && d.dcidlen == 8 && d.scidlen == 8);
	CHECK_EQ_INT(d.version, NGTCP2_PROTO_VER_V1);
	CHECK_EQ_INT(d.reset_len, 0);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 4, &d), H3DISPATCH_HANDOVER);
	CHECK_EQ_INT(d.owner, 3);
	/* a version ferry does not speak: version negotiation by whichever worker reads it */
	n = long_pkt(p, 0x1a2a3a4a, dcid, sizeof(dcid), 8);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 0, 4, &d), H3DISPATCH_VN);
	CHECK_EQ_INT(d.version, 0x1a2a3a4a);
	/* a Version Negotiation packet (version 0) is a server's: dropped */
	n = long_pkt(p, 0, dcid, sizeof(dcid), 8);
	CHECK_EQ_INT(h3dispatch_classify(p, n, 3, 4, &d), -EBADMSG);
	/* a long header cut inside its IDs */
	n = long_pkt(p, NGTCP2_PROTO_VER_V1, dcid, sizeof(dcid), 8);
	CHECK_EQ_INT(h3dispatch_classify(p, 10, 3, 4, &d), -EBADMSG);

	uint8_t tok[3] = {NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2, 1, 2};
	CHECK(h3dispatch_retry_token(tok, sizeof(tok)));
	CHECK(!h3dispatch_retry_token(tok, 0));
	tok[0] = NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR;
	CHECK(!h3dispatch_retry_token(tok, sizeof(tok)));
	TEST_MAIN_END();
}
