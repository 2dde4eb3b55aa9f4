/* Channels and fan-out.
 *
 * A channel is a name with a list of subscribers. Publishing a message that
 * sits framed in a ring buffer queues a reference to that same memory on
 * every subscriber's send queue: no subscriber gets a copy. The hub owns all
 * channels of one loop and the policy for slow subscribers.
 *
 * The hub knows no protocol: a message comes framed by its owner (a header
 * in front of the payload), possibly with one alternate form made once per
 * message, and a channel may carry a tag frame that tagged subscribers get
 * before each message. The gateway makes these WebSocket frames, Server-Sent
 * Events and channel labels; the hub only chooses which bytes each kind of
 * subscriber is sent. */
#ifndef RC_CHANNEL_H
#define RC_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bufring.h"
#include "chanreg.h"
#include "loop.h"
#include "sendq.h"
#include "shmsg.h"

#define RC_CHANNEL_NAME_MAX 64
#define RC_HUB_BUCKETS 1024

/* Fan-out batches: small frames published in one loop turn are copied once
 * into one buffer per channel, and each subscriber gets one queue entry
 * (one iovec) for all of them instead of one per frame. Bounds per batch: */
#define RC_HUB_BATCH_MSGS RC_SHMSG_ENDS_MAX	/* messages (a queue entry counts up to 255) */
#define RC_HUB_BATCH_BYTES 65536	/* bytes of frames */
#define RC_HUB_BATCH_MAX_FRAME 4096	/* larger frames go out from where they are */
#define RC_BATCH_NO_KEY UINT32_MAX

/* What a batch holds for its kind of subscriber. */
enum rc_batch_kind {
	RC_BATCH_FRAME,		/* frames: RC_SUB_FRAME */
	RC_BATCH_TAGGED,	/* tag + frame each: RC_SUB_TAGGED */
	RC_BATCH_Z,		/* compressed frames where there are (rc_msg.z), else
				 * frames: RC_SUB_FRAME with deflate */
	RC_BATCH_ZTAGGED,	/* tag + compressed frame or frame: RC_SUB_TAGGED with deflate */
	RC_BATCH_KINDS
};

enum rc_slow_policy {
	RC_SLOW_DROP,		/* skip whole messages for that subscriber, count them */
	RC_SLOW_CLOSE,		/* close it (its owner's evict()), count it */
};

enum rc_drop_reason {
	RC_DROP_SLOW_DROP,	/* message skipped: subscriber over its queue bound */
	RC_DROP_SLOW_CLOSE,	/* subscriber closed: over its queue bound (policy close) */
	RC_DROP_PRESSURE,	/* queued message discarded to refill the buffer ring */
	RC_DROP_STALLED,	/* subscriber closed: its send stalled while buffers ran out */
	RC_DROP_TRUNCATED,	/* datagram larger than a ring buffer */
	RC_DROP_CLOSED,		/* message discarded: its subscriber was being closed */
	RC_DROP_KEYFRAME_WAIT,	/* message skipped: its joiner waits for a keyframe */
	RC_DROP_REASONS
};

/* Name of a drop reason as used in metrics labels. */
const char *rc_drop_reason_name(enum rc_drop_reason r);

struct rc_channel;
struct rc_sub;

/* Called (deferred, never inside publish) when the hub decides to close a
 * subscriber; reason is RC_DROP_SLOW_CLOSE or RC_DROP_STALLED. The owner
 * must unsubscribe it. */
typedef void (*rc_sub_evict_fn)(struct rc_sub *s, enum rc_drop_reason reason);

/* What a subscriber wants of each message. */
enum rc_sub_kind {
	RC_SUB_FRAME,		/* the framed message */
	RC_SUB_RAW,		/* the bare payload */
	RC_SUB_ALT,		/* the message's alternate form (rc_msg.alt) */
	RC_SUB_TAGGED,		/* a tag frame (the message's rc_msg.tag, else the channel's
				 * rc_channel.tag), then the framed message */
};

/* One message, framed once: a header of hdr_len bytes at `frame`, the
 * payload right after it. It lives in ingest ring buffer `bid`, or in `shm`
 * when that is not NULL. `alt`, when not NULL, is the message's alternate
 * form, made once for the channel's RC_SUB_ALT subscribers. `keyframe`: a
 * video stream may be joined here (subscribers waiting for one start with
 * it). */
