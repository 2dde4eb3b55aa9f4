/* Prometheus text exposition (format 0.0.4) of every counter ringcast keeps:
 * one table for the counters without labels, code for the labelled ones. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "mem.h"
#include "metrics.h"
#include "state.h"
#include "textbuf.h"

static void metric(struct rc_textbuf *o, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	rc_textbuf_put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
	    (unsigned long long)value);
}

static void header(struct rc_textbuf *o, const char *name, const char *type, const char *help)
{
	rc_textbuf_put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum chan_field { F_SUBS, F_MSGS, F_BYTES };

struct chan_walk {
	struct rc_textbuf *o;
	enum chan_field field;
	const char *name;
};

/* Channel names are restricted to [A-Za-z0-9._-], so labels need no
 * escaping. The registry has every worker's channels, counted together. */
static void chan_line(struct rc_chanreg_ent *e, void *arg)
{
	struct chan_walk *w = arg;
	uint64_t v = w->field == F_SUBS ? rc_chanreg_subs(e)
		   : atomic_load_explicit(w->field == F_MSGS ? &e->msgs : &e->bytes,
					  memory_order_relaxed);

	rc_textbuf_put(w->o, "%s{channel=\"%s\"} %llu\n", w->name, e->name, (unsigned long long)v);
}

static void per_channel(struct rc_textbuf *o, struct rc_server *srv, const char *name, const char *type,
			const char *help, enum chan_field f)
{
	struct chan_walk w = { .o = o, .field = f, .name = name };

	header(o, name, type, help);
	rc_chanreg_foreach(&srv->proc->chanreg, chan_line, &w);
}

/* Where a plain counter's value lives. */
enum source { SRV, HUB, SEND, LOOP, UDP, NSOURCES };

/* One metric with no labels: a uint64_t field of one of the sources. */
struct counter {
	const char *name;
	const char *type;
	const char *help;
	uint8_t src;
	uint16_t off;
};

#define SRV_(f) SRV, offsetof(struct rc_server_stats, f)
#define HUB_(f) HUB, offsetof(struct rc_hub_stats, f)
#define SEND_(f) SEND, offsetof(struct rc_sendq_stats, f)
#define LOOP_(f) LOOP, offsetof(struct rc_loop_stats, f)
#define UDP_(f) UDP, offsetof(struct rc_udp_stats, f)

