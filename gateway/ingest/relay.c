/* Messages crossing workers. See relay.h. */
#include "relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "publish.h"
#include "state.h"
#include "ws_frame.h"

/* Wakes every worker of srv's wake mask: by a message from srv's ring when
 * the process wakes that way and `by_msg` (srv's loop submits again), else
 * by eventfd. */
static void wake_marked(struct rc_server *srv, bool by_msg)
{
	uint64_t mask = srv->relay_wake_mask;

	srv->relay_wake_mask = 0;
	while (mask) {
		uint32_t w = (uint32_t)__builtin_ctzll(mask);
		struct rc_mbox *mb = &srv->proc->inbox[w];
		int ret;

		mask &= mask - 1;
		ret = by_msg && srv->proc->wake_by_msg
			      ? rc_mbox_wake_from(mb, srv->loop, &srv->relay_wake_fail[w].io)
			      : rc_mbox_wake(mb);
		if (ret < 0)
			rc_log_error("relay: cannot wake worker %u", w);
	}
}

/* End of the origin's turn: wakes each worker whose mailbox this turn's
 * first post found empty (the later posts of the turn ride on that wake). */
static void relay_wake(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_server *srv = (struct rc_server *)((char *)d -
						     offsetof(struct rc_server, relay_wake));

	(void)loop;
	wake_marked(srv, true);
}

void rc_relay_flush(struct rc_server *srv)
{
	/* The loop ends: nothing it queues now would be submitted. */
	if (srv->relay_wake_mask)
		wake_marked(srv, false);
}

/* A wake-up message to worker w failed in the kernel: wake it by eventfd
 * instead (its mailbox stays non-empty until it takes it, so no later post
 * would). */
static void relay_wake_failed(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_relay_wake_fail *f = (struct rc_relay_wake_fail *)io;

	(void)loop;
	rc_log_debug("relay: wake-up message to worker %u failed (%s): eventfd instead", f->worker,
		     strerror(-cqe->res));
	if (rc_mbox_wake(&f->srv->proc->inbox[f->worker]) < 0)
		rc_log_error("relay: cannot wake worker %u", f->worker);
}

void rc_relay_init(struct rc_server *srv)
{
	srv->relay_wake.fn = relay_wake;
	for (uint32_t w = 0; w < RC_CONFIG_WORKERS_MAX; w++)
		srv->relay_wake_fail[w] = (struct rc_relay_wake_fail){
			.io.fn = relay_wake_failed, .srv = srv, .worker = w };
}

#define RC_RELAY_ALIGN(n) (((n) + 63) & ~(size_t)63)
_Static_assert(sizeof(struct rc_shmsg) % 64 == 0, "a view is whole cache lines");

/* A destination's send queue finds its view from the frame by a 16-bit
 * offset (sendq.c): the frame must lie within 64 KiB past every view. */
_Static_assert(RC_CONFIG_WORKERS_MAX * sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM < 65536,
	       "hand-off views too far from the frame");

/* A block for ndest destinations with room for len payload bytes, one
 * reference per destination; a message's block (views) also has a handle
 * per destination and headroom for the frame header. NULL without
 * memory. */
static struct rc_relay_msg *relay_new(uint32_t ndest, uint32_t len, bool views)
{
	/* Each destination's view on a cache line of its own: a worker
	 * writes its view's count per queue entry, and must not share a line
	 * with another worker's view or with the mailbox nodes. */
	size_t head = RC_RELAY_ALIGN(sizeof(struct rc_relay_msg) +
				     ndest * sizeof(struct rc_relay_dest));
	size_t vsize = views ? ndest * sizeof(struct rc_shmsg) + RC_SHMSG_HEADROOM : 0;
	size_t size = RC_RELAY_ALIGN(head + vsize + len);
	struct rc_relay_msg *m = aligned_alloc(64, size);

	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	rc_xref_init(&m->refs, ndest);
	m->ndest = ndest;
	m->size = size;
	m->len = len;
	m->data = (uint8_t *)m + head + vsize;
	for (uint32_t i = 0; i < ndest; i++)
		m->dest[i].view = views ? (struct rc_shmsg *)((uint8_t *)m + head) + i : NULL;
	rc_mem_charge(size);
	return m;
}

