/* Process-wide accounting of the memory ringcast holds while it runs: shared
 * messages (fan-out batches, cached and copied messages, SSE encodings),
 * what send queues own (HTTP answers, control frames, entry arrays), and
 * what connections, channels and caches allocate. Owners charge what they
 * allocate and uncharge what they free, so that one figure can be compared
 * with --max-memory and exported, and shared data is counted once however
 * many queues refer to it.
 *
 * The counter is one process-wide atomic so that loops on several threads
 * can charge it without a lock. Every access is relaxed: the figure is a
 * statistic compared with a limit, nothing else is published through it,
 * and a reader that sees a slightly stale value only sheds or refuses a
 * little later. */
#ifndef RC_MEM_H
#define RC_MEM_H

#include <stdbool.h>
#include <stddef.h>

/* Adds n bytes to the process's held memory. */
void rc_mem_charge(size_t n);

/* Removes n bytes charged earlier. */
void rc_mem_uncharge(size_t n);

/* Bytes charged now. */
size_t rc_mem_used(void);

/* Sets the bound that rc_mem_over() compares with; 0 means none. */
void rc_mem_set_limit(size_t limit);

/* The bound set with rc_mem_set_limit() (0: none). */
size_t rc_mem_limit(void);

/* True when a bound is set and the charged bytes exceed it. */
bool rc_mem_over(void);

#endif
