/* The send queue of one stream socket.
 *
 * Sends to one socket never interleave: at most one sendmsg is in flight, and
 * everything queued behind it goes out in the next one, up to RC_SENDQ_IOV_MAX
 * entries gathered into one iovec array (this is where fan-out is batched:
 * everything published during one loop turn leaves in one syscall per
 * subscriber). A short write resumes at the exact byte where it stopped, so a
 * frame is never cut or reordered. */
#ifndef RC_SENDQ_H
#define RC_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bufring.h"
#include "loop.h"
#include "shmsg.h"

#define RC_SENDQ_IOV_MAX 64

enum rc_sendq_kind {
	RC_SENDQ_RING,		/* points into a ring buffer; holds a reference on bid */
	RC_SENDQ_HEAP,		/* malloc'd; freed once sent or dropped */
	RC_SENDQ_STATIC,	/* lives as long as the queue's owner; nothing to release */
	RC_SENDQ_SHARED,	/* points into a struct rc_shmsg; holds a reference on it */
};

/* Set in an entry's kind (beside the enum value) when the entry must reach
 * the peer together with the entry after it or not at all: a channel's label
 * frame and the message it names. Dropping never separates them. */
#define RC_SENDQ_F_JOIN 0x80u
#define RC_SENDQ_KIND(e) ((e)->kind & ~RC_SENDQ_F_JOIN)

struct rc_sendq_ent {
	uint8_t *ptr;
	uint32_t len;
	uint16_t bid;		/* RING: the buffer; SHARED: ptr's offset in its rc_shmsg */
	uint8_t kind;		/* enum rc_sendq_kind, maybe | RC_SENDQ_F_JOIN */
	uint8_t msgs;		/* data messages in it (a batch carries several); 0: control */
};

/* Counters shared by many queues (one set per loop). */
struct rc_sendq_stats {
	uint64_t frames;	/* data messages fully sent (entries' msgs) */
	uint64_t bytes;		/* bytes of data entries fully sent */
	uint64_t sends;		/* sendmsg operations completed */
	uint64_t short_sends;	/* of which ended before the whole iovec was written */
	uint64_t zc_sends;	/* zero-copy sends (SEND_ZC from the registered ring) */
	uint64_t zc_copied;	/* of which the kernel reported it copied anyway */
	uint64_t discarded;	/* counted entries released unsent because the queue died */
};

struct rc_sendq;
struct rc_zc_send;

struct rc_sendq_ops {
	/* A send failed (res < 0, e.g. -EPIPE, -ECONNRESET). The queue is dead
	 * and empty by the time this runs; the owner closes the connection. */
	void (*on_error)(struct rc_sendq *q, int err);
	/* Optional: the queue became empty with nothing in flight, or the
	 * last in-flight send of a killed queue completed, or the flush a
	 * killed queue still had queued with the loop ran: for a killed
	 * queue, the owner checks rc_sendq_held() again here. */
	void (*on_drained)(struct rc_sendq *q);
	/* Optional: a send completed and left the queue's charge under
	 * q->wake_below, which is then cleared (the owner sets it again to be
	 * told again). Runs inside the completion: an owner that wants to
	 * queue more should defer that work, not push from here. */
	void (*on_low)(struct rc_sendq *q);
};

/* What one queue entry costs beside the bytes it points at: a queue of a
 * million tiny messages must not hide behind a byte bound. */
#define RC_SENDQ_ENT_COST ((uint32_t)sizeof(struct rc_sendq_ent))

/* What the queues of one kind of owner share (one per server and kind). Kept
 * out of the queue itself because a server may hold tens of thousands of
 * queues, most of them idle. Must outlive every queue that points at it. */
struct rc_sendq_ctx {
	struct rc_loop *loop;
	struct rc_bufring *br;		/* the ring RING entries point into; may be NULL */
	const struct rc_sendq_ops *ops;
	struct rc_sendq_stats *stats;	/* may be NULL */
	uint32_t zc_min;		/* entries this long go out with SEND_ZC; 0 = never */
};

/* The msghdr and iovec array of a gathered send. The kernel reads them
 * until the send's completion, so they live on the heap, not on a stack; a
 * queue allocates them only the first time it sends more than one entry at
 * once, and gives them back when it is idle (rc_sendq_trim). */
struct rc_sendq_vec {
	struct msghdr msg;
	struct iovec iov[RC_SENDQ_IOV_MAX];
};

struct rc_sendq {
	struct rc_io io;		/* the in-flight send */
	struct rc_deferred flush;	/* submission, as loop send work */
	const struct rc_sendq_ctx *ctx;
	struct rc_sendq_ent *ents;	/* ring of entries: &one or a heap array */
	struct rc_sendq_vec *vec;	/* NULL until a gathered send */
	struct rc_zc_send *zc;		/* zero-copy send in flight or awaiting its notification */
	size_t queued_bytes;		/* unsent bytes, in flight included */
	uint64_t sent_bytes;		/* bytes written to the socket so far */
	uint64_t frames;		/* counted entries fully sent (this queue's delivered frames) */
	uint64_t discarded;		/* counted entries released unsent when the queue died */
	uint64_t inflight_since_ms;
	uint32_t offset;		/* bytes of the head entry already sent */
	uint32_t head, count, cap;	/* ring of entries */
	int fd;
	uint32_t owner_bytes;		/* what the owner holds for this connection beside
					 * the queue (input not parsed yet, parser state),
					 * part of the queue's charge */
	uint32_t wake_below;		/* call ops->on_low when the charge falls under
					 * this (0: don't) */
	uint16_t inflight;		/* entries covered by the in-flight send (at most
					 * RC_SENDQ_IOV_MAX); 0 = none */
	bool dead;			/* no more sends: error seen or killed */
	/* Room for one entry, so that a queue that holds one entry at a time
	 * (an idle subscriber's pong, one fan-out batch per turn) never
	 * allocates an array. */
	struct rc_sendq_ent one;
};

