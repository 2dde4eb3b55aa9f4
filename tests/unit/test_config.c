/* Command-line parsing of the ringcast program. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_table.h"

static int parse(struct rc_config *cfg, char *err, size_t errlen, int argc, char **argv)
{
	rc_config_defaults(cfg);
	return rc_config_parse(cfg, argc, argv, err, errlen);
}

Test(config, defaults_are_the_documented_zero_config)
{
	struct rc_config cfg;
	char addr[80];

	rc_config_defaults(&cfg);
	rc_config_format_addr((struct sockaddr *)&cfg.listen.ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "0.0.0.0:8080");
	cr_assert_eq(cfg.nudp, 2);
	rc_config_format_addr((struct sockaddr *)&cfg.udp[0].addr.ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "0.0.0.0:9000");
	cr_assert_str_eq(cfg.udp[0].channel, "live");
	rc_config_format_addr((struct sockaddr *)&cfg.udp[1].addr.ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "0.0.0.0:9001");
	cr_assert_str_eq(cfg.udp[1].channel, "game");
	cr_assert_eq(cfg.slow, RC_SLOW_DROP);
	cr_assert_eq(cfg.max_queue, 4u << 20);
	/* The demo channel settings come with the default ports. */
	rc_config_finish(&cfg);
	cr_assert_str_eq(rc_config_content_type(&cfg, "live"), "video/mp2t");
	cr_assert(rc_config_cache(&cfg, "live") && rc_config_cache(&cfg, "live")->ts);
	cr_assert(rc_config_text_frames(&cfg, "game"));
	cr_assert_not(rc_config_text_frames(&cfg, "live"));
	cr_assert_null(rc_config_cache(&cfg, "game"));
	/* Static files: the page at /, the players under /vendor/jsmpeg and
	 * /vendor/mpegts. */
	cr_assert_eq(cfg.nstatic, 3);
	cr_assert_str_eq(cfg.statics[0].prefix, "");
	cr_assert(cfg.statics[0].optional && cfg.statics[1].optional && cfg.statics[2].optional);
	cr_assert_str_eq(cfg.statics[1].prefix, "vendor/jsmpeg");
	cr_assert_str_eq(cfg.statics[2].prefix, "vendor/mpegts");
}

Test(config, demo_settings_yield_to_the_user)
{
	struct rc_config cfg;
	char err[256];
	char *own[] = { "ringcast", "--channel", "game:frames=binary,slow=close", "--cache",
			"bytes=1000", "--content-type", "live=video/other", NULL };
	char *udp[] = { "ringcast", "--udp", "127.0.0.1:9000=live", NULL };

	cr_assert_eq(parse(&cfg, err, sizeof(err), 7, own), 0, "%s", err);
	rc_config_finish(&cfg);
	cr_assert_not(rc_config_text_frames(&cfg, "game"));
	cr_assert_eq(rc_config_slow(&cfg, "game"), RC_SLOW_CLOSE);
	cr_assert_eq(rc_config_cache(&cfg, "live")->bytes, 1000);
	cr_assert_not(rc_config_cache(&cfg, "live")->ts);
	cr_assert_str_eq(rc_config_content_type(&cfg, "live"), "video/other");
	/* --udp replaces the demo ports and with them the demo settings. */
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, udp), 0, "%s", err);
	rc_config_finish(&cfg);
	cr_assert_eq(cfg.nudp, 1);
	cr_assert_str_eq(rc_config_content_type(&cfg, "live"), "application/octet-stream");
	cr_assert_null(rc_config_cache(&cfg, "live"));
	cr_assert_not(rc_config_text_frames(&cfg, "game"));
}

Test(config, static_mounts)
{
	struct rc_config cfg;
	char err[256];
	char *two[] = { "ringcast", "--static", "/srv/www", "--static", "/vendor/x/=/opt/x", NULL };
	char *off[] = { "ringcast", "--static", "off", NULL };
	char *bad[] = { "ringcast", "--static", "p=", NULL };

	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, two), 0, "%s", err);
	cr_assert_eq(cfg.nstatic, 2);
	cr_assert_str_eq(cfg.statics[0].prefix, "");
	cr_assert_str_eq(cfg.statics[0].dir, "/srv/www");
	cr_assert_not(cfg.statics[0].optional);
	cr_assert_str_eq(cfg.statics[1].prefix, "vendor/x");
	cr_assert_str_eq(cfg.statics[1].dir, "/opt/x");
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, off), 0, "%s", err);
	cr_assert_eq(cfg.nstatic, 0);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad), -EINVAL);
	cr_assert(strstr(err, "--static") != NULL, "%s", err);
}

