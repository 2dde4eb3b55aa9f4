/* The pure parts of the command-line tools: url_parse() (ringcast-sub's
 * ws:// URL, ringcast-pub's --http URL), the --demo game frame and
 * ringcast-bench's choice of ramp rates. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_ramp.h"
#include "guard.h"
#include "pub_demo.h"
#include "pub_uplink.h"
#include "url.h"

/* url_parse on a copy whose NUL is the last byte before a guard page. */
static int parse_guarded(const char *s, const char *scheme, uint16_t port, struct url *u)
{
	size_t n = strlen(s) + 1;
	char *g = guard_copy(s, n);
	int r = url_parse(g, scheme, port, u);

	guard_free(g, n);
	return r;
}

Test(perf_url, accepts_the_usual_shapes)
{
	struct url u;

	cr_assert_eq(parse_guarded("ws://127.0.0.1:8080/ws/live", "ws", 80, &u), 0);
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_str_eq(u.authority, "127.0.0.1:8080");
	cr_assert_eq(u.port, 8080);
	cr_assert_str_eq(u.path, "/ws/live");

	cr_assert_eq(parse_guarded("WS://example.org", "ws", 80, &u), 0);
	cr_assert_str_eq(u.host, "example.org");
	cr_assert_eq(u.port, 80);
	cr_assert_str_eq(u.path, "/");

	cr_assert_eq(parse_guarded("ws://[::1]:9/ws/a?x=1", "ws", 80, &u), 0);
	cr_assert_str_eq(u.host, "::1");
	cr_assert_str_eq(u.authority, "[::1]:9");
	cr_assert_eq(u.port, 9);
	cr_assert_str_eq(u.path, "/ws/a?x=1");

	cr_assert_eq(parse_guarded("http://h:65535/pub/c", "http", 80, &u), 0);
	cr_assert_eq(u.port, 65535);
}

Test(perf_url, refuses_malformed_urls)
{
	static const char *const bad[] = {
		"", "ws:/x", "ws://", "ws:///ws/x", "ws://:80/x", "ws://h:/x", "ws://h:0/x",
		"ws://h:65536/x", "ws://h:123456/x", "ws://h:8a/x", "ws://user@h/x", "ws://[::1/x",
		"ws://[]/x", "ws://[::1]x/x", "ws://[zz]/x", "ws://h/a b", "ws://h/a#frag",
		"ws://h x/", "://h/x", "ws//h/x",
	};
	struct url u;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_guarded(bad[i], "ws", 80, &u), -EINVAL, "'%s'", bad[i]);
	cr_assert_eq(parse_guarded("wss://h/x", "ws", 80, &u), -EPROTONOSUPPORT);
	cr_assert_eq(parse_guarded("http://h/x", "ws", 80, &u), -EPROTONOSUPPORT);
}

Test(perf_url, refuses_parts_too_long)
{
	char s[URL_PATH_MAX + 64];
	struct url u;

	snprintf(s, sizeof(s), "ws://h/");
	memset(s + 7, 'a', URL_PATH_MAX);
	s[7 + URL_PATH_MAX] = '\0';
	cr_assert_eq(parse_guarded(s, "ws", 80, &u), -EINVAL);
	snprintf(s, sizeof(s), "ws://");
	memset(s + 5, 'h', URL_HOST_MAX);
	strcpy(s + 5 + URL_HOST_MAX, "/x");
	cr_assert_eq(parse_guarded(s, "ws", 80, &u), -EINVAL);
}

/* Parses one frame: returns the dot count, or -1 when the shape is wrong;
 * the positions of the dots go to xy. */
static int frame_dots(const char *f, long *seq, long *t, long xy[][3], int cap)
{
	char *end;
	int n = 0;

	if (sscanf(f, "{\"seq\":%ld,\"t\":%ld,", seq, t) != 2)
		return -1;
	f = strstr(f, ",\"w\":640,\"h\":360,\"dots\":[");
	if (f == NULL)
		return -1;
	f += 25;
	while (*f == '[' && n < cap) {
		f++;
		for (int i = 0; i < 3; i++) {
			xy[n][i] = strtol(f, &end, 10);
			if (end == f || *end != (i < 2 ? ',' : ']'))
				return -1;
			f = end + 1;
		}
		n++;
		if (*f != ',')
			break;
		f++;
	}
	return strcmp(f, "]}") == 0 ? n : -1;
}

