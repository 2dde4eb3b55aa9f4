/* Subscribers: starting one, a WebSocket's input and closing handshake,
 * eviction, timers. */
#include "subscriber.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cache.h"
#include "chan.h"
#include "compress.h"
#include "log.h"
#include "state.h"
#include "uplink_in.h"

#define CLIENT_MAX_MESSAGE (1u << 20)	/* subscriber data is discarded; bound it anyway */
#define CLOSE_WAIT_MS 2000
#define SSE_HEARTBEAT_MS 15000

int rc_subscriber_close_slot(uint16_t code)
{
	switch (code) {
	case 1000: return 0;
	case 1001: return 1;
	case 1002: return 2;
	case 1007: return 3;
	case 1008: return 4;
	case 1009: return 5;
	case 1011: return 6;
	case 1013: return 7;
	default: return 8;
	}
}

void rc_subscriber_init(struct rc_conn *c, struct rc_server *srv)
{
	const struct rc_config *cfg = srv->cfg;

	c->sub.q = &c->st.q;
	c->sub.owner = c;
	c->sub.max_queue = cfg->max_queue;
	c->sub.policy = (uint8_t)cfg->slow;
	c->sub.evict = rc_subscriber_evict;
}

/* Recovered when the position is of ch's
 * current history and either nothing was published after it (checked
 * against the channel's sequence: what is published from here on reaches
 * this subscriber live, see rc_chanreg_ent.interest), or this worker's
 * cache gives exactly every message from it to the newest this worker has
 * (the rest of a cached channel's messages is on its way to every worker
 * and arrives live). Video (ts) caches resume nothing: a viewer that did
 * not recover starts as a plain joiner does, at a keyframe. */
void rc_subscriber_resume(struct rc_conn *c, struct rc_sub *s, struct rc_channel *ch,
			  const struct rc_resume *res, const char *key)
{
	struct rc_server *srv = c->st.srv;
	struct rc_cache *cache = rc_chan_cache(ch);
	struct rc_chan *st = rc_chan_peek(ch);
	bool remote = st && st->remote_epoch;
	uint64_t epoch = rc_chan_epoch(ch);
	uint64_t last = st ? st->last_seq : 0;
	/* A channel fed from another node: its positions are the origin's,
	 * and the newest this worker has is what it can vouch for (the rest
	 * is on its way through NATS, which promises no more). */
	uint64_t now = remote ? last : ch->shared ? rc_chanreg_seq_now(ch->shared) : 0;
	bool same = epoch && res->epoch == epoch;
	bool recovered = same && res->since == now, whole = false;
	uint32_t want = 0;
	char text[RC_CHANNEL_NAME_MAX + 128];

	if (same && !recovered && cache) {
		want = rc_cache_resume(cache, s, res->since, last, false, &whole);
		recovered = whole;
	}
	snprintf(text, sizeof(text),
		 "{\"%s\":\"%s\",\"recovered\":%s,\"epoch\":\"%016llx\",\"seq\":%llu}",
		 key, ch->name, recovered ? "true" : "false", (unsigned long long)epoch,
		 (unsigned long long)now);
	rc_subscriber_reply(c, "%s%s", text, "");
	if (recovered)
		srv->stats.resumed++;
	else
		srv->stats.resume_gaps++;
	if (whole && want &&
	    (rc_cache_resume(cache, s, res->since, last, true, &whole) != want || !whole)) {
		/* The answer's own bytes left the replay too little room, or
		 * memory ran out: it must not go on with a gap it was told it
		 * does not have. It can resume again. */
		rc_log_debug("fd %d: resume of %s cut short, closing with 1011", c->st.fd, ch->name);
		rc_hub_drop_pending(&srv->hub, &c->sub);
		rc_subscriber_close(c, RC_WS_CLOSE_INTERNAL);
		return;
	}
	if (!recovered && cache && cache->ts)
		rc_cache_replay(cache, s, 0);
}

