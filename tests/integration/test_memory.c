/* Memory stays bounded under a long flood with slow subscribers: the
 * server's resident set is sampled from /proc/PID/status during a flood of
 * $RINGCAST_FLOOD_SECONDS (default 60) at a fixed rate, with subscribers that
 * never read, and its peak must stay under a bound derived from the
 * configuration. The peak is printed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_HEALTHY 8
#define N_STALLED 8
#define MSG_SIZE 1000
#define RATE 2000		/* messages per second */
#define BURST 100		/* every 50 ms */
#define BUF_COUNT 4096
#define BUF_SIZE 2048
#define MAX_QUEUE (256 * 1024)
#define CLIENT_RING (256 * 2048)	/* gateway/server.c: CLIENT_RING_COUNT x CLIENT_RING_SIZE */
#define MARGIN_KB (24 * 1024)

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

/* A "Name:   N kB" field of /proc/PID/status in kB, or -1. */
static long long status_kb(pid_t pid, const char *name)
{
	char path[64], line[256];
	long long v = -1;
	size_t nl = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, nl) && line[nl] == ':') {
			v = strtoll(line + nl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int flood_seconds(void)
{
	const char *e = getenv("RINGCAST_FLOOD_SECONDS");
	int s = e && *e ? atoi(e) : 60;

	return s >= 1 && s <= 3600 ? s : 60;
}

Test(memory, rss_bounded_during_flood_with_slow_subscribers, .fini = fini)
{
	char qb[32], bc[16], bs[16], err[256], d[512];
	long long base_kb, rss_kb, peak_kb = 0, hwm_kb, bound_kb, v;
	int secs = flood_seconds(), fd, samples = 0;
	uint64_t sent = 0;
	int64_t t0, next;

	snprintf(qb, sizeof(qb), "%d", MAX_QUEUE);
	snprintf(bc, sizeof(bc), "%d", BUF_COUNT);
	snprintf(bs, sizeof(bs), "%d", BUF_SIZE);
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--buf-count", bc,
		 "--buf-size", bs, "--max-queue", qb, "--slow", "drop", "--ping-interval",
		 "600000");
	base_kb = status_kb(srv.pid, "VmRSS");
	rc_assert(base_kb > 0, "read /proc/%d/status", (int)srv.pid);
	/* The bound: what the configuration lets the server hold on top of
	 * what it needed at start-up. The ingest slab (every buffer touched by
	 * the kernel at least once; 2112-byte stride: 2048 + 16 headroom,
	 * 64-byte aligned, counted as 2 KiB + 128), the client ring's slab,
	 * and per subscriber --max-queue bytes of queued frames: from UDP they
	 * point into the slab, but a queue may equally hold copied messages
	 * (TCP, HTTP publishers, the cache), so it is counted in full. The
	 * margin covers the allocator's slack, queue entry arrays, the CQ/SQ
	 * rings and the /metrics scrapes. */
	bound_kb = base_kb + (long long)BUF_COUNT * (BUF_SIZE + 128) / 1024 + CLIENT_RING / 1024 +
		   (long long)(N_HEALTHY + N_STALLED) * MAX_QUEUE / 1024 + MARGIN_KB;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan keeps freed memory in a quarantine (256 MB by default) and
	 * shadow memory on top: the same leak-free server is much bigger. */
	bound_kb += 512 * 1024;
#endif
	{
		const char *w = getenv("RINGCAST_WRAPPER");

		if (w && *w)
			bound_kb = bound_kb * 4 + 512 * 1024;	/* valgrind's own memory */
	}

	pool = sub_pool_new(N_HEALTHY);
	rc_assert(pool, "lws context");
	pool->size_of = fixed_size;
	for (int i = 0; i < N_HEALTHY; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == N_HEALTHY, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	for (int i = 0; i < N_STALLED; i++)
		stalled[i].fd = -1;
	for (int i = 0; i < N_STALLED; i++)
		rc_assert(ws_raw_open(&stalled[i], &srv.http, "/ws/live", 4096, RC_WAIT_TIMEOUT_MS,
				      err, sizeof(err)) == 0, "stalled subscriber %d: %s", i, err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 N_HEALTHY + N_STALLED, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "subscribers gauge %lld", v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");

	/* RATE messages a second in bursts, for secs seconds; RSS sampled
	 * between bursts. Bounded in count as well as time. */
	t0 = rc_now_ms();
	next = t0;
	for (long i = 0; i < (long)secs * RATE / BURST && rc_now_ms() - t0 < secs * 2000L; i++) {
		for (int k = 0; k < BURST; k++, sent++)
			rc_assert(rc_udp_send_seq(fd, 0, sent, MSG_SIZE) == 0, "udp send: %s",
				  strerror(errno));
		next += 1000 * BURST / RATE;
		do {
			sub_pool_service_for(pool, 5);
		} while (rc_now_ms() < next);
		rss_kb = status_kb(srv.pid, "VmRSS");
		rc_assert(rss_kb > 0, "server gone during the flood");
		if (rss_kb > peak_kb)
			peak_kb = rss_kb;
		samples++;
	}
	hwm_kb = status_kb(srv.pid, "VmHWM");
	cr_log_info("flood %d s, %llu messages, %d samples: RSS at start %lld kB, peak sampled "
		    "%lld kB, peak (VmHWM) %lld kB, bound %lld kB; drops slow_drop %lld pressure "
		    "%lld stalled %lld", secs, (unsigned long long)sent, samples, base_kb, peak_kb,
		    hwm_kb, bound_kb,
		    rc_metric(&srv, "ringcast_drops_total{reason=\"slow_drop\"}"),
		    rc_metric(&srv, "ringcast_drops_total{reason=\"pressure\"}"),
		    rc_metric(&srv, "ringcast_drops_total{reason=\"stalled\"}"));
	printf("ringcast peak RSS during a %d s flood: %lld kB (bound %lld kB)\n", secs,
	       hwm_kb > peak_kb ? hwm_kb : peak_kb, bound_kb);
	fflush(stdout);
	rc_assert(peak_kb <= bound_kb && hwm_kb <= bound_kb,
		  "peak RSS %lld kB (VmHWM %lld kB) over the bound %lld kB", peak_kb, hwm_kb,
		  bound_kb);
	/* the healthy subscribers were served all along */
	sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < N_HEALTHY; i++)
		rc_assert(pool->subs[i].state == SUB_OPEN && pool->subs[i].count > 0,
			  "healthy subscriber: %s", sub_describe(&pool->subs[i], d, sizeof(d)));
	close(fd);
	for (int i = 0; i < N_STALLED; i++)
		ws_raw_close(&stalled[i]);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
