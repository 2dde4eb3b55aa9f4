/* permessage-deflate on a worker: a message's compressed frame, made once
 * for every subscriber of its channel that agreed to compression, and the
 * inflating of what such subscribers send compressed. One compressor and
 * one decompressor per worker (ws/ws_deflate.h), made at first use. */
#ifndef RC_COMPRESS_H
#define RC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmsg.h"

struct rc_server;

/* Largest compressed client message the decompressor takes, and the most
 * it inflates one to: the largest uplink-max (commands are shorter). */
#define RC_COMPRESS_INFLATE_MAX 65000

/* The compressed frame of payload[0..len) with opcode: a WebSocket header
 * with RSV1 set and the DEFLATE data, in one shared message whose data
 * points at the header (one reference, the caller's). NULL when
 * compressing would not make it smaller, or without memory (counted). */
struct rc_shmsg *rc_compress_frame(struct rc_server *srv, const uint8_t *payload, uint32_t len,
				   unsigned opcode);

/* Inflates a client's compressed message in[0..len) into the worker's
 * scratch buffer, at most limit (<= RC_COMPRESS_INFLATE_MAX) bytes, and
 * points *out at it (valid until the next call). Returns the length, or
 * -EMSGSIZE (longer than limit, or the input itself too long: close
 * 1009), -EBADMSG (not DEFLATE data: close 1007), -ENOMEM. */
ssize_t rc_compress_inflate(struct rc_server *srv, const uint8_t *in, size_t len, size_t limit,
			    const uint8_t **out);

/* Frees the worker's compressor, decompressor and scratch buffer. */
void rc_compress_fini(struct rc_server *srv);

#endif
