/* The hub's fan-out over real sockets and a real loop: batches of small
 * frames keep each subscriber's byte stream exactly in publish order (with
 * unbatched frames and raw subscribers in between), count every message,
 * never give a subscriber what was published before it joined, and drop
 * whole batches of a slow subscriber counting each message. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bufring.h"
#include "channel.h"
#include "loop.h"
#include "sendq.h"
#include "shmsg.h"

#define NSUBS 4

struct sub {
	struct rc_sub s;
	struct rc_sendq q;
	int peer;
	uint8_t got[1 << 16];
	size_t got_len;
	size_t want;
	uint8_t expect[1 << 16];
	size_t expect_len;
};

static struct rc_loop *loop;
static struct rc_bufring *br;
static struct rc_hub hub;
static struct rc_sendq_stats stats;
static struct rc_sendq_ctx qctx;
static struct sub subs[NSUBS];
static struct rc_timer poll_timer;
static int polls;

static void on_error(struct rc_sendq *q, int err)
{
	(void)q;
	cr_assert_fail("send error %d", err);
}

static const struct rc_sendq_ops ops = { .on_error = on_error };

static void on_evict(struct rc_sub *s, enum rc_drop_reason reason)
{
	(void)s;
	cr_assert_fail("unexpected eviction (%s)", rc_drop_reason_name(reason));
}

static void poll_peers(struct rc_loop *l, struct rc_io *io, const struct rc_cqe *cqe)
{
	bool done = true;

	(void)io;
	(void)cqe;
	for (int i = 0; i < NSUBS; i++) {
		struct sub *u = &subs[i];
		ssize_t n;

		while ((n = read(u->peer, u->got + u->got_len, sizeof(u->got) - u->got_len)) > 0)
			u->got_len += (size_t)n;
		done &= u->got_len >= u->expect_len;
	}
	if (done || ++polls > 5000) {
		rc_loop_stop(l);
		return;
	}
	cr_assert_eq(rc_loop_timer_arm(l, &poll_timer, 1), 0);
}

static void setup(void)
{
	struct rc_bufring_opts bo = { .group = 0, .count = 64, .size = 2048, .headroom = 16,
				      .low_water = 8 };
	int err = 0;

	memset(subs, 0, sizeof(subs));
	memset(&stats, 0, sizeof(stats));
	loop = rc_loop_create(NULL, &err);
	cr_assert_not_null(loop);
	br = rc_bufring_create(loop, &bo, &err);
	cr_assert_not_null(br);
	cr_assert_eq(rc_hub_init(&hub, loop, br, 16), 0);
	hub.stats.send = (struct rc_sendq_stats){ 0 };
	poll_timer.io.fn = poll_peers;
	polls = 0;
	qctx = (struct rc_sendq_ctx){ .loop = loop, .ops = &ops, .stats = &stats };
	for (int i = 0; i < NSUBS; i++) {
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		subs[i].peer = sv[1];
		rc_sendq_init(&subs[i].q, &qctx, sv[0]);
		subs[i].s = (struct rc_sub){ .q = &subs[i].q, .owner = &subs[i], .kind = RC_SUB_FRAME,
					     .max_queue = 1 << 20, .policy = RC_SLOW_DROP,
					     .evict = on_evict };
	}
}

static void teardown(void)
{
	for (int i = 0; i < NSUBS; i++) {
		rc_hub_unsubscribe(&hub, &subs[i].s);
		rc_sendq_kill(&subs[i].q);
		close(subs[i].q.fd);
		close(subs[i].peer);
	}
	rc_hub_fini(&hub);
	rc_bufring_destroy(br);
	rc_loop_destroy(loop);
}

TestSuite(core_hub, .init = setup, .fini = teardown);

static struct rc_channel *channel(const char *name)
{
	int err = 0;
	struct rc_channel *ch = rc_hub_acquire(&hub, name, strlen(name), &err);

	cr_assert_not_null(ch, "acquire %s: %d", name, err);
	return ch;
}

static void join(struct rc_channel *ch, int i, enum rc_sub_kind kind)
{
	subs[i].s.kind = (uint8_t)kind;
	/* Each subscription holds a channel user, released by unsubscribe. */
	if (ch->users == 0 || subs[i].s.ch == NULL)
		ch->users++;
	cr_assert_eq(rc_hub_subscribe(&hub, ch, &subs[i].s), 0);
}

