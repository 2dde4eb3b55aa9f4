/* --nats: every worker keeps its own connection to a NATS server and
 * publishes each message its publishers ingest to <prefix>.ch.<channel>,
 * byte for byte and in order. A real nats-server (Debian's package) runs on
 * a free loopback port; a raw NATS subscriber written here reads what
 * ringcast publishes. Covered: delivery of datagrams of several sizes and
 * the metrics; a server killed (SIGKILL) and restarted on the same port
 * (ringcast reconnects, local WebSocket delivery goes on meanwhile); a
 * server that only appears after ringcast started; a frozen server
 * (SIGSTOP), noticed by its missing PONGs; a list of servers whose first
 * is not there (the next one is taken at once); a server of a cluster
 * that is not configured, learnt from INFO's connect_urls and taken when
 * the configured one dies; credentials (--nats-creds) for a server that
 * asks for a user and password or a token, and a server that asks while
 * none were given, or gets the wrong ones; a fake server's -ERR lines and
 * closes, counted by reason. */
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
#include "nats_harness.h"

static struct rc_server srv;
static struct nats_srv ns = { .pid = -1 };
/* A cluster, for the tests of several servers. */
static struct nats_srv nc[2] = { { .pid = -1 }, { .pid = -1 } };
static int udp_fd = -1;
static struct ws_raw ws;
static bool ws_open;

static struct nats_raw subs[2] = { { .fd = -1 }, { .fd = -1 } };
static char creds_path[64];

static void fini(void)
{
	for (int i = 0; i < 2; i++)
		nats_raw_close(&subs[i]);
	if (udp_fd >= 0)
		close(udp_fd);
	udp_fd = -1;
	if (ws_open)
		ws_raw_close(&ws);
	ws_open = false;
	rc_cleanup();
	nats_stop(&ns, SIGTERM);
	for (int i = 0; i < 2; i++)
		nats_stop(&nc[i], SIGTERM);
	if (creds_path[0])
		unlink(creds_path);
	creds_path[0] = '\0';
}

static const size_t sizes[] = { 1, 17, 300, 1400, 2000, 2100, 4096, 9000, 30000, 65000, 8, 1 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Sends the sizes as datagrams seq0.. and checks the subscriber gets each,
 * byte-identical and in order. */
static void check_flow(struct nats_raw *s, uint64_t seq0)
{
	static unsigned char got[70000];

	for (size_t i = 0; i < NSIZES; i++)
		rc_assert(rc_udp_send_seq(udp_fd, 0, seq0 + i, sizes[i]) == 0, "send datagram: %s",
			  strerror(errno));
	for (size_t i = 0; i < NSIZES; i++) {
		long n = nats_raw_msg(s, "ringcast.ch.live", got, sizeof(got), NULL, 0, RC_WAIT_TIMEOUT_MS);

		rc_assert(n >= 0, "message %zu (%zu bytes) should arrive from NATS", i, sizes[i]);
		rc_assert(payload_match(0, seq0 + i, sizes[i], got, (size_t)n),
			  "message %zu: %ld bytes, not the %zu bytes sent, or not in order", i, n,
			  sizes[i]);
	}
}

/* /metrics names the server each worker is connected to. */
static void check_server_info(int port)
{
	for (int w = 0; w < rc_workers(); w++) {
		char name[128];

		snprintf(name, sizeof(name),
			 "ringcast_nats_server_info{worker=\"%d\",server=\"127.0.0.1:%d\"}", w, port);
		rc_assert(rc_metric(&srv, name) == 1, "%s should be 1", name);
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

	nats_require();
	port = nats_free_port();
	rc_assert(port > 0, "free port");
	ns.port = port;
	nats_start(&ns);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	nats_raw_open(&subs[0], port, "ringcast.ch.live");
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
	check_server_info(port);
	RC_STOP_OK(&srv);
}

Test(nats, a_killed_server_is_reconnected_and_local_delivery_goes_on, .fini = fini)
{
	long long last = -1;
	int port;

	nats_require();
	port = nats_free_port();
	rc_assert(port > 0, "free port");
	ns.port = port;
	nats_start(&ns);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	nats_raw_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 1);
	open_ws();
	check_ws(100, 50);

	nats_stop(&ns, SIGKILL);
	close(subs[0].fd);
	subs[0].fd = -1;
	wait_connected(0, "with the server killed");
	rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"connection_lost\"}") >=
			  rc_workers(), "the loss is counted");
	/* Local delivery does not wait for NATS. */
	for (uint64_t seq = 200; seq < 210; seq++)
		check_ws(seq, 10 + (size_t)seq);

	ns.port = port;
	nats_start(&ns);
	wait_connected(rc_workers(), "after the server came back");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_reconnects_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last), "reconnects_total >= 1, is %lld", last);
	nats_raw_open(&subs[1], port, "ringcast.ch.live");
	check_flow(&subs[1], 1000);
	open_ws();
	check_ws(2000, 1000);
	RC_STOP_OK(&srv);
}

