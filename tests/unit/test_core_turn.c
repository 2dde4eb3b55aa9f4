/* The backend-neutral turn (core/loop.c), tested once, on a fake backend:
 * deferred work, the send cap, work for the next turn, the turn counter,
 * and when a turn may wait. The fake's poll() stands for the backend's
 * submit-wait-dispatch; it records whether the turn let it wait and can
 * queue work as a completion would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "loop.h"
#include "loop_internal.h"

#define MAXPOLLS 64

struct fake {
	struct rc_loop base;		/* first, as in a real backend */
	int polls;
	bool blocked[MAXPOLLS];		/* what each poll was allowed */
	int sends_before[MAXPOLLS];	/* send items run before each poll */
	int sends;			/* send items run so far */
	int fail;			/* poll() returns this */
	void (*on_poll)(struct fake *f);	/* a completion's work */
};

static void fake_destroy(struct rc_loop *loop)
{
	(void)loop;
}

static int fake_poll(struct rc_loop *loop, bool block)
{
	struct fake *f = (struct fake *)loop;

	cr_assert_lt(f->polls, MAXPOLLS, "the loop kept turning");
	rc_loop_clock(loop);
	f->blocked[f->polls] = block;
	f->sends_before[f->polls] = f->sends;
	f->polls++;
	if (f->on_poll)
		f->on_poll(f);
	/* Nothing would ever complete: a turn allowed to wait ends the test. */
	if (block)
		rc_loop_stop(loop);
	return f->fail;
}

static const struct rc_loop_ops fake_ops = {
	.name = "fake",
	.destroy = fake_destroy,
	.poll = fake_poll,
};

static struct fake f;

static void setup(void)
{
	memset(&f, 0, sizeof(f));
	rc_loop_init_base(&f.base, &fake_ops);
}

TestSuite(core_turn, .init = setup);

/* --- plain work --- */

struct item {
	struct rc_deferred d;
	int id;
	struct item *then;	/* queued by this one when it runs */
};

static int order[16];
static int norder;

static void item_run(struct rc_loop *loop, struct rc_deferred *d)
{
	struct item *it = (struct item *)d;

	order[norder++] = it->id;
	if (it->then)
		rc_loop_defer(loop, &it->then->d);
}

/* Queued twice, run once; in the order queued; work queued by work runs
 * in the same turn, before the turn may wait. */
Test(core_turn, plain_work_runs_once_in_order_before_the_turn_waits)
{
	struct item c = { .d = { .fn = item_run }, .id = 3 };
	struct item a = { .d = { .fn = item_run }, .id = 1, .then = &c };
	struct item b = { .d = { .fn = item_run }, .id = 2 };

	norder = 0;
	rc_loop_defer(&f.base, &a.d);
	rc_loop_defer(&f.base, &b.d);
	rc_loop_defer(&f.base, &a.d);
	cr_assert(rc_deferred_queued(&a.d));
	cr_assert_eq(rc_loop_run(&f.base), 0);
	cr_assert_eq(norder, 3);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(order[1], 2);
	cr_assert_eq(order[2], 3);
	cr_assert_not(rc_deferred_queued(&a.d));
	cr_assert_eq(f.polls, 1, "one turn");
	cr_assert(f.blocked[0], "nothing left over: the turn may wait");
	cr_assert_eq(rc_loop_turn(&f.base), 1);
}

/* --- the send cap --- */

#define NSENDS (2 * RC_TURN_SENDS + 100)

struct send_item {
	struct rc_deferred d;
	int i;
};

static struct send_item items[NSENDS];
static struct rc_deferred input;	/* plain work a completion queues */
static int ran_before_input;
static struct item after_send = { .id = 9 };
static int after_send_ran_at;		/* send items run when it ran */

static void send_run(struct rc_loop *loop, struct rc_deferred *d)
{
	struct send_item *it = (struct send_item *)d;

	cr_assert_eq(it->i, f.sends, "send work ran out of order: item %d as number %d", it->i,
		     f.sends);
	f.sends++;
	/* Plain work queued by a send item runs before the next send item. */
	if (it->i == 10)
		rc_loop_defer(loop, &after_send.d);
}

static void after_send_run(struct rc_loop *loop, struct rc_deferred *d)
{
	(void)loop;
	(void)d;
	after_send_ran_at = f.sends;
}

static void input_run(struct rc_loop *loop, struct rc_deferred *d)
{
	(void)loop;
	(void)d;
	ran_before_input = f.sends;
}