static const struct counter counters[] = {
	{ "ringcast_connections", "gauge", "Open TCP connections (HTTP and WebSocket).",
	  SRV_(connections) },
	{ "ringcast_connections_accepted_total", "counter", "TCP connections accepted.",
	  SRV_(accepted) },
	{ "ringcast_accept_errors_total", "counter",
	  "Failed accepts (EMFILE, ENFILE, out of memory).", SRV_(accept_errors) },
	{ "ringcast_ws_subscribers", "gauge", "WebSocket subscribers (all channels).",
	  SRV_(subscribers) },
	{ "ringcast_stream_subscribers", "gauge", "HTTP stream and SSE subscribers (all channels).",
	  SRV_(stream_subscribers) },
	{ "ringcast_publishers", "gauge", "TCP publisher connections.", SRV_(publishers) },
	{ "ringcast_publishers_refused_total", "counter",
	  "TCP publishers answered ERR (bad line, busy channel, framing error).",
	  SRV_(pub_refused) },
	{ "ringcast_publisher_framing_errors_total", "counter",
	  "Framed TCP messages announced longer than --max-message.", SRV_(pub_framing_errors) },
	{ "ringcast_publisher_partial_dropped_total", "counter",
	  "Framed TCP messages (or raw MPEG-TS packets) cut off by the publisher leaving; never "
	  "delivered.", SRV_(pub_partial_dropped) },
	{ "ringcast_publisher_timeouts_total", "counter",
	  "TCP publishers closed because their input stopped mid-message for --idle-timeout.",
	  SRV_(pub_timeouts) },
	{ "ringcast_http_publishes_total", "counter", "POST/PUT /pub/<channel> requests accepted.",
	  SRV_(http_publishes) },
	{ "ringcast_http_publish_bad_bodies_total", "counter",
	  "HTTP publishes with a malformed chunked body (400).", SRV_(pub_bad_bodies) },
	{ "ringcast_http_publish_incomplete_total", "counter",
	  "HTTP publishers that left before the end of their body.", SRV_(pub_incomplete) },
	{ "ringcast_fanout_batches_total", "counter",
	  "Fan-out batches: small frames of one loop turn copied once and sent to each "
	  "WebSocket subscriber as one piece.", HUB_(batches) },
	{ "ringcast_fanout_batched_messages_total", "counter",
	  "Messages that went out in fan-out batches.", HUB_(batched_msgs) },
	{ "ringcast_published_messages_total", "counter",
	  "Messages published into channels, every ingest path (channels come and go; this "
	  "total stays).", SRV_(published) },
	{ "ringcast_published_bytes_total", "counter",
	  "Payload bytes published into channels, every ingest path.", SRV_(published_bytes) },
	{ "ringcast_udp_datagrams_total", "counter", "UDP datagrams received.", UDP_(datagrams) },
	{ "ringcast_udp_large_datagrams_total", "counter",
	  "UDP datagrams longer than an ingest buffer holds, received into the large buffers "
	  "(--udp-large-bufs).", UDP_(large) },
	{ "ringcast_udp_late_datagrams_total", "counter",
	  "UDP datagrams published after one the kernel received later: a port's socket for "
	  "long datagrams, or the one for short ones, was paused on an empty ring meanwhile.",
	  UDP_(late) },
	{ "ringcast_udp_order_waits_total", "counter",
	  "Loop turns that kept UDP datagrams back because the port's other socket might still "
	  "hold one received before them.", UDP_(waits) },
	{ "ringcast_ingest_pauses_total", "counter",
	  "UDP receives paused because every ingest buffer was in use (-ENOBUFS); datagrams wait "
	  "in the socket meanwhile.", UDP_(enobufs) },
	{ "ringcast_udp_rearms_total", "counter", "Multishot UDP receives re-armed.", UDP_(rearms) },
	{ "ringcast_udp_errors_total", "counter", "Unexpected UDP receive errors.", UDP_(errors) },
	{ "ringcast_delivered_frames_total", "counter", "Data frames fully sent to subscribers.",
	  SEND_(frames) },
	{ "ringcast_delivered_bytes_total", "counter",
	  "Bytes of data frames fully sent to subscribers (headers included).", SEND_(bytes) },
	{ "ringcast_sends_total", "counter", "sendmsg operations completed.", SEND_(sends) },
	{ "ringcast_short_sends_total", "counter",
	  "Sends that wrote less than asked and were resumed.", SEND_(short_sends) },
	{ "ringcast_zc_sends_total", "counter", "Frames sent with SEND_ZC (--zc-min).",
	  SEND_(zc_sends) },
	{ "ringcast_zc_copied_total", "counter",
	  "SEND_ZC sends the kernel reported it copied anyway (always on loopback).",
	  SEND_(zc_copied) },
	{ "ringcast_buffer_pressure_runs_total", "counter",
	  "Times the buffer ring ran low and the slow-holder policy ran.", HUB_(pressure_runs) },
	{ "ringcast_http_requests_total", "counter", "HTTP requests parsed.", SRV_(http_requests) },
	{ "ringcast_http_errors_total", "counter", "HTTP requests answered 4xx/5xx.",
	  SRV_(http_errors) },
	{ "ringcast_static_served_total", "counter", "Static files answered 200.",
	  SRV_(static_served) },
	{ "ringcast_static_rejected_total", "counter",
	  "Static file paths refused (traversal, encoded slashes, bad bytes).",
	  SRV_(static_rejected) },
	{ "ringcast_ws_upgrades_total", "counter", "WebSocket upgrades completed.",
	  SRV_(ws_upgrades) },
	{ "ringcast_resumed_total", "counter",
	  "WebSocket subscribers that resumed a channel with nothing missed.", SRV_(resumed) },
	{ "ringcast_resume_gaps_total", "counter",
	  "WebSocket subscribers that asked to resume and could not (recovered: false).",
	  SRV_(resume_gaps) },
	{ "ringcast_ws_deflate_upgrades_total", "counter",
	  "WebSocket upgrades that agreed to permessage-deflate.", SRV_(ws_deflate) },
	{ "ringcast_compressed_messages_total", "counter",
	  "Messages compressed for permessage-deflate subscribers (once per message and worker).",
	  SRV_(compressed) },
	{ "ringcast_compress_in_bytes_total", "counter", "Their bytes before compression.",
	  SRV_(compressed_in_bytes) },
	{ "ringcast_compress_out_bytes_total", "counter", "Their bytes after compression.",
	  SRV_(compressed_out_bytes) },
	{ "ringcast_compress_skipped_total", "counter",
	  "Messages not smaller compressed: sent uncompressed.", SRV_(compress_skipped) },
	{ "ringcast_compress_failed_total", "counter",
	  "Messages not compressed for want of memory: sent uncompressed.", SRV_(compress_failed) },
	{ "ringcast_compressed_deliveries_total", "counter",
	  "Compressed frames queued to subscribers (one per subscriber per message).",
	  HUB_(zdeliveries) },
	{ "ringcast_inflated_total", "counter", "Compressed client messages inflated.",
	  SRV_(inflated) },
	{ "ringcast_inflate_closed_total", "counter",
	  "Clients closed (1009, 1007) for a compressed message too big or not DEFLATE data.",
	  SRV_(inflate_closed) },
	{ "ringcast_nats_connected", "gauge",
	  "Workers connected to the NATS server now (--nats).", SRV_(nats_connected) },
	{ "ringcast_nats_msgs_out_total", "counter",
	  "Messages published to NATS (fully written to the connection).", SRV_(nats_msgs_out) },
	{ "ringcast_nats_bytes_out_total", "counter",
	  "Bytes written to the NATS connections, protocol lines included.", SRV_(nats_bytes_out) },
	{ "ringcast_nats_dropped_total", "counter",
	  "Messages not published to NATS: the connection down, its 4 MiB buffer full, the "
	  "process over --max-memory, over the "
	  "server's max_payload, or lost with a connection.", SRV_(nats_dropped) },
	{ "ringcast_nats_reconnects_total", "counter",
	  "NATS connections made again after one was lost.", SRV_(nats_reconnects) },
	{ "ringcast_nats_errors_total", "counter",
	  "-ERR answers from the NATS server and protocol errors.", SRV_(nats_errors) },
	{ "ringcast_nats_out_queued_bytes", "gauge",
	  "Bytes queued for the NATS connections and not yet written.", SRV_(nats_out_queued) },
	{ "ringcast_nats_bytes_in_total", "counter",
	  "Bytes read from the NATS connections, protocol lines included.", SRV_(nats_bytes_in) },
	{ "ringcast_nats_msgs_in_total", "counter",
	  "Messages from other nodes fanned out here (once per worker subscribed to their channel).",
	  SRV_(nats_msgs_in) },
	{ "ringcast_nats_subscriptions", "gauge",
	  "Channel subscriptions wanted on the NATS connections (one per worker with subscribers; "
	  "sent again on each connection).",
	  SRV_(nats_subscriptions) },
	{ "ringcast_nats_own_skipped_total", "counter",
	  "This node's own messages that came back from NATS to another worker, skipped.",
	  SRV_(nats_own) },
	{ "ringcast_nats_unrouted_total", "counter",
	  "Messages from NATS for no channel subscribed now (a subscription just ended).",
	  SRV_(nats_unrouted) },
	{ "ringcast_nats_bad_envelope_total", "counter",
	  "Messages from NATS with a malformed Rc header, dropped.", SRV_(nats_bad_envelope) },
	{ "ringcast_nats_in_dropped_total", "counter",
	  "Messages from NATS dropped: over --max-memory, or longer than the channel's --max-message.",
	  SRV_(nats_in_dropped) },
	{ "ringcast_nats_gaps_total", "counter",
	  "Times an origin's message numbers were skipped on a channel (messages lost on the way).",
	  SRV_(nats_gaps) },
	{ "ringcast_nats_missing_total", "counter",
	  "Message numbers skipped, counted when skipped.", SRV_(nats_missing) },
	{ "ringcast_nats_late_total", "counter",
	  "Messages delivered after a newer one of their origin (late: they fill a hole counted "
	  "missing, or come from just before where the window started).",
	  SRV_(nats_late) },
	{ "ringcast_nats_duplicates_total", "counter",
	  "Messages from NATS dropped as seen already (or older than the 64 newest of their origin).",
	  SRV_(nats_dups) },
	{ "ringcast_nats_restarts_total", "counter",
	  "Times an origin's channel began a new history (its epoch changed, or its numbers jumped "
	  "past 65536).",
	  SRV_(nats_restarts) },
	{ "ringcast_nats_multi_origin_total", "counter",
	  "Times a channel was found published by two origins at once (two nodes, or one and a local "
	  "publisher).", SRV_(nats_multi_origin) },
	{ "ringcast_nats_cache_requests_total", "counter",
	  "Cache requests sent to other nodes for late joiners here.", SRV_(nats_cache_requests) },
	{ "ringcast_nats_cache_answered_total", "counter",
	  "Cache requests of other nodes answered here.", SRV_(nats_cache_answered) },
	{ "ringcast_nats_cache_msgs_in_total", "counter",
	  "Cached messages received in answers to this node's requests.", SRV_(nats_cache_msgs_in) },
	{ "ringcast_nats_cache_timeouts_total", "counter",
	  "Cache requests that got no complete answer in time.", SRV_(nats_cache_timeouts) },
	{ "ringcast_uplink_received_total", "counter",
	  "Uplink messages taken from subscribers on channels with uplink=on.", SRV_(uplink_in) },
	{ "ringcast_uplink_received_bytes_total", "counter", "Their payload bytes.",
	  SRV_(uplink_in_bytes) },
	{ "ringcast_uplink_delivered_total", "counter",
	  "Uplink messages handed to a publisher (its connection's queue, or a datagram sent).",
	  SRV_(uplink_out) },
	{ "ringcast_uplink_delivered_bytes_total", "counter", "Their payload bytes.",
	  SRV_(uplink_out_bytes) },
	{ "ringcast_uplink_closed_rate_total", "counter",
	  "Subscribers closed with 1008 for sending uplink messages faster than uplink-rate.",
	  SRV_(uplink_closed_rate) },
	{ "ringcast_uplink_closed_size_total", "counter",
	  "Subscribers closed with 1008 for an uplink message larger than uplink-max.",
	  SRV_(uplink_closed_size) },
	{ "ringcast_client_frames_discarded_total", "counter",
	  "Data messages sent by subscribers, read and discarded.", SRV_(client_frames) },
	{ "ringcast_client_bytes_discarded_total", "counter",
	  "Payload bytes sent by subscribers, read and discarded.", SRV_(client_bytes) },
	{ "ringcast_handshake_timeouts_total", "counter",
	  "Connections closed for not completing a request in time.", SRV_(handshake_timeouts) },
	{ "ringcast_idle_timeouts_total", "counter",
	  "Keep-alive HTTP connections and channel-less WebSockets closed for idling.",
	  SRV_(idle_timeouts) },
	{ "ringcast_ping_timeouts_total", "counter", "Subscribers closed for not answering a ping.",
	  SRV_(ping_timeouts) },
	{ "ringcast_client_enobufs_total", "counter",
	  "Client receives paused because the client ring was empty.", SRV_(client_enobufs) },
	{ "ringcast_backpressure_pauses_total", "counter",
	  "Times a connection's input was stopped because its queued output (or its held input) "
	  "was over its bound.", SRV_(backpressure_pauses) },
	{ "ringcast_backpressure_timeouts_total", "counter",
	  "Connections closed for staying stopped by their backlog past --idle-timeout.",
	  SRV_(backpressure_timeouts) },
	{ "ringcast_input_overflows_total", "counter",
	  "Connections closed for holding more unhandled input than allowed.",
	  SRV_(input_overflows) },
	{ "ringcast_ws_commands_limited_total", "counter",
	  "WebSockets closed (1008) for sending commands faster than --ws-command-rate.",
	  SRV_(ws_commands_limited) },
	{ "ringcast_memory_refused_total", "counter",
	  "Subscriptions and publishes refused (503, 1013) past --max-memory.",
	  SRV_(memory_refused) },
	{ "ringcast_memory_shed_total", "counter",
	  "Connections closed, largest first, to get back under --max-memory.", SRV_(memory_shed) },
	{ "ringcast_ring_submissions_total", "counter",
	  "SQEs submitted to io_uring (epoll backend: operations started).", LOOP_(submissions) },
	{ "ringcast_ring_enters_total", "counter",
	  "io_uring_enter calls by the loop (epoll backend: epoll_wait calls).", LOOP_(enters) },
	{ "ringcast_ring_cqes_total", "counter", "Completions processed.", LOOP_(cqes) },
	{ "ringcast_ring_cq_overflow_total", "counter",
	  "Completions that overflowed the CQ (kernel count).", LOOP_(cq_overflow) },
	{ "ringcast_ring_sq_full_total", "counter", "Times the SQ filled up within a turn.",
	  LOOP_(sq_full) },
	{ "ringcast_ring_extra_passes_total", "counter",
	  "Enters that ran pending kernel task work before a turn's batches closed.",
	  LOOP_(extra_passes) },
	{ "ringcast_ring_capped_turns_total", "counter",
	  "Turns that left sends for the next turn so new input is taken in sooner.",
	  LOOP_(capped_turns) },
};

