/* Access control against the real server: subscriber tokens (query,
 * subprotocol from a libwebsockets client, {"sub"} command, the
 * ringcast-token tool), publisher stream keys on TCP, HTTP and the keyed UDP
 * mux, --allow-origin, --max-conns-per-ip, max-subscribers (503 and 1013)
 * and the UDP source allowlist. Tokens are minted here with libcrypto from
 * the documented format, independently of the server's code. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define SECRET "an-example-secret-of-32-bytes!!!"

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw ws = { .fd = -1 }, ws2 = { .fd = -1 };
static int fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	ws_raw_close(&ws);
	ws_raw_close(&ws2);
	for (int i = 0; i < 8; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	rc_cleanup();
}

/* EXPIRY.CLIENT.base64url(HMAC-SHA256(secret, "ringcast-token-v1\0CH\0EXPIRY\0CLIENT")) */
static void mint(char *out, size_t cap, const char *secret, const char *channel, long long expiry,
		 const char *client)
{
	unsigned char msg[256], md[32];
	char exp[32], b64[64];
	unsigned int mdl = 0;
	size_t n = 0;

	snprintf(exp, sizeof(exp), "%lld", expiry);
	memcpy(msg, "ringcast-token-v1", 18);	/* with its NUL */
	n = 18;
	memcpy(msg + n, channel, strlen(channel) + 1);
	n += strlen(channel) + 1;
	memcpy(msg + n, exp, strlen(exp) + 1);
	n += strlen(exp) + 1;
	memcpy(msg + n, client, strlen(client));
	n += strlen(client);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, md, &mdl);
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	for (char *p = b64; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	b64[43] = '\0';
	snprintf(out, cap, "%s.%s.%s", exp, client, b64);
}

/* Sends req on a new connection and returns the status code of the first
 * answer (read up to its first line only: a stream never ends). */
static int first_status(const struct rc_endpoint *ep, const char *req, int *fd_out)
{
	char buf[256];
	size_t have = 0;
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int fd = rc_tcp_connect(ep, 0, RC_WAIT_TIMEOUT_MS);
	int code = -1;

	if (fd < 0)
		return -1;
	if (req && rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) < 0)
		goto out;
	while (have < sizeof(buf) - 1 && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n")) {
			sscanf(buf, "HTTP/1.1 %d", &code);
			break;
		}
	}
out:
	if (fd_out && code > 0)
		*fd_out = fd;
	else
		close(fd);
	return code;
}

static int get_status(const char *path)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	return first_status(&srv.http, req, NULL);
}

static int upgrade_status(const char *path, const char *extra)
{
	char req[1024];

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		 path, extra ? extra : "");
	return first_status(&srv.http, req, NULL);
}

static long long metric(const char *name)
{
	return rc_metric(&srv, name);
}

