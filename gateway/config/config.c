/* The configuration's defaults and the values both tables read: addresses,
 * cache policies, content types, choices, fields by size. Calls nothing else
 * of gateway/config/ (config_table.h has the order of the files). */
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
	strcpy(cfg->nats_prefix, "ringcast");
	cfg->udp_default = true;
#ifdef RC_DEFAULT_WWW_DIR
	/* A packaged build: the page, ringcast.js and the players (under
	 * vendor/) were installed in one directory. */
	snprintf(cfg->statics[0].dir, sizeof(cfg->statics[0].dir), "%s", RC_DEFAULT_WWW_DIR);
	cfg->statics[0].optional = true;
	cfg->nstatic = 1;
#else
	/* The source tree's page and the npm players, so that `make run` needs
	 * no flags. */
	snprintf(cfg->statics[0].dir, sizeof(cfg->statics[0].dir), "%s", RC_DEFAULT_WEB_DIR);
	cfg->statics[0].optional = true;
	snprintf(cfg->statics[1].prefix, sizeof(cfg->statics[1].prefix), "vendor/jsmpeg");
	snprintf(cfg->statics[1].dir, sizeof(cfg->statics[1].dir), "%s", RC_DEFAULT_PLAYER_DIR);
	cfg->statics[1].optional = true;
	snprintf(cfg->statics[2].prefix, sizeof(cfg->statics[2].prefix), "vendor/mpegts");
	snprintf(cfg->statics[2].dir, sizeof(cfg->statics[2].dir), "%s", RC_DEFAULT_MPEGTS_DIR);
	cfg->statics[2].optional = true;
	cfg->nstatic = 3;
#endif
	cfg->max_queue = 4u << 20;
	cfg->ws_command_rate = 20;
	cfg->max_memory = RC_CONFIG_MEMORY_AUTO;
	cfg->slow = RC_SLOW_DROP;
	cfg->buf_count = 4096;
	cfg->buf_size = 2048;
	cfg->udp_large_bufs = 16;
	cfg->handshake_timeout_ms = 10000;
	cfg->idle_timeout_ms = 30000;
	cfg->ping_interval_ms = 30000;
	cfg->batch_max = RC_HUB_BATCH_MAX_FRAME;
	cfg->shutdown_timeout_ms = 5000;
	cfg->workers = 0;	/* auto */
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
