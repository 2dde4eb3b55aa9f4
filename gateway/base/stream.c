/* The connection base (see stream.h). */
#include "stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "state.h"

/* Fairness and held input (docs/SECURITY.md lists these with the other
 * bounds): an owner handles at most TURN_UNITS requests, commands or frames
 * per loop turn, so one client cannot hold the loop while others wait;
 * input that must wait is held: past IN_PAUSE the receive is stopped, and
 * IN_MAX is never passed (the kernel may post some completions after the
 * receive was told to stop, but the client ring is smaller than that). */
#define TURN_UNITS 64
#define IN_PAUSE (64u << 10)
#define IN_MAX (1u << 20)
#define IN_MIN 2048

static void stream_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void stream_work(struct rc_loop *loop, struct rc_deferred *d);
static void stream_settle(struct rc_stream *st);

static struct rc_stream *stream_of_sendq(struct rc_sendq *q)
{
	return (struct rc_stream *)((char *)q - offsetof(struct rc_stream, q));
}

static int arm_recv(struct rc_stream *st)
{
	int ret = rc_loop_recv_multishot(st->srv->loop, &st->recv_io, st->fd, rc_stream_ring(st));

	if (ret == 0)
		st->recv_armed = true;
	return ret;
}

void rc_stream_account(struct rc_stream *st)
{
	size_t held = st->in_cap + (st->ops->held ? st->ops->held(st) : 0);
	uint32_t now = held > UINT32_MAX ? UINT32_MAX : (uint32_t)held;

	if (now >= st->q.owner_bytes)
		rc_mem_charge(now - st->q.owner_bytes);
	else
		rc_mem_uncharge(st->q.owner_bytes - now);
	st->q.owner_bytes = now;
}

/* The per-address table is the process's: every worker counts in it,
 * under its mutex (once per accept and once per close). */
static void ip_uncount(struct rc_process *proc, const uint8_t ip[16])
{
	pthread_mutex_lock(&proc->ipcount_lock);
	rc_ipcount_del(&proc->ipcount, ip);
	pthread_mutex_unlock(&proc->ipcount_lock);
}

/* --max-conns-per-ip: counts st under its peer's address (one table for
 * HTTP connections and publishers, so that an address cannot get round the
 * limit on another port). Over it the owner says why and st closes. */