Test(config, addresses_v4_v6_and_errors)
{
	struct rc_sockaddr a;
	char out[80];

	cr_assert_eq(rc_config_parse_addr("127.0.0.1:0", 11, &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	cr_assert_eq(rc_config_parse_addr("[::1]:8080", 10, &a), 0);
	cr_assert_eq(a.ss.ss_family, AF_INET6);
	rc_config_format_addr((struct sockaddr *)&a.ss, out, sizeof(out));
	cr_assert_str_eq(out, "[::1]:8080");
	cr_assert_eq(rc_config_parse_addr("[::]:65535", 10, &a), 0);
	/* Only the first len bytes count: "1.2.3.4:80=ch" cut before '='. */
	cr_assert_eq(rc_config_parse_addr("1.2.3.4:80=ch", 10, &a), 0);
	rc_config_format_addr((struct sockaddr *)&a.ss, out, sizeof(out));
	cr_assert_str_eq(out, "1.2.3.4:80");

	const char *bad[] = { "", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
			      "127.0.0.1:-1", "127.0.0.1:8a", "localhost:80", "::1:80", "[::1]80",
			      "[::1]:", "[zz]:80", "1.2.3.4.5:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(rc_config_parse_addr(bad[i], strlen(bad[i]), &a), -EINVAL, "%s",
			     bad[i]);
}

Test(config, repeated_udp_replaces_default)
{
	struct rc_config cfg;
	char err[256];
	char *argv[] = { "ringcast", "--listen", "[::1]:0", "--udp", "127.0.0.1:0=a",
			 "--udp=127.0.0.1:9001=game.v2", "--slow", "close", "--max-queue", "65536",
			 NULL };

	cr_assert_eq(parse(&cfg, err, sizeof(err), 10, argv), 0, "%s", err);
	cr_assert_eq(cfg.listen.ss.ss_family, AF_INET6);
	cr_assert_eq(cfg.nudp, 2);
	cr_assert_str_eq(cfg.udp[0].channel, "a");
	cr_assert_str_eq(cfg.udp[1].channel, "game.v2");
	cr_assert_eq(cfg.slow, RC_SLOW_CLOSE);
	cr_assert_eq(cfg.max_queue, 65536);
}

Test(config, usage_errors_say_what_is_wrong)
{
	struct rc_config cfg;
	char err[256];
	struct {
		char *arg;
		char *val;
		const char *needle;
	} cases[] = {
		{ "--udp", "127.0.0.1:9000", "ADDR:PORT=CHANNEL" },
		{ "--udp", "127.0.0.1:9000=bad/name", "ADDR:PORT=CHANNEL" },
		{ "--listen", "nowhere", "--listen" },
		{ "--slow", "maybe", "drop or close" },
		{ "--buf-count", "1000", "power of two" },
		{ "--max-queue", "12x", "max-queue" },
		{ "--handshake-timeout", "0", "--handshake-timeout" },
		{ "--udp-rcvbuf", "1", "--udp-rcvbuf" },
		{ "--tcp", "1.2.3.4", "--tcp" },
		{ "--bogus", "1", "unknown" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "ringcast", cases[i].arg, cases[i].val, NULL };

		err[0] = '\0';
		cr_assert_eq(parse(&cfg, err, sizeof(err), 3, argv), -EINVAL, "%s", cases[i].arg);
		cr_assert(strstr(err, cases[i].needle), "'%s' lacks '%s'", err, cases[i].needle);
	}
}

Test(config, cache_policies)
{
	struct rc_config cfg;
	char err[256];
	char *argv[] = { "ringcast", "--cache", "live:last=10", "--cache", "bytes=4096", NULL };
	char *bad1[] = { "ringcast", "--cache", "last=0", NULL };
	char *bad2[] = { "ringcast", "--cache", "a/b:last=1", NULL };
	char *bad3[] = { "ringcast", "--cache", "live:newest=3", NULL };
	const struct rc_cache_policy *p;

	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, argv), 0, "%s", err);
	p = rc_config_cache(&cfg, "live");
	cr_assert(p && p->last == 10 && p->bytes == 0);
	p = rc_config_cache(&cfg, "other");
	cr_assert(p && p->last == 0 && p->bytes == 4096);
	rc_config_defaults(&cfg);
	cr_assert_null(rc_config_cache(&cfg, "live"));
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad1), -EINVAL);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad2), -EINVAL);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad3), -EINVAL);
	cr_assert(strstr(err, "--cache"), "%s", err);
}

