/* The io_uring backend: the ring, its set-up and probing, submitting,
 * waiting and dispatching completions. See loop.h for the contract and
 * loop_internal.h for what a backend provides; the provided-buffer ring is
 * in bufring_uring.c. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bufring_internal.h"
#include "compat.h"
#include "log.h"
#include "loop_internal.h"

#define RC_CQE_BATCH 256
#ifndef RC_EXTRA_PASSES
#define RC_EXTRA_PASSES 8
#endif

struct rc_loop_uring {
	struct rc_loop base;		/* first: a struct rc_loop * is one of these */
	struct io_uring ring;
	unsigned setup_flags;
	unsigned features;
	bool ring_fd_registered;
	/* The completion of a message to another ring (rc_loop_msg), seen
	 * only when it failed (its success is skipped). */
	struct rc_io msg_failed;
};

static void uring_msg_failed(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);

static inline struct rc_loop_uring *U(struct rc_loop *loop)
{
	return (struct rc_loop_uring *)loop;
}

/* The timer keeps its timespec in two plain fields so loop.h need not include
 * the kernel headers; they must match struct __kernel_timespec exactly. */
static_assert(sizeof(((struct rc_timer *)0)->ts_sec) == sizeof(((struct __kernel_timespec *)0)->tv_sec),
	      "rc_timer.ts_sec layout");
static_assert(offsetof(struct rc_timer, ts_nsec) - offsetof(struct rc_timer, ts_sec) ==
	      offsetof(struct __kernel_timespec, tv_nsec), "rc_timer.ts_nsec layout");

/* Explains, once, why the ring could not be created and what fixes it. */
static void explain_setup_error(int err)
{
	switch (-err) {
	case EPERM:
		rc_log_error("io_uring_setup: permission denied. io_uring is disabled for this process: "
			     "check 'sysctl kernel.io_uring_disabled' (0 allows everyone; 1 allows only "
			     "CAP_SYS_ADMIN or members of the group in kernel.io_uring_group; 2 disables it) "
			     "and any seccomp profile (Docker >= 25 and containerd >= 2.0 block io_uring by "
			     "default: see deploy/README.md)");
		break;
	case ENOSYS:
		rc_log_error("io_uring_setup: not implemented. The kernel lacks io_uring "
			     "(CONFIG_IO_URING) or a seccomp filter hides it; ringcast needs Linux >= 6.0 "
			     "with io_uring allowed");
		break;
	case ENOMEM:
		rc_log_error("io_uring_setup: out of memory. io_uring ring memory counts against "
			     "RLIMIT_MEMLOCK for users without CAP_IPC_LOCK: raise it (ulimit -l, "
			     "systemd LimitMEMLOCK=, docker --ulimit memlock=-1) or free memory");
		break;
	case EINVAL:
		rc_log_error("io_uring_setup: invalid argument. This kernel is too old for ringcast "
			     "(it needs Linux >= 6.0 for multishot receives)");
		break;
	default:
		rc_log_error("io_uring_setup failed: %s", strerror(-err));
		break;
	}
}

/* Tries the set-up flags from best to plainest. DEFER_TASKRUN runs completion
 * work only when this thread asks for events, which batches it and avoids
 * interrupting the loop (6.1); COOP_TASKRUN is the older, weaker form.
 * Ring memory counts against RLIMIT_MEMLOCK for users without CAP_IPC_LOCK
 * (seen on 6.18 as well as on kernels before 5.12), so on ENOMEM the rings
 * are shrunk, down to an eighth, before giving up. */
