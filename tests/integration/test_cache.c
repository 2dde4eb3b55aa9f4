/* Late joiners: a channel's cache (--cache) is replayed to a new subscriber
 * before live data, for WebSocket and HTTP stream subscribers alike. */
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
static int ufd = -1, sfd = -1;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (ufd >= 0)
		close(ufd);
	if (sfd >= 0)
		close(sfd);
	ufd = sfd = -1;
	rc_cleanup();
}

/* size 0: the harness's own size for each seq (what lws subscribers check) */
static void send_range(uint64_t from, uint64_t to, size_t size)
{
	for (uint64_t k = from; k < to; k++)
		rc_assert(rc_udp_send_seq(ufd, 0, k, size ? size : payload_size(k)) == 0, "send: %s",
			  strerror(errno));
}

Test(cache, last_n_replayed_before_live, .fini = fini)
{
	uint64_t want = 30;
	char d[512];
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--cache",
		 "live:last=5", "--cache", "bytes=1000");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp");
	/* 20 messages while nobody listens. */
	send_range(0, 20, 0);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"live\"}", 20,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "ingest %lld", v);
	/* A late joiner expects 15..19 from the cache, then live 20.. */
	pool = sub_pool_new(2);
	rc_assert(pool, "lws context");
	sub_connect(pool, 0, &srv.http, "live", 0, 15);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1, "open: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	{
		uint64_t cached = 20;

		sub_pool_wait_seq(pool, &cached, 1, RC_WAIT_TIMEOUT_MS);
		rc_assert(pool->subs[0].count == 5 && pool->subs[0].next_seq == 20 &&
				  pool->subs[0].mismatches == 0,
			  "the last 5 messages first: %s", sub_describe(&pool->subs[0], d, sizeof(d)));
	}
	send_range(20, 30, 0);
	sub_pool_wait_seq(pool, &want, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(pool->subs[0].count == 15 && pool->subs[0].next_seq == 30 &&
			  pool->subs[0].mismatches == 0,
		  "then live data, nothing twice: %s", sub_describe(&pool->subs[0], d, sizeof(d)));
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(cache, bytes_bound_for_stream_subscribers, .fini = fini)
{
	unsigned char want[1000], got[1000];
	char req[128], head[1024];
	size_t have = 0, wl = 0;
	int64_t end;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=ts", "--cache",
		 "bytes=1000");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp");
	/* 10 messages of 300 bytes: a 1000-byte cache keeps the last 3. */
	send_range(0, 10, 300);
	rc_sleep_ms(300);
	for (uint64_t k = 7; k < 10; k++, wl += 300)
		payload_fill(0, k, want + wl, 300);
	sfd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	snprintf(req, sizeof(req), "GET /stream/ts HTTP/1.1\r\nHost: t\r\n\r\n");
	rc_assert(sfd >= 0 && rc_write_all(sfd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "req");
	end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	while (rc_now_ms() < end) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		char *h;
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(sfd, head + have, sizeof(head) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		head[have] = '\0';
		h = strstr(head, "\r\n\r\n");
		if (h && (size_t)(head + have - (h + 4)) >= wl) {
			memcpy(got, h + 4, wl);
			break;
		}
	}
	rc_assert(memcmp(got, want, wl) == 0, "the stream starts with the cached 900 bytes");
	RC_STOP_OK(&srv);
}

/* A channel nobody uses is kept for --channel-grace (with its cache), then
 * removed. */
Test(cache, idle_channel_grace_period, .fini = fini)
{
	struct http_resp r;
	char d[512];
	int pfd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--cache", "last=3", "--channel-grace", "1500");
	/* A TCP publisher sends 5 framed messages to "g" and leaves. */
	pfd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(pfd >= 0, "connect");
	{
		unsigned char buf[64 + 5 * 40];
		size_t n = 0;

		memcpy(buf, "PUB g framed\n", 13);
		n = 13;
		for (uint64_t k = 0; k < 5; k++) {
			size_t size = 30 + k;

			buf[n++] = 0;
			buf[n++] = 0;
			buf[n++] = 0;
			buf[n++] = (unsigned char)size;
			payload_fill(0, k, buf + n, size);
			n += size;
		}
		rc_assert(rc_write_all(pfd, buf, n, RC_WAIT_TIMEOUT_MS) == 0, "publish");
	}
	{
		long long v;

		rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"g\"}", 5,
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "ingest %lld", v);
	}
	close(pfd);
	rc_sleep_ms(300);
	/* Within the grace period the channel and its cache are still there. */
	rc_assert(http_get(&srv.http, "/channels", &r) == 0 && strstr(r.body, "\"name\": \"g\""),
		  "g kept during the grace period: %s", r.body);
	http_resp_free(&r);
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	sub_connect(pool, 0, &srv.http, "g", 0, 2);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1, "open");
	sub_pool_service_until(pool, NULL, NULL, 500);
	rc_assert(pool->subs[0].count == 3, "the cache survived the publisher: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	sub_close(pool, 0);
	sub_pool_wait_closed(pool, RC_WAIT_TIMEOUT_MS);
	/* Unused again: gone after the grace period (and a timer tick). */
	for (int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS; rc_now_ms() < end;
	     rc_sleep_ms(200)) {
		rc_assert(http_get(&srv.http, "/channels", &r) == 0, "GET /channels");
		if (!strstr(r.body, "\"name\": \"g\"")) {
			http_resp_free(&r);
			RC_STOP_OK(&srv);
			return;
		}
		http_resp_free(&r);
	}
	rc_assert(0, "g should be removed after its grace period");
}
