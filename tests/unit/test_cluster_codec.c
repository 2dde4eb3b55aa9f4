/* The cluster's pure parts (gateway/cluster/): the envelope in a message's
 * NATS headers, read back at a guard page, malformed ones refused; the
 * window that tells next, late, repeated and restarted numbers apart and
 * counts gaps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "envelope.h"
#include "guard.h"
#include "seqwin.h"

static int decode_at_guard(const char *block, struct rc_envelope *e)
{
	size_t n = strlen(block);
	char *g = guard_copy(block, n);
	int ret = rc_envelope_decode(g, n, e);

	guard_free(g, n);
	return ret;
}

Test(envelope, round_trip_at_a_guard_page)
{
	const struct rc_envelope in = { .origin = 0xfedcba9876543210ull, .epoch = 7,
					.seq = UINT64_MAX, .time_ns = 1764892800123456789ull };
	struct rc_envelope out;
	char buf[RC_ENVELOPE_MAX + 1];
	ssize_t n = rc_envelope_encode(buf, sizeof(buf) - 1, &in);

	cr_assert_gt(n, 0);
	cr_assert_leq(n, RC_ENVELOPE_MAX, "the longest envelope fits RC_ENVELOPE_MAX");
	buf[n] = '\0';
	cr_assert_str_eq(buf, "NATS/1.0\r\nRc: 1 fedcba9876543210 0000000000000007 "
			      "18446744073709551615 1764892800123456789\r\n\r\n");
	cr_assert_eq(decode_at_guard(buf, &out), 1);
	cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
}

Test(envelope, refuses_origin_zero_and_short_buffers)
{
	struct rc_envelope e = { .origin = 0, .seq = 1 };
	char buf[128];

	cr_assert_eq(rc_envelope_encode(buf, sizeof(buf), &e), -EINVAL);
	e.origin = 1;
	cr_assert_eq(rc_envelope_encode(buf, 20, &e), -ENOSPC);
}

Test(envelope, absent_other_version_and_malformed)
{
	static const char *const bad[] = {
		"NATS/1.0\r\nRc: 1 0123456789abcdef 0000000000000001 1\r\n\r\n",	/* 4 fields */
		"NATS/1.0\r\nRc: 1 0123456789abcdef 0000000000000001 1 2 3\r\n\r\n",	/* 6 */
		"NATS/1.0\r\nRc: 1 0123456789ABCDEF 0000000000000001 1 2\r\n\r\n",	/* upper */
		"NATS/1.0\r\nRc: 1 0123456789abcde 0000000000000001 1 2\r\n\r\n",	/* 15 */
		"NATS/1.0\r\nRc: 1 0000000000000000 0000000000000001 1 2\r\n\r\n",	/* origin 0 */
		"NATS/1.0\r\nRc: 1 0123456789abcdef 0000000000000001 -1 2\r\n\r\n",
		"NATS/1.0\r\nRc: 1 0123456789abcdef 0000000000000001 1 18446744073709551616\r\n\r\n",
		"NATS/1.0\r\nRc: 1 0123456789abcdef 0000000000000001 1 2",		/* no end */
		"NATS/1.0\r\nRc: \r\n\r\n",
	};
	struct rc_envelope e;

	cr_assert_eq(decode_at_guard("NATS/1.0\r\nOther: x\r\n\r\n", &e), 0, "absent");
	cr_assert_eq(decode_at_guard("NATS/1.0\r\nrc: 1 x\r\n\r\n", &e), 0, "keys are case-sensitive");
	cr_assert_eq(decode_at_guard("NATS/1.0\r\nRc: 2 anything at all\r\n\r\n", &e), 0,
		     "another version is not ours to read");
	cr_assert_eq(e.origin, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.seq = 99;
		cr_assert_eq(decode_at_guard(bad[i], &e), -EBADMSG, "malformed: %s", bad[i]);
		cr_assert_eq(e.seq, 0, "nothing half-read is left");
	}
	cr_assert_eq(decode_at_guard("NATS/1.0\r\nX: y\r\nRc:  1  0123456789abcdef  "
				     "0000000000000002  3  4 \r\n\r\n", &e), 1,
		     "blanks between fields");
	cr_assert_eq(e.origin, 0x0123456789abcdefull);
	cr_assert_eq(e.epoch, 2);
	cr_assert_eq(e.seq, 3);
	cr_assert_eq(e.time_ns, 4);
}

Test(envelope, every_prefix_of_a_block_is_safe)
{
	const struct rc_envelope in = { .origin = 3, .epoch = 4, .seq = 5, .time_ns = 6 };
	char buf[RC_ENVELOPE_MAX];
	ssize_t n = rc_envelope_encode(buf, sizeof(buf), &in);
	struct rc_envelope e;
	ssize_t line_end;

	cr_assert_gt(n, 0);
	/* The parser hands over whole blocks only (rc_nats_parse checks the
	 * blank line); any cut is still read without a byte past it, and one
	 * inside the Rc line never decodes. */
	line_end = (ssize_t)(strstr(buf + 10, "\r\n") - buf) + 2;
	for (ssize_t k = 0; k < n; k++) {
		char *g = guard_copy(buf, (size_t)k);
		int ret = rc_envelope_decode(g, (size_t)k, &e);

		if (k < line_end)
			cr_assert_neq(ret, 1, "a cut Rc line at %zd", k);
		guard_free(g, (size_t)k);
	}
}

