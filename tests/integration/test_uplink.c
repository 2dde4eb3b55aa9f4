/* Uplink: on a channel with uplink=on, a WebSocket subscriber's binary
 * messages reach the channel's publisher, tagged with the subscriber's id:
 * a framed TCP publisher as [u32 len][u32 id][payload] on its connection, a
 * UDP publisher as datagrams [u32 id][payload] from the ingest port (to its
 * source, or to uplink-to). Other subscribers never see them; a channel
 * without uplink passes nothing on; a message over uplink-max or a sender
 * over uplink-rate is closed with 1008. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct rc_server srv;
static int fds[4] = { -1, -1, -1, -1 };
static struct ws_raw ws[16];
static int nws;

static void fini(void)
{
	for (int i = 0; i < 4; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	nws = 0;
	rc_cleanup();
}

/* Reads exactly len bytes from fd within the deadline. */
static int read_exact(int fd, unsigned char *buf, size_t len, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t have = 0;

	while (have < len && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + have, len - have);
		if (n == 0)
			return -1;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n > 0)
			have += (size_t)n;
	}
	return have == len ? 0 : -1;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A framed TCP publisher of channel; returns its fd after "OK". */
static int framed_publisher(const char *channel)
{
	char line[96];
	unsigned char ok[3];
	int fd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "connect to the TCP ingest port: %s", strerror(errno));
	snprintf(line, sizeof(line), "PUB %s framed\n", channel);
	rc_assert(rc_write_all(fd, line, strlen(line), RC_WAIT_TIMEOUT_MS) == 0, "write line");
	rc_assert(read_exact(fd, ok, 3, RC_WAIT_TIMEOUT_MS) == 0 && !memcmp(ok, "OK\n", 3),
		  "the publisher is accepted");
	return fd;
}

/* Reads one uplink frame from a TCP publisher: its payload (NUL-ended) and
 * the subscriber id. */
static uint32_t read_uplink(int fd, char *payload, size_t cap)
{
	unsigned char hdr[8];
	uint32_t len;

	rc_assert(read_exact(fd, hdr, 8, RC_WAIT_TIMEOUT_MS) == 0, "an uplink frame's header");
	len = be32(hdr);
	rc_assert(len >= 4 && len - 4 < cap, "uplink frame length %u", len);
	rc_assert(read_exact(fd, (unsigned char *)payload, len - 4, RC_WAIT_TIMEOUT_MS) == 0,
		  "an uplink frame's payload");
	payload[len - 4] = '\0';
	return be32(hdr + 4);
}

/* Opens subscriber i on path. */
static struct ws_raw *subscriber(const char *path)
{
	char err[256];
	struct ws_raw *w = &ws[nws];

