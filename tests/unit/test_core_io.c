/* The loop's operations and their completions, on real sockets: what every
 * owner in ringcast relies on, whichever backend runs them (meson runs this
 * file once per backend, see backend.h). Results and flags (RC_CQE_MORE,
 * RC_CQE_BUFFER, -ENOBUFS, -ECANCELED, -ETIME), completions never inside
 * the call that starts an operation, sends that wait for room, and the
 * datagram layout that rc_bufring_recvmsg_payload() decodes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "bufring.h"
#include "loop.h"

#define MAXC 64

/* Records every completion of one operation. */
struct rec {
	struct rc_io io;
	struct rc_bufring *br;	/* buffers of RC_CQE_BUFFER completions are taken and kept */
	int n;
	struct rc_cqe c[MAXC];
	int stop_after;		/* stop the loop after this many (0: never) */
	bool stop_on_final;	/* stop the loop on a completion without MORE */
};

static void rec_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rec *r = (struct rec *)io;

	cr_assert_lt(r->n, MAXC);
	r->c[r->n++] = *cqe;
	if ((cqe->flags & RC_CQE_BUFFER) && r->br)
		rc_bufring_take(r->br, cqe->bid);
	if ((r->stop_after && r->n == r->stop_after) ||
	    (r->stop_on_final && !(cqe->flags & RC_CQE_MORE)))
		rc_loop_stop(loop);
}

static struct rc_loop *loop;

static void setup(void)
{
	int err = 0;

	loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(loop, "loop on %s: %d", test_backend(), err);
}

static void teardown(void)
{
	rc_loop_destroy(loop);
}

TestSuite(core_io, .init = setup, .fini = teardown, .timeout = 20);

/* The guard of run_for(): static, because a timer's rc_io must outlive
 * the operation, which may outlast a run stopped by something else. */
static struct {
	struct rc_timer t;
	bool armed;
	bool cancelling;
} guard;

static void guard_done(struct rc_loop *lp, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	guard.armed = false;
	if (cqe->res == -ETIME || guard.cancelling)
		rc_loop_stop(lp);
}

/* Runs the loop until something stops it, or for at most ms; the guard
 * timer is gone when it returns. */
static void run_for(uint64_t ms)
{
	cr_assert_not(guard.armed);
	memset(&guard, 0, sizeof(guard));
	guard.t.io.fn = guard_done;
	cr_assert_eq(rc_loop_timer_arm(loop, &guard.t, ms), 0);
	guard.armed = true;
	cr_assert_eq(rc_loop_run(loop), 0);
	if (guard.armed) {
		guard.cancelling = true;
		cr_assert_eq(rc_loop_cancel(loop, &guard.t.io), 0);
		cr_assert_eq(rc_loop_run(loop), 0);
		cr_assert_not(guard.armed);
	}
}

static int udp_bound(struct sockaddr_in *a)
{
	socklen_t alen = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	*a = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)a, &alen), 0);
	return fd;
}

/* Fills fd's send buffer (the peer does not read): afterwards a send on
 * fd has to wait for room. */
static void fill(int fd)
{
	char chunk[4096] = { 0 };
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	for (int i = 0; i < 100000 && send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0; i++)
		;
	fcntl(fd, F_SETFL, fl);
}

Test(core_io, the_backend_is_the_one_asked_for)
{
	cr_assert_str_eq(rc_loop_backend_name(loop), test_backend());
	cr_assert_str_eq(rc_loop_backend_reason(loop),
			 strcmp(test_backend(), "epoll") == 0 ? "--backend epoll"
							      : "--backend io_uring");
	if (strcmp(test_backend(), "epoll") == 0) {
		char b[64];

		cr_assert_not(rc_loop_has_send_zc(loop));
		cr_assert_eq(rc_loop_register_buffer(loop, b, sizeof(b)), -EOPNOTSUPP);
		cr_assert_eq(rc_loop_send_zc(loop, NULL, 0, b, sizeof(b), 0, -1), -EOPNOTSUPP);
	}
}