/* The next text frame on w, into out. */
static void next_text(struct ws_raw *w, char *out, size_t cap)
{
	unsigned char payload[256];
	struct ws_frame f;
	int r = ws_raw_recv(w, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	rc_assert(r == 1 && f.opcode == 1, "text frame expected, got %d opcode %d", r, f.opcode);
	payload[f.len] = '\0';
	snprintf(out, cap, "%.*s", (int)(cap - 1), (char *)payload);
}

Test(security, subscriber_tokens, .fini = fini, .timeout = 120)
{
	char good[160], wrong[160], expired[160], path[300], text[256], proto[300], err[256];
	char cmd[700], tool_tok[200] = "", bin[512];
	long long now = (long long)time(NULL);
	const struct rc_endpoint *u;
	uint64_t expect = 3;
	FILE *f;
	int ufd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--channel", "live:token-secret=" SECRET, "--channel", "open:max-queue=65536");
	mint(good, sizeof(good), SECRET, "live", now + 3600, "it");
	mint(wrong, sizeof(wrong), "another-secret-of-enough-bytes", "live", now + 3600, "it");
	mint(expired, sizeof(expired), SECRET, "live", now - 5, "it");

	/* HTTP stream and SSE: 401 without, 403 wrong/expired/garbage, 200 valid. */
	rc_assert(get_status("/stream/live") == 401, "no token: 401");
	rc_assert(get_status("/sse/live") == 401, "no token on SSE: 401");
	snprintf(path, sizeof(path), "/stream/live?token=%s", wrong);
	rc_assert(get_status(path) == 403, "wrong key: 403");
	snprintf(path, sizeof(path), "/stream/live?token=%s", expired);
	rc_assert(get_status(path) == 403, "expired: 403");
	rc_assert(get_status("/stream/live?token=1.2.3") == 403, "garbage: 403");
	snprintf(path, sizeof(path), "/sse/live?x=1&token=%s", good);
	rc_assert(get_status(path) == 200, "valid token on SSE: 200");
	snprintf(path, sizeof(path), "/stream/live?token=%s", good);
	rc_assert(get_status(path) == 200, "valid token on stream: 200");
	/* A token for live does not open another channel with its own secret;
	 * a channel without a secret needs none. */
	rc_assert(get_status("/stream/open") == 200, "no secret, no token needed");

	/* WebSocket upgrade: refused before the 101. */
	rc_assert(upgrade_status("/ws/live", NULL) == 401, "ws without token: 401");
	snprintf(path, sizeof(path), "/ws/live?token=%s", expired);
	rc_assert(upgrade_status(path, NULL) == 403, "ws expired: 403");
	snprintf(path, sizeof(path), "/ws/live?token=%s", good);
	rc_assert(ws_raw_open(&ws, &srv.http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws with ?token=: %s", err);

	/* The token as a subprotocol from libwebsockets, with "ringcast" offered
	 * too (the server selects "ringcast") and alone (it echoes the entry). */
	pool = sub_pool_new(3);
	rc_assert(pool != NULL, "lws pool");
	snprintf(proto, sizeof(proto), "ringcast,ringcast-token.%s", good);
	rc_assert(sub_connect_path(pool, 0, &srv.http, "/ws/live", proto, 0, 0) == 0, "connect");
	snprintf(proto, sizeof(proto), "ringcast-token.%s", good);
	rc_assert(sub_connect_path(pool, 1, &srv.http, "/ws/live", proto, 0, 0) == 0, "connect");
	snprintf(proto, sizeof(proto), "ringcast,ringcast-token.%s", wrong);
	rc_assert(sub_connect_path(pool, 2, &srv.http, "/ws/live", proto, 0, 0) == 0, "connect");
	sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < 2; i++)
		rc_assert(pool->subs[i].state == SUB_OPEN, "subprotocol token %d: %s", i,
			  sub_describe(&pool->subs[i], text, sizeof(text)));
	rc_assert(pool->subs[2].state == SUB_FAILED, "wrong subprotocol token must fail: %s",
		  sub_describe(&pool->subs[2], text, sizeof(text)));
	u = rc_udp_for(&srv, "live");
	rc_assert(u != NULL, "udp port");
	ufd = rc_udp_socket(u);
	fds[0] = ufd;
	for (uint64_t s = 0; s < 3; s++)
		rc_assert(rc_udp_send_seq(ufd, 0, s, payload_size(s)) == 0, "udp send");
	{
		uint64_t want[1] = { expect };

		rc_assert(sub_pool_wait_seq(pool, want, 1, RC_WAIT_TIMEOUT_MS), "lws subscribers get data");
	}
	for (int i = 0; i < 2; i++)
		rc_assert(pool->subs[i].count == 3 && !pool->subs[i].mismatches, "%s",
			  sub_describe(&pool->subs[i], text, sizeof(text)));

	/* {"sub"} on /ws: refused with a reason, then accepted with a token. */
	rc_assert(ws_raw_open(&ws2, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "/ws: %s", err);
	ws_raw_send(&ws2, 1, "{\"sub\":\"live\"}", 14);
	next_text(&ws2, text, sizeof(text));
	rc_assert(strcmp(text, "{\"error\":\"token required\",\"channel\":\"live\"}") == 0, "%s", text);
	snprintf(cmd, sizeof(cmd), "{\"sub\":\"live\",\"token\":\"%s\"}", expired);
	ws_raw_send(&ws2, 1, cmd, strlen(cmd));
	next_text(&ws2, text, sizeof(text));
	rc_assert(strcmp(text, "{\"error\":\"token expired\",\"channel\":\"live\"}") == 0, "%s", text);
	snprintf(cmd, sizeof(cmd), "{\"sub\":\"live\",\"token\":\"%s\"}", wrong);
	ws_raw_send(&ws2, 1, cmd, strlen(cmd));
	next_text(&ws2, text, sizeof(text));
	rc_assert(strcmp(text, "{\"error\":\"invalid token\",\"channel\":\"live\"}") == 0, "%s", text);
	snprintf(cmd, sizeof(cmd), "{\"token\":\"%s\",\"sub\":\"live\"}", good);
	ws_raw_send(&ws2, 1, cmd, strlen(cmd));
	next_text(&ws2, text, sizeof(text));
	rc_assert(strcmp(text, "{\"subscribed\":\"live\"}") == 0, "%s", text);

	/* ringcast-token ($RINGCAST_TOKEN_BIN) mints what the server takes. */
	snprintf(bin, sizeof(bin), "%s", getenv("RINGCAST_TOKEN_BIN") ? getenv("RINGCAST_TOKEN_BIN")
								      : "ringcast-token");
	snprintf(cmd, sizeof(cmd), "%s --channel live --secret %s --ttl 60", bin, SECRET);
	f = popen(cmd, "r");
	rc_assert(f != NULL, "popen ringcast-token");
	rc_assert(fgets(tool_tok, sizeof(tool_tok), f) != NULL, "ringcast-token printed nothing");
	rc_assert(pclose(f) == 0, "ringcast-token exit status");
	tool_tok[strcspn(tool_tok, "\n")] = '\0';
	snprintf(path, sizeof(path), "/stream/live?token=%s", tool_tok);
	rc_assert(get_status(path) == 200, "token from ringcast-token: 200 (%s)", tool_tok);

	/* Every refusal was counted. */
	rc_assert(metric("ringcast_access_refused_total{reason=\"token_missing\"}") == 4, "missing");
	rc_assert(metric("ringcast_access_refused_total{reason=\"token_expired\"}") == 3, "expired");
	rc_assert(metric("ringcast_access_refused_total{reason=\"token_invalid\"}") == 4, "invalid");
	ws_raw_close(&ws);
	ws_raw_close(&ws2);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Sends a publisher's opening line and returns the first answer line. */
static void tcp_hello(const char *line, char *answer, size_t cap, int slot)
{
	size_t have = 0;
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int fd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);

	rc_assert(fd >= 0, "tcp connect");
	fds[slot] = fd;
	rc_assert(rc_write_all(fd, line, strlen(line), RC_WAIT_TIMEOUT_MS) == 0, "write");
	answer[0] = '\0';
	while (have < cap - 1 && !memchr(answer, '\n', have) && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, answer + have, cap - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		answer[have] = '\0';
	}
}

static int post_status(const char *path, const char *auth)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n%s\r\nhello",
		 path, auth ? auth : "");
	return first_status(&srv.http, req, NULL);
}

Test(security, publisher_keys, .fini = fini, .timeout = 120)
{
	char answer[128], err[256];
	unsigned char payload[256];
	struct ws_frame f;
	int ufd;
	unsigned char keyed[64];
	size_t kl = 0;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--udp-mux",
		 "127.0.0.1:0", "--channel", "live:key=secretkey1");
	tcp_hello("PUB live raw\n", answer, sizeof(answer), 0);
	rc_assert(strcmp(answer, "ERR forbidden\n") == 0, "no key: '%s'", answer);
	tcp_hello("PUB live raw key=wrongkey1\n", answer, sizeof(answer), 1);
	rc_assert(strcmp(answer, "ERR forbidden\n") == 0, "wrong key: '%s'", answer);
	tcp_hello("PUB live framed key=secretkey1\n", answer, sizeof(answer), 2);
	rc_assert(strcmp(answer, "OK\n") == 0, "right key: '%s'", answer);
	close(fds[2]);
	fds[2] = -1;
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 0, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 NULL), "publisher gone");

	rc_assert(post_status("/pub/live", NULL) == 401, "HTTP publish without key: 401");
	rc_assert(post_status("/pub/live", "Authorization: Bearer wrongkey1\r\n") == 403, "403");
	rc_assert(post_status("/pub/live?key=wrongkey1", NULL) == 403, "?key= wrong: 403");
	rc_assert(post_status("/pub/live", "Authorization: Bearer secretkey1\r\n") == 200, "200");
	rc_assert(post_status("/pub/live?key=secretkey1", NULL) == 200, "?key=: 200");

	/* Keyed mux: a subscriber makes the channel exist; plain and wrongly
	 * keyed datagrams are dropped, the keyed one arrives. */
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws: %s", err);
	ufd = rc_udp_socket(&srv.udp_mux);
	fds[3] = ufd;
	{
		unsigned char r[8] = { 'R', 4, 'l', 'i', 'v', 'e', 'x', 0 };

		rc_assert(send(ufd, r, 7, 0) == 7, "send R");
	}
	keyed[kl++] = 'K';
	keyed[kl++] = 4;
	memcpy(keyed + kl, "live", 4);
	kl += 4;
	keyed[kl++] = 9;
	memcpy(keyed + kl, "wrongkey1", 9);
	rc_assert(send(ufd, keyed, kl + 9 + 1, 0) == (ssize_t)(kl + 10), "send K wrong");
	rc_assert(rc_wait_metric(&srv, "ringcast_access_refused_total{reason=\"mux_key\"}", 2,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "mux refusals counted");
	keyed[kl - 1] = 10;
	memcpy(keyed + kl, "secretkey1", 10);
	memcpy(keyed + kl + 10, "payload", 7);
	rc_assert(send(ufd, keyed, kl + 17, 0) == (ssize_t)(kl + 17), "send K right");
	/* The HTTP publishes above came before the subscriber: the first frame
	 * it sees is the keyed datagram's payload. */
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS) == 1, "frame");
	rc_assert(f.opcode == 2 && f.len == 7 && memcmp(payload, "payload", 7) == 0,
		  "keyed mux payload, got %zu bytes", f.len);
	rc_assert(metric("ringcast_access_refused_total{reason=\"key_missing\"}") == 2, "missing");
	rc_assert(metric("ringcast_access_refused_total{reason=\"key_invalid\"}") == 3, "invalid");
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}