Test(config, per_channel_settings)
{
	struct rc_config cfg;
	char err[256];
	char *argv[] = { "ringcast", "--slow", "drop",
			 "--channel", "chat:frames=text,slow=close,max-queue=8192",
			 "--channel", "tv:type=video/mp2t,cache=bytes:100000,max-message=4096", NULL };
	char *bad[] = { "ringcast", "--channel", "tv:frames=purple", NULL };
	char *bad2[] = { "ringcast", "--channel", "tv", NULL };

	cr_assert_eq(parse(&cfg, err, sizeof(err), 7, argv), 0, "%s", err);
	cr_assert(rc_config_text_frames(&cfg, "chat"));
	cr_assert(!rc_config_text_frames(&cfg, "tv"));
	cr_assert_eq(rc_config_slow(&cfg, "chat"), RC_SLOW_CLOSE);
	cr_assert_eq(rc_config_slow(&cfg, "tv"), RC_SLOW_DROP);
	cr_assert_eq(rc_config_max_queue(&cfg, "chat"), 8192);
	cr_assert_eq(rc_config_max_queue(&cfg, "tv"), 4u << 20);
	cr_assert_eq(rc_config_max_message(&cfg, "tv"), 4096);
	cr_assert_eq(rc_config_max_message(&cfg, "chat"), 1u << 20);
	cr_assert_str_eq(rc_config_content_type(&cfg, "tv"), "video/mp2t");
	cr_assert_eq(rc_config_cache(&cfg, "tv")->bytes, 100000);
	cr_assert_null(rc_config_cache(&cfg, "chat"));
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad), -EINVAL);
	cr_assert(strstr(err, "bad setting"), "%s", err);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad2), -EINVAL);
}

/* --backend: auto by default; io_uring or epoll on request; anything else
 * is a usage error that lists the choices. */
Test(config, backend_choice)
{
	struct rc_config cfg;
	char err[256];
	char *io[] = { "ringcast", "--backend", "io_uring", NULL };
	char *ep[] = { "ringcast", "--backend=epoll", NULL };
	char *au[] = { "ringcast", "--backend", "epoll", "--backend", "auto", NULL };
	char *bad[] = { "ringcast", "--backend", "kqueue", NULL };

	rc_config_defaults(&cfg);
	cr_assert_eq(cfg.backend, RC_LOOP_AUTO);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, io), 0, "%s", err);
	cr_assert_eq(cfg.backend, RC_LOOP_IO_URING);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 2, ep), 0, "%s", err);
	cr_assert_eq(cfg.backend, RC_LOOP_EPOLL);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, au), 0, "%s", err);
	cr_assert_eq(cfg.backend, RC_LOOP_AUTO);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, bad), -EINVAL);
	cr_assert(strstr(err, "--backend") && strstr(err, "auto, io_uring or epoll") &&
		  strstr(err, "kqueue"), "%s", err);
}

Test(config, config_file_then_command_line)
{
	char path[] = "/tmp/ringcast-config-test-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "# ringcast test configuration\n"
				   "listen 127.0.0.1:0\n"
				   "udp 127.0.0.1:0=a   # first port\n"
				   "udp 127.0.0.1:0=b\n"
				   "\n"
				   "  multi-publisher\n"
				   "backend epoll\n"
				   "channel a:frames=text\n";
	struct rc_config cfg;
	char err[256];
	char *argv[] = { "ringcast", "--config", path, "--slow", "close", NULL };

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	rc_config_defaults(&cfg);
	cr_assert_eq(rc_config_load(&cfg, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rc_config_parse(&cfg, 5, argv, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.nudp, 2);
	cr_assert_str_eq(cfg.udp[1].channel, "b");
	cr_assert(cfg.multi_publisher);
	cr_assert(rc_config_text_frames(&cfg, "a"));
	cr_assert_eq(cfg.slow, RC_SLOW_CLOSE);
	cr_assert_eq(cfg.backend, RC_LOOP_EPOLL);
	/* A bad line names the file and the problem. */
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, "udp nonsense\n", 13), 13);
	close(fd);
	rc_config_defaults(&cfg);
	cr_assert_eq(rc_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, path) && strstr(err, "--udp"), "%s", err);
	unlink(path);
	cr_assert_lt(rc_config_load(&cfg, "/nonexistent/ringcast.conf", err, sizeof(err)), 0);
}

