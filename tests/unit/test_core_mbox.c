/* What several loops share: the mailbox (lock-free hand-off between
 * threads, woken through a loop on either backend), the cross-thread
 * reference count, the channel registry's exact bounds, and the counter
 * snapshots. The threaded cases run real threads racing each other. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "chanreg.h"
#include "loop.h"
#include "mbox.h"
#include "snap.h"
#include "xref.h"

#define PRODUCERS 3
#define PER_PRODUCER 20000

struct item {
	struct rc_mbox_node node;	/* first: a node is its item */
	uint32_t producer;
	uint32_t seq;
};

struct producer {
	struct rc_mbox *mb;
	uint32_t id;
	struct item *items;
	bool wake;			/* wake the owner when the post found it empty */
	pthread_barrier_t *start;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	pthread_barrier_wait(p->start);
	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		p->items[i] = (struct item){ .producer = p->id, .seq = i };
		if (rc_mbox_post(p->mb, &p->items[i].node) && p->wake)
			cr_assert_eq(rc_mbox_wake(p->mb), 0);
	}
	return NULL;
}

/* What a consumer has seen: the next sequence number expected from each
 * producer. */
struct seen {
	uint32_t next[PRODUCERS];
	uint32_t total;
};

static void consume(struct seen *s, struct rc_mbox_node *n)
{
	for (; n; n = n->next) {
		struct item *it = (struct item *)n;

		cr_assert_lt(it->producer, PRODUCERS);
		cr_assert_eq(it->seq, s->next[it->producer],
			     "producer %u: got %u, expected %u (order or duplicate)", it->producer,
			     it->seq, s->next[it->producer]);
		s->next[it->producer]++;
		s->total++;
	}
}

Test(mbox, one_thread_takes_in_post_order)
{
	struct rc_mbox mb;
	struct item it[5];
	struct rc_mbox_node *n;

	cr_assert_eq(rc_mbox_open(&mb), 0);
	cr_assert_null(rc_mbox_take(&mb));
	for (uint32_t i = 0; i < 5; i++) {
		it[i].seq = i;
		cr_assert_eq(rc_mbox_post(&mb, &it[i].node), i == 0,
			     "only the first post finds the mailbox empty");
	}
	n = rc_mbox_take(&mb);
	for (uint32_t i = 0; i < 5; i++, n = n->next)
		cr_assert_eq(((struct item *)n)->seq, i);
	cr_assert_null(n);
	cr_assert_null(rc_mbox_take(&mb));
	cr_assert(rc_mbox_post(&mb, &it[0].node), "empty again after a take");
	rc_mbox_close(&mb);
}

Test(mbox, racing_producers_keep_their_order_and_lose_nothing)
{
	struct rc_mbox mb;
	struct producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	pthread_barrier_t start;
	struct seen seen = { 0 };

	cr_assert_eq(rc_mbox_open(&mb), 0);
	pthread_barrier_init(&start, NULL, PRODUCERS + 1);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ .mb = &mb, .id = i, .start = &start,
					  .items = calloc(PER_PRODUCER, sizeof(struct item)) };
		cr_assert_not_null(p[i].items);
		cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
	}
	pthread_barrier_wait(&start);
	/* The consumer takes while they post: every take must be a whole,
	 * ordered prefix of what each producer posted so far. */
	while (seen.total < PRODUCERS * PER_PRODUCER)
		consume(&seen, rc_mbox_take(&mb));
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(seen.next[i], PER_PRODUCER);
		free(p[i].items);
	}
	cr_assert_null(rc_mbox_take(&mb), "nothing posted twice");
	pthread_barrier_destroy(&start);
	rc_mbox_close(&mb);
}

/* The owner's side through a real loop: woken by the eventfd read. */
struct owner {
	struct seen seen;
	uint64_t wakes;
};

static void owner_taken(struct rc_mbox *mb, void *arg)
{
	struct owner *o = arg;

	o->wakes++;
	consume(&o->seen, rc_mbox_take(mb));
	if (o->seen.total == PRODUCERS * PER_PRODUCER)
		rc_loop_stop(mb->loop);
}

static void deadline(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(loop);
}

