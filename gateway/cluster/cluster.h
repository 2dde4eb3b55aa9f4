/* A worker's part of a ringcast cluster (--nats), on its own NATS
 * connection (nats_link.h):
 * - out: what this worker ingests goes to <--nats-prefix>.ch.<channel>
 *   (the channel's dots written '~', so a channel is one subject token),
 *   payload unchanged, with the envelope of envelope.h in its headers;
 * - in: while the worker has subscribers of a channel it SUBscribes to
 *   the channel's subject (UNSUB once the last has been gone for the
 *   channel grace), and fans what other nodes publish there out to them
 *   as if it had ingested it, never publishing it again (no loops). Its
 *   own node's messages, which come back through the other workers'
 *   connections, are skipped by the envelope's origin.
 * Every function here runs on the worker's loop thread and does nothing
 * without --nats. */
#ifndef RC_CLUSTER_H
#define RC_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "shmsg.h"
#include "state.h"

/* Upper bounds (microseconds) of the NATS latency buckets but the last. */
extern const uint64_t rc_cluster_lat_bounds_us[RC_NATS_LAT_BUCKETS - 1];

/* What the cluster needs from ingest, which sits above it. */
struct rc_cluster_hooks {
	/* Fans a message from another node out here (ingest's
	 * rc_publish_remote()); the reference on m passes to it. */
	void (*deliver)(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *m,
			uint64_t epoch, uint64_t seq);
	/* Calls fn for ch's cached messages on this worker, oldest first
	 * (rc_publish_cache_each()); returns how many. */
	uint32_t (*cache_each)(struct rc_channel *ch,
			       bool (*fn)(void *arg, const uint8_t *payload, uint32_t len,
					  uint64_t seq),
			       void *arg);
};

/* Opens the worker's NATS link when --nats is set (the server need not be
 * there yet: it is retried). Returns 0, or -ENOMEM / -errno from the
 * loop. */
int rc_cluster_start(struct rc_server *srv, const struct rc_cluster_hooks *hooks);

/* Publishes message number seq (0: unnumbered) of channel ch, ingested on
 * this worker (not one relayed from another worker, nor one from NATS).
 * cached: ch keeps a cache here, which this worker then offers to other
 * nodes' late joiners. Never blocks; a message that cannot be queued is
 * counted as dropped. */
void rc_cluster_publish(struct rc_server *srv, struct rc_channel *ch, const void *payload,
			size_t len, uint64_t seq, bool cached);

/* The hub's interest hook: ch got its first subscriber on this worker
 * (any) or lost its last one. */
void rc_cluster_interest(struct rc_channel *ch, bool any, void *srv);

/* The hub is freeing ch: its subscription ends now. */
void rc_cluster_channel_free(struct rc_server *srv, struct rc_channel *ch);

/* The server's tick: ends subscriptions whose channel has had no
 * subscriber for the grace, retries SUBs that found no room, ends cache
 * requests that waited too long. */
void rc_cluster_tick(struct rc_server *srv);

/* Shutdown: closes the link; what it still queued is dropped and counted. */
void rc_cluster_stop(struct rc_server *srv);

/* True while the link has operations in flight (the loop must keep
 * running until they end). */
bool rc_cluster_busy(const struct rc_server *srv);

/* Frees the link (after the loop stopped). */
void rc_cluster_fini(struct rc_server *srv);

#endif
