/* libFuzzer harness for rc_utf8: the verdict must not depend on how the
 * input is split, and must match a plain code-point decoder (utf8_ref.c,
 * which the unit test uses too). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "utf8_ref.h"

static void check(int cond)
{
	if (!cond)
		abort();
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
	want = utf8_reference(buf, size);
	check(whole == want);
	check(feed_split(buf, size, (uint32_t)size) == want);
	check(feed_split(buf, size, size ? buf[0] : 0) == want);
	/* Invalid is sticky. */
	if (!ok)
		check(!rc_utf8_feed(&u, (const uint8_t *)"a", 1) && !rc_utf8_complete(&u));
	free(buf);
	return 0;
}
