/* permessage-deflate's codec. See ws_deflate.h.
 *
 * Compressing. RFC 7692 7.2.1 says: compress the message; if the result
 * does not end with an empty stored block (BFINAL 0, BTYPE 00), append one;
 * then remove the 4 octets 00 00 ff ff from the end. zlib's Z_SYNC_FLUSH
 * ends with exactly that block, so its output less those four bytes is
 * the frame's payload. (libdeflate, measured faster, can only end a
 * stream with a final block, which RFC 7692 7.2.3.4 allows when a 0x00
 * follows it, and Chromium 156 took it; but it is the form clients see
 * least, and a message goes out once per worker, not per subscriber, so
 * the common form is worth its 3.5 us per 400-byte message.) The stream
 * is reset for every message: no context is kept
 * (server_no_context_takeover).
 *
 * Inflating. libdeflate decodes one whole stream from one buffer and needs
 * it to end with a final block. A client's message (a browser's zlib,
 * Z_SYNC_FLUSH) has none: its blocks end at a sync point whose 00 00 ff ff
 * was cut. So the payload is copied into a scratch buffer, followed by the
 * 00 00 ff ff (completing the empty stored block whose header bits end the
 * payload) and an empty final stored block (01 00 00 ff ff). A payload that
 * already ended its stream with a final block leaves bytes after it (none,
 * a 0x00 as in 7.2.3.4, or more blocks): these are decoded as further
 * streams until the payload is used up, as Chromium does after its
 * inflateReset(). A stream that ends inside the appended bytes has taken
 * some of them as its own data: the payload was cut short, and it is
 * refused. (One whose last stored block takes all of 00 00 ff ff as data
 * and then ends with the appended final block cannot be told apart: like a
 * zlib receiver, this returns those four bytes as part of the message.)
 * Every call gets the room left in the caller's buffer, so the total never
 * passes the limit; libdeflate says INSUFFICIENT_SPACE when a stream would
 * write more, and stops there. */
#include "ws_deflate.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <zlib.h>

/* 00 00 ff ff: LEN and NLEN of the empty stored block a sync flush ends
 * with (RFC 7692 7.2.2 appends them); then an empty stored block with
 * BFINAL set, byte aligned as everything after a stored block is, so that
 * libdeflate finds the end it needs. */
static const uint8_t inflate_tail[RC_WSZ_INFLATE_TAIL] = {
	0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff,
};

struct rc_wsz_deflater {
	z_stream z;		/* reset for every message: no context kept */
};

struct rc_wsz_inflater {
	struct libdeflate_decompressor *d;
	size_t max_in;
	uint8_t *scratch;	/* max_in + RC_WSZ_INFLATE_TAIL bytes */
};

static void set_err(int *err, int e)
{
	if (err)
		*err = e;
}

struct rc_wsz_deflater *rc_wsz_deflater_new(int level, int *err)
{
	struct rc_wsz_deflater *d;

