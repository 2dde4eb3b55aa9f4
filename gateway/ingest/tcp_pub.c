/* TCP publishers on the connection base (see tcp_pub.h). */
#include "tcp_pub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "chan.h"
#include "publish.h"
#include "state.h"
#include "ts.h"
#include "uplink.h"
#include "ws_frame.h"

static const struct rc_stream_ops publisher_ops;

struct rc_publisher *rc_publisher_of(struct rc_stream *st)
{
	return st->ops == &publisher_ops ? (struct rc_publisher *)st : NULL;
}

/* Answers "ERR <why>", counts it, and closes once it is out. */
static void pub_refuse(struct rc_publisher *p, const char *why)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "ERR %s\n", why);
	uint8_t *out = malloc((size_t)n);

	p->st.srv->stats.pub_refused++;
	rc_log_debug("publisher fd %d refused: %s", p->st.fd, why);
	if (!out) {
		rc_stream_close(&p->st);
		return;
	}
	memcpy(out, line, (size_t)n);
	p->st.close_after_send = true;
	p->state = RC_PUB_REFUSED;
	rc_sendq_push_heap(&p->st.q, out, (uint32_t)n);
}

/* Framed stream bytes data[0..len) of ring buffer bid, where data starts
 * `offset` bytes into the buffer. Whole messages whose frame header fits
 * where their length prefix was (or into the buffer's headroom) go out in
 * place; the others are copied once into a shared message. */
static void framed_input(struct rc_publisher *p, uint16_t bid, uint8_t *data, size_t len,
			 size_t offset)
{
	struct rc_server *srv = p->st.srv;

	while (len && p->state == RC_PUB_STREAM) {
		struct rc_framed_event ev;
		size_t used = rc_framed_feed(&p->fr, data, len, &ev);
		size_t at = offset + (size_t)(ev.data ? ev.data - data : 0);

		if (ev.error) {
			/* A length over the limit: the rest of the stream cannot
			 * be framed any more. */
			srv->stats.pub_framing_errors++;
			pub_refuse(p, "message too large");
			return;
		}
		if (ev.ready && ev.first && ev.last && ev.prefix_here) {
			/* Room in front: the 4 prefix bytes, plus the headroom
			 * when the prefix starts the buffer. Bytes before the
			 * prefix belong to a message that may be queued already. */
			size_t room = 4 + (at == 4 ? rc_bufring_headroom(srv->ingest_ring) : 0);

			if (rc_ws_header_size(ev.len) <= room) {
				rc_publish_ring(srv, p->ch, bid, (uint8_t *)ev.data, (uint32_t)ev.len);
				goto next;
			}
		}
		if (ev.ready && ev.first) {
			p->partial = rc_shmsg_new(ev.msg_len);
			if (!p->partial) {
				pub_refuse(p, "out of memory");
				return;
			}
		}
		if (ev.ready) {
			memcpy(p->partial->data + p->partial->len, ev.data, ev.len);
			p->partial->len += (uint32_t)ev.len;
			if (ev.last) {
				struct rc_shmsg *m = p->partial;

				p->partial = NULL;
				rc_publish_shared(srv, p->ch, m);
			}
		}
next:
		data += used;
		offset += used;
		len -= used;
	}
}