static void count_ip(struct rc_stream *st)
{
	struct rc_server *srv = st->srv;
	uint32_t max = srv->cfg->max_conns_per_ip;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (!max || getpeername(st->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    rc_ipcount_key((struct sockaddr *)&ss, len, st->ip) < 0)
		return;
	pthread_mutex_lock(&srv->proc->ipcount_lock);
	ret = rc_ipcount_add(&srv->proc->ipcount, st->ip, max);
	pthread_mutex_unlock(&srv->proc->ipcount_lock);
	if (ret == 0) {
		st->ip_counted = true;
		return;
	}
	if (ret == -EUSERS)
		srv->stats.refused[RC_REFUSE_PER_IP]++;
	st->ops->refuse_ip(st);
}

struct rc_bufring *rc_stream_ring(const struct rc_stream *st)
{
	return st->on_ingest ? st->srv->ingest_ring : st->srv->client_ring;
}

int rc_stream_accept(struct rc_stream *st, struct rc_server *srv, int fd,
		     const struct rc_stream_ops *ops, bool on_ingest, const struct rc_sendq_ctx *ctx)
{
	int one = 1;
	int ret;

	/* Answers are already batched per loop turn; Nagle would only hold
	 * each batch back until the previous one is acknowledged. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	st->srv = srv;
	st->ops = ops;
	st->on_ingest = on_ingest;
	st->fd = fd;
	st->recv_io.fn = stream_recv_done;
	st->work.fn = stream_work;
	st->accepted_ms = rc_loop_now_ms(srv->loop);
	st->last_in_ms = (uint32_t)st->accepted_ms;
	rc_sendq_init(&st->q, ctx, fd);
	ret = arm_recv(st);
	if (ret < 0) {
		close(fd);
		srv->stats.accept_errors++;
		return ret;
	}
	st->next = srv->streams;
	if (srv->streams)
		srv->streams->prev = st;
	srv->streams = st;
	srv->stats.accepted++;
	count_ip(st);
	return 0;
}

/* Frees st at the end of the turn, when nothing of it is left in the kernel
 * nor queued with the loop (a send queue's flush may wait several turns as
 * send work). Freeing is always deferred so that no callback can find its
 * connection gone underneath it. */
static void maybe_free(struct rc_stream *st)
{
	if (!st->dead || st->recv_armed || rc_sendq_held(&st->q))
		return;
	rc_loop_defer(st->srv->loop, &st->work);
}

static void reap(struct rc_stream *st)
{
	struct rc_server *srv = st->srv;

	if (st->recv_armed || rc_sendq_held(&st->q))
		return;
	if (st->prev)
		st->prev->next = st->next;
	else
		srv->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (st->ip_counted)
		ip_uncount(srv->proc, st->ip);
	close(st->fd);
	free(st->in);
	st->in = NULL;
	st->in_cap = 0;
	rc_mem_uncharge(st->q.owner_bytes);
	st->q.owner_bytes = 0;
	st->ops->free(st);
}

void rc_stream_close(struct rc_stream *st)
{
	struct rc_server *srv = st->srv;

	if (st->dead)
		return;
	st->dead = true;
	st->ops->on_close(st);
	rc_bufring_unwait(rc_stream_ring(st), &st->work);
	rc_sendq_kill(&st->q);
	/* shutdown() makes the armed recv and any in-flight send complete
	 * promptly; the fd itself is closed only after they have. */
	shutdown(st->fd, SHUT_RDWR);
	if (st->recv_armed)
		rc_loop_cancel(srv->loop, &st->recv_io);
	maybe_free(st);
}

bool rc_stream_can_work(struct rc_stream *st)
{
	uint32_t turn = (uint32_t)rc_loop_turn(st->srv->loop);

	if (st->work_turn != turn) {
		st->work_turn = turn;
		st->work_units = 0;
	}
	if (rc_stream_out(st) > st->ops->bound(st)) {
		st->hold = RC_HOLD_OUTPUT;
		return false;
	}
	if (st->work_units >= TURN_UNITS) {
		st->hold = RC_HOLD_TURN;
		return false;
	}
	return true;
}

/* Keeps data[0..len) after the input st already holds. Returns false (and
 * closes st) past IN_MAX or without memory. */
static bool hold_input(struct rc_stream *st, const uint8_t *data, size_t len)
{
	if (st->in_len + len > st->in_cap) {
		size_t cap = st->in_cap ? st->in_cap : IN_MIN;
		uint8_t *in;

		while (cap < st->in_len + len)
			cap *= 2;
		if (st->in_len + len > IN_MAX) {
			st->srv->stats.input_overflows++;
			rc_log_debug("fd %d: more than %u bytes of input held, closing", st->fd,
				     IN_MAX);
			rc_stream_close(st);
			return false;
		}
		in = realloc(st->in, cap);
		if (!in) {
			rc_stream_close(st);
			return false;
		}
		st->in = in;
		st->in_cap = (uint32_t)cap;
		rc_stream_account(st);
	}
	memcpy(st->in + st->in_len, data, len);
	st->in_len += (uint32_t)len;
	return true;
}

/* Forgets the first n bytes of held input; frees the buffer once empty. */
static void consume_held(struct rc_stream *st, size_t n)
{
	memmove(st->in, st->in + n, st->in_len - n);
	st->in_len -= (uint32_t)n;
	if (!st->in_len) {
		free(st->in);
		st->in = NULL;
		st->in_cap = 0;
		rc_stream_account(st);
	}
}

/* Offers the owner input, as far as it takes it now. */
static size_t offer(struct rc_stream *st, uint8_t *data, size_t len, uint16_t bid)
{
	st->hold = RC_HOLD_NONE;
	return st->ops->input(st, data, len, bid);
}

/* Goes on with the input st holds, as far as its owner may this turn. */
static void feed(struct rc_stream *st)
{
	size_t used;

	if (!st->in_len)
		return;
	used = offer(st, st->in, st->in_len, RC_STREAM_NO_BID);
	if (!st->dead && used)
		consume_held(st, used);
}

/* After input: stops the receive while the owner's answers are backed up
 * past its bound or too much input is held (the peer's TCP window then
 * fills, which is the backpressure it feels), and says when to go on: once
 * the answers drained (on_low), or in the next turn when only its share of
 * this one ran out. Receives again once neither holds. */
static void stream_settle(struct rc_stream *st)
{
	struct rc_server *srv = st->srv;
	size_t bound;
	bool out_over, stop;

	if (st->dead)
		return;
	bound = st->ops->bound(st);
	out_over = rc_stream_out(st) > bound;
	stop = out_over || st->in_len > IN_PAUSE;
	if (stop && !st->paused) {
		st->paused = true;
		st->paused_since_ms = (uint32_t)rc_loop_now_ms(srv->loop);
		srv->stats.backpressure_pauses++;
		if (st->recv_armed)
			rc_loop_cancel(srv->loop, &st->recv_io);
	}
	if (out_over)
		st->q.wake_below = (uint32_t)(bound / 2 + st->q.owner_bytes);
	else if (st->in_len && st->hold == RC_HOLD_TURN)
		rc_loop_defer_next(srv->loop, &st->work);
	if (!stop && st->paused) {
		st->paused = false;
		/* The pause was ours: the peer's silence clock restarts. */
		st->last_in_ms = (uint32_t)rc_loop_now_ms(srv->loop);
		if (!st->recv_armed && !st->close_after_send && arm_recv(st) < 0)
			rc_stream_close(st);
	}
}

/* The deferred work: freed once dead; else it goes on with held input
 * (next turn, or once its answers drained) and receives again after a pause
 * or after its ring ran dry. */
static void stream_work(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_stream *st = (struct rc_stream *)((char *)d - offsetof(struct rc_stream, work));

	if (st->dead) {
		reap(st);
		return;
	}
	feed(st);
	if (st->dead)
		return;
	stream_settle(st);
	if (st->dead || st->paused || st->recv_armed || st->close_after_send)
		return;
	st->last_in_ms = (uint32_t)rc_loop_now_ms(loop);
	if (arm_recv(st) < 0)
		rc_stream_close(st);
}

static void stream_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_stream *st = (struct rc_stream *)((char *)io - offsetof(struct rc_stream, recv_io));
	struct rc_server *srv = st->srv;

	if (!(cqe->flags & RC_CQE_MORE))
		st->recv_armed = false;
	if (cqe->flags & RC_CQE_BUFFER) {
		/* The buffer is ours, with one reference, until the unref below:
		 * input is handled in place (an owner that keeps a piece of it
		 * takes its own reference), and what must wait is copied into
		 * st->in. */
		uint8_t *data = rc_bufring_data(rc_stream_ring(st), cqe->bid);
		size_t len = cqe->res > 0 ? (size_t)cqe->res : 0;

		rc_bufring_take(rc_stream_ring(st), cqe->bid);
		if (len) {
			st->bytes_in += len;
			st->last_in_ms = (uint32_t)rc_loop_now_ms(loop);
		}
		if (!len || st->dead || st->close_after_send) {
			/* nothing more is read */
		} else if (st->in_len || st->paused) {
			/* Behind what is held: keep order. */
			if (hold_input(st, data, len) && !st->paused && st->hold != RC_HOLD_TURN)
				feed(st);
			stream_settle(st);
		} else {
			size_t used = offer(st, data, len, cqe->bid);

			if (!st->dead && used < len)
				hold_input(st, data + used, len - used);
			stream_settle(st);
		}
		rc_bufring_unref(rc_stream_ring(st), cqe->bid);
	}
	if (st->recv_armed)
		return;
	if (st->dead) {
		maybe_free(st);
		return;
	}
	if (st->paused)
		return;	/* stream_settle() receives again once it may */
	if (cqe->res == -ENOBUFS) {
		/* Buffers are returned as soon as input is handled (or when the
		 * subscribers holding ingest buffers catch up), so this is a
		 * burst; resume when the ring has refilled. TCP flow control
		 * holds the peer meanwhile. */
		if (rc_stream_ring(st) == srv->client_ring)
			srv->stats.client_enobufs++;
		if (rc_bufring_wait(rc_stream_ring(st), &st->work) < 0)
			rc_stream_close(st);
		return;
	}
	if (cqe->res <= 0 && cqe->res != -ECANCELED) {
		/* 0: the peer closed its side; < 0: reset. (-ECANCELED: a
		 * pause that has already ended stopped this receive.) */
		rc_stream_close(st);
		return;
	}
	if (st->close_after_send)
		return;	/* stop reading; closed once the answer is out */
	if (arm_recv(st) < 0)
		rc_stream_close(st);
}

static void sendq_error(struct rc_sendq *q, int err)
{
	struct rc_stream *st = stream_of_sendq(q);

	/* ECONNRESET/EPIPE: the peer vanished. Its buffer references were
	 * released by the queue already. */
	rc_log_debug("send on fd %d failed: %s", st->fd, strerror(-err));
	rc_stream_close(st);
	maybe_free(st);
}

static void sendq_drained(struct rc_sendq *q)
{
	struct rc_stream *st = stream_of_sendq(q);

	if (st->dead) {
		maybe_free(st);
		return;
	}
	if (st->close_after_send) {
		rc_stream_close(st);
		return;
	}
	if (st->ops->on_drained)
		st->ops->on_drained(st);
}

/* The answers that held st's input back drained under half its bound: go
 * on at the end of the turn (not from inside the completion). */
static void sendq_low(struct rc_sendq *q)
{
	struct rc_stream *st = stream_of_sendq(q);

	rc_loop_defer(st->srv->loop, &st->work);
}

const struct rc_sendq_ops rc_stream_sendq_ops = {
	.on_error = sendq_error,
	.on_drained = sendq_drained,
	.on_low = sendq_low,
};

void rc_stream_tick_all(struct rc_server *srv)
{
	uint64_t now = rc_loop_now_ms(srv->loop);

	for (struct rc_stream *st = srv->streams, *next; st; st = next) {
		next = st->next;
		/* Idle connections keep no send-queue arrays (most of an idle
		 * subscriber's memory otherwise). */
		rc_sendq_trim(&st->q);
		if (st->dead)
			continue;
		/* Stopped for its backlog and never drained: a peer that sends
		 * and does not read holds its answers for ever otherwise. */
		if (st->paused &&
		    rc_stream_since(st->paused_since_ms, now) >= srv->cfg->idle_timeout_ms) {
			srv->stats.backpressure_timeouts++;
			rc_log_debug("fd %d: input stopped for its backlog for %llu ms, closing",
				     st->fd, (unsigned long long)rc_stream_since(st->paused_since_ms, now));
			rc_stream_close(st);
			continue;
		}
		if (st->ops->tick)
			st->ops->tick(st, now);
	}
}

void rc_stream_free_all(struct rc_server *srv)
{
	while (srv->streams) {
		struct rc_stream *st = srv->streams;

		srv->streams = st->next;
		if (!st->dead) {
			st->dead = true;
			st->ops->on_close(st);
		}
		rc_sendq_abandon(&st->q);
		if (st->ip_counted)
			ip_uncount(srv->proc, st->ip);
		close(st->fd);
		free(st->in);
		rc_mem_uncharge(st->q.owner_bytes);
		st->ops->free(st);
	}
}
