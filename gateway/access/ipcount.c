/* Connections per client address. See ipcount.h. */
#include "ipcount.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int rc_ipcount_key(const struct sockaddr *sa, socklen_t len, uint8_t ip[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(ip, mapped, sizeof(mapped));
		memcpy(ip + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void rc_ipcount_init(struct rc_ipcount *t)
{
	memset(t, 0, sizeof(*t));
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finaliser: every input bit reaches every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t slot_of(const struct rc_ipcount *t, const uint8_t ip[16])
{
	uint64_t a, b;

	memcpy(&a, ip, 8);
	memcpy(&b, ip + 8, 8);
	return (uint32_t)mix(mix(a ^ t->seed) ^ b) & (t->cap - 1);
}

/* The slot holding ip, or the empty slot where it would go. */
static struct rc_ipcount_slot *lookup(const struct rc_ipcount *t, const uint8_t ip[16])
{
	uint32_t i = slot_of(t, ip);

	while (t->slots[i].count && memcmp(t->slots[i].ip, ip, 16) != 0)
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

static int grow(struct rc_ipcount *t)
{
	struct rc_ipcount old = *t;
	uint32_t cap = t->cap ? t->cap * 2 : 64;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old.slots;
		return -ENOMEM;
	}
	t->cap = cap;
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.slots[i].count)
			*lookup(t, old.slots[i].ip) = old.slots[i];
	free(old.slots);
	return 0;
}

int rc_ipcount_add(struct rc_ipcount *t, const uint8_t ip[16], uint32_t max)
{
	struct rc_ipcount_slot *s;

	/* At most half full, so probe chains stay short. */
	if ((t->used + 1) * 2 > t->cap && grow(t) < 0)
		return -ENOMEM;
	s = lookup(t, ip);
	if (max && s->count >= max)
		return -EUSERS;
	if (!s->count) {
		memcpy(s->ip, ip, 16);
		t->used++;
	}
	s->count++;
	return 0;
}

void rc_ipcount_del(struct rc_ipcount *t, const uint8_t ip[16])
{
	struct rc_ipcount_slot *s;
	uint32_t i, j;

	if (!t->cap)
		return;
	s = lookup(t, ip);
	if (!s->count || --s->count)
		return;
	t->used--;
	/* Backward-shift deletion: later entries of the chain move up into the
	 * hole, so lookups never need tombstones. */
	i = (uint32_t)(s - t->slots);
	j = i;
	for (;;) {
		uint32_t home;

		j = (j + 1) & (t->cap - 1);
		if (!t->slots[j].count)
			break;
		home = slot_of(t, t->slots[j].ip);
		/* Entry j may fill hole i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j].count = 0;
		i = j;
	}
}

uint32_t rc_ipcount_get(const struct rc_ipcount *t, const uint8_t ip[16])
{
	return t->cap ? lookup(t, ip)->count : 0;
}

void rc_ipcount_fini(struct rc_ipcount *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}
