/* The process's registry of channels: what the loops of one process share
 * about a channel that each of them may have in its own hub.
 *
 * Every loop keeps its own struct rc_channel (its subscribers, its batches,
 * its cache) and never touches another loop's. What must hold for the whole
 * process lives in one entry per channel name, shared by the loops whose
 * hubs have that channel: which loops have subscribers of it (so that a
 * message received on one loop is handed to exactly those), how many
 * subscribers of each kind it has in all (max-subscribers, /channels), its
 * users and publishers in all, and its message counters.
 *
 * Entries are found, made and freed under one mutex: that happens when a
 * loop's hub creates or frees its channel (a subscriber's or publisher's
 * start, the grace sweep), never per message. Everything read or written
 * per message or per subscriber is an atomic of the entry, which stays
 * valid while the loop's channel holds it; each field says which ordering
 * it needs and why. */
#ifndef RC_CHANREG_H
#define RC_CHANREG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Loops one registry can serve: a loop is one bit of an entry's interest. */
#define RC_CHANREG_MAX_LOOPS 64
#define RC_CHANREG_BUCKETS 1024
#define RC_CHANREG_KINDS 4	/* enum rc_sub_kind */
#define RC_CHANREG_ORIGINS 4	/* other nodes publishing a channel, shown */

struct rc_chanreg_ent {
	struct rc_chanreg_ent *next;	/* bucket chain: under the registry's mutex */
	uint32_t holders;		/* hubs that have the channel: under the mutex */
	/* Bit l: loop l has subscribers of the channel. Nothing is published
	 * through it. A loop that misses a bit just set misses messages
	 * published while that subscriber was joining, which a plain join
	 * never promised; one that sees a bit just cleared hands over a
	 * message the other loop finds no subscriber for and drops. Setting
	 * it and reading it are sequentially consistent, with the sequence
	 * below, for one promise: a resuming subscriber told it is up to date
	 * at number N gets N + 1 (rc_chanreg_seq_now()). Either the joining
	 * loop's read of the sequence sees N + 1 numbered (then it is not up
	 * to date), or the origin's read of the interest, after numbering
	 * N + 1, sees the joining loop's bit (then it hands N + 1 over): with
	 * both sides' write-then-read in one total order they cannot both
	 * miss. (On x86 this costs nothing per message: the fetch-add is a
	 * locked instruction and a load is a load either way.) */
	_Atomic uint64_t interest;
	/* Subscribers by kind, on every loop. Relaxed: figures for the
	 * operator and the max-subscribers bound; the bound itself is kept by
	 * the compare-and-swap of rc_chanreg_sub_reserve() on nsubs, whose
	 * atomicity (not ordering) is what makes it exact. */
	_Atomic uint32_t kinds[RC_CHANREG_KINDS];
	_Atomic uint32_t nsubs;
	/* The hubs' users of the channel in all (subscribers, publishers,
	 * ingest bindings), without the holds of loops that only keep a copy
	 * of its cache. Relaxed: a loop reads it on its tick to let its copy
	 * go once nobody uses the channel; a stale figure delays that by a
	 * tick. */
	_Atomic uint32_t users;
	/* The owner's (the gateway's) publishers in all. Its compare-and-swap
	 * (rc_chanreg_pub_claim) keeps "one publisher per channel" exact. */
	_Atomic uint32_t publishers;
	/* Counters, added by whichever loop counts (relaxed: statistics).
	 * msgs is also the channel's sequence: its n-th message is number n
	 * (rc_chanreg_next_seq). A fetch-and-add numbers each message once
	 * whatever the ordering, and the number travels with the message (in
	 * the hand-off block, whose post publishes it), never through this
	 * counter; numbering and rc_chanreg_seq_now() are sequentially
	 * consistent only for the promise explained at interest. */
	_Atomic uint64_t msgs, bytes, drops;
	/* The channel's history's id: random, chosen when the entry is made
	 * (the channel's first use in this process, or its first use again
	 * after it went), never 0. Written before any loop gets the entry
	 * (under the mutex that hands it out) and never after: no atomic. */
	uint64_t epoch;
	/* Rates per second, written by rc_chanreg_rates() only (relaxed:
	 * statistics read by any loop). */
	_Atomic uint64_t msg_rate, byte_rate;
	uint64_t rate_ms, rate_msgs, rate_bytes;	/* rc_chanreg_rates()'s, under the mutex */
	/* Set by the loop whose channel first keeps a cache (relaxed: a hint
	 * that makes messages go to every loop, so each keeps a copy of the
	 * cache for its late joiners; settings are the same on every loop). */
	_Atomic bool cached;
	/* The loop that has the channel's uplink target (a framed TCP
	 * publisher, or the UDP port its latest datagram came in on), plus
	 * one; 0: none. Written by that loop when the target appears or
	 * moves, cleared by it when it goes (compare-and-swap, so a loop
	 * clears only its own claim). Relaxed: nothing is published through
	 * it; the uplink message carries its own bytes in the hand-off block,
	 * and a loop that reads a stale value hands the message to a loop
	 * that finds no target and counts it dropped. */
	_Atomic uint32_t uplink_loop;
	/* Cluster (--nats): loops subscribed to the channel's subject, and
	 * the other nodes seen publishing into it, one slot each, claimed by
	 * a compare-and-swap of id from 0 (so two loops seeing a new origin
	 * take two slots, not one), never given back while the entry lives.
	 * All relaxed: figures for /channels; nothing is published through
	 * them. */
	_Atomic uint32_t remote_subs;
	struct rc_chanreg_origin {
		_Atomic uint64_t id;		/* the node's id; 0: free */
		_Atomic uint64_t msgs;		/* delivered from it */
		_Atomic uint64_t missing;	/* its numbers skipped */
		_Atomic uint64_t dups;		/* its messages dropped as seen */
		_Atomic uint64_t last_ms;	/* when one last came (a loop's clock,
						 * monotonic: every loop's is the same) */
	} origins[RC_CHANREG_ORIGINS];
	size_t name_len;
	char name[65];
};