Test(security, origin_and_subscriber_limit, .fini = fini, .timeout = 120)
{
	char err[256], text[256];
	unsigned char payload[64];
	struct ws_frame f;
	int r;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--allow-origin", "http://good.example,https://other.example",
		 "--channel", "live:max-subscribers=2");
	rc_assert(upgrade_status("/ws/live", "Origin: http://evil.example\r\n") == 403, "origin 403");
	rc_assert(upgrade_status("/ws", "Origin: http://evil.example\r\n") == 403, "origin 403 /ws");
	rc_assert(upgrade_status("/ws/x", "Origin: http://GOOD.example\r\n") == 101, "good origin");
	rc_assert(upgrade_status("/ws/x", NULL) == 101, "no Origin: not a browser, allowed");
	rc_assert(metric("ringcast_access_refused_total{reason=\"origin\"}") == 2, "origin counted");

	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "sub 1: %s", err);
	rc_assert(ws_raw_open(&ws2, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "sub 2: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 2, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, NULL), "two subscribers");
	rc_assert(upgrade_status("/ws/live", NULL) == 503, "third WebSocket: 503");
	rc_assert(get_status("/stream/live") == 503, "third (HTTP stream): 503");
	/* Over an existing socket: an error answer, and 1013 for a socket
	 * left with no channel. */
	ws_raw_close(&ws2);
	ws2.fd = -1;
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 1, RC_WAIT_TIMEOUT_MS,
				 NULL, NULL, NULL), "one subscriber left");
	rc_assert(ws_raw_open(&ws2, &srv.http, "/ws/x", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws on x: %s", err);
	ws_raw_send(&ws2, 1, "{\"sub\":\"live\"}", 14);
	next_text(&ws2, text, sizeof(text));
	rc_assert(strcmp(text, "{\"subscribed\":\"live\"}") == 0, "second slot: %s", text);
	ws_raw_close(&ws2);
	ws2.fd = -1;
	{
		struct ws_raw w3 = { .fd = -1 };

		/* Fill live again, then a bare /ws asks for it. */
		rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 1,
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "back to one");
		rc_assert(ws_raw_open(&ws2, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err,
				      sizeof(err)) == 0, "sub 2 again: %s", err);
		rc_assert(ws_raw_open(&w3, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err,
				      sizeof(err)) == 0, "bare /ws: %s", err);
		ws_raw_send(&w3, 1, "{\"sub\":\"live\"}", 14);
		next_text(&w3, text, sizeof(text));
		rc_assert(strcmp(text, "{\"error\":\"channel full\",\"channel\":\"live\"}") == 0, "%s",
			  text);
		r = ws_raw_recv(&w3, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS);
		rc_assert(r == 1 && f.opcode == 8 && f.len >= 2 && (payload[0] << 8 | payload[1]) == 1013,
			  "close 1013 expected (r %d opcode %d)", r, f.opcode);
		ws_raw_close(&w3);
	}
	rc_assert(metric("ringcast_access_refused_total{reason=\"subscriber_limit\"}") == 3,
		  "limit refusals counted");
	rc_assert(metric("ringcast_ws_closes_sent_total{code=\"1013\"}") == 1,
		  "the 1013 close counted under its own code");
	ws_raw_close(&ws);
	ws_raw_close(&ws2);
	RC_STOP_OK(&srv);
}

