/* rc_http_parse_request() and the header helpers. Every input is parsed from
 * a guard-page copy, so reading past the given length crashes the test. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "http_parse.h"

#define MAX_HEAD 8192

static struct rc_http_request req;
static char *cur;
static size_t cur_len;

static void release(void)
{
	if (cur)
		guard_free(cur, cur_len);
	cur = NULL;
}

/* Parses a guard copy of s[0..len); req stays valid until the next call. */
static int parse_n(const char *s, size_t len, size_t max_head)
{
	release();
	cur = guard_copy(s, len);
	cur_len = len;
	return rc_http_parse_request(cur, len, max_head, &req);
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s), MAX_HEAD);
}

static void expect_slice(const char *p, size_t len, const char *want, const char *what)
{
	cr_assert_eq(len, strlen(want), "%s: length %zu, want %zu (\"%s\")", what, len,
		     strlen(want), want);
	cr_assert(memcmp(p, want, len) == 0, "%s: \"%.*s\", want \"%s\"", what, (int)len, p, want);
}

static void expect_header(size_t i, const char *name, const char *value)
{
	cr_assert_lt(i, req.num_headers);
	expect_slice(req.headers[i].name, req.headers[i].name_len, name, "name");
	expect_slice(req.headers[i].value, req.headers[i].value_len, value, "value");
}

TestSuite(http_parse, .fini = release);

static const char simple[] =
	"GET /ws/live?x=1 HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Upgrade: websocket\r\n"
	"\r\n";

Test(http_parse, simple_get)
{
	cr_assert_eq(parse(simple), (int)strlen(simple));
	expect_slice(req.method, req.method_len, "GET", "method");
	expect_slice(req.target, req.target_len, "/ws/live?x=1", "target");
	cr_assert_eq(req.minor_version, 1);
	cr_assert_eq(req.num_headers, 2);
	expect_header(0, "Host", "example.com");
	expect_header(1, "Upgrade", "websocket");
	cr_assert_eq(req.head_len, strlen(simple));
	/* Slices point into the caller's buffer, nothing was copied. */
	cr_assert(req.method == cur);
	cr_assert(req.headers[1].value >= cur && req.headers[1].value < cur + cur_len);
}

Test(http_parse, head_len_excludes_body)
{
	static const char s[] = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";

	cr_assert_eq(parse(s), (int)strlen(s) - 4);
	cr_assert_eq(req.head_len, strlen(s) - 4);
	expect_slice(req.method, req.method_len, "POST", "method");
}

Test(http_parse, odd_whitespace)
{
	static const char s[] =
		"GET / HTTP/1.1\r\n"
		"Host:example.com\r\n"
		"X-A: \t value with  inner \t spaces \t \r\n"
		"X-Empty:\r\n"
		"X-Blank:  \t \r\n"
		"X-Tab:\tv\r\n"
		"\r\n";

	cr_assert_eq(parse(s), (int)strlen(s));
	cr_assert_eq(req.num_headers, 5);
	expect_header(0, "Host", "example.com");
	expect_header(1, "X-A", "value with  inner \t spaces");
	expect_header(2, "X-Empty", "");
	expect_header(3, "X-Blank", "");
	expect_header(4, "X-Tab", "v");
}

Test(http_parse, lf_only_line_ends)
{
	static const char s[] = "GET /a HTTP/1.0\nHost: h\nX: y \n\n";

	cr_assert_eq(parse(s), (int)strlen(s));
	cr_assert_eq(req.minor_version, 0);
	cr_assert_eq(req.num_headers, 2);
	expect_header(0, "Host", "h");
	expect_header(1, "X", "y");
}

Test(http_parse, mixed_line_ends)
{
	static const char s[] = "GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\n";

	cr_assert_eq(parse(s), (int)strlen(s));
	expect_header(0, "A", "1");
	expect_header(1, "B", "2");
}

Test(http_parse, no_headers)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n"), 18);
	cr_assert_eq(req.num_headers, 0);
}

static void every_prefix(const char *s)
{
	size_t len = strlen(s), k;
	int rc;

	for (k = 0; k < len; k++) {
		rc = parse_n(s, k, MAX_HEAD);
		cr_assert_eq(rc, -EAGAIN, "prefix of %zu/%zu bytes: %d", k, len, rc);
	}
	cr_assert_eq(parse_n(s, len, MAX_HEAD), (int)len);
}

