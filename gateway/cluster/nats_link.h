/* One worker's connection to a NATS server (--nats): it connects, reads the
 * server's INFO, sends CONNECT, answers PING, sends its own PING every
 * RC_NATS_PING_MS and takes two unanswered ones for a dead connection (unless
 * queued bytes kept being written since the last PING: a slow server that
 * reads is alive, its PONG waits behind them). The servers it may use are
 * the configured ones (--nats, up to RC_CONFIG_NATS_MAX), then those the
 * servers announce in INFO's connect_urls (up to RC_NATS_FOUND_MAX, numeric
 * addresses only): it starts at configured server (worker mod count), and a
 * failed attempt or a lost connection moves it to the next one at once;
 * only when every server failed in a row does it wait (100 ms, doubling to
 * 2 s), so one dead server costs no backoff while others answer. What it
 * publishes waits in a bounded outbound buffer (nats_outbuf.h); with the
 * buffer full or the connection down a message is dropped and counted,
 * never waited for. The link belongs to its worker's loop: no other thread
 * touches it. It speaks the protocol with ws/nats_proto.h and does its I/O
 * through core's loop API only. */
#ifndef RC_NATS_LINK_H
#define RC_NATS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "nats_outbuf.h"
#include "nats_proto.h"
#include "state.h"

/* A PING every RC_NATS_PING_MS, two unanswered a dead connection: a frozen
 * server is noticed in 1 to 1.5 s (the issue asks for about a second; a
 * server on a healthy network answers in well under a millisecond, and a
 * busy one that keeps reading is covered by the progress rule). */
#define RC_NATS_PING_MS 500
/* A connect, and the INFO after it, must come within this. */
#define RC_NATS_CONNECT_MS 2000
#define RC_NATS_OUT_LIMIT (4u << 20)	/* outbound bytes per connection */
/* Inbound bytes held between messages (an INFO must fit); the buffer grows
 * for one message up to the server's max_payload and shrinks back. */
#define RC_NATS_IN_CAP 16384
/* The largest message taken from a server, whatever its INFO says. */
#define RC_NATS_PAYLOAD_CAP (64u << 20)
/* Servers learnt from INFO's connect_urls beyond the configured ones. */
#define RC_NATS_FOUND_MAX 16

enum rc_nats_state {
	RC_NATS_IDLE,		/* no socket: waiting for the retry timer */
	RC_NATS_CONNECTING,	/* connect in flight */
	RC_NATS_HANDSHAKE,	/* connected, waiting for INFO */
	RC_NATS_READY,		/* CONNECT sent: publishing */
	RC_NATS_CLOSING,	/* shut down, waiting for its operations to end */
};

/* What the link's owner (cluster_in.c) is told. Both run on the loop,
 * from the read completion. */
struct rc_nats_link_ops {
	/* A connection became ready (CONNECT sent): subscribe again. */
	void (*ready)(void *arg);
	/* An MSG or HMSG: ev's pointers are valid during the call only. */
	void (*msg)(void *arg, const struct rc_nats_event *ev);
	void *arg;
};

