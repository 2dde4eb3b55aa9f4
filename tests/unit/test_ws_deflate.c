/* permessage-deflate's codec (ws/ws_deflate.h): what it compresses inflates
 * back, both through itself and through zlib the way a browser inflates it;
 * RFC 7692's examples inflate to "Hello"; a deflate bomb stops at the limit
 * with -EMSGSIZE, corrupt data gives -EBADMSG; empty and incompressible
 * messages; no allocation per message. Inputs are read from guard-page
 * copies and outputs written into buffers that end at a guard page, so a
 * byte read or written past either end crashes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <libdeflate.h>
#include <zlib.h>

#include "guard.h"
#include "ws_deflate.h"

#define MAX_IN (256 * 1024)

static const uint8_t sync_tail[4] = { 0x00, 0x00, 0xff, 0xff };

/* A buffer of cap bytes that ends at a guard page. */
static uint8_t *guarded_out(size_t cap)
{
	uint8_t *zero = calloc(1, cap ? cap : 1), *g;

	cr_assert(zero);
	g = guard_copy(zero, cap);
	free(zero);
	return g;
}

static struct rc_wsz_deflater *deflater(int level)
{
	int err = 0;
	struct rc_wsz_deflater *d = rc_wsz_deflater_new(level, &err);

	cr_assert(d, "rc_wsz_deflater_new(%d): %d", level, err);
	return d;
}

static struct rc_wsz_inflater *inflater(size_t max_in)
{
	int err = 0;
	struct rc_wsz_inflater *z = rc_wsz_inflater_new(max_in, &err);

	cr_assert(z, "rc_wsz_inflater_new(%zu): %d", max_in, err);
	return z;
}

/* rc_wsz_compress() with the message read from a guard-page copy and the
 * result written into a guard-page buffer of cap bytes, copied to out. */
static ssize_t compress_guarded(struct rc_wsz_deflater *d, const void *msg, size_t len,
				uint8_t *out, size_t cap)
{
	void *in = guard_copy(msg, len);
	uint8_t *o = guarded_out(cap);
	ssize_t n = rc_wsz_compress(d, in, len, o, cap);

	if (n > 0)
		memcpy(out, o, (size_t)n);
	guard_free(in, len);
	guard_free(o, cap);
	return n;
}

/* rc_wsz_inflate() the same way, into a guard-page buffer of limit bytes. */
static ssize_t inflate_guarded(struct rc_wsz_inflater *z, const void *payload, size_t len,
			       uint8_t *out, size_t limit)
{
	void *in = guard_copy(payload, len);
	uint8_t *o = guarded_out(limit);
	ssize_t n = rc_wsz_inflate(z, in, len, o, limit);

	if (n > 0)
		memcpy(out, o, (size_t)n);
	guard_free(in, len);
	guard_free(o, limit);
	return n;
}

/* A browser's receiving side, as Chromium's zlib-based inflater does it:
 * one raw inflater for the connection, the payload and then 00 00 ff ff
 * fed in, and after a final block (Z_STREAM_END) inflateReset() and on with
 * whatever input is left. Returns the message's length; asserts that every
 * byte was taken and that the inflater is between blocks, not inside one
 * (else the connection's next message would be misread). */
static size_t browser_inflate(z_stream *zs, const uint8_t *payload, size_t len, uint8_t *out,
			      size_t cap)
{
	const uint8_t *pieces[2] = { payload, sync_tail };
	size_t sizes[2] = { len, sizeof(sync_tail) };

	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	for (int i = 0; i < 2; i++) {
		zs->next_in = (Bytef *)pieces[i];
		zs->avail_in = (uInt)sizes[i];
		while (zs->avail_in) {
			/* Z_BLOCK: returns at every block's end, so that
			 * data_type tells below where it stopped; what is
			 * decoded is the same as with Chromium's flush modes. */
			int ret = inflate(zs, Z_BLOCK);

			if (ret == Z_STREAM_END) {
				cr_assert_eq(inflateReset(zs), Z_OK);
				continue;
			}
			cr_assert_eq(ret, Z_OK, "zlib inflate: %d (%s)", ret, zs->msg ? zs->msg : "");
		}
	}
	/* data_type bit 7 (zlib.h): inflate stopped right after a block, so a
	 * later message starts cleanly. Right after inflateReset() with no
	 * input since, the bit is not set, hence the second case. */
	cr_assert(zs->data_type & 128 || zs->total_in == 0,
		  "the inflater stopped inside a block (data_type %d)", zs->data_type);
	return cap - zs->avail_out;
}

