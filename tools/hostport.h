/* "HOST:PORT" parsing shared by the perf tools. */
#ifndef RC_PERF_HOSTPORT_H
#define RC_PERF_HOSTPORT_H

#include <stdint.h>
#include <sys/socket.h>

/* Parses "HOST:PORT", "[V6ADDR]:PORT" or, when default_port is nonzero, a bare
 * "HOST" or "[V6ADDR]". HOST may be a numeric address or a name (resolved
 * with getaddrinfo, first result). The result is written to *out / *out_len.
 * Returns 0, -EINVAL for bad syntax or port, -EHOSTUNREACH when the name does
 * not resolve. */
int hostport_parse(const char *s, uint16_t default_port,
		   struct sockaddr_storage *out, socklen_t *out_len);

/* Parses a decimal port 1..65535 from the whole string s.
 * Returns the port, or -EINVAL. */
int hostport_parse_port(const char *s);

/* Formats addr as "HOST:PORT" or "[V6]:PORT" into buf (cap bytes; 64 is
 * always enough). Returns buf. */
const char *hostport_format(const struct sockaddr_storage *addr, char *buf, size_t cap);

#endif
