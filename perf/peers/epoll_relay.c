/* peer-epoll: the plain-syscall baseline relays that ringcast is compared
 * against (perf/bench-peers.sh). One thread, one level-triggered epoll set,
 * non-blocking sockets, the project's own ws/ module for the handshake and
 * the frame headers.
 *
 *   --mode naive    each datagram is read with recvfrom() and sent with one
 *                   send() per subscriber: 1 + N syscalls per message.
 *   --mode batched  recvmmsg() takes up to 64 datagrams at once; every
 *                   payload gets its WebSocket header written in place in
 *                   front of it (headroom in the receive buffer), and each
 *                   subscriber gets all of them with one sendmsg(): 1 + N
 *                   syscalls per batch. This is the relay a careful C
 *                   programmer writes without io_uring: the baseline that
 *                   ringcast's targets compare with.
 *
 * Payload bytes are copied only when the kernel does not take a whole send:
 * the remainder goes to that subscriber's output buffer, flushed on EPOLLOUT
 * and bounded at 4 MiB, past which the subscriber is dropped (counted). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"
#include "peer_common.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define PROG "peer-epoll"
#define BATCH 64			/* datagrams per recvmmsg, frames per sendmsg */
#define HEADROOM 16			/* room for a WS header in front of each payload */
#define SLOT (HEADROOM + PEER_MAX_DGRAM)
#define HEAD_MAX 8192			/* HTTP request head */
#define MAX_CLIENT_MSG (64u << 10)	/* subscribers have nothing to say; cap what they may */
#define EVENTS 256
#define ACCEPTS_PER_WAKE 64
#define NAIVE_PER_WAKE 64		/* datagrams handled before epoll is asked again */
#define READS_PER_WAKE 4
#define EVENTS_PER_READ 4096		/* frames parsed out of one read, at most */
#define SCRATCH (16u << 10)
#define OUT_KEEP (64u << 10)		/* output buffers above this are freed once empty */
#define HANDSHAKE_TIMEOUT_NS (10ull * 1000000000ull)
#define SWEEP_NS 1000000000ull

enum src_kind { SRC_LISTEN, SRC_UDP, SRC_SIGNAL, SRC_CONN };

/* First member of everything registered with epoll: data.ptr points here. */
struct src {
	enum src_kind kind;
};

/* Pending output: bytes data[off .. off + len). */
struct outbuf {
	uint8_t *data;
	size_t off;
	size_t len;
	size_t cap;
};

enum conn_state { CONN_HTTP, CONN_WS, CONN_DEAD };

struct conn {
	struct src src;
	int fd;
	enum conn_state state;
	bool pollout;			/* EPOLLOUT is in the interest set */
	uint64_t born_ns;
	char *head;			/* CONN_HTTP: request head so far */
	size_t head_len;
	struct peer_chan *ch;		/* CONN_WS: subscribed channel, index ch_idx */
	size_t ch_idx;
	struct outbuf out;
	struct rc_ws_parser parser;
	struct conn *prev, *next;	/* live list; dead list uses next only */
};

/* What epoll reports for a UDP port: the port is in relay.ports. */
struct ingest {
	struct src src;
	struct peer_port *port;
};

struct counters {
	uint64_t accepted, upgraded, rejected, timeouts;
	uint64_t slow_drops, send_errors;
	uint64_t datagrams, truncated, sends;
};

struct relay {
	bool batched;
	bool stop;
	bool listen_paused;		/* out of fds: accept resumes after a close */
	int epfd;
	int listen_fd;
	int sig_fd;
	struct src listen_src;
	struct src sig_src;
	struct peer_port ports[PEER_MAX_PORTS];
	struct ingest ingest[PEER_MAX_PORTS];
	unsigned nports;
	struct peer_chans chans;
	struct conn *live;
	struct conn *dead;		/* freed at the end of each epoll batch */
	uint8_t *slab;			/* BATCH receive slots of SLOT bytes */
	uint8_t *scratch;		/* subscriber reads */
	struct mmsghdr mmsg[BATCH];
	struct iovec rx_iov[BATCH];
	struct iovec tx_iov[BATCH];
	struct counters n;
};

