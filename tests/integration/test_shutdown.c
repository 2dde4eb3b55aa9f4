/* Graceful shutdown: SIGTERM flushes what was ingested, closes every
 * subscriber with 1001 and exits 0, within --shutdown-timeout even when a
 * subscriber cannot take its data. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_SUBS 10
#define N_MSGS 2000
/* Slack on top of --shutdown-timeout for a loaded, sanitized run: this
 * bounds a hang, it is not a speed requirement. */
#define SLACK_MS 15000

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw *stalled;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (stalled)
		ws_raw_close(stalled);
	free(stalled);
	stalled = NULL;
	rc_cleanup();
}

static void connect_subs(int n)
{
	char d[512];
	long long v;

	pool = sub_pool_new(n);
	rc_assert(pool, "lws context");
	for (int i = 0; i < n; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == n,
		  "subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 n, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v),
		  "subscribers gauge should be %d, last %lld", n, v);
}

/* SIGTERM, keep servicing the subscribers until they are closed and the
 * server is gone or deadline_ms passed. Returns whether it exited. */
static int sigterm_and_wait(int deadline_ms)
{
	int64_t t0 = rc_now_ms(), left;
	int exited;

	rc_server_signal(&srv, SIGTERM);
	sub_pool_wait_closed(pool, deadline_ms);
	left = deadline_ms - (rc_now_ms() - t0);
	exited = rc_server_wait(&srv, left > 0 ? (int)left : 0);
	cr_log_info("server %s %lld ms after SIGTERM",
		    exited ? "exited" : "still running",
		    (long long)(rc_now_ms() - t0));
	return exited;
}

static size_t size_1000(uint64_t seq)
{
	(void)seq;
	return 1000;
}

static void check_closed_1001(uint64_t sent)
{
	char d[512];

	for (int i = 0; i < pool->n; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->close_code == 1001,
			  "subscriber should get close 1001 (going away): %s",
			  sub_describe(s, d, sizeof(d)));
		/* everything ingested before the signal was flushed ahead
		 * of the close frame */
		rc_assert(s->count == sent && s->next_seq == sent &&
				  s->mismatches == 0,
			  "subscriber should get all %llu ingested messages "
			  "before 1001: %s", (unsigned long long)sent,
			  sub_describe(s, d, sizeof(d)));
	}
}

static void check_exit0(int exited, int deadline_ms)
{
	char sb[96];

	rc_assert(exited, "server still running %d ms after SIGTERM",
		  deadline_ms);
	rc_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0,
		  "exit status after SIGTERM: %s",
		  rc_status_str(srv.status, sb, sizeof(sb)));
}

Test(shutdown, sigterm_flushes_and_closes_with_1001, .fini = fini)
{
	uint64_t sent = 0;
	long long v;
	int fd;

	/* a long flush allowance and no queue limit in the way: what is
	 * checked here is that the flush happens, not how fast */
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--shutdown-timeout", "30000", "--max-queue", "67108864");
	connect_subs(N_SUBS);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	/* no servicing while sending, so data is still queued in the server
	 * (or the kernel) for every subscriber when the signal comes */
	for (; sent < N_MSGS; sent++) {
		rc_assert(rc_udp_send_seq(fd, 0, sent, payload_size(sent)) == 0,
			  "udp send: %s", strerror(errno));
		/* pause now and then so a burst never outgrows the UDP
		 * receive buffer; kernel loss is not what is tested */
		if (sent % 100 == 99)
			rc_wait_metric(&srv, "ringcast_ingest_messages_total"
				       "{channel=\"live\"}", (long long)sent + 1,
				       RC_WAIT_TIMEOUT_MS, NULL, NULL, &v);
	}
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel="
				 "\"live\"}", N_MSGS, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v),
		  "all %d datagrams should be ingested before the signal, last "
		  "%lld", N_MSGS, v);

	check_exit0(sigterm_and_wait(30000 + SLACK_MS), 30000 + SLACK_MS);
	check_closed_1001(sent);
	close(fd);
}

Test(shutdown, stalled_subscriber_bounded_by_shutdown_timeout, .fini = fini)
{
	int64_t t0, left;
	uint64_t sent = 0;
	char err[256];
	long long v;
	int fd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--shutdown-timeout", "2000", "--max-queue", "67108864",
		 "--ping-interval", "600000");
	connect_subs(1);
	pool->size_of = size_1000;
	/* never reads and never answers the close: the flush to it cannot
	 * finish, so only --shutdown-timeout ends the shutdown */
	stalled = calloc(1, sizeof(*stalled));
	rc_assert(stalled, "calloc");
	rc_assert(ws_raw_open(stalled, &srv.http, "/ws/live", 4096,
			      RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "stalled client upgrade: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 2, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v), "subscribers gauge should be 2, last %lld",
		  v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	/* ~6 MB: more than loopback socket buffers hold for the stalled
	 * client, so the server has data queued for it */
	for (int b = 0; b < 60; b++) {
		for (int k = 0; k < 100; k++, sent++)
			rc_assert(rc_udp_send_seq(fd, 0, sent, 1000) == 0,
				  "udp send: %s", strerror(errno));
		sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	}

	t0 = rc_now_ms();
	rc_server_signal(&srv, SIGTERM);
	/* once the healthy subscriber has its 1001 the shutdown is under
	 * way; the stalled client keeps the process alive a while, and in
	 * that window new HTTP clients must not be served */
	sub_pool_wait_closed(pool, 2000 + SLACK_MS);
	if (!rc_server_wait(&srv, 0)) {
		static const char req[] =
			"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
		struct http_resp r;
		int n = http_exchange(&srv.http, req, sizeof(req) - 1, &r, 1,
				      RC_WAIT_TIMEOUT_MS, err, sizeof(err));

		rc_assert(n <= 0 || r.status != 200,
			  "a new request during shutdown was served (status "
			  "%d)", r.status);
		if (n == 1)
			http_resp_free(&r);
	} else {
		cr_log_info("server gone before the accept check");
	}
	left = 2000 + SLACK_MS - (rc_now_ms() - t0);
	check_exit0(rc_server_wait(&srv, left > 0 ? (int)left : 0),
		    2000 + SLACK_MS);
	cr_log_info("server exited %lld ms after SIGTERM",
		    (long long)(rc_now_ms() - t0));
	check_closed_1001(sent);
	close(fd);
}

Test(shutdown, sigint_exits_zero, .fini = rc_cleanup)
{
	char sb[96];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	rc_server_signal(&srv, SIGINT);
	rc_assert(rc_server_wait(&srv, 5000 + SLACK_MS),
		  "server still running %d ms after SIGINT", 5000 + SLACK_MS);
	rc_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0,
		  "exit status after SIGINT: %s",
		  rc_status_str(srv.status, sb, sizeof(sb)));
	rc_server_stop(&srv, 0);
}
