/* The epoll backend: the same operations and completion semantics as the
 * io_uring backend, built from readiness and non-blocking syscalls, for
 * where io_uring is not allowed. See loop.h for the contract and
 * loop_internal.h for what a backend provides.
 *
 * Shape: every fd the loop watches is registered once, edge-triggered, for
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP. The loop remembers per fd what the kernel
 * last said was ready and clears it only when a syscall says EAGAIN (or a
 * short read says the socket is empty). Operations wait on their fd's
 * lists; an fd with a waiting operation and matching readiness goes on the
 * run list, and one pass of the loop (ep_poll) runs each listed fd's
 * operations within a budget, posting completions into a queue that is
 * dispatched at the end of the pass. A completion is never delivered inside
 * the call that starts its operation.
 *
 * Why edge-triggered: the interest set of a socket then never changes while
 * it is in use. One epoll_ctl per connection (ADD at its first operation),
 * none when a send finds the socket full (EPOLLOUT is always in the set and
 * only fires on a transition), none when a receive pauses (backpressure,
 * no free buffer) and resumes. Level-triggered would need EPOLL_CTL_MOD to
 * add and remove EPOLLOUT around every blocked send, and to remove EPOLLIN
 * from every paused receive (or be woken by its unread input every turn).
 * The price of edges is that the loop must remember readiness and come
 * back to an fd by itself when it stopped early for fairness (the run
 * list), which the per-fd budget needs anyway. The syscall counts that
 * confirmed it are in docs/ARCHITECTURE.md ("The loop", epoll).
 *
 * Buffers: a receive takes a free buffer id from the ring's free list
 * (bufring_epoll.c) right before its syscall; the id travels in the
 * completion (RC_CQE_BUFFER), and from rc_bufring_take() on it is the
 * owner's, exactly as with io_uring's provided buffers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bufring_internal.h"
#include "log.h"
#include "loop_internal.h"

/* Budgets per fd per pass, so one busy socket cannot starve the others:
 * the kernel's multishot receive posts at most 32 completions per socket
 * per pass, and the io_uring loop adds up to 8 more passes per turn
 * (loop_uring.c, extra_passes), so one UDP port gives a turn up to a few
 * hundred datagrams there; EP_DGRAM_TURN matches that, in recvmmsg calls
 * of EP_DGRAM_BATCH. A stream socket's reads are 2 KiB client buffers or
 * ingest buffers; 16 of them is more than one client sends in a turn. */
#define EP_EVENTS 256		/* events taken per epoll_wait */
#define EP_DGRAM_BATCH 64	/* datagrams per recvmmsg */
#define EP_DGRAM_TURN 256	/* datagrams per socket per pass */
#define EP_STREAM_TURN 16	/* reads per stream socket per pass */
#define EP_ACCEPT_TURN 64	/* connections accepted per listener per pass */
#define EP_OPS_CHUNK 256	/* operation records allocated at a time */

enum ep_kind { EP_ACCEPT, EP_RECV, EP_RECVMSG, EP_READ, EP_SEND, EP_SENDMSG, EP_CONNECT, EP_TIMER };

enum { EP_IN = 1u << 0, EP_OUT = 1u << 1 };

/* One operation waiting for readiness (or, for a timer, for its time). */
struct ep_op {
	struct rc_io *io;
	struct ep_op *next;	/* in its fd's list, the timer list, or the free list */
	struct ep_op *hnext;	/* in the hash by io, for rc_loop_cancel() */
	int fd;			/* -1: a timer, or an operation whose fd was closed */
	uint8_t kind;		/* enum ep_kind */
	union {
		struct {
			struct rc_bufring *br;
			struct msghdr *tmpl;	/* EP_RECVMSG: lengths only */
		} rx;
		struct {
			const void *buf;
			size_t len;
			int flags;
		} send;
		struct {
			const struct msghdr *msg;
			int flags;
		} sendmsg;
		struct {
			void *buf;
			unsigned len;
		} read;
		uint64_t deadline_ns;	/* EP_TIMER */
	} u;
};

/* What the loop knows about one fd, indexed by its number. */
struct ep_fd {
	struct ep_op *in;	/* accept, receive and read operations, oldest first */
	struct ep_op *out;	/* sends, oldest first: they go out in this order */
	uint8_t ready;		/* EP_IN | EP_OUT: ready as last reported, until EAGAIN */
	bool hup;		/* the peer closed or an error is pending: read to the end */
	bool registered;	/* in the epoll set, as far as the loop knows */
	bool queued;		/* on the run list */
	bool unwatchable;	/* epoll refused it (a regular file): always ready */
};

