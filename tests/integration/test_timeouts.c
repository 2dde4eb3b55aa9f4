/* Slowloris and idle clients: a request head dripped a byte at a time is cut
 * off at --handshake-timeout counted from its first byte (never extended by
 * each byte), a kept-alive HTTP connection and a WebSocket subscribed to no
 * channel are closed after --idle-timeout, a subscriber that stops answering
 * pings after two --ping-interval; meanwhile a normal subscriber receives
 * every message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define HANDSHAKE_MS 1500
#define IDLE_MS 1000
#define PING_MS 500
#define N_LORIS 6	/* dripping a head from the first byte */
#define DRIP_MS 100	/* one byte per DRIP_MS: a per-byte deadline would never fire */
#define BURST 20

static struct rc_server srv;
static struct sub_pool *pool;
static int loris[N_LORIS + 2] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static struct ws_raw nochan = { .fd = -1 }, silent = { .fd = -1 };

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (size_t i = 0; i < sizeof(loris) / sizeof(loris[0]); i++) {
		if (loris[i] >= 0)
			close(loris[i]);
		loris[i] = -1;
	}
	ws_raw_close(&nochan);
	ws_raw_close(&silent);
	rc_cleanup();
}

/* 1 when the peer closed fd (EOF or reset), 0 when it is still open; reads
 * and discards whatever else arrived (an answer to a complete request). */
static int peer_closed(int fd)
{
	char buf[4096];

	for (int k = 0; k < 64; k++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) <= 0)
			return 0;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

/* Reads frames from a raw WebSocket without blocking long: answers pings
 * when pong is set, records a close code; returns 1 once the connection
 * ended. */
static int ws_poll(struct ws_raw *ws, int pong, int *close_code)
{
	unsigned char buf[256];

	for (int k = 0; k < 16; k++) {
		struct ws_frame f;
		int rc = ws_raw_recv(ws, &f, buf, sizeof(buf), 0);

		if (rc == -2)
			return 0;
		if (rc != 1)
			return 1;
		if (f.opcode == 9 && pong)
			ws_raw_send(ws, 10, buf, f.len);
		if (f.opcode == 8) {
			*close_code = f.len >= 2 ? (buf[0] << 8) | buf[1] : 1005;
			ws_raw_send(ws, 8, buf, f.len >= 2 ? 2 : 0);
		}
	}
	return 0;
}