int rc_subscriber_start(struct rc_conn *c, struct rc_channel *ch, enum rc_sub_kind kind,
			const struct rc_resume *res)
{
	struct rc_server *srv = c->st.srv;
	int ret;

	c->sub.kind = (uint8_t)kind;
	c->sub.deflate = rc_subscriber_wants_z(c, ch);
	c->sub.uplink_ok = c->uplink_ok;
	c->sub.policy = (uint8_t)rc_config_slow(srv->cfg, ch->name);
	c->sub.max_queue = rc_config_max_queue(srv->cfg, ch->name);
	/* The bound holds for all workers together: the route checked it
	 * already, and the subscription's reservation keeps it when workers
	 * race for the last place. */
	ch->max_subs = rc_config_max_subscribers(srv->cfg, ch->name);
	ret = rc_hub_subscribe(&srv->hub, ch, &c->sub);
	if (ret < 0) {
		if (ret == -EUSERS)
			srv->stats.refused[RC_REFUSE_SUBSCRIBERS]++;
		rc_hub_release(&srv->hub, ch);
		return ret;
	}
	if (res && res->answer) {
		rc_subscriber_resume(c, &c->sub, ch, res, "channel");
		return 0;
	}
	if (rc_chan_cache(ch))
		rc_cache_replay(rc_chan_cache(ch), &c->sub,
				res && res->epoch && res->epoch == rc_chan_epoch(ch) ? res->since : 0);
	return 0;
}

bool rc_subscriber_wants_z(const struct rc_conn *c, const struct rc_channel *ch)
{
	uint32_t min;

	return c->deflate && rc_config_compress(c->st.srv->cfg, ch->name, &min);
}

struct rc_sub *rc_subscriber_find(struct rc_conn *c, const char *name, size_t len)
{
	if (c->sub.ch && c->sub.ch->name_len == len && !memcmp(c->sub.ch->name, name, len))
		return &c->sub;
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		if (c->extra[i].ch && c->extra[i].ch->name_len == len &&
		    !memcmp(c->extra[i].ch->name, name, len))
			return &c->extra[i];
	return NULL;
}

bool rc_subscriber_any(const struct rc_conn *c)
{
	if (c->sub.ch)
		return true;
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		if (c->extra[i].ch)
			return true;
	return false;
}

void rc_subscriber_leave_all(struct rc_conn *c)
{
	struct rc_hub *hub = &c->st.srv->hub;

	rc_hub_unsubscribe(hub, &c->sub);
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		rc_hub_unsubscribe(hub, &c->extra[i]);
}

size_t rc_subscriber_held(const struct rc_conn *c)
{
	return (c->wsin ? sizeof(*c->wsin) : 0) + rc_uplink_in_held(c) +
	       (c->extra ? (RC_CONN_MAX_SUBS - 1) * sizeof(*c->extra) : 0);
}

void rc_subscriber_close(struct rc_conn *c, uint16_t code)
{
	struct rc_server *srv = c->st.srv;
	uint8_t *frame;
	size_t len;

	if (c->state == RC_CONN_STREAM) {
		/* A byte stream has no close frame: end it after what is queued. */
		rc_hub_unsubscribe(&srv->hub, &c->sub);
		c->st.close_after_send = true;
		c->state = RC_CONN_CLOSING;
		c->mark_ms = (uint32_t)rc_loop_now_ms(srv->loop);
		if (!rc_sendq_busy(&c->st.q) && !c->st.q.count)
			rc_conn_close(c);
		return;
	}
	if (c->state != RC_CONN_WS) {
		if (c->state == RC_CONN_HTTP)
			rc_conn_close(c);
		return;
	}
	/* The subscriber leaves its channels now: nothing may follow the close
	 * frame, and messages still queued are sent first (never cut). */
	rc_subscriber_leave_all(c);
	frame = malloc(2 + RC_WS_CONTROL_MAX);
	if (!frame) {
		rc_conn_close(c);
		return;
	}
	len = rc_ws_close_encode(frame, code, NULL, 0);
	if (rc_sendq_push_heap(&c->st.q, frame, (uint32_t)len) < 0) {
		rc_conn_close(c);
		return;
	}
	srv->stats.ws_closes_sent[rc_subscriber_close_slot(code)]++;
	c->close_sent = true;
	c->state = RC_CONN_CLOSING;
	c->mark_ms = (uint32_t)rc_loop_now_ms(srv->loop);
}

