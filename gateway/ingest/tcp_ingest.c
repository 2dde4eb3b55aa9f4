/* TCP publishers (--tcp ADDR:PORT): the opening line, then raw or framed
 * messages, received with a multishot recv straight into the ingest ring so
 * that a message that fits one receive is fanned out from where it landed. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ingest_proto.h"
#include "log.h"
#include "publish.h"
#include "ts.h"
#include "server.h"

static void pub_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void pub_rearm(struct rc_loop *loop, struct rc_deferred *d);
static void pub_reap(struct rc_loop *loop, struct rc_deferred *d);
static void pub_send_error(struct rc_sendq *q, int err);
static void pub_drained(struct rc_sendq *q);

const struct rc_sendq_ops rc_publisher_sendq_ops = {
	.on_error = pub_send_error,
	.on_drained = pub_drained,
};

static struct rc_publisher *pub_of_sendq(struct rc_sendq *q)
{
	return (struct rc_publisher *)((char *)q - offsetof(struct rc_publisher, q));
}

static int arm_recv(struct rc_publisher *p)
{
	int ret = rc_loop_recv_multishot(p->srv->loop, &p->recv_io, p->fd, p->srv->ingest_ring);

	if (ret == 0)
		p->recv_armed = true;
	return ret;
}

/* Answers "ERR <why>", counts it, and closes once it is out. */
static void pub_refuse(struct rc_publisher *p, const char *why);

/* --max-conns-per-ip: one limit for all of an address's TCP connections,
 * so publishers are counted in the same table as HTTP connections (an
 * address cannot get round the limit on the other port). Over it the
 * publisher is answered ERR, as for its opening line, so that it sees why. */
static void pub_count_ip(struct rc_publisher *p)
{
	struct rc_server *srv = p->srv;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (!srv->cfg.max_conns_per_ip || getpeername(p->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    rc_ipcount_key((struct sockaddr *)&ss, len, p->ip) < 0)
		return;
	ret = rc_ipcount_add(&srv->ipcount, p->ip, srv->cfg.max_conns_per_ip);
	if (ret == 0) {
		p->ip_counted = true;
		return;
	}
	if (ret == -EUSERS)
		srv->stats.refused[RC_REFUSE_PER_IP]++;
	pub_refuse(p, "too many connections from your address");
}

void rc_publisher_accept(struct rc_server *srv, int fd)
{
	struct rc_publisher *p = calloc(1, sizeof(*p));
	int one = 1;

	if (!p) {
		close(fd);
		srv->stats.accept_errors++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->srv = srv;
	p->fd = fd;
	p->state = RC_PUB_HELLO;
	p->recv_io.fn = pub_recv_done;
	p->rearm.fn = pub_rearm;
	p->reap.fn = pub_reap;
	p->since_ms = rc_loop_now_ms(srv->loop);
	p->accepted_ms = p->since_ms;
	rc_sendq_init(&p->q, &srv->pub_sendq, fd);
	if (arm_recv(p) < 0) {
		close(fd);
		free(p);
		srv->stats.accept_errors++;
		return;
	}
	p->next = srv->publishers;
	if (srv->publishers)
		srv->publishers->prev = p;
	srv->publishers = p;
	srv->stats.accepted++;
	srv->stats.publishers++;
	pub_count_ip(p);
}

static void pub_maybe_free(struct rc_publisher *p)
{
	if (p->state == RC_PUB_DEAD && !p->recv_armed && !rc_sendq_held(&p->q))
		rc_loop_defer(p->srv->loop, &p->reap);
}

static void pub_reap(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_publisher *p = (struct rc_publisher *)((char *)d - offsetof(struct rc_publisher, reap));
	struct rc_server *srv = p->srv;

	(void)loop;
	if (p->state != RC_PUB_DEAD || p->recv_armed || rc_sendq_held(&p->q))
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->publishers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (p->ip_counted)
		rc_ipcount_del(&srv->ipcount, p->ip);
	close(p->fd);
	free(p);
	srv->stats.publishers--;
}

void rc_publisher_close(struct rc_publisher *p)
{
	struct rc_server *srv = p->srv;

	if (p->state == RC_PUB_DEAD)
		return;
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
		p->ch->publishers--;
		rc_hub_release(&srv->hub, p->ch);
		p->ch = NULL;
	}
	rc_bufring_unwait(srv->ingest_ring, &p->rearm);
	rc_sendq_kill(&p->q);
	shutdown(p->fd, SHUT_RDWR);
	if (p->recv_armed)
		rc_loop_cancel(srv->loop, &p->recv_io);
	pub_maybe_free(p);
}

static void pub_send_error(struct rc_sendq *q, int err)
{
	(void)err;
	rc_publisher_close(pub_of_sendq(q));
}

static void pub_drained(struct rc_sendq *q)
{
	struct rc_publisher *p = pub_of_sendq(q);

	if (p->close_after_send && p->state != RC_PUB_DEAD)
		rc_publisher_close(p);
	else
		pub_maybe_free(p);
}

/* Answers "ERR <why>", counts it, and closes once it is out. */
static void pub_refuse(struct rc_publisher *p, const char *why)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "ERR %s\n", why);
	uint8_t *out = malloc((size_t)n);

	p->srv->stats.pub_refused++;
	rc_log_debug("publisher fd %d refused: %s", p->fd, why);
	if (!out) {
		rc_publisher_close(p);
		return;
	}
	memcpy(out, line, (size_t)n);
	p->close_after_send = true;
	p->state = RC_PUB_REFUSED;
	rc_sendq_push_heap(&p->q, out, (uint32_t)n);
}

