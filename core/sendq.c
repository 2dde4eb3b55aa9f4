/* One-in-flight send queue with coalescing and short-write resume. */
#include "sendq.h"
#include "mem.h"
#include "probes.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#define SENDQ_FIRST_CAP 4u	/* an idle subscriber's queue holds a pong or two */

static struct rc_sendq_ent *ent_at(struct rc_sendq *q, uint32_t i)
{
	return &q->ents[(q->head + i) & (q->cap - 1)];
}

/* Gives back whatever the entry holds. */
static void ent_release(struct rc_sendq *q, struct rc_sendq_ent *e)
{
	switch (RC_SENDQ_KIND(e)) {
	case RC_SENDQ_RING:
		rc_bufring_unref(q->ctx->br, e->bid);
		break;
	case RC_SENDQ_SHARED:
		rc_shmsg_unref((struct rc_shmsg *)(e->ptr - e->bid));
		break;
	case RC_SENDQ_HEAP:
		rc_mem_uncharge(e->len);
		free(e->ptr);
		break;
	}
}

static void pop_head(struct rc_sendq *q)
{
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
}

/* Frees the entry array unless it is the queue's own single slot. */
static void free_ents(struct rc_sendq *q)
{
	if (q->ents != &q->one && q->ents) {
		rc_mem_uncharge(q->cap * sizeof(*q->ents));
		free(q->ents);
	}
	q->ents = NULL;
	q->cap = 0;
	q->head = 0;
}

static int grow(struct rc_sendq *q)
{
	uint32_t cap = q->cap > 1 ? q->cap * 2 : q->cap ? SENDQ_FIRST_CAP : 1;
	struct rc_sendq_ent *ents;

	if (cap == 1) {
		q->ents = &q->one;
		q->cap = 1;
		q->head = 0;
		return 0;
	}
	ents = malloc(cap * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	rc_mem_charge(cap * sizeof(*ents));
	/* Unwrap the ring into the new array so head becomes 0. */
	for (uint32_t i = 0; i < q->count; i++)
		ents[i] = *ent_at(q, i);
	free_ents(q);
	q->ents = ents;
	q->cap = cap;
	return 0;
}

static void sendq_flush(struct rc_loop *loop, struct rc_deferred *d);
static void sendq_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void sendq_finish(struct rc_sendq *q, int32_t res, size_t asked);

/* One zero-copy send. Its user_data receives two completions: the send's
 * result (handed to the queue) and the kernel's notification that it no
 * longer reads the buffer (which drops this send's own reference). It can
 * outlive the queue: after the result, q is cleared. */
struct rc_zc_send {
	struct rc_io io;
	struct rc_sendq *q;
	struct rc_bufring *br;
	struct rc_sendq_stats *stats;
	uint64_t since_ms;		/* when it was submitted */
	size_t asked;
	uint16_t bid;
};

bool rc_sendq_zc_stuck(const struct rc_sendq *q, uint64_t since_ms)
{
	return q->zc && q->zc->since_ms <= since_ms;
}

static void zc_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_zc_send *zs = (struct rc_zc_send *)io;
	struct rc_sendq *q = zs->q;
	size_t asked = zs->asked;

	(void)loop;
	if (cqe->flags & RC_CQE_NOTIF) {
		if (zs->stats && ((uint32_t)cqe->res & RC_ZC_COPIED))
			zs->stats->zc_copied++;
		if (q)
			q->zc = NULL;
		rc_bufring_unref(zs->br, zs->bid);
		free(zs);
		return;
	}
	/* The send's result. With MORE a notification follows, and until it
	 * does q->zc stays set: the kernel still holds the buffer (on a
	 * stalled socket, possibly for ever) and the hub must see that. */
	if (!(cqe->flags & RC_CQE_MORE)) {
		q->zc = NULL;
		rc_bufring_unref(zs->br, zs->bid);
		free(zs);
	}
	sendq_finish(q, cqe->res, asked);
}

/* Sends the head entry alone with SEND_ZC. Returns 0, or -errno to fall
 * back to a copying send. */
