/* Prometheus text exposition (format 0.0.4) of every counter ringcast keeps. */
#include "mem.h"
#include "server.h"
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

/* Channel names are restricted to [A-Za-z0-9._-], so labels need no escaping. */
static void chan_line(struct rc_channel *ch, void *arg)
{
	struct chan_walk *w = arg;
	uint64_t v = w->field == F_SUBS ? ch->nsubs : w->field == F_MSGS ? ch->msgs_in : ch->bytes_in;

	rc_textbuf_put(w->o, "%s{channel=\"%s\"} %llu\n", w->name, ch->name, (unsigned long long)v);
}

static void per_channel(struct rc_textbuf *o, struct rc_server *srv, const char *name, const char *type,
			const char *help, enum chan_field f)
{
	struct chan_walk w = { .o = o, .field = f, .name = name };

	header(o, name, type, help);
	rc_hub_foreach(&srv->hub, chan_line, &w);
}

char *rc_metrics_render(struct rc_server *srv, size_t *len)
{
	static const uint16_t close_codes[9] = { 1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013, 0 };
	const struct rc_loop_stats *ls = rc_loop_stats(srv->loop);
	const struct rc_hub_stats *hs = &srv->hub.stats;
	struct rc_udp_stats us = { 0 };
	struct rc_textbuf o;

	rc_textbuf_init(&o, 8192);
	for (size_t i = 0; i < srv->ningest; i++) {
		const struct rc_udp_stats *s = &srv->ingest[i].port.stats;

		us.datagrams += s->datagrams;
		us.bytes += s->bytes;
		us.truncated += s->truncated;
		us.kernel_drops += s->kernel_drops;
		us.enobufs += s->enobufs;
		us.rearms += s->rearms;
		us.errors += s->errors;
	}

	metric(&o, "ringcast_connections", "gauge", "Open TCP connections (HTTP and WebSocket).",
	       srv->stats.connections);
	metric(&o, "ringcast_connections_accepted_total", "counter", "TCP connections accepted.",
	       srv->stats.accepted);
	metric(&o, "ringcast_accept_errors_total", "counter",
	       "Failed accepts (EMFILE, ENFILE, out of memory).", srv->stats.accept_errors);
	metric(&o, "ringcast_ws_subscribers", "gauge", "WebSocket subscribers (all channels).",
	       srv->stats.subscribers);
	metric(&o, "ringcast_stream_subscribers", "gauge",
	       "HTTP stream and SSE subscribers (all channels).", srv->stats.stream_subscribers);
	metric(&o, "ringcast_publishers", "gauge", "TCP publisher connections.",
	       srv->stats.publishers);
	metric(&o, "ringcast_publishers_refused_total", "counter",
	       "TCP publishers answered ERR (bad line, busy channel, framing error).",
	       srv->stats.pub_refused);
	metric(&o, "ringcast_publisher_framing_errors_total", "counter",
	       "Framed TCP messages announced longer than --max-message.",
	       srv->stats.pub_framing_errors);
	metric(&o, "ringcast_publisher_partial_dropped_total", "counter",
	       "Framed TCP messages (or raw MPEG-TS packets) cut off by the publisher leaving; "
	       "never delivered.",
	       srv->stats.pub_partial_dropped);
	metric(&o, "ringcast_http_publishes_total", "counter",
	       "POST/PUT /pub/<channel> requests accepted.", srv->stats.http_publishes);
	metric(&o, "ringcast_http_publish_bad_bodies_total", "counter",
	       "HTTP publishes with a malformed chunked body (400).", srv->stats.pub_bad_bodies);
	metric(&o, "ringcast_http_publish_incomplete_total", "counter",
	       "HTTP publishers that left before the end of their body.",
	       srv->stats.pub_incomplete);
	metric(&o, "ringcast_channels", "gauge", "Channels that exist now.", srv->hub.nchannels);
	per_channel(&o, srv, "ringcast_subscribers", "gauge", "Subscribers per channel.", F_SUBS);
	per_channel(&o, srv, "ringcast_ingest_messages_total", "counter",
		    "Messages received per channel.", F_MSGS);
	per_channel(&o, srv, "ringcast_ingest_bytes_total", "counter",
		    "Payload bytes received per channel.", F_BYTES);
	metric(&o, "ringcast_fanout_batches_total", "counter",
	       "Fan-out batches: small frames of one loop turn copied once and sent to each "
	       "WebSocket subscriber as one piece.", hs->batches);
	metric(&o, "ringcast_fanout_batched_messages_total", "counter",
	       "Messages that went out in fan-out batches.", hs->batched_msgs);
	metric(&o, "ringcast_published_messages_total", "counter",
	       "Messages published into channels, every ingest path (channels come and go; this "
	       "total stays).", srv->stats.published);
	metric(&o, "ringcast_published_bytes_total", "counter",
	       "Payload bytes published into channels, every ingest path.",
	       srv->stats.published_bytes);
	metric(&o, "ringcast_udp_datagrams_total", "counter", "UDP datagrams received.",
	       us.datagrams);
	metric(&o, "ringcast_ingest_pauses_total", "counter",
	       "UDP receives paused because every ingest buffer was in use (-ENOBUFS); "
	       "datagrams wait in the socket meanwhile.", us.enobufs);
	metric(&o, "ringcast_udp_rearms_total", "counter", "Multishot UDP receives re-armed.",
	       us.rearms);
	metric(&o, "ringcast_udp_errors_total", "counter", "Unexpected UDP receive errors.",
	       us.errors);
	metric(&o, "ringcast_delivered_frames_total", "counter",
	       "Data frames fully sent to subscribers.", hs->send.frames);
	metric(&o, "ringcast_delivered_bytes_total", "counter",
	       "Bytes of data frames fully sent to subscribers (headers included).", hs->send.bytes);
	metric(&o, "ringcast_sends_total", "counter", "sendmsg operations completed.",
	       hs->send.sends);
	metric(&o, "ringcast_short_sends_total", "counter",
	       "Sends that wrote less than asked and were resumed.", hs->send.short_sends);
	metric(&o, "ringcast_zc_sends_total", "counter", "Frames sent with SEND_ZC (--zc-min).",
	       hs->send.zc_sends);
	metric(&o, "ringcast_zc_copied_total", "counter",
	       "SEND_ZC sends the kernel reported it copied anyway (always on loopback).",
	       hs->send.zc_copied);
	header(&o, "ringcast_drops_total", "counter",
	       "Messages or subscribers dropped, by reason.");
	for (int r = 0; r < RC_DROP_REASONS; r++) {
		uint64_t v = hs->drops[r];

		if (r == RC_DROP_TRUNCATED)
			v += us.truncated;
		else if (r == RC_DROP_CLOSED)
			v += hs->send.discarded;	/* released unsent by a closing queue */
		rc_textbuf_put(&o, "ringcast_drops_total{reason=\"%s\"} %llu\n", rc_drop_reason_name(r),
		    (unsigned long long)v);
	}
	rc_textbuf_put(&o, "ringcast_drops_total{reason=\"kernel_udp\"} %llu\n",
	    (unsigned long long)us.kernel_drops);
	rc_textbuf_put(&o, "ringcast_drops_total{reason=\"mux_bad_header\"} %llu\n",
	    (unsigned long long)srv->stats.mux_bad_header);
	rc_textbuf_put(&o, "ringcast_drops_total{reason=\"mux_no_channel\"} %llu\n",
	    (unsigned long long)srv->stats.mux_no_channel);
	header(&o, "ringcast_access_refused_total", "counter",
	       "Requests, commands and datagrams refused by access control, by reason.");
	for (int r = 0; r < RC_REFUSE_REASONS; r++) {
		uint64_t v = srv->stats.refused[r];

		if (r == RC_REFUSE_UDP_SOURCE)
			for (size_t i = 0; i < srv->ningest; i++)
				v += srv->ingest[i].port.stats.denied;
		rc_textbuf_put(&o, "ringcast_access_refused_total{reason=\"%s\"} %llu\n",
		    rc_refuse_name(r), (unsigned long long)v);
	}
	metric(&o, "ringcast_buffer_pressure_runs_total", "counter",
	       "Times the buffer ring ran low and the slow-holder policy ran.", hs->pressure_runs);
	header(&o, "ringcast_bufring_buffers", "gauge", "Ingest ring buffers by state.");
	rc_textbuf_put(&o, "ringcast_bufring_buffers{state=\"free\"} %u\n",
	    rc_bufring_free(srv->ingest_ring));
	rc_textbuf_put(&o, "ringcast_bufring_buffers{state=\"in_use\"} %u\n", srv->ingest_ring->in_use);
	header(&o, "ringcast_client_bufring_buffers", "gauge",
	       "Client receive ring buffers by state.");
	rc_textbuf_put(&o, "ringcast_client_bufring_buffers{state=\"free\"} %u\n",
	    rc_bufring_free(srv->client_ring));
	rc_textbuf_put(&o, "ringcast_client_bufring_buffers{state=\"in_use\"} %u\n",
	    srv->client_ring->in_use);
	metric(&o, "ringcast_http_requests_total", "counter", "HTTP requests parsed.",
	       srv->stats.http_requests);
	metric(&o, "ringcast_http_errors_total", "counter", "HTTP requests answered 4xx/5xx.",
	       srv->stats.http_errors);
	metric(&o, "ringcast_static_served_total", "counter", "Static files answered 200.",
	       srv->stats.static_served);
	metric(&o, "ringcast_static_rejected_total", "counter",
	       "Static file paths refused (traversal, encoded slashes, bad bytes).",
	       srv->stats.static_rejected);
	metric(&o, "ringcast_ws_upgrades_total", "counter", "WebSocket upgrades completed.",
	       srv->stats.ws_upgrades);
	header(&o, "ringcast_ws_closes_sent_total", "counter", "WebSocket close frames sent, by code.");
	for (int i = 0; i < 9; i++) {
		if (close_codes[i])
			rc_textbuf_put(&o, "ringcast_ws_closes_sent_total{code=\"%u\"} %llu\n", close_codes[i],
			    (unsigned long long)srv->stats.ws_closes_sent[i]);
		else
			rc_textbuf_put(&o, "ringcast_ws_closes_sent_total{code=\"other\"} %llu\n",
			    (unsigned long long)srv->stats.ws_closes_sent[i]);
	}
	metric(&o, "ringcast_client_frames_discarded_total", "counter",
	       "Data messages sent by subscribers, read and discarded.", srv->stats.client_frames);
	metric(&o, "ringcast_client_bytes_discarded_total", "counter",
	       "Payload bytes sent by subscribers, read and discarded.", srv->stats.client_bytes);
	metric(&o, "ringcast_handshake_timeouts_total", "counter",
	       "Connections closed for not completing a request in time.",
	       srv->stats.handshake_timeouts);
	metric(&o, "ringcast_idle_timeouts_total", "counter",
	       "Keep-alive HTTP connections and channel-less WebSockets closed for idling.",
	       srv->stats.idle_timeouts);
	metric(&o, "ringcast_ping_timeouts_total", "counter",
	       "Subscribers closed for not answering a ping.", srv->stats.ping_timeouts);
	metric(&o, "ringcast_client_enobufs_total", "counter",
	       "Client receives paused because the client ring was empty.",
	       srv->stats.client_enobufs);
	metric(&o, "ringcast_backpressure_pauses_total", "counter",
	       "Times a connection's input was stopped because its queued output (or its "
	       "held input) was over its bound.", srv->stats.backpressure_pauses);
	metric(&o, "ringcast_backpressure_timeouts_total", "counter",
	       "Connections closed for staying stopped by their backlog past --idle-timeout.",
	       srv->stats.backpressure_timeouts);
	metric(&o, "ringcast_input_overflows_total", "counter",
	       "Connections closed for holding more unhandled input than allowed.",
	       srv->stats.input_overflows);
	metric(&o, "ringcast_ws_commands_limited_total", "counter",
	       "WebSockets closed (1008) for sending commands faster than --ws-command-rate.",
	       srv->stats.ws_commands_limited);
	metric(&o, "ringcast_memory_bytes", "gauge",
	       "Memory ringcast holds: buffer rings, queues, messages, caches, connections.",
	       rc_mem_used());
	metric(&o, "ringcast_memory_limit_bytes", "gauge", "--max-memory (0: no bound).",
	       srv->cfg.max_memory);
	metric(&o, "ringcast_memory_refused_total", "counter",
	       "Subscriptions and publishes refused (503, 1013) past --max-memory.",
	       srv->stats.memory_refused);
	metric(&o, "ringcast_memory_shed_total", "counter",
	       "Connections closed, largest first, to get back under --max-memory.",
	       srv->stats.memory_shed);
	/* The reason is a fixed text of core's (loop.h): no quotes to escape. */
	header(&o, "ringcast_backend_info", "gauge",
	       "The loop's kernel interface (io_uring or epoll) and why it was chosen.");
	rc_textbuf_put(&o, "ringcast_backend_info{backend=\"%s\",reason=\"%s\"} 1\n",
	    rc_loop_backend_name(srv->loop), rc_loop_backend_reason(srv->loop));
	metric(&o, "ringcast_ring_submissions_total", "counter",
	       "SQEs submitted to io_uring (epoll backend: operations started).", ls->submissions);
	metric(&o, "ringcast_ring_enters_total", "counter",
	       "io_uring_enter calls by the loop (epoll backend: epoll_wait calls).", ls->enters);
	metric(&o, "ringcast_ring_cqes_total", "counter", "Completions processed.", ls->cqes);
	metric(&o, "ringcast_ring_cq_overflow_total", "counter",
	       "Completions that overflowed the CQ (kernel count).", ls->cq_overflow);
	metric(&o, "ringcast_ring_sq_full_total", "counter",
	       "Times the SQ filled up within a turn.", ls->sq_full);
	metric(&o, "ringcast_ring_extra_passes_total", "counter",
	       "Enters that ran pending kernel task work before a turn's batches closed.",
	       ls->extra_passes);
	metric(&o, "ringcast_ring_capped_turns_total", "counter",
	       "Turns that left sends for the next turn so new input is taken in sooner.",
	       ls->capped_turns);
	return rc_textbuf_take(&o, len);
}