Test(security, connections_per_ip, .fini = fini, .timeout = 120)
{
	int fd = -1;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--max-conns-per-ip", "2");
	/* Two idle connections from 127.0.0.1 use the allowance... */
	fds[0] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	fds[1] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fds[0] >= 0 && fds[1] >= 0, "connect");
	rc_sleep_ms(200);
	/* ...the third is answered 503 before it sends anything. */
	rc_assert(first_status(&srv.http, NULL, &fd) == 503, "third connection: 503");
	fds[2] = fd;
	/* Leaving frees the place. */
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
	fds[0] = fds[1] = fds[2] = -1;
	{
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		int st = -1;

		while (rc_now_ms() < end && (st = get_status("/healthz")) != 200)
			rc_sleep_ms(50);
		rc_assert(st == 200, "after closing, a connection is served (%d)", st);
	}
	/* The scrape is one more connection from 127.0.0.1: with several
	 * workers the /healthz one may still hold its place for a moment
	 * (a refused scrape reads as no figure), so it is asked again. */
	{
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		long long v;

		while ((v = metric("ringcast_access_refused_total{reason=\"per_ip_limit\"}")) < 1 &&
		       rc_now_ms() < end)
			rc_sleep_ms(50);
		rc_assert(v >= 1, "counted (%lld)", v);
	}
	RC_STOP_OK(&srv);
}