static int flush_zc(struct rc_loop *loop, struct rc_sendq *q, struct rc_sendq_ent *e)
{
	struct rc_zc_send *zs = malloc(sizeof(*zs));
	int ret;

	if (!zs)
		return -ENOMEM;
	*zs = (struct rc_zc_send){ .io = { .fn = zc_complete }, .q = q, .br = q->ctx->br,
				   .stats = q->ctx->stats, .bid = e->bid, .asked = e->len - q->offset,
				   .since_ms = rc_loop_now_ms(loop) };
	ret = rc_loop_send_zc(loop, &zs->io, q->fd, e->ptr + q->offset, e->len - q->offset, 0,
			      zs->br->fixed_index);
	if (ret < 0) {
		free(zs);
		return ret;
	}
	/* The kernel reads e's bytes until the notification: hold the buffer
	 * for that long, whatever the queue does with the entry meanwhile. */
	rc_bufring_ref(zs->br, e->bid);
	q->zc = zs;
	if (zs->stats)
		zs->stats->zc_sends++;
	return 0;
}

void rc_sendq_init(struct rc_sendq *q, const struct rc_sendq_ctx *ctx, int fd)
{
	*q = (struct rc_sendq){
		.io = { .fn = sendq_complete },
		.flush = { .fn = sendq_flush },
		.ctx = ctx,
		.fd = fd,
	};
}

void rc_sendq_free(struct rc_sendq *q)
{
	free_ents(q);
	if (q->vec) {
		rc_mem_uncharge(sizeof(*q->vec));
		free(q->vec);
	}
	q->vec = NULL;
}

static int push(struct rc_sendq *q, uint8_t *ptr, uint32_t len, uint16_t bid, uint8_t kind,
		uint8_t msgs)
{
	struct rc_sendq_ent *e;

	if (q->dead)
		return -EPIPE;
	if (q->count == q->cap && grow(q) < 0)
		return -ENOMEM;
	e = &q->ents[(q->head + q->count) & (q->cap - 1)];
	*e = (struct rc_sendq_ent){ .ptr = ptr, .len = len, .bid = bid, .kind = kind,
				    .msgs = msgs };
	q->count++;
	q->queued_bytes += len;
	if (!q->inflight)
		rc_loop_defer_send(q->ctx->loop, &q->flush);
	return 0;
}

int rc_sendq_push_ring(struct rc_sendq *q, uint8_t *ptr, uint32_t len, uint16_t bid, bool counted)
{
	int ret = push(q, ptr, len, bid, RC_SENDQ_RING, counted ? 1 : 0);

	if (ret == 0)
		rc_bufring_ref(q->ctx->br, bid);
	return ret;
}

int rc_sendq_push_shared(struct rc_sendq *q, struct rc_shmsg *m, uint8_t *ptr, uint32_t len,
			 uint8_t msgs)
{
	/* ptr lies in m's header room or payload, so its offset from m is
	 * small: it is kept in the entry's bid field, and m found from it. */
	int ret = push(q, ptr, len, (uint16_t)(ptr - (uint8_t *)m), RC_SENDQ_SHARED, msgs);

	if (ret == 0)
		rc_shmsg_ref(m);
	return ret;
}

int rc_sendq_push_label(struct rc_sendq *q, struct rc_shmsg *m, uint8_t *ptr, uint32_t len)
{
	int ret = push(q, ptr, len, (uint16_t)(ptr - (uint8_t *)m),
		       RC_SENDQ_SHARED | RC_SENDQ_F_JOIN, 0);

	if (ret == 0)
		rc_shmsg_ref(m);
	return ret;
}

int rc_sendq_push_heap(struct rc_sendq *q, uint8_t *ptr, uint32_t len)
{
	int ret = push(q, ptr, len, 0, RC_SENDQ_HEAP, 0);

	if (ret < 0)
		free(ptr);
	else
		rc_mem_charge(len);
	return ret;
}

int rc_sendq_push_static(struct rc_sendq *q, const uint8_t *ptr, uint32_t len)
{
	return push(q, (uint8_t *)ptr, len, 0, RC_SENDQ_STATIC, 0);
}

/* The first entry that may be discarded: not in flight, not partly sent,
 * and not joined to a kept entry before it (a label that went out must be
 * followed by its message). */
static uint32_t first_droppable(const struct rc_sendq *q)
{
	uint32_t first = q->inflight ? q->inflight : q->offset ? 1 : 0;

	while (first && first < q->count &&
	       (q->ents[(q->head + first - 1) & (q->cap - 1)].kind & RC_SENDQ_F_JOIN))
		first++;
	return first;
}

const struct rc_sendq_ent *rc_sendq_first_pending(const struct rc_sendq *q)
{
	uint32_t first = first_droppable(q);

	if (q->count <= first)
		return NULL;
	return &q->ents[(q->head + first) & (q->cap - 1)];
}

