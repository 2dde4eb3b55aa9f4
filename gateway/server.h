/* The gateway: one loop and everything it serves (listener, UDP ports,
 * HTTP and WebSocket connections, channels). Nothing here is global: a
 * server is a value, so one per core can run side by side later. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "access.h"
#include "bufring.h"
#include "channel.h"
#include "config.h"
#include "ingest_proto.h"
#include "ipcount.h"
#include "loop.h"
#include "static_files.h"
#include "udp_ingest.h"
#include "http_chunked.h"
#include "ws_frame.h"
#include "stats_log.h"

struct rc_server;

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

/* One accepted TCP connection. */
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
 * the server's scratch copy, which one loop on one thread may share, and only
 * input that ends mid-frame leaves a copy in rc_conn.wsin. */
struct rc_conn_wsin {
	struct rc_ws_parser parser;
	uint32_t cmd_len;		/* > RC_WS_CMD_MAX: too long, ignored */
	uint8_t cmd[RC_WS_CMD_MAX];	/* a text message from the subscriber, being read */
};

/* Why a connection stopped handling its input (rc_conn.hold). */
enum rc_conn_hold {
	RC_HOLD_NONE,		/* it did not: all input handled, or more bytes needed */
	RC_HOLD_TURN,		/* its share of this loop turn is used up: next turn */
	RC_HOLD_OUTPUT,		/* its answers are backed up past its bound: once they drain */
};

struct rc_conn {
	struct rc_server *srv;
	struct rc_conn *prev, *next;	/* all connections, for timers and shutdown */
	int fd;
	enum rc_conn_state state;
	uint32_t in_len;		/* bytes in `in` */
	uint32_t in_cap;		/* bytes allocated at `in` */
	uint8_t hold;			/* enum rc_conn_hold: why the last input stopped */
	bool paused;			/* the recv is stopped (or being cancelled): output
					 * or held input over its bound */
	uint16_t work_units;		/* requests, commands, frames handled in work_turn */
	uint16_t cmd_credit;		/* WebSocket commands allowed now (token bucket) */
	uint64_t work_turn;		/* the loop turn work_units counts */
	uint64_t cmd_ms;		/* when cmd_credit was last topped up */
	uint64_t paused_since_ms;
	bool recv_armed;		/* the multishot recv may still complete */
	bool close_after_send;		/* HTTP: close once the answer is out */
	bool ping_outstanding;
	bool close_sent;
	bool counted_ws;
	bool counted_stream;
	bool in_incomplete;		/* `in` holds the start of a head, parsed: no end yet */
	bool served;			/* HTTP: answered a request; idle between requests */
	bool ip_counted;		/* counted in srv->ipcount under ip */
	bool head;			/* HTTP: routing a HEAD request: answers carry no body */
	struct rc_io recv_io;
	/* End-of-turn work: re-arming the recv after -ENOBUFS while alive,
	 * freeing the connection once dead (one item, not two: it is per
	 * connection). */
	struct rc_deferred work;
	struct rc_sendq q;		/* everything sent on the socket, HTTP answers too */
	struct rc_sub sub;		/* the subscription of /ws/<ch>, /stream/<ch>, /sse/<ch> */
	struct rc_sub *extra;		/* more channels, by {"sub": ...} (RC_CONN_MAX_SUBS - 1) */
	struct rc_conn_wsin *wsin;	/* WS: input that ended mid-frame, else NULL */
	uint8_t *in;			/* input received, not handled yet: an incomplete
					 * request head, or whatever waits while the
					 * connection may not go on (hold, paused) */
	uint64_t since_ms;		/* HTTP: start of the current request, or of the wait for
					 * the next one (keep-alive); WS, PUB: last input */
	union {
		uint64_t nosub_since_ms;	/* WS: subscribed to no channel since then (0: has one) */
		uint64_t deadline_ms;		/* CLOSING: when to give up on the peer */
	};
	char *final_peer;		/* shutting down: peer address for the final report */
	struct rc_conn_pub *pub;	/* PUB: the body being published, else NULL */
	uint64_t accepted_ms;
	uint64_t bytes_in;
	uint8_t ip[16];
};

enum rc_pub_state {
	RC_PUB_HELLO,		/* reading "PUB <channel> ..." */
	RC_PUB_STREAM,		/* publishing */
	RC_PUB_REFUSED,		/* "ERR ..." queued; closed once it is out */
	RC_PUB_DEAD,		/* shut down; freed once no operation is in flight */
};