struct rc_msg {
	uint8_t *frame;
	uint32_t hdr_len;
	uint32_t payload_len;
	uint16_t bid;
	bool keyframe;
	struct rc_shmsg *shm;
	struct rc_shmsg *alt;
	/* Its own tag frame for the channel's tagged subscribers, made once
	 * per message (one that carries the message's position); NULL: they
	 * get the channel's tag (rc_channel.tag). */
	struct rc_shmsg *tag;
	/* Its compressed frame (permessage-deflate: header with RSV1, then the
	 * compressed payload), made once for the channel's subscribers that
	 * agreed to compression (rc_sub.deflate); NULL: they get the frame. */
	struct rc_shmsg *z;
	uint64_t seq;		/* its number in the channel's history (0: unnumbered) */
};

/* One subscription: owned by the connection whose send queue it feeds. A
 * connection may hold several (one per channel), all feeding its one queue,
 * so frames of different channels never interleave on its socket. */
/* Packed (64 bytes): every subscriber connection embeds one. */
struct rc_sub {
	struct rc_sendq *q;		/* the connection's queue */
	void *owner;			/* the connection, for evict() */
	struct rc_channel *ch;		/* NULL when not subscribed */
	rc_sub_evict_fn evict;
	struct rc_sub *evict_next;
	uint64_t drops;			/* messages this subscriber missed */
	size_t max_queue;		/* bound on q.queued_bytes */
	uint32_t slot;			/* index in ch->subs */
	uint8_t kind;			/* enum rc_sub_kind */
	uint8_t policy;			/* enum rc_slow_policy */
	bool evicting : 1;		/* queued for eviction; gets nothing more */
	bool await_key : 1;		/* skips messages until a keyframe (a video joiner
					 * whose replay could not start at one) */
	bool uplink_ok : 1;		/* its owner may send to the channel's publisher
					 * (the gateway's uplink; the hub ignores it) */
	bool deflate : 1;		/* FRAME or TAGGED: takes a message's compressed
					 * frame (rc_msg.z) when it has one (its batches
					 * too). Set before subscribing, never changed */
	uint8_t evict_reason;		/* enum rc_drop_reason, while evicting */
};

struct rc_channel {
	struct rc_channel *hnext;
	uint32_t users;			/* subscribers + ingest bindings + publishers */
	uint64_t idle_since_ms;		/* users dropped to 0 then (0: in use) */
	uint32_t nsubs;
	uint32_t nalt;			/* of which want the alternate form */
	uint32_t cap;
	struct rc_sub **subs;
	uint64_t msgs_in;		/* counted by the ingest that publishes */
	uint64_t bytes_in;
	uint64_t drops;			/* messages subscribers of this channel missed */
	/* Rates per second, refreshed by the owner's timer (rc_hub_rates()). */
	uint64_t msg_rate, byte_rate;
	uint64_t rate_msgs, rate_bytes, rate_ms;
	void *owner_data;		/* the owner's per-channel state (rc_channel_owner()) */
	/* The owner's state for the channel's subscription to other nodes
	 * (the gateway's cluster), freed by its channel_free hook; NULL:
	 * none. */
	void *remote;
	struct rc_shmsg *tag;		/* the frame tagged subscribers get before each message */
	uint32_t nbatched;		/* of nsubs, framed and tagged without deflate */
	uint32_t ntagged;		/* of those, tagged */
	uint32_t nz;			/* of nsubs, framed or tagged with deflate */
	uint32_t nztagged;		/* of those, tagged */
	/* The open batches of this turn, one per kind of batch-fed subscriber
	 * (enum rc_batch_kind), owned by the channel (one reference each)
	 * until batch_close() hands them to the subscribers' queues. Each
	 * counts its messages in nends (see batch_count()). */
	struct rc_shmsg *batch[RC_BATCH_KINDS];
	uint32_t batch_z;		/* of the open batches' messages, compressed ones */
	uint32_t batch_key;		/* index of the batches' first keyframe message
					 * (RC_BATCH_NO_KEY: none) */
	bool batch_listed;		/* on hub->batch_head, to be closed this turn */
	/* Held by the hub itself (rc_hub_hold): a loop that keeps a copy of
	 * the channel's cache for its late joiners while other loops use it. */
	bool held;
	struct rc_channel *batch_next;
	/* The process-wide entry (rc_chanreg) while the hub shares a
	 * registry; NULL otherwise. */
	struct rc_chanreg_ent *shared;
	uint32_t max_subs;		/* subscribers in all loops (0: no bound), set by the owner */
	size_t name_len;
	char name[RC_CHANNEL_NAME_MAX + 1];
};

