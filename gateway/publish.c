#include "publish.h"

#include "server.h"
#include "sse.h"

/* The SSE form of a payload, made once per message and only for channels
 * that have SSE subscribers; NULL when there are none (or no memory, which
 * costs those subscribers this message). */
static struct rc_shmsg *sse_event(struct rc_channel *ch, const uint8_t *payload, uint32_t len)
{
	struct rc_shmsg *e;
	bool binary;
	size_t n;

	if (!ch->nsse)
		return NULL;
	n = rc_sse_event_size(payload, len, &binary);
	e = rc_shmsg_new((uint32_t)n + 1);
	if (!e)
		return NULL;
	e->len = (uint32_t)rc_sse_event_encode(e->data, payload, len, binary);
	return e;
}

static void fan_out(struct rc_server *srv, struct rc_channel *ch, struct rc_msg *m)
{
	uint8_t *payload = m->frame + m->hdr_len;

	ch->msgs_in++;
	ch->bytes_in += m->payload_len;
	if (!ch->nsubs)
		return;
	/* Framed once, in place: the header goes into the bytes in front of the
	 * payload, and every subscriber's send points at this same memory. */
	m->frame = rc_ws_header_prepend(payload, RC_WS_OP_BINARY, m->payload_len);
	m->hdr_len = (uint32_t)(payload - m->frame);
	m->sse = sse_event(ch, payload, m->payload_len);
	rc_hub_publish(&srv->hub, ch, m);
	if (m->sse)
		rc_shmsg_unref(m->sse);
}

void rc_publish_ring(struct rc_server *srv, struct rc_channel *ch, uint16_t bid, uint8_t *payload,
		     uint32_t len)
{
	struct rc_msg m = { .frame = payload, .payload_len = len, .bid = bid };

	fan_out(srv, ch, &m);
}

void rc_publish_shared(struct rc_server *srv, struct rc_channel *ch, struct rc_shmsg *shm)
{
	struct rc_msg m = { .frame = shm->data, .payload_len = shm->len, .shm = shm };

	fan_out(srv, ch, &m);
	rc_shmsg_unref(shm);
}
