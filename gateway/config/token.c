/* Subscriber tokens. See token.h. */
#include "token.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "channel.h"

/* Domain separation: a MAC made for anything else with the same secret
 * (or a later token version) never verifies as a v1 token. */
/* What the MAC covers first, by scope: a token for one scope is no token
 * for the other. */
static const char *const mac_labels[] = {
	[RC_TOKEN_SUBSCRIBE] = "ringcast-token-v1",
	[RC_TOKEN_UPLINK] = "ringcast-uplink-v1",
};
#define MAC_LABEL_MAX sizeof("ringcast-uplink-v1")

static bool client_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool b64url_char(char c)
{
	return client_char(c);	/* the same alphabet */
}

int rc_token_parse(const char *s, size_t len, struct rc_token *out)
{
	size_t i = 0, start;
	uint64_t v = 0;

	memset(out, 0, sizeof(*out));
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (++i > RC_TOKEN_EXPIRY_DIGITS)
			return -EINVAL;
	}
	if (i == 0 || i >= len || s[i] != '.')
		return -EINVAL;
	out->expiry = v;
	out->expiry_text = s;
	out->expiry_len = i;
	start = ++i;
	while (i < len && client_char(s[i])) {
		if (i - start >= RC_TOKEN_CLIENT_MAX)
			return -EINVAL;
		i++;
	}
	if (i >= len || s[i] != '.')
		return -EINVAL;
	out->client = s + start;
	out->client_len = i - start;
	start = ++i;
	if (len - start != RC_TOKEN_MAC_B64)
		return -EINVAL;
	for (; i < len; i++)
		if (!b64url_char(s[i]))
			return -EINVAL;
	out->mac = s + start;
	return 0;
}

/* The MAC of (channel, expiry text, client) in base64url, unpadded, into
 * b64[RC_TOKEN_MAC_B64 + 2]. Returns 0 or -EINVAL. */
static int compute_mac(enum rc_token_scope scope, const void *key, size_t key_len,
		       const char *channel, size_t channel_len, const char *expiry,
		       size_t expiry_len, const char *client, size_t client_len, char *b64)
{
	unsigned char msg[MAC_LABEL_MAX + RC_CHANNEL_NAME_MAX + 1 + RC_TOKEN_EXPIRY_DIGITS + 1 +
			  RC_TOKEN_CLIENT_MAX];
	const char *label;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t n = 0;

	if ((unsigned)scope > RC_TOKEN_UPLINK || !key_len || key_len > RC_TOKEN_SECRET_MAX ||
	    !rc_channel_name_valid(channel, channel_len) || !expiry_len ||
	    expiry_len > RC_TOKEN_EXPIRY_DIGITS || client_len > RC_TOKEN_CLIENT_MAX)
		return -EINVAL;
	/* NUL separators: no part may contain one, so the split is unique. */
	label = mac_labels[scope];
	n = strlen(label) + 1;	/* with its NUL */
	memcpy(msg, label, n);
	memcpy(msg + n, channel, channel_len);
	n += channel_len;
	msg[n++] = '\0';
	memcpy(msg + n, expiry, expiry_len);
	n += expiry_len;
	msg[n++] = '\0';
	if (client_len)
		memcpy(msg + n, client, client_len);
	n += client_len;
	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, n, md, &md_len) || md_len != 32)
		return -EINVAL;
	/* 32 bytes -> 44 symbols with one '=' of padding, plus a NUL. */
	EVP_EncodeBlock((unsigned char *)b64, md, 32);
	for (size_t i = 0; i < RC_TOKEN_MAC_B64; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	b64[RC_TOKEN_MAC_B64] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int rc_token_mint(char *dst, size_t cap, const void *key, size_t key_len, const char *channel,
		  size_t channel_len, uint64_t expiry, const char *client, size_t client_len)
{
	return rc_token_mint_scope(RC_TOKEN_SUBSCRIBE, dst, cap, key, key_len, channel, channel_len,
				   expiry, client, client_len);
}

int rc_token_mint_scope(enum rc_token_scope scope, char *dst, size_t cap, const void *key,
			size_t key_len, const char *channel, size_t channel_len, uint64_t expiry,
			const char *client, size_t client_len)
{
	char exp[RC_TOKEN_EXPIRY_DIGITS + 1];
	char mac[RC_TOKEN_MAC_B64 + 2];
	size_t el = 0, total;
	uint64_t v = expiry;

	if (!client)
		client_len = 0;
	for (size_t i = 0; i < client_len; i++)
		if (!client_char(client[i]))
			return -EINVAL;
	if (expiry >= 10000000000000000000ull)	/* 20 digits */
		return -EINVAL;
	do {
		exp[el++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < el / 2; i++) {
		char t = exp[i];

		exp[i] = exp[el - 1 - i];
		exp[el - 1 - i] = t;
	}
	if (compute_mac(scope, key, key_len, channel, channel_len, exp, el, client, client_len,
			mac) < 0)
		return -EINVAL;
	total = el + 1 + client_len + 1 + RC_TOKEN_MAC_B64;
	if (cap < total + 1)
		return -ENOSPC;
	memcpy(dst, exp, el);
	dst[el] = '.';
	if (client_len)
		memcpy(dst + el + 1, client, client_len);
	dst[el + 1 + client_len] = '.';
	memcpy(dst + el + 2 + client_len, mac, RC_TOKEN_MAC_B64);
	dst[total] = '\0';
	return (int)total;
}

int rc_token_verify(const char *s, size_t len, const void *key, size_t key_len,
		    const char *channel, size_t channel_len, uint64_t now, struct rc_token *out)
{
	return rc_token_verify_scope(RC_TOKEN_SUBSCRIBE, s, len, key, key_len, channel, channel_len,
				     now, out);
}

int rc_token_verify_scope(enum rc_token_scope scope, const char *s, size_t len, const void *key,
			  size_t key_len, const char *channel, size_t channel_len, uint64_t now,
			  struct rc_token *out)
{
	struct rc_token t;
	char mac[RC_TOKEN_MAC_B64 + 2];

	if (rc_token_parse(s, len, &t) < 0)
		return -EINVAL;
	if (compute_mac(scope, key, key_len, channel, channel_len, t.expiry_text, t.expiry_len,
			t.client, t.client_len, mac) < 0)
		return -EINVAL;
	/* Constant time: a byte-by-byte early exit would let a client find
	 * a valid MAC one character at a time from response timing. */
	if (CRYPTO_memcmp(mac, t.mac, RC_TOKEN_MAC_B64) != 0)
		return -EACCES;
	/* Expiry after the MAC, so that a forged token cannot probe the
	 * clock and every answer on a wrong token is the same. */
	if (t.expiry <= now)
		return -ETIME;
	if (out)
		*out = t;
	return 0;
}

bool rc_token_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
	return a_len == b_len && CRYPTO_memcmp(a, b, a_len) == 0;
}