Test(http_parse, every_split_point_is_eagain)
{
	every_prefix("GET /chat HTTP/1.1\r\n"
		     "Host: server.example.com\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "X-Empty:\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		     "\r\n");
	every_prefix("GET / HTTP/1.0\nA:  b\n\n");
	every_prefix(simple);
}

Test(http_parse, pipelined)
{
	static const char s[] =
		"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
		"GET /second HTTP/1.0\nHost: b\nX: 2\n\n";
	int first;
	int second;

	first = parse(s);
	cr_assert_eq(first, 32);
	expect_slice(req.target, req.target_len, "/first", "target");
	/* Parse the rest in place: its end is still the guard page. */
	second = rc_http_parse_request(cur + first, cur_len - (size_t)first, MAX_HEAD, &req);
	cr_assert_eq(second, (int)(strlen(s) - (size_t)first));
	expect_slice(req.target, req.target_len, "/second", "target");
	cr_assert_eq(req.minor_version, 0);
	cr_assert_eq(req.num_headers, 2);
	expect_header(1, "X", "2");
}

Test(http_parse, max_head)
{
	size_t len = strlen(simple);

	/* Complete within max_head, including exactly at it. */
	cr_assert_eq(parse_n(simple, len, len), (int)len);
	cr_assert_eq(parse_n(simple, len, len + 1), (int)len);
	/* One byte over. */
	cr_assert_eq(parse_n(simple, len, len - 1), -EMSGSIZE);
	/* Incomplete: -EAGAIN below max_head, -EMSGSIZE once max_head bytes are
	 * there and still no end. */
	cr_assert_eq(parse_n(simple, 20, 21), -EAGAIN);
	cr_assert_eq(parse_n(simple, 20, 20), -EMSGSIZE);
	cr_assert_eq(parse_n(simple, 30, 20), -EMSGSIZE);
	cr_assert_eq(parse_n(simple, len, 0), -EMSGSIZE);
}

Test(http_parse, max_head_long_value)
{
	char s[6000];
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nCookie: ");
	memset(s + n, 'c', sizeof(s) - n);
	cr_assert_eq(parse_n(s, sizeof(s), 4096), -EMSGSIZE);
	cr_assert_eq(parse_n(s, 4000, 4096), -EAGAIN);
}

/* Builds a request with n headers "H<i>: v<i>". */
static size_t many_headers(char *dst, size_t cap, int n)
{
	size_t len = (size_t)snprintf(dst, cap, "GET / HTTP/1.1\r\n");
	int i;

	for (i = 0; i < n; i++)
		len += (size_t)snprintf(dst + len, cap - len, "H%d: v%d\r\n", i, i);
	len += (size_t)snprintf(dst + len, cap - len, "\r\n");
	return len;
}

Test(http_parse, too_many_headers)
{
	char s[2048];
	size_t len;

	len = many_headers(s, sizeof(s), RC_HTTP_MAX_HEADERS);
	cr_assert_eq(parse_n(s, len, MAX_HEAD), (int)len);
	cr_assert_eq(req.num_headers, RC_HTTP_MAX_HEADERS);
	expect_header(RC_HTTP_MAX_HEADERS - 1, "H31", "v31");

	len = many_headers(s, sizeof(s), RC_HTTP_MAX_HEADERS + 1);
	cr_assert_eq(parse_n(s, len, MAX_HEAD), -E2BIG);
}

Test(http_parse, request_line_errors)
{
	cr_assert_eq(parse("G(T / HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GE\"T / HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse(" GET / HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET  / HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1 \r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET\t/ HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("\r\nGET / HTTP/1.1\r\n\r\n"), -EBADMSG);
	/* Missing version (HTTP/0.9 style) and missing target. */
	cr_assert_eq(parse("GET /\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / \r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET HTTP/1.1\r\n\r\n"), -EBADMSG);
	/* Malformed versions. */
	cr_assert_eq(parse("GET / http/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.10\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/11\r\n\r\n"), -EBADMSG);
	/* Control characters in the target. */
	cr_assert_eq(parse("GET /a\x01 HTTP/1.1\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET /a\x7f HTTP/1.1\r\n\r\n"), -EBADMSG);
}

Test(http_parse, unsupported_versions)
{
	cr_assert_eq(parse("GET / HTTP/2.0\r\n\r\n"), -EPROTONOSUPPORT);
	cr_assert_eq(parse("GET / HTTP/1.2\r\n\r\n"), -EPROTONOSUPPORT);
	cr_assert_eq(parse("GET / HTTP/0.9\r\n\r\n"), -EPROTONOSUPPORT);
	cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n"), 18);
	cr_assert_eq(req.minor_version, 0);
}

Test(http_parse, header_name_errors)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nName : x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nNa\x01me: x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nNa\x7fme: x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nNa(me: x\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\n: empty-name\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\n\tX: first-line-indented\r\n\r\n"), -EBADMSG);
}

Test(http_parse, header_value_errors)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n"), -EBADMSG);
	/* A bare CR inside a value is not a line end. */
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\rz\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\r\r\n\r\n"), -EBADMSG);
	/* obs-text is allowed and kept as is. */
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n"), 28);
	expect_header(0, "X", "caf\xc3\xa9");
}

