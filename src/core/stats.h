/* The metrics page's per-worker counters and the names their series are labelled with.
 *
 * Each worker writes its own counters only (worker_count: a relaxed load and store, no locked
 * instruction); the page (handler/metrics.c) sums them over the workers. The arrays are fixed
 * when the workers start, so a reload never moves them: a site's or upstream's counters are
 * found by a slot, and the slot by its name (stats_names), which the main thread assigns when
 * it builds a generation and never takes back. So a site keeps its series across reloads, and
 * a site removed keeps its last values until ferry restarts. */
#ifndef FERRY_STATS_H
#define FERRY_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Site slots: 0 is a response no site answered (no site blocks, no site matched, the
 * metrics page itself); the last is every name beyond the others ("other"). */
#define STATS_SITES 64
#define STATS_SITE_NONE 0
#define STATS_SITE_OTHER (STATS_SITES - 1)
/* Upstream slots: the last is "other". */
#define STATS_UPSTREAMS 32
#define STATS_UPSTREAM_OTHER (STATS_UPSTREAMS - 1)

/* The histogram's upper bounds in µs (Prometheus's default buckets), then +Inf. */
#define STATS_BUCKETS 12
extern const uint32_t stats_bucket_us[STATS_BUCKETS - 1];
extern const char *const stats_bucket_le[STATS_BUCKETS];

struct stats_site {
	atomic_uint_fast64_t status[6]; /* by class: [1] 1xx ... [5] 5xx, [0] other */
	atomic_uint_fast64_t bytes;     /* response body bytes */
};

struct stats_upstream {
	atomic_uint_fast64_t bucket[STATS_BUCKETS]; /* each its own range, not cumulative */
	atomic_uint_fast64_t sum_us;
	/* passive health: until when (loop clock, ms) this worker skips it; 0: up */
	atomic_uint_fast64_t down_until_ms;
};

struct worker_stats {
	atomic_uint_fast64_t status[6]; /* every response, by class as above */
	atomic_uint_fast64_t bytes;
	struct stats_site site[STATS_SITES];
	struct stats_upstream up[STATS_UPSTREAMS];
};

/* One more in a counter of this worker's (no locked instruction: only its worker writes). */
static inline void worker_count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void worker_set(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t stats_load(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* An upstream's response head came us µs after its first connection attempt. */
static inline void stats_observe(struct stats_upstream *u, uint64_t us)
{
	unsigned i = 0;
	while (i < STATS_BUCKETS - 1 && us > stats_bucket_us[i])
		i++;
	worker_count(&u->bucket[i], 1);
	worker_count(&u->sum_us, us);
}

/* Names by slot: written by one thread (the main thread, building a generation), read by any
 * (n with acquire, then v[0..n)); a name, once given a slot, keeps it. */
struct stats_names {
	char *v[STATS_SITES > STATS_UPSTREAMS ? STATS_SITES : STATS_UPSTREAMS];
	atomic_uint n;
};

/* The slot of name among the first max - 1 (a new name takes the next free one); when they
 * are all taken, max - 1: "other", which has no entry in v. */
unsigned stats_names_slot(struct stats_names *s, unsigned max, const char *name);
void stats_names_free(struct stats_names *s);

#endif
