/* TCP publishers (--tcp): the opening line, framed and raw streams, and
 * delivery to WebSocket and HTTP stream subscribers; refusals and a
 * publisher that vanishes mid-message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_WS 20
#define N_MSGS 3000

static struct rc_server srv;
static struct sub_pool *pool;
static int fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	rc_cleanup();
}

/* Reads up to cap-1 bytes until a "\n" arrives, the peer closes, or the
 * deadline passes. Returns the bytes read (NUL-terminated). */
static size_t read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t have = 0;

	while (have + 1 < cap && !memchr(buf, '\n', have) && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	return have;
}

/* True when the peer closed fd (EOF or reset) within the deadline. */
static int wait_eof(int fd, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	char buf[512];

	while (rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 1;
	}
	return 0;
}

static int publisher(const char *line, char *answer, size_t cap)
{
	int fd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "connect to the TCP ingest port: %s", strerror(errno));
	rc_assert(rc_write_all(fd, line, strlen(line), RC_WAIT_TIMEOUT_MS) == 0, "write line");
	read_line(fd, answer, cap, RC_WAIT_TIMEOUT_MS);
	return fd;
}

/* Appends one framed message (4-byte big-endian length + payload). */
static size_t put_framed(unsigned char *out, unsigned chan, uint64_t seq, size_t size)
{
	out[0] = (unsigned char)(size >> 24);
	out[1] = (unsigned char)(size >> 16);
	out[2] = (unsigned char)(size >> 8);
	out[3] = (unsigned char)size;
	payload_fill(chan, seq, out + 4, size);
	return 4 + size;
}

/* An HTTP stream subscriber: returns the fd after the response head. */
static int stream_open(const char *channel)
{
	char req[256];
	char head[2048];
	size_t have = 0;
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "stream connect");
	snprintf(req, sizeof(req), "GET /stream/%s HTTP/1.1\r\nHost: t\r\n\r\n", channel);
	rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "stream request");
	/* Read the head byte by byte so no body byte is consumed here. */
	while (have + 1 < sizeof(head) && rc_now_ms() < end &&
	       !(have >= 4 && memcmp(head + have - 4, "\r\n\r\n", 4) == 0)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0 && read(fd, head + have, 1) == 1)
			have++;
	}
	head[have] = '\0';
	rc_assert(strncmp(head, "HTTP/1.1 200", 12) == 0, "stream answer: %s", head);
	return fd;
}

/* Reads exactly len bytes from fd into out, servicing the lws pool. */
static size_t stream_read(int fd, unsigned char *out, size_t len, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t have = 0;

	while (have < len && rc_now_ms() < end) {
		ssize_t n = read(fd, out + have, len - have);

		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		sub_pool_service_for(pool, 2);
	}
	return have;
}

