/* Command-line configuration of the ringcast program. */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "channel.h"

#define RC_CONFIG_MAX_UDP 64

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
};

#define RC_CONFIG_MAX_CHANNEL_CFG 64

/* --static [PREFIX=]DIR: a directory served under /PREFIX/. */
struct rc_static_mount {
	char prefix[64];	/* without slashes at either end; "" for the root */
	char dir[1024];
	bool optional;		/* a built-in default: skipped (logged) when missing */
};

#define RC_CONFIG_MAX_STATIC 8

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
	uint32_t buf_size;		/* bytes per ingest buffer the kernel may fill */
	uint32_t handshake_timeout_ms;	/* HTTP request / upgrade must complete in this */
	uint32_t ping_interval_ms;	/* idle WebSocket subscribers get a ping this often */
	uint32_t shutdown_timeout_ms;	/* SIGTERM: flush for at most this long */
	uint32_t max_channels;
	uint32_t channel_grace_ms;	/* keep an unused channel (and its cache) this long */
	uint32_t zc_min;		/* frames this long go out with SEND_ZC; 0 = never */
	int udp_rcvbuf;
	int log_level;
	bool show_help;
	bool show_version;
};

/* Fills cfg with the built-in defaults: HTTP/WebSocket on 0.0.0.0:8080,
 * UDP 0.0.0.0:9000 -> channel "live" and 0.0.0.0:9001 -> channel "game",
 * the static files of the source tree (web/static at /, the video player
 * at /vendor/jsmpeg/, both skipped when missing), and the limits
 * documented in --help. */
void rc_config_defaults(struct rc_config *cfg);

/* Call once after every rc_config_load()/rc_config_parse(). When the
 * built-in UDP ports are still in place (no --udp or --udp-mux), gives
 * their channels the demo settings, each only where nothing was set for
 * it: live is MPEG-TS (type=video/mp2t, cache=ts), game sends text frames.
 * Pure. */
void rc_config_finish(struct rc_config *cfg);

/* Parses argv over the defaults. Returns 0, or -EINVAL with a one-line
 * reason in err (errlen bytes). Repeated --udp replace the default binding. */
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

/* True for an MPEG-TS channel: its cache is `ts` or its content type is
 * video/mp2t. Raw TCP publishers to it are cut on 188-byte packets. */
bool rc_config_ts(const struct rc_config *cfg, const char *channel);

/* Reads a configuration file: one option per line, written as on the command
 * line without the leading dashes ("udp 0.0.0.0:9000=live",
 * "multi-publisher"); '#' starts a comment. Parsed over cfg, so options
 * given afterwards on the command line win. Returns 0, or -errno / -EINVAL
 * with a reason in err. */
int rc_config_load(struct rc_config *cfg, const char *path, char *err, size_t errlen);

/* Prints the --help text to stdout. */
void rc_config_usage(const char *prog);

#endif
