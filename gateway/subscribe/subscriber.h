/* Subscribers on a client connection: a WebSocket with its channels (the
 * one of /ws/<ch>, more by {"sub"} commands), an HTTP /stream or SSE
 * subscriber. Starting a subscription, the WebSocket's input (frames,
 * commands, pings), its closing handshake, eviction, and the subscribers'
 * timers. */
#ifndef RC_SUBSCRIBER_H
#define RC_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"

struct rc_server;

/* Prepares c->sub for a connection of srv just accepted (not subscribed). */
void rc_subscriber_init(struct rc_conn *c, struct rc_server *srv);

/* A subscriber that comes back for what it missed of a channel: the
 * position it saw last (the channel's history id and that message's
 * number in it). */
struct rc_resume {
	uint64_t epoch;		/* 0: unknown (no position, or a malformed one) */
	uint64_t since;
	/* Say whether it worked: a WebSocket text frame
	 * {"channel":"x","recovered":true|false,"epoch":"E","seq":N} before
	 * anything else, and when it did not, live messages only. Without
	 * it (SSE: the event ids say it), whatever the cache holds after the
	 * position, or the whole cache for another history. */
	bool answer;
};

/* Answers subscription s of c, just subscribed to ch, resuming at res:
 * {"<key>":"<channel>","recovered":...,"epoch":"E","seq":N}, then the
 * replay when recovered (see rc_subscriber_start()). */
void rc_subscriber_resume(struct rc_conn *c, struct rc_sub *s, struct rc_channel *ch,
			  const struct rc_resume *res, const char *key);

/* Subscribes c's own subscription to ch (acquired for it) as kind, with
 * ch's slow policy and queue bound, and replays ch's cache to it: the
 * cache, then live messages, in one queue. Whatever the caller queued
 * before (the 101, the response head) goes first. res (NULL: a plain join)
 * resumes after a position instead: exactly the messages after it, from
 * the cache, when the cache still holds all of them ("recovered"), then
 * live. Returns 0, or -ENOMEM (ch released). */
int rc_subscriber_start(struct rc_conn *c, struct rc_channel *ch, enum rc_sub_kind kind,
			const struct rc_resume *res);

/* Client frames on an upgraded connection (state WS or CLOSING), as far as
 * the connection may go now. Returns the bytes consumed. */
size_t rc_subscriber_input(struct rc_conn *c, uint8_t *data, size_t len);

/* Ends a subscriber: a WebSocket starts the closing handshake with code
 * (1001 on shutdown; queued messages go first, nothing after), a stream
 * ends after what is queued; an HTTP connection just closes. */
void rc_subscriber_close(struct rc_conn *c, uint16_t code);

/* Leaves every channel of c. */
void rc_subscriber_leave_all(struct rc_conn *c);

/* Bytes c holds for its subscriptions beside its queue (the parser copy,
 * the extra subscriptions), for its bound. */
size_t rc_subscriber_held(const struct rc_conn *c);

/* The subscriber's timers: pings and the no-channel idle timeout of a
 * WebSocket, the closing deadline, the SSE heartbeat. */
void rc_subscriber_tick(struct rc_conn *c, uint64_t now_ms);

/* A compressed message from c could not be inflated (err: -EMSGSIZE,
 * -EBADMSG or -ENOMEM, as rc_compress_inflate() says): counted, and c is
 * closed with 1009, 1007 or 1011. */
void rc_subscriber_inflate_failed(struct rc_conn *c, ssize_t err);

/* The slot of close code in rc_server_stats.ws_closes_sent. */
int rc_subscriber_close_slot(uint16_t code);

/* {"sub"}/{"unsub"} (commands.c): one command of c, already read. */
void rc_subscriber_command(struct rc_conn *c, const uint8_t *msg, size_t len);

/* Queues a short text frame, a command's answer built from fmt with two
 * string arguments. Skipped past c's bound: answers are advisory, frames
 * are not. */
void rc_subscriber_reply(struct rc_conn *c, const char *fmt, const char *a, const char *b);

/* Whether c's subscription to ch takes its messages compressed: c agreed
 * to permessage-deflate and ch's messages may be compressed (compress=). */
bool rc_subscriber_wants_z(const struct rc_conn *c, const struct rc_channel *ch);

/* The subscription of c to the channel named name[0..len), or NULL. */
struct rc_sub *rc_subscriber_find(struct rc_conn *c, const char *name, size_t len);

/* True when c is subscribed to at least one channel. */
bool rc_subscriber_any(const struct rc_conn *c);

/* What the hub calls to close a subscriber (slow policy, stalled). */
void rc_subscriber_evict(struct rc_sub *s, enum rc_drop_reason reason);

#endif
