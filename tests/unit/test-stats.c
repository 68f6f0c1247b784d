/* Tests for src/core/stats.c: slots by name (kept, bounded, "other"), histogram buckets. */
#include <stdio.h>
#include <string.h>

#include "core/stats.h"
#include "test.h"

int main(void)
{
	struct stats_names sn = {0};
	CHECK_EQ_INT(stats_names_slot(&sn, 4, ""), 0);
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "a.test"), 1);
	CHECK_EQ_INT(stats_names_slot(&sn, 4, ""), 0);
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "b.test"), 2);
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "a.test"), 1); /* a name keeps its slot */
	/* three of four slots named: the rest share the last, which has no name */
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "c.test"), 3);
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "d.test"), 3);
	CHECK_EQ_INT(atomic_load(&sn.n), 3);
	CHECK_STREQ(sn.v[2], "b.test");
	CHECK_EQ_INT(stats_names_slot(&sn, 4, "b.test"), 2);
	stats_names_free(&sn);
	CHECK_EQ_INT(atomic_load(&sn.n), 0);

	/* each bound is inclusive (le), the next microsecond is the next bucket */
	struct stats_upstream u;
	memset(&u, 0, sizeof(u));
	stats_observe(&u, 0);
	stats_observe(&u, 5000);
	stats_observe(&u, 5001);
	stats_observe(&u, 10000000);
	stats_observe(&u, 10000001);
	stats_observe(&u, UINT64_MAX / 2);
	CHECK_EQ_INT(stats_load(&u.bucket[0]), 2);
	CHECK_EQ_INT(stats_load(&u.bucket[1]), 1);
	CHECK_EQ_INT(stats_load(&u.bucket[STATS_BUCKETS - 2]), 1);
	CHECK_EQ_INT(stats_load(&u.bucket[STATS_BUCKETS - 1]), 2);
	uint64_t n = 0;
	for (int i = 0; i < STATS_BUCKETS; i++)
		n += stats_load(&u.bucket[i]);
	CHECK_EQ_INT(n, 6);
	CHECK_STREQ(stats_bucket_le[STATS_BUCKETS - 1], "+Inf");
	/* the bounds and their labels agree */
	for (int i = 0; i < STATS_BUCKETS - 1; i++) {
		char want[16];
		unsigned us = stats_bucket_us[i];
		if (us % 1000000 == 0)
			snprintf(want, sizeof(want), "%u", us / 1000000);
		else if (us % 100000 == 0)
			snprintf(want, sizeof(want), "%u.%u", us / 1000000, us / 100000 % 10);
		else if (us % 10000 == 0)
			snprintf(want, sizeof(want), "%u.%02u", us / 1000000, us / 10000 % 100);
		else
			snprintf(want, sizeof(want), "%u.%03u", us / 1000000, us / 1000 % 1000);
		CHECK_STREQ(stats_bucket_le[i], want);
	}
	TEST_MAIN_END();
}
