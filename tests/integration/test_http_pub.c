/* HTTP publishers: POST/PUT /pub/<channel> with Content-Length or a chunked
 * body; the bytes reach stream and WebSocket subscribers unchanged; bad
 * requests get 4xx and are counted. */
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

#define BODY 100000

static struct rc_server srv;
static struct sub_pool *pool;
static int fds[6] = { -1, -1, -1, -1, -1, -1 };
static struct ws_raw wsr = { .fd = -1 };

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	ws_raw_close(&wsr);
	for (int i = 0; i < 6; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	rc_cleanup();
}

static int write_str(int fd, const char *s)
{
	return rc_write_all(fd, s, strlen(s), RC_WAIT_TIMEOUT_MS) == 0;
}

/* Reads what arrives on fd until `want` bytes or the deadline. */
static size_t read_n(int fd, char *buf, size_t want, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t have = 0;

	while (have < want && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(fd, buf + have, want - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	return have;
}

/* Reads one HTTP response head + Content-Length body into buf. */
static int response(int fd, char *buf, size_t cap)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	size_t have = 0;

	while (have + 1 < cap && rc_now_ms() < end) {
		char *h;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		buf[have] = '\0';
		h = strstr(buf, "\r\n\r\n");
		if (h) {
			const char *cl = strstr(buf, "Content-Length: ");
			size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;

			if ((size_t)(h + 4 - buf) + body <= have)
				return atoi(buf + 9);
		}
		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(fd, buf + have, 1);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	return -1;
}

static int stream_open(const char *channel)
{
	char req[128], head[1024];
	size_t have = 0;
	int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "connect");
	snprintf(req, sizeof(req), "GET /stream/%s HTTP/1.1\r\nHost: t\r\n\r\n", channel);
	rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "request");
	while (have < sizeof(head) - 1 && !(have >= 4 && !memcmp(head + have - 4, "\r\n\r\n", 4)))
		if (read_n(fd, head + have, 1, RC_WAIT_TIMEOUT_MS) == 1)
			have++;
		else
			break;
	return fd;
}

