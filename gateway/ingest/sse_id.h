/* Server-Sent Events ids of a channel's messages: "EPOCH:SEQ", the
 * channel's history id as 16 lowercase hex digits, a colon, and the
 * message's number in that history in decimal. A browser sends the last
 * one it saw back as Last-Event-ID when it reconnects. Pure and
 * allocation-free. */
#ifndef RC_SSE_ID_H
#define RC_SSE_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the longest "id: EPOCH:SEQ\n" line. */
#define RC_SSE_ID_LINE_MAX (sizeof("id: ") - 1 + 16 + 1 + 20 + 1)

/* Writes "id: EPOCH:SEQ\n" into dst (RC_SSE_ID_LINE_MAX + 1 bytes; a NUL
 * follows the line) and returns its length (without the NUL). */
size_t rc_sse_id_line(char *dst, uint64_t epoch, uint64_t seq);

/* Parses an epoch alone (value[0..len): exactly 16 hex digits, either
 * case) into *epoch. Returns true, or false (*epoch untouched). */
bool rc_sse_id_epoch(const char *value, size_t len, uint64_t *epoch);

/* Parses an id value[0..len) (e.g. a Last-Event-ID header): 16 hex digits
 * (either case), ':', a decimal number without sign or blanks that fits 64
 * bits. Sets *epoch and *seq and returns true, or returns false for
 * anything else. Reads nothing past value[len - 1]. */
bool rc_sse_id_parse(const char *value, size_t len, uint64_t *epoch, uint64_t *seq);

#endif
