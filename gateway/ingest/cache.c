#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "position_label.h"
#include "sse.h"
#include "ts.h"
#include "ws_frame.h"

struct rc_cache *rc_cache_new(uint32_t max_msgs, uint64_t max_bytes)
{
	struct rc_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	rc_mem_charge(sizeof(*c));
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

static struct rc_cache_ent *at(const struct rc_cache *c, uint32_t i)
{
	return &c->msgs[(c->head + i) % c->cap];
}

static void drop_oldest(struct rc_cache *c)
{
	struct rc_cache_ent *e = at(c, 0);

	c->bytes -= e->m->len;
	rc_shmsg_unref(e->m);
	if (e->sse)
		rc_shmsg_unref(e->sse);
	if (e->label)
		rc_shmsg_unref(e->label);
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
	rc_mem_uncharge(sizeof(*c) + c->cap * sizeof(*c->msgs));
	free(c->msgs);
	free(c);
}

static void add_one(struct rc_cache *c, struct rc_shmsg *m, struct rc_shmsg *sse, struct rc_shmsg *label,
		    uint64_t seq);

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

static bool add_ts(struct rc_cache *c, struct rc_shmsg *m, struct rc_shmsg *sse, struct rc_shmsg *label,
		    uint64_t seq)
{
	struct rc_ts_scan scan;

	if (!rc_ts_scan(m->data, m->len, &c->pmt_pid, &scan)) {
		/* Not whole TS packets: can't tell a keyframe; keep the GOP. */
		if (c->in_gop)
			add_one(c, m, sse, label, seq);
		return false;
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
		c->seen_key = true;
	}
	if (!c->in_gop)
		return false;
	if (c->max_bytes && c->bytes + m->len > c->max_bytes) {
		/* The GOP outgrew the bound: drop it whole, never half of it. */
		while (c->count)
			drop_oldest(c);
		c->in_gop = false;
		return scan.keyframe;
	}
	add_one(c, m, sse, label, seq);
	return scan.keyframe;
}

bool rc_cache_add(struct rc_cache *c, struct rc_shmsg *m, struct rc_shmsg *sse, struct rc_shmsg *label,
		    uint64_t seq)
{
	if (c->ts)
		return add_ts(c, m, sse, label, seq);
	add_one(c, m, sse, label, seq);
	return false;
}

static void add_one(struct rc_cache *c, struct rc_shmsg *m, struct rc_shmsg *sse, struct rc_shmsg *label,
		    uint64_t seq)
{
	struct rc_cache_ent *e;

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
		struct rc_cache_ent *msgs = malloc(cap * sizeof(*msgs));

		if (!msgs)
			return;	/* keep what there is; this message is just not cached */
		for (uint32_t i = 0; i < c->count; i++)
			msgs[i] = *at(c, i);
		rc_mem_charge((cap - c->cap) * sizeof(*msgs));
		free(c->msgs);
		c->msgs = msgs;
		c->cap = cap;
		c->head = 0;
	}
	e = &c->msgs[(c->head + c->count) % c->cap];
	rc_shmsg_ref(m);
	e->m = m;
	e->sse = sse;
	e->label = label;
	e->seq = seq;
	if (sse)
		rc_shmsg_ref(sse);
	if (label)
		rc_shmsg_ref(label);
	c->count++;
	c->bytes += m->len;
}

/* The SSE event of cached message e, made now if it has none yet. NULL
 * without memory. */
static struct rc_shmsg *ent_sse(const struct rc_cache *c, struct rc_cache_ent *e)
{
	if (!e->sse)
		e->sse = rc_sse_event_new(e->m->data, e->m->len, c->epoch, e->seq);
	return e->sse;
}

/* The position label of cached message e of s's channel, made now if it
 * has none yet; the channel's plain label for an unnumbered message or
 * without memory (a label must precede the message either way). */
static struct rc_shmsg *ent_label(const struct rc_cache *c, struct rc_cache_ent *e,
				  const struct rc_sub *s)
{
	if (!e->label && c->epoch && e->seq)
		e->label = rc_position_label_new(s->ch->name, s->ch->name_len, c->epoch, e->seq);
	return e->label ? e->label : s->ch->tag;
}

/* The label a tagged subscriber s gets before cached message e (the PSI
 * message when e is NULL: the channel's plain label). */
static struct rc_shmsg *replay_label(const struct rc_cache *c, struct rc_cache_ent *e,
				     const struct rc_sub *s)
{
	return e ? ent_label(c, e, s) : s->ch->tag;
}

/* What queueing message m (or cache entry e) on s will add to its charge;
 * 0 when s gets nothing of it (an empty payload on a raw stream). SIZE_MAX
 * when its SSE event cannot be made. */
static size_t replay_cost(const struct rc_cache *c, struct rc_cache_ent *e, struct rc_shmsg *m,
			  const struct rc_sub *s)
{
	switch (s->kind) {
	case RC_SUB_ALT: {
		struct rc_shmsg *ev = e ? ent_sse(c, e) : NULL;

		if (!e)
			return m->len * 2 + 64 + RC_SENDQ_ENT_COST;	/* PSI: never for SSE */
		return ev ? ev->len + RC_SENDQ_ENT_COST : SIZE_MAX;
	}
	case RC_SUB_RAW:
		return m->len ? m->len + RC_SENDQ_ENT_COST : 0;
	case RC_SUB_TAGGED: {
		struct rc_shmsg *label = replay_label(c, e, s);

		return rc_ws_header_size(m->len) + m->len + RC_SENDQ_ENT_COST +
		       (label ? label->len + RC_SENDQ_ENT_COST : 0);
	}
	default:
		return rc_ws_header_size(m->len) + m->len + RC_SENDQ_ENT_COST;
	}
}