struct ep_cqe {
	struct rc_io *io;
	struct rc_cqe cqe;
};

struct ep_cq {
	struct ep_cqe *v;
	size_t n, cap;
};

struct ep_fdlist {
	int *v;
	size_t n, cap;
};

struct ep_chunk {
	struct ep_chunk *next;
	struct ep_op ops[EP_OPS_CHUNK];
};

struct rc_loop_epoll {
	struct rc_loop base;		/* first: a struct rc_loop * is one of these */
	int epfd;
	struct ep_fd *fds;
	size_t nfds;
	struct ep_fdlist run;		/* fds with work for the next pass */
	struct ep_fdlist running;	/* the pass's own, while it runs */
	struct ep_cq cq;		/* completions posted, delivered by the next dispatch */
	struct ep_cq delivering;	/* the dispatch's own, while it runs */
	struct ep_op *timers;		/* by deadline, soonest first */
	struct ep_op **hash;		/* waiting operations by io */
	size_t hcap, hcount;
	unsigned hbits;
	struct ep_op *free_ops;
	struct ep_chunk *chunks;
	/* recvmmsg's arrays, reused by every receive (one thread). */
	struct mmsghdr mm[EP_DGRAM_BATCH];
	struct iovec iov[EP_DGRAM_BATCH];
	uint16_t bids[EP_DGRAM_BATCH];
	struct epoll_event evs[EP_EVENTS];
};

static inline struct rc_loop_epoll *E(struct rc_loop *loop)
{
	return (struct rc_loop_epoll *)loop;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- completions --- */

/* Queues a completion for the next dispatch. A completion cannot be
 * dropped (its owner would wait for ever, or leak a buffer), so running
 * out of memory here ends the process, as a broken buffer ring does. */
static void post(struct rc_loop_epoll *l, struct rc_io *io, int32_t res, uint32_t flags,
		 uint16_t bid)
{
	struct ep_cq *q = &l->cq;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		struct ep_cqe *v = realloc(q->v, cap * sizeof(*v));

		if (!v) {
			rc_log_error("epoll: out of memory queueing a completion");
			abort();
		}
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (struct ep_cqe){ .io = io, .cqe = { .res = res, .flags = flags, .bid = bid } };
}

/* Delivers what was posted before it began; what the callbacks post goes
 * to the next pass, as io_uring's completions of operations submitted
 * from a callback arrive after the next submit. */
static void dispatch(struct rc_loop_epoll *l)
{
	struct ep_cq cur = l->cq;

	/* Callbacks post into the spare array meanwhile. */
	l->cq = l->delivering;
	l->cq.n = 0;
	for (size_t i = 0; i < cur.n; i++) {
		l->base.stats.cqes++;
		cur.v[i].io->fn(&l->base, cur.v[i].io, &cur.v[i].cqe);
	}
	cur.n = 0;
	l->delivering = cur;
}

/* --- operation records and the hash by io --- */

static struct ep_op *op_new(struct rc_loop_epoll *l)
{
	struct ep_op *op;

	if (!l->free_ops) {
		struct ep_chunk *c = malloc(sizeof(*c));

		if (!c)
			return NULL;
		c->next = l->chunks;
		l->chunks = c;
		for (size_t i = 0; i < EP_OPS_CHUNK; i++) {
			c->ops[i].next = l->free_ops;
			l->free_ops = &c->ops[i];
		}
	}
	op = l->free_ops;
	l->free_ops = op->next;
	memset(op, 0, sizeof(*op));
	return op;
}

static void op_free(struct rc_loop_epoll *l, struct ep_op *op)
{
	op->next = l->free_ops;
	l->free_ops = op;
}

static size_t hslot(const struct rc_loop_epoll *l, const struct rc_io *io)
{
	return (size_t)(((uint64_t)(uintptr_t)io * 0x9E3779B97F4A7C15ull) >> (64 - l->hbits));
}

static int hash_grow(struct rc_loop_epoll *l)
{
	unsigned bits = l->hbits ? l->hbits + 1 : 10;
	size_t cap = (size_t)1 << bits;
	struct ep_op **h = calloc(cap, sizeof(*h));
	struct ep_op **old = l->hash;
	size_t oldcap = l->hcap;

	if (!h)
		return -ENOMEM;
	l->hash = h;
	l->hcap = cap;
	l->hbits = bits;
	for (size_t i = 0; i < oldcap; i++) {
		for (struct ep_op *op = old[i], *next; op; op = next) {
			size_t s = hslot(l, op->io);

			next = op->hnext;
			op->hnext = h[s];
			h[s] = op;
		}
	}
	free(old);
	return 0;
}

static int hash_add(struct rc_loop_epoll *l, struct ep_op *op)
{
	size_t s;

	if (l->hcount >= l->hcap && hash_grow(l) < 0)
		return -ENOMEM;
	s = hslot(l, op->io);
	op->hnext = l->hash[s];
	l->hash[s] = op;
	l->hcount++;
	return 0;
}

static void hash_del(struct rc_loop_epoll *l, struct ep_op *op)
{
	for (struct ep_op **p = &l->hash[hslot(l, op->io)]; *p; p = &(*p)->hnext) {
		if (*p == op) {
			*p = op->hnext;
			l->hcount--;
			return;
		}
	}
}

/* --- the fd table and the run list --- */

/* The entry for fd, growing the table as needed: pointers into the table
 * are stale after a call that may grow it (this, fd_fresh). */
static struct ep_fd *fd_get(struct rc_loop_epoll *l, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= l->nfds) {
		size_t n = l->nfds ? l->nfds : 1024;
		struct ep_fd *t;

		while (n <= (size_t)fd)
			n *= 2;
		t = realloc(l->fds, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + l->nfds, 0, (n - l->nfds) * sizeof(*t));
		l->fds = t;
		l->nfds = n;
	}
	return &l->fds[fd];
}

