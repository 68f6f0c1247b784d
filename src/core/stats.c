/* The per-worker counters' buckets and the slots of the names their series carry. */
#include "core/stats.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

const uint32_t stats_bucket_us[STATS_BUCKETS - 1] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
const char *const stats_bucket_le[STATS_BUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

unsigned stats_names_slot(struct stats_names *s, unsigned max, const char *name)
{
	unsigned n = atomic_load_explicit(&s->n, memory_order_relaxed); /* the only writer */
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s->v[i], name) == 0)
			return i;
	if (n >= max - 1)
		return max - 1;
	s->v[n] = xstrdup(name);
	atomic_store_explicit(&s->n, n + 1, memory_order_release);
	return n;
}

void stats_names_free(struct stats_names *s)
{
	unsigned n = atomic_load_explicit(&s->n, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		free(s->v[i]);
	atomic_store_explicit(&s->n, 0, memory_order_relaxed);
}
