/* The response rules of site and path blocks that answer on their own (config_rules):
 * `redirect`, and the `error-page` hook routing installs. */
#ifndef FERRY_HANDLER_RULES_H
#define FERRY_HANDLER_RULES_H

#include <stdbool.h>

/* Answers with the block's redirect (rt->rules->redirect). */
extern const struct http_handler rules_redirect_handler;

struct http_exchange;
/* http_exchange.error_page: the file x->error_page_arg's (a struct config_rules) error-page
 * names for status, below x->error_page_root_fd, answered with that status. */
bool rules_error_page(struct http_exchange *x, int status);
/* Does x's block have an error page for status? */
bool rules_has_error_page(const struct http_exchange *x, int status);

#endif
