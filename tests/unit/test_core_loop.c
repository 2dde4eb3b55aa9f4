/* The loop's turn, driven by the real kernel: what one turn takes in before
 * its deferred work (where fan-out closes its batches) runs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bufring.h"
#include "backend.h"
#include "loop.h"

#define NDGRAM 120	/* several of the kernel's multishot passes (32 each on 6.x) */
#define MAXTURNS 64

struct rx {
	struct rc_io io;
	struct rc_deferred turn_end;	/* queued by the first datagram of a turn */
	struct rc_deferred rearm;
	struct rc_timer stop;
	struct rc_bufring *br;
	struct msghdr tmpl;
	int fd;
	int got;
	int this_turn;
	int turns[MAXTURNS];	/* datagrams dispatched in each turn that had any */
	int nturns;
};

static void rx_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rx *rx = (struct rx *)io;

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER)) {
		rc_bufring_take(rx->br, cqe->bid);
		rc_bufring_unref(rx->br, cqe->bid);
		rx->got++;
		rx->this_turn++;
		rc_loop_defer(loop, &rx->turn_end);
	}
	/* A receive may end on its own (e.g. on kernels that cap multishot
	 * differently): arm it again, as udp ingest does. */
	if (!(cqe->flags & RC_CQE_MORE) && cqe->res != -ECANCELED)
		rc_loop_defer(loop, &rx->rearm);
}

static void rx_turn_end(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rx *rx = (struct rx *)((char *)d - offsetof(struct rx, turn_end));

	cr_assert_lt(rx->nturns, MAXTURNS);
	rx->turns[rx->nturns++] = rx->this_turn;
	rx->this_turn = 0;
	if (rx->got == NDGRAM)
		rc_loop_stop(loop);
}

static void rx_rearm(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rx *rx = (struct rx *)((char *)d - offsetof(struct rx, rearm));

	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &rx->io, rx->fd, rx->br, &rx->tmpl), 0);
}

static void stop_timer(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(loop);
}

/* Under load every turn must close its batches over all the input that is
 * already there, not over one multishot pass per socket: 120 datagrams
 * waiting before the receive is armed are all dispatched before the turn's
 * deferred work runs. */
