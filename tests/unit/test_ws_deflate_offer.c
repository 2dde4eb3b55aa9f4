/* permessage-deflate negotiation (RFC 7692): which offers are taken, which
 * are declined, what is malformed, and the answer. Every header value is
 * read from a guard-page copy, so a read past its end crashes. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "ws_deflate_offer.h"

/* Negotiates s (as one header value) from a guard-page copy; returns the
 * result, *on what was agreed. */
static int negotiate(const char *s, bool *on)
{
	size_t len = strlen(s);
	char *g = guard_copy(s, len);
	struct rc_ws_deflate d = { .on = true };	/* must be reset */
	int ret = rc_ws_deflate_negotiate(g, len, &d);

	guard_free(g, len);
	*on = d.on;
	return ret;
}

static void taken(const char *s)
{
	bool on;
	int ret = negotiate(s, &on);

	cr_assert_eq(ret, 0, "'%s': %d", s, ret);
	cr_assert(on, "'%s' should be taken", s);
}

static void declined(const char *s)
{
	bool on;
	int ret = negotiate(s, &on);

	cr_assert_eq(ret, 0, "'%s': %d", s, ret);
	cr_assert(!on, "'%s' should be declined", s);
}

static void malformed(const char *s)
{
	bool on;
	int ret = negotiate(s, &on);

	cr_assert_eq(ret, -EINVAL, "'%s' is malformed: %d", s, ret);
	cr_assert(!on, "'%s': nothing agreed", s);
}

Test(ws_deflate_offer, what_browsers_offer_is_taken)
{
	taken("permessage-deflate; client_max_window_bits");	/* Chromium */
	taken("permessage-deflate");				/* Firefox */
	taken("PerMessage-Deflate");
	taken("permessage-deflate;client_max_window_bits=10");
	taken("permessage-deflate; server_no_context_takeover; client_no_context_takeover");
	taken("permessage-deflate; server_max_window_bits=15");
	taken("permessage-deflate; client_max_window_bits=\"12\"");
	taken("permessage-deflate \t ;\t client_max_window_bits = 9 ");
}

Test(ws_deflate_offer, the_first_acceptable_offer_wins_and_others_are_passed_over)
{
	/* A smaller server window cannot be honoured for a frame shared by
	 * every subscriber: the fallback offer after it is taken. */
	taken("permessage-deflate; server_max_window_bits=10, permessage-deflate");
	declined("permessage-deflate; server_max_window_bits=10");
	taken("x-webkit-deflate-frame, permessage-deflate");
	declined("x-webkit-deflate-frame; no_context_takeover");
	declined("foo, bar; baz=1");
	taken(", , permessage-deflate ,");
	declined("");
	declined("   ");
}

Test(ws_deflate_offer, bad_parameters_decline_the_offer)
{
	declined("permessage-deflate; client_max_window_bits=16");
	declined("permessage-deflate; client_max_window_bits=7");
	declined("permessage-deflate; client_max_window_bits=08");
	declined("permessage-deflate; client_max_window_bits=\"\"");
	declined("permessage-deflate; client_max_window_bits=\"1 0\"");
	declined("permessage-deflate; client_max_window_bits=99999999999999999999");
	declined("permessage-deflate; server_max_window_bits");
	declined("permessage-deflate; server_no_context_takeover=1");
	declined("permessage-deflate; client_no_context_takeover; client_no_context_takeover");
	declined("permessage-deflate; client_max_window_bits; client_max_window_bits=9");
	declined("permessage-deflate; x=1");
}

Test(ws_deflate_offer, grammar_errors_are_malformed)
{
	malformed(";");
	malformed("permessage-deflate;");
	malformed("permessage-deflate; =1");
	malformed("permessage-deflate; client_max_window_bits=");
	malformed("permessage-deflate; client_max_window_bits=\"10");
	malformed("permessage-deflate; client_max_window_bits=\"10\\");
	malformed("permessage-deflate client_max_window_bits");
	malformed("permessage-deflate, @");
	malformed("\"permessage-deflate\"");
	/* Even after an offer that would have been taken. */
	malformed("permessage-deflate, foo;");
}

Test(ws_deflate_offer, every_prefix_reads_inside_its_bytes)
{
	const char *s = "x-foo; a=\"q\\\"t\", permessage-deflate; client_max_window_bits=\"12\"; "
			"server_no_context_takeover";
	bool on;

	/* Each prefix ends at a guard page: any outcome, no read past it. */
	for (size_t n = 0; n <= strlen(s); n++) {
		char *g = guard_copy(s, n);
		struct rc_ws_deflate d;

		(void)rc_ws_deflate_negotiate(g, n, &d);
		guard_free(g, n);
	}
	cr_assert_eq(negotiate(s, &on), 0);
	cr_assert(on);
}

Test(ws_deflate_offer, the_answer)
{
	struct rc_ws_deflate on = { .on = true }, off = { .on = false };
	char buf[RC_WS_DEFLATE_RESPONSE_MAX];
	int n = rc_ws_deflate_response(&on, buf, sizeof(buf));

	cr_assert_str_eq(buf, "Sec-WebSocket-Extensions: permessage-deflate; "
			      "server_no_context_takeover; client_no_context_takeover\r\n");
	cr_assert_eq(n, (int)strlen(buf));
	cr_assert_eq(rc_ws_deflate_response(&off, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(rc_ws_deflate_response(&on, buf, 20), -ENOSPC);
}

/* An accepted offer that named server_max_window_bits gets it back
 * (RFC 7692 7.1.2.1); one that did not, does not. */
Test(ws_deflate_offer, an_accepted_server_window_is_echoed)
{
	const char *with = "permessage-deflate; server_max_window_bits=10, "
			   "permessage-deflate; server_max_window_bits=15";
	struct rc_ws_deflate d;
	char buf[RC_WS_DEFLATE_RESPONSE_MAX];
	int n;

	cr_assert_eq(rc_ws_deflate_negotiate(with, strlen(with), &d), 0);
	cr_assert(d.on && d.server_max_window_bits);
	n = rc_ws_deflate_response(&d, buf, sizeof(buf));
	cr_assert_str_eq(buf, "Sec-WebSocket-Extensions: permessage-deflate; "
			      "server_no_context_takeover; client_no_context_takeover; "
			      "server_max_window_bits=15\r\n");
	cr_assert_eq(n, (int)strlen(buf));
	cr_assert_eq(rc_ws_deflate_negotiate("permessage-deflate", 18, &d), 0);
	cr_assert(d.on && !d.server_max_window_bits);
	/* The first taken offer decides: a later one naming 15 does not. */
	cr_assert_eq(rc_ws_deflate_negotiate("permessage-deflate, permessage-deflate; "
					     "server_max_window_bits=15", 65, &d), 0);
	cr_assert(d.on && !d.server_max_window_bits);
}