void rc_subscriber_evict(struct rc_sub *s, enum rc_drop_reason reason)
{
	struct rc_conn *c = s->owner;

	rc_log_debug("subscriber fd %d evicted: %s", c->st.fd, rc_drop_reason_name(reason));
	if (reason == RC_DROP_STALLED) {
		/* Its socket accepts nothing: a close frame would never leave. */
		rc_conn_close(c);
		return;
	}
	/* Over its bound: what it has not been sent yet is dropped so the close
	 * frame goes out right after the frame in flight. */
	rc_hub_drop_pending(&c->st.srv->hub, s);
	rc_subscriber_close(c, RC_WS_CLOSE_POLICY);
}

/* Queues a control frame (pong, close echo) from a heap copy: the payload
 * points into the parser, which the next parse call overwrites. */
static void queue_control(struct rc_conn *c, unsigned opcode, const uint8_t *data, size_t len)
{
	size_t hl = rc_ws_header_size(len);
	uint8_t *frame = malloc(hl + len);

	if (!frame) {
		rc_conn_close(c);
		return;
	}
	rc_ws_header_encode(frame, opcode, true, len);
	if (len)
		memcpy(frame + hl, data, len);
	rc_sendq_push_heap(&c->st.q, frame, (uint32_t)(hl + len));
}

void rc_subscriber_reply(struct rc_conn *c, const char *fmt, const char *a, const char *b)
{
	char text[RC_WS_CMD_MAX];
	int n = snprintf(text, sizeof(text), fmt, a, b);

	if (n <= 0 || (size_t)n >= sizeof(text) || rc_sendq_charge(&c->st.q) >= c->sub.max_queue)
		return;
	queue_control(c, RC_WS_OP_TEXT, (const uint8_t *)text, (size_t)n);
}

/* A close frame from the peer: echo its code (an empty close if it sent
 * none) and close once the echo is out; or, when ours went first, close. */
static void peer_close(struct rc_conn *c, uint16_t code)
{
	struct rc_server *srv = c->st.srv;

	if (c->close_sent) {
		rc_conn_close(c);
		return;
	}
	rc_subscriber_leave_all(c);
	if (code == RC_WS_CLOSE_NO_STATUS) {
		queue_control(c, RC_WS_OP_CLOSE, NULL, 0);
	} else {
		uint8_t b[2] = { (uint8_t)(code >> 8), (uint8_t)code };

		queue_control(c, RC_WS_OP_CLOSE, b, 2);
	}
	if (c->st.dead)
		return;
	srv->stats.ws_closes_sent[rc_subscriber_close_slot(code)]++;
	c->close_sent = true;
	c->state = RC_CONN_CLOSING;
	c->mark_ms = (uint32_t)rc_loop_now_ms(srv->loop);
	/* Nothing more is read; closing when the echo is sent. */
	c->st.close_after_send = true;
}

void rc_subscriber_inflate_failed(struct rc_conn *c, ssize_t err)
{
	struct rc_server *srv = c->st.srv;

	srv->stats.inflate_closed++;
	rc_log_debug("fd %d: compressed message %s, closing", c->st.fd,
		     err == -EMSGSIZE ? "too big" : err == -EBADMSG ? "corrupt" : "not inflated");
	rc_hub_drop_pending(&srv->hub, &c->sub);
	rc_subscriber_close(c, err == -EMSGSIZE ? RC_WS_CLOSE_TOO_BIG
				: err == -EBADMSG ? RC_WS_CLOSE_BAD_DATA : RC_WS_CLOSE_INTERNAL);
}

