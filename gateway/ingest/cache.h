/* Late-joiner cache of a channel: the most recent messages, replayed to a
 * new subscriber before live data.
 *
 * Cached messages are shared messages (struct rc_shmsg), not ring buffers:
 * holding ring buffers for a cache would pin ingest buffers for as long as
 * the channel lives and starve the ring. A message that arrived in a ring
 * buffer is therefore copied once when it enters the cache (only on
 * channels that have a cache); one that already is a shared message is
 * just referenced. Replay queues references: no copy per subscriber. A
 * message's Server-Sent Events form and its position label are kept beside
 * it, each made once (when it was published to such subscribers, or by the
 * first replay that needs it) and shared by every joiner.
 *
 * Replay obeys the joiner's bound: it queues the newest messages whose
 * cost (what rc_sendq_charge() will count for them) fits in half of the
 * subscriber's queue bound, less what its queue already holds, so that the
 * other half is left for the live messages published while the replay
 * drains. An MPEG-TS cache holds one GOP from its keyframe: it is replayed
 * whole after PAT/PMT, or, when it does not fit, PAT/PMT alone (the joiner
 * then starts at the next keyframe). */
#ifndef RC_CACHE_H
#define RC_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "shmsg.h"

struct rc_cache {
	bool ts;		/* MPEG-TS mode: PAT/PMT, then messages from the last keyframe */
	uint16_t pmt_pid;	/* ts: the PMT's PID from the latest PAT (0x1fff: none yet) */
	bool in_gop;		/* ts: a keyframe was seen and the GOP fits max_bytes */
	bool seen_key;		/* ts: some keyframe was ever seen (joiners may wait for one) */
	uint8_t pat[188], pmt[188];
	bool have_pat, have_pmt;
	struct rc_shmsg *psi;	/* ts: PAT + PMT as one message, replayed first */
	uint32_t max_msgs;	/* keep at most this many messages (0: no count bound) */
	uint64_t max_bytes;	/* and at most this many payload bytes (0: no byte bound) */
	uint32_t head, count, cap;
	uint64_t bytes;
	struct rc_cache_ent *msgs;	/* ring of cap */
	uint64_t epoch;		/* the channel's history id, for SSE event ids (0: none) */
};

/* One cached message; each pointer holds one reference. */
struct rc_cache_ent {
	struct rc_shmsg *m;	/* the payload, its WebSocket header in head[] */
	struct rc_shmsg *sse;	/* its SSE event, or NULL until one is needed */
	struct rc_shmsg *label;	/* its position label (position_label.h), or NULL
				 * until one is needed */
	uint64_t seq;		/* its number in the channel's history */
};

/* Creates a cache bounded by max_msgs and/or max_bytes. NULL on no memory. */
struct rc_cache *rc_cache_new(uint32_t max_msgs, uint64_t max_bytes);

/* Creates an MPEG-TS cache: the latest PAT and PMT, and the messages from
 * the last keyframe on, at most max_bytes of them (a longer GOP is not
 * cached; joiners then wait for the next keyframe). NULL on no memory. */
struct rc_cache *rc_cache_new_ts(uint64_t max_bytes);

/* Frees the cache and drops its references. */
void rc_cache_free(struct rc_cache *c);

/* Adds a message (its payload at m->data, m->len bytes, with its WebSocket
 * header already written right in front) and, when they were made, its SSE
 * event and its position label: takes a reference on each and evicts the oldest messages past the
 * bounds. A message larger than max_bytes alone empties the cache and is
 * not kept. seq: the message's number in the channel's history. Returns
 * true when the message starts a keyframe (ts caches). */
bool rc_cache_add(struct rc_cache *c, struct rc_shmsg *m, struct rc_shmsg *sse, struct rc_shmsg *label,
		  uint64_t seq);

/* Queues the newest cached messages that fit s's replay budget (see above),
 * oldest first (in the order they reached this worker), on s: framed for
 * WebSocket (after its position label for tagged subscribers), bare for raw, as events for SSE subscribers (made
 * here once if the cache has none yet). A ts joiner that does not get the
 * GOP waits for the next keyframe (s->await_key), once the stream has shown
 * it has keyframes. since > 0: s has the channel's messages up to number
 * since already (a client resuming), so only those numbered after it are
 * queued (a gap when the cache no longer holds since + 1; ts caches ignore
 * since, a video joiner needs its GOP). Returns the number queued. */
uint32_t rc_cache_replay(struct rc_cache *c, struct rc_sub *s, uint64_t since);

/* Called by rc_cache_each() with one message's payload and number;
 * returns false to stop. */
typedef bool (*rc_cache_each_fn)(void *arg, const uint8_t *payload, uint32_t len, uint64_t seq);

/* Calls fn for what a joiner would be sent, in order: a ts cache's PAT/PMT
 * message (number 0), then every cached message, oldest first, until fn
 * returns false. Returns how many fn took. */
uint32_t rc_cache_each(const struct rc_cache *c, rc_cache_each_fn fn, void *arg);

/* For a subscriber s resuming after message number since, when this
 * worker's newest message of the channel is number last: sets *whole when
 * the replay that fits s's budget now gives exactly since + 1 ... last, in
 * order (none when since == last); never for ts caches. Returns how many
 * that is, having queued them when queue (and *whole), or 0. */
uint32_t rc_cache_resume(struct rc_cache *c, struct rc_sub *s, uint64_t since, uint64_t last,
			 bool queue, bool *whole);

#endif