static const char resp_400[] =
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char resp_404[] =
	"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char resp_426[] =
	"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
	"Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char resp_431[] =
	"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char resp_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char resp_505[] =
	"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static int ep_mod(struct relay *r, struct conn *c, bool pollout)
{
	struct epoll_event ev = { .events = EPOLLIN | (pollout ? EPOLLOUT : 0), .data.ptr = &c->src };

	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->pollout = pollout;
	return 0;
}

/* Closes c now and frees it after the current epoll batch, whose events may
 * still name it (they are skipped by its state). */
static void conn_kill(struct relay *r, struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_WS) {
		struct conn *moved = peer_chan_remove(c->ch, c->ch_idx);

		if (moved)
			moved->ch_idx = c->ch_idx;
	}
	close(c->fd);
	c->fd = -1;
	c->state = CONN_DEAD;
	free(c->head);
	c->head = NULL;
	free(c->out.data);
	c->out = (struct outbuf){ 0 };
	if (c->prev)
		c->prev->next = c->next;
	else
		r->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = r->dead;
	r->dead = c;
	if (r->listen_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &r->listen_src };

		if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->listen_fd, &ev) == 0)
			r->listen_paused = false;
	}
}

static void reap(struct relay *r)
{
	struct conn *c = r->dead;

	r->dead = NULL;
	while (c) {
		struct conn *next = c->next;

		free(c);
		c = next;
	}
}

/* Appends iov[0..n) minus its first `skip` bytes to c's output buffer.
 * Returns 0, or -ENOBUFS past the backlog bound (the caller drops c). */
static int out_append(struct conn *c, const struct iovec *iov, size_t n, size_t skip)
{
	struct outbuf *o = &c->out;
	size_t add = 0;

	for (size_t i = 0; i < n; i++)
		add += iov[i].iov_len;
	add -= skip;
	if (o->len + add > PEER_MAX_BACKLOG)
		return -ENOBUFS;
	if (o->off + o->len + add > o->cap) {
		/* Slide the pending bytes to the front before growing: a buffer
		 * being drained has room at its start. */
		if (o->off > 0 && o->len > 0)
			memmove(o->data, o->data + o->off, o->len);
		o->off = 0;
		if (o->len + add > o->cap) {
			size_t cap = o->cap ? o->cap : 4096;
			uint8_t *d;

			while (cap < o->len + add)
				cap *= 2;
			d = realloc(o->data, cap);
			if (d == NULL)
				return -ENOBUFS;
			o->data = d;
			o->cap = cap;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		memcpy(o->data + o->off + o->len, p + skip, l - skip);
		o->len += l - skip;
		skip = 0;
	}
	return 0;
}

/* Sends iov[0..n) (total bytes) to c: straight to the socket with one
 * syscall when nothing is pending, else behind what is. Returns 0, or
 * negative errno when c must be dropped (-ENOBUFS: backlog bound). */
static int conn_send(struct relay *r, struct conn *c, struct iovec *iov, size_t n, size_t total)
{
	ssize_t w;
	int err;

	if (c->out.len > 0)
		return out_append(c, iov, n, 0);	/* EPOLLOUT is already armed */
	r->n.sends++;
	if (n == 1) {
		w = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	} else {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };

		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	}
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		w = 0;
	}
	if ((size_t)w == total)
		return 0;
	err = out_append(c, iov, n, (size_t)w);
	if (err < 0)
		return err;
	return ep_mod(r, c, true);
}

static void send_raw(struct relay *r, struct conn *c, const char *s, size_t len)
{
	struct iovec iov = { .iov_base = (void *)s, .iov_len = len };

	if (conn_send(r, c, &iov, 1, len) < 0)
		conn_kill(r, c);
}

/* Answers an HTTP error and closes. Best effort: the answer is small and
 * the socket fresh, so it nearly always goes out whole with the one send. */
static void conn_reject(struct relay *r, struct conn *c, const char *resp, size_t len)
{
	r->n.rejected++;
	(void)!send(c->fd, resp, len, MSG_NOSIGNAL);
	conn_kill(r, c);
}

