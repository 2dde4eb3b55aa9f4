#include "utf8_ref.h"

enum verdict utf8_reference(const uint8_t *s, size_t len)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < len) {
		uint32_t cp, lo, hi;
		size_t n, k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = s[i] & 0x07;
		} else {
			return INVALID;
		}
		for (k = 1; k < n && i + k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return INVALID;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		lo = cp << 6 * (n - k);
		hi = lo | ((1u << 6 * (n - k)) - 1);
		if (lo < min_cp[n])
			lo = min_cp[n];
		if (hi > 0x10ffff)
			hi = 0x10ffff;
		if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff))
			return INVALID;
		if (k < n)
			return INCOMPLETE;
		i += n;
	}
	return VALID;
}
