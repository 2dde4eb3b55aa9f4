/* Incremental decoder of an HTTP/1.1 chunked request body (RFC 9112 7.1).
 * Pure and allocation-free. */
#ifndef RC_HTTP_CHUNKED_H
#define RC_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_CHUNKED_LINE_MAX 1024	/* chunk-size line (with extensions) or trailer line */
#define RC_CHUNKED_TRAILER_MAX 8192	/* all trailer lines together */

/* Treat the fields as private. */
struct rc_chunked {
	int state;
	uint64_t left;		/* data bytes of the current chunk still to come */
	uint32_t digits;	/* hex digits of the size seen */
	uint32_t line;		/* bytes of the current size/trailer line */
	uint32_t trailer;	/* bytes of trailer so far */
	bool done;		/* the last chunk and the trailer were read */
	bool failed;		/* malformed: the body cannot be trusted */
};

/* Starts a body. */
void rc_chunked_init(struct rc_chunked *c);

/* Consumes bytes from in[0..len) up to the end of at most one piece of
 * body data, which it returns in *data / *data_len (0 when the call
 * consumed only framing). Returns the bytes consumed; stops at the end of
 * the body (c->done) or at an error (c->failed): malformed sizes, a size
 * over 2^60, missing CRLF after data, or lines over the limits. Never reads
 * beyond in[len-1]. */
size_t rc_chunked_feed(struct rc_chunked *c, const uint8_t *in, size_t len, const uint8_t **data,
		       size_t *data_len);

#endif
