/* HTTP surface of the gateway: health, metrics, keep-alive, error answers,
 * WebSocket control frames, IPv6 listening. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct rc_server srv;

static void start_default(void)
{
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
}

/* One request on its own connection; fails the test when no complete
 * response comes back. */
static void exchange1(const void *req, size_t len, struct http_resp *r)
{
	char err[256];
	int n = http_exchange(&srv.http, req, len, r, 1, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err));

	rc_assert(n == 1, "expected one response, got %d (%s)", n, err);
}

Test(http, healthz, .fini = rc_cleanup)
{
	struct http_resp r;

	start_default();
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0, "GET /healthz");
	rc_assert(r.status == 200, "/healthz status %d", r.status);
	rc_assert(r.body_len == 3 && memcmp(r.body, "ok\n", 3) == 0,
		  "/healthz body '%s' (%zu bytes), want \"ok\\n\"", r.body,
		  r.body_len);
	http_resp_free(&r);
	RC_STOP_OK(&srv);
}

Test(http, pipelined_keepalive, .fini = rc_cleanup)
{
	static const char req[] =
		"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	struct http_resp r[2];
	char err[256], ct[128];
	int n;

	start_default();
	/* one write carrying both requests: the server must answer both, in
	 * order, on the same connection */
	n = http_exchange(&srv.http, req, sizeof(req) - 1, r, 2,
			  RC_WAIT_TIMEOUT_MS, err, sizeof(err));
	rc_assert(n == 2, "expected 2 pipelined responses, got %d (%s)", n,
		  err);
	rc_assert(r[0].status == 200 && r[0].body_len == 3 &&
			  memcmp(r[0].body, "ok\n", 3) == 0,
		  "first response should be /healthz: status %d body '%s'",
		  r[0].status, r[0].body);
	rc_assert(r[1].status == 200, "second response status %d",
		  r[1].status);
	rc_assert(http_header(&r[1], "Content-Type", ct, sizeof(ct)) &&
			  strncmp(ct, "text/plain", 10) == 0,
		  "/metrics Content-Type '%s'",
		  http_header(&r[1], "Content-Type", ct, sizeof(ct)) ? ct :
								       "(none)");
	rc_assert(metric_value(r[1].body, "ringcast_connections") >= 1,
		  "second response should be /metrics with "
		  "ringcast_connections:\n%s", r[1].body);
	http_resp_free(&r[0]);
	http_resp_free(&r[1]);
	RC_STOP_OK(&srv);
}

Test(http, metrics_exposition, .fini = rc_cleanup)
{
	static const char *const present[] = {
		"ringcast_connections",
		"ringcast_connections_accepted_total",
		"ringcast_delivered_frames_total",
		"ringcast_delivered_bytes_total",
		"ringcast_bufring_buffers{state=\"free\"}",
		"ringcast_bufring_buffers{state=\"in_use\"}",
		"ringcast_ring_submissions_total",
		"ringcast_ring_cqes_total",
		"ringcast_ring_cq_overflow_total",
		"ringcast_ring_extra_passes_total",
		"ringcast_ring_capped_turns_total",
	};
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	unsigned char payload[2048];
	struct ws_frame f;
	struct http_resp r;
	long long v;
	char err[256], info[160];
	int fd, rc;

	rc_assert(ws, "calloc");
	start_default();
	rc_assert(ws_raw_open(ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err)) == 0, "upgrade: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 1, RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "subscribers gauge for live should reach 1, last %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	rc_assert(rc_udp_send_seq(fd, 0, 0, 100) == 0, "udp send");
	rc = ws_raw_recv(ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS);
	rc_assert(rc == 1 && f.opcode == 2 && f.fin &&
			  payload_match(0, 0, 100, payload, f.len),
		  "subscriber should get the 100-byte datagram as one binary "
		  "message (rc %d opcode %d len %zu)", rc, f.opcode, f.len);

	/* the datagram was delivered, so every counter below has moved */
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel="
				 "\"live\"}", 1, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 &v), "ingest messages live should be 1, "
		  "last %lld", v);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_bytes_total{channel="
				 "\"live\"}", 100, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v), "ingest bytes live should be 100, "
		  "last %lld", v);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_delivered_frames_total", 1,
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "delivered frames should be >= 1, last %lld", v);
	rc_assert(http_get(&srv.http, "/metrics", &r) == 0, "GET /metrics");
	rc_assert(r.status == 200, "/metrics status %d", r.status);
	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		rc_assert(metric_value(r.body, present[i]) >= 0,
			  "metric %s missing from:\n%s", present[i], r.body);
	rc_assert(metric_value(r.body, "ringcast_connections") >= 2,
		  "open connections should count the subscriber and the "
		  "scrape:\n%s", r.body);
	rc_assert(metric_value(r.body, "ringcast_delivered_bytes_total") >= 100,
		  "delivered bytes:\n%s", r.body);
	rc_assert(metric_value(r.body, "ringcast_ring_submissions_total") > 0 &&
			  metric_value(r.body, "ringcast_ring_cqes_total") > 0,
		  "ring counters should have moved:\n%s", r.body);
	/* The backend and why: io_uring on auto here, epoll when asked. */
	snprintf(info, sizeof(info), "ringcast_backend_info{backend=\"%s\",reason=\"--backend %s\"}",
		 rc_backend(), strcmp(rc_backend(), "epoll") == 0 ? "epoll" : "auto");
	rc_assert(metric_value(r.body, info) == 1, "%s should be 1:\n%s", info, r.body);
	http_resp_free(&r);
	close(fd);
	ws_raw_close(ws);
	free(ws);
	RC_STOP_OK(&srv);
}

