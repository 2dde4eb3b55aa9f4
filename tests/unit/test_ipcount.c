/* Connections per address (gateway/ipcount.c): limits, and a random
 * add/delete sequence checked against a plain array, which exercises
 * growth and backward-shift deletion. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ipcount.h"

static void ip_of(unsigned n, uint8_t ip[16])
{
	memset(ip, 0, 16);
	ip[0] = 0x20;
	ip[1] = 0x01;
	memcpy(ip + 12, &n, sizeof(n));
}

Test(ipcount, limit_and_keys)
{
	struct rc_ipcount t;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	uint8_t k4[16], k6[16];

	rc_ipcount_init(&t);
	inet_pton(AF_INET, "192.0.2.1", &a4.sin_addr);
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &a6.sin6_addr);
	cr_assert_eq(rc_ipcount_key((struct sockaddr *)&a4, sizeof(a4), k4), 0);
	cr_assert_eq(rc_ipcount_key((struct sockaddr *)&a6, sizeof(a6), k6), 0);
	cr_assert_eq(memcmp(k4, k6, 16), 0, "IPv4 and its mapped form are one client");
	cr_assert_eq(rc_ipcount_add(&t, k4, 2), 0);
	cr_assert_eq(rc_ipcount_add(&t, k4, 2), 0);
	cr_assert_eq(rc_ipcount_add(&t, k4, 2), -EUSERS);
	cr_assert_eq(rc_ipcount_get(&t, k4), 2);
	rc_ipcount_del(&t, k4);
	cr_assert_eq(rc_ipcount_add(&t, k4, 2), 0);
	rc_ipcount_del(&t, k4);
	rc_ipcount_del(&t, k4);
	cr_assert_eq(rc_ipcount_get(&t, k4), 0);
	cr_assert_eq(t.used, 0);
	rc_ipcount_fini(&t);
}

Test(ipcount, random_against_reference)
{
	enum { N = 3000, OPS = 200000 };
	static uint32_t ref[N];
	struct rc_ipcount t;
	uint8_t ip[16];

	rc_ipcount_init(&t);
	srand(7);
	for (int op = 0; op < OPS; op++) {
		unsigned n = (unsigned)rand() % N;

		ip_of(n, ip);
		if (rand() % 2 && ref[n]) {
			rc_ipcount_del(&t, ip);
			ref[n]--;
		} else {
			cr_assert_eq(rc_ipcount_add(&t, ip, 0), 0);
			ref[n]++;
		}
	}
	for (unsigned n = 0; n < N; n++) {
		ip_of(n, ip);
		cr_assert_eq(rc_ipcount_get(&t, ip), ref[n], "address %u", n);
		while (ref[n]--)
			rc_ipcount_del(&t, ip);
	}
	cr_assert_eq(t.used, 0);
	rc_ipcount_fini(&t);
}
