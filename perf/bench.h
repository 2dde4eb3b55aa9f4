/* ringcast-bench internals shared between its source files.
 *
 * One process, one thread: every subscriber socket and the UDP publisher live
 * in a single epoll loop so the tool's own cost is small and predictable, and
 * the CPU it does use is measured and reported next to the server's. */
#ifndef RC_PERF_BENCH_H
#define RC_PERF_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "bench_hist.h"
#include "ws_frame.h"

#define BENCH_MAX_SUBSCRIBERS 200000
#define BENCH_MAX_DURATION 600.0	/* seconds, per run and for a whole ramp */
#define BENCH_MAX_CHANNELS 4096
#define BENCH_CHANNEL_NAME_MAX 64
#define BENCH_PORTS_PER_SRC 20000	/* stay well inside one address's ephemeral range */
#define BENCH_PUB_PATH_MAX 64		/* --pub-ws path prefix, bytes */
#define BENCH_PUB_BACKLOG (4u << 20)	/* unsent bytes per publisher before holding back */
/* epoll data of a publisher connection (--pub-ws, --pub-tcp): this bit |
 * channel index (subscribers use their index, which never reaches it). */
#define BENCH_PUB_TAG (UINT64_C(1) << 63)
#define BENCH_PUB_LINE_MAX 128	/* a text line the server may send a --pub-tcp publisher */

/* How messages reach the server. */
enum bench_pub_kind {
	BENCH_PUB_UDP,		/* --udp-port(s): datagrams */
	BENCH_PUB_WS,		/* --pub-ws: WebSocket frames */
	BENCH_PUB_TCP,		/* --pub-tcp: ringcast's framed TCP ingest */
};

struct bench_config {
	struct sockaddr_storage ws_addr;	/* WebSocket server */
	socklen_t ws_addr_len;
	char ws_host[128];			/* Host header value */
	struct sockaddr_storage udp_addr[BENCH_MAX_CHANNELS];	/* per channel */
	socklen_t udp_addr_len;
	unsigned nchannels;
	char (*channel)[BENCH_CHANNEL_NAME_MAX];	/* names, nchannels entries */
	unsigned subscribers;		/* to open (after the fd-limit cap) */
	unsigned requested;		/* as asked on the command line */
	unsigned src_addrs;		/* 0 = choose */
	double rate;			/* messages/s over all channels */
	double duration;		/* seconds of publishing */
	size_t size;			/* payload bytes, >= 16 */
	double drain;			/* seconds to wait for stragglers */
	const char *json_path;
	bool ramp;
	double step_duration;		/* ramp: seconds per step */
	double ramp_factor;
	unsigned ramp_refine;		/* bisection steps after the climb */
	unsigned ramp_patience;		/* failing steps in a row that end the climb */
	double max_loss_pct;		/* ramp pass criteria */
	double max_p99_ms;
	pid_t server_pid;		/* 0 = none */
	unsigned connect_parallel;	/* connects+handshakes in flight */
	double connect_timeout;		/* seconds for the whole connect phase */
	double settle;			/* seconds between last handshake and first send */
	bool tagged;			/* join a second channel: ringcast's labelled frames */
	bool meta;			/* subscribe with ?meta=1: position labels */
	bool deflate;			/* offer permessage-deflate and inflate what comes
					 * compressed */
	const uint8_t *payload_src;	/* --payload-file: payload bytes, or NULL (filler) */
	size_t payload_src_len;
	enum bench_pub_kind pub_kind;
	const char *pub_ws;		/* --pub-ws PREFIX: publish over WebSocket to
					 * PREFIX<channel> on the server; else NULL */
	struct sockaddr_storage pub_addr;	/* where publisher connections go:
						 * HOST:WSPORT, or HOST:PORT of --pub-tcp */
	socklen_t pub_addr_len;
};

