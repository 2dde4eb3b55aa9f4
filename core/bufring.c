/* Provided-buffer ring with per-buffer reference counts. See bufring.h. */
#include "bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bufring_internal.h"
#include "log.h"
#include "probes.h"

static void ring_give(struct rc_bufring *br, uint16_t bid, int offset)
{
	/* From here the kernel owns buffer bid until a CQE returns it. */
	io_uring_buf_ring_add(br->ring, rc_bufring_data(br, bid), br->size, bid, (int)br->mask,
			      offset);
}

struct rc_bufring *rc_bufring_create(struct rc_loop *loop, const struct rc_bufring_opts *opts,
				     int *err)
{
	struct io_uring_buf_reg reg;
	struct rc_bufring *br;
	int ret;

	if (!opts->count || opts->count > 32768 || (opts->count & (opts->count - 1)) ||
	    !opts->size) {
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
	br->mask = (uint32_t)io_uring_buf_ring_mask(opts->count);
	br->size = opts->size;
	br->headroom = opts->headroom;
	/* 64-byte stride keeps every buffer (and the header written in its
	 * headroom) on its own cache lines. */
	br->stride = (opts->headroom + opts->size + 63u) & ~63u;
	br->group = opts->group;
	br->fixed_index = -1;
	br->low_water = opts->low_water;
	br->refill = opts->count / 4 ? opts->count / 4 : 1;
	br->slab_len = (size_t)br->stride * br->count;
	br->ring_len = sizeof(struct io_uring_buf) * br->count;

	br->refs = calloc(br->count, sizeof(*br->refs));
	if (!br->refs) {
		ret = -ENOMEM;
		goto fail_free;
	}
	/* Both regions are page-aligned anonymous mappings: the ring must be
	 * page-aligned for the kernel, and the slab may later be registered as a
	 * fixed buffer for zero-copy sends. */
	br->slab = mmap(NULL, br->slab_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (br->slab == MAP_FAILED) {
		br->slab = NULL;
		ret = -errno;
		goto fail_free;
	}
	br->ring = mmap(NULL, br->ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (br->ring == MAP_FAILED) {
		br->ring = NULL;
		ret = -errno;
		goto fail_free;
	}
	io_uring_buf_ring_init(br->ring);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
	reg.ring_entries = br->count;
	reg.bgid = br->group;
	ret = io_uring_register_buf_ring(rc_loop_ring(loop), &reg, 0);
	if (ret < 0) {
		rc_log_error("io_uring: registering buffer ring %u (%u x %u bytes) failed: %s",
			     br->group, br->count, br->size, strerror(-ret));
		goto fail_free;
	}
	for (uint32_t i = 0; i < br->count; i++)
		ring_give(br, (uint16_t)i, (int)i);
	io_uring_buf_ring_advance(br->ring, (int)br->count);
	return br;

fail_free:
	if (br->ring)
		munmap(br->ring, br->ring_len);
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

void rc_bufring_destroy(struct rc_bufring *br)
{
	if (!br)
		return;
	io_uring_unregister_buf_ring(rc_loop_ring(br->loop), br->group);
	munmap(br->ring, br->ring_len);
	munmap(br->slab, br->slab_len);
	free(br->waiters);
	free(br->refs);
	free(br);
}

void rc_bufring_take(struct rc_bufring *br, uint16_t bid)
{
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
	br->refs[bid]++;
}

void rc_bufring_unref(struct rc_bufring *br, uint16_t bid)
{
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
	ring_give(br, bid, 0);
	io_uring_buf_ring_advance(br->ring, 1);
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
	for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, tmpl); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, tmpl, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
		    c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
			memcpy(&out->kernel_drops, CMSG_DATA(c), sizeof(uint32_t));
			out->has_kernel_drops = true;
		}
	}
	return 0;
}
