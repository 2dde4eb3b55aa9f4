/* Datagrams of any legal size: a UDP port delivers every datagram up to
 * 65,507 bytes (IPv4) or 65,527 (IPv6) whole, in order, to libwebsockets
 * subscribers, those too long for an ingest buffer through the large
 * buffers (--udp-large-bufs); without them such datagrams are dropped and
 * counted; the second socket of a port never lets a port that another
 * socket holds be bound; and subscribers that stop reading pin at most the
 * large buffers, never stop ingest for good. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

/* An ingest buffer of the default 2,048 bytes holds 1,948 payload bytes on
 * a port with large buffers (16 + 28 + 24 + 32 bytes in front of the
 * payload: the kernel's header, the source, the drop counter and the
 * receive time), 1,980 without (no receive time). */
#define ROOM 1948
#define ROOM_ALONE 1980

static struct rc_server srv;
static struct sub_pool *pool;
static int udp_fd = -1;
static int held_fd = -1;
static struct ws_raw stalled[4];

/* Stops the server with the lws subscribers answering its close frames
 * (a pool not serviced leaves the server waiting for them). */
static void stop_ok(void)
{
	if (pool)
		RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
	else
		stop_ok();
}

static void fini(void)
{
	if (pool)
		sub_pool_free(pool);
	pool = NULL;
	if (udp_fd >= 0)
		close(udp_fd);
	udp_fd = -1;
	if (held_fd >= 0)
		close(held_fd);
	held_fd = -1;
	for (int i = 0; i < 4; i++)
		if (stalled[i].fd >= 0)
			ws_raw_close(&stalled[i]);
	rc_cleanup();
}

/* Every size class in turn: the edges of an ingest buffer, of IPv4 and
 * the common ones between. */
static const size_t v4_sizes[] = { 1, 100, ROOM, ROOM + 1, 0, 1400, 4000, 8, 32768, 65507, 60000,
				   ROOM - 1, 65000, ROOM_ALONE, ROOM_ALONE + 1 };
#define NV4 (sizeof(v4_sizes) / sizeof(v4_sizes[0]))

static size_t v4_size_of(uint64_t seq)
{
	return v4_sizes[seq % NV4];
}

static size_t v6_size_of(uint64_t seq)
{
	return seq % 2 ? 200 : 65527;
}

static size_t long_size_of(uint64_t seq)
{
	(void)seq;
	return 50000;
}

static void connect_subs(int n, const char *channel)
{
	char d[512];
	char name[128];
	long long v;

	pool = sub_pool_new(n);
	rc_assert(pool, "lws context");
	for (int i = 0; i < n; i++)
		sub_connect(pool, i, &srv.http, channel, 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == n, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	snprintf(name, sizeof(name), "ringcast_subscribers{channel=\"%s\"}", channel);
	rc_assert(rc_wait_metric(&srv, name, n, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "%s: %lld", name, v);
}

/* Every subscriber got messages 0..sent-1, each once and whole, in order;
 * except that a datagram the port published after one the kernel received
 * later must have been counted late by the server (it can happen when a
 * datagram is still in the kernel's backlog, not yet in its socket's queue,
 * when the port looks: docs/ARCHITECTURE.md). A reordering is never
 * silent. */
static void expect_all(uint64_t sent, const char *when)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	long long late;
	char d[512];
	bool all;

	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	/* A late message comes after next_seq passed it: wait for the count. */
	do {
		all = true;
		for (int i = 0; i < pool->n; i++)
			all &= pool->subs[i].state != SUB_OPEN || pool->subs[i].count >= sent;
		if (!all)
			sub_pool_service_for(pool, 20);
	} while (!all && rc_now_ms() < end);
	late = rc_metric(&srv, "ringcast_udp_late_datagrams_total");
	if (pool->subs[0].mismatches)
		cr_log_info("%s: received %lld, published %lld, late %lld, pauses %lld, order "
			    "waits %lld, truncated %lld, kernel drops %lld", when,
			    rc_metric(&srv, "ringcast_udp_datagrams_total"),
			    rc_metric(&srv, "ringcast_published_messages_total"), late,
			    rc_metric(&srv, "ringcast_ingest_pauses_total"),
			    rc_metric(&srv, "ringcast_udp_order_waits_total"),
			    rc_metric(&srv, "ringcast_drops_total{reason=\"truncated\"}"),
			    rc_metric(&srv, "ringcast_drops_total{reason=\"kernel_udp\"}"));
	for (int i = 0; i < pool->n; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->count == sent &&
				  (s->mismatches == 0 ? s->next_seq == sent && s->skipped == 0
						      : late > 0),
			  "%s: subscriber %d should have all %llu messages, in order or the "
			  "reordering counted (late %lld): %s", when, i, (unsigned long long)sent,
			  late, sub_describe(s, d, sizeof(d)));
	}
}

