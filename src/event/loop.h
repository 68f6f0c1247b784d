/* One epoll event loop per worker thread: fd watchers, fixed-duration timer lists, a heap of
 * timers with arbitrary deadlines, and deferred frees. The loop caches "now" once per wake-up, so timers cost no syscalls. */
#ifndef FERRY_LOOP_H
#define FERRY_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct watcher;
typedef void (*watcher_cb)(struct loop *l, struct watcher *w, uint32_t events);

struct watcher {
	int fd;
	watcher_cb cb;
};

/* A timer sits on one timer_list. Every timer on a list has the same duration, so appending
 * on (re)arm keeps the list sorted by deadline: arming, cancelling and expiring are O(1)
 * (the trick behind nginx's and h2o's timeouts, without a heap). */
struct timer;
typedef void (*timer_cb)(struct loop *l, struct timer *t);

struct timer_list {
	uint64_t duration_ms;
	bool heap; /* the loop's deadline heap, not a list (see timer_arm_at) */
	struct timer *head, *tail;
	struct timer_list *next_list; /* all lists of a loop */
};

struct timer {
	struct timer *prev, *next;
	struct timer_list *list; /* NULL when not armed */
	uint64_t deadline_ms;
	size_t heap_idx; /* its place in the deadline heap */
	timer_cb cb;
};

struct deferred {
	struct deferred *next;
	void (*fn)(struct deferred *d);
};

struct loop {
	int epfd;
	uint64_t now_ms;
	bool stop;
	struct timer_list *lists;
	/* Timers with their own deadlines (TLS/QUIC/ACME: retransmissions, renewals), a binary
	 * min-heap: O(log n) arm and cancel. */
	struct timer_list heap_tag;
	struct timer **heap;
	size_t heap_len, heap_cap;
	struct deferred *deferred;
	void (*on_iteration_end)(struct loop *l); /* e.g. flush the access log */
	void *data;
};

int loop_init(struct loop *l);
void loop_done(struct loop *l);
int loop_add(struct loop *l, struct watcher *w, uint32_t events);
int loop_mod(struct loop *l, struct watcher *w, uint32_t events);
int loop_del(struct loop *l, struct watcher *w);
/* A stream socket registered with EPOLLIN | EPOLLRDHUP | EPOLLET found it cannot write: add
 * EPOLLOUT unless *watched says it is there (and set it). A socket that became writable
 * meanwhile is reported at once. false: it cannot be watched (let the next write fail). Sockets
 * watch EPOLLOUT only from the first blocked write on, so that ACKs (and, on Unix sockets,
 * every message the peer reads) do not wake the loop for nothing. */
bool loop_watch_writable(struct loop *l, struct watcher *w, bool *watched);
/* Runs until l->stop is set by a callback. Returns 0 or -errno. */
int loop_run(struct loop *l);

void loop_timer_list_init(struct loop *l, struct timer_list *tl, uint64_t duration_ms);
void timer_arm(struct loop *l, struct timer_list *tl, struct timer *t);
/* Arm t to fire at deadline_ms (loop clock, l->now_ms based), on the deadline heap. */
void timer_arm_at(struct loop *l, struct timer *t, uint64_t deadline_ms);
void timer_cancel(struct timer *t);
static inline bool timer_armed(const struct timer *t) { return t->list != 0; }

/* Run d->fn(d) after the current batch of events (safe place to free what a later event in
 * the same batch might still point to). */
void loop_defer(struct loop *l, struct deferred *d);

#endif
