/* libFuzzer harness for rc_ws_parse().
 *
 * Input: byte 0 picks the side, max_message and (bit 4) whether
 * permessage-deflate is agreed (RSV1 allowed), byte 1 seeds the chunking,
 * the rest is the byte stream. The stream is parsed once whole and once in
 * pseudo-random chunks (each in its own exact-size heap block, so ASan flags
 * any read past a chunk); both runs must produce the same messages, control
 * frames and final event, and every event must obey the contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "ws_frame.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static const uint64_t max_messages[8] = {
	1u << 20, 0, 1, 10, 125, 126, 65536, UINT64_MAX,
};

/* Order-sensitive digest of everything a run produced, data chunks merged.
 * The open message has its own hash, folded in when the message ends: after
 * an error, how much of the failing message was delivered before it depends
 * on the chunking, so that part is dropped. */
struct digest {
	uint64_t h;
	uint64_t msg_h;		/* data of the open message */
	uint64_t msg_len;	/* bytes of the open message */
	unsigned msg_op;
	bool compressed;	/* the open message came with RSV1 */
	bool deflate;		/* the parser allows RSV1 */
	struct rc_utf8 text;	/* independent check of delivered text */
	uint64_t max;
	int final_type;
	unsigned final_code;
};

static void fnv(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void mix(struct digest *d, const void *p, size_t n)
{
	fnv(&d->h, p, n);
}

static void mix_u(struct digest *d, unsigned v)
{
	mix(d, &v, sizeof(v));
}

static void on_event(struct digest *d, const struct rc_ws_event *ev, const uint8_t *chunk,
		     size_t used)
{
	switch (ev->type) {
	case RC_WS_EV_NONE:
		return;
	case RC_WS_EV_DATA:
		check(ev->opcode == RC_WS_OP_TEXT || ev->opcode == RC_WS_OP_BINARY);
		check(ev->len <= used);
		check(ev->len == 0 || (ev->data >= chunk && ev->data + ev->len <= chunk + used));
		if (d->msg_op == 0) {
			d->msg_op = ev->opcode;
			d->compressed = ev->compressed;
			rc_utf8_init(&d->text);
		}
		check(ev->opcode == d->msg_op);
		/* Compressed only when agreed, the same for every piece. */
		check(!ev->compressed || d->deflate);
		check(ev->compressed == d->compressed);
		d->msg_len += ev->len;
		check(d->msg_len <= d->max);
		if (ev->opcode == RC_WS_OP_TEXT && !ev->compressed)
			check(rc_utf8_feed(&d->text, ev->data, ev->len));
		fnv(&d->msg_h, ev->data, ev->len);
		if (ev->fin) {
			if (ev->opcode == RC_WS_OP_TEXT && !ev->compressed)
				check(rc_utf8_complete(&d->text));
			mix_u(d, 0x1000 + ev->opcode);
			mix(d, &d->msg_h, sizeof(d->msg_h));
			mix(d, &d->msg_len, sizeof(d->msg_len));
			d->msg_h = 0;
			d->msg_len = 0;
			d->msg_op = 0;
		}
		return;
	case RC_WS_EV_PING:
	case RC_WS_EV_PONG:
	case RC_WS_EV_CLOSE:
		check(ev->len <= RC_WS_CONTROL_MAX);
		if (ev->type == RC_WS_EV_CLOSE)
			check(ev->close_code == RC_WS_CLOSE_NO_STATUS ||
			      rc_ws_close_code_valid(ev->close_code));
		mix_u(d, 0x2000 + ev->type);
		mix_u(d, ev->close_code);
		mix(d, &ev->len, sizeof(ev->len));
		mix(d, ev->data, ev->len);
		break;
	case RC_WS_EV_ERROR:
		check(ev->close_code == RC_WS_CLOSE_PROTOCOL || ev->close_code == RC_WS_CLOSE_BAD_DATA ||
		      ev->close_code == RC_WS_CLOSE_TOO_BIG);
		mix_u(d, 0x3000);
		mix_u(d, ev->close_code);
		d->msg_h = 0;
		d->msg_len = 0;
		break;
	}
	if (ev->type == RC_WS_EV_CLOSE || ev->type == RC_WS_EV_ERROR) {
		d->final_type = ev->type;
		d->final_code = ev->close_code;
	}
}

/* Parses one chunk until it is used up or the parser stops. Returns false
 * once stopped. */
static bool feed(struct rc_ws_parser *p, struct digest *d, const uint8_t *src, size_t len)
{
	uint8_t *chunk = malloc(len ? len : 1);
	size_t off = 0;

	check(chunk != NULL);
	memcpy(chunk, src, len);
	while (off < len && !d->final_type) {
		struct rc_ws_event ev;
		size_t n = rc_ws_parse(p, chunk + off, len - off, &ev);

		check(n <= len - off);
		check(n > 0 || ev.type == RC_WS_EV_NONE);
		on_event(d, &ev, chunk + off, n);
		off += n;
	}
	free(chunk);
	if (d->final_type) {
		struct rc_ws_event ev;
		uint8_t more[2] = { 0x81, 0x80 };

		check(rc_ws_parse(p, more, sizeof(more), &ev) == 0);
		check((int)ev.type == d->final_type && ev.close_code == d->final_code);
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_ws_parser p;
	struct digest whole, split;
	bool server_side;
	uint32_t seed;
	size_t off;

	if (size < 2)
		return 0;
	server_side = data[0] & 1;
	memset(&whole, 0, sizeof(whole));
	whole.max = max_messages[(data[0] >> 1) & 7];
	whole.deflate = data[0] & 0x10;
	split = whole;
	seed = data[1];
	data += 2;
	size -= 2;

	rc_ws_parser_init(&p, server_side, whole.max);
	if (whole.deflate)
		rc_ws_parser_allow_deflate(&p);
	feed(&p, &whole, data, size);

	rc_ws_parser_init(&p, server_side, split.max);
	if (split.deflate)
		rc_ws_parser_allow_deflate(&p);
	for (off = 0; off < size;) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		/* Mostly tiny chunks (header and mask-phase edges), some large. */
		n = (seed >> 16) & 0x80 ? 1 + (seed >> 16) % 300 : 1 + (seed >> 16) % 5;
		if (n > size - off)
			n = size - off;
		if (!feed(&p, &split, data + off, n))
			break;
		off += n;
	}
	check(whole.h == split.h);
	check(whole.final_type == split.final_type && whole.final_code == split.final_code);
	check(whole.msg_h == split.msg_h && whole.msg_len == split.msg_len);
	return 0;
}