Test(nats, ringcast_serves_without_a_server_and_connects_when_one_appears, .fini = fini)
{
	long long last = -1;
	int port;

	nats_require();
	port = nats_free_port();
	rc_assert(port > 0, "free port");
	start_ringcast(port);
	open_ws();
	check_ws(1, 100);
	rc_assert(rc_metric(&srv, "ringcast_nats_connected") == 0, "not connected yet");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_dropped_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last),
		  "a message published while down is dropped and counted (%lld)", last);

	ns.port = port;
	nats_start(&ns);
	wait_connected(rc_workers(), "once a server listens");
	rc_assert(rc_metric(&srv, "ringcast_nats_reconnects_total") == 0,
		  "a first connection is no reconnect");
	nats_raw_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 10);
	open_ws();
	check_ws(50, 200);
	RC_STOP_OK(&srv);
}

Test(nats, a_frozen_server_is_dropped_for_its_missing_pongs, .fini = fini)
{
	long long last = -1;
	int64_t t0;
	int port;

	nats_require();
	port = nats_free_port();
	rc_assert(port > 0, "free port");
	ns.port = port;
	nats_start(&ns);
	start_ringcast(port);
	wait_connected(rc_workers(), "once the server is there");
	/* Its sockets stay open: only the PINGs left unanswered (one every
	 * 500 ms, two missed) tell ringcast, in 1 to 1.5 s (the bound here is
	 * loose for sanitized builds on a loaded machine). */
	t0 = rc_now_ms();
	kill(ns.pid, SIGSTOP);
	wait_connected(0, "with the server frozen (two PINGs unanswered)");
	rc_assert(rc_now_ms() - t0 < 4000, "a frozen server is noticed in about a second, not %lld ms",
		  (long long)(rc_now_ms() - t0));
	rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"ping_timeout\"}") >=
			  rc_workers(), "counted as a PING timeout");
	open_ws();
	check_ws(1, 100);
	kill(ns.pid, SIGCONT);
	wait_connected(rc_workers(), "after the server thawed");
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_reconnects_total", 1, RC_WAIT_TIMEOUT_MS,
				    NULL, NULL, &last), "reconnects_total >= 1, is %lld", last);
	nats_raw_open(&subs[0], port, "ringcast.ch.live");
	check_flow(&subs[0], 10);
	RC_STOP_OK(&srv);
}

