/* Buffer ring reference counting and recycling, driven by the real kernel:
 * datagrams are received with a multishot recvmsg into an 8-buffer ring, the
 * test holds references the way fan-out does, runs the ring dry (-ENOBUFS),
 * and checks that releasing references hands buffers back and lets the
 * waiting receive resume. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bufring.h"
#include "backend.h"
#include "loop.h"

#define NBUF 8

struct rx {
	struct rc_io io;
	struct rc_deferred rearm;
	struct rc_timer stop;
	struct rc_loop *loop;
	struct rc_bufring *br;
	struct msghdr tmpl;
	int fd;
	int got;
	int want;
	int enobufs;
	bool armed;
	uint16_t held[64];
	int nheld;
	char payloads[64][16];
};

static void rx_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rx *rx = (struct rx *)io;

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER)) {
		struct rc_datagram dg;

		rc_bufring_take(rx->br, cqe->bid);
		cr_assert_eq(rc_bufring_recvmsg_payload(rx->br, cqe, &rx->tmpl, &dg), 0);
		cr_assert(!dg.truncated);
		cr_assert_lt(dg.len, sizeof(rx->payloads[0]));
		memcpy(rx->payloads[rx->got], dg.payload, dg.len);
		rx->payloads[rx->got][dg.len] = '\0';
		/* Hold it like a queued send would: the ring must not reuse it. */
		rx->held[rx->nheld++] = cqe->bid;
		rx->got++;
	}
	if (!(cqe->flags & RC_CQE_MORE)) {
		rx->armed = false;
		if (cqe->res == -ENOBUFS)
			rx->enobufs++;
	}
	if (rx->got == rx->want)
		rc_loop_stop(loop);
}

static void rx_rearm(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rx *rx = (struct rx *)((char *)d - offsetof(struct rx, rearm));

	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &rx->io, rx->fd, rx->br, &rx->tmpl), 0);
	rx->armed = true;
}

static void stop_timer(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(loop);
}

static void run_for(struct rx *rx, uint64_t ms)
{
	cr_assert_eq(rc_loop_timer_arm(rx->loop, &rx->stop, ms), 0);
	cr_assert_eq(rc_loop_run(rx->loop), 0);
}

