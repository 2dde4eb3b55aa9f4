/* The configuration's defaults, the values the option table reads
 * (addresses, cache policies, content types, choices, fields by size),
 * per-channel settings and their lookups. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "num.h"
#include "config_table.h"
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
	uint64_t port;

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
	if (rc_num_parse_u64n(port_s, (size_t)(s + len - port_s), 0, 65535, &port) < 0)
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

const struct rc_config_choice rc_config_slow_choices[] = {
	{ "drop", RC_SLOW_DROP },
	{ "close", RC_SLOW_CLOSE },
	{ NULL, 0 },
};

void rc_config_store(void *p, size_t size, uint64_t v)
{
	if (size == sizeof(uint64_t)) {
		memcpy(p, &v, sizeof(v));
	} else if (size == sizeof(uint32_t)) {
		uint32_t w = (uint32_t)v;

		memcpy(p, &w, sizeof(w));
	} else {
		bool b = v != 0;

		memcpy(p, &b, sizeof(b));
	}
}

const struct rc_config_choice *rc_config_choose(const struct rc_config_choice *choices,
						const char *s)
{
	for (; choices->name; choices++)
		if (strcmp(choices->name, s) == 0)
			return choices;
	return NULL;
}

void rc_config_choices_text(const struct rc_config_choice *choices, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct rc_config_choice *c = choices; c->name && used < len; c++) {
		const char *sep = c == choices ? "" : c[1].name ? ", " : " or ";
		int n = snprintf(buf + used, len - used, "%s%s", sep, c->name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
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

bool rc_config_type_add(struct rc_config *cfg, const char *name, size_t len, const char *type)
{
	struct rc_content_type *t = &cfg->types[cfg->ntypes];

	if (cfg->ntypes == RC_CONFIG_MAX_TYPES || !rc_channel_name_valid(name, len) ||
	    !content_type_ok(type))
		return false;
	memcpy(t->channel, name, len);
	t->channel[len] = '\0';
	strcpy(t->type, type);
	cfg->ntypes++;
	return true;
}

/* Parses "[CHANNEL:]last=N", "[CHANNEL:]bytes=N" or "[CHANNEL:]ts" into p. */
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
	if (strncmp(pol, "last=", 5) == 0 && rc_num_parse_u64(pol + 5, 1, 1u << 20, &v) == 0) {
		p->last = (uint32_t)v;
		return 0;
	}
	if (strncmp(pol, "bytes=", 6) == 0 && rc_num_parse_u64(pol + 6, 1, 1ull << 32, &v) == 0) {
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

bool rc_config_cache_add(struct rc_config *cfg, const char *spec)
{
	if (cfg->ncaches == RC_CONFIG_MAX_CACHES || parse_cache(spec, &cfg->caches[cfg->ncaches]) < 0)
		return false;
	cfg->ncaches++;
	return true;
}

static const struct rc_channel_cfg *channel_cfg(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->nchans; i++)
		if (strcmp(cfg->chans[i].channel, channel) == 0)
			return &cfg->chans[i];
	return NULL;
}

int rc_config_channel_parse(struct rc_config *cfg, const char *arg, char *err, size_t errlen)
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
			if (!rc_config_type_add(cfg, name, strlen(name), val))
				goto bad;
		} else if (strcmp(item, "cache") == 0) {
			char spec[RC_CHANNEL_NAME_MAX + 64];
			char *sep = strchr(val, ':');

			if ((!sep && strcmp(val, "ts")) || strlen(val) > 40)
				goto bad;
			if (sep)
				*sep = '=';	/* last:N -> last=N, as --cache spells it */
			snprintf(spec, sizeof(spec), "%s:%s", name, val);
			if (!rc_config_cache_add(cfg, spec))
				goto bad;
		} else if (strcmp(item, "slow") == 0 && strcmp(val, "drop") == 0) {
			c->slow = RC_SLOW_DROP;
		} else if (strcmp(item, "slow") == 0 && strcmp(val, "close") == 0) {
			c->slow = RC_SLOW_CLOSE;
		} else if (strcmp(item, "max-queue") == 0 && rc_num_parse_u64(val, 1024, 1ull << 40, &v) == 0) {
			c->max_queue = (size_t)v;
		} else if (strcmp(item, "max-message") == 0 && rc_num_parse_u64(val, 1, 64u << 20, &v) == 0) {
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

const char *rc_config_content_type(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->ntypes; i++)
		if (strcmp(cfg->types[i].channel, channel) == 0)
			return cfg->types[i].type;
	return "application/octet-stream";
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
		rc_config_channel_parse(cfg, "live:type=video/mp2t", err, sizeof(err));
	if (cfg->ncaches < RC_CONFIG_MAX_CACHES && !rc_config_cache(cfg, "live"))
		rc_config_channel_parse(cfg, "live:cache=ts", err, sizeof(err));
	game = channel_cfg(cfg, "game");
	if ((!game && cfg->nchans < RC_CONFIG_MAX_CHANNEL_CFG) || (game && game->text_frames < 0))
		rc_config_channel_parse(cfg, "game:frames=text", err, sizeof(err));
}
