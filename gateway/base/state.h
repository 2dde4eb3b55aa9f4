/* What belongs to one loop and what belongs to the process.
 *
 * struct rc_process is the process's: the configuration (options,
 * per-channel settings, secrets), the static files read at start-up, the
 * limits that mean "for the whole process" (the per-address connection
 * count) and what the loops (workers, one thread each) share: the channel
 * registry, one mailbox per worker and one copy of each worker's counters.
 * Start-up writes the configuration, the files and the arrays before any
 * worker runs; after that, workers only read them, except through the
 * shared parts' own synchronisation: the per-address table under its mutex
 * (taken at accept and close, never per message), the registry (its mutex
 * when a channel is made or freed, atomics otherwise), the mailboxes
 * (lock-free) and the counter copies (sequence locks). docs/ARCHITECTURE.md,
 * "Threads", has the whole argument.
 *
 * struct rc_server is one loop's: its ring, its buffer rings, its
 * connections, its channels with their subscriber lists (the hub), its
 * listeners and ingest ports, its scratch parser and its counters. Nothing
 * in it is touched by another thread (the main thread reads it before the
 * worker starts and after it has ended). */
#ifndef RC_STATE_H
#define RC_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "access.h"
#include "bufring.h"
#include "channel.h"
#include "chanreg.h"
#include "client.h"
#include "config.h"
#include "ipcount.h"
#include "listener.h"
#include "loop.h"
#include "mbox.h"
#include "snap.h"
#include "udp_ingest.h"

/* Buckets of the NATS latency histogram (cluster.c says their bounds). */
#define RC_NATS_LAT_BUCKETS 12

struct rc_static;
struct rc_stats_log;
struct rc_stream;

struct rc_server;

struct rc_process {
	struct rc_config cfg;		/* read-only once the loops run */
	struct rc_static *statics;	/* --static files, read at start-up */
	struct rc_ipcount ipcount;	/* TCP connections (HTTP, WebSocket, publishers)
					 * per client address (--max-conns-per-ip) */
	/* Guards ipcount, which every worker updates: taken once when a
	 * connection is accepted and once when it closes, never per message
	 * (a per-address count is not on the data path). */
	pthread_mutex_t ipcount_lock;
	uint32_t nworkers;		/* cfg.workers */
	struct rc_chanreg chanreg;	/* channels as the whole process sees them */
	/* Per worker, allocated at start-up. inbox[w]: what other workers hand
	 * worker w (messages, shutdown); snaps[w]: worker w's counters as of
	 * the end of its last turn (struct rc_worker_counters), for /metrics
	 * on any worker. Both only with several workers. */
	struct rc_mbox *inbox;
	struct rc_snap *snaps;
	/* RINGCAST_WAKE=msg_ring: hand-offs wake their destination by a
	 * message from the origin's ring into the destination's
	 * (IORING_OP_MSG_RING) where both loops are on io_uring; else (the
	 * default) by its eventfd. */
	bool wake_by_msg;
	/* The addresses worker 0 bound (the port the kernel chose for :0):
	 * the other workers bind the same ones (SO_REUSEPORT). Written by
	 * worker 0's start-up, read by the next worker's after it (the main
	 * thread starts them one after the other). */
	struct rc_sockaddr listen_addr, tcp_addr;
	/* Workers whose loop still runs. Worker 0 reads the signals, so it
	 * ends its loop only after the others (a second signal must still
	 * reach them). Relaxed: a flag it polls on its tick. */
	_Atomic uint32_t running;
	/* This node's id in a cluster (--nats): random, never 0, set before
	 * the workers start and never written after (no atomic). */
	uint64_t node_id;
};

/* One loop's counters, beyond those of the loop, rings, hub and ports. */
/* Why an uplink message (ingest/uplink.h) did not reach a publisher. */
enum rc_uplink_drop {
	RC_UPLINK_NO_PUBLISHER,	/* the channel has no framed TCP or UDP publisher now */
	RC_UPLINK_BACKLOG,	/* the publisher's queue is full, or its datagram would block */
	RC_UPLINK_NOMEM,	/* no memory to copy it */
	RC_UPLINK_DROPS
};

/* Why a NATS connection (gateway/cluster/nats_link.c) was lost or refused,
 * or what the server's -ERR said. */
enum rc_nats_fault {
	RC_NATS_FAULT_SLOW_CONSUMER,	/* -ERR 'Slow Consumer' (nats-server 2.9 sends none:
					 * such a cut is a LOST) */
	RC_NATS_FAULT_STALE,		/* -ERR 'Stale Connection': its PINGs went unanswered */
	RC_NATS_FAULT_AUTH,		/* -ERR 'Authorization Violation', 'Authentication ...' */
	RC_NATS_FAULT_PERMISSIONS,	/* -ERR 'Permissions Violation ...' */
	RC_NATS_FAULT_OTHER_ERR,	/* any other -ERR */
	RC_NATS_FAULT_NO_CREDS,		/* INFO's auth_required without --nats-creds */
	RC_NATS_FAULT_TLS,		/* INFO's tls_required */
	RC_NATS_FAULT_PROTOCOL,		/* what the server sent could not be read */
	RC_NATS_FAULT_LOST,		/* closed or reset without an -ERR first */
	RC_NATS_FAULT_PING,		/* no PONG to two PINGs */
	RC_NATS_FAULT_CONNECT,		/* connect refused or timed out, or no INFO */
	RC_NATS_FAULTS
};