static int setup_ring(struct rc_loop_uring *loop, unsigned sq, unsigned cq)
{
	static const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	for (unsigned shrink = 1; shrink <= 8; shrink *= 2) {
		for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
			memset(&p, 0, sizeof(p));
			p.flags = base | tries[i];
			p.cq_entries = cq / shrink;
			ret = io_uring_queue_init_params(sq / shrink, &loop->ring, &p);
			if (ret == 0) {
				loop->setup_flags = p.flags;
				loop->features = p.features;
				rc_log_info("io_uring: sq=%u cq=%u flags=%s features=0x%x",
					    p.sq_entries, p.cq_entries,
					    i == 0 ? "SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG" :
					    i == 1 ? "SINGLE_ISSUER|DEFER_TASKRUN" :
					    i == 2 ? "COOP_TASKRUN|TASKRUN_FLAG" : "plain", p.features);
				if (shrink > 1)
					rc_log_warn("io_uring: rings shrunk to 1/%u of the default for "
						    "RLIMIT_MEMLOCK; raise it for many connections",
						    shrink);
				return 0;
			}
			if (ret != -EINVAL)
				break;
			rc_log_warn("io_uring: set-up flags 0x%x refused, trying simpler ones",
				    p.flags);
		}
		if (ret != -ENOMEM)
			break;
	}
	return ret;
}


/* "io_uring_setup: EPERM" and the like, for the log line and the metric. */
static void say_why(char *why, size_t whylen, const char *what, int err)
{
	const char *name = strerrorname_np(-err);

	if (why && whylen)
		snprintf(why, whylen, "%s: %s", what, name ? name : "error");
}

/* The opcodes ringcast cannot work without, and SEND_ZC which it can use.
 * The probe itself is a register call, which a filter may refuse on its
 * own. */
static int probe_ops(struct rc_loop_uring *loop, bool explain, char *why, size_t whylen)
{
	static const struct {
		int op;
		const char *name;
	} need[] = {
		{ IORING_OP_ACCEPT, "ACCEPT" },	  { IORING_OP_RECV, "RECV" },
		{ IORING_OP_RECVMSG, "RECVMSG" }, { IORING_OP_SENDMSG, "SENDMSG" },
		{ IORING_OP_READ, "READ" },	  { IORING_OP_TIMEOUT, "TIMEOUT" },
		{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" }, { IORING_OP_CONNECT, "CONNECT" },
	};
	size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *probe = calloc(1, len);
	int ret;

	if (!probe)
		return -ENOMEM;
	ret = io_uring_register_probe(&loop->ring, probe, 256);
	if (ret < 0) {
		say_why(why, whylen, "io_uring_register", ret);
		if (explain)
			rc_log_error("io_uring: the kernel refused the opcode probe: %s (needs Linux "
				     ">= 5.6, and io_uring_register allowed)", strerror(-ret));
		/* Refused or absent means unavailable, whatever the errno. */
		ret = ret == -ENOMEM ? ret : -EOPNOTSUPP;
		goto out;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!io_uring_opcode_supported(probe, need[i].op)) {
			if (explain)
				rc_log_error("io_uring: kernel lacks IORING_OP_%s", need[i].name);
			if (ret == 0 && why && whylen)
				snprintf(why, whylen, "io_uring probe: no IORING_OP_%s",
					 need[i].name);
			ret = -EOPNOTSUPP;
		}
	}
	loop->base.has_send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
	/* Another loop completes operations of this one through the ring's
	 * own descriptor (registering it does not close it). */
	if (io_uring_opcode_supported(probe, IORING_OP_MSG_RING))
		loop->base.msg_target = loop->ring.ring_fd;
out:
	free(probe);
	return ret;
}

/* Registers and drops a one-entry provided-buffer ring: a kernel before
 * 5.19 (EINVAL) or a filter on io_uring_register would otherwise only show
 * when the first real ring is created, too late to choose epoll. */
static int probe_buf_ring(struct rc_loop_uring *loop, bool explain, char *why, size_t whylen)
{
	struct io_uring_buf_reg reg;
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (mem == MAP_FAILED)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = 1;
	reg.bgid = UINT16_MAX;	/* a group no ring of ringcast uses */
	ret = io_uring_register_buf_ring(&loop->ring, &reg, 0);
	if (ret == 0) {
		io_uring_unregister_buf_ring(&loop->ring, reg.bgid);
	} else {
		say_why(why, whylen, "io_uring buffer ring", ret);
		if (explain)
			rc_log_error("io_uring: registering a provided-buffer ring failed: %s (needs "
				     "Linux >= 5.19, and io_uring_register allowed)", strerror(-ret));
		if (ret != -ENOMEM)
			ret = -EOPNOTSUPP;
	}
	munmap(mem, len);
	return ret;
}

