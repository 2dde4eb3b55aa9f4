/* The send queue over a real socket pair and a real ring: order, coalescing,
 * resuming short writes at the right byte, and dropping only whole frames. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "loop.h"
#include "sendq.h"
#include "shmsg.h"

struct fixture {
	struct rc_loop *loop;
	struct rc_sendq q;
	struct rc_sendq_ctx ctx;
	struct rc_sendq_stats stats;
	struct rc_timer poll;
	int peer;
	uint8_t *got;
	size_t got_len;
	size_t want_len;
	int errors;
	int polls;
};

static struct fixture fx;

static void on_error(struct rc_sendq *q, int err)
{
	(void)q;
	(void)err;
	fx.errors++;
}

static const struct rc_sendq_ops ops = { .on_error = on_error };

/* Reads whatever the peer has, every millisecond, until all arrived. */
static void poll_peer(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	for (;;) {
		ssize_t n = read(fx.peer, fx.got + fx.got_len, fx.want_len + 1 - fx.got_len);

		if (n <= 0)
			break;
		fx.got_len += (size_t)n;
	}
	if (fx.got_len >= fx.want_len || ++fx.polls > 10000) {
		rc_loop_stop(loop);
		return;
	}
	cr_assert_eq(rc_loop_timer_arm(loop, &fx.poll, 1), 0);
}

static void stop_now(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(loop);
}

/* Runs the loop for about ms milliseconds without reading the peer. */
static void run_turns(uint64_t ms)
{
	struct rc_timer t = { .io = { .fn = stop_now } };

	cr_assert_eq(rc_loop_timer_arm(fx.loop, &t, ms), 0);
	cr_assert_eq(rc_loop_run(fx.loop), 0);
}

static void setup(void)
{
	int sv[2];
	int small = 4096;
	int err = 0;

	memset(&fx, 0, sizeof(fx));
	fx.loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(fx.loop);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* A small send buffer forces short writes. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	fx.peer = sv[1];
	fx.poll.io.fn = poll_peer;
	fx.ctx = (struct rc_sendq_ctx){ .loop = fx.loop, .ops = &ops, .stats = &fx.stats };
	rc_sendq_init(&fx.q, &fx.ctx, sv[0]);
}

static void teardown(void)
{
	rc_sendq_kill(&fx.q);
	close(fx.q.fd);
	close(fx.peer);
	free(fx.got);
	rc_loop_destroy(fx.loop);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u);
	return p;
}

static void run_until_received(size_t want)
{
	fx.want_len = want;
	fx.got = realloc(fx.got, want + 1);
	cr_assert_eq(rc_loop_timer_arm(fx.loop, &fx.poll, 1), 0);
	cr_assert_eq(rc_loop_run(fx.loop), 0);
}

TestSuite(core_sendq, .init = setup, .fini = teardown);

Test(core_sendq, order_and_short_writes)
{
	enum { N = 200 };
	uint8_t *expect = malloc(N * 3000);
	size_t total = 0;

	/* Sizes from 1 to ~3000 bytes: far more than the 4 KiB socket buffer
	 * in one turn, so sends are short and must resume mid-entry. */
	for (unsigned i = 0; i < N; i++) {
		size_t len = 1 + (i * 977u) % 2999u;
		uint8_t *p = pattern(len, i);

		memcpy(expect + total, p, len);
		total += len;
		cr_assert_eq(rc_sendq_push_heap(&fx.q, p, (uint32_t)len), 0);
	}
	cr_assert_eq(fx.q.queued_bytes, total);
	run_until_received(total);
	cr_assert_eq(fx.got_len, total, "received %zu of %zu", fx.got_len, total);
	cr_assert_eq(memcmp(fx.got, expect, total), 0, "bytes out of order or corrupted");
	cr_assert_eq(fx.errors, 0);
	cr_assert_eq(fx.q.queued_bytes, 0);
	cr_assert_gt(fx.stats.short_sends, 0, "the test meant to force short writes");
	/* 200 entries with at most 64 per sendmsg need at least 4 sends. */
	cr_assert_geq(fx.stats.sends, 4);
	free(expect);
}

