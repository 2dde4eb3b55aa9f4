/* Subscriber tokens: a channel with a token secret admits only subscribers
 * that present a token minted with that secret. Pure and allocation-free
 * (libcrypto's HMAC does the hashing); no clock, no I/O: the caller passes
 * the key and the current time.
 *
 * Text form (at most RC_TOKEN_MAX characters, all of them legal unescaped
 * in a URL query and in a Sec-WebSocket-Protocol value):
 *
 *     EXPIRY.CLIENT.MAC
 *
 *   EXPIRY  unix seconds, 1-19 decimal digits; the token is refused from
 *           that second on
 *   CLIENT  0-64 of A-Z a-z 0-9 _ -  (an optional client id; may be empty)
 *   MAC     base64url without padding (43 characters) of
 *           HMAC-SHA256(secret, "ringcast-token-v1" NUL CHANNEL NUL EXPIRY NUL CLIENT)
 *           over the exact EXPIRY and CLIENT text of the token
 *
 * The channel is not in the token: it is taken from the request, so a
 * token for one channel is useless on another.
 *
 * Scopes: a token minted for RC_TOKEN_UPLINK has "ringcast-uplink-v1" in
 * place of "ringcast-token-v1" in its MAC input. It admits a subscriber
 * as a plain token does, and also lets it send to the channel's publisher
 * (uplink); a plain token does not verify as an uplink one, nor the other
 * way round. */
#ifndef RC_TOKEN_H
#define RC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_TOKEN_CLIENT_MAX 64
#define RC_TOKEN_MAC_B64 43		/* base64url of 32 bytes, unpadded */
#define RC_TOKEN_EXPIRY_DIGITS 19	/* below 2^63 */
#define RC_TOKEN_MAX (RC_TOKEN_EXPIRY_DIGITS + 1 + RC_TOKEN_CLIENT_MAX + 1 + RC_TOKEN_MAC_B64)
#define RC_TOKEN_SECRET_MIN 16		/* bytes; shorter secrets are refused by config */
#define RC_TOKEN_SECRET_MAX 256

/* A token split into its parts; slices point into the parsed text. */
struct rc_token {
	uint64_t expiry;
	const char *expiry_text;
	size_t expiry_len;
	const char *client;
	size_t client_len;
	const char *mac;		/* RC_TOKEN_MAC_B64 characters */
};

enum rc_token_scope {
	RC_TOKEN_SUBSCRIBE,	/* receive the channel */
	RC_TOKEN_UPLINK,	/* receive, and send to its publisher */
};

/* Splits s[0..len) into its parts, checking only the syntax. Reads nothing
 * outside s[0..len). Returns 0, or -EINVAL when it is not a token. */
int rc_token_parse(const char *s, size_t len, struct rc_token *out);

/* Writes the token for (channel, expiry, client) signed with key into
 * dst[0..cap), NUL-terminated. client may be NULL or empty. Returns its
 * length without the NUL, -EINVAL (bad channel, client or key length) or
 * -ENOSPC (cap too small; RC_TOKEN_MAX + 1 always fits). */
int rc_token_mint(char *dst, size_t cap, const void *key, size_t key_len, const char *channel,
		  size_t channel_len, uint64_t expiry, const char *client, size_t client_len);

/* Checks the token s[0..len) for channel at time now (unix seconds): its
 * MAC under key (compared in constant time) and then its expiry. On 0,
 * *out (may be NULL) describes it. Returns 0, -EINVAL (not a token),
 * -EACCES (wrong MAC: another key or channel, or altered) or -ETIME
 * (expired: expiry <= now). */
int rc_token_verify(const char *s, size_t len, const void *key, size_t key_len,
		    const char *channel, size_t channel_len, uint64_t now, struct rc_token *out);

/* rc_token_mint() and rc_token_verify() for a scope (the plain ones are
 * RC_TOKEN_SUBSCRIBE's). */
int rc_token_mint_scope(enum rc_token_scope scope, char *dst, size_t cap, const void *key,
			size_t key_len, const char *channel, size_t channel_len, uint64_t expiry,
			const char *client, size_t client_len);
int rc_token_verify_scope(enum rc_token_scope scope, const char *s, size_t len, const void *key,
			  size_t key_len, const char *channel, size_t channel_len, uint64_t now,
			  struct rc_token *out);

/* Compares two secrets (stream keys) in time that depends only on their
 * lengths. True when equal. */
bool rc_token_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
