/* The envelope of a message ringcast publishes to NATS: one NATS header,
 *
 *   Rc: 1 <origin> <epoch> <seq> <time>
 *
 * in the HPUB's header block, the payload left as ingested (a plain NATS
 * subscriber, or the `nats` CLI, reads the message itself). origin is the
 * publishing node's id and epoch the channel's history id there, both 16
 * lowercase hex digits; seq is the message's number in that history and
 * time its ingest time (Unix nanoseconds), both decimal. "1" is the
 * envelope's version: a reader skips a header of another version, so a
 * newer node's messages still get through (without order checks).
 *
 * One header rather than four: about 80 bytes a message instead of about
 * 120, which matters for the short messages of game state (see
 * docs/CLUSTER.md). Pure and allocation-free. */
#ifndef RC_ENVELOPE_H
#define RC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest header block rc_envelope_encode() writes. */
#define RC_ENVELOPE_MAX 96

struct rc_envelope {
	uint64_t origin;	/* never 0 */
	uint64_t epoch;
	uint64_t seq;		/* 0: unnumbered */
	uint64_t time_ns;	/* CLOCK_REALTIME at ingest */
};

/* Writes the whole header block ("NATS/1.0", the Rc header, the blank line)
 * into dst[0..cap). Returns its length, or -ENOSPC, or -EINVAL for an
 * origin of 0. */
ssize_t rc_envelope_encode(char *dst, size_t cap, const struct rc_envelope *e);

/* Reads the Rc header of the header block hdrs[0..len) (an HMSG's).
 * Returns 1 with *e set, 0 when the block has none or one of another
 * version (then *e is zeroed), or -EBADMSG for a malformed block or a
 * version-1 header that is not five fields of the forms above (an origin
 * of 0 included). Never reads past hdrs[len). */
int rc_envelope_decode(const char *hdrs, size_t len, struct rc_envelope *e);

#endif
