/* Two ringcast nodes joined by one nats-server (--nats): a channel's
 * messages published on node A reach its WebSocket, SSE and /stream
 * subscribers on node B, every one, in order, byte-identical, once; node A
 * delivers its own once too (nothing comes back from NATS twice). A raw
 * NATS client (nats_harness.h, a second implementation of the protocol)
 * publishes into a channel B serves: plain PUBs get through, and with
 * ringcast's envelope a skipped number, a late one, a repeat and a
 * malformed envelope are counted as such. B subscribes only while it has
 * subscribers, and leaves nothing subscribed on the server after its last
 * one left and the grace passed, nor after it stopped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nats_harness.h"

#define N_MSGS 300

static struct rc_server a, b;
static struct nats_srv ns = { .pid = -1 };
static struct nats_raw pub = { .fd = -1 };
static int udp_fd = -1, sse_fd = -1, stream_fd = -1;
static struct ws_raw ws_b, ws_a;
static bool ws_b_open, ws_a_open;

/* Raw WebSocket clients do not answer a close frame: closed before a
 * node stops, it does not wait for them. */
static void close_clients(void)
{
	if (ws_b_open)
		ws_raw_close(&ws_b);
	if (ws_a_open)
		ws_raw_close(&ws_a);
	ws_a_open = ws_b_open = false;
}

static void fini(void)
{
	nats_raw_close(&pub);
	if (udp_fd >= 0)
		close(udp_fd);
	if (sse_fd >= 0)
		close(sse_fd);
	if (stream_fd >= 0)
		close(stream_fd);
	udp_fd = sse_fd = stream_fd = -1;
	if (ws_b_open)
		ws_raw_close(&ws_b);
	if (ws_a_open)
		ws_raw_close(&ws_a);
	ws_a_open = ws_b_open = false;
	rc_cleanup();
	nats_stop(&ns, SIGTERM);
}

/* Message k: printable text (SSE carries it as is), "m<k>:" then letters,
 * 1 to about 1,300 bytes. */
static size_t message(uint64_t k, char *buf)
{
	size_t size = 8 + (k * 37) % 1300;
	int n = snprintf(buf, size + 1, "m%llu:", (unsigned long long)k);

	for (size_t i = (size_t)n; i < size; i++)
		buf[i] = (char)('a' + (k + i) % 26);
	buf[size] = '\0';
	return size;
}

static void start_node_cache(struct rc_server *srv, const char *udp, const char *cache)
{
	char url[64];

	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ns.port);
	if (udp)
		RC_START(srv, "--listen", "127.0.0.1:0", "--udp", udp, "--nats", url,
			 "--channel-grace", "300", "--cache", cache);
	else
		RC_START(srv, "--listen", "127.0.0.1:0", "--nats", url, "--channel-grace", "300",
			 "--cache", cache);
	{
		long long last = -1;

		rc_assert(rc_wait_metric(srv, "ringcast_nats_connected", rc_workers(),
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
			  "every worker should connect to NATS (%lld)", last);
	}
}

/* Without a cache: "none:last=1" names a channel nobody uses. */
static void start_node(struct rc_server *srv, const char *udp)
{
	start_node_cache(srv, udp, "none:last=1");
}

static void open_ws(struct ws_raw *ws, bool *open, struct rc_server *srv, const char *path)
{
	char err[256];

	rc_assert(ws_raw_open(ws, &srv->http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws open %s: %s", path, err);
	*open = true;
}

static int http_sub(struct rc_server *srv, const char *path)
{
	char req[128];
	int fd = rc_tcp_connect(&srv->http, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "connect");
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "request");
	return fd;
}

/* The next data message on ws into buf (NUL-terminated); its length. */
static long ws_next(struct ws_raw *ws, char *buf, size_t cap, int timeout_ms)
{
	struct ws_frame f;

	for (;;) {
		int r = ws_raw_recv(ws, &f, (unsigned char *)buf, cap - 1, timeout_ms);

		if (r != 1)
			return -1;
		if (f.opcode == 1 || f.opcode == 2) {
			buf[f.len] = '\0';
			return (long)f.len;
		}
	}
}

/* Reads fd until buf holds `want` bytes after the HTTP head (or the
 * deadline); returns the body's offset in buf, -1 without a head. */
static long read_body(int fd, char *buf, size_t cap, size_t *have, size_t want)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	char *body;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		buf[*have] = '\0';
		body = strstr(buf, "\r\n\r\n");
		if (body && *have - (size_t)(body + 4 - buf) >= want)
			break;
		if (rc_now_ms() >= end || *have >= cap - 1)
			break;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + *have, cap - 1 - *have);
		if (n <= 0)
			break;
		*have += (size_t)n;
	}
	return body ? (long)(body + 4 - buf) : -1;
}

