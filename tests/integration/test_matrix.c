/* Every publisher x every subscriber transport: UDP, UDP mux and framed TCP
 * publishers (which keep message boundaries) to libwebsockets, HTTP stream
 * and SSE subscribers, with late joiners getting the cache (last=3) first;
 * raw TCP and HTTP publishers (byte streams) to the same three transports. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N 40
#define CACHED 3

static struct rc_server srv;
static struct sub_pool *pool;
static int fds[16];
static int nfds;
static struct ws_raw wsr = { .fd = -1 };

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	ws_raw_close(&wsr);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	nfds = 0;
	rc_cleanup();
}

static int keep(int fd)
{
	rc_assert(fd >= 0 && nfds < 16, "fd");
	fds[nfds++] = fd;
	return fd;
}

/* GET path on a new connection; returns the fd positioned after the head. */
static int http_stream(const char *path)
{
	char req[160], c;
	size_t have = 0;
	char last4[4] = { 0 };
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int fd = keep(rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS));

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "request");
	while (rc_now_ms() < end && memcmp(last4, "\r\n\r\n", 4)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 50) <= 0 || read(fd, &c, 1) != 1)
			continue;
		memmove(last4, last4 + 1, 3);
		last4[3] = c;
		have++;
	}
	rc_assert(have > 12, "response head for %s", path);
	return fd;
}

/* Reads exactly n bytes (servicing lws meanwhile). */
static size_t read_exact(int fd, unsigned char *out, size_t n)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	size_t have = 0;

	while (have < n && rc_now_ms() < end) {
		ssize_t r = read(fd, out + have, n - have);

		if (r > 0)
			have += (size_t)r;
		else if (r == 0)
			break;
		else
			sub_pool_service_for(pool, 2);
	}
	return have;
}

/* Reads SSE events until `bytes` decoded payload bytes have arrived (or
 * `events` events, whichever is set); appends payloads to out. */
static size_t read_sse(int fd, unsigned char *out, size_t bytes, int events)
{
	static char buf[1 << 20];
	static size_t have;
	size_t got = 0;
	int n_ev = 0;
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;

	have = 0;
	while ((bytes ? got < bytes : n_ev < events) && rc_now_ms() < end) {
		char *stop;
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (r > 0)
			have += (size_t)r;
		else
			sub_pool_service_for(pool, 2);
		buf[have] = '\0';
		while ((stop = strstr(buf, "\n\n"))) {
			char *ev = buf;


			*stop = '\0';
			/* Each event's id (its channel position) comes first. */
			if (!strncmp(ev, "id: ", 4) && strchr(ev, '\n'))
				ev = strchr(ev, '\n') + 1;
			if (!strncmp(ev, "event: binary\ndata: ", 20)) {
				int len = (int)strlen(ev + 20);
				int pad = len >= 2 ? (ev[20 + len - 1] == '=') + (ev[20 + len - 2] == '=') : 0;
				static unsigned char dec[1 << 20];
				/* EVP_DecodeBlock also writes the padding's zero bytes:
				 * decode aside and copy only the payload. */
				int dn = EVP_DecodeBlock(dec, (unsigned char *)ev + 20, len);

				memcpy(out + got, dec, (size_t)(dn - pad));
				got += (size_t)(dn - pad);
				n_ev++;
			} else if (!strncmp(ev, "data: ", 6)) {
				size_t len = strlen(ev + 6);

				memcpy(out + got, ev + 6, len);
				got += len;
				n_ev++;
			}	/* comments (": ...") carry no data */
			memmove(buf, stop + 2, have - (size_t)(stop + 2 - buf));
			have -= (size_t)(stop + 2 - buf);
			buf[have] = '\0';
		}
	}
	return got;
}

static size_t expected(unsigned chan, uint64_t from, uint64_t to, unsigned char *out)
{
	size_t n = 0;

	for (uint64_t k = from; k < to; k++) {
		payload_fill(chan, k, out + n, payload_size(k));
		n += payload_size(k);
	}
	return n;
}