/* Writes req on a new connection and reads until the server closes it (or
 * cap-1 bytes, or the deadline). Returns the bytes read, NUL-terminated. */
static size_t raw_until_close(const char *req, char *buf, size_t cap)
{
	int64_t deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	size_t len = 0;

	rc_assert(fd >= 0, "connect");
	rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "write");
	while (len < cap - 1 && rc_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

/* The Content-Length of the response head at head, or -1 when absent. */
static long content_length_of(const char *head)
{
	const char *end = strstr(head, "\r\n\r\n");
	const char *cl = strstr(head, "\r\nContent-Length: ");

	return cl && end && cl < end ? strtol(cl + 18, NULL, 10) : -1;
}

/* HEAD carries the GET's headers, Content-Length included, and no body:
 * a keep-alive request after it on the same connection still parses.
 * /metrics, /connections and /channels render counters that may move
 * between two requests, so their lengths are compared with some slack;
 * and /connections lists the test's earlier connections until every
 * worker has seen them close (with several workers under ThreadSanitizer,
 * one listing may still hold one that the next does not), so a pair that
 * differs by more is asked again, a bounded number of times. */
Test(http, head_carries_get_headers, .fini = rc_cleanup)
{
	static const char *const paths[] = { "/healthz", "/metrics", "/channels", "/connections" };
	static char buf[1 << 20];

	start_default();
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[256], ctype[128], want_ctype[128];
		struct http_resp get;
		const char *end;
		long len;

		for (int attempt = 0;; attempt++) {
			rc_assert(http_get(&srv.http, paths[i], &get) == 0 && get.status == 200,
				  "GET %s", paths[i]);
			rc_assert(http_header(&get, "Content-Type", want_ctype, sizeof(want_ctype)),
				  "GET %s Content-Type", paths[i]);
			snprintf(req, sizeof(req),
				 "HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n"
				 "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
				 paths[i]);
			raw_until_close(req, buf, sizeof(buf));
			end = strstr(buf, "\r\n\r\n");
			rc_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0 && end, "HEAD %s: %s", paths[i],
				  buf);
			len = content_length_of(buf);
			if ((len > 0 && (size_t)len + 100 >= get.body_len &&
			     (size_t)len <= get.body_len + 100) ||
			    i != 3 || attempt == 20)
				break;
			http_resp_free(&get);
			rc_sleep_ms(50);
		}
		rc_assert(len > 0 && (size_t)len + 100 >= get.body_len &&
				  (size_t)len <= get.body_len + 100,
			  "HEAD %s: Content-Length %ld, GET's body has %zu bytes", paths[i], len,
			  get.body_len);
		if (i == 0)
			rc_assert(len == 3, "HEAD /healthz: Content-Length %ld, want 3", len);
		{
			const char *ct = strstr(buf, "\r\nContent-Type: ");

			rc_assert(ct && ct < end, "HEAD %s: no Content-Type", paths[i]);
			snprintf(ctype, sizeof(ctype), "%.*s", (int)strcspn(ct + 16, "\r"), ct + 16);
			rc_assert(strcmp(ctype, want_ctype) == 0, "HEAD %s: Content-Type %s, GET's %s",
				  paths[i], ctype, want_ctype);
		}
		rc_assert(strncmp(end + 4, "HTTP/1.1 200", 12) == 0 &&
				  strstr(end + 4, "\r\n\r\nok\n") != NULL,
			  "HEAD %s sent a body: the next answer should follow its head: '%.200s'",
			  paths[i], end + 4);
		http_resp_free(&get);
	}
	RC_STOP_OK(&srv);
}