Test(nats, a_channel_with_dots_is_one_subject_token, .fini = fini)
{
	static unsigned char got[64];
	int port;
	long n;

	nats_require();
	port = nats_free_port();
	rc_assert(port > 0, "free port");
	ns.port = port;
	nats_start(&ns);
	start_ringcast_on(port, ".a..b.");
	wait_connected(rc_workers(), "once the server is there");
	nats_raw_open(&subs[0], port, "ringcast.ch.~a~~b~");
	rc_assert(rc_udp_send_seq(udp_fd, 0, 1, 17) == 0, "send datagram: %s", strerror(errno));
	n = nats_raw_msg(&subs[0], "ringcast.ch.~a~~b~", got, sizeof(got), NULL, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(n >= 0, "the message reaches subject ringcast.ch.~a~~b~");
	rc_assert(payload_match(0, 1, 17, got, (size_t)n), "byte-identical");
	rc_assert(rc_metric(&srv, "ringcast_nats_dropped_total") == 0, "nothing dropped");
	RC_STOP_OK(&srv);
}

Test(nats, the_next_server_is_taken_at_once_when_the_first_is_not_there, .fini = fini)
{
	char urls[128], udp[64];
	int dead;
	int64_t t0;

	nats_require();
	dead = nats_free_port();
	nats_start(&ns);
	rc_assert(dead > 0 && dead != ns.port, "free port");
	/* Every worker starts with the dead one at least once in its round
	 * (worker i starts at server i mod 2). */
	snprintf(urls, sizeof(urls), "nats://127.0.0.1:%d,nats://127.0.0.1:%d", dead, ns.port);
	snprintf(udp, sizeof(udp), "127.0.0.1:0=live");
	t0 = rc_now_ms();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", udp, "--nats", urls);
	udp_fd = rc_udp_socket(rc_udp_for(&srv, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	wait_connected(rc_workers(), "to the second server");
	/* A refused connect costs no backoff while another server answers;
	 * the bound is loose for sanitized builds on a loaded machine. */
	rc_assert(rc_now_ms() - t0 < rc_time_scale_ms(5000), "connected in %lld ms",
		  (long long)(rc_now_ms() - t0));
	rc_assert(rc_metric(&srv, "ringcast_nats_reconnects_total") == 0,
		  "a first connection is no reconnect");
	if (rc_workers() % 2)
		rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"connect_failed\"}") >=
				  1, "the refused connect is counted");
	nats_raw_open(&subs[0], ns.port, "ringcast.ch.live");
	check_flow(&subs[0], 1);
	RC_STOP_OK(&srv);
}

Test(nats, a_server_announced_by_the_cluster_is_taken_when_the_configured_one_dies,
     .fini = fini)
{
	char url[64];
	long long last = -1;

	nats_require();
	nats_start_cluster(nc, 2);
	/* Only the first server is configured: the second is learnt from
	 * INFO's connect_urls. */
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", nc[0].port);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--nats", url);
	udp_fd = rc_udp_socket(rc_udp_for(&srv, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
	wait_connected(rc_workers(), "to the configured server");
	nats_stop(&nc[0], SIGKILL);
	rc_assert(rc_wait_metric(&srv, "ringcast_nats_reconnects_total", rc_workers(),
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
		  "every worker should connect again, to the announced server (%lld)", last);
	wait_connected(rc_workers(), "to the announced server");
	check_server_info(nc[1].port);
	nats_raw_open(&subs[0], nc[1].port, "ringcast.ch.live");
	check_flow(&subs[0], 1);
	RC_STOP_OK(&srv);
}

/* A --nats-creds file (mode 0600) with text. */
static void write_creds(const char *text)
{
	int fd;

	if (creds_path[0])
		unlink(creds_path);
	strcpy(creds_path, "/tmp/ringcast-it-creds-XXXXXX");
	fd = mkstemp(creds_path);
	rc_assert(fd >= 0, "mkstemp");
	rc_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write creds");
	close(fd);
}

/* Starts ringcast on ns with --nats-creds creds_path (or none). */
static void start_with_creds(bool creds)
{
	char url[64];

	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ns.port);
	if (creds)
		RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--nats", url,
			 "--nats-creds", creds_path);
	else
		RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--nats", url);
	udp_fd = rc_udp_socket(rc_udp_for(&srv, "live"));
	rc_assert(udp_fd >= 0, "udp socket");
}

/* Lines of the server's stderr that contain what. */
static int log_lines(const char *what)
{
	static char log[1 << 16];
	int n = 0;

	rc_server_stderr(&srv, log, sizeof(log));
	for (const char *p = log; (p = strstr(p, what)); p++)
		n++;
	return n;
}

static void stop_ringcast(void)
{
	RC_STOP_OK(&srv);
	close(udp_fd);
	udp_fd = -1;
}

Test(nats, credentials_for_a_server_that_asks, .fini = fini)
{
	static const char *const user[] = { "--user", "rc", "--pass", "s3cr#t", NULL };
	static const char *const token[] = { "--auth", "t0ken.abc", NULL };
	long long last = -1;

	nats_require();
	nats_start_with(&ns, user);

	/* The right user and password: connected, and what is ingested goes
	 * out. */
	write_creds("# NATS\nuser rc\npassword s3cr#t\n");
	start_with_creds(true);
	wait_connected(rc_workers(), "with the right credentials");
	for (uint64_t i = 0; i < 5; i++)
		rc_assert(rc_udp_send_seq(udp_fd, 0, i + 1, 100) == 0, "send");
	rc_assert(rc_wait_metric(&srv, "ringcast_nats_msgs_out_total", 5, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &last), "5 messages published (%lld)", last);
	rc_assert(rc_metric(&srv, "ringcast_nats_errors_total") == 0, "no error");
	stop_ringcast();

	/* None given: refused, said once per worker for the whole outage
	 * (the attempts go on, 100 ms doubling to 2 s), counted each time. */
	start_with_creds(false);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_errors_total", 3 * rc_workers(),
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
		  "every refusal is counted (%lld)", last);
	rc_assert(rc_metric(&srv, "ringcast_nats_connected") == 0, "not connected");
	rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"auth_required\"}") >=
			  3 * rc_workers(), "counted by reason");
	rc_assert(log_lines("requires authentication and no credentials were given: see "
			    "--nats-creds") == rc_workers(),
		  "the missing credentials are logged once per worker");
	stop_ringcast();

	/* The wrong password: the server says -ERR 'Authorization Violation'
	 * and closes. */
	write_creds("user rc\npassword wrong\n");
	start_with_creds(true);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_errors_total", 2, RC_WAIT_TIMEOUT_MS, NULL,
				    NULL, &last), "the server's -ERR is counted (%lld)", last);
	rc_assert(rc_metric(&srv, "ringcast_nats_connected") == 0, "not connected");
	rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"authorization\"}") >= 1,
		  "counted by reason");
	rc_assert(rc_metric(&srv, "ringcast_nats_faults_total{reason=\"connection_lost\"}") == 0,
		  "the close that follows the -ERR is the -ERR's");
	rc_assert(log_lines("Authorization Violation': check --nats-creds") >= 1,
		  "the server's answer is logged with a hint");
	stop_ringcast();

	/* A token. */
	nats_stop(&ns, SIGTERM);
	ns.port = 0;
	nats_start_with(&ns, token);
	write_creds("token t0ken.abc\n");
	start_with_creds(true);
	wait_connected(rc_workers(), "with the right token");
	stop_ringcast();
}

