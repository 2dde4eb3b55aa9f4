/* The requests that start a subscription: the WebSocket upgrade, and the
 * response heads of /stream and /sse. What follows is subscribe/'s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "state.h"
#include "num.h"
#include "sse_id.h"
#include "label.h"
#include "subscriber.h"
#include "ws_deflate_offer.h"
#include "ws_handshake.h"

/* The 101 answer to a valid handshake, with the subprotocol a client that
 * offered some must get (RFC 6455 4.2.2): "ringcast" when offered, so that
 * a token never comes back in the answer; else the token entry itself.
 * With *dfl on, permessage-deflate's answer too. Returns its length, or
 * -1. */
static int upgrade_answer(const struct rc_http_request *req, const char *accept,
			  const struct rc_ws_deflate *dfl, char *resp, size_t cap)
{
	const char *tok = NULL;
	size_t tok_len = 0;
	bool offered_ringcast = false;
	int len = rc_ws_handshake_response(resp, cap, accept);

	if (len > 0 && (rc_access_protocol_token(req, &tok, &tok_len, &offered_ringcast) ||
			offered_ringcast)) {
		int n = offered_ringcast
			? snprintf(resp + len - 2, cap - (size_t)len + 2,
				   "Sec-WebSocket-Protocol: %s\r\n\r\n", RC_ACCESS_PROTOCOL)
			: snprintf(resp + len - 2, cap - (size_t)len + 2,
				   "Sec-WebSocket-Protocol: %s%.*s\r\n\r\n", RC_ACCESS_PROTOCOL_TOKEN,
				   (int)tok_len, tok);

		len = n > 0 && (size_t)n < cap - (size_t)len + 2 ? len - 2 + n : -1;
	}
	if (len > 0 && dfl->on) {
		/* The extension's line goes before the blank line that ends
		 * the head. */
		int n = rc_ws_deflate_response(dfl, resp + len - 2, cap - (size_t)len + 2);

		if (n <= 0 || (size_t)n >= cap - (size_t)len)
			return -1;
		len += n;
		memcpy(resp + len - 2, "\r\n", 2);
	}
	return len;
}

/* What the client offered of permessage-deflate that ringcast takes
 * (ws_deflate_offer.h): the first Sec-WebSocket-Extensions header's
 * offers. A malformed header agrees to nothing. */
static struct rc_ws_deflate deflate_offer(const struct rc_http_request *req)
{
	const struct rc_http_header *h = rc_http_find_header(req, "Sec-WebSocket-Extensions");
	struct rc_ws_deflate d = { 0 };

	if (h && rc_ws_deflate_negotiate(h->value, h->value_len, &d) < 0)
		d.on = false;
	return d;
}

/* Queues bytes[0..len) as a heap copy; closes c without memory. */
static bool queue_copy(struct rc_conn *c, const char *bytes, int len)
{
	uint8_t *out = len > 0 ? malloc((size_t)len) : NULL;

	if (!out) {
		rc_conn_close(c);
		return false;
	}
	memcpy(out, bytes, (size_t)len);
	if (rc_sendq_push_heap(&c->st.q, out, (uint32_t)len) < 0) {
		rc_conn_close(c);
		return false;
	}
	return true;
}

/* An SSE client's position: its Last-Event-ID (a malformed one is none,
 * and the client joins afresh). */
static struct rc_resume sse_position(const struct rc_http_request *req)
{
	const struct rc_http_header *h = rc_http_find_header(req, "Last-Event-ID");
	struct rc_resume r = { 0 };

	if (h && !rc_sse_id_parse(h->value, h->value_len, &r.epoch, &r.since))
		r.epoch = r.since = 0;
	return r;
}

/* A WebSocket subscriber's position, ?since=SEQ&epoch=E: true when it asks
 * to resume (either given); a malformed one resumes nothing (epoch 0),
 * which the answer says. */
static bool ws_position(const struct rc_http_target *t, struct rc_resume *r)
{
	const char *since, *epoch;
	size_t sl = 0, el = 0;
	bool has_since = rc_http_query_string(t, "since", &since, &sl);
	bool has_epoch = rc_http_query_string(t, "epoch", &epoch, &el);

	*r = (struct rc_resume){ .answer = true };
	if (!has_since && !has_epoch)
		return false;
	if (!has_since || !has_epoch || rc_num_parse_u64n(since, sl, 0, UINT64_MAX, &r->since) < 0 ||
	    !rc_sse_id_epoch(epoch, el, &r->epoch))
		r->epoch = r->since = 0;
	return true;
}

/* ?meta=1: the subscriber wants each message's position, as a label frame
 * before it (position_label.h), the form every subscriber of several
 * channels gets. Any other value, or none, is a plain subscriber. */
static bool ws_meta(const struct rc_http_target *t)
{
	const char *v;
	size_t len = 0;

	return rc_http_query_string(t, "meta", &v, &len) && len == 1 && v[0] == '1';
}