enum conn_state {
	CONN_IDLE = 0,		/* not started */
	CONN_CONNECTING,	/* TCP connect in progress */
	CONN_HANDSHAKE,		/* upgrade request sent, awaiting the 101 */
	CONN_OPEN,		/* receiving frames */
	CONN_CLOSED,		/* was open, then closed or errored */
	CONN_FAILED,		/* never got open */
};

struct bench_conn {
	int fd;
	uint8_t state;		/* enum conn_state */
	uint8_t hdr_have;	/* bytes of hdr[] collected for the current message */
	uint8_t in_run;		/* was open when the current run started */
	uint16_t hs_len;	/* bytes in hs_buf */
	uint32_t channel;
	char *hs_buf;		/* handshake response, only while CONN_HANDSHAKE */
	uint64_t msg_len;	/* bytes of the current message so far */
	uint64_t next_seq;	/* highest sequence seen + 1 (0: none yet) */
	/* per-run counters */
	uint64_t received;
	uint64_t reordered;
	uint8_t hdr[16];
	struct rc_ws_parser parser;
	/* --deflate: a compressed message that came in pieces, gathered */
	uint8_t *zbuf;
	uint32_t zlen, zcap;
};

/* Figures of one run (a fixed-rate run or one ramp step). */
struct bench_result {
	double target_rate;
	double send_secs;	/* publishing phase as it actually lasted */
	double window_secs;	/* first send .. last delivery (>= send_secs) */
	double drain_secs;
	uint64_t published;
	uint64_t send_errors;
	uint64_t send_skipped;	/* schedule slots dropped because the sender fell behind */
	unsigned subscribers_start;	/* open when the run started */
	unsigned subscribers_open;	/* at the end of the run */
	unsigned disconnects;	/* subscribers that closed during the run */
	uint64_t expected;
	uint64_t received;
	uint64_t rx_bytes;
	uint64_t zmsgs;		/* --deflate: of received, compressed on the wire */
	uint64_t zbytes;	/* their compressed payload bytes */
	uint64_t lost;
	double loss_pct;
	uint64_t reordered;
	uint64_t late;		/* deliveries of an earlier run's messages */
	uint64_t bad_msgs;	/* shorter than 16 bytes or impossible sequence */
	struct hist lat;
	uint64_t p50, p90, p99, p999, max, min;
	double mean;
	double self_user, self_sys;	/* seconds of this process's CPU */
	bool self_wait_ok;
	double self_wait;	/* seconds runnable but not running (CPU contention) */
	bool server_ok;
	bool server_wait_ok;
	double server_wait;
	double server_cpu;	/* seconds, utime + stime delta */
	long server_rss_kb;
	bool udp_drops_ok;
	uint64_t udp_drops;	/* host-wide UDP receive-buffer errors during the run */
};

/* Paced UDP publisher state for one run. */
struct bench_sender {
	int fd;
	unsigned batch;			/* messages per sendmmsg */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t *bufs;			/* batch payloads of cfg.size bytes */
	double rate;
	uint64_t start_ns;
	uint64_t sched;			/* schedule slots consumed (sent or skipped) */
	uint64_t max_burst;		/* catch-up bound, in messages */
	uint64_t sent;
	uint64_t skipped;
	uint64_t errors;
	uint64_t rr;			/* global round-robin position over channels */
};

/* One publisher connection (--pub-ws, --pub-tcp), one per channel, that
 * sends each message as one frame. Frames wait in `out` when the socket is
 * full, up to BENCH_PUB_BACKLOG bytes; past that the sender holds back. What
 * the frames and the opening exchange look like is up to the kind's
 * bench_pub_ops. */
struct bench_pub {
	int fd;				/* -1 once closed */
	bool want_out;			/* EPOLLOUT armed */
	uint8_t *out;
	size_t off, len, cap;		/* unsent bytes are out[off..len) */
	union {				/* the server's replies, by kind */
		struct rc_ws_parser ws;
		struct {
			char buf[BENCH_PUB_LINE_MAX];
			size_t len;
		} line;
	} rx;
};

struct bench;

/* What differs between kinds of publisher connection. The shared part
 * (bench_pub.c) dials, buffers, writes, reads and closes; these say how a
 * connection is opened, how a message is framed and what replies mean. */