Test(http_parse, obs_fold_rejected)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/1.1\nX: a\n b\n\n"), -EBADMSG);
}

Test(http_parse, nul_byte)
{
#define C(lit) { lit, sizeof(lit) - 1 }
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		C("G\0T / HTTP/1.1\r\n\r\n"),
		C("GET /\0 HTTP/1.1\r\n\r\n"),
		C("GET / HTTP/1.1\r\nX\0: v\r\n\r\n"),
		C("GET / HTTP/1.1\r\nX: v\0w\r\n\r\n"),
		C("GET / HTTP/1.1\r\nX: v\r\n\0\r\n"),
		C("GET / HTTP/1.1\r\nX: v\r\n\r\0"),
	};
#undef C
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_n(bad[i].s, bad[i].len, MAX_HEAD), -EBADMSG, "case %zu", i);
}

Test(http_parse, errors_reported_before_head_is_complete)
{
	/* The head never ends, but the bad bytes are already there. */
	cr_assert_eq(parse("GET / HTTP/1.1\r\nBad Name: x\r\nMore: "), -EBADMSG);
	cr_assert_eq(parse("GE(T"), -EBADMSG);
	cr_assert_eq(parse("GET / HTTP/3.0"), -EPROTONOSUPPORT);
	/* ...whereas a valid prefix of a bad line is just incomplete. */
	cr_assert_eq(parse("GET / HTTP/1.1\r\nBad"), -EAGAIN);
	cr_assert_eq(parse("GET / HTTP/1.1\r"), -EAGAIN);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nX: v\r"), -EAGAIN);
}

Test(http_parse, find_header_ignores_case)
{
	const struct rc_http_header *h;

	cr_assert_gt(parse("GET / HTTP/1.1\r\n"
			   "sec-websocket-KEY: k1\r\n"
			   "Host: h\r\n"
			   "SEC-WEBSOCKET-KEY: k2\r\n"
			   "\r\n"), 0);
	h = rc_http_find_header(&req, "Sec-WebSocket-Key");
	cr_assert_not_null(h);
	expect_slice(h->value, h->value_len, "k1", "first match");
	h = rc_http_find_header(&req, "HOST");
	cr_assert_not_null(h);
	expect_slice(h->value, h->value_len, "h", "host");
	cr_assert_null(rc_http_find_header(&req, "Hos"));
	cr_assert_null(rc_http_find_header(&req, "Hostx"));
	cr_assert_null(rc_http_find_header(&req, "Upgrade"));
}

Test(http_parse, equals_nocase)
{
	cr_assert(rc_http_equals_nocase("WebSocket", 9, "websocket"));
	cr_assert(rc_http_equals_nocase("", 0, ""));
	cr_assert(!rc_http_equals_nocase("web", 3, "websocket"));
	cr_assert(!rc_http_equals_nocase("websocket", 9, "web"));
	/* Only ASCII letters fold: '@' (0x40) is not '`' (0x60). */
	cr_assert(!rc_http_equals_nocase("@", 1, "`"));
	cr_assert(!rc_http_equals_nocase("[", 1, "{"));
}

static bool has(const char *value, const char *token)
{
	struct rc_http_header h = { "X", 1, value, strlen(value) };

	return rc_http_header_has_token(&h, token);
}

Test(http_parse, has_token)
{
	cr_assert(has("keep-alive, Upgrade", "upgrade"));
	cr_assert(has("keep-alive, Upgrade", "KEEP-ALIVE"));
	cr_assert(has("Upgrade", "upgrade"));
	cr_assert(has("\tupgrade\t,close", "upgrade"));
	cr_assert(has(",, upgrade ,", "upgrade"));
	cr_assert(has("a,upgrade", "upgrade"));
	cr_assert(!has("upgradeX", "upgrade"));
	cr_assert(!has("Xupgrade", "upgrade"));
	cr_assert(!has("up grade", "upgrade"));
	cr_assert(!has("keep-alive, Upgrade", "alive"));
	cr_assert(!has("upgrade", "upgrades"));
	cr_assert(!has("", "upgrade"));
	cr_assert(!has(" , ,", "upgrade"));
	cr_assert(!rc_http_header_has_token(NULL, "upgrade"));
}