Test(perf_demo, frames_have_the_documented_shape)
{
	static struct pub_demo d;
	char buf[8192];
	long xy[64][3], prev[64][3], seq, t;
	bool moved = false;

	pub_demo_init(&d, 24);
	cr_assert_lt(pub_demo_frame_max(&d), sizeof(buf));
	for (uint64_t k = 0; k < 600; k++) {
		size_t n = pub_demo_frame(&d, k, k * 1000 / 60, buf, sizeof(buf) - 1);

		cr_assert_gt(n, 0);
		buf[n] = '\0';
		cr_assert_eq(frame_dots(buf, &seq, &t, xy, 64), 24, "%s", buf);
		cr_assert_eq(seq, (long)k);
		cr_assert_eq(t, (long)(k * 1000 / 60));
		for (int i = 0; i < 24; i++) {
			cr_assert(xy[i][0] >= 0 && xy[i][0] <= 640 && xy[i][1] >= 0 && xy[i][1] <= 360);
			if (k > 0) {
				/* at most 180 px/s: 3 px per 1/60 s, plus rounding */
				cr_assert_leq(labs(xy[i][0] - prev[i][0]), 5, "dot %d at %s", i, buf);
				cr_assert_leq(labs(xy[i][1] - prev[i][1]), 5, "dot %d at %s", i, buf);
				cr_assert_eq(xy[i][2], prev[i][2], "hue is fixed");
				moved |= xy[i][0] != prev[i][0];
			}
		}
		memcpy(prev, xy, sizeof(xy));
	}
	cr_assert(moved);
}

Test(perf_demo, dots_bounce_and_cover_the_field)
{
	static struct pub_demo d;
	char buf[4096];
	long xy[8][3], seq, t;
	bool left = false, right = false, top = false, bottom = false;

	pub_demo_init(&d, 8);
	/* ten minutes at 10 Hz: every dot crosses the field many times */
	for (uint64_t k = 0; k < 6000; k++) {
		size_t n = pub_demo_frame(&d, k, k * 100, buf, sizeof(buf) - 1);

		buf[n] = '\0';
		cr_assert_eq(frame_dots(buf, &seq, &t, xy, 8), 8);
		for (int i = 0; i < 8; i++) {
			left |= xy[i][0] <= 5;
			right |= xy[i][0] >= 635;
			top |= xy[i][1] <= 5;
			bottom |= xy[i][1] >= 355;
		}
	}
	cr_assert(left && right && top && bottom, "dots reach every edge and stay inside");
}

static long clampl(long v, long hi)
{
	return v < 0 ? 0 : v > hi ? hi : v;
}

