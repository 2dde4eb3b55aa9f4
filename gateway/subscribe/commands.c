/* {"sub":"x"} / {"unsub":"x"} on a WebSocket: join or leave a channel. Once
 * a connection has more than its one channel, every message is preceded by
 * its channel's label frame {"channel":"x"}. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "chan.h"
#include "label.h"
#include "log.h"
#include "mem.h"
#include "sse_id.h"
#include "state.h"
#include "subscriber.h"
#include "uplink_in.h"
#include "ws_command.h"

/* A reconnecting client re-joins all its channels at once. */
#define CMD_BURST (2 * RC_CONN_MAX_SUBS)

/* The per-connection command rate (--ws-command-rate, a token bucket of
 * CMD_BURST): past it the connection is closed with 1008 and counted, so a
 * client looping sub/unsub cannot make the server replay caches for ever.
 * Returns false when it closed c. */
static bool command_allowed(struct rc_conn *c)
{
	struct rc_server *srv = c->st.srv;
	uint64_t now = rc_loop_now_ms(srv->loop);
	uint64_t rate = srv->cfg->ws_command_rate;
	uint64_t add;

	if (!c->cmd_started) {
		c->cmd_started = true;
		c->cmd_ms = (uint32_t)now;
		c->cmd_credit = CMD_BURST;
	}
	add = (uint64_t)rc_stream_since(c->cmd_ms, now) * rate / 1000;
	if (add) {
		c->cmd_credit = (uint16_t)(c->cmd_credit + add > CMD_BURST ? CMD_BURST
									      : c->cmd_credit + add);
		c->cmd_ms += (uint32_t)(add * 1000 / rate);
	}
	if (c->cmd_credit) {
		c->cmd_credit--;
		return true;
	}
	srv->stats.ws_commands_limited++;
	rc_log_debug("fd %d: more than %llu commands a second, closing with 1008", c->st.fd,
		     (unsigned long long)rate);
	/* What it has queued is dropped (and counted) so the close frame goes
	 * out next. */
	rc_hub_drop_pending(&srv->hub, &c->sub);
	rc_subscriber_close(c, RC_WS_CLOSE_POLICY);
	return false;
}

/* A free slot in c->extra (allocated on first use), or -1 with the answer
 * sent. */
static int extra_slot(struct rc_conn *c, const char *name)
{
	uint32_t used = c->sub.ch ? 1 : 0;
	int slot = -1;

	if (!c->extra) {
		c->extra = calloc(RC_CONN_MAX_SUBS - 1, sizeof(*c->extra));
		if (!c->extra) {
			rc_subscriber_reply(c, "{\"error\":\"%s\"%s}", "out of memory", "");
			return -1;
		}
		rc_stream_account(&c->st);
	}
	for (uint32_t i = 0; i < RC_CONN_MAX_SUBS - 1; i++) {
		if (c->extra[i].ch)
			used++;
		else if (slot < 0)
			slot = (int)i;
	}
	if (used >= RC_CONN_MAX_SUBS || slot < 0) {
		rc_subscriber_reply(c, "{\"error\":\"too many subscriptions\",\"channel\":\"%s\"%s}",
				    name, "");
		return -1;
	}
	return slot;
}

/* Answers a refused join; a socket left with no channel at all has nothing
 * to wait for, and 1013 tells its client to come back later. */
static void refuse_join(struct rc_conn *c, const char *why, const char *name)
{
	rc_subscriber_reply(c, "{\"error\":\"%s\",\"channel\":\"%s\"}", why, name);
	if (!rc_subscriber_any(c))
		rc_subscriber_close(c, RC_WS_CLOSE_TRY_LATER);
}

