/* Several workers (--workers 3 on this 2-core machine, so hand-offs happen
 * under preemption): subscribers spread over every worker get every message
 * of their channel in ingest order, exactly once; the process-wide rules
 * (one publisher per channel, max-subscribers, the late joiners' cache) hold
 * across workers; SIGTERM stops every worker with close 1001. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define WORKERS "3"
#define N_WORKERS 3
#define BURST 100

static struct rc_server srv;
static struct sub_pool *pool;
static int fds[16];
static int nfds;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	nfds = 0;
	rc_cleanup();
}

/* Connects n subscribers of channel name (payload channel index chan,
 * first message first_seq) and waits until the server counts them all on
 * the channel. */
static void subscribe_all(int n, const char *name, unsigned chan, uint64_t first_seq)
{
	char metric[128], d[512];
	long long v;
	int open;

	pool = sub_pool_new(n);
	rc_assert(pool, "lws context");
	for (int i = 0; i < n; i++)
		sub_connect(pool, i, &srv.http, name, chan, first_seq);
	open = sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < n && open != n; i++)
		rc_assert(pool->subs[i].state == SUB_OPEN, "all %d should connect, %d did: %s", n,
			  open, sub_describe(&pool->subs[i], d, sizeof(d)));
	snprintf(metric, sizeof(metric), "ringcast_subscribers{channel=\"%s\"}", name);
	rc_assert(rc_wait_metric(&srv, metric, n, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "%s should be %d, last %lld", metric, n, v);
}

/* Sends n datagrams of payload channel chan to ep, seq from *sent on, in
 * bursts the kernel's receive buffer holds, waiting for the subscribers
 * after each burst. */
static void publish_udp(const struct rc_endpoint *ep, unsigned chan, uint64_t *sent, int n)
{
	int fd = rc_udp_socket(ep);
	char d[512];

	rc_assert(fd >= 0, "udp socket");
	for (int i = 0; i < n;) {
		uint64_t want[1];

		for (int k = 0; k < BURST && i < n; k++, i++, (*sent)++)
			rc_assert(rc_udp_send_seq(fd, chan, *sent, payload_size(*sent)) == 0,
				  "udp send: %s", strerror(errno));
		want[0] = *sent;
		if (pool && !sub_pool_wait_seq(pool, want, 1, RC_WAIT_TIMEOUT_MS)) {
			for (int s = 0; s < pool->n; s++)
				rc_assert(pool->subs[s].next_seq >= *sent,
					  "subscriber stalled after %d of %d: %s", i, n,
					  sub_describe(&pool->subs[s], d, sizeof(d)));
		}
	}
	close(fd);
}

/* Every subscriber has exactly the messages first..want-1, in order. */
static void check_complete(uint64_t want, const char *what)
{
	char d[512];

	for (int i = 0; i < pool->n; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->next_seq == want && s->mismatches == 0 &&
				  s->skipped == 0,
			  "%s: subscriber %d should have every message up to %llu in order: %s",
			  what, i, (unsigned long long)want, sub_describe(s, d, sizeof(d)));
	}
}

static void worker_metric_name(char *buf, size_t cap, int w)
{
	snprintf(buf, cap, "ringcast_worker_subscribers{worker=\"%d\"}", w);
}