Test(core_bufring, refcount_recycle_and_enobufs_rearm)
{
	struct rc_bufring_opts o = { .group = 7, .count = NBUF, .size = 256, .headroom = 16 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	static struct rx rx;
	int err = 0;
	int tx;

	memset(&rx, 0, sizeof(rx));
	rx.loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(rx.loop, "loop: %d", err);
	rx.br = rc_bufring_create(rx.loop, &o, &err);
	cr_assert_not_null(rx.br, "bufring: %d", err);
	cr_assert_eq(rc_bufring_free(rx.br), NBUF);
	/* Every buffer keeps its headroom and its own cache lines. */
	cr_assert_eq(rc_bufring_data(rx.br, 1) - rc_bufring_data(rx.br, 0), 320);
	cr_assert_eq((uintptr_t)rc_bufring_data(rx.br, 0) % 16, 0);

	rx.fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(rx.fd, 0);
	cr_assert_eq(bind(rx.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(rx.fd, (struct sockaddr *)&a, &alen), 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	rx.io.fn = rx_done;
	rx.rearm.fn = rx_rearm;
	rx.stop.io.fn = stop_timer;
	rx.tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	cr_assert_eq(rc_loop_recvmsg_multishot(rx.loop, &rx.io, rx.fd, rx.br, &rx.tmpl), 0);
	rx.armed = true;

	/* 12 datagrams into 8 buffers: 8 arrive, then the receive ends with
	 * -ENOBUFS and 4 wait in the socket. */
	for (int i = 0; i < 12; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "dgram-%02d", i);

		cr_assert_eq(sendto(tx, msg, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)), n);
	}
	rx.want = 12;
	run_for(&rx, 300);
	cr_assert_eq(rx.got, NBUF);
	cr_assert_eq(rc_bufring_free(rx.br), 0);
	cr_assert_eq(rx.enobufs, 1, "receive should end with -ENOBUFS once");
	cr_assert(!rx.armed);

	/* Two more references on buffer 0's holder, as if three subscribers
	 * queued it: it must stay out of the ring until the last one goes. */
	rc_bufring_ref(rx.br, rx.held[0]);
	rc_bufring_ref(rx.br, rx.held[0]);
	cr_assert_eq(rc_bufring_wait(rx.br, &rx.rearm), 0);
	rc_bufring_unref(rx.br, rx.held[0]);
	rc_bufring_unref(rx.br, rx.held[0]);
	cr_assert_eq(rc_bufring_free(rx.br), 0);
	rc_bufring_unref(rx.br, rx.held[0]);
	cr_assert_eq(rc_bufring_free(rx.br), 1);
	/* refill is count/4 = 2: one free buffer does not wake the waiter yet. */
	cr_assert(!rc_deferred_queued(&rx.rearm));
	rc_bufring_unref(rx.br, rx.held[1]);
	cr_assert_eq(rc_bufring_free(rx.br), 2);
	cr_assert(rc_deferred_queued(&rx.rearm), "waiter must be queued once count/4 buffers are free");
	for (int i = 2; i < NBUF; i++)
		rc_bufring_unref(rx.br, rx.held[i]);
	cr_assert_eq(rc_bufring_free(rx.br), NBUF);

	/* The re-armed receive gets the 4 datagrams that waited, in order. */
	run_for(&rx, 2000);
	cr_assert_eq(rx.got, 12);
	for (int i = 0; i < 12; i++) {
		char want[16];

		snprintf(want, sizeof(want), "dgram-%02d", i);
		cr_assert_str_eq(rx.payloads[i], want);
	}
	for (int i = NBUF; i < rx.nheld; i++)
		rc_bufring_unref(rx.br, rx.held[i]);
	cr_assert_eq(rc_bufring_free(rx.br), NBUF);
	close(tx);
	close(rx.fd);
	rc_bufring_destroy(rx.br);
	rc_loop_destroy(rx.loop);
}

/* Dropping a reference nobody holds (refs already 0: the buffer is the
 * kernel's) is the same broken bookkeeping as the kernel handing out a
 * buffer still referenced: it aborts rather than wrap the count and leave
 * the buffer out of the ring for ever, or hand it back twice. */
Test(core_bufring, unref_without_a_reference_aborts, .signal = SIGABRT)
{
	struct rc_bufring_opts o = { .group = 7, .count = NBUF, .size = 256 };
	struct rc_loop *loop;
	struct rc_bufring *br;
	int err = 0;

	loop = rc_loop_create(NULL, &err);
	cr_assert_not_null(loop, "loop: %d", err);
	br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(br, "bufring: %d", err);
	rc_bufring_take(br, 3);
	rc_bufring_unref(br, 3);
	cr_assert_eq(rc_bufring_free(br), NBUF);
	rc_bufring_unref(br, 3);	/* one unref too many */
	cr_log_error("still running after an unref without a reference (free %u)",
		     rc_bufring_free(br));
}

/* The large class: its ids follow the regular ring's, the kernel hands
 * them out from their own group, and every call on the regular ring
 * forwards them (count, data, take, ref, unref, free counts apart). */
struct big_rx {
	struct rc_io io;
	struct rc_timer stop;
	struct rc_bufring *br;
	struct msghdr tmpl;
	int got;
	uint16_t bid[4];
	uint32_t len[4];
	bool truncated;
};

static void big_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct big_rx *rx = (struct big_rx *)io;

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER)) {
		struct rc_datagram dg;

		rc_bufring_take(rx->br, cqe->bid);
		cr_assert_eq(rc_bufring_recvmsg_payload(rx->br, cqe, &rx->tmpl, &dg), 0);
		rx->truncated |= dg.truncated;
		for (uint32_t i = 0; i < dg.len; i++)
			cr_assert_eq(dg.payload[i], (uint8_t)(i * 7 + (uint32_t)rx->got),
				     "byte %u of datagram %d", i, rx->got);
		rx->bid[rx->got] = cqe->bid;
		rx->len[rx->got] = dg.len;
		rx->got++;
	}
	if (rx->got == 2)
		rc_loop_stop(loop);
}

