/* The configuration of the ringcast program: its options (the command line,
 * a configuration file and --help are read from one table,
 * config_options.c), per-channel settings (config_channel.c) and access
 * control's secrets (config_security.c). */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "channel.h"
#include "cidr.h"
#include "loop.h"
#include "token.h"

#define RC_CONFIG_MAX_UDP 256	/* the benchmark runs 100 channels on 100 ports */
#define RC_CONFIG_KEY_MIN 8	/* publisher stream keys: 8-128 of A-Z a-z 0-9 . _ ~ - */
#define RC_CONFIG_KEY_MAX 128

struct rc_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct rc_udp_binding {
	struct rc_sockaddr addr;
	char channel[RC_CHANNEL_NAME_MAX + 1];	/* empty: a mux port (channel in each datagram) */
};

struct rc_content_type {
	char channel[RC_CHANNEL_NAME_MAX + 1];
	char type[96];
};

#define RC_CONFIG_MAX_TYPES 64
#define RC_CONFIG_MAX_CACHES 64

/* A late-joiner cache policy for one channel, or every channel ("" name). */
struct rc_cache_policy {
	char channel[RC_CHANNEL_NAME_MAX + 1];
	uint32_t last;		/* keep the last N messages (0: no count bound) */
	uint64_t bytes;		/* keep at most N bytes (0: no byte bound) */
	bool ts;		/* MPEG-TS mode: PAT/PMT + last keyframe on, within `bytes` */
};

/* Settings of one channel from --channel NAME:key=value,... (unset fields
 * fall back to the global options). */
struct rc_channel_cfg {
	char channel[RC_CHANNEL_NAME_MAX + 1];
	int slow;		/* enum rc_slow_policy, or -1 */
	size_t max_queue;	/* 0: --max-queue */
	uint32_t max_message;	/* 0: --max-message */
	int text_frames;	/* 1: WebSocket text frames; 0: binary; -1: unset (binary) */
	bool multi_publisher;	/* several publishers may share the channel */
	/* Access control (read and checked by config_security.c). */
	char key[RC_CONFIG_KEY_MAX + 1];	/* publishers' stream key; "": none needed */
	uint8_t token_secret[RC_TOKEN_SECRET_MAX];
	size_t token_secret_len;	/* 0: subscribers need no token */
	uint32_t max_subscribers;	/* 0: --max-subscribers */
	int compress;			/* enum rc_compress, or -1 (auto) */
	uint32_t compress_min;		/* smaller messages go uncompressed (0: the default) */
	/* Uplink: subscribers' data frames to the channel's publisher. */
	bool uplink;			/* uplink=on */
	uint32_t uplink_max;		/* bytes per uplink message (0: the default) */
	uint32_t uplink_rate;		/* uplink messages per second per subscriber (0: the default) */
	struct rc_sockaddr uplink_to;	/* UDP publishers' uplink goes here (len 0: to the
					 * source of the channel's latest datagram) */
};

/* compress=: whether a channel's messages are compressed for the
 * subscribers that agreed to permessage-deflate. */
enum rc_compress {
	RC_COMPRESS_OFF,
	RC_COMPRESS_AUTO,	/* text channels (frames=text) only */
	RC_COMPRESS_ON,		/* every channel's, text or binary */
};
#define RC_COMPRESS_MIN_DEFAULT 256	/* bytes: below, not worth it */

#define RC_UPLINK_MAX_DEFAULT 4096	/* bytes per uplink message */
#define RC_UPLINK_MAX_LIMIT 65000	/* fits one datagram with its 4-byte id */
#define RC_UPLINK_RATE_DEFAULT 100	/* messages per second per subscriber */

#define RC_CONFIG_MAX_CHANNEL_CFG 64
#define RC_CONFIG_MAX_ORIGINS 16
#define RC_CONFIG_ORIGIN_MAX 127
#define RC_CONFIG_MAX_ALLOW 32	/* CIDRs per UDP port */

/* --udp-allow ADDR:PORT=CIDR,...: datagrams to every UDP port configured
 * with exactly this address are accepted only from these sources. */
struct rc_udp_allow {
	struct rc_sockaddr addr;
	struct rc_cidr cidr[RC_CONFIG_MAX_ALLOW];
	size_t n;
};

/* --static [PREFIX=]DIR: a directory served under /PREFIX/. */
struct rc_static_mount {
	char prefix[64];	/* without slashes at either end; "" for the root */
	char dir[1024];
	bool optional;		/* a built-in default: skipped (logged) when missing */
};

#define RC_CONFIG_MAX_STATIC 8
#define RC_CONFIG_NATS_PREFIX_MAX 128
#define RC_CONFIG_NATS_MAX 8		/* servers in --nats */
#define RC_CONFIG_NATS_CRED_MAX 255	/* bytes of a user name, password or token */

