/* Resuming a channel on a WebSocket: /ws/<channel>?since=SEQ&epoch=E. The
 * first frame says whether the channel's history still held everything
 * after SEQ ("recovered": true, then exactly those messages, then live) or
 * not ("recovered": false with the current epoch and number, then live
 * only); the counters say how often each happened.
 *
 * One worker: the answer is measured against what the subscriber's worker
 * has published, and with several workers the newest messages may still be
 * on their way to it (docs/ARCHITECTURE.md, "Positions"), which would make
 * the exact checks here depend on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct rc_server srv;
static int ufd = -1;

static void fini(void)
{
	if (ufd >= 0)
		close(ufd);
	ufd = -1;
	rc_cleanup();
}

static void publish(const char *text)
{
	rc_assert(send(ufd, text, strlen(text), 0) == (ssize_t)strlen(text), "send: %s",
		  strerror(errno));
}

/* Publishes text and waits until the server has counted n messages. */
static void publish_nth(const char *text, long long n)
{
	long long v;

	publish(text);
	rc_assert(rc_wait_metric(&srv, "ringcast_ingest_messages_total{channel=\"room\"}", n,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
		  "%lld published, last %lld", n, v);
}

/* Opens /ws/room with the given query and reads the answer frame into
 * answer. */
static void join(struct ws_raw *ws, const char *query, char *answer, size_t cap)
{
	char path[128], err[256];
	unsigned char payload[512];
	struct ws_frame f;
	int r;

	snprintf(path, sizeof(path), "/ws/room%s", query);
	rc_assert(ws_raw_open(ws, &srv.http, path, 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open %s: %s", path, err);
	r = ws_raw_recv(ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(r == 1 && f.opcode == 1, "%s: a text answer first (r %d, opcode %d)", path, r,
		  f.opcode);
	payload[f.len] = '\0';
	snprintf(answer, cap, "%s", (char *)payload);
}

/* Resumes /ws/room after since of epoch, and requires the answer to say
 * recovered and seq. */
static void resume_expect(struct ws_raw *ws, unsigned since, const char *epoch, bool recovered,
			  unsigned seq)
{
	char query[96], answer[512], want[256];

	snprintf(query, sizeof(query), "?since=%u&epoch=%s", since, epoch);
	join(ws, query, answer, sizeof(answer));
	snprintf(want, sizeof(want),
		 "{\"channel\":\"room\",\"recovered\":%s,\"epoch\":\"%s\",\"seq\":%u}",
		 recovered ? "true" : "false", epoch, seq);
	rc_assert(!strcmp(answer, want), "answer %s, want %s", answer, want);
}

/* The next data frame's payload must be want. */
static void expect(struct ws_raw *ws, const char *want)
{
	unsigned char payload[512];
	struct ws_frame f;
	int r = ws_raw_recv(ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	rc_assert(r == 1 && f.opcode == 2, "frame '%s' expected (r %d, opcode %d)", want, r,
		  f.opcode);
	payload[f.len] = '\0';
	rc_assert(f.len == strlen(want) && !memcmp(payload, want, f.len), "'%s' expected, got '%s'",
		  want, (char *)payload);
}

Test(resume, since_and_epoch_on_the_url, .fini = fini)
{
	struct ws_raw ws;
	char answer[512], epoch[17];
	unsigned long long seq;

	/* The cache keeps the last three messages: the channel's history. */
	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=room",
		 "--cache", "room:last=3");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp socket");
	publish_nth("m1", 1);
	publish_nth("m2", 2);
	publish_nth("m3", 3);

	/* A position of no known history: not recovered, told the current
	 * one, then live only (the cache is not replayed). */
	join(&ws, "?since=0&epoch=0000000000000000", answer, sizeof(answer));
	rc_assert(sscanf(answer, "{\"channel\":\"room\",\"recovered\":false,\"epoch\":\"%16[0-9a-f]\","
				 "\"seq\":%llu}", epoch, &seq) == 2 && strlen(epoch) == 16 && seq == 3,
		  "answer: %s", answer);
	publish_nth("m4", 4);
	expect(&ws, "m4");
	ws_raw_close(&ws);

	/* Gone for m5 and m6; back with the last it saw, m4: recovered, then
	 * exactly m5 and m6, then live. */
	publish_nth("m5", 5);
	publish_nth("m6", 6);
	resume_expect(&ws, 4, epoch, true, 6);
	expect(&ws, "m5");
	expect(&ws, "m6");
	publish_nth("m7", 7);
	expect(&ws, "m7");
	ws_raw_close(&ws);

	/* Up to date: recovered, nothing replayed, then live. */
	resume_expect(&ws, 7, epoch, true, 7);
	publish_nth("m8", 8);
	expect(&ws, "m8");
	ws_raw_close(&ws);

	/* Too far back: the cache holds m6..m8, not m2. Not recovered, then
	 * live only. */
	resume_expect(&ws, 1, epoch, false, 8);
	publish_nth("m9", 9);
	expect(&ws, "m9");
	ws_raw_close(&ws);

	/* A malformed position resumes nothing, and says so. */
	join(&ws, "?since=x&epoch=zz", answer, sizeof(answer));
	rc_assert(strstr(answer, "\"recovered\":false") && strstr(answer, "\"seq\":9"),
		  "answer: %s", answer);
	ws_raw_close(&ws);

	rc_assert(rc_metric(&srv, "ringcast_resumed_total") == 2, "two whole resumes counted");
	rc_assert(rc_metric(&srv, "ringcast_resume_gaps_total") == 3, "three gaps counted");
	RC_STOP_OK(&srv);
}

/* A plain /ws/<channel> subscriber is untouched: no answer frame, the
 * cache, then live. */
Test(resume, a_plain_join_gets_no_answer, .fini = fini)
{
	struct ws_raw ws;
	char err[256];

	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=room",
		 "--cache", "room:last=3");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp socket");
	publish_nth("m1", 1);
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/room", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) ==
			  0,
		  "open: %s", err);
	expect(&ws, "m1");
	publish_nth("m2", 2);
	expect(&ws, "m2");
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}

/* Without a cache there is no history to replay: a position is recovered
 * only when nothing was published after it. */
Test(resume, without_a_cache_only_up_to_date_recovers, .fini = fini)
{
	struct ws_raw ws;
	char answer[512], epoch[17];
	unsigned long long seq;

	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=room");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp socket");
	publish_nth("m1", 1);
	publish_nth("m2", 2);
	join(&ws, "?since=0&epoch=0000000000000000", answer, sizeof(answer));
	rc_assert(sscanf(answer, "{\"channel\":\"room\",\"recovered\":false,\"epoch\":\"%16[0-9a-f]\","
				 "\"seq\":%llu}", epoch, &seq) == 2 && seq == 2,
		  "answer: %s", answer);
	ws_raw_close(&ws);

	/* Nothing published since 2: up to date, then live. */
	resume_expect(&ws, 2, epoch, true, 2);
	publish_nth("m3", 3);
	expect(&ws, "m3");
	ws_raw_close(&ws);

	/* m3 missed and nowhere kept: not recovered, then live only. */
	resume_expect(&ws, 2, epoch, false, 3);
	publish_nth("m4", 4);
	expect(&ws, "m4");
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}

/* The same on a bare /ws by command: {"sub":"x","since":N,"epoch":"E"} is
 * answered {"subscribed":"x","recovered":...}, then (labelled, as every
 * message on /ws) exactly what was missed, then live. */
Test(resume, by_command_on_a_bare_socket, .fini = fini)
{
	struct ws_raw ws;
	char answer[512], want[256], epoch[17], cmd[160], err[256];
	unsigned char payload[512];
	struct ws_frame f;
	unsigned long long seq;
	int r;

	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=room",
		 "--cache", "room:last=10");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp socket");
	publish_nth("m1", 1);
	join(&ws, "?since=0&epoch=0000000000000000", answer, sizeof(answer));
	rc_assert(sscanf(answer, "{\"channel\":\"room\",\"recovered\":false,\"epoch\":\"%16[0-9a-f]\","
				 "\"seq\":%llu}", epoch, &seq) == 2 && seq == 1,
		  "answer: %s", answer);
	ws_raw_close(&ws);
	publish_nth("m2", 2);
	publish_nth("m3", 3);

	rc_assert(ws_raw_open(&ws, &srv.http, "/ws", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open /ws: %s", err);
	snprintf(cmd, sizeof(cmd), "{\"sub\":\"room\",\"since\":1,\"epoch\":\"%s\"}", epoch);
	rc_assert(ws_raw_send(&ws, 1, cmd, strlen(cmd)) == 0, "send command");
	r = ws_raw_recv(&ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);
	rc_assert(r == 1 && f.opcode == 1, "answer frame (r %d opcode %d)", r, f.opcode);
	payload[f.len] = '\0';
	snprintf(want, sizeof(want),
		 "{\"subscribed\":\"room\",\"recovered\":true,\"epoch\":\"%s\",\"seq\":3}", epoch);
	rc_assert(!strcmp((char *)payload, want), "answer %s, want %s", (char *)payload, want);
	for (int k = 2; k <= 4; k++) {
		char m[8];

		if (k == 4)
			publish_nth("m4", 4);
		r = ws_raw_recv(&ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);
		payload[r == 1 ? f.len : 0] = '\0';
		snprintf(want, sizeof(want), "{\"channel\":\"room\",\"epoch\":\"%s\",\"seq\":%d}",
			 epoch, k);
		rc_assert(r == 1 && f.opcode == 1 && !strcmp((char *)payload, want),
			  "label before m%d: '%s', want '%s'", k, (char *)payload, want);
		snprintf(m, sizeof(m), "m%d", k);
		expect(&ws, m);
	}
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}

/* The next frame must be room's label for message seq of epoch. */
static void expect_label(struct ws_raw *ws, const char *epoch, unsigned seq)
{
	unsigned char payload[512];
	char want[128];
	struct ws_frame f;
	int r = ws_raw_recv(ws, &f, payload, sizeof(payload) - 1, RC_WAIT_TIMEOUT_MS);

	payload[r == 1 ? f.len : 0] = '\0';
	snprintf(want, sizeof(want), "{\"channel\":\"room\",\"epoch\":\"%s\",\"seq\":%u}", epoch,
		 seq);
	rc_assert(r == 1 && f.opcode == 1 && !strcmp((char *)payload, want),
		  "label '%s' expected (r %d, opcode %d), got '%s'", want, r, f.opcode,
		  (char *)payload);
}

/* ?meta=1: a single-channel subscriber that asks for positions gets each
 * message's label, cached ones (made by the replay, kept in the cache) as
 * live ones; with ?since= too it resumes like any other; a plain one keeps
 * getting bare payloads. */
Test(resume, meta_labels_on_one_channel, .fini = fini)
{
	struct ws_raw meta, plain, both;
	char answer[512], epoch[17], err[256];
	unsigned long long seq;

	RC_START(&srv, "--workers", "1", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=room",
		 "--cache", "room:last=3");
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp socket");
	publish_nth("m1", 1);
	/* The epoch, from a resume that cannot recover. */
	join(&both, "?since=0&epoch=0000000000000000", answer, sizeof(answer));
	rc_assert(sscanf(answer, "{\"channel\":\"room\",\"recovered\":false,\"epoch\":\"%16[0-9a-f]\","
				 "\"seq\":%llu}", epoch, &seq) == 2 && seq == 1,
		  "answer: %s", answer);
	ws_raw_close(&both);
	publish_nth("m2", 2);
	publish_nth("m3", 3);

	rc_assert(ws_raw_open(&meta, &srv.http, "/ws/room?meta=1", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "open meta: %s", err);
	rc_assert(ws_raw_open(&plain, &srv.http, "/ws/room", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "open plain: %s", err);
	for (unsigned k = 1; k <= 3; k++) {
		char m[8];

		snprintf(m, sizeof(m), "m%u", k);
		expect_label(&meta, epoch, k);
		expect(&meta, m);
		expect(&plain, m);
	}
	/* Resuming with positions: the answer, then labelled m3 (from the
	 * cache, its label the one the first replay made), then live. */
	/* A position without its epoch is none: not recovered. */
	join(&both, "?meta=1&since=2&", answer, sizeof(answer));
	rc_assert(strstr(answer, "\"recovered\":false") != NULL, "answer: %s", answer);
	ws_raw_close(&both);
	{
		char query[96], want[256];

		snprintf(query, sizeof(query), "?since=2&epoch=%s&meta=1", epoch);
		join(&both, query, answer, sizeof(answer));
		snprintf(want, sizeof(want),
			 "{\"channel\":\"room\",\"recovered\":true,\"epoch\":\"%s\",\"seq\":3}", epoch);
		rc_assert(!strcmp(answer, want), "answer %s, want %s", answer, want);
	}
	expect_label(&both, epoch, 3);
	expect(&both, "m3");
	publish_nth("m4", 4);
	expect_label(&meta, epoch, 4);
	expect(&meta, "m4");
	expect(&plain, "m4");
	expect_label(&both, epoch, 4);
	expect(&both, "m4");
	ws_raw_close(&meta);
	ws_raw_close(&plain);
	ws_raw_close(&both);
	RC_STOP_OK(&srv);
}
