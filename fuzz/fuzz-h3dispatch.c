/* libFuzzer target for the dispatch of QUIC datagrams (proto/h3dispatch.c): the input's
 * first two bytes choose the number of workers (1 to 64) and the worker reading it, the rest
 * is the datagram. The verdict must be a known one; the owner below the number of workers and
 * the reader's own unless handed over; the connection IDs inside the datagram, at most 20
 * bytes (a short header's ferry's 18); a stateless reset only for a short header, smaller
 * than it; the same datagram read by its owner must get the same IDs and not be handed over
 * again. A long header for this worker goes on to ngtcp2_accept and the Retry-token check,
 * as h3.c does with one of no connection. Built with clang -fsanitize=fuzzer, and with gcc
 * against fuzz/replay.c. */
#include <errno.h>
#include <ngtcp2/ngtcp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/h3dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
	if (!ok)
		abort();
}

static bool inside(const uint8_t *p, size_t len, const uint8_t *q, size_t qlen)
{
	return qlen == 0 || (q >= p && q + qlen <= p + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned workers = data[0] % 64 + 1;
	unsigned self = data[1] % workers;
	size_t len = size - 2;
	/* a copy of its own size, so that ASan sees any read past the datagram */
	uint8_t *p = malloc(len ? len : 1);
	require(p != NULL);
	memcpy(p, data + 2, len);

	struct h3dispatch d;
	int r = h3dispatch_classify(p, len, self, workers, &d);
	if (r < 0) {
		require(r == -EBADMSG);
		free(p);
		return 0;
	}
	require(r == (int)d.verdict);
	require(d.verdict == H3DISPATCH_VN || d.verdict == H3DISPATCH_HANDOVER ||
		d.verdict == H3DISPATCH_SHORT || d.verdict == H3DISPATCH_LONG);
	require(d.owner < workers);
	require(d.owner == h3dispatch_worker(d.dcid, d.dcidlen, workers));
	require((d.verdict == H3DISPATCH_HANDOVER) ==
		(d.verdict != H3DISPATCH_VN && d.owner != self));
	require(inside(p, len, d.dcid, d.dcidlen) && inside(p, len, d.scid, d.scidlen));
	require(d.dcidlen <= NGTCP2_MAX_CIDLEN || d.verdict == H3DISPATCH_VN);
	require(d.scidlen <= NGTCP2_MAX_CIDLEN || d.verdict == H3DISPATCH_VN);
	if (d.verdict == H3DISPATCH_SHORT) {
		require(!(p[0] & 0x80));
		require(d.dcidlen == H3DISPATCH_CID_LEN);
	} else if (d.verdict == H3DISPATCH_LONG) {
		require(p[0] & 0x80);
	}
	if (d.verdict != H3DISPATCH_SHORT)
		require(d.reset_len == 0);
	if (d.reset_len) {
		require(d.reset_len >= NGTCP2_MIN_STATELESS_RESET_RANDLEN);
		require(d.reset_len <= H3DISPATCH_RESET_MAX);
		require(d.reset_len + NGTCP2_STATELESS_RESET_TOKENLEN < len);
	}

	/* handed over: the owner reads it as its own */
	if (d.verdict == H3DISPATCH_HANDOVER) {
		struct h3dispatch o;
		require(h3dispatch_classify(p, len, d.owner, workers, &o) == (int)o.verdict);
		require(o.verdict == H3DISPATCH_SHORT || o.verdict == H3DISPATCH_LONG);
		require(o.owner == d.owner && o.dcid == d.dcid && o.dcidlen == d.dcidlen);
	}

	/* a long header of no connection: a client's Initial opens one (or gets a Retry) */
	if (d.verdict == H3DISPATCH_LONG) {
		ngtcp2_pkt_hd hd;
		if (ngtcp2_accept(&hd, p, len) == 0) {
			require(inside(p, len, hd.token, hd.tokenlen));
			bool retry = h3dispatch_retry_token(hd.token, hd.tokenlen);
			require(!retry || hd.tokenlen > 0);
		}
	}

	/* an ID marked for a worker is that worker's */
	uint8_t cid[H3DISPATCH_CID_LEN];
	memcpy(cid, data, size < sizeof(cid) ? size : sizeof(cid));
	if (size < sizeof(cid))
		memset(cid + size, 0xa5, sizeof(cid) - size);
	h3dispatch_mark(cid, sizeof(cid), self);
	require(h3dispatch_worker(cid, sizeof(cid), workers) == self);
	free(p);
	return 0;
}
