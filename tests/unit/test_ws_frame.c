/* RFC 6455 framing: encoder, close helpers and the incremental parser. All
 * parser input goes through guard-page copies, so reading past the given
 * length crashes the test. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "ws_frame.h"

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- frame builder ------------------------------------------------------ */

enum len_form { LEN_MIN, LEN_7, LEN_16, LEN_64 };

/* Writes a frame with first byte b0 (FIN/RSV/opcode), the given length form
 * (LEN_MIN: the minimal one) and, when masked, the key above. Returns its
 * size. `declared` is the length written in the header; only `len` payload
 * bytes follow, so a header can claim more than is sent. */
static size_t put_frame_raw(uint8_t *dst, unsigned b0, bool masked, enum len_form form,
			    uint64_t declared, const void *payload, size_t len)
{
	size_t n = 0, i;
	unsigned m = masked ? 0x80 : 0;

	if (form == LEN_MIN)
		form = declared < 126 ? LEN_7 : declared <= 0xffff ? LEN_16 : LEN_64;
	dst[n++] = (uint8_t)b0;
	if (form == LEN_7) {
		dst[n++] = (uint8_t)(m | declared);
	} else if (form == LEN_16) {
		dst[n++] = (uint8_t)(m | 126);
		dst[n++] = (uint8_t)(declared >> 8);
		dst[n++] = (uint8_t)declared;
	} else {
		dst[n++] = (uint8_t)(m | 127);
		for (i = 0; i < 8; i++)
			dst[n++] = (uint8_t)(declared >> (56 - 8 * i));
	}
	if (masked) {
		memcpy(dst + n, key, 4);
		n += 4;
	}
	for (i = 0; i < len; i++)
		dst[n + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (masked ? key[i % 4] : 0));
	return n + len;
}

static size_t put_frame(uint8_t *dst, unsigned b0, bool masked, const void *payload, size_t len)
{
	return put_frame_raw(dst, b0, masked, LEN_MIN, len, payload, len);
}

/* Client frame (masked) with a string payload. */
static size_t cframe(uint8_t *dst, unsigned b0, const char *s)
{
	return put_frame(dst, b0, true, s, strlen(s));
}

#define FIN 0x80

/* ---- event log ---------------------------------------------------------- */

/* Parses input and records events message-wise, so that runs that split the
 * input differently (and so see different DATA chunks) compare equal. */
struct run {
	char log[1 << 16];
	size_t log_len;
	uint8_t *msg;		/* data of the open message */
	size_t msg_len, msg_cap;
	unsigned msg_op;
	size_t data_events;
	bool stopped;		/* CLOSE or ERROR seen */
	struct rc_ws_event last;
};

static void logf_(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->log + r->log_len, sizeof(r->log) - r->log_len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(r->log) - r->log_len, "log overflow");
	r->log_len += (size_t)n;
}

/* Short payloads log as (escaped) text, long ones as length and FNV-1a hash. */
static void log_bytes(struct run *r, const uint8_t *d, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	if (len > 64) {
		for (i = 0; i < len; i++)
			h = (h ^ d[i]) * 16777619u;
		logf_(r, "%zu:%08x", len, h);
		return;
	}
	for (i = 0; i < len; i++) {
		if (d[i] >= 0x20 && d[i] < 0x7f)
			logf_(r, "%c", d[i]);
		else
			logf_(r, "\\x%02x", d[i]);
	}
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
}

/* The log entry "KIND[...] " that a message or control payload produces. */
static const char *entry(const char *kind, const void *d, size_t len)
{
	static struct run tmp;

	run_init(&tmp);
	logf_(&tmp, "%s[", kind);
	log_bytes(&tmp, d, len);
	logf_(&tmp, "] ");
	return tmp.log;
}

static void run_free(struct run *r)
{
	free(r->msg);
	r->msg = NULL;
}

static void record(struct run *r, const struct rc_ws_event *ev)
{
	r->last = *ev;
	switch (ev->type) {
	case RC_WS_EV_NONE:
		break;
	case RC_WS_EV_DATA:
		cr_assert(ev->opcode == RC_WS_OP_TEXT || ev->opcode == RC_WS_OP_BINARY);
		if (r->msg_len == 0 && r->msg_op == 0)
			r->msg_op = ev->opcode;
		cr_assert_eq(ev->opcode, r->msg_op, "opcode changed inside a message");
		if (r->msg_len + ev->len > r->msg_cap) {
			r->msg_cap = (r->msg_len + ev->len) * 2;
			r->msg = realloc(r->msg, r->msg_cap);
			cr_assert_not_null(r->msg);
		}
		if (ev->len)
			memcpy(r->msg + r->msg_len, ev->data, ev->len);
		r->msg_len += ev->len;
		r->data_events++;
		if (ev->fin) {
			logf_(r, "%s[", r->msg_op == RC_WS_OP_TEXT ? "TEXT" : "BIN");
			log_bytes(r, r->msg, r->msg_len);
			logf_(r, "] ");
			r->msg_len = 0;
			r->msg_op = 0;
		}
		break;
	case RC_WS_EV_PING:
	case RC_WS_EV_PONG:
		logf_(r, "%s[", ev->type == RC_WS_EV_PING ? "PING" : "PONG");
		log_bytes(r, ev->data, ev->len);
		logf_(r, "] ");
		break;
	case RC_WS_EV_CLOSE:
		logf_(r, "CLOSE %u[", ev->close_code);
		log_bytes(r, ev->data, ev->len);
		logf_(r, "] ");
		r->stopped = true;
		break;
	case RC_WS_EV_ERROR:
		logf_(r, "ERROR %u ", ev->close_code);
		r->stopped = true;
		break;
	}
}

