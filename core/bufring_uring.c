/* The io_uring half of a buffer ring: a provided-buffer ring registered
 * with the loop's io_uring, which the kernel picks buffers from on receive.
 * See bufring.h for the ownership rules. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "bufring_internal.h"
#include "log.h"

static void ring_add(struct rc_bufring *br, uint16_t bid, int offset)
{
	/* From here the kernel owns buffer bid until a CQE returns it. The
	 * kernel knows it by bid_base + bid: a large class's ids follow the
	 * regular ring's, so a completion's id alone says which it is. */
	io_uring_buf_ring_add(br->ring, rc_bufring_data(br, bid), br->size,
			      (unsigned short)(br->bid_base + bid), (int)br->mask, offset);
}

int rc_bufring_uring_setup(struct rc_bufring *br)
{
	struct io_uring_buf_reg reg;
	int ret;

	br->ring_len = sizeof(struct io_uring_buf) * br->count;
	/* Page-aligned, as the kernel requires of a buffer ring. */
	br->ring = mmap(NULL, br->ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (br->ring == MAP_FAILED) {
		br->ring = NULL;
		ret = -errno;
		goto fail;
	}
	io_uring_buf_ring_init(br->ring);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
	reg.ring_entries = br->count;
	reg.bgid = br->group;
	ret = io_uring_register_buf_ring(rc_loop_ring(br->loop), &reg, 0);
	if (ret < 0) {
		rc_log_error("io_uring: registering buffer ring %u (%u x %u bytes) failed: %s",
			     br->group, br->count, br->size, strerror(-ret));
		goto fail_unmap;
	}
	for (uint32_t i = 0; i < br->count; i++)
		ring_add(br, (uint16_t)i, (int)i);
	io_uring_buf_ring_advance(br->ring, (int)br->count);
	return 0;

fail_unmap:
	munmap(br->ring, br->ring_len);
	br->ring = NULL;
fail:
	return ret;
}

void rc_bufring_uring_give(struct rc_bufring *br, uint16_t bid)
{
	ring_add(br, bid, 0);
	io_uring_buf_ring_advance(br->ring, 1);
}

void rc_bufring_uring_teardown(struct rc_bufring *br)
{
	io_uring_unregister_buf_ring(rc_loop_ring(br->loop), br->group);
	munmap(br->ring, br->ring_len);
	br->ring = NULL;
}