	rc_assert(nws < 16, "too many subscribers");
	rc_assert(ws_raw_open(w, &srv.http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open %s: %s", path, err);
	nws++;
	return w;
}

/* The next frame of w must be a text frame equal to want. */
static void expect_text(struct ws_raw *w, const char *want)
{
	unsigned char payload[512];
	struct ws_frame f;
	int r = ws_raw_recv(w, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	payload[r == 1 ? f.len : 0] = '\0';
	rc_assert(r == 1 && f.opcode == 1 && !strcmp((char *)payload, want),
		  "'%s' expected (r %d, opcode %d), got '%s'", want, r, r == 1 ? f.opcode : -1,
		  (char *)payload);
}

/* The next frame of w must be a text frame starting with want. */
static void expect_prefix(struct ws_raw *w, const char *want)
{
	unsigned char payload[512];
	struct ws_frame f;
	int r = ws_raw_recv(w, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	payload[r == 1 ? f.len : 0] = '\0';
	rc_assert(r == 1 && f.opcode == 1 && !strncmp((char *)payload, want, strlen(want)),
		  "'%s...' expected (r %d), got '%s'", want, r, (char *)payload);
}

/* The next frame of w must be a binary frame equal to want (a publisher's
 * message, never another subscriber's uplink). */
static void expect_binary(struct ws_raw *w, const char *want)
{
	unsigned char payload[512];
	struct ws_frame f;
	int r = ws_raw_recv(w, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	payload[r == 1 ? f.len : 0] = '\0';
	rc_assert(r == 1 && f.opcode == 2 && !strcmp((char *)payload, want),
		  "binary '%s' expected (r %d), got '%s'", want, r, (char *)payload);
}

/* The next close frame of w must have code. */
static void expect_close(struct ws_raw *w, int code)
{
	int got = ws_raw_close_code(w, RC_WAIT_TIMEOUT_MS);

	rc_assert(got == code, "close %d expected, got %d", code, got);
}

static void send_binary(struct ws_raw *w, const char *text)
{
	rc_assert(ws_raw_send(w, 2, text, strlen(text)) == 0, "send %s", text);
}

static void send_text(struct ws_raw *w, const char *text)
{
	rc_assert(ws_raw_send(w, 1, text, strlen(text)) == 0, "send %s", text);
}

/* A framed message from the publisher fd to every subscriber. */
static void publish_framed(int fd, const char *text)
{
	unsigned char f[256];
	size_t n = strlen(text);

	f[0] = 0;
	f[1] = 0;
	f[2] = (unsigned char)(n >> 8);
	f[3] = (unsigned char)n;
	memcpy(f + 4, text, n);
	rc_assert(rc_write_all(fd, f, 4 + n, RC_WAIT_TIMEOUT_MS) == 0, "publish");
}

Test(uplink, framed_tcp_publisher_gets_each_subscribers_messages, .fini = fini)
{
	char got[256];
	uint32_t ida, idb, idc;
	struct ws_raw *a, *b, *c;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--channel",
		 "game:uplink=on");
	fds[0] = framed_publisher("game");
	a = subscriber("/ws/game");
	b = subscriber("/ws/game");
	/* A subscriber of several channels names where its data goes. */
	c = subscriber("/ws");
	send_text(c, "{\"sub\":\"game\"}");
	expect_text(c, "{\"subscribed\":\"game\"}");
	send_text(c, "{\"to\":\"game\"}");
	expect_text(c, "{\"uplink\":\"game\"}");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", 3,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "3 subscribers: %lld", v);

	send_binary(a, "left");
	ida = read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "left"), "got '%s'", got);
	send_binary(b, "right");
	idb = read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "right"), "got '%s'", got);
	send_binary(a, "up");
	rc_assert(read_uplink(fds[0], got, sizeof(got)) == ida && !strcmp(got, "up"),
		  "the same subscriber, the same id: '%s'", got);
	send_binary(c, "fire");
	idc = read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "fire"), "got '%s'", got);
	rc_assert(ida != idb && ida != idc && idb != idc, "ids %u %u %u", ida, idb, idc);

	/* Nobody saw another's input: the first thing each subscriber gets is
	 * what the publisher sends out. */
	publish_framed(fds[0], "state 1");
	expect_binary(a, "state 1");
	expect_binary(b, "state 1");
	expect_prefix(c, "{\"channel\":\"game\",");
	expect_binary(c, "state 1");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* A UDP socket bound to 127.0.0.1 on a free port; its port in *port. */
static int udp_bound(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	rc_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			  getsockname(fd, (struct sockaddr *)&a, &len) == 0, "udp socket");
	*port = ntohs(a.sin_port);
	return fd;
}

/* Receives one datagram [id][payload] on fd: the payload (NUL-ended) and
 * the id. */
static uint32_t recv_uplink(int fd, char *payload, size_t cap)
{
	unsigned char buf[1024];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	rc_assert(poll(&p, 1, RC_WAIT_TIMEOUT_MS) == 1, "an uplink datagram");
	n = recv(fd, buf, sizeof(buf), 0);
	rc_assert(n >= 4 && (size_t)n - 4 < cap, "datagram of %zd bytes", n);
	memcpy(payload, buf + 4, (size_t)n - 4);
	payload[n - 4] = '\0';
	return be32(buf);
}

Test(uplink, udp_publisher_gets_datagrams_at_its_source_or_uplink_to, .fini = fini)
{
	char arg[128], got[256];
	struct ws_raw *a, *b;
	int to_port;
	long long v;

	fds[1] = udp_bound(&to_port);
	snprintf(arg, sizeof(arg), "pad2:uplink=on,uplink-to=127.0.0.1:%d", to_port);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=pad", "--udp",
		 "127.0.0.1:0=pad2", "--channel", "pad:uplink=on", "--channel", arg);
	fds[0] = rc_udp_socket(rc_udp_for(&srv, "pad"));
	fds[2] = rc_udp_socket(rc_udp_for(&srv, "pad2"));
	rc_assert(fds[0] >= 0 && fds[2] >= 0, "udp sockets");
	a = subscriber("/ws/pad");
	b = subscriber("/ws/pad2");
	rc_assert(rc_wait_metric(&srv, "ringcast_ws_subscribers", 2, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v), "2 subscribers: %lld", v);
	/* Before any datagram there is nowhere to send it: dropped, counted. */
	send_binary(a, "too early");
	rc_assert(rc_wait_metric(&srv, "ringcast_uplink_dropped_total{reason=\"no_publisher\"}", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "dropped: %lld", v);
	/* The publisher's datagram tells where it is. */
	rc_assert(send(fds[0], "frame 1", 7, 0) == 7 && send(fds[2], "frame 1", 7, 0) == 7,
		  "publish");
	expect_binary(a, "frame 1");
	expect_binary(b, "frame 1");
	send_binary(a, "jump");
	recv_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "jump"), "the publisher's socket got '%s'", got);
	/* pad2 sends it to uplink-to instead. */
	send_binary(b, "duck");
	recv_uplink(fds[1], got, sizeof(got));
	rc_assert(!strcmp(got, "duck"), "uplink-to got '%s'", got);
	rc_assert(rc_wait_metric(&srv, "ringcast_uplink_delivered_total", 2, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v), "delivered: %lld", v);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