/* --nats: the NATS servers each worker tries in turn, by address (ringcast
 * resolves no names), and --nats-creds: what it authenticates with when a
 * server asks (INFO's auth_required), a user and password or a token, each
 * "" when not given. */
struct rc_config_nats {
	struct rc_sockaddr servers[RC_CONFIG_NATS_MAX];
	size_t len;			/* servers given; 0: no --nats */
	char user[RC_CONFIG_NATS_CRED_MAX + 1];
	char pass[RC_CONFIG_NATS_CRED_MAX + 1];
	char token[RC_CONFIG_NATS_CRED_MAX + 1];
};

struct rc_config {
	struct rc_channel_cfg chans[RC_CONFIG_MAX_CHANNEL_CFG];
	size_t nchans;
	struct rc_content_type types[RC_CONFIG_MAX_TYPES];
	size_t ntypes;
	struct rc_cache_policy caches[RC_CONFIG_MAX_CACHES];
	size_t ncaches;
	struct rc_sockaddr listen;
	struct rc_sockaddr tcp;		/* TCP publishers; len 0 = none */
	bool multi_publisher;		/* allow several publishers per channel */
	uint32_t max_message;		/* framed TCP messages longer than this are refused */
	struct rc_udp_binding udp[RC_CONFIG_MAX_UDP];
	size_t nudp;
	bool udp_default;		/* the built-in demo ports: no --udp/--udp-mux given */
	struct rc_static_mount statics[RC_CONFIG_MAX_STATIC];
	size_t nstatic;
	size_t max_queue;		/* bytes queued per subscriber before the slow policy */
	enum rc_slow_policy slow;
	uint32_t buf_count;		/* ingest ring buffers (power of two) */
	uint32_t udp_large_bufs;	/* large class buffers per worker with UDP ports; 0 = none */
	uint32_t buf_size;		/* bytes per ingest buffer the kernel may fill */
	uint32_t handshake_timeout_ms;	/* HTTP request / upgrade must complete in this */
	uint32_t idle_timeout_ms;	/* keep-alive HTTP between requests, WebSocket with no channel */
	uint32_t ping_interval_ms;	/* idle WebSocket subscribers get a ping this often */
	uint32_t stats_interval_ms;	/* log a line of rates this often (0: never) */
	uint32_t batch_max;		/* frames up to this many bytes are fanned out in batches */
	uint32_t shutdown_timeout_ms;	/* SIGTERM: flush for at most this long */
	uint32_t max_channels;
	uint32_t channel_grace_ms;	/* keep an unused channel (and its cache) this long */
	uint32_t zc_min;		/* frames this long go out with SEND_ZC; 0 = never */
	enum rc_loop_backend backend;	/* --backend: auto (default), io_uring or epoll */
	uint32_t workers;		/* loops, one thread each (--workers); 0: auto, one
					 * per CPU of the affinity mask (main.c) */
	bool pin;			/* pin worker i to the i-th CPU of the affinity mask */
	/* NATS (gateway/cluster/): each worker connects to one of the servers
	 * of nats (len 0: none) and publishes what it ingests under
	 * <nats_prefix>.ch.<channel>. */
	struct rc_config_nats nats;
	char nats_prefix[RC_CONFIG_NATS_PREFIX_MAX + 1];
	int udp_rcvbuf;
	/* Access control. */
	char origins[RC_CONFIG_MAX_ORIGINS][RC_CONFIG_ORIGIN_MAX + 1];
	size_t norigins;		/* 0: WebSocket upgrades from any Origin */
	uint32_t max_conns_per_ip;	/* TCP connections (HTTP and publishers) per client
					 * address; 0: no limit */
	uint32_t ws_command_rate;	/* WebSocket commands per second per connection */
	uint64_t max_memory;		/* bytes ringcast may hold (rc_mem); 0: no bound;
					 * RC_CONFIG_MEMORY_AUTO: from the machine */
	uint32_t max_subscribers;	/* per channel, unless set per channel; 0: no limit */
	struct rc_udp_allow udp_allow[RC_CONFIG_MAX_UDP];
	size_t nudp_allow;
	int log_level;
	bool show_help;
	bool show_version;
};

/* --max-memory's default: derived from the machine at start-up
 * (rc_membudget_default()). */
#define RC_CONFIG_MEMORY_AUTO UINT64_MAX
#define RC_CONFIG_WORKERS_MAX 64	/* a worker is a bit in 64-bit interest masks */

/* Fills cfg with the built-in defaults: HTTP/WebSocket on 0.0.0.0:8080,
 * UDP 0.0.0.0:9000 -> channel "live" and 0.0.0.0:9001 -> channel "game",
 * the static files of the source tree (ws/client at /, the video players
 * at /vendor/jsmpeg/ and /vendor/mpegts/, all skipped when missing), and
 * the limits
 * documented in --help. */
