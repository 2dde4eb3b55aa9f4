/* HTTP on a client connection: requests, routes, answers, the requests that
 * start a subscription or a publish, static files. */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "http_parse.h"
#include "http_request.h"

struct rc_server;

/* Takes ownership of a socket accepted on the HTTP listener: a client
 * connection reading requests (client.c). */
void rc_http_accept(struct rc_server *srv, int fd);

/* Queues a complete HTTP response on c. body NULL: the status's reason as a
 * one-line body for errors, none otherwise. close: "Connection: close" and
 * close once sent. While routing a HEAD request the body is left out (its
 * Content-Length stays). Errors (>= 400) are counted. */
void rc_http_respond(struct rc_conn *c, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t body_len, bool close);

/* Past --max-memory nobody new joins or publishes: answers 503 (with
 * Retry-After), counts it and returns true; false while under the bound. */
bool rc_http_busy(struct rc_conn *c);

/* Answers one parsed request on c (routes.c). */
void rc_http_route(struct rc_conn *c, const struct rc_http_request *req);

/* The number ?name=N in the target's query, clamped to max; dflt when
 * absent or not a number. */
size_t rc_http_query_number(const struct rc_http_target *t, const char *name, size_t dflt,
			    size_t max);

/* The value of ?name=V (up to the next '&'; not percent-decoded: tokens
 * and keys need no escaping). Returns true when present. */
bool rc_http_query_string(const struct rc_http_target *t, const char *name, const char **val,
			  size_t *val_len);

/* GET /ws or /ws/<name>: the WebSocket handshake, answered 101, then a
 * subscriber of channel name[0..len) (none for /ws: it joins by command);
 * with ?since=SEQ&epoch=E it resumes after that position and is told
 * whether it could (rc_resume). Access was checked (join.c). */
void rc_http_join_ws(struct rc_conn *c, const struct rc_http_request *req,
		     const struct rc_http_target *t, const char *name, size_t len);

/* GET or HEAD /stream/<name> (kind RC_SUB_RAW) or /sse/<name> (RC_SUB_ALT):
 * the response head, then (GET) the channel's messages until the client
 * leaves; an SSE client that sends the Last-Event-ID of the channel's
 * current history resumes after it. Access was checked (join.c). */
void rc_http_join_stream(struct rc_conn *c, const struct rc_http_request *req, const char *name,
			 size_t len, enum rc_sub_kind kind, bool head);

/* POST/PUT /pub/<name>: key check and framing; on success c reads the body
 * (publish.c). keep_alive: the request allows another after it. */
void rc_http_publish_start(struct rc_conn *c, const struct rc_http_request *req,
			   const struct rc_http_target *t, const char *name, size_t len,
			   bool keep_alive);

/* Body bytes of an HTTP publish, as far as c may go now; each piece is one
 * message. Returns the bytes consumed. */
size_t rc_http_publish_body(struct rc_conn *c, const uint8_t *data, size_t len);

/* Ends an HTTP publish (the channel is free for the next publisher). */
void rc_http_publish_end(struct rc_conn *c);

struct rc_process;

/* Reads the --static directories into the process's files (static_route.c),
 * before any loop runs. Returns 0 or -errno (logged). */
int rc_static_setup(struct rc_process *proc);

/* Frees what rc_static_setup() read, after every loop is gone. */
void rc_static_teardown(struct rc_process *proc);

/* Answers GET/HEAD of path[0..path_len) from the static files: 200 with the
 * file, 404, or 400 for a path the sanitiser refuses (counted). */
void rc_static_serve(struct rc_conn *c, const char *path, size_t path_len, bool head,
		     bool keep_alive);

#endif