/* EPOLLOUT: writes what is pending; disarms EPOLLOUT once empty. */
static void conn_flush(struct relay *r, struct conn *c)
{
	struct outbuf *o = &c->out;
	ssize_t w;

	if (o->len == 0)
		goto empty;
	r->n.sends++;
	w = send(c->fd, o->data + o->off, o->len, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		r->n.send_errors++;
		conn_kill(r, c);
		return;
	}
	o->off += (size_t)w;
	o->len -= (size_t)w;
	if (o->len > 0)
		return;
empty:
	o->off = 0;
	if (o->cap > OUT_KEEP) {
		free(o->data);
		*o = (struct outbuf){ 0 };
	}
	if (ep_mod(r, c, false) < 0)
		conn_kill(r, c);
}

/* Sends the same frames to every subscriber of ch. */
static void fanout(struct relay *r, struct peer_chan *ch, struct iovec *iov, size_t n, size_t total)
{
	size_t i = 0;

	/* Each pass either advances i or removes a subscriber, so the loop
	 * runs at most 2 * nsubs times. */
	while (i < ch->nsubs) {
		struct conn *c = ch->subs[i];
		int err = conn_send(r, c, iov, n, total);

		if (err == 0) {
			i++;
			continue;
		}
		if (err == -ENOBUFS)
			r->n.slow_drops++;
		else
			r->n.send_errors++;
		conn_kill(r, c);	/* moves the last subscriber into slot i */
	}
}

static void udp_naive(struct relay *r, struct ingest *p)
{
	uint8_t *payload = r->slab + HEADROOM;

	for (int k = 0; k < NAIVE_PER_WAKE; k++) {
		struct iovec iov;
		uint8_t *frame;
		ssize_t len;

		/* MSG_TRUNC makes recvfrom report a datagram's real length, so
		 * one larger than the buffer is seen and dropped, not cut. */
		len = recvfrom(p->port->fd, payload, PEER_MAX_DGRAM, MSG_TRUNC, NULL, NULL);
		if (len < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				fprintf(stderr, PROG ": udp recvfrom: %s\n", strerror(errno));
			return;
		}
		r->n.datagrams++;
		if (len > PEER_MAX_DGRAM) {
			r->n.truncated++;
			continue;
		}
		frame = rc_ws_header_prepend(payload, RC_WS_OP_BINARY, (uint64_t)len);
		iov.iov_base = frame;
		iov.iov_len = (size_t)(payload - frame) + (size_t)len;
		fanout(r, p->port->ch, &iov, 1, iov.iov_len);
	}
}

static void udp_batched(struct relay *r, struct ingest *p)
{
	size_t total = 0, k = 0;
	int n;

	n = recvmmsg(p->port->fd, r->mmsg, BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fprintf(stderr, PROG ": udp recvmmsg: %s\n", strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *payload = r->rx_iov[i].iov_base;
		size_t len = r->mmsg[i].msg_len;
		uint8_t *frame;

		r->n.datagrams++;
		if (r->mmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			r->n.truncated++;
			continue;
		}
		/* The header goes into the slot's headroom: no payload copy. */
		frame = rc_ws_header_prepend(payload, RC_WS_OP_BINARY, len);
		r->tx_iov[k].iov_base = frame;
		r->tx_iov[k].iov_len = (size_t)(payload - frame) + len;
		total += r->tx_iov[k].iov_len;
		k++;
	}
	if (k > 0)
		fanout(r, p->port->ch, r->tx_iov, k, total);
}

/* Takes over an accepted socket as a new HTTP connection. Returns 0, or
 * negative errno after closing fd. */
static int conn_open(struct relay *r, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;
	int err = -ENOMEM;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->head = malloc(HEAD_MAX);
	if (c->head == NULL)
		goto fail;
	c->src.kind = SRC_CONN;
	c->fd = fd;
	c->state = CONN_HTTP;
	c->born_ns = peer_now_ns();
	ev.data.ptr = &c->src;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		goto fail;
	}
	peer_set_nodelay(fd);
	c->next = r->live;
	if (r->live)
		r->live->prev = c;
	r->live = c;
	r->n.accepted++;
	return 0;
fail:
	if (c)
		free(c->head);
	free(c);
	close(fd);
	return err;
}