/* A fake NATS server: a loopback listener whose port goes to *port. */
static int fake_listen(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	rc_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			  listen(fd, 16) == 0 && getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
		  "fake server: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

/* Reads fd until buf holds want (NUL-terminated buf of cap), or the
 * deadline. */
static bool fake_read_until(int fd, char *buf, size_t cap, const char *want, int64_t end)
{
	size_t have = 0;

	buf[0] = '\0';
	while (!strstr(buf, want) && rc_now_ms() < end && have + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			return false;
		have += (size_t)n;
		buf[have] = '\0';
	}
	return strstr(buf, want) != NULL;
}

/* One connection of ringcast's: INFO, the PONG to CONNECT's PING (the
 * connection is made), then `lines`, then a clean close (our FIN after
 * them, then ringcast's: no reset loses them). Returns false when ringcast
 * did not come or did not speak. */
static bool fake_serve(int lfd, const char *lines)
{
	static const char info[] = "INFO {\"server_id\":\"fake\",\"version\":\"2.9.10\","
				   "\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n";
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	char buf[8192];
	bool ok;
	int fd;

	if (poll(&p, 1, RC_WAIT_TIMEOUT_MS) != 1)
		return false;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return false;
	ok = rc_write_all(fd, info, sizeof(info) - 1, 2000) == 0 &&
	     fake_read_until(fd, buf, sizeof(buf), "PING\r\n", end) &&
	     rc_write_all(fd, "PONG\r\n", 6, 2000) == 0 &&
	     rc_write_all(fd, lines, strlen(lines), 2000) == 0;
	shutdown(fd, SHUT_WR);
	/* Until ringcast closes its side: its PINGs are read meanwhile. */
	while (ok && rc_now_ms() < end) {
		struct pollfd q = { .fd = fd, .events = POLLIN };

		if (poll(&q, 1, 50) == 1 && read(fd, buf, sizeof(buf)) <= 0)
			break;
	}
	close(fd);
	return ok;
}

static long long fault(const char *reason)
{
	char name[96];

	snprintf(name, sizeof(name), "ringcast_nats_faults_total{reason=\"%s\"}", reason);
	return rc_metric(&srv, name);
}

static void wait_fault(const char *reason, long long want)
{
	char name[96];
	long long last = -1;

	snprintf(name, sizeof(name), "ringcast_nats_faults_total{reason=\"%s\"}", reason);
	rc_assert(rc_wait_metric(&srv, name, want, RC_WAIT_TIMEOUT_MS, NULL, NULL, &last),
		  "%s should be %lld, is %lld", name, want, last);
}

Test(nats, server_errors_and_closes_are_counted_by_reason, .fini = fini)
{
	char url[64];
	int lfd, port;
	long long w = rc_workers();

	lfd = fake_listen(&port);
	snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--nats", url);
	/* An error the server goes on after, then one it closes for. */
	for (long long i = 0; i < w; i++)
		rc_assert(fake_serve(lfd, "-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
					  "-ERR 'Stale Connection'\r\n"), "connection %lld", i);
	wait_fault("stale_connection", w);
	rc_assert(fault("permissions") == w, "permissions");
	rc_assert(fault("connection_lost") == 0, "the close after an -ERR is the -ERR's");
	rc_assert(rc_metric(&srv, "ringcast_nats_errors_total") == 2 * w, "2 -ERR each");
	/* A slow consumer said so (nats-server 2.9 does not: the next). */
	for (long long i = 0; i < w; i++)
		rc_assert(fake_serve(lfd, "-ERR 'Slow Consumer'\r\n"), "connection %lld", i);
	wait_fault("slow_consumer", w);
	/* Closed without a word, after CONNECT was taken. */
	for (long long i = 0; i < w; i++)
		rc_assert(fake_serve(lfd, ""), "connection %lld", i);
	wait_fault("connection_lost", w);
	rc_assert(rc_metric(&srv, "ringcast_nats_reconnects_total") == 3 * w - w,
		  "every connection after each worker's first is a reconnect");
	rc_assert(log_lines("without a word") >= 1, "the silent close is explained");
	rc_assert(fault("server_error") == 0 && fault("authorization") == 0, "nothing else");
	/* Nobody listens any more. */
	close(lfd);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_nats_faults_total{reason=\"connect_failed\"}", w,
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "refused connects");
	RC_STOP_OK(&srv);
}