Test(config, option_table_is_well_formed)
{
	size_t n;
	const struct rc_config_option *opts = rc_config_option_table(&n);

	cr_assert_gt(n, 30);
	for (size_t i = 0; i < n; i++) {
		const struct rc_config_option *o = &opts[i];

		cr_assert(o->name && o->help && o->help[0], "option %zu", i);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(o->name, opts[j].name);
		/* --help shows an argument exactly for the options that take one. */
		cr_assert_eq(o->arg == NULL, o->kind == RC_CONFIG_FLAG, "--%s", o->name);
		if (o->kind == RC_CONFIG_CALL) {
			cr_assert_not_null(o->set, "--%s", o->name);
			continue;
		}
		cr_assert_null(o->set, "--%s", o->name);
		cr_assert_leq(o->offset + o->size, sizeof(struct rc_config), "--%s", o->name);
		if (o->kind == RC_CONFIG_FLAG)
			cr_assert_eq(o->size, sizeof(bool), "--%s", o->name);
		if (o->kind == RC_CONFIG_NUM || o->kind == RC_CONFIG_CHOICE) {
			cr_assert(o->size == 4 || o->size == 8, "--%s", o->name);
			/* A 4-byte field may be an int: its bound stays below 2^31. */
			cr_assert(o->size == 8 || o->max <= INT32_MAX, "--%s", o->name);
			cr_assert_leq(o->min, o->max, "--%s", o->name);
		}
		if (o->kind == RC_CONFIG_CHOICE)
			cr_assert(o->choices && o->choices[0].name, "--%s", o->name);
	}
}

/* The default --help shows is the default: given as an argument, it leaves
 * a default configuration as it is. */
Test(config, help_shows_the_real_defaults)
{
	size_t n;
	const struct rc_config_option *opts = rc_config_option_table(&n);
	struct rc_config *want = malloc(sizeof(*want)), *got = malloc(sizeof(*got));
	int checked = 0;

	cr_assert(want && got);
	rc_config_defaults(want);
	for (size_t i = 0; i < n; i++) {
		const struct rc_config_option *o = &opts[i];
		struct rc_config_pass pass = { 0 };
		char value[128], err[256];
		size_t len;
		int r;

		if (!o->def)
			continue;
		/* The value ends at the first "; " or ": "; a note follows. */
		len = strlen(o->def);
		for (const char *p = o->def; *p; p++)
			if ((*p == ';' || *p == ':') && p[1] == ' ') {
				len = (size_t)(p - o->def);
				break;
			}
		cr_assert_lt(len, sizeof(value));
		memcpy(value, o->def, len);
		value[len] = '\0';
		rc_config_defaults(got);
		r = rc_config_option_apply(got, o, value, &pass, err, sizeof(err));
		/* A setter's default may be said in words (content-type's is not
		 * an argument of the option); every value of a field must be one. */
		if (o->kind == RC_CONFIG_CALL && r < 0)
			continue;
		cr_assert_eq(r, 0, "--%s %s: %s", o->name, value, err);
		cr_assert(memcmp(want, got, sizeof(*want)) == 0,
			  "--%s: --help says the default is %s, but it is not", o->name, value);
		checked++;
	}
	cr_assert_geq(checked, 20);
	free(want);
	free(got);
}

Test(config, number_errors_name_the_range)
{
	struct rc_config cfg;
	char err[256];
	char *zero[] = { "ringcast", "--stats-interval", "0", NULL };
	char *low[] = { "ringcast", "--stats-interval", "249", NULL };
	char *mem[] = { "ringcast", "--max-memory", "auto", "--max-memory", "-1", NULL };

	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, zero), 0, "%s", err);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, low), -EINVAL);
	cr_assert_str_eq(err, "--stats-interval: expected 0 or a number from 250 to 3600000, "
			      "got '249'");
	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, mem), -EINVAL);
	cr_assert(strstr(err, "--max-memory: expected auto or a number"), "%s", err);
}

/* --nats: up to RC_CONFIG_NATS_MAX numeric addresses, IPv4 or IPv6, the
 * scheme optional; a later --nats (the command line after the file)
 * replaces the list; what is refused says why. */