/* Posts m to every worker of mask, one node each. Every write to m is
 * done before the first post: from then on other threads read it. */
static void post_all(struct rc_server *srv, struct rc_relay_msg *m, uint64_t mask, bool now)
{
	uint32_t i = 0;

	while (mask) {
		uint32_t w = (uint32_t)__builtin_ctzll(mask);
		struct rc_relay_dest *d = &m->dest[i++];

		mask &= mask - 1;
		d->msg = m;
		/* Ownership of this reference passes to worker w here. */
		if (!rc_mbox_post(&srv->proc->inbox[w], &d->node))
			continue;
		if (now)
			rc_mbox_wake(&srv->proc->inbox[w]);
		else
			srv->relay_wake_mask |= 1ull << w;
	}
	if (!now && srv->relay_wake_mask)
		rc_loop_defer(srv->loop, &srv->relay_wake);
}

void rc_relay_publish(struct rc_server *srv, struct rc_channel *ch, const uint8_t *payload,
		      uint32_t len, unsigned opcode, uint64_t seq)
{
	uint32_t n = srv->proc->nworkers;
	uint64_t all = (n >= 64 ? ~0ull : (1ull << n) - 1) & ~(1ull << srv->id);
	uint64_t mask;
	bool cached;
	struct rc_relay_msg *m;

	if (n < 2 || !ch->shared)
		return;
	cached = atomic_load_explicit(&ch->shared->cached, memory_order_relaxed);
	mask = cached ? all : rc_chanreg_interest(ch->shared) & all;
	if (!mask)
		return;
	/* The one copy of the payload that every other worker reads and
	 * sends from: the ring buffer it came in stays here and goes back to
	 * this worker's ring when this worker is done with it. */
	m = relay_new((uint32_t)__builtin_popcountll(mask), len, true);
	if (!m) {
		rc_log_warn("relay: out of memory, message of %s not handed to other workers",
			    ch->name);
		rc_hub_count_drop(&srv->hub, RC_DROP_CLOSED);
		return;
	}
	m->kind = RC_RELAY_MSG;
	m->opcode = (uint8_t)opcode;
	m->seq = seq;
	m->cached = cached;
	m->name_len = (uint8_t)ch->name_len;
	memcpy(m->name, ch->name, ch->name_len + 1);
	memcpy(m->data, payload, len);
	/* Framed here, once, before any other thread sees the block. */
	m->hdr_len = (uint8_t)(m->data - rc_ws_header_prepend(m->data, opcode, len));
	srv->stats.relayed_out += m->ndest;
	post_all(srv, m, mask, false);
}

int rc_relay_control(struct rc_server *srv, enum rc_relay_kind kind)
{
	uint32_t n = srv->proc->nworkers;
	uint64_t all = (n >= 64 ? ~0ull : (1ull << n) - 1) & ~(1ull << srv->id);
	struct rc_relay_msg *m;

	if (!all)
		return 0;
	m = relay_new((uint32_t)__builtin_popcountll(all), 0, false);
	if (!m)
		return -ENOMEM;
	m->kind = (uint8_t)kind;
	post_all(srv, m, all, true);
	return 0;
}

int rc_relay_uplink(struct rc_server *srv, uint32_t w, struct rc_channel *ch, uint32_t sub_id,
		    const uint8_t *data, uint32_t len)
{
	struct rc_relay_msg *m = relay_new(1, len, false);

	if (!m)
		return -ENOMEM;
	m->kind = RC_RELAY_UPLINK;
	m->seq = sub_id;
	m->name_len = (uint8_t)ch->name_len;
	memcpy(m->name, ch->name, ch->name_len + 1);
	memcpy(m->data, data, len);
	rc_relay_post_one(srv, m, w);
	return 0;
}

