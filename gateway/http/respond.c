/* Complete HTTP answers on a client connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "mem.h"
#include "state.h"

static const char *status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void rc_http_respond(struct rc_conn *c, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t body_len, bool close)
{
	char head[512];
	char dflt[64];
	uint8_t *out;
	int hl;

	if (!body) {
		/* Errors get their reason as a one-line body, for curl users. */
		int n = status >= 400 ? snprintf(dflt, sizeof(dflt), "%s\n", status_text(status)) : 0;

		dflt[n > 0 ? n : 0] = '\0';
		body = dflt;
		body_len = strlen(dflt);
	}
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\n"
		      "Server: ringcast\r\n"
		      "Content-Type: %s\r\n"
		      "Content-Length: %zu\r\n"
		      "Cache-Control: no-store\r\n"
		      "%s%s\r\n",
		      status, status_text(status), content_type ? content_type : "text/plain",
		      body_len, close ? "Connection: close\r\n" : "",
		      extra_headers ? extra_headers : "");
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		rc_conn_close(c);
		return;
	}
	/* RFC 9110 9.3.2: HEAD gets the GET's header fields, Content-Length
	 * included, and never a body. */
	if (c->head)
		body_len = 0;
	out = malloc((size_t)hl + body_len);
	if (!out) {
		rc_conn_close(c);
		return;
	}
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, body, body_len);
	if (status >= 400)
		c->st.srv->stats.http_errors++;
	if (close)
		c->st.close_after_send = true;
	rc_sendq_push_heap(&c->st.q, out, (uint32_t)((size_t)hl + body_len));
}

bool rc_http_busy(struct rc_conn *c)
{
	if (!rc_mem_over())
		return false;
	c->st.srv->stats.memory_refused++;
	rc_http_respond(c, 503, "text/plain", "Retry-After: 5\r\n", "server busy\n", 12, true);
	return true;
}
