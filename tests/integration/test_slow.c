/* Slow subscribers: one client that stops reading must not hold back the
 * others, and the --slow policy (drop / close) must be applied to it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_NORMAL 20
#define MSG_SIZE 1000
/* At least this many messages; then more until the policy has triggered.
 * How much the kernel buffers for a stalled socket depends on TCP
 * autotuning, so a fixed count could finish before the server's own queue
 * ever fills. */
#define MIN_MSGS 3000
#define MAX_MSGS 60000
/* 50 KB per burst stays below --max-queue (64 KiB) for the normal
 * subscribers even if their sockets took nothing between bursts. */
#define BURST 50
#define MAX_QUEUE "65536"
#define SLOW_RCVBUF 4096

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw *slow;

struct feed {
	int fd;
	uint64_t sent;
};

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (slow)
		ws_raw_close(slow);
	free(slow);
	slow = NULL;
	rc_cleanup();
}

static size_t fixed_size(uint64_t seq)
{
	(void)seq;
	return MSG_SIZE;
}

static void check_normal(uint64_t sent, const char *what)
{
	char d[512];

	for (int i = 0; i < pool->n; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->count == sent &&
				  s->next_seq == sent && s->mismatches == 0 &&
				  s->close_code == SUB_NO_CLOSE,
			  "%s: normal subscriber should have all %llu "
			  "messages: %s", what, (unsigned long long)sent,
			  sub_describe(s, d, sizeof(d)));
	}
}

/* Sends n messages and waits until every normal subscriber has them: the
 * stalled client must not slow them down to the point of losing any. */
static void send_burst(struct feed *f, int n)
{
	uint64_t goal;

	for (int k = 0; k < n; k++) {
		rc_assert(rc_udp_send_seq(f->fd, 0, f->sent, MSG_SIZE) == 0,
			  "udp send: %s", strerror(errno));
		f->sent++;
	}
	goal = f->sent;
	sub_pool_wait_seq(pool, &goal, 1, RC_WAIT_TIMEOUT_MS);
	check_normal(f->sent, "while the slow client stalls");
}

