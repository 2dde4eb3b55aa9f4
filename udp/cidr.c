/* CIDR allowlists. See cidr.h. */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int rc_cidr_parse(const char *s, size_t len, struct rc_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', len);
	size_t hl = slash ? (size_t)(slash - s) : len;
	unsigned bits = 0, max;
	bool v6;

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	v6 = memchr(host, ':', hl) != NULL;
	if (v6) {
		if (inet_pton(AF_INET6, host, out->addr) != 1)
			return -EINVAL;
		max = 128;
	} else {
		memcpy(out->addr, v4_mapped, sizeof(v4_mapped));
		if (inet_pton(AF_INET, host, out->addr + 12) != 1)
			return -EINVAL;
		max = 32;
	}
	if (slash) {
		size_t i = hl + 1;

		/* 1-3 digits, no sign, no spaces: strtoul would accept both. */
		if (i == len || len - i > 3)
			return -EINVAL;
		for (; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -EINVAL;
			bits = bits * 10 + (unsigned)(s[i] - '0');
		}
		if (bits > max)
			return -EINVAL;
	} else {
		bits = max;
	}
	if (!v6)
		bits += 96;
	for (unsigned b = bits; b < 128; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8)))
			return -EINVAL;
	out->bits = (uint8_t)bits;
	return 0;
}

static bool prefix_match(const struct rc_cidr *c, const uint8_t a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, full) != 0)
		return false;
	if (!rest)
		return true;
	return ((c->addr[full] ^ a[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool rc_cidr_match(const struct rc_cidr *list, size_t n, const struct sockaddr *sa,
		   socklen_t sa_len)
{
	uint8_t a[16];

	if (sa->sa_family == AF_INET && sa_len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(a, v4_mapped, sizeof(v4_mapped));
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && sa_len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (prefix_match(&list[i], a))
			return true;
	return false;
}
