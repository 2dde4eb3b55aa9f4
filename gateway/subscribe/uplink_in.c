#include "uplink_in.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "log.h"
#include "state.h"
#include "subscriber.h"
#include "uplink.h"

/* c's uplink state, made on first use; NULL without memory. */
static struct rc_conn_uplink *state_get(struct rc_conn *c)
{
	struct rc_server *srv = c->st.srv;

	if (c->uplink)
		return c->uplink;
	c->uplink = calloc(1, sizeof(*c->uplink));
	if (!c->uplink)
		return NULL;
	/* Unique in the process while c lives: the worker in the top byte
	 * (up to 64 workers), a per-worker count below (wraps after 16M
	 * uplinking subscribers on one worker). */
	c->uplink->id = (srv->id << 24) | (++srv->uplink_ids & 0xffffff);
	c->uplink->credit_ms = (uint32_t)rc_loop_now_ms(srv->loop);
	c->uplink->credit = UINT32_MAX;	/* full: topped up to the rate at first use */
	/* Charged as c's (rc_uplink_in_held), like its other input state. */
	rc_stream_account(&c->st);
	return c->uplink;
}

/* The subscription c's binary messages go to, and its channel's settings
 * when it has uplink=on (else NULL). */
static const struct rc_channel_cfg *target(struct rc_conn *c, struct rc_sub **s)
{
	*s = c->uplink && c->uplink->to ? c->uplink->to : &c->sub;
	/* Only with a token that allows it, on a channel with tokens. */
	if (!(*s)->ch || !(*s)->uplink_ok)
		return NULL;
	return rc_config_uplink(c->st.srv->cfg, (*s)->ch->name);
}

/* Takes one message from up's token bucket (rate per second, a second's
 * worth of burst). False when there is none left. */
static bool take_credit(struct rc_server *srv, struct rc_conn_uplink *up, uint32_t rate)
{
	uint32_t now = (uint32_t)rc_loop_now_ms(srv->loop);
	uint64_t full = (uint64_t)rate * 1000;
	uint64_t credit = up->credit == UINT32_MAX ? full
			  : up->credit + (uint64_t)(now - up->credit_ms) * rate;

	up->credit_ms = now;
	if (credit > full)
		credit = full;
	if (credit < 1000) {
		up->credit = (uint32_t)credit;
		return false;
	}
	up->credit = (uint32_t)(credit - 1000);
	return true;
}

static void close_policy(struct rc_conn *c, uint64_t *counter, const char *why)
{
	(*counter)++;
	rc_log_debug("fd %d: uplink %s, closing with 1008", c->st.fd, why);
	rc_hub_drop_pending(&c->st.srv->hub, &c->sub);
	rc_subscriber_close(c, RC_WS_CLOSE_POLICY);
}

/* Ends c's open message; what it held is given back to c's charge. */
static void end_message(struct rc_conn *c, struct rc_conn_uplink *up)
{
	bool held = up->buf != NULL;

	free(up->buf);
	up->buf = NULL;
	up->open = false;
	up->len = up->cap = up->size = 0;
	if (held)
		rc_stream_account(&c->st);
}

/* The whole message data[0..len) of up, for s's channel (settings cfg):
 * within the rate, inflated when compressed, to the publisher. */
static void deliver(struct rc_conn *c, struct rc_conn_uplink *up, struct rc_sub *s,
		    const struct rc_channel_cfg *cfg, const uint8_t *data, size_t len,
		    bool compressed)
{
	struct rc_server *srv = c->st.srv;

	if (!take_credit(srv, up, cfg->uplink_rate ? cfg->uplink_rate : RC_UPLINK_RATE_DEFAULT)) {
		end_message(c, up);
		close_policy(c, &srv->stats.uplink_closed_rate, "over uplink-rate");
		return;
	}
	if (compressed) {
		ssize_t n = rc_compress_inflate(srv, data, len, up->cap, &data);

		if (n < 0) {
			end_message(c, up);
			rc_subscriber_inflate_failed(c, n);
			return;
		}
		len = (size_t)n;
	}
	rc_uplink_send(srv, s->ch, up->id, data, (uint32_t)len);
	end_message(c, up);
}

void rc_uplink_in(struct rc_conn *c, const uint8_t *data, size_t len, bool fin, bool compressed)
{
	struct rc_server *srv = c->st.srv;
	struct rc_conn_uplink *up = c->uplink;
	struct rc_sub *s;
	const struct rc_channel_cfg *cfg = target(c, &s);

	if (!cfg || c->state != RC_CONN_WS) {
		/* No uplink there (or the channel went mid-message): read,
		 * counted once, dropped. Nothing is kept for it: the pieces
		 * that follow find the same answer. */
		if (up && up->open)
			end_message(c, up);
		if (fin)
			srv->stats.client_frames++;
		return;
	}
	if (!up || !up->open) {
		up = state_get(c);
		if (!up) {
			rc_conn_close(c);
			return;
		}
		up->open = true;
		up->cap = cfg->uplink_max ? cfg->uplink_max : RC_UPLINK_MAX_DEFAULT;
	}
	if (up->len + len > up->cap) {
		end_message(c, up);
		close_policy(c, &srv->stats.uplink_closed_size, "message over uplink-max");
		return;
	}
	if (fin && !up->len) {
		/* The whole message in one piece: straight from the input. */
		deliver(c, up, s, cfg, data, len, compressed);
		return;
	}
	if (up->len + len > up->size) {
		/* In pieces: gathered in a buffer that grows with them (to
		 * the bound at most), charged to c as its input. */
		uint32_t size = up->size ? up->size : 256;
		uint8_t *b;

		while (size < up->len + len)
			size *= 2;
		if (size > up->cap)
			size = up->cap;
		b = realloc(up->buf, size);
		if (!b) {
			rc_conn_close(c);
			return;
		}
		up->buf = b;
		up->size = size;
		rc_stream_account(&c->st);
	}
	memcpy(up->buf + up->len, data, len);
	up->len += (uint32_t)len;
	if (fin)
		deliver(c, up, s, cfg, up->buf, up->len, compressed);
}

void rc_uplink_in_to(struct rc_conn *c, const char *name, size_t len)
{
	struct rc_sub *s = rc_subscriber_find(c, name, len);
	struct rc_conn_uplink *up;
	char n[RC_CHANNEL_NAME_MAX + 1];

	memcpy(n, name, len);
	n[len] = '\0';
	if (!s) {
		rc_subscriber_reply(c, "{\"error\":\"not subscribed\",\"channel\":\"%s\"%s}", n, "");
		return;
	}
	if (!rc_config_uplink(c->st.srv->cfg, n)) {
		rc_subscriber_reply(c, "{\"error\":\"no uplink\",\"channel\":\"%s\"%s}", n, "");
		return;
	}
	if (!s->uplink_ok) {
		rc_subscriber_reply(c, "{\"error\":\"uplink not allowed\",\"channel\":\"%s\"%s}", n,
				    "");
		return;
	}
	up = state_get(c);
	if (!up) {
		rc_conn_close(c);
		return;
	}
	up->to = s;
	rc_subscriber_reply(c, "{\"uplink\":\"%s\"%s}", n, "");
}

size_t rc_uplink_in_held(const struct rc_conn *c)
{
	return c->uplink ? sizeof(*c->uplink) + c->uplink->size : 0;
}

void rc_uplink_in_free(struct rc_conn *c)
{
	if (!c->uplink)
		return;
	free(c->uplink->buf);
	free(c->uplink);
	c->uplink = NULL;
}