Test(core_loop, one_turn_takes_in_everything_already_waiting)
{
	struct rc_bufring_opts o = { .group = 3, .count = 256, .size = 256, .headroom = 16 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	static struct rx rx;
	struct rc_loop *loop;
	int rcvbuf = 4 << 20;
	int err = 0;
	int tx;

	memset(&rx, 0, sizeof(rx));
	loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(loop, "loop: %d", err);
	rx.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(rx.br, "bufring: %d", err);
	rx.fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(rx.fd, 0);
	/* Room for all of them (SO_RCVBUF is capped by net.core.rmem_max;
	 * the check below says so if they did not fit). */
	setsockopt(rx.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(bind(rx.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(rx.fd, (struct sockaddr *)&a, &alen), 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(tx, 0);
	rx.io.fn = rx_done;
	rx.turn_end.fn = rx_turn_end;
	rx.rearm.fn = rx_rearm;
	rx.stop.io.fn = stop_timer;
	rx.tmpl.msg_namelen = sizeof(struct sockaddr_in6);

	for (int i = 0; i < NDGRAM; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "dgram-%03d", i);

		cr_assert_eq(sendto(tx, msg, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)), n);
	}
	cr_assert_eq(rc_loop_recvmsg_multishot(loop, &rx.io, rx.fd, rx.br, &rx.tmpl), 0);
	cr_assert_eq(rc_loop_timer_arm(loop, &rx.stop, 3000), 0);
	cr_assert_eq(rc_loop_run(loop), 0);

	cr_assert_eq(rx.got, NDGRAM, "got %d of %d datagrams (socket buffer too small?)", rx.got,
		     NDGRAM);
	cr_assert_eq(rx.turns[0], NDGRAM,
		     "the first turn dispatched %d datagrams and then %d turn(s) more: the turn "
		     "closed its batches after a few of the kernel's multishot slices",
		     rx.turns[0], rx.nturns - 1);
	close(tx);
	close(rx.fd);
	rc_bufring_destroy(rx.br);
	rc_loop_destroy(loop);
}

/* --- The cap on sends per turn --- */

#define NSENDS (2 * RC_TURN_SENDS + 100)

struct capped {
	struct rc_io rx;		/* a receive with one datagram waiting */
	struct rc_deferred input;	/* plain work queued by the datagram */
	struct rc_timer guard;
	struct rc_bufring *br;
	struct msghdr tmpl;
	int fd;
	int ran;			/* send items run so far */
	int ran_before_input;		/* -1 until the input's work ran */
	bool guard_fired;
	struct send_item {
		struct rc_deferred d;
		struct capped *t;
		int i;
	} items[NSENDS];
};

static void capped_rx(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct capped *t = (struct capped *)((char *)io - offsetof(struct capped, rx));

	if (cqe->res >= 0 && (cqe->flags & RC_CQE_BUFFER)) {
		rc_bufring_take(t->br, cqe->bid);
		rc_bufring_unref(t->br, cqe->bid);
		rc_loop_defer(loop, &t->input);
	}
}

static void capped_input(struct rc_loop *loop, struct rc_deferred *d)
{
	struct capped *t = (struct capped *)((char *)d - offsetof(struct capped, input));

	(void)loop;
	t->ran_before_input = t->ran;
}

static void capped_send(struct rc_loop *loop, struct rc_deferred *d)
{
	struct send_item *it = (struct send_item *)d;
	struct capped *t = it->t;

	cr_assert_eq(it->i, t->ran, "send work ran out of order: item %d as number %d", it->i,
		     t->ran);
	t->ran++;
	/* Armed during the first turn: the waiting datagram completes in
	 * that turn's submit, while most send work is still queued. */
	if (it->i == 0)
		cr_assert_eq(rc_loop_recvmsg_multishot(loop, &t->rx, t->fd, t->br, &t->tmpl), 0);
	if (t->ran == NSENDS)
		rc_loop_stop(loop);
}

static void capped_guard(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct capped *t = (struct capped *)((char *)io - offsetof(struct capped, guard));

	(void)cqe;
	t->guard_fired = true;
	rc_loop_stop(loop);
}

/* A turn runs at most RC_TURN_SENDS items of send work, first come first
 * served; the input that arrived meanwhile has its own deferred work run
 * (where fan-out closes its batches) before the leftover sends; and the
 * turns that carry leftovers do not wait for completions. */
Test(core_loop, a_capped_turn_takes_in_input_before_its_leftover_sends)
{
	struct rc_bufring_opts o = { .group = 4, .count = 16, .size = 256, .headroom = 16 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	static struct capped t;
	struct rc_loop *loop;
	int err = 0;
	int tx;

	memset(&t, 0, sizeof(t));
	t.ran_before_input = -1;
	loop = rc_loop_create(test_loop_opts(), &err);
	cr_assert_not_null(loop, "loop: %d", err);
	t.br = rc_bufring_create(loop, &o, &err);
	cr_assert_not_null(t.br, "bufring: %d", err);
	t.fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(t.fd, 0);
	cr_assert_eq(bind(t.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(t.fd, (struct sockaddr *)&a, &alen), 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(tx, 0);
	cr_assert_eq(sendto(tx, "input", 5, 0, (struct sockaddr *)&a, sizeof(a)), 5);
	t.rx.fn = capped_rx;
	t.input.fn = capped_input;
	t.guard.io.fn = capped_guard;
	t.tmpl.msg_namelen = sizeof(struct sockaddr_in6);
	for (int i = 0; i < NSENDS; i++) {
		t.items[i] = (struct send_item){ .d = { .fn = capped_send }, .t = &t, .i = i };
		rc_loop_defer_send(loop, &t.items[i].d);
	}
	/* Only fires if a turn with leftovers blocked in the kernel. */
	cr_assert_eq(rc_loop_timer_arm(loop, &t.guard, 10000), 0);
	cr_assert_eq(rc_loop_run(loop), 0);

	cr_assert_not(t.guard_fired, "a turn with leftover sends waited for completions");
	cr_assert_eq(t.ran, NSENDS);
	cr_assert_eq(t.ran_before_input, RC_TURN_SENDS,
		     "the input's work ran after %d send items, not right after the first "
		     "capped turn (%d)", t.ran_before_input, RC_TURN_SENDS);
	cr_assert_eq(rc_loop_stats(loop)->capped_turns, 2);
	close(tx);
	close(t.fd);
	rc_bufring_destroy(t.br);
	rc_loop_destroy(loop);
}

/* --- connect --- */

struct connect_case {
	struct rc_io io;	/* first: the completion's io is the case */
	int res;
	int completions;
};

static void connect_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct connect_case *c = (struct connect_case *)io;

	c->res = cqe->res;
	c->completions++;
	rc_loop_stop(loop);
}

/* Connects a fresh TCP socket to addr through loop (whose caller armed a
 * deadline timer); returns the result (0 or -errno) and the socket in
 * *fdp. */
static int connect_once(struct rc_loop *loop, const struct sockaddr_in *addr, int *fdp)
{
	struct connect_case c = { .io.fn = connect_done, .res = 1 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(rc_loop_connect(loop, &c.io, fd, (const struct sockaddr *)addr,
				     sizeof(*addr)),
		     0);
	cr_assert_eq(rc_loop_run(loop), 0);
	cr_assert_eq(c.completions, 1, "%s: one completion, got %d", test_backend(),
		     c.completions);
	*fdp = fd;
	return c.res;
}

/* A connection to a listening port is made (the peer can accept it and
 * read what was sent); one to a closed port is refused with
 * -ECONNREFUSED, on either backend. */
Test(core_loop, connect_completes_or_is_refused)
{
	struct rc_loop *loop = rc_loop_create(test_loop_opts(), NULL);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct rc_timer t = { .io.fn = stop_timer };
	int fd, afd, res;
	char buf[4] = { 0 };

	cr_assert_not_null(loop);
	/* A connect that never completes fails the test instead of hanging. */
	cr_assert_eq(rc_loop_timer_arm(loop, &t, 10000), 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
	res = connect_once(loop, &addr, &fd);
	cr_assert_eq(res, 0, "%s: connect to a listener: %s", test_backend(), strerror(-res));
	afd = accept(lfd, NULL, NULL);
	cr_assert_geq(afd, 0);
	cr_assert_eq(send(fd, "hey", 3, 0), 3);
	cr_assert_eq(recv(afd, buf, 3, MSG_WAITALL), 3);
	cr_assert_str_eq(buf, "hey");
	close(afd);
	close(fd);
	/* The port closed: nobody listens there any more. */
	close(lfd);
	res = connect_once(loop, &addr, &fd);
	cr_assert_eq(res, -ECONNREFUSED, "%s: connect to a closed port: %d", test_backend(), res);
	close(fd);
	rc_loop_destroy(loop);
}