/* Feeds one chunk (from a guard copy) until it is consumed or parsing stops. */
static void feed(struct rc_ws_parser *p, struct run *r, const uint8_t *in, size_t len)
{
	uint8_t *g;
	size_t off = 0;

	if (r->stopped)
		return;
	g = guard_copy(in, len);
	while (off < len || len == 0) {
		struct rc_ws_event ev;
		size_t n = rc_ws_parse(p, g + off, len - off, &ev);

		cr_assert_leq(n, len - off);
		if (ev.type == RC_WS_EV_DATA && ev.len)
			cr_assert(ev.data >= g + off && ev.data + ev.len <= g + off + n,
				  "DATA must point into the consumed input");
		/* Every event but the final repeat consumes input. */
		cr_assert(n > 0 || ev.type == RC_WS_EV_NONE, "event without input");
		record(r, &ev);
		off += n;
		if (r->stopped || len == 0)
			break;
	}
	guard_free(g, len);
	if (r->stopped) {
		struct rc_ws_event again;
		uint8_t junk[3] = { 0x81, 0x00, 0x00 };

		/* The final event repeats and nothing more is consumed. */
		cr_assert_eq(rc_ws_parse(p, junk, sizeof(junk), &again), 0);
		cr_assert_eq(again.type, r->last.type);
		cr_assert_eq(again.close_code, r->last.close_code);
	}
}

/* Parses in[0..len) cut at the sorted positions cuts[0..ncuts). */
static void run_cuts(struct run *r, bool server_side, uint64_t max, const uint8_t *in,
		     size_t len, const size_t *cuts, size_t ncuts)
{
	struct rc_ws_parser p;
	size_t start = 0, i;

	rc_ws_parser_init(&p, server_side, max);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		feed(&p, r, in + start, end - start);
		start = end;
	}
}

/* Parses in[0..len) in chunks of `step` bytes. */
static void run_step(struct run *r, bool server_side, uint64_t max, const uint8_t *in,
		     size_t len, size_t step)
{
	struct rc_ws_parser p;
	size_t off;

	rc_ws_parser_init(&p, server_side, max);
	for (off = 0; off < len; off += step)
		feed(&p, r, in + off, len - off < step ? len - off : step);
}

/* Parses whole and byte by byte; both must give the log `want`. */
static void expect_log(bool server_side, uint64_t max, const uint8_t *in, size_t len,
		       const char *want)
{
	static struct run r;

	run_init(&r);
	run_step(&r, server_side, max, in, len, len ? len : 1);
	cr_assert_str_eq(r.log, want, "whole input");
	run_free(&r);
	run_init(&r);
	run_step(&r, server_side, max, in, len, 1);
	cr_assert_str_eq(r.log, want, "byte by byte");
	run_free(&r);
}

/* Expects the input to fail with close code `code` (whole and bytewise). */
static void expect_error(bool server_side, uint64_t max, const uint8_t *in, size_t len,
			 unsigned code)
{
	char want[32];

	snprintf(want, sizeof(want), "ERROR %u ", code);
	expect_log(server_side, max, in, len, want);
}

#define MAX 1000000

/* ---- encoder ------------------------------------------------------------ */

Test(ws_encode, header_size)
{
	cr_assert_eq(rc_ws_header_size(0), 2);
	cr_assert_eq(rc_ws_header_size(125), 2);
	cr_assert_eq(rc_ws_header_size(126), 4);
	cr_assert_eq(rc_ws_header_size(65535), 4);
	cr_assert_eq(rc_ws_header_size(65536), 10);
	cr_assert_eq(rc_ws_header_size(1ull << 32), 10);
	cr_assert_eq(rc_ws_header_size(UINT64_MAX >> 1), 10);
}

static void expect_header(unsigned op, bool fin, uint64_t len, const uint8_t *want, size_t want_len)
{
	uint8_t b[16];
	size_t n;

	memset(b, 0xee, sizeof(b));
	n = rc_ws_header_encode(b, op, fin, len);
	cr_assert_eq(n, want_len, "length %llu", (unsigned long long)len);
	cr_assert_eq(n, rc_ws_header_size(len));
	cr_assert(memcmp(b, want, n) == 0, "bytes for length %llu", (unsigned long long)len);
	cr_assert_eq(b[n], 0xee, "wrote past the header");
}

#define EXPECT_HDR(op, fin, len, ...) do { \
	static const uint8_t w_[] = { __VA_ARGS__ }; \
	expect_header(op, fin, len, w_, sizeof(w_)); \
} while (0)

Test(ws_encode, header_bytes)
{
	EXPECT_HDR(RC_WS_OP_TEXT, true, 0, 0x81, 0x00);
	EXPECT_HDR(RC_WS_OP_TEXT, true, 125, 0x81, 0x7d);
	EXPECT_HDR(RC_WS_OP_BINARY, true, 126, 0x82, 0x7e, 0x00, 0x7e);
	EXPECT_HDR(RC_WS_OP_BINARY, true, 65535, 0x82, 0x7e, 0xff, 0xff);
	EXPECT_HDR(RC_WS_OP_BINARY, true, 65536,
		   0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00);
	EXPECT_HDR(RC_WS_OP_BINARY, true, 1ull << 32,
		   0x82, 0x7f, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00);
	EXPECT_HDR(RC_WS_OP_BINARY, true, 0x0102030405060708ull,
		   0x82, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08);
	/* FIN clear, other opcodes. */
	EXPECT_HDR(RC_WS_OP_TEXT, false, 5, 0x01, 0x05);
	EXPECT_HDR(RC_WS_OP_CONT, false, 300, 0x00, 0x7e, 0x01, 0x2c);
	EXPECT_HDR(RC_WS_OP_PING, true, 0, 0x89, 0x00);
	EXPECT_HDR(RC_WS_OP_PONG, true, 3, 0x8a, 0x03);
}