/* Zero-copy sends. When ctx->zc_min is set and the ring was registered with
 * rc_bufring_register_fixed(), a ring entry of at least zc_min bytes at the
 * head of the queue is sent alone with SEND_ZC from the registered slab. The
 * kernel may read those bytes until its notification CQE, possibly after the
 * send's own completion, so each zero-copy send holds one more reference on
 * its buffer until the notification arrives. */

/* Prepares q for fd, sharing ctx. Allocates nothing until a second entry is
 * queued behind a first one. */
void rc_sendq_init(struct rc_sendq *q, const struct rc_sendq_ctx *ctx, int fd);

/* Frees what q holds without sending or counting anything: for an owner torn
 * down together with its loop (nothing of q is in the kernel any more). */
void rc_sendq_free(struct rc_sendq *q);

/* Queues len bytes at ptr inside ring buffer bid and takes a reference on
 * it, dropped when the bytes are sent or discarded. counted: a data frame
 * for the delivered-frames counters (one message). Returns 0, -EPIPE if the queue is dead,
 * or -ENOMEM. The send is submitted at the end of this loop turn. */
int rc_sendq_push_ring(struct rc_sendq *q, uint8_t *ptr, uint32_t len, uint16_t bid, bool counted);

/* Queues len bytes at ptr inside the shared message m and takes a
 * reference on m. msgs: how many data messages the bytes hold (0 for
 * control frames; a fan-out batch holds up to 255), for the delivered and
 * dropped counters. Same results as rc_sendq_push_ring(). */
int rc_sendq_push_shared(struct rc_sendq *q, struct rc_shmsg *m, uint8_t *ptr, uint32_t len,
			 uint8_t msgs);

/* Like rc_sendq_push_shared() for a control frame (msgs 0) that belongs to
 * the entry queued next, a channel's label frame before its message: the
 * two are sent or dropped together (RC_SENDQ_F_JOIN). */
int rc_sendq_push_label(struct rc_sendq *q, struct rc_shmsg *m, uint8_t *ptr, uint32_t len);

/* What q holds for its connection, as counted against the connection's
 * bound: the unsent bytes its entries point at (shared ones included, as
 * if they were its own), RC_SENDQ_ENT_COST per entry, and owner_bytes. */
static inline size_t rc_sendq_charge(const struct rc_sendq *q)
{
	return q->queued_bytes + (size_t)q->count * RC_SENDQ_ENT_COST + q->owner_bytes;
}

/* Frees the entry array and the iovec array of an idle queue (nothing
 * queued or in flight); the next push allocates them again if it needs them.
 * For the owner's timer: an idle subscriber then costs no queue memory
 * beyond struct rc_sendq (the arrays are larger than the queue itself). */
void rc_sendq_trim(struct rc_sendq *q);

/* Queues a malloc'd block; the queue owns it from now on, even on failure. */
int rc_sendq_push_heap(struct rc_sendq *q, uint8_t *ptr, uint32_t len);

/* Queues bytes that outlive the queue (string literals, fields of the owner). */
int rc_sendq_push_static(struct rc_sendq *q, const uint8_t *ptr, uint32_t len);

/* Discards every queued entry that is neither in flight nor partly sent, so
 * no frame is ever cut, nor one that a kept entry is joined to
 * (RC_SENDQ_F_JOIN). Returns how many data messages were discarded. */
uint32_t rc_sendq_drop_pending(struct rc_sendq *q);

/* The oldest entry rc_sendq_drop_pending() could discard now, or NULL. */
const struct rc_sendq_ent *rc_sendq_first_pending(const struct rc_sendq *q);

/* The oldest discardable entry that holds a ring buffer with an id of at
 * least min_bid (0: any; the ring's count: its large class), looking at
 * most a few entries past the first (labels come before their frames;
 * 64 for the large class, whose entries are among others), or NULL. */
const struct rc_sendq_ent *rc_sendq_first_pending_ring(const struct rc_sendq *q, uint16_t min_bid);

/* Number of entries that rc_sendq_drop_pending() could discard now. */
uint32_t rc_sendq_pending(const struct rc_sendq *q);

/* True while the kernel holds a buffer for a zero-copy send of this queue
 * since before `since_ms` (a peer that reads nothing keeps it for ever). */
bool rc_sendq_zc_stuck(const struct rc_sendq *q, uint64_t since_ms);

/* True while a sendmsg is in flight (and since when: inflight_since_ms). */
static inline bool rc_sendq_busy(const struct rc_sendq *q)
{
	return q->inflight != 0;
}

/* True while the loop holds anything of q: a send in flight, or its flush
 * queued as send work (which may wait several turns behind other queues'
 * sends). The owner must not be freed until this is false; for a killed
 * queue on_drained says when it became false. */
static inline bool rc_sendq_held(const struct rc_sendq *q)
{
	return q->inflight != 0 || rc_deferred_queued(&q->flush);
}

/* Stops all sending: queued entries are released now, the in-flight ones
 * when their completion arrives. on_error is not called afterwards. Counted
 * entries that were not fully sent by then are counted in `discarded`. */
void rc_sendq_kill(struct rc_sendq *q);

/* For an owner that is torn down with its ring (the in-flight send will
 * never complete): releases every entry now, in flight included, and counts
 * the counted ones as discarded, since nobody can tell whether the kernel
 * sent them. */
void rc_sendq_abandon(struct rc_sendq *q);

#endif
