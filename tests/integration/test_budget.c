/* Bounds that hold a connection's input back or the whole server's memory:
 * --max-memory refuses new joiners with 503 (HTTP) or 1013 (a {"sub"} on an
 * open WebSocket) while it is passed and sheds the connections holding most;
 * an HTTP connection that pipelines requests without reading its answers is
 * stopped and closed after --idle-timeout; a WebSocket past
 * --ws-command-rate is closed with 1008. Each is counted in /metrics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define N_PIPE 40
#define MSG 1316

static struct rc_server srv;
static int fds[N_PIPE];
static struct ws_raw ws;

static void fini(void)
{
	for (int i = 0; i < N_PIPE; i++)
		if (fds[i] > 0)
			close(fds[i]);
	memset(fds, 0, sizeof(fds));
	ws_raw_close(&ws);
	rc_cleanup();
}

/* Fills channel `live` (which must have a byte cache) with n datagrams of
 * MSG bytes, paced so the kernel drops none, and waits until all were
 * published. */
static void fill(int n)
{
	int fd = rc_udp_socket(&srv.udp[0]);
	long long v;

	rc_assert(fd >= 0, "udp socket");
	for (int i = 0; i < n; i++) {
		rc_assert(rc_udp_send_seq(fd, 0, (uint64_t)i, MSG) == 0, "udp send: %s",
			  strerror(errno));
		if (i % 200 == 199)
			rc_sleep_ms(5);
	}
	close(fd);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"live\"}", n,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "published %lld of %d", v, n);
}

/* Opens a connection that pipelines `reqs` copies of `req` and never reads. */
static int pipeline(const char *req, int reqs)
{
	int fd = rc_tcp_connect(&srv.http, 4096, RC_WAIT_TIMEOUT_MS);
	size_t len = strlen(req);

	rc_assert(fd >= 0, "connect");
	for (int i = 0; i < reqs; i++)
		if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
			break;	/* its window is full: the server stopped reading it */
	return fd;
}

Test(budget, past_max_memory_joiners_are_refused_and_healthz_answers, .fini = fini)
{
	struct http_resp r = { 0 };
	char err[256];
	long long used, limit, v;
	struct ws_frame f;
	unsigned char buf[512];
	int got;

	/* The rings (256 x 2 KiB ingest + the client ring) are about 1.1 MB;
	 * the cache's 4 MB of messages passes a 3 MB bound for good (a cache is
	 * not a connection: nothing to shed). The figures are one worker's:
	 * each worker has its own rings and its own copy of the cache. */
	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--buf-count", "256", "--cache", "live:bytes=4000000", "--max-memory", "3000000");
	fill(3100);
	used = rc_metric(&srv, "ringcast_memory_bytes");
	limit = rc_metric(&srv, "ringcast_memory_limit_bytes");
	rc_assert(limit == 3000000, "limit exported: %lld", limit);
	rc_assert(used > limit, "the cache should hold more than the bound: %lld", used);

	rc_assert(http_get(&srv.http, "/ws/live", &r) == 0 && r.status == 426, "no upgrade: %d",
		  r.status);
	http_resp_free(&r);
	rc_assert(http_get(&srv.http, "/stream/live", &r) == 0 && r.status == 503 &&
			  strstr(r.body, "busy"),
		  "a new stream subscriber gets 503: %d %s", r.status, r.body ? r.body : "");
	http_resp_free(&r);
	rc_assert(http_get(&srv.http, "/sse/live", &r) == 0 && r.status == 503, "sse: %d",
		  r.status);
	http_resp_free(&r);
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) < 0,
		  "a WebSocket upgrade on /ws/live is refused");
	ws_raw_close(&ws);
	/* On an open channel-less WebSocket, {"sub"} is answered and, with no
	 * channel left, closed with 1013. */
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "/ws: %s", err);
	rc_assert(ws_raw_send(&ws, 1, "{\"sub\":\"live\"}", 14) == 0, "send");
	got = ws_raw_recv(&ws, &f, buf, sizeof(buf) - 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(got == 1 && f.opcode == 1, "an answer: %d", got);
	buf[f.len] = '\0';
	rc_assert(strstr((char *)buf, "server busy"), "answer: %s", buf);
	got = ws_raw_recv(&ws, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
	rc_assert(got == 1 && f.opcode == 8 && f.len >= 2 && buf[0] * 256 + buf[1] == 1013,
		  "close 1013: %d op %d", got, f.opcode);
	rc_assert(rc_metric(&srv, "ringcast_memory_refused_total") == 4, "refusals counted: %lld",
		  rc_metric(&srv, "ringcast_memory_refused_total"));
	/* The server itself goes on answering. */
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200, "healthz %d",
		  r.status);
	http_resp_free(&r);
	(void)v;
	RC_STOP_OK(&srv);
}