/* One limit for all of an address's TCP connections: publishers count with
 * HTTP and WebSocket connections, a refused publisher gets ERR and is
 * counted, and a publisher that leaves frees its place. */
Test(security, connections_per_ip_counts_publishers, .fini = fini, .timeout = 120)
{
	char answer[128];
	long long v;
	int fd = -1;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--max-conns-per-ip", "2");
	/* One HTTP connection and one publisher use the allowance... */
	fds[0] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fds[0] >= 0, "connect");
	tcp_hello("PUB a raw\n", answer, sizeof(answer), 1);
	rc_assert(strcmp(answer, "OK\n") == 0, "first publisher: '%s'", answer);
	/* ...so a second publisher is refused with a reason... */
	tcp_hello("PUB b raw\n", answer, sizeof(answer), 2);
	rc_assert(strcmp(answer, "ERR too many connections from your address\n") == 0,
		  "a publisher over the per-address limit: '%s'", answer);
	/* ...and so is an HTTP connection. */
	rc_assert(first_status(&srv.http, NULL, &fd) == 503, "HTTP over the limit: 503");
	fds[3] = fd;
	/* A scrape needs a place too: the HTTP connection's. Until the server
	 * has seen it leave, a scrape is refused and counted like the others. */
	close(fds[0]);
	close(fds[3]);
	fds[0] = fds[3] = -1;
	{
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		long long refused = 2;
		struct http_resp r;

		v = -1;
		while (rc_now_ms() < end) {
			if (http_get(&srv.http, "/metrics", &r) == 0) {
				int st = r.status;

				if (st == 200)
					v = metric_value(r.body, "ringcast_access_refused_total"
							 "{reason=\"per_ip_limit\"}");
				http_resp_free(&r);
				if (st == 200)
					break;
				refused += st == 503;
			}
			rc_sleep_ms(50);
		}
		rc_assert(v == refused, "every refusal counted: %lld, want %lld", v, refused);
	}
	/* The publisher leaving frees its place, for a publisher as for HTTP:
	 * with two places, two publishers now. */
	fds[0] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fds[0] >= 0, "connect");
	close(fds[1]);
	close(fds[2]);
	fds[1] = fds[2] = -1;
	/* A place is free once the server has seen its connection go, which
	 * it learns asynchronously (on another worker with several): ask
	 * until it is (a scrape to watch for it would take a place itself). */
	{
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;

		for (;;) {
			tcp_hello("PUB b raw\n", answer, sizeof(answer), 1);
			if (strcmp(answer, "OK\n") == 0 || rc_now_ms() >= end)
				break;
			rc_assert(strcmp(answer, "ERR too many connections from your address\n") == 0,
				  "while the places free: '%s'", answer);
			close(fds[1]);
			fds[1] = -1;
			rc_sleep_ms(50);
		}
	}
	rc_assert(strcmp(answer, "OK\n") == 0, "a publisher after one left: '%s'", answer);
	close(fds[0]);
	close(fds[1]);
	fds[0] = fds[1] = -1;
	{
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		int st = -1;

		while (rc_now_ms() < end && (st = get_status("/healthz")) != 200)
			rc_sleep_ms(50);
		rc_assert(st == 200, "after the publishers left, HTTP is served (%d)", st);
	}
	RC_STOP_OK(&srv);
}

