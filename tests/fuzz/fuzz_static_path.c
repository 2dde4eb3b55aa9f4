/* libFuzzer harness for rc_static_path_clean: whatever the request path,
 * an accepted one must come out as a clean relative name that cannot leave
 * the served tree, and decoding must never read or write out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "static_path.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan sees any read past the end. */
	char *in = malloc(size ? size : 1);
	char out[RC_STATIC_PATH_MAX + 1];
	char small[8];
	size_t n = 0, sn = 0;
	int ret, sret;

	check(in != NULL);
	memcpy(in, data, size);
	ret = rc_static_path_clean(in, size, out, sizeof(out), &n);
	check(ret == 0 || ret == -22 /* EINVAL */ || ret == -36 /* ENAMETOOLONG */);
	if (ret == 0) {
		check(n > 0 && n <= RC_STATIC_PATH_MAX && out[n] == '\0' && strlen(out) == n);
		check(rc_static_name_ok(out, n));
		check(out[0] != '/' && !strstr(out, "//") && !strstr(out, "/.") && out[0] != '.');
		check(!strchr(out, '\\') && !strchr(out, '%'));
		/* Decoding never makes a name longer than the request. */
		check(n <= size + sizeof(RC_STATIC_INDEX));
	}
	/* With a tiny output buffer: same verdict on bad input, never an
	 * overrun (ASan would see one in `small`). */
	sret = rc_static_path_clean(in, size, small, sizeof(small), &sn);
	if (ret == -22)
		check(sret == -22 || sret == -36);
	if (sret == 0)
		check(ret == 0 && sn == n && memcmp(small, out, n + 1) == 0);
	free(in);
	return 0;
}