struct rc_chanreg {
	pthread_mutex_t lock;
	uint32_t nloops;
	uint32_t count;			/* entries: under the mutex */
	struct rc_chanreg_ent *buckets[RC_CHANREG_BUCKETS];
};

/* Prepares an empty registry for nloops loops (1..RC_CHANREG_MAX_LOOPS).
 * Returns 0 or -EINVAL. */
int rc_chanreg_init(struct rc_chanreg *reg, uint32_t nloops);

/* Frees every entry (no loop may hold one any more). */
void rc_chanreg_fini(struct rc_chanreg *reg);

/* Finds or makes the entry of name[0..len) (a valid channel name) and
 * counts one more holder. NULL when out of memory. */
struct rc_chanreg_ent *rc_chanreg_hold(struct rc_chanreg *reg, const char *name, size_t len);

/* Counts one holder less; the last one frees the entry. */
void rc_chanreg_drop(struct rc_chanreg *reg, struct rc_chanreg_ent *e);

/* True when some loop has the channel name[0..len) now (it may go at
 * once: a hint). */
bool rc_chanreg_exists(struct rc_chanreg *reg, const char *name, size_t len);

/* Channels some loop has now. */
uint32_t rc_chanreg_count(struct rc_chanreg *reg);

/* Subscribers of channel name[0..len) on every loop now (0 when no loop
 * has it). */
uint32_t rc_chanreg_count_subs(struct rc_chanreg *reg, const char *name, size_t len);

/* Calls fn for every entry, under the mutex (fn must not call the
 * registry). Entries come in the order of their name's hash, as a hub's
 * channels do. */
void rc_chanreg_foreach(struct rc_chanreg *reg, void (*fn)(struct rc_chanreg_ent *e, void *arg),
			void *arg);

/* Counts one subscriber more unless the channel has max already (max 0: no
 * bound). Returns true when counted. */
bool rc_chanreg_sub_reserve(struct rc_chanreg_ent *e, uint32_t max);

/* Counts one subscriber less. */
void rc_chanreg_sub_release(struct rc_chanreg_ent *e);

/* Subscribers now, on every loop. */
static inline uint32_t rc_chanreg_subs(struct rc_chanreg_ent *e)
{
	return atomic_load_explicit(&e->nsubs, memory_order_relaxed);
}

/* Claims a publisher's place: the first one always, more only when multi
 * is true. Returns true when claimed. */
bool rc_chanreg_pub_claim(struct rc_chanreg_ent *e, bool multi);

/* Gives a claimed publisher's place back. */
void rc_chanreg_pub_release(struct rc_chanreg_ent *e);

/* Publishers now, on every loop. */
static inline uint32_t rc_chanreg_publishers(struct rc_chanreg_ent *e)
{
	return atomic_load_explicit(&e->publishers, memory_order_relaxed);
}

/* Adds a relaxed count (msgs, bytes, drops, users, kinds). */
static inline void rc_chanreg_add64(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* A random id, never 0: a channel's history id, a node's id. */
uint64_t rc_chanreg_new_id(void);

/* An origin not heard from for this long gives its slot to a new one (a
 * node that restarted comes back with a new id). */
#define RC_CHANREG_ORIGIN_STALE_MS 60000

/* The slot of origin id (not 0) in e, claimed when new (a free one, or the
 * stalest of those silent for RC_CHANREG_ORIGIN_STALE_MS by now_ms, a
 * loop's clock); NULL when all slots hold others heard lately. */
struct rc_chanreg_origin *rc_chanreg_origin(struct rc_chanreg_ent *e, uint64_t id,
					    uint64_t now_ms);

/* Numbers one more message of the channel: 1 for its first. */
static inline uint64_t rc_chanreg_next_seq(struct rc_chanreg_ent *e)
{
	return atomic_fetch_add_explicit(&e->msgs, 1, memory_order_seq_cst) + 1;
}

/* The number of the channel's latest message so far (see interest). */
static inline uint64_t rc_chanreg_seq_now(struct rc_chanreg_ent *e)
{
	return atomic_load_explicit(&e->msgs, memory_order_seq_cst);
}

/* The loops with subscribers of the channel (bit l: loop l); sequentially
 * consistent (see interest). */
static inline uint64_t rc_chanreg_interest(struct rc_chanreg_ent *e)
{
	return atomic_load_explicit(&e->interest, memory_order_seq_cst);
}

/* Loop `loop` has subscribers now (on) or none any more (off). */
void rc_chanreg_set_interest(struct rc_chanreg_ent *e, uint32_t loop, bool on);

/* Refreshes every entry's rates from its counters when at least a second
 * has passed since the last refresh (call from one loop's timer). */
void rc_chanreg_rates(struct rc_chanreg *reg, uint64_t now_ms);

#endif
