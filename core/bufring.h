/* The provided-buffer ring: a slab of equal buffers the kernel fills on
 * receive, with a reference count per buffer so that one received message can
 * be sent to many subscribers straight from where it landed.
 *
 * On io_uring the buffers are a provided-buffer ring registered with the
 * kernel; on epoll the loop keeps a free list of buffer ids instead and
 * receives into them itself. Same slab, stride, headroom and counts, same
 * rules below ("the ring" is the free list on epoll, "the kernel" the
 * loop's receive that is under way).
 *
 * Ownership of buffer `bid`, at every step:
 *   - in the ring (added, not yet consumed): the kernel's; ringcast must not
 *     touch it;
 *   - after a CQE names it (RC_CQE_BUFFER): ringcast's, with one reference,
 *     taken by rc_bufring_take();
 *   - each queued send that points into it holds one more reference
 *     (rc_bufring_ref()), dropped by the send's completion (rc_bufring_unref());
 *   - when the count reaches zero the buffer goes back into the ring, and the
 *     kernel owns it again.
 * Every buffer has `headroom` bytes in front of the area the kernel fills, so
 * a protocol header can be written in place in front of the payload.
 *
 * A ring may have a large class (rc_bufring_add_large()): a few buffers
 * big enough for any datagram, in a kernel group of their own, whose ids
 * follow the regular ones (count .. count + large count - 1). Every call
 * below takes either kind of id on the regular ring and forwards a large
 * one, so the fan-out holds and releases a large datagram exactly as any
 * other; only a receive names the large class's ring (rc_bufring_large()). */
#ifndef RC_BUFRING_H
#define RC_BUFRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

struct rc_bufring_opts {
	uint16_t group;		/* buffer group id, unique per loop */
	uint32_t count;		/* buffers, a power of two <= 32768 */
	uint32_t size;		/* bytes the kernel may fill per buffer */
	uint32_t headroom;	/* bytes reserved in front of each buffer */
	uint32_t low_water;	/* free count under which the pressure hook runs */
	uint16_t bid_base;	/* ids the kernel is given are bid_base + i (large class) */
};

struct rc_bufring {
	struct rc_loop *loop;
	void *ring;		/* io_uring: struct io_uring_buf_ring *, shared with the kernel */
	uint16_t *free_ids;	/* epoll: the ids of free buffers, a stack */
	uint32_t nfree;		/* epoll: how many are on it */
	uint8_t *slab;
	size_t slab_len;
	size_t ring_len;
	uint32_t count;
	uint32_t mask;
	uint32_t stride;	/* headroom + size, rounded up to 64 bytes */
	uint32_t size;
	uint32_t headroom;
	uint16_t group;
	uint16_t bid_base;	/* 0, or for a large class the regular ring's count */
	struct rc_bufring *large;	/* the large class, or NULL */
	int fixed_index;	/* registered as this fixed buffer for SEND_ZC; -1 = not */
	uint32_t *refs;		/* per buffer; 0 = in the ring */
	uint32_t in_use;	/* buffers ringcast holds (refs > 0) */
	uint32_t low_water;
	uint32_t refill;	/* free count at which waiters run (count / 4) */
	struct rc_deferred *pressure;	/* runs when free < low_water */
	struct rc_deferred **waiters;	/* run when free >= refill */
	uint32_t nwaiters;
	uint32_t waiters_cap;
};

/* Allocates the slab and, on io_uring, the ring memory, registers the ring
 * with the loop's io_uring under opts->group (on epoll: fills the free list)
 * and gives every buffer to the kernel.
 * Returns NULL with *err = -errno on failure (-EINVAL for bad options,
 * -ENOMEM, or the kernel's error from IORING_REGISTER_PBUF_RING). */
struct rc_bufring *rc_bufring_create(struct rc_loop *loop, const struct rc_bufring_opts *opts,
				     int *err);

/* Registers the whole slab as fixed buffer 0 of the loop so zero-copy sends
 * need not pin pages per send. Returns 0 or -errno (-ENOMEM when
 * RLIMIT_MEMLOCK is too small for the slab, -EOPNOTSUPP on epoll). */
int rc_bufring_register_fixed(struct rc_bufring *br);

/* Gives br a large class: count buffers (a power of two <= 1024) of size
 * bytes each, with br's headroom, registered under group. Their ids follow
 * br's own; the large class is not part of br's fixed buffer (sends from it
 * copy). Returns 0, -EEXIST when br has one, or what rc_bufring_create()
 * returns. */
int rc_bufring_add_large(struct rc_bufring *br, uint16_t group, uint32_t count, uint32_t size);

/* The large class, to receive into (NULL when there is none). */
static inline struct rc_bufring *rc_bufring_large(const struct rc_bufring *br)
{
	return br->large;
}

/* How many ids br hands out, its large class's included: the size of an
 * array indexed by buffer id. */
static inline uint32_t rc_bufring_ids(const struct rc_bufring *br)
{
	return br->count + (br->large ? br->large->count : 0);
}

