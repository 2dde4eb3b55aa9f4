#include "cache.h"

#include <stdlib.h>

#include "sse.h"
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
	while (c->count)
		drop_oldest(c);
	free(c->msgs);
	free(c);
}

void rc_cache_add(struct rc_cache *c, struct rc_shmsg *m)
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

	for (uint32_t i = 0; i < c->count; i++) {
		struct rc_shmsg *m = at(c, i);
		int ret;

		if (s->kind == RC_SUB_SSE) {
			/* Events are encoded at replay: the cache keeps one form. */
			bool binary;
			size_t size = rc_sse_event_size(m->data, m->len, &binary);
			struct rc_shmsg *e = rc_shmsg_new((uint32_t)size + 1);

			if (!e)
				break;
			e->len = (uint32_t)rc_sse_event_encode(e->data, m->data, m->len, binary);
			ret = rc_sendq_push_shared(s->q, e, e->data, e->len, true);
			rc_shmsg_unref(e);
		} else if (s->kind == RC_SUB_RAW) {
			if (!m->len)
				continue;
			ret = rc_sendq_push_shared(s->q, m, m->data, m->len, true);
		} else {
			size_t hl = rc_ws_header_size(m->len);
			struct rc_shmsg *label = s->kind == RC_SUB_WS_TAGGED ? s->ch->label : NULL;

			ret = label ? rc_sendq_push_shared(s->q, label, label->data, label->len, false) : 0;
			if (ret == 0)
				ret = rc_sendq_push_shared(s->q, m, m->data - hl, (uint32_t)(hl + m->len),
							   true);
		}
		if (ret < 0)
			break;
		n++;
	}
	return n;
}
