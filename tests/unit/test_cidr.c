/* CIDR allowlists (udp/cidr.c): parsing, IPv4 and IPv6 matching, mapped
 * addresses, and input that ends at a guard page. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"
#include "guard.h"

static int parse_guarded(const char *s, struct rc_cidr *c)
{
	size_t len = strlen(s);
	char *g = guard_copy(s, len ? len : 1);
	int r = rc_cidr_parse(g, len, c);

	guard_free(g, len ? len : 1);
	return r;
}

static bool match4(const struct rc_cidr *list, size_t n, const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };

	cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return rc_cidr_match(list, n, (const struct sockaddr *)&a, sizeof(a));
}

static bool match6(const struct rc_cidr *list, size_t n, const char *ip)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(9) };

	cr_assert_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return rc_cidr_match(list, n, (const struct sockaddr *)&a, sizeof(a));
}

Test(cidr, parse)
{
	static const char *good[] = { "10.0.0.0/8", "192.0.2.7", "0.0.0.0/0", "::/0", "::1",
				      "2001:db8::/32", "2001:db8::1/128", "192.0.2.0/24",
				      "fe80::/10" };
	static const char *bad[] = { "", "/8", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/",
				     "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/0008", "300.0.0.0",
				     "2001:db8::1/32", "::/129", "host", "10.0.0.0/8/8",
				     "1.2.3", "::ffff:10.0.0.0/200" };
	struct rc_cidr c;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(parse_guarded(good[i], &c), 0, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_guarded(bad[i], &c), -EINVAL, "%s", bad[i]);
	cr_assert_eq(parse_guarded("10.0.0.0/8", &c), 0);
	cr_assert_eq(c.bits, 104);
	cr_assert_eq(parse_guarded("2001:db8::/32", &c), 0);
	cr_assert_eq(c.bits, 32);
}

Test(cidr, match)
{
	struct rc_cidr l[4];

	cr_assert_eq(rc_cidr_parse("10.0.0.0/8", 10, &l[0]), 0);
	cr_assert_eq(rc_cidr_parse("192.0.2.7", 9, &l[1]), 0);
	cr_assert_eq(rc_cidr_parse("2001:db8::/33", 13, &l[2]), 0);
	cr_assert_eq(rc_cidr_parse("172.16.0.0/12", 13, &l[3]), 0);
	cr_assert(match4(l, 4, "10.1.2.3"));
	cr_assert(match4(l, 4, "10.255.255.255"));
	cr_assert(!match4(l, 4, "11.0.0.0"));
	cr_assert(match4(l, 4, "192.0.2.7"));
	cr_assert(!match4(l, 4, "192.0.2.8"));
	cr_assert(match4(l, 4, "172.31.0.1"));
	cr_assert(!match4(l, 4, "172.32.0.1"));
	cr_assert(match6(l, 4, "2001:db8::5"));
	cr_assert(match6(l, 4, "2001:db8:7fff::"));
	cr_assert(!match6(l, 4, "2001:db8:8000::"));
	cr_assert(!match6(l, 4, "::1"));
	/* A v4-mapped source counts as its IPv4 address. */
	cr_assert(match6(l, 4, "::ffff:10.9.9.9"));
	cr_assert(!match6(l, 4, "::ffff:11.9.9.9"));
	/* Empty list, other families. */
	cr_assert(!match4(l, 0, "10.1.2.3"));
	{
		struct sockaddr sa = { .sa_family = AF_UNIX };

		cr_assert(!rc_cidr_match(l, 4, &sa, sizeof(sa)));
	}
	/* /0 admits everything of its family; ::/0 also the mapped IPv4. */
	cr_assert_eq(rc_cidr_parse("0.0.0.0/0", 9, &l[0]), 0);
	cr_assert(match4(l, 1, "203.0.113.1"));
	cr_assert(!match6(l, 1, "::1"));
	cr_assert_eq(rc_cidr_parse("::/0", 4, &l[0]), 0);
	cr_assert(match6(l, 1, "::1"));
	cr_assert(match4(l, 1, "203.0.113.1"));
}
