/* ringcast-bench --pub-ws: publishing over WebSocket instead of UDP.
 *
 * For servers without UDP ingest (nchan), each channel gets one client
 * connection to the server's publisher location, and every message goes out
 * as one masked binary frame carrying the same payload as the UDP datagram
 * would (sequence number and send time first), so loss, order and latency are
 * measured the same way. The publish path then includes a TCP hop and the
 * server's WebSocket parsing, which a UDP publish does not: figures taken
 * this way compare with each other, not with UDP-fed runs. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"

/* Same fixed key as the subscribers use (bench_conn.c): a load tool gains
 * nothing from random keys. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define HS_MAX 4096
#define OPEN_TIMEOUT_SECS 5
#define MASK_HDR 4
#define FRAME_HDR_MAX (RC_WS_SERVER_HEADER_MAX + MASK_HDR)
#define REPLY_MAX (UINT64_C(1) << 20)	/* longest reply message the parser accepts */
#define READS_PER_EVENT 16

/* A fixed, non-zero masking key, so the server does its real unmasking work. */
static const uint8_t pub_mask[MASK_HDR] = { 0x37, 0xa1, 0x5c, 0xe2 };

static void pub_close(struct bench *b, unsigned ch, const char *why, int err)
{
	struct bench_wspub *p = &b->pubs[ch];

	if (p->fd < 0)
		return;
	fprintf(stderr, "ringcast-bench: publisher of %s closed: %s%s%s\n", b->cfg.channel[ch], why,
		err ? ": " : "", err ? strerror(err) : "");
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
	p->off = p->len = 0;
}

/* Makes room for `need` more bytes at the end of p->out. Returns 0 or -ENOMEM. */
static int out_reserve(struct bench_wspub *p, size_t need)
{
	size_t cap;
	uint8_t *n;

	if (p->off > 0 && p->off == p->len)
		p->off = p->len = 0;
	if (p->len + need <= p->cap)
		return 0;
	if (p->off > 0) {
		memmove(p->out, p->out + p->off, p->len - p->off);
		p->len -= p->off;
		p->off = 0;
		if (p->len + need <= p->cap)
			return 0;
	}
	cap = p->cap ? p->cap : 64u << 10;
	while (cap < p->len + need)
		cap *= 2;
	n = realloc(p->out, cap);
	if (n == NULL)
		return -ENOMEM;
	p->out = n;
	p->cap = cap;
	return 0;
}

/* Appends one masked frame. The caller checked the backlog. */
static int append_frame(struct bench_wspub *p, unsigned opcode, const uint8_t *data, size_t len)
{
	uint8_t *f;
	size_t h;
	int err = out_reserve(p, FRAME_HDR_MAX + len);

	if (err < 0)
		return err;
	f = p->out + p->len;
	h = rc_ws_header_encode(f, opcode, true, len);
	f[1] |= 0x80;	/* MASK: every client frame is masked (RFC 6455 5.3) */
	memcpy(f + h, pub_mask, MASK_HDR);
	h += MASK_HDR;
	for (size_t i = 0; i < len; i++)
		f[h + i] = data[i] ^ pub_mask[i & 3];
	p->len += h + len;
	return 0;
}

/* Blocking connect and upgrade of one publisher. Returns the fd (blocking
 * still) or -1 with *what and *err saying why. Bytes the server sent after
 * the 101 are fed to the reply parser. */
static int pub_connect(struct bench *b, unsigned ch, const char **what, int *err)
{
	const struct bench_config *c = &b->cfg;
	struct bench_wspub *p = &b->pubs[ch];
	struct timeval tv = { .tv_sec = OPEN_TIMEOUT_SECS };
	char req[512], *resp = NULL;
	size_t have = 0;
	const char *end;
	int one = 1, n, fd;

	fd = socket(c->ws_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*what = "socket";
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&c->ws_addr, c->ws_addr_len) < 0) {
		*what = "connect";
		goto fail_errno;
	}
	n = snprintf(req, sizeof(req),
		     "GET %s%s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: " WS_KEY "\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "User-Agent: ringcast-bench\r\n"
		     "\r\n",
		     c->pub_ws, c->channel[ch], c->ws_host);
	if (write(fd, req, (size_t)n) != n) {
		*what = "write upgrade request";
		goto fail_errno;
	}
	resp = malloc(HS_MAX);
	if (resp == NULL) {
		*what = "malloc";
		*err = ENOMEM;
		goto fail;
	}
	/* Bounded by HS_MAX bytes and the receive timeout. */
	while ((end = memmem(resp, have, "\r\n\r\n", 4)) == NULL) {
		ssize_t r;

		if (have == HS_MAX) {
			*what = "upgrade response head too long";
			*err = EMSGSIZE;
			goto fail;
		}
		r = read(fd, resp + have, HS_MAX - have);
		if (r <= 0) {
			*what = r == 0 ? "closed during handshake" : "read upgrade response";
			*err = r == 0 ? ECONNRESET : errno;
			goto fail;
		}
		have += (size_t)r;
	}
	if (have < 12 || memcmp(resp, "HTTP/1.1 101", 12) != 0) {
		/* Show the status line: it says what the server disliked. */
		size_t line = strcspn(resp, "\r");

		fprintf(stderr, "ringcast-bench: %s%s answered: %.*s\n", c->pub_ws, c->channel[ch],
			(int)(line < 80 ? line : 80), resp);
		*what = "publisher upgrade refused (no 101)";
		*err = EPROTO;
		goto fail;
	}
	if (memmem(resp, (size_t)(end - resp), WS_ACCEPT, sizeof(WS_ACCEPT) - 1) == NULL) {
		*what = "wrong Sec-WebSocket-Accept";
		*err = EPROTO;
		goto fail;
	}
	{
		size_t head = (size_t)(end - resp) + 4;
		struct rc_ws_event ev;
		size_t off = head;

		/* Early replies are dropped like later ones; bounded by the
		 * bytes present, each pass consuming at least one. */
		while (off < have) {
			size_t used = rc_ws_parse(&p->parser, (uint8_t *)resp + off, have - off, &ev);

			if (used == 0)
				break;
			off += used;
		}
	}
	free(resp);
	return fd;

