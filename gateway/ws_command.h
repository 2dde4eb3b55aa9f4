/* Commands a WebSocket subscriber sends as text messages, to join or leave
 * channels on an open connection:
 *     {"sub":"<channel>"}      {"unsub":"<channel>"}
 * (whitespace allowed between tokens). Pure and allocation-free. */
#ifndef RC_WS_COMMAND_H
#define RC_WS_COMMAND_H

#include <stddef.h>
#include <stdint.h>

enum rc_wscmd_op {
	RC_WSCMD_SUB,
	RC_WSCMD_UNSUB,
};

/* Parses msg[0..len). Returns 0 with *op and the channel name slice (a
 * valid channel name, pointing into msg), or -EINVAL. */
int rc_wscmd_parse(const uint8_t *msg, size_t len, enum rc_wscmd_op *op, const char **name,
		   size_t *name_len);

#endif