Test(http_pub, content_length_and_chunked_bodies, .fini = fini)
{
	static char body[BODY], got[2 * BODY], frame_payload[70000], resp[1024];
	char req[512], err[256];
	size_t got_len, ws_got = 0;
	long long v;
	int sfd, pfd;

	payload_fill(5, 1, (unsigned char *)body, BODY);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	sfd = fds[0] = stream_open("up");
	rc_assert(ws_raw_open(&wsr, &srv.http, "/ws/up", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) ==
			  0,
		  "ws: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"up\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "subscribers: %lld", v);

	/* 1. PUT with Content-Length and Expect: 100-continue, as curl -T. */
	pfd = fds[1] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	snprintf(req, sizeof(req),
		 "PUT /pub/up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
		 "Expect: 100-continue\r\n\r\n", BODY);
	rc_assert(rc_write_all(pfd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "head");
	rc_assert(response(pfd, resp, sizeof(resp)) == 100, "100 Continue first: %s", resp);
	rc_assert(rc_write_all(pfd, body, BODY, RC_WAIT_TIMEOUT_MS) == 0, "body");
	rc_assert(response(pfd, resp, sizeof(resp)) == 200 &&
			  strstr(resp, "bytes") && strstr(resp, "100000 bytes"),
		  "answer at the end with a count: %s", resp);

	/* 2. On the same connection (keep-alive), a chunked POST with odd
	 * chunk sizes and an extension. */
	{
		char *chunked = malloc(BODY * 2);
		size_t n = 0, off = 0;

		n += (size_t)sprintf(chunked + n,
				     "POST /pub/up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (size_t sz = 1; off < BODY; sz = sz * 3 % 9973 + 1) {
			size_t take = BODY - off < sz ? BODY - off : sz;

			n += (size_t)sprintf(chunked + n, "%zx;x=y\r\n", take);
			memcpy(chunked + n, body + off, take);
			n += take;
			chunked[n++] = '\r';
			chunked[n++] = '\n';
			off += take;
		}
		n += (size_t)sprintf(chunked + n, "0\r\n\r\n");
		rc_assert(rc_write_all(pfd, chunked, n, RC_WAIT_TIMEOUT_MS) == 0, "chunked body");
		free(chunked);
	}
	rc_assert(response(pfd, resp, sizeof(resp)) == 200 && strstr(resp, "100000 bytes"),
		  "chunked answer: %s", resp);

	got_len = read_n(sfd, got, 2 * BODY, RC_WAIT_TIMEOUT_MS);
	rc_assert(got_len == 2 * BODY && !memcmp(got, body, BODY) && !memcmp(got + BODY, body, BODY),
		  "stream subscriber gets both bodies unchanged: %zu bytes", got_len);
	/* The WebSocket subscriber gets the same bytes, cut into messages. */
	while (ws_got < 2 * BODY) {
		struct ws_frame f;
		int r = ws_raw_recv(&wsr, &f, (unsigned char *)frame_payload, sizeof(frame_payload),
				    RC_WAIT_TIMEOUT_MS);

		rc_assert(r == 1 && f.opcode == 2, "ws frame: %d", r);
		rc_assert(!memcmp(frame_payload, body + ws_got % BODY, f.len) ||
				  ws_got % BODY + f.len > BODY,
			  "ws bytes at %zu", ws_got);
		ws_got += f.len;
	}
	rc_assert(ws_got == 2 * BODY, "ws subscriber got %zu bytes", ws_got);
	v = rc_metric(&srv, "ringcast_ingest_bytes_total{channel=\"up\"}");
	rc_assert(v == 2 * BODY, "ingest bytes %lld", v);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&wsr);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(http_pub, bad_requests, .fini = fini)
{
	static char resp[1024];
	struct {
		const char *req;
		int status;
	} cases[] = {
		{ "POST /pub/a HTTP/1.1\r\nHost: t\r\n\r\n", 411 },
		{ "POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
		{ "POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
		{ "POST /pub/a HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "GET /pub/a HTTP/1.1\r\nHost: t\r\n\r\n", 405 },
		{ "BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 405 },	/* unknown method */
		{ "DELETE /ws/a HTTP/1.1\r\nHost: t\r\n\r\n", 405 },
		{ "POST /pub/bad%2fname HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx", 400 },
		{ "POST /pub/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400 },
	};
	long long v;
	int held;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		int st;

		rc_assert(fd >= 0, "connect");
		rc_assert(rc_write_all(fd, cases[i].req, strlen(cases[i].req), RC_WAIT_TIMEOUT_MS) == 0,
			  "write");
		st = response(fd, resp, sizeof(resp));
		close(fd);
		rc_assert(st == cases[i].status, "case %zu: want %d, got %d: %s", i, cases[i].status,
			  st, resp);
	}
	v = rc_metric(&srv, "ringcast_http_publish_bad_bodies_total");
	rc_assert(v == 1, "malformed chunked body counted: %lld", v);

	/* A publisher holds the channel: the second gets 409. When the first
	 * vanishes mid-body it is counted and the channel is free again. */
	held = fds[0] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(write_str(held, "PUT /pub/b HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc"),
		  "first publisher");
	/* the malformed chunked POST above was accepted first, then failed */
	rc_assert(rc_wait_metric(&srv, "ringcast_http_publishes_total", 2, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v),
		  "first publisher accepted: %lld", v);
	fds[1] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(write_str(fds[1], "PUT /pub/b HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"),
		  "second publisher");
	rc_assert(response(fds[1], resp, sizeof(resp)) == 409, "second publisher: %s", resp);
	close(held);
	fds[0] = -1;
	rc_assert(rc_wait_metric(&srv, "ringcast_http_publish_incomplete_total", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "publisher gone mid-body counted: %lld", v);
	fds[2] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(write_str(fds[2], "PUT /pub/b HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"),
		  "third publisher");
	rc_assert(response(fds[2], resp, sizeof(resp)) == 200, "channel free again: %s", resp);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&wsr);
	RC_STOP_OK(&srv);
}

/* A chunked HTTP publisher process killed in the middle of a chunk: the body
 * bytes that arrived were published as they came (and nothing of the chunk
 * framing), the publish is counted incomplete, subscribers stay, and the
 * channel takes the next publisher. */
Test(http_pub, chunked_publisher_killed_mid_chunk, .fini = fini)
{
	enum { CHUNKS = 20, CHUNK = 1000, HALF = 500 };
	static char data[CHUNKS * CHUNK + HALF], wire[CHUNKS * (CHUNK + 16) + HALF + 256],
		got[sizeof(data) + 1], resp[1024];
	size_t n = 0, have;
	long long v;
	pid_t pid;
	int st;

	payload_fill(8, 1, (unsigned char *)data, sizeof(data));
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	fds[0] = stream_open("up");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"up\"}", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v), "subscriber: %lld", v);
	n += (size_t)sprintf(wire, "POST /pub/up HTTP/1.1\r\nHost: t\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < CHUNKS; i++) {
		n += (size_t)sprintf(wire + n, "%x\r\n", CHUNK);
		memcpy(wire + n, data + (size_t)i * CHUNK, CHUNK);
		n += CHUNK;
		n += (size_t)sprintf(wire + n, "\r\n");
	}
	/* announce a whole chunk, send half of it */
	n += (size_t)sprintf(wire + n, "%x\r\n", CHUNK);
	memcpy(wire + n, data + (size_t)CHUNKS * CHUNK, HALF);
	n += HALF;

	pid = fork();
	rc_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);

		if (fd < 0 || rc_write_all(fd, wire, n, RC_WAIT_TIMEOUT_MS) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	have = read_n(fds[0], got, sizeof(data), RC_WAIT_TIMEOUT_MS);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	rc_assert(have == sizeof(data) && !memcmp(got, data, sizeof(data)),
		  "the subscriber should get the %zu body bytes that arrived, got %zu",
		  sizeof(data), have);
	rc_assert(rc_wait_metric(&srv, "ringcast_http_publish_incomplete_total", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "the publisher gone mid-chunk should be counted: %lld", v);
	rc_assert(read_n(fds[0], got, 1, 300) == 0, "nothing may follow the body bytes");

	fds[1] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(write_str(fds[1], "PUT /pub/up HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"),
		  "next publisher");
	rc_assert(response(fds[1], resp, sizeof(resp)) == 200, "channel free again: %s", resp);
	rc_assert(read_n(fds[0], got, 3, RC_WAIT_TIMEOUT_MS) == 3 && !memcmp(got, "abc", 3),
		  "the subscriber stays and gets the next publisher's body");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&wsr);
	RC_STOP_OK(&srv);
}
