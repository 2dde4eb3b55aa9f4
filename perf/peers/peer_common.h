/* Shared pieces of the benchmark peers (peer-epoll, peer-lws): the command
 * line contract every peer speaks, their set-up (signals, sockets, the UDP
 * ports and the lines that announce them) and a channel registry.
 *
 * The contract is ringcast's own, so that perf/bench-peers.sh can drive any
 * of them: --listen ADDR:PORT, --udp ADDR:PORT=CHANNEL (repeatable), the
 * "listen http", "listen udp" and "ready" lines on stdout, logs on stderr,
 * exit 0 on SIGTERM/SIGINT, subscribers on GET /ws/<channel>. */
#ifndef RC_PEER_COMMON_H
#define RC_PEER_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PEER_MAX_PORTS 1024		/* --udp ports: as many as channels, one each */
#define PEER_MAX_CHANNELS 1024
#define PEER_CHANNEL_MAX 64		/* name length, as in ringcast */
#define PEER_MAX_BACKLOG (4u << 20)	/* bytes queued per subscriber, ringcast's --max-queue */
#define PEER_UDP_RCVBUF (4 << 20)	/* ringcast's default ingest socket buffer */
#define PEER_MAX_DGRAM 65536		/* receive buffer per datagram; larger ones are dropped */

struct peer_udp_spec {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char channel[PEER_CHANNEL_MAX + 1];
};

struct peer_args {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	struct peer_udp_spec udp[PEER_MAX_PORTS];
	unsigned nudp;
	const char *mode;		/* --mode value, NULL when not given */
	const char *prog;		/* the program's name, for messages */
};

/* One channel: its name and the subscribers (opaque to the registry). */
struct peer_chan {
	char name[PEER_CHANNEL_MAX + 1];
	void **subs;
	size_t nsubs;
	size_t cap;
};

struct peer_chans {
	struct peer_chan *v;	/* PEER_MAX_CHANNELS entries, allocated once */
	size_t n;
};

/* A descriptor a peer polls: a UDP ingest port and its channel, or (ch NULL)
 * another one such as the signalfd. */
struct peer_port {
	int fd;
	struct peer_chan *ch;
};

/* Parses the peers' command line. with_mode: accept --mode NAME. `prog` names
 * the program in messages. Defaults: --listen 127.0.0.1:8080 and, when no
 * --udp is given, 127.0.0.1:9000=live. Returns 0, 1 after --help (printed),
 * or -EINVAL after printing the problem to stderr. */
int peer_parse_args(int argc, char **argv, const char *prog, bool with_mode,
		    struct peer_args *a);

/* Extracts the channel from a request target "/ws/<channel>[?query]".
 * Returns 0 and sets *name and *len (a slice of target), or -ENOENT when the
 * target is not under /ws/ or the channel name is invalid. */
int peer_target_channel(const char *target, size_t target_len, const char **name, size_t *len);

/* Creates a non-blocking listening TCP socket bound to addr (SO_REUSEADDR,
 * backlog 4096). Returns the fd or negative errno. */
int peer_listen_tcp(const struct sockaddr_storage *addr, socklen_t len);

/* Creates a non-blocking UDP socket bound to addr with a 4 MiB receive
 * buffer (SO_RCVBUFFORCE when allowed, else SO_RCVBUF). Returns the fd or
 * negative errno. */
int peer_bind_udp(const struct sockaddr_storage *addr, socklen_t len);

/* Blocks SIGINT and SIGTERM and returns a non-blocking signalfd that reads
 * them, so that a peer's loop sees a signal as one more readable descriptor
 * and never runs a handler in the middle of a fan-out. Returns the fd or
 * negative errno. */
int peer_signalfd(void);

/* Binds every --udp port of a, each for its channel (created in cs when
 * new): ports[0..a->nudp) get their fd and channel, *n their number.
 * Returns 0, or negative errno after printing the reason to stderr, with
 * the ports opened so far closed again and *n 0. */
int peer_ports_open(const struct peer_args *a, struct peer_chans *cs, struct peer_port *ports,
		    unsigned *n);

/* Prints the contract lines on stdout and flushes it: "listen http
 * HTTP_ADDR", "listen udp ADDR CHANNEL" for each of ports[0..n), "ready". */
void peer_announce(const char *http_addr, const struct peer_port *ports, unsigned n);

/* Formats fd's bound address as "HOST:PORT" or "[V6]:PORT" into buf (cap
 * bytes; 64 is enough). Returns buf, or "?" when getsockname fails. */
const char *peer_local_addr(int fd, char *buf, size_t cap);

/* Formats addr as "HOST:PORT" / "[V6]:PORT" with the given port. Returns buf. */
const char *peer_format_addr(const struct sockaddr_storage *addr, uint16_t port,
			     char *buf, size_t cap);

/* Raises RLIMIT_NOFILE's soft limit towards the hard limit (at most 65536:
 * enough for the benchmarks, and some libraries size tables by it). */
void peer_raise_nofile(void);

/* Sets TCP_NODELAY: frames leave as soon as they are written, as ringcast's
 * do. Failure is harmless (the socket still works) and ignored. */
void peer_set_nodelay(int fd);

/* Allocates the registry (PEER_MAX_CHANNELS slots). Returns 0 or -ENOMEM. */
int peer_chans_init(struct peer_chans *cs);

/* Frees every channel's subscriber array and the registry. */
void peer_chans_free(struct peer_chans *cs);

/* Finds the channel named name[0..len), creating it when `create`.
 * Returns it, or NULL when absent and not created, or the registry is full. */
struct peer_chan *peer_chan_get(struct peer_chans *cs, const char *name, size_t len, bool create);

/* Appends sub to ch. Returns its index (>= 0) or -ENOMEM. */
long peer_chan_add(struct peer_chan *ch, void *sub);

/* Removes the subscriber at index idx by moving the last one into its slot.
 * Returns the subscriber that moved to idx (its owner must record the new
 * index), or NULL when none moved. */
void *peer_chan_remove(struct peer_chan *ch, size_t idx);

/* Monotonic clock in nanoseconds. */
uint64_t peer_now_ns(void);

#endif
