/* HTTP/1.x request head as parsed by rc_http_parse_request().
 * Every pointer is a slice into the caller's buffer: nothing is copied or
 * allocated, so the request is valid only while that buffer is unchanged. */
#ifndef RC_HTTP_REQUEST_H
#define RC_HTTP_REQUEST_H

#include <stddef.h>

#define RC_HTTP_MAX_HEADERS 32

struct rc_http_header {
	const char *name;	/* not NUL-terminated */
	size_t name_len;
	const char *value;	/* leading/trailing spaces and tabs trimmed */
	size_t value_len;
};

struct rc_http_request {
	const char *method;
	size_t method_len;
	const char *target;	/* request-target as sent, e.g. "/ws/live?x=1" */
	size_t target_len;
	int minor_version;	/* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	size_t num_headers;
	struct rc_http_header headers[RC_HTTP_MAX_HEADERS];
	size_t head_len;	/* bytes of the head, final CRLF CRLF included */
};

#endif