/* HEAD /stream/<ch> and /sse/<ch>: exactly the head a GET gets (its body is
 * delimited by the connection's close, so no Content-Length), then the
 * close, with nothing after the head. */
Test(http, head_of_streams_carries_get_headers, .fini = rc_cleanup)
{
	static const char *const paths[] = { "/stream/live", "/sse/live" };
	static char buf[8192], got[8192];

	start_default();
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[256];
		size_t have = 0;
		int64_t deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		int fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		size_t len;

		/* The GET's head, read byte by byte up to its blank line. */
		rc_assert(fd >= 0, "connect");
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
		rc_assert(rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "write");
		while (have < sizeof(got) - 1 && rc_now_ms() < deadline &&
		       !(have >= 4 && memcmp(got + have - 4, "\r\n\r\n", 4) == 0)) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, 50) > 0 && read(fd, got + have, 1) == 1)
				have++;
		}
		got[have] = '\0';
		close(fd);
		rc_assert(strncmp(got, "HTTP/1.1 200", 12) == 0, "GET %s: %s", paths[i], got);

		snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
		len = raw_until_close(req, buf, sizeof(buf));
		rc_assert(len == have && strcmp(buf, got) == 0,
			  "HEAD %s should answer the GET's head and close:\n%s\nGET's:\n%s", paths[i],
			  buf, got);
	}
	RC_STOP_OK(&srv);
}

/* RFC 9112 3.2.2: a server MUST accept a request-target in absolute form.
 * Routing uses its path (and query); its authority, not Host, names the
 * target. A WebSocket upgrade on an absolute-form /ws/<ch> subscribes. */
Test(http, absolute_form_targets, .fini = rc_cleanup)
{
	static const char msg[] = "absolute";
	char req[512], buf[4096], path[128], err[256];
	unsigned char payload[64];
	struct ws_raw ws = { .fd = -1 };
	struct ws_frame f;
	long long v;
	int fd;

	start_default();
	snprintf(req, sizeof(req),
		 "GET http://%s:%d/healthz HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n"
		 "GET HTTP://%s:%d/connections?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 srv.http.host, srv.http.port, srv.http.host, srv.http.port);
	raw_until_close(req, buf, sizeof(buf));
	rc_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\nok\n"),
		  "absolute-form GET /healthz: %s", buf);
	{
		const char *second = strstr(buf, "ok\n");

		rc_assert(second && strncmp(second + 3, "HTTP/1.1 200", 12) == 0 &&
				  strstr(second, "application/json"),
			  "absolute-form GET /connections?limit=1 (scheme in capitals): %s", buf);
	}
	/* An empty path is "/" (the static files' root here): not a 400. */
	snprintf(req, sizeof(req), "GET http://%s:%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 srv.http.host, srv.http.port);
	raw_until_close(req, buf, sizeof(buf));
	rc_assert(strncmp(buf, "HTTP/1.1 400", 12) != 0, "absolute form with an empty path: %s", buf);

	snprintf(path, sizeof(path), "http://%s:%d/ws/live", srv.http.host, srv.http.port);
	rc_assert(ws_raw_open(&ws, &srv.http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "WebSocket upgrade on %s: %s", path, err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v), "subscribed, last %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	rc_assert(send(fd, msg, sizeof(msg) - 1, 0) == (ssize_t)sizeof(msg) - 1, "udp send");
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS) == 1 &&
			  f.len == sizeof(msg) - 1 && memcmp(payload, msg, f.len) == 0,
		  "the absolute-form subscriber gets the channel's message");
	close(fd);
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}

Test(http, not_found, .fini = rc_cleanup)
{
	struct http_resp r;

	start_default();
	rc_assert(http_get(&srv.http, "/no/such/path", &r) == 0, "GET");
	rc_assert(r.status == 404, "unknown path status %d, want 404",
		  r.status);
	http_resp_free(&r);
	RC_STOP_OK(&srv);
}

