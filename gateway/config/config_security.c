/* Access-control settings: per-channel stream keys, token secrets and
 * subscriber limits (the global --allow-origin, --max-conns-per-ip,
 * --max-subscribers and --udp-allow are rows of the option table in
 * config_options.c). */
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
