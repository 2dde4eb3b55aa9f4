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
#include <sys/stat.h>
#include <unistd.h>

#include "nats_proto.h"

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

/* Longest --nats-creds file: a few short lines and comments. */
#define CREDS_FILE_MAX 4096

/* Reads the whole file at path (at most CREDS_FILE_MAX bytes) into buf,
 * NUL-terminated, refusing what others may read or write. Returns its
 * length, or -EINVAL with the reason in why. */
static int creds_file(const char *path, char *buf, char *why, size_t whylen)
{
	struct stat st;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int ret = -EINVAL;

	if (fd < 0) {
		snprintf(why, whylen, "--nats-creds %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	/* Checked on the open file, so what is checked is what is read. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "--nats-creds %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(why, whylen, "--nats-creds %s: other users may %s it (mode %04o): a "
			 "secret must not be; chmod o-rw %s", path,
			 st.st_mode & S_IROTH ? "read" : "write", (unsigned)(st.st_mode & 07777),
			 path);
		goto out;
	}
	while (len <= CREDS_FILE_MAX) {
		ssize_t n = read(fd, buf + len, CREDS_FILE_MAX + 1 - len);

		if (n < 0) {
			snprintf(why, whylen, "--nats-creds %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CREDS_FILE_MAX) {
		snprintf(why, whylen, "--nats-creds %s: longer than %d bytes", path,
			 CREDS_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	ret = (int)len;
out:
	close(fd);
	return ret;
}

/* One "key value" line of a credentials file into the field it names;
 * what is wrong goes to why. */
static int creds_line(char *line, size_t lineno, const char *path, struct rc_config_nats *c,
		      char *why, size_t whylen)
{
	static const char *const keys[] = { "user", "password", "token" };
	char *fields[] = { c->user, c->pass, c->token };
	size_t klen = strcspn(line, " \t"), vlen;
	char *val = line + klen;
	int k;

	while (*val == ' ' || *val == '\t')
		val++;
	vlen = strlen(val);
	while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
		vlen--;
	for (k = 0; k < 3; k++)
		if (strlen(keys[k]) == klen && memcmp(line, keys[k], klen) == 0)
			break;
	if (k == 3) {
		if (strncmp(line, "-----BEGIN", 10) == 0)
			snprintf(why, whylen, "--nats-creds %s: a NATS .creds file (JWT and NKey) "
				 "is not supported: ringcast sends a user and password, or a token",
				 path);
		else
			snprintf(why, whylen, "--nats-creds %s:%zu: unknown key '%.*s' (expected "
				 "user, password or token)", path, lineno, (int)(klen > 32 ? 32 : klen),
				 line);
		return -EINVAL;
	}
	if (fields[k][0]) {
		snprintf(why, whylen, "--nats-creds %s:%zu: %s given twice", path, lineno, keys[k]);
		return -EINVAL;
	}
	if (!vlen || vlen > RC_CONFIG_NATS_CRED_MAX) {
		snprintf(why, whylen, "--nats-creds %s:%zu: %s must have 1 to %d bytes", path,
			 lineno, keys[k], RC_CONFIG_NATS_CRED_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < vlen; i++) {
		if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) {
			snprintf(why, whylen, "--nats-creds %s:%zu: %s has a control character",
				 path, lineno, keys[k]);
			return -EINVAL;
		}
	}
	memcpy(fields[k], val, vlen);
	fields[k][vlen] = '\0';
	return 0;
}

int rc_config_nats_creds_read(const char *path, struct rc_config_nats *nats, char *why,
			      size_t whylen)
{
	char buf[CREDS_FILE_MAX + 1];
	char line[RC_NATS_MAX_CONTROL_LINE];	/* also a CONNECT, to check the values */
	struct rc_config_nats c = { 0 };
	struct rc_nats_connect conn = { .name = "ringcast" };
	size_t lineno = 0;
	char *p = buf;
	int ret = creds_file(path, buf, why, whylen);

	if (ret < 0)
		goto out;
	ret = -EINVAL;
	while (*p) {
		char *end = p + strcspn(p, "\n"), *q = p;
		bool last = !*end;

		lineno++;
		*end = '\0';
		if (end > p && end[-1] == '\r')
			end[-1] = '\0';
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q && *q != '#' && creds_line(q, lineno, path, &c, why, whylen) < 0)
			goto out;
		if (last)
			break;
		p = end + 1;
	}
	if (c.token[0] && (c.user[0] || c.pass[0])) {
		snprintf(why, whylen, "--nats-creds %s: either a token, or a user and a password, "
			 "not both", path);
		goto out;
	}
	if (!c.token[0] && (!c.user[0] || !c.pass[0])) {
		snprintf(why, whylen, "--nats-creds %s: expected lines 'user NAME' and 'password "
			 "PASS', or one line 'token TOKEN'", path);
		goto out;
	}
	/* What CONNECT cannot carry (text that is not UTF-8) is refused now,
	 * not at every connection. */
	conn.user = c.user[0] ? c.user : NULL;
	conn.pass = c.pass[0] ? c.pass : NULL;
	conn.auth_token = c.token[0] ? c.token : NULL;
	if (rc_nats_encode_connect(line, sizeof(line), &conn) < 0) {
		snprintf(why, whylen, "--nats-creds %s: the values must be UTF-8 text", path);
		goto out;
	}
	memcpy(nats->user, c.user, sizeof(c.user));
	memcpy(nats->pass, c.pass, sizeof(c.pass));
	memcpy(nats->token, c.token, sizeof(c.token));
	ret = 0;
out:
	/* The secrets should not linger on the stack. */
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(line, sizeof(line));
	explicit_bzero(&c, sizeof(c));
	return ret;
}