/* Framed stream bytes data[0..len) of ring buffer bid, where data starts
 * `offset` bytes into the buffer. Whole messages whose frame header fits
 * where their length prefix was (or into the buffer's headroom) go out in
 * place; the others are copied once into a shared message. */
static void framed_input(struct rc_publisher *p, uint16_t bid, uint8_t *data, size_t len,
			 size_t offset)
{
	struct rc_server *srv = p->srv;

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
			size_t room = 4 + (at == 4 ? srv->ingest_ring->headroom : 0);

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
			rc_publish_ring(p->srv, p->ch, bid, data, (uint32_t)len);
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
			rc_publish_shared(p->srv, p->ch, m);
		}
		p->carry_len = 0;
		data += need;
		len -= need;
	}
	if (len >= RC_TS_PACKET)
		rc_publish_ring(p->srv, p->ch, bid, data,
				(uint32_t)(len - len % RC_TS_PACKET));
	memcpy(p->carry, data + len - len % RC_TS_PACKET, len % RC_TS_PACKET);
	p->carry_len = len % RC_TS_PACKET;
}

static void hello(struct rc_publisher *p)
{
	struct rc_server *srv = p->srv;
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
	if (rc_access_key(srv, req.channel, req.channel_len, req.key, req.key_len) != RC_ACCESS_OK) {
		pub_refuse(p, "forbidden");
		return;
	}
	ch = rc_hub_acquire(&srv->hub, req.channel, req.channel_len, &err);
	if (!ch) {
		pub_refuse(p, err == -ENOSPC ? "too many channels" : "bad channel");
		return;
	}
	if (ch->publishers && !rc_config_multi_publisher(&srv->cfg, ch->name)) {
		rc_hub_release(&srv->hub, ch);
		pub_refuse(p, "busy");
		return;
	}
	ch->publishers++;
	p->ch = ch;
	p->mode = req.mode;
	p->ts_align = rc_config_ts(&srv->cfg, ch->name);
	rc_framed_init(&p->fr, rc_config_max_message(&srv->cfg, ch->name));
	rc_sendq_push_static(&p->q, (const uint8_t *)"OK\n", 3);
	p->state = RC_PUB_STREAM;
	rc_log_debug("publisher fd %d on channel %s (%s)", p->fd, ch->name,
		     req.mode == RC_PUB_FRAMED ? "framed" : "raw");
}