static int list_push(struct ep_fdlist *list, int fd)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 256;
		int *v = realloc(list->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	list->v[list->n++] = fd;
	return 0;
}

/* Puts fd on the run list for the next pass (once). */
static void schedule(struct rc_loop_epoll *l, int fd)
{
	struct ep_fd *e = &l->fds[fd];

	if (e->queued)
		return;
	if (list_push(&l->run, fd) < 0) {
		rc_log_error("epoll: out of memory scheduling fd %d", fd);
		abort();	/* its operations would wait for ever */
	}
	e->queued = true;
}

static bool has_work(const struct ep_fd *e)
{
	return (e->in && (e->ready & EP_IN)) || (e->out && (e->ready & EP_OUT));
}

/* Makes sure epoll reports fd's readiness. An fd with waiting operations
 * is registered already and its readiness is known. An idle one may have
 * been closed since and its number reused for another file (closing
 * removes a file from the epoll set): re-register it, which also makes the
 * kernel report what is ready now, so nothing is lost by forgetting the
 * old readiness. */
static int watch(struct rc_loop_epoll *l, int fd, struct ep_fd *e)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.fd = fd };
	int op;

	if ((e->in || e->out) && (e->registered || e->unwatchable))
		return 0;
	e->unwatchable = false;	/* an idle number may be a socket now */
	op = e->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0) {
		int err = errno;

		if (err == ENOENT || err == EEXIST) {
			op = err == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
			err = epoll_ctl(l->epfd, op, fd, &ev) < 0 ? errno : 0;
		}
		if (err == EPERM) {
			/* A regular file: always ready, never waits. */
			e->registered = false;
			e->unwatchable = true;
			e->ready = EP_IN | EP_OUT;
			return 0;
		}
		if (err)
			return -err;
	}
	e->registered = true;
	e->ready = 0;
	e->hup = false;
	return 0;
}

/* fd is a new file (just accepted): whatever the table says about that
 * number belongs to a file closed since. Operations still waiting on it
 * were left by an owner that closed its fd without cancelling them; as on
 * io_uring, where they would hold the old file, they wait until cancelled
 * (rc_loop_cancel still finds them) and never run on the new file. */