/* Reads fd into buf until it holds text (or the deadline). */
static bool read_until(int fd, char *buf, size_t cap, size_t *have, const char *text)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;

	buf[*have] = '\0';
	while (!strstr(buf, text) && rc_now_ms() < end && *have < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + *have, cap - 1 - *have);
		if (n <= 0)
			break;
		*have += (size_t)n;
		buf[*have] = '\0';
	}
	return strstr(buf, text) != NULL;
}

static long long metric(struct rc_server *srv, const char *name)
{
	return rc_metric(srv, name);
}

/* Waits until B's workers subscribed to what its subscribers want and the
 * server has every one of those SUBs in place. */
static void wait_subscribed(void)
{
	long long k = -1, n;

	rc_assert(rc_wait_metric_ge(&b, "ringcast_nats_subscriptions", 1, RC_WAIT_TIMEOUT_MS, NULL,
				    NULL, &k), "B should subscribe (%lld)", k);
	rc_sleep_ms(100);	/* the other workers' subscribers too */
	/* A's, when it has subscribers of its own, count on the server too. */
	k = metric(&b, "ringcast_nats_subscriptions") +
	    (a.pid > 0 ? metric(&a, "ringcast_nats_subscriptions") : 0);
	n = nats_wait_subs(&ns, k, 1);
	rc_assert(n >= k, "nats-server should hold the nodes' %lld subscriptions, has %lld", k, n);
}

