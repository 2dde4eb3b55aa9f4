/* The event loop: one thread, one kernel interface, and everything it owns.
 *
 * Two backends sit behind this API: io_uring (the default, and the fast one)
 * and epoll (where io_uring is blocked: container seccomp profiles,
 * kernel.io_uring_disabled, old kernels). Only core/ includes liburing or
 * calls epoll. The rest of ringcast submits work through the small API below
 * and learns of completions through callbacks, with the same semantics on
 * both backends. A struct rc_io is embedded in whatever object owns an
 * operation; its address is the operation's user_data, so the owner must not
 * be freed while any of its operations is still in flight (owners count
 * them). A completion is never delivered inside the call that starts its
 * operation: always later, from rc_loop_run(). */
#ifndef RC_LOOP_H
#define RC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rc_loop;
struct rc_bufring;

/* What one completion says, without liburing types. */
enum {
	RC_CQE_MORE = 1u << 0,		/* a multishot operation stays armed */
	RC_CQE_BUFFER = 1u << 1,	/* `bid` names a provided buffer now owned by the app */
	RC_CQE_NOTIF = 1u << 2,		/* zero-copy send notification */
	RC_CQE_SOCK_NONEMPTY = 1u << 3,	/* more data is waiting in the socket */
};

struct rc_cqe {
	int32_t res;		/* the operation's result: >= 0 or -errno */
	uint32_t flags;		/* RC_CQE_* */
	uint16_t bid;		/* valid with RC_CQE_BUFFER */
};

struct rc_io;
typedef void (*rc_io_fn)(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);

struct rc_io {
	rc_io_fn fn;
};

/* Work to run at the end of the current loop turn, before the next submit:
 * this is where per-subscriber sends are coalesced (everything published
 * before a subscriber's send goes out in that one sendmsg). Send work
 * (rc_loop_defer_send) runs after the rest and may wait a few turns. */
struct rc_deferred;
typedef void (*rc_deferred_fn)(struct rc_loop *loop, struct rc_deferred *d);

struct rc_deferred {
	rc_deferred_fn fn;
	/* Owned by the loop: non-NULL exactly while queued (the last queued
	 * item points at the loop's end marker). No flag beside it: every
	 * connection embeds a few of these. */
	struct rc_deferred *next;
};

/* True while d waits in one of its loop's deferred queues. */
static inline bool rc_deferred_queued(const struct rc_deferred *d)
{
	return d->next != NULL;
}

/* A one-shot timer; the timespec lives here because the kernel reads it at
 * submission, which happens after rc_loop_timer_arm() returns. */
struct rc_timer {
	struct rc_io io;
	int64_t ts_sec;
	long long ts_nsec;
};

/* Which kernel interface the loop uses. */
enum rc_loop_backend {
	RC_LOOP_AUTO = 0,	/* io_uring; epoll when io_uring is not available here */
	RC_LOOP_IO_URING,	/* io_uring or fail */
	RC_LOOP_EPOLL,		/* epoll, even where io_uring works */
};

struct rc_loop_opts {
	unsigned sq_entries;	/* io_uring only; 0: 4096 */
	unsigned cq_entries;	/* io_uring only; 0: 8 x sq_entries */
	enum rc_loop_backend backend;	/* 0: RC_LOOP_AUTO */
};

/* The io_uring-only counters stay 0 on epoll. */
struct rc_loop_stats {
	uint64_t submissions;	/* SQEs handed to the kernel; epoll: operations started */
	uint64_t enters;	/* io_uring_enter calls made by the loop; epoll: epoll_wait calls */
	uint64_t cqes;		/* completions processed */
	uint64_t cq_overflow;	/* completions the kernel could not post directly (kernel's count) */
	uint64_t cq_overflow_turns;	/* turns that found the CQ overflow flag set */
	uint64_t sq_full;	/* times the SQ was full and had to be flushed early */
	uint64_t extra_passes;	/* enters that ran flagged task work before a turn closed */
	uint64_t capped_turns;	/* turns that left sends for the next turn (RC_TURN_SENDS) */
};

/* Creates a loop on the backend opts->backend asks for (opts may be NULL:
 * auto, default sizes). io_uring: sets up the ring with the best flags the
 * kernel accepts (SINGLE_ISSUER|DEFER_TASKRUN with TASKRUN_FLAG, the same
 * without it, then COOP_TASKRUN, then none), registers the ring fd, probes
 * the opcodes ringcast needs and logs what it chose. With RC_LOOP_AUTO, an
 * io_uring that is not available here (set-up fails with EPERM, ENOSYS or
 * EINVAL, or the probe lacks an opcode or the buffer ring) means epoll
 * instead; a resource error (ENOMEM: memory or RLIMIT_MEMLOCK) is still an
 * error. Logs one line naming the backend and why it was chosen.
 * On failure returns NULL and sets *err to -errno; for the errors that mean
 * "io_uring is not available here" (with RC_LOOP_IO_URING) or that need a
 * fix (ENOMEM) it logs the cause and the fix. */