static void do_accept(struct relay *r)
{
	for (int k = 0; k < ACCEPTS_PER_WAKE; k++) {
		int fd, err;

		fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: a listener we cannot drain would
				 * wake us forever. Park it until a connection closes. */
				struct epoll_event off = { .events = 0, .data.ptr = &r->listen_src };

				fprintf(stderr, PROG ": accept: %s; pausing accepts\n", strerror(errno));
				if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, r->listen_fd, &off) == 0)
					r->listen_paused = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
			}
			return;
		}
		err = conn_open(r, fd);
		if (err < 0)
			fprintf(stderr, PROG ": new connection: %s\n", strerror(-err));
	}
}

/* Handles client frames: answers pings, echoes a close and drops the
 * connection, ignores data (subscribers only listen). */
static void ws_feed(struct relay *r, struct conn *c, uint8_t *buf, size_t len)
{
	for (int k = 0; k < EVENTS_PER_READ && c->state == CONN_WS; k++) {
		struct rc_ws_event ev;
		uint8_t ctl[RC_WS_SERVER_HEADER_MAX + 2 + RC_WS_CONTROL_MAX];
		struct iovec iov;
		size_t used, hl;

		used = rc_ws_parse(&c->parser, buf, len, &ev);
		buf += used;
		len -= used;
		switch (ev.type) {
		case RC_WS_EV_NONE:
			return;
		case RC_WS_EV_DATA:
		case RC_WS_EV_PONG:
			break;
		case RC_WS_EV_PING:
			/* Queued behind pending frames: it ends up between two
			 * whole messages, never inside one. */
			hl = rc_ws_header_encode(ctl, RC_WS_OP_PONG, true, ev.len);
			memcpy(ctl + hl, ev.data, ev.len);
			iov.iov_base = ctl;
			iov.iov_len = hl + ev.len;
			if (conn_send(r, c, &iov, 1, iov.iov_len) < 0)
				conn_kill(r, c);
			break;
		case RC_WS_EV_CLOSE:
		case RC_WS_EV_ERROR:
			/* CLOSE: echo the peer's code (1005 gives an empty close);
			 * ERROR: close_code is the one to send. */
			hl = rc_ws_close_encode(ctl, ev.close_code, NULL, 0);
			/* Best effort: whatever is still queued is abandoned. */
			if (c->out.len == 0)
				(void)!send(c->fd, ctl, hl, MSG_NOSIGNAL);
			conn_kill(r, c);
			return;
		}
	}
}

static void handle_request(struct relay *r, struct conn *c, const struct rc_http_request *req)
{
	char accept[RC_WS_ACCEPT_LEN + 1], resp[256];
	size_t head_len = req->head_len, rest, name_len;
	struct peer_chan *ch;
	const char *name;
	long idx;
	int len, err;

	if (!rc_http_equals_nocase(req->method, req->method_len, "GET") ||
	    peer_target_channel(req->target, req->target_len, &name, &name_len) < 0) {
		conn_reject(r, c, resp_404, sizeof(resp_404) - 1);
		return;
	}
	err = rc_ws_handshake_check(req, accept);
	if (err == -EPROTONOSUPPORT) {
		conn_reject(r, c, resp_426, sizeof(resp_426) - 1);
		return;
	}
	if (err < 0) {
		conn_reject(r, c, resp_400, sizeof(resp_400) - 1);
		return;
	}
	ch = peer_chan_get(&r->chans, name, name_len, true);
	len = rc_ws_handshake_response(resp, sizeof(resp), accept);
	if (ch == NULL || len < 0) {
		conn_reject(r, c, resp_503, sizeof(resp_503) - 1);
		return;
	}
	idx = peer_chan_add(ch, c);
	if (idx < 0) {
		conn_reject(r, c, resp_503, sizeof(resp_503) - 1);
		return;
	}
	c->state = CONN_WS;
	c->ch = ch;
	c->ch_idx = (size_t)idx;
	rc_ws_parser_init(&c->parser, true, MAX_CLIENT_MSG);
	r->n.upgraded++;
	send_raw(r, c, resp, (size_t)len);
	if (c->state != CONN_WS)
		return;
	/* Frames the client sent right behind its request head. */
	rest = c->head_len - head_len;
	if (rest > 0) {
		memcpy(r->scratch, c->head + head_len, rest);
		ws_feed(r, c, r->scratch, rest);
	}
	free(c->head);
	c->head = NULL;
}

