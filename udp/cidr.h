/* Source address allowlists: CIDR prefixes ("10.0.0.0/8", "2001:db8::/32",
 * "192.0.2.7" for one host) and the test of an address against a list.
 * Pure and allocation-free. */
#ifndef RC_CIDR_H
#define RC_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One prefix. IPv4 prefixes are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d,
 * bits + 96), so one comparison serves both families. */
struct rc_cidr {
	uint8_t addr[16];	/* the bits past `bits` are zero */
	uint8_t bits;		/* 0..128 */
};

/* Parses s[0..len): an IPv4 or IPv6 address, optionally "/BITS" (0-32 or
 * 0-128; without it the whole address). Host bits set beyond the prefix
 * are refused (a typo like 10.0.0.1/8 would otherwise widen silently).
 * Returns 0 or -EINVAL. */
int rc_cidr_parse(const char *s, size_t len, struct rc_cidr *out);

/* True when sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * its IPv4 address) lies in one of list[0..n). False for other families
 * and for an empty list. */
bool rc_cidr_match(const struct rc_cidr *list, size_t n, const struct sockaddr *sa,
		   socklen_t sa_len);

#endif