static int fd_fresh(struct rc_loop_epoll *l, int fd)
{
	struct ep_fd *e = fd_get(l, fd);
	bool queued;

	if (!e)
		return -ENOMEM;
	for (struct ep_op *op = e->in, *next; op; op = next) {
		next = op->next;
		op->fd = -1;
		op->next = NULL;
	}
	for (struct ep_op *op = e->out, *next; op; op = next) {
		next = op->next;
		op->fd = -1;
		op->next = NULL;
	}
	queued = e->queued;
	*e = (struct ep_fd){ .queued = queued };
	return 0;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static bool is_out(const struct ep_op *op)
{
	return op->kind == EP_SEND || op->kind == EP_SENDMSG || op->kind == EP_CONNECT;
}

/* Adds op to its fd's list (after any before it) and watches the fd.
 * Returns 0, or -errno with op freed. */
static int arm(struct rc_loop_epoll *l, struct ep_op *op)
{
	struct ep_fd *e = fd_get(l, op->fd);
	struct ep_op **tail;
	int ret;

	if (!e) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = watch(l, op->fd, e);
	if (ret < 0)
		goto fail;
	ret = hash_add(l, op);
	if (ret < 0)
		goto fail;
	for (tail = is_out(op) ? &e->out : &e->in; *tail; tail = &(*tail)->next)
		;
	*tail = op;
	l->base.stats.submissions++;
	if (has_work(e))
		schedule(l, op->fd);
	return 0;
fail:
	op_free(l, op);
	return ret;
}

/* Takes op off its fd's list (or the timer list). */
static void unlink_op(struct rc_loop_epoll *l, struct ep_op *op)
{
	struct ep_op **p;

	if (op->kind == EP_TIMER)
		p = &l->timers;
	else if (op->fd >= 0)
		p = is_out(op) ? &l->fds[op->fd].out : &l->fds[op->fd].in;
	else
		return;		/* orphaned by fd_fresh() */
	for (; *p; p = &(*p)->next) {
		if (*p == op) {
			*p = op->next;
			return;
		}
	}
}

/* The operation is over: unlinks it and posts its last completion. */
static void finish(struct rc_loop_epoll *l, struct ep_op *op, int32_t res)
{
	unlink_op(l, op);
	hash_del(l, op);
	post(l, op->io, res, 0, 0);
	op_free(l, op);
}

/* --- running an fd's operations --- */

/* True when a read would not say EAGAIN: asked before reporting -ENOBUFS,
 * which io_uring posts only when data arrived and no buffer was free. */
static bool input_waiting(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN;
}

/* Returns true when op is over (its last completion posted). */
static bool run_accept(struct rc_loop_epoll *l, int fd, struct ep_op *op)
{
	for (unsigned i = 0; i < EP_ACCEPT_TURN; i++) {
		int nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (nfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				l->fds[fd].ready &= (uint8_t)~EP_IN;
				return false;
			}
			if (errno == EINTR)
				continue;
			/* As on io_uring, an error ends the multishot accept. */
			finish(l, op, -errno);
			return true;
		}
		if (fd_fresh(l, nfd) < 0) {
			close(nfd);
			finish(l, op, -ENOMEM);
			return true;
		}
		post(l, op->io, nfd, RC_CQE_MORE, 0);
	}
	return false;
}

static bool run_recv(struct rc_loop_epoll *l, int fd, struct ep_op *op)
{
	struct rc_bufring *br = op->u.rx.br;

	for (unsigned i = 0; i < EP_STREAM_TURN; i++) {
		struct ep_fd *e = &l->fds[fd];
		int bid = rc_bufring_epoll_pop(br);
		ssize_t n;

		if (bid < 0) {
			if (!input_waiting(fd)) {
				e->ready &= (uint8_t)~EP_IN;
				return false;
			}
			finish(l, op, -ENOBUFS);
			return true;
		}
		/* Buffer bid is this receive's until the completion that names
		 * it is taken (rc_bufring_take); back on the free list at once
		 * when nothing was read into it. */
		n = recv(fd, rc_bufring_data(br, (uint16_t)bid), br->size, MSG_DONTWAIT);
		if (n > 0) {
			post(l, op->io, (int32_t)n, RC_CQE_MORE | RC_CQE_BUFFER,
			     (uint16_t)(br->bid_base + bid));
			/* A short read emptied the socket: data arriving later is
			 * a new edge. Not so once the peer closed: its FIN would
			 * bring no new edge, so read on until recv says 0. */
			if ((size_t)n < br->size && !e->hup) {
				e->ready &= (uint8_t)~EP_IN;
				return false;
			}
			continue;
		}
		rc_bufring_epoll_give(br, (uint16_t)bid);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e->ready &= (uint8_t)~EP_IN;
			return false;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* 0: the peer closed; < 0: an error. Either ends it. */
		finish(l, op, n == 0 ? 0 : -errno);
		return true;
	}
	return false;
}

/* Lays out datagram i of the last recvmmsg in its buffer exactly as
 * io_uring's multishot recvmsg does, so rc_bufring_recvmsg_payload()
 * decodes both: struct io_uring_recvmsg_out, then msg_namelen bytes for
 * the source address, msg_controllen bytes for control messages (the
 * template's lengths), then the payload. Returns the completion's res:
 * the header and the payload bytes in the buffer. */