Test(mbox, producers_wake_the_owners_loop)
{
	struct rc_loop *loop = rc_loop_create(test_loop_opts(), NULL);
	struct rc_timer t = { .io.fn = deadline };
	struct producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	pthread_barrier_t start;
	struct owner o = { 0 };
	struct rc_mbox mb;

	cr_assert_not_null(loop, "loop on %s", test_backend());
	cr_assert_eq(rc_mbox_open(&mb), 0);
	cr_assert_eq(rc_mbox_start(&mb, loop, owner_taken, &o), 0);
	cr_assert_eq(rc_loop_timer_arm(loop, &t, 20000), 0);
	pthread_barrier_init(&start, NULL, PRODUCERS + 1);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ .mb = &mb, .id = i, .start = &start, .wake = true,
					  .items = calloc(PER_PRODUCER, sizeof(struct item)) };
		cr_assert_not_null(p[i].items);
		cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
	}
	pthread_barrier_wait(&start);
	cr_assert_eq(rc_loop_run(loop), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(o.seen.total, PRODUCERS * PER_PRODUCER,
		     "%s: the loop took %u of %u (a wake-up was lost)", test_backend(),
		     o.seen.total, PRODUCERS * PER_PRODUCER);
	cr_assert_gt(o.wakes, 0);
	cr_assert_leq(o.wakes, (uint64_t)PRODUCERS * PER_PRODUCER,
		      "one wake-up covers many posts, never fewer posts than wakes");
	rc_mbox_stop(&mb);
	rc_loop_cancel(loop, &t.io);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		free(p[i].items);
	pthread_barrier_destroy(&start);
	rc_loop_destroy(loop);
	rc_mbox_close(&mb);
}

/* Producers that are loops themselves, as workers are: each posts a slice
 * per turn and wakes the owner with rc_mbox_wake_from (a message from its
 * ring into the owner's on io_uring, the eventfd on epoll), and stops one
 * turn after its last post so that last wake-up is submitted. */
struct loop_producer {
	struct producer p;
	struct rc_loop *loop;
	struct rc_deferred work;
	uint32_t next;
	bool done;
};

static void loop_produce(struct rc_loop *loop, struct rc_deferred *d)
{
	struct loop_producer *lp = (struct loop_producer *)((char *)d -
							    offsetof(struct loop_producer, work));

	if (lp->done) {
		rc_loop_stop(loop);
		return;
	}
	for (uint32_t k = 0; k < 100 && lp->next < PER_PRODUCER; k++, lp->next++) {
		struct item *it = &lp->p.items[lp->next];

		*it = (struct item){ .producer = lp->p.id, .seq = lp->next };
		if (rc_mbox_post(lp->p.mb, &it->node))
			cr_assert_eq(rc_mbox_wake_from(lp->p.mb, loop, NULL), 0);
	}
	lp->done = lp->next == PER_PRODUCER;
	rc_loop_defer_next(loop, &lp->work);
}

static void *loop_producer_main(void *arg)
{
	struct loop_producer *lp = arg;

	/* The ring is set up on the thread that submits (SINGLE_ISSUER). */
	lp->loop = rc_loop_create(test_loop_opts(), NULL);
	cr_assert_not_null(lp->loop);
	lp->work.fn = loop_produce;
	pthread_barrier_wait(lp->p.start);
	rc_loop_defer(lp->loop, &lp->work);
	cr_assert_eq(rc_loop_run(lp->loop), 0);
	rc_loop_destroy(lp->loop);
	return NULL;
}

Test(mbox, producer_loops_wake_the_owner_by_message)
{
	struct rc_loop *loop = rc_loop_create(test_loop_opts(), NULL);
	struct rc_timer t = { .io.fn = deadline };
	struct loop_producer lp[PRODUCERS];
	pthread_t th[PRODUCERS];
	pthread_barrier_t start;
	struct owner o = { 0 };
	struct rc_mbox mb;

	cr_assert_not_null(loop, "loop on %s", test_backend());
	cr_assert_eq(rc_mbox_open(&mb), 0);
	cr_assert_eq(rc_mbox_start(&mb, loop, owner_taken, &o), 0);
	cr_assert_eq(rc_loop_timer_arm(loop, &t, 20000), 0);
	pthread_barrier_init(&start, NULL, PRODUCERS + 1);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		lp[i] = (struct loop_producer){
			.p = { .mb = &mb, .id = i, .start = &start,
			       .items = calloc(PER_PRODUCER, sizeof(struct item)) } };
		cr_assert_not_null(lp[i].p.items);
		cr_assert_eq(pthread_create(&th[i], NULL, loop_producer_main, &lp[i]), 0);
	}
	pthread_barrier_wait(&start);
	cr_assert_eq(rc_loop_run(loop), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(o.seen.total, PRODUCERS * PER_PRODUCER,
		     "%s: the loop took %u of %u (a wake-up was lost)", test_backend(),
		     o.seen.total, PRODUCERS * PER_PRODUCER);
	if (rc_loop_msg_target(loop) >= 0)
		cr_assert_gt(mb.msg_wakes, 0, "io_uring with MSG_RING: woken by messages");
	else
		cr_assert_eq(mb.msg_wakes, 0, "%s: no messages", test_backend());
	rc_mbox_stop(&mb);
	rc_loop_cancel(loop, &t.io);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		free(lp[i].p.items);
	pthread_barrier_destroy(&start);
	rc_loop_destroy(loop);
	rc_mbox_close(&mb);
}

