/* UDP ingest: one bound port whose datagrams are received with a
 * multishot recvmsg into the shared provided-buffer ring. Each datagram is
 * handed to the owner in place, inside its ring buffer.
 *
 * Datagrams of any legal size: when the ring has a large class, the port
 * is two sockets in one SO_REUSEPORT group, and a classic BPF program the
 * kernel runs per datagram steers those too long for a regular buffer to
 * the second socket, which receives into the large class. Both are
 * zero-copy. Two sockets are two queues, so a port with both keeps the
 * datagrams a turn received and publishes them at the end of the turn,
 * merged in the order the kernel received them (SO_TIMESTAMPNS), those
 * that the other socket's queue may still precede a turn later.
 * The kernel's incremental buffer rings (IOU_PBUF_RING_INC)
 * do not fit datagrams: a datagram that lands in what is left of a
 * partly used buffer is cut to it (docs/ARCHITECTURE.md). */
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

/* The longest UDP payload: IPv6's (65,535 less the 8-byte UDP header);
 * IPv4's is 65,507. */
#define RC_UDP_MAX_PAYLOAD 65527u

/* How long a two-socket port keeps datagrams back, without publishing any,
 * for the other socket's queue while that socket is paused on an empty
 * ring, and while it is receiving (a safety net: a completion comes); then
 * they go out, the late ones counted. */
#define RC_UDP_WAIT_MS 10
#define RC_UDP_STUCK_MS 1000

/* A datagram kept for the end of the turn: its buffer's reference with it. */
struct rc_udp_held {
	uint64_t time_ns;		/* when the kernel received it */
	uint8_t *payload;
	const struct sockaddr *src;	/* in the buffer */
	uint32_t len;
	socklen_t src_len;
	uint16_t bid;
};

/* Bytes the owner may write in front of every payload. */
#define RC_UDP_HEADROOM 16

struct rc_udp_stats {
	uint64_t datagrams;	/* delivered to the owner */
	uint64_t bytes;
	uint64_t truncated;	/* larger than a ring buffer: dropped, counted */
	uint64_t large;		/* of datagrams, those received into the large class */
	uint64_t late;		/* published after one the kernel received later */
	uint64_t waits;		/* turns that kept datagrams for the other socket's queue */
	uint64_t kernel_drops;	/* dropped by the kernel (socket buffer full), SO_RXQ_OVFL */
	uint64_t enobufs;	/* receives stopped because the ring was empty */
	uint64_t rearms;	/* multishot receives re-armed */
	uint64_t errors;	/* other receive errors */
	uint64_t denied;	/* from a source outside the port's allowlist: dropped */
};

/* One of a port's sockets and the multishot recvmsg on it. */
struct rc_udp_rx {
	struct rc_io io;		/* the multishot recvmsg */
	struct rc_deferred rearm;	/* re-arm at the end of a turn */
	struct rc_timer backoff;	/* re-arm after an unexpected error */
	struct rc_udp_port *port;
	struct rc_bufring *from;	/* the class it receives into */
	int fd;
	bool armed;			/* the recvmsg is in flight */
	bool timer_armed;
	uint32_t last_kernel_drops;
	uint64_t last_ns;		/* receive time of the last datagram taken from it */
	/* Two-socket ports: datagrams taken, kept for the end of the turn in
	 * the order this socket gave them (a FIFO, grown by doubling, charged
	 * to rc_mem; each entry holds its buffer's reference). */
	struct rc_udp_held *held;
	uint32_t held_head, nheld, held_cap;
	/* The recvmsg template: the kernel reads its lengths while armed. */
	struct msghdr tmpl;
};

struct rc_udp_port {
	/* rx[0]: the port's socket, into regular buffers; rx[1]: with a
	 * large class, the socket for longer datagrams (fd -1 otherwise). */
	struct rc_udp_rx rx[2];
	struct rc_loop *loop;
	struct rc_bufring *br;
	rc_udp_msg_fn on_msg;
	void *owner;
	/* Source allowlist (set after rc_udp_open; the owner keeps the
	 * array): with nallow > 0, datagrams from elsewhere are dropped and
	 * counted in stats.denied before on_msg sees them. */
	const struct rc_cidr *allow;
	size_t nallow;
	int fd;			/* the port's socket (rx[0].fd): uplink replies leave by it */
	uint32_t large_over;	/* datagrams longer than this go to rx[1]; 0: no rx[1] */
	struct rc_deferred flush;	/* publishes what is held, end of turn */
	struct rc_timer wait;		/* looks again when a wait may have run out */
	bool wait_armed;
	uint64_t wait_since_ms;		/* when the current wait began; 0: none */
	uint64_t last_ns;		/* receive time of the latest published */
	bool stopping;
	/* The source of the datagram on_msg is handling (NULL outside it):
	 * it lies in the datagram's ring buffer. */
	const struct sockaddr *src;
	socklen_t src_len;
	struct sockaddr_storage addr;	/* bound address (real port after bind to 0) */
	socklen_t addr_len;
	struct rc_udp_stats stats;
};

/* Creates a UDP socket bound to addr with a receive buffer of rcvbuf bytes
 * (SO_RCVBUFFORCE when permitted, else SO_RCVBUF capped by
 * net.core.rmem_max) and kernel drop reporting on. When br (the ring the
 * port will receive into) has a large class, a second socket joins it on
 * the same address for datagrams longer than a regular buffer holds; the
 * address is first bound once without SO_REUSEPORT, so a port another
 * process holds still fails with -EADDRINUSE. Returns 0 or -errno. */
int rc_udp_open(struct rc_udp_port *p, const struct sockaddr *addr, socklen_t addr_len, int rcvbuf,
		const struct rc_bufring *br);

/* Bytes in front of every payload in a buffer: the kernel's header, the
 * source address and the control messages (two_sockets: with the receive
 * time too). */
uint32_t rc_udp_overhead(bool two_sockets);

/* Arms the receive on loop with buffers from br (the same ring as given to
 * rc_udp_open()); on_msg gets every datagram. Returns 0 or -errno. */
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

/* Closes the sockets; only once rc_udp_busy() is false. */
void rc_udp_close(struct rc_udp_port *p);

#endif