Test(core_bufring, the_large_class_forwards_its_ids)
{
	struct rc_bufring_opts o = { .group = 7, .count = NBUF, .size = 256, .headroom = 16 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	static struct big_rx rx;
	static uint8_t msg[65507];
	struct rc_loop *loop;
	struct rc_bufring *br;
	int err = 0;
	int fd, tx;

	memset(&rx, 0, sizeof(rx));
	loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(loop, "loop: %d", err);
	br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(br, "bufring: %d", err);
	cr_assert_eq(rc_bufring_add_large(br, 8, 4, 65536 + 128), 0);
	cr_assert_eq(rc_bufring_add_large(br, 9, 4, 65536), -EEXIST);
	cr_assert_eq(rc_bufring_ids(br), NBUF + 4);
	cr_assert(rc_bufring_is_regular(br, NBUF - 1) && !rc_bufring_is_regular(br, NBUF));
	cr_assert_eq(rc_bufring_free(rc_bufring_large(br)), 4);
	/* Its buffers are its own memory, with the same headroom. */
	cr_assert_eq(rc_bufring_data(br, NBUF + 1) - rc_bufring_data(br, NBUF),
		     (65536 + 128 + 16 + 63) & ~63);
	cr_assert(rc_bufring_data(br, NBUF) < br->slab ||
		  rc_bufring_data(br, NBUF) >= br->slab + br->slab_len);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	rx.br = br;
	rx.io.fn = big_done;
	rx.stop.io.fn = stop_timer;
	rx.tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	/* Received from the large class's group; taken through the regular
	 * ring's calls. */
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &rx.io, fd, rc_bufring_large(br), &rx.tmpl), 0);
	for (int d = 0; d < 2; d++) {
		size_t n = d ? 10 : sizeof(msg);

		for (size_t i = 0; i < n; i++)
			msg[i] = (uint8_t)(i * 7 + (size_t)d);
		cr_assert_eq(sendto(tx, msg, n, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)n);
	}
	cr_assert_eq(rc_loop_timer_arm(loop, &rx.stop, 2000), 0);
	cr_assert_eq(rc_loop_run(loop), 0);
	cr_assert_eq(rx.got, 2);
	cr_assert(!rx.truncated);
	cr_assert_eq(rx.len[0], sizeof(msg));
	cr_assert_eq(rx.len[1], 10);
	cr_assert(rx.bid[0] >= NBUF && rx.bid[1] >= NBUF && rx.bid[0] != rx.bid[1],
		  "large ids follow the regular ones: %u %u", rx.bid[0], rx.bid[1]);
	cr_assert_eq(rc_bufring_free(rc_bufring_large(br)), 2);
	cr_assert_eq(rc_bufring_free(br), NBUF, "the regular class is untouched");
	/* 2 of 4 free is not low: the policy would wait for fewer than 1. */
	cr_assert(!rc_bufring_low(br));
	/* A reference each, as queued sends would hold. */
	rc_bufring_ref(br, rx.bid[0]);
	rc_bufring_unref(br, rx.bid[0]);
	cr_assert_eq(rc_bufring_free(rc_bufring_large(br)), 2);
	rc_bufring_unref(br, rx.bid[0]);
	rc_bufring_unref(br, rx.bid[1]);
	cr_assert_eq(rc_bufring_free(rc_bufring_large(br)), 4);
	rc_loop_cancel_fd(loop, fd);
	close(tx);
	close(fd);
	rc_bufring_destroy(br);
	rc_loop_destroy(loop);
}
