/* The backend-neutral part of the loop: choosing the backend, the turn
 * (deferred work, the send cap, the turn counter, now_ms) and the entry
 * points of loop.h, which hand each operation to the backend. See loop.h
 * for the contract, loop_internal.h for what a backend provides. */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop_internal.h"

void rc_loop_clock(struct rc_loop *loop)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void rc_loop_init_base(struct rc_loop *loop, const struct rc_loop_ops *ops)
{
	loop->ops = ops;
	loop->msg_target = -1;
	loop->defer_tail = &loop->defer_head;
	loop->send_tail = &loop->send_head;
	loop->next_tail = &loop->next_head;
	rc_loop_clock(loop);
}

int rc_loop_backend_parse(const char *s, enum rc_loop_backend *out)
{
	if (strcmp(s, "auto") == 0)
		*out = RC_LOOP_AUTO;
	else if (strcmp(s, "io_uring") == 0)
		*out = RC_LOOP_IO_URING;
	else if (strcmp(s, "epoll") == 0)
		*out = RC_LOOP_EPOLL;
	else
		return -EINVAL;
	return 0;
}

/* The errors that mean "io_uring is not available here" rather than "this
 * machine is short of something": a seccomp profile or
 * kernel.io_uring_disabled (EPERM), a kernel without io_uring or a filter
 * that hides it (ENOSYS), a kernel too old for the set-up flags (EINVAL),
 * or one whose probe lacks an opcode or the buffer ring (EOPNOTSUPP).
 * ENOMEM (RLIMIT_MEMLOCK) is not among them: epoll would hide a limit the
 * operator can raise, and io_uring is the faster backend. */
static bool uring_unavailable(int err)
{
	return err == -EPERM || err == -ENOSYS || err == -EINVAL || err == -EOPNOTSUPP;
}

struct rc_loop *rc_loop_create(const struct rc_loop_opts *opts, int *err)
{
	enum rc_loop_backend want = opts ? opts->backend : RC_LOOP_AUTO;
	char why[48] = "";
	struct rc_loop *loop;
	int ret = 0;

	if (want != RC_LOOP_EPOLL) {
		loop = rc_loop_uring_create(opts, want == RC_LOOP_IO_URING, &ret, why,
					    sizeof(why));
		if (loop) {
			snprintf(loop->reason, sizeof(loop->reason), "--backend %s",
				 want == RC_LOOP_AUTO ? "auto" : "io_uring");
			rc_log_info("loop: io_uring backend (%s)", loop->reason);
			return loop;
		}
		if (want == RC_LOOP_IO_URING || !uring_unavailable(ret))
			goto fail;
	}
	loop = rc_loop_epoll_create(&ret);
	if (!loop)
		goto fail;
	if (want == RC_LOOP_EPOLL) {
		snprintf(loop->reason, sizeof(loop->reason), "--backend epoll");
		rc_log_info("loop: epoll backend (%s)", loop->reason);
	} else {
		/* The one line that says why; not an error: ringcast serves. */
		snprintf(loop->reason, sizeof(loop->reason), "%s", why);
		rc_log_warn("loop: epoll backend (io_uring unavailable: %s; see deploy/README.md "
			    "to allow io_uring, the faster backend)", loop->reason);
	}
	return loop;

fail:
	if (err)
		*err = ret;
	return NULL;
}

void rc_loop_destroy(struct rc_loop *loop)
{
	if (loop)
		loop->ops->destroy(loop);
}

const char *rc_loop_backend_name(const struct rc_loop *loop)
{
	return loop->ops->name;
}

const char *rc_loop_backend_reason(const struct rc_loop *loop)
{
	return loop->reason;
}

void rc_loop_stop(struct rc_loop *loop)
{
	loop->stop = true;
}

uint64_t rc_loop_now_ms(const struct rc_loop *loop)
{
	return loop->now_ms;
}

const struct rc_loop_stats *rc_loop_stats(const struct rc_loop *loop)
{
	return &loop->stats;
}

bool rc_loop_has_send_zc(const struct rc_loop *loop)
{
	return loop->has_send_zc;
}

static void enqueue(struct rc_loop *loop, struct rc_deferred ***tail, struct rc_deferred *d)
{
	if (d->next)
		return;		/* queued already (in either queue) */
	d->next = &loop->defer_end;
	**tail = d;
	*tail = &d->next;
}

static struct rc_deferred *dequeue(struct rc_loop *loop, struct rc_deferred **head,
				   struct rc_deferred ***tail)
{
	struct rc_deferred *d = *head;

	*head = d->next == &loop->defer_end ? NULL : d->next;
	if (!*head)
		*tail = head;
	d->next = NULL;
	return d;
}

void rc_loop_defer(struct rc_loop *loop, struct rc_deferred *d)
{
	enqueue(loop, &loop->defer_tail, d);
}

void rc_loop_defer_send(struct rc_loop *loop, struct rc_deferred *d)
{
	enqueue(loop, &loop->send_tail, d);
}

void rc_loop_defer_next(struct rc_loop *loop, struct rc_deferred *d)
{
	enqueue(loop, &loop->next_tail, d);
}

