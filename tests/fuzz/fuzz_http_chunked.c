/* libFuzzer harness for the chunked body decoder: the decoded bytes, the end
 * and the verdict must not depend on how the input is split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_chunked.h"

struct result {
	uint8_t out[4096];
	size_t n;
	size_t used;
	int done, failed;
};

static void decode(const uint8_t *in, size_t len, size_t split, struct result *r)
{
	struct rc_chunked c;
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	rc_chunked_init(&c);
	for (int part = 0; part < 2 && !c.done && !c.failed; part++) {
		size_t end = part == 0 ? split : len;

		while (pos < end && !c.done && !c.failed) {
			const uint8_t *d;
			size_t dl;
			size_t used = rc_chunked_feed(&c, in + pos, end - pos, &d, &dl);

			if (dl) {
				if (d < in + pos || d + dl > in + end)
					abort();	/* data outside the input */
				if (r->n + dl <= sizeof(r->out))
					memcpy(r->out + r->n, d, dl);
				r->n += dl;
			}
			pos += used;
			if (!used)
				break;
		}
	}
	r->used = pos;
	r->done = c.done;
	r->failed = c.failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result a, b;
	size_t split;

	if (!size)
		return 0;
	split = data[0] % size;
	decode(data + 1, size - 1, split < size - 1 ? split : size - 1, &a);
	decode(data + 1, size - 1, size - 1, &b);
	if (a.done != b.done || a.failed != b.failed || a.n != b.n ||
	    memcmp(a.out, b.out, a.n < sizeof(a.out) ? a.n : sizeof(a.out)))
		abort();
	if (a.done && a.used != b.used)
		abort();
	return 0;
}