const struct rc_sendq_ent *rc_sendq_first_pending_ring(const struct rc_sendq *q, uint16_t min_bid)
{
	uint32_t first = first_droppable(q);
	uint32_t look = min_bid ? 64 : 4;

	for (uint32_t i = first; i < q->count && i < first + look; i++) {
		const struct rc_sendq_ent *e = &q->ents[(q->head + i) & (q->cap - 1)];

		if (RC_SENDQ_KIND(e) == RC_SENDQ_RING && e->bid >= min_bid)
			return e;
	}
	return NULL;
}

uint32_t rc_sendq_pending(const struct rc_sendq *q)
{
	uint32_t first = first_droppable(q);

	return q->count > first ? q->count - first : 0;
}

uint32_t rc_sendq_drop_pending(struct rc_sendq *q)
{
	uint32_t first = first_droppable(q);
	uint32_t dropped = 0;

	if (q->count <= first)
		return 0;
	for (uint32_t i = first; i < q->count; i++) {
		struct rc_sendq_ent *e = ent_at(q, i);

		q->queued_bytes -= e->len;
		dropped += e->msgs;
		ent_release(q, e);
	}
	q->count = first;
	return dropped;
}

/* Releases every entry; only when nothing is in flight. */
static void release_all(struct rc_sendq *q)
{
	/* An outstanding zero-copy send keeps its own buffer reference and
	 * frees itself on its notification; it must forget this queue. */
	if (q->zc) {
		q->zc->q = NULL;
		q->zc = NULL;
	}
	while (q->count) {
		struct rc_sendq_ent *e = ent_at(q, 0);

		/* A data frame that never fully left: the subscriber misses it,
		 * and the shutdown report must say so (delivered + dropped =
		 * published). */
		if (e->msgs) {
			uint32_t whole = 0;

			/* A batch cut short: the messages that went out whole
			 * before the cut were delivered. */
			if (q->offset && RC_SENDQ_KIND(e) == RC_SENDQ_SHARED) {
				const struct rc_shmsg *m = (const struct rc_shmsg *)(e->ptr - e->bid);

				if (m->ends && e->ptr >= m->data) {
					/* The entry may start inside the batch
					 * (a joiner's first keyframe). */
					uint32_t base = (uint32_t)(e->ptr - m->data);

					whole = rc_shmsg_whole(m, base + q->offset) -
						rc_shmsg_whole(m, base);
				}
			}
			q->frames += whole;
			q->discarded += e->msgs - whole;
			if (q->ctx->stats) {
				q->ctx->stats->frames += whole;
				q->ctx->stats->discarded += e->msgs - whole;
			}
		}
		q->offset = 0;
		ent_release(q, e);
		pop_head(q);
	}
	q->queued_bytes = 0;
	q->offset = 0;
	rc_sendq_free(q);
}

void rc_sendq_trim(struct rc_sendq *q)
{
	if (q->count || q->inflight || q->zc)
		return;
	rc_sendq_free(q);
}

void rc_sendq_kill(struct rc_sendq *q)
{
	q->dead = true;
	if (!q->inflight)
		release_all(q);
}

void rc_sendq_abandon(struct rc_sendq *q)
{
	q->dead = true;
	q->inflight = 0;
	release_all(q);
}