Test(core_sendq, coalesces_one_turn_into_one_send)
{
	static const uint8_t msg[] = "abcdefgh";
	size_t total = 0;

	for (int i = 0; i < 10; i++) {
		cr_assert_eq(rc_sendq_push_static(&fx.q, msg, 8), 0);
		total += 8;
	}
	run_until_received(total);
	cr_assert_eq(fx.got_len, total);
	cr_assert_eq(fx.stats.sends, 1, "ten entries of one turn must leave in one sendmsg");
}

Test(core_sendq, drop_pending_keeps_whole_frames)
{
	size_t big = 256 * 1024;
	uint8_t *first = pattern(big, 1);
	uint8_t *copy = malloc(big);

	memcpy(copy, first, big);
	cr_assert_eq(rc_sendq_push_heap(&fx.q, first, (uint32_t)big), 0);
	/* Let the first entry go in flight (it cannot complete: nobody reads
	 * and the socket buffer is far smaller). */
	run_turns(20);
	cr_assert(rc_sendq_busy(&fx.q));
	for (int i = 0; i < 5; i++)
		cr_assert_eq(rc_sendq_push_heap(&fx.q, pattern(100, 9), 100), 0);
	cr_assert_eq(rc_sendq_pending(&fx.q), 5);
	/* Heap entries are not counted frames, so the count of dropped data
	 * frames is 0, but all five must go. */
	cr_assert_eq(rc_sendq_drop_pending(&fx.q), 0);
	cr_assert_eq(rc_sendq_pending(&fx.q), 0);
	run_until_received(big);
	/* Exactly the in-flight entry, whole, and nothing of the dropped ones. */
	cr_assert_eq(fx.got_len, big);
	cr_assert_eq(memcmp(fx.got, copy, big), 0);
	usleep(20000);
	cr_assert_eq(read(fx.peer, copy, 1), -1, "dropped entries must not be sent");
	free(copy);
}

Test(core_sendq, peer_gone_reports_error_once)
{
	close(fx.peer);
	fx.peer = socket(AF_UNIX, SOCK_STREAM, 0);	/* keep teardown simple */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc_sendq_push_heap(&fx.q, pattern(10, 1), 10), 0);
	run_turns(20);
	cr_assert_eq(fx.errors, 1);
	cr_assert(fx.q.dead);
	cr_assert_eq(fx.q.queued_bytes, 0);
	cr_assert_eq(rc_sendq_push_heap(&fx.q, pattern(10, 1), 10), -EPIPE);
}

/* A queue that holds one entry at a time uses its own slot; a second entry
 * behind the first moves both into an array, in order, and an idle queue
 * gives the array back. */
Test(core_sendq, one_entry_needs_no_array)
{
	static const uint8_t a[] = "first-", b[] = "second-", c[] = "third";
	size_t total = 0;

	cr_assert_eq(rc_sendq_push_static(&fx.q, a, 6), 0);
	total += 6;
	cr_assert(fx.q.ents == &fx.q.one, "one entry lives in the queue itself");
	cr_assert_eq(fx.q.cap, 1);
	run_until_received(total);
	cr_assert_eq(fx.q.count, 0);
	cr_assert(fx.q.ents == &fx.q.one);
	cr_assert_eq(rc_sendq_push_static(&fx.q, b, 7), 0);
	cr_assert_eq(rc_sendq_push_static(&fx.q, c, 5), 0);
	total += 12;
	cr_assert(fx.q.ents != &fx.q.one, "two entries need the array");
	cr_assert_geq(fx.q.cap, 2);
	run_until_received(total);
	cr_assert_eq(fx.got_len, total);
	cr_assert_eq(memcmp(fx.got, "first-second-third", total), 0);
	rc_sendq_trim(&fx.q);
	cr_assert_null(fx.q.ents);
	cr_assert_null(fx.q.vec);
	cr_assert_eq(fx.q.cap, 0);
	cr_assert_eq(rc_sendq_push_static(&fx.q, a, 6), 0);
	cr_assert(fx.q.ents == &fx.q.one, "after a trim the slot serves again");
	run_until_received(total + 6);
	cr_assert_eq(fx.errors, 0);
}

/* An owner whose queue is killed while its flush still waits in the loop's
 * send work (behind other queues' sends) must not be freed before that
 * flush has run: rc_sendq_held() says so, and on_drained tells the owner
 * when it may go. Freed any earlier, the loop would run the flush inside
 * freed memory (the sanitizer build catches that). */
