/* Tests for src/event/loop.c: fixed-duration timer lists (order, re-arm, cancel), the
 * deadline heap (order, cancel from any place, re-arm, mixed with the lists), watchers,
 * deferred calls. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "event/loop.h"
#include "test.h"

static int fired[8];
static int n_fired;

static void on_timer(struct loop *l, struct timer *t)
{
	fired[n_fired++] = (int)(t - (struct timer *)l->data);
	if (n_fired == 3)
		l->stop = true;
}

static int events_seen;
static void on_event(struct loop *l, struct watcher *w, uint32_t ev)
{
	uint64_t v;
	CHECK_EQ_INT(read(w->fd, &v, sizeof(v)), sizeof(v));
	events_seen++;
}

static int deferred_runs;
static void on_deferred(struct deferred *d)
{
	deferred_runs++;
}

static uint64_t heap_fired[64];
static int n_heap_fired;
static struct timer heap_t[64];

static void on_heap_timer(struct loop *l, struct timer *t)
{
	/* fired in deadline order, and never before its deadline */
	CHECK(l->now_ms >= t->deadline_ms);
	heap_fired[n_heap_fired++] = t->deadline_ms;
	if (t == &heap_t[5]) /* a callback may arm another: the heap is consistent here */
		timer_arm_at(l, &heap_t[62], l->now_ms + 1);
	if (t == &heap_t[63])
		l->stop = true;
}

static int list_fired;
static void on_list_timer(struct loop *l, struct timer *t)
{
	list_fired++;
}

static void test_heap(void)
{
	struct loop l;
	CHECK_EQ_INT(loop_init(&l), 0);
	uint64_t base = l.now_ms;
	/* 40 timers in a scrambled order; every 4th cancelled, every 8th (from 1) re-armed. */
	for (int i = 0; i < 64; i++)
		heap_t[i].cb = on_heap_timer;
	for (int i = 0; i < 40; i++) {
		timer_arm_at(&l, &heap_t[i], base + (uint64_t)((i * 37) % 40) + 1);
		CHECK(timer_armed(&heap_t[i]));
	}
	for (int i = 0; i < 40; i += 4)
		timer_cancel(&heap_t[i]);
	CHECK(!timer_armed(&heap_t[0]));
	timer_cancel(&heap_t[0]); /* twice: harmless */
	for (int i = 1; i < 40; i += 8)
		timer_arm_at(&l, &heap_t[i], base + 45 + (uint64_t)i);
	CHECK_EQ_INT((int)l.heap_len, 30);
	/* A list timer beside the heap, and the last one (on the heap) stops the loop. */
	struct timer_list tl;
	loop_timer_list_init(&l, &tl, 20);
	/* (timers due in the same iteration fire lists first, then the heap: order is only
	 * promised within the heap, and within a list) */
	struct timer lt = {.cb = on_list_timer};
	timer_arm(&l, &tl, &lt);
	timer_arm_at(&l, &heap_t[63], base + 120);
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK_EQ_INT(n_heap_fired, 30 + 1 + 1); /* heap, heap_t[62] from a callback, stop */
	CHECK_EQ_INT(list_fired, 1);
	for (int i = 1; i < n_heap_fired; i++)
		CHECK(heap_fired[i - 1] <= heap_fired[i]);
	CHECK_EQ_INT((int)l.heap_len, 0);
	CHECK(time_now_ms() - base >= 115);
	loop_done(&l);
}

int main(void)
{
	test_heap();
	struct loop l;
	CHECK_EQ_INT(loop_init(&l), 0);
	struct timer t[4] = {0};
	l.data = t;
	struct timer_list short_list, long_list;
	loop_timer_list_init(&l, &short_list, 20);
	loop_timer_list_init(&l, &long_list, 60);
	for (int i = 0; i < 4; i++)
		t[i].cb = on_timer;

	timer_arm(&l, &long_list, &t[0]);  /* +60 */
	timer_arm(&l, &short_list, &t[1]); /* +20 */
	timer_arm(&l, &short_list, &t[2]); /* +20, after t[1] */
	timer_arm(&l, &short_list, &t[3]);
	timer_cancel(&t[3]);
	CHECK(!timer_armed(&t[3]));
	timer_arm(&l, &short_list, &t[1]); /* re-arm: moves behind t[2] */
	CHECK(short_list.head == &t[2] && short_list.tail == &t[1]);

	/* An eventfd to end the loop once all timers fired. */
	struct watcher w = {.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_event};
	CHECK(w.fd >= 0);
	CHECK_EQ_INT(loop_add(&l, &w, EPOLLIN), 0);
	struct deferred d = {.fn = on_deferred};
	loop_defer(&l, &d);

	/* One event, then the timers in deadline order; the last one stops the loop. */
	uint64_t one = 1;
	CHECK_EQ_INT(write(w.fd, &one, sizeof(one)), sizeof(one));
	uint64_t t0 = time_now_ms();
	CHECK_EQ_INT(loop_run(&l), 0);
	CHECK(time_now_ms() - t0 >= 55); /* the long timer's 60 ms, give or take a tick */
	CHECK_EQ_INT(n_fired, 3);
	CHECK_EQ_INT(fired[0], 2); /* short list, armed first after the re-arm */
	CHECK_EQ_INT(fired[1], 1);
	CHECK_EQ_INT(fired[2], 0); /* the long one last */
	CHECK_EQ_INT(events_seen, 1);
	CHECK_EQ_INT(deferred_runs, 1);
	CHECK_EQ_INT(loop_del(&l, &w), 0);
	close(w.fd);
	loop_done(&l);
	TEST_MAIN_END();
}