Test(ws_encode, header_prepend)
{
	static uint8_t buf[10 + 70000];
	uint8_t *start;

	memset(buf, 0xee, sizeof(buf));
	start = rc_ws_header_prepend(buf + 10, RC_WS_OP_TEXT, 5);
	cr_assert(start == buf + 8);
	cr_assert_eq(start[0], 0x81);
	cr_assert_eq(start[1], 0x05);
	cr_assert_eq(buf[7], 0xee, "wrote before the header");
	cr_assert_eq(buf[10], 0xee, "wrote into the payload");

	memset(buf, 0xee, sizeof(buf));
	start = rc_ws_header_prepend(buf + 10, RC_WS_OP_BINARY, 300);
	cr_assert(start == buf + 6);
	cr_assert(memcmp(start, "\x82\x7e\x01\x2c", 4) == 0);
	cr_assert_eq(buf[5], 0xee);
	cr_assert_eq(buf[10], 0xee);

	/* Exactly RC_WS_SERVER_HEADER_MAX bytes of headroom for a 64-bit length. */
	memset(buf, 0xee, sizeof(buf));
	start = rc_ws_header_prepend(buf + RC_WS_SERVER_HEADER_MAX, RC_WS_OP_BINARY, 70000);
	cr_assert(start == buf);
	cr_assert(memcmp(start, "\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10) == 0);
	cr_assert_eq(buf[10], 0xee);
}

Test(ws_encode, encoded_frames_parse_back)
{
	static uint8_t buf[20 + 70000];
	static struct run r;
	size_t lens[] = { 0, 1, 125, 126, 65535, 65536, 70000 };
	size_t i, j;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *payload = buf + RC_WS_SERVER_HEADER_MAX;
		uint8_t *start;
		for (j = 0; j < lens[i]; j++)
			payload[j] = (uint8_t)(j * 7);
		start = rc_ws_header_prepend(payload, RC_WS_OP_BINARY, lens[i]);
		run_init(&r);
		/* Server frames are parsed with server_side = false: no mask. */
		run_step(&r, false, MAX, start, (size_t)(payload - start) + lens[i], 4096);
		run_free(&r);
		cr_assert_str_eq(r.log, entry("BIN", payload, lens[i]), "len %zu", lens[i]);
		/* One DATA event per chunk that holds payload (an empty frame: one). */
		cr_assert_eq(r.data_events, ((size_t)(payload - start) + lens[i] + 4095) / 4096,
			     "len %zu: %zu events", lens[i], r.data_events);
	}
}

Test(ws_encode, close_encode)
{
	uint8_t b[2 + RC_WS_CONTROL_MAX + 8];
	char reason[200];
	size_t n;

	memset(b, 0xee, sizeof(b));
	n = rc_ws_close_encode(b, 1000, NULL, 0);
	cr_assert_eq(n, 4);
	cr_assert(memcmp(b, "\x88\x02\x03\xe8", 4) == 0);
	cr_assert_eq(b[4], 0xee);

	n = rc_ws_close_encode(b, RC_WS_CLOSE_GOING_AWAY, "bye", 3);
	cr_assert_eq(n, 7);
	cr_assert(memcmp(b, "\x88\x05\x03\xe9" "bye", 7) == 0);

	/* Long reasons are cut to 123 bytes so the payload fits 125. */
	memset(reason, 'r', sizeof(reason));
	memset(b, 0xee, sizeof(b));
	n = rc_ws_close_encode(b, 4000, reason, sizeof(reason));
	cr_assert_eq(n, 2 + RC_WS_CONTROL_MAX);
	cr_assert_eq(b[1], RC_WS_CONTROL_MAX);
	cr_assert_eq(b[2], 4000 >> 8);
	cr_assert_eq(b[3], 4000 & 0xff);
	cr_assert_eq(b[n - 1], 'r');
	cr_assert_eq(b[n], 0xee, "wrote past 2 + 125 bytes");

	/* ...without cutting a UTF-8 character in half. */
	memset(reason, 'a', 122);
	memcpy(reason + 122, "\xc3\xa9", 2);	/* bytes 122-123: one character */
	n = rc_ws_close_encode(b, 1000, reason, 124);
	cr_assert_eq(n, 4 + 122);
	cr_assert_eq(b[1], 124);
	memset(reason, 'a', 121);
	memcpy(reason + 121, "\xf0\x9f\x98\x80", 4);	/* bytes 121-124 */
	n = rc_ws_close_encode(b, 1000, reason, 125);
	cr_assert_eq(n, 4 + 121);
	memset(reason, 'a', 119);
	memcpy(reason + 119, "\xf0\x9f\x98\x80", 4);	/* ends exactly at 123 */
	n = rc_ws_close_encode(b, 1000, reason, 130);
	cr_assert_eq(n, 4 + 123);
}

Test(ws_encode, close_encode_no_status_is_empty)
{
	uint8_t b[2 + RC_WS_CONTROL_MAX];

	/* 1005 must never be sent: it encodes as a close without payload. */
	cr_assert_eq(rc_ws_close_encode(b, RC_WS_CLOSE_NO_STATUS, "x", 1), 2);
	cr_assert(memcmp(b, "\x88\x00", 2) == 0);
}

Test(ws_encode, close_encode_parses_back)
{
	uint8_t b[2 + RC_WS_CONTROL_MAX];
	char reason[130];
	size_t n;

	memset(reason, 'a', sizeof(reason));
	memcpy(reason + 121, "\xe2\x82\xac", 3);	/* euro sign across the cut */
	n = rc_ws_close_encode(b, 1001, reason, sizeof(reason));
	cr_assert_eq(n, 4 + 121);
	expect_log(false, MAX, b, n, entry("CLOSE 1001", reason, 121));
}

Test(ws_encode, close_code_valid)
{
	static const uint16_t valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
					  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const uint16_t invalid[] = { 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100,
					    2000, 2999, 5000, 5001, 65535 };
	size_t i;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		cr_assert(rc_ws_close_code_valid(valid[i]), "%u", valid[i]);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		cr_assert(!rc_ws_close_code_valid(invalid[i]), "%u", invalid[i]);
}

/* ---- parser: RFC 6455 5.7 examples and basics ---------------------------- */

/* Parses one call from a guard copy that the test keeps. */
static uint8_t *gbuf;
static size_t glen;

static void grelease(void)
{
	if (gbuf)
		guard_free(gbuf, glen);
	gbuf = NULL;
}

static uint8_t *gcopy(const void *s, size_t len)
{
	grelease();
	gbuf = guard_copy(s, len);
	glen = len;
	return gbuf;
}

TestSuite(ws_parse, .fini = grelease);

static void expect_ev(const struct rc_ws_event *ev, enum rc_ws_event_type type,
		      const char *data, size_t len, bool fin)
{
	cr_assert_eq(ev->type, type, "event type %d, want %d", ev->type, type);
	cr_assert_eq(ev->len, len, "event length %zu, want %zu", ev->len, len);
	if (len)
		cr_assert(memcmp(ev->data, data, len) == 0, "payload \"%.*s\", want \"%.*s\"",
			  (int)len, (const char *)ev->data, (int)len, data);
	if (type == RC_WS_EV_DATA)
		cr_assert_eq(ev->fin, fin);
}

Test(ws_parse, rfc_masked_hello)
{
	static const uint8_t in[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				      0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g = gcopy(in, sizeof(in));

	rc_ws_parser_init(&p, true, MAX);
	cr_assert_eq(rc_ws_parse(&p, g, sizeof(in), &ev), sizeof(in));
	expect_ev(&ev, RC_WS_EV_DATA, "Hello", 5, true);
	cr_assert_eq(ev.opcode, RC_WS_OP_TEXT);
	/* Unmasked in place: data is the caller's buffer. */
	cr_assert(ev.data == g + 6);
	cr_assert_eq(rc_ws_parse(&p, g + sizeof(in), 0, &ev), 0);
	cr_assert_eq(ev.type, RC_WS_EV_NONE);
}

Test(ws_parse, rfc_unmasked_examples_client_side)
{
	/* Single-frame unmasked text, fragmented text, unmasked ping. */
	static const uint8_t in[] = {
		0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
		0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f,
		0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
	};
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g = gcopy(in, sizeof(in));
	size_t off = 0;

	rc_ws_parser_init(&p, false, MAX);
	off += rc_ws_parse(&p, g + off, sizeof(in) - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "Hello", 5, true);
	cr_assert_eq(off, 7);
	off += rc_ws_parse(&p, g + off, sizeof(in) - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "Hel", 3, false);
	cr_assert_eq(ev.opcode, RC_WS_OP_TEXT);
	off += rc_ws_parse(&p, g + off, sizeof(in) - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "lo", 2, true);
	cr_assert_eq(ev.opcode, RC_WS_OP_TEXT, "continuation reports the message opcode");
	off += rc_ws_parse(&p, g + off, sizeof(in) - off, &ev);
	expect_ev(&ev, RC_WS_EV_PING, "Hello", 5, false);
	cr_assert_eq(off, sizeof(in));
}

Test(ws_parse, rfc_masked_pong)
{
	static const uint8_t in[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				      0x7f, 0x9f, 0x4d, 0x51, 0x58 };

	expect_log(true, MAX, in, sizeof(in), "PONG[Hello] ");
}

Test(ws_parse, fragmented_text_with_ping_between)
{
	uint8_t in[128];
	size_t n = 0, off = 0;
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	n += cframe(in + n, RC_WS_OP_TEXT, "Hel");
	n += cframe(in + n, FIN | RC_WS_OP_PING, "p!");
	n += cframe(in + n, RC_WS_OP_CONT, "l");
	n += cframe(in + n, FIN | RC_WS_OP_PONG, "");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "o \xe2\x82\xac");
	g = gcopy(in, n);
	rc_ws_parser_init(&p, true, MAX);

	off += rc_ws_parse(&p, g + off, n - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "Hel", 3, false);
	off += rc_ws_parse(&p, g + off, n - off, &ev);
	expect_ev(&ev, RC_WS_EV_PING, "p!", 2, false);
	off += rc_ws_parse(&p, g + off, n - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "l", 1, false);
	cr_assert_eq(ev.opcode, RC_WS_OP_TEXT);
	off += rc_ws_parse(&p, g + off, n - off, &ev);
	expect_ev(&ev, RC_WS_EV_PONG, "", 0, false);
	off += rc_ws_parse(&p, g + off, n - off, &ev);
	expect_ev(&ev, RC_WS_EV_DATA, "o \xe2\x82\xac", 5, true);
	cr_assert_eq(off, n);
}

Test(ws_parse, server_side_false_unmasked)
{
	uint8_t in[64];
	size_t n = put_frame(in, FIN | RC_WS_OP_BINARY, false, "\x00\x01\x02", 3);

	expect_log(false, MAX, in, n, "BIN[\\x00\\x01\\x02] ");
}

Test(ws_parse, data_arrives_in_chunks)
{
	uint8_t in[64];
	size_t n = cframe(in, FIN | RC_WS_OP_TEXT, "abcdefgh");
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	/* Header (6 bytes) + 3 payload bytes, then the rest: two DATA events,
	 * each unmasked with the right key phase. */
	rc_ws_parser_init(&p, true, MAX);
	g = gcopy(in, 9);
	cr_assert_eq(rc_ws_parse(&p, g, 9, &ev), 9);
	expect_ev(&ev, RC_WS_EV_DATA, "abc", 3, false);
	g = gcopy(in + 9, n - 9);
	cr_assert_eq(rc_ws_parse(&p, g, n - 9, &ev), n - 9);
	expect_ev(&ev, RC_WS_EV_DATA, "defgh", 5, true);
}

Test(ws_parse, header_only_gives_none)
{
	uint8_t in[64];
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	cframe(in, FIN | RC_WS_OP_TEXT, "abc");
	rc_ws_parser_init(&p, true, MAX);
	g = gcopy(in, 6);
	cr_assert_eq(rc_ws_parse(&p, g, 6, &ev), 6);
	cr_assert_eq(ev.type, RC_WS_EV_NONE);
}

Test(ws_parse, one_event_per_call)
{
	uint8_t in[64];
	size_t n = 0;
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "a");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "b");
	g = gcopy(in, n);
	rc_ws_parser_init(&p, true, MAX);
	cr_assert_eq(rc_ws_parse(&p, g, n, &ev), n / 2, "stops after the first event");
	expect_ev(&ev, RC_WS_EV_DATA, "a", 1, true);
	cr_assert_eq(rc_ws_parse(&p, g + n / 2, n / 2, &ev), n / 2);
	expect_ev(&ev, RC_WS_EV_DATA, "b", 1, true);
}

