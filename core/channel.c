/* Channel registry, fan-out and the slow-subscriber policy. */
#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "probes.h"

static const char *const drop_names[RC_DROP_REASONS] = {
	[RC_DROP_SLOW_DROP] = "slow_drop",   [RC_DROP_SLOW_CLOSE] = "slow_close",
	[RC_DROP_PRESSURE] = "pressure",     [RC_DROP_STALLED] = "stalled",
	[RC_DROP_TRUNCATED] = "truncated",   [RC_DROP_CLOSED] = "closed",
	[RC_DROP_KEYFRAME_WAIT] = "keyframe_wait",
};

const char *rc_drop_reason_name(enum rc_drop_reason r)
{
	return r < RC_DROP_REASONS ? drop_names[r] : "unknown";
}

/* FNV-1a: channel names are short and chosen by clients, and the table only
 * serves subscribe and bind, never the per-message path. */
uint32_t rc_channel_name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

static void hub_pressure(struct rc_loop *loop, struct rc_deferred *d);
static void hub_evict(struct rc_loop *loop, struct rc_deferred *d);
static void hub_batch_flush(struct rc_loop *loop, struct rc_deferred *d);
static void batch_close(struct rc_hub *hub, struct rc_channel *ch);
static void queue_evict(struct rc_hub *hub, struct rc_sub *s, enum rc_drop_reason reason);

int rc_hub_init(struct rc_hub *hub, struct rc_loop *loop, struct rc_bufring *br,
		uint32_t max_channels)
{
	memset(hub, 0, sizeof(*hub));
	hub->buf_ms = calloc(rc_bufring_ids(br), sizeof(*hub->buf_ms));
	if (!hub->buf_ms)
		return -ENOMEM;
	hub->loop = loop;
	hub->br = br;
	hub->max_channels = max_channels;
	hub->stall_ms = 2000;
	hub->lag_ms = 500;
	hub->batch_max_frame = RC_HUB_BATCH_MAX_FRAME;
	hub->pressure.fn = hub_pressure;
	hub->evict.fn = hub_evict;
	hub->batch_flush.fn = hub_batch_flush;
	rc_bufring_set_pressure(br, &hub->pressure);
	return 0;
}

void rc_hub_share(struct rc_hub *hub, struct rc_chanreg *reg, uint32_t loop_id)
{
	hub->reg = reg;
	hub->loop_id = loop_id;
}

void rc_hub_fini(struct rc_hub *hub)
{
	for (size_t b = 0; b < RC_HUB_BUCKETS; b++) {
		struct rc_channel *ch = hub->buckets[b];

		while (ch) {
			struct rc_channel *next = ch->hnext;

			if (hub->channel_free)
				hub->channel_free(ch, hub->channel_free_arg);
			if (ch->shared)
				rc_chanreg_drop(hub->reg, ch->shared);
			free(ch->subs);
			free(ch);
			ch = next;
		}
		hub->buckets[b] = NULL;
	}
	hub->nchannels = 0;
	free(hub->buf_ms);
	hub->buf_ms = NULL;
}

struct rc_channel *rc_hub_acquire(struct rc_hub *hub, const char *name, size_t len, int *err)
{
	uint32_t b;
	struct rc_channel *ch;

	if (!rc_channel_name_valid(name, len)) {
		*err = -EINVAL;
		return NULL;
	}
	b = rc_channel_name_hash(name, len) % RC_HUB_BUCKETS;
	for (ch = hub->buckets[b]; ch; ch = ch->hnext) {
		if (ch->name_len == len && memcmp(ch->name, name, len) == 0) {
			ch->users++;
			ch->idle_since_ms = 0;
			if (ch->shared)
				atomic_fetch_add_explicit(&ch->shared->users, 1, memory_order_relaxed);
			return ch;
		}
	}
	if (hub->nchannels >= hub->max_channels) {
		*err = -ENOSPC;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		*err = -ENOMEM;
		return NULL;
	}
	if (hub->reg) {
		ch->shared = rc_chanreg_hold(hub->reg, name, len);
		if (!ch->shared) {
			free(ch);
			*err = -ENOMEM;
			return NULL;
		}
		atomic_fetch_add_explicit(&ch->shared->users, 1, memory_order_relaxed);
	}
	rc_mem_charge(sizeof(*ch));
	memcpy(ch->name, name, len);
	ch->name_len = len;
	ch->users = 1;
	ch->hnext = hub->buckets[b];
	hub->buckets[b] = ch;
	hub->nchannels++;
	return ch;
}