/* Stream bytes after the opening line. */
static void stream_input(struct rc_publisher *p, uint16_t bid, uint8_t *data, size_t len,
			 size_t offset)
{
	if (p->mode == RC_PUB_FRAMED) {
		framed_input(p, bid, data, len, offset);
		return;
	}
	/* Raw: what one receive brought is one message, published where it
	 * landed. At offset 0 the header goes into the headroom; after the
	 * opening line, into the line's bytes (at least "PUB x\n"). */
	if (!p->ts_align) {
		if (len)
			rc_publish_ring(p->st.srv, p->ch, bid, data, (uint32_t)len);
		return;
	}
	/* An MPEG-TS channel: every message is whole 188-byte packets, so a
	 * player that joins or a subscriber that skipped a message lands on a
	 * packet boundary. The packet cut by the previous receive is finished
	 * in a small copy; the whole packets that follow go out in place (their
	 * header overwrites bytes already copied); the cut tail waits. */
	if (p->carry_len) {
		size_t need = RC_TS_PACKET - p->carry_len;
		struct rc_shmsg *m;

		if (len < need) {
			memcpy(p->carry + p->carry_len, data, len);
			p->carry_len += len;
			return;
		}
		m = rc_shmsg_new(RC_TS_PACKET);
		if (m) {
			memcpy(m->data, p->carry, p->carry_len);
			memcpy(m->data + p->carry_len, data, need);
			m->len = RC_TS_PACKET;
			rc_publish_shared(p->st.srv, p->ch, m);
		}
		p->carry_len = 0;
		data += need;
		len -= need;
	}
	if (len >= RC_TS_PACKET)
		rc_publish_ring(p->st.srv, p->ch, bid, data,
				(uint32_t)(len - len % RC_TS_PACKET));
	memcpy(p->carry, data + len - len % RC_TS_PACKET, len % RC_TS_PACKET);
	p->carry_len = len % RC_TS_PACKET;
}

static void hello(struct rc_publisher *p)
{
	struct rc_server *srv = p->st.srv;
	struct rc_pub_request req;
	const char *why = NULL;
	struct rc_channel *ch;
	int err = 0;

	if (rc_pub_parse(p->line, p->line_len, &req, &why) < 0) {
		pub_refuse(p, why);
		return;
	}
	if (srv->stopping) {
		pub_refuse(p, "shutting down");
		return;
	}
	/* Before the channel is touched: a refused publisher creates nothing. */
	if (rc_access_key(&srv->access, req.channel, req.channel_len, req.key, req.key_len) != RC_ACCESS_OK) {
		pub_refuse(p, "forbidden");
		return;
	}
	ch = rc_hub_acquire(&srv->hub, req.channel, req.channel_len, &err);
	if (!ch) {
		pub_refuse(p, err == -ENOSPC ? "too many channels" : "bad channel");
		return;
	}
	err = rc_chan_pub_claim(ch, rc_config_multi_publisher(srv->cfg, ch->name));
	if (err < 0) {
		rc_hub_release(&srv->hub, ch);
		pub_refuse(p, err == -EBUSY ? "busy" : "out of memory");
		return;
	}
	p->ch = ch;
	p->mode = req.mode;
	p->ts_align = rc_config_ts(srv->cfg, ch->name);
	rc_framed_init(&p->fr, rc_config_max_message(srv->cfg, ch->name));
	rc_sendq_push_static(&p->st.q, (const uint8_t *)"OK\n", 3);
	p->state = RC_PUB_STREAM;
	/* Only a framed stream has room for its subscribers' messages. */
	if (p->mode == RC_PUB_FRAMED && rc_config_uplink(srv->cfg, ch->name))
		rc_uplink_claim_tcp(srv, ch, p);
	rc_log_debug("publisher fd %d on channel %s (%s)", p->st.fd, ch->name,
		     req.mode == RC_PUB_FRAMED ? "framed" : "raw");
}

/* Bytes of buffer bid before and after the end of the opening line. A
 * publisher takes all of its input at once: fan-out is the work it asks
 * for, and what it sends lands in the ingest ring, which the hub's buffer
 * policy bounds. */
static size_t pub_input(struct rc_stream *st, uint8_t *data, size_t len, uint16_t bid)
{
	struct rc_publisher *p = (struct rc_publisher *)st;
	size_t offset = 0;
	size_t at = (size_t)(data - rc_bufring_data(rc_stream_ring(st), bid));

	if (p->state == RC_PUB_HELLO) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;

		if (p->line_len + take >= RC_PUB_LINE_MAX) {
			pub_refuse(p, "line too long");
			return len;
		}
		memcpy(p->line + p->line_len, data, take);
		p->line_len += take;
		if (!nl)
			return len;
		hello(p);
		offset = take + 1;
	}
	if (p->state == RC_PUB_STREAM && offset < len)
		stream_input(p, bid, data + offset, len - offset, at + offset);
	return len;
}

/* Only "OK" or "ERR" is ever queued: no bound on what comes in. */
static size_t pub_bound(const struct rc_stream *st)
{
	(void)st;
	return SIZE_MAX;
}