static void http_read(struct relay *r, struct conn *c)
{
	struct rc_http_request req;
	ssize_t n;
	int rc;

	n = recv(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		conn_kill(r, c);
		return;
	}
	if (n < 0)
		return;
	c->head_len += (size_t)n;
	rc = rc_http_parse_request(c->head, c->head_len, HEAD_MAX, &req);
	switch (rc) {
	case -EAGAIN:
		return;
	case -EMSGSIZE:
	case -E2BIG:
		conn_reject(r, c, resp_431, sizeof(resp_431) - 1);
		return;
	case -EPROTONOSUPPORT:
		conn_reject(r, c, resp_505, sizeof(resp_505) - 1);
		return;
	default:
		if (rc < 0) {
			conn_reject(r, c, resp_400, sizeof(resp_400) - 1);
			return;
		}
		handle_request(r, c, &req);
	}
}

static void ws_read(struct relay *r, struct conn *c)
{
	for (int k = 0; k < READS_PER_WAKE && c->state == CONN_WS; k++) {
		ssize_t n = recv(c->fd, r->scratch, SCRATCH, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			conn_kill(r, c);
			return;
		}
		ws_feed(r, c, r->scratch, (size_t)n);
		if ((size_t)n < SCRATCH)
			return;
	}
}

static void conn_event(struct relay *r, struct conn *c, uint32_t events)
{
	if (c->state == CONN_DEAD)
		return;
	if (events & EPOLLOUT)
		conn_flush(r, c);
	if (c->state == CONN_DEAD)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->state == CONN_HTTP)
			http_read(r, c);
		else
			ws_read(r, c);
	}
}

/* Closes connections that never finished their handshake. */
static void sweep(struct relay *r, uint64_t now)
{
	struct conn *c = r->live;

	while (c) {
		struct conn *next = c->next;

		if (c->state == CONN_HTTP && now - c->born_ns > HANDSHAKE_TIMEOUT_NS) {
			r->n.timeouts++;
			conn_kill(r, c);
		}
		c = next;
	}
}

static int ep_add(struct relay *r, int fd, struct src *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void relay_free(struct relay *r)
{
	/* Bounded by the number of connections: each pass removes one. */
	while (r->live)
		conn_kill(r, r->live);
	reap(r);
	for (unsigned i = 0; i < r->nports; i++)
		close(r->ports[i].fd);
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->epfd >= 0)
		close(r->epfd);
	peer_chans_free(&r->chans);
	free(r->slab);
	free(r->scratch);
}

/* Sets up every socket and prints the contract lines. Returns 0 or negative
 * errno (after logging); relay_free() cleans up either way. */
