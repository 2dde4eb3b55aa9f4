/* A TCP connection: HTTP requests until an upgrade, then a WebSocket
 * subscriber. Its life ends in rc_conn_close(); it is freed only when the
 * kernel no longer holds any of its operations (recv armed, send in flight). */
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"
#include "log.h"
#include "cache.h"
#include "publish.h"
#include "ws_command.h"
#include "server.h"

#define HTTP_MAX_HEAD 8192
#define CLIENT_MAX_MESSAGE (1u << 20)	/* subscriber data is discarded; bound it anyway */
#define CLOSE_WAIT_MS 2000
#define SSE_HEARTBEAT_MS 15000
#define PUB_IDLE_MS 60000	/* an HTTP publisher silent this long is dropped */

static void conn_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void conn_work(struct rc_loop *loop, struct rc_deferred *d);
static void pub_end(struct rc_conn *c);
static void unsubscribe_all(struct rc_conn *c);
static void conn_send_error(struct rc_sendq *q, int err);
static void conn_drained(struct rc_sendq *q);
static void conn_evict(struct rc_sub *s, enum rc_drop_reason reason);

const struct rc_sendq_ops rc_conn_sendq_ops = {
	.on_error = conn_send_error,
	.on_drained = conn_drained,
};

static struct rc_conn *conn_of_sendq(struct rc_sendq *q)
{
	return (struct rc_conn *)((char *)q - offsetof(struct rc_conn, q));
}

static int close_code_slot(uint16_t code)
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

static int arm_recv(struct rc_conn *c)
{
	int ret = rc_loop_recv_multishot(c->srv->loop, &c->recv_io, c->fd, c->srv->client_ring);

	if (ret == 0)
		c->recv_armed = true;
	return ret;
}

/* --max-conns-per-ip: counts c under its peer's address, or answers 503
 * and closes when that address has its limit already. The refused
 * connection is answered rather than reset so that a client sees why. */
static void conn_count_ip(struct rc_conn *c)
{
	struct rc_server *srv = c->srv;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (!srv->cfg.max_conns_per_ip || getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    rc_ipcount_key((struct sockaddr *)&ss, len, c->ip) < 0)
		return;
	ret = rc_ipcount_add(&srv->ipcount, c->ip, srv->cfg.max_conns_per_ip);
	if (ret == 0) {
		c->ip_counted = true;
		return;
	}
	if (ret == -EUSERS)
		srv->stats.refused[RC_REFUSE_PER_IP]++;
	rc_http_respond(c, 503, "text/plain", NULL, "too many connections from your address\n", 39,
			true);
}

void rc_conn_accept(struct rc_server *srv, int fd)
{
	struct rc_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		close(fd);
		srv->stats.accept_errors++;
		return;
	}
	/* Frames are already batched per loop turn; Nagle would only hold
	 * each batch back until the previous one is acknowledged. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->srv = srv;
	c->fd = fd;
	c->state = RC_CONN_HTTP;
	c->recv_io.fn = conn_recv_done;
	c->work.fn = conn_work;
	c->since_ms = rc_loop_now_ms(srv->loop);
	c->accepted_ms = c->since_ms;
	rc_sendq_init(&c->q, &srv->conn_sendq, fd);
	c->sub.q = &c->q;
	c->sub.owner = c;
	c->sub.max_queue = srv->cfg.max_queue;
	c->sub.policy = srv->cfg.slow;
	c->sub.evict = conn_evict;
	if (arm_recv(c) < 0) {
		close(fd);
		free(c);
		srv->stats.accept_errors++;
		return;
	}
	conn_count_ip(c);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->stats.accepted++;
	srv->stats.connections++;
}

/* Frees c at the end of the turn, when nothing of it is left in the kernel
 * nor queued with the loop (a send queue's flush may wait several turns as
 * send work). Freeing is always deferred so that no callback can find its
 * connection gone underneath it. */