Test(cluster, a_to_b_every_message_in_order_to_ws_sse_and_stream_once, .fini = fini)
{
	static char sse[4 << 20], raw[2 << 20], want_stream[2 << 20];
	char buf[2048], want[2048], id_a[17] = "", *p;
	size_t sse_have = 0, raw_have = 0, stream_len = 0;
	long off;
	static char body[65536];
	struct http_resp r;

	nats_require();
	nats_start(&ns);
	start_node(&a, "127.0.0.1:0=live");
	start_node(&b, NULL);
	udp_fd = rc_udp_socket(rc_udp_for(&a, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	open_ws(&ws_b, &ws_b_open, &b, "/ws/live");
	open_ws(&ws_a, &ws_a_open, &a, "/ws/live");
	sse_fd = http_sub(&b, "/sse/live");
	stream_fd = http_sub(&b, "/stream/live");
	rc_assert(rc_wait_metric(&b, "ringcast_subscribers{channel=\"live\"}", 3,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "3 subscribers on B");
	wait_subscribed();

	for (uint64_t k = 1; k <= N_MSGS; k++) {
		size_t n = message(k, buf);

		rc_assert(send(udp_fd, buf, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
		memcpy(want_stream + stream_len, buf, n);
		stream_len += n;
		if (k % 50 == 0)
			rc_sleep_ms(5);	/* under the kernel's UDP buffer */
	}
	/* WebSocket on B and on A: each message once, in order. */
	for (int side = 0; side < 2; side++) {
		struct ws_raw *ws = side ? &ws_a : &ws_b;

		for (uint64_t k = 1; k <= N_MSGS; k++) {
			size_t n = message(k, want);
			long got = ws_next(ws, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);

			rc_assert(got == (long)n && memcmp(buf, want, n) == 0,
				  "%s: message %llu should come next (%ld bytes: %.20s)",
				  side ? "A" : "B", (unsigned long long)k, got, got > 0 ? buf : "");
		}
		rc_assert(ws_next(ws, buf, sizeof(buf), 300) < 0, "%s: nothing more (no duplicate)",
			  side ? "A" : "B");
	}
	/* /stream on B: the payloads back to back. */
	off = read_body(stream_fd, raw, sizeof(raw), &raw_have, stream_len);
	rc_assert(off >= 0 && raw_have - (size_t)off == stream_len &&
			  memcmp(raw + off, want_stream, stream_len) == 0,
		  "/stream on B: %zu bytes, want the %zu published", off >= 0 ? raw_have - off : 0,
		  stream_len);
	/* SSE on B: one event per message, data as published. */
	/* SSE on B: one event per message, data as published, its id A's
	 * position (epoch:number), the same on every node. */
	snprintf(want, sizeof(want), "data: m%d:", N_MSGS);
	rc_assert(read_until(sse_fd, sse, sizeof(sse), &sse_have, want), "SSE on B: the last event");
	p = strstr(sse, "\r\n\r\n");
	for (uint64_t k = 1; k <= N_MSGS; k++) {
		size_t n = message(k, want);
		char *id = strstr(p, "id: "), *colon;

		rc_assert(id && (colon = strchr(id, ':' )) && (colon = strchr(colon + 1, ':')) &&
				  strtoull(colon + 1, NULL, 10) == k,
			  "SSE on B: event %llu's id is A's number", (unsigned long long)k);
		p = strstr(id, "data: ");
		rc_assert(p && strncmp(p + 6, want, n) == 0 && p[6 + n] == '\n',
			  "SSE on B: message %llu in order", (unsigned long long)k);
		p += 6 + n;
	}

	rc_assert(metric(&b, "ringcast_nats_gaps_total") == 0, "no gap");
	rc_assert(metric(&b, "ringcast_nats_duplicates_total") == 0, "no duplicate");
	rc_assert(metric(&b, "ringcast_nats_msgs_in_total") >= N_MSGS, "B counts what came in");
	rc_assert(metric(&b, "ringcast_nats_latency_seconds_count") ==
			  metric(&b, "ringcast_nats_msgs_in_total"),
		  "every message from A has a latency");
	rc_assert(metric(&a, "ringcast_nats_msgs_in_total") == 0,
		  "A takes nothing from NATS: its messages are its own");
	rc_assert(metric(&a, "ringcast_nats_msgs_out_total") == N_MSGS, "A published each once");
	/* /channels: B names A as the channel's origin. */
	rc_assert(http_get(&a.http, "/channels", &r) == 0, "A /channels");
	p = strstr(r.body, "\"node\": \"");
	rc_assert(p, "A's /channels names its node: %.200s", r.body);
	memcpy(id_a, p + 9, 16);
	http_resp_free(&r);
	rc_assert(http_get(&b.http, "/channels", &r) == 0, "B /channels");
	snprintf(body, sizeof(body), "{\"node\": \"%s\", \"messages\": %d, \"missing\": 0, "
		 "\"duplicates\": 0}", id_a, N_MSGS * (int)metric(&b, "ringcast_nats_subscriptions"));
	rc_assert(strstr(r.body, body), "B's /channels lists A as live's origin: want %s in %.600s",
		  body, r.body);
	http_resp_free(&r);
	close_clients();
	RC_STOP_OK(&a);
	RC_STOP_OK(&b);
}

/* An Rc header block (envelope.h) of origin 0x0123456789abcdef. */
static const char *rc_hdr(char *buf, size_t cap, const char *value)
{
	snprintf(buf, cap, "NATS/1.0\r\nRc: %s\r\n\r\n", value);
	return buf;
}

static void expect_ws(struct ws_raw *ws, const char *text)
{
	char buf[256];
	long n = ws_next(ws, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);

	rc_assert(n == (long)strlen(text) && strcmp(buf, text) == 0,
		  "the subscriber should get '%s' next, got '%s'", text, n >= 0 ? buf : "(nothing)");
}

#define ORIGIN "0123456789abcdef 00000000000000e1"

Test(cluster, a_second_client_publishes_and_gaps_repeats_and_bad_envelopes_are_counted,
     .fini = fini)
{
	char h[256];
	long long k;

	nats_require();
	nats_start(&ns);
	start_node(&b, NULL);
	open_ws(&ws_b, &ws_b_open, &b, "/ws/game");
	stream_fd = http_sub(&b, "/stream/game");
	rc_assert(rc_wait_metric(&b, "ringcast_subscribers{channel=\"game\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "2 subscribers on B");
	wait_subscribed();
	nats_raw_open(&pub, ns.port, NULL);
	/* Without an envelope (the nats CLI, any client): delivered. */
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", NULL, "plain", 5) == 0, "PUB");
	expect_ws(&ws_b, "plain");
	/* 1, 2, then 5: one gap of two; 4 late; 5 again a repeat. */
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 " ORIGIN " 1 0"),
			       "one", 3) == 0, "HPUB");
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 " ORIGIN " 2 0"),
			       "two", 3) == 0, "HPUB");
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 " ORIGIN " 5 0"),
			       "five", 4) == 0, "HPUB");
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 " ORIGIN " 4 0"),
			       "four", 4) == 0, "HPUB");
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 " ORIGIN " 5 0"),
			       "again", 5) == 0, "HPUB");
	/* Malformed: dropped and counted; another version: delivered. */
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "1 nothex 1 2 3"),
			       "bad", 3) == 0, "HPUB");
	rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", rc_hdr(h, sizeof(h), "2 whatever"),
			       "v2", 2) == 0, "HPUB");
	rc_assert(nats_raw_flush(&pub, RC_WAIT_TIMEOUT_MS) == 0, "flush");
	expect_ws(&ws_b, "one");
	expect_ws(&ws_b, "two");
	expect_ws(&ws_b, "five");
	expect_ws(&ws_b, "four");
	expect_ws(&ws_b, "v2");
	/* Each of B's workers with a subscriber of game (one or two: the
	 * WebSocket and the stream may sit on different ones) counts what it
	 * took. */
	k = metric(&b, "ringcast_nats_subscriptions");
	rc_assert(k >= 1 && k <= 2, "one or two subscribed workers (%lld)", k);
	rc_assert(rc_wait_metric(&b, "ringcast_nats_bad_envelope_total", k, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, NULL), "the malformed envelope is counted");
	rc_assert(metric(&b, "ringcast_nats_gaps_total") == k, "one gap");
	rc_assert(metric(&b, "ringcast_nats_missing_total") == 2 * k, "of two numbers");
	rc_assert(metric(&b, "ringcast_nats_late_total") == k, "one of them late");
	rc_assert(metric(&b, "ringcast_nats_duplicates_total") == k, "one repeat dropped");
	rc_assert(metric(&b, "ringcast_nats_msgs_in_total") == 6 * k, "six delivered");
	rc_assert(metric(&b, "ringcast_nats_multi_origin_total") == k,
		  "two origins at once (the plain publisher and 0123...)");
	/* Long messages: the link's read buffer grows for them (16 KiB kept),
	 * up to the server's max_payload (1 MiB by default); the /stream
	 * subscriber has every payload back to back. */
	{
		static char big[1 << 20], want[4 << 20], raw[4 << 20];
		static const size_t sizes[] = { 100000, (1 << 20) - 64, 20 };
		size_t wlen = 0, have = 0;
		long off;

		wlen += (size_t)sprintf(want, "plainonetwofivefourv2");
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)('a' + i % 23);
		for (size_t i = 0; i < 3; i++) {
			big[0] = (char)('0' + i);
			rc_assert(nats_raw_pub(&pub, "ringcast.ch.game", NULL, big, sizes[i]) == 0,
				  "PUB %zu bytes", sizes[i]);
			memcpy(want + wlen, big, sizes[i]);
			wlen += sizes[i];
		}
		off = read_body(stream_fd, raw, sizeof(raw), &have, wlen);
		rc_assert(off >= 0 && have - (size_t)off == wlen &&
				  memcmp(raw + off, want, wlen) == 0,
			  "/stream on B: every payload whole, the long ones too (%zu of %zu bytes)",
			  off >= 0 ? have - (size_t)off : 0, wlen);
		rc_assert(rc_metric(&b, "ringcast_nats_errors_total") == 0, "no protocol error");
	}
	close_clients();
	RC_STOP_OK(&b);
}