static void sendq_flush(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_sendq *q = (struct rc_sendq *)((char *)d - offsetof(struct rc_sendq, flush));
	uint32_t n = q->count < RC_SENDQ_IOV_MAX ? q->count : RC_SENDQ_IOV_MAX;
	int ret;

	if (q->inflight)
		return;
	if (q->dead) {
		/* Killed while this flush waited its turn: its owner held on
		 * (rc_sendq_held) and may go now. */
		if (q->ctx->ops->on_drained)
			q->ctx->ops->on_drained(q);
		return;
	}
	if (!q->count)
		return;
	/* At most one zero-copy send per socket awaits its notification: a
	 * peer that stops reading then pins one buffer, not a socket buffer's
	 * worth of them. Later frames are copied until the notification. */
	if (q->ctx->zc_min && !q->zc && q->ctx->br && q->ctx->br->fixed_index >= 0) {
		struct rc_sendq_ent *e = ent_at(q, 0);

		/* The large class is outside the registered buffer: copied. */
		if (RC_SENDQ_KIND(e) == RC_SENDQ_RING && e->len - q->offset >= q->ctx->zc_min &&
		    rc_bufring_is_regular(q->ctx->br, e->bid) && flush_zc(loop, q, e) == 0) {
			q->inflight = 1;
			q->inflight_since_ms = rc_loop_now_ms(loop);
			return;
		}
	}
	/* From here the kernel reads the entries' memory (and for sendmsg the
	 * msghdr and iovec array in q->vec) until sendq_complete() runs;
	 * the entries keep their buffer references meanwhile. One entry (a
	 * fan-out batch, an HTTP answer) goes out with a plain send: the kernel
	 * then copies no msghdr and imports no iovec, and a queue that never
	 * sends more than one entry at a time never allocates the array. */
	if (n == 1) {
		struct rc_sendq_ent *e = ent_at(q, 0);

		ret = rc_loop_send(loop, &q->io, q->fd, e->ptr + q->offset, e->len - q->offset, 0);
		if (ret < 0)
			goto fail;
		q->inflight = 1;
		q->inflight_since_ms = rc_loop_now_ms(loop);
		return;
	}
	if (!q->vec) {
		q->vec = malloc(sizeof(*q->vec));
		if (!q->vec) {
			ret = -ENOMEM;
			goto fail;
		}
		rc_mem_charge(sizeof(*q->vec));
	}
	for (uint32_t i = 0; i < n; i++) {
		struct rc_sendq_ent *e = ent_at(q, i);

		q->vec->iov[i].iov_base = e->ptr;
		q->vec->iov[i].iov_len = e->len;
	}
	/* Resume a short write exactly where the kernel stopped. */
	q->vec->iov[0].iov_base = (uint8_t *)q->vec->iov[0].iov_base + q->offset;
	q->vec->iov[0].iov_len -= q->offset;
	q->vec->msg = (struct msghdr){ .msg_iov = q->vec->iov, .msg_iovlen = n };
	ret = rc_loop_sendmsg(loop, &q->io, q->fd, &q->vec->msg, 0);
	if (ret < 0)
		goto fail;
	q->inflight = (uint16_t)n;
	q->inflight_since_ms = rc_loop_now_ms(loop);
	return;
fail:
	q->dead = true;
	release_all(q);
	q->ctx->ops->on_error(q, ret);
}

static void sendq_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_sendq *q = (struct rc_sendq *)((char *)io - offsetof(struct rc_sendq, io));
	size_t asked = 0;

	(void)loop;
	/* In-flight entries never change (nothing drops them), so what was
	 * asked is their length less what the head had already sent. */
	for (uint32_t i = 0; i < q->inflight; i++)
		asked += ent_at(q, i)->len;
	sendq_finish(q, cqe->res, asked - q->offset);
}

/* A send of `asked` bytes completed with res: advance past what was
 * written, release what is done, and go on. */
static void sendq_finish(struct rc_sendq *q, int32_t res, size_t asked)
{
	size_t sent;

	const struct rc_sendq_ops *ops = q->ctx->ops;
	struct rc_sendq_stats *stats = q->ctx->stats;

	q->inflight = 0;
	RC_PROBE3(send_complete, q->fd, res, asked);
	if (stats)
		stats->sends++;
	if (res <= 0) {
		/* 0 bytes for a non-empty send means the peer is gone, like
		 * -EPIPE; either way the entries are the app's again. */
		bool was_dead = q->dead;

		q->dead = true;
		release_all(q);
		if (!was_dead)
			ops->on_error(q, res < 0 ? res : -EPIPE);
		else if (ops->on_drained)
			ops->on_drained(q);
		return;
	}
	sent = (size_t)res;
	q->sent_bytes += sent;
	if (sent < asked && stats)
		stats->short_sends++;
	q->queued_bytes -= sent;
	while (sent && q->count) {
		struct rc_sendq_ent *e = ent_at(q, 0);
		size_t left = e->len - q->offset;

		if (sent < left) {
			q->offset += (uint32_t)sent;
			break;
		}
		sent -= left;
		if (e->msgs) {
			q->frames += e->msgs;
			if (stats) {
				stats->frames += e->msgs;
				stats->bytes += e->len;
			}
		}
		ent_release(q, e);
		pop_head(q);
		q->offset = 0;
	}
	if (q->dead) {
		release_all(q);
		if (ops->on_drained)
			ops->on_drained(q);
		return;
	}
	if (q->wake_below && rc_sendq_charge(q) < q->wake_below) {
		q->wake_below = 0;
		if (ops->on_low)
			ops->on_low(q);
	}
	if (q->count)
		rc_loop_defer_send(q->ctx->loop, &q->flush);
	else if (ops->on_drained)
		ops->on_drained(q);
}
