/* A growable text buffer for responses built with printf-style calls
 * (/metrics, /channels, /connections). Allocation failures are sticky:
 * check `failed` once at the end. */
#ifndef RC_TEXTBUF_H
#define RC_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct rc_textbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

/* Starts an empty buffer with room for cap bytes (allocated lazily). */
void rc_textbuf_init(struct rc_textbuf *t, size_t cap);

/* Appends formatted text, growing the buffer as needed. */
void rc_textbuf_put(struct rc_textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the malloc'd text (NUL-terminated, *len bytes) and gives up
 * ownership, or NULL (and frees) when anything failed. */
char *rc_textbuf_take(struct rc_textbuf *t, size_t *len);

#endif
