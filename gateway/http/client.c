/* The client connection on the connection base: accepted on the HTTP
 * listener, it reads requests (HTTP), and may become a WebSocket or stream
 * subscriber (subscribe/) or an HTTP publisher (publish.c). Its callbacks
 * for the base dispatch by phase. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "http_parse.h"
#include "listing.h"
#include "log.h"
#include "mem.h"
#include "state.h"
#include "subscriber.h"
#include "uplink_in.h"

#define HTTP_MAX_HEAD 8192
#define PUB_IDLE_MS 60000	/* an HTTP publisher silent this long is dropped */
/* An HTTP connection's next pipelined request waits while more than
 * HTTP_OUT_MAX of its answers are queued (one answer may be larger; the
 * next waits for it), as nginx and h2o serve one request at a time. */
#define HTTP_OUT_MAX (64u << 10)

/* One request head of the HTTP phase, from data[0..len): answered, and its
 * bytes consumed. Returns 0 while the head is incomplete, or when the
 * connection may not take another request now (st.hold says why). */
static size_t http_input(struct rc_conn *c, const uint8_t *data, size_t len)
{
	struct rc_http_request req;
	int ret;

	/* The answer to the last request is still being put together by the
	 * other workers: the next one waits its turn. */
	if (rc_listing_waiting(c))
		return 0;
	if (!rc_stream_can_work(&c->st))
		return 0;
	if (c->awaiting) {
		/* The first byte of the next request starts its clock; later
		 * bytes never extend it, so a client dripping a head byte by
		 * byte is closed at the handshake timeout all the same. */
		c->awaiting = false;
		c->req_ms = (uint32_t)rc_loop_now_ms(c->st.srv->loop);
	}
	ret = rc_http_parse_request((const char *)data, len, HTTP_MAX_HEAD, &req);
	c->in_incomplete = ret == -EAGAIN;
	if (ret == -EAGAIN) {
		c->head_scanned = (uint32_t)len;
		return 0;
	}
	rc_stream_did_work(&c->st);
	if (ret < 0) {
		int status = ret == -EMSGSIZE || ret == -E2BIG ? 431 :
			     ret == -EPROTONOSUPPORT ? 505 : 400;

		rc_http_respond(c, status, "text/plain", NULL, NULL, 0, true);
		return len;
	}
	c->st.srv->stats.http_requests++;
	/* Shutting down: a request read now (pipelined behind an answer that
	 * was still being flushed) starts nothing new; the answer says why
	 * and the connection closes after it. */
	if (c->st.srv->stopping) {
		rc_http_respond(c, 503, "text/plain", NULL, "shutting down\n", 14, true);
		return len;
	}
	rc_http_route(c, &req);
	if (c->state == RC_CONN_HTTP) {
		c->awaiting = true;
		c->req_ms = (uint32_t)rc_loop_now_ms(c->st.srv->loop);
	}
	return req.head_len;
}

/* Input in whatever phase the connection is in, as far as it may go now. */
static size_t client_input(struct rc_stream *st, uint8_t *data, size_t len, uint16_t bid)
{
	struct rc_conn *c = rc_conn_of(st);
	size_t used = 0;

	(void)bid;
	/* A head can only complete with a line end: a client dribbling bytes
	 * without one costs a copy, not a re-parse of everything held. */
	if (c->state == RC_CONN_HTTP && c->in_incomplete && data == st->in &&
	    len > c->head_scanned) {
		if (!memchr(data + c->head_scanned, '\n', len - c->head_scanned)) {
			c->head_scanned = (uint32_t)len;
			return 0;
		}
	}
	c->head_scanned = 0;
	while (used < len) {
		size_t n = 0;

		switch (c->state) {
		case RC_CONN_HTTP:
			/* Answered with "Connection: close": nothing more is read. */
			if (st->close_after_send)
				return len;
			n = http_input(c, data + used, len - used);
			break;
		case RC_CONN_PUB:
			n = rc_http_publish_body(c, data + used, len - used);
			break;
		case RC_CONN_WS:
		case RC_CONN_CLOSING:
			n = rc_subscriber_input(c, data + used, len - used);
			break;
		default:	/* a stream only listens: anything sent is ignored */
			return len;
		}
		if (!n)
			break;
		used += n;
	}
	return used;
}

