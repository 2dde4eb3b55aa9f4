/* What the backend-neutral turn (loop.c) and the two backends
 * (loop_uring.c, loop_epoll.c) share. The rest of ringcast never sees it.
 *
 * loop.c owns the turn: deferred work, the send cap, the turn counter,
 * now_ms and the counters. A backend owns the kernel interface: it starts
 * operations, waits, and delivers completions to rc_io callbacks; and it
 * owns how buffers of a struct rc_bufring reach the kernel (io_uring's
 * provided-buffer ring, or epoll's free list). */
#ifndef RC_LOOP_INTERNAL_H
#define RC_LOOP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "bufring.h"
#include "loop.h"

struct rc_loop_ops {
	const char *name;	/* "io_uring", "epoll" */
	/* Frees the backend and the loop (the struct rc_loop is its first
	 * member). Operations in flight are abandoned. */
	void (*destroy)(struct rc_loop *loop);
	/* One pass of I/O after the turn's deferred work: hands started
	 * operations to the kernel, waits for at least one completion when
	 * `block` (else not at all), samples the clock (rc_loop_clock()) and
	 * dispatches completions. Returns 0, or -errno when the backend
	 * cannot go on. */
	int (*poll)(struct rc_loop *loop, bool block);
	/* The operations of loop.h, same contracts. */
	int (*accept_multishot)(struct rc_loop *loop, struct rc_io *io, int fd);
	int (*recv_multishot)(struct rc_loop *loop, struct rc_io *io, int fd,
			      struct rc_bufring *br);
	int (*recvmsg_multishot)(struct rc_loop *loop, struct rc_io *io, int fd,
				 struct rc_bufring *br, struct msghdr *tmpl);
	int (*sendmsg)(struct rc_loop *loop, struct rc_io *io, int fd, const struct msghdr *msg,
		       int flags);
	int (*send)(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf, size_t len,
		    int flags);
	int (*send_zc)(struct rc_loop *loop, struct rc_io *io, int fd, const void *buf,
		       size_t len, int flags, int fixed_index);
	int (*register_buffer)(struct rc_loop *loop, void *base, size_t len);
	int (*read)(struct rc_loop *loop, struct rc_io *io, int fd, void *buf, unsigned len);
	int (*msg)(struct rc_loop *loop, int target, struct rc_io *io,
		   struct rc_io *on_fail);	/* NULL: none */
	int (*connect)(struct rc_loop *loop, struct rc_io *io, int fd, const struct sockaddr *addr,
		       socklen_t addrlen);
	int (*timer_arm)(struct rc_loop *loop, struct rc_timer *t, uint64_t ms);
	int (*cancel)(struct rc_loop *loop, struct rc_io *target);
	int (*cancel_fd)(struct rc_loop *loop, int fd);
	/* A new buffer ring: its slab and counts are set; hand every buffer
	 * to the kernel. Returns 0 or -errno. */
	int (*bufring_setup)(struct rc_bufring *br);
	/* Buffer bid's last reference is gone: it is the kernel's again. */
	void (*bufring_give)(struct rc_bufring *br, uint16_t bid);
	/* Undoes bufring_setup (the slab is freed by bufring.c). */
	void (*bufring_teardown)(struct rc_bufring *br);
};

struct rc_loop {
	const struct rc_loop_ops *ops;
	bool has_send_zc;
	bool stop;
	int msg_target;		/* rc_loop_msg_target() */
	uint64_t now_ms;
	struct rc_loop_stats stats;
	struct rc_deferred *defer_head;		/* NULL when nothing is queued */
	struct rc_deferred **defer_tail;
	struct rc_deferred *send_head;		/* rc_loop_defer_send() work, same shape */
	struct rc_deferred **send_tail;
	struct rc_deferred *next_head;		/* rc_loop_defer_next() work, same shape */
	struct rc_deferred **next_tail;
	uint64_t turn;				/* turns begun */
	struct rc_deferred defer_end;		/* what the last queued item of either points at */
	void (*turn_hook)(struct rc_loop *loop, void *arg);	/* rc_loop_set_turn_hook() */
	void *turn_hook_arg;
	char reason[64];			/* rc_loop_backend_reason() */
};

/* Sets up the shared part of a loop a backend has just allocated. */
void rc_loop_init_base(struct rc_loop *loop, const struct rc_loop_ops *ops);

/* Samples the monotonic clock into loop->now_ms (once per pass). */
void rc_loop_clock(struct rc_loop *loop);

/* The io_uring backend. With `explain`, a failure is logged with its cause
 * and fix; without, only failures that are not "io_uring is unavailable
 * here" are. On failure *err is -errno and `why` (when not NULL) says what
 * failed in a few words ("io_uring_setup: EPERM"). Unavailable means
 * -EPERM, -ENOSYS, -EINVAL or -EOPNOTSUPP (an opcode or the buffer ring
 * missing). */
struct rc_loop *rc_loop_uring_create(const struct rc_loop_opts *opts, bool explain, int *err,
				     char *why, size_t whylen);

/* The epoll backend. */
struct rc_loop *rc_loop_epoll_create(int *err);

#endif