enum pub_kind { PUB_UDP, PUB_MUX, PUB_FRAMED };

static void publish(enum pub_kind kind, int fd, const char *name, unsigned chan, uint64_t k)
{
	unsigned char buf[1600];
	size_t size = payload_size(k), n = 0;

	if (kind == PUB_MUX) {
		buf[n++] = 'R';
		buf[n++] = (unsigned char)strlen(name);
		memcpy(buf + n, name, strlen(name));
		n += strlen(name);
	} else if (kind == PUB_FRAMED) {
		buf[n++] = 0;
		buf[n++] = 0;
		buf[n++] = (unsigned char)(size >> 8);
		buf[n++] = (unsigned char)size;
	}
	payload_fill(chan, k, buf + n, size);
	n += size;
	if (kind == PUB_FRAMED)
		rc_assert(rc_write_all(fd, buf, n, RC_WAIT_TIMEOUT_MS) == 0, "framed write");
	else
		rc_assert(send(fd, buf, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
}

/* One message-preserving publisher to all three transports, then late
 * joiners of each transport. */
static void one_publisher(enum pub_kind kind, int pfd, const char *name, unsigned chan, int sub)
{
	static unsigned char want[N * 1400], got[N * 1400];
	char path[64], d[512];
	size_t wl;
	uint64_t goal[3] = { 0, 0, 0 };
	int sfd, efd;
	long long v;

	sub_connect(pool, sub, &srv.http, name, chan, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) >= sub + 1, "lws open");
	snprintf(path, sizeof(path), "/stream/%s", name);
	sfd = http_stream(path);
	snprintf(path, sizeof(path), "/sse/%s", name);
	efd = http_stream(path);
	snprintf(path, sizeof(path), "ringcast_subscribers{channel=\"%s\"}", name);
	rc_assert(rc_wait_metric(&srv, path, 3, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "%s: three subscribers, last %lld", name, v);
	for (uint64_t k = 0; k < N; k++)
		publish(kind, pfd, name, chan, k);
	wl = expected(chan, 0, N, want);
	goal[chan] = N;
	sub_pool_wait_seq(pool, goal, 3, RC_WAIT_TIMEOUT_MS);
	rc_assert(pool->subs[sub].count == N && pool->subs[sub].mismatches == 0,
		  "%s -> WebSocket: %s", name, sub_describe(&pool->subs[sub], d, sizeof(d)));
	rc_assert(read_exact(sfd, got, wl) == wl && !memcmp(got, want, wl), "%s -> stream", name);
	rc_assert(read_sse(efd, got, wl, 0) == wl && !memcmp(got, want, wl), "%s -> SSE", name);

	/* Late joiners: the last CACHED messages first, from the cache. */
	sub_connect(pool, sub + 1, &srv.http, name, chan, N - CACHED);
	snprintf(path, sizeof(path), "/stream/%s", name);
	sfd = http_stream(path);
	snprintf(path, sizeof(path), "/sse/%s", name);
	efd = http_stream(path);
	wl = expected(chan, N - CACHED, N, want);
	sub_pool_wait_seq(pool, goal, 3, RC_WAIT_TIMEOUT_MS);
	sub_pool_service_for(pool, 100);
	rc_assert(pool->subs[sub + 1].count == CACHED && pool->subs[sub + 1].mismatches == 0,
		  "%s: late WebSocket joiner gets the cache: %s", name,
		  sub_describe(&pool->subs[sub + 1], d, sizeof(d)));
	rc_assert(read_exact(sfd, got, wl) == wl && !memcmp(got, want, wl),
		  "%s: late stream joiner gets the cache", name);
	rc_assert(read_sse(efd, got, 0, CACHED) == wl && !memcmp(got, want, wl),
		  "%s: late SSE joiner gets the cache", name);
}

Test(matrix, message_publishers_to_every_transport, .fini = fini, .timeout = 200)
{
	char line[8] = { 0 };
	int ufd, mfd, tfd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=u", "--udp-mux",
		 "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--cache", "last=3");
	pool = sub_pool_new(6);
	rc_assert(pool, "lws context");
	ufd = keep(rc_udp_socket(&srv.udp[0]));
	one_publisher(PUB_UDP, ufd, "u", 0, 0);
	mfd = keep(rc_udp_socket(&srv.udp_mux));
	/* The mux only feeds channels that exist: the subscribers make it. */
	one_publisher(PUB_MUX, mfd, "m", 1, 2);
	tfd = keep(rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS));
	rc_assert(rc_write_all(tfd, "PUB f framed\n", 13, RC_WAIT_TIMEOUT_MS) == 0, "PUB");
	rc_assert(read_exact(tfd, (unsigned char *)line, 3) == 3 && !strcmp(line, "OK\n"), "OK");
	one_publisher(PUB_FRAMED, tfd, "f", 2, 4);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&wsr);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Byte-stream publishers (raw TCP, HTTP body): message boundaries are
 * wherever the bytes arrived, so each transport is checked on the bytes. */