static void join(struct rc_conn *c, const struct rc_wscmd *cmd, const char *name)
{
	struct rc_server *srv = c->st.srv;
	struct rc_channel *ch;
	struct rc_sub *s;
	int slot, err = 0;
	bool uplink_ok = false;

	if (rc_mem_over()) {
		/* Past --max-memory nobody new joins. */
		srv->stats.memory_refused++;
		refuse_join(c, "server busy", name);
		return;
	}
	slot = extra_slot(c, name);
	if (slot < 0)
		return;
	err = rc_access_token(&srv->access, name, cmd->name_len, cmd->token, cmd->token_len,
			      &uplink_ok);
	if (err != RC_ACCESS_OK) {
		rc_subscriber_reply(c, "{\"error\":\"%s\",\"channel\":\"%s\"}",
				    err == RC_REFUSE_TOKEN_MISSING ? "token required" :
				    err == RC_REFUSE_TOKEN_EXPIRED ? "token expired" : "invalid token",
				    name);
		return;
	}
	if (rc_access_full(&srv->access, name, cmd->name_len)) {
		refuse_join(c, "channel full", name);
		return;
	}
	err = 0;
	ch = rc_hub_acquire(&srv->hub, name, cmd->name_len, &err);
	if (!ch || rc_label_make(ch) < 0 || (c->sub.ch && rc_label_make(c->sub.ch) < 0)) {
		if (ch)
			rc_hub_release(&srv->hub, ch);
		rc_subscriber_reply(c, "{\"error\":\"%s\",\"channel\":\"%s\"}",
				    err == -ENOSPC ? "too many channels" : "cannot subscribe", name);
		return;
	}
	s = &c->extra[slot];
	*s = (struct rc_sub){ .q = &c->st.q, .owner = c,
			      .max_queue = rc_config_max_queue(srv->cfg, ch->name),
			      .policy = (uint8_t)rc_config_slow(srv->cfg, ch->name),
			      .kind = RC_SUB_TAGGED, .evict = rc_subscriber_evict,
			      .deflate = rc_subscriber_wants_z(c, ch), .uplink_ok = uplink_ok };
	rc_hub_sub_set_kind(&srv->hub, &c->sub, RC_SUB_TAGGED);
	/* The answer goes first, then the cache, then live messages. */
	ch->max_subs = rc_config_max_subscribers(srv->cfg, ch->name);
	err = rc_hub_subscribe(&srv->hub, ch, s);
	if (err < 0) {
		/* -EUSERS: another worker took the last place since the check
		 * above. */
		rc_hub_release(&srv->hub, ch);
		if (err == -EUSERS)
			srv->stats.refused[RC_REFUSE_SUBSCRIBERS]++;
		refuse_join(c, err == -EUSERS ? "channel full" : "cannot subscribe", name);
		return;
	}
	if (cmd->resume) {
		/* A malformed epoch is no position: the answer says not
		 * recovered. */
		struct rc_resume res = { .since = cmd->since, .answer = true };

		if (!rc_sse_id_epoch(cmd->epoch, cmd->epoch_len, &res.epoch))
			res.epoch = res.since = 0;
		rc_subscriber_resume(c, s, ch, &res, "subscribed");
		return;
	}
	rc_subscriber_reply(c, "{\"subscribed\":\"%s\"%s}", name, "");
	if (rc_chan_cache(ch))
		rc_cache_replay(rc_chan_cache(ch), s, 0);
}

void rc_subscriber_command(struct rc_conn *c, const uint8_t *msg, size_t len)
{
	struct rc_server *srv = c->st.srv;
	char name[RC_CHANNEL_NAME_MAX + 1];
	struct rc_wscmd cmd;
	struct rc_sub *s;

	if (!command_allowed(c))
		return;
	if (rc_wscmd_decode(msg, len, &cmd) < 0) {
		srv->stats.client_frames++;
		rc_subscriber_reply(c, "{\"error\":\"%s\"%s}", "bad command", "");
		return;
	}
	memcpy(name, cmd.name, cmd.name_len);
	name[cmd.name_len] = '\0';
	s = rc_subscriber_find(c, name, cmd.name_len);
	if (cmd.op == RC_WSCMD_TO) {
		rc_uplink_in_to(c, cmd.name, cmd.name_len);
		return;
	}
	if (cmd.op == RC_WSCMD_UNSUB) {
		if (!s) {
			rc_subscriber_reply(c, "{\"error\":\"not subscribed\",\"channel\":\"%s\"%s}",
					    name, "");
			return;
		}
		rc_hub_unsubscribe(&srv->hub, s);
		if (c->uplink && c->uplink->to == s)
			c->uplink->to = NULL;	/* back to its own channel's */
		rc_subscriber_reply(c, "{\"unsubscribed\":\"%s\"%s}", name, "");
		return;
	}
	if (s) {
		rc_subscriber_reply(c, "{\"error\":\"already subscribed\",\"channel\":\"%s\"%s}", name,
				    "");
		return;
	}
	join(c, &cmd, name);
}