static void browser_init(z_stream *zs)
{
	memset(zs, 0, sizeof(*zs));
	cr_assert_eq(inflateInit2(zs, -15), Z_OK);
}

/* A browser's sending side: zlib raw deflate, a sync flush, the 00 00 ff ff
 * cut (RFC 7692 7.2.1). Fresh per message (client_no_context_takeover).
 * Returns the payload's length. */
static size_t browser_deflate(const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs;
	size_t n;

	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)msg;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	cr_assert_eq(zs.avail_in, 0);
	n = cap - zs.avail_out;
	deflateEnd(&zs);
	cr_assert_geq(n, 4);
	cr_assert_eq(memcmp(out + n - 4, sync_tail, 4), 0);
	return n - 4;
}

/* Messages of the kinds ringcast carries. */
static size_t game_state(char *buf, size_t cap, unsigned seed, unsigned players)
{
	size_t n = (size_t)snprintf(buf, cap, "{\"t\":%u,\"players\":[", 123456 + seed);

	for (unsigned i = 0; i < players; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s{\"id\":%u,\"x\":%.2f,\"y\":%.2f}",
				      i ? "," : "", i + 1, (double)((seed * 37 + i * 101) % 4000) / 4,
				      (double)((seed * 53 + i * 71) % 4000) / 4);
	n += (size_t)snprintf(buf + n, cap - n, "]}");
	cr_assert_lt(n, cap);
	return n;
}

static void random_bytes(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* A few messages: game states, a ~10 KB state, text, mixed binary. */
struct sample {
	uint8_t *p;
	size_t len;
};

static size_t samples(struct sample *s, size_t max)
{
	static char game8[1024], game16[1024], big[12 * 1024], text[4096];
	static uint8_t bin[3000];
	size_t k = 0, n = 0;

	s[k++] = (struct sample){ (uint8_t *)game8, game_state(game8, sizeof(game8), 1, 8) };
	s[k++] = (struct sample){ (uint8_t *)game16, game_state(game16, sizeof(game16), 2, 16) };
	for (unsigned i = 0; n < 10 * 1024; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n,
				      "%s{\"id\":%u,\"name\":\"p%u\",\"hp\":%u,\"alive\":true}",
				      i ? "," : "[", i, i * 7 % 100, i * 13 % 101);
	big[n++] = ']';
	s[k++] = (struct sample){ (uint8_t *)big, n };
	n = 0;
	while (n + 64 < sizeof(text))
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "the quick brown fox jumps over the lazy dog %zu. ", n);
	s[k++] = (struct sample){ (uint8_t *)text, n };
	/* random with runs of zeros: partly compressible */
	random_bytes(bin, sizeof(bin), 7);
	for (size_t i = 0; i < sizeof(bin); i += 100)
		memset(bin + i, 0, 50);
	s[k++] = (struct sample){ bin, sizeof(bin) };
	cr_assert_leq(k, max);
	return k;
}

Test(ws_deflate, round_trip_through_both_directions)
{
	struct sample s[8];
	size_t ns = samples(s, 8);
	static uint8_t z[64 * 1024], back[64 * 1024];
	struct rc_wsz_inflater *inf = inflater(MAX_IN);
	const int levels[] = { 1, 6, 9 };

	for (size_t li = 0; li < sizeof(levels) / sizeof(levels[0]); li++) {
		struct rc_wsz_deflater *d = deflater(levels[li]);

		for (size_t i = 0; i < ns; i++) {
			ssize_t n = compress_guarded(d, s[i].p, s[i].len, z, sizeof(z));
			ssize_t m;

			cr_assert_gt(n, 0, "level %d sample %zu: %zd", levels[li], i, n);
			cr_assert_lt((size_t)n, s[i].len);
			m = inflate_guarded(inf, z, (size_t)n, back, s[i].len);
			cr_assert_eq(m, (ssize_t)s[i].len, "level %d sample %zu: %zd", levels[li], i, m);
			cr_assert_eq(memcmp(back, s[i].p, s[i].len), 0);
		}
		rc_wsz_deflater_free(d);
	}
	/* The client direction: what a browser's zlib sends. */
	for (size_t i = 0; i < ns; i++) {
		size_t n = browser_deflate(s[i].p, s[i].len, z, sizeof(z));
		ssize_t m = inflate_guarded(inf, z, n, back, s[i].len);

		cr_assert_eq(m, (ssize_t)s[i].len, "sample %zu: %zd", i, m);
		cr_assert_eq(memcmp(back, s[i].p, s[i].len), 0);
	}
	rc_wsz_inflater_free(inf);
}

Test(ws_deflate, the_same_message_compresses_the_same_every_time)
{
	/* No context from one message to the next: one compressed frame can
	 * serve every subscriber, whatever each has received before. */
	struct sample s[8];
	size_t ns = samples(s, 8);
	static uint8_t a[64 * 1024], b[64 * 1024];
	struct rc_wsz_deflater *d = deflater(RC_WSZ_LEVEL_DEFAULT);
	ssize_t na = rc_wsz_compress(d, s[2].p, s[2].len, a, sizeof(a)), nb;

	cr_assert_gt(na, 0);
	for (size_t i = 0; i < ns; i++)
		cr_assert_gt(rc_wsz_compress(d, s[i].p, s[i].len, b, sizeof(b)), 0);
	nb = rc_wsz_compress(d, s[2].p, s[2].len, b, sizeof(b));
	cr_assert_eq(na, nb);
	cr_assert_eq(memcmp(a, b, (size_t)na), 0);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, zlib_inflates_what_it_compresses_as_a_browser_does)
{
	/* An independent decoder: zlib, fed as Chromium feeds it, one inflater
	 * for a whole connection. Each message must come out whole and leave
	 * the inflater between messages (a sync flush leaves it at a block
	 * boundary), and a zlib-compressed message after them must still
	 * inflate. */
	struct sample s[8];
	size_t ns = samples(s, 8);
	static uint8_t z[64 * 1024], back[64 * 1024];
	struct rc_wsz_deflater *d = deflater(RC_WSZ_LEVEL_DEFAULT);
	z_stream zs;

	browser_init(&zs);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < ns; i++) {
			ssize_t n = rc_wsz_compress(d, s[i].p, s[i].len, z, sizeof(z));
			size_t m;

			cr_assert_gt(n, 0);
			m = browser_inflate(&zs, z, (size_t)n, back, sizeof(back));
			cr_assert_eq(m, s[i].len, "sample %zu: %zu bytes", i, m);
			cr_assert_eq(memcmp(back, s[i].p, m), 0);
		}
	{
		size_t n = browser_deflate(s[0].p, s[0].len, z, sizeof(z));
		size_t m = browser_inflate(&zs, z, n, back, sizeof(back));

		cr_assert_eq(m, s[0].len);
		cr_assert_eq(memcmp(back, s[0].p, m), 0);
	}
	inflateEnd(&zs);
	rc_wsz_deflater_free(d);
}