struct bench_pub_ops {
	const char *name;	/* for messages: "WebSocket" */
	/* Opens the protocol on fd, freshly connected and still blocking
	 * (socket timeouts bound each read and write), for channel ch, and
	 * hands any bytes the server sent after its acceptance to input().
	 * Returns 0, or negative errno with *what saying what failed. */
	int (*handshake)(struct bench *b, unsigned ch, int fd, const char **what);
	/* Appends payload[0..len) to p->out as one message (bench_pub_reserve
	 * makes room). Returns 0 or -ENOMEM. */
	int (*append)(struct bench_pub *p, const uint8_t *payload, size_t len);
	/* Handles bytes the server sent on channel ch's connection (data is
	 * scratch: it may be changed in place); may queue an answer and
	 * bench_pub_flush it, or close the connection (bench_pub_drop). */
	void (*input)(struct bench *b, unsigned ch, uint8_t *data, size_t len);
};

/* The whole tool's state. */
struct bench {
	struct bench_config cfg;
	int epfd;
	struct bench_conn *conns;	/* cfg.subscribers entries */
	unsigned *chan_subs;		/* open subscribers per channel at run start */
	uint64_t *chan_seq;		/* next sequence number per channel */
	uint64_t *chan_base;		/* chan_seq at the start of the current run */
	unsigned open;			/* conns in CONN_OPEN */
	unsigned inflight;		/* conns in CONN_CONNECTING or CONN_HANDSHAKE */
	unsigned failed;
	int first_fail_err;		/* errno of the first failed subscriber */
	const char *first_fail_what;
	/* running totals of the current run */
	uint64_t run_received;
	uint64_t run_bytes;
	uint64_t run_reordered;
	uint64_t run_late;
	uint64_t run_bad;
	unsigned run_disconnects;
	char run_close_reason[96];	/* why the first subscriber of the run closed */
	uint64_t last_rx_ns;
	struct hist *lat;
	struct bench_sender tx;
	struct bench_pub *pubs;		/* cfg.nchannels entries with --pub-ws or
					 * --pub-tcp, else NULL */
	const struct bench_pub_ops *pub_ops;	/* their kind */
	bool sending;			/* publishing phase: bench_poll interleaves sends */
	uint8_t *rx_buf;
	size_t rx_cap;
	/* --deflate: one inflater for every subscriber (each message is a
	 * stream of its own: no context takeover) and its output */
	void *zs;			/* z_stream */
	uint8_t *zout;
	uint64_t run_zmsgs;		/* compressed messages received this run */
	uint64_t run_zbytes;		/* their bytes on the wire (payloads) */
	uint64_t now_ns;	/* receive timestamp of the read being parsed */
};

/* --deflate: the largest message inflated (bigger ones count as bad). */
#define BENCH_ZOUT (1u << 20)

/* Monotonic clock in nanoseconds. */
uint64_t bench_now(void);

/* bench_conn.c */

/* Opens cfg.subscribers WebSocket subscribers (bounded parallelism, overall
 * cfg.connect_timeout). Returns 0 when at least one is open (the count is in
 * b->open, failures in b->failed), or negative errno when none could be. */
int bench_connect_all(struct bench *b);

/* Waits up to timeout_ns for socket events and handles them (frames of open
 * subscribers). Returns 0 or negative errno from epoll. */
int bench_poll(struct bench *b, uint64_t timeout_ns);

/* Starts a new run: zeroes per-run counters on every subscriber. */
void bench_conns_reset_run(struct bench *b);

/* Closes every subscriber socket and frees handshake buffers. */
void bench_conns_close_all(struct bench *b);

/* bench_send.c */

/* Creates the UDP socket and batch buffers. Returns 0 or negative errno. */
int bench_sender_init(struct bench *b);

/* Arms the schedule: `rate` messages/s starting at now_ns. */
void bench_sender_start(struct bench *b, double rate, uint64_t now_ns);