struct rc_channel *rc_hub_find(struct rc_hub *hub, const char *name, size_t len)
{
	struct rc_channel *ch;

	if (len == 0 || len > RC_CHANNEL_NAME_MAX)
		return NULL;
	for (ch = hub->buckets[rc_channel_name_hash(name, len) % RC_HUB_BUCKETS]; ch; ch = ch->hnext)
		if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
			return ch;
	return NULL;
}

static void channel_free(struct rc_hub *hub, struct rc_channel *ch)
{
	struct rc_channel **pp;

	pp = &hub->buckets[rc_channel_name_hash(ch->name, ch->name_len) % RC_HUB_BUCKETS];
	while (*pp != ch)
		pp = &(*pp)->hnext;
	*pp = ch->hnext;
	hub->nchannels--;
	/* Nobody is left to get the open batch; it must not stay listed. */
	if (ch->batch_listed) {
		for (pp = &hub->batch_head; *pp != ch; pp = &(*pp)->batch_next)
			;
		*pp = ch->batch_next;
		ch->batch_listed = false;
	}
	batch_close(hub, ch);
	if (hub->channel_free)
		hub->channel_free(ch, hub->channel_free_arg);
	if (ch->shared)
		rc_chanreg_drop(hub->reg, ch->shared);
	rc_mem_uncharge(sizeof(*ch) + ch->cap * sizeof(*ch->subs));
	free(ch->subs);
	free(ch);
}

/* Drops one user of ch (counted in the registry, unless it is the hub's
 * own hold). */
static void release(struct rc_hub *hub, struct rc_channel *ch, bool counted)
{
	if (counted && ch->shared)
		atomic_fetch_sub_explicit(&ch->shared->users, 1, memory_order_relaxed);
	if (--ch->users)
		return;
	if (!hub->grace_ms) {
		channel_free(hub, ch);
		return;
	}
	/* Kept for a grace period: a publisher that reconnects, or a
	 * subscriber that comes back, finds its channel (and cache) again. */
	ch->idle_since_ms = rc_loop_now_ms(hub->loop) | 1;
}

void rc_hub_release(struct rc_hub *hub, struct rc_channel *ch)
{
	release(hub, ch, true);
}

void rc_hub_hold(struct rc_hub *hub, struct rc_channel *ch)
{
	(void)hub;
	if (ch->held)
		return;
	ch->held = true;
	ch->users++;
	ch->idle_since_ms = 0;
}

void rc_hub_unhold(struct rc_hub *hub, struct rc_channel *ch)
{
	if (!ch->held)
		return;
	ch->held = false;
	release(hub, ch, false);
}

void rc_hub_sweep(struct rc_hub *hub)
{
	uint64_t now = rc_loop_now_ms(hub->loop);

	for (size_t b = 0; b < RC_HUB_BUCKETS; b++) {
		struct rc_channel *ch = hub->buckets[b];

		while (ch) {
			struct rc_channel *next = ch->hnext;

			/* idle_since_ms is the release's clock with its low bit
			 * set (0 means in use), so it may read one past now in
			 * the turn of the release. */
			if (!ch->users && ch->idle_since_ms && now >= ch->idle_since_ms &&
			    now - ch->idle_since_ms >= hub->grace_ms)
				channel_free(hub, ch);
			ch = next;
		}
	}
}

void rc_hub_foreach(struct rc_hub *hub, void (*fn)(struct rc_channel *ch, void *arg), void *arg)
{
	for (size_t b = 0; b < RC_HUB_BUCKETS; b++)
		for (struct rc_channel *ch = hub->buckets[b]; ch; ch = ch->hnext)
			fn(ch, arg);
}

static void count_kind(struct rc_channel *ch, uint8_t kind, bool deflate, int d)
{
	if (ch->shared && kind < RC_CHANREG_KINDS)
		atomic_fetch_add_explicit(&ch->shared->kinds[kind], (uint32_t)d,
					  memory_order_relaxed);
	if (kind == RC_SUB_ALT)
		ch->nalt += (uint32_t)d;
	if ((kind == RC_SUB_FRAME || kind == RC_SUB_TAGGED) && deflate) {
		/* Fed from the compressed batches. */
		ch->nz += (uint32_t)d;
		if (kind == RC_SUB_TAGGED)
			ch->nztagged += (uint32_t)d;
		return;
	}
	if (kind == RC_SUB_FRAME || kind == RC_SUB_TAGGED)
		ch->nbatched += (uint32_t)d;
	if (kind == RC_SUB_TAGGED)
		ch->ntagged += (uint32_t)d;
}