/* One TCP publisher connection (gateway/tcp_ingest.c). */
struct rc_publisher {
	struct rc_server *srv;
	struct rc_publisher *prev, *next;
	int fd;
	enum rc_pub_state state;
	bool recv_armed;
	bool close_after_send;
	bool ip_counted;		/* counted in srv->ipcount under ip */
	int mode;			/* enum rc_pub_mode */
	struct rc_io recv_io;		/* multishot recv into the ingest ring */
	struct rc_deferred rearm;
	struct rc_deferred reap;
	struct rc_sendq q;		/* "OK" / "ERR" answers */
	struct rc_channel *ch;
	struct rc_framed fr;
	struct rc_shmsg *partial;	/* framed message being assembled */
	bool ts_align;			/* raw on a TS channel: cut on 188-byte packets */
	uint8_t carry[188];		/* ts_align: the packet the last receive cut */
	size_t carry_len;
	uint64_t since_ms;		/* HELLO: the accept; STREAM: the last input, or the
					 * end of a pause of our own (-ENOBUFS) */
	uint64_t accepted_ms;
	uint64_t bytes_in;
	size_t line_len;
	char line[RC_PUB_LINE_MAX];
	uint8_t ip[16];
};

/* Server-wide counters, beyond those of the loop, ring, hub and ports. */
struct rc_server_stats {
	uint64_t published;		/* messages fanned out into channels (every ingest) */
	uint64_t published_bytes;
	uint64_t accepted;
	uint64_t accept_errors;		/* EMFILE/ENFILE and others */
	uint64_t connections;		/* open now */
	uint64_t subscribers;		/* WebSocket subscribers now */
	uint64_t stream_subscribers;	/* HTTP stream subscribers now */
	uint64_t http_requests;
	uint64_t http_errors;		/* 4xx/5xx answered */
	uint64_t ws_upgrades;
	uint64_t ws_closes_sent[9];	/* by code, see close_code_slot() in conn.c */
	uint64_t client_frames;		/* data frames from subscribers, read and discarded */
	uint64_t client_bytes;
	uint64_t handshake_timeouts;
	uint64_t idle_timeouts;		/* keep-alive HTTP and channel-less WebSocket closed idle */
	uint64_t ping_timeouts;
	uint64_t client_enobufs;
	uint64_t backpressure_pauses;	/* input stopped: output or held input over its bound */
	uint64_t backpressure_timeouts;	/* closed: stayed stopped past --idle-timeout */
	uint64_t input_overflows;	/* closed: more input held than CONN_IN_MAX */
	uint64_t ws_commands_limited;	/* closed 1008: WebSocket commands over the rate */
	uint64_t memory_refused;	/* joiners refused (503, 1013) past --max-memory */
	uint64_t memory_shed;		/* connections closed to get back under --max-memory */
	uint64_t publishers;		/* TCP publisher connections now */
	uint64_t http_publishes;	/* POST/PUT /pub/<channel> accepted */
	uint64_t pub_bad_bodies;	/* malformed chunked bodies */
	uint64_t pub_incomplete;	/* HTTP publishers that left before the body's end */
	uint64_t mux_bad_header;	/* mux datagrams with a malformed header */
	uint64_t mux_no_channel;	/* mux datagrams for a channel nobody has */
	uint64_t pub_refused;		/* answered ERR */
	uint64_t pub_framing_errors;	/* framed length over --max-message */
	uint64_t pub_partial_dropped;	/* framed messages cut off by the publisher leaving */
	uint64_t pub_timeouts;		/* TCP publishers closed, stalled mid-message */
	uint64_t refused[RC_REFUSE_REASONS];	/* access control, by enum rc_refuse */
	uint64_t static_served;		/* static files answered 200 */
	uint64_t static_rejected;	/* static paths refused by the sanitiser (400) */
};

struct rc_listener {
	struct rc_io io;
	struct rc_timer backoff;	/* after EMFILE/ENFILE */
	struct rc_server *srv;
	void (*on_accept)(struct rc_server *srv, int fd);
	int fd;
	bool armed;
	bool timer_armed;
	struct rc_sockaddr addr;
};

struct rc_ingest {
	struct rc_udp_port port;
	struct rc_server *srv;
	struct rc_channel *ch;		/* NULL on a mux port */
};