Test(http_parse, has_token_on_parsed_header)
{
	const struct rc_http_header *h;

	cr_assert_gt(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n"), 0);
	h = rc_http_find_header(&req, "connection");
	cr_assert(rc_http_header_has_token(h, "upgrade"));
	cr_assert(!rc_http_header_has_token(rc_http_find_header(&req, "upgrade"), "websocket"));
}

/* --- request-target forms (rc_http_target_parse) --- */

static struct rc_http_target tgt;

/* Parses a guard copy of s: any read past its end crashes the test. */
static int target(const char *s)
{
	release();
	cur_len = strlen(s);
	cur = guard_copy(s, cur_len);
	return rc_http_target_parse(cur, cur_len, &tgt);
}

static void expect_target(const char *path, const char *query, const char *authority)
{
	expect_slice(tgt.path, tgt.path_len, path, "path");
	if (query)
		expect_slice(tgt.query, tgt.query_len, query, "query");
	else
		cr_assert_null(tgt.query, "no query expected, got \"%.*s\"", (int)tgt.query_len,
			       tgt.query);
	if (authority)
		expect_slice(tgt.authority, tgt.authority_len, authority, "authority");
	else
		cr_assert_null(tgt.authority, "origin form has no authority");
}

Test(http_parse, target_origin_form)
{
	cr_assert_eq(target("/ws/live"), 0);
	expect_target("/ws/live", NULL, NULL);
	cr_assert_eq(target("/connections?limit=5&offset=2"), 0);
	expect_target("/connections", "limit=5&offset=2", NULL);
	cr_assert_eq(target("/?"), 0);
	expect_target("/", "", NULL);
	cr_assert_eq(target("/a?b?c"), 0);
	expect_target("/a", "b?c", NULL);
	cr_assert_eq(target("/"), 0);
	expect_target("/", NULL, NULL);
}

Test(http_parse, target_absolute_form)
{
	cr_assert_eq(target("http://host:8080/ws/live"), 0);
	expect_target("/ws/live", NULL, "host:8080");
	cr_assert_eq(target("HTTPS://[::1]:8443/connections?limit=1"), 0);
	expect_target("/connections", "limit=1", "[::1]:8443");
	cr_assert_eq(target("Http://example.com"), 0);
	expect_target("/", NULL, "example.com");
	/* An empty path with a query: the path is "/", the query stays. */
	cr_assert_eq(target("http://h?x=1"), 0);
	expect_target("/", "x=1", "h");
	cr_assert_eq(target("http://h/"), 0);
	expect_target("/", NULL, "h");
	/* The path's slice is the target's own bytes. */
	cr_assert_eq(target("http://h/p?q"), 0);
	cr_assert(tgt.path == cur + 8 && tgt.query == cur + 11);
}

Test(http_parse, target_other_forms_refused)
{
	static const char *const bad[] = {
		"", "*", "ws/live", "host:8080", "example.com:443", "ws://h/ws/live",
		"ftp://h/x", "http:/h/x", "http:", "http://", "https://", "http:///p",
		"http://?q", "http://:8080/p", "http://user@h/p", "http://u:pw@h/p",
		"http://h#frag", "httpx://h/", "htt", "h",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(target(bad[i]), -EBADMSG, "\"%s\" should be refused", bad[i]);
}

/* Every prefix of a valid target ends at the guard page: the parser never
 * reads past the length it was given, whatever it makes of the prefix. */
Test(http_parse, target_never_reads_past_len)
{
	static const char *const all[] = {
		"http://host:8080/ws/live?token=abc", "https://h", "HTTP://[::1]/x?",
		"/ws/live?x=1",
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		size_t n = strlen(all[i]);

		for (size_t k = 0; k <= n; k++) {
			char prefix[64];
			int rc;

			cr_assert_lt(n, sizeof(prefix));
			memcpy(prefix, all[i], k);
			prefix[k] = '\0';
			rc = target(prefix);
			cr_assert(rc == 0 || rc == -EBADMSG, "\"%s\": %d", prefix, rc);
			if (rc == 0)
				cr_assert(tgt.path_len > 0 && tgt.path[0] == '/', "\"%s\"", prefix);
		}
	}
}
