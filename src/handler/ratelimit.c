/* rate-limit: token buckets per (block, client address).
 *
 * One table for the process, so that the limit holds whatever worker a client's connections
 * land on (EPOLLEXCLUSIVE spreads them): RL_SETS sets of RL_WAYS entries (about 256 KiB,
 * allocated at the first request under a limit), each set behind its own small lock among
 * RL_LOCKS: a lookup touches one set, a handful of cache lines, no allocation. An address
 * that is not in its set takes the entry of the set that was used longest ago: memory never
 * grows, and what is forgotten is a bucket that started again full. IPv6 clients count by
 * their /64 (one host usually has the whole prefix), IPv4-mapped ones as IPv4; Unix-socket
 * peers share one bucket.
 *
 * A bucket holds burst tokens at most (in thousandths), refilled at per_min / 60000 tokens
 * per ms; a request takes one. */
#include "handler/ratelimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/xalloc.h"
#include "config/config.h"
#include "http/exchange.h"
#include "http/handler.h"

#define RL_SETS 1024
#define RL_WAYS 8
#define RL_LOCKS 64
#define MILLI 1000u

struct rl_entry {
	uint8_t addr[8];  /* IPv4 (4 bytes) or an IPv6 /64 */
	uint32_t id;	  /* the block (see ratelimit_take); 0: empty */
	uint64_t tokens;  /* thousandths */
	uint64_t last_ms; /* last refill */
};

struct rl_table {
	atomic_flag locks[RL_LOCKS];
	struct rl_entry sets[RL_SETS][RL_WAYS];
};

static struct rl_table *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	table = xcalloc(1, sizeof(*table));
	for (size_t i = 0; i < RL_LOCKS; i++)
		atomic_flag_clear(&table->locks[i]);
}

static void lock(atomic_flag *f)
{
	while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
		; /* held for a few dozen instructions, never across a call that blocks */
}

static void unlock(atomic_flag *f)
{
	atomic_flag_clear_explicit(f, memory_order_release);
}

/* The key of a peer: 8 bytes and the family's tag in the hash. */
static void peer_key(const struct sockaddr *sa, socklen_t len, uint8_t out[8], uint32_t *tag)
{
	memset(out, 0, 8);
	*tag = 0;
	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*tag = 4;
	} else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, &a->s6_addr[12], 4);
			*tag = 4;
		} else {
			memcpy(out, a->s6_addr, 8);
			*tag = 6;
		}
	}
}

static uint32_t hash(const uint8_t k[8], uint32_t id, uint32_t tag)
{
	/* FNV-1a over the key, the block and the family: spreads sequential addresses */
	uint32_t h = 2166136261u;
	for (int i = 0; i < 8; i++)
		h = (h ^ k[i]) * 16777619u;
	h = (h ^ id) * 16777619u;
	h = (h ^ tag) * 16777619u;
	return h ^ (h >> 15);
}

uint32_t ratelimit_take(const struct config_rate *rl, const struct sockaddr *peer,
			socklen_t peer_len, uint64_t now_ms)
{
	pthread_once(&table_once, table_init);
	uint8_t k[8];
	uint32_t tag;
	peer_key(peer, peer_len, k, &tag);
	/* ids restart at 1 with each configuration load: the rate and burst the entry was made
	 * with are part of its identity, so a reload that changes them starts afresh */
	uint32_t id = rl->id ^ (rl->per_min * 2654435761u) ^ (rl->burst << 7) ^ (tag << 28);
	if (id == 0)
		id = 1;
	uint32_t h = hash(k, id, tag);
	struct rl_entry *set = table->sets[h % RL_SETS];
	atomic_flag *l = &table->locks[(h % RL_SETS) % RL_LOCKS];
	uint64_t cap = (uint64_t)rl->burst * MILLI;
	uint32_t wait = 0;

	lock(l);
	struct rl_entry *e = NULL, *oldest = &set[0];
	for (int i = 0; i < RL_WAYS; i++) {
		if (set[i].id == id && memcmp(set[i].addr, k, 8) == 0) {
			e = &set[i];
			break;
		}
		if (set[i].id == 0 || set[i].last_ms < oldest->last_ms)
			oldest = &set[i];
	}
	if (!e) {
		e = oldest;
		memcpy(e->addr, k, 8);
		e->id = id;
		e->tokens = cap;
		e->last_ms = now_ms;
	} else if (now_ms > e->last_ms) {
		/* thousandths of a token per ms: per_min / 60 */
		uint64_t add = (now_ms - e->last_ms) * rl->per_min / 60;
		e->tokens = MIN(cap, e->tokens + add);
		e->last_ms = now_ms;
	}
	if (e->tokens >= MILLI) {
		e->tokens -= MILLI;
	} else {
		/* ms until a whole token: (1000 - tokens) thousandths at per_min/60 per ms */
		uint64_t ms = ((MILLI - e->tokens) * 60 + rl->per_min - 1) / rl->per_min;
		wait = (uint32_t)MAX((ms + 999) / 1000, (uint64_t)1);
	}
	unlock(l);
	return wait;
}

static void ratelimit_serve(struct http_exchange *x, const struct http_request *req,
			    const struct http_route *rt)
{
	static const char body[] = "<!DOCTYPE html>\n<html><head><title>429 Too Many Requests"
				   "</title></head><body><h1>429 Too Many Requests</h1></body>"
				   "</html>\n";
	http_resp_start(x, 429);
	http_resp_headerf(x, "Retry-After", "%d", rt->status);
	http_resp_header(x, "Content-Type", "text/html; charset=utf-8", 24);
	http_resp_end_head(x, (int64_t)STRLEN(body));
	http_resp_body_mem(x, body, STRLEN(body));
}

const struct http_handler ratelimit_handler = {
    .name = "ratelimit",
    .streams_body = false,
    .serve = ratelimit_serve,
};