static enum rc_seqwin_verdict take(struct rc_seqwin *w, uint64_t epoch, uint64_t seq,
				   uint64_t want_skipped)
{
	uint64_t skipped = 99;
	enum rc_seqwin_verdict v = rc_seqwin_take(w, epoch, seq, &skipped);

	cr_assert_eq(skipped, want_skipped, "seq %llu: skipped %llu, want %llu",
		     (unsigned long long)seq, (unsigned long long)skipped,
		     (unsigned long long)want_skipped);
	return v;
}

Test(seqwin, in_order_then_gap_late_repeat)
{
	struct rc_seqwin w = { 0 };

	cr_assert_eq(take(&w, 1, 100, 0), RC_SEQWIN_NEXT, "the first starts the window anywhere");
	cr_assert_eq(take(&w, 1, 101, 0), RC_SEQWIN_NEXT);
	cr_assert_eq(take(&w, 1, 105, 3), RC_SEQWIN_NEXT, "102-104 skipped");
	cr_assert_eq(take(&w, 1, 103, 0), RC_SEQWIN_LATE);
	cr_assert_eq(take(&w, 1, 103, 0), RC_SEQWIN_DUP, "a late one only once");
	cr_assert_eq(take(&w, 1, 105, 0), RC_SEQWIN_DUP);
	cr_assert_eq(take(&w, 1, 101, 0), RC_SEQWIN_DUP);
	cr_assert_eq(take(&w, 1, 106, 0), RC_SEQWIN_NEXT);
	cr_assert_eq(w.gaps, 1);
	cr_assert_eq(w.missing, 3);
	cr_assert_eq(w.late, 1);
	cr_assert_eq(w.dups, 3);
	cr_assert_eq(w.restarts, 0);
}

Test(seqwin, the_window_edge_and_big_jumps)
{
	struct rc_seqwin w = { 0 };

	take(&w, 9, 1, 0);
	cr_assert_eq(take(&w, 9, 1 + RC_SEQWIN_SPAN, RC_SEQWIN_SPAN - 1), RC_SEQWIN_NEXT);
	/* 2 is 63 behind the newest: still in the window, never seen. */
	cr_assert_eq(take(&w, 9, 2, 0), RC_SEQWIN_LATE);
	/* 1 is 64 behind: out of the window (and seen anyway). */
	cr_assert_eq(take(&w, 9, 1, 0), RC_SEQWIN_DUP);
	cr_assert_eq(take(&w, 9, 50000, 50000 - 2 - RC_SEQWIN_SPAN), RC_SEQWIN_NEXT,
		     "from 1 + SPAN");
	cr_assert_eq(take(&w, 9, 49999, 0), RC_SEQWIN_LATE, "the bits were cleared by the jump");
	cr_assert_eq(take(&w, 9, 50000 - RC_SEQWIN_SPAN, 0), RC_SEQWIN_DUP, "too old");
	cr_assert_eq(w.restarts, 0);
}

Test(seqwin, a_bogus_far_number_starts_a_history_instead_of_hiding_the_real_ones)
{
	struct rc_seqwin w = { 0 };

	take(&w, 5, 10, 0);
	cr_assert_eq(take(&w, 5, 10 + 2 * RC_SEQWIN_JUMP_MAX, 0), RC_SEQWIN_RESTART,
		     "a jump past RC_SEQWIN_JUMP_MAX is no gap of 65536");
	cr_assert_eq(w.missing, 0);
	cr_assert_eq(take(&w, 5, 11, 0), RC_SEQWIN_RESTART,
		     "the real numbers, as far behind, take over again at once");
	cr_assert_eq(take(&w, 5, 12, 0), RC_SEQWIN_NEXT);
	cr_assert_eq(take(&w, 5, 11, 0), RC_SEQWIN_DUP);
	cr_assert_eq(w.restarts, 2);
	cr_assert_eq(w.missing, 0);
}

Test(seqwin, a_new_epoch_is_a_restart_not_a_gap)
{
	struct rc_seqwin w = { 0 };

	take(&w, 1, 50, 0);
	cr_assert_eq(take(&w, 2, 1, 0), RC_SEQWIN_RESTART);
	cr_assert_eq(take(&w, 2, 2, 0), RC_SEQWIN_NEXT);
	cr_assert_eq(w.restarts, 1);
	cr_assert_eq(w.gaps, 0);
	rc_seqwin_reset(&w);
	cr_assert_eq(take(&w, 2, 70, 0), RC_SEQWIN_NEXT, "after a reset the window starts afresh");
	cr_assert_eq(w.restarts, 1);
}
