/* A ringcast cluster under NATS faults (issue 18): three routed
 * nats-servers and three ringcast nodes A, B and C, node i with --nats
 * listing server i first and the two others after it.
 *  a. A's UDP messages reach WebSocket subscribers on B and C, every one,
 *     in order, once.
 *  b. B's server is SIGKILLed while A publishes 200 messages a second (and
 *     a burst of 20 right after the kill): B
 *     reconnects to another server and subscribes again, delivery resumes
 *     up to the last message, and what B counts as missing is exactly the
 *     holes in its subscriber's sequence (C, whose server lives, misses
 *     nothing).
 *  c. C's server is SIGSTOPped for 5 s while C has a local UDP publisher
 *     and a local WebSocket subscriber: the subscriber loses nothing, every
 *     node's /healthz answers within a second throughout, and C connects
 *     to another server before the freeze ends.
 *  d. Restarts leak no subscription: after every server restarted under
 *     the nodes, each server holds exactly the SUBs of the workers with
 *     subscribers; after the nodes stopped, none; after they started
 *     again, only those of channels with subscribers.
 * Suite `cluster` (make test-cluster), on both backends; every wait is
 * bounded, only 127.0.0.1 is used, and every process is ended by its PID
 * (the harnesses). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "nats_harness.h"

#define NODES 3
#define A 0
#define B 1
#define C 2

static struct nats_srv ns[NODES] = { { .pid = -1 }, { .pid = -1 }, { .pid = -1 } };
static struct rc_server node[NODES];
static struct ws_raw ws[NODES];
static bool ws_open[NODES];
static int udp_fd = -1;

static void fini(void)
{
	for (int i = 0; i < NODES; i++) {
		if (ws_open[i])
			ws_raw_close(&ws[i]);
		ws_open[i] = false;
	}
	if (udp_fd >= 0)
		close(udp_fd);
	udp_fd = -1;
	rc_cleanup();
	for (int i = 0; i < NODES; i++) {
		nats_stop(&ns[i], SIGTERM);
		ns[i].port = 0;
	}
}

/* Message k: "m<k>:" then letters, 16 to about 200 bytes. */
static size_t message(uint64_t k, char *buf)
{
	size_t size = 16 + (k * 37) % 190;
	int n = snprintf(buf, size + 1, "m%llu:", (unsigned long long)k);

	for (size_t i = (size_t)n; i < size; i++)
		buf[i] = (char)('a' + (k + i) % 26);
	buf[size] = '\0';
	return size;
}

/* The number of message text, or 0 for anything else (a probe). */
static uint64_t message_number(const char *text, long len)
{
	char want[256];
	uint64_t k;

	if (len < 3 || text[0] != 'm' || sscanf(text + 1, "%llu", (unsigned long long *)&k) != 1)
		return 0;
	return message(k, want) == (size_t)len && memcmp(want, text, (size_t)len) == 0 ? k : 0;
}