static int32_t dgram_finish(struct rc_loop_epoll *l, unsigned i, size_t hdr, size_t cap)
{
	struct mmsghdr *m = &l->mm[i];
	struct io_uring_recvmsg_out *out =
		(struct io_uring_recvmsg_out *)((uint8_t *)l->iov[i].iov_base - hdr);
	size_t copied = m->msg_len < cap ? m->msg_len : cap;

	out->namelen = m->msg_hdr.msg_namelen;
	out->controllen = (uint32_t)m->msg_hdr.msg_controllen;
	out->payloadlen = m->msg_len;	/* the whole datagram's, with MSG_TRUNC */
	out->flags = (uint32_t)m->msg_hdr.msg_flags;
	return (int32_t)(hdr + copied);
}

static bool run_recvmsg(struct rc_loop_epoll *l, int fd, struct ep_op *op)
{
	struct rc_bufring *br = op->u.rx.br;
	const struct msghdr *t = op->u.rx.tmpl;
	size_t hdr = sizeof(struct io_uring_recvmsg_out) + t->msg_namelen + t->msg_controllen;
	unsigned got = 0;

	if (hdr >= br->size) {
		finish(l, op, -EFAULT);	/* what io_uring says of a buffer too small */
		return true;
	}
	while (got < EP_DGRAM_TURN) {
		struct ep_fd *e = &l->fds[fd];
		unsigned want = EP_DGRAM_TURN - got < EP_DGRAM_BATCH ? EP_DGRAM_TURN - got
								   : EP_DGRAM_BATCH;
		unsigned n = 0;
		int r;

		/* Each buffer taken here is this receive's until the completion
		 * that names it is taken; the ones left unfilled go back below. */
		for (; n < want; n++) {
			int bid = rc_bufring_epoll_pop(br);
			uint8_t *b;

			if (bid < 0)
				break;
			b = rc_bufring_data(br, (uint16_t)bid);
			l->bids[n] = (uint16_t)bid;
			l->iov[n] = (struct iovec){ .iov_base = b + hdr, .iov_len = br->size - hdr };
			l->mm[n].msg_len = 0;
			l->mm[n].msg_hdr = (struct msghdr){
				.msg_name = t->msg_namelen ? b + sizeof(struct io_uring_recvmsg_out) : NULL,
				.msg_namelen = t->msg_namelen,
				.msg_iov = &l->iov[n],
				.msg_iovlen = 1,
				.msg_control = t->msg_controllen ?
					b + sizeof(struct io_uring_recvmsg_out) + t->msg_namelen : NULL,
				.msg_controllen = t->msg_controllen,
			};
		}
		if (n == 0) {
			if (!input_waiting(fd)) {
				e->ready &= (uint8_t)~EP_IN;
				return false;
			}
			finish(l, op, -ENOBUFS);
			return true;
		}
		/* MSG_TRUNC: msg_len is the datagram's real length, which is
		 * how a datagram longer than the buffer is told apart. */
		r = recvmmsg(fd, l->mm, n, MSG_DONTWAIT | MSG_TRUNC, NULL);
		for (unsigned i = r > 0 ? (unsigned)r : 0; i < n; i++)
			rc_bufring_epoll_give(br, l->bids[i]);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				e->ready &= (uint8_t)~EP_IN;
				return false;
			}
			if (errno == EINTR)
				continue;
			finish(l, op, -errno);
			return true;
		}
		for (unsigned i = 0; i < (unsigned)r; i++)
			post(l, op->io, dgram_finish(l, i, hdr, br->size - hdr),
			     RC_CQE_MORE | RC_CQE_BUFFER, (uint16_t)(br->bid_base + l->bids[i]));
		got += (unsigned)r;
		/* Fewer than asked for: the socket is empty (the next
		 * datagram is a new edge). */
		if ((unsigned)r < n)  {
			e->ready &= (uint8_t)~EP_IN;
			return false;
		}
	}
	return false;
}

static bool run_read(struct rc_loop_epoll *l, int fd, struct ep_op *op)
{
	for (;;) {
		ssize_t n = read(fd, op->u.read.buf, op->u.read.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			l->fds[fd].ready &= (uint8_t)~EP_IN;
			return false;
		}
		finish(l, op, n < 0 ? -errno : (int32_t)n);
		return true;
	}
}

/* One send syscall for op; -errno on failure. MSG_DONTWAIT: the socket may
 * be a blocking one (io_uring polls those itself); EAGAIN stays in here. */
