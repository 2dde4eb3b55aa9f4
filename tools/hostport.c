/* "HOST:PORT" parsing shared by the perf tools. */
#include "num.h"
#include "hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hostport_parse_port(const char *s)
{
	uint64_t v;

	if (rc_num_parse_u64(s, 1, 65535, &v) < 0)
		return -EINVAL;
	return (int)v;
}

int hostport_parse(const char *s, uint16_t default_port,
		   struct sockaddr_storage *out, socklen_t *out_len)
{
	char host[256];
	const char *port_str = NULL;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int port = default_port;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*s == '[') {
		/* Brackets are the only unambiguous way to put a port after an
		 * IPv6 address, whose text form contains colons itself. */
		const char *close = strchr(s, ']');

		if (close == NULL)
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_str = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strrchr(s, ':');

		/* A bare IPv6 address without brackets has several colons;
		 * refuse rather than guess where the port starts. */
		if (colon != NULL && strchr(s, ':') != colon)
			return -EINVAL;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon != NULL)
			port_str = colon + 1;
	}
	if (port_str != NULL)
		port = hostport_parse_port(port_str);
	if (port <= 0)
		return -EINVAL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -EHOSTUNREACH;
	if (res->ai_addrlen > sizeof(*out)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*out_len = res->ai_addrlen;
	freeaddrinfo(res);
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
	else if (out->ss_family == AF_INET6)
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
	else
		return -EINVAL;
	return 0;
}

const char *hostport_format(const struct sockaddr_storage *addr, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (addr->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(buf, cap, "?");
	}
	return buf;
}