void rc_config_defaults(struct rc_config *cfg);

/* Call once after every rc_config_load()/rc_config_parse(). When the
 * built-in UDP ports are still in place (no --udp or --udp-mux), gives
 * their channels the demo settings, each only where nothing was set for
 * it: live is MPEG-TS (type=video/mp2t, cache=ts), game sends text frames.
 * Pure. */
void rc_config_finish(struct rc_config *cfg);

/* Parses argv over cfg (the defaults, or what a configuration file set).
 * Returns 0, or -EINVAL with a one-line reason in err (errlen bytes). The
 * first --udp or --udp-mux replaces the default ports, the first --static
 * the default directories; --config is skipped (rc_config_load() reads it). */
int rc_config_parse(struct rc_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Parses "ADDR:PORT", "[V6ADDR]:PORT" or "PORT"-less forms are rejected.
 * Returns 0 or -EINVAL. Pure. */
int rc_config_parse_addr(const char *s, size_t len, struct rc_sockaddr *out);

/* Formats an address as "1.2.3.4:80" or "[::1]:80" into buf. */
void rc_config_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* Content type of a channel for HTTP stream subscribers: the one set with
 * --content-type CHANNEL=TYPE, else application/octet-stream. */
const char *rc_config_content_type(const struct rc_config *cfg, const char *channel);

/* The cache policy of a channel: its own --cache, else the one for every
 * channel, else NULL (no cache). */
const struct rc_cache_policy *rc_config_cache(const struct rc_config *cfg, const char *channel);

/* Effective per-channel settings: the channel's --channel value, else the
 * global option. */
enum rc_slow_policy rc_config_slow(const struct rc_config *cfg, const char *channel);
size_t rc_config_max_queue(const struct rc_config *cfg, const char *channel);
uint32_t rc_config_max_message(const struct rc_config *cfg, const char *channel);
bool rc_config_text_frames(const struct rc_config *cfg, const char *channel);
bool rc_config_multi_publisher(const struct rc_config *cfg, const char *channel);

/* Whether channel's messages of at least *min bytes are compressed for
 * subscribers that agreed to permessage-deflate (compress=, frames=). */
bool rc_config_compress(const struct rc_config *cfg, const char *channel, uint32_t *min);

/* The settings of channel when it has uplink=on (its subscribers may send
 * data to its publisher), else NULL. */
const struct rc_channel_cfg *rc_config_uplink(const struct rc_config *cfg, const char *channel);

/* True for an MPEG-TS channel: its cache is `ts` or its content type is
 * video/mp2t. Raw TCP publishers to it are cut on 188-byte packets. */
bool rc_config_ts(const struct rc_config *cfg, const char *channel);

/* Reads a configuration file: one option per line, written as on the command
 * line without the leading dashes ("udp 0.0.0.0:9000=live",
 * "multi-publisher"); '#' starts a comment. Parsed over cfg, so options
 * given afterwards on the command line win. Returns 0, or -errno / -EINVAL
 * with a reason in err. */
int rc_config_load(struct rc_config *cfg, const char *path, char *err, size_t errlen);

/* --- access control --- */

/* The stream key publishers of channel must present, or NULL (none). */
const char *rc_config_pub_key(const struct rc_config *cfg, const char *channel);

/* The token secret of channel (*len bytes), or NULL: no token needed. */
const uint8_t *rc_config_token_secret(const struct rc_config *cfg, const char *channel,
				      size_t *len);

/* Subscribers channel may have at once; 0: no limit. */
uint32_t rc_config_max_subscribers(const struct rc_config *cfg, const char *channel);

/* True when a WebSocket upgrade with this Origin header value may proceed:
 * no --allow-origin given, or the value is one of them (ASCII
 * case-insensitive). The caller decides about a request without Origin. */
bool rc_config_origin_allowed(const struct rc_config *cfg, const char *origin, size_t len);

/* The --udp-allow rule for a UDP port configured with addr, or NULL. */
const struct rc_udp_allow *rc_config_udp_allow(const struct rc_config *cfg,
					       const struct rc_sockaddr *addr);

/* Reads a secret from path into buf[0..cap): the whole file without its
 * final line end ("\n" or "\r\n"). Returns the length, -errno, or -EFBIG
 * when it does not fit. Used for key-file=, token-secret-file= and by
 * ringcast-token --secret-file. */
int rc_config_read_secret(const char *path, uint8_t *buf, size_t cap);

/* Prints the --help text, made from the option table, to stdout; prog is
 * the name it shows in SYNOPSIS. */
void rc_config_usage(const char *prog);

#endif