struct rc_server_stats {
	uint64_t published;		/* messages fanned out into channels (every ingest) */
	uint64_t published_bytes;
	uint64_t accepted;
	uint64_t accept_errors;		/* EMFILE/ENFILE and others */
	uint64_t connections;		/* HTTP/WebSocket connections open now */
	uint64_t subscribers;		/* WebSocket subscribers now */
	uint64_t stream_subscribers;	/* HTTP stream subscribers now */
	uint64_t http_requests;
	uint64_t http_errors;		/* 4xx/5xx answered */
	uint64_t ws_upgrades;
	uint64_t ws_closes_sent[9];	/* by code, see rc_ws_close_slot() */
	uint64_t client_frames;		/* data frames from subscribers, read and discarded */
	uint64_t client_bytes;
	uint64_t handshake_timeouts;
	uint64_t idle_timeouts;		/* keep-alive HTTP and channel-less WebSocket closed idle */
	uint64_t ping_timeouts;
	uint64_t client_enobufs;
	uint64_t backpressure_pauses;	/* input stopped: output or held input over its bound */
	uint64_t backpressure_timeouts;	/* closed: stayed stopped past --idle-timeout */
	uint64_t input_overflows;	/* closed: more input held than the base allows */
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
	uint64_t relayed_out;		/* hand-offs of a message to another worker */
	uint64_t relayed_in;		/* messages other workers handed this one */
	uint64_t relay_unclaimed;	/* of those, for a channel this worker no longer has */
	uint64_t resumed;		/* WebSocket subscribers resumed whole ("recovered": true) */
	uint64_t resume_gaps;		/* asked to resume and could not ("recovered": false) */
	/* Uplink (ingest/uplink.h): subscribers' messages to publishers. */
	uint64_t uplink_in;		/* taken from subscribers (channel with uplink=on) */
	uint64_t uplink_in_bytes;
	uint64_t uplink_out;		/* handed to a publisher (its queue, or a datagram sent) */
	uint64_t uplink_out_bytes;
	uint64_t uplink_dropped[RC_UPLINK_DROPS];	/* by enum rc_uplink_drop */
	uint64_t uplink_closed_rate;	/* subscribers closed 1008: over uplink-rate */
	uint64_t uplink_closed_size;	/* subscribers closed 1008: a message over uplink-max */
	/* permessage-deflate (ingest/compress.h). */
	uint64_t ws_deflate;		/* WebSocket upgrades that agreed to it */
	uint64_t compressed;		/* messages compressed (once per worker) */
	uint64_t compressed_in_bytes;	/* their bytes before */
	uint64_t compressed_out_bytes;	/* and after */
	uint64_t compress_skipped;	/* not smaller compressed: sent as they were */
	uint64_t compress_failed;	/* no memory: sent as they were */
	uint64_t inflated;		/* compressed client messages inflated */
	uint64_t inflate_closed;	/* clients closed 1009 or 1007 for what they sent compressed */
	/* NATS (gateway/cluster/, --nats): this worker's connection. */
	uint64_t nats_connected;	/* 1 while connected (a gauge) */
	uint64_t nats_msgs_out;		/* PUBs fully written to the socket */
	uint64_t nats_bytes_out;	/* bytes written to it, protocol lines included */
	uint64_t nats_dropped;		/* messages refused (full, down, over --max-memory) or lost with a connection */
	uint64_t nats_reconnects;	/* connections made again after one was lost */
	uint64_t nats_errors;		/* -ERR answers and protocol errors */
	uint64_t nats_faults[RC_NATS_FAULTS];	/* by enum rc_nats_fault */
	/* The server this worker is connected to, all 0 when none (a gauge;
	 * meaningless summed over workers): words because the counters are
	 * all other workers read of it (rc_snap). [0]: address family << 16 |
	 * port, [1] and [2]: the address's bytes (4 or 16) in memory order. */
	uint64_t nats_server[3];
	uint64_t nats_out_queued;	/* outbound bytes not yet written (a gauge) */
	uint64_t nats_bytes_in;		/* bytes read from it, protocol lines included */
	uint64_t nats_msgs_in;		/* messages from other nodes fanned out here */
	uint64_t nats_subscriptions;	/* channels subscribed now (a gauge) */
	uint64_t nats_own;		/* this node's own messages, skipped */
	uint64_t nats_unrouted;		/* messages for no channel subscribed now */
	uint64_t nats_bad_envelope;	/* messages with a malformed Rc header, dropped */
	uint64_t nats_in_dropped;	/* messages dropped for memory (--max-memory) */
	uint64_t nats_gaps;		/* times an origin's numbers were skipped */
	uint64_t nats_missing;		/* numbers skipped */
	uint64_t nats_late;		/* of those, delivered later after all */
	uint64_t nats_dups;		/* dropped: seen already or too old */
	uint64_t nats_restarts;		/* an origin's channel began a new history */
	uint64_t nats_multi_origin;	/* a channel found published by two origins at once */
	uint64_t nats_cache_requests;	/* cache requests sent (late joiners here) */
	uint64_t nats_cache_answered;	/* other nodes' cache requests answered */
	uint64_t nats_cache_msgs_in;	/* cached messages received in answers */
	uint64_t nats_cache_timeouts;	/* requests that got no end in time */
	/* Ingest-to-here latency of messages from other nodes (their clocks
	 * against ours): counts per bucket of rc_cluster_lat_bounds_us[],
	 * the last one unbounded, and the sum in microseconds. */
	uint64_t nats_lat[RC_NATS_LAT_BUCKETS];
	uint64_t nats_lat_sum_us;
};

