/* rc_utf8: RFC 3629 validation, fed whole, byte by byte and split. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "utf8.h"
#include "utf8_ref.h"

/* Validates s[0..len) in one feed from a guard-page copy. */
static enum verdict check_once(const void *s, size_t len)
{
	uint8_t *g = guard_copy(s, len);
	struct rc_utf8 u;
	bool ok;

	rc_utf8_init(&u);
	ok = rc_utf8_feed(&u, g, len);
	guard_free(g, len);
	if (!ok)
		return INVALID;
	return rc_utf8_complete(&u) ? VALID : INCOMPLETE;
}

/* Validates s[0..len) one byte per feed, each byte from its own guard copy,
 * and checks that a failure sticks. */
static enum verdict check_bytewise(const void *s, size_t len)
{
	const uint8_t *b = s;
	struct rc_utf8 u;
	bool ok = true;
	size_t i;

	rc_utf8_init(&u);
	for (i = 0; i < len; i++) {
		uint8_t *g = guard_copy(b + i, 1);

		if (!rc_utf8_feed(&u, g, 1))
			ok = false;
		guard_free(g, 1);
	}
	if (!ok) {
		cr_assert(!rc_utf8_feed(&u, (const uint8_t *)"a", 1), "failure must be sticky");
		cr_assert(!rc_utf8_complete(&u));
		return INVALID;
	}
	return rc_utf8_complete(&u) ? VALID : INCOMPLETE;
}

/* Validates s split at every position into two feeds. */
static void check_splits(const void *s, size_t len, enum verdict want)
{
	const uint8_t *b = s;
	size_t cut;

	for (cut = 0; cut <= len; cut++) {
		uint8_t *g1 = guard_copy(b, cut);
		uint8_t *g2 = guard_copy(b + cut, len - cut);
		struct rc_utf8 u;
		enum verdict got;
		bool ok;

		rc_utf8_init(&u);
		ok = rc_utf8_feed(&u, g1, cut);
		ok = rc_utf8_feed(&u, g2, len - cut) && ok;
		got = !ok ? INVALID : rc_utf8_complete(&u) ? VALID : INCOMPLETE;
		cr_assert_eq(got, want, "split at %zu of %zu: got %d, want %d", cut, len, got, want);
		guard_free(g1, cut);
		guard_free(g2, len - cut);
	}
}

static void expect(const char *s, size_t len, enum verdict want)
{
	cr_assert_eq(check_once(s, len), want, "one feed");
	cr_assert_eq(check_bytewise(s, len), want, "byte by byte");
	check_splits(s, len, want);
}

#define EXPECT(lit, want) expect(lit, sizeof(lit) - 1, want)

Test(utf8, empty_is_valid)
{
	EXPECT("", VALID);
}

Test(utf8, ascii)
{
	EXPECT("Hello, world! 0123456789 ~\x7f\x01", VALID);
	/* Long enough to go through the word-at-a-time path, with a non-ASCII
	 * byte placed after the first 8-byte block. */
	EXPECT("abcdefghijklmnopqrstuvwxyz\xc3\xa9zzzzzzzzzz", VALID);
	EXPECT("abcdefghijklmnop\x80qrstuvwx", INVALID);
}

Test(utf8, two_byte)
{
	EXPECT("\xc2\x80", VALID);		/* U+0080, smallest */
	EXPECT("\xdf\xbf", VALID);		/* U+07FF, largest */
	EXPECT("caf\xc3\xa9", VALID);
}

Test(utf8, three_byte)
{
	EXPECT("\xe0\xa0\x80", VALID);		/* U+0800 */
	EXPECT("\xe2\x82\xac", VALID);		/* EURO SIGN */
	EXPECT("\xed\x9f\xbf", VALID);		/* U+D7FF, just below surrogates */
	EXPECT("\xee\x80\x80", VALID);		/* U+E000, just above */
	EXPECT("\xef\xbf\xbf", VALID);		/* U+FFFF */
}

Test(utf8, four_byte)
{
	EXPECT("\xf0\x90\x80\x80", VALID);	/* U+10000 */
	EXPECT("\xf0\x9f\x98\x80", VALID);	/* emoji */
	EXPECT("\xf4\x8f\xbf\xbf", VALID);	/* U+10FFFF, the last code point */
}