fail_errno:
	*err = errno;
fail:
	free(resp);
	close(fd);
	return -1;
}

int bench_wspub_open(struct bench *b)
{
	unsigned nch = b->cfg.nchannels;

	b->pubs = calloc(nch, sizeof(*b->pubs));
	if (b->pubs == NULL)
		return -ENOMEM;
	for (unsigned ch = 0; ch < nch; ch++)
		b->pubs[ch].fd = -1;
	for (unsigned ch = 0; ch < nch; ch++) {
		struct bench_wspub *p = &b->pubs[ch];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = BENCH_PUB_TAG | ch };
		const char *what = NULL;
		int err = 0, fd;

		rc_ws_parser_init(&p->parser, false, REPLY_MAX);
		fd = pub_connect(b, ch, &what, &err);
		if (fd < 0) {
			fprintf(stderr, "ringcast-bench: publisher %s%s: %s: %s\n", b->cfg.pub_ws,
				b->cfg.channel[ch], what, strerror(err));
			return -err;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			err = errno;
			close(fd);
			fprintf(stderr, "ringcast-bench: publisher %s%s: %s\n", b->cfg.pub_ws,
				b->cfg.channel[ch], strerror(err));
			return -err;
		}
		p->fd = fd;
	}
	fprintf(stderr, "ringcast-bench: %u WebSocket publisher%s open (%s<channel>)\n", nch,
		nch == 1 ? "" : "s", b->cfg.pub_ws);
	return 0;
}

int bench_wspub_queue(struct bench *b, unsigned ch, const uint8_t *payload, size_t len)
{
	struct bench_wspub *p = &b->pubs[ch];

	if (p->fd < 0)
		return -EPIPE;
	if (p->len - p->off >= BENCH_PUB_BACKLOG)
		return -EAGAIN;
	return append_frame(p, RC_WS_OP_BINARY, payload, len);
}

static void set_want_out(struct bench *b, unsigned ch, bool on)
{
	struct bench_wspub *p = &b->pubs[ch];
	struct epoll_event ev = {
		.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.u64 = BENCH_PUB_TAG | ch,
	};

	if (p->want_out == on || p->fd < 0)
		return;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
		p->want_out = on;
}

void bench_wspub_flush(struct bench *b, unsigned ch)
{
	struct bench_wspub *p = &b->pubs[ch];

	/* Each pass writes something or stops. */
	while (p->fd >= 0 && p->off < p->len) {
		ssize_t w = write(p->fd, p->out + p->off, p->len - p->off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_want_out(b, ch, true);
				return;
			}
			pub_close(b, ch, "write", errno);
			return;
		}
		p->off += (size_t)w;
	}
	if (p->fd >= 0)
		set_want_out(b, ch, false);
}

/* Reads and drops the server's replies (nchan answers each publish with
 * channel info); pings get a pong, a close frame ends the publisher. */
static void pub_read(struct bench *b, unsigned ch)
{
	struct bench_wspub *p = &b->pubs[ch];

	for (int i = 0; i < READS_PER_EVENT && p->fd >= 0; i++) {
		ssize_t r = read(p->fd, b->rx_buf, b->rx_cap);
		size_t off = 0;

		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pub_close(b, ch, "read", errno);
			return;
		}
		if (r == 0) {
			pub_close(b, ch, "server closed the connection", 0);
			return;
		}
		/* Each event consumes at least one byte or ends the loop. */
		while (off < (size_t)r && p->fd >= 0) {
			struct rc_ws_event ev;
			size_t used = rc_ws_parse(&p->parser, b->rx_buf + off, (size_t)r - off, &ev);
			char what[48];

			off += used;
			if (ev.type == RC_WS_EV_PING) {
				if (append_frame(p, RC_WS_OP_PONG, ev.data, ev.len) == 0)
					bench_wspub_flush(b, ch);
			} else if (ev.type == RC_WS_EV_CLOSE) {
				snprintf(what, sizeof(what), "server sent close %u", ev.close_code);
				pub_close(b, ch, what, 0);
			} else if (ev.type == RC_WS_EV_ERROR) {
				snprintf(what, sizeof(what), "reply parse error (close %u)", ev.close_code);
				pub_close(b, ch, what, 0);
			} else if (used == 0) {
				break;
			}
		}
		if ((size_t)r < b->rx_cap)
			return;
	}
}

void bench_wspub_event(struct bench *b, unsigned ch, uint32_t events)
{
	if (ch >= b->cfg.nchannels || b->pubs == NULL)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		pub_read(b, ch);
	if (events & EPOLLOUT)
		bench_wspub_flush(b, ch);
}

void bench_wspub_close(struct bench *b)
{
	if (b->pubs == NULL)
		return;
	for (unsigned ch = 0; ch < b->cfg.nchannels; ch++) {
		if (b->pubs[ch].fd >= 0)
			close(b->pubs[ch].fd);
		free(b->pubs[ch].out);
	}
	free(b->pubs);
	b->pubs = NULL;
}
