/* Monotonic and wall clocks in the units the rest of ferry uses. */
#ifndef FERRY_BASE_TIMEUTIL_H
#define FERRY_BASE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t time_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