Test(uplink, a_channel_without_uplink_passes_nothing_on, .fini = fini)
{
	struct ws_raw *a;
	unsigned char buf[64];
	struct ws_frame f;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--workers", "1");
	fds[0] = framed_publisher("quiet");
	a = subscriber("/ws/quiet");
	send_text(a, "{\"to\":\"quiet\"}");
	expect_text(a, "{\"error\":\"no uplink\",\"channel\":\"quiet\"}");
	send_text(a, "{\"to\":\"other\"}");
	expect_text(a, "{\"error\":\"not subscribed\",\"channel\":\"other\"}");
	send_binary(a, "let me in");
	/* A ping after it: once its pong is back, the binary message was
	 * handled (one worker: in the same turn as anything it caused). */
	rc_assert(ws_raw_send(a, 9, "p", 1) == 0, "ping");
	rc_assert(ws_raw_recv(a, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS) == 1 && f.opcode == 10,
		  "pong");
	rc_assert(rc_wait_metric(&srv, "ringcast_client_frames_discarded_total", 1, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v), "read and dropped: %lld", v);
	rc_assert(rc_metric(&srv, "ringcast_uplink_received_total") == 0, "nothing taken");
	{
		struct pollfd p = { .fd = fds[0], .events = POLLIN };

		rc_assert(poll(&p, 1, 0) == 0, "nothing reached the publisher");
	}
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

Test(uplink, over_uplink_max_or_uplink_rate_is_closed_1008, .fini = fini)
{
	char got[256];
	struct ws_raw *a, *b;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--channel",
		 "game:uplink=on,uplink-max=16,uplink-rate=5");
	fds[0] = framed_publisher("game");
	a = subscriber("/ws/game");
	b = subscriber("/ws/game");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "2 subscribers: %lld", v);
	send_binary(a, "sixteen bytes ok");
	read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "sixteen bytes ok"), "got '%s'", got);
	send_binary(a, "seventeen bytes!!");
	expect_close(a, 1008);
	rc_assert(rc_wait_metric(&srv, "ringcast_uplink_closed_size_total", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v), "counted: %lld", v);
	/* Five at once pass (a second's worth), then the bucket is empty. */
	for (int i = 0; i < 40; i++)
		send_binary(b, "x");
	expect_close(b, 1008);
	rc_assert(rc_wait_metric(&srv, "ringcast_uplink_closed_rate_total", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, &v), "counted: %lld", v);
	rc_assert(rc_metric(&srv, "ringcast_uplink_delivered_total") >= 1 + 5,
		  "the first five of the burst were delivered");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* With several workers each subscriber's message goes to the publisher's
 * worker: ids carry the sender's worker, so messages from several workers
 * show the hand-off worked. */
Test(uplink, subscribers_on_every_worker_reach_the_publisher, .fini = fini)
{
	enum { N = 12 };
	char got[256];
	uint32_t workers = 0;
	bool seen[N] = { false };
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--workers", "3",
		 "--channel", "game:uplink=on");
	fds[0] = framed_publisher("game");
	for (int i = 0; i < N; i++)
		subscriber("/ws/game");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", N,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "%d subscribers: %lld", N, v);
	for (int i = 0; i < N; i++) {
		char m[16];

		snprintf(m, sizeof(m), "m%d", i);
		send_binary(&ws[i], m);
	}
	for (int i = 0; i < N; i++) {
		uint32_t id = read_uplink(fds[0], got, sizeof(got));
		int k = atoi(got + 1);

		rc_assert(got[0] == 'm' && k >= 0 && k < N && !seen[k], "message '%s'", got);
		seen[k] = true;
		workers |= 1u << (id >> 24);
	}
	rc_assert(__builtin_popcount(workers) >= 2,
		  "messages came from more than one worker (mask %#x)", workers);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* Writes one masked frame with the given first byte (FIN, opcode). */