static uint64_t count_long(size_t (*size_of)(uint64_t), uint64_t n, size_t room)
{
	uint64_t k = 0;

	for (uint64_t i = 0; i < n; i++)
		k += size_of(i) > room;
	return k;
}

Test(datagrams, every_size_up_to_65507_arrives_whole_and_in_order, .fini = fini)
{
	uint64_t sent = 0;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=big");
	connect_subs(3, "big");
	pool->size_of = v4_size_of;
	udp_fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp_fd >= 0, "udp socket");
	/* One at a time, then every size class back to back in bursts: long
	 * and short ones go to the port's two sockets and must still come
	 * out in the order they were sent. */
	for (; sent < NV4; sent++) {
		rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v4_size_of(sent)) == 0, "send %zu: %s",
			  v4_size_of(sent), strerror(errno));
		expect_all(sent + 1, "one at a time");
	}
	for (int b = 0; b < 20; b++) {
		for (size_t k = 0; k < NV4; k++, sent++)
			rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v4_size_of(sent)) == 0,
				  "send: %s", strerror(errno));
		expect_all(sent, "in bursts");
	}
	rc_assert(rc_metric(&srv, "ringcast_udp_large_datagrams_total") ==
			  (long long)count_long(v4_size_of, sent, ROOM),
		  "long datagrams counted: %lld of %llu",
		  rc_metric(&srv, "ringcast_udp_large_datagrams_total"),
		  (unsigned long long)count_long(v4_size_of, sent, ROOM));
	rc_assert(rc_metric(&srv, "ringcast_drops_total{reason=\"truncated\"}") == 0,
		  "nothing truncated");
	cr_log_info("turns that waited for the other socket: %lld, late datagrams: %lld",
		    rc_metric(&srv, "ringcast_udp_order_waits_total"),
		    rc_metric(&srv, "ringcast_udp_late_datagrams_total"));
	rc_assert(rc_metric(&srv, "ringcast_large_bufring_buffers{state=\"free\"}") +
				  rc_metric(&srv, "ringcast_large_bufring_buffers{state=\"in_use\"}") ==
			  16,
		  "16 large buffers by default");
	stop_ok();
}

Test(datagrams, ipv6_carries_65527_bytes, .fini = fini)
{
	uint64_t sent;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "[::1]:0=v6");
	connect_subs(1, "v6");
	pool->size_of = v6_size_of;
	udp_fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp_fd >= 0, "udp socket");
	for (sent = 0; sent < 6; sent++)
		rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v6_size_of(sent)) == 0, "send: %s",
			  strerror(errno));
	expect_all(sent, "IPv6");
	rc_assert(rc_metric(&srv, "ringcast_udp_large_datagrams_total") == 3, "3 long ones");
	stop_ok();
}

Test(datagrams, without_large_buffers_long_ones_are_dropped_and_counted, .fini = fini)
{
	uint64_t sent = 0;
	char d[512];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=c", "--udp-large-bufs",
		 "0");
	connect_subs(1, "c");
	pool->size_of = v4_size_of;
	udp_fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp_fd >= 0, "udp socket");
	for (; sent < NV4; sent++)
		rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v4_size_of(sent)) == 0, "send: %s",
			  strerror(errno));
	/* The last one is long: wait for the one before it. */
	sub_pool_wait_seq(pool, &(uint64_t){ NV4 - 1 }, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(rc_wait_metric(&srv, "ringcast_drops_total{reason=\"truncated\"}",
				 (long long)count_long(v4_size_of, NV4, ROOM_ALONE), RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, NULL),
		  "every long datagram dropped and counted");
	/* The subscriber checks every message it gets byte for byte against
	 * the one its tag names, and counts those it never got as skipped. */
	rc_assert(pool->subs[0].count == NV4 - count_long(v4_size_of, NV4, ROOM_ALONE) &&
			  pool->subs[0].skipped == count_long(v4_size_of, NV4, ROOM_ALONE) - 1 &&
			  pool->subs[0].next_seq == NV4 - 1,
		  "the short ones arrive, whole: %s", sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_metric(&srv, "ringcast_udp_large_datagrams_total") == 0, "no large buffers");
	stop_ok();
}