	if (level < RC_WSZ_LEVEL_MIN || level > RC_WSZ_LEVEL_MAX) {
		set_err(err, -EINVAL);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		set_err(err, -ENOMEM);
		return NULL;
	}
	/* Raw DEFLATE (negative window bits), the full 32 KiB window. */
	if (deflateInit2(&d->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		free(d);
		set_err(err, -ENOMEM);
		return NULL;
	}
	return d;
}

void rc_wsz_deflater_free(struct rc_wsz_deflater *d)
{
	if (!d)
		return;
	deflateEnd(&d->z);
	free(d);
}

ssize_t rc_wsz_compress(struct rc_wsz_deflater *d, const void *in, size_t len, void *out,
			size_t cap)
{
	/* The result without its 00 00 ff ff must be shorter than the message
	 * (else sending it plain is better) and fit in cap; zlib writes the
	 * tail too, so it gets 4 bytes more room, and the tail's bytes past
	 * cap land in a local buffer. */
	uint8_t spill[8];
	size_t room, n;
	int r;

	if (len == 0 || len > UINT_MAX)
		return -ENOSPC;
	room = cap < len - 1 ? cap : len - 1;
	if (room < 1 || deflateReset(&d->z) != Z_OK)
		return -ENOSPC;
	d->z.next_in = (Bytef *)in;
	d->z.avail_in = (uInt)len;
	d->z.next_out = out;
	d->z.avail_out = (uInt)room;
	r = deflate(&d->z, Z_SYNC_FLUSH);
	if (r != Z_OK || d->z.avail_in != 0)
		return -ENOSPC;
	n = room - d->z.avail_out;
	if (d->z.avail_out == 0) {
		/* Out of room: what is left may be no more than the tail,
		 * which is cut anyway. */
		d->z.next_out = spill;
		d->z.avail_out = sizeof(spill);
		r = deflate(&d->z, Z_SYNC_FLUSH);
		if ((r != Z_OK && r != Z_BUF_ERROR) || d->z.avail_out == 0 ||
		    sizeof(spill) - d->z.avail_out > 4)
			return -ENOSPC;
		n += sizeof(spill) - d->z.avail_out;
	}
	/* A sync flush ends with an empty stored block, 00 00 ff ff: cut. */
	if (n < 5)
		return -ENOSPC;
	return (ssize_t)(n - 4);
}

struct rc_wsz_inflater *rc_wsz_inflater_new(size_t max_in, int *err)
{
	struct rc_wsz_inflater *z;

	/* The scratch size must not wrap, and the lengths returned fit
	 * ssize_t only below SSIZE_MAX. */
	if (max_in > (size_t)SSIZE_MAX - RC_WSZ_INFLATE_TAIL) {
		set_err(err, -EINVAL);
		return NULL;
	}
	z = malloc(sizeof(*z));
	if (!z) {
		set_err(err, -ENOMEM);
		return NULL;
	}
	z->max_in = max_in;
	z->scratch = malloc(max_in + RC_WSZ_INFLATE_TAIL);
	z->d = libdeflate_alloc_decompressor();
	if (!z->scratch || !z->d) {
		rc_wsz_inflater_free(z);
		set_err(err, -ENOMEM);
		return NULL;
	}
	return z;
}

void rc_wsz_inflater_free(struct rc_wsz_inflater *z)
{
	if (!z)
		return;
	libdeflate_free_decompressor(z->d);
	free(z->scratch);
	free(z);
}

ssize_t rc_wsz_inflate(struct rc_wsz_inflater *z, const void *in, size_t len, void *out,
		       size_t limit)
{
	size_t total = len + RC_WSZ_INFLATE_TAIL, pos = 0, done = 0;

	if (len > z->max_in)
		return -EMSGSIZE;
	if (len)
		memcpy(z->scratch, in, len);
	memcpy(z->scratch + len, inflate_tail, RC_WSZ_INFLATE_TAIL);
	/* One stream per turn; a successful one consumes at least its first
	 * block's header byte, so the loop ends. The tail is only ever read
	 * to finish a stream begun in the payload: once the payload is used
	 * up, what is left of it is not a message's data. */
	while (pos < len) {
		size_t used = 0, n = 0;
		/* out + done only when done > 0: out may be NULL for limit 0. */
		uint8_t *dst = done ? (uint8_t *)out + done : out;
		enum libdeflate_result r = libdeflate_deflate_decompress_ex(
			z->d, z->scratch + pos, total - pos, dst, limit - done, &used, &n);

		if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
			return -EMSGSIZE;
		if (r != LIBDEFLATE_SUCCESS)
			return -EBADMSG;
		/* A stream ends inside the payload (a final block of the
		 * client's) or with the final block appended here. Ending
		 * inside the tail means the payload's last block took tail
		 * bytes as its own: a truncated message. */
		if (used > len - pos && pos + used != total)
			return -EBADMSG;
		pos += used;
		done += n;
	}
	return (ssize_t)done;
}