_Static_assert(sizeof(struct rc_worker_counters) % sizeof(uint64_t) == 0,
	       "struct rc_worker_counters must be uint64_t words");

/* The loop's UDP ports' counters, summed. */
static void udp_totals(const struct rc_server *srv, struct rc_udp_stats *us)
{
	*us = (struct rc_udp_stats){ 0 };
	for (size_t i = 0; i < srv->ningest; i++) {
		const struct rc_udp_stats *s = &srv->ingest[i].port.stats;

		us->datagrams += s->datagrams;
		us->bytes += s->bytes;
		us->truncated += s->truncated;
		us->large += s->large;
		us->late += s->late;
		us->waits += s->waits;
		us->kernel_drops += s->kernel_drops;
		us->enobufs += s->enobufs;
		us->rearms += s->rearms;
		us->errors += s->errors;
		us->denied += s->denied;
	}
}

/* This worker's counters as they are now. */
static void collect(const struct rc_server *srv, struct rc_worker_counters *c)
{
	c->srv = srv->stats;
	c->hub = srv->hub.stats;
	c->loop = *rc_loop_stats(srv->loop);
	udp_totals(srv, &c->udp);
	c->ingest_free = rc_bufring_free(srv->ingest_ring);
	c->ingest_in_use = rc_bufring_in_use(srv->ingest_ring);
	c->large_free = c->large_in_use = 0;
	if (rc_bufring_large(srv->ingest_ring)) {
		c->large_free = rc_bufring_free(rc_bufring_large(srv->ingest_ring));
		c->large_in_use = rc_bufring_in_use(rc_bufring_large(srv->ingest_ring));
	}
	c->client_free = rc_bufring_free(srv->client_ring);
	c->client_in_use = rc_bufring_in_use(srv->client_ring);
}

