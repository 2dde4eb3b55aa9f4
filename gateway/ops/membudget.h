/* The process-wide memory budget (--max-memory): what ringcast holds is
 * counted by core's rc_mem; past the bound new joiners are refused and the
 * connections holding the most are closed first, so ringcast never grows
 * until the kernel kills it. */
#ifndef RC_MEMBUDGET_H
#define RC_MEMBUDGET_H

#include <stdint.h>

struct rc_server;

/* The default bound: half of what this process may use, the smaller of the
 * machine's memory (MemTotal in /proc/meminfo) and its cgroup v2
 * memory.max; 0 (no bound) when neither can be read. */
uint64_t rc_membudget_default(void);

/* Server timer: while over the bound, closes the connections whose queues
 * hold the most (at most a few per call, largest first; their queued data
 * is dropped and counted), until back under it. */
void rc_membudget_tick(struct rc_server *srv);

#endif