/* --- the reference count: one holder per thread --- */

#define HOLDERS 4
#define ROUNDS 2000

struct shared_obj {
	struct rc_xref refs;
	_Atomic int frees;
	uint64_t payload[8];		/* written before sharing, read by holders */
};

struct holder {
	struct shared_obj **objs;
	_Atomic uint64_t *sum;
	pthread_barrier_t *start;
};

static void *hold_and_drop(void *arg)
{
	struct holder *h = arg;
	uint64_t sum = 0;

	pthread_barrier_wait(h->start);
	for (int r = 0; r < ROUNDS; r++) {
		struct shared_obj *o = h->objs[r];

		for (int i = 0; i < 8; i++)
			sum += o->payload[i];
		if (rc_xref_put(&o->refs)) {
			atomic_fetch_add(&o->frees, 1);
			memset(o->payload, 0, sizeof(o->payload));
		}
	}
	atomic_fetch_add(h->sum, sum);
	return NULL;
}

Test(xref, exactly_one_holder_frees_and_every_holder_read_it_whole)
{
	struct shared_obj *objs = calloc(ROUNDS, sizeof(*objs));
	struct shared_obj **ptrs = calloc(ROUNDS, sizeof(*ptrs));
	struct holder h[HOLDERS];
	pthread_t th[HOLDERS];
	pthread_barrier_t start;
	_Atomic uint64_t sum = 0;

	cr_assert(objs && ptrs);
	for (int r = 0; r < ROUNDS; r++) {
		rc_xref_init(&objs[r].refs, HOLDERS);
		for (int i = 0; i < 8; i++)
			objs[r].payload[i] = 1;
		ptrs[r] = &objs[r];
	}
	pthread_barrier_init(&start, NULL, HOLDERS);
	for (int i = 0; i < HOLDERS; i++) {
		h[i] = (struct holder){ .objs = ptrs, .sum = &sum, .start = &start };
		cr_assert_eq(pthread_create(&th[i], NULL, hold_and_drop, &h[i]), 0);
	}
	for (int i = 0; i < HOLDERS; i++)
		pthread_join(th[i], NULL);
	for (int r = 0; r < ROUNDS; r++) {
		cr_assert_eq(atomic_load(&objs[r].frees), 1, "object %d freed %d times", r,
			     atomic_load(&objs[r].frees));
		cr_assert_eq(rc_xref_count(&objs[r].refs), 0);
	}
	/* The last holder cleared the payload only after everyone read it. */
	cr_assert_eq(atomic_load(&sum), (uint64_t)HOLDERS * ROUNDS * 8);
	pthread_barrier_destroy(&start);
	free(ptrs);
	free(objs);
}

Test(xref, get_adds_and_only_the_last_put_says_so)
{
	struct rc_xref r;

	rc_xref_init(&r, 1);
	rc_xref_get(&r, 2);
	cr_assert_eq(rc_xref_count(&r), 3);
	cr_assert_not(rc_xref_put(&r));
	cr_assert_not(rc_xref_put(&r));
	cr_assert(rc_xref_put(&r));
}

/* --- the registry's process-wide bounds, raced by threads --- */

#define RACERS 4
#define TRIES 1000

struct racer {
	struct rc_chanreg_ent *e;
	pthread_barrier_t *start;
	uint32_t max;
	uint32_t got_subs, got_pubs;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	for (int i = 0; i < TRIES; i++) {
		if (rc_chanreg_sub_reserve(r->e, r->max))
			r->got_subs++;
		if (rc_chanreg_pub_claim(r->e, false))
			r->got_pubs++;
	}
	return NULL;
}

