/* "scheme://host[:port][/path]" parsing for the perf tools (ringcast-sub's
 * ws:// URL, ringcast-pub's --http URL). Pure and allocation-free. */
#ifndef RC_PERF_URL_H
#define RC_PERF_URL_H

#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 1024

struct url {
	char host[URL_HOST_MAX];	/* without IPv6 brackets */
	char authority[URL_HOST_MAX + 8];	/* host[:port] as written, for Host: */
	uint16_t port;			/* default_port when the URL has none */
	char path[URL_PATH_MAX];	/* starts with "/"; "/" when the URL has none */
};

/* Parses s as "<scheme>://HOST[:PORT][/PATH]" where HOST is a name, an IPv4
 * address or a bracketed IPv6 address, and the scheme matches `scheme`
 * case-insensitively. User info, fragments and whitespace are refused; a
 * query stays part of the path. Returns 0, -EPROTONOSUPPORT when the URL
 * has another scheme, or -EINVAL for anything malformed (including a port
 * outside 1..65535 or parts that do not fit struct url). */
int url_parse(const char *s, const char *scheme, uint16_t default_port, struct url *u);

#endif