void rc_metrics_publish(struct rc_server *srv)
{
	struct rc_worker_counters c;

	collect(srv, &c);
	rc_snap_write(&srv->proc->snaps[srv->id], (const uint64_t *)&c);
}

/* Adds every counter of b to a. */
static void add_counters(struct rc_worker_counters *a, const struct rc_worker_counters *b)
{
	uint64_t *x = (uint64_t *)a;
	const uint64_t *y = (const uint64_t *)b;

	for (size_t i = 0; i < RC_WORKER_COUNTER_WORDS; i++)
		x[i] += y[i];
}

void rc_metrics_sum(struct rc_server *srv, struct rc_worker_counters *t)
{
	struct rc_worker_counters w;

	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < srv->proc->nworkers; i++) {
		if (i == srv->id)
			collect(srv, &w);
		else
			rc_snap_read(&srv->proc->snaps[i], (uint64_t *)&w);
		add_counters(t, &w);
	}
}

/* Drops by reason: the hub's, plus those counted by the ports and the
 * closing queues. */
static void drops(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	const struct rc_hub_stats *hs = &t->hub;
	const struct rc_udp_stats *us = &t->udp;

	header(o, "ringcast_drops_total", "counter", "Messages or subscribers dropped, by reason.");
	for (int r = 0; r < RC_DROP_REASONS; r++) {
		uint64_t v = hs->drops[r];

		if (r == RC_DROP_TRUNCATED)
			v += us->truncated;
		else if (r == RC_DROP_CLOSED)
			v += hs->send.discarded;	/* released unsent by a closing queue */
		rc_textbuf_put(o, "ringcast_drops_total{reason=\"%s\"} %llu\n", rc_drop_reason_name(r),
			       (unsigned long long)v);
	}
	rc_textbuf_put(o, "ringcast_drops_total{reason=\"kernel_udp\"} %llu\n",
		       (unsigned long long)us->kernel_drops);
	rc_textbuf_put(o, "ringcast_drops_total{reason=\"mux_bad_header\"} %llu\n",
		       (unsigned long long)t->srv.mux_bad_header);
	rc_textbuf_put(o, "ringcast_drops_total{reason=\"mux_no_channel\"} %llu\n",
		       (unsigned long long)t->srv.mux_no_channel);
}