Test(ws_parse, empty_messages)
{
	uint8_t in[128];
	size_t n = 0;

	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "");
	n += cframe(in + n, FIN | RC_WS_OP_BINARY, "");
	/* Fragmented: empty first frame (no event of its own), empty last. */
	n += cframe(in + n, RC_WS_OP_TEXT, "");
	n += cframe(in + n, RC_WS_OP_CONT, "x");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "");
	expect_log(true, MAX, in, n,
		   "TEXT[] BIN[] TEXT[x] ");
}

Test(ws_parse, empty_non_final_frame_gives_no_event)
{
	static struct run r;
	uint8_t in[64];
	size_t n = 0;

	n += cframe(in + n, RC_WS_OP_BINARY, "");
	n += cframe(in + n, RC_WS_OP_CONT, "");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "");
	run_init(&r);
	run_step(&r, true, MAX, in, n, n);
	cr_assert_str_eq(r.log, "BIN[] ");
	cr_assert_eq(r.data_events, 1, "only the final frame gives a DATA event");
	run_free(&r);
}

Test(ws_parse, empty_final_frame_is_an_event)
{
	uint8_t in[16];
	size_t n = cframe(in, FIN | RC_WS_OP_BINARY, "");
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g = gcopy(in, n);

	rc_ws_parser_init(&p, true, MAX);
	cr_assert_eq(rc_ws_parse(&p, g, n, &ev), n);
	expect_ev(&ev, RC_WS_EV_DATA, "", 0, true);
	cr_assert_eq(ev.opcode, RC_WS_OP_BINARY);
}

