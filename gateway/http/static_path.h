/* Request paths of the static file server: decodes and checks the path of
 * a GET for a file, so the lookup only ever sees a clean relative name.
 * Pure and allocation-free. */
#ifndef RC_STATIC_PATH_H
#define RC_STATIC_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest clean path (without the leading '/') a request may name. */
#define RC_STATIC_PATH_MAX 255

/* The file served for a path that ends in '/'. */
#define RC_STATIC_INDEX "index.html"

/* Turns the path of a request target, path[0..len) (the part before any
 * '?'), into the relative name of a file: out gets it NUL-terminated and
 * *out_len its length (cap: out's size; RC_STATIC_PATH_MAX + 1 always
 * suffices). The path must start with '/'. "%XX" escapes are decoded once;
 * after decoding every byte must be one of A-Z a-z 0-9 - . _ ~ @ + or a
 * literal '/' that separates two non-empty segments, and no segment may
 * start with '.' (no "." or "..", no hidden files). So an encoded slash
 * (%2F), a backslash, NUL and other control bytes, a '%' that remains after
 * decoding (double encoding, %252e) and "//" are all refused. A path that
 * ends in '/' (including "/" itself) names RC_STATIC_INDEX in that
 * directory. Returns 0, -EINVAL for a refused path, or -ENAMETOOLONG. */
int rc_static_path_clean(const char *path, size_t len, char *out, size_t cap, size_t *out_len);

/* True when name[0..len) is a clean relative name as produced above
 * (used for the names found on disk at load time). */
bool rc_static_name_ok(const char *name, size_t len);

#endif
