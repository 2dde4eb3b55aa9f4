/* libFuzzer harness for rc_utf8: the verdict must not depend on how the
 * input is split, and must match a plain code-point decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

enum verdict { VALID, INVALID, INCOMPLETE };

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Decodes code points and checks them against RFC 3629. A truncated final
 * sequence is INCOMPLETE when some completion could be valid: the missing
 * bits span [lo, hi], which must meet the allowed range outside the
 * surrogates. */
static enum verdict reference(const uint8_t *s, size_t len)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < len) {
		uint32_t cp, lo, hi;
		size_t n, k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = s[i] & 0x07;
		} else {
			return INVALID;
		}
		for (k = 1; k < n && i + k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return INVALID;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		lo = cp << 6 * (n - k);
		hi = lo | ((1u << 6 * (n - k)) - 1);
		if (lo < min_cp[n])
			lo = min_cp[n];
		if (hi > 0x10ffff)
			hi = 0x10ffff;
		if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff))
			return INVALID;
		if (k < n)
			return INCOMPLETE;
		i += n;
	}
	return VALID;
}

static enum verdict verdict(const struct rc_utf8 *u, bool ok)
{
	if (!ok)
		return INVALID;
	return rc_utf8_complete(u) ? VALID : INCOMPLETE;
}

/* Feeds s[0..len) in pieces whose sizes come from `seed`, each piece in its
 * own exact-size heap block. */
static enum verdict feed_split(const uint8_t *s, size_t len, uint32_t seed)
{
	struct rc_utf8 u;
	size_t off = 0;
	bool ok = true;

	rc_utf8_init(&u);
	while (off < len) {
		size_t n;
		uint8_t *piece;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 17;
		if (n > len - off)
			n = len - off;
		piece = malloc(n);
		check(piece != NULL);
		memcpy(piece, s + off, n);
		ok = rc_utf8_feed(&u, piece, n) && ok;
		free(piece);
		off += n;
	}
	return verdict(&u, ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct rc_utf8 u;
	enum verdict whole, want;
	bool ok;

	check(buf != NULL);
	memcpy(buf, data, size);
	rc_utf8_init(&u);
	ok = rc_utf8_feed(&u, buf, size);
	whole = verdict(&u, ok);
	want = reference(buf, size);
	check(whole == want);
	check(feed_split(buf, size, (uint32_t)size) == want);
	check(feed_split(buf, size, size ? buf[0] : 0) == want);
	/* Invalid is sticky. */
	if (!ok)
		check(!rc_utf8_feed(&u, (const uint8_t *)"a", 1) && !rc_utf8_complete(&u));
	free(buf);
	return 0;
}
