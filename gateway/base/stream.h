/* The connection base: what every accepted TCP socket (an HTTP/WebSocket
 * client, a --tcp publisher) needs, written once. It accepts the socket into
 * the loop's list, counts it per client address (--max-conns-per-ip), keeps
 * one multishot receive armed (re-armed after -ENOBUFS once its ring has
 * buffers again), holds input its owner cannot handle yet and stops
 * receiving while the owner's answers are backed up (backpressure), bounds
 * the work one connection does per loop turn (fairness), closes, and frees
 * the connection only when the kernel holds nothing of it.
 *
 * The owner embeds a struct rc_stream and gives it a table of callbacks
 * (struct rc_stream_ops): what to do with input, with a close, with its
 * timers, and how to free itself. The base knows nothing of HTTP,
 * WebSocket or publishing. */
#ifndef RC_STREAM_H
#define RC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bufring.h"
#include "loop.h"
#include "sendq.h"

struct rc_server;
struct rc_stream;

/* Buffer id for input that is not in a ring buffer (held input). */
#define RC_STREAM_NO_BID 0xffffu

/* Why a connection stopped handling its input (rc_stream.hold). */
enum rc_stream_hold {
	RC_HOLD_NONE,		/* it did not: all input handled, or more bytes needed */
	RC_HOLD_TURN,		/* its share of this loop turn is used up: next turn */
	RC_HOLD_OUTPUT,		/* its answers are backed up past its bound: once they drain */
};

struct rc_stream_ops {
	/* Handles data[0..len) (in ring buffer bid, or RC_STREAM_NO_BID for held
	 * input, which the owner may not keep references into) as far as it may
	 * now (rc_stream_can_work()); returns the bytes it consumed. The base
	 * holds the rest and offers it again, before anything newer. The
	 * buffer is referenced by the base during the call; an owner that keeps
	 * a piece of it takes its own reference. */
	size_t (*input)(struct rc_stream *st, uint8_t *data, size_t len, uint16_t bid);
	/* What the owner's queued output may reach before its input waits. */
	size_t (*bound)(const struct rc_stream *st);
	/* Optional: bytes the owner holds beside its queue (parser state,
	 * subscriptions...), charged with the held input to the queue. */
	size_t (*held)(const struct rc_stream *st);
	/* The connection is closing (it is already dead): release what it
	 * holds of channels and other shared state. */
	void (*on_close)(struct rc_stream *st);
	/* Optional: its queue drained with the connection alive. */
	void (*on_drained)(struct rc_stream *st);
	/* Optional: the server tick (every 250 ms), for the owner's timeouts. */
	void (*tick)(struct rc_stream *st, uint64_t now_ms);
	/* The peer's address has --max-conns-per-ip connections already: say
	 * so on the connection (it is closed once that is out). */
	void (*refuse_ip)(struct rc_stream *st);
	/* Frees the owner's memory (which holds st); everything of the
	 * connection is released by then. */
	void (*free)(struct rc_stream *st);
};

struct rc_stream {
	struct rc_server *srv;
	const struct rc_stream_ops *ops;
	struct rc_stream *prev, *next;	/* the loop's connections */
	uint8_t *in;			/* input received, not handled yet */
	struct rc_io recv_io;
	/* End-of-turn work: freeing once dead, else going on with held input
	 * and re-arming the receive (one item: it is per connection). */
	struct rc_deferred work;
	struct rc_sendq q;		/* everything sent on the socket */
	uint64_t accepted_ms;
	uint64_t bytes_in;
	int fd;
	uint32_t in_len;		/* bytes in `in` */
	uint32_t in_cap;		/* bytes allocated at `in` */
	/* Times in the loop's milliseconds, kept to 32 bits (an idle subscriber
	 * costs what its connection holds): only ever compared as differences
	 * with rc_loop_now_ms(), exact for intervals up to 49 days. */
	uint32_t work_turn;		/* the loop turn work_units counts (low bits) */
	uint32_t paused_since_ms;
	uint32_t last_in_ms;		/* when the last bytes arrived (accept before) */
	uint16_t work_units;		/* units of work done in work_turn */
	bool on_ingest : 1;		/* receives into the ingest ring, else the client ring */
	bool dead : 1;			/* closed; freed once nothing is in flight */
	bool recv_armed : 1;		/* the multishot recv may still complete */
	bool close_after_send : 1;	/* close once the queue is empty; read no more */
	bool ip_counted : 1;		/* counted in the per-address table under ip */
	bool paused : 1;		/* the receive is stopped (or being cancelled) */
	uint8_t hold : 2;		/* enum rc_stream_hold: why the last input stopped */
	uint8_t ip[16];
};

/* Takes over the accepted socket fd for the owner of st (zeroed by the
 * owner except for its own fields): TCP_NODELAY, the loop's list, a
 * multishot receive from the ingest ring (on_ingest) or the client ring, a
 * send queue sharing ctx, and the
 * per-address count (over --max-conns-per-ip, ops->refuse_ip answers and
 * the connection closes after it). Returns 0, or -errno with fd closed and
 * nothing of st left in the loop (the owner frees its memory). */
int rc_stream_accept(struct rc_stream *st, struct rc_server *srv, int fd,
		     const struct rc_stream_ops *ops, bool on_ingest, const struct rc_sendq_ctx *ctx);

/* The ring st receives into. */
struct rc_bufring *rc_stream_ring(const struct rc_stream *st);

/* Milliseconds from a 32-bit time of st (last_in_ms...) to now_ms. */
static inline uint32_t rc_stream_since(uint32_t then_ms, uint64_t now_ms)
{
	return (uint32_t)now_ms - then_ms;
}

/* Closes the connection now: ops->on_close, the send queue killed,
 * shutdown(2), the receive cancelled. It is freed (ops->free) at the end of
 * a turn once no operation of it is in flight. No-op when already dead. */
void rc_stream_close(struct rc_stream *st);

/* True when the owner may handle one more unit of input (a request, a
 * command, a frame) now; else records why not in st->hold (its answers over
 * its bound, or its share of this turn used). Counts nothing. */
bool rc_stream_can_work(struct rc_stream *st);

/* Counts one unit of work done by the owner in this turn. */
static inline void rc_stream_did_work(struct rc_stream *st)
{
	st->work_units++;
}

/* What st has queued to send, without what it holds beside the queue. */
static inline size_t rc_stream_out(const struct rc_stream *st)
{
	return rc_sendq_charge(&st->q) - st->q.owner_bytes;
}

/* The owner's held() changed: charges it again to the queue's bound and
 * to the process's memory. */
void rc_stream_account(struct rc_stream *st);

/* The server tick: closes connections stopped for their backlog past
 * --idle-timeout, then runs each owner's tick. */
void rc_stream_tick_all(struct rc_server *srv);

/* After the loop is gone (its operations will never complete): releases
 * every connection's queue, what it holds (ops->on_close for those still
 * alive) and its memory (ops->free). */
void rc_stream_free_all(struct rc_server *srv);

/* The sendq callbacks every stream's queue context uses. */
extern const struct rc_sendq_ops rc_stream_sendq_ops;

#endif
