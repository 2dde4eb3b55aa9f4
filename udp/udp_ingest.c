/* UDP ingest over multishot recvmsg. See udp_ingest.h. */
#include "udp_ingest.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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
static void udp_wait_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);

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

/* Broadcast and multicast datagrams reach every socket bound to their
 * port, reuseport group or not: each socket of a two-socket port keeps
 * only its own length class of those (the filter sees the 8-byte UDP
 * header too). Datagrams for this host pass; the group's program already
 * chose their socket. */
static int attach_class_filter(int fd, uint32_t over, bool long_ones)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, 3, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, over + 8, long_ones ? 1 : 0, long_ones ? 0 : 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/* Opens the port as one socket, or with two (a large class in br) as two
 * in one reuseport group. */
static int open_sockets(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len,
			int rcvbuf, const struct rc_bufring *br, bool two)
{
	int fd = -1;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = p->rx[0].fd = p->rx[1].fd = -1;
	if (two) {
		ret = claim_address(addr, addr_len, &p->addr, &p->addr_len);
		if (ret < 0)
			goto fail;
		addr = (const struct sockaddr *)&p->addr;
		addr_len = p->addr_len;
	}
	fd = new_socket(addr->sa_family, rcvbuf, two);
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
	if (!two)
		return 0;
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
	/* Until the group's program is in, the kernel spreads datagrams over
	 * the two by hash: a long one that meets socket 0 in that instant is
	 * counted as truncated. Start-up only. */
	ret = attach_steering(p->fd, p->large_over);
	if (ret == 0)
		ret = attach_class_filter(p->rx[0].fd, p->large_over, false);
	if (ret == 0)
		ret = attach_class_filter(p->rx[1].fd, p->large_over, true);
	if (ret < 0)
		goto fail;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	rc_udp_close(p);
	return ret;
}

