/* GET /channels and GET /connections: JSON for operators. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "chan.h"
#include "state.h"
#include "status.h"
#include "tcp_pub.h"
#include "textbuf.h"

struct chan_walk {
	struct rc_textbuf *t;
	bool first;
	bool nats;		/* --nats: each channel's cluster state too */
};

/* A channel's cluster state: the workers subscribed to its subject, the
 * other nodes heard publishing into it (with what came, what was skipped
 * and what was dropped as seen), and whether it has two at once. */
static void nats_json(struct rc_textbuf *t, struct rc_chanreg_ent *e)
{
	bool first = true;

	rc_textbuf_put(t, ", \"nats\": {\"subscribed\": %u, \"origins\": [",
		       atomic_load_explicit(&e->remote_subs, memory_order_relaxed));
	for (int i = 0; i < RC_CHANREG_ORIGINS; i++) {
		struct rc_chanreg_origin *o = &e->origins[i];
		uint64_t id = atomic_load_explicit(&o->id, memory_order_relaxed);

		if (!id)
			continue;
		rc_textbuf_put(t,
			       "%s{\"node\": \"%016llx\", \"messages\": %llu, \"missing\": %llu, "
			       "\"duplicates\": %llu}",
			       first ? "" : ", ", (unsigned long long)id,
			       (unsigned long long)atomic_load_explicit(&o->msgs, memory_order_relaxed),
			       (unsigned long long)atomic_load_explicit(&o->missing,
									 memory_order_relaxed),
			       (unsigned long long)atomic_load_explicit(&o->dups, memory_order_relaxed));
		first = false;
	}
	rc_textbuf_put(t, "]}");
}

/* Channel names are restricted to [A-Za-z0-9._-]: no JSON escaping needed.
 * The registry has every worker's channels, counted together: tagged
 * WebSocket subscribers count as WebSocket ones. */
static void channel_json(struct rc_chanreg_ent *e, void *arg)
{
	struct chan_walk *w = arg;
	uint32_t kinds[RC_CHANREG_KINDS];

	for (int k = 0; k < RC_CHANREG_KINDS; k++)
		kinds[k] = atomic_load_explicit(&e->kinds[k], memory_order_relaxed);
	rc_textbuf_put(w->t,
		       "%s\n  {\"name\": \"%s\", \"publishers\": %u, "
		       "\"subscribers\": {\"ws\": %u, \"stream\": %u, \"sse\": %u}, "
		       "\"messages\": %llu, \"bytes\": %llu, \"messages_per_s\": %llu, "
		       "\"bytes_per_s\": %llu, \"drops\": %llu",
		       w->first ? "" : ",", e->name, rc_chanreg_publishers(e),
		       kinds[RC_SUB_FRAME] + kinds[RC_SUB_TAGGED], kinds[RC_SUB_RAW],
		       kinds[RC_SUB_ALT],
		       (unsigned long long)atomic_load_explicit(&e->msgs, memory_order_relaxed),
		       (unsigned long long)atomic_load_explicit(&e->bytes, memory_order_relaxed),
		       (unsigned long long)atomic_load_explicit(&e->msg_rate, memory_order_relaxed),
		       (unsigned long long)atomic_load_explicit(&e->byte_rate, memory_order_relaxed),
		       (unsigned long long)atomic_load_explicit(&e->drops, memory_order_relaxed));
	if (w->nats)
		nats_json(w->t, e);
	rc_textbuf_put(w->t, "}");
	w->first = false;
}

char *rc_status_channels(struct rc_server *srv, size_t *len)
{
	struct rc_textbuf t;
	struct chan_walk w = { .t = &t, .first = true, .nats = srv->cfg->nats.len != 0 };

	rc_textbuf_init(&t, 4096);
	if (w.nats)
		rc_textbuf_put(&t, "{\"node\": \"%016llx\", \"channels\": [",
			       (unsigned long long)srv->proc->node_id);
	else
		rc_textbuf_put(&t, "{\"channels\": [");
	rc_chanreg_foreach(&srv->proc->chanreg, channel_json, &w);
	rc_textbuf_put(&t, "%s]}\n", w.first ? "" : "\n");
	return rc_textbuf_take(&t, len);
}

static const char *role_of(const struct rc_conn *c)
{
	switch (c->state) {
	case RC_CONN_WS:
		return "ws-subscriber";
	case RC_CONN_STREAM:
		return c->sub.kind == RC_SUB_ALT ? "sse-subscriber" : "stream-subscriber";
	case RC_CONN_PUB:
		return "http-publisher";
	case RC_CONN_CLOSING:
		return "closing";
	case RC_CONN_DEAD:
		return "closed";
	case RC_CONN_HTTP:
	default:
		return "http";
	}
}

