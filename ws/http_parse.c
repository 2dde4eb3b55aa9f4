/* HTTP/1.x request-head parser, see http_parse.h.
 *
 * The parser is stateless: each call re-parses from buf[0]. Heads are small
 * (a few hundred bytes) and usually arrive in one read, so re-scanning a
 * partial head is cheaper than carrying state between calls. A peer that
 * trickles its head costs O(max_head^2) over all calls, which max_head bounds.
 *
 * It walks a cursor over buf[0..limit) with limit = min(len, max_head). Every
 * helper returns 0 on success, -EAGAIN when it needs a byte at or past limit,
 * or the error to report. Running out of input turns into -EMSGSIZE when
 * max_head bytes were already available, and -EAGAIN otherwise; malformed
 * input is reported as soon as the offending byte is seen, even if the head
 * is not complete yet. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "http_parse.h"

struct cursor {
	const char *p;
	const char *end;
};

/* tchar from RFC 9110 5.6.2: the characters of methods and header names. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Request-target: any visible ASCII; the gateway routes on it byte-wise and
 * has no use for raw non-ASCII, which clients percent-encode anyway. */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* field-vchar / SP / HTAB (RFC 9110 5.5), obs-text included. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Consumes one line end: CRLF or bare LF. A CR not followed by LF is an
 * error (it could smuggle a line break past a less strict parser). */
static int eat_eol(struct cursor *c)
{
	if (c->p == c->end)
		return -EAGAIN;
	if (*c->p == '\n') {
		c->p++;
		return 0;
	}
	if (*c->p != '\r')
		return -EBADMSG;
	if (c->end - c->p < 2)
		return -EAGAIN;
	if (c->p[1] != '\n')
		return -EBADMSG;
	c->p += 2;
	return 0;
}

/* Consumes a run of tchar ending at (not consuming) `stop`. */
static int eat_token(struct cursor *c, char stop, const char **tok, size_t *tok_len)
{
	const char *start = c->p;

	while (c->p < c->end && is_tchar((unsigned char)*c->p))
		c->p++;
	if (c->p == c->end)
		return -EAGAIN;
	if (*c->p != stop || c->p == start)
		return -EBADMSG;
	*tok = start;
	*tok_len = (size_t)(c->p - start);
	return 0;
}

/* "HTTP/" DIGIT "." DIGIT. Anything of that shape other than 1.0 and 1.1 is
 * well formed but unsupported, so it gets 505 rather than 400. */
static int eat_version(struct cursor *c, int *minor)
{
	static const char shape[] = "HTTP/#.#";
	const char *v = c->p;
	size_t i;

	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (v + i == c->end)
			return -EAGAIN;
		if (shape[i] == '#' ? (v[i] < '0' || v[i] > '9') : v[i] != shape[i])
			return -EBADMSG;
	}
	c->p += i;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -EPROTONOSUPPORT;
	*minor = v[7] - '0';
	return 0;
}

/* method SP request-target SP HTTP-version EOL; single spaces only. */
static int parse_request_line(struct cursor *c, struct rc_http_request *req)
{
	const char *start;
	int rc;

	rc = eat_token(c, ' ', &req->method, &req->method_len);
	if (rc)
		return rc;
	c->p++;
	start = c->p;
	while (c->p < c->end && is_target_char((unsigned char)*c->p))
		c->p++;
	if (c->p == c->end)
		return -EAGAIN;
	/* An EOL here is an HTTP/0.9 request line without a version. */
	if (*c->p != ' ' || c->p == start)
		return -EBADMSG;
	req->target = start;
	req->target_len = (size_t)(c->p - start);
	c->p++;
	rc = eat_version(c, &req->minor_version);
	if (rc)
		return rc;
	return eat_eol(c);
}

/* name ":" OWS value OWS EOL. The cursor is at the first byte of the line,
 * which is known not to start the empty line. */
static int parse_header(struct cursor *c, struct rc_http_header *h)
{
	const char *last;
	int rc;

	/* Leading whitespace would be obs-fold (or a first header line that
	 * starts with whitespace): is_tchar() rejects it as a name byte. A space
	 * between the name and ':' is rejected the same way (RFC 9112 5.1). */
	rc = eat_token(c, ':', &h->name, &h->name_len);
	if (rc)
		return rc;
	c->p++;
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
	h->value = c->p;
	last = c->p;	/* one past the last non-OWS byte of the value */
	while (c->p < c->end && *c->p != '\r' && *c->p != '\n') {
		if (!is_value_char((unsigned char)*c->p))
			return -EBADMSG;
		c->p++;
		if (!is_ows(c->p[-1]))
			last = c->p;
	}
	if (c->p == c->end)
		return -EAGAIN;
	h->value_len = (size_t)(last - h->value);
	return eat_eol(c);
}

