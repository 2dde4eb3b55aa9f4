#include "uplink.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "log.h"
#include "mem.h"
#include "relay.h"
#include "state.h"
#include "tcp_pub.h"
#include "udp_ingest.h"

/* ch's target on this worker, made on first use; NULL without memory. */
static struct rc_uplink_target *target_get(struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_get(ch);

	if (!c)
		return NULL;
	if (!c->uplink) {
		c->uplink = calloc(1, sizeof(*c->uplink));
		if (!c->uplink)
			return NULL;
		rc_mem_charge(sizeof(*c->uplink));
	}
	return c->uplink;
}

/* This worker's mark in the registry: uplink goes here. A framed TCP
 * publisher takes it (force); a UDP source only when no worker has it, so
 * a datagram never takes it from a connected publisher elsewhere. */
static void claim_loop(struct rc_server *srv, struct rc_channel *ch, bool force)
{
	uint32_t me = srv->id + 1, none = 0;

	if (!ch->shared ||
	    atomic_load_explicit(&ch->shared->uplink_loop, memory_order_relaxed) == me)
		return;
	if (force)
		atomic_store_explicit(&ch->shared->uplink_loop, me, memory_order_relaxed);
	else
		atomic_compare_exchange_strong_explicit(&ch->shared->uplink_loop, &none, me,
							memory_order_relaxed,
							memory_order_relaxed);
}

/* Another framed publisher of ch on this worker than p, or NULL (several
 * may share a channel with multi-publisher=yes). A walk over the worker's
 * connections, when a publisher leaves: rare. */
static struct rc_publisher *other_framed(struct rc_server *srv, struct rc_channel *ch,
					 const struct rc_publisher *p)
{
	for (struct rc_stream *st = srv->streams; st; st = st->next) {
		struct rc_publisher *q = rc_publisher_of(st);

		if (q && q != p && q->ch == ch && q->state == RC_PUB_STREAM &&
		    q->mode == RC_PUB_FRAMED)
			return q;
	}
	return NULL;
}

void rc_uplink_claim_tcp(struct rc_server *srv, struct rc_channel *ch, struct rc_publisher *p)
{
	struct rc_uplink_target *t = target_get(ch);

	if (!t)
		return;
	t->pub = p;
	claim_loop(srv, ch, true);
}

void rc_uplink_release_tcp(struct rc_server *srv, struct rc_channel *ch, struct rc_publisher *p)
{
	struct rc_chan *c = rc_chan_peek(ch);
	uint32_t me = srv->id + 1;

	if (!c || !c->uplink || c->uplink->pub != p)
		return;
	/* Another framed publisher here takes over; else a UDP source seen
	 * on this worker still serves; else this worker lets go of its
	 * claim, unless another worker took it since. */
	c->uplink->pub = other_framed(srv, ch, p);
	if (!c->uplink->pub && !c->uplink->port && ch->shared)
		atomic_compare_exchange_strong_explicit(&ch->shared->uplink_loop, &me, 0,
							memory_order_relaxed,
							memory_order_relaxed);
}

/* Whether uplink may go back to a datagram's source: only when that is
 * this machine. A datagram's source address can be forged (an allowlist
 * does not change that), and a forged one would make ringcast send its
 * subscribers' messages to a victim, and take them from the publisher. */
static bool source_trusted(const struct sockaddr *src)
{
	if (src->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)src)->sin_addr.s_addr) >> 24) == 127;
	if (src->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)src)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

void rc_uplink_note_udp(struct rc_server *srv, struct rc_channel *ch, struct rc_udp_port *port,
			const struct sockaddr *src, socklen_t src_len)
{
	struct rc_chan *c = rc_chan_peek(ch);
	struct rc_uplink_target *t = c ? c->uplink : NULL;
	const struct rc_channel_cfg *cfg;

	if (t && t->port == port && t->src_len == src_len && !memcmp(&t->src, src, src_len)) {
		/* Unchanged; but a publisher elsewhere may have let go of the
		 * claim since (one relaxed load per datagram). */
		if (!t->pub && ch->shared &&
		    !atomic_load_explicit(&ch->shared->uplink_loop, memory_order_relaxed))
			claim_loop(srv, ch, false);
		return;
	}
	/* With uplink-to the port only needs to be known; else the source
	 * must be one that cannot be forged from outside. */
	cfg = rc_config_uplink(srv->cfg, ch->name);
	if (!cfg || (!cfg->uplink_to.len && !source_trusted(src)))
		return;
	if (src_len > sizeof(t->src) || !(t = target_get(ch)))
		return;
	t->port = port;
	memcpy(&t->src, src, src_len);
	t->src_len = src_len;
	/* A framed TCP publisher, where there is one, keeps the uplink. */
	if (!t->pub)
		claim_loop(srv, ch, false);
}

