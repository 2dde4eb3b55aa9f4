/* The options of ringcast: one table (name, argument, bounds, where the
 * value goes, default, help) from which the command line, the configuration
 * file and --help are all read. A new option is one more row; an option
 * whose value needs code names a setter. Over 600 lines because the help
 * text of every option stands in its row. */
#include "config.h"
#include "config_table.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nats_proto.h"
#include "num.h"
#include "rc_paths.h"

#define RC_STR_(x) #x
#define RC_STR(x) RC_STR_(x)

/* The binding the next --udp or --udp-mux (opt) fills in, or NULL with the
 * reason in err when all RC_CONFIG_MAX_UDP are taken. The first one of a
 * pass replaces the default ports. */
static struct rc_udp_binding *next_udp(struct rc_config *cfg, struct rc_config_pass *pass,
				       const char *opt, char *err, size_t errlen)
{
	if (!pass->udp_given) {
		cfg->nudp = 0;
		cfg->udp_default = false;
		pass->udp_given = true;
	}
	if (cfg->nudp == RC_CONFIG_MAX_UDP) {
		snprintf(err, errlen, "--%s: at most %d ports", opt, RC_CONFIG_MAX_UDP);
		return NULL;
	}
	return &cfg->udp[cfg->nudp];
}

/* --udp ADDR:PORT=CHANNEL */
static int set_udp(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		   char *err, size_t errlen)
{
	const char *eq = strrchr(arg, '=');
	struct rc_udp_binding *b = next_udp(cfg, pass, "udp", err, errlen);

	if (!b)
		return -EINVAL;
	if (!eq || rc_config_parse_addr(arg, (size_t)(eq - arg), &b->addr) < 0 ||
	    !rc_channel_name_valid(eq + 1, strlen(eq + 1))) {
		snprintf(err, errlen,
			 "--udp: expected ADDR:PORT=CHANNEL (channel: 1-64 of "
			 "A-Z a-z 0-9 . _ -), got '%s'", arg);
		return -EINVAL;
	}
	strcpy(b->channel, eq + 1);
	cfg->nudp++;
	return 0;
}

/* --udp-mux ADDR:PORT: a port with no channel of its own. */
static int set_udp_mux(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		       char *err, size_t errlen)
{
	struct rc_udp_binding *b = next_udp(cfg, pass, "udp-mux", err, errlen);

	if (!b)
		return -EINVAL;
	if (rc_config_parse_addr(arg, strlen(arg), &b->addr) < 0) {
		snprintf(err, errlen, "--udp-mux: expected ADDR:PORT, got '%s'", arg);
		return -EINVAL;
	}
	b->channel[0] = '\0';
	cfg->nudp++;
	return 0;
}