/* A completion is delivered by rc_loop_run(), after the call that started
 * its operation has returned, even when the syscall could finish at once. */
Test(core_io, completions_come_later_never_inside_the_call)
{
	static struct rec s;
	int sv[2];
	char got[8];

	memset(&s, 0, sizeof(s));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.io.fn = rec_done;
	cr_assert_eq(rc_loop_send(loop, &s.io, sv[0], "hello", 5, 0), 0);
	cr_assert_eq(s.n, 0, "completed inside rc_loop_send");
	cr_assert_eq(rc_loop_cancel(loop, &s.io), 0);
	s.stop_after = 1;
	run_for(2000);
	cr_assert_eq(s.n, 1);
	/* Done before the cancel ran: the cancel finds nothing. */
	cr_assert_eq(s.c[0].res, 5);
	cr_assert_eq(s.c[0].flags & RC_CQE_MORE, 0);
	cr_assert_eq(read(sv[1], got, sizeof(got)), 5);
	close(sv[0]);
	close(sv[1]);
}

/* Timers built on records: fire in deadline order, -ETIME, not early. */
struct rtimer {
	struct rc_timer t;
	int *order;
	int *n;
	int id;
	int32_t res;
	uint64_t at;
	int fired;
};

static void rtimer_done(struct rc_loop *lp, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rtimer *r = (struct rtimer *)io;

	r->res = cqe->res;
	r->at = rc_loop_now_ms(lp);
	r->fired++;
	cr_assert_eq(cqe->flags & RC_CQE_MORE, 0);
	r->order[(*r->n)++] = r->id;
}

Test(core_io, timers_fire_in_deadline_order_and_a_cancelled_one_says_so)
{
	int order[4], n = 0;
	struct rtimer r[3];
	uint64_t t0 = rc_loop_now_ms(loop);
	static const int ms[3] = { 60, 20, 40 };

	for (int i = 0; i < 3; i++) {
		r[i] = (struct rtimer){ .t = { .io = { .fn = rtimer_done } }, .order = order,
					.n = &n, .id = i };
		cr_assert_eq(rc_loop_timer_arm(loop, &r[i].t, (uint64_t)ms[i]), 0);
	}
	cr_assert_eq(rc_loop_cancel(loop, &r[2].t.io), 0);
	run_for(150);
	cr_assert_eq(n, 3);
	cr_assert_eq(order[0], 2, "the cancelled timer completes first");
	cr_assert_eq(r[2].res, -ECANCELED);
	cr_assert_eq(order[1], 1);
	cr_assert_eq(order[2], 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(r[i].res, -ETIME);
		cr_assert_eq(r[i].fired, 1);
		cr_assert_geq(r[i].at, t0 + (uint64_t)ms[i], "timer %d fired early", i);
	}
}

Test(core_io, accept_multishot_hands_over_each_connection_until_cancelled)
{
	static struct rec acc;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cl[3];

	memset(&acc, 0, sizeof(acc));
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 16), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	acc.io.fn = rec_done;
	acc.stop_after = 3;
	cr_assert_eq(rc_loop_accept_multishot(loop, &acc.io, lfd), 0);
	for (int i = 0; i < 3; i++) {
		cl[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(connect(cl[i], (struct sockaddr *)&a, sizeof(a)), 0);
	}
	run_for(2000);
	cr_assert_eq(acc.n, 3);
	for (int i = 0; i < 3; i++) {
		int fl;

		cr_assert_geq(acc.c[i].res, 0, "accept %d: %d", i, acc.c[i].res);
		cr_assert(acc.c[i].flags & RC_CQE_MORE, "a multishot accept stays armed");
		fl = fcntl(acc.c[i].res, F_GETFD);
		cr_assert(fl & FD_CLOEXEC);
		fl = fcntl(acc.c[i].res, F_GETFL);
		/* epoll needs its sockets non-blocking; io_uring polls them. */
		if (strcmp(test_backend(), "epoll") == 0)
			cr_assert(fl & O_NONBLOCK);
		close(acc.c[i].res);
	}
	acc.stop_on_final = true;
	cr_assert_eq(rc_loop_cancel(loop, &acc.io), 0);
	run_for(2000);
	cr_assert_eq(acc.n, 4);
	cr_assert_eq(acc.c[3].res, -ECANCELED);
	cr_assert_eq(acc.c[3].flags & RC_CQE_MORE, 0);
	for (int i = 0; i < 3; i++)
		close(cl[i]);
	close(lfd);
}

