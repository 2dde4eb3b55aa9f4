/* Opening handshake: accept key, request checks, 101 answer. Requests are
 * parsed with rc_http_parse_request() from guard-page copies. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "http_parse.h"
#include "ws_handshake.h"

static struct rc_http_request req;
static char *cur;
static size_t cur_len;

static void release(void)
{
	if (cur)
		guard_free(cur, cur_len);
	cur = NULL;
}

/* Parses s (must be a complete head) into req, kept valid for the test. */
static const struct rc_http_request *parse(const char *s)
{
	size_t len = strlen(s);

	release();
	cur = guard_copy(s, len);
	cur_len = len;
	cr_assert_eq(rc_http_parse_request(cur, len, 8192, &req), (int)len, "request: %s", s);
	return &req;
}

static int check(const char *s)
{
	char accept[RC_WS_ACCEPT_LEN + 1];

	return rc_ws_handshake_check(parse(s), accept);
}

TestSuite(ws_handshake, .fini = release);

/* RFC 6455 1.3 sample key and answer. */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int accept_of(const char *key, char out[RC_WS_ACCEPT_LEN + 1])
{
	size_t len = strlen(key);
	char *g = guard_copy(key, len);
	int rc = rc_ws_accept_key(g, len, out);

	guard_free(g, len);
	return rc;
}

Test(ws_handshake, accept_key_rfc_sample)
{
	char out[RC_WS_ACCEPT_LEN + 1];

	memset(out, 'x', sizeof(out));
	cr_assert_eq(accept_of(SAMPLE_KEY, out), 0);
	cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	cr_assert_eq(strlen(out), RC_WS_ACCEPT_LEN);
}

Test(ws_handshake, accept_key_other)
{
	char out[RC_WS_ACCEPT_LEN + 1];

	/* A second key; the answer was computed independently with
	 * printf '<key><GUID>' | openssl sha1 -binary | base64. */
	cr_assert_eq(accept_of("x3JJHMbDL1EzLkh9GBhXDw==", out), 0);
	cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

Test(ws_handshake, accept_key_invalid)
{
	char out[RC_WS_ACCEPT_LEN + 1];

	cr_assert_eq(accept_of("", out), -EINVAL);
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZQ=", out), -EINVAL);	/* 23 */
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZQ===", out), -EINVAL);	/* 25 */
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZQ", out), -EINVAL);
	/* Right length, wrong symbols or padding. */
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZ!==", out), -EINVAL);
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25j ==", out), -EINVAL);
	cr_assert_eq(accept_of(" dGhlIHNhbXBsZSBub25jZQ=", out), -EINVAL);
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZQ=A", out), -EINVAL);
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZQAA", out), -EINVAL);	/* 18 bytes */
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub2=jZQ==", out), -EINVAL);
	cr_assert_eq(accept_of("dGhlIHNhbXBsZSBub25jZ-_==", out), -EINVAL);	/* base64url */
}

#define BROWSER_REQUEST(version_line) \
	"GET /ws/live?channel=1 HTTP/1.1\r\n" \
	"Host: gateway.example.com:8443\r\n" \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" \
	"Accept: */*\r\n" \
	"Accept-Language: en-US,en;q=0.5\r\n" \
	"Accept-Encoding: gzip, deflate, br\r\n" \
	version_line \
	"Origin: https://example.com\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate\r\n" \
	"Sec-WebSocket-Key: " SAMPLE_KEY "\r\n" \
	"Connection: keep-alive, Upgrade\r\n" \
	"Sec-Fetch-Dest: websocket\r\n" \
	"Sec-Fetch-Mode: websocket\r\n" \
	"Pragma: no-cache\r\n" \
	"Cache-Control: no-cache\r\n" \
	"Upgrade: websocket\r\n" \
	"\r\n"

Test(ws_handshake, check_browser_request)
{
	char accept[RC_WS_ACCEPT_LEN + 1];

	parse(BROWSER_REQUEST("Sec-WebSocket-Version: 13\r\n"));
	cr_assert_eq(rc_ws_is_upgrade(&req), 1);
	cr_assert_eq(rc_ws_handshake_check(&req, accept), 0);
	cr_assert_str_eq(accept, SAMPLE_ACCEPT);
}

Test(ws_handshake, check_minimal_request_any_case)
{
	char accept[RC_WS_ACCEPT_LEN + 1];

	parse("GET /chat HTTP/1.1\r\n"
	      "host: server.example.com\r\n"
	      "upgrade: WebSocket\r\n"
	      "CONNECTION: UPGRADE\r\n"
	      "sec-websocket-key:" SAMPLE_KEY "  \r\n"
	      "sec-websocket-version: 13\r\n"
	      "\r\n");
	cr_assert_eq(rc_ws_handshake_check(&req, accept), 0);
	cr_assert_str_eq(accept, SAMPLE_ACCEPT);
}

Test(ws_handshake, connection_token_split_over_headers)
{
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			   "Connection: keep-alive\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"), 0);
}

Test(ws_handshake, not_an_upgrade)
{
	parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
	cr_assert_eq(rc_ws_is_upgrade(&req), 0);
	parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websockets\r\n\r\n");
	cr_assert_eq(rc_ws_is_upgrade(&req), 0);
	parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: foo/1, WebSocket\r\n\r\n");
	cr_assert_eq(rc_ws_is_upgrade(&req), 1);
}

Test(ws_handshake, missing_upgrade_or_connection)
{
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrades\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
}

Test(ws_handshake, version)
{
	cr_assert_eq(check(BROWSER_REQUEST("Sec-WebSocket-Version: 8\r\n")), -EPROTONOSUPPORT);
	cr_assert_eq(check(BROWSER_REQUEST("Sec-WebSocket-Version: 14\r\n")), -EPROTONOSUPPORT);
	cr_assert_eq(check(BROWSER_REQUEST("Sec-WebSocket-Version: 13, 8\r\n")), -EPROTONOSUPPORT);
	cr_assert_eq(check(BROWSER_REQUEST("Sec-WebSocket-Version:  13 \r\n")), 0);
	/* Missing altogether: malformed, not a version mismatch. */
	cr_assert_eq(check(BROWSER_REQUEST("")), -EBADMSG);
}

Test(ws_handshake, method_and_http_version)
{
	cr_assert_eq(check("POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("get / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
}

Test(ws_handshake, bad_or_repeated_key)
{
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short==\r\n\r\n"),
		     -EBADMSG);
	cr_assert_eq(check("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
			   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n\r\n"),
		     -EBADMSG);
}

Test(ws_handshake, response_text)
{
	static const char want[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"\r\n";
	char dst[256];
	int n;

	n = rc_ws_handshake_response(dst, sizeof(dst), SAMPLE_ACCEPT);
	cr_assert_eq(n, (int)strlen(want));
	cr_assert_str_eq(dst, want);
	/* The text and its NUL must fit. */
	cr_assert_eq(rc_ws_handshake_response(dst, strlen(want) + 1, SAMPLE_ACCEPT),
		     (int)strlen(want));
	cr_assert_eq(rc_ws_handshake_response(dst, strlen(want), SAMPLE_ACCEPT), -ENOSPC);
	cr_assert_eq(rc_ws_handshake_response(dst, 10, SAMPLE_ACCEPT), -ENOSPC);
	cr_assert_eq(rc_ws_handshake_response(NULL, 0, SAMPLE_ACCEPT), -ENOSPC);
}
