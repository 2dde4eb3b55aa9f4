/* Subscriber tokens (gateway/token.c): syntax, mint/verify round trips, a
 * known answer computed with the openssl command line, every refusal, and
 * input that ends at a guard page. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "token.h"

static const char key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof(key) - 1)

/* printf 'ringcast-token-v1\0live\0001700000000\0alice' |
 *   openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef0123456789abcdef -binary |
 *   basenc --base64url */
static const char kat[] = "1700000000.alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg";

/* Verifies text through a guard-page copy, so any read past its end faults. */
static int verify_guarded(const char *text, size_t len, const char *channel, uint64_t now)
{
	char *g = guard_copy(text, len ? len : 1);
	int r = rc_token_verify(g, len, key, KEY_LEN, channel, strlen(channel), now, NULL);

	guard_free(g, len ? len : 1);
	return r;
}

Test(token, known_answer)
{
	char buf[RC_TOKEN_MAX + 1];
	int n = rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "live", 4, 1700000000, "alice", 5);

	cr_assert_eq(n, (int)strlen(kat));
	cr_assert_str_eq(buf, kat);
	cr_assert_eq(verify_guarded(kat, strlen(kat), "live", 1699999999), 0);
}

Test(token, round_trip_and_parts)
{
	char buf[RC_TOKEN_MAX + 1];
	struct rc_token t;
	int n = rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "game.1", 6, 42, NULL, 0);

	cr_assert_gt(n, 0);
	cr_assert_eq(rc_token_verify(buf, (size_t)n, key, KEY_LEN, "game.1", 6, 41, &t), 0);
	cr_assert_eq(t.expiry, 42);
	cr_assert_eq(t.client_len, 0);
	cr_assert_eq(memcmp(buf, "42..", 4), 0);
	/* The longest token fits RC_TOKEN_MAX exactly. */
	{
		char client[RC_TOKEN_CLIENT_MAX];

		memset(client, 'z', sizeof(client));
		n = rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "live", 4, 9999999999999999999ull,
				  client, sizeof(client));
		cr_assert_eq(n, RC_TOKEN_MAX);
		cr_assert_eq(verify_guarded(buf, (size_t)n, "live", 0), 0);
		cr_assert_eq(rc_token_mint(buf, RC_TOKEN_MAX, key, KEY_LEN, "live", 4,
					   9999999999999999999ull, client, sizeof(client)), -ENOSPC);
	}
}

Test(token, refusals)
{
	char buf[RC_TOKEN_MAX + 8];
	size_t n = strlen(kat);

	/* Expired: from the expiry second on. */
	cr_assert_eq(verify_guarded(kat, n, "live", 1700000000), -ETIME);
	cr_assert_eq(verify_guarded(kat, n, "live", 1800000000), -ETIME);
	/* Another channel, another key. */
	cr_assert_eq(verify_guarded(kat, n, "live2", 0), -EACCES);
	cr_assert_eq(rc_token_verify(kat, n, "another key of 16+", 18, "live", 4, 0, NULL), -EACCES);
	/* Every altered character is caught: expiry, client, MAC. */
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, kat, n);
		if (buf[i] == '.')
			continue;
		buf[i] = buf[i] == '1' ? '2' : buf[i] == 'A' ? 'B' : (buf[i] >= '0' && buf[i] <= '9') ? '1' : 'A';
		cr_assert_neq(verify_guarded(buf, n, "live", 0), 0, "changed at %zu: %.*s", i, (int)n, buf);
	}
	/* A stale expiry cannot be pushed forward. */
	memcpy(buf, kat, n);
	buf[0] = '2';
	cr_assert_eq(verify_guarded(buf, n, "live", 1700000000), -EACCES);
}

