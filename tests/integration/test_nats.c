/* --nats: every worker keeps its own connection to a NATS server and
 * publishes each message its publishers ingest to <prefix>.ch.<channel>,
 * byte for byte and in order. A real nats-server (Debian's package) runs on
 * a free loopback port; a raw NATS subscriber written here reads what
 * ringcast publishes. Covered: delivery of datagrams of several sizes and
 * the metrics; a server killed (SIGKILL) and restarted on the same port
 * (ringcast reconnects, local WebSocket delivery goes on meanwhile); a
 * server that only appears after ringcast started; a frozen server
 * (SIGSTOP), noticed by its missing PONGs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SUB_BUF (256 * 1024)

static struct rc_server srv;
static pid_t nats_pid = -1;
static int udp_fd = -1;
static struct ws_raw ws;
static bool ws_open;

struct nsub {
	int fd;
	size_t len;
	unsigned char buf[SUB_BUF];
};

static struct nsub subs[2] = { { .fd = -1 }, { .fd = -1 } };

/* Sends sig to the NATS server and reaps it (SIGKILL after 5 s). */
static void nats_stop(int sig)
{
	int64_t end = rc_now_ms() + 5000;
	int status;

	if (nats_pid <= 0)
		return;
	kill(nats_pid, sig);
	kill(nats_pid, SIGCONT);	/* a frozen one must see the signal */
	while (waitpid(nats_pid, &status, WNOHANG) == 0) {
		if (rc_now_ms() >= end) {
			kill(nats_pid, SIGKILL);
			waitpid(nats_pid, &status, 0);
			break;
		}
		rc_sleep_ms(10);
	}
	nats_pid = -1;
}

static void fini(void)
{
	for (int i = 0; i < 2; i++) {
		if (subs[i].fd >= 0)
			close(subs[i].fd);
		subs[i].fd = -1;
		subs[i].len = 0;
	}
	if (udp_fd >= 0)
		close(udp_fd);
	udp_fd = -1;
	if (ws_open)
		ws_raw_close(&ws);
	ws_open = false;
	rc_cleanup();
	nats_stop(SIGTERM);
}

static const char *nats_bin(void)
{
	const char *env = getenv("NATS_SERVER");

	if (env && *env)
		return env;
	return "/usr/sbin/nats-server";
}

/* A loopback TCP port nobody listens on now. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A TCP connection to 127.0.0.1:port within timeout_ms (blocking fd), or -1. */
static int tcp_to(int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int64_t end = rc_now_ms() + timeout_ms;

	do {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		rc_sleep_ms(20);
	} while (rc_now_ms() < end);
	return -1;
}

