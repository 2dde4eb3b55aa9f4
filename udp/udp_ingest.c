/* UDP ingest over multishot recvmsg. See udp_ingest.h. */
#include "udp_ingest.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "probes.h"

#define BACKOFF_MS 100

static void udp_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);
static void udp_rearm(struct rc_loop *loop, struct rc_deferred *d);
static void udp_backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe);

int rc_udp_open(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len, int rcvbuf)
{
	int one = 1;
	int fd;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* A publisher's burst must fit in the socket while the loop is busy
	 * fanning out; FORCE goes past net.core.rmem_max when we may. */
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Every datagram then carries the socket's cumulative drop count, so
	 * kernel-side losses show up in the metrics. */
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (bind(fd, addr, addr_len) < 0) {
		ret = -errno;
		goto fail_close;
	}
	p->addr_len = sizeof(p->addr);
	if (getsockname(fd, (struct sockaddr *)&p->addr, &p->addr_len) < 0) {
		ret = -errno;
		goto fail_close;
	}
	p->fd = fd;
	return 0;

fail_close:
	close(fd);
fail:
	return ret;
}

static int arm(struct rc_udp_port *p)
{
	int ret = rc_loop_recvmsg_multishot(p->loop, &p->io, p->fd, p->br, &p->tmpl);

	if (ret == 0)
		p->armed = true;
	return ret;
}

int rc_udp_start(struct rc_udp_port *p, struct rc_loop *loop, struct rc_bufring *br,
		 rc_udp_msg_fn on_msg, void *owner)
{
	p->loop = loop;
	p->br = br;
	p->on_msg = on_msg;
	p->owner = owner;
	p->io.fn = udp_complete;
	p->rearm.fn = udp_rearm;
	p->backoff.io.fn = udp_backoff_done;
	/* Room for the sender's address (IPv6 at most) and the SO_RXQ_OVFL
	 * message: the kernel lays them out in front of each payload, which is
	 * also what leaves space for the owner's header there. */
	p->tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	p->tmpl.msg_controllen = CMSG_SPACE(sizeof(uint32_t));
	return arm(p);
}

static void udp_rearm(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_udp_port *p = (struct rc_udp_port *)((char *)d - offsetof(struct rc_udp_port, rearm));
	int ret;

	(void)loop;
	if (p->stopping || p->armed)
		return;
	p->stats.rearms++;
	ret = arm(p);
	if (ret < 0)
		rc_log_error("udp: re-arming receive failed: %s", strerror(-ret));
}

static void udp_backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_udp_port *p = (struct rc_udp_port *)((char *)io -
						       offsetof(struct rc_udp_port, backoff.io));

	(void)cqe;
	p->timer_armed = false;
	udp_rearm(loop, &p->rearm);
}

static void deliver(struct rc_udp_port *p, const struct rc_cqe *cqe)
{
	struct rc_datagram dg;

	/* The CQE hands buffer bid to us with one reference (ours). */
	rc_bufring_take(p->br, cqe->bid);
	if (rc_bufring_recvmsg_payload(p->br, cqe, &p->tmpl, &dg) < 0) {
		p->stats.errors++;
	} else {
		if (dg.has_kernel_drops && dg.kernel_drops != p->last_kernel_drops) {
			p->stats.kernel_drops += dg.kernel_drops - p->last_kernel_drops;
			p->last_kernel_drops = dg.kernel_drops;
		}
		if (p->nallow && !rc_cidr_match(p->allow, p->nallow, dg.src, dg.src_len)) {
			/* Not from an allowed source: never published. */
			p->stats.denied++;
		} else if (dg.truncated) {
			/* Delivering part of a datagram would break the promise
			 * that payloads arrive byte-identical. */
			p->stats.truncated++;
		} else {
			p->stats.datagrams++;
			p->stats.bytes += dg.len;
			RC_PROBE3(ingest, p->fd, cqe->bid, dg.len);
			p->src = dg.src;
			p->src_len = dg.src_len;
			p->on_msg(p, cqe->bid, dg.payload, dg.len);
			p->src = NULL;
		}
	}
	/* Our reference ends here; subscribers' queued sends hold theirs. */
	rc_bufring_unref(p->br, cqe->bid);
}

static void udp_complete(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_udp_port *p = (struct rc_udp_port *)((char *)io - offsetof(struct rc_udp_port, io));

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER))
		deliver(p, cqe);
	else if (cqe->flags & RC_CQE_BUFFER)
		rc_bufring_unref(p->br, cqe->bid);	/* cannot happen; never leak a buffer */
	if (cqe->flags & RC_CQE_MORE)
		return;
	p->armed = false;
	if (p->stopping)
		return;
	if (cqe->res == -ENOBUFS) {
		/* Every buffer is held by queued sends. Re-arming now would
		 * fail again at once; wait until a quarter of the ring is back.
		 * Datagrams meanwhile wait in the socket buffer (or are dropped
		 * by the kernel and counted through SO_RXQ_OVFL). */
		p->stats.enobufs++;
		if (rc_bufring_wait(p->br, &p->rearm) < 0)
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
	rc_loop_defer(loop, &p->rearm);
	return;
backoff:
	if (!p->timer_armed && rc_loop_timer_arm(loop, &p->backoff, BACKOFF_MS) == 0)
		p->timer_armed = true;
}

void rc_udp_stop(struct rc_udp_port *p)
{
	p->stopping = true;
	if (p->br)
		rc_bufring_unwait(p->br, &p->rearm);
	if (p->armed)
		rc_loop_cancel(p->loop, &p->io);
	if (p->timer_armed)
		rc_loop_cancel(p->loop, &p->backoff.io);
}

bool rc_udp_busy(const struct rc_udp_port *p)
{
	return p->armed || p->timer_armed;
}

void rc_udp_close(struct rc_udp_port *p)
{
	if (p->fd >= 0)
		close(p->fd);
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
