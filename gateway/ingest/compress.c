#include "compress.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "mem.h"
#include "state.h"
#include "ws_deflate.h"
#include "ws_frame.h"

struct rc_shmsg *rc_compress_frame(struct rc_server *srv, const uint8_t *payload, uint32_t len,
				   unsigned opcode)
{
	struct rc_shmsg *z;
	uint8_t *frame;
	ssize_t clen;
	int err = 0;

	if (!srv->zdef) {
		srv->zdef = rc_wsz_deflater_new(RC_WSZ_LEVEL_DEFAULT, &err);
		if (!srv->zdef) {
			rc_log_warn("compression: no compressor (%d); sending uncompressed", err);
			srv->stats.compress_failed++;
			return NULL;
		}
	}
	/* Room for the payload itself: what is not smaller is not sent
	 * compressed, so the compressed form always fits. */
	z = rc_shmsg_new(len);
	if (!z) {
		srv->stats.compress_failed++;
		return NULL;
	}
	clen = rc_wsz_compress(srv->zdef, payload, len, z->data, len);
	if (clen < 0) {
		rc_shmsg_unref(z);
		srv->stats.compress_skipped++;
		return NULL;
	}
	/* The header goes into the head room in front: the message's data
	 * then points at the whole frame, which is what subscribers send. */
	frame = rc_ws_header_prepend(z->data, opcode, (uint64_t)clen);
	frame[0] |= 0x40;	/* RSV1: this message is compressed (RFC 7692 6) */
	z->len = (uint32_t)(z->data - frame) + (uint32_t)clen;
	z->data = frame;
	srv->stats.compressed++;
	srv->stats.compressed_in_bytes += len;
	srv->stats.compressed_out_bytes += (uint64_t)clen;
	return z;
}

ssize_t rc_compress_inflate(struct rc_server *srv, const uint8_t *in, size_t len, size_t limit,
			    const uint8_t **out)
{
	ssize_t n;
	int err = 0;

	if (!srv->zinf) {
		srv->zinf = rc_wsz_inflater_new(RC_COMPRESS_INFLATE_MAX, &err);
		if (!srv->zinf)
			return -ENOMEM;
	}
	if (!srv->zbuf) {
		srv->zbuf = malloc(RC_COMPRESS_INFLATE_MAX);
		if (!srv->zbuf)
			return -ENOMEM;
		rc_mem_charge(RC_COMPRESS_INFLATE_MAX);
	}
	if (limit > RC_COMPRESS_INFLATE_MAX)
		limit = RC_COMPRESS_INFLATE_MAX;
	n = rc_wsz_inflate(srv->zinf, in, len, srv->zbuf, limit);
	if (n >= 0) {
		srv->stats.inflated++;
		*out = srv->zbuf;
	}
	return n;
}

void rc_compress_fini(struct rc_server *srv)
{
	rc_wsz_deflater_free(srv->zdef);
	rc_wsz_inflater_free(srv->zinf);
	if (srv->zbuf)
		rc_mem_uncharge(RC_COMPRESS_INFLATE_MAX);
	free(srv->zbuf);
	srv->zdef = NULL;
	srv->zinf = NULL;
	srv->zbuf = NULL;
}
