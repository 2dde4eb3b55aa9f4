#include "sse_id.h"

#include <stdio.h>

#include "num.h"

size_t rc_sse_id_line(char *dst, uint64_t epoch, uint64_t seq)
{
	int n = snprintf(dst, RC_SSE_ID_LINE_MAX + 1, "id: %016llx:%llu\n",
			 (unsigned long long)epoch, (unsigned long long)seq);

	return n > 0 ? (size_t)n : 0;
}

bool rc_sse_id_epoch(const char *value, size_t len, uint64_t *epoch)
{
	uint64_t e = 0;

	if (len != 16)
		return false;
	for (size_t i = 0; i < 16; i++) {
		int d = rc_num_hex_digit(value[i]);

		if (d < 0)
			return false;
		e = e << 4 | (uint64_t)d;
	}
	*epoch = e;
	return true;
}

bool rc_sse_id_parse(const char *value, size_t len, uint64_t *epoch, uint64_t *seq)
{
	uint64_t e, s;

	if (len < 18 || value[16] != ':' || !rc_sse_id_epoch(value, 16, &e))
		return false;
	if (rc_num_parse_u64n(value + 17, len - 17, 0, UINT64_MAX, &s) < 0)
		return false;
	*epoch = e;
	*seq = s;
	return true;
}