struct rc_loop *rc_loop_create(const struct rc_loop_opts *opts, int *err);

/* "io_uring" or "epoll": the backend the loop runs on. */
const char *rc_loop_backend_name(const struct rc_loop *loop);

/* Why that backend, in a few words for logs and metrics (no quotes or
 * backslashes): "--backend auto", "--backend epoll", or the io_uring
 * failure that made auto fall back, e.g. "io_uring_setup: EPERM". */
const char *rc_loop_backend_reason(const struct rc_loop *loop);

/* Parses "auto", "io_uring" or "epoll". Returns 0 or -EINVAL. */
int rc_loop_backend_parse(const char *s, enum rc_loop_backend *out);

/* Tears the loop down. Operations still in flight are abandoned: call only
 * after every owner has finished or when exiting. */
void rc_loop_destroy(struct rc_loop *loop);

/* Runs turns (submit, wait, dispatch completions, run deferred work) until
 * rc_loop_stop() is called. Returns 0, or -errno on a fatal ring error. */
int rc_loop_run(struct rc_loop *loop);

/* Makes rc_loop_run() return after the current turn. */
void rc_loop_stop(struct rc_loop *loop);

/* Monotonic milliseconds, sampled once per turn (cheap to call often). */
uint64_t rc_loop_now_ms(const struct rc_loop *loop);

/* Counters since creation. */
const struct rc_loop_stats *rc_loop_stats(const struct rc_loop *loop);

/* True when the kernel accepted IORING_OP_SEND_ZC in the probe (never on
 * epoll). */
bool rc_loop_has_send_zc(const struct rc_loop *loop);

/* Queues d to run at the end of this turn (once, however often it is queued). */
void rc_loop_defer(struct rc_loop *loop, struct rc_deferred *d);

#ifndef RC_TURN_SENDS
#define RC_TURN_SENDS 512
#endif

/* Queues d, work that submits one send, to run after the turn's other
 * deferred work. At most RC_TURN_SENDS of these run per turn, first
 * come first served; the rest run in the next turns, which then do not wait
 * for completions. This bounds how long input waits behind one turn's sends
 * (a round of sends to many subscribers is a long time in the kernel). d must
 * not be queued with rc_loop_defer() at the same time. */
void rc_loop_defer_send(struct rc_loop *loop, struct rc_deferred *d);

/* Queues d to run in the next turn, among that turn's plain deferred work;
 * a turn with such work queued does not wait for completions. For work
 * that was cut short to bound what one owner does per turn (input parsed
 * in slices) and must go on soon without starving the rest. */
void rc_loop_defer_next(struct rc_loop *loop, struct rc_deferred *d);

/* Sets fn to run once per turn, after the turn's deferred work and before
 * the loop waits (fn NULL: none). For work that must see the state every
 * turn leaves behind, such as publishing a copy of the counters for other
 * threads. fn must not queue deferred work. */
void rc_loop_set_turn_hook(struct rc_loop *loop, void (*fn)(struct rc_loop *loop, void *arg),
			   void *arg);

/* The number of the current turn (it grows by one per turn): lets an owner
 * bound the work it does in one turn. */
uint64_t rc_loop_turn(const struct rc_loop *loop);

/* --- Operations. Each returns 0 once queued for submission, or -errno.
 * The completion is delivered to io->fn, exactly once for one-shot
 * operations, and until a CQE without RC_CQE_MORE for multishot ones.
 * On epoll, readiness and EAGAIN stay inside the loop: callers see the
 * same results as on io_uring (a send that found the socket full waits and
 * completes with what it wrote; a short write is a normal completion). */

/* Multishot accept on a listening socket; each CQE's res is a new fd
 * (SOCK_CLOEXEC; blocking on io_uring, which polls it itself, and
 * SOCK_NONBLOCK on epoll) or -errno. A CQE without RC_CQE_MORE ends it (an
 * error such as -EMFILE does). On epoll the listening socket is made
 * non-blocking. */
int rc_loop_accept_multishot(struct rc_loop *loop, struct rc_io *io, int fd);

/* Multishot recv on a stream socket into buffers of `br`. Each data CQE has
 * RC_CQE_BUFFER; from then until rc_bufring_unref() drops its last reference
 * the buffer belongs to the caller. res == 0 means the peer closed. */
