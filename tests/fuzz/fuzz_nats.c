/* libFuzzer harness for the NATS codec (ws/nats_proto.h).
 *
 * Byte 0 picks the mode and the limits, byte 1 seeds the chunking, the rest
 * is the input.
 *
 * Stream mode (bit 7 clear): the input is a byte stream of one side (bit 0)
 * parsed as a connection would: once with everything held, once arriving in
 * pseudo-random chunks with the unconsumed tail kept. Every call sees an
 * exact-size heap copy of what is held, so ASan flags any read past it. Both
 * runs must give the same items and end the same way; every item must lie
 * inside the buffer and obey the contract, no item may complete before the
 * `need` of an earlier -EAGAIN, and items the encoders can write (PUB, HPUB)
 * must come back the same when encoded and parsed again. INFO and CONNECT
 * text goes through the JSON reader, header blocks through the header reader.
 *
 * Raw mode (bit 7 set): the input is given straight to the JSON reader, the
 * INFO reader, the header reader and subject validation, each on an
 * exact-size copy. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "nats_proto.h"
#include "utf8.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static const size_t max_lines[8] = { RC_NATS_MAX_CONTROL_LINE, 0, 3, 8, 20, 64, 200, 65536 };
static const uint64_t max_payloads[8] = {
	RC_NATS_MAX_PAYLOAD, 0, 1, 12, 16, 100, 4096, UINT64_MAX,
};

/* Order-sensitive digest of what a run produced. */
struct digest {
	uint64_t h;
	int end;		/* the last result: -EAGAIN (incomplete or all used) or an error */
	size_t held;		/* bytes held at the end */
};

