/* Access control's secrets and checks: stream keys and token secrets (given
 * or read from a file, and checked), the Origin check and the UDP allowlist
 * lookup. The per-channel settings that use them are parsed in
 * config_channel.c, the global options in config_options.c; nothing here
 * calls back into either. */
#include "config.h"
#include "config_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* The value of a secret setting: val itself or (from_file) the content of
 * the file val names, into buf (cap bytes). Returns its length (cap + 1,
 * with nothing copied, when val itself is longer: the caller's check refuses
 * it), or -EINVAL with the reason in why when the file cannot be read or
 * holds more than cap bytes. */
static int secret_value(const char *val, bool from_file, const char *setting, uint8_t *buf,
			size_t cap, char *why, size_t whylen)
{
	size_t len;
	int n;

	if (!from_file) {
		len = strlen(val);
		if (len > cap)
			return (int)cap + 1;
		memcpy(buf, val, len);
		return (int)len;
	}
	n = rc_config_read_secret(val, buf, cap);
	if (n == -EFBIG) {
		snprintf(why, whylen, "%s %s: longer than %zu bytes", setting, val, cap);
		return -EINVAL;
	}
	if (n < 0) {
		snprintf(why, whylen, "%s %s: %s", setting, val, strerror(-n));
		return -EINVAL;
	}
	return n;
}

int rc_config_key_read(const char *val, bool from_file, char key[RC_CONFIG_KEY_MAX + 1],
		       char *why, size_t whylen)
{
	uint8_t buf[RC_CONFIG_KEY_MAX];
	int n = secret_value(val, from_file, "key-file", buf, sizeof(buf), why, whylen);

	if (n < 0)
		return -EINVAL;
	if (!key_ok((const char *)buf, (size_t)n)) {
		snprintf(why, whylen, "%s: a key is 8-128 of A-Z a-z 0-9 . _ ~ -",
			 from_file ? "key-file" : "key");
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(key, buf, (size_t)n);
	key[n] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int rc_config_token_secret_read(const char *val, bool from_file,
				uint8_t secret[RC_TOKEN_SECRET_MAX], size_t *len, char *why,
				size_t whylen)
{
	uint8_t buf[RC_TOKEN_SECRET_MAX];
	int n = secret_value(val, from_file, "token-secret-file", buf, sizeof(buf), why, whylen);

	if (n < 0)
		return -EINVAL;
	if (n < RC_TOKEN_SECRET_MIN || n > RC_TOKEN_SECRET_MAX) {
		snprintf(why, whylen, "%s: a token secret is 16-256 bytes",
			 from_file ? "token-secret-file" : "token-secret");
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(secret, buf, (size_t)n);
	*len = (size_t)n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
