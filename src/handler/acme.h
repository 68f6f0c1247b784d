/* ACME http-01 challenges (RFC 8555 §8.3): GET /.well-known/acme-challenge/TOKEN for a site
 * with `tls acme` answers the key authorization `ferry acme` wrote into
 * ACME_DIR/challenges/TOKEN. handler/route.c picks it before any redirect or proxy. */
#ifndef FERRY_HANDLER_ACME_H
#define FERRY_HANDLER_ACME_H

#include "http/handler.h"

#define ACME_CHALLENGE_PREFIX "/.well-known/acme-challenge/"

extern const struct http_handler acme_challenge_handler;

#endif
