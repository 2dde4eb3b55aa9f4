/* The tree's one number parser: digits only, the whole input, within the
 * range, overflow refused; never a byte past the length it is given. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "guard.h"
#include "num.h"

/* Parses s (as len bytes that end at a guard page). */
static int parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s);
	char *g = guard_copy(s, len);
	int ret = rc_num_parse_u64n(g, len, min, max, out);

	guard_free(g, len);
	return ret;
}

Test(num, accepts_plain_decimal_in_range)
{
	uint64_t v = 7;

	cr_assert_eq(parse("0", 0, 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse("65535", 1, 65535, &v), 0);
	cr_assert_eq(v, 65535);
	cr_assert_eq(parse("18446744073709551615", 0, UINT64_MAX, &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(parse("007", 0, 10, &v), 0, "leading zeros are still decimal");
	cr_assert_eq(v, 7);
	cr_assert_eq(rc_num_parse_u64("4096", 1024, 1 << 20, &v), 0);
	cr_assert_eq(v, 4096);
}

Test(num, refuses_everything_else)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "1x", "0x10", "1e3", "1.5",
					   "18446744073709551616", "99999999999999999999999" };
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_lt(parse(bad[i], 0, UINT64_MAX, &v), 0, "'%s' accepted", bad[i]);
		cr_assert_eq(v, 42, "'%s' changed the output", bad[i]);
	}
	cr_assert_lt(parse("9", 10, 20, &v), 0, "under min");
	cr_assert_lt(parse("21", 10, 20, &v), 0, "over max");
	cr_assert_lt(rc_num_parse_u64(NULL, 0, 1, &v), 0);
}