Test(matrix, stream_publishers_to_every_transport, .fini = fini, .timeout = 200)
{
	static unsigned char data[20000], got[20000];
	static const char *const names[2] = { "r", "h" };
	char err[256], path[64], head[256];

	payload_fill(9, 9, data, sizeof(data));
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 2; i++) {
		size_t ws_got = 0;
		int sfd, efd, pfd;
		long long v;

		ws_raw_close(&wsr);
		snprintf(path, sizeof(path), "/ws/%s", names[i]);
		rc_assert(ws_raw_open(&wsr, &srv.http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
			  "ws: %s", err);
		snprintf(path, sizeof(path), "/stream/%s", names[i]);
		sfd = http_stream(path);
		snprintf(path, sizeof(path), "/sse/%s", names[i]);
		efd = http_stream(path);
		snprintf(path, sizeof(path), "ringcast_subscribers{channel=\"%s\"}", names[i]);
		rc_assert(rc_wait_metric(&srv, path, 3, RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "three subscribers, last %lld", v);
		if (i == 0) {
			pfd = keep(rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS));
			rc_assert(rc_write_all(pfd, "PUB r raw\n", 10, RC_WAIT_TIMEOUT_MS) == 0, "PUB");
		} else {
			pfd = keep(rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS));
			snprintf(head, sizeof(head),
				 "POST /pub/h HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
				 sizeof(data));
			rc_assert(rc_write_all(pfd, head, strlen(head), RC_WAIT_TIMEOUT_MS) == 0, "POST");
		}
		for (size_t off = 0; off < sizeof(data); off += 3000)
			rc_assert(rc_write_all(pfd, data + off,
					       sizeof(data) - off < 3000 ? sizeof(data) - off : 3000,
					       RC_WAIT_TIMEOUT_MS) == 0,
				  "body");
		rc_assert(read_exact(sfd, got, sizeof(data)) == sizeof(data) &&
				  !memcmp(got, data, sizeof(data)),
			  "%s -> stream", names[i]);
		{
			size_t n = read_sse(efd, got, sizeof(data), 0);
			size_t first = 0;

			while (first < n && first < sizeof(data) && got[first] == data[first])
				first++;
			rc_assert(n == sizeof(data) && first == sizeof(data),
				  "%s -> SSE: %zu bytes, first difference at %zu", names[i], n, first);
		}
		while (ws_got < sizeof(data)) {
			struct ws_frame f;
			int r = ws_raw_recv(&wsr, &f, got + ws_got, sizeof(got) - ws_got, RC_WAIT_TIMEOUT_MS);

			rc_assert(r == 1 && f.opcode == 2, "%s -> WebSocket frame: %d", names[i], r);
			ws_got += f.len;
		}
		rc_assert(!memcmp(got, data, sizeof(data)), "%s -> WebSocket bytes", names[i]);
	}
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&wsr);
	RC_STOP_OK(&srv);
}