struct rc_hub_stats {
	struct rc_sendq_stats send;	/* delivered frames and bytes */
	uint64_t batches;		/* fan-out batches handed to subscribers */
	uint64_t batched_msgs;		/* messages that went out in them */
	uint64_t zdeliveries;		/* compressed frames (rc_msg.z) queued, one per subscriber */
	uint64_t drops[RC_DROP_REASONS];
	uint64_t pressure_runs;
};

struct rc_hub {
	struct rc_loop *loop;
	struct rc_bufring *br;
	uint32_t nchannels;
	uint32_t max_channels;
	uint64_t stall_ms;		/* an in-flight send older than this is stalled */
	uint64_t lag_ms;		/* a queued message older than this marks its holder as behind */
	uint64_t grace_ms;		/* an unused channel is kept this long (0: freed at once) */
	uint32_t batch_max_frame;	/* frames up to this go into batches (0: none) */
	struct rc_deferred batch_flush;	/* closes this turn's batches */
	struct rc_channel *batch_head;
	struct rc_hub_stats stats;
	struct rc_deferred pressure;	/* runs when ring buffers run low */
	struct rc_deferred evict;	/* runs queued evictions */
	struct rc_sub *evict_head;
	/* Called before a channel is freed, to release owner_data. */
	void (*channel_free)(struct rc_channel *ch, void *arg);
	/* Called when a channel gets its first subscriber on this hub (any)
	 * and when its last one leaves (!any), before the release that may
	 * free it. NULL: nobody asks. */
	void (*channel_interest)(struct rc_channel *ch, bool any, void *arg);
	void *channel_free_arg;		/* both hooks' arg */
	uint64_t *buf_ms;		/* per ingest buffer: when its message was published */
	struct rc_chanreg *reg;		/* the process's registry (rc_hub_share), or NULL */
	uint32_t loop_id;		/* this hub's loop in the registry */
	struct rc_channel *buckets[RC_HUB_BUCKETS];
};

/* The owner's per-channel state (NULL until it sets one). */
static inline void *rc_channel_owner(const struct rc_channel *ch)
{
	return ch->owner_data;
}

/* Sets the owner's per-channel state; the hub's channel_free hook must
 * release it. */
static inline void rc_channel_set_owner(struct rc_channel *ch, void *owner)
{
	ch->owner_data = owner;
}

/* True when name[0..len) is a valid channel name: 1-64 of [A-Za-z0-9._-]. */
bool rc_channel_name_valid(const char *name, size_t len);

/* The hash of a channel name that the hub's table uses; the process's
 * registry (chanreg) uses it too, so /metrics lists channels in the same
 * order whether it reads one hub or the registry. */
uint32_t rc_channel_name_hash(const char *name, size_t len);

/* Prepares the hub of a loop whose fan-out buffers come from br, and hooks
 * the buffer-pressure policy into br. Returns 0 or -ENOMEM. */
int rc_hub_init(struct rc_hub *hub, struct rc_loop *loop, struct rc_bufring *br,
		 uint32_t max_channels);

/* Makes the hub's channels entries of the process's registry, as loop
 * loop_id: from now on every channel it creates holds its entry, and its
 * subscribers, users and drops are counted there too. Call before the hub
 * has channels. */
void rc_hub_share(struct rc_hub *hub, struct rc_chanreg *reg, uint32_t loop_id);

/* Frees every channel. Subscribers must be gone. */
void rc_hub_fini(struct rc_hub *hub);

/* Finds the channel named name[0..len), creating it when absent, and counts
 * one more user of it. Returns NULL with *err = -EINVAL (bad name), -ENOSPC
 * (max_channels reached) or -ENOMEM. */
struct rc_channel *rc_hub_acquire(struct rc_hub *hub, const char *name, size_t len, int *err);

