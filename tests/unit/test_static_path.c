/* Static file paths: the sanitiser (every input also ending at a guard
 * page) and the start-up loader (symlinks, hidden files, caps, lookups). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"
#include "static_files.h"
#include "static_path.h"

static char out[RC_STATIC_PATH_MAX + 1];

static int clean(const char *s)
{
	size_t n = strlen(s), ol = 0;
	char *g = guard_copy(s, n);
	int ret;

	memset(out, 0x55, sizeof(out));
	ret = rc_static_path_clean(g, n, out, sizeof(out), &ol);
	guard_free(g, n);
	if (ret == 0)
		cr_assert_eq(strlen(out), ol);
	return ret;
}

Test(static_path, accepted)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{ "/", "index.html" },
		{ "/index.html", "index.html" },
		{ "/ringcast.js", "ringcast.js" },
		{ "/a/b/", "a/b/index.html" },
		{ "/vendor/jsmpeg/jsmpeg-player.esm.js", "vendor/jsmpeg/jsmpeg-player.esm.js" },
		{ "/%61pp.js", "app.js" },
		{ "/A%2DB.css", "A-B.css" },
		{ "/x.y.z", "x.y.z" },
		{ "/a..b", "a..b" },		/* dots inside a name are fine */
		{ "/@scope/p+q~r_s", "@scope/p+q~r_s" },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(clean(ok[i].in), 0, "%s refused", ok[i].in);
		cr_assert_str_eq(out, ok[i].want, "%s -> %s", ok[i].in, out);
	}
}

