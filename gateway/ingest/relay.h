/* Messages crossing workers: a message received on one worker reaches its
 * channel's subscribers on every other worker.
 *
 * The worker that received the message (the origin), before it fans it
 * out to its own subscribers, copies the payload once into a
 * struct rc_relay_msg, an immutable block with one atomic reference per
 * destination worker, and posts it into the mailbox of each other worker
 * that has subscribers of the channel (the registry's interest bits), or of
 * every other worker when the channel keeps a cache (each worker keeps a
 * cache of its own for its own late joiners). The ring buffer the message
 * arrived in never leaves the origin: its reference is dropped there, as
 * with one worker, so a buffer goes back to its ring only on the worker
 * that owns that ring.
 *
 * The origin frames the message once in the block (the WebSocket header
 * in the bytes in front of the payload, with the opcode it chose), and the
 * block holds one small handle per destination (an rc_shmsg view): a
 * destination takes its mailbox in post order (so a channel's messages
 * from one origin stay in ingest order) and publishes the block's bytes
 * through its own handle to its own subscribers as if it had received
 * them (batches, raw and SSE forms, caches: all per worker), without
 * copying them. Its subscribers' queues and its cache count their
 * references on its handle, a plain loop-local count; the handle's last
 * reference drops the worker's one atomic reference on the block.
 *
 * The same mailboxes carry the shutdown: worker 0, which reads the
 * signals, posts STOP (or CUT, on a second signal) to the others, and the
 * GET /connections listing that visits every worker (ops/listing.h). */
#ifndef RC_RELAY_H
#define RC_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "mbox.h"
#include "xref.h"

struct rc_server;

enum rc_relay_kind {
	RC_RELAY_MSG,		/* a message of a channel */
	RC_RELAY_STOP,		/* begin the graceful shutdown (first signal) */
	RC_RELAY_CUT,		/* end the flush now (second signal) */
	RC_RELAY_LIST,		/* a /connections listing visiting the workers (ctx) */
	RC_RELAY_UPLINK,	/* a subscriber's message for the channel's publisher
				 * (uplink.h), to the worker that has it */
};

/* One worker's place in a block's hand-off: its mailbox node, and for an
 * RC_RELAY_MSG its handle on the block's frame (in the block, after the
 * dest[] array, before the payload: see rc_shmsg_view_init). */
struct rc_relay_dest {
	struct rc_mbox_node node;
	struct rc_relay_msg *msg;
	struct rc_shmsg *view;
};

/* Immutable once posted; freed by the destination that drops the last
 * reference. */
struct rc_relay_msg {
	struct rc_xref refs;		/* one per destination worker */
	uint8_t kind;			/* enum rc_relay_kind */
	uint8_t opcode;			/* WebSocket opcode the origin chose */
	bool cached;			/* the channel keeps a cache: every worker gets it */
	uint8_t name_len;
	uint32_t len;			/* payload bytes at data */
	uint8_t hdr_len;		/* RC_RELAY_MSG: its frame header, right before data */
	uint64_t seq;			/* RC_RELAY_MSG: its number in the channel's history;
					 * RC_RELAY_UPLINK: the sending subscriber's id */
	uint32_t ndest;
	size_t size;			/* bytes allocated, as charged to rc_mem */
	uint8_t *data;
	void *ctx;			/* RC_RELAY_LIST: its struct rc_listing */
	char name[RC_CHANNEL_NAME_MAX + 1];
	/* ndest entries; then, for an RC_RELAY_MSG, ndest views and the
	 * framed payload (data - hdr_len) */
	struct rc_relay_dest dest[];
};

/* Prepares srv's side of the hand-offs (its end-of-turn wake-up). */
void rc_relay_init(struct rc_server *srv);

/* Wakes now the workers this turn's posts owe a wake-up (normally done at
 * the end of the turn): for a loop that ends before its next turn. */
void rc_relay_flush(struct rc_server *srv);

/* The origin's side, before this worker frames the payload in place:
 * hands payload[0..len) of channel ch, framed with opcode in a block of
 * its own, with seq, its number in the channel's history, to the other
 * workers that want it. No-op
 * with one worker, or when no other worker has subscribers of ch and ch
 * keeps no cache. Counts what it hands over; a failed allocation is logged
 * and counted as relay drops. */
void rc_relay_publish(struct rc_server *srv, struct rc_channel *ch, const uint8_t *payload,
		      uint32_t len, unsigned opcode, uint64_t seq);

/* Posts a control message (RC_RELAY_STOP or RC_RELAY_CUT) to every other
 * worker and wakes them at once. Returns 0 or -ENOMEM. */
int rc_relay_control(struct rc_server *srv, enum rc_relay_kind kind);

/* A message of `kind` carrying ctx, for one destination at a time
 * (rc_relay_post_one); freed with rc_relay_put. NULL without memory. */
struct rc_relay_msg *rc_relay_new_ctl(enum rc_relay_kind kind, void *ctx);

/* Posts m, which the caller owns whole (new, or taken from its mailbox and
 * not posted on since), to worker w's mailbox with one reference; ownership
 * passes to w. w is woken at the end of this turn. */
void rc_relay_post_one(struct rc_server *srv, struct rc_relay_msg *m, uint32_t w);

/* Hands a subscriber's uplink message data[0..len) for ch's publisher,
 * from subscriber sub_id, to worker w in a block of its own (the one copy).
 * Returns 0 or -ENOMEM. */
int rc_relay_uplink(struct rc_server *srv, uint32_t w, struct rc_channel *ch, uint32_t sub_id,
		    const uint8_t *data, uint32_t len);

/* The block a mailbox node belongs to. */
struct rc_relay_msg *rc_relay_of(struct rc_mbox_node *n);

/* The destination's side, for the RC_RELAY_MSG node n of this worker's
 * mailbox: publishes the message to this worker's subscribers of its
 * channel (making the channel, and holding it, when the channel keeps a
 * cache this worker must keep too). Takes over this worker's reference on
 * the block: it is dropped when the last of this worker's sends and cache
 * entries lets go of the message. */
void rc_relay_deliver(struct rc_server *srv, struct rc_mbox_node *n);

/* Drops one reference on m (the caller's); the last frees it. */
void rc_relay_put(struct rc_relay_msg *m);

/* On the tick: lets go of the channels this worker only held to copy
 * their cache, once no worker uses them any more (they then go like any
 * unused channel, after --channel-grace). */
void rc_relay_tick(struct rc_server *srv);

/* Finds channel name[0..len) for a mux datagram: this worker's, or, when
 * another worker has it, a copy made here (held, as for a cache) so the
 * message can be published and handed over. NULL when no worker has it. */
struct rc_channel *rc_relay_find(struct rc_server *srv, const char *name, size_t len);

#endif