Test(token, syntax)
{
	static const char *bad[] = {
		"",
		".",
		"..",
		"1..",
		"1.a.",
		"x.a.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		".alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		"1700000000.alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hC",
		"1700000000.alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg=",
		"1700000000.alice.vSf+l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		"1700000000.al ce.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		"1700000000.al.ce.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		"12345678901234567890.alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
		"1700000000alice.vSf-l8jJeFDxxDm1ubT89SgWgrn1v_s0UVF-jeE2hCg",
	};
	char longc[200];
	struct rc_token t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		char *g = guard_copy(bad[i], len ? len : 1);

		cr_assert_eq(rc_token_parse(g, len, &t), -EINVAL, "'%s'", bad[i]);
		guard_free(g, len ? len : 1);
		cr_assert_eq(verify_guarded(bad[i], len, "live", 0), -EINVAL, "'%s'", bad[i]);
	}
	/* Every prefix of a good token is refused without reading past it. */
	for (size_t len = 0; len < strlen(kat); len++)
		cr_assert_eq(verify_guarded(kat, len, "live", 0), -EINVAL, "prefix %zu", len);
	/* A 65-character client id. */
	snprintf(longc, sizeof(longc), "1.%065d.%s", 0, kat + 17);
	cr_assert_eq(rc_token_parse(longc, strlen(longc), &t), -EINVAL);
}

Test(token, mint_arguments)
{
	char buf[RC_TOKEN_MAX + 1];

	cr_assert_eq(rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "bad/name", 8, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "live", 4, 1, "a.b", 3), -EINVAL);
	cr_assert_eq(rc_token_mint(buf, sizeof(buf), key, 0, "live", 4, 1, NULL, 0), -EINVAL);
	cr_assert_eq(rc_token_mint(buf, sizeof(buf), key, KEY_LEN, "live", 4,
				   10000000000000000000ull, NULL, 0), -EINVAL);
	cr_assert_eq(rc_token_mint(buf, 10, key, KEY_LEN, "live", 4, 1, NULL, 0), -ENOSPC);
}

Test(token, secret_equal)
{
	cr_assert(rc_token_secret_equal("abc", 3, "abc", 3));
	cr_assert(!rc_token_secret_equal("abc", 3, "abd", 3));
	cr_assert(!rc_token_secret_equal("abc", 3, "abcd", 4));
	cr_assert(rc_token_secret_equal("", 0, "", 0));
}

Test(token, scopes_do_not_mix)
{
	static const char key[] = "0123456789abcdef0123";
	char plain[RC_TOKEN_MAX + 1], up[RC_TOKEN_MAX + 1];
	int n1 = rc_token_mint(plain, sizeof(plain), key, sizeof(key) - 1, "game", 4, 2000000000,
			       "p1", 2);
	int n2 = rc_token_mint_scope(RC_TOKEN_UPLINK, up, sizeof(up), key, sizeof(key) - 1, "game",
				     4, 2000000000, "p1", 2);

	cr_assert(n1 > 0 && n2 > 0 && n1 == n2);
	cr_assert(strcmp(plain, up) != 0, "the MACs differ");
	cr_assert_eq(rc_token_verify(plain, (size_t)n1, key, sizeof(key) - 1, "game", 4, 1000, NULL),
		     0);
	cr_assert_eq(rc_token_verify_scope(RC_TOKEN_UPLINK, up, (size_t)n2, key, sizeof(key) - 1,
					   "game", 4, 1000, NULL), 0);
	/* Neither passes for the other scope. */
	cr_assert_eq(rc_token_verify_scope(RC_TOKEN_UPLINK, plain, (size_t)n1, key,
					   sizeof(key) - 1, "game", 4, 1000, NULL), -EACCES);
	cr_assert_eq(rc_token_verify(up, (size_t)n2, key, sizeof(key) - 1, "game", 4, 1000, NULL),
		     -EACCES);
	cr_assert_eq(rc_token_verify_scope((enum rc_token_scope)7, up, (size_t)n2, key,
					   sizeof(key) - 1, "game", 4, 1000, NULL), -EINVAL);
}
