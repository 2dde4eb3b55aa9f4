/* Buffer rings with per-buffer reference counts: the slab, the counts, the
 * waiters and the datagram layout, the same on both backends. How buffers
 * reach the kernel is the backend's (bufring_uring.c, bufring_epoll.c).
 * See bufring.h. */
#include "bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bufring_internal.h"
#include "log.h"
#include "loop_internal.h"
#include "probes.h"

struct rc_bufring *rc_bufring_create(struct rc_loop *loop, const struct rc_bufring_opts *opts,
				     int *err)
{
	struct rc_bufring *br;
	int ret;

	if (!opts->count || opts->count > 32768 || (opts->count & (opts->count - 1)) ||
	    !opts->size || opts->bid_base + opts->count - 1 > UINT16_MAX) {
		ret = -EINVAL;
		goto fail;
	}
	br = calloc(1, sizeof(*br));
	if (!br) {
		ret = -ENOMEM;
		goto fail;
	}
	br->loop = loop;
	br->count = opts->count;
	br->mask = opts->count - 1;
	br->size = opts->size;
	br->headroom = opts->headroom;
	/* 64-byte stride keeps every buffer (and the header written in its
	 * headroom) on its own cache lines. */
	br->stride = (opts->headroom + opts->size + 63u) & ~63u;
	br->group = opts->group;
	br->bid_base = opts->bid_base;
	br->fixed_index = -1;
	br->low_water = opts->low_water;
	br->refill = opts->count / 4 ? opts->count / 4 : 1;
	br->slab_len = (size_t)br->stride * br->count;

	br->refs = calloc(br->count, sizeof(*br->refs));
	if (!br->refs) {
		ret = -ENOMEM;
		goto fail_free;
	}
	/* A page-aligned anonymous mapping: the slab may later be registered
	 * as a fixed buffer for zero-copy sends. */
	br->slab = mmap(NULL, br->slab_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (br->slab == MAP_FAILED) {
		br->slab = NULL;
		ret = -errno;
		goto fail_free;
	}
	ret = loop->ops->bufring_setup(br);
	if (ret < 0)
		goto fail_free;
	return br;

fail_free:
	if (br->slab)
		munmap(br->slab, br->slab_len);
	free(br->refs);
	free(br);
fail:
	if (err)
		*err = ret;
	return NULL;
}

int rc_bufring_register_fixed(struct rc_bufring *br)
{
	int ret = rc_loop_register_buffer(br->loop, br->slab, br->slab_len);

	if (ret == 0)
		br->fixed_index = 0;
	return ret;
}

int rc_bufring_add_large(struct rc_bufring *br, uint16_t group, uint32_t count, uint32_t size)
{
	struct rc_bufring_opts o = { .group = group, .count = count, .size = size,
				     .headroom = br->headroom, .low_water = count / 4,
				     .bid_base = (uint16_t)br->count };
	int ret = -EINVAL;

	if (br->large)
		return -EEXIST;
	if (count > 1024 || br->count > 32768)
		return -EINVAL;
	br->large = rc_bufring_create(br->loop, &o, &ret);
	if (!br->large)
		return ret;
	/* One hook for both classes: the policy frees whichever is short. */
	br->large->pressure = br->pressure;
	return 0;
}

void rc_bufring_destroy(struct rc_bufring *br)
{
	if (!br)
		return;
	rc_bufring_destroy(br->large);
	br->loop->ops->bufring_teardown(br);
	munmap(br->slab, br->slab_len);
	free(br->waiters);
	free(br->refs);
	free(br);
}

/* A large id given to the regular ring: its class and its own index. */
#define FORWARD(br, bid)                                                    \
	do {                                                                 \
		if ((bid) >= (br)->count && (br)->large) {                   \
			(bid) = (uint16_t)((bid) - (br)->large->bid_base);   \
			(br) = (br)->large;                                  \
		}                                                            \
	} while (0)

void rc_bufring_take(struct rc_bufring *br, uint16_t bid)
{
	FORWARD(br, bid);
	if (br->refs[bid] != 0) {
		/* The kernel handed out a buffer we still hold: the ring's
		 * bookkeeping is broken and continuing would corrupt data. */
		rc_log_error("bufring %u: kernel returned buffer %u that is still referenced",
			     br->group, bid);
		abort();
	}
	br->refs[bid] = 1;
	br->in_use++;
	if (br->pressure && rc_bufring_free(br) < br->low_water)
		rc_loop_defer(br->loop, br->pressure);
}

void rc_bufring_ref(struct rc_bufring *br, uint16_t bid)
{
	FORWARD(br, bid);
	br->refs[bid]++;
}

void rc_bufring_unref(struct rc_bufring *br, uint16_t bid)
{
	FORWARD(br, bid);
	if (br->refs[bid] == 0) {
		/* A reference nobody holds: the buffer is the kernel's (or was
		 * handed back already). Going on would wrap the count and keep
		 * the buffer out of the ring for ever, or give it back twice. */
		rc_log_error("bufring %u: unref of buffer %u, which has no reference", br->group,
			     bid);
		abort();
	}
	if (--br->refs[bid] != 0)
		return;
	br->in_use--;
	RC_PROBE2(buf_recycle, br->group, bid);
	/* From here the kernel owns buffer bid until a completion names it. */
	br->loop->ops->bufring_give(br, bid);
	if (br->nwaiters && rc_bufring_free(br) >= br->refill) {
		for (uint32_t i = 0; i < br->nwaiters; i++)
			rc_loop_defer(br->loop, br->waiters[i]);
		br->nwaiters = 0;
	}
}

int rc_bufring_wait(struct rc_bufring *br, struct rc_deferred *d)
{
	if (rc_bufring_free(br) >= br->refill) {
		rc_loop_defer(br->loop, d);
		return 0;
	}
	for (uint32_t i = 0; i < br->nwaiters; i++)
		if (br->waiters[i] == d)
			return 0;
	if (br->nwaiters == br->waiters_cap) {
		uint32_t cap = br->waiters_cap ? br->waiters_cap * 2 : 8;
		struct rc_deferred **w = realloc(br->waiters, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		br->waiters = w;
		br->waiters_cap = cap;
	}
	br->waiters[br->nwaiters++] = d;
	return 0;
}

void rc_bufring_unwait(struct rc_bufring *br, struct rc_deferred *d)
{
	for (uint32_t i = 0; i < br->nwaiters; i++) {
		if (br->waiters[i] == d) {
			br->waiters[i] = br->waiters[--br->nwaiters];
			return;
		}
	}
}

void rc_bufring_set_pressure(struct rc_bufring *br, struct rc_deferred *d)
{
	br->pressure = d;
	if (br->large)
		br->large->pressure = d;
}

/* Walks the control messages the kernel wrote at ctl (len bytes used) and
 * picks out SO_RXQ_OVFL's drop counter and SO_TIMESTAMPNS's time. The area starts right after the
 * source address, 4-byte aligned for the usual 28-byte name room, so each
 * header is copied out rather than read in place (struct cmsghdr wants 8;
 * liburing's cmsg helpers read it in place, which UBSan reports). */
static void decode_cmsgs(struct rc_datagram *out, const uint8_t *ctl, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;

		memcpy(&h, ctl + off, sizeof(h));
		if (h.cmsg_len < sizeof(h) || h.cmsg_len > len - off)
			return;
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SO_RXQ_OVFL &&
		    h.cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
			memcpy(&out->kernel_drops, ctl + off + CMSG_LEN(0), sizeof(uint32_t));
			out->has_kernel_drops = true;
		} else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_TIMESTAMPNS &&
			   h.cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;

			memcpy(&ts, ctl + off + CMSG_LEN(0), sizeof(ts));
			out->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
			out->has_time = true;
		}
		if (CMSG_ALIGN(h.cmsg_len) > len - off)
			return;
		off += CMSG_ALIGN(h.cmsg_len);
	}
}

