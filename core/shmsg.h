/* A message copied once into the heap and shared by reference, like a ring
 * buffer: for messages that could not stay where they were received (a
 * framed TCP message that straddles receive buffers, or one whose frame
 * header has no room in front of it). Every subscriber's send points at the
 * same copy; the last reference frees it.
 *
 * A view (rc_shmsg_view_init) is the same handle on bytes that live
 * elsewhere, itself kept in memory its releaser owns: a message another
 * worker handed over, which this worker's subscribers share by the view's
 * plain, loop-local count. Its last reference calls the release function
 * (which drops the one reference this worker holds on the bytes) and frees
 * nothing itself. */
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
	/* The payload: buf[] below, or (a view) borrowed bytes with at least
	 * RC_SHMSG_HEADROOM bytes in front of them, which a view never
	 * writes. */
	uint8_t *data;
	void (*release)(void *arg);	/* a view's: called by its last unref */
	void *release_arg;
	uint8_t head[RC_SHMSG_HEADROOM];
	uint8_t buf[];		/* an owned payload; head[] ends where it starts */
};

/* Allocates a message for cap payload bytes with one reference (the
 * caller's), charged to the process's memory (rc_mem) until it is freed.
 * Returns NULL when out of memory. */
struct rc_shmsg *rc_shmsg_new(uint32_t cap);

/* Makes *m a view of len bytes at data, with one reference (the
 * caller's); its last unref calls release(arg) and frees neither m nor the
 * bytes. m is not charged to rc_mem (its owner's memory is). data must lie
 * after m, less than 64 KiB past it (the send queue finds the handle from
 * the bytes; see sendq.c). Nothing may write through a view: other
 * threads read the same bytes. */
void rc_shmsg_view_init(struct rc_shmsg *m, uint8_t *data, uint32_t len,
			void (*release)(void *arg), void *arg);

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
 * reference is the caller's and nothing points into it yet; never a
 * view). Returns 0, or
 * -ENOMEM with *mp untouched. */
int rc_shmsg_reserve(struct rc_shmsg **mp, uint32_t cap);

#endif
