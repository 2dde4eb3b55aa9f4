/* A message copied once into the heap and shared by reference, like a ring
 * buffer: for messages that could not stay where they were received (a
 * framed TCP message that straddles receive buffers, or one whose frame
 * header has no room in front of it). Every subscriber's send points at the
 * same copy; the last reference frees it. */
#ifndef RC_SHMSG_H
#define RC_SHMSG_H

#include <stddef.h>
#include <stdint.h>

/* Bytes in front of the payload for a frame header (WebSocket: 10). */
#define RC_SHMSG_HEADROOM 16

/* Entries of a batch's ends[] (rc_shmsg_add_ends): a queue entry counts up
 * to 255 messages. */
#define RC_SHMSG_ENDS_MAX 255

struct rc_shmsg {
	uint32_t refs;
	uint32_t cap;		/* payload capacity */
	uint32_t len;		/* payload bytes filled */
	uint32_t nends;
	/* A fan-out batch holds several messages: ends[i] is where message i
	 * ends in data[], so a send cut short can tell how many went out
	 * whole. NULL for a single message; else RC_SHMSG_ENDS_MAX entries
	 * (rc_shmsg_add_ends). Freed with the message. */
	uint32_t *ends;
	uint8_t head[RC_SHMSG_HEADROOM];
	uint8_t data[];		/* the payload; head[] ends where it starts */
};

/* Allocates a message for cap payload bytes with one reference (the
 * caller's), charged to the process's memory (rc_mem) until it is freed.
 * Returns NULL when out of memory. */
struct rc_shmsg *rc_shmsg_new(uint32_t cap);

/* Gives m an ends[] array of RC_SHMSG_ENDS_MAX entries (a batch). Returns 0
 * or -ENOMEM. */
int rc_shmsg_add_ends(struct rc_shmsg *m);

/* Bytes m holds on the heap, as charged to rc_mem. */
size_t rc_shmsg_size(const struct rc_shmsg *m);

/* Adds a reference. */
static inline void rc_shmsg_ref(struct rc_shmsg *m)
{
	m->refs++;
}

/* Drops a reference; the last one frees the message. */
void rc_shmsg_unref(struct rc_shmsg *m);

/* For a batch (ends != NULL): how many of its messages lie wholly within
 * data[0..off). */
uint32_t rc_shmsg_whole(const struct rc_shmsg *m, uint32_t off);

/* Gives *mp room for cap payload bytes (moving it, so only while its one
 * reference is the caller's and nothing points into it yet). Returns 0, or
 * -ENOMEM with *mp untouched. */
int rc_shmsg_reserve(struct rc_shmsg **mp, uint32_t cap);

#endif