static void send_text(const char *text, size_t n)
{
	rc_assert(send(udp_fd, text, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
}

static void send_message(uint64_t k)
{
	char buf[256];

	send_text(buf, message(k, buf));
}

/* Node i on loopback, --nats: its own server first, then the others. */
static void node_up(int i, const char *udp)
{
	char urls[256];
	long long last = -1;

	snprintf(urls, sizeof(urls), "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d",
		 ns[i].port, ns[(i + 1) % NODES].port, ns[(i + 2) % NODES].port);
	if (udp)
		RC_START(&node[i], "--listen", "127.0.0.1:0", "--udp", udp, "--nats", urls,
			 "--channel-grace", "300");
	else
		RC_START(&node[i], "--listen", "127.0.0.1:0", "--nats", urls, "--channel-grace", "300");
	rc_assert(rc_wait_metric(&node[i], "ringcast_nats_connected", rc_workers(),
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
		  "node %c: every worker should connect to NATS (%lld)", 'A' + i, last);
}

static void cluster_up(const char *udp_on_a, const char *udp_on_c)
{
	nats_require();
	nats_start_cluster(ns, NODES);
	node_up(A, udp_on_a);
	node_up(B, NULL);
	node_up(C, udp_on_c);
}

static void open_ws(int i, const char *path)
{
	char err[256];
	long long last = -1;

	rc_assert(ws_raw_open(&ws[i], &node[i].http, path, 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "node %c: ws open %s: %s", 'A' + i, path, err);
	ws_open[i] = true;
	rc_assert(rc_wait_metric_ge(&node[i], "ringcast_nats_subscriptions", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last),
		  "node %c should subscribe in NATS (%lld)", 'A' + i, last);
}

/* The next data message on node i's subscriber into buf (NUL-terminated);
 * its length, or -1 after timeout_ms. */
static long ws_next(int i, char *buf, size_t cap, int timeout_ms)
{
	struct ws_frame f;

	for (;;) {
		int r = ws_raw_recv(&ws[i], &f, (unsigned char *)buf, cap - 1, timeout_ms);

		if (r != 1)
			return -1;
		if (f.opcode == 1 || f.opcode == 2) {
			buf[f.len] = '\0';
			return (long)f.len;
		}
	}
}

/* Publishes probes on the UDP port until every subscriber of mask (bit i:
 * node i) got one: then the servers route the channel to each, and what
 * is published next reaches them (or is lost and counted). */
static void sync_probes(unsigned mask)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	unsigned seen = 0;
	char buf[512];

	while (seen != mask && rc_now_ms() < end) {
		send_text("probe", 5);
		for (int i = 0; i < NODES; i++)
			if ((mask >> i & 1) && !(seen >> i & 1) && ws_next(i, buf, sizeof(buf), 20) > 0)
				seen |= 1u << i;
	}
	rc_assert(seen == mask, "every subscriber should get a probe (got %#x of %#x)", seen, mask);
}

/* Reads node i's subscriber until message `last` or timeout_ms: the
 * numbers received go to got[] (probes skipped), strictly increasing.
 * Returns how many. */
static size_t collect(int i, uint64_t *got, size_t cap, uint64_t last, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t n = 0;
	char buf[512];

	while (rc_now_ms() < end && (!n || got[n - 1] < last)) {
		long len = ws_next(i, buf, sizeof(buf), (int)(end - rc_now_ms()));
		uint64_t k;

		if (len < 0)
			break;
		k = message_number(buf, len);
		if (!k)
			continue;
		rc_assert(!n || k > got[n - 1], "node %c: message %llu after %llu: out of order or "
			  "twice", 'A' + i, (unsigned long long)k, (unsigned long long)got[n - 1]);
		rc_assert(n < cap, "node %c: too many messages", 'A' + i);
		got[n++] = k;
	}
	return n;
}

/* Closes the subscribers (a node stopping would wait for their close
 * replies), then stops every node: each must exit 0. */
static void stop_nodes(void)
{
	for (int i = 0; i < NODES; i++) {
		if (ws_open[i])
			ws_raw_close(&ws[i]);
		ws_open[i] = false;
		RC_STOP_OK(&node[i]);
	}
}

static long long metric(int i, const char *name)
{
	return rc_metric(&node[i], name);
}

#define N_FANOUT 500

Test(cluster_faults, a_publishes_and_b_and_c_get_every_message_in_order, .fini = fini)
{
	static uint64_t got[N_FANOUT];
	char buf[512];

	cluster_up("127.0.0.1:0=live", NULL);
	udp_fd = rc_udp_socket(rc_udp_for(&node[A], "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	open_ws(B, "/ws/live");
	open_ws(C, "/ws/live");
	sync_probes(1u << B | 1u << C);
	for (uint64_t k = 1; k <= N_FANOUT; k++) {
		send_message(k);
		if (k % 50 == 0)
			rc_sleep_ms(5);	/* under the kernel's UDP buffer */
	}
	for (int i = B; i <= C; i++) {
		size_t n = collect(i, got, N_FANOUT, N_FANOUT, RC_WAIT_TIMEOUT_MS);

		rc_assert(n == N_FANOUT, "node %c got %zu of %d messages", 'A' + i, n, N_FANOUT);
		for (size_t j = 0; j < n; j++)
			rc_assert(got[j] == j + 1, "node %c: message %zu is %llu", 'A' + i, j + 1,
				  (unsigned long long)got[j]);
		rc_assert(ws_next(i, buf, sizeof(buf), 300) < 0, "node %c: nothing more", 'A' + i);
		rc_assert(metric(i, "ringcast_nats_gaps_total") == 0, "node %c: no gap", 'A' + i);
		rc_assert(metric(i, "ringcast_nats_duplicates_total") == 0, "node %c: no repeat",
			  'A' + i);
	}
	rc_assert(metric(A, "ringcast_nats_dropped_total") == 0, "A dropped nothing");
	stop_nodes();
}

#define RATE_MS 5		/* one message every 5 ms: 200 a second */
#define N_KILL 600		/* 3 s of them */
#define KILL_AT 200		/* B's server is killed after 1 s */
#define KILL_BURST 20

Test(cluster_faults, b_survives_its_server_killed_and_counts_the_gap_truly, .fini = fini)
{
	static uint64_t got_b[N_KILL], got_c[N_KILL];
	int64_t next;
	size_t nb, nc;
	long long missing, gaps, last = -1;

	cluster_up("127.0.0.1:0=live", NULL);
	udp_fd = rc_udp_socket(rc_udp_for(&node[A], "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	open_ws(B, "/ws/live");
	open_ws(C, "/ws/live");
	sync_probes(1u << B | 1u << C);
	next = rc_now_ms();
	for (uint64_t k = 1; k <= N_KILL; k++) {
		int64_t now = rc_now_ms();

		if (next > now)
			rc_sleep_ms((int)(next - now));
		/* Right after the kill, a burst of KILL_BURST while B
		 * reconnects (so that a gap is likely, not only possible);
		 * the steady rate otherwise. */
		if (k <= KILL_AT || k > KILL_AT + KILL_BURST)
			next += RATE_MS;
		send_message(k);
		if (k == KILL_AT)
			nats_stop(&ns[B], SIGKILL);
	}
	/* Delivery resumes: the last message reaches both. */
	nb = collect(B, got_b, N_KILL, N_KILL, RC_WAIT_TIMEOUT_MS);
	nc = collect(C, got_c, N_KILL, N_KILL, RC_WAIT_TIMEOUT_MS);
	rc_assert(nb && got_b[nb - 1] == N_KILL, "B should get the last message (got %zu)", nb);
	rc_assert(nc && got_c[nc - 1] == N_KILL, "C should get the last message (got %zu)", nc);
	/* Both got the first ones before the kill: the holes are N_KILL - n,
	 * and each node's count of missing numbers must say exactly that.
	 * On one worker, B's is on the killed server and C's is not; with
	 * several, the subscriber's worker is any (worker i starts at server
	 * i mod 3), so either may have lost some. */
	missing = metric(B, "ringcast_nats_missing_total");
	gaps = metric(B, "ringcast_nats_gaps_total");
	for (int i = B; i <= C; i++) {
		const uint64_t *got = i == B ? got_b : got_c;
		size_t n = i == B ? nb : nc;
		long long m = metric(i, "ringcast_nats_missing_total");
		long long g = metric(i, "ringcast_nats_gaps_total");

		rc_assert(got[0] == 1, "node %c's first message is 1 (got %llu)", 'A' + i,
			  (unsigned long long)got[0]);
		rc_assert(m == (long long)(N_KILL - n),
			  "node %c counts %lld missing, its subscriber has %zu holes", 'A' + i, m,
			  N_KILL - n);
		rc_assert(m ? g >= 1 : g == 0, "node %c: gaps %lld for %lld missing", 'A' + i, g, m);
		rc_assert(metric(i, "ringcast_nats_late_total") == 0, "node %c: nothing late", 'A' + i);
	}
	if (rc_workers() == 1)
		rc_assert(nc == N_KILL, "C, whose server lives, gets all %d (got %zu)", N_KILL, nc);
	/* Worker 0 of B was on the killed server (worker i starts at server
	 * i mod 3): it reconnected elsewhere. */
	rc_assert(rc_wait_metric_ge(&node[B], "ringcast_nats_reconnects_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last), "B reconnected (%lld)", last);
	rc_assert(metric(B, "ringcast_nats_faults_total{reason=\"connection_lost\"}") >= 1,
		  "B counts the lost connection");
	rc_assert(rc_wait_metric(&node[B], "ringcast_nats_connected", rc_workers(),
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
		  "B's workers are all connected again (%lld)", last);
	cr_log_info("B: %zu of %d messages, %lld missing in %lld gaps; C: %zu", nb, N_KILL, missing,
		    gaps, nc);
	stop_nodes();
}

#define N_FREEZE 1000		/* 5 s at 200 a second */
#define FREEZE_MS 5000

/* GET /healthz on every node: each must answer 200 within a second. */
static void check_health(void)
{
	for (int i = 0; i < NODES; i++) {
		struct http_resp r;
		int64_t t0 = rc_now_ms();
		int ok = http_get(&node[i].http, "/healthz", &r) == 0 && r.status == 200;
		int64_t took = rc_now_ms() - t0;

		if (ok)
			http_resp_free(&r);
		rc_assert(ok && took < 1000, "node %c: /healthz %s in %lld ms", 'A' + i,
			  ok ? "answered" : "failed", (long long)took);
	}
}

Test(cluster_faults, a_frozen_server_stalls_no_node, .fini = fini)
{
	static uint64_t got[N_FREEZE];
	int64_t next, t0, reconnected_ms = -1;
	size_t n;
	char buf[512];

	cluster_up(NULL, "127.0.0.1:0=local");
	udp_fd = rc_udp_socket(rc_udp_for(&node[C], "local"));
	rc_assert(udp_fd >= 0, "udp socket");
	/* C's own subscriber of C's own channel (it subscribes in NATS too). */
	open_ws(C, "/ws/local");
	sync_probes(1u << C);
	t0 = rc_now_ms();
	kill(ns[C].pid, SIGSTOP);
	next = t0;
	for (uint64_t k = 1; k <= N_FREEZE; k++) {
		int64_t now = rc_now_ms();

		if (next > now)
			rc_sleep_ms((int)(next - now));
		next += RATE_MS;
		send_message(k);
		if (k % 100 == 0) {
			check_health();
			if (reconnected_ms < 0 &&
			    metric(C, "ringcast_nats_reconnects_total") >= 1 &&
			    metric(C, "ringcast_nats_connected") == rc_workers())
				reconnected_ms = rc_now_ms() - t0;
		}
	}
	/* Still frozen (until the SIGCONT below, however long the sends
	 * took): C is connected elsewhere by now. */
	if (reconnected_ms < 0 && metric(C, "ringcast_nats_reconnects_total") >= 1 &&
	    metric(C, "ringcast_nats_connected") == rc_workers())
		reconnected_ms = rc_now_ms() - t0;
	while (rc_now_ms() - t0 < FREEZE_MS)
		rc_sleep_ms(20);
	rc_assert(reconnected_ms >= 0, "C should connect to another server while its own is frozen");
	rc_assert(metric(C, "ringcast_nats_faults_total{reason=\"ping_timeout\"}") >= 1,
		  "C noticed the frozen server by its missing PONGs");
	kill(ns[C].pid, SIGCONT);
	/* The local subscriber lost nothing and got nothing twice. */
	n = collect(C, got, N_FREEZE, N_FREEZE, RC_WAIT_TIMEOUT_MS);
	rc_assert(n == N_FREEZE, "C's local subscriber got %zu of %d messages", n, N_FREEZE);
	for (size_t j = 0; j < n; j++)
		rc_assert(got[j] == j + 1, "message %zu is %llu", j + 1, (unsigned long long)got[j]);
	rc_assert(ws_next(C, buf, sizeof(buf), 300) < 0, "nothing more");
	check_health();
	cr_log_info("C connected elsewhere %lld ms into the freeze", (long long)reconnected_ms);
	stop_nodes();
}

/* Every server's own clients hold `want` SUBs of ringcast's, `want_chan`
 * of them on ringcast.ch.<chan>... (summed over the servers). */
static void check_subs(long long want, const char *chan, long long want_chan)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	char prefix[64];
	long long all, of_chan;

	snprintf(prefix, sizeof(prefix), "ringcast.ch.%s", chan ? chan : "");
	do {
		all = of_chan = 0;
		for (int i = 0; i < NODES; i++) {
			all += nats_count_subs(&ns[i], "ringcast.");
			of_chan += nats_count_subs(&ns[i], prefix);
		}
		if (all == want && of_chan == want_chan)
			return;
		rc_sleep_ms(20);
	} while (rc_now_ms() < end);
	rc_assert(0, "the servers hold %lld SUBs of ringcast's (want %lld), %lld of %s (want %lld)",
		  all, want, of_chan, prefix, want_chan);
}

Test(cluster_faults, restarts_leak_no_subscription, .fini = fini)
{
	long long last = -1;

	cluster_up("127.0.0.1:0=d1", NULL);
	udp_fd = rc_udp_socket(rc_udp_for(&node[A], "d1"));
	rc_assert(udp_fd >= 0, "udp socket");
	/* Each node has one subscriber: one SUB per node, of its channel. */
	open_ws(A, "/ws/d1");
	open_ws(B, "/ws/d1");
	open_ws(C, "/ws/d2");
	check_subs(3, "d1", 2);

	/* Every server restarts under the nodes (same client ports): each
	 * worker subscribes again on its new connection, once. */
	for (int i = 0; i < NODES; i++)
		nats_stop(&ns[i], SIGTERM);
	nats_start_cluster(ns, NODES);
	for (int i = 0; i < NODES; i++)
		rc_assert(rc_wait_metric(&node[i], "ringcast_nats_connected", rc_workers(),
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
			  "node %c connects again (%lld)", 'A' + i, last);
	check_subs(3, "d1", 2);
	sync_probes(1u << B);	/* and B's channel flows again */

	/* The nodes stop: nothing of theirs is left on any server. */
	stop_nodes();
	close(udp_fd);
	udp_fd = -1;
	/* (Counted per server among its own clients' subscriptions: a
	 * server's /subsz total also moves with the $SYS subscriptions the
	 * routes carry, so it is no measure in a cluster.) */
	check_subs(0, NULL, 0);

	/* They start again without subscribers: no SUB; then one subscriber
	 * on B: one SUB, of its channel; gone after it left and the grace. */
	node_up(A, NULL);
	node_up(B, NULL);
	node_up(C, NULL);
	rc_sleep_ms(300);
	check_subs(0, NULL, 0);
	open_ws(B, "/ws/d3");
	check_subs(1, "d3", 1);
	ws_raw_close(&ws[B]);
	ws_open[B] = false;
	check_subs(0, NULL, 0);
	stop_nodes();
}
