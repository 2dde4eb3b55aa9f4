/* libFuzzer harness for rc_sse_id_parse (a client's Last-Event-ID) and
 * rc_sse_id_epoch (a ?epoch= query): never read out of bounds, and
 * whatever the first accepts prints back, through rc_sse_id_line, as an id
 * it parses to the same position. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse_id.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the end. */
	char *in = malloc(size ? size : 1);
	char line[RC_SSE_ID_LINE_MAX + 1];
	uint64_t epoch = 0, seq = 0, e2 = 0, s2 = 0;
	size_t n;

	check(in != NULL);
	memcpy(in, data, size);
	/* An epoch alone (a ?epoch= query) is the id's first 16 bytes. */
	if (rc_sse_id_epoch(in, size, &e2)) {
		check(size == 16);
		check(rc_sse_id_epoch(in, 16, &epoch) && epoch == e2);
	}
	if (rc_sse_id_parse(in, size, &epoch, &seq)) {
		n = rc_sse_id_line(line, epoch, seq);
		check(n > 5 && n <= RC_SSE_ID_LINE_MAX && line[n - 1] == '\n' && line[n] == '\0');
		check(memcmp(line, "id: ", 4) == 0);
		check(rc_sse_id_parse(line + 4, n - 5, &e2, &s2));
		check(e2 == epoch && s2 == seq);
	}
	free(in);
	return 0;
}
