#include "static_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".cjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".md", "text/plain; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".jpg", "image/jpeg" },
	{ ".jpeg", "image/jpeg" },
	{ ".gif", "image/gif" },
	{ ".webp", "image/webp" },
	{ ".ico", "image/x-icon" },
	{ ".wasm", "application/wasm" },
	{ ".woff2", "font/woff2" },
	{ ".ts", "video/mp2t" },
	{ ".mpg", "video/mpeg" },
};

const char *rc_static_type(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);

		if (len > el && strncasecmp(name + len - el, types[i].ext, el) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* Reads the open regular file fd (size from fstat) into a malloc'd buffer. */
static int read_all(int fd, size_t size, uint8_t **out)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return r < 0 ? -errno : -EIO;	/* shrank while read */
		}
		got += (size_t)r;
	}
	*out = buf;
	return 0;
}

static int add_file(struct rc_static *st, char *name, uint8_t *data, size_t len)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct rc_static_file *f = realloc(st->files, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		st->files = f;
		st->cap = cap;
	}
	st->files[st->n++] = (struct rc_static_file){
		.name = name, .data = data, .len = len, .type = rc_static_type(name, strlen(name)),
	};
	st->bytes += len;
	return 0;
}

struct walk {
	struct rc_static *st;
	const char *dir;	/* for messages */
	char *err;
	size_t errlen;
	char path[RC_STATIC_PATH_MAX + 2];	/* name of the directory being read, with '/' */
};

/* Reads directory dfd (owned: closed here), whose files are named
 * w->path[0..plen) + entry. */
static int walk_dir(struct walk *w, int dfd, size_t plen, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int ret = 0;

	if (!d) {
		ret = -errno;
		close(dfd);
		snprintf(w->err, w->errlen, "static: %s: %s", w->dir, strerror(-ret));
		return ret;
	}
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);
		struct stat sb;
		char *name;
		uint8_t *data = NULL;
		int fd;

		if (e->d_name[0] == '.')
			continue;	/* ".", "..", and hidden files such as .git */
		if (plen + nl > RC_STATIC_PATH_MAX || !rc_static_name_ok(e->d_name, nl)) {
			rc_log_warn("static: skipping %s/%.*s%s: name not servable", w->dir,
				    (int)plen, w->path, e->d_name);
			continue;
		}
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
			goto fail_name;
		}
		memcpy(w->path + plen, e->d_name, nl);
		if (S_ISLNK(sb.st_mode)) {
			rc_log_warn("static: not following symbolic link %s/%.*s", w->dir,
				    (int)(plen + nl), w->path);
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			if (depth >= RC_STATIC_MAX_DEPTH) {
				ret = -ELOOP;
				snprintf(w->err, w->errlen, "static: %s: deeper than %d levels", w->dir,
					 RC_STATIC_MAX_DEPTH);
				goto out;
			}
			if (plen + nl + 1 > RC_STATIC_PATH_MAX)
				continue;
			/* O_NOFOLLOW: swapped for a link since the fstatat, it fails. */
			fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				ret = -errno;
				goto fail_name;
			}
			w->path[plen + nl] = '/';
			ret = walk_dir(w, fd, plen + nl + 1, depth + 1);
			if (ret < 0)
				goto out;
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (w->st->n >= RC_STATIC_MAX_FILES ||
		    (uint64_t)w->st->bytes + (uint64_t)sb.st_size > RC_STATIC_MAX_BYTES) {
			ret = -E2BIG;
			snprintf(w->err, w->errlen,
				 "static: %s: more than %d files or %u bytes in all", w->dir,
				 RC_STATIC_MAX_FILES, RC_STATIC_MAX_BYTES);
			goto out;
		}
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			goto fail_name;
		}
		/* The size that counts is the one of the file opened. */
		if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    (uint64_t)w->st->bytes + (uint64_t)sb.st_size > RC_STATIC_MAX_BYTES) {
			ret = S_ISREG(sb.st_mode) ? -E2BIG : -EINVAL;
			close(fd);
			goto fail_name;
		}
		ret = read_all(fd, (size_t)sb.st_size, &data);
		close(fd);
		if (ret < 0)
			goto fail_name;
		name = strndup(w->path, plen + nl);
		if (!name || add_file(w->st, name, data, (size_t)sb.st_size) < 0) {
			free(name);
			free(data);
			ret = -ENOMEM;
			goto fail_name;
		}
	}
	goto out;
fail_name:
	snprintf(w->err, w->errlen, "static: %s/%.*s%s: %s", w->dir, (int)plen, w->path, e->d_name,
		 strerror(-ret));
out:
	closedir(d);
	return ret;
}

int rc_static_load(struct rc_static *st, const char *prefix, const char *dir, char *err,
		   size_t errlen)
{
	struct walk w = { .st = st, .dir = dir, .err = err, .errlen = errlen };
	size_t pl = strlen(prefix);
	size_t n0 = st->n, b0 = st->bytes;
	int fd, ret;

	if (pl && !rc_static_name_ok(prefix, pl)) {
		snprintf(err, errlen, "static: bad mount prefix '/%s'", prefix);
		return -EINVAL;
	}
	if (pl + 1 > RC_STATIC_PATH_MAX) {
		snprintf(err, errlen, "static: mount prefix too long");
		return -ENAMETOOLONG;
	}
	/* dir itself may be a link: the operator named it. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "static: %s: %s", dir, strerror(-ret));
		return ret;
	}
	memcpy(w.path, prefix, pl);
	if (pl)
		w.path[pl++] = '/';
	ret = walk_dir(&w, fd, pl, 0);
	if (ret == 0)
		rc_log_info("static: /%s%s <- %s: %zu files, %zu bytes", prefix, pl ? "/" : "", dir,
			    st->n - n0, st->bytes - b0);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct rc_static_file *)a)->name,
		      ((const struct rc_static_file *)b)->name);
}

int rc_static_finish(struct rc_static *st, char *err, size_t errlen)
{
	if (st->n)
		qsort(st->files, st->n, sizeof(*st->files), by_name);
	for (size_t i = 1; i < st->n; i++) {
		if (strcmp(st->files[i - 1].name, st->files[i].name) == 0) {
			snprintf(err, errlen, "static: /%s is in two mounts", st->files[i].name);
			return -EEXIST;
		}
	}
	return 0;
}

const struct rc_static_file *rc_static_find(const struct rc_static *st, const char *name,
					    size_t len)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = st->files[mid].name;
		int c = strncmp(m, name, len);

		if (c == 0 && m[len] != '\0')
			c = 1;	/* m is longer: it sorts after name */
		if (c == 0)
			return &st->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void rc_static_free(struct rc_static *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->files[i].name);
		free(st->files[i].data);
	}
	free(st->files);
	memset(st, 0, sizeof(*st));
}
