/* The one number parser of the tree: command-line options, the config
 * file, per-channel settings and the tools all accept exactly the same
 * numbers. Pure and allocation-free. */
#ifndef RC_NUM_H
#define RC_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len), all of it, as a decimal number from min to max: digits
 * only (no sign, no blanks, no base prefix), overflow refused. Returns 0 with
 * *out set, or -EINVAL (*out untouched). */
int rc_num_parse_u64n(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out);

/* The same for the NUL-terminated string s (NULL is refused). */
int rc_num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The value of hex digit c (either case), or -1. */
static inline int rc_num_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