int rc_loop_recv_multishot(struct rc_loop *loop, struct rc_io *io, int fd,
			   struct rc_bufring *br);

/* Multishot recvmsg on a datagram socket into buffers of `br`. `tmpl` gives
 * msg_namelen and msg_controllen (only the lengths are used) and must stay
 * valid while the operation is armed. Decode each CQE with
 * rc_bufring_recvmsg_payload(). */
int rc_loop_recvmsg_multishot(struct rc_loop *loop, struct rc_io *io, int fd,
			      struct rc_bufring *br, struct msghdr *tmpl);

/* sendmsg(fd, msg, flags|MSG_NOSIGNAL). msg, its iovec array and the memory
 * they point at must stay unchanged until the completion arrives. */
int rc_loop_sendmsg(struct rc_loop *loop, struct rc_io *io, int fd,
		    const struct msghdr *msg, int flags);

/* send(fd, buf, len, flags|MSG_NOSIGNAL) from one contiguous buffer. */
int rc_loop_send(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		 int flags);

/* Zero-copy send (IORING_OP_SEND_ZC, with IORING_SEND_ZC_REPORT_USAGE);
 * -EOPNOTSUPP unless rc_loop_has_send_zc().
 * With fixed_index >= 0 the bytes must lie inside the buffer registered
 * under that index (rc_loop_register_buffer()), which spares the kernel
 * pinning pages per send. Two completions arrive: the send's result (with
 * RC_CQE_MORE when a notification follows) and then one with RC_CQE_NOTIF;
 * the memory may be reused only after the notification, whose res has
 * RC_ZC_COPIED set when the kernel had to copy after all (always on loopback). */
int rc_loop_send_zc(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		    int flags, int fixed_index);

/* Test the notification as (uint32_t)cqe->res & RC_ZC_COPIED: bit 31 makes res negative. */
#define RC_ZC_COPIED (1u << 31)

/* Registers [base, base+len) as fixed buffer 0 for zero-copy sends. Pinned
 * memory counts against RLIMIT_MEMLOCK; returns -ENOMEM when over it, and
 * -EOPNOTSUPP on epoll. */
int rc_loop_register_buffer(struct rc_loop *loop, void *base, size_t len);

/* read(fd, buf, len) at the current file position (signalfd, eventfd). On
 * epoll, fd is made non-blocking, and a file epoll cannot watch (a regular
 * file) is read at once, in the next turn. */
int rc_loop_read(struct rc_loop *loop, struct rc_io *io, int fd, void *buf, unsigned len);

/* Connects socket fd to addr (addrlen bytes, which the caller keeps
 * unchanged until the completion: io_uring reads it when it submits). One
 * completion on io: res 0 when connected, else -errno (-ECONNREFUSED,
 * -ETIMEDOUT, ...). The socket is made non-blocking on epoll. Returns 0,
 * or -errno when the operation could not be started. */
int rc_loop_connect(struct rc_loop *loop, struct rc_io *io, int fd, const struct sockaddr *addr,
		    socklen_t addrlen);

/* What another loop needs to complete an operation of this one directly
 * (rc_loop_msg): on io_uring with IORING_OP_MSG_RING, the ring's
 * descriptor; -1 on epoll or without it. Fixed for the loop's life. */
int rc_loop_msg_target(const struct rc_loop *loop);

/* On loop `from`: queues a completion of `io` (res 0, no flags) for the
 * loop whose rc_loop_msg_target() is target (another thread's, usually);
 * io->fn runs on that loop's thread when it reaps it. `io` stays the
 * target's: nothing of it is read or written here but its address. Goes
 * to the kernel with from's next submission. A message that fails there
 * (the target's ring full or gone) completes `on_fail` on `from` with the
 * error, so the caller can deliver another way (the mailbox's eventfd);
 * on_fail NULL: the failure is only logged. Success completes nothing on
 * `from`. Returns 0, or -errno (-EOPNOTSUPP on epoll). */
int rc_loop_msg(struct rc_loop *from, int target, struct rc_io *io, struct rc_io *on_fail);

/* Fires t->io.fn with res -ETIME after `ms` milliseconds (or -ECANCELED). */
int rc_loop_timer_arm(struct rc_loop *loop, struct rc_timer *t, uint64_t ms);

/* Asks the kernel to cancel every operation whose user_data is `target`.
 * The cancelled operations complete through their own callbacks (usually
 * with -ECANCELED); the cancel request itself posts nothing. */
int rc_loop_cancel(struct rc_loop *loop, struct rc_io *target);

/* Cancels every operation on fd, as rc_loop_cancel(). */
int rc_loop_cancel_fd(struct rc_loop *loop, int fd);

#endif