struct owner {
	struct rc_sendq q;
	struct rc_sendq_ctx ctx;
	struct rc_deferred start;
	struct rc_deferred reap;
	bool held_after_kill;
	int drained;
};

static int owners_freed;

static void owner_maybe_free(struct owner *o)
{
	if (!rc_sendq_held(&o->q))
		rc_loop_defer(o->ctx.loop, &o->reap);
}

static void owner_drained(struct rc_sendq *q)
{
	struct owner *o = (struct owner *)((char *)q - offsetof(struct owner, q));

	o->drained++;
	if (q->dead)
		owner_maybe_free(o);
}

static void owner_reap(struct rc_loop *loop, struct rc_deferred *d)
{
	struct owner *o = (struct owner *)((char *)d - offsetof(struct owner, reap));

	cr_assert_eq(o->drained, 1, "freed before on_drained: the flush was still queued");
	cr_assert(o->held_after_kill, "a queued flush did not count as held");
	rc_sendq_free(&o->q);
	free(o);
	owners_freed++;
	rc_loop_stop(loop);
}

/* Like a connection whose peer vanished in the turn its frame was queued:
 * push (the flush is queued), kill, and try to free. */
static void owner_start(struct rc_loop *loop, struct rc_deferred *d)
{
	struct owner *o = (struct owner *)((char *)d - offsetof(struct owner, start));
	static const uint8_t frame[] = "bye";

	(void)loop;
	cr_assert_eq(rc_sendq_push_static(&o->q, frame, 3), 0);
	rc_sendq_kill(&o->q);
	o->held_after_kill = rc_sendq_held(&o->q);
	owner_maybe_free(o);
}

Test(core_sendq, a_killed_queue_keeps_its_owner_until_its_queued_flush_ran)
{
	static const struct rc_sendq_ops owner_ops = { .on_error = on_error,
						       .on_drained = owner_drained };
	struct owner *o = calloc(1, sizeof(*o));
	struct rc_timer guard = { .io = { .fn = stop_now } };
	int sv[2];

	cr_assert_not_null(o);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	o->ctx = (struct rc_sendq_ctx){ .loop = fx.loop, .ops = &owner_ops };
	rc_sendq_init(&o->q, &o->ctx, sv[0]);
	o->start.fn = owner_start;
	o->reap.fn = owner_reap;
	owners_freed = 0;
	rc_loop_defer(fx.loop, &o->start);
	cr_assert_eq(rc_loop_timer_arm(fx.loop, &guard, 2000), 0);
	cr_assert_eq(rc_loop_run(fx.loop), 0);
	cr_assert_eq(owners_freed, 1, "the owner was never told it may go");
	close(sv[0]);
	close(sv[1]);
}

/* A label frame that went out must be followed by the message it names:
 * with the label at the end of the in-flight send, dropping what is pending
 * keeps that message (and drops what follows it), so the client never pins
 * the next message on the wrong channel. */
Test(core_sendq, drop_pending_never_parts_a_label_from_its_message)
{
	size_t big = 256 * 1024;
	struct rc_shmsg *label = rc_shmsg_new(16);
	struct rc_shmsg *msg = rc_shmsg_new(16);
	struct rc_shmsg *later = rc_shmsg_new(16);

	cr_assert(label && msg && later);
	memcpy(label->data, "LABEL", 5);
	label->len = 5;
	memcpy(msg->data, "MSG", 3);
	msg->len = 3;
	memcpy(later->data, "LATER", 5);
	later->len = 5;
	cr_assert_eq(rc_sendq_push_heap(&fx.q, pattern(big, 3), (uint32_t)big), 0);
	cr_assert_eq(rc_sendq_push_label(&fx.q, label, label->data, label->len), 0);
	/* The big entry and the label go out in one gathered send, which cannot
	 * complete (nobody reads). */
	run_turns(20);
	cr_assert(rc_sendq_busy(&fx.q));
	cr_assert_eq(fx.q.inflight, 2, "the label must be in the in-flight send");
	cr_assert_eq(rc_sendq_push_shared(&fx.q, msg, msg->data, msg->len, 1), 0);
	cr_assert_eq(rc_sendq_push_shared(&fx.q, later, later->data, later->len, 1), 0);
	cr_assert_eq(rc_sendq_pending(&fx.q), 1, "only the message after the label's may go");
	cr_assert_eq(rc_sendq_drop_pending(&fx.q), 1);
	cr_assert_eq(fx.q.count, 3, "big entry, label and its message stay queued");
	run_until_received(big + 5 + 3);
	cr_assert_eq(fx.got_len, big + 5 + 3);
	cr_assert_eq(memcmp(fx.got + big, "LABELMSG", 8), 0);
	rc_shmsg_unref(label);
	rc_shmsg_unref(msg);
	rc_shmsg_unref(later);
}

