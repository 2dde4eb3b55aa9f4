/* Integration test harness: runs the real ringcast binary as a child process
 * on loopback and talks to it the way outside clients do (raw HTTP, raw
 * WebSocket, UDP). Nothing here links against the server's code, so the
 * tests check the wire contract rather than internals. */
#ifndef RC_IT_HARNESS_H
#define RC_IT_HARNESS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#define RC_MAX_UDP 8

/* Generous by design: the server may be an ASan+UBSan build on a loaded
 * two-core VM, and these bound hangs, they do not measure speed. A server
 * run under a wrapper such as valgrind (see RINGCAST_WRAPPER below) is
 * another order of magnitude slower, so all three are multiplied by
 * $RINGCAST_TIME_SCALE (default 1). */
#define RC_READY_TIMEOUT_MS rc_time_scale_ms(30000)
#define RC_STOP_TIMEOUT_MS rc_time_scale_ms(20000)
#define RC_WAIT_TIMEOUT_MS rc_time_scale_ms(30000)

/* One address the server announced on stdout. host is numeric, without the
 * IPv6 brackets; sa is where a client should connect (a wildcard bind is
 * mapped to loopback). */
struct rc_endpoint {
	int family;
	char host[64];
	int port;
	char channel[72];
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

enum rc_start_result {
	RC_READY = 0,		/* printed "ready"; endpoints are parsed */
	RC_EXITED = 1,		/* exited before "ready"; see status */
	RC_FAILED = -1,		/* could not start, or hung (killed); see err */
};

struct rc_server {
	pid_t pid;		/* > 0 while the child has not been reaped */
	int out_fd;		/* read end of the child's stdout */
	int err_fd;		/* the child's stderr: an unlinked temp file */
	char err_path[64];	/* its former name, for messages only */
	int status;		/* wait status once reaped */
	int killed;		/* we had to SIGKILL it */
	int64_t exit_ms;	/* time from the stop signal to reaping */
	struct rc_endpoint http;
	struct rc_endpoint tcp;		/* TCP publishers (--tcp), when announced */
	struct rc_endpoint udp_mux;	/* --udp-mux, when announced */
	struct rc_endpoint udp[RC_MAX_UDP];
	int n_udp;
	char err[512];
};

/* ms times $RINGCAST_TIME_SCALE (a number from 1 to 1000; unset, empty or
 * out of range counts as 1). */
int rc_time_scale_ms(int ms);
/* Milliseconds on the monotonic clock. */
int64_t rc_now_ms(void);
void rc_sleep_ms(int ms);

/* The backend the suite runs the server on: $RINGCAST_BACKEND ("epoll" in
 * the integration-epoll suite), else "io_uring" (ringcast's auto). */
const char *rc_backend(void);

/* The workers the suite runs the server with (RINGCAST_WORKERS, set by the
 * integration-workers suite; 1 when unset). */
int rc_workers(void);

/* Skips the running test on the epoll backend, saying why (for what only
 * io_uring has: SEND_ZC, ring counters). Use in test bodies only. */
#define RC_SKIP_ON_EPOLL(why)                                                 \
	do {                                                                  \
		if (strcmp(rc_backend(), "epoll") == 0)                       \
			cr_skip_test("io_uring only: %s", (why));             \
	} while (0)

/* Starts [wrapper...] [$RINGCAST_WRAPPER...] $RINGCAST_BIN
 * [--backend $RINGCAST_BACKEND] [args...] (both NULL-terminated, wrapper
 * may be NULL; the --backend pair only when $RINGCAST_BACKEND is set and
 * args name no backend) and waits for "ready" on its stdout.
 * $RINGCAST_WRAPPER, when set, is a command split on spaces and tabs
 * (no quoting), e.g. "valgrind --error-exitcode=99"; it must exec the server
 * in place (valgrind, setpriv and prlimit do) so that srv->pid and signals
 * still reach the server. The server is remembered so rc_cleanup() can kill
 * it if the test aborts. */
int rc_server_start(struct rc_server *srv, const char *const *wrapper,
		    const char *const *args);
/* Sends sig to the server (only to its own PID). */
void rc_server_signal(struct rc_server *srv, int sig);
/* Reaps the server, waiting up to timeout_ms. Returns 1 when it exited
 * (srv->status valid), 0 when it is still running. */
int rc_server_wait(struct rc_server *srv, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL that PID. Returns the wait
 * status; srv->killed tells whether the kill was needed. */
int rc_server_stop(struct rc_server *srv, int timeout_ms);
/* rc_server_stop, running idle(arg) while waiting so that clients keep
 * being serviced (a server that closes its WebSocket subscribers waits for
 * their close replies). */
int rc_server_stop_idle(struct rc_server *srv, int timeout_ms,
			void (*idle)(void *), void *arg);
/* Prints the server's stderr (the tail of it if long) to our stderr. */
void rc_server_dump(const struct rc_server *srv);
/* Reads the server's stderr into buf (NUL-terminated, truncated). */
size_t rc_server_stderr(const struct rc_server *srv, char *buf, size_t cap);
/* Describes a wait status as text ("exit 0", "signal 11"). */
const char *rc_status_str(int status, char *buf, size_t cap);
/* Endpoint of the UDP port bound to channel, or NULL. */
const struct rc_endpoint *rc_udp_for(const struct rc_server *srv,
				     const char *channel);

/* Fini hook for every test: kills servers still running (the test aborted,
 * so their stderr is printed), prints stderr after a failed rc_assert,
 * removes temp files. */
void rc_cleanup(void);
/* Marks the test failed so rc_cleanup() prints the servers' stderr. */
void rc_note_failure(void);

/* cr_assert with the server log printed on failure. Use it in test bodies
 * only (never in callbacks: it longjmps). */
#define rc_assert(cond, ...)                                                  \
	do {                                                                  \
		if (!(cond)) {                                                \
			rc_note_failure();                                    \
			cr_assert_fail(__VA_ARGS__);                          \
		}                                                             \
	} while (0)

/* Starts the server with the given arguments or fails the test. */
#define RC_START(srv, ...)                                                    \
	do {                                                                  \
		const char *const a_[] = { __VA_ARGS__, NULL };               \
		int r_ = rc_server_start((srv), NULL, a_);                    \
		rc_assert(r_ == RC_READY, "ringcast did not start (%d): %s",  \
			  r_, (srv)->err);                                    \
	} while (0)

/* SIGTERM and require a clean exit 0 within the stop deadline. */
#define RC_STOP_OK(srv) RC_STOP_OK_IDLE(srv, NULL, NULL)
#define RC_STOP_OK_IDLE(srv, idle, arg)                                       \
	do {                                                                  \
		char b_[96];                                                  \
		int st_ = rc_server_stop_idle((srv), RC_STOP_TIMEOUT_MS,      \
					      (idle), (arg));                 \
		rc_assert(!(srv)->killed && WIFEXITED(st_) &&                 \
				  WEXITSTATUS(st_) == 0,                      \
			  "ringcast should exit 0 after SIGTERM, got %s%s",   \
			  rc_status_str(st_, b_, sizeof(b_)),                 \
			  (srv)->killed ? " (SIGKILLed: no exit within the "  \
					  "deadline)" : "");                  \
	} while (0)

/* ---- payloads ---- */

/* Sizes cycle through a deterministic mix of 1..1400 bytes that includes
 * both 1 and 1400. */
size_t payload_size(uint64_t seq);
/* Fills buf with the payload of message seq on channel chan. Messages of 8
 * bytes or more start with a tag (seq in the low 56 bits, chan in the top 8,
 * little endian) so a receiver that missed messages can tell which one it
 * got; the rest is a keyed pseudo-random stream, so any change of a byte or
 * a mix-up between channels or messages is caught. */
void payload_fill(unsigned chan, uint64_t seq, unsigned char *buf, size_t size);
/* True when buf/len is exactly the payload of (chan, seq) of size want. */
int payload_match(unsigned chan, uint64_t seq, size_t want,
		  const unsigned char *buf, size_t len);
/* Reads the tag of a payload of 8 bytes or more; returns 0 and sets
 * the chan and seq outputs, or -1 when len is too short. */
int payload_tag(const unsigned char *buf, size_t len, unsigned *chan,
		uint64_t *seq);

/* ---- UDP ---- */

/* A UDP socket connected to ep. Returns the fd or -1. */
int rc_udp_socket(const struct rc_endpoint *ep);
/* Sends payload (chan, seq) of the given size as one datagram. Returns 0
 * or -1 (errno set). */
int rc_udp_send_seq(int fd, unsigned chan, uint64_t seq, size_t size);
/* Kernel counters of UDP datagrams dropped for a full receive buffer (v4 +
 * v6, machine-wide). Diagnostics only: it tells whether a loss was the
 * kernel's rather than the server's. -1 when unreadable. */
long long rc_udp_rcvbuf_errors(void);

/* ---- HTTP ---- */

struct http_resp {
	int status;
	char head[8192];	/* status line and headers, NUL-terminated */
	char *body;		/* malloc'd, NUL-terminated */
	size_t body_len;
};

/* Connects to ep, writes req in one send, reads up to nresp responses in
 * order. Returns how many complete responses were read (0..nresp), or -1
 * when the connection failed; err describes the first problem. */
int http_exchange(const struct rc_endpoint *ep, const void *req,
		  size_t req_len, struct http_resp *out, int nresp,
		  int timeout_ms, char *err, size_t errlen);
/* GET path with Connection: close. Returns 0 when a response was read. */
int http_get(const struct rc_endpoint *ep, const char *path,
	     struct http_resp *out);
void http_resp_free(struct http_resp *r);
/* Value of header name (case-insensitive) copied into val; NULL if absent. */
const char *http_header(const struct http_resp *r, const char *name,
			char *val, size_t cap);

/* ---- metrics ---- */

/* Value of the sample whose name (with labels, exactly as written) is
 * name, or -1 when there is no such line. */
long long metric_value(const char *body, const char *name);
/* Scrapes /metrics once: the value, -1 if absent, -2 if the scrape failed. */
long long rc_metric(const struct rc_server *srv, const char *name);
/* Polls /metrics until name == want or timeout_ms passes; idle (may be NULL)
 * runs between polls so WebSocket clients keep being serviced. Returns 1 on
 * a match; *last gets the last value seen. */
int rc_wait_metric(const struct rc_server *srv, const char *name,
		   long long want, int timeout_ms, void (*idle)(void *),
		   void *arg, long long *last);
/* Same, until name >= want. */
int rc_wait_metric_ge(const struct rc_server *srv, const char *name,
		      long long want, int timeout_ms, void (*idle)(void *),
		      void *arg, long long *last);

/* ---- raw WebSocket client ---- */

#define WS_RAW_BUF 32768

struct ws_raw {
	int fd;
	size_t len;		/* bytes buffered in buf */
	unsigned char buf[WS_RAW_BUF];
};

struct ws_frame {
	int fin;
	int rsv1;		/* a compressed message (permessage-deflate) */
	int opcode;
	int masked;
	size_t len;
};

/* Performs the opening handshake on path and checks the 101 answer,
 * including Sec-WebSocket-Accept. rcvbuf > 0 sets SO_RCVBUF before
 * connecting (so the advertised window stays small). Returns 0 or -1. */
int ws_raw_open(struct ws_raw *ws, const struct rc_endpoint *ep,
		const char *path, int rcvbuf, int timeout_ms, char *err,
		size_t errlen);
/* ws_raw_open, with extra header lines (each ending in \r\n; NULL: none)
 * in the request, and the 101 head (NUL-ended, without its blank line)
 * copied to answer (NULL: not kept). */
int ws_raw_open_ext(struct ws_raw *ws, const struct rc_endpoint *ep, const char *path,
		    const char *extra, char *answer, size_t answer_cap, int rcvbuf,
		    int timeout_ms, char *err, size_t errlen);
/* Sends one masked frame with FIN set (opcode | 0x40: with RSV1, a
 * compressed message). Returns 0 or -1. */
int ws_raw_send(struct ws_raw *ws, int opcode, const void *payload,
		size_t len);
/* Reads the next frame; payload gets up to cap bytes (frames larger than
 * cap or than the buffer are a protocol error here). Returns 1 for a frame,
 * 0 on orderly EOF, -1 on a socket error (errno kept), -2 on timeout, -3 on
 * a malformed frame. */
int ws_raw_recv(struct ws_raw *ws, struct ws_frame *f, unsigned char *payload,
		size_t cap, int timeout_ms);
/* Reads frames until a close frame (skipping the others) and returns its
 * code, or -1 when none with a code came within timeout_ms. */
int ws_raw_close_code(struct ws_raw *ws, int timeout_ms);
/* Closes with SO_LINGER {1, 0} so the peer sees a reset. */
void ws_raw_abort(struct ws_raw *ws);
void ws_raw_close(struct ws_raw *ws);

/* Connects a TCP socket to ep with a deadline; returns a non-blocking fd
 * or -1. rcvbuf > 0 sets SO_RCVBUF first. */
int rc_tcp_connect(const struct rc_endpoint *ep, int rcvbuf, int timeout_ms);
/* Writes all of buf within timeout_ms; returns 0 or -1. */
int rc_write_all(int fd, const void *buf, size_t len, int timeout_ms);

#endif
