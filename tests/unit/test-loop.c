/* Tests for src/loop.c: fixed-duration timer lists (order, re-arm, cancel), watchers,
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

int main(void)
{
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
