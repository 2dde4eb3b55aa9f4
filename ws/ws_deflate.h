/* permessage-deflate's codec (RFC 7692): one whole message at a time, with
 * no context kept from one message to the next: compressing with zlib
 * (deflateReset, then a sync flush whose 00 00 ff ff is cut: RFC 7692
 * 7.2.1's form, the one every client is written for), inflating with
 * libdeflate (2x faster on 10 KB, and it stops exactly at the limit).
 *
 * ringcast answers every accepted offer with server_no_context_takeover and
 * client_no_context_takeover (ws_deflate_offer.h), so every message, in
 * either direction, is a DEFLATE stream of its own. That is what lets one
 * compressed frame per message per channel serve every subscriber, and it is
 * what both libraries do well: whole buffers, no state between calls.
 * Figures: perf/RESULTS.md, "Which deflate library compresses one message
 * fastest" (libdeflate's final-block form was faster to make, but it is
 * the form clients see least often, so zlib's is sent).
 *
 * The names are rc_wsz_*: rc_ws_deflate_* belongs to the negotiation
 * (struct rc_ws_deflate), and this code takes none of its arguments.
 *
 * Neither object is safe to share between threads: one of each per loop,
 * created when the loop starts and reused for every message. Compressing
 * and inflating allocate nothing. Errors are negative errno values.
 *
 * Pure: no I/O, no logging; reads exactly the bytes it is given and writes
 * only inside the buffers it is given. */
#ifndef RC_WS_DEFLATE_H
#define RC_WS_DEFLATE_H

#include <stddef.h>
#include <sys/types.h>

/* zlib's levels: 1 fastest .. 9. Level 1 is the one used: on a 400-byte
 * game state level 6 saves 5 % more bytes for 1.25x the time, on a 10 KB
 * state 22 % more for 2x (perf/RESULTS.md, zlib with a reused stream). */
#define RC_WSZ_LEVEL_MIN 1
#define RC_WSZ_LEVEL_MAX 9
#define RC_WSZ_LEVEL_DEFAULT 1

/* Bytes rc_wsz_inflate() copies after a message in its scratch buffer
 * (the 00 00 ff ff tail RFC 7692 7.2.2 appends, and an empty final block). */
#define RC_WSZ_INFLATE_TAIL 9

struct rc_wsz_deflater;
struct rc_wsz_inflater;

/* Creates a compressor at level (RC_WSZ_LEVEL_MIN..MAX). Memory, all of it
 * allocated here: zlib's deflate state with a 32 KiB window and memLevel 8,
 * about 268 KiB (zlib.h's formula: 2^(15+2) + 2^(8+9) bytes, plus the
 * state). Returns it, or NULL with
 * *err (when err is not NULL) set to -EINVAL (level out of range) or
 * -ENOMEM. */
struct rc_wsz_deflater *rc_wsz_deflater_new(int level, int *err);

/* Frees d (NULL: nothing). */
void rc_wsz_deflater_free(struct rc_wsz_deflater *d);

/* Compresses the message in[0..len) on its own (no context from earlier
 * messages: server_no_context_takeover) into out[0..cap), in the form a
 * permessage-deflate frame carries (RFC 7692 7.2.1): the payload of a frame
 * with RSV1 set, which a receiver inflates after appending 00 00 ff ff.
 * out may be the part of a larger buffer after room left for the frame
 * header. in and out must not overlap.
 *
 * Returns the compressed length, which is at most cap and always less than
 * len, or -ENOSPC when the result would not be smaller than the message or
 * does not fit in cap: the caller then sends the message uncompressed
 * (RSV1 clear), as RFC 7692 6.1 allows per message. libdeflate 1.14 wants
 * a few bytes to spare beyond its result (up to 9 seen), so a result that
 * would fit only just, in cap or under len, is -ENOSPC too: give cap >= len
 * and only results that save less than about 10 bytes are refused. An
 * empty message is always -ENOSPC. out[0..cap) may have been written
 * either way. */
ssize_t rc_wsz_compress(struct rc_wsz_deflater *d, const void *in, size_t len, void *out,
			size_t cap);

/* Creates a decompressor for messages whose compressed payload is at most
 * max_in bytes (the caller's limit on a reassembled message). Memory: 11 KiB
 * (libdeflate 1.14's decompressor) plus a scratch buffer of max_in +
 * RC_WSZ_INFLATE_TAIL bytes, all allocated here. Returns it, or NULL with
 * *err (when err is not NULL) set to -EINVAL (max_in too large to add the
 * tail to) or -ENOMEM. */
struct rc_wsz_inflater *rc_wsz_inflater_new(size_t max_in, int *err);

/* Frees z (NULL: nothing). */
void rc_wsz_inflater_free(struct rc_wsz_inflater *z);

/* Inflates one client message: in[0..len) is the payload of a whole
 * message that arrived with RSV1 set (its frames reassembled, without the
 * 00 00 ff ff tail, which is appended here as RFC 7692 7.2.2 says), with no
 * context from earlier messages (client_no_context_takeover). Writes the
 * message into out[0..limit) and never past it, whatever the input says.
 *
 * Returns the message's length (0..limit), or
 *   -EMSGSIZE  the message is longer than limit, or len > max_in: the
 *              caller closes with 1009 (message too big). Decoding stops
 *              when out is full, so a deflate bomb costs at most limit
 *              bytes of output and the time to produce them;
 *   -EBADMSG   the payload is not valid DEFLATE data: the caller closes
 *              with 1007 (RFC 6455 7.4.1: data inconsistent with the
 *              message).
 * out[0..limit) may have been written either way. in and out must not
 * overlap.
 *
 * A payload that ends in a final block (BFINAL, RFC 7692 7.2.3.4) is
 * accepted, with or without blocks after it: each stream after a final
 * block is decoded as a new one, as zlib-based peers (Chromium) do, so it
 * may not refer back past the final block. An empty payload is the empty
 * message. */
ssize_t rc_wsz_inflate(struct rc_wsz_inflater *z, const void *in, size_t len, void *out,
		       size_t limit);

#endif