static ssize_t send_once(int fd, const struct ep_op *op)
{
	ssize_t n;

	if (op->kind == EP_SEND)
		n = send(fd, op->u.send.buf, op->u.send.len,
			 op->u.send.flags | MSG_NOSIGNAL | MSG_DONTWAIT);
	else
		n = sendmsg(fd, op->u.sendmsg.msg,
			    op->u.sendmsg.flags | MSG_NOSIGNAL | MSG_DONTWAIT);
	return n < 0 ? -errno : n;
}

/* Runs what fd's operations can do now, within the budgets. */
static void fd_run(struct rc_loop_epoll *l, int fd)
{
	struct ep_fd *e = &l->fds[fd];

	e->queued = false;
	while (e->in && (e->ready & EP_IN)) {
		struct ep_op *op = e->in;
		bool over;

		switch (op->kind) {
		case EP_ACCEPT:
			over = run_accept(l, fd, op);
			break;
		case EP_RECV:
			over = run_recv(l, fd, op);
			break;
		case EP_RECVMSG:
			over = run_recvmsg(l, fd, op);
			break;
		default:
			over = run_read(l, fd, op);
			break;
		}
		e = &l->fds[fd];	/* an accept may have grown the table */
		if (!over)
			break;	/* waits for an edge, or its budget for this pass is spent */
	}
	while (e->out && (e->ready & EP_OUT)) {
		struct ep_op *op = e->out;
		ssize_t n;

		if (op->kind == EP_CONNECT) {
			/* Writable: the connection is made, or failed (its error
			 * is the socket's pending one). */
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			finish(l, op, -err);
			continue;
		}
		n = send_once(fd, op);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			e->ready &= (uint8_t)~EP_OUT;
			break;
		}
		/* A short write is a normal completion: the send queue resumes
		 * it at the right byte. */
		finish(l, op, (int32_t)n);
	}
	if (has_work(e))
		schedule(l, fd);	/* budget spent: go on next pass, without an edge */
}

/* Records what epoll reported for one fd. */
static void note_event(struct rc_loop_epoll *l, const struct epoll_event *ev)
{
	int fd = ev->data.fd;
	struct ep_fd *e;

	if (fd < 0 || (size_t)fd >= l->nfds)
		return;
	e = &l->fds[fd];
	if (ev->events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		e->hup = true;
	if (ev->events & (EPOLLERR | EPOLLHUP)) {
		/* Let every waiting operation meet the error in its syscall. */
		e->ready |= EP_IN | EP_OUT;
	}
	if (ev->events & (EPOLLIN | EPOLLRDHUP))
		e->ready |= EP_IN;
	if (ev->events & EPOLLOUT)
		e->ready |= EP_OUT;
	if (has_work(e))
		schedule(l, fd);
}

static void run_fds(struct rc_loop_epoll *l)
{
	struct ep_fdlist cur = l->run;

	l->run = l->running;
	l->run.n = 0;
	l->running = (struct ep_fdlist){ 0 };
	for (size_t i = 0; i < cur.n; i++)
		fd_run(l, cur.v[i]);
	cur.n = 0;
	l->running = cur;
}

static void expire_timers(struct rc_loop_epoll *l, uint64_t now)
{
	while (l->timers && l->timers->u.deadline_ns <= now)
		finish(l, l->timers, -ETIME);
}

/* epoll_wait's timeout: the soonest timer, rounded up so that a timer
 * never fires early; -1 without timers. */
static int wait_ms(const struct rc_loop_epoll *l, uint64_t now)
{
	uint64_t ms;

	if (!l->timers)
		return -1;
	if (l->timers->u.deadline_ns <= now)
		return 0;
	ms = (l->timers->u.deadline_ns - now + 999999u) / 1000000u;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* One pass: wait for readiness (not at all when completions, runnable fds
 * or the caller's leftovers are waiting), run what became ready and the
 * timers that are due, then deliver every completion posted so far: the
 * sends and cancels of the turn's deferred work included. */
static int ep_poll(struct rc_loop *base, bool block)
{
	struct rc_loop_epoll *l = E(base);
	int timeout = 0;
	int n;

	if (block && !l->cq.n && !l->run.n)
		timeout = wait_ms(l, now_ns());
	n = epoll_wait(l->epfd, l->evs, EP_EVENTS, timeout);
	base->stats.enters++;
	if (n < 0) {
		if (errno != EINTR) {
			int err = errno;

			rc_log_error("epoll_wait: %s", strerror(err));
			return -err;
		}
		n = 0;
	}
	rc_loop_clock(base);
	for (int i = 0; i < n; i++)
		note_event(l, &l->evs[i]);
	expire_timers(l, now_ns());
	run_fds(l);
	dispatch(l);
	return 0;
}

/* --- operations --- */

static int ep_op_start(struct rc_loop *base, struct rc_io *io, int fd, enum ep_kind kind,
		       struct ep_op **out)
{
	struct ep_op *op = op_new(E(base));

	if (!op)
		return -ENOMEM;
	op->io = io;
	op->fd = fd;
	op->kind = (uint8_t)kind;
	*out = op;
	return 0;
}

static int ep_accept_multishot(struct rc_loop *base, struct rc_io *io, int fd)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_ACCEPT, &op);

	if (ret < 0)
		return ret;
	/* accept4 must not block when another accept emptied the backlog. */
	set_nonblock(fd);
	return arm(E(base), op);
}

static int ep_recv_multishot(struct rc_loop *base, struct rc_io *io, int fd, struct rc_bufring *br)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_RECV, &op);

	if (ret < 0)
		return ret;
	op->u.rx.br = br;
	return arm(E(base), op);
}

