/* HTTP requests: /healthz, /metrics and the WebSocket upgrade on /ws/<channel>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "http_parse.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "ws_handshake.h"

static const char *status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void rc_http_respond(struct rc_conn *c, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t body_len, bool close)
{
	char head[512];
	char dflt[64];
	uint8_t *out;
	int hl;

	if (!body) {
		/* Errors get their reason as a one-line body, for curl users. */
		int n = status >= 400 ? snprintf(dflt, sizeof(dflt), "%s\n", status_text(status)) : 0;

		dflt[n > 0 ? n : 0] = '\0';
		body = dflt;
		body_len = strlen(dflt);
	}
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\n"
		      "Server: ringcast\r\n"
		      "Content-Type: %s\r\n"
		      "Content-Length: %zu\r\n"
		      "Cache-Control: no-store\r\n"
		      "%s%s\r\n",
		      status, status_text(status), content_type ? content_type : "text/plain",
		      body_len, close ? "Connection: close\r\n" : "",
		      extra_headers ? extra_headers : "");
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		rc_conn_close(c);
		return;
	}
	/* RFC 9110 9.3.2: HEAD gets the GET's header fields, Content-Length
	 * included, and never a body. */
	if (c->head)
		body_len = 0;
	out = malloc((size_t)hl + body_len);
	if (!out) {
		rc_conn_close(c);
		return;
	}
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, body, body_len);
	if (status >= 400)
		c->srv->stats.http_errors++;
	if (close)
		c->close_after_send = true;
	rc_sendq_push_heap(&c->q, out, (uint32_t)((size_t)hl + body_len));
}

