/* Process-wide memory accounting. See mem.h for the ordering argument. */
#include "mem.h"

#include <stdatomic.h>

/* Relaxed everywhere (mem.h): a counter, not a synchronisation point. */
static _Atomic size_t used;
/* Written once at start-up before any loop runs, read by every loop;
 * relaxed is enough because thread creation orders the start-up write
 * before every read. */
static _Atomic size_t limit;

void rc_mem_charge(size_t n)
{
	atomic_fetch_add_explicit(&used, n, memory_order_relaxed);
}

void rc_mem_uncharge(size_t n)
{
	atomic_fetch_sub_explicit(&used, n, memory_order_relaxed);
}

size_t rc_mem_used(void)
{
	return atomic_load_explicit(&used, memory_order_relaxed);
}

void rc_mem_set_limit(size_t n)
{
	atomic_store_explicit(&limit, n, memory_order_relaxed);
}

size_t rc_mem_limit(void)
{
	return atomic_load_explicit(&limit, memory_order_relaxed);
}

bool rc_mem_over(void)
{
	size_t l = rc_mem_limit();

	return l && rc_mem_used() > l;
}
