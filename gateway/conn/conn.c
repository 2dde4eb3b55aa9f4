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
#include "mem.h"
#include "cache.h"
#include "publish.h"
#include "ws_command.h"
#include "server.h"

#define HTTP_MAX_HEAD 8192
#define CLIENT_MAX_MESSAGE (1u << 20)	/* subscriber data is discarded; bound it anyway */
#define CLOSE_WAIT_MS 2000
#define SSE_HEARTBEAT_MS 15000
#define PUB_IDLE_MS 60000	/* an HTTP publisher silent this long is dropped */
/* Backpressure and fairness (docs/SECURITY.md lists them with the rest):
 * an HTTP connection's next pipelined request waits while more than
 * HTTP_OUT_MAX of its answers are queued (one answer may be larger; the
 * next waits for it), as nginx and h2o serve one request at a time; a
 * connection handles at most CONN_TURN_UNITS requests, commands or client
 * frames per loop turn, so one client cannot hold the loop while others
 * wait; input that must wait is held (CONN_IN_PAUSE stops the receive,
 * CONN_IN_MAX is never passed: the kernel may post some completions after
 * the receive was told to stop, but not that many). */
#define HTTP_OUT_MAX (64u << 10)
#define CONN_TURN_UNITS 64
#define CONN_IN_PAUSE (64u << 10)
#define CONN_IN_MAX (1u << 20)
#define CONN_IN_MIN 2048
#define CMD_BURST (2 * RC_CONN_MAX_SUBS)	/* a reconnecting client re-joins all at once */
/* An HTTP publish's message is at most what one receive brings (a client
 * ring buffer), whether its bytes were handled at once or held first. */
#define PUB_PIECE_MAX 2048

static void conn_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void conn_work(struct rc_loop *loop, struct rc_deferred *d);
static void pub_end(struct rc_conn *c);
static void unsubscribe_all(struct rc_conn *c);
static void conn_send_error(struct rc_sendq *q, int err);
static void conn_drained(struct rc_sendq *q);
static void conn_low(struct rc_sendq *q);
static void conn_evict(struct rc_sub *s, enum rc_drop_reason reason);
static void conn_settle(struct rc_conn *c);

