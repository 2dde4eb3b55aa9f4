/* RFC 6455 framing: the server-side encoder and an incremental frame parser.
 * Pure and allocation-free; no I/O. */
#ifndef RC_WS_FRAME_H
#define RC_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

enum rc_ws_opcode {
	RC_WS_OP_CONT = 0x0,
	RC_WS_OP_TEXT = 0x1,
	RC_WS_OP_BINARY = 0x2,
	RC_WS_OP_CLOSE = 0x8,
	RC_WS_OP_PING = 0x9,
	RC_WS_OP_PONG = 0xA,
};

/* Close codes used by ringcast (RFC 6455 section 7.4.1). */
enum rc_ws_close_code {
	RC_WS_CLOSE_NORMAL = 1000,
	RC_WS_CLOSE_GOING_AWAY = 1001,
	RC_WS_CLOSE_PROTOCOL = 1002,
	RC_WS_CLOSE_NO_STATUS = 1005,	/* never sent; reported when a close frame has no code */
	RC_WS_CLOSE_BAD_DATA = 1007,
	RC_WS_CLOSE_POLICY = 1008,
	RC_WS_CLOSE_TOO_BIG = 1009,
	RC_WS_CLOSE_INTERNAL = 1011,
	RC_WS_CLOSE_TRY_LATER = 1013,
};

/* Largest header a server writes: 2 + 8 byte extended length, no mask. */
#define RC_WS_SERVER_HEADER_MAX 10
/* Largest control-frame payload (RFC 6455 5.5). */
#define RC_WS_CONTROL_MAX 125

/* Size of the unmasked header for a payload of `payload_len` bytes: 2, 4 or 10. */
size_t rc_ws_header_size(uint64_t payload_len);

/* Writes an unmasked header (FIN set when `fin`) for `opcode` and
 * `payload_len` into dst, which must have rc_ws_header_size(payload_len)
 * bytes. Returns the number of bytes written. */
size_t rc_ws_header_encode(uint8_t *dst, unsigned opcode, bool fin, uint64_t payload_len);

/* Writes the header of a single-frame message so that it ends exactly at
 * `payload` (the zero-copy case: the caller reserved headroom in front of the
 * payload). Needs rc_ws_header_size(len) writable bytes before `payload`.
 * Returns the start of the frame; the frame is (payload - start) + len bytes. */
uint8_t *rc_ws_header_prepend(uint8_t *payload, unsigned opcode, uint64_t len);

/* Encodes a complete unmasked close frame with `code` and an optional reason
 * (truncated to fit 125 bytes of payload, never inside a UTF-8 character)
 * into dst, which needs 2 + RC_WS_CONTROL_MAX bytes. Returns the frame
 * length. RC_WS_CLOSE_NO_STATUS (1005) must not be sent: it gives a close
 * frame without payload, so a received close can be echoed by its code. */
size_t rc_ws_close_encode(uint8_t *dst, uint16_t code, const char *reason, size_t reason_len);

/* True for close codes a peer may send (RFC 6455 7.4: 1000-1003, 1007-1011,
 * 1012-1014, 3000-4999). */
bool rc_ws_close_code_valid(uint16_t code);

enum rc_ws_event_type {
	RC_WS_EV_NONE = 0,	/* all input consumed, nothing complete yet */
	RC_WS_EV_DATA,		/* a chunk of a text or binary message */
	RC_WS_EV_PING,
	RC_WS_EV_PONG,
	RC_WS_EV_CLOSE,		/* peer's close frame, code validated */
	RC_WS_EV_ERROR,		/* protocol error: send close `close_code`, stop reading */
};

struct rc_ws_event {
	enum rc_ws_event_type type;
	unsigned opcode;	/* DATA: RC_WS_OP_TEXT or RC_WS_OP_BINARY of the message */
	const uint8_t *data;	/* DATA: unmasked chunk; PING/PONG/CLOSE: payload (CLOSE: the reason) */
	size_t len;
	bool fin;		/* DATA: this chunk ends the message */
	bool compressed;	/* DATA: the message came with RSV1 (permessage-deflate):
				 * its bytes are DEFLATE data, not checked as UTF-8 */
	uint16_t close_code;	/* CLOSE: code received (1005 when absent); ERROR: code to send */
};

/* Incremental parser state; treat the fields as private. */
struct rc_ws_parser {
	bool server_side;	/* parsing client frames: mask required; else mask forbidden */
	uint64_t max_message;	/* largest data message, summed over fragments */
	int state;
	uint8_t hdr[14];
	uint8_t hdr_have;
	uint8_t hdr_need;
	uint8_t opcode;		/* of the current frame */
	bool fin;
	bool masked;
	uint8_t mask[4];
	uint64_t frame_left;	/* payload bytes of the current frame still to come */
	uint64_t frame_pos;	/* payload bytes of the current frame already seen (mask phase) */
	bool in_message;	/* a fragmented data message is open */
	uint8_t msg_opcode;
	bool allow_rsv1;	/* permessage-deflate agreed: RSV1 marks a compressed message */
	bool msg_compressed;	/* the open message has RSV1 */
	uint64_t msg_len;
	struct rc_utf8 utf8;	/* validator for the open text message */
	uint8_t ctrl[RC_WS_CONTROL_MAX];
	uint8_t ctrl_len;
	uint16_t error_code;
};

/* Prepares p. server_side: true when parsing frames a client sent (every frame
 * must be masked), false when parsing a server's frames (none may be).
 * max_message: data messages longer than this give ERROR 1009. */
void rc_ws_parser_init(struct rc_ws_parser *p, bool server_side, uint64_t max_message);

/* permessage-deflate (RFC 7692) was agreed: from now on RSV1 on the first
 * frame of a data message is allowed and marks it compressed (its DATA
 * events say so, and a text message's bytes are not checked as UTF-8: the
 * caller checks what they inflate to). RSV1 elsewhere, RSV2 and RSV3 stay
 * errors (1002). */
void rc_ws_parser_allow_deflate(struct rc_ws_parser *p);

/* True when p sits between messages: no frame begun, no fragmented message
 * open, no close or error reported. Such a parser behaves exactly like one
 * fresh from rc_ws_parser_init() with the same settings, so an owner of many
 * quiet connections may keep no parser for them and start a fresh one when
 * input arrives. */
bool rc_ws_parser_at_rest(const struct rc_ws_parser *p);

/* Consumes bytes from buf[0..len) until one event completes or the input runs
 * out, and returns how many bytes it consumed (possibly fewer than len: call
 * again with the rest). Masked payload is unmasked in place, which is why buf
 * is writable. ev->data points into buf (DATA) or into p (control frames) and
 * stays valid until the next call. Never reads beyond buf[len-1].
 * A data frame's payload may come as several DATA events; an empty final
 * frame still gives one (len 0, fin set), an empty non-final frame none.
 * Errors (all reported as RC_WS_EV_ERROR with the close code to send):
 *   1002: reserved bits or opcodes, unmasked client frame (masked server frame),
 *         fragmented or oversized (>125) control frame, continuation without a
 *         message, new data frame inside a fragmented message, non-minimal
 *         length encoding or a 64-bit length with the top bit set, close
 *         payload of 1 byte, invalid close code;
 *   1007: invalid UTF-8 in a text message or a close reason;
 *   1009: message longer than max_message.
 * After ERROR or CLOSE the parser consumes nothing more (returns 0 with
 * ev->type repeated). */
size_t rc_ws_parse(struct rc_ws_parser *p, uint8_t *buf, size_t len, struct rc_ws_event *ev);

#endif