Test(http, header_too_large, .fini = rc_cleanup)
{
	size_t fill = 9 * 1024;
	char *req = malloc(fill + 256);
	struct http_resp r;
	int n;

	rc_assert(req, "malloc");
	start_default();
	n = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: ");
	memset(req + n, 'a', fill);
	n += (int)fill;
	n += sprintf(req + n, "\r\n\r\n");
	exchange1(req, (size_t)n, &r);
	rc_assert(r.status == 431, "9 KiB request head status %d, want 431",
		  r.status);
	http_resp_free(&r);

	/* the same request with a 7 KiB header is within the limit */
	n = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: ");
	memset(req + n, 'a', 7 * 1024);
	n += 7 * 1024;
	n += sprintf(req + n, "\r\n\r\n");
	exchange1(req, (size_t)n, &r);
	rc_assert(r.status == 200, "7 KiB request head status %d, want 200",
		  r.status);
	http_resp_free(&r);
	free(req);
	RC_STOP_OK(&srv);
}

Test(http, garbage_request, .fini = rc_cleanup)
{
	static const char bin[] = "\x16\x03\x01\x00\xff garbage \x01\x02\r\n\r\n";
	static const char text[] = "THIS IS NOT HTTP\r\n\r\n";
	struct http_resp r;

	start_default();
	exchange1(bin, sizeof(bin) - 1, &r);
	rc_assert(r.status == 400, "binary garbage status %d, want 400",
		  r.status);
	http_resp_free(&r);
	exchange1(text, sizeof(text) - 1, &r);
	rc_assert(r.status == 400, "text garbage status %d, want 400",
		  r.status);
	http_resp_free(&r);
	/* still serving after bad clients */
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200,
		  "healthz after garbage");
	http_resp_free(&r);
	RC_STOP_OK(&srv);
}

Test(http, websocket_version_8_rejected, .fini = rc_cleanup)
{
	static const char req[] =
		"GET /ws/live HTTP/1.1\r\n"
		"Host: t\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 8\r\n\r\n";
	struct http_resp r;

	start_default();
	exchange1(req, sizeof(req) - 1, &r);
	rc_assert(r.status == 426, "version 8 upgrade status %d, want 426",
		  r.status);
	http_resp_free(&r);
	RC_STOP_OK(&srv);
}

/* Next frame that is not a server ping (the server may ping on its own
 * schedule; that is not what these checks are about). */
static int recv_skip_pings(struct ws_raw *ws, struct ws_frame *f,
			   unsigned char *buf, size_t cap)
{
	int64_t deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	int rc = -2;

	for (int i = 0; i < 100; i++) {
		int left = (int)(deadline - rc_now_ms());

		if (left <= 0)
			return -2;
		rc = ws_raw_recv(ws, f, buf, cap, left);
		if (rc != 1 || f->opcode != 9)
			return rc;
	}
	return rc;
}

Test(http, ping_pong_and_close_echo, .fini = rc_cleanup)
{
	static const char ping[] = "are you there?";
	unsigned char buf[256], close_body[5] = { 0x03, 0xe8, 'b', 'y', 'e' };
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	struct ws_frame f;
	char err[256];
	int rc;

	rc_assert(ws, "calloc");
	start_default();
	rc_assert(ws_raw_open(ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err)) == 0, "upgrade: %s", err);

	rc_assert(ws_raw_send(ws, 9, ping, sizeof(ping) - 1) == 0, "send ping");
	rc = recv_skip_pings(ws, &f, buf, sizeof(buf));
	rc_assert(rc == 1, "no frame after ping (rc %d)", rc);
	rc_assert(f.opcode == 10 && f.fin && f.len == sizeof(ping) - 1 &&
			  memcmp(buf, ping, f.len) == 0,
		  "ping should be answered by a pong with the same payload "
		  "(opcode %d len %zu)", f.opcode, f.len);

	/* 1000 "bye": the server must echo a close frame (RFC 6455 5.5.1) */
	rc_assert(ws_raw_send(ws, 8, close_body, sizeof(close_body)) == 0,
		  "send close");
	rc = recv_skip_pings(ws, &f, buf, sizeof(buf));
	rc_assert(rc == 1 && f.opcode == 8,
		  "expected an echoed close frame (rc %d opcode %d)", rc,
		  rc == 1 ? f.opcode : -1);
	rc_assert(f.len >= 2 && ((buf[0] << 8) | buf[1]) == 1000,
		  "echoed close code %d, want 1000",
		  f.len >= 2 ? (buf[0] << 8) | buf[1] : -1);
	/* after the close handshake the server ends the TCP connection */
	rc = ws_raw_recv(ws, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
	rc_assert(rc == 0 || rc == -1,
		  "connection should end after the close handshake (rc %d)",
		  rc);
	ws_raw_close(ws);
	free(ws);
	RC_STOP_OK(&srv);
}

