/* A WebSocket subscriber's side of the uplink (ingest/uplink.h): its binary
 * messages, bounded in size (uplink-max) and rate (uplink-rate), go to the
 * publisher of the channel it names with {"to":"x"}, or of its own channel
 * (/ws/<channel>). A binary message for a channel without uplink=on is read,
 * counted and dropped, as before uplink existed. Beyond either bound the
 * subscriber is closed with 1008, counted. */
#ifndef RC_UPLINK_IN_H
#define RC_UPLINK_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"

/* One piece of a binary message from c (data[0..len), the last one when
 * fin; compressed: the message came with RSV1, and is inflated, within
 * uplink-max, once whole). The bytes are only valid during the call. */
void rc_uplink_in(struct rc_conn *c, const uint8_t *data, size_t len, bool fin, bool compressed);

/* {"to":"x"}: c's binary messages go to channel x's publisher from now on;
 * answered {"uplink":"x"}, or an error when c is not subscribed to x or x
 * has no uplink. */
void rc_uplink_in_to(struct rc_conn *c, const char *name, size_t len);

/* Bytes c's uplink holds (for its bound). */
size_t rc_uplink_in_held(const struct rc_conn *c);

/* Frees c's uplink state (the connection is going). */
void rc_uplink_in_free(struct rc_conn *c);

#endif