int rc_hub_subscribe(struct rc_hub *hub, struct rc_channel *ch, struct rc_sub *s)
{
	if (ch->nsubs == ch->cap) {
		uint32_t cap = ch->cap ? ch->cap * 2 : 8;
		struct rc_sub **subs = realloc(ch->subs, cap * sizeof(*subs));

		if (!subs)
			return -ENOMEM;
		rc_mem_charge((cap - ch->cap) * sizeof(*subs));
		ch->subs = subs;
		ch->cap = cap;
	}
	/* Other loops hand this loop the channel's messages from the moment
	 * its first subscriber is counted in the registry, not later: the
	 * interest bit is set before the count that /metrics shows. */
	if (ch->shared && ch->nsubs == 0)
		rc_chanreg_set_interest(ch->shared, hub->loop_id, true);
	if (ch->shared && !rc_chanreg_sub_reserve(ch->shared, ch->max_subs)) {
		if (ch->nsubs == 0)
			rc_chanreg_set_interest(ch->shared, hub->loop_id, false);
		return -EUSERS;
	}
	/* What was published before s joined is not for s (a late joiner
	 * gets the channel's cache instead). */
	batch_close(hub, ch);
	s->ch = ch;
	s->slot = ch->nsubs;
	ch->subs[ch->nsubs++] = s;
	count_kind(ch, s->kind, s->deflate, 1);
	if (ch->nsubs == 1 && hub->channel_interest)
		hub->channel_interest(ch, true, hub->channel_free_arg);
	return 0;
}

void rc_hub_sub_set_kind(struct rc_hub *hub, struct rc_sub *s, enum rc_sub_kind kind)
{
	if (s->ch) {
		batch_close(hub, s->ch);
		count_kind(s->ch, s->kind, s->deflate, -1);
		count_kind(s->ch, (uint8_t)kind, s->deflate, 1);
	}
	s->kind = (uint8_t)kind;
}

void rc_hub_unsubscribe(struct rc_hub *hub, struct rc_sub *s)
{
	struct rc_channel *ch = s->ch;
	struct rc_sub **pp;

	if (!ch)
		return;
	/* Swap-remove: order among subscribers carries no meaning. */
	ch->subs[s->slot] = ch->subs[--ch->nsubs];
	ch->subs[s->slot]->slot = s->slot;
	s->ch = NULL;
	count_kind(ch, s->kind, s->deflate, -1);
	if (ch->shared) {
		rc_chanreg_sub_release(ch->shared);
		if (!ch->nsubs)
			rc_chanreg_set_interest(ch->shared, hub->loop_id, false);
	}
	/* An eviction still queued for s must not run after its owner is gone. */
	if (s->evicting) {
		for (pp = &hub->evict_head; *pp; pp = &(*pp)->evict_next) {
			if (*pp == s) {
				*pp = s->evict_next;
				break;
			}
		}
	}
	if (!ch->nsubs && hub->channel_interest)
		hub->channel_interest(ch, false, hub->channel_free_arg);
	rc_hub_release(hub, ch);
}

/* Counts n messages s missed for reason: on the subscriber, its channel and
 * the hub. */
static void count_drops(struct rc_hub *hub, struct rc_sub *s, enum rc_drop_reason reason,
			uint64_t n)
{
	s->drops += n;
	if (s->ch)
		s->ch->drops += n;
	if (s->ch && s->ch->shared)
		rc_chanreg_add64(&s->ch->shared->drops, n);
	hub->stats.drops[reason] += n;
	RC_PROBE3(drop, s->ch ? s->ch->name : "", reason, n);
}

void rc_hub_drop_pending(struct rc_hub *hub, struct rc_sub *s)
{
	count_drops(hub, s, RC_DROP_CLOSED, rc_sendq_drop_pending(s->q));
}

/* Marks s for eviction; the owner hears of it at the end of the turn, so the
 * subscriber array is never changed while publish walks it. */
