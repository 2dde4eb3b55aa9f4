/* Routing one parsed request: a table of paths, each with its handler.
 * Every answer made while routing a HEAD request goes out without its body
 * (rc_http_respond). */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_parse.h"
#include "listing.h"
#include "metrics.h"
#include "state.h"
#include "status.h"
#include "ws_handshake.h"

/* What a handler gets: the request, its target, and the path after the
 * route's own (a channel name for the prefix routes). */
struct route_req {
	const struct rc_http_request *req;
	const struct rc_http_target *t;
	const char *rest;
	size_t rest_len;
	bool head;
	bool keep_alive;
	int arg;		/* the route's: enum rc_sub_kind for /stream, /sse */
};

struct route {
	const char *path;
	bool prefix;		/* path is a prefix and something must follow */
	void (*fn)(struct rc_conn *c, const struct route_req *r);
	int arg;
};

/* --allow-origin, on WebSocket upgrades: a browser always sends Origin, so
 * a request without one is not from a page and is let through. Returns
 * true when it answered 403. */
static bool origin_refused(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_http_header *o = rc_http_find_header(req, "Origin");
	struct rc_server *srv = c->st.srv;

	if (!o || rc_config_origin_allowed(srv->cfg, o->value, o->value_len))
		return false;
	srv->stats.refused[RC_REFUSE_ORIGIN]++;
	rc_http_respond(c, 403, "text/plain", NULL, "origin not allowed\n", 19, true);
	return true;
}

/* Access control before a subscription to the channel r->rest starts:
 * Origin (WebSocket only), token (?token=, or for WebSocket the subprotocol
 * "ringcast-token.<TOKEN>"), subscriber limit, memory. Returns true when it
 * answered with a refusal. */
static bool subscribe_refused(struct rc_conn *c, const struct route_req *r, bool ws)
{
	struct rc_server *srv = c->st.srv;
	const char *tok = NULL;
	size_t tl = 0;
	bool offered_ringcast;
	int ret;

	if (ws && origin_refused(c, r->req))
		return true;
	if (!rc_http_query_string(r->t, "token", &tok, &tl) && ws)
		rc_access_protocol_token(r->req, &tok, &tl, &offered_ringcast);
	ret = rc_access_token(&srv->access, r->rest, r->rest_len, tok, tl, &c->uplink_ok);
	if (ret == RC_REFUSE_TOKEN_MISSING) {
		rc_http_respond(c, 401, "text/plain", "WWW-Authenticate: Bearer realm=\"ringcast\"\r\n",
				"token required\n", 15, true);
		return true;
	}
	if (ret != RC_ACCESS_OK) {
		rc_http_respond(c, 403, "text/plain", NULL,
				ret == RC_REFUSE_TOKEN_EXPIRED ? "token expired\n" : "invalid token\n",
				14, true);
		return true;
	}
	if (rc_access_full(&srv->access, r->rest, r->rest_len)) {
		rc_http_respond(c, 503, "text/plain", NULL, "channel full\n", 13, true);
		return true;
	}
	return rc_http_busy(c);
}

/* True (answered) when the channel name in r->rest is not valid. */
static bool bad_channel(struct rc_conn *c, const struct route_req *r)
{
	if (rc_channel_name_valid(r->rest, r->rest_len))
		return false;
	rc_http_respond(c, 400, "text/plain", NULL, "invalid channel name\n", 21, true);
	return true;
}

/* True (answered 426) when r is not a WebSocket upgrade. */
static bool not_upgrade(struct rc_conn *c, const struct route_req *r)
{
	if (!r->head && rc_ws_is_upgrade(r->req))
		return false;
	rc_http_respond(c, 426, "text/plain", "Upgrade: websocket\r\n", "WebSocket upgrade required\n",
			27, !r->keep_alive);
	return true;
}

static void healthz(struct rc_conn *c, const struct route_req *r)
{
	rc_http_respond(c, 200, "text/plain", NULL, "ok\n", 3, !r->keep_alive);
}

/* Answers a rendered body (NULL: 500), then frees it. */
static void rendered(struct rc_conn *c, const struct route_req *r, const char *type, char *body,
		     size_t len)
{
	if (!body) {
		rc_http_respond(c, 500, "text/plain", NULL, NULL, 0, true);
		return;
	}
	rc_http_respond(c, 200, type, NULL, body, len, !r->keep_alive);
	free(body);
}

static void metrics(struct rc_conn *c, const struct route_req *r)
{
	size_t len = 0;
	char *body = rc_metrics_render(c->st.srv, &len);

	rendered(c, r, "text/plain; version=0.0.4", body, len);
}

static void channels(struct rc_conn *c, const struct route_req *r)
{
	size_t len = 0;
	char *body = rc_status_channels(c->st.srv, &len);

	rendered(c, r, "application/json", body, len);
}

static void connections(struct rc_conn *c, const struct route_req *r)
{
	size_t offset = rc_http_query_number(r->t, "offset", 0, SIZE_MAX);
	size_t limit = rc_http_query_number(r->t, "limit", 1000, 10000);
	size_t len = 0;
	char *body;

	/* Several workers: each lists its own connections, in turn; the
	 * answer comes when the listing is back here. */
	if (c->st.srv->proc->nworkers > 1) {
		if (rc_listing_start(c, offset, limit, r->keep_alive) < 0)
			rc_http_respond(c, 500, "text/plain", NULL, NULL, 0, true);
		return;
	}
	body = rc_status_connections(c->st.srv, offset, limit, &len);
	rendered(c, r, "application/json", body, len);
}

