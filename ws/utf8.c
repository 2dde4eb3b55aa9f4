/* Incremental UTF-8 validation, see utf8.h.
 *
 * The validator is a tiny state machine driven by the lead byte: a lead byte
 * fixes how many continuation bytes follow and, for the first of them only, a
 * narrowed range. Narrowing the first continuation byte is what rejects
 * overlongs (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90..BF) without ever decoding the code point. */
#include <string.h>

#include "utf8.h"

void rc_utf8_init(struct rc_utf8 *u)
{
	u->need = 0;
	u->lo = 0x80;
	u->hi = 0xbf;
	u->bad = false;
}

/* Sets up the state for lead byte c; returns false when c cannot start a
 * character (a stray continuation byte, C0/C1, F5..FF). */
static bool utf8_lead(struct rc_utf8 *u, uint8_t c)
{
	u->lo = 0x80;
	u->hi = 0xbf;
	if (c < 0x80) {
		u->need = 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		u->need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		u->need = 2;
		if (c == 0xe0)
			u->lo = 0xa0;	/* below: overlong, fits in 2 bytes */
		else if (c == 0xed)
			u->hi = 0x9f;	/* above: UTF-16 surrogates D800..DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		u->need = 3;
		if (c == 0xf0)
			u->lo = 0x90;	/* below: overlong, fits in 3 bytes */
		else if (c == 0xf4)
			u->hi = 0x8f;	/* above: beyond U+10FFFF */
	} else {
		return false;
	}
	return true;
}

/* True when all 8 bytes at s are ASCII; memcpy keeps the load unaligned-safe. */
static bool utf8_ascii8(const uint8_t *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	return (w & 0x8080808080808080ull) == 0;
}

bool rc_utf8_feed(struct rc_utf8 *u, const uint8_t *s, size_t len)
{
	size_t i = 0;

	if (u->bad)
		return false;
	while (i < len) {
		uint8_t c;

		/* Text is mostly ASCII: skip it a word at a time between characters. */
		if (u->need == 0) {
			while (len - i >= 8 && utf8_ascii8(s + i))
				i += 8;
			if (i == len)
				break;
		}
		c = s[i++];
		if (u->need == 0) {
			if (!utf8_lead(u, c))
				goto bad;
			continue;
		}
		if (c < u->lo || c > u->hi)
			goto bad;
		/* Only the first continuation byte has a narrowed range. */
		u->lo = 0x80;
		u->hi = 0xbf;
		u->need--;
	}
	return true;
bad:
	u->bad = true;
	return false;
}

bool rc_utf8_complete(const struct rc_utf8 *u)
{
	return !u->bad && u->need == 0;
}
