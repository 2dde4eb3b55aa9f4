/* Fan-out: every datagram reaches every subscriber of its channel, exactly
 * once, in order, byte-identical; and the counters agree. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define N_SUBS 100
#define N_MSGS 10000
/* Small enough that one burst fits the kernel's default UDP receive buffer
 * (rmem_default ~208 KiB) even if the server reads nothing meanwhile:
 * a datagram dropped by the kernel would not be the server's fault, and
 * this keeps the exact-delivery assertion deterministic. */
#define BURST 100

static struct rc_server srv;
static struct sub_pool *pool;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	rc_cleanup();
}

/* Fails with the description of the first subscriber that is not in the
 * expected final state. */
static void check_subs(const uint64_t *sent, const char *what)
{
	char d[512];

	for (int i = 0; i < pool->n; i++) {
		const struct sub *s = &pool->subs[i];
		uint64_t want = sent[s->chan];

		rc_assert(s->state == SUB_OPEN && s->count == want &&
				  s->next_seq == want && s->mismatches == 0 &&
				  s->text_msgs == 0 &&
				  s->close_code == SUB_NO_CLOSE,
			  "%s: subscriber should have exactly %llu messages in "
			  "order: %s", what, (unsigned long long)want,
			  sub_describe(s, d, sizeof(d)));
	}
}

