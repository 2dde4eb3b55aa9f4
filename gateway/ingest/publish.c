#include "publish.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "chan.h"
#include "cluster.h"
#include "compress.h"
#include "utf8.h"
#include "state.h"
#include "sse.h"
#include "position_label.h"
#include "probes.h"
#include "relay.h"

/* The channel's state, its settings applied on first use (frames, cache
 * from its --cache policy). NULL without memory. */
static struct rc_chan *channel_setup(struct rc_server *srv, struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_get(ch);
	const struct rc_cache_policy *p;

	if (!c || c->set_up)
		return c;
	c->set_up = true;
	c->opcode = rc_config_text_frames(srv->cfg, ch->name) ? RC_WS_OP_TEXT : RC_WS_OP_BINARY;
	c->uplink_on = rc_config_uplink(srv->cfg, ch->name) != NULL;
	c->compress = rc_config_compress(srv->cfg, ch->name, &c->compress_min);
	p = rc_config_cache(srv->cfg, ch->name);
	if (p)
		c->cache = p->ts ? rc_cache_new_ts(p->bytes) : rc_cache_new(p->last, p->bytes);
	/* Every worker keeps its own cache (its entries reference the
	 * messages, relayed ones included), so its messages go to every
	 * worker (relay.h). */
	if (c->cache && ch->shared) {
		c->cache->epoch = ch->shared->epoch;
		atomic_store_explicit(&ch->shared->cached, true, memory_order_relaxed);
	}
	return c;
}

/* Keeps the message for late joiners: a shared message by reference, a
 * ring message as a copy (see cache.h for why), with its SSE event when one
 * was made for the live subscribers. framed: the shared message has its
 * header already (a relayed one, which must not be written). */
static bool cache_message(struct rc_cache *cache, struct rc_msg *m, uint8_t *payload,
			  unsigned opcode, bool framed)
{
	struct rc_shmsg *c = m->shm;
	bool key;

	if (!c) {
		c = rc_shmsg_new(m->payload_len);
		if (!c)
			return false;
		memcpy(c->data, payload, m->payload_len);
		c->len = m->payload_len;
	} else {
		rc_shmsg_ref(c);
	}
	if (!framed)
		rc_ws_header_prepend(c->data, opcode, c->len);
	key = rc_cache_add(cache, c, m->alt, m->tag, m->seq);
	rc_shmsg_unref(c);
	return key;
}

uint32_t rc_publish_cache_each(struct rc_channel *ch, rc_cache_each_fn fn, void *arg)
{
	struct rc_cache *c = rc_chan_cache(ch);

	return c ? rc_cache_each(c, fn, arg) : 0;
}

void rc_publish_channel_free(struct rc_channel *ch)
{
	rc_chan_free(ch);
}

/* Drops the references publishing held on m's forms made for it (the
 * queues and the cache hold their own). */
static void encodings_unref(struct rc_msg *m)
{
	if (m->alt)
		rc_shmsg_unref(m->alt);
	if (m->tag)
		rc_shmsg_unref(m->tag);
	if (m->z)
		rc_shmsg_unref(m->z);
}

/* Where a message comes from. */
enum source {
	INGESTED,	/* this worker's publishers: counted, numbered, handed to
			 * the other workers and to NATS here */
	RELAYED,	/* another worker, which counted it, chose its opcode
			 * (relayed_opcode), framed it (m->frame, m->hdr_len) and
			 * hands it to the other workers itself; its bytes are
			 * read here, never written */
	REMOTE,		/* another node, through NATS (cluster.h): numbered by its
			 * origin (m->seq), framed here, handed on to nobody */
};

/* epoch: the history the message's number belongs to (a remote one's
 * origin's; else 0: the channel's own here). */
static void fan_out(struct rc_server *srv, struct rc_channel *ch, struct rc_msg *m,
		    enum source from, unsigned relayed_opcode, uint64_t epoch)
{
	bool relayed = from == RELAYED;
	uint8_t *payload = m->frame + m->hdr_len;
	struct rc_chan *c = channel_setup(srv, ch);
	struct rc_cache *cache = c ? c->cache : NULL;
	unsigned opcode = relayed ? relayed_opcode : c ? c->opcode : RC_WS_OP_BINARY;

