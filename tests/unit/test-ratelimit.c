/* Tests for src/handler/ratelimit.c: token buckets by address and block, refill, Retry-After,
 * IPv6 clients by /64, and a table that never grows. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "handler/ratelimit.h"
#include "test.h"

static struct sockaddr_storage ss;

static const struct sockaddr *addr(const char *a)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, a, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, a, &s4->sin_addr);
	}
	return (const struct sockaddr *)&ss;
}

#define TAKE(rl, a, t) ratelimit_take((rl), addr(a), sizeof(ss), (t))

int main(void)
{
	struct config_rate r = {.per_min = 60, .burst = 3, .id = 1}; /* 1/s burst 3 */
	uint64_t t = 1000000;
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t), 0);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t), 0);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t), 0);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t), 1);	  /* empty: 1 s to the next token */
	CHECK_EQ_INT(TAKE(&r, "192.0.2.2", t), 0);	  /* another address */
	CHECK_EQ_INT(TAKE(&r, "::ffff:192.0.2.1", t), 1); /* IPv4-mapped is IPv4 */
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 999), 1);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 1000), 0); /* refilled one */
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 1000), 1);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 60000), 0); /* full again, not more than burst */
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 60000), 0);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 60000), 0);
	CHECK_EQ_INT(TAKE(&r, "192.0.2.1", t + 60000), 1);

	/* another block: its own bucket */
	struct config_rate r2 = {.per_min = 1, .burst = 1, .id = 2}; /* 1/m */
	CHECK_EQ_INT(TAKE(&r2, "192.0.2.1", t), 0);
	CHECK_EQ_INT(TAKE(&r2, "192.0.2.1", t), 60);
	CHECK_EQ_INT(TAKE(&r2, "192.0.2.1", t + 30000), 30);

	/* IPv6: one /64 is one client */
	CHECK_EQ_INT(TAKE(&r2, "2001:db8:1:2::1", t), 0);
	CHECK_EQ_INT(TAKE(&r2, "2001:db8:1:2:ffff::9", t), 60);
	CHECK_EQ_INT(TAKE(&r2, "2001:db8:1:3::1", t), 0);

	/* many addresses: the table keeps its size, so the first is forgotten (and full again,
	 * which is the price of a bounded table) */
	struct config_rate r3 = {.per_min = 1, .burst = 1, .id = 3};
	CHECK_EQ_INT(TAKE(&r3, "10.0.0.0", t), 0);
	CHECK_EQ_INT(TAKE(&r3, "10.0.0.0", t), 60);
	char a[32];
	for (unsigned i = 1; i < 100000; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		(void)TAKE(&r3, a, t + 1);
	}
	CHECK_EQ_INT(TAKE(&r3, "10.0.0.0", t + 1), 0);
	TEST_MAIN_END();
}
