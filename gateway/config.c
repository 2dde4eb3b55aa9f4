/* Command-line parsing for ringcast. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rc_paths.h"

void rc_config_defaults(struct rc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	rc_config_parse_addr("0.0.0.0:8080", strlen("0.0.0.0:8080"), &cfg->listen);
	rc_config_parse_addr("0.0.0.0:9000", strlen("0.0.0.0:9000"), &cfg->udp[0].addr);
	strcpy(cfg->udp[0].channel, "live");
	rc_config_parse_addr("0.0.0.0:9001", strlen("0.0.0.0:9001"), &cfg->udp[1].addr);
	strcpy(cfg->udp[1].channel, "game");
	cfg->nudp = 2;
	cfg->udp_default = true;
	/* The source tree's page and the npm player, so that `make run` needs
	 * no flags; an installed ringcast is given --static. */
	snprintf(cfg->statics[0].dir, sizeof(cfg->statics[0].dir), "%s", RC_DEFAULT_WEB_DIR);
	cfg->statics[0].optional = true;
	snprintf(cfg->statics[1].prefix, sizeof(cfg->statics[1].prefix), "vendor/jsmpeg");
	snprintf(cfg->statics[1].dir, sizeof(cfg->statics[1].dir), "%s", RC_DEFAULT_PLAYER_DIR);
	cfg->statics[1].optional = true;
	cfg->nstatic = 2;
	cfg->max_queue = 4u << 20;
	cfg->ws_command_rate = 20;
	cfg->max_memory = RC_CONFIG_MEMORY_AUTO;
	cfg->slow = RC_SLOW_DROP;
	cfg->buf_count = 4096;
	cfg->buf_size = 2048;
	cfg->handshake_timeout_ms = 10000;
	cfg->idle_timeout_ms = 30000;
	cfg->ping_interval_ms = 30000;
	cfg->batch_max = RC_HUB_BATCH_MAX_FRAME;
	cfg->shutdown_timeout_ms = 5000;
	cfg->max_channels = 10000;
	cfg->channel_grace_ms = 30000;
	cfg->max_message = 1u << 20;
	cfg->udp_rcvbuf = 4 << 20;
	cfg->log_level = RC_LOG_INFO;
}

int rc_config_parse_addr(const char *s, size_t len, struct rc_sockaddr *out)
{
	char host[64];
	const char *colon;
	const char *port_s;
	size_t host_len;
	char *end;
	unsigned long port;
	char port_buf[8];

	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(host) + 8)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb || rb + 1 >= s + len || rb[1] != ':')
			return -EINVAL;
		host_len = (size_t)(rb - s - 1);
		memcpy(host, s + 1, host_len);
		port_s = rb + 2;
	} else {
		colon = NULL;
		for (size_t i = 0; i < len; i++)
			if (s[i] == ':')
				colon = s + i;
		if (!colon)
			return -EINVAL;
		host_len = (size_t)(colon - s);
		memcpy(host, s, host_len);
		port_s = colon + 1;
	}
	if (host_len >= sizeof(host))
		return -EINVAL;
	host[host_len] = '\0';
	if ((size_t)(s + len - port_s) == 0 || (size_t)(s + len - port_s) >= sizeof(port_buf))
		return -EINVAL;
	memcpy(port_buf, port_s, (size_t)(s + len - port_s));
	port_buf[s + len - port_s] = '\0';
	if (port_buf[0] < '0' || port_buf[0] > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(port_buf, &end, 10);
	if (errno || *end || port > 65535)
		return -EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*a4);
	}
	return 0;
}

void rc_config_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		snprintf(buf, len, "?");
	}
}

const char *rc_config_content_type(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->ntypes; i++)
		if (strcmp(cfg->types[i].channel, channel) == 0)
			return cfg->types[i].type;
	return "application/octet-stream";
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

static const struct rc_channel_cfg *channel_cfg(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->nchans; i++)
		if (strcmp(cfg->chans[i].channel, channel) == 0)
			return &cfg->chans[i];
	return NULL;
}

enum rc_slow_policy rc_config_slow(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->slow >= 0 ? (enum rc_slow_policy)c->slow : cfg->slow;
}

