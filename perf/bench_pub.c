/* ringcast-bench publisher connections: one TCP connection per channel that
 * carries each benchmark message as one frame (--pub-ws, --pub-tcp), instead
 * of UDP.
 *
 * This part is what every kind shares: dialling, the per-connection output
 * buffer with its BENCH_PUB_BACKLOG bound, nonblocking writes from the epoll
 * loop, reading and closing. The opening exchange, the framing and the
 * meaning of the server's replies belong to the kind (struct bench_pub_ops,
 * bench_wspub.c, bench_tcppub.c). The payload is the same as in a UDP datagram (sequence
 * number and send time first), so loss, order and latency are measured the
 * same way; the publish path then includes a TCP hop and the server's
 * parsing, which a UDP publish does not, so figures taken this way compare
 * with each other, not with UDP-fed runs. */
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

#define OPEN_TIMEOUT_SECS 5
#define READS_PER_EVENT 16

void bench_pub_drop(struct bench *b, unsigned ch, const char *why, int err)
{
	struct bench_pub *p = &b->pubs[ch];

	if (p->fd < 0)
		return;
	fprintf(stderr, "ringcast-bench: publisher of %s closed: %s%s%s\n", b->cfg.channel[ch], why,
		err ? ": " : "", err ? strerror(err) : "");
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
	p->off = p->len = 0;
}

int bench_pub_reserve(struct bench_pub *p, size_t need)
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

/* Blocking connect of one publisher, then the kind's opening exchange.
 * Returns the fd (blocking still) or -1 with *what and *err saying why. */
static int pub_connect(struct bench *b, unsigned ch, const char **what, int *err)
{
	const struct bench_config *c = &b->cfg;
	struct timeval tv = { .tv_sec = OPEN_TIMEOUT_SECS };
	int one = 1, fd, r;

	fd = socket(c->pub_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*what = "socket";
		*err = errno;
		return -1;
	}
	/* The timeouts bound every blocking read and write of the opening. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&c->pub_addr, c->pub_addr_len) < 0) {
		*what = "connect";
		*err = errno;
		close(fd);
		return -1;
	}
	r = b->pub_ops->handshake(b, ch, fd, what);
	if (r < 0) {
		*err = -r;
		close(fd);
		return -1;
	}
	return fd;
}

int bench_pub_open(struct bench *b, const struct bench_pub_ops *ops)
{
	unsigned nch = b->cfg.nchannels;

	b->pub_ops = ops;
	b->pubs = calloc(nch, sizeof(*b->pubs));
	if (b->pubs == NULL)
		return -ENOMEM;
	for (unsigned ch = 0; ch < nch; ch++)
		b->pubs[ch].fd = -1;
	for (unsigned ch = 0; ch < nch; ch++) {
		struct bench_pub *p = &b->pubs[ch];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = BENCH_PUB_TAG | ch };
		const char *what = NULL;
		int err = 0, fd;

		fd = pub_connect(b, ch, &what, &err);
		if (fd < 0) {
			fprintf(stderr, "ringcast-bench: %s publisher of %s: %s: %s\n", ops->name,
				b->cfg.channel[ch], what, strerror(err));
			return -err;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			err = errno;
			close(fd);
			fprintf(stderr, "ringcast-bench: %s publisher of %s: %s\n", ops->name,
				b->cfg.channel[ch], strerror(err));
			return -err;
		}
		p->fd = fd;
	}
	return 0;
}

int bench_pub_queue(struct bench *b, unsigned ch, const uint8_t *payload, size_t len)
{
	struct bench_pub *p = &b->pubs[ch];

	if (p->fd < 0)
		return -EPIPE;
	if (p->len - p->off >= BENCH_PUB_BACKLOG)
		return -EAGAIN;
	return b->pub_ops->append(p, payload, len);
}

static void set_want_out(struct bench *b, unsigned ch, bool on)
{
	struct bench_pub *p = &b->pubs[ch];
	struct epoll_event ev = {
		.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.u64 = BENCH_PUB_TAG | ch,
	};

	if (p->want_out == on || p->fd < 0)
		return;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, p->fd, &ev) == 0)
		p->want_out = on;
}

void bench_pub_flush(struct bench *b, unsigned ch)
{
	struct bench_pub *p = &b->pubs[ch];

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
			bench_pub_drop(b, ch, "write", errno);
			return;
		}
		p->off += (size_t)w;
	}
	if (p->fd >= 0)
		set_want_out(b, ch, false);
}

/* Reads what the server sent and hands it to the kind; EOF and read errors
 * end the publisher. Bounded by READS_PER_EVENT reads. */
static void pub_read(struct bench *b, unsigned ch)
{
	struct bench_pub *p = &b->pubs[ch];

	for (int i = 0; i < READS_PER_EVENT && p->fd >= 0; i++) {
		ssize_t r = read(p->fd, b->rx_buf, b->rx_cap);

		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				bench_pub_drop(b, ch, "read", errno);
			return;
		}
		if (r == 0) {
			bench_pub_drop(b, ch, "server closed the connection", 0);
			return;
		}
		b->pub_ops->input(b, ch, b->rx_buf, (size_t)r);
		if ((size_t)r < b->rx_cap)
			return;
	}
}

void bench_pub_event(struct bench *b, unsigned ch, uint32_t events)
{
	if (ch >= b->cfg.nchannels || b->pubs == NULL)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		pub_read(b, ch);
	if (events & EPOLLOUT)
		bench_pub_flush(b, ch);
}

void bench_pub_close(struct bench *b)
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
