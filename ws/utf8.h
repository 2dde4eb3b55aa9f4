/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) for text messages that arrive in pieces. */
#ifndef RC_UTF8_H
#define RC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_utf8 {
	uint32_t need;		/* continuation bytes still expected */
	uint32_t lo, hi;	/* allowed range of the next continuation byte */
	bool bad;
};

/* Starts a new validation. */
void rc_utf8_init(struct rc_utf8 *u);

/* Feeds len bytes. Returns false as soon as the input so far cannot be the
 * start of valid UTF-8 (and keeps returning false). */
bool rc_utf8_feed(struct rc_utf8 *u, const uint8_t *s, size_t len);

/* True when everything fed so far is valid and does not end mid-character. */
bool rc_utf8_complete(const struct rc_utf8 *u);

#endif