static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	int ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

Test(http, ipv6_listen, .fini = rc_cleanup)
{
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	unsigned char payload[2048];
	struct http_resp r;
	struct ws_frame f;
	char err[256];
	long long v;
	int fd, rc;

	rc_assert(ws, "calloc");
	if (!have_ipv6_loopback()) {
		free(ws);
		cr_skip_test("no IPv6 loopback (::1) on this machine");
	}
	RC_START(&srv, "--listen", "[::1]:0", "--udp", "[::1]:0=live");
	rc_assert(srv.http.family == AF_INET6 && strcmp(srv.http.host, "::1") ==
						     0,
		  "listen http line should show [::1], got '%s'",
		  srv.http.host);
	rc_assert(srv.n_udp == 1 && srv.udp[0].family == AF_INET6,
		  "listen udp line should show an IPv6 address");
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200,
		  "healthz over ::1");
	http_resp_free(&r);

	rc_assert(ws_raw_open(ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err)) == 0, "upgrade over ::1: %s",
		  err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 1, RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "subscribers gauge should reach 1, last %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket to ::1");
	rc_assert(rc_udp_send_seq(fd, 0, 7, 1400) == 0, "udp send");
	rc = ws_raw_recv(ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS);
	rc_assert(rc == 1 && f.opcode == 2 &&
			  payload_match(0, 7, 1400, payload, f.len),
		  "datagram over IPv6 should arrive intact (rc %d len %zu)",
		  rc, f.len);
	close(fd);
	ws_raw_close(ws);
	free(ws);
	RC_STOP_OK(&srv);
}

Test(http, request_in_pieces, .fini = rc_cleanup)
{
	static const char req[] =
		"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	char buf[1024];
	size_t len = 0;
	int fd;

	start_default();
	fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fd >= 0, "connect");
	/* one byte per segment: the parser must cope with partial heads */
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		rc_assert(rc_write_all(fd, req + i, 1, RC_WAIT_TIMEOUT_MS) == 0,
			  "write byte %zu", i);
		rc_sleep_ms(2);
	}
	{
		int64_t deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;

		for (int i = 0; i < 10000 && len < sizeof(buf) - 1 &&
				!strstr(buf, "\r\n\r\nok\n"); i++) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;

			buf[len] = '\0';
			if (poll(&p, 1, (int)(deadline - rc_now_ms())) <= 0)
				break;
			n = read(fd, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
		}
	}
	buf[len] = '\0';
	rc_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0 &&
			  strstr(buf, "\r\n\r\nok\n"),
		  "byte-by-byte request should get 200 ok, got:\n%s", buf);
	close(fd);
	RC_STOP_OK(&srv);
}

