/* Open connections per client address, for --max-conns-per-ip: a small
 * open-addressing hash table keyed by the 16-byte address (IPv4 as
 * IPv4-mapped IPv6). Its hash is seeded at random, so a client choosing
 * many addresses cannot aim them all at one bucket chain it can predict. */
#ifndef RC_IPCOUNT_H
#define RC_IPCOUNT_H

#include <stdint.h>
#include <sys/socket.h>

struct rc_ipcount_slot {
	uint8_t ip[16];
	uint32_t count;		/* 0: empty slot */
};

struct rc_ipcount {
	struct rc_ipcount_slot *slots;
	uint32_t cap;		/* a power of two, or 0 before the first add */
	uint32_t used;		/* slots with count > 0 */
	uint64_t seed;
};

/* The 16-byte key of a socket address; returns 0, or -EAFNOSUPPORT. */
int rc_ipcount_key(const struct sockaddr *sa, socklen_t len, uint8_t ip[16]);

/* Prepares an empty table (seeded from getrandom, else the clock). */
void rc_ipcount_init(struct rc_ipcount *t);

/* Counts one more connection from ip unless it already has max (max 0: no
 * limit). Returns 0, -EUSERS (at the limit; nothing counted) or -ENOMEM. */
int rc_ipcount_add(struct rc_ipcount *t, const uint8_t ip[16], uint32_t max);

/* Counts one connection from ip less (it must have been added). */
void rc_ipcount_del(struct rc_ipcount *t, const uint8_t ip[16]);

/* Connections counted for ip now. */
uint32_t rc_ipcount_get(const struct rc_ipcount *t, const uint8_t ip[16]);

void rc_ipcount_fini(struct rc_ipcount *t);

#endif