/* A stream receive hands over each read in a ring buffer of its own
 * (RC_CQE_BUFFER, RC_CQE_MORE), in order, and ends with res 0 when the
 * peer closes. */
Test(core_io, stream_receive_hands_over_buffers_then_ends_at_the_peers_close)
{
	struct rc_bufring_opts o = { .group = 5, .count = 64, .size = 512, .headroom = 16 };
	static struct rec r;
	static uint8_t sent[20000], got[20000];
	size_t glen = 0;
	int sv[2];
	int err = 0;

	memset(&r, 0, sizeof(r));
	r.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(r.br, "%d", err);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 7 + 3);
	r.io.fn = rec_done;
	r.stop_on_final = true;
	cr_assert_eq(rc_loop_recv_multishot(loop, &r.io, sv[0], r.br), 0);
	cr_assert_eq(write(sv[1], sent, 5000), 5000);
	run_for(100);
	cr_assert_eq(write(sv[1], sent + 5000, sizeof(sent) - 5000), (ssize_t)(sizeof(sent) - 5000));
	shutdown(sv[1], SHUT_WR);
	run_for(3000);
	cr_assert_gt(r.n, 1);
	for (int i = 0; i < r.n - 1; i++) {
		const struct rc_cqe *c = &r.c[i];

		cr_assert(c->flags & RC_CQE_MORE);
		cr_assert(c->flags & RC_CQE_BUFFER);
		cr_assert_gt(c->res, 0);
		cr_assert_leq(c->res, 512);
		cr_assert_leq(glen + (size_t)c->res, sizeof(got));
		memcpy(got + glen, rc_bufring_data(r.br, c->bid), (size_t)c->res);
		glen += (size_t)c->res;
		rc_bufring_unref(r.br, c->bid);
	}
	cr_assert_eq(r.c[r.n - 1].res, 0, "the peer's close ends it with 0, got %d",
		     r.c[r.n - 1].res);
	cr_assert_eq(r.c[r.n - 1].flags & RC_CQE_MORE, 0);
	cr_assert_eq(glen, sizeof(sent));
	cr_assert_eq(memcmp(got, sent, sizeof(sent)), 0, "bytes out of order");
	cr_assert_eq(rc_bufring_free(r.br), 64, "every buffer back");
	close(sv[0]);
	close(sv[1]);
	rc_bufring_destroy(r.br);
}

/* With every buffer held, input ends the receive with -ENOBUFS (and no
 * MORE). io_uring says so already when the receive that took the last
 * buffer goes on; epoll only once input is waiting (it looks before
 * saying it), so a quiet socket keeps its receive armed there. */
