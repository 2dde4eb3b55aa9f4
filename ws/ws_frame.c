/* RFC 6455 framing, see ws_frame.h.
 *
 * The parser takes input in arbitrary pieces. Header bytes are gathered in
 * p->hdr and checked one by one as they arrive, so that a bad frame is
 * reported before the peer has sent (or we have waited for) the rest of it.
 * Data payload is never buffered: each piece is unmasked in place and handed
 * out as a DATA event. Control payload (at most 125 bytes) is gathered in
 * p->ctrl because ping/pong/close are only meaningful whole. */
#include <string.h>

#include "ws_frame.h"

enum {
	ST_HEADER,	/* gathering hdr[0..hdr_need) */
	ST_DATA,	/* streaming the payload of a data frame */
	ST_CONTROL,	/* gathering the payload of a control frame into ctrl */
	ST_CLOSED,	/* a close frame was delivered: nothing more is read */
	ST_FAILED,	/* a protocol error was reported: nothing more is read */
};

#define WS_FIN 0x80
#define WS_RSV 0x70
#define WS_RSV1 0x40
#define WS_OPCODE 0x0f
#define WS_MASK 0x80
#define WS_LEN7 0x7f

static bool is_control(unsigned opcode)
{
	return opcode & 0x8;
}

/* Bytes of extended length that follow a 7-bit length field of len7. */
static unsigned ext_len_bytes(unsigned len7)
{
	return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

size_t rc_ws_header_size(uint64_t payload_len)
{
	if (payload_len < 126)
		return 2;
	if (payload_len <= 0xffff)
		return 4;
	return 10;
}

size_t rc_ws_header_encode(uint8_t *dst, unsigned opcode, bool fin, uint64_t payload_len)
{
	size_t n = rc_ws_header_size(payload_len);
	size_t i;

	dst[0] = (uint8_t)((fin ? WS_FIN : 0) | (opcode & WS_OPCODE));
	if (n == 2) {
		dst[1] = (uint8_t)payload_len;
		return n;
	}
	dst[1] = n == 4 ? 126 : 127;
	/* Extended length, network byte order, filling bytes 2..n-1. */
	for (i = n - 1; i >= 2; i--) {
		dst[i] = (uint8_t)payload_len;
		payload_len >>= 8;
	}
	return n;
}

uint8_t *rc_ws_header_prepend(uint8_t *payload, unsigned opcode, uint64_t len)
{
	uint8_t *start = payload - rc_ws_header_size(len);

	rc_ws_header_encode(start, opcode, true, len);
	return start;
}

/* Length of the longest prefix of s[0..len) that does not end inside a
 * UTF-8 sequence, so that truncating a reason keeps it valid UTF-8. */
static size_t utf8_cut(const uint8_t *s, size_t len, size_t max)
{
	size_t n = max;

	if (len <= max)
		return len;
	/* s[n] is the first byte dropped: back off while it is a continuation
	 * byte, i.e. while the cut would split a character. At most 3 steps for
	 * valid input; the bound keeps garbage from eating the whole reason. */
	while (n > 0 && max - n < 3 && (s[n] & 0xc0) == 0x80)
		n--;
	return (s[n] & 0xc0) == 0x80 ? max : n;
}

size_t rc_ws_close_encode(uint8_t *dst, uint16_t code, const char *reason, size_t reason_len)
{
	size_t n;

	/* 1005 means "no status code" and must never appear on the wire
	 * (RFC 6455 7.4.1): echoing such a close is an empty close frame. */
	if (code == RC_WS_CLOSE_NO_STATUS)
		return rc_ws_header_encode(dst, RC_WS_OP_CLOSE, true, 0);
	if (!reason)
		reason_len = 0;
	n = utf8_cut((const uint8_t *)reason, reason_len, RC_WS_CONTROL_MAX - 2);
	rc_ws_header_encode(dst, RC_WS_OP_CLOSE, true, 2 + n);
	dst[2] = (uint8_t)(code >> 8);
	dst[3] = (uint8_t)code;
	if (n)
		memcpy(dst + 4, reason, n);
	return 4 + n;
}

bool rc_ws_close_code_valid(uint16_t code)
{
	/* 1004 is reserved; 1005, 1006 and 1015 are for local reporting only. */
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void rc_ws_parser_init(struct rc_ws_parser *p, bool server_side, uint64_t max_message)
{
	memset(p, 0, sizeof(*p));
	p->server_side = server_side;
	p->max_message = max_message;
	p->state = ST_HEADER;
	p->hdr_need = 2;
	rc_utf8_init(&p->utf8);
}

void rc_ws_parser_allow_deflate(struct rc_ws_parser *p)
{
	p->allow_rsv1 = true;
}

bool rc_ws_parser_at_rest(const struct rc_ws_parser *p)
{
	/* Everything else is set again when the next frame or message starts. */
	return p->state == ST_HEADER && p->hdr_have == 0 && !p->in_message;
}

/* XORs n bytes at d with the masking key, starting at payload offset pos.
 * Works a word at a time with the key rotated to pos: 8 is a multiple of 4,
 * so the same 8-byte key pattern repeats over the whole run. */
static void unmask(uint8_t *d, size_t n, const uint8_t mask[4], uint64_t pos)
{
	uint8_t k[8];
	uint64_t kw, w;
	size_t i;

	for (i = 0; i < 8; i++)
		k[i] = mask[(pos + i) & 3];
	memcpy(&kw, k, sizeof(kw));
	for (i = 0; n - i >= 8; i += 8) {
		memcpy(&w, d + i, sizeof(w));
		w ^= kw;
		memcpy(d + i, &w, sizeof(w));
	}
	for (; i < n; i++)
		d[i] ^= k[i & 7];
}

static size_t fail(struct rc_ws_parser *p, struct rc_ws_event *ev, uint16_t code,
		   size_t consumed)
{
	p->state = ST_FAILED;
	p->error_code = code;
	memset(ev, 0, sizeof(*ev));
	ev->type = RC_WS_EV_ERROR;
	ev->close_code = code;
	return consumed;
}

/* Checks the first header byte: returns 0 or the close code to fail with. */
static uint16_t check_byte0(const struct rc_ws_parser *p, uint8_t b)
{
	unsigned op = b & WS_OPCODE;

	/* RSV1 is permessage-deflate's, on a message's first frame only; no
	 * extension uses RSV2 or RSV3. */
	if ((b & WS_RSV) && (!p->allow_rsv1 || (b & WS_RSV) != WS_RSV1 ||
			     (op != RC_WS_OP_TEXT && op != RC_WS_OP_BINARY)))
		return RC_WS_CLOSE_PROTOCOL;
	switch (op) {
	case RC_WS_OP_CONT:
		if (!p->in_message)
			return RC_WS_CLOSE_PROTOCOL;
		break;
	case RC_WS_OP_TEXT:
	case RC_WS_OP_BINARY:
		if (p->in_message)	/* fragments of two messages interleaved */
			return RC_WS_CLOSE_PROTOCOL;
		break;
	case RC_WS_OP_CLOSE:
	case RC_WS_OP_PING:
	case RC_WS_OP_PONG:
		if (!(b & WS_FIN))	/* control frames cannot be fragmented */
			return RC_WS_CLOSE_PROTOCOL;
		break;
	default:		/* 3-7, 0xB-0xF: reserved */
		return RC_WS_CLOSE_PROTOCOL;
	}
	return 0;
}

/* Checks a data frame's length against max_message, counting the fragments
 * of the open message already received. msg_len never exceeds max_message,
 * so the subtraction cannot wrap. */
static uint16_t check_size(const struct rc_ws_parser *p, uint64_t frame_len)
{
	uint64_t before = p->opcode == RC_WS_OP_CONT ? p->msg_len : 0;

	if (!is_control(p->opcode) && frame_len > p->max_message - before)
		return RC_WS_CLOSE_TOO_BIG;
	return 0;
}

/* Takes one header byte into hdr and checks whatever it completes.
 * Returns 0 or the close code to fail with. */
static uint16_t header_byte(struct rc_ws_parser *p, uint8_t b)
{
	unsigned ext;
	uint64_t n;
	uint16_t code;
	size_t i;

	p->hdr[p->hdr_have++] = b;
	if (p->hdr_have == 1) {
		p->fin = b & WS_FIN;
		p->opcode = b & WS_OPCODE;
		return check_byte0(p, b);
	}
	if (p->hdr_have == 2) {
		p->masked = b & WS_MASK;
		if (p->masked != p->server_side)
			return RC_WS_CLOSE_PROTOCOL;
		n = b & WS_LEN7;
		if (is_control(p->opcode) && n > RC_WS_CONTROL_MAX)
			return RC_WS_CLOSE_PROTOCOL;
		ext = ext_len_bytes((unsigned)n);
		p->hdr_need = (uint8_t)(2 + ext + (p->masked ? 4 : 0));
		if (!ext) {
			p->frame_left = n;
			return check_size(p, n);
		}
		return 0;
	}
	ext = ext_len_bytes(p->hdr[1] & WS_LEN7);
	if (ext && p->hdr_have == 2 + ext) {
		n = 0;
		for (i = 2; i < 2u + ext; i++)
			n = n << 8 | p->hdr[i];
		/* RFC 6455 5.2: the minimal number of bytes must be used, and the
		 * most significant bit of the 64-bit form must be 0. */
		if (ext == 2 && n < 126)
			return RC_WS_CLOSE_PROTOCOL;
		if (ext == 8 && (n >> 63 || n <= 0xffff))
			return RC_WS_CLOSE_PROTOCOL;
		code = check_size(p, n);
		if (code)
			return code;
		p->frame_left = n;
	}
	return 0;
}

/* Completes a gathered control frame into ev. */
static size_t finish_control(struct rc_ws_parser *p, struct rc_ws_event *ev, size_t consumed)
{
	struct rc_utf8 u;

	ev->opcode = p->opcode;
	ev->data = p->ctrl;
	ev->len = p->ctrl_len;
	p->state = ST_HEADER;
	switch (p->opcode) {
	case RC_WS_OP_PING:
		ev->type = RC_WS_EV_PING;
		return consumed;
	case RC_WS_OP_PONG:
		ev->type = RC_WS_EV_PONG;
		return consumed;
	}
	/* Close: an optional 2-byte code, then an optional UTF-8 reason. */
	if (p->ctrl_len == 1)
		return fail(p, ev, RC_WS_CLOSE_PROTOCOL, consumed);
	if (p->ctrl_len == 0) {
		ev->close_code = RC_WS_CLOSE_NO_STATUS;
	} else {
		ev->close_code = (uint16_t)(p->ctrl[0] << 8 | p->ctrl[1]);
		if (!rc_ws_close_code_valid(ev->close_code))
			return fail(p, ev, RC_WS_CLOSE_PROTOCOL, consumed);
		rc_utf8_init(&u);
		if (!rc_utf8_feed(&u, p->ctrl + 2, p->ctrl_len - 2u) || !rc_utf8_complete(&u))
			return fail(p, ev, RC_WS_CLOSE_BAD_DATA, consumed);
		ev->data = p->ctrl + 2;
		ev->len = p->ctrl_len - 2u;
	}
	ev->type = RC_WS_EV_CLOSE;
	p->state = ST_CLOSED;
	return consumed;
}

/* Ends the current data frame after its last payload byte was delivered. */
static void end_data_frame(struct rc_ws_parser *p)
{
	p->state = ST_HEADER;
	if (p->fin)
		p->in_message = false;
}

/* Emits the DATA event for chunk[0..n) of the current data frame, which is
 * already unmasked; a text message is validated first. */
static size_t emit_data(struct rc_ws_parser *p, struct rc_ws_event *ev,
			uint8_t *chunk, size_t n, size_t consumed)
{
	bool last = p->frame_left == 0 && p->fin;

	if (p->msg_opcode == RC_WS_OP_TEXT && !p->msg_compressed) {
		if (!rc_utf8_feed(&p->utf8, chunk, n))
			return fail(p, ev, RC_WS_CLOSE_BAD_DATA, consumed);
		/* A character cut off by the end of the message is invalid. */
		if (last && !rc_utf8_complete(&p->utf8))
			return fail(p, ev, RC_WS_CLOSE_BAD_DATA, consumed);
	}
	ev->type = RC_WS_EV_DATA;
	ev->opcode = p->msg_opcode;
	ev->data = chunk;
	ev->len = n;
	ev->fin = last;
	ev->compressed = p->msg_compressed;
	if (p->frame_left == 0)
		end_data_frame(p);
	return consumed;
}

/* The header is complete: set up for the payload. Returns true when an event
 * (or error) was produced without any payload byte, i.e. for empty frames. */
static bool begin_payload(struct rc_ws_parser *p, struct rc_ws_event *ev,
			  uint8_t *at, size_t consumed)
{
	if (p->masked)
		memcpy(p->mask, p->hdr + p->hdr_need - 4, 4);
	p->frame_pos = 0;
	p->hdr_have = 0;
	p->hdr_need = 2;
	if (is_control(p->opcode)) {
		p->ctrl_len = 0;
		p->state = ST_CONTROL;
		if (p->frame_left == 0) {
			finish_control(p, ev, consumed);
			return true;
		}
		return false;
	}
	if (p->opcode != RC_WS_OP_CONT) {
		p->in_message = true;
		p->msg_opcode = p->opcode;
		p->msg_compressed = (p->hdr[0] & WS_RSV1) != 0;
		p->msg_len = 0;
		rc_utf8_init(&p->utf8);
	}
	p->msg_len += p->frame_left;
	p->state = ST_DATA;
	if (p->frame_left > 0)
		return false;
	/* An empty final frame still ends a message, which the caller must see
	 * (an empty message is a message); an empty non-final frame says nothing. */
	if (p->fin) {
		emit_data(p, ev, at, 0, consumed);
		return true;
	}
	end_data_frame(p);
	return false;
}

/* Repeats the final event once the parser has stopped. */
static void repeat_final(const struct rc_ws_parser *p, struct rc_ws_event *ev)
{
	if (p->state == ST_FAILED) {
		ev->type = RC_WS_EV_ERROR;
		ev->close_code = p->error_code;
		return;
	}
	ev->type = RC_WS_EV_CLOSE;
	ev->opcode = RC_WS_OP_CLOSE;
	if (p->ctrl_len >= 2) {
		ev->close_code = (uint16_t)(p->ctrl[0] << 8 | p->ctrl[1]);
		ev->data = p->ctrl + 2;
		ev->len = p->ctrl_len - 2u;
	} else {
		ev->close_code = RC_WS_CLOSE_NO_STATUS;
		ev->data = p->ctrl;
	}
}

size_t rc_ws_parse(struct rc_ws_parser *p, uint8_t *buf, size_t len, struct rc_ws_event *ev)
{
	size_t off = 0;
	size_t n;
	uint16_t code;

	memset(ev, 0, sizeof(*ev));
	if (p->state == ST_FAILED || p->state == ST_CLOSED) {
		repeat_final(p, ev);
		return 0;
	}
	while (off < len) {
		switch (p->state) {
		case ST_HEADER:
			code = header_byte(p, buf[off++]);
			if (code)
				return fail(p, ev, code, off);
			if (p->hdr_have == p->hdr_need && begin_payload(p, ev, buf + off, off))
				return off;
			break;
		case ST_DATA:
			n = len - off;
			if (n > p->frame_left)
				n = (size_t)p->frame_left;
			if (p->masked)
				unmask(buf + off, n, p->mask, p->frame_pos);
			p->frame_left -= n;
			p->frame_pos += n;
			off += n;
			return emit_data(p, ev, buf + off - n, n, off);
		case ST_CONTROL:
			n = len - off;
			if (n > p->frame_left)
				n = (size_t)p->frame_left;
			memcpy(p->ctrl + p->ctrl_len, buf + off, n);
			if (p->masked)
				unmask(p->ctrl + p->ctrl_len, n, p->mask, p->frame_pos);
			p->ctrl_len += (uint8_t)n;
			p->frame_left -= n;
			p->frame_pos += n;
			off += n;
			if (p->frame_left == 0)
				return finish_control(p, ev, off);
			break;
		}
	}
	return off;
}
