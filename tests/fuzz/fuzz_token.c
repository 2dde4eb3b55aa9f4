/* libFuzzer harness for subscriber tokens (gateway/token.c): any input is
 * parsed and verified without reading outside it, the answers agree with
 * each other, and a token minted from input-derived parts verifies until
 * its expiry and for its channel only. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

static const char key[] = "0123456789abcdef0123456789abcdef";

static void check(int cond)
{
	if (!cond)
		abort();
}

static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	return (const uint8_t *)p >= buf && (const uint8_t *)p + n <= buf + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	char tok[RC_TOKEN_MAX + 1], client[RC_TOKEN_CLIENT_MAX];
	struct rc_token t;
	uint64_t expiry = 0;
	size_t cl = 0;
	int p, v, n;

	p = rc_token_parse((const char *)data, size, &t);
	if (p == 0) {
		check(inside(t.expiry_text, t.expiry_len, data, size));
		check(inside(t.client, t.client_len, data, size));
		check(inside(t.mac, RC_TOKEN_MAC_B64, data, size));
		check(t.client_len <= RC_TOKEN_CLIENT_MAX && size <= RC_TOKEN_MAX);
	}
	v = rc_token_verify((const char *)data, size, key, sizeof(key) - 1, "live", 4,
			    1700000000, NULL);
	check(v == 0 || v == -EINVAL || v == -EACCES || v == -ETIME);
	check((p < 0) == (v == -EINVAL));

	/* Round trip from parts taken from the input. */
	for (size_t i = 0; i < 8 && i < size; i++)
		expiry = expiry << 8 | data[i];
	expiry %= 10000000000000000000ull;
	for (size_t i = 8; i < size && cl < sizeof(client); i++)
		client[cl++] = alphabet[data[i] % 64];
	n = rc_token_mint(tok, sizeof(tok), key, sizeof(key) - 1, "live", 4, expiry, client, cl);
	check(n > 0 && (size_t)n <= RC_TOKEN_MAX && strlen(tok) == (size_t)n);
	if (expiry)
		check(rc_token_verify(tok, (size_t)n, key, sizeof(key) - 1, "live", 4, expiry - 1,
				      NULL) == 0);
	check(rc_token_verify(tok, (size_t)n, key, sizeof(key) - 1, "live", 4, expiry, NULL) ==
	      -ETIME);
	check(rc_token_verify(tok, (size_t)n, key, sizeof(key) - 1, "livf", 4, 0, NULL) == -EACCES);
	return 0;
}