Test(core_io, an_empty_ring_ends_a_receive_with_enobufs)
{
	struct rc_bufring_opts o = { .group = 6, .count = 2, .size = 256, .headroom = 16 };
	static struct rec r;
	struct sockaddr_in a;
	struct msghdr tmpl = { .msg_namelen = sizeof(struct sockaddr_in6) };
	bool epoll = strcmp(test_backend(), "epoll") == 0;
	int err = 0;
	int fd = udp_bound(&a);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&r, 0, sizeof(r));
	r.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(r.br, "%d", err);
	r.io.fn = rec_done;
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &r.io, fd, r.br, &tmpl), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(sendto(tx, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
	run_for(200);
	cr_assert_geq(r.n, 2, "two datagrams, two buffers: %d completions", r.n);
	cr_assert_eq(rc_bufring_free(r.br), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(r.c[i].flags & (RC_CQE_MORE | RC_CQE_BUFFER),
			     RC_CQE_MORE | RC_CQE_BUFFER);
	if (epoll)
		cr_assert_eq(r.n, 2, "ended without input waiting: res %d", r.c[r.n - 1].res);
	if (r.n == 2) {
		r.stop_on_final = true;
		cr_assert_eq(sendto(tx, "y", 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
		run_for(2000);
	}
	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.c[2].res, -ENOBUFS);
	cr_assert_eq(r.c[2].flags & (RC_CQE_MORE | RC_CQE_BUFFER), 0);
	for (int i = 0; i < 2; i++)
		rc_bufring_unref(r.br, r.c[i].bid);
	close(tx);
	close(fd);
	rc_bufring_destroy(r.br);
}

/* The datagram layout: payload, source address, truncation, and the
 * kernel's drop counter (SO_RXQ_OVFL) in the control area. */
Test(core_io, datagrams_decode_with_source_truncation_and_drop_counter)
{
	struct rc_bufring_opts o = { .group = 8, .count = 16, .size = 160, .headroom = 16 };
	static struct rec r;
	struct sockaddr_in a, from;
	socklen_t flen = sizeof(from);
	struct msghdr tmpl = { .msg_namelen = sizeof(struct sockaddr_in6),
			       .msg_controllen = CMSG_SPACE(sizeof(uint32_t)) };
	static uint8_t big[400];
	struct rc_datagram dg;
	int one = 1, err = 0;
	int fd = udp_bound(&a);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&r, 0, sizeof(r));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	r.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(r.br, "%d", err);
	r.io.fn = rec_done;
	r.stop_after = 3;
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &r.io, fd, r.br, &tmpl), 0);
	cr_assert_eq(sendto(tx, "payload", 7, 0, (struct sockaddr *)&a, sizeof(a)), 7);
	cr_assert_eq(getsockname(tx, (struct sockaddr *)&from, &flen), 0);
	cr_assert_eq(sendto(tx, big, sizeof(big), 0, (struct sockaddr *)&a, sizeof(a)),
		     (ssize_t)sizeof(big));
	cr_assert_eq(sendto(tx, "", 0, 0, (struct sockaddr *)&a, sizeof(a)), 0);
	run_for(2000);
	cr_assert_eq(r.n, 3);

	cr_assert_eq(rc_bufring_recvmsg_payload(r.br, &r.c[0], &tmpl, &dg), 0);
	cr_assert_eq(dg.len, 7);
	cr_assert_eq(memcmp(dg.payload, "payload", 7), 0);
	cr_assert_not(dg.truncated);
	cr_assert_eq(dg.src_len, sizeof(struct sockaddr_in));
	cr_assert_eq(((const struct sockaddr_in *)dg.src)->sin_port, from.sin_port);
	/* The kernel adds the counter only once it dropped something. */
	cr_assert_not(dg.has_kernel_drops);
	/* The WebSocket header goes in front of the payload, in place. */
	cr_assert_geq(dg.payload - rc_bufring_data(r.br, r.c[0].bid), 10);

	cr_assert_eq(rc_bufring_recvmsg_payload(r.br, &r.c[1], &tmpl, &dg), 0);
	cr_assert(dg.truncated, "400 bytes do not fit a 160-byte buffer");
	cr_assert_lt(dg.len, sizeof(big));

	cr_assert_eq(rc_bufring_recvmsg_payload(r.br, &r.c[2], &tmpl, &dg), 0);
	cr_assert_eq(dg.len, 0, "a zero-length datagram");
	cr_assert_not(dg.truncated);
	for (int i = 0; i < 3; i++)
		rc_bufring_unref(r.br, r.c[i].bid);
	close(tx);
	close(fd);
	rc_bufring_destroy(r.br);
}

/* A send that finds the socket full waits (EAGAIN never reaches the
 * caller) and completes once the peer reads, with what it wrote. */