static size_t client_bound(const struct rc_stream *st)
{
	const struct rc_conn *c = (const struct rc_conn *)st;

	return c->state == RC_CONN_HTTP || c->state == RC_CONN_PUB ? HTTP_OUT_MAX
								   : c->sub.max_queue;
}

static size_t client_held(const struct rc_stream *st)
{
	const struct rc_conn *c = (const struct rc_conn *)st;

	if (c->state == RC_CONN_PUB)
		return c->pub ? sizeof(*c->pub) : 0;
	/* Reading requests: the union holds a listing wait, if anything
	 * (http/listing.c, small and the worker's own), no WebSocket input. */
	if (c->state == RC_CONN_HTTP)
		return 0;
	return rc_subscriber_held(c);
}

static void client_on_close(struct rc_stream *st)
{
	struct rc_conn *c = rc_conn_of(st);
	struct rc_server *srv = st->srv;

	if (c->counted_ws) {
		srv->stats.subscribers--;
		c->counted_ws = false;
	}
	if (c->counted_stream) {
		srv->stats.stream_subscribers--;
		c->counted_stream = false;
	}
	rc_listing_abandon(c);
	if (c->state == RC_CONN_PUB) {
		srv->stats.pub_incomplete++;	/* left before the body's end */
		rc_http_publish_end(c);
	}
	c->state = RC_CONN_DEAD;
	rc_subscriber_leave_all(c);
}

static void client_on_drained(struct rc_stream *st)
{
	struct rc_conn *c = rc_conn_of(st);

	/* Shutting down: the close frame is out; don't wait for the echo
	 * longer than the peer needs to read it. */
	if (c->state == RC_CONN_CLOSING && st->srv->stopping)
		shutdown(st->fd, SHUT_WR);
}

static void client_tick(struct rc_stream *st, uint64_t now)
{
	struct rc_conn *c = rc_conn_of(st);
	struct rc_server *srv = st->srv;

	switch (c->state) {
	case RC_CONN_HTTP:
		if (rc_sendq_busy(&st->q))
			break;
		/* Between two requests of a kept-alive connection the idle
		 * timeout applies; from a request's first byte (or from the
		 * accept) the handshake timeout. */
		if (c->awaiting) {
			if (rc_stream_since(c->req_ms, now) >= srv->cfg->idle_timeout_ms) {
				srv->stats.idle_timeouts++;
				rc_conn_close(c);
			}
		} else if (rc_stream_since(c->req_ms, now) >= srv->cfg->handshake_timeout_ms) {
			srv->stats.handshake_timeouts++;
			rc_conn_close(c);
		}
		break;
	case RC_CONN_PUB:
		if (rc_stream_since(st->last_in_ms, now) >= PUB_IDLE_MS) {
			srv->stats.handshake_timeouts++;
			rc_conn_close(c);
		}
		break;
	default:
		rc_subscriber_tick(c, now);
		break;
	}
}

/* --max-conns-per-ip: answered rather than reset so that a client sees
 * why. */
static void client_refuse_ip(struct rc_stream *st)
{
	rc_http_respond(rc_conn_of(st), 503, "text/plain", NULL,
			"too many connections from your address\n", 39, true);
}

static void client_free(struct rc_stream *st)
{
	struct rc_conn *c = rc_conn_of(st);
	struct rc_server *srv = st->srv;

	rc_conn_report_final(c);
	free(c->wsin);	/* (a publish's state went at its close) */
	rc_uplink_in_free(c);
	free(c->extra);
	free(c->final_peer);
	free(c);
	rc_mem_uncharge(sizeof(*c));
	srv->stats.connections--;
}

static const struct rc_stream_ops client_ops = {
	.input = client_input,
	.bound = client_bound,
	.held = client_held,
	.on_close = client_on_close,
	.on_drained = client_on_drained,
	.tick = client_tick,
	.refuse_ip = client_refuse_ip,
	.free = client_free,
};

void rc_http_accept(struct rc_server *srv, int fd)
{
	struct rc_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		srv->stats.accept_errors++;
		return;
	}
	c->state = RC_CONN_HTTP;
	rc_subscriber_init(c, srv);
	rc_mem_charge(sizeof(*c));
	srv->stats.connections++;
	if (rc_stream_accept(&c->st, srv, fd, &client_ops, false, &srv->conn_sendq) < 0) {
		rc_mem_uncharge(sizeof(*c));
		srv->stats.connections--;
		free(c);
		return;
	}
	c->req_ms = (uint32_t)c->st.accepted_ms;
}