/* Sets *empty when the cursor is at the empty line that ends the head. */
static int at_empty_line(const struct cursor *c, bool *empty)
{
	if (c->p == c->end)
		return -EAGAIN;
	if (*c->p == '\r' && c->end - c->p < 2)
		return -EAGAIN;
	*empty = *c->p == '\n' || (*c->p == '\r' && c->p[1] == '\n');
	return 0;
}

static int parse_head(struct cursor *c, struct rc_http_request *req)
{
	int rc;

	req->num_headers = 0;
	rc = parse_request_line(c, req);
	if (rc)
		return rc;
	for (;;) {
		bool empty;

		rc = at_empty_line(c, &empty);
		if (rc)
			return rc;
		if (empty)
			return eat_eol(c);
		if (req->num_headers == RC_HTTP_MAX_HEADERS)
			return -E2BIG;
		rc = parse_header(c, &req->headers[req->num_headers]);
		if (rc)
			return rc;
		req->num_headers++;
	}
}

int rc_http_parse_request(const char *buf, size_t len, size_t max_head,
			  struct rc_http_request *req)
{
	struct cursor c;
	int rc;

	/* Heads this large are never legitimate, and it keeps head_len an int. */
	if (max_head > INT_MAX)
		max_head = INT_MAX;
	c.p = buf;
	c.end = buf + (len < max_head ? len : max_head);
	rc = parse_head(&c, req);
	if (rc == -EAGAIN && len >= max_head)
		return -EMSGSIZE;
	if (rc)
		return rc;
	req->head_len = (size_t)(c.p - buf);
	return (int)req->head_len;
}

/* Length of an "http://" or "https://" prefix of s[0..len) in any case, or
 * 0 when it has neither. */
static size_t http_scheme_len(const char *s, size_t len)
{
	static const char *const schemes[] = { "http://", "https://" };

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);

		if (len >= n && rc_http_equals_nocase(s, n, schemes[i]))
			return n;
	}
	return 0;
}

int rc_http_target_parse(const char *target, size_t len, struct rc_http_target *out)
{
	const char *end = target + len;
	const char *p = target;
	const char *q;

	out->authority = NULL;
	out->authority_len = 0;
	if (len == 0)
		return -EBADMSG;
	if (*p != '/') {
		size_t scheme = http_scheme_len(target, len);
		const char *a;

		if (!scheme)
			return -EBADMSG;
		a = p = target + scheme;
		while (p < end && *p != '/' && *p != '?')
			p++;
		/* "http://" alone, "http://:8080" (no host), userinfo, or a
		 * fragment (never part of a request-target). */
		if (p == a || *a == ':' || memchr(a, '@', (size_t)(p - a)) ||
		    memchr(a, '#', (size_t)(p - a)))
			return -EBADMSG;
		out->authority = a;
		out->authority_len = (size_t)(p - a);
	}
	q = memchr(p, '?', (size_t)(end - p));
	out->path = p;
	out->path_len = (size_t)((q ? q : end) - p);
	if (out->path_len == 0) {
		/* RFC 9112 3.2.1: an empty path is sent as "/". */
		out->path = "/";
		out->path_len = 1;
	}
	out->query = q ? q + 1 : NULL;
	out->query_len = q ? (size_t)(end - q - 1) : 0;
	return 0;
}

bool rc_http_equals_nocase(const char *a, size_t a_len, const char *b)
{
	size_t i;

	/* b[i] is checked before it is compared, so b is never read past its NUL. */
	for (i = 0; i < a_len; i++) {
		if (b[i] == '\0' || to_lower(a[i]) != to_lower(b[i]))
			return false;
	}
	return b[a_len] == '\0';
}

const struct rc_http_header *rc_http_find_header(const struct rc_http_request *req,
						 const char *name)
{
	size_t i;

	for (i = 0; i < req->num_headers; i++) {
		const struct rc_http_header *h = &req->headers[i];

		if (rc_http_equals_nocase(h->name, h->name_len, name))
			return h;
	}
	return NULL;
}

bool rc_http_header_has_token(const struct rc_http_header *h, const char *token)
{
	const char *p, *end;

	if (!h)
		return false;
	p = h->value;
	end = h->value + h->value_len;
	while (p < end) {
		const char *elem, *elem_end;

		while (p < end && is_ows(*p))
			p++;
		elem = p;
		while (p < end && *p != ',')
			p++;
		elem_end = p;
		while (elem_end > elem && is_ows(elem_end[-1]))
			elem_end--;
		if (elem_end > elem &&
		    rc_http_equals_nocase(elem, (size_t)(elem_end - elem), token))
			return true;
		if (p < end)
			p++;	/* the comma */
	}
	return false;
}