/* A command that came compressed (RSV1): inflated within the command
 * bound (1009 past it, 1007 when it is no DEFLATE data or no UTF-8). */
static void compressed_command(struct rc_conn *c, const uint8_t *msg, size_t len)
{
	const uint8_t *text;
	ssize_t n = rc_compress_inflate(c->st.srv, msg, len, RC_WS_CMD_MAX, &text);
	struct rc_utf8 u;

	if (n < 0) {
		rc_subscriber_inflate_failed(c, n);
		return;
	}
	rc_utf8_init(&u);
	if (!rc_utf8_feed(&u, text, (size_t)n) || !rc_utf8_complete(&u)) {
		rc_subscriber_inflate_failed(c, -EBADMSG);
		return;
	}
	rc_subscriber_command(c, text, (size_t)n);
}

/* Client frames parsed with `in`. Stops before a frame the connection may
 * not handle now (rc_stream_can_work) or once it stopped reading. Returns
 * the bytes it consumed. */
static size_t parse_input(struct rc_conn *c, struct rc_conn_wsin *in, uint8_t *data, size_t len)
{
	struct rc_server *srv = c->st.srv;
	size_t done = 0;

	while (done < len && (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)) {
		struct rc_ws_event ev;
		size_t used;

		if (!rc_stream_can_work(&c->st))
			break;
		used = rc_ws_parse(&in->parser, data + done, len - done, &ev);
		done += used;
		if (ev.type != RC_WS_EV_NONE)
			rc_stream_did_work(&c->st);
		switch (ev.type) {
		case RC_WS_EV_NONE:
			break;
		case RC_WS_EV_DATA:
			/* Text messages may be commands ({"sub":...}); binary
			 * ones go to a publisher on a channel with uplink
			 * (uplink_in.h), else they are read, counted and
			 * dropped. */
			srv->stats.client_bytes += ev.len;
			if (ev.opcode == RC_WS_OP_BINARY) {
				rc_uplink_in(c, ev.data, ev.len, ev.fin, ev.compressed);
				break;
			}
			if (ev.opcode == RC_WS_OP_TEXT) {
				if (in->cmd_len + ev.len <= RC_WS_CMD_MAX)
					memcpy(in->cmd + in->cmd_len, ev.data, ev.len);
				in->cmd_len = in->cmd_len + ev.len <= RC_WS_CMD_MAX
						      ? in->cmd_len + (uint32_t)ev.len
						      : RC_WS_CMD_MAX + 1;
			}
			if (ev.fin) {
				if (ev.opcode == RC_WS_OP_TEXT && in->cmd_len <= RC_WS_CMD_MAX &&
				    c->state == RC_CONN_WS && ev.compressed)
					compressed_command(c, in->cmd, in->cmd_len);
				else if (ev.opcode == RC_WS_OP_TEXT && in->cmd_len <= RC_WS_CMD_MAX &&
					 c->state == RC_CONN_WS)
					rc_subscriber_command(c, in->cmd, in->cmd_len);
				else
					srv->stats.client_frames++;
				in->cmd_len = 0;
			}
			break;
		case RC_WS_EV_PING:
			/* A ping flood must not grow the queue without bound: past
			 * the subscriber's bound pongs are skipped, which RFC 6455
			 * allows (only the latest ping needs an answer). */
			if (c->state == RC_CONN_WS && rc_sendq_charge(&c->st.q) < c->sub.max_queue)
				queue_control(c, RC_WS_OP_PONG, ev.data, ev.len);
			break;
		case RC_WS_EV_PONG:
			c->ping_outstanding = false;
			break;
		case RC_WS_EV_CLOSE:
			peer_close(c, ev.close_code);
			return len;
		case RC_WS_EV_ERROR:
			rc_log_debug("fd %d: protocol error, closing with %u", c->st.fd,
				     ev.close_code);
			rc_subscriber_close(c, ev.close_code);
			c->st.close_after_send = true;
			return len;
		}
		if (used == 0 && ev.type == RC_WS_EV_NONE)
			break;
	}
	return c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING ? done : len;
}