struct rc_nats_link {
	struct rc_loop *loop;
	struct rc_nats_link_ops ops;
	struct rc_server_stats *stats;	/* the worker's: nats_* counters */
	uint32_t worker;		/* its number, for logs and the first server */
	const struct rc_config_nats *servers;	/* configured: tried first */
	/* Servers the last INFO announced (connect_urls) that are not
	 * configured: tried after those. */
	struct rc_sockaddr found[RC_NATS_FOUND_MAX];
	size_t nfound;
	size_t cur;		/* the server of this attempt: configured, then found */
	size_t fails;		/* attempts failed in a row (a round is every server) */
	struct rc_sockaddr addr;	/* this attempt's: the connect reads it later */
	char addr_text[64];	/* addr for logs */
	enum rc_nats_state state;
	int fd;
	bool stopped;		/* rc_nats_link_stop(): no more reconnects */
	bool proven;		/* this connection's first PONG came: CONNECT was taken */
	bool was_ready;		/* a connection was proven before (reconnects count) */
	bool quiet;		/* a failure of this outage was logged already */
	bool round_logged;	/* a whole failed round of this outage was logged */
	bool refusal_logged;	/* a server refused for TLS or credentials, this outage */
	unsigned inflight;	/* connect, read and send operations in flight */
	bool reading, sending;
	bool ping_armed, retry_armed;
	unsigned pings_out;	/* PINGs sent and not answered */
	uint64_t written;	/* bytes written, all connections */
	uint64_t written_at_tick; /* written at the last ping tick */
	bool backlog_at_tick;	/* bytes were queued at the last ping tick */
	uint64_t tick_ms;	/* when the last ping tick ran */
	bool err_seen;		/* this connection had an -ERR (its close is that) */
	bool err_logged;	/* a -ERR was logged, at err_log_ms */
	uint64_t err_log_ms;
	uint64_t errs_unlogged;	/* -ERRs since, not logged */
	uint64_t backoff_ms;
	uint64_t since_ms;	/* when the state began */
	uint64_t max_payload;	/* the server's, from INFO (at most RC_NATS_PAYLOAD_CAP) */
	bool headers;		/* the server takes HPUB (INFO headers) */
	struct rc_io connect_io, read_io, send_io;
	struct rc_timer ping_timer, retry_timer;
	struct rc_deferred flush;
	struct rc_nats_outbuf out;
	size_t in_len;
	size_t in_cap;		/* bytes allocated at in (charged) */
	char *in;
};

/* Sets l up for the servers of *servers (at least one; they must outlive
 * l), on loop, for worker number `worker` (which server it starts with),
 * counting into stats, and starts connecting (servers that are not there
 * yet are retried). Returns 0, or -errno when the ping timer cannot be
 * armed. */
int rc_nats_link_start(struct rc_nats_link *l, struct rc_loop *loop,
		       const struct rc_config_nats *servers, uint32_t worker,
		       struct rc_server_stats *stats, const struct rc_nats_link_ops *ops);

/* Queues "PUB subject len" and the payload, or, with a header block
 * (hdrs[0..hdr_len), "NATS/1.0" to its blank line), "HPUB subject hdr_len
 * total", the block and the payload. Returns 0 when queued, or
 * -ENOTCONN (not connected), -EMSGSIZE (over the server's max_payload),
 * -ENOBUFS (the outbound bound reached, the process over its memory bound
 * (rc_mem_over), or no memory) or -EINVAL (not a
 * subject); each of those counts a drop. Never blocks. */
int rc_nats_link_publish(struct rc_nats_link *l, const char *subject, const char *hdrs,
			 size_t hdr_len, const void *payload, size_t len);

/* Queues "SUB subject sid" (or "UNSUB sid"): control lines, which may pass
 * the outbound bound by a little. Returns 0, -ENOTCONN (not connected: the
 * ready callback is where to subscribe) or -ENOBUFS (try again later). */
int rc_nats_link_sub(struct rc_nats_link *l, const char *subject, uint64_t sid);
int rc_nats_link_unsub(struct rc_nats_link *l, uint64_t sid);

/* Queues "SUB subject queue sid": one member of the queue group gets each
 * message. Returns as rc_nats_link_sub(). */
int rc_nats_link_sub_queue(struct rc_nats_link *l, const char *subject, const char *queue,
			   uint64_t sid);

/* Queues an empty "PUB subject reply 0": a request whose answers come to
 * reply. A control line (like SUB): returns as rc_nats_link_sub(). */
int rc_nats_link_request(struct rc_nats_link *l, const char *subject, const char *reply);

/* True while connected and ready to publish and subscribe. */
static inline bool rc_nats_link_ready(const struct rc_nats_link *l)
{
	return l->state == RC_NATS_READY;
}

/* Closes the connection for good (shutdown): cancels its timers and
 * operations; queued messages are dropped and counted. */
void rc_nats_link_stop(struct rc_nats_link *l);

/* True while an operation or timer of l is in flight or its socket is open:
 * its memory must stay until this is false. */
bool rc_nats_link_busy(const struct rc_nats_link *l);

/* Frees what l holds (after the loop stopped, or once not busy). */
void rc_nats_link_fini(struct rc_nats_link *l);

#endif
