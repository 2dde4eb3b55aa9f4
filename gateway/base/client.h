/* A client connection: an accepted HTTP connection that may become a
 * WebSocket subscriber, an HTTP stream or SSE subscriber, or an HTTP
 * publisher. Its state is shared by the folders that handle each phase
 * (http/ for requests and publishing, subscribe/ for subscribers), so it is
 * defined here, below them, on the connection base. */
#ifndef RC_CLIENT_H
#define RC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "http_chunked.h"
#include "stream.h"
#include "ws_frame.h"

enum rc_conn_state {
	RC_CONN_HTTP,		/* reading requests */
	RC_CONN_WS,		/* upgraded: a subscriber */
	RC_CONN_STREAM,		/* HTTP stream subscriber: bare payloads until it leaves */
	RC_CONN_PUB,		/* reading the body of POST/PUT /pub/<channel> */
	RC_CONN_CLOSING,	/* WebSocket close sent; waiting for the peer's or a deadline */
	RC_CONN_DEAD,		/* shut down; freed once no operation is in flight */
};

#define RC_CONN_MAX_SUBS 32	/* channels one WebSocket connection may subscribe to */
#define RC_WS_CMD_MAX 256	/* longest subscriber command */

/* An HTTP publish (POST or PUT /pub/<channel>) in progress. Apart from the
 * connection: few connections ever publish. */
struct rc_conn_pub {
	struct rc_channel *ch;		/* the channel published to */
	bool chunked_body;		/* Transfer-Encoding: chunked, else Content-Length */
	bool keep_alive;
	uint64_t body_left;		/* Content-Length: bytes still to come */
	uint64_t msgs, bytes;		/* published so far */
	struct rc_chunked chunked;	/* chunked: the decoder */
};

/* A WebSocket connection's input state while a frame or a command is only
 * partly read. Most of the time a subscriber is between frames and keeps
 * none (an idle subscriber's memory is the point): its input is parsed with
 * the loop's scratch copy (rc_server.ws_scratch), which one loop on one
 * thread may share, and only input that ends mid-frame leaves a copy in
 * rc_conn.wsin. */
struct rc_conn_wsin {
	struct rc_ws_parser parser;
	uint32_t cmd_len;		/* > RC_WS_CMD_MAX: too long, ignored */
	uint8_t cmd[RC_WS_CMD_MAX];	/* a text message from the subscriber, being read */
};

/* A WebSocket's uplink (ingest/uplink.h): made when it first sends data
 * to a channel with uplink=on, or names one with {"to":"x"}. */
struct rc_conn_uplink {
	struct rc_sub *to;		/* where its binary messages go ({"to"}); NULL: its own
					 * channel's subscription (c->sub) */
	uint32_t id;			/* its subscriber id, as publishers see it */
	uint32_t credit;		/* messages allowed now, in thousandths (token bucket) */
	uint32_t credit_ms;		/* when credit was last topped up */
	bool open;			/* a binary message for an uplink is being read */
	uint32_t len, cap;		/* the open message's bytes so far, and its bound */
	uint32_t size;			/* bytes of buf */
	uint8_t *buf;			/* the open message, when it comes in pieces */
};

struct rc_conn {
	struct rc_stream st;		/* the base: socket, queue, input, lifetime */
	uint8_t state;			/* enum rc_conn_state */
	bool ping_outstanding;
	bool close_sent;
	bool counted_ws;
	bool counted_stream;
	bool in_incomplete;		/* HTTP: the held input is the start of a head */
	bool awaiting;			/* HTTP: answered; waiting for the next request */
	bool head;			/* HTTP: routing a HEAD request: answers carry no body */
	bool nosub;			/* WS: subscribed to no channel since mark_ms */
	bool deflate;			/* WS: permessage-deflate agreed in the handshake */
	bool uplink_ok;			/* its token (or none needed) lets it send uplink on the
					 * channel of its URL (access.h) */
	bool cmd_started;		/* WS: cmd_credit and cmd_ms are set */
	uint16_t cmd_credit;		/* WS: commands allowed now (token bucket) */
	/* Per phase (an idle subscriber costs what its connection holds).
	 * Times are 32-bit loop milliseconds compared as differences
	 * (rc_stream_since()). */
	union {
		uint32_t head_scanned;	/* HTTP: bytes of an incomplete head searched for
					 * a line end already */
		uint32_t mark_ms;	/* WS: no channel since (nosub); CLOSING: since when */
	};
	union {
		uint32_t req_ms;	/* HTTP, PUB: start of the current request, or of
					 * the wait for the next one (keep-alive) */
		uint32_t cmd_ms;	/* WS: when cmd_credit was last topped up */
	};
	struct rc_sub sub;		/* the subscription of /ws/<ch>, /stream/<ch>, /sse/<ch> */
	struct rc_sub *extra;		/* more channels, by {"sub": ...} (RC_CONN_MAX_SUBS - 1) */
	/* One per phase: a connection publishes over HTTP or is a WebSocket;
	 * only a connection still reading requests waits for a listing. */
	union {
		struct rc_conn_wsin *wsin;	/* WS: input that ended mid-frame, else NULL */
		struct rc_conn_pub *pub;	/* PUB: the body being published, else NULL */
		struct rc_listing_wait *listing;	/* HTTP: the /connections answer other
							 * workers are rendering, else NULL */
	};
	char *final_peer;		/* shutting down: peer address for the final report */
	struct rc_conn_uplink *uplink;	/* WS: its uplink, or NULL */
};

/* The connection of a base, for a stream that is a client connection. */
static inline struct rc_conn *rc_conn_of(struct rc_stream *st)
{
	return (struct rc_conn *)st;
}

/* Closes c now (rc_stream_close). */
static inline void rc_conn_close(struct rc_conn *c)
{
	rc_stream_close(&c->st);
}

/* Messages c's subscriptions missed, for every reason (skipped when over the
 * queue bound, discarded under buffer pressure or when closing). */
uint64_t rc_conn_drops(const struct rc_conn *c);

/* Shutdown: remembers c's peer address so that its final counters can be
 * reported once it is gone (a closed socket has no peer any more). */
void rc_conn_note_final(struct rc_conn *c);

/* Shutdown: logs c's final counters (debug level) if rc_conn_note_final()
 * was called, and releases what that call kept. */
void rc_conn_report_final(struct rc_conn *c);

#endif