/* When set, the next messages published carry this tag of their own
 * (rc_msg.tag). */
static struct rc_shmsg *msg_tag;
/* When set, the next messages published carry this compressed frame
 * (rc_msg.z), which deflate subscribers get instead of the frame. */
static struct rc_shmsg *msg_z;

/* Publishes a heap message whose "frame" is hdr (2 bytes) + payload, a
 * keyframe or not; the expected bytes of every subscriber of ch are
 * appended as kinds dictate (a subscriber still waiting for a keyframe,
 * marked by want != 0, expects nothing before one). */
static void publish_key(struct rc_channel *ch, size_t len, unsigned seed, bool key)
{
	struct rc_shmsg *m = rc_shmsg_new((uint32_t)len);
	struct rc_msg msg;

	cr_assert_not_null(m);
	for (size_t i = 0; i < len; i++)
		m->data[i] = (uint8_t)(seed * 13u + i);
	m->len = (uint32_t)len;
	m->head[RC_SHMSG_HEADROOM - 2] = 0x82;
	m->head[RC_SHMSG_HEADROOM - 1] = (uint8_t)seed;
	msg = (struct rc_msg){ .frame = m->data - 2, .hdr_len = 2, .payload_len = (uint32_t)len,
			       .shm = m, .keyframe = key, .tag = msg_tag, .z = msg_z };
	for (int i = 0; i < NSUBS; i++) {
		struct sub *u = &subs[i];

		if (u->s.ch != ch || (u->want && !key))
			continue;
		u->want = 0;
		if (u->s.kind == RC_SUB_TAGGED && (msg_tag || ch->tag)) {
			struct rc_shmsg *t = msg_tag ? msg_tag : ch->tag;

			memcpy(u->expect + u->expect_len, t->data, t->len);
			u->expect_len += t->len;
		}
		if (u->s.deflate && msg_z) {
			memcpy(u->expect + u->expect_len, msg_z->data, msg_z->len);
			u->expect_len += msg_z->len;
			continue;
		}
		if (u->s.kind != RC_SUB_RAW) {
			memcpy(u->expect + u->expect_len, msg.frame, 2);
			u->expect_len += 2;
		}
		memcpy(u->expect + u->expect_len, m->data, len);
		u->expect_len += len;
	}
	rc_hub_publish(&hub, ch, &msg);
	rc_shmsg_unref(m);
}

static void publish(struct rc_channel *ch, size_t len, unsigned seed)
{
	publish_key(ch, len, seed, false);
}

static void run_and_check(void)
{
	cr_assert_eq(rc_loop_timer_arm(loop, &poll_timer, 1), 0);
	cr_assert_eq(rc_loop_run(loop), 0);
	for (int i = 0; i < NSUBS; i++) {
		cr_assert_eq(subs[i].got_len, subs[i].expect_len, "sub %d: %zu of %zu bytes", i,
			     subs[i].got_len, subs[i].expect_len);
		cr_assert(memcmp(subs[i].got, subs[i].expect, subs[i].expect_len) == 0,
			  "sub %d: bytes differ", i);
	}
}

Test(core_hub, batches_keep_order_with_large_frames_and_raw_subscribers)
{
	struct rc_channel *ch = channel("a");
	uint64_t frames;

	join(ch, 0, RC_SUB_FRAME);
	join(ch, 1, RC_SUB_FRAME);
	join(ch, 2, RC_SUB_RAW);
	/* small, small, small, large (not batched), small, small: one turn */
	publish(ch, 100, 1);
	publish(ch, 10, 2);
	publish(ch, 1000, 3);
	publish(ch, 5000, 4);
	publish(ch, 1, 5);
	publish(ch, 200, 6);
	run_and_check();
	/* The large frame closed the first batch: two batches of 3 and 2. */
	cr_assert_eq(hub.stats.batches, 2);
	cr_assert_eq(hub.stats.batched_msgs, 5);
	frames = stats.frames;
	cr_assert_eq(frames, 3 * 6, "every message counted once per subscriber: %llu",
		     (unsigned long long)frames);
}

Test(core_hub, joiner_gets_nothing_published_before_it_joined)
{
	struct rc_channel *ch = channel("a");

	join(ch, 0, RC_SUB_FRAME);
	publish(ch, 50, 1);
	publish(ch, 60, 2);
	join(ch, 1, RC_SUB_FRAME);
	publish(ch, 70, 3);
	run_and_check();
	cr_assert_eq(subs[1].got_len, 2 + 70u, "the joiner got %zu bytes", subs[1].got_len);
	cr_assert_eq(stats.frames, 4u);
}

