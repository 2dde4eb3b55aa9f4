/* A reference count shared between threads: for objects that several
 * loops hold at once (a message handed from the loop that received it to
 * the other loops). It is meant to be touched once per loop that holds the
 * object, never once per subscriber: a loop that shares the object further
 * among its own subscribers counts those references locally.
 *
 * Ordering: the object is immutable from the moment it is shared, so the
 * only hazard is freeing it while another thread still reads it. Every
 * drop is a release, so each holder's reads of the object happen-before
 * its drop; the drop that reaches zero is also an acquire, so it sees all
 * of those reads finished before it frees (the usual reference-count
 * argument). Taking a reference needs no ordering (relaxed): only a thread
 * that already holds one may take another, so the object cannot be freed
 * meanwhile. */
#ifndef RC_XREF_H
#define RC_XREF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct rc_xref {
	_Atomic uint32_t n;
};

/* Sets the count before the object is shared (no other thread sees it
 * yet). */
static inline void rc_xref_init(struct rc_xref *r, uint32_t n)
{
	atomic_init(&r->n, n);
}

/* Adds k references; the caller holds one already. */
static inline void rc_xref_get(struct rc_xref *r, uint32_t k)
{
	atomic_fetch_add_explicit(&r->n, k, memory_order_relaxed);
}

/* Drops one reference. Returns true when it was the last: the caller then
 * frees the object (every other holder's reads are over). */
static inline bool rc_xref_put(struct rc_xref *r)
{
	return atomic_fetch_sub_explicit(&r->n, 1, memory_order_acq_rel) == 1;
}

/* The count now (for tests and assertions only: it may change at once). */
static inline uint32_t rc_xref_count(struct rc_xref *r)
{
	return atomic_load_explicit(&r->n, memory_order_relaxed);
}

#endif