/* /ws: no channel yet; the client subscribes with {"sub":"x"}. */
static void ws_bare(struct rc_conn *c, const struct route_req *r)
{
	if (not_upgrade(c, r) || origin_refused(c, r->req))
		return;
	rc_http_join_ws(c, r->req, r->t, NULL, 0);
}

static void ws_channel(struct rc_conn *c, const struct route_req *r)
{
	if (bad_channel(c, r) || not_upgrade(c, r) || subscribe_refused(c, r, true))
		return;
	rc_http_join_ws(c, r->req, r->t, r->rest, r->rest_len);
}

/* /stream/<ch> and /sse/<ch> (r->arg: the subscriber kind). */
static void stream(struct rc_conn *c, const struct route_req *r)
{
	if (bad_channel(c, r) || subscribe_refused(c, r, false))
		return;
	rc_http_join_stream(c, r->req, r->rest, r->rest_len, (enum rc_sub_kind)r->arg, r->head);
}

static const struct route routes[] = {
	{ "/healthz", false, healthz, 0 },
	{ "/metrics", false, metrics, 0 },
	{ "/channels", false, channels, 0 },
	{ "/connections", false, connections, 0 },
	{ "/ws", false, ws_bare, 0 },
	{ "/ws/", true, ws_channel, 0 },
	{ "/stream/", true, stream, RC_SUB_RAW },
	{ "/sse/", true, stream, RC_SUB_ALT },
};

/* The route of path[0..len), or NULL (static files). */
static const struct route *find_route(const char *path, size_t len, const char **rest,
				      size_t *rest_len)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t pl = strlen(routes[i].path);

		if (routes[i].prefix ? len > pl && memcmp(path, routes[i].path, pl) == 0
				     : len == pl && memcmp(path, routes[i].path, pl) == 0) {
			*rest = path + pl;
			*rest_len = len - pl;
			return &routes[i];
		}
	}
	return NULL;
}

/* True when the request allows another after it on the connection. */
static bool keeps_alive(const struct rc_http_request *req)
{
	const struct rc_http_header *conn_h = rc_http_find_header(req, "Connection");

	return req->minor_version >= 1 ? !rc_http_header_has_token(conn_h, "close")
				       : rc_http_header_has_token(conn_h, "keep-alive");
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400. Returns
 * true when it answered. */
static bool host_missing(struct rc_conn *c, const struct rc_http_request *req)
{
	if (req->minor_version < 1 || rc_http_find_header(req, "Host"))
		return false;
	rc_http_respond(c, 400, "text/plain", NULL, "missing Host header\n", 20, true);
	return true;
}

static void route(struct rc_conn *c, const struct rc_http_request *req)
{
	const struct rc_http_header *cl = rc_http_find_header(req, "Content-Length");
	struct route_req r = { .req = req, .head = c->head };
	const struct route *rt;
	struct rc_http_target t;

	/* Origin form, or the absolute form that RFC 9112 3.2.2 says a server
	 * MUST accept: routed on its path. Its authority, not Host, names the
	 * target there; no route uses either value (Host must still be
	 * present in HTTP/1.1, below). Any other form is routed as sent, so it
	 * meets the answers it always did: 405, or 400 from the static files'
	 * sanitiser. */
	if (rc_http_target_parse(req->target, req->target_len, &t) < 0)
		t = (struct rc_http_target){ .path = req->target, .path_len = req->target_len };
	r.t = &t;
	if (t.path_len > 5 && memcmp(t.path, "/pub/", 5) == 0) {
		if (!rc_http_equals_nocase(req->method, req->method_len, "POST") &&
		    !rc_http_equals_nocase(req->method, req->method_len, "PUT")) {
			rc_http_respond(c, 405, "text/plain", "Allow: POST, PUT\r\n", NULL, 0, true);
			return;
		}
		if (!host_missing(c, req))
			rc_http_publish_start(c, req, &t, t.path + 5, t.path_len - 5, keeps_alive(req));
		return;
	}
	if (!r.head && !rc_http_equals_nocase(req->method, req->method_len, "GET")) {
		rc_http_respond(c, 405, "text/plain", "Allow: GET, HEAD\r\n", NULL, 0, true);
		return;
	}
	/* No other endpoint takes a body; one we did not read would be taken
	 * for the next request, so refuse rather than guess. */
	if (rc_http_find_header(req, "Transfer-Encoding") ||
	    (cl && !(cl->value_len == 1 && cl->value[0] == '0'))) {
		rc_http_respond(c, 400, "text/plain", NULL, NULL, 0, true);
		return;
	}
	if (host_missing(c, req))
		return;
	r.keep_alive = keeps_alive(req);
	rt = find_route(t.path, t.path_len, &r.rest, &r.rest_len);
	if (!rt) {
		rc_static_serve(c, t.path, t.path_len, r.head, r.keep_alive);
		return;
	}
	r.arg = rt->arg;
	rt->fn(c, &r);
}

void rc_http_route(struct rc_conn *c, const struct rc_http_request *req)
{
	c->head = rc_http_equals_nocase(req->method, req->method_len, "HEAD");
	route(c, req);
	c->head = false;
}