/* A connection between frames keeps no parser: its input is parsed with
 * the loop's scratch state, which is copied to the connection only when the
 * input ends inside a frame or a fragmented message (or after a close or an
 * error, which a parser remembers). */
size_t rc_subscriber_input(struct rc_conn *c, uint8_t *data, size_t len)
{
	struct rc_conn_wsin *in = c->wsin;
	size_t used;

	if (!in) {
		in = &c->st.srv->ws_scratch;
		rc_ws_parser_init(&in->parser, true, CLIENT_MAX_MESSAGE);
		if (c->deflate)
			rc_ws_parser_allow_deflate(&in->parser);
		in->cmd_len = 0;
	}
	used = parse_input(c, in, data, len);
	if (rc_ws_parser_at_rest(&in->parser)) {
		/* No message is open, so no command is half read either. */
		if (c->wsin) {
			free(c->wsin);
			c->wsin = NULL;
			rc_stream_account(&c->st);
		}
	} else if (!c->wsin && !c->st.dead) {
		c->wsin = malloc(sizeof(*c->wsin));
		if (!c->wsin) {
			rc_conn_close(c);
			return len;
		}
		memcpy(c->wsin, in, offsetof(struct rc_conn_wsin, cmd) + (in->cmd_len <= RC_WS_CMD_MAX
									       ? in->cmd_len : 0));
		rc_stream_account(&c->st);
	}
	return used;
}

void rc_subscriber_tick(struct rc_conn *c, uint64_t now)
{
	static const uint8_t ping[2] = { 0x89, 0x00 };
	static const uint8_t sse_heartbeat[] = ": heartbeat\n\n";
	struct rc_server *srv = c->st.srv;

	switch (c->state) {
	case RC_CONN_WS:
		/* A WebSocket that subscribes to nothing (GET /ws, or every
		 * channel left) only holds a descriptor. */
		if (rc_subscriber_any(c)) {
			c->nosub = false;
		} else if (!c->nosub) {
			c->nosub = true;
			c->mark_ms = (uint32_t)now;
		} else if (rc_stream_since(c->mark_ms, now) >= srv->cfg->idle_timeout_ms) {
			srv->stats.idle_timeouts++;
			rc_subscriber_close(c, RC_WS_CLOSE_NORMAL);
			break;
		}
		if (rc_stream_since(c->st.last_in_ms, now) < srv->cfg->ping_interval_ms)
			break;
		if (c->ping_outstanding) {
			srv->stats.ping_timeouts++;
			rc_conn_close(c);
			break;
		}
		c->ping_outstanding = true;
		c->st.last_in_ms = (uint32_t)now;
		rc_sendq_push_static(&c->st.q, ping, sizeof(ping));
		break;
	case RC_CONN_CLOSING:
		if (rc_stream_since(c->mark_ms, now) >= CLOSE_WAIT_MS)
			rc_conn_close(c);
		break;
	case RC_CONN_STREAM:
		/* A comment line now and then keeps proxies and load balancers
		 * from closing a quiet event stream. The stream reads nothing,
		 * so its input clock marks the last heartbeat. */
		if (c->sub.kind == RC_SUB_ALT &&
		    rc_stream_since(c->st.last_in_ms, now) >= SSE_HEARTBEAT_MS) {
			c->st.last_in_ms = (uint32_t)now;
			rc_sendq_push_static(&c->st.q, sse_heartbeat, sizeof(sse_heartbeat) - 1);
		}
		break;
	default:
		break;
	}
}