/* Finds an existing channel without counting a user; NULL when absent. */
struct rc_channel *rc_hub_find(struct rc_hub *hub, const char *name, size_t len);

/* Drops one user. A channel with none is freed at once when grace_ms is 0,
 * else by rc_hub_sweep() once it has been unused for grace_ms. */
void rc_hub_release(struct rc_hub *hub, struct rc_channel *ch);

/* Keeps ch as long as rc_hub_unhold() is not called, as a user would,
 * without counting a user in the registry (a loop keeping a copy of the
 * channel's cache is no user of it). No-op when held already. */
void rc_hub_hold(struct rc_hub *hub, struct rc_channel *ch);

/* Ends rc_hub_hold(): ch then goes like a channel whose last user left,
 * unless it has users. No-op when not held. */
void rc_hub_unhold(struct rc_hub *hub, struct rc_channel *ch);

/* Frees the channels unused for grace_ms. Call periodically. */
void rc_hub_sweep(struct rc_hub *hub);

/* Calls fn for every channel (which it must not free). */
void rc_hub_foreach(struct rc_hub *hub, void (*fn)(struct rc_channel *ch, void *arg), void *arg);

/* Adds s (with its sendq already initialised) to ch, which must have been
 * acquired for it. Returns 0, -ENOMEM, or -EUSERS when ch's max_subs
 * subscribers (in all loops of the registry) are there already. */
int rc_hub_subscribe(struct rc_hub *hub, struct rc_channel *ch, struct rc_sub *s);

/* Removes s from its channel (no-op when not subscribed) and releases the
 * channel user it held. Its send queue is untouched. */
void rc_hub_unsubscribe(struct rc_hub *hub, struct rc_sub *s);

/* Changes what a subscribed s wants of each message (e.g. WS to tagged WS
 * when its connection joins a second channel). The channel's open batch is
 * closed first, so every message s gets is in the form it asked for then. */
void rc_hub_sub_set_kind(struct rc_hub *hub, struct rc_sub *s, enum rc_sub_kind kind);

/* Fans a message out: every subscriber of ch gets a queue entry pointing
 * at the same memory — the whole frame for RC_SUB_FRAME subscribers (and the
 * message's tag, else the channel's, before it for tagged ones), the bare payload for raw ones,
 * m->alt for RC_SUB_ALT ones (skipped when NULL), m->z instead of the
 * frame for deflate ones when it is not NULL — and takes
 * a reference on its buffer. Frames up to batch_max_frame bound for
 * framed and tagged subscribers are instead copied once into the channel's batch of
 * this turn, which every such subscriber gets as one entry when the batch
 * is closed: at the end of the turn, when it is full, before a message that
 * is not batched, and before the channel's subscribers change. A subscriber
 * whose queue would pass max_queue misses the message (RC_SLOW_DROP) or is
 * evicted (RC_SLOW_CLOSE). The caller keeps its own reference and drops it
 * afterwards. */
void rc_hub_publish(struct rc_hub *hub, struct rc_channel *ch, const struct rc_msg *m);

/* Discards s's queued messages that are not in flight (before closing it,
 * so its close frame goes out next) and counts them as `closed` drops of s. */
void rc_hub_drop_pending(struct rc_hub *hub, struct rc_sub *s);

/* Runs the buffer-pressure policy (at the end of the turn) if the ring is
 * low. Call periodically: once ingest has stopped on an empty ring nothing
 * else would notice that a holder has since become stalled. */
void rc_hub_tick(struct rc_hub *hub);

/* Refreshes every channel's msg_rate/byte_rate from its counters when at
 * least a second has passed since the last refresh. */
void rc_hub_rates(struct rc_hub *hub, uint64_t now_ms);

/* Subscribers of ch in the whole process (every loop sharing the
 * registry), or in this hub when it shares none. */
static inline uint32_t rc_channel_total_subs(struct rc_channel *ch)
{
	return ch->shared ? rc_chanreg_subs(ch->shared) : ch->nsubs;
}

/* Counts one drop of `reason` against the hub. */
static inline void rc_hub_count_drop(struct rc_hub *hub, enum rc_drop_reason reason)
{
	hub->stats.drops[reason]++;
}

#endif