Test(ws_parse, close_with_code_and_reason)
{
	uint8_t in[64];
	size_t n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x03\xe8" "done");
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	/* Trailing bytes after the close are not consumed. */
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "after");
	g = gcopy(in, n);
	rc_ws_parser_init(&p, true, MAX);
	cr_assert_eq(rc_ws_parse(&p, g, n, &ev), 12);
	cr_assert_eq(ev.type, RC_WS_EV_CLOSE);
	cr_assert_eq(ev.close_code, 1000);
	expect_ev(&ev, RC_WS_EV_CLOSE, "done", 4, false);
	cr_assert_eq(rc_ws_parse(&p, g + 12, n - 12, &ev), 0);
	cr_assert_eq(ev.type, RC_WS_EV_CLOSE);
	cr_assert_eq(ev.close_code, 1000);
	expect_ev(&ev, RC_WS_EV_CLOSE, "done", 4, false);
}

Test(ws_parse, close_without_code)
{
	uint8_t in[16];
	size_t n = cframe(in, FIN | RC_WS_OP_CLOSE, "");

	expect_log(true, MAX, in, n, "CLOSE 1005[] ");
}

Test(ws_parse, close_code_only)
{
	uint8_t in[16];
	size_t n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x0f\xa0");	/* 4000 */

	expect_log(true, MAX, in, n, "CLOSE 4000[] ");
}

Test(ws_parse, close_codes)
{
	static const uint16_t ok[] = { 1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999 };
	static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
	uint8_t in[16], pl[2];
	char want[64];
	size_t i, n;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		pl[0] = (uint8_t)(ok[i] >> 8);
		pl[1] = (uint8_t)ok[i];
		n = put_frame(in, FIN | RC_WS_OP_CLOSE, true, pl, 2);
		snprintf(want, sizeof(want), "CLOSE %u[] ", ok[i]);
		expect_log(true, MAX, in, n, want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl[0] = (uint8_t)(bad[i] >> 8);
		pl[1] = (uint8_t)bad[i];
		n = put_frame(in, FIN | RC_WS_OP_CLOSE, true, pl, 2);
		expect_error(true, MAX, in, n, 1002);
	}
}

/* ---- parser: split points ------------------------------------------------ */

static size_t multi_frame_input(uint8_t *in)
{
	static uint8_t big[300];
	size_t n = 0, i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	n += cframe(in + n, RC_WS_OP_TEXT, "fragmented \xe2\x82");	/* euro sign split */
	n += cframe(in + n, FIN | RC_WS_OP_PING, "are you there");
	n += cframe(in + n, RC_WS_OP_CONT, "\xac and ");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "done \xf0\x9f\x98\x80");
	n += put_frame(in + n, FIN | RC_WS_OP_BINARY, true, big, sizeof(big));	/* 16-bit length */
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "");
	n += cframe(in + n, FIN | RC_WS_OP_PONG, "");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "odd-length x");
	n += cframe(in + n, FIN | RC_WS_OP_CLOSE, "\x03\xe9going");
	return n;
}

Test(ws_parse, every_split_point_same_result)
{
	static uint8_t in[1024];
	static struct run whole, split;
	size_t n = multi_frame_input(in), cut;

	run_init(&whole);
	run_step(&whole, true, MAX, in, n, n);
	cr_assert(strstr(whole.log, "PING[are you there] TEXT[fragmented \\xe2\\x82\\xac and "
			  "done \\xf0\\x9f\\x98\\x80] BIN[300:") == whole.log, "%s", whole.log);
	cr_assert(strstr(whole.log, "] TEXT[] PONG[] TEXT[odd-length x] CLOSE 1001[going] ") != NULL,
		  "%s", whole.log);
	cr_assert_eq(whole.data_events, 6);
	run_free(&whole);

	for (cut = 0; cut <= n; cut++) {
		run_init(&split);
		run_cuts(&split, true, MAX, in, n, &cut, 1);
		cr_assert_str_eq(split.log, whole.log, "cut at %zu", cut);
		run_free(&split);
	}
	for (cut = 1; cut <= 7; cut++) {
		run_init(&split);
		run_step(&split, true, MAX, in, n, cut);
		cr_assert_str_eq(split.log, whole.log, "chunks of %zu", cut);
		run_free(&split);
	}
}

Test(ws_parse, every_pair_of_split_points)
{
	static uint8_t in[256];
	static struct run whole, split;
	size_t n = 0, cuts[2];

	n += cframe(in + n, RC_WS_OP_BINARY, "ab");
	n += cframe(in + n, FIN | RC_WS_OP_PING, "pi");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "cdefg");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "\xc3\xa9t\xc3\xa9");
	run_init(&whole);
	run_step(&whole, true, MAX, in, n, n);
	run_free(&whole);
	for (cuts[0] = 0; cuts[0] <= n; cuts[0]++) {
		for (cuts[1] = cuts[0]; cuts[1] <= n; cuts[1]++) {
			run_init(&split);
			run_cuts(&split, true, MAX, in, n, cuts, 2);
			cr_assert_str_eq(split.log, whole.log, "cuts %zu %zu", cuts[0], cuts[1]);
			run_free(&split);
		}
	}
}

Test(ws_parse, large_64bit_frame_in_chunks)
{
	static uint8_t in[70000 + 14], payload[70000];
	static struct run r;
	size_t n, i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	n = put_frame(in, FIN | RC_WS_OP_BINARY, true, payload, sizeof(payload));
	cr_assert_eq(n, 14 + sizeof(payload));
	/* Odd chunk sizes move the mask phase around. */
	run_init(&r);
	run_step(&r, true, MAX, in, n, 1021);
	cr_assert_str_eq(r.log, entry("BIN", payload, sizeof(payload)));
	run_free(&r);
	/* 70000 is exactly max_message: allowed; one less is not. */
	run_init(&r);
	run_step(&r, true, sizeof(payload), in, n, 4093);
	cr_assert_str_eq(r.log, entry("BIN", payload, sizeof(payload)));
	run_free(&r);
	run_init(&r);
	run_step(&r, true, sizeof(payload) - 1, in, n, 4093);
	cr_assert_str_eq(r.log, "ERROR 1009 ");
	run_free(&r);
}

