/* Uplink: data that a channel's WebSocket subscribers send back to the
 * channel's publisher (a game's players' input), on channels with
 * uplink=on only.
 *
 * Each uplink message reaches the publisher with the sending subscriber's
 * id (a number unique in the process while the subscriber is connected):
 *   - a framed TCP publisher gets it on its own connection as
 *     [u32 length][u32 subscriber id][payload], big-endian, the length
 *     counting the id and the payload;
 *   - a UDP publisher gets a datagram [u32 subscriber id][payload] from the
 *     ingest port it publishes to, sent to the source of the channel's
 *     latest datagram (or to the channel's uplink-to address).
 * Raw TCP and HTTP publishers get nothing: their streams have no place
 * for it; such messages are dropped and counted as "no publisher".
 *
 * The target (publisher connection or port) lives on one worker; the
 * registry entry names it (rc_chanreg_ent.uplink_loop). A subscriber on
 * another worker hands its message there in a block of its own
 * (RC_RELAY_UPLINK): the only copy, made once, as the message leaves the
 * subscriber's input buffer. Nothing a subscriber sends is ever fanned
 * out; the publisher sends it back out if it wants others to see it. */
#ifndef RC_UPLINK_H
#define RC_UPLINK_H

#include <stdint.h>
#include <sys/socket.h>

#include "channel.h"

struct rc_server;
struct rc_publisher;
struct rc_udp_port;

/* Where a channel's uplink goes on this worker (rc_chan.uplink). */
struct rc_uplink_target {
	struct rc_publisher *pub;	/* a framed TCP publisher, or NULL */
	struct rc_udp_port *port;	/* else the UDP port of the latest datagram, or NULL */
	struct sockaddr_storage src;	/* that datagram's source */
	socklen_t src_len;
};

/* Bytes of uplink frames a TCP publisher may have waiting to be sent to
 * it; messages past it are dropped (counted as backlog) rather than
 * stopping the publisher's own input. */
#define RC_UPLINK_PUB_QUEUE_MAX (256u * 1024)

/* A subscriber's message for ch's publisher: data[0..len), from subscriber
 * sub_id. Delivers it on this worker or hands it to the worker that has
 * the target; counts it, or counts why it was dropped. ch must have
 * uplink=on (the caller checked). */
void rc_uplink_send(struct rc_server *srv, struct rc_channel *ch, uint32_t sub_id,
		    const uint8_t *data, uint32_t len);

/* On the worker that has the target: delivers a message for the channel
 * named name[0..name_len) (rc_uplink_send(), or a hand-off from another
 * worker). */
void rc_uplink_deliver(struct rc_server *srv, const char *name, size_t name_len, uint32_t sub_id,
		       const uint8_t *data, uint32_t len);

/* A framed TCP publisher p has claimed ch: it is the uplink target now. */
void rc_uplink_claim_tcp(struct rc_server *srv, struct rc_channel *ch, struct rc_publisher *p);

/* p is going: if it was ch's target, ch has none any more. */
void rc_uplink_release_tcp(struct rc_server *srv, struct rc_channel *ch, struct rc_publisher *p);

/* A datagram of ch came in on port from src[0..src_len): without a framed
 * TCP publisher, that source (on that port) is the target now. Cheap when
 * nothing changed: one compare. */
void rc_uplink_note_udp(struct rc_server *srv, struct rc_channel *ch, struct rc_udp_port *port,
			const struct sockaddr *src, socklen_t src_len);

#endif
