/* The dispatch of QUIC datagrams between workers and to what answers them (h3dispatch.h):
 * the part of a datagram ferry reads itself, before ngtcp2. */
#include "proto/h3dispatch.h"

#include <errno.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "base/macro.h"

unsigned h3dispatch_worker(const uint8_t *cid, size_t len, unsigned workers)
{
	if (len < 2 || workers < 2)
		return 0;
	return ((unsigned)cid[0] | (unsigned)cid[1] << 8) % workers;
}

void h3dispatch_mark(uint8_t *cid, size_t len, unsigned worker)
{
	if (len < 2)
		return;
	cid[0] = (uint8_t)(worker & 0xff);
	cid[1] = (uint8_t)(worker >> 8 & 0xff);
}

int h3dispatch_classify(const uint8_t *p, size_t len, unsigned self, unsigned workers,
			struct h3dispatch *ret)
{
	if (len == 0)
		return -EBADMSG; /* ngtcp2 asserts on that */
	ngtcp2_version_cid vc;
	int r = ngtcp2_pkt_decode_version_cid(&vc, p, len, H3DISPATCH_CID_LEN);
	if (r != 0 && r != NGTCP2_ERR_VERSION_NEGOTIATION)
		return -EBADMSG;
	if ((p[0] & 0x80) && vc.version == 0)
		return -EBADMSG; /* Version Negotiation is a server's: a client's is noise */
	struct h3dispatch d = {
	    .version = vc.version,
	    .dcid = vc.dcid,
	    .dcidlen = vc.dcidlen,
	    .scid = vc.scid,
	    .scidlen = vc.scidlen,
	    .owner = h3dispatch_worker(vc.dcid, vc.dcidlen, workers),
	};
	if (r == NGTCP2_ERR_VERSION_NEGOTIATION)
		/* answered by whichever worker reads it: no connection to find */
		d.verdict = H3DISPATCH_VN;
	else if (d.owner != self)
		d.verdict = H3DISPATCH_HANDOVER;
	else if (p[0] & 0x80)
		d.verdict = H3DISPATCH_LONG;
	else
		d.verdict = H3DISPATCH_SHORT;
	if (d.verdict == H3DISPATCH_SHORT &&
	    len >= NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN + 2)
		d.reset_len = MIN(len - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1,
				  (size_t)H3DISPATCH_RESET_MAX);
	*ret = d;
	return (int)d.verdict;
}

bool h3dispatch_retry_token(const uint8_t *token, size_t len)
{
	return len > 0 && token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2;
}