struct rc_server {
	struct rc_config cfg;
	struct rc_loop *loop;
	struct rc_bufring *ingest_ring;	/* group 0: UDP datagrams, fanned out in place */
	struct rc_bufring *client_ring;	/* group 1: bytes from TCP clients */
	struct rc_hub hub;
	struct rc_conn_wsin ws_scratch;	/* input of connections that keep none (see above) */
	struct rc_sendq_ctx conn_sendq;	/* what every connection's send queue shares */
	struct rc_sendq_ctx pub_sendq;	/* what every TCP publisher's send queue shares */
	struct rc_listener listener;
	struct rc_listener tcp_listener;	/* --tcp publishers; fd -1 when not configured */
	struct rc_publisher *publishers;
	struct rc_ingest ingest[RC_CONFIG_MAX_UDP];
	size_t ningest;
	struct rc_conn *conns;
	struct rc_timer tick;
	bool tick_armed;
	struct rc_io signal_io;
	int signal_fd;
	struct signalfd_siginfo signal_info;	/* the kernel writes it (signalfd read) */
	bool signal_armed;
	bool stopping;
	uint64_t stop_deadline_ms;
	struct rc_ipcount ipcount;	/* TCP connections (HTTP, WebSocket, publishers) per client
					 * address (--max-conns-per-ip) */
	struct rc_server_stats stats;
	struct rc_stats_log stats_log;	/* --stats-interval */
	struct rc_static statics;	/* --static files, read at start-up */
};

/* Binds every socket and creates the loop. Returns 0 or -errno (logged). */
int rc_server_init(struct rc_server *srv, const struct rc_config *cfg);

/* Prints the "listen ..." lines and "ready" to stdout. */
void rc_server_announce(const struct rc_server *srv);

/* Serves until SIGINT/SIGTERM, then shuts down gracefully. Returns 0 or -errno. */
int rc_server_run(struct rc_server *srv);

/* Frees everything. */
void rc_server_fini(struct rc_server *srv);

/* --- used between the gateway's files --- */

/* Takes ownership of an accepted socket. */
void rc_conn_accept(struct rc_server *srv, int fd);

/* What a connection's send queue does on an error or once it drained. */
extern const struct rc_sendq_ops rc_conn_sendq_ops;

/* Starts the WebSocket closing handshake with code (1001 on shutdown). */
void rc_conn_ws_close(struct rc_conn *c, uint16_t code);

/* Shuts the connection down now; it is freed when its operations finish. */
void rc_conn_close(struct rc_conn *c);

/* Charges what c holds beside its send queue (held input, parser state,
 * extra subscriptions, an HTTP publish) to its queue's bound and to the
 * process's memory. Call after any of them is allocated or freed. */
void rc_conn_account(struct rc_conn *c);

/* Timers: closes connections past their deadlines, pings idle subscribers. */
void rc_conn_tick(struct rc_server *srv);

/* Messages c's subscriptions missed, for every reason (skipped when over the
 * queue bound, discarded under buffer pressure or when closing). */
uint64_t rc_conn_drops(const struct rc_conn *c);

/* Shutdown: remembers c's peer address so that its final counters can be
 * reported once it is gone (a closed socket has no peer any more). */
void rc_conn_note_final(struct rc_conn *c);

/* Shutdown: logs c's final counters (debug level) if rc_conn_note_final()
 * was called, and releases what that call kept. */
void rc_conn_report_final(struct rc_conn *c);

/* Takes ownership of a socket accepted on the --tcp listener. */
void rc_publisher_accept(struct rc_server *srv, int fd);

/* What a TCP publisher's send queue does on an error or once it drained. */
extern const struct rc_sendq_ops rc_publisher_sendq_ops;

/* Shuts a publisher down; it is freed when its operations finish. */
void rc_publisher_close(struct rc_publisher *p);

/* Timers: opening-line timeout; --idle-timeout for a publisher whose input
 * stopped mid-message; during shutdown, closes publishers. */
void rc_publisher_tick(struct rc_server *srv);

/* Answers one parsed HTTP request on c (routes, upgrade). */
struct rc_http_request;
void rc_http_route(struct rc_conn *c, const struct rc_http_request *req);

/* Queues a complete HTTP response. body may be NULL. close: add
 * "Connection: close" and close once sent. While c routes a HEAD request
 * the answer is the same head (Content-Length: body_len) without the body. */
void rc_http_respond(struct rc_conn *c, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t body_len, bool close);

/* Reads the --static directories into srv->statics (static_route.c).
 * Returns 0 or -errno (logged). */
int rc_static_setup(struct rc_server *srv);

/* Answers GET/HEAD of path[0..path_len) from srv->statics: 200 with the
 * file, 404, or 400 for a path the sanitiser refuses (counted). */
void rc_static_serve(struct rc_conn *c, const char *path, size_t path_len, bool head,
		     bool keep_alive);

/* Renders GET /channels (JSON) into a malloc'd buffer. */
char *rc_status_channels(struct rc_server *srv, size_t *len);

/* Renders GET /connections (JSON), at most `limit` entries from `offset`. */
char *rc_status_connections(struct rc_server *srv, size_t offset, size_t limit, size_t *len);

/* Renders the Prometheus exposition into a malloc'd buffer; *len gets its
 * length. Returns NULL on allocation failure. */
char *rc_metrics_render(struct rc_server *srv, size_t *len);

#endif