static void send_frame(struct ws_raw *w, unsigned b0, const char *text)
{
	unsigned char f[256];
	size_t n = strlen(text);

	f[0] = (unsigned char)b0;
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, "\x11\x22\x33\x44", 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = (unsigned char)text[i] ^ f[2 + (i & 3)];
	rc_assert(rc_write_all(w->fd, f, 6 + n, RC_WAIT_TIMEOUT_MS) == 0, "write frame");
}

/* A message in three frames (with a ping between two of them) is
 * gathered and goes out whole; when one of several publishers of a channel
 * leaves, the one that stays gets the uplink. */
Test(uplink, fragments_are_gathered_and_another_publisher_takes_over, .fini = fini)
{
	char got[256];
	struct ws_raw *a;
	unsigned char buf[64];
	struct ws_frame f;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--workers", "1",
		 "--channel", "game:uplink=on,multi-publisher=yes");
	fds[0] = framed_publisher("game");
	fds[1] = framed_publisher("game");
	a = subscriber("/ws/game");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "subscribed: %lld", v);
	send_frame(a, 0x02, "frag");		/* binary, not final */
	send_frame(a, 0x89, "p");		/* a ping in between */
	send_frame(a, 0x00, "men");		/* continuation */
	send_frame(a, 0x80, "ted");		/* final continuation */
	rc_assert(ws_raw_recv(a, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS) == 1 && f.opcode == 10,
		  "pong");
	/* The newest framed publisher has the uplink. */
	read_uplink(fds[1], got, sizeof(got));
	rc_assert(!strcmp(got, "fragmented"), "gathered: '%s'", got);
	/* It leaves: the other one takes over. */
	close(fds[1]);
	fds[1] = -1;
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 1, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 &v), "one publisher left: %lld", v);
	send_binary(a, "still here");
	read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "still here"), "the other publisher got '%s'", got);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* A token from ringcast-token ($RINGCAST_TOKEN_BIN) for channel game,
 * with --uplink when uplink. */
static void mint_token(char *out, size_t cap, bool uplink)
{
	const char *bin = getenv("RINGCAST_TOKEN_BIN") ? getenv("RINGCAST_TOKEN_BIN")
						       : "ringcast-token";
	char cmd[512];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s --channel game --secret 0123456789abcdef0123 --ttl 600%s",
		 bin, uplink ? " --uplink" : "");
	f = popen(cmd, "r");
	rc_assert(f != NULL, "popen ringcast-token");
	rc_assert(fgets(out, (int)cap, f) != NULL, "ringcast-token printed nothing");
	rc_assert(pclose(f) == 0, "ringcast-token exit status");
	out[strcspn(out, "\n")] = '\0';
}

/* On a channel with a token secret, only an uplink token lets a
 * subscriber send; a plain token still lets it receive. */
Test(uplink, a_token_protected_channel_takes_uplink_only_with_an_uplink_token, .fini = fini)
{
	char plain[160], up[160], path[256], got[256];
	struct ws_raw *a, *b;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--workers", "1",
		 "--channel", "game:uplink=on,token-secret=0123456789abcdef0123");
	mint_token(plain, sizeof(plain), false);
	mint_token(up, sizeof(up), true);
	rc_assert(strcmp(plain, up) != 0, "two different tokens");
	fds[0] = framed_publisher("game");
	snprintf(path, sizeof(path), "/ws/game?token=%s", plain);
	a = subscriber(path);
	snprintf(path, sizeof(path), "/ws/game?token=%s", up);
	b = subscriber(path);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"game\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "both admitted: %lld", v);
	send_binary(a, "from a plain token");
	send_text(a, "{\"to\":\"game\"}");
	expect_text(a, "{\"error\":\"uplink not allowed\",\"channel\":\"game\"}");
	send_binary(b, "from an uplink token");
	read_uplink(fds[0], got, sizeof(got));
	rc_assert(!strcmp(got, "from an uplink token"), "the publisher got '%s'", got);
	rc_assert(rc_metric(&srv, "ringcast_client_frames_discarded_total") == 1,
		  "the plain token's message was dropped");
	rc_assert(rc_metric(&srv, "ringcast_uplink_received_total") == 1, "one taken");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}
