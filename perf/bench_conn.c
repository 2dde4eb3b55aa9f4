/* ringcast-bench subscribers: non-blocking connect, a hand-written HTTP/1.1
 * upgrade, then RFC 6455 server frames parsed with the project's parser. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench.h"
#include "payload.h"

/* A load tool gains nothing from random keys, so it uses the RFC 6455
 * section 1.3 example key, whose accept value is known and checked. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HS_MAX 2048		/* response head limit */
#define MAX_MESSAGE (UINT64_C(16) << 20)
#define POLL_EVENTS 1024
#define SEND_EVERY_EVENTS 64

uint64_t bench_now(void)
{
	return payload_now_ns(CLOCK_MONOTONIC);
}

static void set_reason(struct bench *b, const char *what, int err)
{
	if (b->run_close_reason[0] == '\0')
		snprintf(b->run_close_reason, sizeof(b->run_close_reason), "%s%s%s", what,
			 err ? ": " : "", err ? strerror(err) : "");
}

static void conn_drop_fd(struct bench *b, struct bench_conn *c)
{
	if (c->fd >= 0) {
		/* close() removes the fd from epoll too; explicit DEL keeps
		 * the interest list honest if the fd was ever duplicated. */
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	free(c->hs_buf);
	c->hs_buf = NULL;
}

/* A subscriber that never opened: remember the first reason for the report. */
static void conn_fail(struct bench *b, struct bench_conn *c, const char *what, int err)
{
	if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE)
		b->inflight--;
	conn_drop_fd(b, c);
	c->state = CONN_FAILED;
	if (b->failed++ == 0) {
		b->first_fail_what = what;
		b->first_fail_err = err;
	}
}

/* An open subscriber went away; its missing deliveries count as loss. */
static void conn_close(struct bench *b, struct bench_conn *c, const char *what, int err)
{
	conn_drop_fd(b, c);
	c->state = CONN_CLOSED;
	b->open--;
	b->run_disconnects++;
	set_reason(b, what, err);
}

/* Starts one subscriber's connect. A subscriber that fails here is recorded
 * as failed and the phase goes on; only a failing socket() (fd or memory
 * exhaustion, which will not get better) is returned as negative errno. */
static int start_connect(struct bench *b, unsigned idx)
{
	struct bench_conn *c = &b->conns[idx];
	const struct bench_config *cfg = &b->cfg;
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = idx };
	const char *what;
	int one = 1, fd;

	fd = socket(cfg->ws_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c->fd = fd;
	c->state = CONN_CONNECTING;
	b->inflight++;
	if (cfg->ws_addr.ss_family == AF_INET && cfg->src_addrs > 0) {
		/* Spreading subscribers over 127.0.0.1, .2, ... gives each
		 * source address its own ephemeral port range. NO_PORT defers
		 * the port choice to connect(), where the kernel only needs the
		 * whole 4-tuple to be unique. */
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + idx % cfg->src_addrs);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			what = "bind source address";
			goto fail;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&cfg->ws_addr, cfg->ws_addr_len) < 0 &&
	    errno != EINPROGRESS) {
		what = "connect";
		goto fail;
	}
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		what = "epoll_ctl";
		goto fail;
	}
	return 0;

fail:
	conn_fail(b, c, what, errno);	/* closes fd */
	return 0;
}