	/* A text channel's message that is not UTF-8 goes as binary: a
	 * browser closes the connection on an invalid text frame. */
	if (opcode == RC_WS_OP_TEXT && !relayed) {
		struct rc_utf8 u;

		rc_utf8_init(&u);
		if (!rc_utf8_feed(&u, payload, m->payload_len) || !rc_utf8_complete(&u))
			opcode = RC_WS_OP_BINARY;
	}
	ch->msgs_in++;
	ch->bytes_in += m->payload_len;
	if (from == INGESTED) {
		srv->stats.published++;
		srv->stats.published_bytes += m->payload_len;
		if (ch->shared) {
			/* Numbered once, here at its origin; the number travels
			 * with the message to the other workers. */
			m->seq = rc_chanreg_next_seq(ch->shared);
			rc_chanreg_add64(&ch->shared->bytes, m->payload_len);
		}
		/* Before this worker frames it in place: the others get the
		 * bare payload and the opcode. */
		rc_relay_publish(srv, ch, payload, m->payload_len, opcode, m->seq);
		/* And to NATS (--nats), by the worker that ingested it only. */
		rc_cluster_publish(srv, ch, payload, m->payload_len, m->seq, cache != NULL);
	}
	/* The newest, not the latest to arrive: a channel's messages can reach
	 * a worker out of number order (two publishers, or one that moved). */
	if (c && m->seq > c->last_seq)
		c->last_seq = m->seq;
	/* A message from another node keeps its origin's position (epoch and
	 * number) here too, in SSE ids, labels and the cache, so a client can
	 * resume on any node (subscriber.c). */
	if (from == REMOTE && c) {
		if (c->remote_epoch != epoch)
			c->last_seq = m->seq;	/* a new history starts here */
		c->remote_epoch = epoch;
		if (cache)
			cache->epoch = epoch;
	}
	if (!epoch)
		epoch = ch->shared ? ch->shared->epoch : 0;
	/* The SSE form, made once per message and only while the channel has
	 * SSE subscribers (no memory costs them this message); the cache keeps
	 * the same one. */
	m->alt = ch->nalt ? rc_sse_event_new(payload, m->payload_len, epoch, m->seq) : NULL;
	/* Likewise its position label, for the channel's tagged subscribers
	 * (several channels on one socket, or ?meta=1): without one they get
	 * the channel's plain label. */
	m->tag = (ch->ntagged || ch->nztagged) && m->seq && epoch
			 ? rc_position_label_new(ch->name, ch->name_len, epoch, m->seq)
			 : NULL;
	/* And its compressed frame, for the subscribers that agreed to
	 * permessage-deflate: one per message, whatever their number. */
	m->z = ch->nz && c && c->compress && m->payload_len >= c->compress_min
		       ? rc_compress_frame(srv, payload, m->payload_len, opcode)
		       : NULL;
	if (cache)
		m->keyframe = cache_message(cache, m, payload, opcode, relayed);
	if (!ch->nsubs) {
		encodings_unref(m);
		return;
	}
	/* Framed once, in place: the header goes into the bytes in front of the
	 * payload, and every subscriber's send points at this same memory. */
	if (!relayed) {
		m->frame = rc_ws_header_prepend(payload, opcode, m->payload_len);
		m->hdr_len = (uint32_t)(payload - m->frame);
	}
	RC_PROBE3(fanout_start, ch->name, ch->nsubs, m->payload_len);
	rc_hub_publish(&srv->hub, ch, m);
	RC_PROBE2(fanout_done, ch->name, ch->nsubs);
	encodings_unref(m);
}

void rc_publish_ring(struct rc_server *srv, struct rc_channel *ch, uint16_t bid, uint8_t *payload,
		     uint32_t len)
{
	struct rc_msg m = { .frame = payload, .payload_len = len, .bid = bid };

	fan_out(srv, ch, &m, INGESTED, 0, 0);
}

void rc_publish_shared(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *shm)
{
	struct rc_msg m = { .frame = shm->data, .payload_len = shm->len, .shm = shm };

	fan_out(srv, ch, &m, INGESTED, 0, 0);
	rc_shmsg_unref(shm);
}

void rc_publish_remote(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *shm,
		       uint64_t epoch, uint64_t seq)
{
	struct rc_msg m = { .frame = shm->data, .payload_len = shm->len, .shm = shm, .seq = seq };

	fan_out(srv, ch, &m, REMOTE, 0, seq ? epoch : 0);
	rc_shmsg_unref(shm);
}

void rc_publish_relayed(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *shm,
			unsigned opcode, uint32_t hdr_len, uint64_t seq)
{
	struct rc_msg m = { .frame = shm->data - hdr_len, .hdr_len = hdr_len,
			    .payload_len = shm->len, .shm = shm, .seq = seq };

	fan_out(srv, ch, &m, RELAYED, opcode, 0);
	rc_shmsg_unref(shm);
}