Test(core_hub, tagged_subscribers_get_a_label_before_each_message)
{
	struct rc_channel *ch = channel("a");
	static uint8_t lbl[] = "LBL";
	struct rc_shmsg *label = rc_shmsg_new(sizeof(lbl) - 1);

	cr_assert_not_null(label);
	memcpy(label->data, lbl, sizeof(lbl) - 1);
	label->len = sizeof(lbl) - 1;
	ch->tag = label;
	join(ch, 0, RC_SUB_FRAME);
	join(ch, 1, RC_SUB_TAGGED);
	publish(ch, 30, 1);
	publish(ch, 40, 2);
	/* Turning plain into tagged mid-turn closes the batch: from then on
	 * sub 0's messages carry labels too. */
	rc_hub_sub_set_kind(&hub, &subs[0].s, RC_SUB_TAGGED);
	publish(ch, 50, 3);
	run_and_check();
	cr_assert_eq(ch->ntagged, 2);
	ch->tag = NULL;
	rc_shmsg_unref(label);
}

/* A label of 4 bytes: text, then the message's number. */
static struct rc_shmsg *label_n(unsigned n)
{
	struct rc_shmsg *l = rc_shmsg_new(4);

	cr_assert_not_null(l);
	memcpy(l->data, "LB", 2);
	l->data[2] = (uint8_t)'0' + (uint8_t)(n / 10);
	l->data[3] = (uint8_t)'0' + (uint8_t)(n % 10);
	l->len = 4;
	return l;
}

Test(core_hub, a_message_with_its_own_tag_gets_it_batched_or_not)
{
	struct rc_channel *ch = channel("a");
	struct rc_shmsg *plain = label_n(0);
	/* small (batched), large (sent from where it is), small, and one
	 * without a tag of its own (the channel's) */
	size_t lens[] = { 30, 5000, 40, 20 };

	ch->tag = plain;
	join(ch, 0, RC_SUB_FRAME);
	join(ch, 1, RC_SUB_TAGGED);
	join(ch, 2, RC_SUB_RAW);
	for (unsigned i = 0; i < 4; i++) {
		msg_tag = i < 3 ? label_n(i + 1) : NULL;
		publish(ch, lens[i], i + 1);
		/* The hub took what it needs: batches copy the tag, queues
		 * referencing it took their own reference. */
		if (msg_tag)
			rc_shmsg_unref(msg_tag);
		msg_tag = NULL;
	}
	run_and_check();
	ch->tag = NULL;
	rc_shmsg_unref(plain);
}

/* A stand-in compressed frame of n bytes. */
static struct rc_shmsg *zframe(unsigned n, unsigned seed)
{
	struct rc_shmsg *z = rc_shmsg_new(n);

	cr_assert_not_null(z);
	for (unsigned i = 0; i < n; i++)
		z->data[i] = (uint8_t)(0xc0 + seed + i);
	z->len = n;
	return z;
}

Test(core_hub, deflate_subscribers_get_compressed_frames_batched_or_not)
{
	struct rc_channel *ch = channel("a");
	struct rc_shmsg *plain = label_n(0);
	/* small with a compressed form, small without (not worth it),
	 * large (not batched) with one, small with one */
	size_t lens[] = { 300, 30, 5000, 400 };
	bool has_z[] = { true, false, true, true };
	uint64_t batches;

	ch->tag = plain;
	join(ch, 0, RC_SUB_FRAME);
	subs[1].s.deflate = true;
	join(ch, 1, RC_SUB_FRAME);
	subs[2].s.deflate = true;
	join(ch, 2, RC_SUB_TAGGED);
	join(ch, 3, RC_SUB_RAW);
	cr_assert(ch->nz == 2 && ch->nztagged == 1 && ch->nbatched == 1);
	for (unsigned i = 0; i < 4; i++) {
		msg_z = has_z[i] ? zframe(20 + i, i) : NULL;
		msg_tag = label_n(i + 1);
		publish(ch, lens[i], i + 1);
		if (msg_z)
			rc_shmsg_unref(msg_z);
		rc_shmsg_unref(msg_tag);
		msg_z = msg_tag = NULL;
	}
	batches = hub.stats.batches;
	run_and_check();
	/* The large message closed the first batches: two rounds. */
	cr_assert_eq(batches, 1, "%llu", (unsigned long long)batches);
	cr_assert_eq(hub.stats.batches, 2);
	/* Compressed frames: 2 batched + 1 large + 1 batched, to 2 subscribers. */
	cr_assert_eq(hub.stats.zdeliveries, 2u * 3u, "%llu",
		     (unsigned long long)hub.stats.zdeliveries);
	ch->tag = NULL;
	rc_shmsg_unref(plain);
}

