/* UDP ingest ports as publishers: a port bound to a channel, or a mux port
 * whose datagrams name their channel (and its key). */
#ifndef RC_UDP_BIND_H
#define RC_UDP_BIND_H

#include <stdint.h>

#include "udp_ingest.h"

/* The datagram callback of every UDP ingest port (its rc_udp_port is the
 * first member of a struct rc_ingest): publishes payload[0..len) of ingest
 * ring buffer bid on the port's channel, or on the one a mux header names
 * (consumed, so the frame header can be written over it). Counts malformed
 * mux headers, unknown channels and wrong keys. */
void rc_udp_bind_datagram(struct rc_udp_port *p, uint16_t bid, uint8_t *payload, uint32_t len);

#endif