static void uplink_drops(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	static const char *const names[RC_UPLINK_DROPS] = {
		[RC_UPLINK_NO_PUBLISHER] = "no_publisher",
		[RC_UPLINK_BACKLOG] = "backlog",
		[RC_UPLINK_NOMEM] = "no_memory",
	};

	header(o, "ringcast_uplink_dropped_total", "counter",
	       "Uplink messages that reached no publisher, by reason.");
	for (int r = 0; r < RC_UPLINK_DROPS; r++)
		rc_textbuf_put(o, "ringcast_uplink_dropped_total{reason=\"%s\"} %llu\n", names[r],
			       (unsigned long long)t->srv.uplink_dropped[r]);
}

static void nats_faults(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	static const char *const names[RC_NATS_FAULTS] = {
		[RC_NATS_FAULT_SLOW_CONSUMER] = "slow_consumer",
		[RC_NATS_FAULT_STALE] = "stale_connection",
		[RC_NATS_FAULT_AUTH] = "authorization",
		[RC_NATS_FAULT_PERMISSIONS] = "permissions",
		[RC_NATS_FAULT_OTHER_ERR] = "server_error",
		[RC_NATS_FAULT_NO_CREDS] = "auth_required",
		[RC_NATS_FAULT_TLS] = "tls_required",
		[RC_NATS_FAULT_PROTOCOL] = "protocol",
		[RC_NATS_FAULT_LOST] = "connection_lost",
		[RC_NATS_FAULT_PING] = "ping_timeout",
		[RC_NATS_FAULT_CONNECT] = "connect_failed",
	};

	header(o, "ringcast_nats_faults_total", "counter",
	       "NATS connections lost or refused and the server's -ERR answers, by reason "
	       "(nats-server cuts a slow consumer without -ERR: that shows as connection_lost).");
	for (int r = 0; r < RC_NATS_FAULTS; r++)
		rc_textbuf_put(o, "ringcast_nats_faults_total{reason=\"%s\"} %llu\n", names[r],
			       (unsigned long long)t->srv.nats_faults[r]);
}