static const struct rc_loop_ops uring_ops;

struct rc_loop *rc_loop_uring_create(const struct rc_loop_opts *opts, bool explain, int *err,
				     char *why, size_t whylen)
{
	unsigned sq = opts && opts->sq_entries ? opts->sq_entries : 4096;
	unsigned cq = opts && opts->cq_entries ? opts->cq_entries : sq * 8;
	struct rc_loop_uring *loop = calloc(1, sizeof(*loop));
	int ret;

	if (!loop) {
		ret = -ENOMEM;
		goto fail;
	}
	rc_loop_init_base(&loop->base, &uring_ops);
	loop->msg_failed.fn = uring_msg_failed;
	ret = setup_ring(loop, sq, cq);
	if (ret < 0) {
		say_why(why, whylen, "io_uring_setup", ret);
		/* Without `explain` only what auto does not fall back from. */
		if (explain || (ret != -EPERM && ret != -ENOSYS && ret != -EINVAL))
			explain_setup_error(ret);
		goto fail_free;
	}
	ret = probe_ops(loop, explain, why, whylen);
	if (ret == 0)
		ret = probe_buf_ring(loop, explain, why, whylen);
	if (ret < 0)
		goto fail_ring;
	/* A registered ring fd saves the fdget/fdput in every io_uring_enter. */
	loop->ring_fd_registered = io_uring_register_ring_fd(&loop->ring) == 1;
	rc_log_info("io_uring: registered ring fd %s, SEND_ZC %s, recv/send bundles %s, "
		    "registered-ring register %s",
		    loop->ring_fd_registered ? "yes" : "no", loop->base.has_send_zc ? "yes" : "no",
		    loop->features & IORING_FEAT_RECVSEND_BUNDLE ? "available (unused)" : "no",
		    loop->features & IORING_FEAT_REG_REG_RING ? "yes" : "no");
	if (!(loop->features & IORING_FEAT_NODROP))
		rc_log_warn("io_uring: kernel may drop completions on CQ overflow (no FEAT_NODROP)");
	rc_loop_clock(&loop->base);
	return &loop->base;

fail_ring:
	io_uring_queue_exit(&loop->ring);
fail_free:
	free(loop);
fail:
	if (err)
		*err = ret;
	return NULL;
}

static void uring_destroy(struct rc_loop *loop)
{
	io_uring_queue_exit(&U(loop)->ring);
	free(U(loop));
}

/* Returns a free SQE, flushing the SQ to the kernel first when it is full. */
static struct io_uring_sqe *get_sqe(struct rc_loop *base)
{
	struct rc_loop_uring *loop = U(base);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
	int ret;

	if (sqe)
		return sqe;
	loop->base.stats.sq_full++;
	ret = io_uring_submit(&loop->ring);
	if (ret > 0)
		loop->base.stats.submissions += (unsigned)ret;
	return io_uring_get_sqe(&loop->ring);
}

static void dispatch(struct rc_loop *loop, const struct io_uring_cqe *cqe)
{
	struct rc_io *io = io_uring_cqe_get_data(cqe);
	struct rc_cqe c = { .res = cqe->res };

	loop->stats.cqes++;
	/* user_data 0 marks requests whose result nobody needs (failed cancels). */
	if (!io)
		return;
	if (cqe->flags & IORING_CQE_F_MORE)
		c.flags |= RC_CQE_MORE;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		c.flags |= RC_CQE_BUFFER;
		c.bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	}
	if (cqe->flags & IORING_CQE_F_NOTIF)
		c.flags |= RC_CQE_NOTIF;
	if (cqe->flags & IORING_CQE_F_SOCK_NONEMPTY)
		c.flags |= RC_CQE_SOCK_NONEMPTY;
	io->fn(loop, io, &c);
}