static void on_connected(struct bench *b, unsigned idx)
{
	struct bench_conn *c = &b->conns[idx];
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = idx };
	char req[512];
	socklen_t len = sizeof(int);
	int err = 0, n;
	ssize_t w;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		conn_fail(b, c, "connect", err);
		return;
	}
	n = snprintf(req, sizeof(req),
		     "GET /ws/%s%s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: " WS_KEY "\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "User-Agent: ringcast-bench\r\n"
		     "%s"
		     "\r\n",
		     b->cfg.channel[c->channel], b->cfg.meta ? "?meta=1" : "", b->cfg.ws_host,
		     b->cfg.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
				      "client_max_window_bits\r\n" : "");
	/* A fresh socket's send buffer always takes a few hundred bytes, so a
	 * short write means something is wrong rather than "try later". */
	w = write(c->fd, req, (size_t)n);
	if (w != n) {
		conn_fail(b, c, "write upgrade request", w < 0 ? errno : EIO);
		return;
	}
	c->hs_buf = malloc(HS_MAX);
	if (c->hs_buf == NULL) {
		conn_fail(b, c, "malloc", ENOMEM);
		return;
	}
	c->hs_len = 0;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		conn_fail(b, c, "epoll_ctl", errno);
		return;
	}
	c->state = CONN_HANDSHAKE;
}

/* Best-effort masked pong (client frames must be masked, RFC 6455 5.3). A
 * server that pings should not drop a subscriber just because the bench is
 * busy, but a lost pong under load is not worth buffering for. */
static void send_pong(struct bench_conn *c, const uint8_t *data, size_t len)
{
	static const uint8_t mask[4] = { 0x5a, 0xa5, 0x3c, 0xc3 };
	uint8_t f[2 + 4 + RC_WS_CONTROL_MAX];

	if (len > RC_WS_CONTROL_MAX)
		return;
	f[0] = 0x80 | RC_WS_OP_PONG;
	f[1] = 0x80 | (uint8_t)len;
	memcpy(f + 2, mask, 4);
	for (size_t i = 0; i < len; i++)
		f[6 + i] = data[i] ^ mask[i & 3];
	if (write(c->fd, f, 6 + len) < 0) {
		/* dropped on purpose, see above */
	}
}

/* --tagged: joins a second, silent channel with ringcast's command, so the
 * server precedes every message with its channel's label frame (a text
 * frame, skipped when counting). Measures what labelling costs. */
static void send_tag_command(struct bench_conn *c)
{
	static const char cmd[] = "{\"sub\":\"bench-tag\"}";
	static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	uint8_t f[6 + sizeof(cmd)];

	f[0] = 0x80 | RC_WS_OP_TEXT;
	f[1] = 0x80 | (uint8_t)(sizeof(cmd) - 1);
	memcpy(f + 2, mask, 4);
	for (size_t i = 0; i + 1 < sizeof(cmd); i++)
		f[6 + i] = (uint8_t)cmd[i] ^ mask[i & 3];
	if (write(c->fd, f, 6 + sizeof(cmd) - 1) < 0) {
		/* the run will show the subscriber as untagged or failed */
	}
}

/* Accounts one whole data message of msg_len bytes whose first
 * PAYLOAD_HDR_LEN bytes are at hdr (NULL: the message was shorter). */
static void account_message(struct bench *b, struct bench_conn *c, const uint8_t *hdr,
			    uint64_t msg_len)
{
	uint64_t seq, ts;
	uint32_t ch = c->channel;

	if (!hdr) {
		b->run_bad++;
		return;
	}
	seq = payload_get_u64be(hdr);
	ts = payload_get_u64be(hdr + 8);
	if (seq >= b->chan_seq[ch]) {
		/* never published on this channel: not ours, or corrupted */
		b->run_bad++;
		return;
	}
	if (seq < b->chan_base[ch]) {
		/* a straggler from an earlier run (ramp step) */
		b->run_late++;
		return;
	}
	c->received++;
	b->run_received++;
	b->run_bytes += msg_len;
	if (seq < c->next_seq) {
		/* older than something already delivered: reordered or duplicate */
		c->reordered++;
		b->run_reordered++;
	} else {
		c->next_seq = seq + 1;
	}
	hist_record(b->lat, b->now_ns > ts ? b->now_ns - ts : 0);
	b->last_rx_ns = b->now_ns;
}

static void finish_message(struct bench *b, struct bench_conn *c)
{
	account_message(b, c, c->hdr_have < PAYLOAD_HDR_LEN ? NULL : c->hdr, c->msg_len);
}

