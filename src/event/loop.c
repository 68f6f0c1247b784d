/* The epoll event loop: watchers, fixed-duration timer lists, a deadline heap, deferred
 * frees. */
#include "event/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#define LOOP_MAX_EVENTS 256

int loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->now_ms = time_now_ms();
	l->heap_tag.heap = true;
	return 0;
}

void loop_done(struct loop *l)
{
	free(l->heap);
	l->heap = NULL;
	l->heap_len = l->heap_cap = 0;
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

static int ctl(struct loop *l, int op, struct watcher *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(l->epfd, op, w->fd, &ev) < 0 ? -errno : 0;
}

int loop_add(struct loop *l, struct watcher *w, uint32_t events)
{
	return ctl(l, EPOLL_CTL_ADD, w, events);
}

int loop_mod(struct loop *l, struct watcher *w, uint32_t events)
{
	return ctl(l, EPOLL_CTL_MOD, w, events);
}

bool loop_watch_writable(struct loop *l, struct watcher *w, bool *watched)
{
	if (*watched)
		return true;
	if (loop_mod(l, w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0)
		return false;
	*watched = true;
	return true;
}

int loop_del(struct loop *l, struct watcher *w)
{
	return ctl(l, EPOLL_CTL_DEL, w, 0);
}

void loop_timer_list_init(struct loop *l, struct timer_list *tl, uint64_t duration_ms)
{
	tl->duration_ms = duration_ms;
	tl->heap = false;
	tl->head = tl->tail = NULL;
	tl->next_list = l->lists;
	l->lists = tl;
}

/* ---- the deadline heap ---- */

static void heap_set(struct loop *l, size_t i, struct timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->deadline_ms <= t->deadline_ms)
			break;
		heap_set(l, i, l->heap[p]);
		i = p;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct timer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && l->heap[c + 1]->deadline_ms < l->heap[c]->deadline_ms)
			c++;
		if (t->deadline_ms <= l->heap[c]->deadline_ms)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct timer *t)
{
	size_t i = t->heap_idx;
	struct timer *last = l->heap[--l->heap_len];
	if (i < l->heap_len) {
		heap_set(l, i, last);
		heap_up(l, i);
		heap_down(l, last->heap_idx);
	}
}

void timer_arm_at(struct loop *l, struct timer *t, uint64_t deadline_ms)
{
	timer_cancel(t);
	if (l->heap_len == l->heap_cap) {
		l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 16;
		l->heap = xrealloc(l->heap, l->heap_cap * sizeof(*l->heap));
	}
	t->deadline_ms = deadline_ms;
	t->list = &l->heap_tag;
	heap_set(l, l->heap_len++, t);
	heap_up(l, t->heap_idx);
}

void timer_cancel(struct timer *t)
{
	struct timer_list *tl = t->list;
	if (!tl)
		return;
	if (tl->heap) {
		heap_remove(container_of(tl, struct loop, heap_tag), t);
		t->list = NULL;
		return;
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		tl->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		tl->tail = t->prev;
	t->prev = t->next = NULL;
	t->list = NULL;
}

void timer_arm(struct loop *l, struct timer_list *tl, struct timer *t)
{
	timer_cancel(t);
	t->deadline_ms = l->now_ms + tl->duration_ms;
	t->list = tl;
	t->next = NULL;
	t->prev = tl->tail;
	if (tl->tail)
		tl->tail->next = t;
	else
		tl->head = t;
	tl->tail = t;
}

void loop_defer(struct loop *l, struct deferred *d)
{
	d->next = l->deferred;
	l->deferred = d;
}

static int next_timeout(struct loop *l)
{
	uint64_t first = UINT64_MAX;
	for (struct timer_list *tl = l->lists; tl; tl = tl->next_list)
		if (tl->head && tl->head->deadline_ms < first)
			first = tl->head->deadline_ms;
	if (l->heap_len && l->heap[0]->deadline_ms < first)
		first = l->heap[0]->deadline_ms;
	if (first == UINT64_MAX)
		return -1;
	if (first <= l->now_ms)
		return 0;
	uint64_t d = first - l->now_ms;
	return d > 60000 ? 60000 : (int)d;
}

static void run_timers(struct loop *l)
{
	for (struct timer_list *tl = l->lists; tl; tl = tl->next_list) {
		while (tl->head && tl->head->deadline_ms <= l->now_ms) {
			struct timer *t = tl->head;
			timer_cancel(t);
			t->cb(l, t);
		}
	}
	while (l->heap_len && l->heap[0]->deadline_ms <= l->now_ms) {
		struct timer *t = l->heap[0];
		timer_cancel(t);
		t->cb(l, t);
	}
}

static void run_deferred(struct loop *l)
{
	while (l->deferred) {
		struct deferred *d = l->deferred;
		l->deferred = d->next;
		d->fn(d);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_timeout(l));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->now_ms = time_now_ms();
		for (int i = 0; i < n; i++) {
			struct watcher *w = evs[i].data.ptr;
			w->cb(l, w, evs[i].events);
		}
		run_timers(l);
		run_deferred(l);
		if (l->on_iteration_end)
			l->on_iteration_end(l);
	}
	run_deferred(l);
	return 0;
}