Test(http, channel_names, .fini = rc_cleanup)
{
	static const char *const good[] = {
		"/ws/no-such-channel-yet",
		"/ws/A.z_0-9",
		"/ws/x",
		("/ws/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),	/* 64 */
	};
	static const char *const bad[] = {
		"/ws/",
		("/ws/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),	/* 65 */
		"/ws/bad%20name",
		"/ws/a/b",
		"/ws/semi;colon",
	};
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	char err[256];

	rc_assert(ws, "calloc");
	start_default();
	rc_assert(strlen(good[3]) == 4 + 64 && strlen(bad[1]) == 4 + 65,
		  "name lengths in this test");
	/* channels need not exist before someone subscribes */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rc_assert(ws_raw_open(ws, &srv.http, good[i], 0,
				      RC_WAIT_TIMEOUT_MS, err, sizeof(err)) ==
				  0, "upgrade to %s should succeed: %s",
			  good[i], err);
		ws_raw_close(ws);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ws_raw_open(ws, &srv.http, bad[i], 0,
				     RC_WAIT_TIMEOUT_MS, err, sizeof(err));

		ws_raw_close(ws);
		rc_assert(rc != 0, "upgrade to invalid channel %s should be "
			  "refused", bad[i]);
	}
	free(ws);
	RC_STOP_OK(&srv);
}

Test(http, handshake_timeout_closes_idle_connections, .fini = rc_cleanup)
{
	static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
	unsigned char buf[4096];
	int fds[2];
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--handshake-timeout", "500");
	/* one client says nothing, one stops halfway through its head */
	for (int i = 0; i < 2; i++) {
		fds[i] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		rc_assert(fds[i] >= 0, "connect");
	}
	rc_assert(rc_write_all(fds[1], partial, sizeof(partial) - 1,
			       RC_WAIT_TIMEOUT_MS) == 0, "write");
	for (int i = 0; i < 2; i++) {
		int64_t deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
		int ended = 0;

		/* the server may answer (408) before closing; read to EOF */
		for (int k = 0; k < 1000 && !ended; k++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, (int)(deadline - rc_now_ms() > 0 ?
					      deadline - rc_now_ms() : 0)) <= 0)
				break;
			n = read(fds[i], buf, sizeof(buf));
			ended = n == 0 || (n < 0 && errno != EAGAIN &&
					   errno != EINTR);
		}
		rc_assert(ended, "connection %d should be closed after the "
			  "500 ms handshake timeout", i);
		close(fds[i]);
	}
	rc_assert(rc_wait_metric(&srv, "ringcast_connections", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "only the scrape should remain connected, last %lld", v);
	RC_STOP_OK(&srv);
}

Test(http, handshake_timeout_spares_subscribers, .fini = rc_cleanup)
{
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	unsigned char payload[2048];
	struct ws_frame f;
	char err[256];
	long long v;
	int fd, rc;

	rc_assert(ws, "calloc");
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--handshake-timeout", "300");
	rc_assert(ws_raw_open(ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err)) == 0, "upgrade: %s", err);
	/* idle well past the handshake timeout: it covers the request, not
	 * an upgraded subscriber waiting for data */
	rc_sleep_ms(1500);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 1, RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "subscriber should still be there, gauge %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	rc_assert(rc_udp_send_seq(fd, 0, 3, 1400) == 0, "udp send");
	for (int i = 0; i < 10; i++) {
		rc = ws_raw_recv(ws, &f, payload, sizeof(payload),
				 RC_WAIT_TIMEOUT_MS);
		if (rc != 1 || f.opcode != 9)
			break;
	}
	rc_assert(rc == 1 && f.opcode == 2 &&
			  payload_match(0, 3, 1400, payload, f.len),
		  "idle subscriber should still receive (rc %d opcode %d)", rc,
		  rc == 1 ? f.opcode : -1);
	close(fd);
	ws_raw_close(ws);
	free(ws);
	RC_STOP_OK(&srv);
}

Test(http, server_pings_and_drops_silent_subscribers, .fini = rc_cleanup)
{
	struct ws_raw *ws = calloc(1, sizeof(*ws));
	unsigned char buf[256];
	struct ws_frame f;
	char err[256];
	int rc, pings = 0, ended = 0;
	int64_t deadline;

	rc_assert(ws, "calloc");
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--ping-interval", "300");
	rc_assert(ws_raw_open(ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS,
			      err, sizeof(err)) == 0, "upgrade: %s", err);
	/* an idle subscriber gets pinged; answering keeps it connected */
	for (int i = 0; i < 3; i++) {
		rc = ws_raw_recv(ws, &f, buf, sizeof(buf), RC_WAIT_TIMEOUT_MS);
		rc_assert(rc == 1 && f.opcode == 9,
			  "expected a ping from the server (rc %d opcode %d) "
			  "after %d pings", rc, rc == 1 ? f.opcode : -1, pings);
		pings++;
		rc_assert(ws_raw_send(ws, 10, buf, f.len) == 0, "send pong");
	}
	/* then stop answering: the server has to give up on us */
	deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	for (int i = 0; i < 1000 && rc_now_ms() < deadline; i++) {
		rc = ws_raw_recv(ws, &f, buf, sizeof(buf),
				 (int)(deadline - rc_now_ms()));
		if (rc == 1 && (f.opcode == 9 || f.opcode == 8))
			continue;
		ended = rc == 0 || rc == -1;
		break;
	}
	rc_assert(ended, "a subscriber that stops answering pings should be "
		  "disconnected (last rc %d)", rc);
	ws_raw_close(ws);
	free(ws);
	RC_STOP_OK(&srv);
}