Test(static_path, refused)
{
	static const char *const bad[] = {
		"", "index.html", "/..", "/../", "/../etc/passwd", "/a/../b", "/a/..",
		"/.", "/./a", "/a/./b", "/.git/config", "/a/.hidden",
		"/%2e%2e/x", "/%2E%2E/x", "/%2e./x", "/.%2e/x", "/a/%2e%2e",
		"/%2e", "/a%2fb", "/a%2Fb", "/..%2f..%2fetc", "/%252e%252e/x", "/%25",
		"/a\\b", "/..\\x", "/a%5cb", "/a%00b", "/%00", "//", "//etc/passwd", "/a//b",
		"/a%", "/a%2", "/a%zz", "/a%g0", "/a b", "/a%20b", "/a?b", "/a#b", "/a:b",
		"/\x80", "/a\x01", "/a%c0%af", "/a;b", "/~/../x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(clean(bad[i]), -EINVAL, "%s accepted as %s", bad[i], out);
	/* NUL in the middle of the bytes given (not a C string). */
	{
		const char nul[] = { '/', 'a', '\0', 'b' };
		char *g = guard_copy(nul, sizeof(nul));
		size_t ol;

		cr_assert_eq(rc_static_path_clean(g, sizeof(nul), out, sizeof(out), &ol), -EINVAL);
		guard_free(g, sizeof(nul));
	}
}

Test(static_path, lengths)
{
	char in[RC_STATIC_PATH_MAX + 3];
	size_t ol;

	in[0] = '/';
	memset(in + 1, 'a', sizeof(in) - 2);
	in[sizeof(in) - 1] = '\0';
	/* RC_STATIC_PATH_MAX bytes of name: fits; one more does not. */
	in[RC_STATIC_PATH_MAX + 1] = '\0';
	cr_assert_eq(clean(in), 0);
	cr_assert_eq(strlen(out), RC_STATIC_PATH_MAX);
	in[RC_STATIC_PATH_MAX + 1] = 'a';
	cr_assert_eq(clean(in), -ENAMETOOLONG);
	/* The index name appended must fit too. */
	memset(in + 1, 'a', RC_STATIC_PATH_MAX - 5);
	in[RC_STATIC_PATH_MAX - 4] = '/';
	in[RC_STATIC_PATH_MAX - 3] = '\0';
	cr_assert_eq(clean(in), -ENAMETOOLONG);
	/* A small output buffer is never overrun. */
	cr_assert_eq(rc_static_path_clean("/abcdef", 7, out, 4, &ol), -ENAMETOOLONG);
	cr_assert_eq(rc_static_path_clean("/", 1, out, 4, &ol), -ENAMETOOLONG);
	cr_assert_eq(rc_static_path_clean("/", 1, out, 0, &ol), -ENAMETOOLONG);
	cr_assert_eq(rc_static_path_clean("/", 1, out, 11, &ol), 0);
	cr_assert_str_eq(out, "index.html");
}

Test(static_path, every_prefix_ends_at_guard)
{
	static const char *const in[] = { "/vendor/jsmpeg/a%2ejs", "/a/%2e%2e/b", "/x%41/" };

	/* Every truncation of these must be handled without reading past it. */
	for (size_t k = 0; k < sizeof(in) / sizeof(in[0]); k++) {
		for (size_t n = 0; n <= strlen(in[k]); n++) {
			char *g = guard_copy(in[k], n);
			size_t ol;

			(void)rc_static_path_clean(g, n, out, sizeof(out), &ol);
			guard_free(g, n);
		}
	}
}

Test(static_path, names)
{
	cr_assert(rc_static_name_ok("a/b.js", 6));
	cr_assert(rc_static_name_ok("vendor/jsmpeg", 13));
	cr_assert_not(rc_static_name_ok("", 0));
	cr_assert_not(rc_static_name_ok("a/", 2));
	cr_assert_not(rc_static_name_ok("/a", 2));
	cr_assert_not(rc_static_name_ok("a/.b", 4));
	cr_assert_not(rc_static_name_ok("a b", 3));
	cr_assert_not(rc_static_name_ok("a%2e", 4));
}

Test(static_path, types)
{
	cr_assert_str_eq(rc_static_type("index.html", 10), "text/html; charset=utf-8");
	cr_assert_str_eq(rc_static_type("a/b.JS", 6), "text/javascript; charset=utf-8");
	cr_assert_str_eq(rc_static_type("x.css", 5), "text/css; charset=utf-8");
	cr_assert_str_eq(rc_static_type("s.png", 5), "image/png");
	cr_assert_str_eq(rc_static_type("m.wasm", 6), "application/wasm");
	cr_assert_str_eq(rc_static_type("noext", 5), "application/octet-stream");
	cr_assert_str_eq(rc_static_type(".js", 3), "application/octet-stream");
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(static_files, load_skips_links_and_hidden)
{
	char root[] = "/tmp/rc_static_XXXXXX";
	char outside[] = "/tmp/rc_outside_XXXXXX";
	char p[512], p2[512], err[256];
	struct rc_static st = { 0 };
	const struct rc_static_file *f;

	cr_assert_not_null(mkdtemp(root));
	cr_assert_not_null(mkdtemp(outside));
	put(outside, "secret.txt", "secret");
	put(root, "index.html", "<p>hi</p>");
	put(root, ".hidden", "no");
	put(root, "bad name.txt", "no");
	snprintf(p, sizeof(p), "%s/sub", root);
	cr_assert_eq(mkdir(p, 0755), 0);
	put(p, "app.js", "x()");
	snprintf(p, sizeof(p), "%s/sub/.git", root);
	cr_assert_eq(mkdir(p, 0755), 0);
	put(p, "config", "no");
	/* Links out of the tree, to a file and to a directory, and one inside. */
	snprintf(p, sizeof(p), "%s/secret.txt", outside);
	snprintf(p2, sizeof(p2), "%s/leak.txt", root);
	cr_assert_eq(symlink(p, p2), 0);
	snprintf(p2, sizeof(p2), "%s/out", root);
	cr_assert_eq(symlink(outside, p2), 0);
	snprintf(p2, sizeof(p2), "%s/sub/again.html", root);
	cr_assert_eq(symlink("../index.html", p2), 0);

	cr_assert_eq(rc_static_load(&st, "", root, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rc_static_load(&st, "m/n", root, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(rc_static_finish(&st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(st.n, 4, "loaded %zu files", st.n);
	f = rc_static_find(&st, "index.html", 10);
	cr_assert_not_null(f);
	cr_assert_eq(f->len, 9);
	cr_assert_eq(memcmp(f->data, "<p>hi</p>", 9), 0);
	cr_assert_str_eq(f->type, "text/html; charset=utf-8");
	cr_assert_not_null(rc_static_find(&st, "sub/app.js", 10));
	cr_assert_not_null(rc_static_find(&st, "m/n/sub/app.js", 14));
	cr_assert_null(rc_static_find(&st, "sub/app.j", 9));
	cr_assert_null(rc_static_find(&st, "sub", 3));
	cr_assert_null(rc_static_find(&st, "leak.txt", 8));
	cr_assert_null(rc_static_find(&st, "out/secret.txt", 14));
	cr_assert_null(rc_static_find(&st, "sub/again.html", 14));
	cr_assert_null(rc_static_find(&st, ".hidden", 7));
	cr_assert_null(rc_static_find(&st, "sub/.git/config", 15));
	/* The same mount twice: every name twice. */
	cr_assert_eq(rc_static_load(&st, "", root, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rc_static_finish(&st, err, sizeof(err)), -EEXIST);
	rc_static_free(&st);
	cr_assert_eq(st.n, 0);
	cr_assert_eq(rc_static_load(&st, "", "/nonexistent/rc", err, sizeof(err)), -ENOENT);
	cr_assert_eq(rc_static_load(&st, "../x", root, err, sizeof(err)), -EINVAL);
	rc_static_free(&st);
	rm_rf(root);
	rm_rf(outside);
}

Test(static_files, caps)
{
	char root[] = "/tmp/rc_static_XXXXXX";
	char p[512], err[256];
	struct rc_static st = { 0 };
	int fd;

	cr_assert_not_null(mkdtemp(root));
	/* A sparse file one byte over the total cap. */
	snprintf(p, sizeof(p), "%s/big.bin", root);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)RC_STATIC_MAX_BYTES + 1), 0);
	close(fd);
	cr_assert_eq(rc_static_load(&st, "", root, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "bytes") != NULL, "%s", err);
	rc_static_free(&st);
	cr_assert_eq(unlink(p), 0);
	/* Too deep. */
	snprintf(p, sizeof(p), "%s", root);
	for (int i = 0; i <= RC_STATIC_MAX_DEPTH + 1; i++) {
		strcat(p, "/d");
		cr_assert_eq(mkdir(p, 0755), 0);
	}
	cr_assert_eq(rc_static_load(&st, "", root, err, sizeof(err)), -ELOOP);
	rc_static_free(&st);
	rm_rf(root);
}