Test(datagrams, a_port_another_socket_holds_is_still_refused, .fini = fini)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	const char *args[] = { "--listen", "127.0.0.1:0", "--udp", NULL, NULL };
	char spec[64];
	int one = 1;


	/* Held the way a second relay would hold it: with SO_REUSEPORT too,
	 * so only the plain bind that ringcast tries first can refuse it. */
	held_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rc_assert(held_fd >= 0, "socket");
	setsockopt(held_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	rc_assert(bind(held_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			  getsockname(held_fd, (struct sockaddr *)&a, &alen) == 0,
		  "bind: %s", strerror(errno));
	snprintf(spec, sizeof(spec), "127.0.0.1:%u=x", ntohs(a.sin_port));
	args[3] = spec;
	char err[4096];

	rc_assert(rc_server_start(&srv, NULL, args) == RC_EXITED,
		  "ringcast must not start on a UDP port that is in use");
	rc_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) != 0, "a failing exit");
	rc_server_stderr(&srv, err, sizeof(err));
	rc_assert(strstr(err, "cannot bind UDP") && strstr(err, "Address already in use"),
		  "the reason: %s", err);
}

Test(datagrams, stalled_subscribers_pin_the_large_buffers_only_for_a_while, .fini = fini)
{
	char err[256];
	uint64_t sent = 0;
	long long pauses = 0, v;

	for (int i = 0; i < 4; i++)
		stalled[i].fd = -1;
	/* One worker, no batching (long messages are never batched anyway),
	 * and 4 large buffers: stalled readers hold them all soon. */
	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--udp-large-bufs", "4", "--ping-interval", "600000");
	connect_subs(2, "live");
	pool->size_of = long_size_of;
	for (int i = 0; i < 4; i++)
		rc_assert(ws_raw_open(&stalled[i], &srv.http, "/ws/live", 4096, RC_WAIT_TIMEOUT_MS,
				      err, sizeof(err)) == 0, "stalled subscriber %d: %s", i, err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 6,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers gauge %lld", v);
	udp_fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp_fd >= 0, "udp socket");
	/* Bounded: at most 400 datagrams of 50,000 bytes, 8 at a time, each
	 * burst received by the healthy subscribers before the next. */
	while (sent < 400) {
		for (int k = 0; k < 8; k++, sent++)
			rc_assert(rc_udp_send_seq(udp_fd, 0, sent, 50000) == 0, "send: %s",
				  strerror(errno));
		expect_all(sent, "while others stall");
		pauses = rc_metric(&srv, "ringcast_ingest_pauses_total");
		if (pauses >= 1 && sent >= 80)
			break;
	}
	cr_log_info("sent %llu: pauses %lld, pressure drops %lld, stalled %lld, closed %lld",
		    (unsigned long long)sent, pauses,
		    rc_metric(&srv, "ringcast_drops_total{reason=\"pressure\"}"),
		    rc_metric(&srv, "ringcast_drops_total{reason=\"stalled\"}"),
		    rc_metric(&srv, "ringcast_drops_total{reason=\"closed\"}"));
	rc_assert(pauses >= 1, "the large buffers should have run out after %llu datagrams",
		  (unsigned long long)sent);
	rc_assert(rc_metric(&srv, "ringcast_drops_total{reason=\"pressure\"}") +
				  rc_metric(&srv, "ringcast_drops_total{reason=\"stalled\"}") +
				  rc_metric(&srv, "ringcast_drops_total{reason=\"closed\"}") >=
			  1,
		  "what the stalled subscribers lost should be counted");
	/* Short datagrams never wait for the large buffers. */
	rc_assert(rc_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}") == 0,
		  "the regular buffers stay free");
	stop_ok();
}

/* A mixed burst far longer than one turn takes (a multishot receive posts
 * 32 completions a pass; epoll reads 256 a socket a turn), sent without
 * waiting: both sockets' queues run deep, and the order must hold. With
 * enough large buffers for a burst's long datagrams (160): with fewer the
 * long socket pauses until subscribers drain, and past RC_UDP_WAIT_MS short
 * ones go first by design (counted late: with 16, and with 128 on epoll,
 * that happened). A queue bound above the burst, or the slow policy drops
 * some for a subscriber that reads it slower than it comes. */
Test(datagrams, a_long_mixed_burst_keeps_its_order, .fini = fini)
{
	uint64_t sent = 0;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=big", "--udp-rcvbuf",
		 "33554432", "--udp-large-bufs", "256", "--max-queue", "67108864");
	connect_subs(2, "big");
	pool->size_of = v4_size_of;
	udp_fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp_fd >= 0, "udp socket");
	for (int b = 0; b < 4; b++) {
		/* 300 datagrams, 8 of 15 of them long: about 5.6 MB. */
		for (int k = 0; k < 300; k++, sent++)
			rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v4_size_of(sent)) == 0,
				  "send: %s", strerror(errno));
		expect_all(sent, "a long burst");
	}
	cr_log_info("long burst: turns that waited %lld, late datagrams %lld",
		    rc_metric(&srv, "ringcast_udp_order_waits_total"),
		    rc_metric(&srv, "ringcast_udp_late_datagrams_total"));
	stop_ok();
}