static void queue_evict(struct rc_hub *hub, struct rc_sub *s, enum rc_drop_reason reason)
{
	if (s->evicting)
		return;
	s->evicting = true;
	s->evict_reason = (uint8_t)reason;
	hub->stats.drops[reason]++;
	RC_PROBE3(drop, s->ch ? s->ch->name : "", reason, 0);
	s->evict_next = hub->evict_head;
	hub->evict_head = s;
	rc_loop_defer(hub->loop, &hub->evict);
}

static void hub_evict(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_hub *hub = (struct rc_hub *)((char *)d - offsetof(struct rc_hub, evict));

	(void)loop;
	while (hub->evict_head) {
		struct rc_sub *s = hub->evict_head;
		hub->evict_head = s->evict_next;
		s->evict(s, (enum rc_drop_reason)s->evict_reason);
	}
}

/* Appends alen bytes at a, then flen at f, to the batch *bp, creating or
 * growing it (to what it holds, doubling: a batch pinned by a slow
 * subscriber costs about its length, not a fixed block). */
static int batch_put(struct rc_shmsg **bp, const uint8_t *a, uint32_t alen, const uint8_t *f,
		     uint32_t flen)
{
	uint32_t need = (*bp ? (*bp)->len : 0) + alen + flen;

	if (!*bp) {
		*bp = rc_shmsg_new(need < 512 ? 1024 : 2 * need);
		if (!*bp)
			return -ENOMEM;
		if (rc_shmsg_add_ends(*bp) < 0) {
			rc_shmsg_unref(*bp);
			*bp = NULL;
			return -ENOMEM;
		}
	} else if (need > (*bp)->cap && rc_shmsg_reserve(bp, 2 * need) < 0) {
		return -ENOMEM;
	}
	(*bp)->ends[(*bp)->nends++] = need;
	if (alen)
		memcpy((*bp)->data + (*bp)->len, a, alen);
	memcpy((*bp)->data + (*bp)->len + alen, f, flen);
	(*bp)->len = need;
	return 0;
}

/* Messages in ch's open batches (0 when none is open). They hold the
 * same messages unless one kind of subscriber left mid-turn, after which
 * that kind's batch stops growing. */
static uint32_t batch_count(const struct rc_channel *ch)
{
	uint32_t n = 0;

	for (int k = 0; k < RC_BATCH_KINDS; k++)
		if (ch->batch[k] && ch->batch[k]->nends > n)
			n = ch->batch[k]->nends;
	return n;
}

static bool batch_open(const struct rc_channel *ch)
{
	for (int k = 0; k < RC_BATCH_KINDS; k++)
		if (ch->batch[k])
			return true;
	return false;
}

/* Subscribers of ch fed from batches of kind k. */
static uint32_t batch_wanted(const struct rc_channel *ch, int k)
{
	switch (k) {
	case RC_BATCH_FRAME: return ch->nbatched - ch->ntagged;
	case RC_BATCH_TAGGED: return ch->ntagged;
	case RC_BATCH_Z: return ch->nz - ch->nztagged;
	default: return ch->nztagged;
	}
}

/* The batch kind s is fed from, or -1 (raw and SSE subscribers). */
static int batch_kind_of(const struct rc_sub *s)
{
	if (s->kind == RC_SUB_FRAME)
		return s->deflate ? RC_BATCH_Z : RC_BATCH_FRAME;
	if (s->kind == RC_SUB_TAGGED)
		return s->deflate ? RC_BATCH_ZTAGGED : RC_BATCH_TAGGED;
	return -1;
}

/* Copies m's frame into each of ch's batches that some subscriber wants:
 * the frame, or its compressed frame for deflate kinds when it has one,
 * after the tag for tagged kinds; and lists ch to be closed at the end of
 * the turn. Returns 0 or -ENOMEM (then nothing was added). */