static int set_content_type(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			    char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');

	(void)pass;
	if (!eq || !rc_config_type_add(cfg, arg, (size_t)(eq - arg), eq + 1)) {
		snprintf(err, errlen, "--content-type: expected CHANNEL=TYPE, got '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_cache(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		     char *err, size_t errlen)
{
	(void)pass;
	if (!rc_config_cache_add(cfg, arg)) {
		snprintf(err, errlen,
			 "--cache: expected [CHANNEL:]last=N or [CHANNEL:]bytes=N, got '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_channel(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		       char *err, size_t errlen)
{
	(void)pass;
	return rc_config_channel_parse(cfg, arg, err, errlen);
}

static int set_max_memory(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			  char *err, size_t errlen)
{
	uint64_t v;

	(void)pass;
	if (strcmp(arg, "auto") == 0) {
		cfg->max_memory = RC_CONFIG_MEMORY_AUTO;
		return 0;
	}
	if (rc_num_parse_u64(arg, 0, 1ull << 50, &v) < 0) {
		snprintf(err, errlen,
			 "--max-memory: expected auto or a number from 0 to %" PRIu64 ", got '%s'",
			 (uint64_t)1 << 50, arg);
		return -EINVAL;
	}
	cfg->max_memory = v;
	return 0;
}

static int set_workers(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		       char *err, size_t errlen)
{
	uint64_t v;

	(void)pass;
	if (strcmp(arg, "auto") == 0) {
		cfg->workers = 0;
		return 0;
	}
	if (rc_num_parse_u64(arg, 1, RC_CONFIG_WORKERS_MAX, &v) < 0) {
		snprintf(err, errlen, "--workers: expected auto or a number from 1 to %d, got '%s'",
			 RC_CONFIG_WORKERS_MAX, arg);
		return -EINVAL;
	}
	cfg->workers = (uint32_t)v;
	return 0;
}

static int set_backend(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		       char *err, size_t errlen)
{
	(void)pass;
	if (rc_loop_backend_parse(arg, &cfg->backend) < 0) {
		snprintf(err, errlen, "--backend: expected auto, io_uring or epoll, got '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

/* --nats-prefix P: the first tokens of every subject ringcast publishes. */
static int set_nats_prefix(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			   char *err, size_t errlen)
{
	size_t n = strlen(arg);

	(void)pass;
	if (n > RC_CONFIG_NATS_PREFIX_MAX || !rc_nats_subject_valid(arg, n, false)) {
		snprintf(err, errlen, "--nats-prefix: expected a NATS subject without wildcards "
			 "(tokens separated by '.', at most %d bytes), got '%s'",
			 RC_CONFIG_NATS_PREFIX_MAX, arg);
		return -EINVAL;
	}
	memcpy(cfg->nats_prefix, arg, n + 1);
	return 0;
}

/* Calls add(ctx, item, n) for each item of a comma-separated list. An
 * empty list, an empty item and a trailing comma are refused. Returns 0, or
 * -EINVAL (also when add refuses an item). */
static int each_item(const char *list, int (*add)(void *ctx, const char *item, size_t n),
		     void *ctx)
{
	const char *p = list;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || add(ctx, p, n) < 0)
			return -EINVAL;
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* What one --nats pass fills in: the new list, and why an item was refused. */
struct nats_list {
	struct rc_config_nats nats;
	const char *why;
};

/* One item of --nats: nats://ADDR:PORT (the scheme may be left out, a
 * trailing '/' is allowed). */
static int add_nats(void *ctx, const char *item, size_t n)
{
	static const char scheme[] = "nats://";
	struct nats_list *l = ctx;
	struct rc_sockaddr a;
	const char *colon = memchr(item, ':', n);

	if (n >= sizeof(scheme) - 1 && memcmp(item, scheme, sizeof(scheme) - 1) == 0) {
		item += sizeof(scheme) - 1;
		n -= sizeof(scheme) - 1;
	} else if (colon && colon + 2 < item + n && colon[1] == '/' && colon[2] == '/') {
		/* tls://, ws://, ...: ringcast speaks plain NATS over TCP. */
		l->why = "ringcast speaks plain NATS over TCP (nats://); for TLS, run a NATS "
			 "leaf node beside ringcast and point --nats at it";
		return -EINVAL;
	}
	if (n && item[n - 1] == '/')
		n--;
	if (memchr(item, '@', n)) {
		l->why = "credentials do not belong in the URL (the command line is visible "
			 "to every local user): use --nats-creds FILE";
		return -EINVAL;
	}
	if (rc_config_parse_addr(item, n, &a) < 0) {
		l->why = "the address must be numeric, IPv4 or [IPv6], with a port (ringcast "
			 "resolves no names)";
		return -EINVAL;
	}
	if ((a.ss.ss_family == AF_INET ? ((struct sockaddr_in *)&a.ss)->sin_port
				       : ((struct sockaddr_in6 *)&a.ss)->sin6_port) == 0) {
		l->why = "the port must be 1 to 65535";
		return -EINVAL;
	}
	for (size_t i = 0; i < l->nats.len; i++) {
		if (l->nats.servers[i].len == a.len &&
		    memcmp(&l->nats.servers[i].ss, &a.ss, a.len) == 0) {
			l->why = "a server is listed twice";
			return -EINVAL;
		}
	}
	if (l->nats.len == RC_CONFIG_NATS_MAX) {
		l->why = "at most " RC_STR(RC_CONFIG_NATS_MAX) " servers are allowed";
		return -EINVAL;
	}
	l->nats.servers[l->nats.len++] = a;
	return 0;
}

/* --nats URL[,URL...]: the servers, by address (no name lookup); a later
 * --nats replaces the list (the command line wins over the file). */
static int set_nats(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		    char *err, size_t errlen)
{
	struct nats_list l = { .why = "an item is empty" };

	(void)pass;
	if (each_item(arg, add_nats, &l) < 0) {
		snprintf(err, errlen, "--nats: expected nats://ADDR:PORT[,nats://ADDR:PORT...], "
			 "got '%s': %s", arg, l.why);
		return -EINVAL;
	}
	/* The credentials stay: they are --nats-creds's. */
	memcpy(cfg->nats.servers, l.nats.servers, sizeof(l.nats.servers));
	cfg->nats.len = l.nats.len;
	return 0;
}

/* --nats-creds FILE: read now, at start-up (config_security.c). */
static int set_nats_creds(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			  char *err, size_t errlen)
{
	(void)pass;
	return rc_config_nats_creds_read(arg, &cfg->nats, err, errlen);
}

static int add_origin(void *ctx, const char *item, size_t n)
{
	struct rc_config *cfg = ctx;

	if (n > RC_CONFIG_ORIGIN_MAX || cfg->norigins == RC_CONFIG_MAX_ORIGINS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (item[i] <= 0x20 || item[i] > 0x7e)
			return -EINVAL;
	memcpy(cfg->origins[cfg->norigins], item, n);
	cfg->origins[cfg->norigins][n] = '\0';
	cfg->norigins++;
	return 0;
}

static int set_allow_origin(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			    char *err, size_t errlen)
{
	(void)pass;
	if (each_item(arg, add_origin, cfg) < 0) {
		snprintf(err, errlen,
			 "--allow-origin: expected ORIGIN[,ORIGIN...] (e.g. https://example.com; at "
			 "most %d), got '%s'", RC_CONFIG_MAX_ORIGINS, arg);
		return -EINVAL;
	}
	return 0;
}

static int add_cidr(void *ctx, const char *item, size_t n)
{
	struct rc_udp_allow *a = ctx;

	if (a->n == RC_CONFIG_MAX_ALLOW || rc_cidr_parse(item, n, &a->cidr[a->n]) < 0)
		return -EINVAL;
	a->n++;
	return 0;
}

/* --udp-allow ADDR:PORT=CIDR,...; a second one for the same address
 * replaces the first, as a later option does. */
static int set_udp_allow(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
			 char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	struct rc_udp_allow a;

	(void)pass;
	memset(&a, 0, sizeof(a));
	if (!eq || rc_config_parse_addr(arg, (size_t)(eq - arg), &a.addr) < 0 ||
	    each_item(eq + 1, add_cidr, &a) < 0)
		goto bad;
	for (size_t i = 0; i < cfg->nudp_allow; i++) {
		if (cfg->udp_allow[i].addr.len == a.addr.len &&
		    memcmp(&cfg->udp_allow[i].addr.ss, &a.addr.ss, a.addr.len) == 0) {
			cfg->udp_allow[i] = a;
			return 0;
		}
	}
	if (cfg->nudp_allow == RC_CONFIG_MAX_UDP)
		goto bad;
	cfg->udp_allow[cfg->nudp_allow++] = a;
	return 0;
bad:
	snprintf(err, errlen,
		 "--udp-allow: expected ADDR:PORT=CIDR[,CIDR...] (at most %d, e.g. "
		 "0.0.0.0:9000=10.0.0.0/8,192.0.2.7), got '%s'", RC_CONFIG_MAX_ALLOW, arg);
	return -EINVAL;
}

/* --static [PREFIX=]DIR, or "off" for none; the first one of a pass
 * replaces the built-in directories. */
static int set_static(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		      char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	const char *dir = eq ? eq + 1 : arg;
	struct rc_static_mount *m;
	size_t pl = 0;

	if (!pass->static_given) {
		cfg->nstatic = 0;
		pass->static_given = true;
	}
	if (strcmp(arg, "off") == 0)
		return 0;
	if (cfg->nstatic == RC_CONFIG_MAX_STATIC) {
		snprintf(err, errlen, "--static: at most %d directories", RC_CONFIG_MAX_STATIC);
		return -EINVAL;
	}
	m = &cfg->statics[cfg->nstatic];
	memset(m, 0, sizeof(*m));
	if (eq) {
		/* "/vendor/x/" -> "vendor/x" */
		while (*arg == '/')
			arg++;
		pl = (size_t)(eq - arg);
		while (pl && arg[pl - 1] == '/')
			pl--;
		if (pl >= sizeof(m->prefix))
			goto bad;
		memcpy(m->prefix, arg, pl);
	}
	if (!*dir || strlen(dir) >= sizeof(m->dir))
		goto bad;
	strcpy(m->dir, dir);
	cfg->nstatic++;
	return 0;
bad:
	snprintf(err, errlen, "--static: expected [PREFIX=]DIR or off, got '%s'", arg);
	return -EINVAL;
}

/* --config FILE is read by main() before the command line, so that the
 * command line wins; in the pass over the command line it does nothing. */
static int set_config(struct rc_config *cfg, const char *arg, struct rc_config_pass *pass,
		      char *err, size_t errlen)
{
	(void)cfg;
	(void)arg;
	(void)pass;
	(void)err;
	(void)errlen;
	return 0;
}

static const struct rc_config_choice log_choices[] = {
	{ "error", RC_LOG_ERROR },
	{ "warn", RC_LOG_WARN },
	{ "info", RC_LOG_INFO },
	{ "debug", RC_LOG_DEBUG },
	{ NULL, 0 },
};

#define FIELD(f) .offset = offsetof(struct rc_config, f), \
	.size = sizeof(((struct rc_config *)0)->f)
#define FLAG(f) .kind = RC_CONFIG_FLAG, FIELD(f)
#define NUM(f, lo, hi) .kind = RC_CONFIG_NUM, FIELD(f), .min = (lo), .max = (hi)
#define CHOICE(f, c) .kind = RC_CONFIG_CHOICE, FIELD(f), .choices = (c)
#define ADDR(f) .kind = RC_CONFIG_ADDR, FIELD(f)
#define CALL(fn) .kind = RC_CONFIG_CALL, .set = (fn)

/* What --help says of the built-in defaults, which differ between a build
 * from the source tree and a packaged one (meson -Dwww_dir, -Ddefault_config). */
#ifdef RC_DEFAULT_WWW_DIR
#define STATIC_DEFAULT_HELP RC_DEFAULT_WWW_DIR " at /, with the video players under /vendor/"
#else
#define STATIC_DEFAULT_HELP "the source tree's ws/client at / and the video players at " \
	"/vendor/jsmpeg/ and /vendor/mpegts/"
#endif
#ifdef RC_DEFAULT_CONFIG
#define CONFIG_DEFAULT_HELP " (default " RC_DEFAULT_CONFIG " when it exists)"
#else
#define CONFIG_DEFAULT_HELP ""
#endif

static const struct rc_config_option options[] = {
	{ "listen", "ADDR:PORT", ADDR(listen),
	  .def = "0.0.0.0:8080; IPv6 as [::]:8080; port 0 picks a free port",
	  .help = "HTTP and WebSocket listener" },
	{ "udp", "ADDR:PORT=CHANNEL", CALL(set_udp),
	  .help = "UDP ingest port bound to a channel; repeatable (replaces both default "
		  "ports and their channels' demo settings)" },
	{ "udp-mux", "ADDR:PORT", CALL(set_udp_mux),
	  .help = "UDP port for many channels: each datagram starts with 'R', one byte N "
		  "(1-64), then N bytes of channel name; the rest is the message; for a "
		  "channel with a key: 'K', N, the name, one byte M, M bytes of key, then the "
		  "message; repeatable" },
	{ "tcp", "ADDR:PORT", ADDR(tcp),
	  .help = "TCP publishers: send 'PUB CHANNEL [raw|framed]\\n' (plus ' key=K' for a "
		  "channel with a key), get 'OK' or 'ERR reason', then stream (framed: 4-byte "
		  "big-endian length + payload per message)" },
	{ "multi-publisher", NULL, FLAG(multi_publisher),
	  .help = "let several TCP or HTTP publishers share a channel (default: a second "
		  "TCP one gets 'ERR busy', a second HTTP one 409)" },
	{ "max-message", "BYTES", NUM(max_message, 1, 64u << 20), .def = "1048576",
	  .help = "largest framed TCP message" },
	{ "content-type", "CHANNEL=TYPE", CALL(set_content_type),
	  .def = "application/octet-stream; e.g. live=video/mp2t",
	  .help = "Content-Type of /stream/CHANNEL" },
	{ "cache", "[CHANNEL:]last=N|bytes=N|ts", CALL(set_cache),
	  .help = "late joiners first get the channel's last N messages (or its most recent "
		  "N bytes of whole messages); ts: MPEG-TS PAT/PMT and the data since the last "
		  "keyframe (up to 8 MiB); without CHANNEL: for every channel; repeatable" },
	{ "max-queue", "BYTES", NUM(max_queue, 1024, 1ull << 40), .def = "4194304",
	  .help = "bytes queued per subscriber before the slow policy applies" },
	{ "slow", "drop|close", CHOICE(slow, rc_config_slow_choices), .def = "drop",
	  .help = "slow subscriber policy: drop skips whole messages and counts them, close "
		  "closes the subscriber with code 1008" },
	{ "buf-count", "N", NUM(buf_count, 8, 32768), .rules = RC_CONFIG_POW2, .def = "4096",
	  .help = "ingest buffers, a power of two <= 32768" },
	{ "buf-size", "BYTES", NUM(buf_size, 256, 65536 + 128), .def = "2048",
	  .help = "bytes per ingest buffer; longer datagrams go to the large buffers" },
	{ "udp-large-bufs", "N", NUM(udp_large_bufs, 1, 1024),
	  .rules = RC_CONFIG_POW2 | RC_CONFIG_OR_0,
	  .def = "16",
	  .help = "buffers of 64 KiB per worker with UDP ports, for datagrams longer than an "
		  "ingest buffer holds (up to 65,507 bytes over IPv4, 65,527 over IPv6), a power "
		  "of two <= 1024; 0: none, such datagrams are dropped and counted" },
	{ "udp-rcvbuf", "BYTES", NUM(udp_rcvbuf, 4096, 1 << 30), .def = "4194304",
	  .help = "UDP socket receive buffer" },
	{ "handshake-timeout", "MS", NUM(handshake_timeout_ms, 10, 3600000), .def = "10000",
	  .help = "time to send a complete HTTP request, counted from its first byte, never "
		  "extended" },
	{ "idle-timeout", "MS", NUM(idle_timeout_ms, 10, 3600000), .def = "30000",
	  .help = "close a keep-alive HTTP connection waiting for its next request, a "
		  "WebSocket subscribed to no channel, or a TCP publisher silent in the middle "
		  "of a message, after this long" },
	{ "ping-interval", "MS", NUM(ping_interval_ms, 10, 3600000), .def = "30000",
	  .help = "ping idle WebSocket subscribers; close after two silent intervals" },
	{ "shutdown-timeout", "MS", NUM(shutdown_timeout_ms, 0, 600000), .def = "5000",
	  .help = "on SIGTERM/SIGINT, flush for at most this; a second signal ends the flush "
		  "at once" },
	{ "max-channels", "N", NUM(max_channels, 1, 10000000), .def = "10000",
	  .help = "channels that may exist at once" },
	{ "channel-grace", "MS", NUM(channel_grace_ms, 0, 86400000), .def = "30000; 0: at once",
	  .help = "keep a channel nobody uses (and its cache) this long before removing it" },
	{ "backend", "auto|io_uring|epoll", CALL(set_backend), .def = "auto",
	  .help = "the kernel interface: io_uring (faster), or epoll where io_uring is "
		  "blocked (auto falls back to epoll when io_uring is not allowed or too old, "
		  "e.g. under Docker's default seccomp profile)" },
	{ "nats", "URL[,URL...]", CALL(set_nats),
	  .help = "nats://ADDR:PORT of up to 8 NATS servers (numeric addresses: ringcast "
		  "resolves no names; no credentials in the URL, see --nats-creds; no TLS: use "
		  "a local leaf node). Each worker keeps its own connection, starting at "
		  "server (worker number mod count) and moving to the next one listed, then to "
		  "those the servers announce (connect_urls), when a connection is lost or "
		  "fails; a whole round that failed waits 100 ms, doubling to 2 s. It "
		  "publishes every message its publishers ingest to subject PREFIX.ch.CHANNEL "
		  "(the payload unchanged) and subscribes to the channels its subscribers "
		  "want; up to 4 MiB queued per connection, beyond that and while "
		  "disconnected messages are dropped and counted" },
	{ "nats-creds", "FILE", CALL(set_nats_creds),
	  .help = "credentials for NATS servers that ask for them (auth_required), read at "
		  "start-up: lines 'user NAME' and 'password PASS', or one line 'token TOKEN'; "
		  "'#' starts a comment line. Other users must not be able to read or write "
		  "the file. Without it a server that asks is refused, logged and counted" },
	{ "nats-prefix", "P", CALL(set_nats_prefix), .def = "ringcast",
	  .help = "the subjects' first tokens with --nats" },
	{ "workers", "N|auto", CALL(set_workers),
	  .def = "auto: one per CPU ringcast may run on (its affinity mask)",
	  .help = "loops, one thread each: connections are spread over them by the kernel "
		  "(SO_REUSEPORT), UDP ports one per loop in turn, and a message received on "
		  "one loop is handed to the others that have subscribers of its channel" },
	{ "pin", NULL, FLAG(pin),
	  .help = "pin worker i to the i-th CPU ringcast may run on (its affinity mask), "
		  "round robin" },
	{ "zc-min", "BYTES", NUM(zc_min, 0, 1 << 20),
	  .def = "0: never; on loopback the kernel copies anyway, see docs/ARCHITECTURE.md",
	  .help = "send frames of at least BYTES with io_uring SEND_ZC from the registered "
		  "ingest ring" },
	{ "channel", "NAME:KEY=VALUE[,KEY=VALUE...]", CALL(set_channel),
	  .help = "settings of one channel: type=MEDIA/TYPE, cache=last:N|bytes:N|ts, "
		  "slow=drop|close, max-queue=BYTES, max-message=BYTES, frames=binary|text, "
		  "multi-publisher=yes, uplink=on|off (subscribers' binary messages go to the "
		  "publisher), uplink-max=BYTES (4096), uplink-rate=N per second (100), "
		  "uplink-to=ADDR:PORT (a UDP publisher's uplink address); repeatable. Access control: key=K or key-file=PATH "
		  "(publishers must present K: 8-128 of A-Z a-z 0-9 . _ ~ -), token-secret=S or "
		  "token-secret-file=PATH (subscribers need a token made with S, 16-256 bytes; "
		  "see ringcast-token), max-subscribers=N. Prefer the -file forms: the command "
		  "line is visible to every local user" },
	{ "allow-origin", "ORIGIN[,ORIGIN...]", CALL(set_allow_origin),
	  .help = "WebSocket upgrades whose Origin header is not listed get 403 (requests "
		  "without Origin, i.e. not from a browser, are let through); repeatable; "
		  "default: any" },
	{ "max-conns-per-ip", "N", NUM(max_conns_per_ip, 0, 10000000), .def = "0: no limit",
	  .help = "TCP connections per client address, HTTP, WebSocket and --tcp publishers "
		  "together; more get 503 (a publisher: ERR) and are closed" },
	{ "ws-command-rate", "N", NUM(ws_command_rate, 1, 100000), .def = "20",
	  .help = "{\"sub\"}/{\"unsub\"} commands per second one WebSocket may send (bursts "
		  "of 64); more: close 1008" },
	{ "max-memory", "BYTES|auto", CALL(set_max_memory),
	  .def = "auto: half of the machine's or the cgroup's memory; 0: no bound",
	  .help = "memory ringcast may hold (queues, messages, caches, connections, buffer "
		  "rings); past it new subscribers get 503 or close 1013 and the connections "
		  "holding most are closed first" },
	{ "max-subscribers", "N", NUM(max_subscribers, 0, 10000000), .def = "0: no limit",
	  .help = "subscribers per channel, unless the channel sets its own; over it: 503 "
		  "before an upgrade, an error (and close 1013) for {\"sub\"}" },
	{ "udp-allow", "ADDR:PORT=CIDR[,CIDR...]", CALL(set_udp_allow),
	  .help = "datagrams to the UDP port(s) configured as ADDR:PORT are accepted only "
		  "from these sources (IPv4 or IPv6 prefixes); others are dropped and counted" },
	{ "static", "[PREFIX=]DIR", CALL(set_static),
	  .help = "serve the files under DIR at /PREFIX/ (read into memory at start-up; "
		  "symbolic links are not followed); repeatable; 'off' for none (default: "
		  STATIC_DEFAULT_HELP ")" },
	{ "config", "FILE", CALL(set_config),
	  .help = "read options from FILE first, one per line without the dashes "
		  "('udp 0.0.0.0:9000=live'); '#' comments; the command line wins"
		  CONFIG_DEFAULT_HELP },
	{ "batch-max", "BYTES", NUM(batch_max, 0, RC_HUB_BATCH_BYTES),
	  .def = "4096; 0: every frame from its receive buffer",
	  .help = "WebSocket frames up to BYTES published in one loop turn are copied once "
		  "into one buffer per channel and sent to each subscriber as one piece" },
	{ "stats-interval", "MS", NUM(stats_interval_ms, 250, 3600000), .rules = RC_CONFIG_OR_0,
	  .def = "0: off",
	  .help = "log one line of rates (messages in, frames and bytes out, sends, drops, "
		  "ring use) every MS, at least 250" },
	{ "log-level", "LEVEL", CHOICE(log_level, log_choices), .def = "info",
	  .help = "error, warn, info or debug" },
	{ "help", NULL, FLAG(show_help), .help = "show this help and exit" },
	{ "version", NULL, FLAG(show_version), .help = "show the version and exit" },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define OPT_VAL0 256	/* getopt_long()'s value of options[0]; past every character */

const struct rc_config_option *rc_config_option_table(size_t *n)
{
	*n = NOPTIONS;
	return options;
}

int rc_config_option_apply(struct rc_config *cfg, const struct rc_config_option *opt,
			   const char *arg, struct rc_config_pass *pass, char *err, size_t errlen)
{
	void *field = (char *)cfg + opt->offset;
	const struct rc_config_choice *choice;
	char words[96];
	uint64_t v;

	switch (opt->kind) {
	case RC_CONFIG_FLAG:
		rc_config_store(field, opt->size, 1);
		return 0;
	case RC_CONFIG_NUM:
		if (rc_num_parse_u64(arg, opt->rules & RC_CONFIG_OR_0 ? 0 : opt->min, opt->max,
				     &v) < 0 ||
		    (v && v < opt->min) || (opt->rules & RC_CONFIG_POW2 && (v & (v - 1)))) {
			snprintf(err, errlen, "--%s: expected %s from %" PRIu64 " to %" PRIu64
				 ", got '%s'", opt->name,
				 opt->rules & RC_CONFIG_POW2 ? "a power of two" :
				 opt->rules & RC_CONFIG_OR_0 ? "0 or a number" : "a number",
				 opt->min, opt->max, arg);
			return -EINVAL;
		}
		rc_config_store(field, opt->size, v);
		return 0;
	case RC_CONFIG_CHOICE:
		choice = rc_config_choose(opt->choices, arg);
		if (!choice) {
			rc_config_choices_text(opt->choices, words, sizeof(words));
			snprintf(err, errlen, "--%s: expected %s, got '%s'", opt->name, words, arg);
			return -EINVAL;
		}
		rc_config_store(field, opt->size, (uint64_t)choice->value);
		return 0;
	case RC_CONFIG_ADDR:
		if (rc_config_parse_addr(arg, strlen(arg), field) < 0) {
			snprintf(err, errlen, "--%s: expected ADDR:PORT, got '%s'", opt->name, arg);
			return -EINVAL;
		}
		return 0;
	case RC_CONFIG_CALL:
		return opt->set(cfg, arg, pass, err, errlen);
	}
	return -EINVAL;
}

int rc_config_parse(struct rc_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option longopts[NOPTIONS + 1];
	struct rc_config_pass pass = { 0 };
	int c;

	/* Each option returns its own value: getopt_long() calls a prefix of
	 * several names ambiguous only when what they return differs. */
	for (size_t i = 0; i < NOPTIONS; i++)
		longopts[i] = (struct option){
			.name = options[i].name,
			.has_arg = options[i].kind == RC_CONFIG_FLAG ? no_argument : required_argument,
			.val = OPT_VAL0 + (int)i,
		};
	longopts[NOPTIONS] = (struct option){ 0 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c < OPT_VAL0 || c >= OPT_VAL0 + (int)NOPTIONS) {
			snprintf(err, errlen, "unknown or incomplete option '%s'",
				 optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			return -EINVAL;
		}
		if (rc_config_option_apply(cfg, &options[c - OPT_VAL0], optarg, &pass, err,
					   errlen) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int rc_config_load(struct rc_config *cfg, const char *path, char *err, size_t errlen)
{
	/* Every line becomes "--key" [value] in an argv for rc_config_parse(),
	 * so the file accepts exactly what the command line does. */
	enum { MAX_ARGS = 512 };
	char *argv[MAX_ARGS + 2];
	char line[1024];
	int argc = 1, lineno = 0, ret;
	FILE *f = fopen(path, "r");

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "--config %s: %s", path, strerror(-ret));
		return ret;
	}
	argv[0] = "ringcast";
	ret = 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *key, *val, *hash = strchr(line, '#');
		size_t n;

		lineno++;
		if (hash)
			*hash = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		n = strlen(p);
		while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		if (!n)
			continue;
		if (argc + 2 > MAX_ARGS) {
			snprintf(err, errlen, "%s:%d: too many options", path, lineno);
			ret = -EINVAL;
			goto out;
		}
		key = p;
		val = strpbrk(p, " \t");
		if (val) {
			*val++ = '\0';
			while (*val == ' ' || *val == '\t')
				val++;
		}
		argv[argc] = malloc(strlen(key) + 3);
		if (!argv[argc]) {
			ret = -ENOMEM;
			goto out;
		}
		sprintf(argv[argc++], "--%s", key);
		if (val && *val) {
			argv[argc] = strdup(val);
			if (!argv[argc]) {
				ret = -ENOMEM;
				goto out;
			}
			argc++;
		}
	}
	argv[argc] = NULL;
	ret = rc_config_parse(cfg, argc, argv, err, errlen);
	if (ret < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
	}
out:
	for (int i = 1; i < argc; i++)
		free(argv[i]);
	fclose(f);
	return ret;
}

/* --help's layout: options at HELP_INDENT, their text from HELP_TEXT,
 * lines up to HELP_WIDTH columns. */
#define HELP_INDENT 4
#define HELP_TEXT 30
#define HELP_WIDTH 80

/* Prints text from column col on, wrapped at spaces; continuation lines
 * start at HELP_TEXT. Ends the line. */
static void print_wrapped(FILE *out, const char *text, size_t col)
{
	const char *p = text;

	while (*p) {
		size_t w = strcspn(p, " ");

		if (col > HELP_TEXT && col + 1 + w > HELP_WIDTH) {
			fprintf(out, "\n%*s", HELP_TEXT, "");
			col = HELP_TEXT;
		} else if (col > HELP_TEXT) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)w, p);
		col += w;
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

void rc_config_usage(const char *prog)
{
	FILE *out = stdout;

	fprintf(out,
		"NAME\n"
		"    ringcast - a streaming gateway: fans every message out to the subscribers\n"
		"    of its channel\n"
		"\n"
		"SYNOPSIS\n"
		"    %s [OPTION]...\n"
		"\n"
		"DESCRIPTION\n"
		"    Receive UDP datagrams and fan each one out, as one binary WebSocket\n"
		"    message, to every subscriber of its channel (ws://HOST:PORT/ws/CHANNEL).\n"
		"\n"
		"    With no options: HTTP/WebSocket on 0.0.0.0:8080 (the demo page at /), UDP\n"
		"    0.0.0.0:9000 -> channel 'live' (MPEG-TS: type=video/mp2t, cache=ts) and\n"
		"    UDP 0.0.0.0:9001 -> channel 'game' (frames=text).\n"
		"\n"
		"OPTIONS\n", prog);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct rc_config_option *o = &options[i];
		char text[1024];
		int head;

		head = fprintf(out, "%*s--%s%s%s", HELP_INDENT, "", o->name, o->arg ? " " : "",
			       o->arg ? o->arg : "");
		if (head + 2 > HELP_TEXT)
			fprintf(out, "\n%*s", HELP_TEXT, "");
		else
			fprintf(out, "%*s", HELP_TEXT - head, "");
		if (o->def)
			snprintf(text, sizeof(text), "%s (default %s)", o->help, o->def);
		else
			snprintf(text, sizeof(text), "%s", o->help);
		print_wrapped(out, text, HELP_TEXT);
	}
	fprintf(out,
		"\n"
		"HTTP ENDPOINTS\n"
		"    /ws/CHANNEL (WebSocket upgrade; /ws joins with {\"sub\":\"CHANNEL\"}),\n"
		"    /stream/CHANNEL (the payloads back to back), /sse/CHANNEL (Server-Sent\n"
		"    Events), POST or PUT /pub/CHANNEL (publish the body), /channels and\n"
		"    /connections (JSON), /healthz, /metrics (Prometheus), everything else\n"
		"    from the --static directories.\n"
		"\n"
		"OUTPUT\n"
		"    On start the bound addresses are printed on stdout ('listen http ...',\n"
		"    'listen udp ... CHANNEL', then 'ready'); logs go to stderr.\n"
		"\n"
		"EXIT STATUS\n"
		"    0   after a clean shutdown\n"
		"    1   on a runtime error (e.g. io_uring unavailable, port in use)\n"
		"    2   on a usage error\n");
}
