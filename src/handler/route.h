/* Routing from a request to its handler (the router main.c installs: http/handler.h). */
#ifndef FERRY_HANDLER_ROUTE_H
#define FERRY_HANDLER_ROUTE_H

extern const struct http_router route_router;

#endif
