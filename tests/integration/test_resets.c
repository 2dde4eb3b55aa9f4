/* Abrupt disconnects: 200 subscribers that reset their connections while
 * messages flow must leave the server healthy, its connection count exact
 * and the remaining subscribers unaffected. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_KEEP 5	/* lws subscribers that stay for the whole test */
#define N_RAW 200	/* raw subscribers that reset */
#define RESET_BURSTS 20	/* N_RAW / RESET_BURSTS resets after each burst */
#define MORE_BURSTS 10
#define BURST 100
#define FRESH_MSGS 1000

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw *raws;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (raws)
		for (int i = 0; i < N_RAW; i++)
			ws_raw_close(&raws[i]);
	free(raws);
	raws = NULL;
	rc_cleanup();
}

static void send_burst(int fd, uint64_t *sent, int n)
{
	for (int k = 0; k < n; k++) {
		rc_assert(rc_udp_send_seq(fd, 0, *sent, payload_size(*sent)) ==
				  0, "udp send: %s", strerror(errno));
		(*sent)++;
	}
}

static void check_subs(int upto, uint64_t sent, const char *what)
{
	char d[512];

	for (int i = 0; i < upto; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->next_seq == sent &&
				  s->mismatches == 0 &&
				  s->close_code == SUB_NO_CLOSE,
			  "%s: subscriber should have every message up to "
			  "%llu: %s", what, (unsigned long long)sent,
			  sub_describe(s, d, sizeof(d)));
	}
}

Test(resets, abrupt_disconnects_while_streaming, .fini = fini)
{
	uint64_t sent = 0, fresh_first;
	struct http_resp r;
	char err[256], d[512];
	long long v;
	int fd, next_reset = 0;

	/* a bound per subscriber keeps the memory of 200 clients that never
	 * read modest; the lws subscribers stay far below it */
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--max-queue", "262144");
	pool = sub_pool_new(N_KEEP + 1);
	rc_assert(pool, "lws context");
	for (int i = 0; i < N_KEEP; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_KEEP,
		  "lws subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));

	raws = calloc(N_RAW, sizeof(*raws));
	rc_assert(raws, "calloc");
	for (int i = 0; i < N_RAW; i++)
		raws[i].fd = -1;
	for (int i = 0; i < N_RAW; i++) {
		rc_assert(ws_raw_open(&raws[i], &srv.http, "/ws/live", 0,
				      RC_WAIT_TIMEOUT_MS, err, sizeof(err)) ==
				  0, "raw subscriber %d upgrade: %s", i, err);
		/* keep the lws clients serviced while we connect */
		if (i % 20 == 19)
			sub_pool_service_for(pool, 1);
	}
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_KEEP + N_RAW, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "subscribers gauge should be %d, last %lld", N_KEEP + N_RAW,
		  v);

	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	for (int b = 0; b < RESET_BURSTS + MORE_BURSTS; b++) {
		send_burst(fd, &sent, BURST);
		/* reset right after the burst, while the server is still
		 * fanning it out to these very sockets */
		if (b < RESET_BURSTS)
			for (int k = 0; k < N_RAW / RESET_BURSTS; k++)
				ws_raw_abort(&raws[next_reset++]);
		sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
		check_subs(N_KEEP, sent, "during resets");
	}
	rc_assert(next_reset == N_RAW, "all raw clients were reset");

	rc_assert(http_get(&srv.http, "/healthz", &r) == 0 && r.status == 200,
		  "healthz after the resets");
	http_resp_free(&r);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_KEEP, RC_WAIT_TIMEOUT_MS, sub_pool_idle,
				 pool, &v),
		  "subscribers gauge should return to %d, last %lld", N_KEEP,
		  v);
	/* the lws subscribers plus the scrape's own connection */
	rc_assert(rc_wait_metric(&srv, "ringcast_connections", N_KEEP + 1,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "ringcast_connections should return to %d (%d subscribers + "
		  "this scrape), last %lld", N_KEEP + 1, N_KEEP, v);
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_connections_accepted_total",
				    N_KEEP + N_RAW, RC_WAIT_TIMEOUT_MS, NULL,
				    NULL, &v),
		  "accepted total should be >= %d, last %lld", N_KEEP + N_RAW,
		  v);

	/* every ingest buffer is returned once everything was delivered */
	rc_assert(rc_wait_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}",
				 0, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "ingest ring buffers still in use when idle: %lld", v);

	/* a newcomer after the storm gets everything from its first message */
	fresh_first = sent;
	sub_connect(pool, N_KEEP, &srv.http, "live", 0, fresh_first);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_KEEP + 1,
		  "fresh subscriber should connect: %s",
		  sub_describe(&pool->subs[N_KEEP], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_KEEP + 1, RC_WAIT_TIMEOUT_MS, sub_pool_idle,
				 pool, &v),
		  "subscribers gauge should be %d, last %lld", N_KEEP + 1, v);
	for (int b = 0; b < FRESH_MSGS / BURST; b++) {
		send_burst(fd, &sent, BURST);
		sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	}
	check_subs(N_KEEP + 1, sent, "after the resets");
	rc_assert(pool->subs[N_KEEP].count == FRESH_MSGS,
		  "fresh subscriber should have exactly %d messages: %s",
		  FRESH_MSGS, sub_describe(&pool->subs[N_KEEP], d, sizeof(d)));
	close(fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