/* Inflates an RFC 7692 example payload and expects "Hello". */
static void hello(const uint8_t *payload, size_t len)
{
	struct rc_wsz_inflater *z = inflater(64);
	uint8_t out[64];
	ssize_t n = inflate_guarded(z, payload, len, out, sizeof(out));

	cr_assert_eq(n, 5, "%zd", n);
	cr_assert_eq(memcmp(out, "Hello", 5), 0);
	/* exactly the room it needs is enough */
	n = inflate_guarded(z, payload, len, out, 5);
	cr_assert_eq(n, 5, "%zd", n);
	rc_wsz_inflater_free(z);
}

Test(ws_deflate, rfc7692_examples_inflate_to_hello)
{
	/* 7.2.3.1: a frame c1 07 f2 48 cd c9 c9 07 00, its payload: */
	static const uint8_t one_block[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
	/* 7.2.3.3: a stored block */
	static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
					  0x65, 0x6c, 0x6c, 0x6f, 0x00 };
	/* 7.2.3.4: a final block, then the 0x00 */
	static const uint8_t bfinal[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
	/* 7.2.3.5: two blocks in one message */
	static const uint8_t two_blocks[] = { 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
					      0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00 };

	hello(one_block, sizeof(one_block));
	hello(stored, sizeof(stored));
	hello(bfinal, sizeof(bfinal));
	hello(two_blocks, sizeof(two_blocks));
	/* 7.2.3.4 without its 0x00 (the stream alone) is accepted too */
	hello(bfinal, sizeof(bfinal) - 1);
}

Test(ws_deflate, a_message_may_not_refer_to_the_one_before)
{
	/* RFC 7692 7.2.3.2: the second "Hello" of a connection with context
	 * takeover is a back-reference into the first. With
	 * client_no_context_takeover there is nothing to refer to. */
	static const uint8_t first[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
	static const uint8_t second[] = { 0xf2, 0x00, 0x11, 0x00, 0x00 };
	struct rc_wsz_inflater *z = inflater(64);
	uint8_t out[64];

	cr_assert_eq(inflate_guarded(z, first, sizeof(first), out, sizeof(out)), 5);
	cr_assert_eq(inflate_guarded(z, second, sizeof(second), out, sizeof(out)), -EBADMSG);
	/* and a failed message leaves nothing behind */
	cr_assert_eq(inflate_guarded(z, first, sizeof(first), out, sizeof(out)), 5);
	rc_wsz_inflater_free(z);
}

Test(ws_deflate, blocks_after_a_final_block_are_read)
{
	/* RFC 7692 7.2.1: the next block follows a final block's padding.
	 * "Hello" as 7.2.3.4 writes it, then " world" as a browser would. */
	static const uint8_t bfinal[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
	uint8_t payload[64], out[64];
	size_t n = browser_deflate((const uint8_t *)" world", 6, payload + sizeof(bfinal),
				   sizeof(payload) - sizeof(bfinal));
	struct rc_wsz_inflater *z = inflater(64);

	memcpy(payload, bfinal, sizeof(bfinal));
	cr_assert_eq(inflate_guarded(z, payload, sizeof(bfinal) + n, out, sizeof(out)), 11);
	cr_assert_eq(memcmp(out, "Hello world", 11), 0);
	/* what follows the final block must be valid too */
	payload[sizeof(bfinal)] = 0xff;
	cr_assert_eq(inflate_guarded(z, payload, sizeof(bfinal) + 1, out, sizeof(out)), -EBADMSG);
	rc_wsz_inflater_free(z);
}

/* A deflate bomb: `mib` MiB of zeros, compressed by zlib level 9 as a
 * browser would send it. DEFLATE's best ratio is about 1:1032, so 100 MiB
 * takes about 100 KB (1 KB can expand to about 1 MB, not more). */
static size_t bomb(uint8_t *out, size_t cap, unsigned mib)
{
	static uint8_t zeros[1 << 16];
	z_stream zs;
	size_t n;

	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (unsigned i = 0; i < mib * 16; i++) {
		zs.next_in = zeros;
		zs.avail_in = sizeof(zeros);
		cr_assert_eq(deflate(&zs, Z_NO_FLUSH), Z_OK);
		cr_assert_eq(zs.avail_in, 0);
	}
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	n = cap - zs.avail_out;
	deflateEnd(&zs);
	cr_assert_eq(memcmp(out + n - 4, sync_tail, 4), 0);
	return n - 4;
}

static size_t allocations;

static void *counting_malloc(size_t n)
{
	allocations++;
	return malloc(n);
}

Test(ws_deflate, a_deflate_bomb_stops_at_the_limit)
{
	static uint8_t payload[200 * 1024];
	size_t big = bomb(payload, sizeof(payload), 100);
	size_t limit = 64 * 1024;
	struct rc_wsz_inflater *z;
	uint8_t *o;
	ssize_t n;

	/* Every allocation libdeflate makes goes through here from now on
	 * (none exists yet, as libdeflate requires). */
	libdeflate_set_memory_allocator(counting_malloc, free);
	z = inflater(sizeof(payload));
	cr_assert_lt(big, 110 * 1024, "100 MiB of zeros took %zu bytes", big);
	allocations = 0;
	/* The output ends at a guard page: a byte past the limit crashes. */
	o = guarded_out(limit);
	n = rc_wsz_inflate(z, payload, big, o, limit);
	cr_assert_eq(n, -EMSGSIZE, "%zd", n);
	cr_assert_eq(allocations, 0, "libdeflate allocated %zu times", allocations);
	guard_free(o, limit);

	/* about 1 KB for 1 MiB */
	big = bomb(payload, sizeof(payload), 1);
	cr_assert_lt(big, 1100, "1 MiB of zeros took %zu bytes", big);
	o = guarded_out(limit);
	n = rc_wsz_inflate(z, payload, big, o, limit);
	cr_assert_eq(n, -EMSGSIZE, "%zd", n);
	guard_free(o, limit);
	/* with room for all of it, it is 1 MiB of zeros */
	{
		size_t all = 1 << 20;
		uint8_t *out = malloc(all);

		cr_assert(out);
		cr_assert_eq(rc_wsz_inflate(z, payload, big, out, all), (ssize_t)all);
		for (size_t i = 0; i < all; i++)
			cr_assert_eq(out[i], 0);
		cr_assert_eq(rc_wsz_inflate(z, payload, big, out, all - 1), -EMSGSIZE);
		free(out);
	}
	rc_wsz_inflater_free(z);
}

Test(ws_deflate, the_limit_is_exact_and_so_is_max_in)
{
	struct sample s[8];
	static uint8_t z[64 * 1024], back[64 * 1024];
	struct rc_wsz_deflater *d = deflater(6);
	struct rc_wsz_inflater *inf;
	ssize_t n;

	samples(s, 8);
	n = rc_wsz_compress(d, s[2].p, s[2].len, z, sizeof(z));
	cr_assert_gt(n, 0);
	inf = inflater((size_t)n);
	cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, s[2].len), (ssize_t)s[2].len);
	cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, s[2].len - 1), -EMSGSIZE);
	cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, 0), -EMSGSIZE);
	rc_wsz_inflater_free(inf);
	/* a payload longer than the inflater was made for */
	inf = inflater((size_t)n - 1);
	cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, sizeof(back)), -EMSGSIZE);
	rc_wsz_inflater_free(inf);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, corrupt_data_is_ebadmsg)
{
	/* BTYPE 11 is reserved (RFC 1951 3.2.3) */
	static const uint8_t reserved[] = { 0x06, 0x00 };
	/* a stored block whose NLEN is not LEN's complement */
	static const uint8_t nlen[] = { 0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o', 0x00 };
	/* a final stored block with 5 bytes promised and 2 there */
	static const uint8_t short_stored[] = { 0x01, 0x05, 0x00, 0xfa, 0xff, 'H', 'e' };
	/* a dynamic block whose code lengths make no valid code */
	static const uint8_t bad_code[] = { 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const struct sample bad[] = {
		{ (uint8_t *)reserved, sizeof(reserved) },
		{ (uint8_t *)nlen, sizeof(nlen) },
		{ (uint8_t *)short_stored, sizeof(short_stored) },
		{ (uint8_t *)bad_code, sizeof(bad_code) },
	};
	struct rc_wsz_inflater *z = inflater(1024);
	uint8_t out[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ssize_t n = inflate_guarded(z, bad[i].p, bad[i].len, out, sizeof(out));

		cr_assert_eq(n, -EBADMSG, "case %zu: %zd", i, n);
	}
	rc_wsz_inflater_free(z);
}

Test(ws_deflate, the_empty_message)
{
	struct rc_wsz_deflater *d = deflater(RC_WSZ_LEVEL_DEFAULT);
	struct rc_wsz_inflater *z = inflater(16);
	uint8_t out[16], payload[16];
	size_t n;

	/* compressed it could only grow: sent plain */
	cr_assert_eq(compress_guarded(d, "", 0, out, sizeof(out)), -ENOSPC);
	/* a zero-length payload with RSV1 is the empty message */
	cr_assert_eq(inflate_guarded(z, "", 0, out, sizeof(out)), 0);
	cr_assert_eq(inflate_guarded(z, "", 0, NULL, 0), 0);
	/* and so is what zlib sends for it (00: an empty stored block's
	 * header, RFC 7692 7.2.3.6) */
	n = browser_deflate((const uint8_t *)"", 0, payload, sizeof(payload));
	cr_assert_eq(n, 1);
	cr_assert_eq(payload[0], 0x00);
	cr_assert_eq(inflate_guarded(z, payload, n, out, sizeof(out)), 0);
	cr_assert_eq(inflate_guarded(z, payload, n, out, 0), 0);
	rc_wsz_inflater_free(z);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, incompressible_data_is_enospc_or_smaller)
{
	static uint8_t msg[4096], z[8192], back[4096];
	struct rc_wsz_deflater *d = deflater(RC_WSZ_LEVEL_DEFAULT);
	struct rc_wsz_inflater *inf = inflater(sizeof(z));
	ssize_t n;

	random_bytes(msg, sizeof(msg), 12345);
	/* more room than the message: still never as long as the message */
	n = compress_guarded(d, msg, sizeof(msg), z, sizeof(z));
	cr_assert(n == -ENOSPC || (n > 0 && (size_t)n < sizeof(msg)), "%zd", n);
	if (n > 0) {
		cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, sizeof(back)),
			     (ssize_t)sizeof(msg));
		cr_assert_eq(memcmp(back, msg, sizeof(msg)), 0);
	}
	/* tiny messages cannot shrink */
	cr_assert_eq(compress_guarded(d, "a", 1, z, sizeof(z)), -ENOSPC);
	cr_assert_eq(compress_guarded(d, "ab", 2, z, sizeof(z)), -ENOSPC);
	rc_wsz_inflater_free(inf);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, a_result_that_does_not_fit_is_enospc)
{
	struct sample s[8];
	static uint8_t z[64 * 1024], back[64 * 1024];
	struct rc_wsz_deflater *d = deflater(RC_WSZ_LEVEL_DEFAULT);
	struct rc_wsz_inflater *inf = inflater(sizeof(z));
	ssize_t full, n;

	samples(s, 8);
	full = compress_guarded(d, s[2].p, s[2].len, z, sizeof(z));
	cr_assert_gt(full, 0);
	/* Its size and a few bytes fits (libdeflate 1.14 wants up to 9 to
	 * spare), into a buffer that ends at a guard page. */
	n = compress_guarded(d, s[2].p, s[2].len, z, (size_t)full + 16);
	cr_assert_eq(n, full);
	cr_assert_eq(inflate_guarded(inf, z, (size_t)n, back, s[2].len), (ssize_t)s[2].len);
	/* One byte less than its size, or far less, does not, and nothing is
	 * written past cap (the guard page). */
	cr_assert_eq(compress_guarded(d, s[2].p, s[2].len, z, (size_t)full - 1), -ENOSPC);
	cr_assert_eq(compress_guarded(d, s[2].p, s[2].len, z, 10), -ENOSPC);
	cr_assert_eq(compress_guarded(d, s[2].p, s[2].len, z, 1), -ENOSPC);
	cr_assert_eq(compress_guarded(d, s[2].p, s[2].len, z, 0), -ENOSPC);
	rc_wsz_inflater_free(inf);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, no_allocation_per_message)
{
	struct sample s[8];
	size_t ns = samples(s, 8);
	static uint8_t z[64 * 1024], back[64 * 1024];
	struct rc_wsz_deflater *d;
	struct rc_wsz_inflater *inf;

	libdeflate_set_memory_allocator(counting_malloc, free);
	d = deflater(6);
	inf = inflater(sizeof(z));
	cr_assert_gt(allocations, 0, "the hook sees libdeflate's allocations");
	allocations = 0;
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < ns; i++) {
			ssize_t n = rc_wsz_compress(d, s[i].p, s[i].len, z, sizeof(z));

			cr_assert_gt(n, 0);
			cr_assert_eq(rc_wsz_inflate(inf, z, (size_t)n, back, sizeof(back)),
				     (ssize_t)s[i].len);
		}
	cr_assert_eq(allocations, 0, "%zu allocations", allocations);
	rc_wsz_inflater_free(inf);
	rc_wsz_deflater_free(d);
}

Test(ws_deflate, bad_arguments_to_new)
{
	int err = 0;

	cr_assert_null(rc_wsz_deflater_new(0, &err));
	cr_assert_eq(err, -EINVAL);
	err = 0;
	cr_assert_null(rc_wsz_deflater_new(10, &err));
	cr_assert_eq(err, -EINVAL);
	cr_assert_null(rc_wsz_deflater_new(-1, NULL));
	err = 0;
	cr_assert_null(rc_wsz_inflater_new(SIZE_MAX - 4, &err));
	cr_assert_eq(err, -EINVAL);
	rc_wsz_deflater_free(NULL);
	rc_wsz_inflater_free(NULL);
}
