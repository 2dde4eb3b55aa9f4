/* A copy of one thread's counters that other threads may read: one writer
 * (the loop that owns the counters) publishes a consistent copy, readers
 * (another loop rendering /metrics) take a consistent copy, and neither
 * ever waits for the other or takes a lock.
 *
 * It is a sequence lock over words that are themselves atomics: the writer
 * makes the sequence odd, stores the words, makes it even again; a reader
 * retries while the sequence was odd or changed during its copy. Every word
 * is stored and loaded with relaxed atomics, so a reader racing the writer
 * reads torn data only as a whole that it then throws away (never a data
 * race in C's sense, and nothing for ThreadSanitizer to report). The
 * orderings: the writer's first increment is followed by a release fence
 * so that no word store moves before it; its last increment is a release
 * store, so the words come before it; the reader's first load is an
 * acquire, and an acquire fence before its second load keeps its word
 * loads before that. */
#ifndef RC_SNAP_H
#define RC_SNAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rc_snap {
	_Atomic uint32_t seq;		/* odd while the writer stores */
	uint32_t nwords;
	_Atomic uint64_t *words;
};

/* Prepares a snapshot of nwords words, all 0. Returns 0 or -ENOMEM. */
int rc_snap_init(struct rc_snap *s, uint32_t nwords);

/* Frees the words (nobody reads or writes any more). */
void rc_snap_fini(struct rc_snap *s);

/* The writer (one thread only): publishes src[0..nwords). */
void rc_snap_write(struct rc_snap *s, const uint64_t *src);

/* Any thread: copies the latest consistent snapshot into dst[0..nwords). */
void rc_snap_read(struct rc_snap *s, uint64_t *dst);

#endif