/* --deflate: a piece of a compressed message. Gathered unless it is the
 * whole message; once whole, inflated (RFC 7692 7.2.2: with 00 00 ff ff
 * appended) and accounted as the message it was. */
static void compressed_data(struct bench *b, struct bench_conn *c, const struct rc_ws_event *ev)
{
	z_stream *zs = b->zs;
	const uint8_t *in = ev->data;
	size_t len = ev->len, out;
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };

	if (!ev->fin || c->zlen) {
		if (c->zlen + len > c->zcap) {
			uint32_t cap = (uint32_t)(2 * (c->zlen + len));
			uint8_t *z = realloc(c->zbuf, cap);

			if (!z) {
				b->run_bad++;
				return;
			}
			c->zbuf = z;
			c->zcap = cap;
		}
		memcpy(c->zbuf + c->zlen, in, len);
		c->zlen += (uint32_t)len;
		if (!ev->fin)
			return;
		in = c->zbuf;
		len = c->zlen;
		c->zlen = 0;
	}
	b->run_zmsgs++;
	b->run_zbytes += len;
	inflateReset(zs);
	zs->next_out = b->zout;
	zs->avail_out = BENCH_ZOUT;
	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)len;
	if (inflate(zs, Z_SYNC_FLUSH) == Z_OK || zs->avail_in == 0) {
		zs->next_in = (Bytef *)tail;
		zs->avail_in = sizeof(tail);
		inflate(zs, Z_SYNC_FLUSH);
	}
	out = BENCH_ZOUT - zs->avail_out;
	account_message(b, c, out >= PAYLOAD_HDR_LEN ? b->zout : NULL, out);
}

/* Whole unfragmented, unmasked binary frames with a 7- or 16-bit length at
 * buf[0..len), taken while the parser is between messages: what a server
 * sends the bench almost always. Handled here without the general parser,
 * whose per-event work adds up at millions of messages a second, so that the
 * bench's own CPU stays small (the bench must not be the bottleneck).
 * Anything else (text, control, fragments, 64-bit lengths, a frame cut by the
 * read, a non-minimal length) is left to rc_ws_parse(), which also reports
 * every protocol error.
 * Returns the bytes consumed. */
static size_t fast_frames(struct bench *b, struct bench_conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	if (!rc_ws_parser_at_rest(&c->parser))
		return 0;
	while (len - off >= 2) {
		const uint8_t *f = buf + off;
		size_t hl = 2, plen = f[1];

		if (f[0] != (0x80 | RC_WS_OP_BINARY) || plen > 126)
			break;		/* not FIN+binary, masked, or a 64-bit length */
		if (plen == 126) {
			if (len - off < 4)
				break;
			plen = (size_t)f[2] << 8 | f[3];
			hl = 4;
			if (plen < 126)
				break;	/* non-minimal: the parser fails it */
		}
		if (len - off - hl < plen)
			break;
		account_message(b, c, plen >= PAYLOAD_HDR_LEN ? f + hl : NULL, plen);
		off += hl + plen;
	}
	return off;
}

/* Runs the parser over freshly read bytes. Returns false when the
 * subscriber was closed. */