/* Starts nats-server on 127.0.0.1:port and waits until it accepts. */
static void nats_start(int port)
{
	pid_t parent = getpid();
	char p[16];
	int fd;

	snprintf(p, sizeof(p), "%d", port);
	nats_pid = fork();
	rc_assert(nats_pid >= 0, "fork: %s", strerror(errno));
	if (nats_pid == 0) {
		int null;

		/* A test that dies (crash, Criterion timeout) must not leave
		 * the server behind, as harness.c's child_exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(nats_bin(), "nats-server", "-a", "127.0.0.1", "-p", p, (char *)NULL);
		_exit(127);
	}
	fd = tcp_to(port, rc_time_scale_ms(10000));
	rc_assert(fd >= 0, "nats-server does not accept on port %d", port);
	close(fd);
}

/* Waits until sub holds at least need bytes. */
static int sub_fill(struct nsub *s, size_t need, int64_t end)
{
	while (s->len < need) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		ssize_t n;
		int left = (int)(end - rc_now_ms());

		if (left <= 0 || need > SUB_BUF)
			return -1;
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(s->fd, s->buf + s->len, SUB_BUF - s->len);
		if (n <= 0)
			return -1;
		s->len += (size_t)n;
	}
	return 0;
}

static void sub_drop(struct nsub *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

/* The next line (CRLF dropped) into line; answers PINGs. Returns its length
 * or -1. */
static int sub_line(struct nsub *s, char *line, size_t cap, int64_t end)
{
	for (;;) {
		unsigned char *crlf = s->len ? memmem(s->buf, s->len, "\r\n", 2) : NULL;
		size_t n;

		if (!crlf) {
			if (sub_fill(s, s->len + 1, end) < 0)
				return -1;
			continue;
		}
		n = (size_t)(crlf - s->buf);
		if (n >= cap)
			return -1;
		memcpy(line, s->buf, n);
		line[n] = '\0';
		sub_drop(s, n + 2);
		if (strcmp(line, "PING") == 0) {
			if (rc_write_all(s->fd, "PONG\r\n", 6, 1000) < 0)
				return -1;
			continue;
		}
		return (int)n;
	}
}

/* A raw NATS subscriber of subject on the server at port, ready once its
 * PONG came back (the SUB is in place). */
static void sub_open(struct nsub *s, int port, const char *subject)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	char line[8192];
	char req[256];
	int fl;

	s->len = 0;
	s->fd = tcp_to(port, RC_WAIT_TIMEOUT_MS);
	rc_assert(s->fd >= 0, "connect to nats-server");
	fl = fcntl(s->fd, F_GETFL);
	fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
	rc_assert(sub_line(s, line, sizeof(line), end) > 0 && strncmp(line, "INFO ", 5) == 0,
		  "nats-server should greet with INFO");
	snprintf(req, sizeof(req), "CONNECT {}\r\nSUB %s 1\r\nPING\r\n", subject);
	rc_assert(rc_write_all(s->fd, req, strlen(req), 5000) == 0, "write SUB");
	for (;;) {
		rc_assert(sub_line(s, line, sizeof(line), end) >= 0, "no PONG from nats-server");
		if (strcmp(line, "PONG") == 0)
			break;
		rc_assert(strcmp(line, "+OK") == 0, "unexpected from nats-server: %s", line);
	}
}

/* Reads the next MSG: checks its subject and sid, returns its payload's
 * length (payload copied into out), or -1 on timeout or a malformed one. */
static long sub_msg(struct nsub *s, const char *subject, unsigned char *out, size_t cap,
		    int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	char line[512], subj[256], sid[32];
	unsigned long n;

	for (;;) {
		if (sub_line(s, line, sizeof(line), end) < 0)
			return -1;
		if (strcmp(line, "+OK") && strcmp(line, "PONG"))
			break;
	}
	if (sscanf(line, "MSG %255s %31s %lu", subj, sid, &n) != 3 || strcmp(subj, subject) ||
	    strcmp(sid, "1") || n > cap)
		return -1;
	if (sub_fill(s, n + 2, end) < 0 || memcmp(s->buf + n, "\r\n", 2))
		return -1;
	memcpy(out, s->buf, n);
	sub_drop(s, n + 2);
	return (long)n;
}

static const size_t sizes[] = { 1, 17, 300, 1400, 2000, 2100, 4096, 9000, 30000, 65000, 8, 1 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Sends the sizes as datagrams seq0.. and checks the subscriber gets each,
 * byte-identical and in order. */
static void check_flow(struct nsub *s, uint64_t seq0)
{
	static unsigned char got[70000];

	for (size_t i = 0; i < NSIZES; i++)
		rc_assert(rc_udp_send_seq(udp_fd, 0, seq0 + i, sizes[i]) == 0, "send datagram: %s",
			  strerror(errno));
	for (size_t i = 0; i < NSIZES; i++) {
		long n = sub_msg(s, "ringcast.ch.live", got, sizeof(got), RC_WAIT_TIMEOUT_MS);

		rc_assert(n >= 0, "message %zu (%zu bytes) should arrive from NATS", i, sizes[i]);
		rc_assert(payload_match(0, seq0 + i, sizes[i], got, (size_t)n),
			  "message %zu: %ld bytes, not the %zu bytes sent, or not in order", i, n,
			  sizes[i]);
	}
}

static void start_ringcast_on(int port, const char *channel)
{
	char url[64], udp[128];

	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
	snprintf(udp, sizeof(udp), "127.0.0.1:0=%s", channel);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", udp, "--nats", url);
	udp_fd = rc_udp_socket(rc_udp_for(&srv, channel));
	rc_assert(udp_fd >= 0, "udp socket");
}

static void start_ringcast(int port)
{
	start_ringcast_on(port, "live");
}

static void require_nats(void)
{
	if (access(nats_bin(), X_OK) != 0)
		cr_skip_test("no %s (Debian package nats-server)", nats_bin());
}

static void wait_connected(long long want, const char *why)
{
	long long last = -1;

	rc_assert(rc_wait_metric(&srv, "ringcast_nats_connected", want, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &last),
		  "ringcast_nats_connected should be %lld %s, is %lld", want, why, last);
}

/* A WebSocket subscriber of live gets datagram seq (small). */
static void check_ws(uint64_t seq, size_t size)
{
	unsigned char got[4096];
	struct ws_frame f;

	rc_assert(rc_udp_send_seq(udp_fd, 0, seq, size) == 0, "send datagram");
	for (;;) {
		int r = ws_raw_recv(&ws, &f, got, sizeof(got), RC_WAIT_TIMEOUT_MS);

		rc_assert(r == 1, "the WebSocket subscriber should get the datagram (%d)", r);
		if (f.opcode == 2)
			break;
	}
	rc_assert(payload_match(0, seq, size, got, f.len), "WebSocket payload of %llu",
		  (unsigned long long)seq);
}

/* A new WebSocket subscriber of live (the old one, which may have been
 * sent frames too large for ws_raw, closed). */
static void open_ws(void)
{
	char err[256];

	if (ws_open)
		ws_raw_close(&ws);
	ws_open = false;

	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "ws open: %s", err);
	ws_open = true;
}

Test(nats, every_datagram_reaches_nats_byte_identical_and_in_order, .fini = fini)
{
	int port;
	uint64_t total = 0;

	require_nats();
	port = free_port();
	rc_assert(port > 0, "free port");
	nats_start(port);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	sub_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 1);
	for (size_t i = 0; i < NSIZES; i++)
		total += sizes[i];
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_msgs_out_total", (long long)NSIZES,
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "msgs_out");
	rc_assert(rc_metric(&srv, "ringcast_nats_bytes_out_total") >= (long long)total,
		  "bytes_out counts at least the payloads");
	rc_assert(rc_metric(&srv, "ringcast_nats_dropped_total") == 0, "nothing dropped");
	rc_assert(rc_metric(&srv, "ringcast_nats_errors_total") == 0, "no errors");
	rc_assert(rc_metric(&srv, "ringcast_nats_reconnects_total") == 0, "no reconnects");
	RC_STOP_OK(&srv);
}

