/* UDP ingest: one bound socket whose datagrams are received with one
 * multishot recvmsg into the shared provided-buffer ring. Each datagram is
 * handed to the owner in place, inside its ring buffer. */
#ifndef RC_UDP_INGEST_H
#define RC_UDP_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bufring.h"
#include "cidr.h"
#include "loop.h"

struct rc_udp_port;

/* A datagram arrived: payload[0..len) lies in ring buffer bid, which holds
 * one reference owned by the port for the duration of this call only. To
 * keep the data past the call, take references (rc_bufring_ref()). The
 * bytes in front of payload (at least RC_UDP_HEADROOM) may be overwritten. */
typedef void (*rc_udp_msg_fn)(struct rc_udp_port *p, uint16_t bid, uint8_t *payload, uint32_t len);

/* Bytes the owner may write in front of every payload. */
#define RC_UDP_HEADROOM 16

struct rc_udp_stats {
	uint64_t datagrams;	/* delivered to the owner */
	uint64_t bytes;
	uint64_t truncated;	/* larger than a ring buffer: dropped, counted */
	uint64_t kernel_drops;	/* dropped by the kernel (socket buffer full), SO_RXQ_OVFL */
	uint64_t enobufs;	/* receives stopped because the ring was empty */
	uint64_t rearms;	/* multishot receives re-armed */
	uint64_t errors;	/* other receive errors */
	uint64_t denied;	/* from a source outside the port's allowlist: dropped */
};

struct rc_udp_port {
	struct rc_io io;		/* the multishot recvmsg */
	struct rc_deferred rearm;	/* re-arm at the end of a turn */
	struct rc_timer backoff;	/* re-arm after an unexpected error */
	struct rc_loop *loop;
	struct rc_bufring *br;
	rc_udp_msg_fn on_msg;
	void *owner;
	/* Source allowlist (set after rc_udp_open; the owner keeps the
	 * array): with nallow > 0, datagrams from elsewhere are dropped and
	 * counted in stats.denied before on_msg sees them. */
	const struct rc_cidr *allow;
	size_t nallow;
	int fd;
	bool armed;		/* the recvmsg is in flight */
	bool timer_armed;
	bool stopping;
	uint32_t last_kernel_drops;
	/* The source of the datagram on_msg is handling (NULL outside it):
	 * it lies in the datagram's ring buffer. */
	const struct sockaddr *src;
	socklen_t src_len;
	/* The recvmsg template: the kernel reads its lengths while armed. */
	struct msghdr tmpl;
	struct sockaddr_storage addr;	/* bound address (real port after bind to 0) */
	socklen_t addr_len;
	struct rc_udp_stats stats;
};

/* Creates a UDP socket bound to addr with a receive buffer of rcvbuf bytes
 * (SO_RCVBUFFORCE when permitted, else SO_RCVBUF capped by
 * net.core.rmem_max) and kernel drop reporting on. Returns 0 or -errno. */
int rc_udp_open(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len, int rcvbuf);

/* Arms the receive on loop with buffers from br; on_msg gets every datagram.
 * Returns 0 or -errno. */
int rc_udp_start(struct rc_udp_port *p, struct rc_loop *loop, struct rc_bufring *br,
		 rc_udp_msg_fn on_msg, void *owner);

/* Sends [id, 4 bytes big-endian][data] as one datagram from p's socket to
 * `to`, without blocking. Returns 0, -EAGAIN (the socket's buffer is
 * full: dropped), or another -errno. */
int rc_udp_send_tagged(struct rc_udp_port *p, const struct sockaddr *to, socklen_t to_len,
		       uint32_t id, const uint8_t *data, uint32_t len);

/* Stops receiving: the armed operation is cancelled and not re-armed. */
void rc_udp_stop(struct rc_udp_port *p);

/* True while an operation of the port may still complete. */
bool rc_udp_busy(const struct rc_udp_port *p);

/* Closes the socket; only once rc_udp_busy() is false. */
void rc_udp_close(struct rc_udp_port *p);

#endif