Test(core_io, a_send_to_a_full_socket_waits_and_completes_when_there_is_room)
{
	static struct rec s;
	static char drain[1 << 16];
	int sv[2];

	memset(&s, 0, sizeof(s));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fill(sv[0]);
	s.io.fn = rec_done;
	s.stop_after = 1;
	cr_assert_eq(rc_loop_send(loop, &s.io, sv[0], "0123456789", 10, 0), 0);
	run_for(100);
	cr_assert_eq(s.n, 0, "completed while the socket was full: %d", s.c[0].res);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	while (read(sv[1], drain, sizeof(drain)) > 0)
		;
	run_for(2000);
	cr_assert_eq(s.n, 1);
	cr_assert_gt(s.c[0].res, 0);
	cr_assert_leq(s.c[0].res, 10);
	close(sv[0]);
	close(sv[1]);
}

/* Cancelling by fd ends every operation on it: a waiting send and a
 * receive, each with -ECANCELED and without MORE. */
Test(core_io, cancel_by_fd_ends_every_operation_on_it)
{
	struct rc_bufring_opts o = { .group = 9, .count = 8, .size = 256, .headroom = 16 };
	static struct rec s, r;
	int sv[2];
	int err = 0;

	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	r.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(r.br);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fill(sv[0]);
	s.io.fn = rec_done;
	r.io.fn = rec_done;
	cr_assert_eq(rc_loop_recv_multishot(loop, &r.io, sv[0], r.br), 0);
	cr_assert_eq(rc_loop_send(loop, &s.io, sv[0], "abc", 3, 0), 0);
	run_for(50);
	cr_assert_eq(s.n + r.n, 0);
	cr_assert_eq(rc_loop_cancel_fd(loop, sv[0]), 0);
	run_for(200);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.c[0].res, -ECANCELED);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.c[0].res, -ECANCELED);
	cr_assert_eq(r.c[0].flags & RC_CQE_MORE, 0);
	close(sv[0]);
	close(sv[1]);
	rc_bufring_destroy(r.br);
}

Test(core_io, read_takes_what_an_eventfd_holds)
{
	static struct rec r;
	uint64_t v = 5, got = 0;
	int efd = eventfd(0, EFD_CLOEXEC);

	memset(&r, 0, sizeof(r));
	cr_assert_geq(efd, 0);
	r.io.fn = rec_done;
	r.stop_after = 1;
	cr_assert_eq(rc_loop_read(loop, &r.io, efd, &got, sizeof(got)), 0);
	run_for(50);
	cr_assert_eq(r.n, 0, "nothing to read yet");
	cr_assert_eq(write(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	run_for(2000);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.c[0].res, sizeof(got));
	cr_assert_eq(got, 5);
	close(efd);
}

/* An fd closed (its operations cancelled first) and its number reused by
 * another socket: the new socket's operations work. (epoll: closing
 * removed the old file from the interest set behind the loop's back.) */
Test(core_io, a_reused_fd_number_works_for_its_new_socket)
{
	struct rc_bufring_opts o = { .group = 10, .count = 8, .size = 256, .headroom = 16 };
	static struct rec r1, r2;
	struct msghdr tmpl = { .msg_namelen = sizeof(struct sockaddr_in6) };
	struct sockaddr_in a1, a2;
	struct rc_datagram dg;
	int err = 0, fd1, fd2;
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct rc_bufring *br = rc_bufring_create(loop, &o, &err);

	cr_assert_not_null(br);
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.io.fn = rec_done;
	r1.br = br;
	r2.io.fn = rec_done;
	r2.br = br;
	fd1 = udp_bound(&a1);
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &r1.io, fd1, br, &tmpl), 0);
	cr_assert_eq(sendto(tx, "one", 3, 0, (struct sockaddr *)&a1, sizeof(a1)), 3);
	r1.stop_after = 1;
	run_for(2000);
	cr_assert_eq(r1.n, 1);
	rc_bufring_unref(br, r1.c[0].bid);
	r1.stop_on_final = true;
	cr_assert_eq(rc_loop_cancel(loop, &r1.io), 0);
	run_for(2000);
	cr_assert_eq(r1.c[r1.n - 1].res, -ECANCELED);
	close(fd1);

	fd2 = udp_bound(&a2);
	cr_assert_eq(fd2, fd1, "the test needs the number reused");
	r2.stop_after = 1;
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &r2.io, fd2, br, &tmpl), 0);
	cr_assert_eq(sendto(tx, "two", 3, 0, (struct sockaddr *)&a2, sizeof(a2)), 3);
	run_for(2000);
	cr_assert_eq(r2.n, 1, "the new socket's receive never completed");
	cr_assert_eq(rc_bufring_recvmsg_payload(br, &r2.c[0], &tmpl, &dg), 0);
	cr_assert_eq(dg.len, 3);
	cr_assert_eq(memcmp(dg.payload, "two", 3), 0);
	rc_bufring_unref(br, r2.c[0].bid);
	r2.stop_on_final = true;
	cr_assert_eq(rc_loop_cancel(loop, &r2.io), 0);
	run_for(2000);
	close(fd2);
	close(tx);
	rc_bufring_destroy(br);
}

