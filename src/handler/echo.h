/* `ferry echo`: stream connections get every byte back until EOF; datagrams go back to their
 * sender. Bounded: one 64 KiB buffer per stream connection, and a peer that does not read
 * its echo stops being read from (backpressure). */
#ifndef FERRY_HANDLER_ECHO_H
#define FERRY_HANDLER_ECHO_H

struct worker;

void echo_conn_start(struct worker *wk, int fd);
/* Answer the datagrams waiting on fd (a bounded batch per call). */
void echo_datagrams(struct worker *wk, int fd);

#endif
