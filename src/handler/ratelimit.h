/* rate-limit: a token bucket per (block, client address), in one table all workers share,
 * bounded in memory; routing (route.c) asks before authentication and any handler. */
#ifndef FERRY_HANDLER_RATELIMIT_H
#define FERRY_HANDLER_RATELIMIT_H

#include <stdint.h>
#include <sys/socket.h>

struct config_rate;

/* Take a token for a request from peer under rl at now_ms: 0 when there was one, else the
 * seconds until there is (>= 1, for Retry-After). */
uint32_t ratelimit_take(const struct config_rate *rl, const struct sockaddr *peer,
			socklen_t peer_len, uint64_t now_ms);

/* Answers 429 with Retry-After: rt->status seconds. */
extern const struct http_handler ratelimit_handler;

#endif
