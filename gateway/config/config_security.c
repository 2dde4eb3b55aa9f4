/* Access-control settings: per-channel stream keys, token secrets and
 * subscriber limits, and the global --allow-origin, --max-conns-per-ip,
 * --max-subscribers and --udp-allow. Parsed here so that config.c only
 * dispatches to it. */
#include "num.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct rc_channel_cfg *find(const struct rc_config *cfg, const char *channel)
{
	for (size_t i = 0; i < cfg->nchans; i++)
		if (strcmp(cfg->chans[i].channel, channel) == 0)
			return &cfg->chans[i];
	return NULL;
}

const char *rc_config_pub_key(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = find(cfg, channel);

	return c && c->key[0] ? c->key : NULL;
}

const uint8_t *rc_config_token_secret(const struct rc_config *cfg, const char *channel,
				      size_t *len)
{
	const struct rc_channel_cfg *c = find(cfg, channel);

	if (!c || !c->token_secret_len)
		return NULL;
	*len = c->token_secret_len;
	return c->token_secret;
}

uint32_t rc_config_max_subscribers(const struct rc_config *cfg, const char *channel)
{
	const struct rc_channel_cfg *c = find(cfg, channel);

	return c && c->max_subscribers ? c->max_subscribers : cfg->max_subscribers;
}

bool rc_config_origin_allowed(const struct rc_config *cfg, const char *origin, size_t len)
{
	if (!cfg->norigins)
		return true;
	for (size_t i = 0; i < cfg->norigins; i++)
		if (strlen(cfg->origins[i]) == len && strncasecmp(cfg->origins[i], origin, len) == 0)
			return true;
	return false;
}