/* What a worker publishes of its counters for the others (rc_snap words):
 * every field a uint64_t. */
struct rc_worker_counters {
	struct rc_server_stats srv;
	struct rc_hub_stats hub;
	struct rc_loop_stats loop;
	struct rc_udp_stats udp;	/* its ports', summed */
	uint64_t ingest_free, ingest_in_use, client_free, client_in_use;
	uint64_t large_free, large_in_use;	/* the ingest ring's large class; 0 without */
};

#define RC_WORKER_COUNTER_WORDS (sizeof(struct rc_worker_counters) / sizeof(uint64_t))

/* A UDP ingest port of the loop, bound to a channel (or a mux port). */
struct rc_ingest {
	struct rc_udp_port port;
	struct rc_server *srv;
	struct rc_channel *ch;		/* NULL on a mux port */
	uint32_t cfg_index;		/* its --udp/--udp-mux in the configuration */
};

struct rc_wsz_deflater;
struct rc_wsz_inflater;
struct rc_cluster;

struct rc_server {
	struct rc_process *proc;	/* shared with every loop of the process */
	uint32_t id;			/* the worker: 0 .. proc->nworkers - 1 */
	uint32_t uplink_ids;		/* subscriber ids given out for uplink (subscribe/uplink_in.c) */
	const struct rc_config *cfg;	/* &proc->cfg */
	struct rc_loop *loop;
	struct rc_bufring *ingest_ring;	/* group 0: UDP datagrams, fanned out in place */
	struct rc_bufring *client_ring;	/* group 1: bytes from TCP clients */
	struct rc_hub hub;
	struct rc_access access;	/* the checks' view of this loop (cfg, hub, counters) */
	/* Input of WebSocket connections that keep no parser between frames
	 * (client.h): one loop's connections share it, one at a time. */
	struct rc_conn_wsin ws_scratch;
	/* permessage-deflate's codec (ingest/compress.h), made at first use. */
	struct rc_wsz_deflater *zdef;
	struct rc_wsz_inflater *zinf;
	uint8_t *zbuf;			/* what zinf inflates into */
	struct rc_sendq_ctx conn_sendq;	/* what every client connection's send queue shares */
	struct rc_sendq_ctx pub_sendq;	/* what every TCP publisher's send queue shares */
	struct rc_listener listener;
	struct rc_listener tcp_listener;	/* --tcp publishers; fd -1 when not configured */
	struct rc_stream *streams;	/* every accepted connection (rc_stream base) */
	struct rc_ingest ingest[RC_CONFIG_MAX_UDP];
	size_t ningest;
	struct rc_timer tick;
	bool tick_armed;
	struct rc_io signal_io;
	int signal_fd;
	struct signalfd_siginfo signal_info;	/* the kernel writes it (signalfd read) */
	bool signal_armed;
	bool stopping;
	uint64_t stop_deadline_ms;
	struct rc_server_stats stats;
	struct rc_stats_log *stats_log;	/* --stats-interval */
	/* Hand-offs to other workers: bit w when a post of this turn found
	 * worker w's mailbox empty, so it must be woken (relay_wake, at the
	 * end of the turn: one eventfd write per worker per turn at most). */
	uint64_t relay_wake_mask;
	struct rc_deferred relay_wake;
	/* RINGCAST_WAKE=msg_ring: per destination worker, the completion a
	 * failed wake-up message brings back, which wakes it by eventfd. */
	struct rc_relay_wake_fail {
		struct rc_io io;
		struct rc_server *srv;
		uint32_t worker;
	} relay_wake_fail[RC_CONFIG_WORKERS_MAX];
	/* This worker's connections waiting for a /connections listing that
	 * visits the other workers (http/listing.c); only this worker reads
	 * or writes them. */
	struct rc_listing_wait *listings;
	/* --nats: this worker's part of the cluster, its own connection
	 * (gateway/cluster/); NULL without the option. */
	struct rc_cluster *cluster;
};

#endif
