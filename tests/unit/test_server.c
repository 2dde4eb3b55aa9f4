/* A whole server in the test process (the gateway's objects, linked in):
 * clients connect on loopback, the server's own loop runs for a bounded
 * time (a timer stops it), and then the test looks at the server's state
 * or tears it down the way main() does after a fatal loop error. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "publish.h"
#include "server.h"
#include "label.h"
#include "tcp_pub.h"

#define TURN_MS 50
#define MAX_RUNS 100	/* 5 s of loop at most for any one condition */

static struct rc_process *proc;
static struct rc_server *srv;
static struct rc_timer stop_timer;
static int freed_while_published;	/* channels freed while a publisher held them */

static void stop_fn(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	(void)io;
	(void)cqe;
	rc_loop_stop(loop);
}

/* Runs the server's loop for about ms milliseconds. */
static void run_for(uint64_t ms)
{
	stop_timer.io.fn = stop_fn;
	cr_assert_eq(rc_loop_timer_arm(srv->loop, &stop_timer, ms), 0);
	cr_assert_eq(rc_loop_run(srv->loop), 0);
}

static void start(const char *const *args, int nargs)
{
	char *argv[32];
	struct rc_config cfg;
	char err[256];
	int ret;

	cr_assert_lt(nargs, 31);
	argv[0] = "ringcast";
	for (int i = 0; i < nargs; i++)
		argv[i + 1] = (char *)args[i];
	argv[nargs + 1] = NULL;
	rc_config_defaults(&cfg);
	cr_assert_eq(rc_config_parse(&cfg, nargs + 1, argv, err, sizeof(err)), 0, "%s", err);
	rc_config_finish(&cfg);
	rc_log_set_level((enum rc_log_level)cfg.log_level);
	proc = calloc(1, sizeof(*proc));
	srv = calloc(1, sizeof(*srv));
	cr_assert(proc && srv);
	ret = rc_process_init(proc, &cfg);
	cr_assert_eq(ret, 0, "rc_process_init: %s", strerror(-ret));
	ret = rc_server_init(srv, proc);
	cr_assert_eq(ret, 0, "rc_server_init: %s", strerror(-ret));
}

static int connect_to(const struct rc_listener *l)
{
	int fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

/* The first TCP publisher of the loop, or NULL. */
static struct rc_publisher *first_publisher(void)
{
	for (struct rc_stream *st = srv->streams; st; st = st->next)
		if (rc_publisher_of(st))
			return rc_publisher_of(st);
	return NULL;
}

/* The hub's channel_free hook, wrapped: a channel must never be freed while
 * a publisher still points at it. */
static void checked_channel_free(struct rc_channel *ch, void *arg)
{
	(void)arg;
	for (struct rc_stream *st = srv->streams; st; st = st->next)
		if (rc_publisher_of(st) && rc_publisher_of(st)->ch == ch)
			freed_while_published++;
	rc_publish_channel_free(ch);
	rc_label_free(ch);
}

/* main() calls rc_server_fini() when the loop ends with a fatal error, with
 * TCP publishers still connected: their channel references must be
 * released while the hub (and every channel) still exists. */
Test(server, fini_with_publishers_connected)
{
	static const char *const args[] = {
		"--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		"--static", "off", "--log-level", "warn",
	};
	/* The opening line, then the start of a framed message of 1000 bytes
	 * that never ends: the publisher holds a partial message too. */
	static const char hello[] = "PUB chan framed\n\0\0\x03\xe8partial...";
	char answer[16] = "";
	size_t have = 0;
	int fd, runs;

	start(args, (int)(sizeof(args) / sizeof(args[0])));
	srv->hub.channel_free = checked_channel_free;
	fd = connect_to(&srv->tcp_listener);
	cr_assert_eq(send(fd, hello, sizeof(hello) - 1, 0), (ssize_t)sizeof(hello) - 1);
	/* Until the publisher streams, holds a partial message, and its "OK"
	 * went out (sent by the loop, so the loop keeps turning meanwhile). */
	for (runs = 0; runs < MAX_RUNS; runs++) {
		struct rc_publisher *p = first_publisher();
		ssize_t n;

		run_for(TURN_MS);
		n = recv(fd, answer + have, sizeof(answer) - 1 - have, MSG_DONTWAIT);
		if (n > 0)
			have += (size_t)n;
		if (p && p->state == RC_PUB_STREAM && p->partial && have >= 3)
			break;
	}
	cr_assert_lt(runs, MAX_RUNS, "the publisher should be accepted, answered and hold a "
		     "partial message");
	cr_assert_str_eq(answer, "OK\n");
	cr_assert_not_null(first_publisher()->ch);
	cr_assert_str_eq(first_publisher()->ch->name, "chan");

	rc_server_fini(srv);
	rc_process_fini(proc);
	free(proc);
	cr_assert_eq(freed_while_published, 0,
		     "a channel was freed while a publisher still held it (use after free)");
	free(srv);
	close(fd);
}
