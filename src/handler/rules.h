/* The response rules of site and path blocks that answer on their own (config_rules):
 * `redirect`, and the `error-page` hook routing installs. */
#ifndef FERRY_HANDLER_RULES_H
#define FERRY_HANDLER_RULES_H

/* Answers with the block's redirect (rt->rules->redirect). */
extern const struct http_handler rules_redirect_handler;

#endif