int rc_udp_open(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len, int rcvbuf,
		const struct rc_bufring *br)
{
	bool any_port = (addr->sa_family == AF_INET &&
			 ((const struct sockaddr_in *)addr)->sin_port == 0) ||
			(addr->sa_family == AF_INET6 &&
			 ((const struct sockaddr_in6 *)addr)->sin6_port == 0);
	int ret = -EINVAL;

	if (!br || !rc_bufring_large(br))
		return open_sockets(p, addr, addr_len, rcvbuf, br, false);
	/* For port 0 the port claim_address() got may be taken before the
	 * real bind: try again with another. */
	for (int tries = 0; tries < (any_port ? 3 : 1); tries++) {
		ret = open_sockets(p, addr, addr_len, rcvbuf, br, true);
		if (ret != -EADDRINUSE)
			break;
	}
	if (ret == 0 || ret == -EADDRINUSE || ret == -EACCES || ret == -EADDRNOTAVAIL)
		return ret;
	/* Where the kernel refuses a reuseport program or timestamps (some
	 * sandboxes), the port still works as one socket. */
	rc_log_warn("udp: no second socket for long datagrams (%s): datagrams over %u bytes are "
		    "dropped and counted", strerror(-ret),
		    br->size - rc_udp_overhead(false));
	return open_sockets(p, addr, addr_len, rcvbuf, br, false);
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
	p->wait.io.fn = udp_wait_done;
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
	/* What waited for this socket's queue may go once it is read. */
	if (ret == 0 && (rx->port->rx[0].nheld || rx->port->rx[1].nheld) &&
	    !rc_deferred_queued(&rx->port->flush))
		rc_loop_defer(rx->port->loop, &rx->port->flush);
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

/* True while fd's queue holds a datagram (a zero-length one too). */
static bool queue_nonempty(int fd)
{
	return recv(fd, NULL, 0, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

/* The receive time up to which every datagram of the port has been taken:
 * each socket's queue is in arrival order, so one that still holds some
 * has handed over everything up to the last datagram taken from it;
 * UINT64_MAX when no queue holds any. A socket that is receiving is
 * waited for (a completion will come) up to RC_UDP_STUCK_MS, a safety
 * net; one paused on an empty ring only RC_UDP_WAIT_MS: short datagrams
 * must not wait for long ones' buffers. */
static uint64_t taken_until(struct rc_udp_port *p)
{
	uint64_t waited = p->wait_since_ms ? rc_loop_now_ms(p->loop) - p->wait_since_ms : 0;
	uint64_t w = UINT64_MAX;

	for (int i = 0; i < 2; i++) {
		const struct rc_udp_rx *rx = &p->rx[i];
		bool receiving = rx->armed || rc_deferred_queued(&rx->rearm);

		if (rx->fd < 0 || waited >= (receiving ? RC_UDP_STUCK_MS : RC_UDP_WAIT_MS) ||
		    !queue_nonempty(rx->fd))
			continue;
		if (rx->last_ns < w)
			w = rx->last_ns;
	}
	return w;
}

static struct rc_udp_held *held_head(struct rc_udp_rx *rx)
{
	return rx->nheld ? &rx->held[rx->held_head] : NULL;
}

/* Publishes what a two-socket port holds: the two sockets' datagrams
 * (each socket's in its own order, never changed) merged by the time the
 * kernel received them, up to `until`; what is newer waits for the next
 * turn, as the other socket's queue may still hold an older one. */
static void flush_held(struct rc_udp_port *p, uint64_t until)
{
	bool progress = false;

	for (;;) {
		struct rc_udp_held *a = held_head(&p->rx[0]), *b = held_head(&p->rx[1]);
		struct rc_udp_rx *from = &p->rx[0];
		struct rc_udp_held h;

		if (!a && !b)
			break;
		if (!a || (b && b->time_ns < a->time_ns))
			from = &p->rx[1];
		h = *held_head(from);
		if (h.time_ns > until)
			break;
		from->held_head++;
		if (--from->nheld == 0)
			from->held_head = 0;
		/* Received before one published earlier: the other socket
		 * was paused or not waited for. Counted. */
		if (h.time_ns < p->last_ns)
			p->stats.late++;
		else
			p->last_ns = h.time_ns;
		publish(p, h.bid, h.payload, h.len, h.src, h.src_len);
		progress = true;
	}
	if (!p->rx[0].nheld && !p->rx[1].nheld) {
		p->wait_since_ms = 0;
		return;
	}
	/* Looked at again when a datagram comes, a paused socket is re-armed,
	 * or the wait runs out; never by spinning. */
	p->stats.waits++;
	if (progress || !p->wait_since_ms)
		p->wait_since_ms = rc_loop_now_ms(p->loop);
	if (!p->wait_armed && rc_loop_timer_arm(p->loop, &p->wait, RC_UDP_WAIT_MS) == 0)
		p->wait_armed = true;
}

static void udp_wait_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_udp_port *p = (struct rc_udp_port *)((char *)io -
						       offsetof(struct rc_udp_port, wait.io));

	(void)loop;
	(void)cqe;
	p->wait_armed = false;
	if (!p->stopping && (p->rx[0].nheld || p->rx[1].nheld) && !rc_deferred_queued(&p->flush))
		rc_loop_defer(p->loop, &p->flush);
}

static void udp_flush(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_udp_port *p = (struct rc_udp_port *)((char *)d -
						       offsetof(struct rc_udp_port, flush));

	(void)loop;
	flush_held(p, taken_until(p));
}

/* Room for one more held datagram on rx: the array grows by doubling up
 * to the ring's ids (each entry holds a buffer, so no more can be). The
 * memory is charged. Returns false when it cannot grow. */
static bool held_room(struct rc_udp_rx *rx)
{
	struct rc_udp_port *p = rx->port;
	uint32_t cap = rx->held_cap ? rx->held_cap * 2 : 32;
	struct rc_udp_held *h;

	if (rx->held_head + rx->nheld < rx->held_cap)
		return true;
	if (rx->held_head) {
		memmove(rx->held, rx->held + rx->held_head, rx->nheld * sizeof(*rx->held));
		rx->held_head = 0;
		return true;
	}
	if (cap > rc_bufring_ids(p->br))
		return false;
	h = realloc(rx->held, cap * sizeof(*h));
	if (!h)
		return false;
	rc_mem_charge((cap - rx->held_cap) * sizeof(*h));
	rx->held = h;
	rx->held_cap = cap;
	return true;
}

/* Keeps a datagram of a two-socket port, with its buffer's reference, for
 * the end of the turn. */
static void hold(struct rc_udp_rx *rx, uint16_t bid, const struct rc_datagram *dg)
{
	struct rc_udp_port *p = rx->port;

	if (!held_room(rx)) {
		/* Out of memory: what is held goes out now, in its order. */
		flush_held(p, UINT64_MAX);
		publish(p, bid, dg->payload, dg->len, dg->src, dg->src_len);
		return;
	}
	rx->held[rx->held_head + rx->nheld++] = (struct rc_udp_held){
		.time_ns = rx->last_ns,	/* deliver() set it from dg when it had one */
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
	/* Taken from the queue, published or not: what waits there is newer. */
	if (dg.has_time)
		rx->last_ns = dg.time_ns;
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
	if (p->rx[0].nheld || p->rx[1].nheld)
		flush_held(p, UINT64_MAX);
	p->stopping = true;
	if (p->wait_armed)
		rc_loop_cancel(p->loop, &p->wait.io);
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
	return p->rx[0].armed || p->rx[0].timer_armed || p->rx[1].armed || p->rx[1].timer_armed ||
	       p->rx[0].nheld || p->rx[1].nheld || p->wait_armed;
}

void rc_udp_close(struct rc_udp_port *p)
{
	for (int i = 0; i < 2; i++) {
		struct rc_udp_rx *rx = &p->rx[i];

		/* Held past the loop's end (it stopped before the turn's
		 * flush): the references go back unpublished. */
		for (uint32_t k = 0; k < rx->nheld; k++)
			rc_bufring_unref(p->br, rx->held[rx->held_head + k].bid);
		rx->nheld = rx->held_head = 0;
		if (rx->held_cap)
			rc_mem_uncharge(rx->held_cap * sizeof(*rx->held));
		free(rx->held);
		rx->held = NULL;
		rx->held_cap = 0;
		if (rx->fd >= 0)
			close(rx->fd);
		rx->fd = -1;
	}
	p->fd = -1;
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
