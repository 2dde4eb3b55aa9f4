/* UDP ingest over multishot recvmsg. See udp_ingest.h. */
#include "udp_ingest.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "probes.h"

#define BACKOFF_MS 100

static void udp_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void udp_rearm(struct rc_loop *loop, struct rc_deferred *d);
static void udp_backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void udp_flush(struct rc_loop *loop, struct rc_deferred *d);

/* The template lengths every receive is armed with: room for the sender's
 * address (IPv6 at most), the SO_RXQ_OVFL message and, on a two-socket
 * port, SO_TIMESTAMPNS's. The kernel lays them out in front of each
 * payload, which is also what leaves space for the owner's header there. */
static void tmpl_init(struct msghdr *t, bool stamped)
{
	memset(t, 0, sizeof(*t));
	t->msg_namelen = sizeof(struct sockaddr_in6);
	t->msg_controllen = CMSG_SPACE(sizeof(uint32_t)) +
			    (stamped ? CMSG_SPACE(sizeof(struct timespec)) : 0);
}

uint32_t rc_udp_overhead(bool two_sockets)
{
	struct msghdr t;

	tmpl_init(&t, two_sockets);
	return (uint32_t)rc_bufring_recvmsg_header(&t);
}

/* A socket of the port, options set, not bound yet: one of a two-socket
 * port (reuseport) also joins a reuseport group and stamps datagrams. */
