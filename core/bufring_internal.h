/* Glue between the loop's backends and bufring.c that the rest of ringcast
 * never sees: each backend's half of a buffer ring (bufring_uring.c,
 * bufring_epoll.c), reached through the loop's ops table. */
#ifndef RC_BUFRING_INTERNAL_H
#define RC_BUFRING_INTERNAL_H

#include <liburing.h>

#include "bufring.h"

/* The loop's ring (io_uring backend only), for registering buffer rings
 * with it. */
struct io_uring *rc_loop_ring(struct rc_loop *loop);

/* The group id a buffer ring was registered under. */
static inline unsigned short rc_bufring_group(const struct rc_bufring *br)
{
	return br->group;
}

/* io_uring: maps the ring, registers it under br->group and adds every
 * buffer. Returns 0 or -errno. */
int rc_bufring_uring_setup(struct rc_bufring *br);
/* io_uring: adds buffer bid back to the ring; the kernel owns it from here. */
void rc_bufring_uring_give(struct rc_bufring *br, uint16_t bid);
/* io_uring: unregisters and unmaps the ring. */
void rc_bufring_uring_teardown(struct rc_bufring *br);

/* epoll: the free list, with every buffer on it. Returns 0 or -ENOMEM. */
int rc_bufring_epoll_setup(struct rc_bufring *br);
/* epoll: puts bid back on the free list. */
void rc_bufring_epoll_give(struct rc_bufring *br, uint16_t bid);
/* epoll: frees the free list. */
void rc_bufring_epoll_teardown(struct rc_bufring *br);

/* epoll: takes a free buffer for a receive the loop is about to make.
 * From here until the completion that names it is taken, the buffer is
 * the loop's receive's ("the kernel's"). Returns its id, or -1 when none
 * is free. */
static inline int rc_bufring_epoll_pop(struct rc_bufring *br)
{
	return br->nfree ? br->free_ids[--br->nfree] : -1;
}

#endif
