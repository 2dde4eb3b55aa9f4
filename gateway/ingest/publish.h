/* One place where a received message becomes a published one: counted,
 * framed once in place, encoded once more for SSE subscribers if the
 * channel has any, and fanned out. */
#ifndef RC_PUBLISH_H
#define RC_PUBLISH_H

#include <stdint.h>

#include "cache.h"
#include "channel.h"
#include "shmsg.h"

struct rc_server;

/* payload[0..len) lies in ingest ring buffer bid with at least
 * RC_WS_SERVER_HEADER_MAX writable bytes in front of it. */
void rc_publish_ring(struct rc_server *srv, struct rc_channel *ch, uint16_t bid, uint8_t *payload,
		     uint32_t len);

/* m is complete (m->len bytes); the caller's reference passes to this call. */
void rc_publish_shared(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *m);

/* m came from another worker (relay.h), which counted it, chose its
 * WebSocket opcode, numbered it (seq) and framed it (a hdr_len-byte header
 * right before m->data); it is published here as rc_publish_shared() would,
 * without being counted, numbered, framed or handed on again, and nothing
 * writes to it. The caller's reference passes to this call. */
void rc_publish_relayed(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *m,
			unsigned opcode, uint32_t hdr_len, uint64_t seq);

/* m came from another node through NATS (cluster.h), numbered seq in
 * history epoch by its origin (seq 0: unnumbered); it is published here as
 * rc_publish_shared() would, keeping that position (labels, SSE ids, the
 * cache), without being numbered again, handed to the other workers (each
 * has its own subscription) or published to NATS again. The caller's
 * reference passes to this call. */
void rc_publish_remote(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *m,
		       uint64_t epoch, uint64_t seq);

/* Calls fn for ch's cached messages on this worker (cache.h's
 * rc_cache_each()); 0 without a cache. */
uint32_t rc_publish_cache_each(struct rc_channel *ch, rc_cache_each_fn fn, void *arg);

/* Drops a channel's cache (the channel is being freed). */
void rc_publish_channel_free(struct rc_channel *ch);

#endif