size_t rc_bufring_recvmsg_header(const struct msghdr *tmpl)
{
	return sizeof(struct io_uring_recvmsg_out) + tmpl->msg_namelen + tmpl->msg_controllen;
}

int rc_bufring_recvmsg_payload(const struct rc_bufring *br, const struct rc_cqe *cqe,
			       struct msghdr *tmpl, struct rc_datagram *out)
{
	uint8_t *buf = rc_bufring_data(br, cqe->bid);
	struct io_uring_recvmsg_out *o;

	if (cqe->res < 0)
		return -EINVAL;
	o = io_uring_recvmsg_validate(buf, cqe->res, tmpl);
	if (!o)
		return -EINVAL;
	out->payload = io_uring_recvmsg_payload(o, tmpl);
	/* payloadlen is the datagram's real length (MSG_TRUNC); what is in the
	 * buffer is the rest of the CQE's res after the kernel's header. */
	out->len = (uint32_t)((uint8_t *)buf + cqe->res - out->payload);
	out->truncated = (o->flags & MSG_TRUNC) || o->payloadlen > out->len;
	out->src = io_uring_recvmsg_name(o);
	out->src_len = o->namelen;
	out->has_kernel_drops = false;
	out->has_time = false;
	decode_cmsgs(out, (const uint8_t *)out->src + tmpl->msg_namelen,
		     o->controllen < tmpl->msg_controllen ? o->controllen : tmpl->msg_controllen);
	return 0;
}