Test(config, nats_server_list)
{
	struct rc_config cfg;
	char err[512], addr[80];
	char *two[] = { "ringcast", "--nats", "nats://127.0.0.1:4222,nats://[::1]:4223/", NULL };
	char *again[] = { "ringcast", "--nats", "10.0.0.1:4222,10.0.0.2:4222", "--nats",
			  "10.0.0.3:4222", NULL };
	char *eight[] = { "ringcast", "--nats",
			  "1.0.0.1:1,1.0.0.2:1,1.0.0.3:1,1.0.0.4:1,1.0.0.5:1,1.0.0.6:1,1.0.0.7:1,"
			  "1.0.0.8:1", NULL };
	static const struct {
		const char *arg, *why;
	} bad[] = {
		{ "1.0.0.1:1,1.0.0.2:1,1.0.0.3:1,1.0.0.4:1,1.0.0.5:1,1.0.0.6:1,1.0.0.7:1,"
		  "1.0.0.8:1,1.0.0.9:1", "at most 8 servers" },
		{ "nats://nats-0.nats:4222", "resolves no names" },
		{ "nats://127.0.0.1", "numeric" },
		{ "nats://user:secret@127.0.0.1:4222", "credentials do not belong in the URL" },
		{ "tls://127.0.0.1:4222", "leaf node" },
		{ "127.0.0.1:4222,127.0.0.1:4222", "listed twice" },
		{ "127.0.0.1:0", "port must be 1 to 65535" },
		{ "127.0.0.1:4222,", "empty" },
		{ ",127.0.0.1:4222", "empty" },
		{ "", "empty" },
	};

	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, two), 0, "%s", err);
	cr_assert_eq(cfg.nats.len, 2);
	rc_config_format_addr((struct sockaddr *)&cfg.nats.servers[0].ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "127.0.0.1:4222");
	rc_config_format_addr((struct sockaddr *)&cfg.nats.servers[1].ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "[::1]:4223");
	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, again), 0, "%s", err);
	cr_assert_eq(cfg.nats.len, 1, "the second --nats replaces the first");
	rc_config_format_addr((struct sockaddr *)&cfg.nats.servers[0].ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "10.0.0.3:4222");
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, eight), 0, "%s", err);
	cr_assert_eq(cfg.nats.len, RC_CONFIG_NATS_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { "ringcast", "--nats", (char *)bad[i].arg, NULL };

		/* A refused list leaves the one before in place. */
		cr_assert_eq(parse(&cfg, err, sizeof(err), 3, two), 0, "%s", err);
		cr_assert_eq(rc_config_parse(&cfg, 3, argv, err, sizeof(err)), -EINVAL, "%s",
			     bad[i].arg);
		cr_assert(strstr(err, "--nats: expected nats://ADDR:PORT") && strstr(err, bad[i].why),
			  "'%s': %s", bad[i].arg, err);
		cr_assert_eq(cfg.nats.len, 2, "'%s'", bad[i].arg);
	}
	rc_config_defaults(&cfg);
	cr_assert_eq(cfg.nats.len, 0, "no NATS by default");
}