Test(fanout, two_channels_100_subscribers, .fini = fini)
{
	static const char *const names[2] = { "a", "b" };
	const struct rc_endpoint *ep[2];
	uint64_t sent[2] = { 0, 0 }, bytes[2] = { 0, 0 };
	long long v, drops0, drops1;
	char name[128], d[512];
	int fds[2], open;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=a",
		 "--udp", "127.0.0.1:0=b");
	ep[0] = rc_udp_for(&srv, "a");
	ep[1] = rc_udp_for(&srv, "b");
	rc_assert(ep[0] && ep[1], "listen udp lines for channels a and b");

	pool = sub_pool_new(N_SUBS);
	rc_assert(pool, "lws context");
	for (int i = 0; i < N_SUBS; i++)
		sub_connect(pool, i, &srv.http, names[i % 2], (unsigned)(i % 2),
			    0);
	open = sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < N_SUBS && open != N_SUBS; i++)
		rc_assert(pool->subs[i].state == SUB_OPEN,
			  "all %d subscribers should connect, %d did: %s",
			  N_SUBS, open,
			  sub_describe(&pool->subs[i], d, sizeof(d)));
	/* subscribed server-side before the first datagram, or the first
	 * messages could legitimately miss late subscribers */
	for (int c = 0; c < 2; c++) {
		snprintf(name, sizeof(name),
			 "ringcast_subscribers{channel=\"%s\"}", names[c]);
		rc_assert(rc_wait_metric(&srv, name, N_SUBS / 2,
					 RC_WAIT_TIMEOUT_MS, sub_pool_idle,
					 pool, &v),
			  "%s should be %d, last %lld", name, N_SUBS / 2, v);
	}

	for (int c = 0; c < 2; c++) {
		fds[c] = rc_udp_socket(ep[c]);
		rc_assert(fds[c] >= 0, "udp socket");
	}
	drops0 = rc_udp_rcvbuf_errors();
	for (int i = 0; i < N_MSGS;) {
		for (int k = 0; k < BURST && i < N_MSGS; k++, i++) {
			int c = i % 2;
			size_t size = payload_size(sent[c]);

			rc_assert(rc_udp_send_seq(fds[c], (unsigned)c, sent[c],
						  size) == 0,
				  "udp send: %s", strerror(errno));
			sent[c]++;
			bytes[c] += size;
		}
		if (!sub_pool_wait_seq(pool, sent, 2, RC_WAIT_TIMEOUT_MS)) {
			drops1 = rc_udp_rcvbuf_errors();
			for (int s = 0; s < N_SUBS; s++) {
				const struct sub *sb = &pool->subs[s];

				rc_assert(sb->state != SUB_OPEN ||
						  sb->next_seq >= sent[sb->chan],
					  "subscriber stalled after %d of %d "
					  "datagrams (kernel UDP rcvbuf drops "
					  "during run: %lld): %s", i, N_MSGS,
					  drops1 - drops0,
					  sub_describe(sb, d, sizeof(d)));
			}
			break;
		}
	}
	drops1 = rc_udp_rcvbuf_errors();
	cr_log_info("kernel UDP receive-buffer drops during the run: %lld",
		    drops1 - drops0);
	check_subs(sent, "after 10000 datagrams");

	for (int c = 0; c < 2; c++) {
		snprintf(name, sizeof(name),
			 "ringcast_ingest_messages_total{channel=\"%s\"}",
			 names[c]);
		rc_assert(rc_wait_metric(&srv, name, (long long)sent[c],
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "%s should be %llu, last %lld", name,
			  (unsigned long long)sent[c], v);
		snprintf(name, sizeof(name),
			 "ringcast_ingest_bytes_total{channel=\"%s\"}",
			 names[c]);
		rc_assert(rc_wait_metric(&srv, name, (long long)bytes[c],
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "%s should be %llu, last %lld", name,
			  (unsigned long long)bytes[c], v);
		snprintf(name, sizeof(name),
			 "ringcast_subscribers{channel=\"%s\"}", names[c]);
		rc_assert(rc_wait_metric(&srv, name, N_SUBS / 2,
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "%s should still be %d, last %lld", name,
			  N_SUBS / 2, v);
	}
	/* every message went to the 50 subscribers of its channel and no
	 * other frame (ping, close) has been sent yet */
	rc_assert(rc_wait_metric(&srv, "ringcast_delivered_frames_total",
				 (long long)((sent[0] + sent[1]) * (N_SUBS / 2)),
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "ringcast_delivered_frames_total should be %llu, last %lld",
		  (unsigned long long)((sent[0] + sent[1]) * (N_SUBS / 2)), v);
	/* payload bytes are a lower bound: the server may count frame
	 * headers too */
	rc_assert(rc_wait_metric_ge(&srv, "ringcast_delivered_bytes_total",
				    (long long)((bytes[0] + bytes[1]) *
						(N_SUBS / 2)),
				    RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "ringcast_delivered_bytes_total should be >= %llu, last %lld",
		  (unsigned long long)((bytes[0] + bytes[1]) * (N_SUBS / 2)),
		  v);
	v = rc_metric(&srv, "ringcast_drops_total{reason=\"slow_drop\"}");
	rc_assert(v <= 0, "nobody was slow, yet slow_drop = %lld", v);
	/* every ingest buffer is returned once everything was delivered */
	rc_assert(rc_wait_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}",
				 0, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "ingest ring buffers still in use when idle: %lld", v);

	close(fds[0]);
	close(fds[1]);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Zero-length datagrams between non-empty ones. */
static const size_t zl_sizes[] = { 0, 1, 0, 1400, 0, 8, 0 };
#define ZL_N (sizeof(zl_sizes) / sizeof(zl_sizes[0]))

static size_t zl_size_of(uint64_t seq)
{
	return seq < ZL_N ? zl_sizes[seq] : 0;
}

Test(fanout, zero_length_datagrams, .fini = fini)
{
	uint64_t sent[1] = { ZL_N };
	long long v, total = 0;
	char d[512];
	int fd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	pool = sub_pool_new(3);
	rc_assert(pool, "lws context");
	pool->size_of = zl_size_of;
	for (int i = 0; i < 3; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 3,
		  "3 subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 3, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v), "subscribers gauge should be 3, last %lld",
		  v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	for (uint64_t s = 0; s < ZL_N; s++) {
		rc_assert(rc_udp_send_seq(fd, 0, s, zl_sizes[s]) == 0,
			  "udp send: %s", strerror(errno));
		total += (long long)zl_sizes[s];
	}
	sub_pool_wait_seq(pool, sent, 1, RC_WAIT_TIMEOUT_MS);
	/* an empty datagram must arrive as an empty binary message, in its
	 * place in the sequence */
	check_subs(sent, "zero-length datagrams");
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel="
				 "\"live\"}", ZL_N, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v),
		  "ingest messages should count empty datagrams: want %zu, "
		  "last %lld", ZL_N, v);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_bytes_total{channel="
				 "\"live\"}", total, RC_WAIT_TIMEOUT_MS, NULL,
				 NULL, &v),
		  "ingest bytes want %lld, last %lld", total, v);
	close(fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* A buffer ring much smaller than a burst: receiving must pause and resume
 * (multishot receives end when the ring runs dry) without losing or
 * reordering anything, and every buffer must come back afterwards. */
Test(fanout, small_buffer_ring, .fini = fini)
{
	uint64_t sent[1] = { 0 };
	long long v;
	char d[512];
	int fd;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--buf-count", "16");
	pool = sub_pool_new(10);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 10; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 10,
		  "subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 10, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v), "subscribers gauge should be 10, last %lld",
		  v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	for (int b = 0; b < 50; b++) {
		for (int k = 0; k < BURST; k++) {
			rc_assert(rc_udp_send_seq(fd, 0, sent[0],
						  payload_size(sent[0])) == 0,
				  "udp send: %s", strerror(errno));
			sent[0]++;
		}
		sub_pool_wait_seq(pool, sent, 1, RC_WAIT_TIMEOUT_MS);
	}
	check_subs(sent, "with a 16-buffer ring");
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel="
				 "\"live\"}", (long long)sent[0],
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "ingest messages want %llu, last %lld",
		  (unsigned long long)sent[0], v);
	rc_assert(rc_wait_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}",
				 0, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "all ring buffers should be back once idle, in_use %lld", v);
	close(fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Same exactness with frames sent by SEND_ZC straight from the ingest
 * buffers (--zc-min, beyond the basic CLI): a buffer recycled before the
 * kernel's zero-copy notification would show up as corrupted payloads. */
Test(fanout, zero_copy_sends, .fini = fini)
{
	uint64_t sent[1] = { 0 };
	long long v;
	char d[512];
	int fd;

	RC_SKIP_ON_EPOLL("SEND_ZC (--zc-min) exists on io_uring only; epoll copies");
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
		 "--zc-min", "1", "--buf-count", "64");
	pool = sub_pool_new(20);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 20; i++)
		sub_connect(pool, i, &srv.http, "live", 0, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 20,
		  "subscribers should connect: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}",
				 20, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v), "subscribers gauge should be 20, last %lld",
		  v);
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	for (int b = 0; b < 40; b++) {
		for (int k = 0; k < BURST; k++) {
			rc_assert(rc_udp_send_seq(fd, 0, sent[0],
						  payload_size(sent[0])) == 0,
				  "udp send: %s", strerror(errno));
			sent[0]++;
		}
		sub_pool_wait_seq(pool, sent, 1, RC_WAIT_TIMEOUT_MS);
	}
	check_subs(sent, "with SEND_ZC");
	rc_assert(rc_wait_metric(&srv, "ringcast_bufring_buffers{state=\"in_use\"}",
				 0, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "all ring buffers should be back once idle, in_use %lld", v);
	close(fd);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
