#include "num.h"

#include <errno.h>
#include <string.h>

int rc_num_parse_u64n(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int rc_num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return s ? rc_num_parse_u64n(s, strlen(s), min, max, out) : -EINVAL;
}