/* Bytes of buffer bid before and after the end of the opening line. */
static void pub_input(struct rc_publisher *p, uint16_t bid, uint8_t *data, size_t len)
{
	size_t offset = 0;

	if (p->state == RC_PUB_HELLO) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;

		if (p->line_len + take >= RC_PUB_LINE_MAX) {
			pub_refuse(p, "line too long");
			return;
		}
		memcpy(p->line + p->line_len, data, take);
		p->line_len += take;
		if (!nl)
			return;
		hello(p);
		offset = take + 1;
	}
	if (p->state == RC_PUB_STREAM && offset < len)
		stream_input(p, bid, data + offset, len - offset, offset);
}

static void pub_rearm(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_publisher *p = (struct rc_publisher *)((char *)d - offsetof(struct rc_publisher, rearm));

	if (p->state == RC_PUB_DEAD || p->recv_armed)
		return;
	/* The pause was ours, not the publisher's: its stall clock restarts. */
	p->since_ms = rc_loop_now_ms(loop);
	if (arm_recv(p) < 0)
		rc_publisher_close(p);
}

static void pub_recv_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_publisher *p = (struct rc_publisher *)((char *)io - offsetof(struct rc_publisher, recv_io));
	struct rc_server *srv = p->srv;

	if (!(cqe->flags & RC_CQE_MORE))
		p->recv_armed = false;
	if (cqe->flags & RC_CQE_BUFFER) {
		/* Ours, with one reference, until the unref below; publishing
		 * adds one per subscriber that queues a piece of it. */
		rc_bufring_take(srv->ingest_ring, cqe->bid);
		if (cqe->res > 0)
			p->bytes_in += (uint64_t)cqe->res;
		if (cqe->res > 0 && (p->state == RC_PUB_HELLO || p->state == RC_PUB_STREAM))
			pub_input(p, cqe->bid, rc_bufring_data(srv->ingest_ring, cqe->bid),
				  (size_t)cqe->res);
		/* The opening line's clock runs from the accept; once
		 * streaming, any input counts as life. */
		if (cqe->res > 0 && p->state == RC_PUB_STREAM)
			p->since_ms = rc_loop_now_ms(loop);
		rc_bufring_unref(srv->ingest_ring, cqe->bid);
	}
	if (p->recv_armed)
		return;
	if (p->state == RC_PUB_DEAD) {
		pub_maybe_free(p);
		return;
	}
	if (cqe->res == -ENOBUFS) {
		/* Subscribers hold every ingest buffer: resume when a quarter
		 * is back; TCP flow control holds the publisher meanwhile. */
		if (rc_bufring_wait(srv->ingest_ring, &p->rearm) < 0)
			rc_publisher_close(p);
		return;
	}
	if (cqe->res <= 0) {
		/* The publisher left (or reset); subscribers stay and wait. */
		rc_publisher_close(p);
		return;
	}
	if (p->state == RC_PUB_REFUSED)
		return;	/* stop reading; closed once ERR is out */
	if (arm_recv(p) < 0)
		rc_publisher_close(p);
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
static bool pub_stalled(const struct rc_publisher *p, uint64_t now)
{
	return p->state == RC_PUB_STREAM && p->recv_armed && pub_mid_message(p) &&
	       now - p->since_ms >= p->srv->cfg.idle_timeout_ms;
}

void rc_publisher_tick(struct rc_server *srv)
{
	uint64_t now = rc_loop_now_ms(srv->loop);

	for (struct rc_publisher *p = srv->publishers, *next; p; p = next) {
		next = p->next;
		if (p->state == RC_PUB_HELLO && now - p->since_ms >= srv->cfg.handshake_timeout_ms) {
			srv->stats.handshake_timeouts++;
			rc_publisher_close(p);
		} else if (pub_stalled(p, now)) {
			srv->stats.pub_timeouts++;
			rc_log_debug("publisher fd %d on channel %s: stalled mid-message, closed",
				     p->fd, p->ch->name);
			rc_publisher_close(p);
		} else if (srv->stopping && p->state != RC_PUB_DEAD) {
			rc_publisher_close(p);
		}
	}
}