Test(chanreg, max_subscribers_and_one_publisher_hold_across_threads)
{
	struct rc_chanreg reg;
	struct rc_chanreg_ent *e;
	struct racer r[RACERS];
	pthread_t th[RACERS];
	pthread_barrier_t start;
	uint32_t subs = 0, pubs = 0;

	cr_assert_eq(rc_chanreg_init(&reg, RACERS), 0);
	e = rc_chanreg_hold(&reg, "live", 4);
	cr_assert_not_null(e);
	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .e = e, .start = &start, .max = 37 };
		cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		subs += r[i].got_subs;
		pubs += r[i].got_pubs;
	}
	cr_assert_eq(subs, 37, "max-subscribers 37, %u reserved", subs);
	cr_assert_eq(rc_chanreg_subs(e), 37);
	cr_assert_eq(pubs, 1, "one publisher, %u claimed", pubs);
	rc_chanreg_pub_release(e);
	cr_assert(rc_chanreg_pub_claim(e, false), "a released place can be claimed again");
	cr_assert(rc_chanreg_pub_claim(e, true), "multi-publisher channels take more");
	cr_assert_eq(rc_chanreg_publishers(e), 2);
	rc_chanreg_sub_release(e);
	cr_assert(rc_chanreg_sub_reserve(e, 37));
	cr_assert_not(rc_chanreg_sub_reserve(e, 37));
	pthread_barrier_destroy(&start);
	rc_chanreg_drop(&reg, e);
	rc_chanreg_fini(&reg);
}

Test(chanreg, entries_live_while_a_loop_holds_them)
{
	struct rc_chanreg reg;
	struct rc_chanreg_ent *a, *b;

	cr_assert_eq(rc_chanreg_init(&reg, 2), 0);
	cr_assert_neq(rc_chanreg_init(&(struct rc_chanreg){ 0 }, RC_CHANREG_MAX_LOOPS + 1), 0);
	cr_assert_not(rc_chanreg_exists(&reg, "x", 1));
	a = rc_chanreg_hold(&reg, "x", 1);
	b = rc_chanreg_hold(&reg, "x", 1);
	cr_assert_eq(a, b, "one entry per name");
	cr_assert_eq(rc_chanreg_count(&reg), 1);
	rc_chanreg_set_interest(a, 1, true);
	rc_chanreg_set_interest(a, 0, true);
	rc_chanreg_set_interest(a, 0, false);
	cr_assert_eq(rc_chanreg_interest(a), 2u);
	rc_chanreg_drop(&reg, a);
	cr_assert(rc_chanreg_exists(&reg, "x", 1), "the other holder keeps it");
	rc_chanreg_drop(&reg, b);
	cr_assert_not(rc_chanreg_exists(&reg, "x", 1));
	cr_assert_eq(rc_chanreg_count(&reg), 0);
	rc_chanreg_fini(&reg);
}

/* --- counter snapshots: never torn --- */

#define WORDS 64

struct snap_writer {
	struct rc_snap *s;
	_Atomic bool *done;
};

static void *write_snaps(void *arg)
{
	struct snap_writer *w = arg;
	uint64_t v[WORDS];

	for (uint64_t k = 1; k <= 200000; k++) {
		for (int i = 0; i < WORDS; i++)
			v[i] = k;
		rc_snap_write(w->s, v);
	}
	atomic_store(w->done, true);
	return NULL;
}

Test(snap, a_reader_never_sees_a_torn_copy)
{
	struct rc_snap s;
	_Atomic bool done = false;
	struct snap_writer w = { .s = &s, .done = &done };
	uint64_t v[WORDS], last = 0;
	pthread_t th;
	unsigned reads = 0;

	cr_assert_eq(rc_snap_init(&s, WORDS), 0);
	cr_assert_eq(pthread_create(&th, NULL, write_snaps, &w), 0);
	while (!atomic_load(&done) || reads == 0) {
		rc_snap_read(&s, v);
		for (int i = 1; i < WORDS; i++)
			cr_assert_eq(v[i], v[0], "torn snapshot: word %d is %llu, word 0 %llu", i,
				     (unsigned long long)v[i], (unsigned long long)v[0]);
		cr_assert_geq(v[0], last, "snapshots go forward");
		last = v[0];
		reads++;
	}
	pthread_join(th, NULL);
	rc_snap_read(&s, v);
	cr_assert_eq(v[0], 200000u);
	rc_snap_fini(&s);
}
