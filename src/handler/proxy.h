/* The reverse proxy: forwards a request to an upstream (HTTP over TCP, TLS or a Unix socket)
 * and streams the response back, both bodies through fixed-size buffers with backpressure.
 * The upstream connection is a transport (xport/): the proxy never touches its socket.
 *
 * One exchange per client request, one request at a time per client connection:
 *
 *   state      leaves when                                   timer
 *   RESOLVE    the upstream's name has addresses             proxy-connect-timeout
 *   CONNECT    the socket connected (or a pooled one taken)  proxy-connect-timeout
 *              (a missing Unix socket is retried every 100 ms until then)
 *   HANDSHAKE  https://, a new connection: the TLS handshake  proxy-connect-timeout
 *              done, the certificate verified (else 502)     (the same deadline)
 *   EXCHANGE   the response was sent and the request body    proxy-timeout, re-armed on
 *              forwarded: the client connection goes back    progress either way
 *              to the protocol, the upstream one to the pool
 *   TUNNEL     after a 101: either side closed               proxy-timeout
 *
 * Errors before a response head was sent: connect refused/reset, a failed TLS handshake or
 * certificate 502 (another upstream is tried first when nothing was sent or the request is
 * idempotent), timeouts 504, every upstream marked down 503, a {host} outside
 * upstream-allow 403. After: the client
 * connection is closed, so a cut response never looks complete. */
#ifndef FERRY_HANDLER_PROXY_H
#define FERRY_HANDLER_PROXY_H

/* The handler (http/handler.h): takes the exchange at its head (the body not read yet) and
 * forwards it as the route's proxy setup says. */
extern const struct http_handler proxy_handler;

#endif
