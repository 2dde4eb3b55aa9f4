/* Access-control settings (gateway/config/: config_channel.c,
 * config_options.c, config_security.c) through the command line and a
 * configuration file: keys, token secrets (inline and from files), limits,
 * origins and UDP allowlists, and their errors. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int parse(struct rc_config *cfg, char *err, size_t errlen, int argc, char **argv)
{
	rc_config_defaults(cfg);
	return rc_config_parse(cfg, argc, argv, err, errlen);
}

static void write_file(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/rc-test-secret-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

Test(config_security, channel_keys_secrets_limits)
{
	struct rc_config *cfg = malloc(sizeof(*cfg));
	char err[256], path[64], path2[64], a1[400], a2[400];
	const uint8_t *sec;
	size_t sl = 0;

	write_file(path, "0123456789abcdef-from-file\n");
	write_file(path2, "key.from_file~1\r\n");
	snprintf(a1, sizeof(a1), "live:key=abcdefgh,token-secret=0123456789abcdef,max-subscribers=3");
	snprintf(a2, sizeof(a2), "game:token-secret-file=%s,key-file=%s", path, path2);
	{
		char *argv[] = { "ringcast", "--channel", a1, "--channel", a2,
				 "--max-subscribers", "100", NULL };

		cr_assert_eq(parse(cfg, err, sizeof(err), 7, argv), 0, "%s", err);
	}
	cr_assert_str_eq(rc_config_pub_key(cfg, "live"), "abcdefgh");
	cr_assert_str_eq(rc_config_pub_key(cfg, "game"), "key.from_file~1");
	cr_assert_null(rc_config_pub_key(cfg, "other"));
	sec = rc_config_token_secret(cfg, "live", &sl);
	cr_assert(sec && sl == 16 && memcmp(sec, "0123456789abcdef", 16) == 0);
	sec = rc_config_token_secret(cfg, "game", &sl);
	cr_assert(sec && sl == 26 && memcmp(sec, "0123456789abcdef-from-file", 26) == 0);
	cr_assert_null(rc_config_token_secret(cfg, "other", &sl));
	cr_assert_eq(rc_config_max_subscribers(cfg, "live"), 3);
	cr_assert_eq(rc_config_max_subscribers(cfg, "game"), 100);
	unlink(path);
	unlink(path2);
	free(cfg);
}

Test(config_security, errors)
{
	struct rc_config *cfg = malloc(sizeof(*cfg));
	char err[256];
	const char *bad[][2] = {
		{ "--channel", "live:key=short" },
		{ "--channel", "live:key=has space" },
		{ "--channel", "live:key=bad/char1" },
		{ "--channel", "live:token-secret=tooshort" },
		{ "--channel", "live:token-secret-file=/nonexistent/secret" },
		{ "--channel", "live:max-subscribers=0" },
		{ "--max-conns-per-ip", "-1" },
		{ "--max-subscribers", "x" },
		{ "--allow-origin", "" },
		{ "--allow-origin", "https://a.com," },
		{ "--allow-origin", "https://a .com" },
		{ "--udp-allow", "127.0.0.1:9000" },
		{ "--udp-allow", "127.0.0.1:9000=" },
		{ "--udp-allow", "127.0.0.1:9000=10.0.0.1/8" },
		{ "--udp-allow", "127.0.0.1=10.0.0.0/8" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { "ringcast", (char *)bad[i][0], (char *)bad[i][1], NULL };

		err[0] = '\0';
		cr_assert_eq(parse(cfg, err, sizeof(err), 3, argv), -EINVAL, "%s %s", bad[i][0],
			     bad[i][1]);
		cr_assert(err[0], "no reason for %s %s", bad[i][0], bad[i][1]);
	}
	free(cfg);
}

Test(config_security, origins_conns_udp_allow_in_a_file)
{
	struct rc_config *cfg = malloc(sizeof(*cfg));
	char err[256], path[64];
	struct rc_sockaddr a;
	const struct rc_udp_allow *al;
	struct sockaddr_in src = { .sin_family = AF_INET };

	write_file(path, "allow-origin https://a.example,http://localhost:8080\n"
			 "allow-origin https://b.example\n"
			 "max-conns-per-ip 4\n"
			 "udp 127.0.0.1:9000=live\n"
			 "udp-allow 127.0.0.1:9000=10.0.0.0/8,::1\n");
	rc_config_defaults(cfg);
	cr_assert_eq(rc_config_load(cfg, path, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_assert_eq(cfg->norigins, 3);
	cr_assert(rc_config_origin_allowed(cfg, "https://A.example", 17));
	cr_assert(rc_config_origin_allowed(cfg, "https://b.example", 17));
	cr_assert(!rc_config_origin_allowed(cfg, "https://c.example", 17));
	cr_assert(!rc_config_origin_allowed(cfg, "https://a.example.evil", 22));
	cr_assert_eq(cfg->max_conns_per_ip, 4);
	cr_assert_eq(rc_config_parse_addr("127.0.0.1:9000", 14, &a), 0);
	al = rc_config_udp_allow(cfg, &a);
	cr_assert_not_null(al);
	cr_assert_eq(al->n, 2);
	inet_pton(AF_INET, "10.2.3.4", &src.sin_addr);
	cr_assert(rc_cidr_match(al->cidr, al->n, (struct sockaddr *)&src, sizeof(src)));
	cr_assert_eq(rc_config_parse_addr("127.0.0.1:9001", 14, &a), 0);
	cr_assert_null(rc_config_udp_allow(cfg, &a));
	/* No --allow-origin: any origin. */
	rc_config_defaults(cfg);
	cr_assert(rc_config_origin_allowed(cfg, "https://x", 9));
	free(cfg);
}

Test(config_security, read_secret)
{
	char path[64];
	uint8_t buf[300];
	char big[400];

	write_file(path, "abc\r\n");
	cr_assert_eq(rc_config_read_secret(path, buf, sizeof(buf)), 3);
	unlink(path);
	write_file(path, "no newline");
	cr_assert_eq(rc_config_read_secret(path, buf, sizeof(buf)), 10);
	cr_assert_eq(rc_config_read_secret(path, buf, 9), -EFBIG);
	unlink(path);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big);
	cr_assert_eq(rc_config_read_secret(path, buf, sizeof(buf)), -EFBIG);
	unlink(path);
	cr_assert_eq(rc_config_read_secret("/nonexistent/x", buf, sizeof(buf)), -ENOENT);
}
