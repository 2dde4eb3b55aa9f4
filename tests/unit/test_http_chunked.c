/* Chunked body decoding: split at every byte, guard pages, errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "guard.h"
#include "http_chunked.h"

/* Decodes body in pieces of `step` bytes; returns the decoded data length
 * (into out) or -1 on failure; *done tells whether the end was seen and
 * *consumed how many input bytes were used. */
static long decode(const char *body, size_t len, size_t step, char *out, bool *done,
		   size_t *consumed)
{
	struct rc_chunked c;
	long n = 0;

	rc_chunked_init(&c);
	*consumed = 0;
	for (size_t off = 0; off < len && !c.done && !c.failed; off += step) {
		size_t piece = len - off < step ? len - off : step;
		uint8_t *g = guard_copy(body + off, piece);
		size_t pos = 0;

		while (pos < piece && !c.done && !c.failed) {
			const uint8_t *d;
			size_t dl;
			size_t used = rc_chunked_feed(&c, g + pos, piece - pos, &d, &dl);

			if (dl)
				memcpy(out + n, d, dl);
			n += (long)dl;
			pos += used;
			if (!used)
				break;
		}
		*consumed += pos;
		guard_free(g, piece);
	}
	*done = c.done;
	return c.failed ? -1 : n;
}

Test(http_chunked, every_split_point)
{
	static const char body[] = "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n"
				   "0\r\nX-Trailer: yes\r\n\r\nNEXT";
	size_t len = sizeof(body) - 1;
	char out[64];

	for (size_t step = 1; step <= len; step++) {
		bool done;
		size_t used;
		long n = decode(body, len, step, out, &done, &used);

		cr_assert_eq(n, 16, "step %zu", step);
		cr_assert_eq(memcmp(out, "hello 0123456789", 16), 0, "step %zu", step);
		cr_assert(done, "step %zu", step);
		/* Stops right after the body: "NEXT" is the next request's. */
		cr_assert_eq(used, len - 4, "step %zu", step);
	}
}

Test(http_chunked, malformed_bodies_fail)
{
	static const char *bad[] = {
		"x\r\n",			/* not hex */
		"\r\n",				/* no size */
		"5\rhello",			/* CR without LF */
		"5\r\nhelloXX",			/* data not followed by CRLF */
		"1000000000000000\r\n",		/* 16 hex digits */
		"5\n",				/* bare LF */
	};
	char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool done;
		size_t used;

		cr_assert_eq(decode(bad[i], strlen(bad[i]), strlen(bad[i]), out, &done, &used), -1,
			     "'%s'", bad[i]);
	}
}

Test(http_chunked, long_extension_and_trailer_limits)
{
	static char body[RC_CHUNKED_TRAILER_MAX + 64];
	char out[8];
	bool done;
	size_t used;

	memset(body, 'a', sizeof(body));
	memcpy(body, "1;", 2);
	cr_assert_eq(decode(body, RC_CHUNKED_LINE_MAX + 8, 4096, out, &done, &used), -1);
	memcpy(body, "0\r\n", 3);
	cr_assert_eq(decode(body, sizeof(body), 4096, out, &done, &used), -1);
}
