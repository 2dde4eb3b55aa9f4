/* Test helper: a plain code-point UTF-8 decoder, the reference that the unit
 * test (tests/unit/test_utf8.c) and the fuzz harness (tests/fuzz/fuzz_utf8.c)
 * hold ws/utf8.c's streaming validator to. */
#ifndef RC_TEST_UTF8_REF_H
#define RC_TEST_UTF8_REF_H

#include <stddef.h>
#include <stdint.h>

enum verdict { VALID, INVALID, INCOMPLETE };

/* Decodes s[0..len) code point by code point and checks the RFC 3629 rules
 * on each value. A truncated last sequence is INCOMPLETE only when some
 * completion could still be valid: the missing continuation bytes span a
 * range of code points [lo, hi], which must meet the allowed range without
 * lying entirely inside the surrogates. */
enum verdict utf8_reference(const uint8_t *s, size_t len);

#endif