static void upgrade(struct rc_conn *c, const struct rc_http_request *req, const char *name,
		    size_t name_len)
{
	struct rc_server *srv = c->srv;
	char accept[RC_WS_ACCEPT_LEN + 1];
	char resp[512];
	const char *tok = NULL;
	size_t tok_len = 0;
	bool offered_ringcast = false;
	struct rc_channel *ch;
	uint8_t *out;
	int len;
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
	ch = name ? rc_hub_acquire(&srv->hub, name, name_len, &err) : NULL;
	if (name && !ch) {
		rc_http_respond(c, err == -ENOSPC ? 503 : 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	len = rc_ws_handshake_response(resp, sizeof(resp), accept);
	/* RFC 6455 4.2.2: a client that offered subprotocols must get one of
	 * them back. "ringcast" when offered, so that a token never comes back
	 * in the answer; else the token entry itself. */
	if (len > 0 && (rc_access_protocol_token(req, &tok, &tok_len, &offered_ringcast) ||
			offered_ringcast)) {
		int n = offered_ringcast
			? snprintf(resp + len - 2, sizeof(resp) - (size_t)len + 2,
				   "Sec-WebSocket-Protocol: %s\r\n\r\n", RC_ACCESS_PROTOCOL)
			: snprintf(resp + len - 2, sizeof(resp) - (size_t)len + 2,
				   "Sec-WebSocket-Protocol: %s%.*s\r\n\r\n", RC_ACCESS_PROTOCOL_TOKEN,
				   (int)tok_len, tok);

		len = n > 0 && (size_t)n < sizeof(resp) - (size_t)len + 2 ? len - 2 + n : -1;
	}
	out = len > 0 ? malloc((size_t)len) : NULL;
	if (!out) {
		if (ch)
			rc_hub_release(&srv->hub, ch);
		rc_conn_close(c);
		return;
	}
	/* No parser yet: a subscriber between frames keeps none (conn.c). */
	memcpy(out, resp, (size_t)len);
	/* The 101 goes into the queue before the subscription starts, so it
	 * precedes every frame. */
	if (ch) {
		c->sub.policy = rc_config_slow(&srv->cfg, ch->name);
		c->sub.max_queue = rc_config_max_queue(&srv->cfg, ch->name);
	}
	if (rc_sendq_push_heap(&c->q, out, (uint32_t)len) < 0 ||
	    (ch && rc_hub_subscribe(&srv->hub, ch, &c->sub) < 0)) {
		if (ch)
			rc_hub_release(&srv->hub, ch);
		rc_conn_close(c);
		return;
	}
	/* Late joiners get the cache first, then live data, in one queue. */
	if (ch && ch->owner_data)
		rc_cache_replay(ch->owner_data, &c->sub);
	c->state = RC_CONN_WS;
	c->counted_ws = true;
	srv->stats.ws_upgrades++;
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
			kind == RC_SUB_SSE ? "text/event-stream"
					   : rc_config_content_type(&srv->cfg, channel),
			/* Proxies such as nginx must not buffer an event stream. */
			kind == RC_SUB_SSE ? "X-Accel-Buffering: no\r\n" : "");
}

/* HEAD /stream/<channel>, /sse/<channel>: the GET's head, then the close
 * that would end the GET's body. Nothing is subscribed or created. */
static void stream_head_only(struct rc_conn *c, const char *name, size_t name_len,
			     enum rc_sub_kind kind)
{
	char channel[RC_CHANNEL_NAME_MAX + 1];
	char head[512];
	uint8_t *out;
	int len;

	memcpy(channel, name, name_len);
	channel[name_len] = '\0';
	len = stream_head(c->srv, channel, kind, head, sizeof(head));
	out = len > 0 && (size_t)len < sizeof(head) ? malloc((size_t)len) : NULL;
	if (!out) {
		rc_conn_close(c);
		return;
	}
	memcpy(out, head, (size_t)len);
	c->close_after_send = true;
	rc_sendq_push_heap(&c->q, out, (uint32_t)len);
}

/* GET /stream/<channel>: an HTTP response whose body is the channel's
 * payloads back to back, until the client leaves. GET /sse/<channel>: the
 * same with each message as a Server-Sent Event. Both are delimited by the
 * connection's close (no chunking), so every subscriber's send can point
 * straight at the shared bytes. */
static void stream(struct rc_conn *c, const char *name, size_t name_len, enum rc_sub_kind kind)
{
	static const char sse_hello[] = ": ringcast\n\n";
	struct rc_server *srv = c->srv;
	struct rc_channel *ch;
	char head[512];
	uint8_t *out;
	int err = 0;
	int len;

	ch = rc_hub_acquire(&srv->hub, name, name_len, &err);
	if (!ch) {
		rc_http_respond(c, err == -ENOSPC ? 503 : 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	len = stream_head(srv, ch->name, kind, head, sizeof(head) - sizeof(sse_hello));
	if (len <= 0 || (size_t)len >= sizeof(head) - sizeof(sse_hello)) {
		len = -1;
	} else if (kind == RC_SUB_SSE) {
		memcpy(head + len, sse_hello, sizeof(sse_hello) - 1);
		len += (int)sizeof(sse_hello) - 1;
	}
	out = len > 0 ? malloc((size_t)len) : NULL;
	if (!out) {
		rc_hub_release(&srv->hub, ch);
		rc_conn_close(c);
		return;
	}
	memcpy(out, head, (size_t)len);
	c->sub.kind = (uint8_t)kind;
	c->sub.policy = rc_config_slow(&srv->cfg, ch->name);
	c->sub.max_queue = rc_config_max_queue(&srv->cfg, ch->name);
	if (rc_sendq_push_heap(&c->q, out, (uint32_t)len) < 0 ||
	    rc_hub_subscribe(&srv->hub, ch, &c->sub) < 0) {
		rc_hub_release(&srv->hub, ch);
		rc_conn_close(c);
		return;
	}
	if (ch->owner_data)
		rc_cache_replay(ch->owner_data, &c->sub);
	c->state = RC_CONN_STREAM;
	c->counted_stream = true;
	srv->stats.stream_subscribers++;
}

/* The next field of a query after the one at p (NULL: none). */
static const char *query_next(const char *p, const char *end)
{
	const char *amp = memchr(p, '&', (size_t)(end - p));

	return amp ? amp + 1 : NULL;
}

/* The value of ?name=N in the request's query, clamped to max; dflt when
 * absent or not a number. */
static size_t query_number(const struct rc_http_target *t, const char *name, size_t dflt,
			   size_t max)
{
	const char *end = t->query ? t->query + t->query_len : NULL;
	size_t nl = strlen(name);

	for (const char *p = t->query; p; p = query_next(p, end)) {
		size_t v = 0;
		bool digits = false;

		if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			for (p += nl + 1; p < end && *p >= '0' && *p <= '9'; p++) {
				digits = true;
				v = v > max / 10 ? max : v * 10 + (size_t)(*p - '0');
			}
			if (digits)
				return v > max ? max : v;
		}
	}
	return dflt;
}

/* The value of ?name=V in the request's query (V up to the next '&'; not
 * percent-decoded: tokens and keys need no escaping). Returns true when
 * present. */
static bool query_string(const struct rc_http_target *t, const char *name, const char **val,
			 size_t *val_len)
{
	const char *end = t->query ? t->query + t->query_len : NULL;
	size_t nl = strlen(name);

	for (const char *p = t->query; p; p = query_next(p, end)) {
		if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			const char *amp;

			p += nl + 1;
			amp = memchr(p, '&', (size_t)(end - p));
			*val = p;
			*val_len = (size_t)((amp ? amp : end) - p);
			return true;
		}
	}
	return false;
}

/* --allow-origin, on WebSocket upgrades: a browser always sends Origin, so
 * a request without one is not from a page and is let through. Returns
 * true when it answered 403. */
static bool origin_refused(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_http_header *o = rc_http_find_header(req, "Origin");

	if (!o || rc_config_origin_allowed(&c->srv->cfg, o->value, o->value_len))
		return false;
	c->srv->stats.refused[RC_REFUSE_ORIGIN]++;
	rc_http_respond(c, 403, "text/plain", NULL, "origin not allowed\n", 19, true);
	return true;
}

/* Past --max-memory nobody new joins or publishes: 503 (with Retry-After)
 * and counted. Returns true when it answered. */
static bool memory_refused(struct rc_conn *c)
{
	if (!rc_mem_over())
		return false;
	c->srv->stats.memory_refused++;
	rc_http_respond(c, 503, "text/plain", "Retry-After: 5\r\n", "server busy\n", 12, true);
	return true;
}

/* Access control before a subscription to name[0..len) starts: Origin
 * (WebSocket only), token (?token=, or for WebSocket the subprotocol
 * "ringcast-token.<TOKEN>"), subscriber limit. Returns true when it
 * answered with a refusal. */
static bool subscribe_refused(struct rc_conn *c, const struct rc_http_request *req,
			      const struct rc_http_target *t, const char *name, size_t len, bool ws)
{
	const char *tok = NULL;
	size_t tl = 0;
	bool offered_ringcast;
	int r;

	if (ws && origin_refused(c, req))
		return true;
	if (!query_string(t, "token", &tok, &tl) && ws)
		rc_access_protocol_token(req, &tok, &tl, &offered_ringcast);
	r = rc_access_token(c->srv, name, len, tok, tl);
	if (r == RC_REFUSE_TOKEN_MISSING) {
		rc_http_respond(c, 401, "text/plain", "WWW-Authenticate: Bearer realm=\"ringcast\"\r\n",
				"token required\n", 15, true);
		return true;
	}
	if (r != RC_ACCESS_OK) {
		rc_http_respond(c, 403, "text/plain", NULL,
				r == RC_REFUSE_TOKEN_EXPIRED ? "token expired\n" : "invalid token\n",
				14, true);
		return true;
	}
	if (rc_access_full(c->srv, name, len)) {
		rc_http_respond(c, 503, "text/plain", NULL, "channel full\n", 13, true);
		return true;
	}
	return memory_refused(c);
}

/* Parses a Content-Length value: digits only, at most 2^62. */
static int content_length(const struct rc_http_header *h, uint64_t *out)
{
	uint64_t v = 0;

	if (!h->value_len || h->value_len > 18)
		return -EINVAL;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(h->value[i] - '0');
	}
	*out = v;
	return 0;
}