/* Two workers: port i is worker i mod 2's, and each worker with a port has
 * its own large buffers. */
Test(datagrams, ports_on_every_worker_carry_long_datagrams, .fini = fini)
{
	uint64_t sent[2] = { 0, 0 };
	char d[512];
	int fds[2];
	long long v;

	RC_START(&srv, "--workers", "2", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=a",
		 "--udp", "127.0.0.1:0=b");
	pool = sub_pool_new(2);
	rc_assert(pool, "lws context");
	pool->size_of = v4_size_of;
	sub_connect(pool, 0, &srv.http, "a", 0, 0);
	sub_connect(pool, 1, &srv.http, "b", 1, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 2, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"b\"}", 1, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v) &&
			  rc_wait_metric(&srv, "ringcast_subscribers{channel=\"a\"}", 1,
					 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers");
	for (int c = 0; c < 2; c++) {
		const struct rc_endpoint *ep = rc_udp_for(&srv, c ? "b" : "a");

		rc_assert(ep, "listen udp line for %s", c ? "b" : "a");
		fds[c] = rc_udp_socket(ep);
		rc_assert(fds[c] >= 0, "udp socket");
	}
	for (int b = 0; b < 5; b++) {
		for (size_t k = 0; k < NV4; k++)
			for (int c = 0; c < 2; c++) {
				rc_assert(rc_udp_send_seq(fds[c], (unsigned)c, sent[c],
							  v4_size_of(sent[c])) == 0,
					  "send: %s", strerror(errno));
				sent[c]++;
			}
		sub_pool_wait_seq(pool, sent, 2, RC_WAIT_TIMEOUT_MS);
	}
	close(fds[0]);
	close(fds[1]);
	for (int i = 0; i < 2; i++) {
		const struct sub *sb = &pool->subs[i];

		rc_assert(sb->count == sent[i] && sb->next_seq == sent[i] && sb->mismatches == 0,
			  "channel %s: every message whole and in order: %s", i ? "b" : "a",
			  sub_describe(sb, d, sizeof(d)));
	}
	rc_assert(rc_metric(&srv, "ringcast_udp_large_datagrams_total") ==
			  2 * (long long)count_long(v4_size_of, sent[0], ROOM),
		  "long ones through both workers' large buffers");
	rc_assert(rc_metric(&srv, "ringcast_large_bufring_buffers{state=\"free\"}") +
				  rc_metric(&srv, "ringcast_large_bufring_buffers{state=\"in_use\"}") ==
			  32,
		  "16 large buffers on each of the two workers");
	stop_ok();
}

/* Datagrams dropped before publishing (here: from outside --udp-allow)
 * still tell the port how far their socket's queue has been read: a flood
 * of them must not hold back, or reorder, the allowed ones. */
Test(datagrams, a_denied_flood_does_not_hold_back_allowed_ones, .fini = fini)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002) };
	unsigned char junk[200];
	uint64_t sent = 0;
	int flood;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=big", "--udp-allow",
		 "127.0.0.1:0=127.0.0.2/32");
	connect_subs(1, "big");
	pool->size_of = v4_size_of;
	/* The allowed sender speaks from 127.0.0.2; the flood from 127.0.0.1. */
	udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rc_assert(udp_fd >= 0 && bind(udp_fd, (struct sockaddr *)&from, sizeof(from)) == 0 &&
			  connect(udp_fd, (const struct sockaddr *)&srv.udp[0].sa, srv.udp[0].sa_len) == 0,
		  "allowed sender: %s", strerror(errno));
	flood = rc_udp_socket(&srv.udp[0]);
	rc_assert(flood >= 0, "flood socket");
	memset(junk, 'x', sizeof(junk));
	for (int b = 0; b < 10; b++) {
		for (size_t k = 0; k < NV4; k++, sent++) {
			for (int j = 0; j < 20; j++)
				(void)send(flood, junk, sizeof(junk), 0);
			rc_assert(rc_udp_send_seq(udp_fd, 0, sent, v4_size_of(sent)) == 0, "send: %s",
				  strerror(errno));
		}
		expect_all(sent, "amid a denied flood");
	}
	close(flood);
	rc_assert(rc_metric(&srv, "ringcast_access_refused_total{reason=\"udp_source\"}") > 0 ||
			  rc_metric(&srv, "ringcast_drops_total{reason=\"kernel_udp\"}") > 0,
		  "the flood was refused");
	stop_ok();
}