static int batch_add(struct rc_hub *hub, struct rc_channel *ch, const struct rc_msg *m,
		     uint32_t frame_len, struct rc_shmsg *tag)
{
	uint32_t len[RC_BATCH_KINDS];
	bool added[RC_BATCH_KINDS] = { false };

	if (!batch_open(ch)) {
		ch->batch_key = RC_BATCH_NO_KEY;
		ch->batch_z = 0;
	}
	if (m->keyframe && ch->batch_key == RC_BATCH_NO_KEY)
		ch->batch_key = batch_count(ch);
	for (int k = 0; k < RC_BATCH_KINDS; k++) {
		bool z = (k == RC_BATCH_Z || k == RC_BATCH_ZTAGGED) && m->z;
		bool t = k == RC_BATCH_TAGGED || k == RC_BATCH_ZTAGGED;

		if (!batch_wanted(ch, k))
			continue;
		len[k] = ch->batch[k] ? ch->batch[k]->len : 0;
		if (batch_put(&ch->batch[k], t && tag ? tag->data : NULL, t && tag ? tag->len : 0,
			      z ? m->z->data : m->frame, z ? m->z->len : frame_len) < 0) {
			/* Take back what this message put into the others. */
			for (int j = 0; j < k; j++) {
				if (!added[j])
					continue;
				ch->batch[j]->len = len[j];
				ch->batch[j]->nends--;
			}
			return -ENOMEM;
		}
		added[k] = true;
	}
	if (m->z && (batch_wanted(ch, RC_BATCH_Z) || batch_wanted(ch, RC_BATCH_ZTAGGED)))
		ch->batch_z++;
	if (!ch->batch_listed) {
		ch->batch_listed = true;
		ch->batch_next = hub->batch_head;
		hub->batch_head = ch;
		rc_loop_defer(hub->loop, &hub->batch_flush);
	}
	return 0;
}

/* Hands ch's open batches to their subscribers (one entry each, the same
 * memory for all of a kind) and drops the channel's references: from here
 * the queues own them, and the last send that completes or drops one
 * frees it. */
static void batch_close(struct rc_hub *hub, struct rc_channel *ch)
{
	struct rc_shmsg *bs[RC_BATCH_KINDS];
	uint32_t key = ch->batch_key, from, zs = ch->batch_z;

	if (!batch_open(ch))
		return;
	hub->stats.batches++;
	hub->stats.batched_msgs += batch_count(ch);
	for (int k = 0; k < RC_BATCH_KINDS; k++) {
		bs[k] = ch->batch[k];
		ch->batch[k] = NULL;
	}
	ch->batch_z = 0;
	for (uint32_t i = 0; i < ch->nsubs; i++) {
		struct rc_sub *s = ch->subs[i];
		int k = batch_kind_of(s);
		struct rc_shmsg *m = k >= 0 ? bs[k] : NULL;
		uint32_t n;

		if (!m || !m->nends)	/* (emptied again by a failed add) */
			continue;
		n = m->nends;	/* its kind's batch may have stopped growing */
		from = 0;
		if (s->await_key) {
			/* A video joiner starts at the batch's keyframe, if it
			 * has one (in this kind's batch), else gets none of it. */
			if (key >= n) {
				count_drops(hub, s, RC_DROP_KEYFRAME_WAIT, n);
				continue;
			}
			from = key ? m->ends[key - 1] : 0;
			count_drops(hub, s, RC_DROP_KEYFRAME_WAIT, key);
			n -= key;
			s->await_key = false;
		}
		if (s->evicting) {
			/* Counted, so that for every subscriber delivered +
			 * dropped is what was published to it. */
			count_drops(hub, s, RC_DROP_CLOSED, n);
			continue;
		}
		if (rc_sendq_charge(s->q) + m->len - from + RC_SENDQ_ENT_COST > s->max_queue) {
			if (s->policy == RC_SLOW_DROP) {
				count_drops(hub, s, RC_DROP_SLOW_DROP, n);
			} else {
				queue_evict(hub, s, RC_DROP_SLOW_CLOSE);
				count_drops(hub, s, RC_DROP_CLOSED, n);
			}
			continue;
		}
		if (rc_sendq_push_shared(s->q, m, m->data + from, m->len - from, (uint8_t)n) < 0)
			queue_evict(hub, s, RC_DROP_STALLED);
		else if (s->deflate)
			hub->stats.zdeliveries += zs;	/* (a keyframe joiner's share is close) */
	}
	for (int k = 0; k < RC_BATCH_KINDS; k++)
		if (bs[k])
			rc_shmsg_unref(bs[k]);
}

/* End of the turn: every batch opened in it goes out. Runs before the send
 * queues' own end-of-turn flushes that the pushes here queue. */
static void hub_batch_flush(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_hub *hub = (struct rc_hub *)((char *)d - offsetof(struct rc_hub, batch_flush));

	(void)loop;
	while (hub->batch_head) {
		struct rc_channel *ch = hub->batch_head;

		hub->batch_head = ch->batch_next;
		ch->batch_listed = false;
		batch_close(hub, ch);
	}
}