Test(tcp_ingest, framed_to_websocket_and_stream_subscribers, .fini = fini)
{
	unsigned char *wire = malloc((size_t)N_MSGS * 1404 + 16);
	unsigned char *want = malloc((size_t)N_MSGS * 1400);
	unsigned char *got = malloc((size_t)N_MSGS * 1400 + 1);
	size_t wire_len = 0, want_len = 0, got_len;
	uint64_t sent = N_MSGS;
	char line[128], d[512];
	long long v;
	int sfd;

	rc_assert(wire && want && got, "malloc");
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	rc_assert(srv.tcp.port > 0, "the server should announce 'listen tcp'");
	pool = sub_pool_new(N_WS);
	rc_assert(pool, "lws context");
	for (int i = 0; i < N_WS; i++)
		sub_connect(pool, i, &srv.http, "game", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_WS, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	sfd = stream_open("game");
	fds[1] = sfd;
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", N_WS + 1,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers gauge should be %d, last %lld", N_WS + 1, v);

	fds[0] = publisher("PUB game framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "publisher answer: '%s'", line);
	/* Sizes 1..1400 cut across the 2048-byte receive buffers, so some
	 * messages go out in place and others straddle and are copied. */
	for (uint64_t seq = 0; seq < N_MSGS; seq++) {
		size_t size = payload_size(seq);

		wire_len += put_framed(wire + wire_len, 0, seq, size);
		payload_fill(0, seq, want + want_len, size);
		want_len += size;
	}
	/* In slices of odd sizes, so prefixes are split too. */
	for (size_t off = 0; off < wire_len;) {
		size_t n = wire_len - off < 7777 ? wire_len - off : 7777;

		rc_assert(rc_write_all(fds[0], wire + off, n, RC_WAIT_TIMEOUT_MS) == 0, "publish");
		off += n;
		sub_pool_service_for(pool, 1);
	}
	got_len = stream_read(sfd, got, want_len, RC_WAIT_TIMEOUT_MS);
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < N_WS; i++)
		rc_assert(pool->subs[i].next_seq == N_MSGS && pool->subs[i].count == N_MSGS &&
				  pool->subs[i].mismatches == 0,
			  "WebSocket subscriber should have all %d framed messages: %s", N_MSGS,
			  sub_describe(&pool->subs[i], d, sizeof(d)));
	rc_assert(got_len == want_len && memcmp(got, want, want_len) == 0,
		  "stream subscriber should get the payloads back to back: %zu of %zu bytes",
		  got_len, want_len);
	v = rc_metric(&srv, "ringcast_ingest_messages_total{channel=\"game\"}");
	rc_assert(v == N_MSGS, "ingest counter %lld, want %d", v, N_MSGS);

	/* The publisher leaves mid-message: that message is never delivered,
	 * subscribers stay, and a new publisher may take the channel. */
	put_framed(wire, 0, N_MSGS, 1000);
	rc_assert(rc_write_all(fds[0], wire, 500, RC_WAIT_TIMEOUT_MS) == 0, "half a message");
	close(fds[0]);
	fds[0] = -1;
	rc_assert(rc_wait_metric(&srv, "ringcast_publisher_partial_dropped_total", 1,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "the cut-off message should be counted, last %lld", v);
	fds[2] = publisher("PUB game framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "a new publisher after the first left: '%s'", line);
	wire_len = put_framed(wire, 0, N_MSGS, payload_size(N_MSGS));
	rc_assert(rc_write_all(fds[2], wire, wire_len, RC_WAIT_TIMEOUT_MS) == 0, "publish");
	sent = N_MSGS + 1;
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < N_WS; i++)
		rc_assert(pool->subs[i].next_seq == sent && pool->subs[i].mismatches == 0 &&
				  pool->subs[i].state == SUB_OPEN,
			  "subscribers stay connected across publishers: %s",
			  sub_describe(&pool->subs[i], d, sizeof(d)));
	free(wire);
	free(want);
	free(got);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(tcp_ingest, raw_stream_arrives_byte_identical, .fini = fini)
{
	enum { TOTAL = 300000 };
	unsigned char *data = malloc(TOTAL);
	unsigned char *got = malloc(TOTAL + 1);
	char line[128];
	size_t got_len;

	rc_assert(data && got, "malloc");
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	fds[1] = stream_open("ts");
	fds[0] = publisher("PUB ts raw\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "publisher answer: '%s'", line);
	payload_fill(3, 7, data, TOTAL);
	for (size_t off = 0; off < TOTAL; off += 5000)
		rc_assert(rc_write_all(fds[0], data + off, TOTAL - off < 5000 ? TOTAL - off : 5000,
				       RC_WAIT_TIMEOUT_MS) == 0,
			  "publish");
	got_len = stream_read(fds[1], got, TOTAL, RC_WAIT_TIMEOUT_MS);
	rc_assert(got_len == TOTAL && memcmp(got, data, TOTAL) == 0,
		  "raw bytes should arrive unchanged: %zu of %d", got_len, TOTAL);
	free(data);
	free(got);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(tcp_ingest, refusals_are_clear_and_counted, .fini = fini)
{
	static const unsigned char huge[4] = { 0x7f, 0xff, 0xff, 0xff };
	char line[128];
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--max-message", "65536", "--handshake-timeout", "500");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	fds[0] = publisher("PUB a framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "first publisher: '%s'", line);
	fds[1] = publisher("PUB a raw\n", line, sizeof(line));
	rc_assert(strcmp(line, "ERR busy\n") == 0, "second publisher on a channel: '%s'", line);
	rc_assert(wait_eof(fds[1], RC_WAIT_TIMEOUT_MS), "a refused publisher is disconnected");
	fds[2] = publisher("SUBSCRIBE a\n", line, sizeof(line));
	rc_assert(strcmp(line, "ERR expected PUB\n") == 0, "not a PUB line: '%s'", line);
	fds[3] = publisher("PUB bad/name\n", line, sizeof(line));
	rc_assert(strcmp(line, "ERR bad channel\n") == 0, "bad channel: '%s'", line);
	fds[4] = publisher("PUB b sideways\n", line, sizeof(line));
	rc_assert(strcmp(line, "ERR bad mode\n") == 0, "bad mode: '%s'", line);
	/* A framed publisher that announces more than --max-message. */
	rc_assert(rc_write_all(fds[0], huge, 4, RC_WAIT_TIMEOUT_MS) == 0, "huge length");
	read_line(fds[0], line, sizeof(line), RC_WAIT_TIMEOUT_MS);
	rc_assert(strcmp(line, "ERR message too large\n") == 0, "oversized framed message: '%s'",
		  line);
	rc_assert(wait_eof(fds[0], RC_WAIT_TIMEOUT_MS), "and it is disconnected");
	v = rc_metric(&srv, "ringcast_publisher_framing_errors_total");
	rc_assert(v == 1, "framing errors counted: %lld", v);
	/* A publisher that never sends its line is dropped after the
	 * handshake timeout, and a line that never ends is refused. */
	fds[5] = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fds[5] >= 0, "connect");
	rc_assert(wait_eof(fds[5], RC_WAIT_TIMEOUT_MS), "a silent publisher is disconnected");
	fds[6] = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
	{
		char longline[600];

		memset(longline, 'A', sizeof(longline));
		rc_assert(rc_write_all(fds[6], longline, sizeof(longline), RC_WAIT_TIMEOUT_MS) == 0,
			  "long line");
		read_line(fds[6], line, sizeof(line), RC_WAIT_TIMEOUT_MS);
		rc_assert(strcmp(line, "ERR line too long\n") == 0, "endless line: '%s'", line);
	}
	/* busy, expected PUB, bad channel, bad mode, too large, too long */
	v = rc_metric(&srv, "ringcast_publishers_refused_total");
	rc_assert(v == 6, "refusals counted: %lld", v);
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 0, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 &v),
		  "no publisher connection left behind, last %lld", v);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(tcp_ingest, multi_publisher_allows_several, .fini = fini)
{
	char line[128];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--multi-publisher");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	fds[0] = publisher("PUB a\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "first: '%s'", line);
	fds[1] = publisher("PUB a framed key=ignored\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "second with --multi-publisher: '%s'", line);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Raw TCP to an MPEG-TS channel: every message is whole 188-byte packets,
 * however the bytes were cut on the way, and none is lost. */
Test(tcp_ingest, raw_ts_channel_keeps_packet_alignment, .fini = fini)
{
	enum { PACKETS = 300, TOTAL = PACKETS * 188 };
	static unsigned char data[TOTAL], got[TOTAL], frame[70000];
	struct ws_raw ws = { .fd = -1 };
	char line[64], err[256];
	size_t have = 0;
	int frames = 0;
	long long v;

	payload_fill(4, 4, data, TOTAL);
	for (int i = 0; i < PACKETS; i++)
		data[i * 188] = 0x47;
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--content-type", "tv=video/mp2t");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/tv", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"tv\"}", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v),
		  "subscriber: %lld", v);
	fds[0] = publisher("PUB tv raw\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "publisher: '%s'", line);
	/* Odd slices with pauses, so receives end mid-packet. */
	for (size_t off = 0; off < TOTAL; off += 1001) {
		rc_assert(rc_write_all(fds[0], data + off, TOTAL - off < 1001 ? TOTAL - off : 1001,
				       RC_WAIT_TIMEOUT_MS) == 0,
			  "publish");
		if (off % 10010 == 0)
			rc_sleep_ms(2);
	}
	while (have < TOTAL) {
		struct ws_frame f;
		int r = ws_raw_recv(&ws, &f, frame, sizeof(frame), RC_WAIT_TIMEOUT_MS);

		rc_assert(r == 1 && f.opcode == 2, "frame %d: %d", frames, r);
		rc_assert(f.len % 188 == 0 && frame[0] == 0x47,
			  "frame %d of %zu bytes is not whole TS packets", frames, f.len);
		memcpy(got + have, frame, f.len);
		have += f.len;
		frames++;
	}
	ws_raw_close(&ws);
	rc_assert(have == TOTAL && !memcmp(got, data, TOTAL), "every byte, in order");
	cr_log_info("%d frames for %d packets", frames, PACKETS);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* A child process that connects to ep, writes buf and then waits to be
 * killed: a publisher that dies where the test decides. Returns its PID. */
static pid_t doomed_writer(const struct rc_endpoint *ep, const void *buf, size_t len)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = rc_tcp_connect(ep, 0, RC_WAIT_TIMEOUT_MS);

		if (fd < 0 || rc_write_all(fd, buf, len, RC_WAIT_TIMEOUT_MS) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	return pid;
}

static void kill_writer(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* A raw publisher process killed in the middle of its stream: what it sent
 * before dying is delivered (byte-identical, nothing invented), on an
 * MPEG-TS channel only whole packets are (the cut-off packet is counted,
 * never sent), subscribers stay, and the channel takes a new publisher. */
Test(tcp_ingest, raw_publisher_killed_mid_message, .fini = fini)
{
	enum { PLAIN = 50000, PACKETS = 100, CUT = 100 };
	/* the plain stream is the larger of the two */
	static unsigned char wire[PLAIN + 256], got[PLAIN + 1], frame[70000];
	struct ws_raw ws = { .fd = -1 };
	char line[64], err[256];
	size_t n, have = 0;
	long long v;
	pid_t pid;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--content-type", "tv=video/mp2t");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");

	/* 1. A plain channel: every byte that arrived goes out. */
	fds[1] = stream_open("plain");
	n = (size_t)sprintf((char *)wire, "PUB plain raw\n");
	payload_fill(6, 1, wire + n, PLAIN);
	pid = doomed_writer(&srv.tcp, wire, n + PLAIN);
	rc_assert(pid > 0, "fork: %s", strerror(errno));
	have = stream_read(fds[1], got, PLAIN, RC_WAIT_TIMEOUT_MS);
	kill_writer(pid);
	rc_assert(have == PLAIN && !memcmp(got, wire + n, PLAIN),
		  "stream subscriber should get the %d bytes sent before the kill, got %zu", PLAIN,
		  have);
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 0, RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "the dead publisher should be gone, publishers %lld", v);

	/* 2. An MPEG-TS channel: whole packets, then half of one. */
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/tv", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"tv\"}", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v), "subscriber %lld", v);
	n = (size_t)sprintf((char *)wire, "PUB tv raw\n");
	payload_fill(7, 1, wire + n, PACKETS * 188 + CUT);
	for (int i = 0; i <= PACKETS; i++)
		wire[n + (size_t)i * 188] = 0x47;
	pid = doomed_writer(&srv.tcp, wire, n + PACKETS * 188 + CUT);
	rc_assert(pid > 0, "fork: %s", strerror(errno));
	have = 0;
	while (have < PACKETS * 188) {
		struct ws_frame f;
		int r = ws_raw_recv(&ws, &f, frame, sizeof(frame), RC_WAIT_TIMEOUT_MS);

		if (r != 1)
			break;
		rc_assert(f.opcode == 2 && f.len % 188 == 0 && have + f.len <= PACKETS * 188 &&
				  !memcmp(frame, wire + n + have, f.len),
			  "frame of %zu bytes at %zu is not the next whole packets", f.len, have);
		have += f.len;
	}
	rc_assert(have == PACKETS * 188, "whole packets delivered: %zu of %d bytes", have,
		  PACKETS * 188);
	kill_writer(pid);
	rc_assert(rc_wait_metric(&srv, "ringcast_publisher_partial_dropped_total", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "the cut-off packet should be counted, last %lld", v);
	{
		struct ws_frame f;
		int r = ws_raw_recv(&ws, &f, frame, sizeof(frame), 300);

		rc_assert(r == -2, "nothing may follow the whole packets (rc %d, %zu bytes)", r,
			  r == 1 ? f.len : 0);
	}

	/* 3. The channel takes a new publisher; the subscriber is still there. */
	fds[0] = publisher("PUB tv raw\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "a new publisher after the kill: '%s'", line);
	rc_assert(rc_write_all(fds[0], wire + n, 188, RC_WAIT_TIMEOUT_MS) == 0, "publish");
	{
		struct ws_frame f;
		int r = ws_raw_recv(&ws, &f, frame, sizeof(frame), RC_WAIT_TIMEOUT_MS);

		rc_assert(r == 1 && f.len == 188 && !memcmp(frame, wire + n, 188),
			  "the subscriber gets the new publisher's packet (rc %d)", r);
	}
	ws_raw_close(&ws);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* A publisher whose input stops in the middle of a message (a framed
 * message begun, a raw MPEG-TS packet cut) is closed once --idle-timeout
 * has passed since its last byte, and counted; what it left unfinished is
 * dropped, and the channel takes a new publisher. One that is quiet
 * between whole messages stays however long it is quiet. */
Test(tcp_ingest, publisher_stalled_mid_message_is_closed, .fini = fini)
{
	enum { IDLE_MS = 1000, SLACK_MS = 15000 };
	static unsigned char wire[4096];
	char line[128];
	int64_t t_framed, t_ts, closed_ms;
	size_t n;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--idle-timeout", "1000", "--content-type", "tv=video/mp2t");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");

	/* Quiet between whole messages. */
	fds[0] = publisher("PUB quiet framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "quiet publisher: '%s'", line);
	n = put_framed(wire, 0, 0, 100);
	rc_assert(rc_write_all(fds[0], wire, n, RC_WAIT_TIMEOUT_MS) == 0, "publish");

	/* Framed: one whole message, then half of the next. */
	fds[1] = publisher("PUB half framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "framed publisher: '%s'", line);
	n = put_framed(wire, 1, 0, 100);
	n += put_framed(wire + n, 1, 1, 1000);
	t_framed = rc_now_ms();
	rc_assert(rc_write_all(fds[1], wire, n - 500, RC_WAIT_TIMEOUT_MS) == 0, "half a message");

	/* Raw on an MPEG-TS channel: one packet and a part of the next. */
	fds[2] = publisher("PUB tv raw\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "raw TS publisher: '%s'", line);
	payload_fill(2, 0, wire, 188 + 100);
	wire[0] = wire[188] = 0x47;
	t_ts = rc_now_ms();
	rc_assert(rc_write_all(fds[2], wire, 188 + 100, RC_WAIT_TIMEOUT_MS) == 0, "a packet and a half");

	rc_assert(wait_eof(fds[1], IDLE_MS + SLACK_MS),
		  "a framed publisher stalled mid-message should be closed after --idle-timeout");
	closed_ms = rc_now_ms() - t_framed;
	rc_assert(closed_ms >= IDLE_MS, "closed after %lld ms, before --idle-timeout",
		  (long long)closed_ms);
	rc_assert(wait_eof(fds[2], IDLE_MS + SLACK_MS),
		  "a raw publisher stalled mid-packet should be closed after --idle-timeout");
	closed_ms = rc_now_ms() - t_ts;
	rc_assert(closed_ms >= IDLE_MS, "closed after %lld ms, before --idle-timeout",
		  (long long)closed_ms);
	rc_assert(rc_wait_metric(&srv, "ringcast_publisher_timeouts_total", 2, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v),
		  "both stalled publishers counted, last %lld", v);
	v = rc_metric(&srv, "ringcast_publisher_partial_dropped_total");
	rc_assert(v == 2, "their unfinished message and packet dropped and counted: %lld", v);
	v = rc_metric(&srv, "ringcast_ingest_messages_total{channel=\"half\"}");
	rc_assert(v == 1, "the whole message before the stall was published: %lld", v);

	/* The quiet one, silent for well over --idle-timeout by now, stays
	 * and goes on publishing. */
	rc_assert(!wait_eof(fds[0], 1500), "a publisher quiet between messages must stay");
	n = put_framed(wire, 0, 1, 100);
	rc_assert(rc_write_all(fds[0], wire, n, RC_WAIT_TIMEOUT_MS) == 0, "publish again");
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"quiet\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "the quiet publisher's messages arrive, last %lld", v);
	v = rc_metric(&srv, "ringcast_publisher_timeouts_total");
	rc_assert(v == 2, "no other timeout: %lld", v);

	/* The stalled publisher's channel is free for a new one. */
	fds[3] = publisher("PUB half framed\n", line, sizeof(line));
	rc_assert(strcmp(line, "OK\n") == 0, "a new publisher after the stalled one: '%s'", line);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