Test(core_hub, slow_subscriber_misses_whole_batches_each_message_counted)
{
	struct rc_channel *ch = channel("a");

	join(ch, 0, RC_SUB_FRAME);
	join(ch, 1, RC_SUB_FRAME);
	subs[1].s.max_queue = 100;	/* less than the batch below */
	for (unsigned k = 0; k < 5; k++) {
		publish(ch, 40, k);
	}
	/* Sub 1 gets nothing of this batch, and its expectation says so. */
	subs[1].expect_len = 0;
	run_and_check();
	cr_assert_eq(subs[1].s.drops, 5);
	cr_assert_eq(ch->drops, 5);
	cr_assert_eq(hub.stats.drops[RC_DROP_SLOW_DROP], 5);
	cr_assert_eq(stats.frames, 5u);
}

/* A video joiner that could not start at a cached keyframe skips live
 * messages up to the next one, also when that keyframe lies inside a
 * fan-out batch, and each skipped message is counted as its drop. */
Test(core_hub, a_joiner_waiting_for_a_keyframe_starts_there)
{
	struct rc_channel *ch = channel("v");

	join(ch, 0, RC_SUB_FRAME);
	join(ch, 1, RC_SUB_FRAME);
	join(ch, 2, RC_SUB_RAW);
	subs[0].s.await_key = true;
	subs[0].want = 1;
	subs[2].s.await_key = true;
	subs[2].want = 1;
	/* One turn: two messages, a keyframe, one more (all batched). */
	publish_key(ch, 100, 1, false);
	publish_key(ch, 50, 2, false);
	publish_key(ch, 70, 3, true);
	publish_key(ch, 30, 4, false);
	run_and_check();
	cr_assert(!subs[0].s.await_key && !subs[2].s.await_key);
	cr_assert_eq(subs[0].s.drops, 2, "batched joiner skipped %llu",
		     (unsigned long long)subs[0].s.drops);
	cr_assert_eq(subs[2].s.drops, 2, "raw joiner skipped %llu",
		     (unsigned long long)subs[2].s.drops);
	cr_assert_eq(subs[1].s.drops, 0);
	cr_assert_eq(hub.stats.drops[RC_DROP_KEYFRAME_WAIT], 4);
	/* Next turn, with no keyframe at all, a new waiter gets nothing. */
	join(ch, 3, RC_SUB_FRAME);
	subs[3].s.await_key = true;
	subs[3].want = 1;
	publish_key(ch, 40, 5, false);
	run_and_check();
	cr_assert_eq(subs[3].s.drops, 1);
	cr_assert(subs[3].s.await_key);
}

static void stop_now(struct rc_loop *l, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(l);
}

/* A channel whose last user leaves is kept for the grace period, also when
 * the sweep runs in the same loop turn (the server's tick both closes
 * timed-out clients and sweeps), whatever the clock reads then. */
Test(core_hub, released_channel_kept_for_grace_in_the_same_turn)
{
	struct rc_timer t = { .io.fn = stop_now };
	bool seen[2] = { false, false };

	hub.grace_ms = 30000;
	/* Both parities of the turn's clock, each at least once. */
	for (int turns = 0; turns < 200 && !(seen[0] && seen[1]); turns++) {
		uint64_t now = rc_loop_now_ms(loop);
		struct rc_channel *ch = channel("g");

		seen[now & 1] = true;
		rc_hub_release(&hub, ch);
		rc_hub_sweep(&hub);
		cr_assert_not_null(rc_hub_find(&hub, "g", 1),
				   "freed at once when released at %llu ms, before its grace period",
				   (unsigned long long)now);
		cr_assert_eq(rc_loop_timer_arm(loop, &t, 1), 0);
		cr_assert_eq(rc_loop_run(loop), 0);
	}
	cr_assert(seen[0] && seen[1], "the clock should have read both parities");
}