/* The tag frame a tagged subscriber of ch gets before m. */
static struct rc_shmsg *tag_of(const struct rc_channel *ch, const struct rc_msg *m)
{
	return m->tag ? m->tag : ch->tag;
}

void rc_hub_publish(struct rc_hub *hub, struct rc_channel *ch, const struct rc_msg *m)
{
	uint8_t *payload = m->frame + m->hdr_len;
	uint32_t frame_len = m->hdr_len + m->payload_len;
	bool batched = false;

	if ((ch->nbatched || ch->nz) && frame_len <= hub->batch_max_frame) {
		bool full = batch_count(ch) == RC_HUB_BATCH_MSGS;

		for (int k = 0; k < RC_BATCH_KINDS && !full; k++)
			full = ch->batch[k] && ch->batch[k]->len + frame_len > RC_HUB_BATCH_BYTES;
		if (full)
			batch_close(hub, ch);
		batched = batch_add(hub, ch, m, frame_len,
				    ch->ntagged || ch->nztagged ? tag_of(ch, m) : NULL) == 0;
		if (batched && ch->nbatched + ch->nz == ch->nsubs)
			return;
	}
	/* Whatever is sent from here must not overtake what is batched. */
	if (!batched)
		batch_close(hub, ch);
	/* The message's age, for the pressure policy to find the subscribers
	 * that are furthest behind. */
	if (!m->shm)
		hub->buf_ms[m->bid] = rc_loop_now_ms(hub->loop);
	for (uint32_t i = 0; i < ch->nsubs; i++) {
		struct rc_sub *s = ch->subs[i];
		struct rc_shmsg *shm = m->shm;
		struct rc_shmsg *tag = NULL;
		uint8_t *ptr = m->frame;
		uint32_t len = frame_len;
		int ret;

		if (batched && (s->kind == RC_SUB_FRAME || s->kind == RC_SUB_TAGGED))
			continue;
		if (s->deflate && m->z && (s->kind == RC_SUB_FRAME || s->kind == RC_SUB_TAGGED)) {
			/* The compressed frame, made once for all of them. */
			shm = m->z;
			ptr = m->z->data;
			len = m->z->len;
		}
		if (s->kind == RC_SUB_RAW) {
			ptr = payload;
			len = m->payload_len;
		} else if (s->kind == RC_SUB_ALT) {
			if (!m->alt)
				continue;
			shm = m->alt;
			ptr = m->alt->data;
			len = m->alt->len;
		} else if (s->kind == RC_SUB_TAGGED) {
			tag = tag_of(ch, m);
		}
		if (len == 0)
			continue;
		if (s->await_key) {
			if (!m->keyframe) {
				count_drops(hub, s, RC_DROP_KEYFRAME_WAIT, 1);
				continue;
			}
			s->await_key = false;
		}
		if (s->evicting) {
			/* Counted, so that for every subscriber delivered +
			 * dropped is what was published to it. */
			count_drops(hub, s, RC_DROP_CLOSED, 1);
			continue;
		}
		if (rc_sendq_charge(s->q) + len + RC_SENDQ_ENT_COST +
			    (tag ? tag->len + RC_SENDQ_ENT_COST : 0) > s->max_queue) {
			if (s->policy == RC_SLOW_DROP) {
				count_drops(hub, s, RC_DROP_SLOW_DROP, 1);
			} else {
				queue_evict(hub, s, RC_DROP_SLOW_CLOSE);
				count_drops(hub, s, RC_DROP_CLOSED, 1);
			}
			continue;
		}
		/* A tagged subscriber gets the channel's tag frame right before
		 * the message: one shared frame per channel, no per-subscriber
		 * copy. */
		ret = tag ? rc_sendq_push_label(s->q, tag, tag->data, tag->len) : 0;
		if (ret == 0)
			ret = shm ? rc_sendq_push_shared(s->q, shm, ptr, len, 1)
				  : rc_sendq_push_ring(s->q, ptr, len, m->bid, true);
		if (ret < 0) {
			queue_evict(hub, s, RC_DROP_STALLED);
			count_drops(hub, s, RC_DROP_CLOSED, 1);
		} else if (m->z && shm == m->z) {
			hub->stats.zdeliveries++;
		}
	}
}

