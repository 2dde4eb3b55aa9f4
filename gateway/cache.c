#include "cache.h"

#include <stdlib.h>

#include <string.h>

#include "sse.h"
#include "ts.h"
#include "ws_frame.h"

struct rc_cache *rc_cache_new(uint32_t max_msgs, uint64_t max_bytes)
{
	struct rc_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_msgs = max_msgs;
	c->max_bytes = max_bytes;
	return c;
}

struct rc_cache *rc_cache_new_ts(uint64_t max_bytes)
{
	struct rc_cache *c = rc_cache_new(0, max_bytes);

	if (c) {
		c->ts = true;
		c->pmt_pid = 0x1fff;
	}
	return c;
}

static struct rc_shmsg *at(const struct rc_cache *c, uint32_t i)
{
	return c->msgs[(c->head + i) % c->cap];
}

static void drop_oldest(struct rc_cache *c)
{
	struct rc_shmsg *m = at(c, 0);

	c->bytes -= m->len;
	rc_shmsg_unref(m);
	c->head = (c->head + 1) % c->cap;
	c->count--;
}

void rc_cache_free(struct rc_cache *c)
{
	if (!c)
		return;
	if (c->psi)
		rc_shmsg_unref(c->psi);
	while (c->count)
		drop_oldest(c);
	free(c->msgs);
	free(c);
}

static void add_one(struct rc_cache *c, struct rc_shmsg *m);

/* Rebuilds the PAT + PMT message after either changed. */
static void update_psi(struct rc_cache *c)
{
	struct rc_shmsg *psi;

	if (!c->have_pat || !c->have_pmt)
		return;
	psi = rc_shmsg_new(2 * RC_TS_PACKET);
	if (!psi)
		return;
	memcpy(psi->data, c->pat, RC_TS_PACKET);
	memcpy(psi->data + RC_TS_PACKET, c->pmt, RC_TS_PACKET);
	psi->len = 2 * RC_TS_PACKET;
	rc_ws_header_prepend(psi->data, RC_WS_OP_BINARY, psi->len);
	if (c->psi)
		rc_shmsg_unref(c->psi);
	c->psi = psi;
}

static void add_ts(struct rc_cache *c, struct rc_shmsg *m)
{
	struct rc_ts_scan scan;

	if (!rc_ts_scan(m->data, m->len, &c->pmt_pid, &scan)) {
		/* Not whole TS packets: can't tell a keyframe; keep the GOP. */
		if (c->in_gop)
			add_one(c, m);
		return;
	}
	if (scan.pat && memcmp(c->pat, scan.pat, RC_TS_PACKET)) {
		memcpy(c->pat, scan.pat, RC_TS_PACKET);
		c->have_pat = true;
		update_psi(c);
	}
	if (scan.pmt && memcmp(c->pmt, scan.pmt, RC_TS_PACKET)) {
		memcpy(c->pmt, scan.pmt, RC_TS_PACKET);
		c->have_pmt = true;
		update_psi(c);
	}
	if (scan.keyframe) {
		/* A new GOP: what came before is of no use to a joiner. */
		while (c->count)
			drop_oldest(c);
		c->in_gop = true;
	}
	if (!c->in_gop)
		return;
	if (c->max_bytes && c->bytes + m->len > c->max_bytes) {
		/* The GOP outgrew the bound: drop it whole, never half of it. */
		while (c->count)
			drop_oldest(c);
		c->in_gop = false;
		return;
	}
	add_one(c, m);
}

void rc_cache_add(struct rc_cache *c, struct rc_shmsg *m)
{
	if (c->ts) {
		add_ts(c, m);
		return;
	}
	add_one(c, m);
}

static void add_one(struct rc_cache *c, struct rc_shmsg *m)
{
	if (c->max_bytes && m->len > c->max_bytes) {
		while (c->count)
			drop_oldest(c);
		return;
	}
	while (c->count && ((c->max_msgs && c->count >= c->max_msgs) ||
			    (c->max_bytes && c->bytes + m->len > c->max_bytes)))
		drop_oldest(c);
	if (c->count == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 16;
		struct rc_shmsg **msgs = malloc(cap * sizeof(*msgs));

		if (!msgs)
			return;	/* keep what there is; this message is just not cached */
		for (uint32_t i = 0; i < c->count; i++)
			msgs[i] = at(c, i);
		free(c->msgs);
		c->msgs = msgs;
		c->cap = cap;
		c->head = 0;
	}
	rc_shmsg_ref(m);
	c->msgs[(c->head + c->count) % c->cap] = m;
	c->count++;
	c->bytes += m->len;
}

uint32_t rc_cache_replay(const struct rc_cache *c, struct rc_sub *s)
{
	uint32_t n = 0;

	/* TS: PAT and PMT first, so a player can decode what follows. */
	for (int32_t i = c->psi ? -1 : 0; i < (int32_t)c->count; i++) {
		struct rc_shmsg *m = i < 0 ? c->psi : at(c, (uint32_t)i);
		int ret;

		if (s->kind == RC_SUB_SSE) {
			/* Events are encoded at replay: the cache keeps one form. */
			bool binary;
			size_t size = rc_sse_event_size(m->data, m->len, &binary);
			struct rc_shmsg *e = rc_shmsg_new((uint32_t)size + 1);

			if (!e)
				break;
			e->len = (uint32_t)rc_sse_event_encode(e->data, m->data, m->len, binary);
			ret = rc_sendq_push_shared(s->q, e, e->data, e->len, 1);
			rc_shmsg_unref(e);
		} else if (s->kind == RC_SUB_RAW) {
			if (!m->len)
				continue;
			ret = rc_sendq_push_shared(s->q, m, m->data, m->len, 1);
		} else {
			size_t hl = rc_ws_header_size(m->len);
			struct rc_shmsg *label = s->kind == RC_SUB_WS_TAGGED ? s->ch->label : NULL;

			ret = label ? rc_sendq_push_label(s->q, label, label->data, label->len) : 0;
			if (ret == 0)
				ret = rc_sendq_push_shared(s->q, m, m->data - hl, (uint32_t)(hl + m->len),
							   1);
		}
		if (ret < 0)
			break;
		n++;
	}
	return n;
}