static void pub_on_close(struct rc_stream *st)
{
	struct rc_publisher *p = (struct rc_publisher *)st;
	struct rc_server *srv = st->srv;

	p->state = RC_PUB_DEAD;
	if (p->partial) {
		/* A message the publisher did not finish is never delivered. */
		rc_shmsg_unref(p->partial);
		p->partial = NULL;
		srv->stats.pub_partial_dropped++;
	}
	if (p->carry_len) {
		/* Raw on an MPEG-TS channel: the packet the publisher did not
		 * finish is never sent (only whole packets are), so count it
		 * like a cut-off framed message. */
		p->carry_len = 0;
		srv->stats.pub_partial_dropped++;
	}
	if (p->ch) {
		rc_uplink_release_tcp(srv, p->ch, p);
		rc_chan_pub_release(p->ch);
		rc_hub_release(&srv->hub, p->ch);
		p->ch = NULL;
	}
}

/* Input stopped inside a message: a framed message or its length prefix
 * begun, or a raw MPEG-TS packet cut. */
static bool pub_mid_message(const struct rc_publisher *p)
{
	return p->partial || p->carry_len || p->fr.hdr_have || p->fr.in_msg;
}

/* A publisher stalled mid-message pins its unfinished message (up to
 * --max-message bytes) and holds the channel's one publisher place, so it
 * is closed after --idle-timeout of silence: the bound ringcast already
 * puts on a connection that holds something while making no progress.
 * Not --handshake-timeout: that is a total for a small opening line, and
 * a large message on a slow link may rightly take longer than that while
 * its bytes keep coming. Only silence counts here, and not while ringcast
 * itself stopped reading (-ENOBUFS): then the recv is not armed, and the
 * clock restarts when it is. A publisher quiet between whole messages
 * holds nothing unfinished and stays: quiet channels exist. */
static void pub_tick(struct rc_stream *st, uint64_t now)
{
	struct rc_publisher *p = (struct rc_publisher *)st;
	struct rc_server *srv = st->srv;

	if (p->state == RC_PUB_HELLO && now - st->accepted_ms >= srv->cfg->handshake_timeout_ms) {
		srv->stats.handshake_timeouts++;
		rc_stream_close(st);
	} else if (p->state == RC_PUB_STREAM && st->recv_armed && pub_mid_message(p) &&
		   rc_stream_since(st->last_in_ms, now) >= srv->cfg->idle_timeout_ms) {
		srv->stats.pub_timeouts++;
		rc_log_debug("publisher fd %d on channel %s: stalled mid-message, closed", st->fd,
			     p->ch->name);
		rc_stream_close(st);
	} else if (srv->stopping) {
		rc_stream_close(st);
	}
}

/* --max-conns-per-ip: answered ERR, as for its opening line, so that the
 * publisher sees why. */
static void pub_refuse_ip(struct rc_stream *st)
{
	pub_refuse((struct rc_publisher *)st, "too many connections from your address");
}

static void pub_free(struct rc_stream *st)
{
	struct rc_server *srv = st->srv;

	free(st);
	rc_mem_uncharge(sizeof(struct rc_publisher));
	srv->stats.publishers--;
}

static const struct rc_stream_ops publisher_ops = {
	.input = pub_input,
	.bound = pub_bound,
	.on_close = pub_on_close,
	.tick = pub_tick,
	.refuse_ip = pub_refuse_ip,
	.free = pub_free,
};

void rc_publisher_accept(struct rc_server *srv, int fd)
{
	struct rc_publisher *p = calloc(1, sizeof(*p));

	if (!p) {
		close(fd);
		srv->stats.accept_errors++;
		return;
	}
	p->state = RC_PUB_HELLO;
	rc_mem_charge(sizeof(*p));
	srv->stats.publishers++;
	/* The publisher's receive selects from the ingest ring: its bytes
	 * land where fan-out can use them. */
	if (rc_stream_accept(&p->st, srv, fd, &publisher_ops, true, &srv->pub_sendq) <
	    0) {
		rc_mem_uncharge(sizeof(*p));
		srv->stats.publishers--;
		free(p);
	}
}
