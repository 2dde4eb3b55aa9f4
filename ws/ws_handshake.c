/* RFC 6455 opening handshake, server side; see ws_handshake.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "http_parse.h"
#include "ws_handshake.h"

/* RFC 6455 1.3: appended to the client's key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* A 16-byte nonce in base64 is 22 symbols and "==". */
#define WS_KEY_LEN 24

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int rc_ws_accept_key(const char *key, size_t key_len, char out[RC_WS_ACCEPT_LEN + 1])
{
	unsigned char nonce[18];	/* 24 base64 symbols decode to 18 bytes */
	unsigned char digest[SHA_DIGEST_LENGTH];
	unsigned char buf[WS_KEY_LEN + sizeof(ws_guid) - 1];
	size_t i;

	if (key_len != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
		return -EINVAL;
	/* Checked here because EVP_DecodeBlock() tolerates surrounding
	 * whitespace, and the length alone says nothing about the symbols. */
	for (i = 0; i < 22; i++) {
		if (!is_b64(key[i]))
			return -EINVAL;
	}
	/* The nonce itself is not needed, only the proof that it is base64 of
	 * 16 bytes; EVP_DecodeBlock() counts the two padding bytes too. */
	if (EVP_DecodeBlock(nonce, (const unsigned char *)key, WS_KEY_LEN) != 18)
		return -EINVAL;
	memcpy(buf, key, WS_KEY_LEN);
	memcpy(buf + WS_KEY_LEN, ws_guid, sizeof(ws_guid) - 1);
	SHA1(buf, sizeof(buf), digest);
	/* 20 bytes encode to exactly RC_WS_ACCEPT_LEN symbols plus a NUL. */
	EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
	return 0;
}

/* True when any header called `name` lists `token`: a list-valued header may
 * be split over several header lines (RFC 9110 5.3). */
static bool any_has_token(const struct rc_http_request *req, const char *name,
			  const char *token)
{
	size_t i;

	for (i = 0; i < req->num_headers; i++) {
		const struct rc_http_header *h = &req->headers[i];

		if (rc_http_equals_nocase(h->name, h->name_len, name) &&
		    rc_http_header_has_token(h, token))
			return true;
	}
	return false;
}

static size_t count_headers(const struct rc_http_request *req, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < req->num_headers; i++) {
		if (rc_http_equals_nocase(req->headers[i].name, req->headers[i].name_len, name))
			n++;
	}
	return n;
}

int rc_ws_is_upgrade(const struct rc_http_request *req)
{
	return any_has_token(req, "Upgrade", "websocket");
}

int rc_ws_handshake_check(const struct rc_http_request *req,
			  char accept_out[RC_WS_ACCEPT_LEN + 1])
{
	const struct rc_http_header *version, *key;

	/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
		return -EBADMSG;
	if (req->minor_version != 1)
		return -EBADMSG;
	if (!rc_ws_is_upgrade(req) || !any_has_token(req, "Connection", "upgrade"))
		return -EBADMSG;
	/* A missing version is a malformed request; a different one is a client
	 * that may retry with 13 after the 426 answer. */
	version = rc_http_find_header(req, "Sec-WebSocket-Version");
	if (!version)
		return -EBADMSG;
	if (version->value_len != 2 || memcmp(version->value, "13", 2) != 0)
		return -EPROTONOSUPPORT;
	/* RFC 6455 11.3.1: the key must not appear more than once. */
	if (count_headers(req, "Sec-WebSocket-Key") != 1)
		return -EBADMSG;
	key = rc_http_find_header(req, "Sec-WebSocket-Key");
	if (rc_ws_accept_key(key->value, key->value_len, accept_out) != 0)
		return -EBADMSG;
	return 0;
}

int rc_ws_handshake_response(char *dst, size_t cap, const char accept[RC_WS_ACCEPT_LEN + 1])
{
	int n;

	n = snprintf(dst, cap,
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %.*s\r\n"
		     "\r\n",
		     RC_WS_ACCEPT_LEN, accept);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
