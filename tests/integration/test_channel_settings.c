/* Per-channel settings from a --config file: text frames (binary for a
 * payload that is not UTF-8), and a per-channel framed-message limit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct rc_server srv;
static struct ws_raw ws = { .fd = -1 };
static int ufd = -1, pfd = -1;
static char conf[] = "/tmp/ringcast-it-conf-XXXXXX";

static void fini(void)
{
	ws_raw_close(&ws);
	if (ufd >= 0)
		close(ufd);
	if (pfd >= 0)
		close(pfd);
	ufd = pfd = -1;
	unlink(conf);
	rc_cleanup();
}

Test(channel_settings, text_frames_and_limits_from_a_config_file, .fini = fini)
{
	static const char text[] = "# test configuration\n"
				   "udp 127.0.0.1:0=chat\n"
				   "tcp 127.0.0.1:0\n"
				   "channel chat:frames=text\n"
				   "channel small:max-message=100\n";
	static const unsigned char not_utf8[] = { 'o', 'k', 0xff, 0xfe };
	unsigned char payload[256];
	struct ws_frame f;
	char err[256], line[64] = { 0 };
	int fd = mkstemp(conf);

	rc_assert(fd >= 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1,
		  "write config");
	close(fd);
	RC_START(&srv, "--config", conf, "--listen", "127.0.0.1:0");
	rc_assert(srv.tcp.port > 0 && srv.n_udp == 1, "ports from the config file");
	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/chat", 0, RC_WAIT_TIMEOUT_MS, err, sizeof(err)) == 0,
		  "open: %s", err);
	ufd = rc_udp_socket(&srv.udp[0]);
	rc_assert(ufd >= 0, "udp");
	{
		long long v;

		rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"chat\"}", 1,
					 RC_WAIT_TIMEOUT_MS, NULL, NULL, &v),
			  "subscriber: %lld", v);
	}
	rc_assert(send(ufd, "h\xc3\xa9llo", 6, 0) == 6, "send text");
	rc_assert(send(ufd, not_utf8, sizeof(not_utf8), 0) == (ssize_t)sizeof(not_utf8), "send");
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS) == 1, "frame 1");
	rc_assert(f.opcode == 1 && f.len == 6 && !memcmp(payload, "h\xc3\xa9llo", 6),
		  "UTF-8 payload as a text frame (opcode %d)", f.opcode);
	rc_assert(ws_raw_recv(&ws, &f, payload, sizeof(payload), RC_WAIT_TIMEOUT_MS) == 1, "frame 2");
	rc_assert(f.opcode == 2 && f.len == sizeof(not_utf8),
		  "a payload that is not UTF-8 goes as binary (opcode %d)", f.opcode);

	/* channel small: framed messages over 100 bytes are refused. */
	pfd = rc_tcp_connect(&srv.tcp, 0, RC_WAIT_TIMEOUT_MS);
	rc_assert(pfd >= 0, "connect");
	{
		static const unsigned char big[] = { 'P', 'U', 'B', ' ', 's', 'm', 'a', 'l', 'l', ' ',
						     'f', 'r', 'a', 'm', 'e', 'd', '\n', 0, 0, 0, 101 };
		size_t have = 0;
		int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;

		rc_assert(rc_write_all(pfd, big, sizeof(big), RC_WAIT_TIMEOUT_MS) == 0, "publish");
		while (!strstr(line, "ERR") && have + 1 < sizeof(line) && rc_now_ms() < end) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, 50) <= 0)
				continue;
			n = read(pfd, line + have, sizeof(line) - 1 - have);
			if (n <= 0)
				break;
			have += (size_t)n;
			line[have] = '\0';
		}
	}
	rc_assert(strcmp(line, "OK\nERR message too large\n") == 0, "per-channel limit: '%s'", line);
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	ws_raw_close(&ws);
	RC_STOP_OK(&srv);
}
