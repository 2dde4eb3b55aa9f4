/* RFC 6455 opening handshake, server side: request checks and the answer. */
#ifndef RC_WS_HANDSHAKE_H
#define RC_WS_HANDSHAKE_H

#include <stddef.h>

#include "http_request.h"

#define RC_WS_ACCEPT_LEN 28	/* base64 of a SHA-1 digest */

/* Computes Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)),
 * using libcrypto. out receives RC_WS_ACCEPT_LEN characters and a NUL.
 * Returns 0, or -EINVAL when key is not the base64 form of 16 bytes. */
int rc_ws_accept_key(const char *key, size_t key_len, char out[RC_WS_ACCEPT_LEN + 1]);

/* True when the request asks for a WebSocket upgrade at all (Upgrade header
 * contains the token "websocket"). */
int rc_ws_is_upgrade(const struct rc_http_request *req);

/* Validates an upgrade request: GET, HTTP/1.1, Upgrade: websocket,
 * Connection: upgrade, Sec-WebSocket-Version: 13 and a valid key.
 * On success returns 0 and writes the accept value to accept_out.
 * Returns -EPROTONOSUPPORT when the version is not 13 (answer 426 with
 * "Sec-WebSocket-Version: 13"), -EBADMSG for anything else (answer 400). */
int rc_ws_handshake_check(const struct rc_http_request *req,
			  char accept_out[RC_WS_ACCEPT_LEN + 1]);

/* Writes the "101 Switching Protocols" answer for accept into dst (cap bytes),
 * NUL-terminated. Returns its length without the NUL, or -ENOSPC when it and
 * the NUL do not fit. */
int rc_ws_handshake_response(char *dst, size_t cap, const char accept[RC_WS_ACCEPT_LEN + 1]);

#endif