/* ---- parser: errors ------------------------------------------------------ */

Test(ws_parse, reserved_bits)
{
	uint8_t in[16];
	unsigned rsv;

	for (rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
		size_t n = cframe(in, FIN | rsv | RC_WS_OP_TEXT, "x");

		expect_error(true, MAX, in, n, 1002);
		n = cframe(in, FIN | rsv | RC_WS_OP_PING, "");
		expect_error(true, MAX, in, n, 1002);
	}
}

Test(ws_parse, reserved_opcodes)
{
	static const unsigned ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };
	uint8_t in[16];
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = cframe(in, FIN | ops[i], "x");
		expect_error(true, MAX, in, n, 1002);
		n = cframe(in, ops[i], "x");
		expect_error(true, MAX, in, n, 1002);
	}
}

Test(ws_parse, error_reported_at_first_byte)
{
	static const uint8_t in[] = { 0x83 };	/* reserved opcode, nothing else */
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g = gcopy(in, 1);

	rc_ws_parser_init(&p, true, MAX);
	cr_assert_eq(rc_ws_parse(&p, g, 1, &ev), 1);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_eq(ev.close_code, 1002);
	cr_assert_eq(rc_ws_parse(&p, g, 1, &ev), 0);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_eq(ev.close_code, 1002);
}

Test(ws_parse, control_frame_rules)
{
	uint8_t in[300], pl[126];
	size_t n;

	memset(pl, 'p', sizeof(pl));
	/* Fragmented control frames. */
	n = cframe(in, RC_WS_OP_PING, "x");
	expect_error(true, MAX, in, n, 1002);
	n = cframe(in, RC_WS_OP_CLOSE, "");
	expect_error(true, MAX, in, n, 1002);
	/* 125 bytes is the most; 126 is too big, in any length form. */
	n = put_frame(in, FIN | RC_WS_OP_PING, true, pl, 125);
	expect_log(true, 10, in, n, entry("PING", pl, 125));
	n = put_frame(in, FIN | RC_WS_OP_PING, true, pl, 126);
	expect_error(true, MAX, in, n, 1002);
	n = put_frame_raw(in, FIN | RC_WS_OP_PONG, true, LEN_64, 100000, pl, 0);
	expect_error(true, MAX, in, n, 1002);
	/* A close payload of one byte cannot hold a code, even when that byte
	 * and what an earlier ping left in the parser would make a valid one. */
	n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x03");
	expect_error(true, MAX, in, n, 1002);
	n = cframe(in, FIN | RC_WS_OP_PING, "\x0f\xa0");
	n += cframe(in + n, FIN | RC_WS_OP_CLOSE, "\x0f");
	expect_log(true, MAX, in, n, "PING[\\x0f\\xa0] ERROR 1002 ");
}

Test(ws_parse, masking_rules)
{
	uint8_t in[16];
	size_t n;

	/* A client must mask... */
	n = put_frame(in, FIN | RC_WS_OP_TEXT, false, "hi", 2);
	expect_error(true, MAX, in, n, 1002);
	n = put_frame(in, FIN | RC_WS_OP_PING, false, "", 0);
	expect_error(true, MAX, in, n, 1002);
	/* ...and a server must not. */
	n = put_frame(in, FIN | RC_WS_OP_TEXT, true, "hi", 2);
	expect_error(false, MAX, in, n, 1002);
}

Test(ws_parse, continuation_rules)
{
	uint8_t in[64];
	size_t n;

	/* Continuation with no message open, also right after a complete one. */
	n = cframe(in, FIN | RC_WS_OP_CONT, "x");
	expect_error(true, MAX, in, n, 1002);
	n = cframe(in, FIN | RC_WS_OP_TEXT, "a");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "x");
	expect_log(true, MAX, in, n, "TEXT[a] ERROR 1002 ");
	/* New data frame while a fragmented message is open. */
	n = cframe(in, RC_WS_OP_TEXT, "a");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "b");
	expect_log(true, MAX, in, n, "ERROR 1002 ");
	n = cframe(in, RC_WS_OP_BINARY, "a");
	n += cframe(in + n, FIN | RC_WS_OP_PING, "");
	n += cframe(in + n, RC_WS_OP_BINARY, "b");
	expect_log(true, MAX, in, n, "PING[] ERROR 1002 ");
}

Test(ws_parse, non_minimal_lengths)
{
	uint8_t in[64];
	size_t n;

	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_16, 5, "hello", 5);
	expect_error(true, MAX, in, n, 1002);
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_16, 125, "", 0);
	expect_error(true, MAX, in, n, 1002);
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_64, 65535, "", 0);
	expect_error(true, MAX, in, n, 1002);
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_64, 0, "", 0);
	expect_error(true, MAX, in, n, 1002);
	/* Top bit of the 64-bit length set. */
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_64, 1ull << 63, "", 0);
	expect_error(true, UINT64_MAX, in, n, 1002);
	/* The smallest lengths of each form are fine. */
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_16, 126, "", 0);
	expect_log(true, MAX, in, n, "");
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_64, 65536, "", 0);
	expect_log(true, MAX, in, n, "");
}

Test(ws_parse, invalid_utf8_text)
{
	uint8_t in[64];
	size_t n;

	n = cframe(in, FIN | RC_WS_OP_TEXT, "ab\xc0\x80");
	expect_error(true, MAX, in, n, 1007);
	n = cframe(in, FIN | RC_WS_OP_TEXT, "\xed\xa0\x80");
	expect_error(true, MAX, in, n, 1007);
	/* Binary messages are not checked. */
	n = cframe(in, FIN | RC_WS_OP_BINARY, "\xc0\x80");
	expect_log(true, MAX, in, n, "BIN[\\xc0\\x80] ");
}

Test(ws_parse, invalid_utf8_detected_before_frame_ends)
{
	uint8_t in[64];
	size_t n = cframe(in, FIN | RC_WS_OP_TEXT, "ok\xff and a lot more text");
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g = gcopy(in, 9);	/* header + "ok\xff" */

	cr_assert_gt(n, 9);
	rc_ws_parser_init(&p, true, MAX);
	rc_ws_parse(&p, g, 9, &ev);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_eq(ev.close_code, 1007);
}