static void mix(struct digest *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		d->h = (d->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_slice(struct digest *d, const char *p, size_t n)
{
	uint8_t present = p != NULL;

	mix(d, &present, 1);
	mix(d, &n, sizeof(n));
	if (n)
		mix(d, p, n);
}

static void inside(const char *base, size_t size, const char *p, size_t n)
{
	if (!p) {
		check(n == 0);
		return;
	}
	check(p >= base && n <= size && (size_t)(p - base) <= size - n);
}

static char *copy(const void *src, size_t n)
{
	char *c = malloc(n ? n : 1);

	check(c != NULL);
	if (n)
		memcpy(c, src, n);
	return c;
}

/* Walks a JSON value's containers and strings; depth is bounded by the
 * reader's own limit. */
static void walk_json(const char *s, size_t n, unsigned depth)
{
	struct rc_nats_json_iter it;
	struct rc_nats_json_value k, v;
	char dec[256];

	check(depth <= RC_NATS_JSON_DEPTH);
	if (rc_nats_json_open(&it, s, n))
		return;
	while (rc_nats_json_next(&it, &k, &v) == 1) {
		inside(s, n, v.raw, v.raw_len);
		if (it.object) {
			check(k.type == RC_NATS_JSON_STRING);
			inside(s, n, k.raw, k.raw_len);
		}
		if (v.type == RC_NATS_JSON_OBJECT || v.type == RC_NATS_JSON_ARRAY) {
			walk_json(v.raw, v.raw_len, depth + 1);
		} else if (v.type == RC_NATS_JSON_STRING) {
			ssize_t dn = rc_nats_json_unescape(dec, sizeof(dec), v.raw, v.raw_len);

			check(dn >= 0 || dn == -ENOSPC || dn == -EBADMSG);
			check(!v.escaped ? dn == (ssize_t)v.raw_len || dn == -ENOSPC : 1);
			if (dn >= 0) {
				struct rc_utf8 u;

				/* Decoded text is UTF-8, and equals itself. */
				rc_utf8_init(&u);
				check(rc_utf8_feed(&u, (const uint8_t *)dec, (size_t)dn) &&
				      rc_utf8_complete(&u));
				if (!memchr(dec, 0, (size_t)dn) && (size_t)dn < sizeof(dec)) {
					dec[dn] = 0;
					check(rc_nats_json_equals(&v, dec));
				}
			}
		} else {
			check(v.type >= RC_NATS_JSON_NUMBER && v.type <= RC_NATS_JSON_NULL);
		}
	}
	check(rc_nats_json_next(&it, &k, &v) == 0);
}

static void check_json_text(const char *text, size_t n)
{
	char *c = copy(text, n);
	struct rc_nats_info info;

	walk_json(c, n, 1);
	if (rc_nats_info_parse(c, n, &info) == 0) {
		inside(c, n, info.server_id.raw, info.server_id.raw_len);
		inside(c, n, info.server_name.raw, info.server_name.raw_len);
		inside(c, n, info.version.raw, info.version.raw_len);
		inside(c, n, info.connect_urls.raw, info.connect_urls.raw_len);
		if (info.connect_urls.type == RC_NATS_JSON_ARRAY)
			walk_json(info.connect_urls.raw, info.connect_urls.raw_len, 1);
	}
	free(c);
}

/* ringcast's envelope in a header block: what decodes encodes back to a
 * block that decodes the same. */
static void check_envelope(const char *c, size_t n)
{
	struct rc_envelope e, again;
	char buf[RC_ENVELOPE_MAX];
	int rc = rc_envelope_decode(c, n, &e);
	ssize_t len;

	check(rc == 1 || rc == 0 || rc == -EBADMSG);
	if (rc != 1)
		return;
	check(e.origin != 0);
	len = rc_envelope_encode(buf, sizeof(buf), &e);
	check(len > 0);
	check(rc_envelope_decode(buf, (size_t)len, &again) == 1);
	check(memcmp(&e, &again, sizeof(e)) == 0);
}

/* Reads a header block; returns 0 when it reads to its end. */
static int check_headers(const char *p, size_t n)
{
	char *c = copy(p, n);
	struct rc_nats_hdr_reader r;
	struct rc_nats_status st;
	struct rc_nats_header h;
	int rc = rc_nats_hdr_open(&r, c, n, &st);

	if (rc == 0) {
		check(st.code <= 999);
		inside(c, n, st.text, st.text_len);
		while ((rc = rc_nats_hdr_next(&r, &h)) == 1) {
			inside(c, n, h.key, h.key_len);
			inside(c, n, h.value, h.value_len);
			check(h.key_len > 0 && !memchr(h.key, ':', h.key_len));
		}
		check(rc == 0 || rc == -EBADMSG);
	}
	check_envelope(c, n);
	free(c);
	return rc;
}

/* A subject from the parser as a C string, when it has no NUL. */
static const char *cstr(const char *p, size_t n, char *buf, size_t cap)
{
	if (!p || n >= cap || memchr(p, 0, n))
		return NULL;
	memcpy(buf, p, n);
	buf[n] = 0;
	return buf;
}

/* PUB and HPUB items the encoders can write come back the same. */
static void round_trip(const struct rc_nats_limits *lim, const struct rc_nats_event *ev)
{
	static char out[70000];
	char subj[512], reply[512];
	const char *s, *r = NULL;
	struct rc_nats_limits cl = *lim;
	struct rc_nats_event back;
	ssize_t n;
	char *c;

	if (ev->op != RC_NATS_OP_PUB && ev->op != RC_NATS_OP_HPUB)
		return;
	s = cstr(ev->subject, ev->subject_len, subj, sizeof(subj));
	if (ev->reply)
		r = cstr(ev->reply, ev->reply_len, reply, sizeof(reply));
	if (!s || (ev->reply && !r))
		return;
	if (ev->op == RC_NATS_OP_PUB)
		n = rc_nats_encode_pub(out, sizeof(out), s, r, ev->payload, ev->payload_len);
	else
		n = rc_nats_encode_hpub(out, sizeof(out), s, r, ev->headers, ev->headers_len,
					ev->payload, ev->payload_len);
	if (n < 0) {
		check(n == -EINVAL || n == -ENOSPC);
		return;
	}
	/* What was accepted parses back to the same fields. */
	cl.max_control_line = RC_NATS_MAX_CONTROL_LINE;
	c = copy(out, (size_t)n);
	check(rc_nats_parse(&cl, c, (size_t)n, &back) == 0);
	check(back.op == ev->op && back.size == (size_t)n);
	check(back.subject_len == ev->subject_len &&
	      memcmp(back.subject, ev->subject, ev->subject_len) == 0);
	check(back.reply_len == ev->reply_len &&
	      (!ev->reply || memcmp(back.reply, ev->reply, ev->reply_len) == 0));
	check(back.headers_len == ev->headers_len &&
	      (!ev->headers_len || memcmp(back.headers, ev->headers, ev->headers_len) == 0));
	check(back.payload_len == ev->payload_len &&
	      (!ev->payload_len || memcmp(back.payload, ev->payload, ev->payload_len) == 0));
	free(c);
}

static void on_event(const struct rc_nats_limits *lim, struct digest *d, const char *buf,
		     size_t len, const struct rc_nats_event *ev, bool deep)
{
	uint8_t op = (uint8_t)ev->op;

	check(ev->op > RC_NATS_OP_NONE && ev->op <= RC_NATS_OP_UNSUB);
	check(ev->size > 0 && ev->size <= len);
	inside(buf, ev->size, ev->subject, ev->subject_len);
	inside(buf, ev->size, ev->sid, ev->sid_len);
	inside(buf, ev->size, ev->reply, ev->reply_len);
	inside(buf, ev->size, ev->queue, ev->queue_len);
	inside(buf, ev->size, ev->headers, ev->headers_len);
	inside(buf, ev->size, ev->payload, ev->payload_len);
	inside(buf, ev->size, ev->text, ev->text_len);
	if (ev->payload) {
		check(ev->payload + ev->payload_len + 2 == buf + ev->size);
		check(ev->headers_len + ev->payload_len <= lim->max_payload);
	}
	if (ev->headers)
		check(ev->headers + ev->headers_len == ev->payload);
	mix(d, &op, 1);
	mix(d, &ev->size, sizeof(ev->size));
	mix_slice(d, ev->subject, ev->subject_len);
	mix_slice(d, ev->sid, ev->sid_len);
	mix_slice(d, ev->reply, ev->reply_len);
	mix_slice(d, ev->queue, ev->queue_len);
	mix_slice(d, ev->headers, ev->headers_len);
	mix_slice(d, ev->payload, ev->payload_len);
	mix_slice(d, ev->text, ev->text_len);
	mix(d, &ev->max_msgs, sizeof(ev->max_msgs));
	mix(d, &ev->has_max, sizeof(ev->has_max));
	if (!deep)
		return;
	if (ev->text && (ev->op == RC_NATS_OP_INFO || ev->op == RC_NATS_OP_CONNECT))
		check_json_text(ev->text, ev->text_len);
	if (ev->headers)
		check_headers(ev->headers, ev->headers_len);
	round_trip(lim, ev);
}

/* Parses what is held (an exact-size copy each call) until it runs out or
 * fails; returns the number of bytes consumed. *need carries the need of
 * the -EAGAIN that ended the previous call (relative to the first byte
 * still held), or 0. */
static size_t drain(const struct rc_nats_limits *lim, struct digest *d, const uint8_t *held,
		    size_t have, size_t *need, bool deep)
{
	size_t off = 0;

	for (;;) {
		size_t n = have - off;
		char *c = copy(held + off, n);
		struct rc_nats_event ev;
		int rc = rc_nats_parse(lim, c, n, &ev);

		if (rc == -EAGAIN) {
			check(ev.need > n);
			*need = ev.need;
			d->end = -EAGAIN;
			free(c);
			return off;
		}
		if (rc) {
			check(rc == -EPROTO || rc == -EMSGSIZE || rc == -EFBIG || rc == -EBADMSG);
			d->end = rc;
			free(c);
			return off;
		}
		/* An item is never shorter than what an earlier -EAGAIN asked
		 * the caller to wait for. */
		check(*need == 0 || ev.size >= *need);
		*need = 0;
		on_event(lim, d, c, n, &ev, deep);
		off += ev.size;
		d->end = 0;
		free(c);
	}
}

static void raw_mode(const uint8_t *data, size_t size)
{
	char *c = copy(data, size);

	check_json_text(c, size);
	check_headers(c, size);
	(void)rc_nats_subject_valid(c, size, false);
	(void)rc_nats_subject_valid(c, size, true);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_nats_limits lim;
	struct digest whole, split;
	uint8_t *held;
	size_t have = 0, off, need = 0, used;
	uint32_t seed;

	if (size < 2)
		return 0;
	if (data[0] & 0x80) {
		raw_mode(data + 2, size - 2);
		return 0;
	}
	lim.side = data[0] & 1 ? RC_NATS_FROM_CLIENT : RC_NATS_FROM_SERVER;
	lim.max_control_line = max_lines[(data[0] >> 1) & 7];
	lim.max_payload = max_payloads[(data[0] >> 4) & 7];
	seed = data[1];
	data += 2;
	size -= 2;

	memset(&whole, 0, sizeof(whole));
	used = drain(&lim, &whole, data, size, &need, true);
	whole.held = size - used;

	memset(&split, 0, sizeof(split));
	held = malloc(size ? size : 1);
	check(held != NULL);
	need = 0;
	for (off = 0; off < size;) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		/* Mostly tiny chunks (line ends, counts, verbs), some large. */
		n = (seed >> 16) & 0x80 ? 1 + (seed >> 16) % 300 : 1 + (seed >> 16) % 4;
		if (n > size - off)
			n = size - off;
		memcpy(held + have, data + off, n);
		have += n;
		off += n;
		used = drain(&lim, &split, held, have, &need, false);
		memmove(held, held + used, have - used);
		have -= used;
		if (split.end && split.end != -EAGAIN)
			break;
	}
	split.held = have;
	free(held);
	if (size == 0)
		return 0;
	check(whole.h == split.h);
	check(whole.end == split.end);
	if (whole.end == -EAGAIN || whole.end == 0)
		check(whole.held == split.held);
	return 0;
}
