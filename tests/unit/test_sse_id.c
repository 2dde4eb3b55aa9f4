/* SSE event ids (a channel's position): what the server writes parses
 * back; what a client may send that is not one is refused, every input
 * ending at a guard page. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "guard.h"
#include "sse_id.h"

static bool parse(const char *s, uint64_t *epoch, uint64_t *seq)
{
	size_t n = strlen(s);
	char *g = guard_copy(s, n);
	bool ok = rc_sse_id_parse(g, n, epoch, seq);

	guard_free(g, n);
	return ok;
}

Test(sse_id, the_line_written_parses_back)
{
	static const uint64_t cases[][2] = {
		{ 1, 0 }, { 0x0123456789abcdefull, 1 }, { UINT64_MAX, UINT64_MAX }, { 0x10, 42 },
	};
	char line[RC_SSE_ID_LINE_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t e = 0, s = 0;
		size_t n = rc_sse_id_line(line, cases[i][0], cases[i][1]);

		cr_assert(n <= RC_SSE_ID_LINE_MAX && line[n] == '\0');
		cr_assert_eq(memcmp(line, "id: ", 4), 0);
		cr_assert_eq(line[n - 1], '\n');
		line[n - 1] = '\0';
		cr_assert(parse(line + 4, &e, &s), "%s", line);
		cr_assert_eq(e, cases[i][0]);
		cr_assert_eq(s, cases[i][1]);
	}
	rc_sse_id_line(line, 0x10, 42);
	cr_assert_str_eq(line, "id: 0000000000000010:42\n", "16 hex digits, zero-padded");
}

Test(sse_id, upper_case_hex_is_accepted)
{
	uint64_t e, s;

	cr_assert(parse("0123456789ABCDEF:7", &e, &s));
	cr_assert_eq(e, 0x0123456789abcdefull);
	cr_assert_eq(s, 7);
}

Test(sse_id, an_epoch_alone)
{
	uint64_t e = 9;
	size_t n = 16;
	char *g = guard_copy("00000000000000aB", n);

	cr_assert(rc_sse_id_epoch(g, n, &e));
	cr_assert_eq(e, 0xab);
	guard_free(g, n);
	e = 9;
	g = guard_copy("00000000000000a", 15);
	cr_assert(!rc_sse_id_epoch(g, 15, &e), "15 digits");
	guard_free(g, 15);
	g = guard_copy("00000000000000a0:", 17);
	cr_assert(!rc_sse_id_epoch(g, 17, &e), "17 bytes");
	guard_free(g, 17);
	g = guard_copy("00000000000000ag", 16);
	cr_assert(!rc_sse_id_epoch(g, 16, &e), "not hex");
	guard_free(g, 16);
	cr_assert_eq(e, 9, "refusals leave the output alone");
}

Test(sse_id, anything_else_is_refused)
{
	static const char *bad[] = {
		"", ":", "0123456789abcdef", "0123456789abcdef:", "0123456789abcde:1",
		"0123456789abcdef0:1", "0123456789abcdeg:1", "0123456789abcdef:-1",
		"0123456789abcdef:+1", "0123456789abcdef: 1", "0123456789abcdef:1 ",
		"0123456789abcdef:18446744073709551616", "0123456789abcdef:1:2",
		"x123456789abcdef:1", "0123456789abcdef;1",
	};
	uint64_t e = 5, s = 6;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert(!parse(bad[i], &e, &s), "accepted '%s'", bad[i]);
		cr_assert(e == 5 && s == 6, "'%s' changed the outputs", bad[i]);
	}
}
