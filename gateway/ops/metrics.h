/* GET /metrics: the Prometheus text exposition (format 0.0.4) of every
 * counter a loop keeps. */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <stddef.h>

struct rc_server;

/* Renders the exposition into a malloc'd buffer; *len gets its length.
 * Returns NULL on allocation failure. */
char *rc_metrics_render(struct rc_server *srv, size_t *len);

/* With several workers, at the end of each of srv's turns: publishes its
 * counters (struct rc_worker_counters) for /metrics on the other workers. */
void rc_metrics_publish(struct rc_server *srv);

/* The process's counters summed over every worker into *t: this worker's as
 * they are now, the others' as their last turn published them. */
struct rc_worker_counters;
void rc_metrics_sum(struct rc_server *srv, struct rc_worker_counters *t);

#endif