static int new_socket(int family, int rcvbuf, bool reuseport)
{
	int one = 1;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* A publisher's burst must fit in the socket while the loop is busy
	 * fanning out; FORCE goes past net.core.rmem_max when we may. */
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Every datagram then carries the socket's cumulative drop count, so
	 * kernel-side losses show up in the metrics. */
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	/* Two sockets are two queues: the time each datagram arrived is what
	 * puts them back in order (rc_udp_held). */
	if (reuseport && (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
			  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Steers each datagram of the group: the kernel runs this for every one,
 * with the UDP header pulled, so the packet length is the payload's. Index
 * 0 is the socket bound first (regular buffers), 1 the large one. */
static int attach_steering(int fd, uint32_t over)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, over, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/* Binds a plain socket to addr and lets it go, leaving in *out the address
 * the kernel gave (its port for port 0): a port that somebody else holds
 * fails here, whatever SO_REUSEPORT the real sockets then use. */
static int claim_address(const struct sockaddr *addr, socklen_t addr_len,
			 struct sockaddr_storage *out, socklen_t *out_len)
{
	int fd = new_socket(addr->sa_family, 0, false);
	int ret = 0;

	if (fd < 0)
		return fd;
	*out_len = sizeof(*out);
	if (bind(fd, addr, addr_len) < 0 || getsockname(fd, (struct sockaddr *)out, out_len) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int rc_udp_open(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len, int rcvbuf,
		const struct rc_bufring *br)
{
	bool large = br && rc_bufring_large(br);
	int fd = -1;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = p->rx[0].fd = p->rx[1].fd = -1;
	if (large) {
		ret = claim_address(addr, addr_len, &p->addr, &p->addr_len);
		if (ret < 0)
			goto fail;
		addr = (const struct sockaddr *)&p->addr;
		addr_len = p->addr_len;
	}
	fd = new_socket(addr->sa_family, rcvbuf, large);
	if (fd < 0) {
		ret = fd;
		goto fail;
	}
	if (bind(fd, addr, addr_len) < 0) {
		ret = -errno;
		goto fail;
	}
	p->addr_len = sizeof(p->addr);
	if (getsockname(fd, (struct sockaddr *)&p->addr, &p->addr_len) < 0) {
		ret = -errno;
		goto fail;
	}
	p->fd = p->rx[0].fd = fd;
	fd = -1;
	if (large) {
		p->large_over = br->size - rc_udp_overhead(true);
		fd = new_socket(addr->sa_family, rcvbuf, true);
		if (fd < 0) {
			ret = fd;
			goto fail;
		}
		if (bind(fd, (const struct sockaddr *)&p->addr, p->addr_len) < 0) {
			ret = -errno;
			goto fail;
		}
		p->rx[1].fd = fd;
		fd = -1;
		ret = attach_steering(p->fd, p->large_over);
		if (ret < 0)
			goto fail;
	}
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	rc_udp_close(p);
	return ret;
}

static int arm(struct rc_udp_rx *rx)
{
	int ret = rc_loop_recvmsg_multishot(rx->port->loop, &rx->io, rx->fd, rx->from, &rx->tmpl);

	if (ret == 0)
		rx->armed = true;
	return ret;
}

int rc_udp_start(struct rc_udp_port *p, struct rc_loop *loop, struct rc_bufring *br,
		 rc_udp_msg_fn on_msg, void *owner)
{
	int ret = 0;

	p->loop = loop;
	p->br = br;
	p->on_msg = on_msg;
	p->owner = owner;
	p->flush.fn = udp_flush;
	for (int i = 0; i < 2 && ret == 0; i++) {
		struct rc_udp_rx *rx = &p->rx[i];

		if (rx->fd < 0)
			continue;
		rx->port = p;
		rx->from = i ? rc_bufring_large(br) : br;
		rx->io.fn = udp_complete;
		rx->rearm.fn = udp_rearm;
		rx->backoff.io.fn = udp_backoff_done;
		tmpl_init(&rx->tmpl, p->large_over != 0);
		ret = arm(rx);
	}
	return ret;
}

static void udp_rearm(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_udp_rx *rx = (struct rc_udp_rx *)((char *)d - offsetof(struct rc_udp_rx, rearm));
	int ret;

	(void)loop;
	if (rx->port->stopping || rx->armed)
		return;
	rx->port->stats.rearms++;
	ret = arm(rx);
	if (ret < 0)
		rc_log_error("udp: re-arming receive failed: %s", strerror(-ret));
}

static void udp_backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_udp_rx *rx = (struct rc_udp_rx *)((char *)io -
						    offsetof(struct rc_udp_rx, backoff.io));

	(void)cqe;
	rx->timer_armed = false;
	udp_rearm(loop, &rx->rearm);
}

/* Hands one datagram to the owner; the port's reference on its buffer
 * ends after. */
static void publish(struct rc_udp_port *p, uint16_t bid, uint8_t *payload, uint32_t len,
		    const struct sockaddr *src, socklen_t src_len)
{
	RC_PROBE3(ingest, p->fd, bid, len);
	p->src = src;
	p->src_len = src_len;
	p->on_msg(p, bid, payload, len);
	p->src = NULL;
	/* Our reference ends here; subscribers' queued sends hold theirs. */
	rc_bufring_unref(p->br, bid);
}

/* The receive time up to which both sockets are known to have handed
 * over everything: now for a socket whose queue is empty (or that is not
 * receiving: paused on an empty ring, it cannot be waited for), else the
 * time of the last datagram taken from it (its queue is in order, so what
 * waits there arrived later). */
static uint64_t drained_until(const struct rc_udp_port *p)
{
	struct timespec ts;
	uint64_t w;

	/* Read before the queues: a datagram queued after the check was
	 * received after this time. */
	clock_gettime(CLOCK_REALTIME, &ts);
	w = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (int i = 0; i < 2; i++) {
		int queued = 0;

		if (p->rx[i].fd < 0 || !p->rx[i].armed)
			continue;
		if (ioctl(p->rx[i].fd, SIOCINQ, &queued) == 0 && queued > 0 &&
		    p->rx[i].last_ns < w)
			w = p->rx[i].last_ns;
	}
	return w;
}

/* Publishes what a two-socket port holds, in the order the kernel received
 * it: mostly in order already (each socket's own are), so an insertion
 * sort, stable for equal times. Unless all, a datagram that may still have
 * an earlier one waiting in the other socket's queue is kept, and looked
 * at again next turn. */
static void flush_held(struct rc_udp_port *p, bool all)
{
	struct rc_udp_held *h = p->held;
	uint32_t n = p->nheld, k = 0;
	uint64_t until = all ? UINT64_MAX : drained_until(p);

	for (uint32_t i = 1; i < n; i++) {
		struct rc_udp_held x = h[i];
		uint32_t j = i;

		for (; j > 0 && h[j - 1].time_ns > x.time_ns; j--)
			h[j] = h[j - 1];
		h[j] = x;
	}
	for (; k < n && h[k].time_ns <= until; k++) {
		/* Received before one published earlier: the other socket
		 * was paused on an empty ring meanwhile. Counted. */
		if (h[k].time_ns < p->last_ns)
			p->stats.late++;
		else
			p->last_ns = h[k].time_ns;
		publish(p, h[k].bid, h[k].payload, h[k].len, h[k].src, h[k].src_len);
	}
	memmove(h, h + k, (n - k) * sizeof(*h));
	p->nheld = n - k;
	if (p->nheld) {
		p->stats.waits++;
		rc_loop_defer_next(p->loop, &p->flush);
	}
}

static void udp_flush(struct rc_loop *loop, struct rc_deferred *d)
{
	(void)loop;
	flush_held((struct rc_udp_port *)((char *)d - offsetof(struct rc_udp_port, flush)), false);
}

/* Keeps a datagram of a two-socket port, with its buffer's reference, for
 * the end of the turn. */
static void hold(struct rc_udp_rx *rx, uint16_t bid, const struct rc_datagram *dg)
{
	struct rc_udp_port *p = rx->port;

	/* Made at the first datagram: an idle port holds no such array. */
	if (!p->held) {
		p->held = malloc(RC_UDP_HOLD * sizeof(*p->held));
		if (!p->held) {
			publish(p, bid, dg->payload, dg->len, dg->src, dg->src_len);
			return;
		}
		rc_mem_charge(RC_UDP_HOLD * sizeof(*p->held));
	}
	if (p->nheld == RC_UDP_HOLD)
		flush_held(p, true);
	if (dg->has_time)
		rx->last_ns = dg->time_ns;
	p->held[p->nheld++] = (struct rc_udp_held){
		.time_ns = dg->has_time ? dg->time_ns : rx->last_ns,
		.payload = dg->payload,
		.src = dg->src,
		.len = dg->len,
		.src_len = dg->src_len,
		.bid = bid,
	};
	if (!rc_deferred_queued(&p->flush))
		rc_loop_defer(p->loop, &p->flush);
}

static void deliver(struct rc_udp_rx *rx, const struct rc_cqe *cqe)
{
	struct rc_udp_port *p = rx->port;
	struct rc_datagram dg;

	/* The CQE hands buffer bid to us with one reference (ours). A large
	 * class's id is taken through the regular ring, which forwards it. */
	rc_bufring_take(p->br, cqe->bid);
	if (rc_bufring_recvmsg_payload(p->br, cqe, &rx->tmpl, &dg) < 0) {
		p->stats.errors++;
		goto drop;
	}
	if (dg.has_kernel_drops && dg.kernel_drops != rx->last_kernel_drops) {
		p->stats.kernel_drops += dg.kernel_drops - rx->last_kernel_drops;
		rx->last_kernel_drops = dg.kernel_drops;
	}
	if (p->nallow && !rc_cidr_match(p->allow, p->nallow, dg.src, dg.src_len)) {
		/* Not from an allowed source: never published. */
		p->stats.denied++;
		goto drop;
	}
	if (dg.truncated) {
		/* Delivering part of a datagram would break the promise that
		 * payloads arrive byte-identical. */
		p->stats.truncated++;
		goto drop;
	}
	p->stats.datagrams++;
	p->stats.bytes += dg.len;
	if (rx != &p->rx[0])
		p->stats.large++;
	if (p->large_over)
		hold(rx, cqe->bid, &dg);
	else
		publish(p, cqe->bid, dg.payload, dg.len, dg.src, dg.src_len);
	return;
drop:
	rc_bufring_unref(p->br, cqe->bid);
}

static void udp_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_udp_rx *rx = (struct rc_udp_rx *)((char *)io - offsetof(struct rc_udp_rx, io));
	struct rc_udp_port *p = rx->port;

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER))
		deliver(rx, cqe);
	else if (cqe->flags & RC_CQE_BUFFER)
		rc_bufring_unref(p->br, cqe->bid);	/* cannot happen; never leak a buffer */
	if (cqe->flags & RC_CQE_MORE)
		return;
	rx->armed = false;
	if (p->stopping)
		return;
	if (cqe->res == -ENOBUFS) {
		/* Every buffer of the class is held by queued sends. Re-arming
		 * now would fail again at once; wait until a quarter of it is
		 * back. Datagrams meanwhile wait in the socket buffer (or are
		 * dropped by the kernel and counted through SO_RXQ_OVFL). */
		p->stats.enobufs++;
		if (rc_bufring_wait(rx->from, &rx->rearm) < 0)
			goto backoff;
		return;
	}
	if (cqe->res < 0 && cqe->res != -ECANCELED) {
		p->stats.errors++;
		rc_log_warn("udp: receive ended: %s", strerror(-cqe->res));
		goto backoff;
	}
	/* A multishot receive may end for reasons of its own (e.g. CQ
	 * overflow on older kernels): just arm it again. */
	rc_loop_defer(loop, &rx->rearm);
	return;
backoff:
	if (!rx->timer_armed && rc_loop_timer_arm(loop, &rx->backoff, BACKOFF_MS) == 0)
		rx->timer_armed = true;
}

void rc_udp_stop(struct rc_udp_port *p)
{
	/* What this turn received still goes out, before the owner stops. */
	if (p->nheld)
		flush_held(p, true);
	p->stopping = true;
	for (int i = 0; i < 2; i++) {
		struct rc_udp_rx *rx = &p->rx[i];

		if (rx->from)
			rc_bufring_unwait(rx->from, &rx->rearm);
		if (rx->armed)
			rc_loop_cancel(p->loop, &rx->io);
		if (rx->timer_armed)
			rc_loop_cancel(p->loop, &rx->backoff.io);
	}
}

bool rc_udp_busy(const struct rc_udp_port *p)
{
	return p->rx[0].armed || p->rx[0].timer_armed || p->rx[1].armed || p->rx[1].timer_armed;
}

void rc_udp_close(struct rc_udp_port *p)
{
	for (int i = 0; i < 2; i++) {
		if (p->rx[i].fd >= 0)
			close(p->rx[i].fd);
		p->rx[i].fd = -1;
	}
	p->fd = -1;
	if (p->held)
		rc_mem_uncharge(RC_UDP_HOLD * sizeof(*p->held));
	free(p->held);
	p->held = NULL;
}

int rc_udp_send_tagged(struct rc_udp_port *p, const struct sockaddr *to, socklen_t to_len,
		       uint32_t id, const uint8_t *data, uint32_t len)
{
	uint8_t tag[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
			   (uint8_t)id };
	struct iovec iov[2] = { { tag, sizeof(tag) }, { (void *)data, len } };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = to_len, .msg_iov = iov,
			     .msg_iovlen = 2 };

	/* A plain non-blocking send: uplink messages are few (players'
	 * input) and small, and the ingest socket is the one the publisher
	 * already talks to, so a reply gets through its NAT. Dropped, never
	 * waited for, when the socket's buffer is full. */
	if (sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? -EAGAIN : -errno;
	return 0;
}
