/* Out of file descriptors: with a low RLIMIT_NOFILE, clients beyond the
 * limit wait in the backlog while the server backs off (it must not spin on
 * EMFILE), subscribers it already has keep receiving, and it serves new
 * clients again as soon as descriptors free up. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_FLOOD 80	/* connections beyond a 48-fd limit */
#define BURST 200

static struct rc_server srv;
static struct sub_pool *pool;
static int flood[N_FLOOD];

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (int i = 0; i < N_FLOOD; i++)
		if (flood[i] > 0)
			close(flood[i]);
	rc_cleanup();
}

/* utime + stime of pid in clock ticks, or -1. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the ")" that ends the command name: state is field 3,
	 * utime 14 and stime 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (long long)(ut + st);
}

Test(limits, fd_exhaustion_backs_off_and_recovers, .fini = fini)
{
	static const char *const wrapper[] = { "prlimit", "--nofile=48:48", NULL };
	static const char *const args[] = { "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
					    NULL };
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	uint64_t sent = 0;
	struct http_resp r;
	int waiting;
	long long t0, t1, v;
	char d[512];
	int fd;

	if (access("/usr/bin/prlimit", X_OK) != 0)
		cr_skip_test("prlimit (util-linux) not installed");
	rc_assert(rc_server_start(&srv, wrapper, args) == RC_READY, "start: %s", srv.err);
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	sub_connect(pool, 0, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1, "subscriber: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));

	/* Far more connections than descriptors: the kernel completes them
	 * into the backlog; the server accepts until EMFILE, then backs off. */
	for (int i = 0; i < N_FLOOD; i++) {
		flood[i] = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
		rc_assert(flood[i] >= 0, "connect %d: %s", i, strerror(errno));
	}
	rc_sleep_ms(500);

	/* The subscriber it already has keeps getting every message. */
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	for (int k = 0; k < BURST; k++, sent++)
		rc_assert(rc_udp_send_seq(fd, 0, sent, payload_size(sent)) == 0, "udp send: %s",
			  strerror(errno));
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(pool->subs[0].next_seq == sent && pool->subs[0].mismatches == 0,
		  "subscriber must keep receiving while the server is out of fds: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));

	/* No busy loop on EMFILE: a spinning accept would burn a whole core
	 * (about 200 ticks in 2 s); backing off costs next to nothing. The
	 * bound is loose on purpose (sanitizer builds, a loaded machine). */
	t0 = cpu_ticks(srv.pid);
	sub_pool_service_for(pool, 2000);
	t1 = cpu_ticks(srv.pid);
	rc_assert(t0 >= 0 && t1 >= 0, "read /proc/%d/stat", (int)srv.pid);
	rc_assert(t1 - t0 < 100, "server used %lld ticks in 2 s at the fd limit: spinning?",
		  t1 - t0);

	/* A new client beyond the limit is not served: it waits in the
	 * backlog, unanswered... */
	waiting = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(waiting >= 0, "connect: %s", strerror(errno));
	rc_assert(rc_write_all(waiting, req, sizeof(req) - 1, RC_WAIT_TIMEOUT_MS) == 0, "request");
	{
		struct pollfd p = { .fd = waiting, .events = POLLIN };

		rc_assert(poll(&p, 1, 500) == 0, "a client beyond the fd limit was answered");
	}

	/* Free the descriptors: service resumes for new clients. */
	for (int i = 0; i < N_FLOOD; i++) {
		close(flood[i]);
		flood[i] = -1;
	}
	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200,
		  "healthz once descriptors are free again");
	http_resp_free(&r);
	/* ...and the one that waited is answered now. */
	{
		struct pollfd p = { .fd = waiting, .events = POLLIN };
		char buf[256];
		ssize_t n;

		rc_assert(poll(&p, 1, RC_WAIT_TIMEOUT_MS) == 1, "the waiting client got no answer");
		n = read(waiting, buf, sizeof(buf) - 1);
		rc_assert(n >= 12 && !strncmp(buf, "HTTP/1.1 200", 12),
			  "the waiting client should be served once fds are free (%zd bytes)", n);
		close(waiting);
	}
	v = rc_metric(&srv, "ringcast_accept_errors_total");
	rc_assert(v >= 1, "accept errors (EMFILE) should be counted, got %lld", v);
	close(fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
