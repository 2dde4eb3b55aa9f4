/* The epoll half of a buffer ring: a free list of buffer ids that the
 * epoll loop receives into (loop_epoll.c pops one per receive). A stack:
 * the buffer freed last is taken first, while its lines are still in the
 * cache. See bufring.h for the ownership rules. */
#include <errno.h>
#include <stdlib.h>

#include "bufring_internal.h"

int rc_bufring_epoll_setup(struct rc_bufring *br)
{
	br->free_ids = malloc(br->count * sizeof(*br->free_ids));
	if (!br->free_ids)
		return -ENOMEM;
	/* Popped in id order at first, like io_uring's ring. */
	for (uint32_t i = 0; i < br->count; i++)
		br->free_ids[i] = (uint16_t)(br->count - 1 - i);
	br->nfree = br->count;
	return 0;
}

void rc_bufring_epoll_give(struct rc_bufring *br, uint16_t bid)
{
	/* From here the loop may receive into bid again. At most count ids
	 * are ever out, so the stack cannot overflow. */
	br->free_ids[br->nfree++] = bid;
}

void rc_bufring_epoll_teardown(struct rc_bufring *br)
{
	free(br->free_ids);
	br->free_ids = NULL;
	br->nfree = 0;
}
