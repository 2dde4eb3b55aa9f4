#include "static_path.h"

#include <errno.h>
#include <string.h>

#include "num.h"

/* The bytes a file name may contain. A whitelist rather than a list of
 * dangerous bytes: anything a file system, a shell or a browser treats
 * specially (\ : * ? " < > | % ; NUL, controls, non-ASCII) is simply out. */
static bool name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '@' || c == '+';
}

int rc_static_path_clean(const char *path, size_t len, char *out, size_t cap, size_t *out_len)
{
	size_t n = 0;
	bool seg_start = true;	/* the next byte starts a segment */

	if (cap == 0)
		return -ENAMETOOLONG;
	if (len == 0 || path[0] != '/')
		return -EINVAL;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c == '/') {
			/* Only a literal slash separates; it may not follow
			 * another one (an empty segment). */
			if (seg_start)
				return -EINVAL;
			seg_start = true;
		} else {
			if (c == '%') {
				int hi, lo;

				if (len - i < 3)
					return -EINVAL;
				hi = rc_num_hex_digit(path[i + 1]);
				lo = rc_num_hex_digit(path[i + 2]);
				if (hi < 0 || lo < 0)
					return -EINVAL;
				c = (unsigned char)(hi << 4 | lo);
				i += 2;
			}
			/* A decoded '/' or '%' fails here too. */
			if (!name_byte(c) || (seg_start && c == '.'))
				return -EINVAL;
			seg_start = false;
		}
		if (n + 1 >= cap || n >= RC_STATIC_PATH_MAX)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	if (seg_start) {
		size_t il = sizeof(RC_STATIC_INDEX) - 1;

		if (n + il >= cap || n + il > RC_STATIC_PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(out + n, RC_STATIC_INDEX, il);
		n += il;
	}
	out[n] = '\0';
	*out_len = n;
	return 0;
}

bool rc_static_name_ok(const char *name, size_t len)
{
	bool seg_start = true;

	if (len == 0 || len > RC_STATIC_PATH_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/') {
			if (seg_start)
				return false;
			seg_start = true;
			continue;
		}
		if (!name_byte(c) || (seg_start && c == '.'))
			return false;
		seg_start = false;
	}
	return !seg_start;
}
