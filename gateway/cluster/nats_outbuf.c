#include "nats_outbuf.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* Buffers larger than this are freed once empty, so that a burst does not
 * keep its memory. */
#define KEEP_CAP (64u * 1024)
#define MIN_CAP 4096u

void rc_nats_outbuf_init(struct rc_nats_outbuf *o, size_t limit)
{
	memset(o, 0, sizeof(*o));
	o->limit = limit;
}

static void buf_free(struct rc_nats_buf *b)
{
	if (b->data) {
		free(b->data);
		rc_mem_uncharge(b->cap);
	}
	b->data = NULL;
	b->cap = 0;
	b->len = 0;
	b->msgs = 0;
}

char *rc_nats_outbuf_reserve(struct rc_nats_outbuf *o, size_t n)
{
	struct rc_nats_buf *b = &o->fill;
	size_t need = b->len + n;
	/* The capacity of both stays within the bound, not only their
	 * lengths: the flight's allocation counts whatever it still holds. */
	size_t room = o->flight.cap < o->limit ? o->limit - o->flight.cap : 0;
	size_t cap;
	char *p;

	if (o->flight.len > o->limit || need > o->limit - o->flight.len)
		return NULL;
	if (need <= b->cap)
		return b->data + b->len;
	if (need > room)
		return NULL;
	cap = b->cap ? b->cap : MIN_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > room)
		cap = room;
	p = realloc(b->data, cap);
	if (!p)
		return NULL;
	rc_mem_charge(cap - b->cap);
	b->data = p;
	b->cap = cap;
	return b->data + b->len;
}

void rc_nats_outbuf_commit(struct rc_nats_outbuf *o, size_t n, uint64_t msgs)
{
	o->fill.len += n;
	o->fill.msgs += msgs;
}

bool rc_nats_outbuf_take(struct rc_nats_outbuf *o)
{
	struct rc_nats_buf t;

	if (o->flight.len || !o->fill.len)
		return false;
	t = o->flight;
	o->flight = o->fill;
	o->fill = t;
	o->off = 0;
	return true;
}

bool rc_nats_outbuf_sent(struct rc_nats_outbuf *o, size_t n, uint64_t *msgs)
{
	o->off += n;
	if (o->off < o->flight.len)
		return false;
	*msgs = o->flight.msgs;
	o->flight.len = 0;
	o->flight.msgs = 0;
	o->off = 0;
	if (o->flight.cap > KEEP_CAP)
		buf_free(&o->flight);
	return true;
}

uint64_t rc_nats_outbuf_clear(struct rc_nats_outbuf *o)
{
	uint64_t msgs = o->fill.msgs + o->flight.msgs;

	o->fill.len = o->flight.len = 0;
	o->fill.msgs = o->flight.msgs = 0;
	o->off = 0;
	return msgs;
}

void rc_nats_outbuf_trim(struct rc_nats_outbuf *o)
{
	if (o->fill.cap > KEEP_CAP && !o->fill.len)
		buf_free(&o->fill);
	if (o->flight.cap > KEEP_CAP && !o->flight.len)
		buf_free(&o->flight);
}

void rc_nats_outbuf_fini(struct rc_nats_outbuf *o)
{
	buf_free(&o->fill);
	buf_free(&o->flight);
	o->off = 0;
}
