/* ringcast-bench publisher: paced, batched sendmmsg over one UDP socket (or,
 * with --pub-ws or --pub-tcp, frames on one connection per channel:
 * bench_pub.c).
 *
 * The schedule is "message k is due at start + k/rate". Each tick sends what
 * has fallen due, in one sendmmsg, so millions of messages per second cost a
 * few thousand system calls rather than one each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "payload.h"

#define SEND_BATCH_MAX 256
#define SEND_BATCH_BYTES (8u << 20)
#define SEND_BUFFER (4 << 20)
/* When the loop falls behind (a long read burst), send at most this much of
 * the backlog at once: 20 ms worth, at least one batch. The rest is skipped
 * and reported, since blasting it would measure the burst, not the rate. */
#define CATCH_UP_NS 20000000.0

int bench_sender_init(struct bench *b)
{
	struct bench_sender *s = &b->tx;
	size_t size = b->cfg.size;
	int sndbuf = SEND_BUFFER;
	int err;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->batch = SEND_BATCH_MAX;
	if ((size_t)s->batch * size > SEND_BATCH_BYTES)
		s->batch = (unsigned)(SEND_BATCH_BYTES / size);
	if (s->batch == 0)
		s->batch = 1;
	s->msgs = calloc(s->batch, sizeof(*s->msgs));
	s->iov = calloc(s->batch, sizeof(*s->iov));
	s->bufs = malloc(s->batch * size);
	if (s->msgs == NULL || s->iov == NULL || s->bufs == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->batch; i++) {
		uint8_t *p = s->bufs + (size_t)i * size;

		if (b->cfg.payload_src)
			memcpy(p, b->cfg.payload_src, size);
		else
			payload_fill(p, 0, size);
		s->iov[i] = (struct iovec){ .iov_base = p, .iov_len = size };
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
		s->msgs[i].msg_hdr.msg_namelen = b->cfg.udp_addr_len;
	}
	/* Unconnected: each message names its channel's port, so one socket
	 * and one sendmmsg serve every channel. */
	s->fd = socket(b->cfg.udp_addr[0].ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		err = -errno;
		goto fail;
	}
	/* Loopback delivers synchronously, but a roomy buffer avoids ENOBUFS
	 * when a burst outruns the receiver's softirq processing. */
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return 0;

fail:
	bench_sender_free(b);
	return err;
}

void bench_sender_free(struct bench *b)
{
	struct bench_sender *s = &b->tx;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->msgs);
	free(s->iov);
	free(s->bufs);
	s->msgs = NULL;
	s->iov = NULL;
	s->bufs = NULL;
}

void bench_sender_start(struct bench *b, double rate, uint64_t now_ns)
{
	struct bench_sender *s = &b->tx;
	double burst = rate * CATCH_UP_NS / 1e9;

	s->rate = rate;
	s->start_ns = now_ns;
	s->sched = 0;
	s->sent = 0;
	s->skipped = 0;
	s->errors = 0;
	s->max_burst = burst > s->batch ? (uint64_t)burst : s->batch;
}

static uint64_t due_time(const struct bench_sender *s, uint64_t slot)
{
	return s->start_ns + (uint64_t)((double)slot * 1e9 / s->rate);
}

/* --pub-ws, --pub-tcp: queues the n stamped messages as frames on their channels'
 * publisher connections, then writes each touched one once. Returns how
 * many were queued: a prefix, as with sendmmsg. *dead is set when the first
 * message not queued met a closed publisher (it never would be). */
static int send_pub(struct bench *b, unsigned n, bool *dead)
{
	struct bench_sender *s = &b->tx;
	unsigned nch = b->cfg.nchannels;
	unsigned k;

	for (k = 0; k < n; k++) {
		unsigned ch = (unsigned)((s->rr + k) % nch);
		int err = bench_pub_queue(b, ch, s->iov[k].iov_base, b->cfg.size);

		if (err < 0) {
			*dead = err != -EAGAIN;
			break;
		}
	}
	for (unsigned j = 0; j < k && j < nch; j++)
		bench_pub_flush(b, (unsigned)((s->rr + j) % nch));
	return (int)k;
}

uint64_t bench_sender_tick(struct bench *b, uint64_t now_ns)
{
	struct bench_sender *s = &b->tx;
	unsigned nch = b->cfg.nchannels;
	uint64_t target, due, ts;
	bool dead = false;
	unsigned n;
	int r;

	/* Slots whose due time has passed: slot k is due at start + k/rate,
	 * so floor(elapsed * rate) + 1 of them. */
	target = (uint64_t)((double)(now_ns - s->start_ns) * s->rate / 1e9) + 1;
	if (target > s->sched + s->max_burst) {
		s->skipped += target - s->max_burst - s->sched;
		s->sched = target - s->max_burst;
	}
	if (target <= s->sched)
		return due_time(s, s->sched);
	due = target - s->sched;
	n = due < s->batch ? (unsigned)due : s->batch;

	ts = bench_now();
	for (unsigned k = 0; k < n; k++) {
		unsigned ch = (unsigned)((s->rr + k) % nch);
		uint8_t *p = s->iov[k].iov_base;

		payload_stamp(p, b->cfg.size, b->chan_seq[ch]++, ts);
		s->msgs[k].msg_hdr.msg_name = &b->cfg.udp_addr[ch];
	}
	if (b->pubs != NULL) {
		r = send_pub(b, n, &dead);
		if (r == 0 && dead) {
			/* That channel's publisher is gone: skip its slot (and
			 * it, below) so the other channels go on. */
			s->errors++;
			s->sched++;
		}
	} else {
		r = sendmmsg(s->fd, s->msgs, n, 0);
		if (r < 0) {
			if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
				/* A hard error would repeat forever; skip the
				 * slot so the time-bounded run moves on and
				 * reports it. */
				s->errors++;
				s->sched++;
			}
			r = 0;
		}
	}
	/* Unsent messages are a suffix of the batch and hold the newest
	 * sequence number of their channel, so handing the numbers back keeps
	 * every channel's sequence gap-free. */
	for (unsigned k = (unsigned)r; k < n; k++)
		b->chan_seq[(s->rr + k) % nch]--;
	s->rr += (unsigned)r + (r == 0 && dead);
	s->sent += (unsigned)r;
	s->sched += (unsigned)r;
	if ((unsigned)r < n)
		return now_ns + 50000;	/* socket full: retry shortly */
	return target > s->sched ? now_ns : due_time(s, s->sched);
}