void rc_http_join_ws(struct rc_conn *c, const struct rc_http_request *req,
		     const struct rc_http_target *t, const char *name, size_t name_len)
{
	struct rc_server *srv = c->st.srv;
	char accept[RC_WS_ACCEPT_LEN + 1];
	char resp[512];
	struct rc_channel *ch = NULL;
	struct rc_resume pos;
	bool resume = name && ws_position(t, &pos);
	enum rc_sub_kind kind = ws_meta(t) ? RC_SUB_TAGGED : RC_SUB_FRAME;
	struct rc_ws_deflate dfl = deflate_offer(req);
	int err = 0;
	int ret;

	ret = rc_ws_handshake_check(req, accept);
	if (ret == -EPROTONOSUPPORT) {
		rc_http_respond(c, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n", NULL, 0, true);
		return;
	}
	if (ret < 0) {
		rc_http_respond(c, 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	if (name) {
		ch = rc_hub_acquire(&srv->hub, name, name_len, &err);
		if (ch && kind == RC_SUB_TAGGED && rc_label_make(ch) < 0) {
			rc_hub_release(&srv->hub, ch);
			ch = NULL;
			err = -ENOMEM;
		}
		if (!ch) {
			rc_http_respond(c, err == -ENOSPC ? 503 : err == -ENOMEM ? 500 : 400,
					"text/plain", NULL, NULL, 0, true);
			return;
		}
	}
	/* The 101 goes into the queue before the subscription starts, so it
	 * precedes every frame. No parser yet: a subscriber between frames
	 * keeps none (subscribe/subscriber.c). */
	c->deflate = dfl.on;
	if (!queue_copy(c, resp, upgrade_answer(req, accept, &dfl, resp, sizeof(resp)))) {
		if (ch)
			rc_hub_release(&srv->hub, ch);
		return;
	}
	if (ch && rc_subscriber_start(c, ch, kind, resume ? &pos : NULL) < 0) {
		rc_conn_close(c);
		return;
	}
	c->state = RC_CONN_WS;
	c->counted_ws = true;
	srv->stats.ws_upgrades++;
	if (c->deflate)
		srv->stats.ws_deflate++;
	srv->stats.subscribers++;
}

/* The response head of GET /stream/<channel> or /sse/<channel> (channel
 * NUL-terminated) into buf, HEAD's too; its length, as snprintf's. */
static int stream_head(const struct rc_server *srv, const char *channel, enum rc_sub_kind kind,
		       char *buf, size_t cap)
{
	return snprintf(buf, cap,
			"HTTP/1.1 200 OK\r\n"
			"Server: ringcast\r\n"
			"Content-Type: %s\r\n"
			"Cache-Control: no-store\r\n"
			"Connection: close\r\n"
			"%s"
			"\r\n",
			kind == RC_SUB_ALT ? "text/event-stream"
					   : rc_config_content_type(srv->cfg, channel),
			/* Proxies such as nginx must not buffer an event stream. */
			kind == RC_SUB_ALT ? "X-Accel-Buffering: no\r\n" : "");
}

/* GET /stream/<channel>: an HTTP response whose body is the channel's
 * payloads back to back, until the client leaves. GET /sse/<channel>: the
 * same with each message as a Server-Sent Event. Both are delimited by the
 * connection's close (no chunking), so every subscriber's send can point
 * straight at the shared bytes. HEAD: the GET's head, then the close that
 * would end the GET's body; nothing is subscribed or created. */
void rc_http_join_stream(struct rc_conn *c, const struct rc_http_request *req, const char *name,
			 size_t name_len, enum rc_sub_kind kind, bool head)
{
	static const char sse_hello[] = ": ringcast\n\n";
	struct rc_server *srv = c->st.srv;
	char channel[RC_CHANNEL_NAME_MAX + 1];
	struct rc_channel *ch;
	struct rc_resume pos;
	char buf[512];
	int len, err = 0;

	memcpy(channel, name, name_len);
	channel[name_len] = '\0';
	len = stream_head(srv, channel, kind, buf, sizeof(buf) - sizeof(sse_hello));
	/* A GET's event stream starts with a comment, so that a client sees
	 * it open before the first message. */
	if (len <= 0 || (size_t)len >= sizeof(buf) - sizeof(sse_hello)) {
		rc_conn_close(c);
		return;
	}
	if (head) {
		c->st.close_after_send = true;
		queue_copy(c, buf, len);
		return;
	}
	if (kind == RC_SUB_ALT) {
		memcpy(buf + len, sse_hello, sizeof(sse_hello) - 1);
		len += (int)sizeof(sse_hello) - 1;
	}
	ch = rc_hub_acquire(&srv->hub, name, name_len, &err);
	if (!ch) {
		rc_http_respond(c, err == -ENOSPC ? 503 : 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	if (!queue_copy(c, buf, len)) {
		rc_hub_release(&srv->hub, ch);
		return;
	}
	pos = sse_position(req);
	if (rc_subscriber_start(c, ch, kind, kind == RC_SUB_ALT && pos.epoch ? &pos : NULL) < 0) {
		rc_conn_close(c);
		return;
	}
	c->state = RC_CONN_STREAM;
	c->counted_stream = true;
	srv->stats.stream_subscribers++;
}
