/* The UDP mux port: one port feeds many channels, each datagram naming its
 * channel in a small header; malformed headers and unknown channels are
 * counted and dropped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define PER_CHAN 4	/* subscribers per channel */
#define N_MSGS 2000

static struct rc_server srv;
static struct sub_pool *pool;
static int ufd = -1;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	if (ufd >= 0)
		close(ufd);
	ufd = -1;
	rc_cleanup();
}

static void send_mux(const char *channel, unsigned chan, uint64_t seq, size_t size)
{
	unsigned char buf[1500];
	size_t n = strlen(channel);

	buf[0] = 'R';
	buf[1] = (unsigned char)n;
	memcpy(buf + 2, channel, n);
	payload_fill(chan, seq, buf + 2 + n, size);
	rc_assert(send(ufd, buf, 2 + n + size, 0) == (ssize_t)(2 + n + size), "send: %s",
		  strerror(errno));
}

Test(mux, one_port_many_channels, .fini = fini)
{
	static const char *const names[2] = { "alpha", "beta" };
	uint64_t sent[2] = { 0, 0 };
	char d[512];
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp-mux", "127.0.0.1:0");
	rc_assert(srv.udp_mux.port > 0, "the server should announce 'listen udp-mux'");
	rc_assert(srv.n_udp == 0, "--udp-mux alone replaces the default UDP port");
	pool = sub_pool_new(2 * PER_CHAN);
	rc_assert(pool, "lws context");
	for (int i = 0; i < 2 * PER_CHAN; i++)
		sub_connect(pool, i, &srv.http, names[i % 2], (unsigned)(i % 2), 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 2 * PER_CHAN, "subscribers: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	ufd = rc_udp_socket(&srv.udp_mux);
	rc_assert(ufd >= 0, "udp socket");

	for (uint64_t k = 0; k < N_MSGS; k++) {
		unsigned c = (unsigned)(k % 2);

		send_mux(names[c], c, sent[c], payload_size(sent[c]));
		sent[c]++;
		if (k % 100 == 99)
			sub_pool_wait_seq(pool, sent, 2, RC_WAIT_TIMEOUT_MS);
	}
	/* Junk: wrong magic, zero and oversized name lengths, a name longer
	 * than the datagram, a bad name; then a channel nobody has. */
	{
		static const unsigned char junk[][8] = {
			{ 'X', 1, 'a', 0 }, { 'R', 0, 'a', 0 }, { 'R', 65, 'a', 0 },
			{ 'R', 7, 'a', 'b', 0 }, { 'R', 2, 'a', '/', 0 },
		};
		static const size_t junk_len[] = { 4, 4, 4, 5, 5 };

		for (size_t j = 0; j < 5; j++)
			rc_assert(send(ufd, junk[j], junk_len[j], 0) == (ssize_t)junk_len[j], "send");
		send_mux("gamma", 2, 0, 10);
	}
	sub_pool_wait_seq(pool, sent, 2, RC_WAIT_TIMEOUT_MS);
	for (int i = 0; i < 2 * PER_CHAN; i++)
		rc_assert(pool->subs[i].next_seq == sent[i % 2] &&
				  pool->subs[i].count == sent[i % 2] && pool->subs[i].mismatches == 0,
			  "subscriber should have exactly its channel's %llu messages: %s",
			  (unsigned long long)sent[i % 2], sub_describe(&pool->subs[i], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_drops_total{reason=\"mux_bad_header\"}", 5,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "malformed mux headers counted: %lld", v);
	rc_assert(rc_wait_metric(&srv, "ringcast_drops_total{reason=\"mux_no_channel\"}", 1,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "datagram for an unknown channel counted: %lld", v);
	v = rc_metric(&srv, "ringcast_ingest_messages_total{channel=\"alpha\"}");
	rc_assert(v == (long long)sent[0], "alpha ingest counter %lld", v);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