static void queue_input_once(struct fake *fk)
{
	if (fk->polls == 1)
		rc_loop_defer(&fk->base, &input);
}

/* A turn runs at most RC_TURN_SENDS send items, first come first served;
 * plain work runs before the send items queued after it (what a
 * completion queued during the capped turn runs first thing in the next
 * one); a turn that leaves sends over does not wait. */
Test(core_turn, send_work_is_capped_and_leftover_turns_do_not_wait)
{
	for (int i = 0; i < NSENDS; i++) {
		items[i] = (struct send_item){ .d = { .fn = send_run }, .i = i };
		rc_loop_defer_send(&f.base, &items[i].d);
	}
	input.fn = input_run;
	after_send.d.fn = after_send_run;
	ran_before_input = -1;
	f.on_poll = queue_input_once;
	cr_assert_eq(rc_loop_run(&f.base), 0);

	cr_assert_eq(f.sends, NSENDS);
	cr_assert_eq(f.polls, 3);
	cr_assert_eq(f.sends_before[0], RC_TURN_SENDS);
	cr_assert_eq(f.sends_before[1], 2 * RC_TURN_SENDS);
	cr_assert_eq(f.sends_before[2], NSENDS);
	cr_assert_not(f.blocked[0], "a turn with leftover sends waited");
	cr_assert_not(f.blocked[1], "a turn with leftover sends waited");
	cr_assert(f.blocked[2]);
	cr_assert_eq(rc_loop_stats(&f.base)->capped_turns, 2);
	cr_assert_eq(ran_before_input, RC_TURN_SENDS,
		     "the input's work ran after %d send items, not first in the next turn (%d)",
		     ran_before_input, RC_TURN_SENDS);
	cr_assert_eq(after_send_ran_at, 11, "plain work queued by a send item ran after %d",
		     after_send_ran_at);
}

/* --- work for the next turn --- */

struct slices {
	struct rc_deferred d;
	uint64_t turns[16];
	int runs;
};

static void slice_run(struct rc_loop *loop, struct rc_deferred *d)
{
	struct slices *s = (struct slices *)d;

	s->turns[s->runs++] = rc_loop_turn(loop);
	if (s->runs == 10)
		return;
	rc_loop_defer_next(loop, d);
}

/* Work deferred to the next turn runs there, once per turn, and the turns
 * before it do not wait for completions. */
Test(core_turn, work_deferred_to_the_next_turn_runs_there_without_waiting)
{
	struct slices s = { .d = { .fn = slice_run } };

	rc_loop_defer_next(&f.base, &s.d);
	cr_assert_eq(rc_loop_run(&f.base), 0);
	cr_assert_eq(s.runs, 10, "ran %d times", s.runs);
	for (int i = 1; i < s.runs; i++)
		cr_assert_eq(s.turns[i], s.turns[i - 1] + 1, "one run per turn");
	cr_assert_eq(f.polls, 10);
	for (int i = 0; i < 9; i++)
		cr_assert_not(f.blocked[i], "turn %d waited with work queued for the next", i + 1);
	cr_assert(f.blocked[9]);
}

/* --- the clock, stopping, errors --- */

Test(core_turn, the_clock_is_sampled_by_each_pass)
{
	uint64_t before = rc_loop_now_ms(&f.base);
	struct slices s = { .d = { .fn = slice_run } };

	cr_assert_gt(before, 0);
	rc_loop_defer_next(&f.base, &s.d);
	cr_assert_eq(rc_loop_run(&f.base), 0);
	cr_assert_geq(rc_loop_now_ms(&f.base), before);
}

static void stop_run(struct rc_loop *loop, struct rc_deferred *d)
{
	(void)d;
	rc_loop_stop(loop);
}

/* Stopped from deferred work, the turn ends there: no pass runs. */
Test(core_turn, stop_from_deferred_work_ends_the_run_before_the_pass)
{
	struct rc_deferred d = { .fn = stop_run };

	rc_loop_defer(&f.base, &d);
	cr_assert_eq(rc_loop_run(&f.base), 0);
	cr_assert_eq(f.polls, 0);
}

/* A backend that cannot go on ends the run with its error. */
Test(core_turn, a_backend_error_ends_the_run)
{
	f.fail = -EIO;
	cr_assert_eq(rc_loop_run(&f.base), -EIO);
	cr_assert_eq(f.polls, 1);
}