const struct rc_sendq_ops rc_conn_sendq_ops = {
	.on_error = conn_send_error,
	.on_drained = conn_drained,
	.on_low = conn_low,
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

/* Charges what c holds beside its queue (held input, parser state, its
 * extra subscriptions, an HTTP publish) to its queue, so the one bound of
 * the connection covers it, and to the process's memory. Call after any of
 * them is allocated or freed. */
void rc_conn_account(struct rc_conn *c)
{
	uint32_t now = c->in_cap + (c->wsin ? (uint32_t)sizeof(*c->wsin) : 0) +
		       (c->extra ? (uint32_t)((RC_CONN_MAX_SUBS - 1) * sizeof(*c->extra)) : 0) +
		       (c->pub ? (uint32_t)sizeof(*c->pub) : 0);

	if (now >= c->q.owner_bytes)
		rc_mem_charge(now - c->q.owner_bytes);
	else
		rc_mem_uncharge(c->q.owner_bytes - now);
	c->q.owner_bytes = now;
}

/* What c may have queued before its input waits (see HTTP_OUT_MAX). */
static size_t conn_bound(const struct rc_conn *c)
{
	return c->state == RC_CONN_HTTP || c->state == RC_CONN_PUB ? HTTP_OUT_MAX : c->sub.max_queue;
}

/* What c has queued to send, without what it holds beside the queue. */
static size_t conn_out(const struct rc_conn *c)
{
	return rc_sendq_charge(&c->q) - c->q.owner_bytes;
}

/* True when c may handle one more request, command or frame now; else
 * records why not in c->hold. Counts nothing: conn_did_work() does. */
static bool conn_can_work(struct rc_conn *c)
{
	uint64_t turn = rc_loop_turn(c->srv->loop);

	if (c->work_turn != turn) {
		c->work_turn = turn;
		c->work_units = 0;
	}
	if (conn_out(c) > conn_bound(c)) {
		c->hold = RC_HOLD_OUTPUT;
		return false;
	}
	if (c->work_units >= CONN_TURN_UNITS) {
		c->hold = RC_HOLD_TURN;
		return false;
	}
	return true;
}

static void conn_did_work(struct rc_conn *c)
{
	c->work_units++;
}

/* Keeps data[0..len) after the input c already holds. Returns false (and
 * closes c) past CONN_IN_MAX or without memory. */
static bool conn_hold_input(struct rc_conn *c, const uint8_t *data, size_t len)
{
	if (c->in_len + len > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : CONN_IN_MIN;
		uint8_t *in;

		while (cap < c->in_len + len)
			cap *= 2;
		if (c->in_len + len > CONN_IN_MAX) {
			c->srv->stats.input_overflows++;
			rc_log_debug("fd %d: more than %u bytes of input held, closing", c->fd,
				     CONN_IN_MAX);
			rc_conn_close(c);
			return false;
		}
		in = realloc(c->in, cap);
		if (!in) {
			rc_conn_close(c);
			return false;
		}
		c->in = in;
		c->in_cap = (uint32_t)cap;
		rc_conn_account(c);
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += (uint32_t)len;
	return true;
}

/* Forgets the first n bytes of held input; frees the buffer once empty. */
static void conn_consume_held(struct rc_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= (uint32_t)n;
	if (!c->in_len) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
		rc_conn_account(c);
	}
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
	c->cmd_ms = c->since_ms;
	c->cmd_credit = CMD_BURST;
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
	rc_mem_charge(sizeof(*c));
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
	rc_mem_uncharge(sizeof(*c) + c->q.owner_bytes);
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

/* The answers that held c's input back drained under half its bound: go on
 * at the end of the turn (not from inside the completion). */
static void conn_low(struct rc_sendq *q)
{
	struct rc_conn *c = conn_of_sendq(q);

	rc_loop_defer(c->srv->loop, &c->work);
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

	if (n <= 0 || (size_t)n >= sizeof(text) || rc_sendq_charge(&c->q) >= c->sub.max_queue)
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

/* The per-connection command rate (--ws-command-rate, a token bucket of
 * CMD_BURST): past it the connection is closed with 1008 and counted, so a
 * client looping sub/unsub cannot make the server replay caches for ever.
 * Returns false when it closed c. */
static bool ws_command_allowed(struct rc_conn *c)
{
	struct rc_server *srv = c->srv;
	uint64_t now = rc_loop_now_ms(srv->loop);
	uint64_t rate = srv->cfg.ws_command_rate;
	uint64_t add = (now - c->cmd_ms) * rate / 1000;

	if (add) {
		c->cmd_credit = (uint16_t)(c->cmd_credit + add > CMD_BURST ? CMD_BURST
									      : c->cmd_credit + add);
		c->cmd_ms += add * 1000 / rate;
	}
	if (c->cmd_credit) {
		c->cmd_credit--;
		return true;
	}
	srv->stats.ws_commands_limited++;
	rc_log_debug("fd %d: more than %llu commands a second, closing with 1008", c->fd,
		     (unsigned long long)rate);
	/* What it has queued is dropped (and counted) so the close frame goes
	 * out next. */
	rc_hub_drop_pending(&srv->hub, &c->sub);
	rc_conn_ws_close(c, RC_WS_CLOSE_POLICY);
	return false;
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

	if (!ws_command_allowed(c))
		return;
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
	if (rc_mem_over()) {
		/* Past --max-memory nobody new joins; a socket left with no
		 * channel is told to come back later. */
		srv->stats.memory_refused++;
		ws_reply(c, "{\"error\":\"server busy\",\"channel\":\"%s\"%s}", name, "");
		if (!conn_has_subs(c))
			rc_conn_ws_close(c, RC_WS_CLOSE_TRY_LATER);
		return;
	}
	if (!c->extra) {
		c->extra = calloc(RC_CONN_MAX_SUBS - 1, sizeof(*c->extra));
		if (!c->extra) {
			ws_reply(c, "{\"error\":\"%s\"%s}", "out of memory", "");
			return;
		}
		rc_conn_account(c);
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

/* Client frames on an upgraded connection, parsed with `in`. Stops before a
 * frame it may not handle now (conn_can_work) or once the connection stopped
 * reading. Returns the bytes it consumed. */
static size_t ws_parse_input(struct rc_conn *c, struct rc_conn_wsin *in, uint8_t *data,
			     size_t len)
{
	struct rc_server *srv = c->srv;
	size_t done = 0;

	while (done < len && (c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING)) {
		struct rc_ws_event ev;
		size_t used;

		if (!conn_can_work(c))
			break;
		used = rc_ws_parse(&in->parser, data + done, len - done, &ev);
		done += used;
		if (ev.type != RC_WS_EV_NONE)
			conn_did_work(c);
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
			if (c->state == RC_CONN_WS && rc_sendq_charge(&c->q) < c->sub.max_queue)
				queue_control(c, RC_WS_OP_PONG, ev.data, ev.len);
			break;
		case RC_WS_EV_PONG:
			c->ping_outstanding = false;
			break;
		case RC_WS_EV_CLOSE:
			if (c->close_sent) {
				rc_conn_close(c);
				return len;
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
				return len;
			srv->stats.ws_closes_sent[close_code_slot(ev.close_code)]++;
			c->close_sent = true;
			c->state = RC_CONN_CLOSING;
			c->deadline_ms = rc_loop_now_ms(srv->loop) + CLOSE_WAIT_MS;
			/* Nothing more is read; closing when the echo is sent. */
			c->close_after_send = true;
			return len;
		case RC_WS_EV_ERROR:
			rc_log_debug("fd %d: protocol error, closing with %u", c->fd, ev.close_code);
			rc_conn_ws_close(c, ev.close_code);
			c->close_after_send = true;
			return len;
		}
		if (used == 0 && ev.type == RC_WS_EV_NONE)
			break;
	}
	return c->state == RC_CONN_WS || c->state == RC_CONN_CLOSING ? done : len;
}

/* Client frames on an upgraded connection. A connection between frames
 * keeps no parser: its input is parsed with the server's scratch state,
 * which is copied to the connection only when the input ends inside a frame
 * or a fragmented message (or after a close or an error, which a parser
 * remembers). Returns the bytes consumed. */
static size_t ws_input(struct rc_conn *c, uint8_t *data, size_t len)
{
	struct rc_conn_wsin *in = c->wsin;
	size_t used;

	if (!in) {
		in = &c->srv->ws_scratch;
		rc_ws_parser_init(&in->parser, true, CLIENT_MAX_MESSAGE);
		in->cmd_len = 0;
	}
	used = ws_parse_input(c, in, data, len);
	if (rc_ws_parser_at_rest(&in->parser)) {
		/* No message is open, so no command is half read either. */
		if (c->wsin) {
			free(c->wsin);
			c->wsin = NULL;
			rc_conn_account(c);
		}
	} else if (!c->wsin && c->state != RC_CONN_DEAD) {
		c->wsin = malloc(sizeof(*c->wsin));
		if (!c->wsin) {
			rc_conn_close(c);
			return len;
		}
		memcpy(c->wsin, in, offsetof(struct rc_conn_wsin, cmd) + (in->cmd_len <= RC_WS_CMD_MAX
									       ? in->cmd_len : 0));
		rc_conn_account(c);
	}
	return used;
}

/* Ends an HTTP publish: the channel is free for the next publisher. */
static void pub_end(struct rc_conn *c)
{
	if (!c->pub)
		return;
	c->pub->ch->publishers--;
	rc_hub_release(&c->srv->hub, c->pub->ch);
	free(c->pub);
	c->pub = NULL;
	rc_conn_account(c);
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

	while (used < len && c->state == RC_CONN_PUB && conn_can_work(c)) {
		struct rc_conn_pub *pub = c->pub;
		const uint8_t *piece = data + used;
		size_t plen, n;
		bool end;

		size_t avail = len - used < PUB_PIECE_MAX ? len - used : PUB_PIECE_MAX;

		conn_did_work(c);
		if (pub->chunked_body) {
			n = rc_chunked_feed(&pub->chunked, data + used, avail, &piece, &plen);
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
			plen = avail < pub->body_left ? avail : (size_t)pub->body_left;
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

/* One request head of the HTTP phase, from data[0..len): answered, and its
 * bytes consumed. Returns 0 while the head is incomplete, or when the
 * connection may not take another request now (c->hold says why). */
static size_t http_input(struct rc_conn *c, const uint8_t *data, size_t len)
{
	struct rc_http_request req;
	int ret;

	if (!conn_can_work(c))
		return 0;
	ret = rc_http_parse_request((const char *)data, len, HTTP_MAX_HEAD, &req);
	c->in_incomplete = ret == -EAGAIN;
	if (ret == -EAGAIN)
		return 0;
	conn_did_work(c);
	if (ret < 0) {
		int status = ret == -EMSGSIZE || ret == -E2BIG ? 431 :
			     ret == -EPROTONOSUPPORT ? 505 : 400;

		rc_http_respond(c, status, "text/plain", NULL, NULL, 0, true);
		return len;
	}
	c->srv->stats.http_requests++;
	c->served = true;
	rc_http_route(c, &req);
	c->since_ms = rc_loop_now_ms(c->srv->loop);
	return req.head_len;
}

/* Handles data[0..len) in whatever state the connection is in, as far as it
 * may go now. Returns the bytes consumed; the caller holds the rest. */
static size_t conn_input(struct rc_conn *c, uint8_t *data, size_t len)
{
	size_t used = 0;

	c->hold = RC_HOLD_NONE;
	while (used < len) {
		size_t n = 0;

		switch (c->state) {
		case RC_CONN_HTTP:
			/* Answered with "Connection: close": nothing more is read. */
			if (c->close_after_send)
				return len;
			n = http_input(c, data + used, len - used);
			break;
		case RC_CONN_PUB:
			n = pub_body(c, data + used, len - used);
			break;
		case RC_CONN_WS:
		case RC_CONN_CLOSING:
			n = ws_input(c, data + used, len - used);
			break;
		case RC_CONN_STREAM:	/* it only listens: anything sent is ignored */
		case RC_CONN_DEAD:
			return len;
		}
		if (!n)
			break;
		used += n;
	}
	return used;
}

/* Goes on with the input c holds, as far as it may this turn. */
static void conn_feed(struct rc_conn *c)
{
	size_t used;

	if (!c->in_len)
		return;
	used = conn_input(c, c->in, c->in_len);
	if (c->state != RC_CONN_DEAD && used)
		conn_consume_held(c, used);
}

/* After input: stops the receive while c's answers are backed up past its
 * bound or it holds too much input (the peer's TCP window then fills, which
 * is the backpressure it feels), and says when to go on: once the answers
 * drained (on_low), or in the next turn when only its share of this one ran
 * out. Starts receiving again once neither holds. */
static void conn_settle(struct rc_conn *c)
{
	struct rc_server *srv = c->srv;
	size_t bound = conn_bound(c);
	bool out_over, stop;

	if (c->state == RC_CONN_DEAD)
		return;
	out_over = conn_out(c) > bound;
	stop = out_over || c->in_len > CONN_IN_PAUSE;
	if (stop && !c->paused) {
		c->paused = true;
		c->paused_since_ms = rc_loop_now_ms(srv->loop);
		srv->stats.backpressure_pauses++;
		if (c->recv_armed)
			rc_loop_cancel(srv->loop, &c->recv_io);
	}
	if (out_over)
		c->q.wake_below = (uint32_t)(bound / 2 + c->q.owner_bytes);
	else if (c->in_len && c->hold == RC_HOLD_TURN)
		rc_loop_defer_next(srv->loop, &c->work);
	if (!stop && c->paused) {
		c->paused = false;
		if (!c->recv_armed && !c->close_after_send && arm_recv(c) < 0)
			rc_conn_close(c);
	}
}

/* The connection's deferred work: freed once dead (conn_maybe_free); else
 * it goes on with held input (next turn, or once its answers drained) and
 * receives again after a pause or after the client ring ran dry. */
static void conn_work(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_conn *c = (struct rc_conn *)((char *)d - offsetof(struct rc_conn, work));

	(void)loop;
	if (c->state == RC_CONN_DEAD) {
		conn_reap(c);
		return;
	}
	conn_feed(c);
	if (c->state == RC_CONN_DEAD)
		return;
	conn_settle(c);
	if (c->state == RC_CONN_DEAD || c->paused || c->recv_armed || c->close_after_send)
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
		 * anything that must outlive this call is copied into c->in. */
		uint8_t *data = rc_bufring_data(srv->client_ring, cqe->bid);
		size_t len = (size_t)cqe->res;

		rc_bufring_take(srv->client_ring, cqe->bid);
		c->bytes_in += (uint64_t)cqe->res;
		/* WS, PUB: any input counts as life. HTTP: only the first byte of
		 * the next request on a kept-alive connection starts its clock;
		 * later bytes never extend it, so a client dripping a head byte
		 * by byte is closed at the handshake timeout all the same. */
		if (c->state != RC_CONN_HTTP || (c->served && !c->in_len))
			c->since_ms = rc_loop_now_ms(srv->loop);
		if (c->state == RC_CONN_DEAD || (c->state == RC_CONN_HTTP && c->close_after_send)) {
			/* nothing more is read */
		} else if (c->in_len || c->paused) {
			/* Behind what is held: keep order. A head can only complete
			 * with a line end, so a client dribbling bytes without one
			 * costs a copy, not a re-parse of everything held. */
			bool parse = !c->paused && c->hold != RC_HOLD_TURN &&
				     (!c->in_incomplete || memchr(data, '\n', len));

			if (conn_hold_input(c, data, len) && parse)
				conn_feed(c);
			conn_settle(c);
		} else {
			size_t used = conn_input(c, data, len);

			if (c->state != RC_CONN_DEAD && used < len)
				conn_hold_input(c, data + used, len - used);
			conn_settle(c);
		}
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
	if (c->paused)
		return;	/* conn_settle() receives again once it may */
	if (cqe->res == -ENOBUFS) {
		/* Client buffers are returned as soon as they are parsed, so this
		 * is a burst; resume when the ring has refilled. */
		srv->stats.client_enobufs++;
		if (rc_bufring_wait(srv->client_ring, &c->work) < 0)
			rc_conn_close(c);
		return;
	}
	if (cqe->res <= 0 && cqe->res != -ECANCELED) {
		/* 0: the peer closed its side; < 0: reset. (-ECANCELED: a
		 * pause that has already ended stopped this receive.) */
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
		/* Stopped for its backlog and never drained: a peer that sends
		 * and does not read holds its answers for ever otherwise. */
		if (c->paused && c->state != RC_CONN_DEAD &&
		    now - c->paused_since_ms >= srv->cfg.idle_timeout_ms) {
			srv->stats.backpressure_timeouts++;
			rc_log_debug("fd %d: input stopped for its backlog for %llu ms, closing",
				     c->fd, (unsigned long long)(now - c->paused_since_ms));
			rc_conn_close(c);
			c = next;
			continue;
		}
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