void rc_loop_set_turn_hook(struct rc_loop *loop, void (*fn)(struct rc_loop *loop, void *arg),
			   void *arg)
{
	loop->turn_hook = fn;
	loop->turn_hook_arg = arg;
}

uint64_t rc_loop_turn(const struct rc_loop *loop)
{
	return loop->turn;
}

/* Moves the work queued for this turn by rc_loop_defer_next() to the end
 * of the plain queue (work queued for the next turn while it runs waits
 * for that one). */
static void take_next(struct rc_loop *loop)
{
	if (!loop->next_head)
		return;
	*loop->defer_tail = loop->next_head;
	loop->defer_tail = loop->next_tail;
	loop->next_head = NULL;
	loop->next_tail = &loop->next_head;
}

/* Runs the turn's deferred work: all of the plain kind (work may queue more
 * work), and at most RC_TURN_SENDS items of the send kind, each after the
 * plain work queued before it. A loopback send runs inline in the next
 * io_uring_enter, so with many subscribers one turn's sends would keep the
 * loop in the kernel for a whole round while new input waits, and a message
 * arriving then would wait for that round to end and for its own, up to two
 * rounds (figures: perf/RESULTS.md, step 8). Capped, the turn ends after a
 * slice of sends, the
 * next one takes in what arrived meanwhile and closes its batches first
 * (they join the queues still waiting, in the same sends), then goes on
 * with the rotation: at most about one round from arrival to the last
 * subscriber. Which subscriber goes next is first-come first-served, so
 * nobody is skipped. On epoll each send is its own syscall, made as the
 * send work runs, so the same cap bounds the same kernel time. */
static void run_deferred(struct rc_loop *loop)
{
	unsigned sends = 0;

	loop->turn++;
	take_next(loop);
	for (;;) {
		struct rc_deferred *d;

		while (loop->defer_head) {
			d = dequeue(loop, &loop->defer_head, &loop->defer_tail);
			d->fn(loop, d);
		}
		if (!loop->send_head)
			return;
		if (sends == RC_TURN_SENDS) {
			loop->stats.capped_turns++;
			return;
		}
		d = dequeue(loop, &loop->send_head, &loop->send_tail);
		d->fn(loop, d);
		sends++;
	}
}

int rc_loop_run(struct rc_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int ret;

		run_deferred(loop);
		if (loop->turn_hook)
			loop->turn_hook(loop, loop->turn_hook_arg);
		if (loop->stop)
			break;
		/* Sends left over from a capped turn, or work for the next
		 * turn: go on without waiting. */
		ret = loop->ops->poll(loop, !loop->send_head && !loop->next_head);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- operations: the backend's --- */

int rc_loop_accept_multishot(struct rc_loop *loop, struct rc_io *io, int fd)
{
	return loop->ops->accept_multishot(loop, io, fd);
}

int rc_loop_recv_multishot(struct rc_loop *loop, struct rc_io *io, int fd, struct rc_bufring *br)
{
	return loop->ops->recv_multishot(loop, io, fd, br);
}

int rc_loop_recvmsg_multishot(struct rc_loop *loop, struct rc_io *io, int fd,
			      struct rc_bufring *br, struct msghdr *tmpl)
{
	return loop->ops->recvmsg_multishot(loop, io, fd, br, tmpl);
}

int rc_loop_sendmsg(struct rc_loop *loop, struct rc_io *io, int fd, const struct msghdr *msg,
		    int flags)
{
	return loop->ops->sendmsg(loop, io, fd, msg, flags);
}

int rc_loop_send(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		 int flags)
{
	return loop->ops->send(loop, io, fd, buf, len, flags);
}

int rc_loop_send_zc(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		    int flags, int fixed_index)
{
	if (!loop->has_send_zc)
		return -EOPNOTSUPP;
	return loop->ops->send_zc(loop, io, fd, buf, len, flags, fixed_index);
}

int rc_loop_register_buffer(struct rc_loop *loop, void *base, size_t len)
{
	return loop->ops->register_buffer(loop, base, len);
}

int rc_loop_read(struct rc_loop *loop, struct rc_io *io, int fd, void *buf, unsigned len)
{
	return loop->ops->read(loop, io, fd, buf, len);
}

int rc_loop_connect(struct rc_loop *loop, struct rc_io *io, int fd, const struct sockaddr *addr,
		    socklen_t addrlen)
{
	return loop->ops->connect(loop, io, fd, addr, addrlen);
}

int rc_loop_msg_target(const struct rc_loop *loop)
{
	return loop->msg_target;
}

int rc_loop_msg(struct rc_loop *from, int target, struct rc_io *io, struct rc_io *on_fail)
{
	if (!from->ops->msg || target < 0)
		return -EOPNOTSUPP;
	return from->ops->msg(from, target, io, on_fail);
}

int rc_loop_timer_arm(struct rc_loop *loop, struct rc_timer *t, uint64_t ms)
{
	return loop->ops->timer_arm(loop, t, ms);
}

int rc_loop_cancel(struct rc_loop *loop, struct rc_io *target)
{
	return loop->ops->cancel(loop, target);
}

int rc_loop_cancel_fd(struct rc_loop *loop, int fd)
{
	return loop->ops->cancel_fd(loop, fd);
}
