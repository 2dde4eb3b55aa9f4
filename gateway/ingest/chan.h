/* What the gateway keeps per channel beside the hub's channel (the hub's
 * owner_data): the settings applied when it first publishes, its cache, its
 * publisher count. The hub itself keeps only what fan-out needs. */
#ifndef RC_CHAN_H
#define RC_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"

struct rc_cache;
struct rc_uplink_target;

struct rc_chan {
	struct rc_cache *cache;		/* late joiners' cache; NULL: none */
	uint32_t publishers;		/* TCP and HTTP publishers now */
	uint8_t opcode;			/* WebSocket opcode of its frames (binary or text) */
	bool set_up;			/* its per-channel settings were applied */
	bool uplink_on;			/* uplink=on (set up with the settings) */
	bool compress;			/* messages of compress_min bytes and more are
					 * compressed for deflate subscribers */
	uint32_t compress_min;
	/* Where its subscribers' uplink goes on this worker (uplink.h); NULL
	 * until a framed TCP or UDP publisher shows up here. */
	struct rc_uplink_target *uplink;
	/* The highest number of the messages this worker has published (its
	 * own or handed over): what a resuming subscriber's replay must reach
	 * (subscriber.c). */
	uint64_t last_seq;
	/* The history (an origin's epoch) of the messages other nodes send
	 * this worker through NATS; 0: none came. Positions of such a channel
	 * here are its origin's. */
	uint64_t remote_epoch;
};

/* ch's state, made on first use. NULL without memory. */
struct rc_chan *rc_chan_get(struct rc_channel *ch);

/* ch's state if it has one yet, else NULL. */
static inline struct rc_chan *rc_chan_peek(const struct rc_channel *ch)
{
	return rc_channel_owner(ch);
}

/* ch's cache, or NULL. */
static inline struct rc_cache *rc_chan_cache(const struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_peek(ch);

	return c ? c->cache : NULL;
}

/* The history ch's positions belong to on this worker: its origin's when
 * other nodes feed it (remote_epoch), else the channel's own. */
static inline uint64_t rc_chan_epoch(const struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_peek(ch);

	if (c && c->remote_epoch)
		return c->remote_epoch;
	return ch->shared ? ch->shared->epoch : 0;
}

/* ch's publisher count: in the whole process when ch is in the registry,
 * else on this loop (0 without state). */
static inline uint32_t rc_chan_publishers(const struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_peek(ch);

	if (ch->shared)
		return rc_chanreg_publishers(ch->shared);
	return c ? c->publishers : 0;
}

/* Claims a publisher's place on ch: the only one, unless multi. Counted
 * in the registry (every worker's publishers of the channel) when ch is
 * there. Returns 0, -EBUSY (another publisher has it) or -ENOMEM. */
int rc_chan_pub_claim(struct rc_channel *ch, bool multi);

/* Gives back a place rc_chan_pub_claim() gave. */
void rc_chan_pub_release(struct rc_channel *ch);

/* Frees ch's state and cache (the channel is being freed). */
void rc_chan_free(struct rc_channel *ch);

#endif