/* Dispatches the completions already in the CQ, RC_CQE_BATCH at a time so
 * that the kernel gets CQ space back early, and never enters the kernel.
 * liburing's peek would enter once whenever task work or a CQ overflow is
 * flagged; extra_passes() below is the one place that happens, bounded.
 * Returns how many it dispatched. */
static unsigned reap(struct rc_loop_uring *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, n, total = 0;

	do {
		n = 0;
		io_uring_for_each_cqe(&loop->ring, head, cqe) {
			dispatch(&loop->base, cqe);
			if (++n == RC_CQE_BATCH)
				break;
		}
		io_uring_cq_advance(&loop->ring, n);
		total += n;
	} while (n > 0);
	return total;
}

/* Under load the kernel hands over a turn's input in slices: a multishot
 * receive posts at most a fixed number of completions per socket before it
 * requeues itself (32 on 6.x kernels), and each io_uring_enter runs only so
 * much of the deferred task work (20 items on recent kernels). With many
 * ingest sockets every turn then ended with one send per subscriber for a
 * few dozen messages. While the kernel flags more task work (IORING_SQ_TASKRUN,
 * with TASKRUN_FLAG) or completions waiting in its overflow list
 * (IORING_SQ_CQ_OVERFLOW), enter without waiting and dispatch what that
 * posts, before the turn's batches close. At most RC_EXTRA_PASSES times,
 * and no further once a pass brings nothing: the flush still comes at the
 * end of every turn and never waits. */
static void extra_passes(struct rc_loop_uring *loop)
{
	for (unsigned i = 0; i < RC_EXTRA_PASSES && !loop->base.stop; i++) {
		int ret;

		if (!(IO_URING_READ_ONCE(*loop->ring.sq.kflags) &
		      (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
			return;
		ret = io_uring_get_events(&loop->ring);
		loop->base.stats.enters++;
		loop->base.stats.extra_passes++;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return;	/* the next turn's enter reports a broken ring */
		if (reap(loop) == 0)
			return;
	}
}

/* Submits what the turn queued, waits for one completion when `block`,
 * reads the overflow counters, dispatches, and takes in the task work the
 * kernel still flags (extra_passes()). */
static int uring_poll(struct rc_loop *base, bool block)
{
	struct rc_loop_uring *loop = U(base);
	int ret = io_uring_submit_and_wait(&loop->ring, block ? 1 : 0);

	base->stats.enters++;
	if (ret > 0) {
		base->stats.submissions += (unsigned)ret;
	} else if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
		/* -EBUSY means completions are backed up in the kernel's
		 * overflow list: reaping below is the cure. Anything else
		 * means the ring itself is unusable. */
		rc_log_error("io_uring_enter: %s", strerror(-ret));
		return ret;
	}
	rc_loop_clock(base);
	/* The CQ is sized so this stays 0; when it is not, completions
	 * took the kernel's slow overflow path (never lost with
	 * FEAT_NODROP) and the CQ (rc_loop_opts.cq_entries, 65,536 in
	 * gateway/server.c) is too small for that many connections. */
	base->stats.cq_overflow = IO_URING_READ_ONCE(*loop->ring.cq.koverflow);
	if (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		base->stats.cq_overflow_turns++;
	reap(loop);
	extra_passes(loop);
	return 0;
}

/* --- operations --- */

#define GET_SQE_OR_FAIL(loop, sqe)                 \
	do {                                       \
		(sqe) = get_sqe(loop);             \
		if (!(sqe))                        \
			return -EBUSY;             \
	} while (0)

static int uring_accept_multishot(struct rc_loop *loop, struct rc_io *io, int fd)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	/* Accepted sockets stay blocking: io_uring polls them itself, and a
	 * blocking socket never turns a send into a spurious -EAGAIN. */
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_recv_multishot(struct rc_loop *loop, struct rc_io *io, int fd, struct rc_bufring *br)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = rc_bufring_group(br);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_recvmsg_multishot(struct rc_loop *loop, struct rc_io *io, int fd,
			      struct rc_bufring *br, struct msghdr *tmpl)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	/* MSG_TRUNC makes the kernel report a datagram's full length even when
	 * it did not fit the buffer, which is how truncation is detected. */
	io_uring_prep_recvmsg_multishot(sqe, fd, tmpl, MSG_TRUNC);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = rc_bufring_group(br);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_sendmsg(struct rc_loop *loop, struct rc_io *io, int fd, const struct msghdr *msg,
		    int flags)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)(flags | MSG_NOSIGNAL));
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_send(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		 int flags)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_send_zc(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		    int flags, int fixed_index)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	if (fixed_index >= 0)
		io_uring_prep_send_zc_fixed(sqe, fd, buf, len, flags | MSG_NOSIGNAL,
					    IORING_SEND_ZC_REPORT_USAGE, (unsigned)fixed_index);
	else
		io_uring_prep_send_zc(sqe, fd, buf, len, flags | MSG_NOSIGNAL,
				      IORING_SEND_ZC_REPORT_USAGE);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_register_buffer(struct rc_loop *loop, void *base, size_t len)
{
	struct iovec iov = { .iov_base = base, .iov_len = len };

	return io_uring_register_buffers(&U(loop)->ring, &iov, 1);
}

static int uring_read(struct rc_loop *loop, struct rc_io *io, int fd, void *buf, unsigned len)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_read(sqe, fd, buf, len, (uint64_t)-1);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static void uring_msg_failed(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)loop;
	(void)io;
	/* The target ring is gone (its loop ended, at shutdown) or full. */
	rc_log_debug("io_uring: message to another ring failed: %s", strerror(-cqe->res));
}