Test(perf_demo, input_steers_dot_0_and_only_it)
{
	static struct pub_demo d;
	char buf[4096];
	long a[8][3], b[8][3], seq, t;
	static const char *const moves[] = { "left", "ArrowUp", "right", "right", "down" };

	pub_demo_init(&d, 8);
	buf[pub_demo_frame(&d, 0, 1000, buf, sizeof(buf) - 1)] = '\0';
	cr_assert_eq(frame_dots(buf, &seq, &t, a, 8), 8);
	cr_assert_not(pub_demo_input(&d, (const uint8_t *)"jump", 4, 1000), "not an input");
	cr_assert_not(pub_demo_input(&d, (const uint8_t *)"Arrowleft", 9, 1000));
	cr_assert_not(d.steered);
	/* Taken over where it is, then moved by each input. */
	for (size_t i = 0; i < 5; i++)
		cr_assert(pub_demo_input(&d, (const uint8_t *)moves[i], strlen(moves[i]), 1000));
	cr_assert_eq(d.inputs, 5);
	/* Later: dot 0 is where the inputs put it (clamped to the field), the
	 * others went on moving by themselves. */
	buf[pub_demo_frame(&d, 1, 3000, buf, sizeof(buf) - 1)] = '\0';
	cr_assert_eq(frame_dots(buf, &seq, &t, b, 8), 8, "%s", buf);
	{
		long x = a[0][0], y = a[0][1];

		x = clampl(x - DEMO_STEP, DEMO_W);
		y = clampl(y - DEMO_STEP, DEMO_H);
		x = clampl(x + DEMO_STEP, DEMO_W);
		x = clampl(x + DEMO_STEP, DEMO_W);
		y = clampl(y + DEMO_STEP, DEMO_H);
		cr_assert(b[0][0] == x && b[0][1] == y, "dot 0 at %ld,%ld, want %ld,%ld", b[0][0],
			  b[0][1], x, y);
	}
	cr_assert_eq(b[0][2], a[0][2], "its hue");
	cr_assert(b[1][0] != a[1][0] || b[1][1] != a[1][1], "dot 1 moved by itself");
}

struct uplink_seen {
	uint32_t ids[16];
	char text[16][16];
	int n;
};

static void on_uplink(void *arg, uint32_t id, const uint8_t *data, size_t len)
{
	struct uplink_seen *s = arg;

	cr_assert_lt(s->n, 16);
	cr_assert_lt(len, 16);
	s->ids[s->n] = id;
	memcpy(s->text[s->n], data, len);
	s->text[s->n][len] = '\0';
	s->n++;
}

Test(perf_uplink, frames_split_anywhere_are_read_whole)
{
	/* [len][id][payload]: "left" from 7, "" from 8, "up" from 0x01020304 */
	static const uint8_t wire[] = {
		0, 0, 0, 8, 0, 0, 0, 7, 'l', 'e', 'f', 't',
		0, 0, 0, 4, 0, 0, 0, 8,
		0, 0, 0, 6, 1, 2, 3, 4, 'u', 'p',
	};

	for (size_t cut = 0; cut <= sizeof(wire); cut++) {
		static struct pub_uplink u;
		struct uplink_seen s = { .n = 0 };
		/* (an empty side still gets a one-byte guard copy, of a zero) */
		static const uint8_t zero[1];
		uint8_t *g1 = guard_copy(cut ? wire : zero, cut ? cut : 1);
		uint8_t *g2 = guard_copy(cut < sizeof(wire) ? wire + cut : zero,
					 cut < sizeof(wire) ? sizeof(wire) - cut : 1);

		memset(&u, 0, sizeof(u));
		cr_assert_eq(pub_uplink_feed(&u, g1, cut, on_uplink, &s), 0);
		cr_assert_eq(pub_uplink_feed(&u, g2, sizeof(wire) - cut, on_uplink, &s), 0);
		cr_assert_eq(s.n, 3, "cut at %zu: %d messages", cut, s.n);
		cr_assert(s.ids[0] == 7 && !strcmp(s.text[0], "left"));
		cr_assert(s.ids[1] == 8 && !strcmp(s.text[1], ""));
		cr_assert(s.ids[2] == 0x01020304 && !strcmp(s.text[2], "up"));
		cr_assert_eq(u.msgs, 3);
		guard_free(g1, cut ? cut : 1);
		guard_free(g2, sizeof(wire) - cut ? sizeof(wire) - cut : 1);
	}
}

Test(perf_uplink, a_bad_length_stops_the_stream)
{
	static struct pub_uplink u;
	static const uint8_t short_len[] = { 0, 0, 0, 3, 0, 0, 0 };
	static const uint8_t long_len[] = { 0, 1, 0, 0 };
	struct uplink_seen s = { .n = 0 };

	cr_assert_eq(pub_uplink_feed(&u, short_len, sizeof(short_len), on_uplink, &s), -EPROTO);
	memset(&u, 0, sizeof(u));
	cr_assert_eq(pub_uplink_feed(&u, long_len, sizeof(long_len), on_uplink, &s), -EPROTO);
	cr_assert_eq(u.bad, 1);
	cr_assert_eq(s.n, 0);
}

