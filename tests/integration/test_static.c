/* Static files: GET and HEAD with the right Content-Type, 404, and every
 * way of naming a file outside the served directory refused (encoded dots
 * and slashes, double encoding, backslashes, NUL, symbolic links), with
 * the refusals counted. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct rc_server srv;
static char root[] = "/tmp/rc_it_static_XXXXXX";
static char outside[] = "/tmp/rc_it_outside_XXXXXX";
static char vendor[] = "/tmp/rc_it_vendor_XXXXXX";

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	rc_assert(f != NULL, "create %s", p);
	fputs(text, f);
	fclose(f);
}

static void fini(void)
{
	char cmd[256];

	rc_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", root, outside, vendor);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove the temp dirs\n");
}

static void make_tree(void)
{
	char p[512], t[512];

	rc_assert(mkdtemp(root) && mkdtemp(outside) && mkdtemp(vendor), "mkdtemp");
	put(root, "index.html", "<!doctype html><title>t</title>");
	put(root, "app.js", "export const x = 1;\n");
	put(root, "style.css", "body{}");
	put(root, ".secret", "hidden");
	snprintf(p, sizeof(p), "%s/sub", root);
	rc_assert(mkdir(p, 0755) == 0, "mkdir");
	put(p, "index.html", "sub index");
	put(outside, "passwd", "root:x:0:0");
	put(vendor, "player.js", "player");
	snprintf(p, sizeof(p), "%s/passwd", outside);
	snprintf(t, sizeof(t), "%s/link.txt", root);
	rc_assert(symlink(p, t) == 0, "symlink");
	snprintf(t, sizeof(t), "%s/outdir", root);
	rc_assert(symlink(outside, t) == 0, "symlink");
}

static int get(const char *path, struct http_resp *r)
{
	char req[512], err[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
			 path);

	return http_exchange(&srv.http, req, (size_t)n, r, 1, RC_WAIT_TIMEOUT_MS, err,
			     sizeof(err));
}

Test(static_files, serves_and_refuses, .fini = fini)
{
	static const struct {
		const char *path;
		int status;
		const char *type;
		const char *body;
	} ok[] = {
		{ "/", 200, "text/html; charset=utf-8", "<!doctype html><title>t</title>" },
		{ "/index.html", 200, "text/html; charset=utf-8", "<!doctype html><title>t</title>" },
		{ "/app.js?v=1", 200, "text/javascript; charset=utf-8", "export const x = 1;\n" },
		{ "/style.css", 200, "text/css; charset=utf-8", "body{}" },
		{ "/sub/", 200, "text/html; charset=utf-8", "sub index" },
		{ "/%61pp.js", 200, "text/javascript; charset=utf-8", "export const x = 1;\n" },
		{ "/vendor/p/player.js", 200, "text/javascript; charset=utf-8", "player" },
		{ "/missing.js", 404, NULL, NULL },
		{ "/sub", 404, NULL, NULL },
		{ "/link.txt", 404, NULL, NULL },	/* a symlink out: never loaded */
		{ "/outdir/passwd", 404, NULL, NULL },
	};
	static const char *const refused[] = {
		"/../", "/..", "/../../../../etc/passwd", "/sub/../index.html", "/%2e%2e/",
		"/%2E%2E/%2e%2e/etc/passwd", "/sub/%2e%2e/app.js", "/..%2fapp.js", "/sub%2findex.html",
		"/%2f", "/%252e%252e/", "/%25", "/sub\\..\\app.js", "/%5c..%5capp.js", "/%00",
		"/app.js%00.html", "/.secret", "/sub/./index.html", "//etc/passwd", "/a%zz",
	};
	struct http_resp r;
	char v[128];
	long long rejected;

	make_tree();
	{
		char mount[600];

		snprintf(mount, sizeof(mount), "/vendor/p/=%s", vendor);
		RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--static",
			 root, "--static", mount);
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		rc_assert(get(ok[i].path, &r) == 1, "GET %s: no response", ok[i].path);
		rc_assert(r.status == ok[i].status, "GET %s: status %d, want %d", ok[i].path,
			  r.status, ok[i].status);
		if (ok[i].type) {
			rc_assert(http_header(&r, "Content-Type", v, sizeof(v)) &&
					  strcmp(v, ok[i].type) == 0,
				  "GET %s: Content-Type '%s', want '%s'", ok[i].path, v, ok[i].type);
			rc_assert(r.body_len == strlen(ok[i].body) &&
					  memcmp(r.body, ok[i].body, r.body_len) == 0,
				  "GET %s: body '%s'", ok[i].path, r.body);
			rc_assert(http_header(&r, "X-Content-Type-Options", v, sizeof(v)) &&
					  strcmp(v, "nosniff") == 0, "nosniff");
		}
		http_resp_free(&r);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		rc_assert(get(refused[i], &r) == 1, "GET %s: no response", refused[i]);
		rc_assert(r.status == 400, "GET %s: status %d, want 400 (body '%s')", refused[i],
			  r.status, r.body);
		rc_assert(!strstr(r.body, "root:x") && !strstr(r.body, "hidden"), "leak: %s",
			  r.body);
		http_resp_free(&r);
	}
	/* Every refusal that reached the sanitiser was counted. (A request
	 * the HTTP parser refuses first, such as one with a raw NUL, never
	 * gets that far.) */
	rejected = rc_metric(&srv, "ringcast_static_rejected_total");
	rc_assert(rejected >= (long long)(sizeof(refused) / sizeof(refused[0])) - 2,
		  "ringcast_static_rejected_total %lld", rejected);
	RC_STOP_OK(&srv);
}

/* HEAD: the GET's headers (same length and type), no body; a keep-alive
 * GET after it on the same connection still parses. */
Test(static_files, head_then_get, .fini = fini)
{
	static const char req[] = "HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	char buf[4096];
	size_t len = 0;
	int64_t deadline;
	int fd;

	make_tree();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--static", root);
	fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(fd >= 0, "connect");
	rc_assert(rc_write_all(fd, req, sizeof(req) - 1, RC_WAIT_TIMEOUT_MS) == 0, "write");
	deadline = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	while (len < sizeof(buf) - 1 && rc_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	/* The HEAD answer ends at its blank line; the next bytes are the
	 * GET's status line, not the 20 bytes of app.js. */
	{
		char *end = strstr(buf, "\r\n\r\n");

		rc_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "HEAD answer: %s", buf);
		rc_assert(strstr(buf, "Content-Length: 20\r\n") && end, "HEAD headers: %s", buf);
		rc_assert(strstr(buf, "Content-Type: text/javascript; charset=utf-8\r\n"), "%s", buf);
		rc_assert(strncmp(end + 4, "HTTP/1.1 200", 12) == 0, "after HEAD: '%s'", end + 4);
		rc_assert(strstr(end + 4, "\r\n\r\nbody{}") != NULL, "GET after HEAD: %s", end + 4);
	}
	RC_STOP_OK(&srv);
}

/* A --static directory that does not exist is an error at start-up. */
Test(static_files, missing_dir_fails, .fini = rc_cleanup)
{
	const char *const args[] = { "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live",
				     "--static", "/nonexistent/rc-web", NULL };
	int r = rc_server_start(&srv, NULL, args);

	rc_assert(r == RC_EXITED && WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 1,
		  "want exit 1 before ready, got %d", r);
}