Test(cluster, b_subscribes_only_while_it_has_subscribers, .fini = fini)
{
	long long n, last = -1;

	nats_require();
	nats_start(&ns);
	start_node(&b, NULL);
	rc_assert(nats_wait_subs(&ns, 0, 0) == 0, "nothing subscribed without subscribers");
	open_ws(&ws_b, &ws_b_open, &b, "/ws/room");
	wait_subscribed();
	ws_raw_close(&ws_b);
	ws_b_open = false;
	/* --channel-grace 300: gone after it. */
	rc_assert(rc_wait_metric(&b, "ringcast_nats_subscriptions", 0, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &last), "B unsubscribes after the grace (%lld)", last);
	n = nats_wait_subs(&ns, 0, 0);
	rc_assert(n == 0, "the server holds no subscription of B's (%lld)", n);
	/* Back again, then B stops: its connections and their SUBs go. */
	open_ws(&ws_b, &ws_b_open, &b, "/ws/room");
	wait_subscribed();
	ws_raw_close(&ws_b);
	ws_b_open = false;
	RC_STOP_OK(&b);
	n = nats_wait_subs(&ns, 0, 0);
	rc_assert(n == 0, "nothing left subscribed after B stopped (%lld)", n);
}

/* The number k of message "m<k>:...", or 0. */
static uint64_t number_of(const char *buf)
{
	return buf[0] == 'm' ? strtoull(buf + 1, NULL, 10) : 0;
}

