/* libFuzzer harness for rc_http_parse_request(), the header helpers and
 * rc_http_target_parse().
 * The input is copied into an exact-size heap block so that ASan flags any
 * read past the length; results are checked against the documented contract. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define MAX_HEAD 4096

static void check(int cond)
{
	if (!cond)
		abort();
}

static int is_known_result(int rc)
{
	return rc > 0 || rc == -EAGAIN || rc == -EMSGSIZE || rc == -E2BIG ||
	       rc == -EBADMSG || rc == -EPROTONOSUPPORT;
}

static int inside(const char *base, size_t len, const char *p, size_t n)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static int parse_copy(const uint8_t *data, size_t len, size_t max_head,
		      struct rc_http_request *req, char **out)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	check(buf != NULL);
	memcpy(buf, data, len);
	rc = rc_http_parse_request(buf, len, max_head, req);
	*out = buf;
	return rc;
}

static void check_request(const char *buf, int rc, const struct rc_http_request *req)
{
	size_t i, head = (size_t)rc;
	char name[64];

	check(req->head_len == head);
	check(req->minor_version == 0 || req->minor_version == 1);
	check(req->num_headers <= RC_HTTP_MAX_HEADERS);
	check(req->method_len > 0 && inside(buf, head, req->method, req->method_len));
	check(req->target_len > 0 && inside(buf, head, req->target, req->target_len));
	/* The head ends with an empty line. */
	check(buf[head - 1] == '\n');
	for (i = 0; i < req->num_headers; i++) {
		const struct rc_http_header *h = &req->headers[i];
		const struct rc_http_header *f;

		check(h->name_len > 0 && inside(buf, head, h->name, h->name_len));
		check(inside(buf, head, h->value, h->value_len));
		check(memchr(h->value, '\r', h->value_len) == NULL);
		check(memchr(h->value, '\n', h->value_len) == NULL);
		if (h->value_len) {
			check(h->value[0] != ' ' && h->value[0] != '\t');
			check(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
		}
		/* find_header must find a header with this name, the first one. */
		if (h->name_len < sizeof(name) && !memchr(h->name, '\0', h->name_len)) {
			memcpy(name, h->name, h->name_len);
			name[h->name_len] = '\0';
			f = rc_http_find_header(req, name);
			check(f != NULL && f <= h);
			check(rc_http_equals_nocase(f->name, f->name_len, name));
			/* A header's whole trimmed value is one of its tokens
			 * unless it contains a comma. */
			if (h->value_len < sizeof(name) && h->value_len > 0 &&
			    !memchr(h->value, ',', h->value_len) &&
			    !memchr(h->value, '\0', h->value_len)) {
				memcpy(name, h->value, h->value_len);
				name[h->value_len] = '\0';
				check(rc_http_header_has_token(h, name));
			}
		}
		(void)rc_http_header_has_token(h, "upgrade");
	}
}

/* rc_http_target_parse() on target[0..len): a known result, and on success
 * a path that starts with '/', slices inside the target that end where it
 * ends, and the origin form split exactly at its first '?'. */
static void check_target(const char *target, size_t len)
{
	struct rc_http_target t;
	int rc = rc_http_target_parse(target, len, &t);
	const char *end = target + len;

	check(rc == 0 || rc == -EBADMSG);
	if (rc)
		return;
	check(t.path_len > 0 && t.path[0] == '/');
	check(inside(target, len, t.path, t.path_len) ||
	      (t.path_len == 1 && !inside(target, len, t.path, 1)));
	if (t.query) {
		check(inside(target, len, t.query, t.query_len) && t.query[-1] == '?');
		check(t.query + t.query_len == end);
	}
	if (inside(target, len, t.path, t.path_len))
		check(t.path + t.path_len == (t.query ? t.query - 1 : end));
	if (target[0] == '/') {
		check(t.authority == NULL && t.path == target);
	} else {
		check(t.authority && t.authority_len > 0 &&
		      inside(target, len, t.authority, t.authority_len));
		check(!memchr(t.authority, '@', t.authority_len));
		check(!memchr(t.authority, '/', t.authority_len));
		check(!memchr(t.authority, '?', t.authority_len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_http_request req, req2;
	char *buf, *buf2;
	int rc, rc2;

	rc = parse_copy(data, size, MAX_HEAD, &req, &buf);
	check(is_known_result(rc));
	/* The whole input as a request-target, in its exact-size copy. */
	check_target(buf, size);
	if (rc > 0) {
		check((size_t)rc <= size && (size_t)rc <= MAX_HEAD);
		check_request(buf, rc, &req);
		check_target(req.target, req.target_len);
		/* The head alone parses the same; one byte less is incomplete. */
		rc2 = parse_copy(data, (size_t)rc, MAX_HEAD, &req2, &buf2);
		check(rc2 == rc && req2.num_headers == req.num_headers);
		free(buf2);
		rc2 = parse_copy(data, (size_t)rc - 1, MAX_HEAD, &req2, &buf2);
		check(rc2 == -EAGAIN);
		free(buf2);
		/* max_head exactly at the head is enough. */
		rc2 = parse_copy(data, size, (size_t)rc, &req2, &buf2);
		check(rc2 == rc);
		free(buf2);
	} else if (rc == -EAGAIN) {
		/* Incomplete input stays incomplete when cut shorter. */
		check(size < MAX_HEAD);
		rc2 = parse_copy(data, size / 2, MAX_HEAD, &req2, &buf2);
		check(rc2 == -EAGAIN);
		free(buf2);
	} else if (rc == -EMSGSIZE) {
		check(size >= MAX_HEAD);
	} else {
		/* A definite error does not depend on bytes after it: appending
		 * input cannot turn it into success. */
		uint8_t *more = malloc(size + 4);

		check(more != NULL);
		memcpy(more, data, size);
		memcpy(more + size, "\r\n\r\n", 4);
		rc2 = parse_copy(more, size + 4, MAX_HEAD, &req2, &buf2);
		check(rc2 == rc);
		free(buf2);
		free(more);
	}
	free(buf);
	return 0;
}