static void refusals(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	const struct rc_udp_stats *us = &t->udp;

	header(o, "ringcast_access_refused_total", "counter",
	       "Requests, commands and datagrams refused by access control, by reason.");
	for (int r = 0; r < RC_REFUSE_REASONS; r++)
		rc_textbuf_put(o, "ringcast_access_refused_total{reason=\"%s\"} %llu\n",
			       rc_refuse_name(r),
			       (unsigned long long)(t->srv.refused[r] +
						    (r == RC_REFUSE_UDP_SOURCE ? us->denied : 0)));
}

static void ring_buffers(struct rc_textbuf *o, const char *name, const char *help,
			 uint64_t free, uint64_t in_use)
{
	header(o, name, "gauge", help);
	rc_textbuf_put(o, "%s{state=\"free\"} %llu\n%s{state=\"in_use\"} %llu\n", name,
		       (unsigned long long)free, name, (unsigned long long)in_use);
}

static void closes(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	static const uint16_t codes[9] = { 1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013, 0 };

	header(o, "ringcast_ws_closes_sent_total", "counter", "WebSocket close frames sent, by code.");
	for (int i = 0; i < 9; i++) {
		char code[8];

		snprintf(code, sizeof(code), "%u", codes[i]);
		rc_textbuf_put(o, "ringcast_ws_closes_sent_total{code=\"%s\"} %llu\n",
			       codes[i] ? code : "other",
			       (unsigned long long)t->srv.ws_closes_sent[i]);
	}
}

