/* Glue between loop.c and bufring.c that the rest of ringcast never sees. */
#ifndef RC_BUFRING_INTERNAL_H
#define RC_BUFRING_INTERNAL_H

#include <liburing.h>

#include "bufring.h"

/* The loop's ring, for registering buffer rings with it. */
struct io_uring *rc_loop_ring(struct rc_loop *loop);

/* The group id a buffer ring was registered under. */
static inline unsigned short rc_bufring_group(const struct rc_bufring *br)
{
	return br->group;
}

#endif
