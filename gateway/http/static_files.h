/* The static files ringcast serves (the demo page, the browser client, the
 * video player): directory trees read into memory once at start-up, so
 * answering a request never touches the file system (see
 * docs/ARCHITECTURE.md, "Static files"). */
#ifndef RC_STATIC_FILES_H
#define RC_STATIC_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "static_path.h"

#define RC_STATIC_MAX_FILES 1024		/* over all mounts */
#define RC_STATIC_MAX_BYTES (64u << 20)	/* over all mounts */
#define RC_STATIC_MAX_DEPTH 8			/* directory levels below a mount */

struct rc_static_file {
	char *name;		/* URL path without the leading '/', e.g. "vendor/x/a.js" */
	uint8_t *data;
	size_t len;
	const char *type;	/* Content-Type, from the name's extension */
};

struct rc_static {
	struct rc_static_file *files;	/* sorted by name after rc_static_finish() */
	size_t n, cap;
	size_t bytes;
};

/* Reads every regular file under dir into st, each named prefix + "/" +
 * its path below dir (prefix "" mounts at the root). Symbolic links are
 * never followed, below dir (lstat, O_NOFOLLOW): a link cannot lead out of
 * the tree. Hidden entries (".name") and names rc_static_name_ok() refuses
 * are skipped. Fails with -E2BIG past RC_STATIC_MAX_FILES or
 * RC_STATIC_MAX_BYTES, -ELOOP deeper than RC_STATIC_MAX_DEPTH, or -errno
 * of a file that cannot be read; err gets a one-line reason. st keeps
 * what was read so far; free it with rc_static_free(). */
int rc_static_load(struct rc_static *st, const char *prefix, const char *dir, char *err,
		   size_t errlen);

/* Sorts the table for lookups. Returns 0, or -EEXIST (reason in err) when
 * two mounts provide the same name. */
int rc_static_finish(struct rc_static *st, char *err, size_t errlen);

/* The file named name[0..len) (a clean name, see rc_static_path_clean()),
 * or NULL. */
const struct rc_static_file *rc_static_find(const struct rc_static *st, const char *name,
					    size_t len);

/* Content-Type for a file name, by its extension; application/octet-stream
 * when unknown. Pure. */
const char *rc_static_type(const char *name, size_t len);

/* Frees every file; st is empty afterwards. */
void rc_static_free(struct rc_static *st);

#endif