Test(budget, past_max_memory_the_connections_holding_most_are_shed, .fini = fini)
{
	const char *req = "GET /connections?limit=10000 HTTP/1.1\r\nHost: t\r\n\r\n";
	long long used = 0, shed = 0, limit;
	int64_t t0;

	/* About 1.1 MB for the rings, so 6 MB leaves room for a few stopped
	 * pipelines (each holds at most one large answer past its 64 KiB
	 * bound, and at most 1 MiB of held input), not for N_PIPE of them.
	 * On epoll a stopped receive reads nothing more (io_uring posts what
	 * it had in flight when the cancel came), so a stopped pipeline holds
	 * less, 50-100 KB here: 2.5 MB is the same few of them. */
	const char *bound = strcmp(rc_backend(), "epoll") == 0 ? "2500000" : "6000000";

	/* One worker: the bound is sized for one worker's rings. */
	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--buf-count", "256", "--max-memory", bound);
	limit = rc_metric(&srv, "ringcast_memory_limit_bytes");
	for (int i = 0; i < N_PIPE; i++)
		fds[i] = pipeline(req, 2000);
	/* Bounded in time: the tick sheds every 250 ms. */
	t0 = rc_now_ms();
	while (rc_now_ms() - t0 < RC_WAIT_TIMEOUT_MS) {
		shed = rc_metric(&srv, "ringcast_memory_shed_total");
		used = rc_metric(&srv, "ringcast_memory_bytes");
		if (shed > 0 && used >= 0 && used <= limit)
			break;
		rc_sleep_ms(50);
	}
	rc_assert(shed > 0, "nothing was shed (memory %lld, bound %lld)", used, limit);
	rc_assert(used <= limit, "memory stays over the bound: %lld > %lld", used, limit);
	rc_assert(rc_metric(&srv, "ringcast_backpressure_pauses_total") > 0,
		  "the pipelines were stopped");
	RC_STOP_OK(&srv);
}

Test(budget, a_pipeline_that_never_reads_is_stopped_then_closed, .fini = fini)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	long long served, served2, v;
	char b[1];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--idle-timeout",
		 "3000");
	fds[0] = pipeline(req, 5000);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_backpressure_pauses_total", 1,
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "pauses %lld", v);
	/* Stopped: once the kernel's socket buffers are full (answers go on
	 * leaving until then), it is answered no further while its answers
	 * wait. Only the scrapes themselves are then added. */
	served = rc_metric(&srv, "ringcast_http_requests_total");
	for (int i = 0; i < 50; i++) {
		rc_sleep_ms(200);
		served2 = rc_metric(&srv, "ringcast_http_requests_total");
		if (served2 - served <= 1)
			break;
		served = served2;
	}
	rc_assert(served2 - served <= 1, "requests went on being served: %lld -> %lld", served,
		  served2);
	rc_assert(rc_metric(&srv, "ringcast_backpressure_timeouts_total") == 0,
		  "closed before --idle-timeout");
	rc_assert(rc_wait_metric(&srv, "ringcast_backpressure_timeouts_total", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v),
		  "closed after --idle-timeout: %lld", v);
	/* The socket is gone on the server's side: reading ends (after the
	 * answers that were in flight) with EOF or a reset. */
	{
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int64_t t0 = rc_now_ms();
		ssize_t n = 1;

		while (n > 0 && rc_now_ms() - t0 < RC_WAIT_TIMEOUT_MS) {
			char drain[65536];

			if (poll(&p, 1, 1000) <= 0)
				continue;
			n = recv(fds[0], drain, sizeof(drain), 0);
		}
		rc_assert(n <= 0, "the connection was not closed");
	}
	(void)b;
	RC_STOP_OK(&srv);
}

Test(budget, commands_past_the_rate_close_with_1008, .fini = fini)
{
	char err[256];
	unsigned char buf[4096];
	struct ws_frame f;
	int got, closed = 0;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--ws-command-rate",
		 "5");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "/ws: %s", err);
	/* The burst (64) is allowed, then five a second: 200 at once is over. */
	for (int i = 0; i < 100; i++) {
		if (ws_raw_send(&ws, 1, "{\"sub\":\"live\"}", 14) < 0 ||
		    ws_raw_send(&ws, 1, "{\"unsub\":\"live\"}", 16) < 0)
			break;
	}
	for (int i = 0; i < 400 && !closed; i++) {
		got = ws_raw_recv(&ws, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
		if (got != 1)
			break;
		if (f.opcode == 8) {
			rc_assert(f.len >= 2 && buf[0] * 256 + buf[1] == 1008, "close code");
			closed = 1;
		}
	}
	rc_assert(closed, "no close 1008");
	rc_assert(rc_wait_metric(&srv, "ringcast_ws_commands_limited_total", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v),
		  "counted: %lld", v);
	RC_STOP_OK(&srv);
}