Test(utf8, overlong)
{
	EXPECT("\xc0\x80", INVALID);		/* NUL in 2 bytes */
	EXPECT("\xc1\xbf", INVALID);
	EXPECT("\xe0\x80\x80", INVALID);
	EXPECT("\xe0\x9f\xbf", INVALID);	/* U+07FF in 3 bytes */
	EXPECT("\xf0\x80\x80\x80", INVALID);
	EXPECT("\xf0\x8f\xbf\xbf", INVALID);	/* U+FFFF in 4 bytes */
}

Test(utf8, surrogates)
{
	EXPECT("\xed\xa0\x80", INVALID);	/* U+D800 */
	EXPECT("\xed\xbf\xbf", INVALID);	/* U+DFFF */
	EXPECT("\xed\xa0\x80\xed\xb0\x80", INVALID);	/* CESU-8 pair */
}

Test(utf8, above_max)
{
	char b[2] = { 0, 'a' };
	int c;

	EXPECT("\xf4\x90\x80\x80", INVALID);	/* U+110000 */
	for (c = 0xf5; c <= 0xff; c++) {
		b[0] = (char)c;
		cr_assert_eq(check_once(b, 1), INVALID, "lead byte %#x", c);
		cr_assert_eq(check_once(b, 2), INVALID, "lead byte %#x", c);
	}
}

Test(utf8, stray_and_bad_continuations)
{
	EXPECT("\x80", INVALID);
	EXPECT("a\xbf", INVALID);
	EXPECT("\xc3\x28", INVALID);		/* lead then ASCII */
	EXPECT("\xe2\x82\x28", INVALID);
	EXPECT("\xf0\x9f\x98\xc3\xa9", INVALID);	/* new lead inside a sequence */
	EXPECT("\xc3\xa9\xa9", INVALID);	/* one continuation too many */
}

Test(utf8, truncated_is_incomplete)
{
	EXPECT("\xc3", INCOMPLETE);
	EXPECT("ab\xe2\x82", INCOMPLETE);
	EXPECT("\xf0\x9f\x98", INCOMPLETE);
	/* Incomplete is not invalid: the rest may still come. */
	EXPECT("\xf0\x9f\x98\x80", VALID);
}

Test(utf8, invalid_detected_at_first_bad_byte)
{
	/* "as soon as the input so far cannot be valid": the bad byte alone
	 * must fail the feed that carries it, not a later one. */
	struct rc_utf8 u;

	rc_utf8_init(&u);
	cr_assert(rc_utf8_feed(&u, (const uint8_t *)"\xed", 1));
	cr_assert(!rc_utf8_feed(&u, (const uint8_t *)"\xa0", 1));
	rc_utf8_init(&u);
	cr_assert(rc_utf8_feed(&u, (const uint8_t *)"\xf4", 1));
	cr_assert(!rc_utf8_feed(&u, (const uint8_t *)"\x90", 1));
	rc_utf8_init(&u);
	cr_assert(!rc_utf8_feed(&u, (const uint8_t *)"\xf5", 1));
}

Test(utf8, init_resets)
{
	struct rc_utf8 u;

	rc_utf8_init(&u);
	cr_assert(!rc_utf8_feed(&u, (const uint8_t *)"\xff", 1));
	rc_utf8_init(&u);
	cr_assert(rc_utf8_feed(&u, (const uint8_t *)"ok", 2));
	cr_assert(rc_utf8_complete(&u));
}

Test(utf8, exhaustive_lead_and_first_continuation)
{
	unsigned a, b;

	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			uint8_t s[4] = { (uint8_t)a, (uint8_t)b, 0x80, 0xbf };
			size_t len;

			for (len = 1; len <= 4; len++) {
				struct rc_utf8 u;
				enum verdict got;

				rc_utf8_init(&u);
				got = !rc_utf8_feed(&u, s, len) ? INVALID :
				      rc_utf8_complete(&u) ? VALID : INCOMPLETE;
				cr_assert_eq(got, utf8_reference(s, len),
					     "%02x %02x len %zu: got %d", a, b, len, got);
			}
		}
	}
}
