#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void rc_textbuf_init(struct rc_textbuf *t, size_t cap)
{
	t->buf = NULL;
	t->len = 0;
	t->cap = cap ? cap : 256;
	t->failed = false;
}

void rc_textbuf_put(struct rc_textbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	if (!t->buf) {
		t->buf = malloc(t->cap);
		if (!t->buf) {
			t->failed = true;
			return;
		}
	}
	for (;;) {
		size_t cap;
		char *b;

		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		cap = t->cap * 2 + (size_t)n;
		b = realloc(t->buf, cap);
		if (!b) {
			t->failed = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

char *rc_textbuf_take(struct rc_textbuf *t, size_t *len)
{
	char *b = t->buf;

	if (t->failed || !b) {
		free(b);
		t->buf = NULL;
		return NULL;
	}
	*len = t->len;
	t->buf = NULL;
	return b;
}