Test(nats, a_killed_server_is_reconnected_and_local_delivery_goes_on, .fini = fini)
{
	long long last = -1;
	int port;

	require_nats();
	port = free_port();
	rc_assert(port > 0, "free port");
	nats_start(port);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	sub_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 1);
	open_ws();
	check_ws(100, 50);

	nats_stop(SIGKILL);
	close(subs[0].fd);
	subs[0].fd = -1;
	wait_connected(0, "with the server killed");
	/* Local delivery does not wait for NATS. */
	for (uint64_t seq = 200; seq < 210; seq++)
		check_ws(seq, 10 + (size_t)seq);

	nats_start(port);
	wait_connected(rc_workers(), "after the server came back");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_reconnects_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last), "reconnects_total >= 1, is %lld", last);
	sub_open(&subs[1], port, "ringcast.ch.live");
	check_flow(&subs[1], 1000);
	open_ws();
	check_ws(2000, 1000);
	RC_STOP_OK(&srv);
}

Test(nats, ringcast_serves_without_a_server_and_connects_when_one_appears, .fini = fini)
{
	long long last = -1;
	int port;

	require_nats();
	port = free_port();
	rc_assert(port > 0, "free port");
	start_ringcast(port);
	open_ws();
	check_ws(1, 100);
	rc_assert(rc_metric(&srv, "ringcast_nats_connected") == 0, "not connected yet");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_dropped_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last),
		  "a message published while down is dropped and counted (%lld)", last);

	nats_start(port);
	wait_connected(rc_workers(), "once a server listens");
	rc_assert(rc_metric(&srv, "ringcast_nats_reconnects_total") == 0,
		  "a first connection is no reconnect");
	sub_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 10);
	open_ws();
	check_ws(50, 200);
	RC_STOP_OK(&srv);
}

Test(nats, a_frozen_server_is_dropped_for_its_missing_pongs, .fini = fini)
{
	long long last = -1;
	int port;

	require_nats();
	port = free_port();
	rc_assert(port > 0, "free port");
	nats_start(port);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	/* Its sockets stay open: only the PINGs left unanswered (one every
	 * 2 s, two missed) tell ringcast. */
	kill(nats_pid, SIGSTOP);
	wait_connected(0, "with the server frozen (two PINGs unanswered)");
	open_ws();
	check_ws(1, 100);
	kill(nats_pid, SIGCONT);
	wait_connected(rc_workers(), "after the server thawed");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_reconnects_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last), "reconnects_total >= 1, is %lld", last);
	sub_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 10);
	RC_STOP_OK(&srv);
}

Test(nats, a_channel_with_dots_is_one_subject_token, .fini = fini)
{
	static unsigned char got[64];
	int port;
	long n;

	require_nats();
	port = free_port();
	rc_assert(port > 0, "free port");
	nats_start(port);
	start_ringcast_on(port, ".a..b.");
	wait_connected(rc_workers(), "once the server is there");
	sub_open(&subs[0], port, "ringcast.ch.~a~~b~");
	rc_assert(rc_udp_send_seq(udp_fd, 0, 1, 17) == 0, "send datagram: %s", strerror(errno));
	n = sub_msg(&subs[0], "ringcast.ch.~a~~b~", got, sizeof(got), RC_WAIT_TIMEOUT_MS);
	rc_assert(n >= 0, "the message reaches subject ringcast.ch.~a~~b~");
	rc_assert(payload_match(0, 1, 17, got, (size_t)n), "byte-identical");
	rc_assert(rc_metric(&srv, "ringcast_nats_dropped_total") == 0, "nothing dropped");
	RC_STOP_OK(&srv);
}