/* The subscriber whose oldest discardable message is the oldest of all and
 * older than lag_ms: the one furthest behind. Entries that are not ring
 * messages (pongs, HTTP answers) do not count. NULL when nobody is behind. */
static struct rc_sub *furthest_behind(struct rc_hub *hub, uint64_t now, uint16_t min_bid)
{
	struct rc_sub *worst = NULL;
	uint64_t oldest = now >= hub->lag_ms ? now - hub->lag_ms + 1 : 0;

	for (size_t b = 0; b < RC_HUB_BUCKETS; b++) {
		for (struct rc_channel *ch = hub->buckets[b]; ch; ch = ch->hnext) {
			for (uint32_t i = 0; i < ch->nsubs; i++) {
				const struct rc_sendq_ent *e =
					rc_sendq_first_pending_ring(ch->subs[i]->q, min_bid);

				if (e && hub->buf_ms[e->bid] < oldest) {
					oldest = hub->buf_ms[e->bid];
					worst = ch->subs[i];
				}
			}
		}
	}
	return worst;
}

/* The buffer ring is running low. Subscribers that hold buffers because
 * they are behind must not starve ingest for everybody: discard the queued
 * (not yet sent) messages of the subscribers furthest behind first, but only
 * of those more than lag_ms behind — a healthy subscriber only holds fresh
 * messages, so a burst larger than the ring pauses ingest (the socket buffer
 * absorbs it) instead of costing healthy subscribers messages. Then evict
 * subscribers whose in-flight send, or zero-copy notification, is older than
 * stall_ms: a socket that accepts nothing pins those buffers for ever. */
static void hub_pressure(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_hub *hub = (struct rc_hub *)((char *)d - offsetof(struct rc_hub, pressure));
	uint64_t now = rc_loop_now_ms(loop);

	/* Only the large class short: only who holds its buffers counts
	 * (discarding others' regular messages would free none of them). */
	uint16_t min_bid = rc_bufring_free(hub->br) >= hub->br->refill ? (uint16_t)hub->br->count : 0;

	hub->stats.pressure_runs++;
	/* Bounded so a pathological case costs bounded work per turn. */
	for (int round = 0; round < 64 && rc_bufring_low(hub->br); round++) {
		struct rc_sub *worst = furthest_behind(hub, now, min_bid);

		if (!worst)
			break;
		if (worst->policy == RC_SLOW_CLOSE) {
			rc_hub_drop_pending(hub, worst);
			queue_evict(hub, worst, RC_DROP_SLOW_CLOSE);
		} else {
			count_drops(hub, worst, RC_DROP_PRESSURE, rc_sendq_drop_pending(worst->q));
		}
	}
	if (!rc_bufring_low(hub->br))
		return;
	for (size_t b = 0; b < RC_HUB_BUCKETS; b++) {
		for (struct rc_channel *ch = hub->buckets[b]; ch; ch = ch->hnext) {
			for (uint32_t i = 0; i < ch->nsubs; i++) {
				struct rc_sub *s = ch->subs[i];

				if ((rc_sendq_busy(s->q) &&
				     now - s->q->inflight_since_ms >= hub->stall_ms) ||
				    (now >= hub->stall_ms &&
				     rc_sendq_zc_stuck(s->q, now - hub->stall_ms)))
					queue_evict(hub, s, RC_DROP_STALLED);
			}
		}
	}
	if (rc_bufring_low(hub->br))
		rc_log_debug("buffer ring %u: %u of %u free after pressure policy", hub->br->group,
			     rc_bufring_free(hub->br), hub->br->count);
}

void rc_hub_tick(struct rc_hub *hub)
{
	if (rc_bufring_low(hub->br))
		rc_loop_defer(hub->loop, &hub->pressure);
}

static void channel_rate(struct rc_channel *ch, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;
	uint64_t dt = now - ch->rate_ms;

	if (ch->rate_ms && dt < 1000)
		return;
	if (ch->rate_ms) {
		ch->msg_rate = (ch->msgs_in - ch->rate_msgs) * 1000 / dt;
		ch->byte_rate = (ch->bytes_in - ch->rate_bytes) * 1000 / dt;
	}
	ch->rate_ms = now;
	ch->rate_msgs = ch->msgs_in;
	ch->rate_bytes = ch->bytes_in;
}

void rc_hub_rates(struct rc_hub *hub, uint64_t now_ms)
{
	rc_hub_foreach(hub, channel_rate, &now_ms);
}