static void conn_maybe_free(struct rc_conn *c)
{
	if (c->state != RC_CONN_DEAD || c->recv_armed || rc_sendq_held(&c->q))
		return;
	rc_loop_defer(c->srv->loop, &c->work);
}

static void conn_reap(struct rc_conn *c)
{
	struct rc_server *srv = c->srv;

	if (c->recv_armed || rc_sendq_held(&c->q))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ip_counted)
		rc_ipcount_del(&srv->ipcount, c->ip);
	rc_conn_report_final(c);
	close(c->fd);
	free(c->in);
	free(c->wsin);
	free(c->extra);
	free(c);
	srv->stats.connections--;
}

uint64_t rc_conn_drops(const struct rc_conn *c)
{
	uint64_t n = c->sub.drops + c->q.discarded;

	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		n += c->extra[i].drops;
	return n;
}

void rc_conn_note_final(struct rc_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char text[80];

	if (c->final_peer || getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	rc_config_format_addr((struct sockaddr *)&ss, text, sizeof(text));
	c->final_peer = strdup(text);
}

void rc_conn_report_final(struct rc_conn *c)
{
	if (!c->final_peer)
		return;
	/* One line per subscriber: what it was sent and what it missed. A
	 * test (or an operator) checks delivered + dropped = published. */
	rc_log_debug("final: peer %s: %llu frames delivered, %llu dropped",
		     c->final_peer,
		     (unsigned long long)c->q.frames, (unsigned long long)rc_conn_drops(c));
	free(c->final_peer);
	c->final_peer = NULL;
}

void rc_conn_close(struct rc_conn *c)
{
	struct rc_server *srv = c->srv;

	if (c->state == RC_CONN_DEAD)
		return;
	if (c->counted_ws) {
		srv->stats.subscribers--;
		c->counted_ws = false;
	}
	if (c->counted_stream) {
		srv->stats.stream_subscribers--;
		c->counted_stream = false;
	}
	if (c->state == RC_CONN_PUB)
		srv->stats.pub_incomplete++;	/* left before the body's end */
	pub_end(c);
	c->state = RC_CONN_DEAD;
	unsubscribe_all(c);
	rc_bufring_unwait(srv->client_ring, &c->work);
	rc_sendq_kill(&c->q);
	/* shutdown() makes the armed recv and any in-flight send complete
	 * promptly; the fd itself is closed only after they have. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed)
		rc_loop_cancel(srv->loop, &c->recv_io);
	conn_maybe_free(c);
}

void rc_conn_ws_close(struct rc_conn *c, uint16_t code)
{
	uint8_t *frame;
	size_t len;

	if (c->state == RC_CONN_STREAM) {
		/* A byte stream has no close frame: end it after what is queued. */
		rc_hub_unsubscribe(&c->srv->hub, &c->sub);
		c->close_after_send = true;
		c->state = RC_CONN_CLOSING;
		c->deadline_ms = rc_loop_now_ms(c->srv->loop) + CLOSE_WAIT_MS;
		if (!rc_sendq_busy(&c->q) && !c->q.count)
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
	unsubscribe_all(c);
	frame = malloc(2 + RC_WS_CONTROL_MAX);
	if (!frame) {
		rc_conn_close(c);
		return;
	}
	len = rc_ws_close_encode(frame, code, NULL, 0);
	if (rc_sendq_push_heap(&c->q, frame, (uint32_t)len) < 0) {
		rc_conn_close(c);
		return;
	}
	c->srv->stats.ws_closes_sent[close_code_slot(code)]++;
	c->close_sent = true;
	c->state = RC_CONN_CLOSING;
	c->deadline_ms = rc_loop_now_ms(c->srv->loop) + CLOSE_WAIT_MS;
}

static void conn_evict(struct rc_sub *s, enum rc_drop_reason reason)
{
	struct rc_conn *c = s->owner;

	rc_log_debug("subscriber fd %d evicted: %s", c->fd, rc_drop_reason_name(reason));
	if (reason == RC_DROP_STALLED) {
		/* Its socket accepts nothing: a close frame would never leave. */
		rc_conn_close(c);
		return;
	}
	/* Over its bound: what it has not been sent yet is dropped so the close
	 * frame goes out right after the frame in flight. */
	rc_hub_drop_pending(&c->srv->hub, s);
	rc_conn_ws_close(c, RC_WS_CLOSE_POLICY);
}

static void conn_send_error(struct rc_sendq *q, int err)
{
	struct rc_conn *c = conn_of_sendq(q);

	/* ECONNRESET/EPIPE: the peer vanished. Its buffer references were
	 * released by the queue already. */
	rc_log_debug("send on fd %d failed: %s", c->fd, strerror(-err));
	rc_conn_close(c);
	conn_maybe_free(c);
}

static void conn_drained(struct rc_sendq *q)
{
	struct rc_conn *c = conn_of_sendq(q);

	if (c->close_after_send && c->state != RC_CONN_DEAD)
		rc_conn_close(c);
	else if (c->state == RC_CONN_DEAD)
		conn_maybe_free(c);
	else if (c->state == RC_CONN_CLOSING && c->srv->stopping)
		/* Shutting down: the close frame is out; don't wait for the echo
		 * longer than the peer needs to read it. */
		shutdown(c->fd, SHUT_WR);
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
	rc_sendq_push_heap(&c->q, frame, (uint32_t)(hl + len));
}

/* Queues a short text frame (a command's answer). Skipped past the queue
 * bound: answers are advisory, frames are not. */
static void ws_reply(struct rc_conn *c, const char *fmt, const char *a, const char *b)
{
	char text[RC_WS_CMD_MAX];
	int n = snprintf(text, sizeof(text), fmt, a, b);

	if (n <= 0 || (size_t)n >= sizeof(text) || c->q.queued_bytes >= c->sub.max_queue)
		return;
	queue_control(c, RC_WS_OP_TEXT, (const uint8_t *)text, (size_t)n);
}

/* The subscription of c to the channel named name[0..len), or NULL. */
static struct rc_sub *find_sub(struct rc_conn *c, const char *name, size_t len)
{
	if (c->sub.ch && c->sub.ch->name_len == len && !memcmp(c->sub.ch->name, name, len))
		return &c->sub;
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		if (c->extra[i].ch && c->extra[i].ch->name_len == len &&
		    !memcmp(c->extra[i].ch->name, name, len))
			return &c->extra[i];
	return NULL;
}

/* True when c is subscribed to at least one channel. */
static bool conn_has_subs(const struct rc_conn *c)
{
	if (c->sub.ch)
		return true;
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		if (c->extra[i].ch)
			return true;
	return false;
}

/* Leaves every channel: before a close frame, nothing may follow it. */
static void unsubscribe_all(struct rc_conn *c)
{
	rc_hub_unsubscribe(&c->srv->hub, &c->sub);
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		rc_hub_unsubscribe(&c->srv->hub, &c->extra[i]);
}

/* {"sub":"x"} / {"unsub":"x"}: join or leave a channel on this connection.
 * Once a connection has more than its one channel, every message is
 * preceded by its channel's label frame {"channel":"x"}. */
static void ws_command(struct rc_conn *c, const uint8_t *msg, size_t len)
{
	struct rc_server *srv = c->srv;
	char name[RC_CHANNEL_NAME_MAX + 1];
	struct rc_wscmd cmd;
	enum rc_wscmd_op op;
	struct rc_channel *ch;
	struct rc_sub *s;
	size_t nl;
	uint32_t used = c->sub.ch ? 1 : 0, slot = RC_CONN_MAX_SUBS;
	int err = 0;

	if (rc_wscmd_decode(msg, len, &cmd) < 0) {
		srv->stats.client_frames++;
		ws_reply(c, "{\"error\":\"%s\"%s}", "bad command", "");
		return;
	}
	op = cmd.op;
	nl = cmd.name_len;
	memcpy(name, cmd.name, nl);
	name[nl] = '\0';
	s = find_sub(c, name, nl);
	if (op == RC_WSCMD_UNSUB) {
		if (!s) {
			ws_reply(c, "{\"error\":\"not subscribed\",\"channel\":\"%s\"%s}", name, "");
			return;
		}
		rc_hub_unsubscribe(&srv->hub, s);
		ws_reply(c, "{\"unsubscribed\":\"%s\"%s}", name, "");
		return;
	}
	if (s) {
		ws_reply(c, "{\"error\":\"already subscribed\",\"channel\":\"%s\"%s}", name, "");
		return;
	}
	if (!c->extra) {
		c->extra = calloc(RC_CONN_MAX_SUBS - 1, sizeof(*c->extra));
		if (!c->extra) {
			ws_reply(c, "{\"error\":\"%s\"%s}", "out of memory", "");
			return;
		}
	}
	for (uint32_t i = 0; i < RC_CONN_MAX_SUBS - 1; i++) {
		if (c->extra[i].ch)
			used++;
		else if (slot == RC_CONN_MAX_SUBS)
			slot = i;
	}
	if (used >= RC_CONN_MAX_SUBS || slot == RC_CONN_MAX_SUBS) {
		ws_reply(c, "{\"error\":\"too many subscriptions\",\"channel\":\"%s\"%s}", name, "");
		return;
	}
	err = rc_access_token(srv, name, nl, cmd.token, cmd.token_len);
	if (err != RC_ACCESS_OK) {
		ws_reply(c, "{\"error\":\"%s\",\"channel\":\"%s\"}",
			 err == RC_REFUSE_TOKEN_MISSING ? "token required" :
			 err == RC_REFUSE_TOKEN_EXPIRED ? "token expired" : "invalid token", name);
		return;
	}
	if (rc_access_full(srv, name, nl)) {
		ws_reply(c, "{\"error\":\"channel full\",\"channel\":\"%s\"%s}", name, "");
		/* A socket left with no channel at all has nothing to wait for:
		 * 1013 tells its client to come back later. */
		if (!conn_has_subs(c))
			rc_conn_ws_close(c, RC_WS_CLOSE_TRY_LATER);
		return;
	}
	err = 0;
	ch = rc_hub_acquire(&srv->hub, name, nl, &err);
	if (!ch || rc_publish_label(ch) < 0 || (c->sub.ch && rc_publish_label(c->sub.ch) < 0)) {
		if (ch)
			rc_hub_release(&srv->hub, ch);
		ws_reply(c, "{\"error\":\"%s\",\"channel\":\"%s\"}",
			 err == -ENOSPC ? "too many channels" : "cannot subscribe", name);
		return;
	}
	s = &c->extra[slot];
	*s = (struct rc_sub){ .q = &c->q, .owner = c,
			      .max_queue = rc_config_max_queue(&srv->cfg, ch->name),
			      .policy = rc_config_slow(&srv->cfg, ch->name),
			      .kind = RC_SUB_WS_TAGGED, .evict = conn_evict };
	rc_hub_sub_set_kind(&srv->hub, &c->sub, RC_SUB_WS_TAGGED);
	/* The answer goes first, then the cache, then live messages. */
	ws_reply(c, "{\"subscribed\":\"%s\"%s}", name, "");
	if (rc_hub_subscribe(&srv->hub, ch, s) < 0) {
		rc_hub_release(&srv->hub, ch);
		return;
	}
	if (ch->owner_data)
		rc_cache_replay(ch->owner_data, s);
}

/* Client frames on an upgraded connection, parsed with `in`. Returns false
 * once the connection stopped reading. */
static bool ws_parse_input(struct rc_conn *c, struct rc_conn_wsin *in, uint8_t *data, size_t len)
{
	struct rc_server *srv = c->srv;

	while (len && (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)) {
		struct rc_ws_event ev;
		size_t used = rc_ws_parse(&in->parser, data, len, &ev);

		data += used;
		len -= used;
		switch (ev.type) {
		case RC_WS_EV_NONE:
			break;
		case RC_WS_EV_DATA:
			/* Text messages may be commands ({"sub":...}); anything
			 * else a subscriber sends is read, counted and dropped. */
			srv->stats.client_bytes += ev.len;
			if (ev.opcode == RC_WS_OP_TEXT) {
				if (in->cmd_len + ev.len <= RC_WS_CMD_MAX)
					memcpy(in->cmd + in->cmd_len, ev.data, ev.len);
				in->cmd_len = in->cmd_len + ev.len <= RC_WS_CMD_MAX
						      ? in->cmd_len + (uint32_t)ev.len
						      : RC_WS_CMD_MAX + 1;
			}
			if (ev.fin) {
				if (ev.opcode == RC_WS_OP_TEXT && in->cmd_len <= RC_WS_CMD_MAX &&
				    c->state == RC_CONN_WS)
					ws_command(c, in->cmd, in->cmd_len);
				else
					srv->stats.client_frames++;
				in->cmd_len = 0;
			}
			break;
		case RC_WS_EV_PING:
			/* A ping flood must not grow the queue without bound: past
			 * the subscriber's bound pongs are skipped, which RFC 6455
			 * allows (only the latest ping needs an answer). */
			if (c->state == RC_CONN_WS && c->q.queued_bytes < c->sub.max_queue)
				queue_control(c, RC_WS_OP_PONG, ev.data, ev.len);
			break;
		case RC_WS_EV_PONG:
			c->ping_outstanding = false;
			break;
		case RC_WS_EV_CLOSE:
			if (c->close_sent) {
				rc_conn_close(c);
				return false;
			}
			/* Echo the peer's code (an empty close if it sent none),
			 * then close once it is out. */
			unsubscribe_all(c);
			if (ev.close_code == RC_WS_CLOSE_NO_STATUS) {
				queue_control(c, RC_WS_OP_CLOSE, NULL, 0);
			} else {
				uint8_t code[2] = { (uint8_t)(ev.close_code >> 8), (uint8_t)ev.close_code };

				queue_control(c, RC_WS_OP_CLOSE, code, 2);
			}
			if (c->state == RC_CONN_DEAD)
				return false;
			srv->stats.ws_closes_sent[close_code_slot(ev.close_code)]++;
			c->close_sent = true;
			c->state = RC_CONN_CLOSING;
			c->deadline_ms = rc_loop_now_ms(srv->loop) + CLOSE_WAIT_MS;
			/* Nothing more is read; closing when the echo is sent. */
			c->close_after_send = true;
			return false;
		case RC_WS_EV_ERROR:
			rc_log_debug("fd %d: protocol error, closing with %u", c->fd, ev.close_code);
			rc_conn_ws_close(c, ev.close_code);
			c->close_after_send = true;
			return false;
		}
		if (used == 0 && ev.type == RC_WS_EV_NONE)
			break;
	}
	return c->state != RC_CONN_DEAD;
}

/* Client frames on an upgraded connection. A connection between frames
 * keeps no parser: its input is parsed with the server's scratch state,
 * which is copied to the connection only when the input ends inside a frame
 * or a fragmented message (or after a close or an error, which a parser
 * remembers). Returns false once the connection stopped reading. */
static bool ws_input(struct rc_conn *c, uint8_t *data, size_t len)
{
	struct rc_conn_wsin *in = c->wsin;
	bool reading;

	if (!in) {
		in = &c->srv->ws_scratch;
		rc_ws_parser_init(&in->parser, true, CLIENT_MAX_MESSAGE);
		in->cmd_len = 0;
	}
	reading = ws_parse_input(c, in, data, len);
	if (rc_ws_parser_at_rest(&in->parser)) {
		/* No message is open, so no command is half read either. */
		free(c->wsin);
		c->wsin = NULL;
	} else if (!c->wsin && c->state != RC_CONN_DEAD) {
		c->wsin = malloc(sizeof(*c->wsin));
		if (!c->wsin) {
			rc_conn_close(c);
			return false;
		}
		memcpy(c->wsin, in, offsetof(struct rc_conn_wsin, cmd) + (in->cmd_len <= RC_WS_CMD_MAX
									       ? in->cmd_len : 0));
	}
	return reading;
}

static void http_input(struct rc_conn *c, const uint8_t *data, size_t len);

/* Ends an HTTP publish: the channel is free for the next publisher. */
static void pub_end(struct rc_conn *c)
{
	if (!c->pub)
		return;
	c->pub->ch->publishers--;
	rc_hub_release(&c->srv->hub, c->pub->ch);
	free(c->pub);
	c->pub = NULL;
}

/* Body bytes of POST/PUT /pub/<channel>. Each piece that arrives is one
 * message, copied once (the client ring's buffer goes back at once) into a
 * shared message that every subscriber's send points at. Returns the bytes
 * consumed; at the end of the body the answer is queued and the connection
 * reads requests again. */
static size_t pub_body(struct rc_conn *c, const uint8_t *data, size_t len)
{
	struct rc_server *srv = c->srv;
	size_t used = 0;

	while (used < len && c->state == RC_CONN_PUB) {
		struct rc_conn_pub *pub = c->pub;
		const uint8_t *piece = data + used;
		size_t plen, n;
		bool end;

		if (pub->chunked_body) {
			n = rc_chunked_feed(&pub->chunked, data + used, len - used, &piece, &plen);
			if (pub->chunked.failed) {
				srv->stats.pub_bad_bodies++;
				pub_end(c);
				c->state = RC_CONN_HTTP;
				rc_http_respond(c, 400, "text/plain", NULL, "malformed chunked body\n", 23,
						true);
				return len;
			}
			end = pub->chunked.done;
		} else {
			plen = len - used < pub->body_left ? len - used : (size_t)pub->body_left;
			n = plen;
			pub->body_left -= plen;
			end = pub->body_left == 0;
		}
		used += n;
		if (plen) {
			struct rc_shmsg *m = rc_shmsg_new((uint32_t)plen);

			if (!m) {
				rc_conn_close(c);
				return len;
			}
			memcpy(m->data, piece, plen);
			m->len = (uint32_t)plen;
			pub->msgs++;
			pub->bytes += plen;
			rc_publish_shared(srv, pub->ch, m);
		}
		if (end) {
			char body[96];
			int bl = snprintf(body, sizeof(body), "published %llu messages, %llu bytes\n",
					  (unsigned long long)pub->msgs,
					  (unsigned long long)pub->bytes);
			bool close = !pub->keep_alive;

			pub_end(c);
			c->state = RC_CONN_HTTP;
			c->since_ms = rc_loop_now_ms(srv->loop);
			rc_http_respond(c, 200, "text/plain", NULL, body, (size_t)bl, close);
			break;
		}
		if (!n)
			break;
	}
	return used;
}

/* Input for whatever state the connection is in now. */
static void conn_input(struct rc_conn *c, uint8_t *data, size_t len)
{
	while (len) {
		switch (c->state) {
		case RC_CONN_HTTP:
			if (!c->close_after_send)
				http_input(c, data, len);
			return;
		case RC_CONN_PUB: {
			size_t used = pub_body(c, data, len);

			data += used;
			len -= used;
			break;
		}
		case RC_CONN_WS:
		case RC_CONN_CLOSING:
			ws_input(c, data, len);
			return;
		case RC_CONN_STREAM:	/* it only listens: anything sent is ignored */
		case RC_CONN_DEAD:
			return;
		}
	}
}

/* Bytes of the HTTP phase: gathered until a request head is complete. */
static void http_input(struct rc_conn *c, const uint8_t *data, size_t len)
{
	while (len || c->in_len) {
		struct rc_http_request req;
		size_t take;
		int ret;

		if (!c->in) {
			c->in = malloc(HTTP_MAX_HEAD);
			if (!c->in) {
				rc_conn_close(c);
				return;
			}
		}
		take = HTTP_MAX_HEAD - c->in_len;
		if (take > len)
			take = len;
		memcpy(c->in + c->in_len, data, take);
		c->in_len += (uint32_t)take;
		data += take;
		len -= take;

		/* A head can only complete with a line end: a client dribbling
		 * bytes without one costs a copy, not a re-parse of the whole
		 * buffer each time. */
		if (c->in_incomplete && take && c->in_len < HTTP_MAX_HEAD &&
		    !memchr(data - take, '\n', take))
			return;
		ret = rc_http_parse_request(c->in, c->in_len, HTTP_MAX_HEAD, &req);
		c->in_incomplete = ret == -EAGAIN;
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			int status = ret == -EMSGSIZE || ret == -E2BIG ? 431 :
				     ret == -EPROTONOSUPPORT ? 505 : 400;

			rc_http_respond(c, status, "text/plain", NULL, NULL, 0, true);
			c->in_len = 0;
			return;
		}
		c->srv->stats.http_requests++;
		c->served = true;
		rc_http_route(c, &req);
		/* Keep what follows the head: a pipelined request, or the first
		 * WebSocket frames after an upgrade. */
		memmove(c->in, c->in + req.head_len, c->in_len - req.head_len);
		c->in_len -= (uint32_t)req.head_len;
		c->since_ms = rc_loop_now_ms(c->srv->loop);
		if (c->state != RC_CONN_HTTP) {
			/* Upgraded, streaming or publishing: what follows the head
			 * belongs to the new state (WebSocket frames, body). */
			uint8_t *rest = (uint8_t *)c->in;
			uint32_t rest_len = c->in_len;

			c->in = NULL;
			c->in_len = 0;
			c->in_incomplete = false;
			conn_input(c, rest, rest_len);
			conn_input(c, (uint8_t *)data, len);
			free(rest);
			return;
		}
		if (c->close_after_send)
			return;
		if (!c->in_len && !len) {
			free(c->in);
			c->in = NULL;
		}
	}
}