static int uring_msg(struct rc_loop *loop, int target, struct rc_io *io, struct rc_io *on_fail)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	/* The target's completion carries io as its user data and 0 as its
	 * result; ours is skipped unless the message failed, and then goes
	 * to on_fail (else only logged). */
	io_uring_prep_msg_ring(sqe, target, 0, (uint64_t)(uintptr_t)io, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data(sqe, on_fail ? on_fail : &U(loop)->msg_failed);
	return 0;
}

static int uring_connect(struct rc_loop *loop, struct rc_io *io, int fd,
			 const struct sockaddr *addr, socklen_t addrlen)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	/* addr is the caller's until the completion (read at submission). */
	io_uring_prep_connect(sqe, fd, addr, addrlen);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_timer_arm(struct rc_loop *loop, struct rc_timer *t, uint64_t ms)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	t->ts_sec = (int64_t)(ms / 1000u);
	t->ts_nsec = (long long)(ms % 1000u) * 1000000LL;
	io_uring_prep_timeout(sqe, (struct __kernel_timespec *)&t->ts_sec, 0, 0);
	io_uring_sqe_set_data(sqe, &t->io);
	return 0;
}

static int uring_cancel(struct rc_loop *loop, struct rc_io *target)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_cancel(sqe, target, IORING_ASYNC_CANCEL_ALL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data(sqe, NULL);
	return 0;
}

static int uring_cancel_fd(struct rc_loop *loop, int fd)
{
	struct io_uring_sqe *sqe;

	GET_SQE_OR_FAIL(loop, sqe);
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data(sqe, NULL);
	return 0;
}

/* Used by bufring_uring.c, which must register with the same ring. */
struct io_uring *rc_loop_ring(struct rc_loop *loop)
{
	return &U(loop)->ring;
}

static const struct rc_loop_ops uring_ops = {
	.name = "io_uring",
	.destroy = uring_destroy,
	.poll = uring_poll,
	.accept_multishot = uring_accept_multishot,
	.recv_multishot = uring_recv_multishot,
	.recvmsg_multishot = uring_recvmsg_multishot,
	.sendmsg = uring_sendmsg,
	.send = uring_send,
	.send_zc = uring_send_zc,
	.register_buffer = uring_register_buffer,
	.read = uring_read,
	.connect = uring_connect,
	.msg = uring_msg,
	.timer_arm = uring_timer_arm,
	.cancel = uring_cancel,
	.cancel_fd = uring_cancel_fd,
	.bufring_setup = rc_bufring_uring_setup,
	.bufring_give = rc_bufring_uring_give,
	.bufring_teardown = rc_bufring_uring_teardown,
};
