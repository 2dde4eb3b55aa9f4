/* An empty buffer ring: a publisher floods while subscribers that never read
 * pin ingest buffers. The multishot receive ends with -ENOBUFS (counted as an
 * ingest pause) and is re-armed once buffers come back; what the stalled
 * subscribers lose is counted; healthy subscribers get every message, and
 * keep getting them once the flood is over. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_HEALTHY 5
#define N_STALLED 3
#define MSG_SIZE 1000
#define BURST 100	/* more than the 64-buffer ring holds */
#define MIN_MSGS 4000	/* past what the stalled sockets' kernel buffers absorb */
#define MAX_MSGS 40000
#define AFTER_MSGS 1000

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw stalled[N_STALLED];

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (int i = 0; i < N_STALLED; i++)
		ws_raw_close(&stalled[i]);
	rc_cleanup();
}

static size_t fixed_size(uint64_t seq)
{
	(void)seq;
	return MSG_SIZE;
}

static void check_healthy(uint64_t sent, const char *what)
{
	char d[512];

	for (int i = 0; i < N_HEALTHY; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->count == sent && s->next_seq == sent &&
				  s->mismatches == 0,
			  "%s: healthy subscriber should have all %llu messages: %s", what,
			  (unsigned long long)sent, sub_describe(s, d, sizeof(d)));
	}
}

static void burst(int fd, uint64_t *sent, int n)
{
	for (int k = 0; k < n; k++, (*sent)++)
		rc_assert(rc_udp_send_seq(fd, 0, *sent, MSG_SIZE) == 0, "udp send: %s",
			  strerror(errno));
	sub_pool_wait_seq(pool, sent, 1, RC_WAIT_TIMEOUT_MS);
}

Test(bufring, exhausted_ring_pauses_ingest_and_recovers, .fini = fini)
{
	long long pauses = 0, rearms, pressure, stalled_evictions, closed, v;
	uint64_t sent = 0;
	char err[256], d[512];
	int fd;

	for (int i = 0; i < N_STALLED; i++)
		stalled[i].fd = -1;
	/* a tiny ring, and the default 4 MiB queue bound: the ring, not the
	 * per-subscriber bound, is what runs out. --batch-max 0: every frame
	 * is sent from its ring buffer, so stalled subscribers pin buffers
	 * (batched frames are copies and free theirs at once). One worker:
	 * with several, stalled subscribers on the other workers hold their
	 * worker's copies, never the ring of the worker that receives (which
	 * is the point of copying on hand-off), so how many would pin this
	 * ring would be up to the kernel's spread of connections. */
	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--buf-count",
		 "64", "--ping-interval", "600000", "--batch-max", "0");
	pool = sub_pool_new(N_HEALTHY);
	rc_assert(pool, "lws context");
	pool->size_of = fixed_size;
	for (int i = 0; i < N_HEALTHY; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_HEALTHY, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	for (int i = 0; i < N_STALLED; i++)
		rc_assert(ws_raw_open(&stalled[i], &srv.http, "/ws/live", 4096, RC_WAIT_TIMEOUT_MS,
				      err, sizeof(err)) == 0, "stalled subscriber %d: %s", i, err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_HEALTHY + N_STALLED, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers gauge %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");

	/* Flood in bursts larger than the ring until ingest has paused. */
	for (int b = 1; sent < MAX_MSGS; b++) {
		burst(fd, &sent, BURST);
		check_healthy(sent, "during the flood");
		if (sent >= MIN_MSGS && b % 10 == 0) {
			pauses = rc_metric(&srv, "ringcast_ingest_pauses_total");
			if (pauses >= 1)
				break;
		}
	}
	rearms = rc_metric(&srv, "ringcast_udp_rearms_total");
	pressure = rc_metric(&srv, "ringcast_drops_total{reason=\"pressure\"}");
	stalled_evictions = rc_metric(&srv, "ringcast_drops_total{reason=\"stalled\"}");
	closed = rc_metric(&srv, "ringcast_drops_total{reason=\"closed\"}");
	cr_log_info("sent %llu: ingest pauses %lld, re-arms %lld, pressure drops %lld, stalled "
		    "evictions %lld, closed drops %lld, kernel udp drops %lld",
		    (unsigned long long)sent, pauses, rearms, pressure, stalled_evictions, closed,
		    rc_metric(&srv, "ringcast_drops_total{reason=\"kernel_udp\"}"));
	rc_assert(pauses >= 1, "the ring should have run dry (-ENOBUFS) after %llu messages",
		  (unsigned long long)sent);
	rc_assert(rearms >= pauses, "every pause should end in a re-arm: %lld re-arms, %lld pauses",
		  rearms, pauses);
	rc_assert(pressure + stalled_evictions + closed >= 1,
		  "what the stalled subscribers lost should be counted");

	/* Buffers are back: healthy subscribers keep getting everything. */
	for (int k = 0; k < AFTER_MSGS / BURST; k++) {
		burst(fd, &sent, BURST);
		check_healthy(sent, "after the flood");
	}
	v = rc_metric(&srv, "ringcast_udp_errors_total");
	rc_assert(v == 0, "udp receive errors %lld", v);
	close(fd);
	for (int i = 0; i < N_STALLED; i++)
		ws_raw_close(&stalled[i]);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