/* The connection's end-of-turn work: freed once dead (conn_maybe_free),
 * else its recv re-armed after the client ring ran dry. */
static void conn_work(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_conn *c = (struct rc_conn *)((char *)d - offsetof(struct rc_conn, work));

	(void)loop;
	if (c->state == RC_CONN_DEAD) {
		conn_reap(c);
		return;
	}
	if (c->recv_armed)
		return;
	if (arm_recv(c) < 0)
		rc_conn_close(c);
}

static void conn_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_conn *c = (struct rc_conn *)((char *)io - offsetof(struct rc_conn, recv_io));
	struct rc_server *srv = c->srv;

	(void)loop;
	if (!(cqe->flags & RC_CQE_MORE))
		c->recv_armed = false;
	if (cqe->res > 0 && (cqe->flags & RC_CQE_BUFFER)) {
		/* The client ring's buffer is ours until the unref below: input is
		 * parsed in place (WebSocket payload is unmasked in it) and
		 * anything that must outlive this call is copied. */
		uint8_t *data = rc_bufring_data(srv->client_ring, cqe->bid);

		rc_bufring_take(srv->client_ring, cqe->bid);
		c->bytes_in += (uint64_t)cqe->res;
		/* WS, PUB: any input counts as life. HTTP: only the first byte of
		 * the next request on a kept-alive connection starts its clock;
		 * later bytes never extend it, so a client dripping a head byte
		 * by byte is closed at the handshake timeout all the same. */
		if (c->state != RC_CONN_HTTP || (c->served && !c->in_len))
			c->since_ms = rc_loop_now_ms(srv->loop);
		conn_input(c, data, (size_t)cqe->res);
		rc_bufring_unref(srv->client_ring, cqe->bid);
	} else if (cqe->flags & RC_CQE_BUFFER) {
		rc_bufring_take(srv->client_ring, cqe->bid);
		rc_bufring_unref(srv->client_ring, cqe->bid);
	}
	if (c->recv_armed)
		return;
	if (c->state == RC_CONN_DEAD) {
		conn_maybe_free(c);
		return;
	}
	if (cqe->res == -ENOBUFS) {
		/* Client buffers are returned as soon as they are parsed, so this
		 * is a burst; resume when the ring has refilled. */
		srv->stats.client_enobufs++;
		if (rc_bufring_wait(srv->client_ring, &c->work) < 0)
			rc_conn_close(c);
		return;
	}
	if (cqe->res <= 0) {
		/* 0: the peer closed its side; < 0: reset or cancelled. */
		rc_conn_close(c);
		return;
	}
	if (c->close_after_send)
		return;	/* stop reading; closed once the answer is out */
	if (arm_recv(c) < 0)
		rc_conn_close(c);
}

