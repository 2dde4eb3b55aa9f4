/* URL parsing for the perf tools; see url.h. Written here rather than taken
 * from a library because the tools need only this one shape, and lws's own
 * lws_parse_uri() rewrites its input and accepts URLs without a scheme. */
#include "url.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* Bytes that may appear unescaped in a path: RFC 3986 pchar, "/" and "?",
 * plus "%" for escapes (left as they are). No spaces or controls. */
static int path_byte_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '<' && c != '>' &&
	       c != '\\' && c != '^' && c != '`' && c != '{' && c != '|' && c != '}';
}

static int host_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int url_parse(const char *s, const char *scheme, uint16_t default_port, struct url *u)
{
	size_t sl = strlen(scheme);
	const char *p, *auth, *auth_end, *host, *host_end, *path;
	unsigned long port = default_port;

	if (s == NULL || u == NULL)
		return -EINVAL;
	p = strstr(s, "://");
	if (p == NULL || p == s)
		return -EINVAL;
	if ((size_t)(p - s) != sl || strncasecmp(s, scheme, sl) != 0)
		return -EPROTONOSUPPORT;
	auth = p + 3;
	auth_end = auth + strcspn(auth, "/");
	if (auth_end == auth || (size_t)(auth_end - auth) >= sizeof(u->authority))
		return -EINVAL;

	if (*auth == '[') {
		/* IPv6 literal: hex digits, colons, dots (v4-mapped), and a
		 * zone is not supported. */
		host = auth + 1;
		host_end = host;
		while (host_end < auth_end && *host_end != ']') {
			unsigned char c = (unsigned char)*host_end;

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
				return -EINVAL;
			host_end++;
		}
		if (host_end == auth_end || host_end == host)
			return -EINVAL;
		p = host_end + 1;
	} else {
		host = auth;
		host_end = auth;
		while (host_end < auth_end && *host_end != ':') {
			if (!host_byte_ok((unsigned char)*host_end))
				return -EINVAL;	/* also refuses "user@" */
			host_end++;
		}
		if (host_end == host)
			return -EINVAL;
		p = host_end;
	}
	if (p < auth_end) {
		if (*p != ':' || p + 1 == auth_end || auth_end - (p + 1) > 5)
			return -EINVAL;
		port = 0;
		for (const char *d = p + 1; d < auth_end; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			port = port * 10 + (unsigned long)(*d - '0');
		}
	}
	if (port < 1 || port > 65535)
		return -EINVAL;

	path = *auth_end ? auth_end : "/";
	for (const char *c = path; *c; c++)
		if (!path_byte_ok((unsigned char)*c))
			return -EINVAL;
	if (strlen(path) >= sizeof(u->path) || (size_t)(host_end - host) >= sizeof(u->host))
		return -EINVAL;

	memcpy(u->host, host, (size_t)(host_end - host));
	u->host[host_end - host] = '\0';
	memcpy(u->authority, auth, (size_t)(auth_end - auth));
	u->authority[auth_end - auth] = '\0';
	u->port = (uint16_t)port;
	strcpy(u->path, path);
	return 0;
}