/* args: extra server arguments, NULL-terminated */
static void setup_args(const char *const *extra, struct feed *f)
{
	const char *args[32] = {
		"--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		/* keep keepalive pings out of the picture: the stalled
		 * client cannot answer them while it is not reading */
		"--ping-interval", "600000",
	};
	char err[256], d[512];
	long long v;
	int n = 6, r;

	for (int i = 0; extra[i] && n < 31; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	r = rc_server_start(&srv, NULL, args);
	rc_assert(r == RC_READY, "ringcast did not start (%d): %s", r,
		  srv.err);
	pool = sub_pool_new(N_NORMAL);
	rc_assert(pool, "lws context");
	pool->size_of = fixed_size;
	for (int i = 0; i < N_NORMAL; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_NORMAL,
		  "normal subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));

	/* a tiny receive buffer keeps the advertised window small, and this
	 * client never reads until the end of the test */
	slow = calloc(1, sizeof(*slow));
	rc_assert(slow, "calloc");
	rc_assert(ws_raw_open(slow, &srv.http, "/ws/live", SLOW_RCVBUF,
			      RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "slow client upgrade: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_NORMAL + 1, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "subscribers gauge should be %d, last %lld", N_NORMAL + 1, v);
	f->fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(f->fd >= 0, "udp socket");
	f->sent = 0;
}

static void setup(const char *policy, struct feed *f)
{
	const char *const extra[] = { "--max-queue", MAX_QUEUE, "--slow",
				      policy, NULL };

	setup_args(extra, f);
}

/* With the default queue bound a stalled subscriber can pin more ingest
 * buffers than the ring has (4 MiB of 1000-byte messages > 4096 buffers),
 * and with a small ring it pins them all: either way the others must keep
 * receiving everything. */
static void stalled_with(const char *const *extra, int msgs)
{
	struct feed f;
	long long v;

	setup_args(extra, &f);
	for (int b = 0; b < msgs / BURST; b++)
		send_burst(&f, BURST);
	check_normal(f.sent, "stalled subscriber, default policy");
	v = rc_metric(&srv, "ringcast_subscribers{channel=\"live\"}");
	cr_log_info("sent %llu; drops slow_drop %lld pressure %lld; "
		    "subscribers %lld", (unsigned long long)f.sent,
		    rc_metric(&srv, "ringcast_drops_total{reason="
			      "\"slow_drop\"}"),
		    rc_metric(&srv, "ringcast_drops_total{reason="
			      "\"pressure\"}"), v);
	close(f.fd);
	ws_raw_close(slow);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(slow, stalled_subscriber_default_limits, .fini = fini)
{
	const char *const extra[] = { NULL };

	stalled_with(extra, 12000);
}

Test(slow, stalled_subscriber_small_ring, .fini = fini)
{
	const char *const extra[] = { "--buf-count", "64", NULL };

	stalled_with(extra, 6000);
}

/* Zero-copy pages stay in a socket's send queue until the peer reads them,
 * so a stalled subscriber can pin ring buffers through SEND_ZC; with a small
 * ring that must not stop ingest for everybody. */
Test(slow, stalled_subscriber_zero_copy_small_ring, .fini = fini)
{
	const char *const extra[] = { "--buf-count", "64", "--zc-min", "1", NULL };

	RC_SKIP_ON_EPOLL("SEND_ZC (--zc-min) exists on io_uring only; the copying case is "
			 "stalled_subscriber_small_ring");
	stalled_with(extra, 6000);
}

/* Floods until at least MIN_MSGS were sent and counter >= 1. */
static long long flood_until(struct feed *f, const char *counter)
{
	long long v = -1;

	for (int bursts = 1; f->sent < MAX_MSGS; bursts++) {
		send_burst(f, BURST);
		if (f->sent >= MIN_MSGS && bursts % 10 == 0) {
			v = rc_metric(&srv, counter);
			if (v >= 1)
				break;
		}
	}
	return v;
}

Test(slow, drop_policy_skips_whole_messages, .fini = fini)
{
	static const char counter[] = "ringcast_drops_total{reason=\"slow_drop\"}";
	unsigned char buf[4096];
	struct feed f;
	struct ws_frame fr;
	int64_t last = -1, marker = -1, deadline;
	uint64_t frames = 0, skipped = 0;
	int markers = 0, got_marker = 0;
	long long v;

	setup("drop", &f);
	v = flood_until(&f, counter);
	rc_assert(v >= 1, "%s should be > 0 after %llu x %d-byte messages to "
		  "a client that never reads, last %lld", counter,
		  (unsigned long long)f.sent, MSG_SIZE, v);
	check_normal(f.sent, "after the flood");

	/* Drain the stalled client. Whatever it gets must be whole messages
	 * in order with gaps; once it has gone quiet, a marker message must
	 * reach it, proving it is still subscribed. */
	deadline = rc_now_ms() + 90000;
	for (int iter = 0; !got_marker && iter < 1000000 &&
			   rc_now_ms() < deadline; iter++) {
		unsigned tchan;
		uint64_t tseq;
		int rc = ws_raw_recv(slow, &fr, buf, sizeof(buf), 1000);

		if (rc == -2) {
			/* quiet for a second: the backlog is out */
			rc_assert(markers < 20, "no marker reached the slow "
				  "client after %d tries", markers);
			marker = (int64_t)f.sent;
			send_burst(&f, 1);
			markers++;
			continue;
		}
		rc_assert(rc == 1, "slow client connection failed while "
			  "draining in drop mode (rc %d, %s) after %llu frames",
			  rc, strerror(errno), (unsigned long long)frames);
		if (fr.opcode == 9)
			continue;
		rc_assert(fr.opcode == 2 && fr.fin &&
				  payload_tag(buf, fr.len, &tchan, &tseq) == 0 &&
				  tchan == 0 && (int64_t)tseq > last &&
				  payload_match(0, tseq, MSG_SIZE, buf, fr.len),
			  "slow client frame %llu is not a whole, later "
			  "message (opcode %d fin %d len %zu, previous seq "
			  "%lld)", (unsigned long long)frames, fr.opcode,
			  fr.fin, fr.len, (long long)last);
		skipped += tseq - (uint64_t)(last + 1);
		last = (int64_t)tseq;
		frames++;
		if ((int64_t)tseq == marker)
			got_marker = 1;
	}
	rc_assert(got_marker, "marker message never reached the slow client "
		  "(frames %llu, last seq %lld)", (unsigned long long)frames,
		  (long long)last);
	rc_assert(skipped > 0, "the slow client should have missed messages "
		  "(got %llu of %llu)", (unsigned long long)frames,
		  (unsigned long long)f.sent);
	cr_log_info("drop: sent %llu, slow client got %llu, skipped %llu, "
		    "slow_drop %lld", (unsigned long long)f.sent,
		    (unsigned long long)frames, (unsigned long long)skipped,
		    rc_metric(&srv, counter));
	check_normal(f.sent, "after draining");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_NORMAL + 1, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "drop policy keeps the slow client subscribed; gauge %lld",
		  v);
	close(f.fd);
	ws_raw_close(slow);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(slow, close_policy_disconnects_with_1008, .fini = fini)
{
	static const char counter[] =
		"ringcast_drops_total{reason=\"slow_close\"}";
	unsigned char buf[4096];
	struct feed f;
	struct ws_frame fr;
	int64_t deadline;
	uint64_t frames = 0;
	int close_code = -1, ended = 0, rc = -2;
	unsigned tchan;
	uint64_t tseq;
	long long v;

	setup("close", &f);
	v = flood_until(&f, counter);
	rc_assert(v >= 1, "%s should be >= 1 after %llu x %d-byte messages to "
		  "a client that never reads, last %lld", counter,
		  (unsigned long long)f.sent, MSG_SIZE, v);
	check_normal(f.sent, "after the flood");

	/* Read what the server had sent before giving up on the client; the
	 * stream ends with close 1008 or just the end of the connection. */
	deadline = rc_now_ms() + 90000;
	for (int iter = 0; iter < 1000000; iter++) {
		int left = (int)(deadline - rc_now_ms());

		if (left <= 0)
			break;
		rc = ws_raw_recv(slow, &fr, buf, sizeof(buf), left);
		if (rc != 1) {
			ended = rc == 0 || rc == -1;
			break;
		}
		if (fr.opcode == 8) {
			close_code = fr.len >= 2 ? (buf[0] << 8) | buf[1] : 1005;
			/* answer it; the server may already be gone */
			ws_raw_send(slow, 8, buf, fr.len >= 2 ? 2 : 0);
			continue;
		}
		if (fr.opcode == 9)
			continue;
		rc_assert(close_code < 0, "data frame after the close frame");
		rc_assert(fr.opcode == 2 && fr.fin &&
				  payload_tag(buf, fr.len, &tchan, &tseq) == 0 &&
				  payload_match(0, tseq, MSG_SIZE, buf, fr.len),
			  "slow client frame %llu is not a whole message "
			  "(opcode %d len %zu)", (unsigned long long)frames,
			  fr.opcode, fr.len);
		frames++;
	}
	rc_assert(ended, "the slow client should be disconnected (rc %d, "
		  "close code %d, %llu frames read)", rc, close_code,
		  (unsigned long long)frames);
	rc_assert(close_code == -1 || close_code == 1008,
		  "close code to the slow client %d, want 1008", close_code);
	cr_log_info("close: sent %llu, slow client read %llu frames, close "
		    "code %d", (unsigned long long)f.sent,
		    (unsigned long long)frames, close_code);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_NORMAL, RC_WAIT_TIMEOUT_MS, sub_pool_idle,
				 pool, &v),
		  "subscribers gauge should drop to %d, last %lld", N_NORMAL,
		  v);

	/* the others are untouched and still receive */
	send_burst(&f, BURST);
	check_normal(f.sent, "after the slow client was closed");
	close(f.fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
