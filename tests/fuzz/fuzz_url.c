/* libFuzzer harness for url_parse() (ringcast-sub's URL, ringcast-pub's
 * --http URL): any input either fails cleanly or yields parts that are
 * NUL-terminated, fit their fields, and put together again give back a URL
 * that parses to the same parts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	char again[URL_HOST_MAX + URL_PATH_MAX + 32];
	struct url u, v;
	int r;

	if (s == NULL)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';	/* url_parse takes a C string; NULs inside end it early */
	r = url_parse(s, "ws", 80, &u);
	check(r == 0 || r == -EINVAL || r == -EPROTONOSUPPORT);
	if (r == 0) {
		check(memchr(u.host, '\0', sizeof(u.host)) != NULL && u.host[0] != '\0');
		check(memchr(u.path, '\0', sizeof(u.path)) != NULL && u.path[0] == '/');
		check(u.port >= 1);
		snprintf(again, sizeof(again), "ws://%s%s", u.authority, u.path);
		check(url_parse(again, "ws", 80, &v) == 0);
		check(strcmp(u.host, v.host) == 0 && strcmp(u.path, v.path) == 0 &&
		      u.port == v.port && strcmp(u.authority, v.authority) == 0);
	}
	free(s);
	return 0;
}
