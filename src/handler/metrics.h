/* The metrics page (`metrics NAME`): Prometheus text format, on a listener of its own. */
#ifndef FERRY_HANDLER_METRICS_H
#define FERRY_HANDLER_METRICS_H

extern const struct http_handler metrics_handler;

#endif