static int ep_recvmsg_multishot(struct rc_loop *base, struct rc_io *io, int fd,
				struct rc_bufring *br, struct msghdr *tmpl)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_RECVMSG, &op);

	if (ret < 0)
		return ret;
	op->u.rx.br = br;
	op->u.rx.tmpl = tmpl;
	return arm(E(base), op);
}

/* A send goes out at once when nothing of the fd's waits before it: the
 * send work of a turn runs right before the loop waits, so this is when
 * io_uring would issue it too. Its completion is posted for the next
 * dispatch. Only a send that meets EAGAIN waits for EPOLLOUT. */
static int ep_send_start(struct rc_loop *base, struct ep_op *op)
{
	struct rc_loop_epoll *l = E(base);
	struct ep_fd *e = fd_get(l, op->fd);
	ssize_t n;

	if (!e) {
		op_free(l, op);
		return -ENOMEM;
	}
	if (e->out)
		return arm(l, op);	/* behind an earlier send: keep order */
	n = send_once(op->fd, op);
	if (n == -EAGAIN || n == -EWOULDBLOCK) {
		e->ready &= (uint8_t)~EP_OUT;
		return arm(l, op);
	}
	if (n == -EINTR)
		return arm(l, op);
	base->stats.submissions++;
	post(l, op->io, (int32_t)n, 0, 0);
	op_free(l, op);
	return 0;
}

static int ep_sendmsg(struct rc_loop *base, struct rc_io *io, int fd, const struct msghdr *msg,
		      int flags)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_SENDMSG, &op);

	if (ret < 0)
		return ret;
	/* msg, its iovec and the bytes are the caller's until the completion;
	 * the loop only reads them, in the syscall. */
	op->u.sendmsg.msg = msg;
	op->u.sendmsg.flags = flags;
	return ep_send_start(base, op);
}

static int ep_send(struct rc_loop *base, struct rc_io *io, int fd, const void *buf, size_t len,
		   int flags)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_SEND, &op);

	if (ret < 0)
		return ret;
	/* buf[0..len) is the caller's until the completion; the loop only
	 * reads it, in the syscall (now, or once the socket has room). */
	op->u.send.buf = buf;
	op->u.send.len = len;
	op->u.send.flags = flags;
	return ep_send_start(base, op);
}

static int ep_send_zc(struct rc_loop *base, struct rc_io *io, int fd, const void *buf, size_t len,
		      int flags, int fixed_index)
{
	(void)base;
	(void)io;
	(void)fd;
	(void)buf;
	(void)len;
	(void)flags;
	(void)fixed_index;
	return -EOPNOTSUPP;	/* SEND_ZC is io_uring's */
}

static int ep_register_buffer(struct rc_loop *base, void *mem, size_t len)
{
	(void)base;
	(void)mem;
	(void)len;
	return -EOPNOTSUPP;
}

static int ep_read(struct rc_loop *base, struct rc_io *io, int fd, void *buf, unsigned len)
{
	struct ep_op *op;
	int ret = ep_op_start(base, io, fd, EP_READ, &op);

	if (ret < 0)
		return ret;
	/* The caller's buffer is written by the read, in a later pass, and is
	 * the caller's again from the completion on. */
	op->u.read.buf = buf;
	op->u.read.len = len;
	set_nonblock(fd);
	return arm(E(base), op);
}

