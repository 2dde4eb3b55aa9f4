/* Test helper: copies input so that it ends exactly at a PROT_NONE page, so
 * a parser that reads even one byte past the length it was given crashes
 * (SIGSEGV, which Criterion reports as a failed test). */
#ifndef RC_TEST_GUARD_H
#define RC_TEST_GUARD_H

#include <stddef.h>

/* Returns a writable copy of src[0..len) whose last byte is the last byte
 * before an inaccessible page (for len 0: the start of that page). Aborts the
 * test on allocation failure. Release with guard_free(p, len). */
void *guard_copy(const void *src, size_t len);

/* Releases a copy made by guard_copy(); len must be the same. */
void guard_free(void *p, size_t len);

#endif