static bool process_frames(struct bench *b, struct bench_conn *c, uint8_t *buf, size_t len)
{
	size_t off = 0;

	/* Each event consumes at least one byte until the input is used up
	 * (NONE) or the parser stops (CLOSE/ERROR), so len + 1 passes bound it. */
	for (size_t pass = 0; off < len && pass <= len; pass++) {
		struct rc_ws_event ev;
		size_t used;

		/* The fast path first, and again after each frame the parser
		 * finished. */
		off += fast_frames(b, c, buf + off, len - off);
		if (off == len)
			break;
		used = rc_ws_parse(&c->parser, buf + off, len - off, &ev);

		off += used;
		switch (ev.type) {
		case RC_WS_EV_NONE:
			if (used == 0)
				return true;
			break;
		case RC_WS_EV_DATA: {
			size_t take = PAYLOAD_HDR_LEN - c->hdr_have;

			if (ev.compressed) {
				compressed_data(b, c, &ev);
				break;
			}
			/* Text messages are labels or command answers, not data. */
			if (ev.opcode == RC_WS_OP_TEXT)
				break;
			if (take > ev.len)
				take = ev.len;
			memcpy(c->hdr + c->hdr_have, ev.data, take);
			c->hdr_have += (uint8_t)take;
			c->msg_len += ev.len;
			if (ev.fin) {
				finish_message(b, c);
				c->msg_len = 0;
				c->hdr_have = 0;
			}
			break;
		}
		case RC_WS_EV_PING:
			send_pong(c, ev.data, ev.len);
			break;
		case RC_WS_EV_PONG:
			break;
		case RC_WS_EV_CLOSE: {
			char what[48];

			snprintf(what, sizeof(what), "server sent close %u", ev.close_code);
			conn_close(b, c, what, 0);
			return false;
		}
		case RC_WS_EV_ERROR: {
			char what[48];

			snprintf(what, sizeof(what), "frame parse error (close %u)", ev.close_code);
			conn_close(b, c, what, 0);
			return false;
		}
		}
	}
	return true;
}

/* Reads the 101 answer; any bytes after the head are already frames. */
static void on_handshake_readable(struct bench *b, struct bench_conn *c)
{
	ssize_t r = read(c->fd, c->hs_buf + c->hs_len, HS_MAX - c->hs_len);
	const char *end;
	size_t head, extra;

	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_fail(b, c, "read upgrade response", errno);
		return;
	}
	if (r == 0) {
		conn_fail(b, c, "closed during handshake", ECONNRESET);
		return;
	}
	c->hs_len += (uint16_t)r;
	end = memmem(c->hs_buf, c->hs_len, "\r\n\r\n", 4);
	if (end == NULL) {
		if (c->hs_len >= HS_MAX)
			conn_fail(b, c, "upgrade response head too long", EMSGSIZE);
		return;
	}
	head = (size_t)(end - c->hs_buf) + 4;
	if (c->hs_len < 12 || memcmp(c->hs_buf, "HTTP/1.1 101", 12) != 0) {
		conn_fail(b, c, "upgrade refused (no 101)", EPROTO);
		return;
	}
	if (memmem(c->hs_buf, head, WS_ACCEPT, sizeof(WS_ACCEPT) - 1) == NULL) {
		conn_fail(b, c, "wrong Sec-WebSocket-Accept", EPROTO);
		return;
	}
	extra = c->hs_len - head;
	/* Bytes after the head are already frames (a fast server may send
	 * right behind the 101); move them to the read buffer before the
	 * handshake buffer goes away. */
	if (extra > 0)
		memcpy(b->rx_buf, c->hs_buf + head, extra);
	free(c->hs_buf);
	c->hs_buf = NULL;
	c->state = CONN_OPEN;
	if (b->cfg.tagged)
		send_tag_command(c);
	b->inflight--;
	b->open++;
	if (extra > 0) {
		b->now_ns = bench_now();
		process_frames(b, c, b->rx_buf, extra);
	}
}

static void on_open_readable(struct bench *b, struct bench_conn *c)
{
	ssize_t r = read(c->fd, b->rx_buf, b->rx_cap);

	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(b, c, "read", errno);
		return;
	}
	if (r == 0) {
		conn_close(b, c, "server closed the connection", 0);
		return;
	}
	b->now_ns = bench_now();
	process_frames(b, c, b->rx_buf, (size_t)r);
}