static bool same_addr(const struct rc_sockaddr *a, const struct rc_sockaddr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

const struct rc_udp_allow *rc_config_udp_allow(const struct rc_config *cfg,
					       const struct rc_sockaddr *addr)
{
	for (size_t i = 0; i < cfg->nudp_allow; i++)
		if (same_addr(&cfg->udp_allow[i].addr, addr))
			return &cfg->udp_allow[i];
	return NULL;
}

int rc_config_read_secret(const char *path, uint8_t *buf, size_t cap)
{
	uint8_t tmp[RC_TOKEN_SECRET_MAX + 64];	/* room for the line end and more */
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	while (len < sizeof(tmp)) {
		ssize_t n = read(fd, tmp + len, sizeof(tmp) - len);

		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len && tmp[len - 1] == '\n')
		len--;
	if (len && tmp[len - 1] == '\r')
		len--;
	if (len > cap || len > RC_TOKEN_SECRET_MAX) {
		ret = -EFBIG;
		goto out;
	}
	memcpy(buf, tmp, len);
	ret = (int)len;
out:
	/* The secret should not linger on the stack. */
	explicit_bzero(tmp, sizeof(tmp));
	close(fd);
	return ret;
}

/* Stream keys travel in a PUB line, a Bearer header and a URL query: the
 * URL-unreserved characters work unescaped in all three. */
static bool key_ok(const char *k, size_t len)
{
	if (len < RC_CONFIG_KEY_MIN || len > RC_CONFIG_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = k[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '~' || ch == '-'))
			return false;
	}
	return true;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (rc_num_parse_u64(s, min, max, &v) < 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int rc_config_channel_security(struct rc_channel_cfg *c, const char *name, const char *val,
			       char *err, size_t errlen)
{
	uint8_t buf[RC_TOKEN_SECRET_MAX];
	int n;

	if (strcmp(name, "key") == 0 || strcmp(name, "key-file") == 0) {
		if (name[3]) {
			n = rc_config_read_secret(val, buf, RC_CONFIG_KEY_MAX);
			if (n < 0) {
				snprintf(err, errlen, "key-file %s: %s", val,
					 n == -EFBIG ? "longer than 128 bytes" : strerror(-n));
				return -EINVAL;
			}
		} else {
			n = (int)strlen(val);
			if (n > RC_CONFIG_KEY_MAX)
				n = RC_CONFIG_KEY_MAX + 1;
			else
				memcpy(buf, val, (size_t)n);
		}
		if (!key_ok((const char *)buf, (size_t)n)) {
			snprintf(err, errlen, "%s: a key is 8-128 of A-Z a-z 0-9 . _ ~ -", name);
			return -EINVAL;
		}
		memcpy(c->key, buf, (size_t)n);
		c->key[n] = '\0';
		return 0;
	}
	if (strcmp(name, "token-secret") == 0 || strcmp(name, "token-secret-file") == 0) {
		if (name[12]) {
			n = rc_config_read_secret(val, buf, sizeof(buf));
			if (n < 0) {
				snprintf(err, errlen, "token-secret-file %s: %s", val,
					 n == -EFBIG ? "longer than 256 bytes" : strerror(-n));
				return -EINVAL;
			}
		} else {
			n = (int)strlen(val);
			if (n > RC_TOKEN_SECRET_MAX)
				n = RC_TOKEN_SECRET_MAX + 1;
			else
				memcpy(buf, val, (size_t)n);
		}
		if (n < RC_TOKEN_SECRET_MIN || n > RC_TOKEN_SECRET_MAX) {
			snprintf(err, errlen, "%s: a token secret is 16-256 bytes", name);
			return -EINVAL;
		}
		memcpy(c->token_secret, buf, (size_t)n);
		c->token_secret_len = (size_t)n;
		return 0;
	}
	if (strcmp(name, "max-subscribers") == 0) {
		if (parse_u32(val, 1, 10000000, &c->max_subscribers) < 0) {
			snprintf(err, errlen, "max-subscribers: expected 1-10000000");
			return -EINVAL;
		}
		return 0;
	}
	return -ENOENT;
}

static int add_origins(struct rc_config *cfg, const char *arg, char *err, size_t errlen)
{
	if (!*arg)
		goto bad;
	for (const char *p = arg; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || n > RC_CONFIG_ORIGIN_MAX || cfg->norigins == RC_CONFIG_MAX_ORIGINS)
			goto bad;
		for (size_t i = 0; i < n; i++)
			if (p[i] <= 0x20 || p[i] > 0x7e)
				goto bad;
		memcpy(cfg->origins[cfg->norigins], p, n);
		cfg->origins[cfg->norigins][n] = '\0';
		cfg->norigins++;
		p += n + (end ? 1 : 0);
		if (end && !*p)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "--allow-origin: expected ORIGIN[,ORIGIN...] (e.g. https://example.com; at most "
		 "%d), got '%s'", RC_CONFIG_MAX_ORIGINS, arg);
	return -EINVAL;
}

static int add_udp_allow(struct rc_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	struct rc_udp_allow a;

	memset(&a, 0, sizeof(a));
	if (!eq || rc_config_parse_addr(arg, (size_t)(eq - arg), &a.addr) < 0)
		goto bad;
	for (const char *p = eq + 1; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (a.n == RC_CONFIG_MAX_ALLOW || rc_cidr_parse(p, n, &a.cidr[a.n]) < 0)
			goto bad;
		a.n++;
		p += n + (end ? 1 : 0);
		if (end && !*p)
			goto bad;
	}
	if (!a.n)
		goto bad;
	for (size_t i = 0; i < cfg->nudp_allow; i++) {
		if (same_addr(&cfg->udp_allow[i].addr, &a.addr)) {
			cfg->udp_allow[i] = a;	/* the later one wins, as on the command line */
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

int rc_config_security_option(struct rc_config *cfg, const char *name, const char *arg,
			      char *err, size_t errlen)
{
	if (strcmp(name, "allow-origin") == 0)
		return add_origins(cfg, arg, err, errlen);
	if (strcmp(name, "udp-allow") == 0)
		return add_udp_allow(cfg, arg, err, errlen);
	if (strcmp(name, "max-conns-per-ip") == 0 &&
	    parse_u32(arg, 0, 10000000, &cfg->max_conns_per_ip) == 0)
		return 0;
	if (strcmp(name, "max-subscribers") == 0 &&
	    parse_u32(arg, 0, 10000000, &cfg->max_subscribers) == 0)
		return 0;
	if (strcmp(name, "max-conns-per-ip") == 0 || strcmp(name, "max-subscribers") == 0) {
		snprintf(err, errlen, "--%s: expected a number from 0 (no limit) to 10000000, got '%s'",
			 name, arg);
		return -EINVAL;
	}
	return -ENOENT;
}