Test(ws_parse, utf8_across_fragments)
{
	uint8_t in[64];
	size_t n;

	/* A character split over two fragments, with a ping in between. */
	n = cframe(in, RC_WS_OP_TEXT, "\xe2");
	n += cframe(in + n, FIN | RC_WS_OP_PING, "");
	n += cframe(in + n, RC_WS_OP_CONT, "\x82");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "\xac");
	expect_log(true, MAX, in, n, "PING[] TEXT[\\xe2\\x82\\xac] ");
	/* Invalid once the next fragment arrives. */
	n = cframe(in, RC_WS_OP_TEXT, "\xe2");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "a");
	expect_error(true, MAX, in, n, 1007);
	/* Incomplete at the final fragment. */
	n = cframe(in, RC_WS_OP_TEXT, "ok");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "\xf0\x9f\x98");
	expect_error(true, MAX, in, n, 1007);
	/* Incomplete at the end of a single frame, and an empty final fragment
	 * after an incomplete one. */
	n = cframe(in, FIN | RC_WS_OP_TEXT, "\xc3");
	expect_error(true, MAX, in, n, 1007);
	n = cframe(in, RC_WS_OP_TEXT, "\xc3");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "");
	expect_error(true, MAX, in, n, 1007);
	/* A new text message starts with a fresh validator. */
	n = cframe(in, FIN | RC_WS_OP_BINARY, "\xe2");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "\x82");
	expect_log(true, MAX, in, n, "BIN[\\xe2] ERROR 1007 ");
}

Test(ws_parse, close_reason_utf8)
{
	uint8_t in[32];
	size_t n;

	n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x03\xe8\xc3\xa9");
	expect_log(true, MAX, in, n, "CLOSE 1000[\\xc3\\xa9] ");
	n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x03\xe8\xc3");
	expect_error(true, MAX, in, n, 1007);
	n = cframe(in, FIN | RC_WS_OP_CLOSE, "\x03\xe8" "ab\xff");
	expect_error(true, MAX, in, n, 1007);
}

Test(ws_parse, max_message)
{
	uint8_t in[128];
	size_t n;

	n = cframe(in, FIN | RC_WS_OP_TEXT, "0123456789");
	expect_log(true, 10, in, n, "TEXT[0123456789] ");
	n = cframe(in, FIN | RC_WS_OP_TEXT, "0123456789A");
	expect_error(true, 10, in, n, 1009);
	/* Summed over fragments. */
	n = cframe(in, RC_WS_OP_BINARY, "012345");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "6789");
	expect_log(true, 10, in, n, "BIN[0123456789] ");
	n = cframe(in, RC_WS_OP_BINARY, "012345");
	n += cframe(in + n, FIN | RC_WS_OP_PING, "control frames do not count");
	n += cframe(in + n, FIN | RC_WS_OP_CONT, "6789A");
	expect_log(true, 10, in, n,
		   "PING[control frames do not count] ERROR 1009 ");
	/* The count restarts with each message. */
	n = cframe(in, FIN | RC_WS_OP_TEXT, "0123456");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "0123456");
	expect_log(true, 10, in, n, "TEXT[0123456] TEXT[0123456] ");
}

Test(ws_parse, max_message_from_header)
{
	uint8_t in[32];
	size_t n, hdr;
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t *g;

	/* The declared length alone is enough: no mask, no payload needed. */
	n = put_frame_raw(in, FIN | RC_WS_OP_BINARY, true, LEN_7, 100, "", 0);
	g = gcopy(in, 2);
	rc_ws_parser_init(&p, true, 99);
	cr_assert_eq(rc_ws_parse(&p, g, 2, &ev), 2);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_eq(ev.close_code, 1009);

	n = put_frame_raw(in, RC_WS_OP_BINARY, true, LEN_64, 1ull << 40, "", 0);
	hdr = n - 4;	/* up to the end of the 64-bit length, before the key */
	g = gcopy(in, hdr);
	rc_ws_parser_init(&p, true, 1 << 20);
	cr_assert_eq(rc_ws_parse(&p, g, hdr, &ev), hdr);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_eq(ev.close_code, 1009);

	/* A continuation whose declared length pushes the total over. */
	n = cframe(in, RC_WS_OP_TEXT, "12345");
	n += put_frame_raw(in + n, RC_WS_OP_CONT, true, LEN_16, 60000, "", 0);
	expect_log(true, 60004, in, n, "ERROR 1009 ");
	expect_log(true, 60005, in, n, "");
}

Test(ws_parse, errors_stop_parsing)
{
	uint8_t in[64];
	size_t n;

	n = cframe(in, FIN | RC_WS_OP_TEXT, "\xff");
	n += cframe(in + n, FIN | RC_WS_OP_TEXT, "never seen");
	expect_log(true, MAX, in, n, "ERROR 1007 ");
}

/* ---- at rest ------------------------------------------------------------ */

Test(ws_rest, where_the_parser_is_at_rest)
{
	struct rc_ws_parser p;
	struct rc_ws_event ev;
	uint8_t buf[64];
	size_t n;

	rc_ws_parser_init(&p, true, MAX);
	cr_assert(rc_ws_parser_at_rest(&p), "fresh");
	/* One header byte of a ping: a frame has begun. */
	n = cframe(buf, FIN | RC_WS_OP_PING, "hi");
	cr_assert_eq(rc_ws_parse(&p, buf, 1, &ev), 1);
	cr_assert_not(rc_ws_parser_at_rest(&p), "inside a header");
	cr_assert_eq(rc_ws_parse(&p, buf + 1, n - 2, &ev), n - 2);
	cr_assert_not(rc_ws_parser_at_rest(&p), "inside a control payload");
	cr_assert_eq(rc_ws_parse(&p, buf + n - 1, 1, &ev), 1);
	cr_assert_eq(ev.type, RC_WS_EV_PING);
	cr_assert(rc_ws_parser_at_rest(&p), "after a whole control frame");
	/* The first fragment of a text message: between frames, not at rest. */
	n = cframe(buf, RC_WS_OP_TEXT, "ab");
	cr_assert_eq(rc_ws_parse(&p, buf, n, &ev), n);
	cr_assert_eq(ev.type, RC_WS_EV_DATA);
	cr_assert_not(rc_ws_parser_at_rest(&p), "a fragmented message is open");
	n = cframe(buf, FIN | RC_WS_OP_CONT, "c");
	cr_assert_eq(rc_ws_parse(&p, buf, n, &ev), n);
	cr_assert(ev.fin);
	cr_assert(rc_ws_parser_at_rest(&p), "after the last fragment");
	/* Stopped parsers are never at rest: they must keep refusing input. */
	n = cframe(buf, FIN | RC_WS_OP_CLOSE, "");
	rc_ws_parse(&p, buf, n, &ev);
	cr_assert_eq(ev.type, RC_WS_EV_CLOSE);
	cr_assert_not(rc_ws_parser_at_rest(&p), "after a close");
	rc_ws_parser_init(&p, true, MAX);
	buf[0] = 0x83;	/* reserved opcode */
	buf[1] = 0x80;
	rc_ws_parse(&p, buf, 2, &ev);
	cr_assert_eq(ev.type, RC_WS_EV_ERROR);
	cr_assert_not(rc_ws_parser_at_rest(&p), "after an error");
}