size_t rc_config_max_queue(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->max_queue ? c->max_queue : cfg->max_queue;
}

uint32_t rc_config_max_message(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->max_message ? c->max_message : cfg->max_message;
}

bool rc_config_text_frames(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return c && c->text_frames == 1;
}

bool rc_config_multi_publisher(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = channel_cfg(cfg, channel);

	return cfg->multi_publisher || (c && c->multi_publisher);
}

bool rc_config_ts(const struct rc_config *cfg, const char *channel)
{
	const struct rc_cache_policy *p = rc_config_cache(cfg, channel);

	return (p && p->ts) || strcmp(rc_config_content_type(cfg, channel), "video/mp2t") == 0;
}

static bool content_type_ok(const char *t);
static int parse_cache(const char *s, struct rc_cache_policy *p);

/* --channel NAME:key=value[,key=value...] */
static int parse_channel(struct rc_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');
	char name[RC_CHANNEL_NAME_MAX + 1];
	char item[512];
	struct rc_channel_cfg *c;
	const char *p;
	uint64_t v;
	int r;

	if (!colon || !rc_channel_name_valid(arg, (size_t)(colon - arg))) {
		snprintf(err, errlen, "--channel: expected NAME:key=value[,...], got '%s'", arg);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(colon - arg));
	name[colon - arg] = '\0';
	c = (struct rc_channel_cfg *)channel_cfg(cfg, name);
	if (!c) {
		if (cfg->nchans == RC_CONFIG_MAX_CHANNEL_CFG) {
			snprintf(err, errlen, "--channel: at most %d channels", RC_CONFIG_MAX_CHANNEL_CFG);
			return -EINVAL;
		}
		c = &cfg->chans[cfg->nchans++];
		memset(c, 0, sizeof(*c));
		strcpy(c->channel, name);
		c->slow = -1;
		c->text_frames = -1;
	}
	for (p = colon + 1; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *val;

		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		p += n + (end ? 1 : 0);
		val = strchr(item, '=');
		if (!val)
			goto bad;
		*val++ = '\0';
		if (strcmp(item, "type") == 0) {
			struct rc_content_type *t = &cfg->types[cfg->ntypes];

			if (cfg->ntypes == RC_CONFIG_MAX_TYPES || !content_type_ok(val))
				goto bad;
			strcpy(t->channel, name);
			strcpy(t->type, val);
			cfg->ntypes++;
		} else if (strcmp(item, "cache") == 0) {
			char spec[RC_CHANNEL_NAME_MAX + 64];
			char *sep = strchr(val, ':');

			if (cfg->ncaches == RC_CONFIG_MAX_CACHES || (!sep && strcmp(val, "ts")) ||
			    strlen(val) > 40)
				goto bad;
			if (sep)
				*sep = '=';	/* last:N -> last=N, as --cache spells it */
			snprintf(spec, sizeof(spec), "%s:%s", name, val);
			if (parse_cache(spec, &cfg->caches[cfg->ncaches]) < 0)
				goto bad;
			cfg->ncaches++;
		} else if (strcmp(item, "slow") == 0 && strcmp(val, "drop") == 0) {
			c->slow = RC_SLOW_DROP;
		} else if (strcmp(item, "slow") == 0 && strcmp(val, "close") == 0) {
			c->slow = RC_SLOW_CLOSE;
		} else if (strcmp(item, "max-queue") == 0 && parse_u64(val, 1024, 1ull << 40, &v) == 0) {
			c->max_queue = (size_t)v;
		} else if (strcmp(item, "max-message") == 0 && parse_u64(val, 1, 64u << 20, &v) == 0) {
			c->max_message = (uint32_t)v;
		} else if (strcmp(item, "multi-publisher") == 0 && strcmp(val, "yes") == 0) {
			c->multi_publisher = true;
		} else if (strcmp(item, "frames") == 0 && strcmp(val, "text") == 0) {
			c->text_frames = 1;
		} else if (strcmp(item, "frames") == 0 && strcmp(val, "binary") == 0) {
			c->text_frames = 0;
		} else if ((r = rc_config_channel_security(c, item, val, err, errlen)) != -ENOENT) {
			if (r < 0) {
				char why[200];

				snprintf(why, sizeof(why), "%s", err);
				snprintf(err, errlen, "--channel %s: %s", name, why);
				return -EINVAL;
			}
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "--channel %s: bad setting (keys: type=, cache=last:N|bytes:N|ts, slow=drop|close, "
		 "max-queue=, max-message=, frames=binary|text, multi-publisher=yes, key=, key-file=, "
		 "token-secret=, token-secret-file=, max-subscribers=)", arg);
	return -EINVAL;
}

const struct rc_cache_policy *rc_config_cache(const struct rc_config *cfg, const char *channel)
{
	const struct rc_cache_policy *all = NULL;

	for (size_t i = 0; i < cfg->ncaches; i++) {
		if (strcmp(cfg->caches[i].channel, channel) == 0)
			return &cfg->caches[i];
		if (!cfg->caches[i].channel[0])
			all = &cfg->caches[i];
	}
	return all;
}

/* Parses "[CHANNEL:]last=N" or "[CHANNEL:]bytes=N" into p. */
static int parse_cache(const char *s, struct rc_cache_policy *p)
{
	const char *colon = strchr(s, ':');
	const char *pol = colon ? colon + 1 : s;
	uint64_t v;

	memset(p, 0, sizeof(*p));
	if (colon) {
		if (!rc_channel_name_valid(s, (size_t)(colon - s)))
			return -EINVAL;
		memcpy(p->channel, s, (size_t)(colon - s));
	}
	if (strncmp(pol, "last=", 5) == 0 && parse_u64(pol + 5, 1, 1u << 20, &v) == 0) {
		p->last = (uint32_t)v;
		return 0;
	}
	if (strncmp(pol, "bytes=", 6) == 0 && parse_u64(pol + 6, 1, 1ull << 32, &v) == 0) {
		p->bytes = v;
		return 0;
	}
	if (strcmp(pol, "ts") == 0) {
		p->ts = true;
		p->bytes = 8u << 20;	/* a few seconds of a few Mbit/s */
		return 0;
	}
	return -EINVAL;
}

/* A media type as sent in Content-Type: printable ASCII, no CR/LF, so it
 * cannot split the response head. */
static bool content_type_ok(const char *t)
{
	if (!*t || strlen(t) >= sizeof(((struct rc_content_type *)0)->type))
		return false;
	for (; *t; t++)
		if (*t < 0x20 || *t > 0x7e)
			return false;
	return true;
}

void rc_config_finish(struct rc_config *cfg)
{
	char err[160];
	const struct rc_channel_cfg *game;

	if (!cfg->udp_default)
		return;
	/* Appended after what was given, so every lookup (first match wins)
	 * still finds the user's own setting first. */
	if (cfg->ntypes < RC_CONFIG_MAX_TYPES &&
	    strcmp(rc_config_content_type(cfg, "live"), "application/octet-stream") == 0)
		parse_channel(cfg, "live:type=video/mp2t", err, sizeof(err));
	if (cfg->ncaches < RC_CONFIG_MAX_CACHES && !rc_config_cache(cfg, "live"))
		parse_channel(cfg, "live:cache=ts", err, sizeof(err));
	game = channel_cfg(cfg, "game");
	if ((!game && cfg->nchans < RC_CONFIG_MAX_CHANNEL_CFG) || (game && game->text_frames < 0))
		parse_channel(cfg, "game:frames=text", err, sizeof(err));
}

/* --static [PREFIX=]DIR, or "off" for none. */
static int parse_static(struct rc_config *cfg, const char *arg, bool *given, char *err,
			size_t errlen)
{
	const char *eq = strchr(arg, '=');
	const char *dir = eq ? eq + 1 : arg;
	struct rc_static_mount *m;
	size_t pl = 0;

	if (!*given) {
		cfg->nstatic = 0;
		*given = true;
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

void rc_config_usage(const char *prog)
{
	printf("Usage: %s [OPTION]...\n"
	       "Receive UDP datagrams and fan each one out, as one binary WebSocket message,\n"
	       "to every subscriber of its channel (ws://HOST:PORT/ws/CHANNEL).\n"
	       "\n"
	       "With no options: HTTP/WebSocket on 0.0.0.0:8080 (the demo page at /), UDP\n"
	       "0.0.0.0:9000 -> channel 'live' (MPEG-TS: type=video/mp2t, cache=ts) and UDP\n"
	       "0.0.0.0:9001 -> channel 'game' (frames=text).\n"
	       "\n"
	       "  --listen ADDR:PORT        HTTP and WebSocket listener (default 0.0.0.0:8080;\n"
	       "                            IPv6 as [::]:8080; port 0 picks a free port)\n"
	       "  --udp ADDR:PORT=CHANNEL   UDP ingest port bound to a channel; repeatable\n"
	       "                            (replaces both default ports and their channels'\n"
	       "                            demo settings)\n"
	       "  --udp-mux ADDR:PORT       UDP port for many channels: each datagram starts with\n"
	       "                            'R', one byte N (1-64), then N bytes of channel name;\n"
	       "                            the rest is the message; for a channel with a key:\n"
	       "                            'K', N, the name, one byte M, M bytes of key, then\n"
	       "                            the message; repeatable\n"
	       "  --tcp ADDR:PORT           TCP publishers: send 'PUB CHANNEL [raw|framed]\\n'\n"
	       "                            (plus ' key=K' for a channel with a key), get\n"
	       "                            'OK' or 'ERR reason', then stream (framed: 4-byte\n"
	       "                            big-endian length + payload per message)\n"
	       "  --multi-publisher         let several TCP publishers share a channel (default:\n"
	       "                            a second one gets 'ERR busy')\n"
	       "  --max-message BYTES       largest framed TCP message (default 1048576)\n"
	       "  --content-type CHANNEL=TYPE\n"
	       "                            Content-Type of /stream/CHANNEL (default\n"
	       "                            application/octet-stream; e.g. live=video/mp2t)\n"
	       "  --cache [CHANNEL:]last=N|bytes=N|ts\n"
	       "                            late joiners first get the channel's last N messages\n"
	       "                            (or its most recent N bytes of whole messages);\n"
	       "                            ts: MPEG-TS PAT/PMT and the data since the last\n"
	       "                            keyframe (up to 8 MiB); without CHANNEL: for every\n"
	       "                            channel; repeatable\n"
	       "  --max-queue BYTES         bytes queued per subscriber before the slow policy\n"
	       "                            applies (default 4194304)\n"
	       "  --slow drop|close         slow subscriber policy: skip whole messages and count\n"
	       "                            them (drop, default) or close with code 1008 (close)\n"
	       "  --buf-count N             ingest buffers, a power of two <= 32768 (default 4096)\n"
	       "  --buf-size BYTES          bytes per ingest buffer (default 2048); larger\n"
	       "                            datagrams are dropped and counted\n"
	       "  --udp-rcvbuf BYTES        UDP socket receive buffer (default 4194304)\n"
	       "  --handshake-timeout MS    time to send a complete HTTP request, counted from\n"
	       "                            its first byte, never extended (default 10000)\n"
	       "  --idle-timeout MS         close a keep-alive HTTP connection waiting for its\n"
	       "                            next request, or a WebSocket subscribed to no\n"
	       "                            channel, after this long (default 30000)\n"
	       "  --ping-interval MS        ping idle WebSocket subscribers; close after two\n"
	       "                            silent intervals (default 30000)\n"
	       "  --shutdown-timeout MS     on SIGTERM/SIGINT, flush for at most this (default 5000)\n"
	       "  --max-channels N          channels that may exist at once (default 10000)\n"
	       "  --channel-grace MS        keep a channel nobody uses (and its cache) this long\n"
	       "                            before removing it (default 30000; 0: at once)\n"
	       "  --backend auto|io_uring|epoll\n"
	       "                            the kernel interface: io_uring (faster), or epoll\n"
	       "                            where io_uring is blocked (auto, the default, falls\n"
	       "                            back to epoll when io_uring is not allowed or too old,\n"
	       "                            e.g. under Docker's default seccomp profile)\n"
	       "  --zc-min BYTES            send frames of at least BYTES with io_uring SEND_ZC\n"
	       "                            from the registered ingest ring (default 0: never;\n"
	       "                            on loopback the kernel copies anyway, see\n"
	       "                            docs/ARCHITECTURE.md)\n"
	       "  --channel NAME:KEY=VALUE[,KEY=VALUE...]\n"
	       "                            settings of one channel: type=MEDIA/TYPE,\n"
	       "                            cache=last:N|bytes:N, slow=drop|close, max-queue=BYTES,\n"
	       "                            max-message=BYTES, frames=binary|text,\n"
	       "                            multi-publisher=yes; repeatable. Access control:\n"
	       "                            key=K or key-file=PATH (publishers must present K:\n"
	       "                            8-128 of A-Z a-z 0-9 . _ ~ -), token-secret=S or\n"
	       "                            token-secret-file=PATH (subscribers need a token\n"
	       "                            made with S, 16-256 bytes; see ringcast-token),\n"
	       "                            max-subscribers=N. Prefer the -file forms: the\n"
	       "                            command line is visible to every local user\n"
	       "  --allow-origin ORIGIN[,ORIGIN...]\n"
	       "                            WebSocket upgrades whose Origin header is not listed\n"
	       "                            get 403 (requests without Origin, i.e. not from a\n"
	       "                            browser, are let through); repeatable; default: any\n"
	       "  --max-conns-per-ip N      HTTP/WebSocket connections per client address; more\n"
	       "                            get 503 and are closed (default 0: no limit)\n"
	       "  --ws-command-rate N       {\"sub\"}/{\"unsub\"} commands per second one WebSocket\n"
	       "                            may send (bursts of 64); more: close 1008 (default 20)\n"
	       "  --max-memory BYTES|auto   memory ringcast may hold (queues, messages, caches,\n"
	       "                            connections, buffer rings); past it new subscribers\n"
	       "                            get 503 or close 1013 and the connections holding\n"
	       "                            most are closed first (default auto: half of the\n"
	       "                            machine's or the cgroup's memory; 0: no bound)\n"
	       "  --max-subscribers N       subscribers per channel, unless the channel sets its\n"
	       "                            own (default 0: no limit); over it: 503 before an\n"
	       "                            upgrade, an error (and close 1013) for {\"sub\"}\n"
	       "  --udp-allow ADDR:PORT=CIDR[,CIDR...]\n"
	       "                            datagrams to the UDP port(s) configured as ADDR:PORT\n"
	       "                            are accepted only from these sources (IPv4 or IPv6\n"
	       "                            prefixes); others are dropped and counted\n"
	       "  --static [PREFIX=]DIR     serve the files under DIR at /PREFIX/ (read into\n"
	       "                            memory at start-up; symbolic links are not followed);\n"
	       "                            repeatable; 'off' for none (default: the source\n"
	       "                            tree's ws/client at / and the video player at\n"
	       "                            /vendor/jsmpeg/)\n"
	       "  --config FILE             read options from FILE first, one per line without\n"
	       "                            the dashes ('udp 0.0.0.0:9000=live'); '#' comments\n"
	       "  --batch-max BYTES         WebSocket frames up to BYTES published in one loop\n"
	       "                            turn are copied once into one buffer per channel\n"
	       "                            and sent to each subscriber as one piece (default\n"
	       "                            4096; 0: every frame from its receive buffer)\n"
	       "  --stats-interval MS       log one line of rates (messages in, frames and\n"
	       "                            bytes out, sends, drops, ring use) every MS\n"
	       "                            (>= 250; default 0: off)\n"
	       "  --log-level LEVEL         error, warn, info (default) or debug\n"
	       "  --help                    show this help and exit\n"
	       "  --version                 show the version and exit\n"
	       "\n"
	       "HTTP endpoints: /ws/CHANNEL (WebSocket upgrade), /healthz, /metrics (Prometheus),\n"
	       "everything else from the --static directories.\n"
	       "On start the bound addresses are printed on stdout ('listen http ...', 'listen udp\n"
	       "... CHANNEL', then 'ready'); logs go to stderr.\n"
	       "\n"
	       "Exit status: 0 after a clean shutdown, 1 on a runtime error (e.g. io_uring\n"
	       "unavailable with --backend io_uring, port in use), 2 on a usage error.\n",
	       prog);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_LISTEN = 256, OPT_UDP, OPT_MAX_QUEUE, OPT_SLOW, OPT_BUF_COUNT, OPT_BUF_SIZE,
	OPT_HANDSHAKE, OPT_PING, OPT_STATS_INTERVAL, OPT_BATCH_MAX, OPT_SHUTDOWN, OPT_MAX_CHANNELS, OPT_RCVBUF, OPT_LOG,
	OPT_HELP, OPT_VERSION, OPT_ZC_MIN, OPT_CONTENT_TYPE, OPT_TCP, OPT_MULTI_PUB,
	OPT_MAX_MESSAGE, OPT_UDP_MUX, OPT_CACHE, OPT_GRACE, OPT_CHANNEL, OPT_CONFIG,
	OPT_SECURITY,	/* parsed by rc_config_security_option(), by name */
	OPT_IDLE,
	OPT_STATIC,
	OPT_CMD_RATE,
	OPT_MAX_MEMORY,
	OPT_BACKEND,
};

int rc_config_parse(struct rc_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "udp", required_argument, NULL, OPT_UDP },
		{ "max-queue", required_argument, NULL, OPT_MAX_QUEUE },
		{ "slow", required_argument, NULL, OPT_SLOW },
		{ "buf-count", required_argument, NULL, OPT_BUF_COUNT },
		{ "buf-size", required_argument, NULL, OPT_BUF_SIZE },
		{ "udp-rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
		{ "ping-interval", required_argument, NULL, OPT_PING },
		{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
		{ "batch-max", required_argument, NULL, OPT_BATCH_MAX },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "ws-command-rate", required_argument, NULL, OPT_CMD_RATE },
		{ "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
		{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN },
		{ "max-channels", required_argument, NULL, OPT_MAX_CHANNELS },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "zc-min", required_argument, NULL, OPT_ZC_MIN },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "content-type", required_argument, NULL, OPT_CONTENT_TYPE },
		{ "tcp", required_argument, NULL, OPT_TCP },
		{ "multi-publisher", no_argument, NULL, OPT_MULTI_PUB },
		{ "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
		{ "udp-mux", required_argument, NULL, OPT_UDP_MUX },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "channel-grace", required_argument, NULL, OPT_GRACE },
		{ "channel", required_argument, NULL, OPT_CHANNEL },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "allow-origin", required_argument, NULL, OPT_SECURITY },
		{ "max-conns-per-ip", required_argument, NULL, OPT_SECURITY },
		{ "max-subscribers", required_argument, NULL, OPT_SECURITY },
		{ "udp-allow", required_argument, NULL, OPT_SECURITY },
		{ "static", required_argument, NULL, OPT_STATIC },
		{ NULL, 0, NULL, 0 },
	};
	bool udp_given = false;
	bool static_given = false;
	uint64_t v;
	int c, li = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (rc_config_parse_addr(optarg, strlen(optarg), &cfg->listen) < 0) {
				snprintf(err, errlen, "--listen: expected ADDR:PORT, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_UDP: {
			const char *eq = strrchr(optarg, '=');
			struct rc_udp_binding *b;

			if (!udp_given) {
				cfg->nudp = 0;
				cfg->udp_default = false;
				udp_given = true;
			}
			if (cfg->nudp == RC_CONFIG_MAX_UDP) {
				snprintf(err, errlen, "--udp: at most %d ports", RC_CONFIG_MAX_UDP);
				return -EINVAL;
			}
			b = &cfg->udp[cfg->nudp];
			if (!eq || rc_config_parse_addr(optarg, (size_t)(eq - optarg), &b->addr) < 0 ||
			    !rc_channel_name_valid(eq + 1, strlen(eq + 1))) {
				snprintf(err, errlen,
					 "--udp: expected ADDR:PORT=CHANNEL (channel: 1-64 of "
					 "A-Z a-z 0-9 . _ -), got '%s'", optarg);
				return -EINVAL;
			}
			strcpy(b->channel, eq + 1);
			cfg->nudp++;
			break;
		}
		case OPT_UDP_MUX:
			if (!udp_given) {
				cfg->nudp = 0;
				cfg->udp_default = false;
				udp_given = true;
			}
			if (cfg->nudp == RC_CONFIG_MAX_UDP) {
				snprintf(err, errlen, "--udp-mux: at most %d ports", RC_CONFIG_MAX_UDP);
				return -EINVAL;
			}
			if (rc_config_parse_addr(optarg, strlen(optarg), &cfg->udp[cfg->nudp].addr) < 0) {
				snprintf(err, errlen, "--udp-mux: expected ADDR:PORT, got '%s'", optarg);
				return -EINVAL;
			}
			cfg->udp[cfg->nudp].channel[0] = '\0';
			cfg->nudp++;
			break;
		case OPT_MAX_QUEUE:
			if (parse_u64(optarg, 1024, (uint64_t)1 << 40, &v) < 0)
				goto bad_number;
			cfg->max_queue = (size_t)v;
			break;
		case OPT_SLOW:
			if (strcmp(optarg, "drop") == 0) {
				cfg->slow = RC_SLOW_DROP;
			} else if (strcmp(optarg, "close") == 0) {
				cfg->slow = RC_SLOW_CLOSE;
			} else {
				snprintf(err, errlen, "--slow: expected drop or close, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_BUF_COUNT:
			if (parse_u64(optarg, 8, 32768, &v) < 0 || (v & (v - 1))) {
				snprintf(err, errlen, "--buf-count: expected a power of two from 8 to 32768");
				return -EINVAL;
			}
			cfg->buf_count = (uint32_t)v;
			break;
		case OPT_BUF_SIZE:
			if (parse_u64(optarg, 256, 65536 + 128, &v) < 0)
				goto bad_number;
			cfg->buf_size = (uint32_t)v;
			break;
		case OPT_RCVBUF:
			if (parse_u64(optarg, 4096, 1 << 30, &v) < 0)
				goto bad_number;
			cfg->udp_rcvbuf = (int)v;
			break;
		case OPT_HANDSHAKE:
			if (parse_u64(optarg, 10, 3600000, &v) < 0)
				goto bad_number;
			cfg->handshake_timeout_ms = (uint32_t)v;
			break;
		case OPT_IDLE:
			if (parse_u64(optarg, 10, 3600000, &v) < 0)
				goto bad_number;
			cfg->idle_timeout_ms = (uint32_t)v;
			break;
		case OPT_CMD_RATE:
			if (parse_u64(optarg, 1, 100000, &v) < 0)
				goto bad_number;
			cfg->ws_command_rate = (uint32_t)v;
			break;
		case OPT_MAX_MEMORY:
			if (strcmp(optarg, "auto") == 0) {
				cfg->max_memory = RC_CONFIG_MEMORY_AUTO;
				break;
			}
			if (parse_u64(optarg, 0, (uint64_t)1 << 50, &v) < 0)
				goto bad_number;
			cfg->max_memory = v;
			break;
		case OPT_PING:
			if (parse_u64(optarg, 10, 3600000, &v) < 0)
				goto bad_number;
			cfg->ping_interval_ms = (uint32_t)v;
			break;
		case OPT_BATCH_MAX:
			if (parse_u64(optarg, 0, RC_HUB_BATCH_BYTES, &v) < 0)
				goto bad_number;
			cfg->batch_max = (uint32_t)v;
			break;
		case OPT_STATS_INTERVAL:
			if (parse_u64(optarg, 0, 3600000, &v) < 0 || (v && v < 250))
				goto bad_number;
			cfg->stats_interval_ms = (uint32_t)v;
			break;
		case OPT_SHUTDOWN:
			if (parse_u64(optarg, 0, 600000, &v) < 0)
				goto bad_number;
			cfg->shutdown_timeout_ms = (uint32_t)v;
			break;
		case OPT_MAX_CHANNELS:
			if (parse_u64(optarg, 1, 10000000, &v) < 0)
				goto bad_number;
			cfg->max_channels = (uint32_t)v;
			break;
		case OPT_LOG:
			if (strcmp(optarg, "error") == 0)
				cfg->log_level = RC_LOG_ERROR;
			else if (strcmp(optarg, "warn") == 0)
				cfg->log_level = RC_LOG_WARN;
			else if (strcmp(optarg, "info") == 0)
				cfg->log_level = RC_LOG_INFO;
			else if (strcmp(optarg, "debug") == 0)
				cfg->log_level = RC_LOG_DEBUG;
			else {
				snprintf(err, errlen, "--log-level: expected error, warn, info or debug");
				return -EINVAL;
			}
			break;
		case OPT_ZC_MIN:
			if (parse_u64(optarg, 0, 1 << 20, &v) < 0)
				goto bad_number;
			cfg->zc_min = (uint32_t)v;
			break;
		case OPT_BACKEND:
			if (rc_loop_backend_parse(optarg, &cfg->backend) < 0) {
				snprintf(err, errlen,
					 "--backend: expected auto, io_uring or epoll, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_CONTENT_TYPE: {
			const char *eq = strchr(optarg, '=');
			struct rc_content_type *t = &cfg->types[cfg->ntypes];

			if (cfg->ntypes == RC_CONFIG_MAX_TYPES || !eq ||
			    !rc_channel_name_valid(optarg, (size_t)(eq - optarg)) ||
			    !content_type_ok(eq + 1)) {
				snprintf(err, errlen, "--content-type: expected CHANNEL=TYPE, got '%s'",
					 optarg);
				return -EINVAL;
			}
			memcpy(t->channel, optarg, (size_t)(eq - optarg));
			t->channel[eq - optarg] = '\0';
			strcpy(t->type, eq + 1);
			cfg->ntypes++;
			break;
		}
		case OPT_TCP:
			if (rc_config_parse_addr(optarg, strlen(optarg), &cfg->tcp) < 0) {
				snprintf(err, errlen, "--tcp: expected ADDR:PORT, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_MULTI_PUB:
			cfg->multi_publisher = true;
			break;
		case OPT_MAX_MESSAGE:
			if (parse_u64(optarg, 1, 64u << 20, &v) < 0)
				goto bad_number;
			cfg->max_message = (uint32_t)v;
			break;
		case OPT_CACHE:
			if (cfg->ncaches == RC_CONFIG_MAX_CACHES ||
			    parse_cache(optarg, &cfg->caches[cfg->ncaches]) < 0) {
				snprintf(err, errlen,
					 "--cache: expected [CHANNEL:]last=N or [CHANNEL:]bytes=N, got '%s'",
					 optarg);
				return -EINVAL;
			}
			cfg->ncaches++;
			break;
		case OPT_CHANNEL:
			if (parse_channel(cfg, optarg, err, errlen) < 0)
				return -EINVAL;
			break;
		case OPT_STATIC:
			if (parse_static(cfg, optarg, &static_given, err, errlen) < 0)
				return -EINVAL;
			break;
		case OPT_CONFIG:
			/* Loaded by main() before the command line; nothing here. */
			break;
		case OPT_SECURITY:
			if (rc_config_security_option(cfg, opts[li].name, optarg, err, errlen) < 0)
				return -EINVAL;
			break;
		case OPT_GRACE:
			if (parse_u64(optarg, 0, 86400000, &v) < 0)
				goto bad_number;
			cfg->channel_grace_ms = (uint32_t)v;
			break;
		case OPT_HELP:
			cfg->show_help = true;
			break;
		case OPT_VERSION:
			cfg->show_version = true;
			break;
		default:
			snprintf(err, errlen, "unknown or incomplete option '%s'",
				 optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			return -EINVAL;
		}
		continue;
bad_number:
		for (const struct option *o = opts; o->name; o++)
			if (o->val == c)
				snprintf(err, errlen, "--%s: bad or out-of-range number '%s'", o->name,
					 optarg);
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