Test(timeouts, slowloris_and_idle_clients_are_cut_others_unaffected, .fini = fini)
{
	/* long enough that dripping it takes far longer than the timeout */
	static char head[512];
	static const char keepalive_req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
	int64_t closed_at[N_LORIS + 2], t0, deadline;
	size_t head_len, pos[N_LORIS + 2] = { 0 };
	int nochan_code = -1, silent_code = -1, nochan_end = 0, silent_end = 0, udp, open_loris;
	unsigned round = 0;
	uint64_t sent = 0;
	char err[256], d[512];
	long long v;

	head_len = (size_t)snprintf(head, sizeof(head),
				    "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: %0200d\r\n\r\n", 0);
	{
		char hs[16], idle[16], ping[16];

		snprintf(hs, sizeof(hs), "%d", HANDSHAKE_MS);
		snprintf(idle, sizeof(idle), "%d", IDLE_MS);
		snprintf(ping, sizeof(ping), "%d", PING_MS);
		RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
			 "--handshake-timeout", hs, "--idle-timeout", idle, "--ping-interval", ping);
	}
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	sub_connect(pool, 0, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1, "subscriber: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));

	/* loris[0..N_LORIS): drip a head from the first byte; loris[0] at
	 * exactly one byte per second, the others a byte per DRIP_MS.
	 * loris[N_LORIS]: one complete keep-alive request, then idles.
	 * loris[N_LORIS+1]: one complete request, then drips a second. */
	for (int i = 0; i < N_LORIS + 2; i++) {
		loris[i] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		rc_assert(loris[i] >= 0, "connect %d", i);
		closed_at[i] = -1;
	}
	for (int i = N_LORIS; i < N_LORIS + 2; i++) {
		struct pollfd p = { .fd = loris[i], .events = POLLIN };
		char buf[1024];

		rc_assert(rc_write_all(loris[i], keepalive_req, sizeof(keepalive_req) - 1,
				       RC_WAIT_TIMEOUT_MS) == 0, "request");
		rc_assert(poll(&p, 1, RC_WAIT_TIMEOUT_MS) == 1 && read(loris[i], buf, sizeof(buf)) > 12 &&
			  !strncmp(buf, "HTTP/1.1 200", 12), "keep-alive answer %d", i);
	}
	rc_assert(ws_raw_open(&nochan, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "channel-less WebSocket: %s", err);
	rc_assert(ws_raw_open(&silent, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "silent subscriber: %s", err);
	udp = rc_udp_socket(&srv.udp[0]);
	rc_assert(udp >= 0, "udp socket");

	/* Drip, publish, service, until every slow or idle client is gone. */
	t0 = rc_now_ms();
	deadline = t0 + 4 * HANDSHAKE_MS + RC_WAIT_TIMEOUT_MS;
	do {
		open_loris = 0;
		for (int i = 0; i < N_LORIS + 2; i++) {
			if (closed_at[i] >= 0)
				continue;
			if (peer_closed(loris[i])) {
				closed_at[i] = rc_now_ms() - t0;
				continue;
			}
			open_loris++;
			/* the idle one sends nothing; the others a byte each,
			 * loris[0] only every second */
			if (i == 0 && round % (1000 / DRIP_MS) != 0)
				continue;
			if (i != N_LORIS && pos[i] < head_len &&
			    send(loris[i], head + pos[i], 1, MSG_NOSIGNAL) == 1)
				pos[i]++;
		}
		for (int k = 0; k < BURST; k++, sent++)
			rc_assert(rc_udp_send_seq(udp, 0, sent, payload_size(sent)) == 0, "udp send");
		if (!nochan_end)
			nochan_end = ws_poll(&nochan, 1, &nochan_code);
		/* reads, so its socket stays writable, but never answers */
		if (!silent_end)
			silent_end = ws_poll(&silent, 0, &silent_code);
		sub_pool_service_for(pool, DRIP_MS);
		round++;
	} while ((open_loris || !nochan_end || !silent_end) && rc_now_ms() < deadline);

	for (int i = 0; i < N_LORIS + 2; i++) {
		cr_log_info("client %d closed after %lld ms, %zu of %zu bytes dripped", i,
			    (long long)closed_at[i], pos[i], head_len);
		rc_assert(closed_at[i] >= 0, "client %d still open after %lld ms", i,
			  (long long)(rc_now_ms() - t0));
		if (i != N_LORIS)
			rc_assert(pos[i] < head_len,
				  "client %d dripped its whole head before being cut off", i);
	}
	rc_assert(nochan_end && nochan_code == 1000,
		  "a WebSocket on no channel should be closed with 1000 (ended %d, code %d)",
		  nochan_end, nochan_code);
	rc_assert(silent_end, "a subscriber that never answers pings should be closed");

	/* the normal subscriber got every message, in order, all along */
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(pool->subs[0].state == SUB_OPEN && pool->subs[0].count == sent &&
			  pool->subs[0].mismatches == 0,
		  "normal subscriber should have all %llu messages: %s", (unsigned long long)sent,
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	v = rc_metric(&srv, "ringcast_handshake_timeouts_total");
	rc_assert(v == N_LORIS + 1, "handshake timeouts %lld, want %d", v, N_LORIS + 1);
	v = rc_metric(&srv, "ringcast_idle_timeouts_total");
	rc_assert(v == 2, "idle timeouts (keep-alive + channel-less WebSocket) %lld, want 2", v);
	v = rc_metric(&srv, "ringcast_ping_timeouts_total");
	rc_assert(v == 1, "ping timeouts %lld, want 1", v);
	close(udp);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