/* POST or PUT /pub/<channel>: the body, as it arrives, is published (each
 * piece one message); answered 200 with a count at its end. */
static void publish_request(struct rc_conn *c, const struct rc_http_request *req,
			    const struct rc_http_target *t, const char *name, size_t name_len,
			    bool keep_alive)
{
	const struct rc_http_header *te = rc_http_find_header(req, "Transfer-Encoding");
	const struct rc_http_header *cl = rc_http_find_header(req, "Content-Length");
	const struct rc_http_header *expect = rc_http_find_header(req, "Expect");
	static const uint8_t cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct rc_server *srv = c->srv;
	const struct rc_http_header *auth = rc_http_find_header(req, "Authorization");
	struct rc_channel *ch;
	uint64_t length = 0;
	const char *key = NULL;
	size_t key_len = 0;
	int err = 0;

	if (!rc_channel_name_valid(name, name_len)) {
		rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
		return;
	}
	/* The stream key: "Authorization: Bearer K" (kept out of URLs and
	 * so out of access logs), else ?key=K for tools that cannot set
	 * headers. */
	if (auth && auth->value_len > 7 && rc_http_equals_nocase(auth->value, 7, "Bearer ")) {
		key = auth->value + 7;
		key_len = auth->value_len - 7;
		while (key_len && *key == ' ') {
			key++;
			key_len--;
		}
	} else {
		query_string(t, "key", &key, &key_len);
	}
	err = rc_access_key(srv, name, name_len, key, key_len);
	if (err == RC_REFUSE_KEY_MISSING) {
		rc_http_respond(c, 401, "text/plain", "WWW-Authenticate: Bearer realm=\"ringcast\"\r\n",
				"stream key required\n", 20, true);
		return;
	}
	if (err != RC_ACCESS_OK) {
		rc_http_respond(c, 403, "text/plain", NULL, "wrong stream key\n", 17, true);
		return;
	}
	err = 0;
	if (memory_refused(c))
		return;
	/* RFC 9112 6.1: both framings at once is a smuggling attempt. */
	if (te && cl) {
		rc_http_respond(c, 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	if (te && !rc_http_equals_nocase(te->value, te->value_len, "chunked")) {
		rc_http_respond(c, 501, "text/plain", NULL, "only chunked is supported\n", 26, true);
		return;
	}
	if (!te && (!cl || content_length(cl, &length) < 0)) {
		rc_http_respond(c, cl ? 400 : 411, "text/plain", NULL, NULL, 0, true);
		return;
	}
	ch = rc_hub_acquire(&srv->hub, name, name_len, &err);
	if (!ch) {
		rc_http_respond(c, err == -ENOSPC ? 503 : 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	if (ch->publishers && !rc_config_multi_publisher(&srv->cfg, ch->name)) {
		rc_hub_release(&srv->hub, ch);
		rc_http_respond(c, 409, "text/plain", NULL, "channel has a publisher\n", 24, true);
		return;
	}
	c->pub = malloc(sizeof(*c->pub));
	if (!c->pub) {
		rc_hub_release(&srv->hub, ch);
		rc_http_respond(c, 503, "text/plain", NULL, "out of memory\n", 14, true);
		return;
	}
	ch->publishers++;
	*c->pub = (struct rc_conn_pub){ .ch = ch, .chunked_body = te != NULL, .body_left = length,
					.keep_alive = keep_alive };
	rc_conn_account(c);
	rc_chunked_init(&c->pub->chunked);
	c->state = RC_CONN_PUB;
	srv->stats.http_publishes++;
	/* curl -T waits for this before sending a large body. */
	if (expect && rc_http_equals_nocase(expect->value, expect->value_len, "100-continue"))
		rc_sendq_push_static(&c->q, cont, sizeof(cont) - 1);
	if (!te && length == 0) {
		/* An empty body: nothing to publish, answer at once. */
		c->state = RC_CONN_HTTP;
		ch->publishers--;
		rc_hub_release(&srv->hub, ch);
		free(c->pub);
		c->pub = NULL;
		rc_conn_account(c);
		rc_http_respond(c, 200, "text/plain", NULL, "published 0 messages, 0 bytes\n", 31,
				!keep_alive);
	}
}

static void route(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_http_header *conn_h = rc_http_find_header(req, "Connection");
	const struct rc_http_header *cl = rc_http_find_header(req, "Content-Length");
	bool head = rc_http_equals_nocase(req->method, req->method_len, "HEAD");
	bool keep_alive;
	struct rc_http_target t;
	size_t path_len;
	const char *path;

	/* Origin form, or the absolute form that RFC 9112 3.2.2 says a server
	 * MUST accept: routed on its path. Its authority, not Host, names the
	 * target there; no route uses either value (Host must still be
	 * present in HTTP/1.1, below). Any other form is routed as sent, so it
	 * meets the answers it always did: 405, or 400 from the static files'
	 * sanitiser. */
	if (rc_http_target_parse(req->target, req->target_len, &t) < 0)
		t = (struct rc_http_target){ .path = req->target, .path_len = req->target_len };
	path = t.path;
	path_len = t.path_len;
	if (path_len > 5 && memcmp(path, "/pub/", 5) == 0) {
		if (!rc_http_equals_nocase(req->method, req->method_len, "POST") &&
		    !rc_http_equals_nocase(req->method, req->method_len, "PUT")) {
			rc_http_respond(c, 405, "text/plain", "Allow: POST, PUT\r\n", NULL, 0, true);
			return;
		}
		if (req->minor_version >= 1 && !rc_http_find_header(req, "Host")) {
			rc_http_respond(c, 400, "text/plain", NULL, "missing Host header\n", 20, true);
			return;
		}
		publish_request(c, req, &t, path + 5, path_len - 5,
				req->minor_version >= 1 ? !rc_http_header_has_token(conn_h, "close")
							: rc_http_header_has_token(conn_h, "keep-alive"));
		return;
	}
	if (!head && !rc_http_equals_nocase(req->method, req->method_len, "GET")) {
		rc_http_respond(c, 405, "text/plain", "Allow: GET, HEAD\r\n", NULL, 0, true);
		return;
	}
	/* No endpoint takes a body yet; one we did not read would be taken for
	 * the next request, so refuse rather than guess. */
	if (rc_http_find_header(req, "Transfer-Encoding") ||
	    (cl && !(cl->value_len == 1 && cl->value[0] == '0'))) {
		rc_http_respond(c, 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	/* RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400. */
	if (req->minor_version >= 1 && !rc_http_find_header(req, "Host")) {
		rc_http_respond(c, 400, "text/plain", NULL, "missing Host header\n", 20, true);
		return;
	}
	keep_alive = req->minor_version >= 1 ? !rc_http_header_has_token(conn_h, "close")
					     : rc_http_header_has_token(conn_h, "keep-alive");
	if (path_len == 8 && memcmp(path, "/healthz", 8) == 0) {
		rc_http_respond(c, 200, "text/plain", NULL, "ok\n", 3, !keep_alive);
	} else if (path_len == 8 && memcmp(path, "/metrics", 8) == 0) {
		size_t len = 0;
		char *body = rc_metrics_render(c->srv, &len);

		if (!body) {
			rc_http_respond(c, 500, "text/plain", NULL, NULL, 0, true);
			return;
		}
		rc_http_respond(c, 200, "text/plain; version=0.0.4", NULL, body, len, !keep_alive);
		free(body);
	} else if ((path_len == 9 && memcmp(path, "/channels", 9) == 0) ||
		   (path_len == 12 && memcmp(path, "/connections", 12) == 0)) {
		size_t len = 0;
		char *body;

		if (path_len == 9) {
			body = rc_status_channels(c->srv, &len);
		} else {
			size_t offset = query_number(&t, "offset", 0, SIZE_MAX);
			size_t limit = query_number(&t, "limit", 1000, 10000);

			body = rc_status_connections(c->srv, offset, limit, &len);
		}
		if (!body) {
			rc_http_respond(c, 500, "text/plain", NULL, NULL, 0, true);
			return;
		}
		rc_http_respond(c, 200, "application/json", NULL, body, len, !keep_alive);
		free(body);
	} else if (path_len == 3 && memcmp(path, "/ws", 3) == 0) {
		/* No channel yet: the client subscribes with {"sub":"x"}. */
		if (head || !rc_ws_is_upgrade(req)) {
			rc_http_respond(c, 426, "text/plain", "Upgrade: websocket\r\n",
					"WebSocket upgrade required\n", 27, !keep_alive);
			return;
		}
		if (origin_refused(c, req))
			return;
		upgrade(c, req, NULL, 0);
	} else if (path_len > 4 && memcmp(path, "/ws/", 4) == 0) {
		if (!rc_channel_name_valid(path + 4, path_len - 4)) {
			rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
			return;
		}
		if (head || !rc_ws_is_upgrade(req)) {
			rc_http_respond(c, 426, "text/plain", "Upgrade: websocket\r\n",
					"WebSocket upgrade required\n", 27, !keep_alive);
			return;
		}
		if (subscribe_refused(c, req, &t, path + 4, path_len - 4, true))
			return;
		upgrade(c, req, path + 4, path_len - 4);
	} else if (path_len > 8 && memcmp(path, "/stream/", 8) == 0) {
		if (!rc_channel_name_valid(path + 8, path_len - 8)) {
			rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
			return;
		}
		if (subscribe_refused(c, req, &t, path + 8, path_len - 8, false))
			return;
		if (head)
			stream_head_only(c, path + 8, path_len - 8, RC_SUB_RAW);
		else
			stream(c, path + 8, path_len - 8, RC_SUB_RAW);
	} else if (path_len > 5 && memcmp(path, "/sse/", 5) == 0) {
		if (!rc_channel_name_valid(path + 5, path_len - 5)) {
			rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
			return;
		}
		if (subscribe_refused(c, req, &t, path + 5, path_len - 5, false))
			return;
		if (head)
			stream_head_only(c, path + 5, path_len - 5, RC_SUB_SSE);
		else
			stream(c, path + 5, path_len - 5, RC_SUB_SSE);
	} else {
		rc_static_serve(c, path, path_len, head, keep_alive);
	}
}

void rc_http_route(struct rc_conn *c, const struct rc_http_request *req)
{
	/* Every answer made while routing a HEAD request, errors included,
	 * goes out without its body (rc_http_respond). */
	c->head = rc_http_equals_nocase(req->method, req->method_len, "HEAD");
	route(c, req);
	c->head = false;
}