/* "addr:port" of the socket's local or peer end (IPv6 in brackets). */
static void endpoint(int fd, bool peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
		     : getsockname(fd, (struct sockaddr *)&ss, &sl);

	if (r < 0)
		snprintf(buf, len, "?");
	else
		rc_config_format_addr((struct sockaddr *)&ss, buf, len);
}

/* One connection; `extra` (nextra slots, may be NULL) adds the channels a
 * WebSocket subscriber joined by command. */
static void conn_json(struct rc_textbuf *t, bool first, int fd, const char *role,
		      const char *channel, const struct rc_sub *extra, uint32_t nextra, uint64_t in,
		      uint64_t out, uint64_t queued, uint64_t frames, uint64_t drops,
		      uint64_t age_ms)
{
	char local[80], peer[80];
	bool any = channel != NULL;

	endpoint(fd, false, local, sizeof(local));
	endpoint(fd, true, peer, sizeof(peer));
	rc_textbuf_put(t,
		       "%s\n  {\"protocol\": \"tcp\", \"local\": \"%s\", \"peer\": \"%s\", "
		       "\"role\": \"%s\", \"channels\": [%s%s%s",
		       first ? "" : ",", local, peer, role, channel ? "\"" : "",
		       channel ? channel : "", channel ? "\"" : "");
	for (uint32_t i = 0; extra && i < nextra; i++) {
		if (!extra[i].ch)
			continue;
		rc_textbuf_put(t, "%s\"%s\"", any ? ", " : "", extra[i].ch->name);
		any = true;
	}
	rc_textbuf_put(t,
		       "], \"bytes_in\": %llu, \"bytes_out\": %llu, \"queued_bytes\": %llu, "
		       "\"frames\": %llu, \"drops\": %llu, \"age_ms\": %llu}",
		       (unsigned long long)in, (unsigned long long)out, (unsigned long long)queued,
		       (unsigned long long)frames, (unsigned long long)drops,
		       (unsigned long long)age_ms);
}

size_t rc_status_connection_rows(struct rc_server *srv, struct rc_textbuf *t, bool first,
				 size_t *skip, size_t *left)
{
	uint64_t now = rc_loop_now_ms(srv->loop);
	size_t shown = 0;

	/* Clients first, then TCP publishers. Only the requested page costs
	 * the two getsockname/getpeername calls per entry; walking the rest is
	 * a pointer chase. */
	for (int pass = 0; pass < 2; pass++) {
		for (struct rc_stream *st = srv->streams; st && *left; st = st->next) {
			const struct rc_publisher *p = rc_publisher_of(st);
			const struct rc_channel *ch;
			const struct rc_conn *c;

			if ((p != NULL) != (pass == 1))
				continue;
			if (*skip) {
				(*skip)--;
				continue;
			}
			if (p) {
				conn_json(t, first && shown == 0, st->fd, "tcp-publisher",
					  p->ch ? p->ch->name : NULL, NULL, 0, st->bytes_in,
					  st->q.sent_bytes, st->q.queued_bytes, 0, 0,
					  now - st->accepted_ms);
			} else {
				c = rc_conn_of(st);
				ch = c->sub.ch ? c->sub.ch
					       : c->state == RC_CONN_PUB && c->pub ? c->pub->ch : NULL;
				conn_json(t, first && shown == 0, st->fd, role_of(c),
					  ch ? ch->name : NULL, c->extra,
					  c->extra ? RC_CONN_MAX_SUBS - 1 : 0, st->bytes_in,
					  st->q.sent_bytes, st->q.queued_bytes, st->q.frames,
					  rc_conn_drops(c), now - st->accepted_ms);
			}
			shown++;
			(*left)--;
		}
	}
	return shown;
}

size_t rc_status_connection_count(const struct rc_server *srv)
{
	return srv->stats.connections + srv->stats.publishers;
}

char *rc_status_connections_wrap(const struct rc_textbuf *rows, size_t total, size_t offset,
				 size_t limit, size_t *len)
{
	struct rc_textbuf t;

	rc_textbuf_init(&t, rows->len + 128);
	rc_textbuf_put(&t, "{\"total\": %zu, \"offset\": %zu, \"limit\": %zu, \"connections\": [",
		       total, offset, limit);
	rc_textbuf_put(&t, "%.*s%s]}\n", (int)rows->len, rows->buf ? rows->buf : "",
		       rows->len ? "\n" : "");
	if (rows->failed)
		t.failed = true;
	return rc_textbuf_take(&t, len);
}

char *rc_status_connections(struct rc_server *srv, size_t offset, size_t limit, size_t *len)
{
	struct rc_textbuf rows;
	size_t skip = offset, left = limit;
	char *out;

	rc_textbuf_init(&rows, 8192);
	rc_status_connection_rows(srv, &rows, true, &skip, &left);
	out = rc_status_connections_wrap(&rows, rc_status_connection_count(srv), offset, limit,
					 len);
	free(rows.buf);
	return out;
}