struct rc_relay_msg *rc_relay_new_ctl(enum rc_relay_kind kind, void *ctx)
{
	struct rc_relay_msg *m = relay_new(1, 0, false);

	if (m) {
		m->kind = (uint8_t)kind;
		m->ctx = ctx;
	}
	return m;
}

void rc_relay_post_one(struct rc_server *srv, struct rc_relay_msg *m, uint32_t w)
{
	/* Nobody else holds m now (it is new, or was taken from this worker's
	 * mailbox), so its count starts again at one: w's. */
	rc_xref_init(&m->refs, 1);
	post_all(srv, m, 1ull << w, false);
}

struct rc_relay_msg *rc_relay_of(struct rc_mbox_node *n)
{
	return ((struct rc_relay_dest *)n)->msg;
}

void rc_relay_put(struct rc_relay_msg *m)
{
	if (rc_xref_put(&m->refs)) {
		rc_mem_uncharge(m->size);
		free(m);
	}
}

/* ch of this worker, made (and held) when missing: a channel whose cache
 * this worker keeps a copy of, or one a mux datagram names. NULL without
 * memory or room. */
static struct rc_channel *hold_channel(struct rc_server *srv, const char *name, size_t len)
{
	struct rc_channel *ch;
	int err = 0;

	ch = rc_hub_acquire(&srv->hub, name, len, &err);
	if (!ch)
		return NULL;
	/* Kept by the hold, not by a user: it goes once no worker uses the
	 * channel (rc_relay_tick). */
	rc_hub_hold(&srv->hub, ch);
	rc_hub_release(&srv->hub, ch);
	return ch;
}

/* The last of this worker's references on its view is gone. */
static void view_released(void *arg)
{
	rc_relay_put(arg);
}

void rc_relay_deliver(struct rc_server *srv, struct rc_mbox_node *n)
{
	struct rc_relay_dest *d = (struct rc_relay_dest *)n;
	struct rc_relay_msg *m = d->msg;
	struct rc_channel *ch = rc_hub_find(&srv->hub, m->name, m->name_len);

	srv->stats.relayed_in++;
	if (!ch && m->cached)
		ch = hold_channel(srv, m->name, m->name_len);
	if (!ch) {
		/* Its last subscriber here left after the origin looked. */
		srv->stats.relay_unclaimed++;
		rc_relay_put(m);
		return;
	}
	/* This worker's handle on the block's frame: its subscribers' queues
	 * and its cache count their references on it locally, never on the
	 * block's atomic count, which the handle's last reference drops. */
	rc_shmsg_view_init(d->view, m->data, m->len, view_released, m);
	rc_publish_relayed(srv, ch, d->view, m->opcode, m->hdr_len, m->seq);
}

void rc_relay_tick(struct rc_server *srv)
{
	struct rc_hub *hub = &srv->hub;

	if (srv->proc->nworkers < 2)
		return;
	for (size_t b = 0; b < RC_HUB_BUCKETS; b++) {
		struct rc_channel *ch = hub->buckets[b], *next;

		for (; ch; ch = next) {
			next = ch->hnext;	/* unhold may free ch */
			if (ch->held && ch->shared &&
			    !atomic_load_explicit(&ch->shared->users, memory_order_relaxed))
				rc_hub_unhold(hub, ch);
		}
	}
}

struct rc_channel *rc_relay_find(struct rc_server *srv, const char *name, size_t len)
{
	struct rc_channel *ch = rc_hub_find(&srv->hub, name, len);

	if (ch || srv->proc->nworkers < 2 || !rc_channel_name_valid(name, len) ||
	    !rc_chanreg_exists(&srv->proc->chanreg, name, len))
		return ch;
	return hold_channel(srv, name, len);
}