/* Subscribers (WebSocket, stream and SSE) of each worker: how evenly the
 * kernel spreads connections. */
static void per_worker(struct rc_textbuf *o, const struct rc_worker_counters *w, uint32_t n)
{
	header(o, "ringcast_worker_subscribers", "gauge",
	       "Subscribers (WebSocket, HTTP stream, SSE) served by each worker.");
	for (uint32_t i = 0; i < n; i++)
		rc_textbuf_put(o, "ringcast_worker_subscribers{worker=\"%u\"} %llu\n", i,
			       (unsigned long long)(w[i].srv.subscribers +
						    w[i].srv.stream_subscribers));
	header(o, "ringcast_worker_connections", "gauge",
	       "Open TCP connections (HTTP, WebSocket, publishers) of each worker.");
	for (uint32_t i = 0; i < n; i++)
		rc_textbuf_put(o, "ringcast_worker_connections{worker=\"%u\"} %llu\n", i,
			       (unsigned long long)(w[i].srv.connections + w[i].srv.publishers));
}

/* The NATS server each connected worker uses (state.h's nats_server
 * words), as an info metric. */
static void nats_servers(struct rc_textbuf *o, const struct rc_worker_counters *w, uint32_t n)
{
	header(o, "ringcast_nats_server_info", "gauge",
	       "The NATS server each worker is connected to (workers not connected have no line).");
	for (uint32_t i = 0; i < n; i++) {
		const uint64_t *s = w[i].srv.nats_server;
		struct sockaddr_storage ss = { 0 };
		char addr[80];

		if (!w[i].srv.nats_connected || !s[0])
			continue;
		if (s[0] >> 16 == AF_INET) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)s[0]);
			memcpy(&a4->sin_addr, &s[1], sizeof(a4->sin_addr));
		} else {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)s[0]);
			memcpy(&a6->sin6_addr, &s[1], sizeof(a6->sin6_addr));
		}
		/* A numeric address: nothing to escape in the label. */
		rc_config_format_addr((const struct sockaddr *)&ss, addr, sizeof(addr));
		rc_textbuf_put(o, "ringcast_nats_server_info{worker=\"%u\",server=\"%s\"} 1\n", i,
			       addr);
	}
}

/* From ingest on another node to fan-out here: its clock against ours. */
static void nats_latency(struct rc_textbuf *o, const struct rc_worker_counters *t)
{
	static const char name[] = "ringcast_nats_latency_seconds";
	uint64_t cum = 0;

	header(o, name, "histogram",
	       "Time from ingest on another node to fan-out here (clocks of two machines).");
	for (int b = 0; b < RC_NATS_LAT_BUCKETS; b++) {
		cum += t->srv.nats_lat[b];
		if (b < RC_NATS_LAT_BUCKETS - 1)
			rc_textbuf_put(o, "%s_bucket{le=\"%g\"} %llu\n", name,
				       (double)rc_cluster_lat_bounds_us[b] / 1e6,
				       (unsigned long long)cum);
		else
			rc_textbuf_put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
				       (unsigned long long)cum);
	}
	rc_textbuf_put(o, "%s_sum %.6f\n%s_count %llu\n", name,
		       (double)t->srv.nats_lat_sum_us / 1e6, name, (unsigned long long)cum);
}