/* True when id bid is one of br's own buffers (not its large class's). */
static inline bool rc_bufring_is_regular(const struct rc_bufring *br, uint16_t bid)
{
	return bid < br->count;
}

/* Unregisters and frees, the large class with it. Only when no operation
 * can still select from either. */
void rc_bufring_destroy(struct rc_bufring *br);

/* Start of the area the kernel filled for buffer bid (headroom precedes it). */
static inline uint8_t *rc_bufring_data(const struct rc_bufring *br, uint16_t bid)
{
	if (bid >= br->count)
		br = br->large, bid = (uint16_t)(bid - br->bid_base);
	return br->slab + (size_t)bid * br->stride + br->headroom;
}

/* Buffers ringcast holds now (referenced, not in the ring). */
static inline uint32_t rc_bufring_in_use(const struct rc_bufring *br)
{
	return br->in_use;
}

/* The number of buffers. */
static inline uint32_t rc_bufring_count(const struct rc_bufring *br)
{
	return br->count;
}

/* Bytes reserved in front of each buffer's data (for headers written in place). */
static inline uint32_t rc_bufring_headroom(const struct rc_bufring *br)
{
	return br->headroom;
}

/* Bytes of memory the buffers take (held for the ring's whole life), the
 * large class's included. */
static inline size_t rc_bufring_slab_bytes(const struct rc_bufring *br)
{
	return br->slab_len + (br->large ? br->large->slab_len : 0);
}

/* Buffers currently in the ring, available to the kernel (with those it
 * has filled but whose completion ringcast has not taken yet). Of br's own
 * class: the large class is a ring of its own here. */
static inline uint32_t rc_bufring_free(const struct rc_bufring *br)
{
	return br->count - br->in_use;
}

/* True when br, or its large class, has fewer than a quarter of its
 * buffers free: when the pressure policy has work to do. */
static inline bool rc_bufring_low(const struct rc_bufring *br)
{
	return rc_bufring_free(br) < br->refill ||
	       (br->large && rc_bufring_free(br->large) < br->large->refill);
}

/* Records that a CQE handed buffer bid to ringcast: it now has one reference
 * (the receiver's). Runs the pressure hook when few buffers are left. */
void rc_bufring_take(struct rc_bufring *br, uint16_t bid);

/* Adds a reference to a buffer ringcast holds. */
void rc_bufring_ref(struct rc_bufring *br, uint16_t bid);

/* Drops a reference; the last one returns the buffer to the kernel and may
 * wake waiters (rc_bufring_wait()). A buffer with no reference aborts the
 * process, like rc_bufring_take() of one still referenced: the bookkeeping
 * is broken. */
void rc_bufring_unref(struct rc_bufring *br, uint16_t bid);

/* Queues d to run (deferred, on the loop) once at least count/4 buffers are
 * free again: how a receive that ended with -ENOBUFS gets re-armed without
 * spinning. Returns 0 or -ENOMEM. d runs at once if buffers are available. */
int rc_bufring_wait(struct rc_bufring *br, struct rc_deferred *d);

/* Removes d from the waiters, if present (its owner is going away). */
void rc_bufring_unwait(struct rc_bufring *br, struct rc_deferred *d);

/* Sets the deferred work that runs when the free count falls below low_water
 * (for the large class: below a quarter of its buffers). */
void rc_bufring_set_pressure(struct rc_bufring *br, struct rc_deferred *d);

/* One datagram decoded from a multishot recvmsg completion. */
struct rc_datagram {
	uint8_t *payload;	/* inside the buffer; headroom and the kernel's header precede it */
	uint32_t len;		/* bytes of payload in the buffer */
	bool truncated;		/* the datagram was longer than the buffer */
	const struct sockaddr *src;
	socklen_t src_len;
	bool has_kernel_drops;	/* the socket has SO_RXQ_OVFL on and reported: */
	uint32_t kernel_drops;	/* datagrams the kernel dropped on it so far (cumulative) */
	bool has_time;		/* the socket has SO_TIMESTAMPNS on and reported: */
	uint64_t time_ns;	/* when the kernel received it (CLOCK_REALTIME) */
};

/* Bytes a multishot recvmsg armed with tmpl's lengths puts in front of each
 * payload (the kernel's header, the source address, control messages). */
size_t rc_bufring_recvmsg_header(const struct msghdr *tmpl);

/* Decodes the buffer that a recvmsg multishot CQE (with RC_CQE_BUFFER and
 * res >= 0) filled, using the same template lengths the operation was armed
 * with. Both backends lay a datagram out the same way (io_uring's struct
 * io_uring_recvmsg_out, the name, the control messages, the payload).
 * Returns 0, or -EINVAL when the kernel's header does not fit. */
int rc_bufring_recvmsg_payload(const struct rc_bufring *br, const struct rc_cqe *cqe,
			       struct msghdr *tmpl, struct rc_datagram *out);

#endif