static int ep_connect(struct rc_loop *base, struct rc_io *io, int fd, const struct sockaddr *addr,
		      socklen_t addrlen)
{
	struct ep_op *op;
	int ret, err;

	/* A new socket: whatever an earlier file with its number left in
	 * the table (ready bits, registration) is not its. */
	ret = fd_fresh(E(base), fd);
	if (ret < 0)
		return ret;
	set_nonblock(fd);
	err = connect(fd, addr, addrlen) == 0 ? 0 : errno;
	if (err != EINPROGRESS) {
		/* Made at once or refused at once: the completion comes in
		 * the next dispatch, as on io_uring. */
		post(E(base), io, -err, 0, 0);
		base->stats.submissions++;
		return 0;
	}
	ret = ep_op_start(base, io, fd, EP_CONNECT, &op);
	if (ret < 0)
		return ret;
	/* Waits among the fd's sends: the first edge of writability says the
	 * handshake is over, either way. */
	return arm(E(base), op);
}

static int ep_timer_arm(struct rc_loop *base, struct rc_timer *t, uint64_t ms)
{
	struct rc_loop_epoll *l = E(base);
	struct ep_op *op;
	struct ep_op **p;
	int ret = ep_op_start(base, &t->io, -1, EP_TIMER, &op);

	if (ret < 0)
		return ret;
	op->u.deadline_ns = now_ns() + ms * 1000000u;
	ret = hash_add(l, op);
	if (ret < 0) {
		op_free(l, op);
		return ret;
	}
	/* A handful of timers exist at a time (the server's tick, back-offs):
	 * a sorted list is enough. Equal deadlines fire in arming order. */
	for (p = &l->timers; *p && (*p)->u.deadline_ns <= op->u.deadline_ns; p = &(*p)->next)
		;
	op->next = *p;
	*p = op;
	base->stats.submissions++;
	return 0;
}

static int ep_cancel(struct rc_loop *base, struct rc_io *target)
{
	struct rc_loop_epoll *l = E(base);
	struct ep_op *op;

	if (!l->hcap)
		return 0;
	/* Every waiting operation of target completes with -ECANCELED, in
	 * the next dispatch; completions already posted come first. */
	for (;;) {
		for (op = l->hash[hslot(l, target)]; op && op->io != target; op = op->hnext)
			;
		if (!op)
			return 0;
		finish(l, op, -ECANCELED);
	}
}

static int ep_cancel_fd(struct rc_loop *base, int fd)
{
	struct rc_loop_epoll *l = E(base);
	struct ep_fd *e;

	if (fd < 0 || (size_t)fd >= l->nfds)
		return 0;
	e = &l->fds[fd];
	while (e->in)
		finish(l, e->in, -ECANCELED);
	while (e->out)
		finish(l, e->out, -ECANCELED);
	return 0;
}

static void ep_destroy(struct rc_loop *base)
{
	struct rc_loop_epoll *l = E(base);

	close(l->epfd);
	while (l->chunks) {
		struct ep_chunk *c = l->chunks;

		l->chunks = c->next;
		free(c);
	}
	free(l->hash);
	free(l->fds);
	free(l->run.v);
	free(l->running.v);
	free(l->cq.v);
	free(l->delivering.v);
	free(l);
}

static const struct rc_loop_ops epoll_ops = {
	.name = "epoll",
	.destroy = ep_destroy,
	.poll = ep_poll,
	.accept_multishot = ep_accept_multishot,
	.recv_multishot = ep_recv_multishot,
	.recvmsg_multishot = ep_recvmsg_multishot,
	.sendmsg = ep_sendmsg,
	.send = ep_send,
	.send_zc = ep_send_zc,
	.register_buffer = ep_register_buffer,
	.read = ep_read,
	.connect = ep_connect,
	.timer_arm = ep_timer_arm,
	.cancel = ep_cancel,
	.cancel_fd = ep_cancel_fd,
	.bufring_setup = rc_bufring_epoll_setup,
	.bufring_give = rc_bufring_epoll_give,
	.bufring_teardown = rc_bufring_epoll_teardown,
};

struct rc_loop *rc_loop_epoll_create(int *err)
{
	struct rc_loop_epoll *l = calloc(1, sizeof(*l));
	int ret;

	if (!l) {
		ret = -ENOMEM;
		goto fail;
	}
	rc_loop_init_base(&l->base, &epoll_ops);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		ret = -errno;
		rc_log_error("epoll_create1: %s", strerror(-ret));
		goto fail_free;
	}
	ret = hash_grow(l);
	if (ret < 0)
		goto fail_close;
	return &l->base;

fail_close:
	close(l->epfd);
fail_free:
	free(l);
fail:
	if (err)
		*err = ret;
	return NULL;
}
