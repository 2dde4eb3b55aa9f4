/* The outbound bytes of one NATS connection: two buffers, one being filled
 * (everything queued since the last send started) and one in flight (what
 * the one send on the socket is writing, resumed after a short write), so
 * that sends to the socket never interleave and appending never moves bytes
 * the kernel is reading. Both together stay under a bound, their allocated
 * capacity as well as their bytes; that capacity is charged to the process's memory bound (rc_mem_charge). No I/O here. */
#ifndef RC_NATS_OUTBUF_H
#define RC_NATS_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_nats_buf {
	char *data;
	size_t len;		/* bytes queued */
	size_t cap;		/* bytes allocated (and charged) */
	uint64_t msgs;		/* PUBs among them */
};

struct rc_nats_outbuf {
	struct rc_nats_buf fill;	/* appended to */
	struct rc_nats_buf flight;	/* being sent: data[off..len) still to go */
	size_t off;
	size_t limit;			/* fill.cap + flight.cap never exceed it */
};

/* Starts an empty buffer pair bounded at limit bytes. Allocates nothing. */
void rc_nats_outbuf_init(struct rc_nats_outbuf *o, size_t limit);

/* Room for n more bytes at the end of fill, growing it (doubling, charged)
 * while both buffers' capacity stays within the bound. Returns where to write them (the caller then calls
 * rc_nats_outbuf_commit with what it wrote), or NULL when they would pass
 * the bound or there is no memory. */
char *rc_nats_outbuf_reserve(struct rc_nats_outbuf *o, size_t n);

/* Counts n bytes written at the reserved place, msgs of them PUBs. */
void rc_nats_outbuf_commit(struct rc_nats_outbuf *o, size_t n, uint64_t msgs);

/* When nothing is in flight and fill holds bytes: makes them the flight
 * (swapping the buffers) and returns true. */
bool rc_nats_outbuf_take(struct rc_nats_outbuf *o);

/* Records that n bytes of the flight were written. Returns true when the
 * flight is complete (it is then empty, and *msgs gets its PUBs). */
bool rc_nats_outbuf_sent(struct rc_nats_outbuf *o, size_t n, uint64_t *msgs);

/* Empties both buffers (a connection lost); returns the PUBs they held.
 * Only the lengths are reset: a send may still be reading the flight's
 * memory, which must stay valid until its completion. */
uint64_t rc_nats_outbuf_clear(struct rc_nats_outbuf *o);

/* Gives back empty buffers larger than what is kept. Only when no send is
 * in flight. */
void rc_nats_outbuf_trim(struct rc_nats_outbuf *o);

/* Frees both buffers and uncharges them. */
void rc_nats_outbuf_fini(struct rc_nats_outbuf *o);

#endif