/* SO_RXQ_OVFL's counter reaches the decoder through the control area:
 * datagrams dropped for a full socket buffer before the receive was armed
 * are counted in the next datagram that arrives. */
Test(core_io, the_kernels_drop_counter_is_decoded)
{
	struct rc_bufring_opts o = { .group = 11, .count = 256, .size = 256, .headroom = 16 };
	static struct rec r;
	struct sockaddr_in a;
	struct msghdr tmpl = { .msg_namelen = sizeof(struct sockaddr_in6),
			       .msg_controllen = CMSG_SPACE(sizeof(uint32_t)) };
	static uint8_t big[1200];
	struct rc_datagram dg;
	int one = 1, small = 4096, err = 0, last;
	int fd = udp_bound(&a);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&r, 0, sizeof(r));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (int i = 0; i < 64; i++)
		sendto(tx, big, sizeof(big), 0, (struct sockaddr *)&a, sizeof(a));
	r.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(r.br, "%d", err);
	r.io.fn = rec_done;
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &r.io, fd, r.br, &tmpl), 0);
	run_for(200);
	cr_assert_gt(r.n, 0);
	cr_assert_lt(r.n, 64, "a 4 KiB socket buffer held all 64 datagrams");
	r.stop_after = r.n + 1;
	cr_assert_eq(sendto(tx, "late", 4, 0, (struct sockaddr *)&a, sizeof(a)), 4);
	run_for(2000);
	last = r.n - 1;
	cr_assert_eq(rc_bufring_recvmsg_payload(r.br, &r.c[last], &tmpl, &dg), 0);
	cr_assert_eq(dg.len, 4);
	cr_assert(dg.has_kernel_drops);
	cr_assert_eq(dg.kernel_drops, (uint32_t)(64 - last), "dropped %u, received %d of 64",
		     dg.kernel_drops, last);
	for (int i = 0; i < r.n; i++)
		if (r.c[i].flags & RC_CQE_BUFFER)
			rc_bufring_unref(r.br, r.c[i].bid);
	close(tx);
	close(fd);
	rc_bufring_destroy(r.br);
}

/* read() on a file epoll cannot watch (a regular file) completes all the
 * same, in a later pass; the same number then serves a socket. */
Test(core_io, read_on_a_regular_file_completes)
{
	static struct rec r;
	char path[] = "/tmp/ringcast-core-io-XXXXXX";
	char got[16] = { 0 };
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, "file-bytes", 10), 10);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	memset(&r, 0, sizeof(r));
	r.io.fn = rec_done;
	r.stop_after = 1;
	cr_assert_eq(rc_loop_read(loop, &r.io, fd, got, sizeof(got)), 0);
	cr_assert_eq(r.n, 0, "completed inside rc_loop_read");
	run_for(2000);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.c[0].res, 10);
	cr_assert_eq(memcmp(got, "file-bytes", 10), 0);
	close(fd);
}