/* The configuration file's key is the option's name: "nats URL,URL". */
Test(config, nats_in_the_config_file)
{
	char path[] = "/tmp/ringcast-nats-conf-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "nats nats://127.0.0.1:4222,nats://127.0.0.1:4223\n"
				   "nats-prefix rc.test\n";
	struct rc_config cfg;
	char err[512], addr[80];
	char *argv[] = { "ringcast", "--nats", "nats://127.0.0.1:5222", NULL };

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	rc_config_defaults(&cfg);
	cr_assert_eq(rc_config_load(&cfg, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.nats.len, 2);
	rc_config_format_addr((struct sockaddr *)&cfg.nats.servers[1].ss, addr, sizeof(addr));
	cr_assert_str_eq(addr, "127.0.0.1:4223");
	cr_assert_str_eq(cfg.nats_prefix, "rc.test");
	/* The command line wins. */
	cr_assert_eq(rc_config_parse(&cfg, 3, argv, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.nats.len, 1);
	unlink(path);
}

/* Writes text to a new file of the given mode; its path goes to path. */
static void creds_file(char *path, const char *text, mode_t mode)
{
	int fd;

	strcpy(path, "/tmp/ringcast-nats-creds-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* --nats-creds FILE: user and password, or a token; comments and blank
 * lines; the file is read at start-up and refused when others may read it
 * or when it says something else. */
Test(config, nats_credentials_file)
{
	static const struct {
		const char *text;
		mode_t mode;
		const char *why;	/* NULL: accepted */
	} cases[] = {
		{ "# for nats\nuser ringcast\n\npassword  s3cr#t with spaces  \n", 0600, NULL },
		{ "token abc.def\r\n", 0640, NULL },
		{ "  token\tabc\n", 0400, NULL },
		{ "user ringcast\npassword x\n", 0644, "other users may read it" },
		{ "user ringcast\npassword x\n", 0602, "other users may write it" },
		{ "user ringcast\n", 0600, "expected lines 'user NAME' and 'password PASS'" },
		{ "password x\n", 0600, "expected lines" },
		{ "", 0600, "expected lines" },
		{ "token t\nuser u\npassword p\n", 0600, "not both" },
		{ "token a\ntoken b\n", 0600, "token given twice" },
		{ "user\npassword p\n", 0600, "user must have 1 to 255 bytes" },
		{ "username u\npassword p\n", 0600, "unknown key 'username'" },
		{ "-----BEGIN NATS USER JWT-----\nxyz\n", 0600, "JWT and NKey" },
		{ "token a\x01" "b\n", 0600, "control character" },
		{ "token \xff\xfe\n", 0600, "UTF-8" },
	};
	char path[64], err[512], long_token[400];
	struct rc_config cfg;
	char *argv[] = { "ringcast", "--nats-creds", path, NULL };
	char *with_nats[] = { "ringcast", "--nats-creds", path, "--nats", "127.0.0.1:4222", NULL };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		creds_file(path, cases[i].text, cases[i].mode);
		r = parse(&cfg, err, sizeof(err), 3, argv);
		unlink(path);
		if (!cases[i].why) {
			cr_assert_eq(r, 0, "case %zu: %s", i, err);
			continue;
		}
		cr_assert_eq(r, -EINVAL, "case %zu should be refused", i);
		cr_assert(strstr(err, "--nats-creds") && strstr(err, path) &&
				  strstr(err, cases[i].why),
			  "case %zu: want '%s' in: %s", i, cases[i].why, err);
	}
	/* What is read, and a later --nats keeps it. */
	creds_file(path, "# for nats\nuser ringcast\n\npassword  s3cr#t with spaces  \n", 0600);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 5, with_nats), 0, "%s", err);
	cr_assert_str_eq(cfg.nats.user, "ringcast");
	cr_assert_str_eq(cfg.nats.pass, "s3cr#t with spaces");
	cr_assert_str_eq(cfg.nats.token, "");
	cr_assert_eq(cfg.nats.len, 1);
	unlink(path);
	creds_file(path, "token abc.def\r\n", 0600);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, argv), 0, "%s", err);
	cr_assert_str_eq(cfg.nats.token, "abc.def");
	cr_assert_str_eq(cfg.nats.user, "");
	unlink(path);
	/* Too long a value, a missing file. */
	memset(long_token, 'x', sizeof(long_token));
	memcpy(long_token, "token ", 6);
	long_token[6 + RC_CONFIG_NATS_CRED_MAX + 1] = '\0';
	creds_file(path, long_token, 0600);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, argv), -EINVAL);
	cr_assert(strstr(err, "1 to 255 bytes"), "%s", err);
	unlink(path);
	cr_assert_eq(parse(&cfg, err, sizeof(err), 3, argv), -EINVAL);
	cr_assert(strstr(err, "No such file"), "%s", err);
}

/* The configuration file's key: "nats-creds FILE". */
Test(config, nats_credentials_in_the_config_file)
{
	char creds[64], conf[] = "/tmp/ringcast-nats-conf-XXXXXX", line[128], err[512];
	struct rc_config cfg;
	int fd;

	creds_file(creds, "user a\npassword b\n", 0600);
	fd = mkstemp(conf);
	cr_assert_geq(fd, 0);
	snprintf(line, sizeof(line), "nats 127.0.0.1:4222\nnats-creds %s\n", creds);
	cr_assert_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	rc_config_defaults(&cfg);
	cr_assert_eq(rc_config_load(&cfg, conf, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg.nats.user, "a");
	cr_assert_str_eq(cfg.nats.pass, "b");
	cr_assert_eq(cfg.nats.len, 1);
	unlink(creds);
	unlink(conf);
}