/* The charge counts each entry's own size beside its bytes, and what the
 * owner declares. */
Test(core_sendq, charge_counts_entries_and_owner_bytes)
{
	static const uint8_t one[1] = { 'x' };

	for (int i = 0; i < 100; i++)
		cr_assert_eq(rc_sendq_push_static(&fx.q, one, 1), 0);
	cr_assert_eq(rc_sendq_charge(&fx.q), 100 * (1 + RC_SENDQ_ENT_COST));
	fx.q.owner_bytes = 1000;
	cr_assert_eq(rc_sendq_charge(&fx.q), 100 * (1 + RC_SENDQ_ENT_COST) + 1000);
}

static int view_releases;

static void count_release(void *arg)
{
	view_releases++;
	cr_assert_eq(*(int *)arg, 7, "release gets its argument");
}

/* A view (a message another worker handed over) is sent from the bytes it
 * borrows, found again from the queue entry alone, and its last reference
 * calls its release once instead of freeing anything. */
Test(core_sendq, a_view_sends_borrowed_bytes_and_releases_once)
{
	/* What relay.c lays out: the handle, headroom, then the frame. */
	uint8_t *block = malloc(sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM + 6000);
	struct rc_shmsg *view = (struct rc_shmsg *)block;
	uint8_t *payload = block + sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM;
	uint8_t *frame = payload - 4;
	uint8_t *p = pattern(6000, 9);
	/* static: a failed assertion leaves entries for teardown to release */
	static int arg = 7;

	cr_assert(block);
	memcpy(payload, p, 6000);
	free(p);
	memcpy(frame, "HDR:", 4);
	view_releases = 0;
	rc_shmsg_view_init(view, payload, 6000, count_release, &arg);
	cr_assert_eq(view->data, payload);
	/* Three queue entries on it (each takes a reference), then the
	 * publisher's own reference goes. */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rc_sendq_push_shared(&fx.q, view, frame, 4 + 6000, 1), 0);
	}
	cr_assert_eq(view->refs, 4);
	rc_shmsg_unref(view);
	cr_assert_eq(view_releases, 0, "the queued entries still hold it");
	run_until_received(3 * 6004);
	cr_assert_eq(fx.got_len, 3 * 6004);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(memcmp(fx.got + i * 6004, "HDR:", 4), 0);
		cr_assert_eq(memcmp(fx.got + i * 6004 + 4, payload, 6000), 0);
	}
	/* The peer may have read the bytes before the send's completion ran. */
	for (int i = 0; i < 100 && rc_sendq_busy(&fx.q); i++)
		run_turns(5);
	cr_assert_eq(view_releases, 1, "released once, by the last reference");
	free(block);
}

/* A queue that dies with views queued (its connection closed) releases
 * each view's entries, and the last one calls the release once. */
Test(core_sendq, a_killed_queue_releases_its_views)
{
	static uint8_t block[2 * sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM + 64];
	struct rc_shmsg *v0 = (struct rc_shmsg *)block, *v1 = v0 + 1;
	uint8_t *payload = block + 2 * sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM;
	static int arg = 7;

	/* Two workers' views of one block, as relay.c lays them out. */
	view_releases = 0;
	rc_shmsg_view_init(v0, payload, 64, count_release, &arg);
	rc_shmsg_view_init(v1, payload, 64, count_release, &arg);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(rc_sendq_push_shared(&fx.q, i % 2 ? v1 : v0, payload, 64, 1), 0);
	rc_shmsg_unref(v0);
	rc_shmsg_unref(v1);
	cr_assert_eq(view_releases, 0);
	rc_sendq_kill(&fx.q);
	cr_assert_eq(view_releases, 2, "each view released once when the queue died");
}