static int relay_init(struct relay *r, const struct peer_args *a)
{
	char addr[80];
	int err;

	r->epfd = r->listen_fd = r->sig_fd = -1;
	r->listen_src.kind = SRC_LISTEN;
	r->sig_src.kind = SRC_SIGNAL;
	r->slab = malloc((size_t)BATCH * SLOT);
	r->scratch = malloc(SCRATCH);
	err = peer_chans_init(&r->chans);
	if (r->slab == NULL || r->scratch == NULL || err < 0) {
		err = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < BATCH; i++) {
		r->rx_iov[i].iov_base = r->slab + (size_t)i * SLOT + HEADROOM;
		r->rx_iov[i].iov_len = PEER_MAX_DGRAM;
		r->mmsg[i].msg_hdr = (struct msghdr){ .msg_iov = &r->rx_iov[i], .msg_iovlen = 1 };
	}
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		err = -errno;
		goto fail;
	}
	r->sig_fd = peer_signalfd();
	if (r->sig_fd < 0) {
		err = r->sig_fd;
		goto fail;
	}
	err = ep_add(r, r->sig_fd, &r->sig_src);
	if (err < 0)
		goto fail;
	r->listen_fd = peer_listen_tcp(&a->listen, a->listen_len);
	if (r->listen_fd < 0) {
		err = r->listen_fd;
		fprintf(stderr, PROG ": listen: %s\n", strerror(-err));
		goto fail;
	}
	err = ep_add(r, r->listen_fd, &r->listen_src);
	if (err < 0)
		goto fail;
	err = peer_ports_open(a, &r->chans, r->ports, &r->nports);
	if (err < 0)
		goto fail;
	for (unsigned i = 0; i < r->nports; i++) {
		r->ingest[i] = (struct ingest){ .src.kind = SRC_UDP, .port = &r->ports[i] };
		err = ep_add(r, r->ports[i].fd, &r->ingest[i].src);
		if (err < 0)
			goto fail;
	}
	peer_announce(peer_local_addr(r->listen_fd, addr, sizeof(addr)), r->ports, r->nports);
	return 0;
fail:
	fprintf(stderr, PROG ": set-up failed: %s\n", strerror(-err));
	return err;
}

static void relay_run(struct relay *r)
{
	struct epoll_event evs[EVENTS];
	uint64_t last_sweep = peer_now_ns();

	/* Runs until SIGINT/SIGTERM; each turn waits at most 1 s. */
	while (!r->stop) {
		uint64_t now;
		int n = epoll_wait(r->epfd, evs, EVENTS, 1000);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct src *s = evs[i].data.ptr;

			switch (s->kind) {
			case SRC_LISTEN:
				do_accept(r);
				break;
			case SRC_UDP:
				if (r->batched)
					udp_batched(r, (struct ingest *)s);
				else
					udp_naive(r, (struct ingest *)s);
				break;
			case SRC_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(r->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					r->stop = true;
				break;
			}
			case SRC_CONN:
				conn_event(r, (struct conn *)s, evs[i].events);
				break;
			}
		}
		reap(r);
		now = peer_now_ns();
		if (now - last_sweep >= SWEEP_NS) {
			last_sweep = now;
			sweep(r, now);
			reap(r);
		}
	}
}

int main(int argc, char **argv)
{
	struct peer_args args;
	struct relay r = { 0 };
	int err;

	err = peer_parse_args(argc, argv, PROG, true, &args);
	if (err)
		return err > 0 ? 0 : 2;
	if (args.mode == NULL || strcmp(args.mode, "batched") == 0) {
		r.batched = true;
	} else if (strcmp(args.mode, "naive") != 0) {
		fprintf(stderr, PROG ": --mode must be naive or batched\n");
		return 2;
	}
	/* MSG_NOSIGNAL covers every send; this covers anything else. */
	signal(SIGPIPE, SIG_IGN);
	peer_raise_nofile();
	err = relay_init(&r, &args);
	if (err < 0) {
		relay_free(&r);
		return 1;
	}
	fprintf(stderr, PROG ": mode %s, ready\n", r.batched ? "batched" : "naive");
	relay_run(&r);
	fprintf(stderr, PROG ": exiting: %llu connections, %llu subscribers, %llu rejected, "
		"%llu handshake timeouts, %llu datagrams (%llu truncated), %llu sends, "
		"%llu subscribers dropped for backlog > %u B, %llu send errors\n",
		(unsigned long long)r.n.accepted, (unsigned long long)r.n.upgraded,
		(unsigned long long)r.n.rejected, (unsigned long long)r.n.timeouts,
		(unsigned long long)r.n.datagrams, (unsigned long long)r.n.truncated,
		(unsigned long long)r.n.sends, (unsigned long long)r.n.slow_drops,
		PEER_MAX_BACKLOG, (unsigned long long)r.n.send_errors);
	relay_free(&r);
	return 0;
}
