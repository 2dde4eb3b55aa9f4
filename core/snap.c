/* A copy of one thread's counters for other threads. See snap.h for the
 * ordering argument. */
#include "snap.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

int rc_snap_init(struct rc_snap *s, uint32_t nwords)
{
	atomic_init(&s->seq, 0);
	s->nwords = nwords;
	s->words = calloc(nwords ? nwords : 1, sizeof(*s->words));
	return s->words ? 0 : -ENOMEM;
}

void rc_snap_fini(struct rc_snap *s)
{
	free(s->words);
	s->words = NULL;
}

void rc_snap_write(struct rc_snap *s, const uint64_t *src)
{
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i < s->nwords; i++)
		atomic_store_explicit(&s->words[i], src[i], memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void rc_snap_read(struct rc_snap *s, uint64_t *dst)
{
	for (;;) {
		uint32_t a = atomic_load_explicit(&s->seq, memory_order_acquire);

		if (!(a & 1)) {
			for (uint32_t i = 0; i < s->nwords; i++)
				dst[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&s->seq, memory_order_relaxed) == a)
				return;
		}
		/* The writer is in the middle of a copy: a few hundred
		 * nanoseconds. */
		sched_yield();
	}
}