Test(workers, fanout_over_every_worker_in_order_without_duplicates, .fini = fini)
{
	const int n = 60, msgs = 6000;
	uint64_t sent = 0;
	long long v, total = 0;
	char name[96];

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=live");
	subscribe_all(n, "live", 0, 0);
	/* The kernel spread them (SO_REUSEPORT): every worker serves some,
	 * so every message crosses from the worker with the UDP port to the
	 * two others. */
	for (int w = 0; w < N_WORKERS; w++) {
		worker_metric_name(name, sizeof(name), w);
		v = rc_metric(&srv, name);
		cr_log_info("worker %d: %lld subscribers", w, v);
		rc_assert(v > 0, "worker %d serves no subscriber of %d", w, n);
		total += v;
	}
	rc_assert(total == n, "per-worker subscribers add up to %lld, not %d", total, n);
	publish_udp(&srv.udp[0], 0, &sent, msgs);
	check_complete(sent, "after the run");
	rc_assert(rc_wait_metric(&srv, "ringcast_delivered_frames_total", (long long)sent * n,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "delivered frames %lld, want %llu", v, (unsigned long long)sent * n);
	v = rc_metric(&srv, "ringcast_published_messages_total");
	rc_assert(v == (long long)sent, "published %lld, sent %llu: a hand-off was counted twice",
		  v, (unsigned long long)sent);
	v = rc_metric(&srv, "ringcast_relayed_total");
	rc_assert(v == (long long)sent * (N_WORKERS - 1), "relayed %lld, want %llu", v,
		  (unsigned long long)sent * (N_WORKERS - 1));
	rc_assert(rc_wait_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}", 0,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "ingest buffers still in use when idle: %lld", v);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* RINGCAST_WAKE=msg_ring: the hand-offs wake their destination by a
 * message from ring to ring (eventfd on epoll): every subscriber still gets
 * everything in order. */
Test(workers, fanout_woken_by_msg_ring, .fini = fini)
{
	const int n = 30, msgs = 3000;
	uint64_t sent = 0;
	long long v;

	setenv("RINGCAST_WAKE", "msg_ring", 1);
	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=live");
	unsetenv("RINGCAST_WAKE");
	subscribe_all(n, "live", 0, 0);
	publish_udp(&srv.udp[0], 0, &sent, msgs);
	check_complete(sent, "woken by MSG_RING");
	v = rc_metric(&srv, "ringcast_relayed_total");
	rc_assert(v == (long long)sent * (N_WORKERS - 1), "relayed %lld, want %llu", v,
		  (unsigned long long)sent * (N_WORKERS - 1));
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Reads a line (up to "\n", EOF or the deadline) into buf. */
static void read_line(int fd, char *buf, size_t cap)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	size_t have = 0;

	while (have + 1 < cap && !memchr(buf, '\n', have) && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 50) <= 0)
			continue;
		r = read(fd, buf + have, cap - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	buf[have] = '\0';
}

Test(workers, one_publisher_per_channel_across_workers, .fini = fini)
{
	const int n = 12;
	char line[64];
	int ok = 0, busy = 0;

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0",
		 "--udp", "127.0.0.1:0=u");
	/* All at once: the connections land on different workers, which
	 * race for the channel's one publisher place. */
	for (int i = 0; i < n; i++) {
		fds[nfds] = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
		rc_assert(fds[nfds] >= 0, "connect publisher %d: %s", i, strerror(errno));
		nfds++;
	}
	for (int i = 0; i < n; i++)
		rc_assert(rc_write_all(fds[i], "PUB one raw\n", 12, RC_WAIT_TIMEOUT_MS) == 0,
			  "write PUB");
	for (int i = 0; i < n; i++) {
		read_line(fds[i], line, sizeof(line));
		if (strcmp(line, "OK\n") == 0)
			ok++;
		else if (strcmp(line, "ERR busy\n") == 0)
			busy++;
		else
			rc_assert(0, "publisher %d answered '%s'", i, line);
	}
	rc_assert(ok == 1 && busy == n - 1, "%d publishers accepted, %d busy: want 1 and %d", ok,
		  busy, n - 1);
	RC_STOP_OK(&srv);
}

/* A hot channel: 3,000 subscribers of one channel spread over every worker
 * get every message in order and once; the origin hands each message to
 * each other worker once (one reference per worker, never per subscriber),
 * and the deliveries add up to messages x subscribers. */
Test(workers, hot_channel_of_3000_subscribers, .fini = fini)
{
	const int n = 3000, msgs = 300;
	uint64_t sent = 0;
	long long v, total = 0;
	char name[96];

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=hot");
	subscribe_all(n, "hot", 0, 0);
	for (int w = 0; w < N_WORKERS; w++) {
		worker_metric_name(name, sizeof(name), w);
		v = rc_metric(&srv, name);
		cr_log_info("worker %d: %lld subscribers", w, v);
		/* The kernel's hash spreads them roughly evenly (a third each);
		 * a worker with under a sixth would mean it did not. */
		rc_assert(v >= n / (2 * N_WORKERS), "worker %d serves %lld of %d subscribers", w, v,
			  n);
		total += v;
	}
	rc_assert(total == n, "per-worker subscribers add up to %lld, not %d", total, n);
	publish_udp(&srv.udp[0], 0, &sent, msgs);
	check_complete(sent, "hot channel");
	rc_assert(rc_wait_metric(&srv, "ringcast_delivered_frames_total", (long long)sent * n,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "delivered frames %lld, want %llu", v, (unsigned long long)sent * n);
	v = rc_metric(&srv, "ringcast_relayed_total");
	rc_assert(v == (long long)sent * (N_WORKERS - 1),
		  "relayed %lld: want one hand-off per other worker per message, %llu", v,
		  (unsigned long long)sent * (N_WORKERS - 1));
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Peer ports of the WebSocket subscribers listed in a /connections body,
 * appended to ports[*n..cap). */
static void subscriber_ports(const char *body, int *ports, int *n, int cap)
{
	const char *key = "\"peer\": \"127.0.0.1:";

	for (const char *p = strstr(body, key); p; p = strstr(p + 1, key)) {
		const char *end = strchr(p, '}');
		const char *role = strstr(p, "\"role\": \"ws-subscriber\"");

		if (role && end && role < end && *n < cap)
			ports[(*n)++] = atoi(p + strlen(key));
	}
}

/* GET /connections covers every worker's connections: the total counts
 * them all, pages of any size taken one after the other list every
 * subscriber exactly once, and a request pipelined behind it is answered
 * after it, in order. */
Test(workers, connections_lists_every_worker, .fini = fini)
{
	enum { N = 30, PAGE = 7 };
	const char pipelined[] = "GET /connections?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n"
				 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_resp r, two[2];
	int ports[2 * N], nports = 0;
	char err[256], want[32];
	long long v;

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	subscribe_all(N, "live", 0, 0);
	for (int w = 0; w < N_WORKERS; w++) {
		char name[96];

		worker_metric_name(name, sizeof(name), w);
		v = rc_metric(&srv, name);
		rc_assert(v > 0, "worker %d serves no subscriber of %d: nothing to prove", w, N);
	}
	/* The subscribers and this request's own connection. */
	rc_assert(http_get(&srv.http, "/connections", &r) == 0 && r.status == 200,
		  "GET /connections");
	snprintf(want, sizeof(want), "\"total\": %d,", N + 1);
	rc_assert(strstr(r.body, want), "want %s in %.300s", want, r.body);
	subscriber_ports(r.body, ports, &nports, N);
	rc_assert(nports == N, "one page lists %d subscribers of %d: %.2000s", nports, N, r.body);
	http_resp_free(&r);
	/* The pages over one connection (pipelined, so each listing also
	 * holds the next request back): every request sees the same set of
	 * connections, its own included. */
	nports = 0;
	{
		char reqs[2048];
		size_t len = 0;
		struct http_resp pages[(N + PAGE) / PAGE];
		int npages = 0;

		for (int off = 0; off < N + 1; off += PAGE, npages++)
			len += (size_t)snprintf(reqs + len, sizeof(reqs) - len,
						"GET /connections?offset=%d&limit=%d HTTP/1.1\r\n"
						"Host: x\r\n%s\r\n",
						off, PAGE,
						off + PAGE >= N + 1 ? "Connection: close\r\n" : "");
		rc_assert(http_exchange(&srv.http, reqs, len, pages, npages, RC_WAIT_TIMEOUT_MS,
					err, sizeof(err)) == npages,
			  "%d pages: %s", npages, err);
		for (int i = 0; i < npages; i++) {
			rc_assert(pages[i].status == 200, "page %d: %d", i, pages[i].status);
			subscriber_ports(pages[i].body, ports, &nports, 2 * N);
			http_resp_free(&pages[i]);
		}
	}
	rc_assert(nports == N, "pages of %d list %d subscribers, want %d", PAGE, nports, N);
	for (int i = 0; i < nports; i++)
		for (int j = i + 1; j < nports; j++)
			rc_assert(ports[i] != ports[j], "peer port %d listed twice", ports[i]);
	/* Pipelined: the second answer waits for the first. */
	rc_assert(http_exchange(&srv.http, pipelined, sizeof(pipelined) - 1, two, 2,
				RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 2,
		  "two pipelined answers: %s", err);
	rc_assert(two[0].status == 200 && strstr(two[0].body, "\"connections\": ["),
		  "first the listing: %d %.200s", two[0].status, two[0].body);
	rc_assert(two[1].status == 200 && strcmp(two[1].body, "ok\n") == 0,
		  "then /healthz: %d %.200s", two[1].status, two[1].body);
	http_resp_free(&two[0]);
	http_resp_free(&two[1]);
	/* Clients that leave before their listing is back: the listing comes
	 * back to nobody and is dropped (ASan's run checks nothing leaks). */
	for (int i = 0; i < 50; i++) {
		int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		const char req[] = "GET /connections HTTP/1.1\r\nHost: x\r\n\r\n";

		rc_assert(fd >= 0, "connect: %s", strerror(errno));
		rc_assert(rc_write_all(fd, req, sizeof(req) - 1, RC_WAIT_TIMEOUT_MS) == 0, "write");
		close(fd);
	}
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200, "healthz after");
	http_resp_free(&r);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Starts a server with --workers auto under the CPU set `cpus` (the
 * server inherits this process's affinity mask, restored after) and
 * returns the workers it says it runs. */
static int auto_workers_under(const cpu_set_t *cpus)
{
	cpu_set_t saved;
	char *err = malloc(1 << 16);
	const char *key = "workers: ";
	const char *line;
	int n = -1;

	rc_assert(err, "malloc");
	rc_assert(sched_getaffinity(0, sizeof(saved), &saved) == 0, "getaffinity: %s",
		  strerror(errno));
	rc_assert(sched_setaffinity(0, sizeof(*cpus), cpus) == 0, "setaffinity: %s",
		  strerror(errno));
	RC_START(&srv, "--workers", "auto", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	rc_assert(sched_setaffinity(0, sizeof(saved), &saved) == 0, "restore affinity: %s",
		  strerror(errno));
	rc_server_stderr(&srv, err, 1 << 16);
	line = strstr(err, key);
	rc_assert(line && strstr(line, "(auto: one per CPU of the affinity mask)"),
		  "the start-up log names the workers and why: %.2000s", err);
	n = atoi(line + strlen(key));
	free(err);
	RC_STOP_OK(&srv);
	return n;
}

/* --workers auto (the default): one worker per CPU the process may run on;
 * under taskset to one CPU, one worker. */
Test(workers, auto_is_one_per_cpu_of_the_affinity_mask, .fini = fini)
{
	cpu_set_t all, one;
	int n;

	rc_assert(sched_getaffinity(0, sizeof(all), &all) == 0, "getaffinity");
	n = auto_workers_under(&all);
	rc_assert(n == CPU_COUNT(&all), "auto with %d CPUs: %d workers", CPU_COUNT(&all), n);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	n = auto_workers_under(&one);
	rc_assert(n == 1, "auto on one CPU: %d workers", n);
}

Test(workers, max_subscribers_counts_every_worker, .fini = fini)
{
	const int n = 15, max = 5;
	int open = 0, refused = 0;
	long long v;

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=lim", "--channel", "lim:max-subscribers=5");
	pool = sub_pool_new(n);
	rc_assert(pool, "lws context");
	for (int i = 0; i < n; i++)
		sub_connect(pool, i, &srv.http, "lim", 0, 0);
	sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS);
	/* A late race loser is closed right after its upgrade: give the
	 * server's answers time to arrive. */
	sub_pool_service_for(pool, 300);
	for (int i = 0; i < n; i++) {
		if (pool->subs[i].state == SUB_OPEN)
			open++;
		else
			refused++;
	}
	rc_assert(open == max && refused == n - max, "%d subscribers open, %d refused: want %d, %d",
		  open, refused, max, n - max);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"lim\"}", max,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers of lim: %lld, want %d", v, max);
	v = rc_metric(&srv, "ringcast_access_refused_total{reason=\"subscriber_limit\"}");
	rc_assert(v == n - max, "subscriber_limit refusals: %lld, want %d", v, n - max);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(workers, late_joiners_on_any_worker_get_the_cache, .fini = fini)
{
	const int n = 9;
	uint64_t sent = 0;

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=c", "--channel", "c:cache=last:10");
	/* Published before anyone subscribed: only the workers' copies of
	 * the cache can give joiners these. */
	publish_udp(&srv.udp[0], 0, &sent, 40);
	rc_assert(rc_wait_metric(&srv, "ringcast_relayed_total", 40 * (N_WORKERS - 1),
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL),
		  "every message of a cached channel goes to every worker");
	/* Joiners start at the cache's oldest message: seq 30. */
	subscribe_all(n, "c", 0, 30);
	{
		uint64_t want[1] = { sent };

		sub_pool_wait_seq(pool, want, 1, RC_WAIT_TIMEOUT_MS);
	}
	check_complete(sent, "after the replay");
	publish_udp(&srv.udp[0], 0, &sent, 200);
	check_complete(sent, "replay then live");
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

static int all_closed(struct sub_pool *p, void *arg)
{
	(void)arg;
	for (int i = 0; i < p->n; i++)
		if (p->subs[i].state == SUB_OPEN || p->subs[i].state == SUB_CONNECTING)
			return 0;
	return 1;
}

Test(workers, sigterm_closes_every_workers_subscribers_with_1001, .fini = fini)
{
	const int n = 30;
	uint64_t sent = 0;
	char d[512], log[1 << 16], *p;
	unsigned long long del;
	long long v;
	size_t len;
	int st;

	RC_START(&srv, "--workers", WORKERS, "--listen", "127.0.0.1:0", "--udp",
		 "127.0.0.1:0=live");
	subscribe_all(n, "live", 0, 0);
	for (int w = 0; w < N_WORKERS; w++) {
		char name[96];

		worker_metric_name(name, sizeof(name), w);
		v = rc_metric(&srv, name);
		rc_assert(v > 0, "worker %d serves no subscriber", w);
	}
	publish_udp(&srv.udp[0], 0, &sent, 500);
	rc_server_signal(&srv, SIGTERM);
	rc_assert(sub_pool_service_until(pool, all_closed, NULL, RC_WAIT_TIMEOUT_MS),
		  "every subscriber should be closed");
	for (int i = 0; i < n; i++)
		rc_assert(pool->subs[i].close_code == 1001 && pool->subs[i].next_seq == sent,
			  "subscriber %d: close 1001 after all %llu messages: %s", i,
			  (unsigned long long)sent, sub_describe(&pool->subs[i], d, sizeof(d)));
	st = rc_server_wait(&srv, RC_STOP_TIMEOUT_MS);
	rc_assert(st == 1 && WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0,
		  "exit 0 after SIGTERM (exited %d, status 0x%x)", st, srv.status);
	len = rc_server_stderr(&srv, log, sizeof(log));
	rc_assert(len > 0, "server log");
	p = strstr(log, "stopped: ");
	rc_assert(p && sscanf(p, "stopped: %*u connections accepted, %llu frames delivered",
			      &del) == 1,
		  "no process totals line");
	rc_assert(del == sent * n, "process total: %llu frames delivered, want %llu", del,
		  (unsigned long long)sent * n);
}
