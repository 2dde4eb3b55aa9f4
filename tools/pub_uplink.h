/* ringcast-pub's side of the uplink: what subscribers of a channel with
 * uplink=on send back, read without blocking from the publisher's own
 * socket between two sends.
 *
 *   TCP framed  [u32 length][u32 subscriber id][payload], big-endian, the
 *               length counting the id and the payload
 *   UDP         one datagram [u32 subscriber id][payload] per message
 *
 * The parser is pure (pub_uplink_feed); pub_uplink_poll() reads. */
#ifndef RC_TOOLS_PUB_UPLINK_H
#define RC_TOOLS_PUB_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUB_UPLINK_MAX 65000	/* the gateway's largest uplink-max */

/* Called for each uplink message. */
typedef void (*pub_uplink_fn)(void *arg, uint32_t id, const uint8_t *data, size_t len);

struct pub_uplink {
	int fd;
	bool stream;			/* TCP: frames in a byte stream; else datagrams */
	uint64_t msgs, bytes, bad;	/* messages read, their bytes, malformed frames */
	size_t have;			/* TCP: bytes of a frame held in buf */
	uint8_t buf[8 + PUB_UPLINK_MAX];
};

/* Reads from u->fd until it would block, calling fn for each whole message.
 * Returns 0, or negative errno when the socket failed (a TCP peer that
 * closed gives -ECONNRESET). */
int pub_uplink_poll(struct pub_uplink *u, pub_uplink_fn fn, void *arg);

/* The stream parser: takes data[0..len) of a TCP uplink stream, calling fn
 * for each whole frame; keeps a partial frame in u->buf. A frame longer
 * than PUB_UPLINK_MAX is counted in u->bad and the stream can no longer be
 * followed: returns -EPROTO. Returns 0 otherwise. */
int pub_uplink_feed(struct pub_uplink *u, const uint8_t *data, size_t len, pub_uplink_fn fn,
		    void *arg);

#endif