char *rc_metrics_render(struct rc_server *srv, size_t *len)
{
	uint32_t n = srv->proc->nworkers;
	struct rc_worker_counters *w = calloc(n, sizeof(*w));
	struct rc_worker_counters t = { 0 };
	const void *base[NSOURCES];
	struct rc_textbuf o;

	if (!w)
		return NULL;
	/* This worker's counters as they are; the others' as their last turn
	 * left them (rc_metrics_publish). */
	for (uint32_t i = 0; i < n; i++) {
		if (i == srv->id)
			collect(srv, &w[i]);
		else
			rc_snap_read(&srv->proc->snaps[i], (uint64_t *)&w[i]);
		add_counters(&t, &w[i]);
	}
	base[SRV] = &t.srv;
	base[HUB] = &t.hub;
	base[SEND] = &t.hub.send;
	base[LOOP] = &t.loop;
	base[UDP] = &t.udp;
	rc_textbuf_init(&o, 8192);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		const struct counter *c = &counters[i];

		metric(&o, c->name, c->type, c->help,
		       *(const uint64_t *)((const char *)base[c->src] + c->off));
	}
	metric(&o, "ringcast_channels", "gauge", "Channels that exist now.",
	       rc_chanreg_count(&srv->proc->chanreg));
	per_channel(&o, srv, "ringcast_subscribers", "gauge", "Subscribers per channel.", F_SUBS);
	per_channel(&o, srv, "ringcast_ingest_messages_total", "counter",
		    "Messages received per channel.", F_MSGS);
	per_channel(&o, srv, "ringcast_ingest_bytes_total", "counter",
		    "Payload bytes received per channel.", F_BYTES);
	drops(&o, &t);
	refusals(&o, &t);
	uplink_drops(&o, &t);
	ring_buffers(&o, "ringcast_bufring_buffers", "Ingest ring buffers by state.",
		     t.ingest_free, t.ingest_in_use);
	ring_buffers(&o, "ringcast_large_bufring_buffers",
		     "Large ingest buffers (for long UDP datagrams) by state.", t.large_free,
		     t.large_in_use);
	ring_buffers(&o, "ringcast_client_bufring_buffers", "Client receive ring buffers by state.",
		     t.client_free, t.client_in_use);
	closes(&o, &t);
	metric(&o, "ringcast_workers", "gauge", "Workers (loops, one thread each): --workers.", n);
	per_worker(&o, w, n);
	nats_latency(&o, &t);
	nats_faults(&o, &t);
	if (srv->cfg->nats.len)
		nats_servers(&o, w, n);
	metric(&o, "ringcast_relayed_total", "counter",
	       "Hand-offs of a message from the worker that received it to another worker.",
	       t.srv.relayed_out);
	metric(&o, "ringcast_relay_unclaimed_total", "counter",
	       "Hand-offs that found no subscriber left on their worker.", t.srv.relay_unclaimed);
	free(w);
	/* The reason is a fixed text of core's (loop.h): no quotes to escape. */
	header(&o, "ringcast_backend_info", "gauge",
	       "The loop's kernel interface (io_uring or epoll) and why it was chosen.");
	rc_textbuf_put(&o, "ringcast_backend_info{backend=\"%s\",reason=\"%s\"} 1\n",
		       rc_loop_backend_name(srv->loop), rc_loop_backend_reason(srv->loop));
	metric(&o, "ringcast_memory_bytes", "gauge",
	       "Memory ringcast holds: buffer rings, queues, messages, caches, connections.",
	       rc_mem_used());
	metric(&o, "ringcast_memory_limit_bytes", "gauge", "--max-memory (0: no bound).",
	       srv->cfg->max_memory);
	return rc_textbuf_take(&o, len);
}