/* Sends at most one batch of the messages due at now_ns (stamping each with
 * its channel's next sequence number and the send time) and returns the time
 * the next message falls due (<= now_ns when more are due already). */
uint64_t bench_sender_tick(struct bench *b, uint64_t now_ns);

/* Releases what bench_sender_init acquired. */
void bench_sender_free(struct bench *b);

/* bench_pub.c */

/* Opens one publisher connection per channel to cfg.pub_addr (blocking
 * connect and ops->handshake, 5 s limit per read or write), then registers
 * them with the epoll loop; b->pub_ops is set to ops. Returns 0, or negative
 * errno after printing which channel failed and why. */
int bench_pub_open(struct bench *b, const struct bench_pub_ops *ops);

/* Queues payload[0..len) as one message on channel ch's publisher.
 * Returns 0, -EAGAIN when its backlog is full (try later), -EPIPE when the
 * connection is gone, or -ENOMEM. Sends nothing: see bench_pub_flush. */
int bench_pub_queue(struct bench *b, unsigned ch, const uint8_t *payload, size_t len);

/* Writes what channel ch's publisher has queued, arming EPOLLOUT for the
 * rest. A write error closes the publisher (reported on stderr). */
void bench_pub_flush(struct bench *b, unsigned ch);

/* Handles epoll events of channel ch's publisher: hands what the server
 * sent to ops->input, writes on EPOLLOUT, closes on EOF or error. */
void bench_pub_event(struct bench *b, unsigned ch, uint32_t events);

/* Closes channel ch's publisher, saying why on stderr (err: an errno to
 * add, or 0). Later sends on it fail with -EPIPE. */
void bench_pub_drop(struct bench *b, unsigned ch, const char *why, int err);

/* Makes room for `need` more bytes at p->out + p->len. Returns 0 or -ENOMEM. */
int bench_pub_reserve(struct bench_pub *p, size_t need);

/* Closes every publisher and frees their buffers. */
void bench_pub_close(struct bench *b);

/* bench_wspub.c */

/* --pub-ws: WebSocket upgrade to PREFIX<channel>, one masked binary frame
 * per message, pings answered, other replies dropped. */
extern const struct bench_pub_ops bench_wspub_ops;

/* bench_tcppub.c */

/* --pub-tcp: ringcast's TCP ingest, "PUB <channel> framed" answered by "OK",
 * then a 4-byte big-endian length before each message. An "ERR" answer
 * fails the opening; an ERR line later closes the publisher, naming it. */
extern const struct bench_pub_ops bench_tcppub_ops;

/* bench_report.c */

/* Reads utime+stime (seconds) of pid from /proc/PID/stat.
 * Returns 0 or negative errno. */
int bench_proc_cpu(pid_t pid, double *secs);

/* Sums run time and run-queue wait (seconds) over pid's threads, from
 * /proc/PID/task/TID/schedstat. Returns 0 or negative errno. */
int bench_proc_sched(pid_t pid, double *run, double *wait);

/* Reads VmRSS (kB) of pid from /proc/PID/status. Returns 0 or negative errno. */
int bench_proc_rss(pid_t pid, long *kb);

/* Host-wide count of UDP datagrams dropped for lack of receive-buffer space
 * (IPv4 and IPv6). Returns 0 or negative errno. */
int bench_udp_rcvbuf_errors(uint64_t *count);

/* Prints one run as a human table to stdout. */
void bench_print_result(const struct bench *b, const char *title, const struct bench_result *r);

/* Ramp summary for stdout: steps in r[0..n), `best` indexes the highest
 * passing step (-1: none), `why` says what ended the ramp. */
void bench_print_ramp(const struct bench *b, const struct bench_result *r, unsigned n,
		      int best, const char *why);

/* Writes the same figures as JSON to path: one run when ramp is false,
 * else every step plus the max-sustained summary. Returns 0 or negative errno. */
int bench_write_json(const struct bench *b, const char *path, const struct bench_result *r,
		     unsigned n, bool ramp, int best, const char *why);

#endif
