/* Commands a WebSocket subscriber sends as text messages, to join or leave
 * channels on an open connection:
 *     {"sub":"<channel>"}      {"unsub":"<channel>"}
 *     {"sub":"<channel>","token":"<token>"}   (either order)
 *     {"sub":"<channel>","since":<number>,"epoch":"<16 hex digits>"}
 *     {"to":"<channel>"}       (where its binary messages go: uplink)
 * (members in any order, whitespace allowed between tokens; since and
 * epoch resume the channel after that position). Pure and
 * allocation-free. */
#ifndef RC_WS_COMMAND_H
#define RC_WS_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rc_wscmd_op {
	RC_WSCMD_SUB,
	RC_WSCMD_UNSUB,
	RC_WSCMD_TO,
};

/* Parses msg[0..len). Returns 0 with *op and the channel name slice (a
 * valid channel name, pointing into msg), or -EINVAL. A command with a
 * "token" member or a position is refused here: use rc_wscmd_decode(). */
int rc_wscmd_parse(const uint8_t *msg, size_t len, enum rc_wscmd_op *op, const char **name,
		   size_t *name_len);

/* A decoded command; slices point into the message. */
struct rc_wscmd {
	enum rc_wscmd_op op;
	const char *name;
	size_t name_len;
	const char *token;	/* NULL when the command has none */
	size_t token_len;
	bool resume;		/* "since" and "epoch" were given (sub only) */
	uint64_t since;
	const char *epoch;	/* the epoch as sent; NULL without resume */
	size_t epoch_len;
};

/* Parses msg[0..len): an object with exactly one of "sub"/"unsub"/"to" (a
 * valid channel name), at most one "token" (a string without escapes; not
 * with "to"), and for "sub" optionally both "since" (digits only, fitting
 * 64 bits) and "epoch" (a string without escapes, checked by the caller),
 * in any order, nothing else. Returns 0 or -EINVAL. */
int rc_wscmd_decode(const uint8_t *msg, size_t len, struct rc_wscmd *out);

#endif
