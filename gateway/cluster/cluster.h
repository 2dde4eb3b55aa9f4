/* A worker's part of a ringcast cluster (--nats): what it ingests goes to
 * NATS on its own connection (nats_link.h), subject
 * <--nats-prefix>.ch.<channel>, the channel's dots written '~' (one token
 * whatever the name), payload unchanged. Every function here runs
 * on the worker's loop thread and does nothing without --nats. */
#ifndef RC_CLUSTER_H
#define RC_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "channel.h"
#include "state.h"

/* Opens the worker's NATS link when --nats is set (the server need not be
 * there yet: it is retried). Returns 0, or -ENOMEM / -errno from the loop. */
int rc_cluster_start(struct rc_server *srv);

/* Publishes a message ingested on this worker into channel ch (not one
 * relayed from another worker: its origin publishes it). Never blocks; a
 * message that cannot be queued is counted as dropped. */
void rc_cluster_publish(struct rc_server *srv, const struct rc_channel *ch, const void *payload,
			size_t len);

/* Shutdown: closes the link; what it still queued is dropped and counted. */
void rc_cluster_stop(struct rc_server *srv);

/* True while the link has operations in flight (the loop must keep
 * running until they end). */
bool rc_cluster_busy(const struct rc_server *srv);

/* Frees the link (after the loop stopped). */
void rc_cluster_fini(struct rc_server *srv);

#endif