/* Queues one cached message (e, or the PSI message m when e is NULL) on s. */
static int replay_one(const struct rc_cache *c, struct rc_cache_ent *e, struct rc_shmsg *m,
		      struct rc_sub *s)
{
	int ret;

	if (s->kind == RC_SUB_ALT) {
		struct rc_shmsg *ev = e ? ent_sse(c, e) : rc_sse_event_new(m->data, m->len, 0, 0);

		if (!ev)
			return -1;
		ret = rc_sendq_push_shared(s->q, ev, ev->data, ev->len, 1);
		if (!e)
			rc_shmsg_unref(ev);
		return ret;
	}
	if (s->kind == RC_SUB_RAW)
		return m->len ? rc_sendq_push_shared(s->q, m, m->data, m->len, 1) : 0;
	{
		size_t hl = rc_ws_header_size(m->len);
		struct rc_shmsg *label = s->kind == RC_SUB_TAGGED ? replay_label(c, e, s) : NULL;

		ret = label ? rc_sendq_push_label(s->q, label, label->data, label->len) : 0;
		if (ret == 0)
			ret = rc_sendq_push_shared(s->q, m, m->data - hl, (uint32_t)(hl + m->len), 1);
		return ret;
	}
}

/* Whether a replay after message number since gives cached entry e (since
 * 0: every entry; ts caches ignore since). Not a prefix test: a channel's
 * messages can reach a worker out of number order (two publishers, or one
 * that moved to another worker). */
static bool wanted(const struct rc_cache *c, const struct rc_cache_ent *e, uint64_t since)
{
	return !since || c->ts || e->seq > since;
}

/* Where a replay to s starts: the index of the first cached message it
 * queues (c->count: none), after the PSI message when *psi. Sets
 * s->await_key for a ts joiner that gets no GOP when set_await. */
static uint32_t replay_start(struct rc_cache *c, struct rc_sub *s, uint64_t since, bool *psi,
			     bool set_await)
{
	size_t held = rc_sendq_charge(s->q);
	size_t budget = s->max_queue / 2 > held ? s->max_queue / 2 - held : 0;
	size_t cost = 0;
	uint32_t first = c->count;

	*psi = false;
	/* TS: PAT and PMT first, so a player can decode what follows. */
	if (c->psi) {
		size_t pc = replay_cost(c, NULL, c->psi, s);

		if (pc > budget)
			return c->count;
		cost = pc;
		*psi = true;
	}
	/* The newest wanted messages that fit, found from the newest back. */
	for (uint32_t i = c->count; i > 0; i--) {
		struct rc_cache_ent *e = at(c, i - 1);
		size_t mc;

		if (!wanted(c, e, since))
			continue;
		mc = replay_cost(c, e, e->m, s);
		if (mc == SIZE_MAX || cost + mc > budget)
			break;
		cost += mc;
		first = i - 1;
	}
	/* A GOP is useful from its keyframe only (its first message). A
	 * joiner without it starts at the next keyframe. */
	if (c->ts && (first > 0 || !c->in_gop))
		first = c->count;
	if (set_await && c->ts && first == c->count && c->seen_key)
		s->await_key = true;
	return first;
}

/* Queues the wanted messages from index first on (after the PSI message
 * when psi). Returns how many it queued. */
static uint32_t replay_from(struct rc_cache *c, struct rc_sub *s, uint64_t since, uint32_t first,
			    bool psi)
{
	uint32_t n = 0;

	if (psi) {
		if (replay_one(c, NULL, c->psi, s) < 0)
			return 0;
		n++;
	}
	for (uint32_t i = first; i < c->count; i++) {
		struct rc_cache_ent *e = at(c, i);

		if (!wanted(c, e, since) || (s->kind == RC_SUB_RAW && !e->m->len))
			continue;
		if (replay_one(c, e, e->m, s) < 0)
			break;
		n++;
	}
	return n;
}

uint32_t rc_cache_each(const struct rc_cache *c, rc_cache_each_fn fn, void *arg)
{
	uint32_t n = 0;

	if (c->psi) {
		if (!fn(arg, c->psi->data, c->psi->len, 0))
			return n;
		n++;
	}
	for (uint32_t i = 0; i < c->count; i++) {
		const struct rc_cache_ent *e = at(c, i);

		if (!fn(arg, e->m->data, e->m->len, e->seq))
			break;
		n++;
	}
	return n;
}

uint32_t rc_cache_replay(struct rc_cache *c, struct rc_sub *s, uint64_t since)
{
	bool psi;
	uint32_t first = replay_start(c, s, since, &psi, true);

	return replay_from(c, s, since, first, psi);
}

uint32_t rc_cache_resume(struct rc_cache *c, struct rc_sub *s, uint64_t since, uint64_t last,
			 bool queue, bool *whole)
{
	bool psi;
	uint32_t first, n = 0;
	uint64_t want = since + 1;

	*whole = false;
	if (c->ts || since > last)
		return 0;
	first = replay_start(c, s, since, &psi, false);
	/* What the replay would give must be since + 1 ... last, in order. */
	for (uint32_t i = first; i < c->count; i++) {
		const struct rc_cache_ent *e = at(c, i);

		if (!wanted(c, e, since))
			continue;
		if (e->seq != want)
			return 0;
		want++;
		n++;
	}
	if (want != last + 1)
		return 0;
	*whole = true;
	return queue ? replay_from(c, s, since, first, false) : n;
}
