/* Operator endpoints: GET /channels and GET /connections (JSON). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

static struct rc_server srv;
static struct sub_pool *pool;
static int pfd = -1;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (pfd >= 0)
		close(pfd);
	pfd = -1;
	rc_cleanup();
}

/* Number of non-overlapping occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle))
		n++;
	return n;
}

Test(status, channels_and_connections_json, .fini = fini)
{
	struct http_resp r;
	char d[512], ok[8] = { 0 };
	uint64_t sent = 20;
	long long v;
	int fd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	pool = sub_pool_new(3);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 3; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 3, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	pfd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(pfd >= 0 && rc_write_all(pfd, "PUB game\n", 9, RC_WAIT_TIMEOUT_MS) == 0, "publisher");
	for (int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS; !ok[0] && rc_now_ms() < end;) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0 && read(pfd, ok, 3) != 3)
			break;
	}
	rc_assert(strcmp(ok, "OK\n") == 0, "publisher accepted: '%s'", ok);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp");
	for (uint64_t k = 0; k < sent; k++)
		rc_assert(rc_udp_send_seq(fd, 0, k, 100) == 0, "send: %s", strerror(errno));
	close(fd);
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"live\"}", 20,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "ingest: %lld", v);

	rc_assert(http_get(&srv.http, "/channels", &r) == 0 && r.status == 200, "GET /channels");
	rc_assert(strstr(r.head, "application/json"), "JSON content type: %s", r.head);
	rc_assert(strstr(r.body, "{\"name\": \"live\", \"publishers\": 0, \"subscribers\": "
				 "{\"ws\": 3, \"stream\": 0, \"sse\": 0}, \"messages\": 20, "
				 "\"bytes\": 2000"),
		  "live channel: %s", r.body);
	rc_assert(strstr(r.body, "{\"name\": \"game\", \"publishers\": 1"), "game channel: %s",
		  r.body);
	http_resp_free(&r);

	/* 3 subscribers, the publisher, and this request's own connection:
	 * once the connections of the earlier requests are gone from every
	 * worker (with several workers, one may list such a connection, role
	 * "closed", a moment after the client left: asked again, bounded). */
	for (int attempt = 0;; attempt++) {
		rc_assert(http_get(&srv.http, "/connections", &r) == 0 && r.status == 200,
			  "GET /connections");
		if (strstr(r.body, "\"total\": 5") || attempt == 40)
			break;
		http_resp_free(&r);
		rc_sleep_ms(50);
	}
	rc_assert(strstr(r.body, "\"total\": 5"), "total: %.300s", r.body);
	rc_assert(count(r.body, "\"role\": \"ws-subscriber\"") == 3, "subscribers: %s", r.body);
	rc_assert(count(r.body, "\"role\": \"tcp-publisher\"") == 1, "publisher: %s", r.body);
	rc_assert(count(r.body, "\"peer\": \"127.0.0.1:") == 5, "peer addresses: %s", r.body);
	http_resp_free(&r);
	rc_assert(http_get(&srv.http, "/connections?limit=2&offset=1", &r) == 0 && r.status == 200,
		  "paged");
	rc_assert(count(r.body, "\"protocol\": \"tcp\"") == 2 && strstr(r.body, "\"offset\": 1"),
		  "a page of two: %s", r.body);
	http_resp_free(&r);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* --stats-interval: a line of rates per interval, whose totals match what
 * /metrics says was published and delivered. With several workers each
 * logs its own line and worker 0 the process's ("stats total:"), which is
 * the one checked. */
Test(status, stats_interval_logs_rates, .fini = fini)
{
	char d[512], *err, *line;
	uint64_t sent = 50;
	long long v;
	double in_sum = 0, out_sum = 0;
	int fd, lines = 0;
	const char *key = rc_workers() > 1 ? "stats total: in " : "stats: in ";

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--stats-interval",
		 "250");
	pool = sub_pool_new(2);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 2; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 2, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp");
	for (uint64_t k = 0; k < sent; k++)
		rc_assert(rc_udp_send_seq(fd, 0, k, 100) == 0, "send: %s", strerror(errno));
	close(fd);
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(rc_wait_metric(&srv, "ringcast_published_messages_total", 50, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "published: %lld", v);
	/* The first line comes two ticks after start; wait for a few more so
	 * the last messages are in a logged line. */
	for (int64_t end = rc_now_ms() + 1300; rc_now_ms() < end;)
		sub_pool_idle(pool);
	err = malloc(1 << 16);
	rc_assert(err, "malloc");
	rc_server_stderr(&srv, err, 1 << 16);
	/* Rate x interval summed over the lines gives back the totals (within
	 * rounding: each line's rate is printed as a whole number). */
	for (line = strstr(err, key); line; line = strstr(line + 1, key)) {
		double in_rate = 0, out_rate = 0, secs = 0;

		rc_assert(sscanf(line + strlen(key), "%lf msg/s", &in_rate) == 1, "line: %.200s", line);
		rc_assert(strstr(line, "| out ") && sscanf(strstr(line, "| out "), "| out %lf frames/s",
							    &out_rate) == 1,
			  "line: %.200s", line);
		rc_assert(strstr(line, "| over ") &&
			  sscanf(strstr(line, "| over "), "| over %lf s", &secs) == 1 && secs >= 0.25,
			  "interval: %.200s", line);
		in_sum += in_rate * secs;
		out_sum += out_rate * secs;
		lines++;
	}
	rc_assert(lines >= 2, "stats lines: %d\n%s", lines, err);
	/* Rates are printed rounded to whole numbers per second. */
	rc_assert(in_sum >= 45 && in_sum <= 55, "messages in by the lines: %.1f\n%s", in_sum, err);
	rc_assert(out_sum >= 90 && out_sum <= 110, "frames out by the lines: %.1f\n%s", out_sum, err);
	free(err);
}
