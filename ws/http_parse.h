/* Pure, allocation-free HTTP/1.x request-head parser.
 *
 * Written here rather than taken from a library because the gateway must parse
 * straight out of its own receive buffers (no copy, no allocation, no callbacks
 * into I/O); picohttpparser has the same shape but is not packaged in Debian 12. */
#ifndef RC_HTTP_PARSE_H
#define RC_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "http_request.h"

/* Parses the request head at buf[0..len). Never reads buf[len] or beyond.
 * Accepts CRLF or bare LF line ends; header names are tokens (RFC 9110),
 * values may not contain control characters other than HTAB; obsolete line
 * folding is rejected.
 * Returns:
 *   > 0        the head is complete; the value is req->head_len
 *   -EAGAIN    incomplete and still under max_head bytes: read more
 *   -EMSGSIZE  no complete head within max_head bytes (answer 431)
 *   -E2BIG     more than RC_HTTP_MAX_HEADERS headers (answer 431)
 *   -EBADMSG   malformed (answer 400)
 *   -EPROTONOSUPPORT  not HTTP/1.0 or HTTP/1.1 (answer 505)
 * On anything but success *req is unspecified. */
int rc_http_parse_request(const char *buf, size_t len, size_t max_head,
			  struct rc_http_request *req);

/* A request-target reduced to what routing needs: slices of the target,
 * except the path of an absolute form without one, which is "/". */
struct rc_http_target {
	const char *path;	/* the origin-form path: starts with '/' */
	size_t path_len;
	const char *query;	/* what follows the first '?', without it; NULL: no '?' */
	size_t query_len;
	const char *authority;	/* absolute form: "host[:port]"; NULL in origin form */
	size_t authority_len;
};

/* Splits target[0..len) into the path and query that routing uses.
 * Accepts the origin form ("/p?q") and the absolute form of an http or
 * https URI ("http://host:8080/p?q", scheme in any case), which RFC 9112
 * 3.2.2 says a server MUST accept. An absolute form's authority must be
 * non-empty, have a host, and carry no userinfo (RFC 9110 4.2.4); it is
 * returned because it, not Host, names the target (RFC 9112 3.2.2). Never
 * reads target[len] or beyond; allocates nothing.
 * Returns 0, or -EBADMSG for anything else (authority form, "*", another
 * scheme, a relative reference); *out is then unspecified. */
int rc_http_target_parse(const char *target, size_t len, struct rc_http_target *out);

/* Returns the first header whose name equals `name` ignoring ASCII case,
 * or NULL. */
const struct rc_http_header *rc_http_find_header(const struct rc_http_request *req,
						 const char *name);

/* True when the comma-separated header value contains `token` as a whole
 * element, ignoring ASCII case and optional whitespace ("keep-alive, Upgrade"
 * has "upgrade"). A NULL header has no tokens. */
bool rc_http_header_has_token(const struct rc_http_header *h, const char *token);

/* True when a and b (a of length a_len, b NUL-terminated) are equal ignoring
 * ASCII case. */
bool rc_http_equals_nocase(const char *a, size_t a_len, const char *b);

#endif
