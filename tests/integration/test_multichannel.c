/* One WebSocket connection, several channels: {"sub":...}/{"unsub":...}
 * text commands, a label frame {"channel":"x","epoch":"E","seq":N} before
 * each message once a connection has more than one channel, and plain
 * /ws/<channel> subscribers unaffected. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

static struct rc_server srv;
static struct sub_pool *pool;
static struct ws_raw ws = { .fd = -1 };
static int ua = -1, ub = -1;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	ws_raw_close(&ws);
	if (ua >= 0)
		close(ua);
	if (ub >= 0)
		close(ub);
	ua = ub = -1;
	rc_cleanup();
}

/* Next frame as text ("bin:<len>:<tag>" for binary payloads). */
static const char *next(char *out, size_t cap)
{
	unsigned char payload[2048];
	struct ws_frame f;
	int r = ws_raw_recv(&ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	rc_assert(r == 1, "frame expected, got %d", r);
	if (f.opcode == 1) {
		payload[f.len] = '\0';
		snprintf(out, cap, "%.*s", (int)(cap - 1), (char *)payload);
	} else {
		unsigned chan;
		uint64_t seq;

		rc_assert(f.opcode == 2, "binary frame, got opcode %d", f.opcode);
		/* Payloads of 8 bytes and more carry (chan, seq); shorter ones
		 * are checked against the payload of (1, seq 0), the one short
		 * message this test sends. */
		if (payload_tag(payload, f.len, &chan, &seq) == 0)
			snprintf(out, cap, "bin:%u:%llu", chan, (unsigned long long)seq);
		else
			snprintf(out, cap, "bin:%s",
				 payload_match(1, 0, payload_size(0), payload, f.len) ? "1:0" : "?");
	}
	return out;
}

static void expect(const char *want)
{
	char got[256];

	next(got, sizeof(got));
	rc_assert(strcmp(got, want) == 0, "want '%s', got '%s'", want, got);
}

/* The next frame must be channel ch's label for its message number seq,
 * with the channel's epoch (16 hex digits). */
static void expect_label(const char *ch, unsigned seq)
{
	char got[256], name[65], epoch[17], tail[4];
	unsigned n = 0;

	next(got, sizeof(got));
	rc_assert(sscanf(got, "{\"channel\":\"%64[^\"]\",\"epoch\":\"%16[0-9a-f]\",\"seq\":%u%3s", name,
			 epoch, &n, tail) == 4 && !strcmp(tail, "}") && strlen(epoch) == 16 &&
			  !strcmp(name, ch) && n == seq,
		  "label of %s message %u expected, got '%s'", ch, seq, got);
}

static void command(const char *cmd)
{
	rc_assert(ws_raw_send(&ws, 1, cmd, strlen(cmd)) == 0, "send command");
}

Test(multichannel, sub_unsub_and_labels, .fini = fini)
{
	char err[256], d[512];
	uint64_t sent_b = 0;
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=a", "--udp",
		 "127.0.0.1:0=b");
	ua = rc_udp_socket(rc_udp_for(&srv, "a"));
	ub = rc_udp_socket(rc_udp_for(&srv, "b"));
	rc_assert(ua >= 0 && ub >= 0, "udp sockets");
	/* A plain subscriber of b, for comparison: bare payloads only. */
	pool = sub_pool_new(1);
	rc_assert(pool, "lws context");
	sub_connect(pool, 0, &srv.http, "b", 1, 0);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1, "lws subscriber");

	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/a", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open: %s", err);
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"a\"}", 1, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "a has its subscriber: %lld", v);
	/* One channel: bare frames, as before. */
	rc_assert(rc_udp_send_seq(ua, 0, 0, 10) == 0, "send");
	expect("bin:0:0");

	command("{\"sub\":\"b\"}");
	expect("{\"subscribed\":\"b\"}");
	command(" { \"sub\" : \"b\" } ");
	expect("{\"error\":\"already subscribed\",\"channel\":\"b\"}");
	command("{\"unsub\":\"nope\"}");
	expect("{\"error\":\"not subscribed\",\"channel\":\"nope\"}");
	command("{\"sub\":\"bad/name\"}");
	expect("{\"error\":\"bad command\"}");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"b\"}", 2, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "b has two subscribers: %lld", v);
	{
		struct http_resp r;

		rc_assert(http_get(&srv.http, "/connections", &r) == 0 &&
				  strstr(r.body, "\"channels\": [\"a\", \"b\"]"),
			  "/connections lists both channels: %s", r.body);
		http_resp_free(&r);
	}

	/* Two channels: each message is preceded by its label, in order. */
	rc_assert(rc_udp_send_seq(ua, 0, 1, 10) == 0, "send a");
	expect_label("a", 2);	/* a's first message went to the plain subscriber */
	expect("bin:0:1");
	rc_assert(rc_udp_send_seq(ub, 1, sent_b++, payload_size(0)) == 0, "send b");
	expect_label("b", 1);
	expect("bin:1:0");

	command("{\"unsub\":\"a\"}");
	expect("{\"unsubscribed\":\"a\"}");
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"a\"}", 0, RC_WAIT_TIMEOUT_MS,
				 sub_pool_idle, pool, &v),
		  "a lost its subscriber: %lld", v);
	rc_assert(rc_udp_send_seq(ua, 0, 2, 10) == 0, "send a");
	rc_assert(rc_udp_send_seq(ub, 1, sent_b, payload_size(sent_b)) == 0, "send b");
	sent_b++;
	/* Nothing of a any more: the next frames are b's. */
	expect_label("b", 2);
	expect("bin:1:1");

	{
		uint64_t want[2] = { 0, sent_b };	/* by payload channel index */

		sub_pool_wait_seq(pool, want, 2, RC_WAIT_TIMEOUT_MS);
	}
	rc_assert(pool->subs[0].count == 2 && pool->subs[0].mismatches == 0 &&
			  pool->subs[0].text_msgs == 0,
		  "the plain subscriber of b got bare payloads only: %s",
		  sub_describe(&pool->subs[0], d, sizeof(d)));
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&ws);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

Test(multichannel, channelless_socket_and_limit, .fini = fini)
{
	char err[256], cmd[64], want[96];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=a");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open /ws: %s", err);
	for (int i = 0; i < 32; i++) {
		snprintf(cmd, sizeof(cmd), "{\"sub\":\"c%d\"}", i);
		command(cmd);
		if (i < 31)
			snprintf(want, sizeof(want), "{\"subscribed\":\"c%d\"}", i);
		else
			snprintf(want, sizeof(want),
				 "{\"error\":\"too many subscriptions\",\"channel\":\"c%d\"}", i);
		expect(want);
	}
	command("{\"sub\":\"a\"}");
	expect("{\"error\":\"too many subscriptions\",\"channel\":\"a\"}");
	command("{\"unsub\":\"c3\"}");
	expect("{\"unsubscribed\":\"c3\"}");
	command("{\"sub\":\"a\"}");
	expect("{\"subscribed\":\"a\"}");
	rc_assert(rc_udp_send_seq(ua = rc_udp_socket(&srv.udp[0]), 0, 7, 20) == 0, "send");
	expect_label("a", 1);
	expect("bin:0:7");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}