/* An owner that drops a parser at rest and starts a fresh one on the next
 * input (what the gateway does for idle subscribers) sees the same events,
 * whatever the cuts. */
Test(ws_rest, fresh_parser_at_rest_changes_nothing)
{
	static struct run whole, swapped;
	uint8_t in[512];
	size_t len = 0;

	len += cframe(in + len, FIN | RC_WS_OP_PING, "p1");
	len += cframe(in + len, RC_WS_OP_TEXT, "{\"sub\":");
	len += cframe(in + len, FIN | RC_WS_OP_PONG, "");
	len += cframe(in + len, FIN | RC_WS_OP_CONT, "\"x\"}");
	len += cframe(in + len, FIN | RC_WS_OP_BINARY, "0123456789");
	len += cframe(in + len, FIN | RC_WS_OP_CLOSE, "\x03\xe8" "bye");
	run_init(&whole);
	run_step(&whole, true, MAX, in, len, len);
	for (size_t step = 1; step <= 7; step++) {
		struct rc_ws_parser p;
		size_t swaps = 0;

		run_init(&swapped);
		rc_ws_parser_init(&p, true, MAX);
		for (size_t off = 0; off < len; off += step) {
			if (rc_ws_parser_at_rest(&p)) {
				rc_ws_parser_init(&p, true, MAX);
				swaps++;
			}
			feed(&p, &swapped, in + off, len - off < step ? len - off : step);
		}
		cr_assert_str_eq(swapped.log, whole.log, "step %zu", step);
		if (step == 1)
			cr_assert_eq(swaps, 4, "at rest at the start and before the text, binary and close frames");
		run_free(&swapped);
	}
	run_free(&whole);
}

/* Parses in[0..len) (from a guard copy) with permessage-deflate allowed,
 * into at most max events; returns how many. */
static size_t parse_deflate(const uint8_t *in, size_t len, struct rc_ws_event *evs, size_t max)
{
	struct rc_ws_parser p;
	uint8_t *g = guard_copy(in, len);
	size_t off = 0, n = 0;

	rc_ws_parser_init(&p, true, MAX);
	rc_ws_parser_allow_deflate(&p);
	while (off < len && n < max) {
		size_t used = rc_ws_parse(&p, g + off, len - off, &evs[n]);

		off += used;
		if (evs[n].type != RC_WS_EV_NONE)
			n++;
		if (used == 0 || (n && (evs[n - 1].type == RC_WS_EV_ERROR)))
			break;
	}
	guard_free(g, len);
	return n;
}

Test(ws_parse, rsv1_marks_a_compressed_message_once_deflate_is_agreed)
{
	uint8_t in[64];
	struct rc_ws_event ev[8];
	size_t n, k;

	/* Compressed bytes are not text: 0xff is fine in a compressed text
	 * message, and the event says compressed. */
	n = put_frame(in, FIN | 0x40 | RC_WS_OP_TEXT, true, "\xff\x00\x01", 3);
	k = parse_deflate(in, n, ev, 8);
	cr_assert(k == 1 && ev[0].type == RC_WS_EV_DATA && ev[0].compressed && ev[0].fin &&
		  ev[0].len == 3, "one compressed event");
	/* Fragmented: RSV1 on the first frame only; every piece is of the
	 * compressed message. Then a plain message: not compressed, checked. */
	n = put_frame(in, 0x40 | RC_WS_OP_BINARY, true, "ab", 2);
	n += put_frame(in + n, FIN | RC_WS_OP_CONT, true, "cd", 2);
	n += put_frame(in + n, FIN | RC_WS_OP_TEXT, true, "\xff", 1);
	k = parse_deflate(in, n, ev, 8);
	cr_assert_eq(k, 3);
	cr_assert(ev[0].compressed && ev[1].compressed && ev[1].fin);
	cr_assert(ev[2].type == RC_WS_EV_ERROR && ev[2].close_code == 1007,
		  "a plain text message is still checked");
	/* RSV1 on a continuation, on a control frame, and RSV2/RSV3: 1002. */
	n = put_frame(in, 0x40 | RC_WS_OP_TEXT, true, "a", 1);
	n += put_frame(in + n, FIN | 0x40 | RC_WS_OP_CONT, true, "b", 1);
	k = parse_deflate(in, n, ev, 8);
	cr_assert(k == 2 && ev[1].type == RC_WS_EV_ERROR && ev[1].close_code == 1002);
	n = put_frame(in, FIN | 0x40 | RC_WS_OP_PING, true, "", 0);
	k = parse_deflate(in, n, ev, 8);
	cr_assert(k == 1 && ev[0].type == RC_WS_EV_ERROR && ev[0].close_code == 1002);
	n = put_frame(in, FIN | 0x60 | RC_WS_OP_TEXT, true, "a", 1);
	k = parse_deflate(in, n, ev, 8);
	cr_assert(k == 1 && ev[0].type == RC_WS_EV_ERROR && ev[0].close_code == 1002);
	n = put_frame(in, FIN | 0x20 | RC_WS_OP_TEXT, true, "a", 1);
	k = parse_deflate(in, n, ev, 8);
	cr_assert(k == 1 && ev[0].type == RC_WS_EV_ERROR && ev[0].close_code == 1002);
}