Test(security, udp_source_allowlist, .fini = fini, .timeout = 120)
{
	char err[256];
	unsigned char payload[2048];
	struct ws_frame f;
	const struct rc_endpoint *u;
	struct rc_server other;
	const char *const bad_args[] = { "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
					 "--udp-allow", "127.0.0.2:0=127.0.0.0/8", NULL };

	/* Only 10.0.0.0/8 may send: loopback datagrams are dropped, counted. */
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--udp-allow", "127.0.0.1:0=10.0.0.0/8,2001:db8::/32");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws: %s", err);
	u = rc_udp_for(&srv, "live");
	fds[0] = rc_udp_socket(u);
	for (uint64_t s = 0; s < 5; s++)
		rc_assert(rc_udp_send_seq(fds[0], 0, s, 100) == 0, "send");
	rc_assert(rc_wait_metric(&srv, "ringcast_access_refused_total{reason=\"udp_source\"}", 5,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "5 datagrams denied");
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), 300) == -2,
		  "nothing may reach the subscriber");
	rc_assert(metric("ringcast_ingest_messages_total{channel=\"live\"}") == 0, "none published");
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);

	/* Loopback allowed: delivered. */
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--udp-allow", "127.0.0.1:0=127.0.0.0/8");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "ws: %s", err);
	u = rc_udp_for(&srv, "live");
	close(fds[0]);
	fds[0] = rc_udp_socket(u);
	rc_assert(rc_udp_send_seq(fds[0], 0, 0, 100) == 0, "send");
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS) == 1 &&
		  payload_match(0, 0, 100, payload, f.len), "allowed datagram delivered");
	rc_assert(metric("ringcast_access_refused_total{reason=\"udp_source\"}") == 0, "none denied");
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);

	/* An allowlist for an address no port has is refused at start. */
	memset(&other, 0, sizeof(other));
	rc_assert(rc_server_start(&other, NULL, bad_args) == RC_EXITED &&
		  WIFEXITED(other.status) && WEXITSTATUS(other.status) == 1,
		  "--udp-allow for no port must stop the start");
}