/* Queues [len][id][payload] for TCP publisher p. */
static int to_publisher(struct rc_publisher *p, uint32_t sub_id, const uint8_t *data,
			uint32_t len)
{
	uint8_t *f;

	if (p->state != RC_PUB_STREAM || p->st.dead)
		return -ENOTCONN;
	if (rc_sendq_charge(&p->st.q) + 8 + len > RC_UPLINK_PUB_QUEUE_MAX)
		return -EAGAIN;
	f = malloc(8 + (size_t)len);
	if (!f)
		return -ENOMEM;
	for (int i = 0; i < 4; i++) {
		f[i] = (uint8_t)((4 + len) >> (24 - 8 * i));
		f[4 + i] = (uint8_t)(sub_id >> (24 - 8 * i));
	}
	memcpy(f + 8, data, len);
	/* The queue owns the copy from here; the send's completion frees it. */
	return rc_sendq_push_heap(&p->st.q, f, 8 + len) < 0 ? -ENOMEM : 0;
}

/* Delivers on this worker to ch's target (ch NULL: this worker has no
 * such channel). */
static void deliver(struct rc_server *srv, struct rc_channel *ch, uint32_t sub_id,
		    const uint8_t *data, uint32_t len)
{
	struct rc_chan *c = ch ? rc_chan_peek(ch) : NULL;
	struct rc_uplink_target *t = c ? c->uplink : NULL;
	const struct rc_channel_cfg *cfg;
	int ret;

	if (srv->stopping || !t || (!t->pub && !t->port)) {
		srv->stats.uplink_dropped[RC_UPLINK_NO_PUBLISHER]++;
		return;
	}
	if (t->pub) {
		ret = to_publisher(t->pub, sub_id, data, len);
	} else {
		cfg = rc_config_uplink(srv->cfg, ch->name);
		if (cfg && cfg->uplink_to.len)
			ret = rc_udp_send_tagged(t->port, (const struct sockaddr *)&cfg->uplink_to.ss,
						 cfg->uplink_to.len, sub_id, data, len);
		else
			ret = rc_udp_send_tagged(t->port, (const struct sockaddr *)&t->src, t->src_len,
						 sub_id, data, len);
	}
	if (ret < 0) {
		srv->stats.uplink_dropped[ret == -ENOMEM     ? RC_UPLINK_NOMEM
					  : ret == -ENOTCONN ? RC_UPLINK_NO_PUBLISHER
							     : RC_UPLINK_BACKLOG]++;
		return;
	}
	srv->stats.uplink_out++;
	srv->stats.uplink_out_bytes += len;
}

void rc_uplink_deliver(struct rc_server *srv, const char *name, size_t name_len, uint32_t sub_id,
		       const uint8_t *data, uint32_t len)
{
	deliver(srv, rc_hub_find(&srv->hub, name, name_len), sub_id, data, len);
}

void rc_uplink_send(struct rc_server *srv, struct rc_channel *ch, uint32_t sub_id,
		    const uint8_t *data, uint32_t len)
{
	uint32_t w = ch->shared ? atomic_load_explicit(&ch->shared->uplink_loop,
						       memory_order_relaxed)
				: srv->id + 1;

	srv->stats.uplink_in++;
	srv->stats.uplink_in_bytes += len;
	if (w == 0) {
		srv->stats.uplink_dropped[RC_UPLINK_NO_PUBLISHER]++;
		return;
	}
	if (w == srv->id + 1) {
		deliver(srv, ch, sub_id, data, len);
		return;
	}
	if (rc_relay_uplink(srv, w - 1, ch, sub_id, data, len) < 0)
		srv->stats.uplink_dropped[RC_UPLINK_NOMEM]++;
}