Test(cluster, a_late_joiner_on_b_gets_a_cache_then_live_without_gap_or_repeat, .fini = fini)
{
	char buf[2048];
	uint64_t first, want;
	long n;

	nats_require();
	nats_start(&ns);
	start_node_cache(&a, "127.0.0.1:0=live", "live:last=5");
	start_node_cache(&b, NULL, "live:last=5");
	udp_fd = rc_udp_socket(rc_udp_for(&a, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	for (uint64_t k = 1; k <= 8; k++) {
		size_t len = message(k, buf);

		rc_assert(send(udp_fd, buf, len, 0) == (ssize_t)len, "send");
	}
	/* A answers cache requests for live once it published with a cache. */
	rc_assert(nats_wait_subs(&ns, 1, 1) >= 1, "A subscribes to live's cache requests");
	/* B's first subscriber: B asks A for the cache while A goes on. */
	open_ws(&ws_b, &ws_b_open, &b, "/ws/live");
	for (uint64_t k = 9; k <= 60; k++) {
		size_t len = message(k, buf);

		rc_assert(send(udp_fd, buf, len, 0) == (ssize_t)len, "send");
		rc_sleep_ms(2);
	}
	n = ws_next(&ws_b, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
	rc_assert(n > 0, "B's joiner gets messages");
	first = number_of(buf);
	rc_assert(first >= 4 && first <= 8,
		  "it starts with A's cache (the last 5 of 1-8 when it joined), not at %llu",
		  (unsigned long long)first);
	for (want = first + 1; want <= 60; want++) {
		n = ws_next(&ws_b, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
		rc_assert(n > 0 && number_of(buf) == want,
			  "then every message once, in order: want %llu, got %llu",
			  (unsigned long long)want, n > 0 ? (unsigned long long)number_of(buf) : 0ull);
	}
	rc_assert(ws_next(&ws_b, buf, sizeof(buf), 300) < 0, "nothing more");
	/* Positions are A's on B too: a client that had 55 from A resumes on
	 * B and gets exactly 56-60 from B's cache. A's epoch first, from the
	 * answer to a resume A cannot recover (epoch 1). */
	{
		char path[128], epoch[17], *e;

		open_ws(&ws_a, &ws_a_open, &a, "/ws/live?since=1&epoch=0000000000000001");
		n = ws_next(&ws_a, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
		e = n > 0 ? strstr(buf, "\"epoch\":\"") : NULL;
		rc_assert(e && strstr(buf, "\"recovered\":false"), "A's answer: %s", n > 0 ? buf : "");
		memcpy(epoch, e + 9, 16);
		epoch[16] = '\0';
		ws_raw_close(&ws_b);
		snprintf(path, sizeof(path), "/ws/live?since=55&epoch=%s", epoch);
		open_ws(&ws_b, &ws_b_open, &b, path);
		n = ws_next(&ws_b, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
		/* With several workers the new socket may land on one that
		 * had no subscriber of live: it has no cache yet to vouch for
		 * 56-60 with, and asks A for it instead; the client gets the
		 * same five either way. */
		rc_assert(n > 0 && (rc_workers() > 1 || (strstr(buf, "\"recovered\":true") &&
							 strstr(buf, epoch))),
			  "B recovers A's position 55: %s", n > 0 ? buf : "");
		for (want = 56; want <= 60; want++) {
			n = ws_next(&ws_b, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
			rc_assert(n > 0 && number_of(buf) == want, "resumed on B: want %llu",
				  (unsigned long long)want);
		}
		rc_assert(ws_next(&ws_b, buf, sizeof(buf), 300) < 0, "nothing more after the resume");
	}
	/* Once, or once more for the resume on another worker. */
	n = metric(&b, "ringcast_nats_cache_requests_total");
	rc_assert(n == 1 || (rc_workers() > 1 && n == 2), "B asked once per worker (%ld)", n);
	rc_assert(metric(&b, "ringcast_nats_cache_msgs_in_total") == 5 * n, "and got 5 each time");
	rc_assert(metric(&a, "ringcast_nats_cache_answered_total") == n, "A answered each");
	rc_assert(metric(&b, "ringcast_nats_cache_timeouts_total") == 0, "in time");
	rc_assert(metric(&b, "ringcast_nats_gaps_total") == 0, "no gap");
	rc_assert(metric(&b, "ringcast_nats_duplicates_total") == 0, "no repeat counted");
	close_clients();
	RC_STOP_OK(&a);
	RC_STOP_OK(&b);
}

/* MPEG-TS across nodes: a viewer joining on B, while nothing of the
 * channel was ever on B, starts like one on A: PAT, PMT, then the GOP
 * from its keyframe (MPEG-1 video: a sequence header opens each GOP). */
Test(cluster, a_video_joiner_on_b_starts_at_pat_pmt_and_a_keyframe, .fini = fini, .timeout = 120)
{
	static unsigned char buf[1 << 20];
	char target[128];
	char *pub[] = { "/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
			"-i", "testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "mpeg1video",
			"-b:v", "400k", "-bf", "0", "-g", "10", "-f", "mpegts", target, NULL };
	const unsigned char *ts = NULL, *first_video = NULL;
	size_t have = 0;
	int64_t end;
	int status;
	pid_t pid;
	long off;

	nats_require();
	if (access(pub[0], X_OK) != 0)
		cr_skip_test("no ffmpeg");
	nats_start(&ns);
	start_node_cache(&a, "127.0.0.1:0=tv", "tv:ts");
	start_node_cache(&b, NULL, "tv:ts");
	snprintf(target, sizeof(target), "udp://127.0.0.1:%d?pkt_size=1316", a.udp[0].port);
	pid = fork();
	rc_assert(pid >= 0, "fork");
	if (pid == 0) {
		execv(pub[0], pub);
		_exit(127);
	}
	end = rc_now_ms() + 30000;
	while (waitpid(pid, &status, WNOHANG) == 0 && rc_now_ms() < end)
		rc_sleep_ms(50);
	if (rc_now_ms() >= end) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	rc_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ffmpeg should publish, exit 0");
	rc_assert(nats_wait_subs(&ns, 1, 1) >= 1, "A answers tv's cache requests");
	/* Nobody watched anywhere; a viewer joins on B and gets A's cache. */
	stream_fd = http_sub(&b, "/stream/tv");
	off = read_body(stream_fd, (char *)buf, sizeof(buf), &have, 3 * 188);
	rc_assert(off >= 0 && have - (size_t)off >= 3 * 188, "B's viewer gets the cache");
	/* The rest of the GOP: until 300 ms pass without a byte. */
	for (;;) {
		struct pollfd p = { .fd = stream_fd, .events = POLLIN };
		ssize_t n;

		if (have >= sizeof(buf) || poll(&p, 1, 300) <= 0)
			break;
		n = read(stream_fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	ts = buf + off;
	have -= (size_t)off;
	rc_assert(have % 188 == 0, "whole packets: %zu bytes", have);
	rc_assert(ts[0] == 0x47 && (ts[1] & 0x1f) == 0 && ts[2] == 0 && (ts[1] & 0x40),
		  "the first packet is the PAT");
	rc_assert(ts[188] == 0x47 && ts[188 + 5] == 0x02, "the second the PMT");
	for (size_t o = 2 * 188; o + 188 <= have && !first_video; o += 188) {
		const unsigned char *p = ts + o;
		size_t pl = (p[3] & 0x20) ? 5u + p[4] : 4;

		if ((p[1] & 0x40) && pl + 9 <= 188 && !p[pl] && !p[pl + 1] && p[pl + 2] == 1 &&
		    (p[pl + 3] & 0xf0) == 0xe0)
			first_video = p + pl + 9 + p[pl + 8];
	}
	rc_assert(first_video && first_video + 4 <= ts + have && !first_video[0] &&
			  !first_video[1] && first_video[2] == 1 && first_video[3] == 0xb3,
		  "the first video PES opens a GOP (sequence header)");
	rc_assert(metric(&b, "ringcast_nats_cache_msgs_in_total") >= 2, "PSI and the GOP came");
	close_clients();
	RC_STOP_OK(&a);
	RC_STOP_OK(&b);
}

/* Runs the libnats client (libnats_client.c) with argv; its stdout into
 * *out_fd (when not NULL). Returns its PID. */
static pid_t libnats(char *const argv[], int *out_fd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (out_fd)
		rc_assert(pipe(p) == 0, "pipe");
	pid = fork();
	rc_assert(pid >= 0, "fork");
	if (pid == 0) {
		if (out_fd) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (out_fd) {
		close(p[1]);
		*out_fd = p[0];
	}
	return pid;
}

static int wait_pid(pid_t pid, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (rc_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		rc_sleep_ms(10);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The NATS C client, an independent implementation, reads ringcast's
 * messages (payload as published, the Rc header as NATS headers) and
 * publishes into a channel ringcast serves, with and without an
 * envelope. */
Test(cluster, libnats_reads_what_ringcast_publishes_and_publishes_to_its_subscribers, .fini = fini)
{
	const char *bin = getenv("RINGCAST_LIBNATS_CLIENT");
	char url[64], buf[4096], want[2048], origin[17];
	char *sub_argv[] = { (char *)bin, "sub", url, "ringcast.ch.live", "3", "5000", NULL };
	size_t have = 0;
	int out = -1;
	pid_t pid;
	long n;
	char *line;

	nats_require();
	if (!bin || access(bin, X_OK) != 0)
		cr_skip_test("no libnats client (Debian package libnats-dev)");
	nats_start(&ns);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ns.port);
	start_node(&a, "127.0.0.1:0=live");
	start_node(&b, NULL);
	udp_fd = rc_udp_socket(rc_udp_for(&a, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	pid = libnats(sub_argv, &out);
	rc_assert(read_until(out, buf, sizeof(buf), &have, "ready\n"), "libnats subscribes");
	for (uint64_t k = 1; k <= 3; k++) {
		size_t len = message(k, want);

		rc_assert(send(udp_fd, want, len, 0) == (ssize_t)len, "send");
	}
	rc_assert(read_until(out, buf, sizeof(buf), &have, "m3:"), "libnats gets 3 messages: %s", buf);
	rc_assert(wait_pid(pid, 5000) == 0, "libnats sub exits 0");
	close(out);
	line = strchr(buf, '\n') + 1;
	for (uint64_t k = 1; k <= 3; k++) {
		size_t len = message(k, want);
		unsigned long got_len = 0, seq = 0;
		char o[17] = "";

		rc_assert(sscanf(line, "%lu 1 %16s %*16s %lu ", &got_len, o, &seq) == 3 &&
				  got_len == len && seq == k,
			  "libnats reads message %llu with its Rc header: %.120s",
			  (unsigned long long)k, line);
		/* The payload follows the length and the header's five fields. */
		{
			const char *pl = line;

			for (int f = 0; f < 6 && pl; f++)
				pl = strchr(pl, ' ') ? strchr(pl, ' ') + 1 : NULL;
			rc_assert(pl && strncmp(pl, want, len) == 0, "and its payload as published");
		}
		if (k == 1)
			memcpy(origin, o, sizeof(origin));
		rc_assert(!strcmp(o, origin), "one origin");
		line = strchr(line, '\n') + 1;
	}
	/* The other way: libnats publishes into game, which B serves. */
	open_ws(&ws_b, &ws_b_open, &b, "/ws/game");
	wait_subscribed();
	{
		char *p1[] = { (char *)bin, "pub", url, "ringcast.ch.game", "from libnats", NULL };
		char *p2[] = { (char *)bin, "pub", url, "ringcast.ch.game", "numbered",
			       "1 0123456789abcdef 0000000000000009 7 0", NULL };

		rc_assert(wait_pid(libnats(p1, NULL), 5000) == 0, "libnats pub");
		expect_ws(&ws_b, "from libnats");
		rc_assert(wait_pid(libnats(p2, NULL), 5000) == 0, "libnats pub with an Rc header");
		expect_ws(&ws_b, "numbered");
	}
	rc_assert(metric(&b, "ringcast_nats_bad_envelope_total") == 0, "libnats's headers read");
	{
		struct http_resp r;

		rc_assert(http_get(&b.http, "/channels", &r) == 0, "B /channels");
		rc_assert(strstr(r.body, "\"node\": \"0123456789abcdef\", \"messages\": "),
			  "B lists libnats's envelope's origin: %.400s", r.body);
		http_resp_free(&r);
	}
	n = metric(&b, "ringcast_nats_msgs_in_total");
	rc_assert(n >= 2, "B counts both (%ld)", n);
	close_clients();
	RC_STOP_OK(&a);
	RC_STOP_OK(&b);
}
