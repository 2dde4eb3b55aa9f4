/* NATS for the integration tests: nats-server processes (Debian's package)
 * on free loopback ports, alone or as a cluster with routes, and a raw
 * NATS client written here that subscribes, reads MSG and HMSG and
 * publishes with or without headers (an independent second client of the
 * protocol, beside ringcast's own). */
#ifndef RC_NATS_HARNESS_H
#define RC_NATS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define NATS_RAW_BUF (256 * 1024)
#define NATS_MAX_SERVERS 3

struct nats_srv {
	pid_t pid;		/* > 0 while running */
	int port;		/* client port */
	int cluster_port;	/* routes (0: not in a cluster) */
	int http_port;		/* monitoring (0: none) */
	long long base_subs;	/* its own subscriptions ($SYS) at start */
};

struct nats_raw {
	int fd;
	size_t len;
	unsigned char buf[NATS_RAW_BUF];
};

/* The nats-server binary ($NATS_SERVER, else Debian's path). Its output
 * goes to $NATS_LOG_DIR/nats-PID.log when that is set, else nowhere. */
const char *nats_bin(void);

/* Skips the calling Criterion test when there is no nats-server. */
void nats_require(void);

/* A loopback TCP port nobody listens on now, or -1. */
int nats_free_port(void);

/* A blocking TCP connection to 127.0.0.1:port within timeout_ms, or -1. */
int nats_tcp_to(int port, int timeout_ms);

/* Starts a server on s->port (a free one when 0), with monitoring on a
 * free port, and waits until it accepts. With n > 1 the n servers form a cluster: each gets a route port
 * and routes to the others, and this waits until each has n - 1 routes (by
 * its monitoring port). In a cluster /subsz's total also counts the $SYS
 * subscriptions the routes carry, which come and go: base_subs is no
 * measure there, nats_count_subs() is. Client ports already set are kept,
 * so a stopped cluster can be started again on them. The server dies with
 * the test process. */
void nats_start(struct nats_srv *s);
/* nats_start with more nats-server arguments (NULL-terminated, e.g.
 * "--user", "u", "--pass", "p"). */
void nats_start_with(struct nats_srv *s, const char *const *extra);
void nats_start_cluster(struct nats_srv *s, int n);

/* Sends sig to s (SIGCONT too, so a frozen one sees it) and reaps it;
 * SIGKILL after 5 s. Nothing when it is not running. */
void nats_stop(struct nats_srv *s, int sig);

/* GET path on s's monitoring port into buf (NUL-terminated body). Returns
 * 0 or -1. */
int nats_monitor(const struct nats_srv *s, const char *path, char *buf, size_t cap);

/* Connects c to the server at port (headers on) and, when subject is not
 * NULL, subscribes it with sid 1; returns once the server answered a PING
 * (the SUB is in place). Asserts. */
void nats_raw_open(struct nats_raw *c, int port, const char *subject);
void nats_raw_close(struct nats_raw *c);

/* Reads the next MSG or HMSG of subject (sid 1): its payload into out, its
 * header block (if any) into hdrs (NUL-terminated; may be NULL). Returns
 * the payload's length, or -1 on timeout or anything else. */
long nats_raw_msg(struct nats_raw *c, const char *subject, unsigned char *out, size_t cap,
		  char *hdrs, size_t hcap, int timeout_ms);

/* Publishes payload to subject, with the header block hdrs ("NATS/1.0..."
 * through its blank line) when not NULL. Returns 0 or -1. */
int nats_raw_pub(struct nats_raw *c, const char *subject, const char *hdrs, const void *payload,
		 size_t len);

/* Sends PING and waits for its PONG: the server has handled everything
 * sent before. Returns 0 or -1. */
int nats_raw_flush(struct nats_raw *c, int timeout_ms);

/* The number after "key": in the JSON body (e.g. /subsz's
 * "num_subscriptions"), or -1. */
long long nats_json_num(const char *body, const char *key);

/* Waits until s's /subsz counts want subscriptions of clients (beyond its
 * own: cmp 0: exactly, 1: at least). Returns the last count seen. */
long long nats_wait_subs(const struct nats_srv *s, long long want, int cmp);

/* Subscriptions of s's own clients (not those the routes carry) whose
 * subject starts with prefix (/subsz?subs=1), or -1. */
long long nats_count_subs(const struct nats_srv *s, const char *prefix);

#endif