int bench_poll(struct bench *b, uint64_t timeout_ns)
{
	static struct epoll_event evs[POLL_EVENTS];
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000u),
		.tv_nsec = (long)(timeout_ns % 1000000000u),
	};
	int n = epoll_pwait2(b->epfd, evs, POLL_EVENTS, &ts, NULL);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		uint32_t e = evs[i].events;
		struct bench_conn *c;

		/* A full event batch can take milliseconds to read and parse;
		 * giving the publisher a turn now and then keeps its schedule
		 * (and so the measured rate) honest under heavy fan-out. */
		if (b->sending && i > 0 && i % SEND_EVERY_EVENTS == 0)
			bench_sender_tick(b, bench_now());

		if (tag & BENCH_PUB_TAG) {
			bench_pub_event(b, (unsigned)(tag & ~BENCH_PUB_TAG), e);
			continue;
		}
		c = &b->conns[tag];
		switch (c->state) {
		case CONN_CONNECTING:
			on_connected(b, (unsigned)tag);
			break;
		case CONN_HANDSHAKE:
			if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_handshake_readable(b, c);
			break;
		case CONN_OPEN:
			/* Read even on HUP: frames may still be queued. */
			if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_open_readable(b, c);
			break;
		default:
			break;
		}
	}
	return 0;
}

int bench_connect_all(struct bench *b)
{
	const struct bench_config *cfg = &b->cfg;
	uint64_t start = bench_now();
	uint64_t deadline = start + (uint64_t)(cfg->connect_timeout * 1e9);
	unsigned next = 0;
	int err;

	for (unsigned i = 0; i < cfg->subscribers; i++) {
		b->conns[i].fd = -1;
		b->conns[i].channel = i % cfg->nchannels;
		rc_ws_parser_init(&b->conns[i].parser, false, MAX_MESSAGE);
		if (cfg->deflate)
			rc_ws_parser_allow_deflate(&b->conns[i].parser);
	}
	/* Bounded by the deadline; each pass waits at most 10 ms. */
	while ((next < cfg->subscribers || b->inflight > 0) && bench_now() < deadline) {
		while (next < cfg->subscribers && b->inflight < cfg->connect_parallel) {
			err = start_connect(b, next);
			if (err < 0) {
				/* socket() itself failing (EMFILE, ENOBUFS) will
				 * not get better: stop opening more. */
				conn_fail(b, &b->conns[next], "socket", -err);
				for (unsigned j = next + 1; j < cfg->subscribers; j++) {
					b->conns[j].state = CONN_FAILED;
					b->failed++;
				}
				next = cfg->subscribers;
				break;
			}
			next++;
		}
		err = bench_poll(b, 10000000);
		if (err < 0)
			return err;
	}
	for (unsigned i = 0; i < cfg->subscribers; i++) {
		struct bench_conn *c = &b->conns[i];

		if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE)
			conn_fail(b, c, "connect phase timed out", ETIMEDOUT);
		else if (c->state == CONN_IDLE) {
			c->state = CONN_FAILED;
			if (b->failed++ == 0) {
				b->first_fail_what = "connect phase timed out";
				b->first_fail_err = ETIMEDOUT;
			}
		}
	}
	fprintf(stderr, "ringcast-bench: %u/%u subscribers open after %.2f s\n",
		b->open, cfg->subscribers, (double)(bench_now() - start) / 1e9);
	return b->open > 0 ? 0 : -ECONNREFUSED;
}

void bench_conns_reset_run(struct bench *b)
{
	for (unsigned i = 0; i < b->cfg.subscribers; i++) {
		b->conns[i].received = 0;
		b->conns[i].reordered = 0;
	}
	b->run_received = 0;
	b->run_bytes = 0;
	b->run_zmsgs = 0;
	b->run_zbytes = 0;
	b->run_reordered = 0;
	b->run_late = 0;
	b->run_bad = 0;
	b->run_disconnects = 0;
	b->run_close_reason[0] = '\0';
	b->last_rx_ns = 0;
}

void bench_conns_close_all(struct bench *b)
{
	for (unsigned i = 0; i < b->cfg.subscribers; i++)
		conn_drop_fd(b, &b->conns[i]);
}
