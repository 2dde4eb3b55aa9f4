#include "udp_bind.h"

#include <string.h>

#include "chan.h"
#include "ingest_proto.h"
#include "publish.h"
#include "relay.h"
#include "state.h"
#include "token.h"
#include "uplink.h"

/* On a channel with uplink, the datagram's source is where its
 * subscribers' messages go (uplink.h). */
static void note_source(struct rc_server *srv, struct rc_channel *ch, struct rc_udp_port *p)
{
	struct rc_chan *c = rc_chan_peek(ch);

	if (c && c->uplink_on && p->src)
		rc_uplink_note_udp(srv, ch, p, p->src, p->src_len);
}

void rc_udp_bind_datagram(struct rc_udp_port *p, uint16_t bid, uint8_t *payload, uint32_t len)
{
	struct rc_ingest *in = (struct rc_ingest *)p;
	struct rc_server *srv = in->srv;
	struct rc_channel *ch = in->ch;
	const char *name, *key, *want;
	size_t name_len, key_len, off;

	if (ch) {
		/* A port bound to a channel holds its key by configuration:
		 * restrict who may send to it with --udp-allow. */
		rc_publish_ring(srv, ch, bid, payload, len);
		note_source(srv, ch, p);
		return;
	}
	if (rc_mux_parse_key(payload, len, &name, &name_len, &key, &key_len, &off) < 0) {
		srv->stats.mux_bad_header++;
		return;
	}
	/* The channel may have its subscribers on other workers only. */
	ch = rc_relay_find(srv, name, name_len);
	if (!ch) {
		srv->stats.mux_no_channel++;
		return;
	}
	want = rc_config_pub_key(srv->cfg, ch->name);
	if (want && !rc_token_secret_equal(want, strlen(want), key ? key : "", key_len)) {
		srv->stats.refused[RC_REFUSE_MUX_KEY]++;
		return;
	}
	rc_publish_ring(srv, ch, bid, payload + off, len - (uint32_t)off);
	note_source(srv, ch, p);
}