Test(perf_demo, small_buffer_is_refused)
{
	static struct pub_demo d;
	char buf[64];

	pub_demo_init(&d, 24);
	cr_assert_eq(pub_demo_frame(&d, 0, 0, buf, sizeof(buf)), 0);
}

/* Runs a ramp against a server model (passes(rate)) and records the rates
 * it chose; returns how many steps ran. */
static unsigned ramp_run(struct bench_ramp *r, bool (*passes)(double), double *rates,
			 unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		rates[n++] = r->rate;
		if (!bench_ramp_next(r, passes(r->rate)))
			break;
	}
	return n;
}

static void assert_rates(const double *got, unsigned n, const double *want, unsigned nwant)
{
	cr_assert_eq(n, nwant, "%u steps, want %u", n, nwant);
	for (unsigned i = 0; i < n; i++)
		cr_assert_float_eq(got[i], want[i], 0.5, "step %u: %.1f msg/s, want %.1f", i,
				   got[i], want[i]);
}

static bool below_300(double rate)
{
	return rate < 300;
}

/* A dip: fails between 150 and 400 (every send one message), passes again
 * up to 1,000. */
static bool dip(double rate)
{
	return rate < 150 || (rate >= 400 && rate < 1000);
}

static bool never(double rate)
{
	(void)rate;
	return false;
}

Test(perf_ramp, climbs_until_two_failures_then_bisects)
{
	static const double want[] = { 100, 200, 400, 800, 282.8, 336.4 };
	struct bench_ramp r;
	double rates[16];
	unsigned n;

	bench_ramp_init(&r, 100, 2, 2, 2);
	n = ramp_run(&r, below_300, rates, 16);
	assert_rates(rates, n, want, sizeof(want) / sizeof(want[0]));
	cr_assert_float_eq(r.best_rate, 282.8, 0.5);
}

Test(perf_ramp, a_pass_after_a_failure_climbs_on)
{
	/* 200 fails, 400 passes: the failure below the best pass is
	 * forgotten and the bisection is between 800 and 1,600. */
	static const double want[] = { 100, 200, 400, 800, 1600, 3200, 1131.4, 951.4 };
	struct bench_ramp r;
	double rates[16];
	unsigned n;

	bench_ramp_init(&r, 100, 2, 2, 2);
	n = ramp_run(&r, dip, rates, 16);
	assert_rates(rates, n, want, sizeof(want) / sizeof(want[0]));
	cr_assert_float_eq(r.best_rate, 951.4, 0.5);
}

Test(perf_ramp, patience_one_stops_at_the_first_failure)
{
	static const double want[] = { 100, 200, 141.4, 168.2 };
	struct bench_ramp r;
	double rates[16];
	unsigned n;

	bench_ramp_init(&r, 100, 2, 2, 1);
	n = ramp_run(&r, dip, rates, 16);
	assert_rates(rates, n, want, sizeof(want) / sizeof(want[0]));
	cr_assert_float_eq(r.best_rate, 141.4, 0.5);
	/* 0 means 1. */
	bench_ramp_init(&r, 100, 2, 2, 0);
	cr_assert_eq(ramp_run(&r, dip, rates, 16), 4);
}

Test(perf_ramp, nothing_passes_and_no_refinement)
{
	static const double fail2[] = { 100, 200 };
	static const double norefine[] = { 100, 200, 400, 800 };
	struct bench_ramp r;
	double rates[16];
	unsigned n;

	bench_ramp_init(&r, 100, 2, 2, 2);
	n = ramp_run(&r, never, rates, 16);
	assert_rates(rates, n, fail2, 2);
	cr_assert_eq(r.best_rate, 0);
	bench_ramp_init(&r, 100, 2, 0, 2);
	n = ramp_run(&r, below_300, rates, 16);
	assert_rates(rates, n, norefine, 4);
	cr_assert_float_eq(r.best_rate, 200, 0.5);
}