/* True when c joined a channel by command and is still in it. */
static bool conn_has_extra(const struct rc_conn *c)
{
	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		if (c->extra[i].ch)
			return true;
	return false;
}

void rc_conn_tick(struct rc_server *srv)
{
	uint64_t now = rc_loop_now_ms(srv->loop);
	struct rc_conn *c = srv->conns;
	static const uint8_t ping[2] = { 0x89, 0x00 };
	static const uint8_t sse_heartbeat[] = ": heartbeat\n\n";

	while (c) {
		struct rc_conn *next = c->next;

		/* Idle connections keep no send-queue arrays (most of an idle
		 * subscriber's memory otherwise). */
		rc_sendq_trim(&c->q);
		switch (c->state) {
		case RC_CONN_HTTP:
			if (rc_sendq_busy(&c->q))
				break;
			/* Between two requests of a kept-alive connection the idle
			 * timeout applies; from a request's first byte (or from
			 * the accept) the handshake timeout. */
			if (c->served && !c->in_len) {
				if (now - c->since_ms >= srv->cfg.idle_timeout_ms) {
					srv->stats.idle_timeouts++;
					rc_conn_close(c);
				}
			} else if (now - c->since_ms >= srv->cfg.handshake_timeout_ms) {
				srv->stats.handshake_timeouts++;
				rc_conn_close(c);
			}
			break;
		case RC_CONN_WS:
			/* A WebSocket that subscribes to nothing (GET /ws, or
			 * every channel left) only holds a descriptor. */
			if (c->sub.ch || conn_has_extra(c)) {
				c->nosub_since_ms = 0;
			} else if (!c->nosub_since_ms) {
				c->nosub_since_ms = now;
			} else if (now - c->nosub_since_ms >= srv->cfg.idle_timeout_ms) {
				srv->stats.idle_timeouts++;
				rc_conn_ws_close(c, RC_WS_CLOSE_NORMAL);
				break;
			}
			if (now - c->since_ms < srv->cfg.ping_interval_ms)
				break;
			if (c->ping_outstanding) {
				srv->stats.ping_timeouts++;
				rc_conn_close(c);
				break;
			}
			c->ping_outstanding = true;
			c->since_ms = now;
			rc_sendq_push_static(&c->q, ping, sizeof(ping));
			break;
		case RC_CONN_CLOSING:
			if (now >= c->deadline_ms)
				rc_conn_close(c);
			break;
		case RC_CONN_PUB:
			if (now - c->since_ms >= PUB_IDLE_MS) {
				srv->stats.handshake_timeouts++;
				rc_conn_close(c);
			}
			break;
		case RC_CONN_STREAM:
			/* A comment line now and then keeps proxies and load
			 * balancers from closing a quiet event stream. */
			if (c->sub.kind == RC_SUB_SSE && now - c->since_ms >= SSE_HEARTBEAT_MS) {
				c->since_ms = now;
				rc_sendq_push_static(&c->q, sse_heartbeat, sizeof(sse_heartbeat) - 1);
			}
			break;
		case RC_CONN_DEAD:
			break;
		}
		c = next;
	}
}
