/* libFuzzer harness for the permessage-deflate negotiation
 * (ws/ws_deflate_offer.h). The input is one Sec-WebSocket-Extensions value,
 * read from an exact-size heap copy (ASan flags a read past it). Checks:
 * the result is 0 or -EINVAL and nothing is agreed on -EINVAL; an offer is
 * taken only when the value names permessage-deflate; and a declined
 * extension put in front ("x, ") changes nothing, since list elements are
 * read one by one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_deflate_offer.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static int run(const uint8_t *data, size_t len, struct rc_ws_deflate *d)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	check(copy != NULL);
	if (len)
		memcpy(copy, data, len);
	ret = rc_ws_deflate_negotiate(copy, len, d);
	free(copy);
	return ret;
}

/* True when data[0..len) holds "permessage-deflate" in any case. */
static int names_deflate(const uint8_t *data, size_t len)
{
	static const char name[] = "permessage-deflate";
	size_t n = sizeof(name) - 1;

	for (size_t i = 0; i + n <= len; i++) {
		size_t k = 0;

		while (k < n && (data[i + k] | 0x20) == (uint8_t)name[k])
			k++;
		if (k == n)
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_ws_deflate a, b;
	uint8_t *prefixed;
	int ra, rb;

	if (size > 4096)
		return 0;
	ra = run(data, size, &a);
	check(ra == 0 || ra == -EINVAL);
	check(ra == 0 || !a.on);
	check(!a.on || names_deflate(data, size));
	prefixed = malloc(size + 3);
	check(prefixed != NULL);
	memcpy(prefixed, "x, ", 3);
	if (size)
		memcpy(prefixed + 3, data, size);
	rb = run(prefixed, size + 3, &b);
	free(prefixed);
	check(ra == rb && a.on == b.on);
	return 0;
}
