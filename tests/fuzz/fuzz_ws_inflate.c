/* libFuzzer harness for permessage-deflate's bounded inflate
 * (ws/ws_deflate.h). The input is a client message's compressed payload,
 * read from an exact-size heap copy, inflated into an exact-size heap
 * buffer of the limit (ASan flags a byte read or written past either).
 * Checks:
 *   - the result is a length within the limit, -EMSGSIZE or -EBADMSG;
 *   - the limit is exact: with room for n bytes less one the same payload
 *     is -EMSGSIZE, with exactly n it is the same n bytes;
 *   - zlib, fed as a browser feeds it (payload, 00 00 ff ff, a restart
 *     after a final block), gives a prefix of the same bytes: it never
 *     disagrees with what rc_wsz_inflate() returned (it may stop sooner,
 *     since it is not given the final block rc_wsz_inflate() appends);
 *   - the input itself, as a message, compresses and inflates back whole
 *     (or is -ENOSPC). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ws_deflate.h"

#define MAX_IN (16 * 1024)
#define LIMIT (256 * 1024)

static struct rc_wsz_inflater *inf;
static struct rc_wsz_deflater *def;
static z_stream zs;

static void check(int cond)
{
	if (!cond)
		abort();
}

/* rc_wsz_inflate() into a fresh buffer of exactly limit bytes; *out gets
 * it (free it), the result is returned. */
static ssize_t inflate_into(const uint8_t *in, size_t len, size_t limit, uint8_t **out)
{
	*out = malloc(limit ? limit : 1);
	check(*out != NULL);
	return rc_wsz_inflate(inf, in, len, limit ? *out : NULL, limit);
}

/* What a zlib receiver makes of the payload, at most cap bytes into out;
 * stops at the first error. Returns the bytes it produced. */
static size_t zlib_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
	const uint8_t *pieces[2] = { in, tail };
	size_t sizes[2] = { len, sizeof(tail) };

	check(inflateReset(&zs) == Z_OK);
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (int i = 0; i < 2; i++) {
		zs.next_in = (Bytef *)pieces[i];
		zs.avail_in = (uInt)sizes[i];
		while (zs.avail_in && zs.avail_out) {
			int ret = inflate(&zs, Z_SYNC_FLUSH);

			if (ret == Z_STREAM_END)
				check(inflateReset(&zs) == Z_OK);
			else if (ret != Z_OK)
				return cap - zs.avail_out;
		}
	}
	return cap - zs.avail_out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy, *out, *again;
	ssize_t n, m;

	if (size > MAX_IN)
		return 0;
	if (!inf) {
		inf = rc_wsz_inflater_new(MAX_IN, NULL);
		def = rc_wsz_deflater_new(RC_WSZ_LEVEL_DEFAULT, NULL);
		check(inf && def);
		check(inflateInit2(&zs, -15) == Z_OK);
	}
	copy = malloc(size ? size : 1);
	check(copy != NULL);
	if (size)
		memcpy(copy, data, size);

	n = inflate_into(copy, size, LIMIT, &out);
	check(n == -EMSGSIZE || n == -EBADMSG || (n >= 0 && n <= LIMIT));
	if (n >= 0) {
		uint8_t *z = malloc(LIMIT);
		size_t zn;

		check(z != NULL);
		zn = zlib_inflate(copy, size, z, LIMIT);
		check(zn <= (size_t)n && memcmp(z, out, zn) == 0);
		free(z);
		if (n > 0) {
			m = inflate_into(copy, size, (size_t)n - 1, &again);
			check(m == -EMSGSIZE);
			free(again);
		}
		m = inflate_into(copy, size, (size_t)n, &again);
		check(m == n && memcmp(again, out, (size_t)n) == 0);
		free(again);
	}
	free(out);

	/* The other direction, on the same bytes as a message. */
	{
		uint8_t *z = malloc(size ? size : 1), *back;
		ssize_t zn = rc_wsz_compress(def, copy, size, size ? z : NULL, size);

		check(z != NULL);
		check(zn == -ENOSPC || (zn > 0 && (size_t)zn < size));
		if (zn > 0) {
			m = inflate_into(z, (size_t)zn, size, &back);
			check(m == (ssize_t)size && memcmp(back, copy, size) == 0);
			free(back);
		}
		free(z);
	}
	free(copy);
	return 0;
}
