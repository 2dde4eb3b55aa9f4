/* The command-line tools against a real gateway: ringcast-pub over TCP (raw
 * and framed), HTTP and UDP, --bitrate pacing and --demo game, received by
 * ringcast-sub (--count, --out, --stats, exit codes), an MPEG-TS file
 * that ffprobe recognises after travelling pub -> ringcast -> sub --out -,
 * and short, slow ringcast-bench runs (--pub-tcp). Tool paths come from
 * $RINGCAST_PUB_BIN, $RINGCAST_SUB_BIN and $RINGCAST_BENCH_BIN (set by
 * meson). Every child is started and killed by its own PID. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

#define MAX_KIDS 8
#define MAX_FILES 16
#define EXIT_TIMEOUT_MS rc_time_scale_ms(30000)

static struct rc_server srv;
static pid_t kids[MAX_KIDS];
static int n_kids;
static char dir[64];
static char files[MAX_FILES][128];
static int n_files;

static void fini(void)
{
	/* Only the processes this test started, by PID. */
	for (int i = 0; i < n_kids; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		kids[i] = 0;
	}
	n_kids = 0;
	for (int i = 0; i < n_files; i++)
		unlink(files[i]);
	n_files = 0;
	if (dir[0])
		rmdir(dir);
	dir[0] = '\0';
	rc_cleanup();
}

static const char *tool(const char *env)
{
	const char *p = getenv(env);

	rc_assert(p && *p, "$%s is not set (meson test sets it)", env);
	return p;
}

/* A path in this test's temp directory, removed by fini(). */
static const char *tmp_path(const char *name)
{
	rc_assert(n_files < MAX_FILES, "too many temp files");
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/rc-tools-XXXXXX");
		rc_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	}
	snprintf(files[n_files], sizeof(files[0]), "%s/%s", dir, name);
	return files[n_files++];
}

/* Remembers a child for fini(), in a slot wait_exit() freed if any. */
static void remember(pid_t pid)
{
	for (int i = 0; i < n_kids; i++) {
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
	}
	rc_assert(n_kids < MAX_KIDS, "too many children");
	kids[n_kids++] = pid;
}

/* Starts argv with stdout and stderr to the given fds (-1: /dev/null).
 * The child is remembered for fini(). */
static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	rc_assert(r == 0, "spawn %s: %s", argv[0], strerror(r));
	remember(pid);
	return pid;
}

/* Opens path for a child's output. */
static int out_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	rc_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < n_kids; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/* Waits for pid: its exit code, 128 + signal, or -1 when it is still
 * running after timeout_ms (fini() kills it). */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	int st;

	while (rc_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			forget(pid);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		rc_sleep_ms(20);
	}
	return -1;
}

/* Reads a whole file (NUL-terminated for convenience). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	rc_assert(f != NULL, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	rc_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "read %s", path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Writes n pseudo-random bytes to path (a different stream per seed). */
static void make_file(const char *path, size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);
	uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
	int fd;

	rc_assert(b != NULL, "malloc");
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (unsigned char)(x >> 24);
	}
	fd = out_file(path);
	rc_assert(write(fd, b, n) == (ssize_t)n, "write %s", path);
	close(fd);
	free(b);
}

static void wait_subscribers(long long n)
{
	long long last = -1;

	rc_assert(rc_wait_metric(&srv, "ringcast_ws_subscribers", n, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 &last),
		  "expected %lld WebSocket subscribers, saw %lld", n, last);
}

static void ws_url(char *buf, size_t cap, const char *channel)
{
	snprintf(buf, cap, "ws://127.0.0.1:%d/ws/%s", srv.http.port, channel);
}

static void hostport(char *buf, size_t cap, const struct rc_endpoint *ep)
{
	snprintf(buf, cap, "127.0.0.1:%d", ep->port);
}

/* Runs pub to completion and requires exit 0; returns its stdout. */
static char *run_pub(char *const argv[], size_t *len)
{
	const char *out = tmp_path("pub.out");
	int fd = out_file(out);
	pid_t pid = spawn(argv, fd, -1);
	int code;

	close(fd);
	code = wait_exit(pid, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ringcast-pub should exit 0, got %d: %s", code, slurp(out, len));
	return slurp(out, len);
}

/* Sub with --out FILE receiving a stream published by pub_argv: once the
 * file holds `want` bytes, SIGTERM ends sub (exit 0) and the file must equal
 * the input. For raw TCP and HTTP the gateway cuts the stream where reads
 * end, so message counts are not fixed; the bytes are. */
static void bytes_arrive_unchanged(char *const pub_argv[], const char *input, const char *got)
{
	char url[96];
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--out", (char *)got, NULL };
	size_t in_len, got_len;
	char *a, *b, *pub_out;
	int64_t end;
	pid_t sp;
	int code;

	ws_url(url, sizeof(url), "data");
	sp = spawn(sub, -1, -1);
	wait_subscribers(1);
	pub_out = run_pub(pub_argv, &in_len);
	free(pub_out);
	in_len = (size_t)file_size(input);
	end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	while (file_size(got) < (off_t)in_len && rc_now_ms() < end)
		rc_sleep_ms(20);
	rc_sleep_ms(100);	/* anything beyond the input would show now */
	kill(sp, SIGTERM);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ringcast-sub should exit 0 after SIGTERM, got %d", code);
	a = slurp(input, &in_len);
	b = slurp(got, &got_len);
	rc_assert(got_len == in_len && memcmp(a, b, in_len) == 0,
		  "received %zu bytes, sent %zu; contents %s", got_len, in_len,
		  got_len == in_len ? "differ" : "-");
	free(a);
	free(b);
}

Test(tools, pub_tcp_raw_to_sub_out_file, .fini = fini, .timeout = 120)
{
	const char *input = tmp_path("in.bin"), *got = tmp_path("got.bin");
	char tcp[64];
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "data",
			"--file", (char *)input, "--size", "1000", "--rate", "200", NULL };

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	hostport(tcp, sizeof(tcp), &srv.tcp);
	make_file(input, 40500, 1);
	bytes_arrive_unchanged(pub, input, got);
	RC_STOP_OK(&srv);
}

Test(tools, pub_http_to_sub_out_file, .fini = fini, .timeout = 120)
{
	const char *input = tmp_path("in.bin"), *got = tmp_path("got.bin");
	char url[96];
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--http", url, "--file", (char *)input,
			"--size", "1000", "--rate", "200", NULL };
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pub/data", srv.http.port);
	make_file(input, 30700, 2);
	bytes_arrive_unchanged(pub, input, got);
	v = rc_metric(&srv, "ringcast_http_publishes_total");
	rc_assert(v == 1, "one HTTP publish: %lld", v);
	RC_STOP_OK(&srv);
}

/* Framed TCP keeps message boundaries, so sub --count N ends by itself
 * (exit 0) after exactly the messages sent. */
Test(tools, pub_tcp_framed_to_sub_count, .fini = fini, .timeout = 120)
{
	const char *input = tmp_path("in.bin"), *got = tmp_path("got.bin");
	char tcp[64], url[96], *pub_out;
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "data",
			"--framed", "--file", (char *)input, "--size", "700", "--rate", "0", NULL };
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--count", "50", "--out",
			(char *)got, NULL };
	size_t in_len, got_len;
	char *a, *b;
	pid_t sp;
	int code;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	hostport(tcp, sizeof(tcp), &srv.tcp);
	ws_url(url, sizeof(url), "data");
	make_file(input, 50 * 700, 3);
	sp = spawn(sub, -1, -1);
	wait_subscribers(1);
	pub_out = run_pub(pub, &in_len);
	rc_assert(strstr(pub_out, "sent 50 messages, 35000 bytes"), "pub summary: %s", pub_out);
	free(pub_out);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ringcast-sub --count 50 should exit 0, got %d", code);
	a = slurp(input, &in_len);
	b = slurp(got, &got_len);
	rc_assert(got_len == in_len && memcmp(a, b, in_len) == 0, "received %zu of %zu bytes%s",
		  got_len, in_len, got_len == in_len ? ", different" : "");
	free(a);
	free(b);
	RC_STOP_OK(&srv);
}

/* A busy channel: the second publisher is refused and pub says so (exit 1),
 * over TCP (ERR busy) and over HTTP (409). */
Test(tools, pub_reports_refusals, .fini = fini, .timeout = 120)
{
	char tcp[64], url[96], err_buf[512];
	const char *err_path = tmp_path("pub.err");
	char *holder[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "busy",
			   "--rate", "10", "--duration", "60", NULL };
	char *tcp2[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "busy",
			 "--count", "1", NULL };
	char *http2[] = { (char *)tool("RINGCAST_PUB_BIN"), "--http", url, "--count", "1", NULL };
	size_t n;
	pid_t hp;
	int fd, code;
	char *txt;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	hostport(tcp, sizeof(tcp), &srv.tcp);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pub/busy", srv.http.port);
	hp = spawn(holder, -1, -1);
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 1, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 NULL), "the first publisher should be connected");

	fd = out_file(err_path);
	code = wait_exit(spawn(tcp2, -1, fd), EXIT_TIMEOUT_MS);
	close(fd);
	txt = slurp(err_path, &n);
	rc_assert(code == 1 && strstr(txt, "ERR busy"), "TCP: exit %d, stderr '%s'", code, txt);
	free(txt);

	fd = out_file(err_path);
	code = wait_exit(spawn(http2, -1, fd), EXIT_TIMEOUT_MS);
	close(fd);
	txt = slurp(err_path, &n);
	snprintf(err_buf, sizeof(err_buf), "%s", txt);
	free(txt);
	rc_assert(code == 1 && strstr(err_buf, "409"), "HTTP: exit %d, stderr '%s'", code, err_buf);

	kill(hp, SIGINT);
	code = wait_exit(hp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "the holder should exit 0 after Ctrl-C, got %d", code);
	RC_STOP_OK(&srv);
}

/* --bitrate: the message starting at byte offset B leaves B*8/bitrate
 * seconds after the start, so the run takes at least as long as the last
 * message's offset says. Only a lower bound is asserted; the upper one is a
 * hang guard. */
Test(tools, pub_bitrate_paces_a_file, .fini = fini, .timeout = 120)
{
	const char *input = tmp_path("in.ts");
	char udp[64], *out;
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--udp", udp, "--file", (char *)input,
			"--size", "1316", "--bitrate", "320k", NULL };
	const size_t size = 60000, piece = 1316;
	const double bitrate = 320000;
	size_t n;
	int64_t t0, elapsed, want;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	hostport(udp, sizeof(udp), &srv.udp[0]);
	make_file(input, size, 4);
	t0 = rc_now_ms();
	out = run_pub(pub, &n);
	elapsed = rc_now_ms() - t0;
	want = (int64_t)((double)((size - 1) / piece * piece) * 8000.0 / bitrate);
	rc_assert(strstr(out, "sent 46 datagrams, 60000 bytes"), "pub summary: %s", out);
	rc_assert(elapsed >= want, "60000 bytes at 320 kbit/s took %lld ms, less than %lld ms",
		  (long long)elapsed, (long long)want);
	free(out);
	RC_STOP_OK(&srv);
}

/* Checks one --demo game frame; returns NULL or what is wrong. Fills the
 * dots' positions into xy (2 per dot) and the frame's seq and t. */
static const char *check_frame(const char *line, int want_dots, long *seq, long *t, int *xy)
{
	const char *p = line;
	char *end;
	int dots = 0;

	if (strncmp(p, "{\"seq\":", 7) != 0)
		return "no {\"seq\": prefix";
	*seq = strtol(p + 7, &end, 10);
	if (end == p + 7 || strncmp(end, ",\"t\":", 5) != 0)
		return "bad seq or no t";
	p = end + 5;
	*t = strtol(p, &end, 10);
	if (end == p || strncmp(end, ",\"w\":640,\"h\":360,\"dots\":[", 25) != 0)
		return "bad t, w, h or dots";
	p = end + 25;
	while (*p == '[') {
		long v[3];

		p++;
		for (int i = 0; i < 3; i++) {
			v[i] = strtol(p, &end, 10);
			if (end == p || *end != (i < 2 ? ',' : ']'))
				return "bad dot";
			p = end + 1;
		}
		if (v[0] < 0 || v[0] > 640 || v[1] < 0 || v[1] > 360 || v[2] < 0 || v[2] > 359)
			return "dot out of range";
		if (dots < 64) {
			xy[2 * dots] = (int)v[0];
			xy[2 * dots + 1] = (int)v[1];
		}
		dots++;
		if (*p == ',')
			p++;
		else
			break;
	}
	if (strcmp(p, "]}") != 0)
		return "no ]} at the end";
	if (dots != want_dots)
		return "wrong number of dots";
	return NULL;
}

/* Sub prints text messages as they are, one per line, and binary ones as
 * "binary N bytes: ...": the channel is frames=text, so every line must be
 * one JSON frame of the documented shape, seq counting up from 0, t not
 * going back, and no dot jumping (speeds are at most 180 px/s). */
static void demo_frames_arrive(const char *transport_flag, const char *dest, int dots_n,
			       const char *dots_arg, const char *rate)
{
	const char *got = tmp_path("demo.txt");
	char url[96], *text, *line, *save = NULL;
	char *pub[14] = { (char *)tool("RINGCAST_PUB_BIN"), (char *)transport_flag, (char *)dest,
			  "--demo", "game", "--duration", "60", "--rate", (char *)rate, NULL };
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--count", "30", NULL };
	int prev_xy[128], xy[128], frames = 0, fd, code;
	long seq, t, prev_t = -1, first_seq = -1;
	size_t n;
	pid_t sp, pp;

	if (dots_arg) {
		pub[9] = "--dots";
		pub[10] = (char *)dots_arg;
		pub[11] = NULL;
	}
	if (strcmp(transport_flag, "--tcp") == 0) {
		int k = dots_arg ? 11 : 9;

		pub[k] = "--channel";
		pub[k + 1] = "game";
		pub[k + 2] = NULL;
	}
	ws_url(url, sizeof(url), "game");
	fd = out_file(got);
	sp = spawn(sub, fd, -1);
	close(fd);
	wait_subscribers(1);
	pp = spawn(pub, -1, -1);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ringcast-sub --count 30 should exit 0, got %d", code);
	kill(pp, SIGTERM);
	rc_assert(wait_exit(pp, EXIT_TIMEOUT_MS) == 0, "ringcast-pub should exit 0 on SIGTERM");

	text = slurp(got, &n);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *why = check_frame(line, dots_n, &seq, &t, xy);

		rc_assert(why == NULL, "frame %d: %s: '%s'", frames, why, line);
		if (first_seq < 0)
			first_seq = seq;
		rc_assert(seq == first_seq + frames, "seq %ld after %d frames from %ld", seq, frames,
			  first_seq);
		rc_assert(t >= prev_t, "t went back: %ld after %ld", t, prev_t);
		if (frames > 0) {
			/* 180 px/s, plus rounding; a bounce only shortens it */
			long max_step = 180 * (t - prev_t) / 1000 + 2;

			for (int i = 0; i < dots_n && i < 64; i++)
				rc_assert(labs((long)(xy[2 * i] - prev_xy[2 * i])) <= max_step &&
						  labs((long)(xy[2 * i + 1] - prev_xy[2 * i + 1])) <=
							  max_step,
					  "dot %d jumped between seq %ld and %ld", i, seq - 1, seq);
		}
		memcpy(prev_xy, xy, sizeof(xy));
		prev_t = t;
		frames++;
	}
	free(text);
	rc_assert(frames == 30, "30 text frames expected, got %d", frames);
	rc_assert(first_seq == 0, "no cache: the subscriber was there first, so seq starts at 0");
}

Test(tools, demo_game_over_udp, .fini = fini, .timeout = 120)
{
	char udp[64];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=game", "--channel",
		 "game:frames=text");
	hostport(udp, sizeof(udp), &srv.udp[0]);
	demo_frames_arrive("--udp", udp, 24, NULL, "60");
	RC_STOP_OK(&srv);
}

Test(tools, demo_game_over_tcp_with_dots, .fini = fini, .timeout = 120)
{
	char tcp[64];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0", "--channel", "game:frames=text");
	hostport(tcp, sizeof(tcp), &srv.tcp);
	demo_frames_arrive("--tcp", tcp, 5, "5", "60");
	RC_STOP_OK(&srv);
}

Test(tools, demo_game_over_http, .fini = fini, .timeout = 120)
{
	char url[96];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--channel",
		 "game:frames=text");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pub/game", srv.http.port);
	/* The gateway publishes an HTTP body as it is read, so two ticks read
	 * together would be one message; 100 ms apart they are not. */
	demo_frames_arrive("--http", url, 24, NULL, "10");
	RC_STOP_OK(&srv);
}

Test(tools, sub_stats_prints_lines, .fini = fini, .timeout = 120)
{
	const char *got = tmp_path("stats.txt");
	char udp[64], url[96], *text, *line, *save = NULL;
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--stats", "--timeout", "3.5", NULL };
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--udp", udp, "--rate", "100",
			"--duration", "60", NULL };
	int per_second = 0, totals = 0, fd, code;
	size_t n;
	pid_t sp, pp;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	hostport(udp, sizeof(udp), &srv.udp[0]);
	ws_url(url, sizeof(url), "live");
	fd = out_file(got);
	sp = spawn(sub, fd, -1);
	close(fd);
	wait_subscribers(1);
	pp = spawn(pub, -1, -1);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "--timeout without --count should exit 0, got %d", code);
	kill(pp, SIGTERM);
	rc_assert(wait_exit(pp, EXIT_TIMEOUT_MS) == 0, "ringcast-pub should exit 0 on SIGTERM");
	text = slurp(got, &n);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long msgs, bytes;
		double secs, rate, kbs;

		if (sscanf(line, "t=%lfs %lf msg/s %lf kB/s total %llu msgs %llu bytes", &secs,
			   &rate, &kbs, &msgs, &bytes) == 5)
			per_second++;
		else if (sscanf(line, "total %llu msgs %llu bytes in %lf s", &msgs, &bytes,
				&secs) == 3 && msgs > 0 && bytes == msgs * 200)
			totals++;
		else
			rc_assert(0, "unexpected --stats line '%s'", line);
	}
	free(text);
	rc_assert(per_second >= 2, "at least 2 per-second lines in 3.5 s, got %d", per_second);
	rc_assert(totals == 1, "one totals line with 200-byte messages, got %d", totals);
	RC_STOP_OK(&srv);
}

/* Exit statuses: 1 for a refused connection, a handshake the server
 * refuses (404) and a name that does not resolve; 2 for usage errors; 3 for
 * --timeout before --count; 0 when the server shuts down (close 1001). */
Test(tools, sub_exit_codes, .fini = fini, .timeout = 120)
{
	const char *sub_bin = tool("RINGCAST_SUB_BIN");
	char refused[96], notfound[96], quiet[96];
	char *cases[][8] = {
		{ (char *)sub_bin, refused, NULL },
		{ (char *)sub_bin, notfound, NULL },
		{ (char *)sub_bin, "ws://no-such-host.invalid/ws/live", NULL },
		{ (char *)sub_bin, NULL },
		{ (char *)sub_bin, "http://127.0.0.1:1/ws/live", NULL },
		{ (char *)sub_bin, "ws://127.0.0.1:99999/ws/live", NULL },
		{ (char *)sub_bin, quiet, "--count", "0", NULL },
		{ (char *)sub_bin, quiet, "--bogus", NULL },
		{ (char *)sub_bin, quiet, "--count", "1", "--timeout", "0.3", NULL },
	};
	const int want[] = { 1, 1, 1, 2, 2, 2, 2, 2, 3 };
	char *shut[] = { (char *)sub_bin, quiet, NULL };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s, code;
	pid_t sp;

	/* A port nobody listens on: bind one, note it, close it. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc_assert(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			  getsockname(s, (struct sockaddr *)&sa, &sl) == 0, "bind");
	snprintf(refused, sizeof(refused), "ws://127.0.0.1:%d/ws/live", ntohs(sa.sin_port));
	close(s);

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	snprintf(notfound, sizeof(notfound), "ws://127.0.0.1:%d/nope", srv.http.port);
	ws_url(quiet, sizeof(quiet), "quiet");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		code = wait_exit(spawn(cases[i], -1, -1), EXIT_TIMEOUT_MS);
		rc_assert(code == want[i], "case %zu (%s): exit %d, want %d", i,
			  cases[i][1] ? cases[i][1] : "no URL", code, want[i]);
	}

	sp = spawn(shut, -1, -1);
	wait_subscribers(1);
	RC_STOP_OK(&srv);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "server shutdown (1001) should give exit 0, got %d", code);
}

/* The reader of --out - goes away before anything arrives: sub notices
 * without a write and exits 0 at once, not at the next message. */
Test(tools, sub_exits_quietly_when_reader_goes, .fini = fini, .timeout = 120)
{
	const char *err_path = tmp_path("sub.err");
	char url[96], *err;
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--out", "-", NULL };
	int p[2], fd, code;
	size_t n;
	pid_t sp;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	ws_url(url, sizeof(url), "live");
	rc_assert(pipe2(p, O_CLOEXEC) == 0, "pipe");
	fd = out_file(err_path);
	sp = spawn(sub, p[1], fd);
	close(p[1]);
	close(fd);
	wait_subscribers(1);
	close(p[0]);
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	err = slurp(err_path, &n);
	rc_assert(code == 0 && n == 0, "exit %d (want 0), stderr '%s' (want nothing)", code, err);
	free(err);
	wait_subscribers(0);
	RC_STOP_OK(&srv);
}

/* A real MPEG-TS file (ffmpeg's test pattern) published with pub --bitrate
 * over framed TCP, read back with sub --out - straight into ffprobe. */
Test(tools, sub_out_stdout_into_ffprobe, .fini = fini, .timeout = 180)
{
	const char *ts = tmp_path("clip.ts"), *probe_out = tmp_path("probe.txt");
	char tcp[64], url[96], count[32], *txt;
	char *gen[] = { "/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
			"testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "mpeg1video", "-b:v",
			"400k", "-bf", "0", "-g", "10", "-f", "mpegts", "-y", (char *)ts, NULL };
	char *pub[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "tv",
			"--framed", "--file", (char *)ts, "--size", "1316", "--bitrate", "2M", NULL };
	char *sub[] = { (char *)tool("RINGCAST_SUB_BIN"), url, "--out", "-", "--count", count,
			NULL };
	char *probe[] = { "/usr/bin/ffprobe", "-v", "error", "-show_entries",
			  "stream=codec_type,codec_name", "-of", "csv=p=0", "-", NULL };
	posix_spawn_file_actions_t fa;
	int p[2], fd, code;
	pid_t sp, fp;
	off_t size;
	size_t n;

	if (access("/usr/bin/ffmpeg", X_OK) || access("/usr/bin/ffprobe", X_OK))
		cr_skip_test("ffmpeg/ffprobe not installed (apt-get install ffmpeg; make test does)");
	code = wait_exit(spawn(gen, -1, -1), EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ffmpeg should write the test clip, exit %d", code);
	size = file_size(ts);
	rc_assert(size > 0 && size % 188 == 0, "a TS file of whole packets: %lld bytes",
		  (long long)size);
	snprintf(count, sizeof(count), "%lld", (long long)((size + 1315) / 1316));

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	hostport(tcp, sizeof(tcp), &srv.tcp);
	ws_url(url, sizeof(url), "tv");
	rc_assert(pipe2(p, O_CLOEXEC) == 0, "pipe");
	sp = spawn(sub, p[1], -1);
	close(p[1]);
	/* ffprobe reads the pipe on its stdin */
	fd = out_file(probe_out);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	code = posix_spawn(&fp, probe[0], &fa, NULL, probe, environ);
	posix_spawn_file_actions_destroy(&fa);
	rc_assert(code == 0, "spawn ffprobe");
	remember(fp);
	close(p[0]);
	close(fd);
	wait_subscribers(1);
	free(run_pub(pub, &n));
	code = wait_exit(sp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "ringcast-sub --count %s should exit 0, got %d", count, code);
	code = wait_exit(fp, EXIT_TIMEOUT_MS);
	txt = slurp(probe_out, &n);
	rc_assert(code == 0 && strstr(txt, "mpeg1video,video"),
		  "ffprobe (exit %d) should see MPEG-1 video in an MPEG-TS stream: '%s'", code, txt);
	free(txt);
	RC_STOP_OK(&srv);
}

/* The number after "key": in ringcast-bench's JSON (first occurrence; the
 * keys asserted below are unique in it), or -1 when absent. */
static long long json_num(const char *json, const char *key)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	at = strstr(json, pat);
	return at ? strtoll(at + strlen(pat), NULL, 10) : -1;
}

/* Runs ringcast-bench to its end with stdout and stderr in files; returns
 * its exit code and the stderr text (for messages). */
static int run_bench(char *const argv[], char **err_text)
{
	const char *out = tmp_path("bench.out"), *err = tmp_path("bench.err");
	int ofd = out_file(out), efd = out_file(err);
	pid_t pid = spawn(argv, ofd, efd);
	size_t n;
	int code;

	close(ofd);
	close(efd);
	code = wait_exit(pid, EXIT_TIMEOUT_MS);
	*err_text = slurp(err, &n);
	return code;
}

/* ringcast-bench --pub-tcp: one framed TCP publisher per channel into the
 * gateway's TCP ingest. A short, slow run (4 subscribers on 2 channels, 100
 * msg/s for 1 s) must hand every published message to every subscriber of
 * its channel, by the bench's JSON and by the gateway's own count. */
Test(tools, bench_pub_tcp_delivers_everything, .fini = fini, .timeout = 120)
{
	const char *json = tmp_path("bench.json");
	char port[16], tcp_port[16], *err_text, *j;
	char *bench[] = { (char *)tool("RINGCAST_BENCH_BIN"), "--port", port, "--pub-tcp",
			  tcp_port, "-n", "4", "--channels", "2", "--rate", "100", "--duration",
			  "1", "--settle", "0.3", "--drain", "5", "--json", (char *)json, NULL };
	long long published, v;
	size_t n;
	int code;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	snprintf(port, sizeof(port), "%d", srv.http.port);
	snprintf(tcp_port, sizeof(tcp_port), "%d", srv.tcp.port);
	code = run_bench(bench, &err_text);
	rc_assert(code == 0, "ringcast-bench should exit 0, got %d: %s", code, err_text);
	rc_assert(strstr(err_text, "2 TCP publishers open (framed, 127.0.0.1:"),
		  "the bench should say it published over TCP: %s", err_text);
	free(err_text);
	j = slurp(json, &n);
	rc_assert(strstr(j, "\"publisher\": \"tcp\""), "JSON names the publisher: %s", j);
	v = json_num(j, "subscribers_opened");
	rc_assert(v == 4, "4 subscribers open, JSON says %lld", v);
	published = json_num(j, "published");
	/* 100/s for 1 s; the bound only catches a sender that barely ran. */
	rc_assert(published >= 50, "about 100 messages published, JSON says %lld", published);
	v = json_num(j, "send_errors");
	rc_assert(v == 0, "no send errors, JSON says %lld", v);
	/* Round-robin over 2 channels with 2 subscribers each: every message
	 * is due twice. */
	v = json_num(j, "expected");
	rc_assert(v == 2 * published, "expected %lld deliveries for %lld messages", v, published);
	v = json_num(j, "received");
	rc_assert(v == 2 * published, "received %lld of %lld deliveries", v, 2 * published);
	v = json_num(j, "lost");
	rc_assert(v == 0, "no loss, JSON says %lld", v);
	v = json_num(j, "reordered") + json_num(j, "malformed") + json_num(j, "late");
	rc_assert(v == 0, "none reordered, malformed or late, JSON says %lld in all", v);
	free(j);
	v = rc_metric(&srv, "ringcast_published_messages_total");
	rc_assert(v == published, "the gateway published %lld messages, the bench %lld", v,
		  published);
	v = rc_metric(&srv, "ringcast_publishers_refused_total");
	rc_assert(v == 0, "no publisher refused: %lld", v);
	RC_STOP_OK(&srv);
}

/* An ERR answer to the PUB line ends the bench before it publishes: exit
 * 1, with ringcast's reason on stderr. Here the channel is busy (held by
 * ringcast-pub, and one publisher per channel is the default). */
Test(tools, bench_pub_tcp_reports_refusal, .fini = fini, .timeout = 120)
{
	char port[16], tcp_port[16], tcp[64], *err_text;
	char *holder[] = { (char *)tool("RINGCAST_PUB_BIN"), "--tcp", tcp, "--channel", "bench0",
			   "--rate", "10", "--duration", "60", NULL };
	char *bench[] = { (char *)tool("RINGCAST_BENCH_BIN"), "--port", port, "--pub-tcp",
			  tcp_port, "-n", "1", "--duration", "1", NULL };
	pid_t hp;
	int code;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", "--tcp",
		 "127.0.0.1:0");
	snprintf(port, sizeof(port), "%d", srv.http.port);
	snprintf(tcp_port, sizeof(tcp_port), "%d", srv.tcp.port);
	hostport(tcp, sizeof(tcp), &srv.tcp);
	hp = spawn(holder, -1, -1);
	rc_assert(rc_wait_metric(&srv, "ringcast_publishers", 1, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 NULL), "the first publisher should be connected");
	code = run_bench(bench, &err_text);
	rc_assert(code == 1 && strstr(err_text, "ringcast answered: ERR busy"),
		  "ringcast-bench: exit %d (want 1), stderr '%s'", code, err_text);
	free(err_text);
	kill(hp, SIGINT);
	code = wait_exit(hp, EXIT_TIMEOUT_MS);
	rc_assert(code == 0, "the holder should exit 0 after Ctrl-C, got %d", code);
	RC_STOP_OK(&srv);
}

/* With a low open-file limit the bench trims its subscribers to what fits
 * beside its publishers: with --pub-tcp one connection per channel also
 * needs an fd. Under a hard limit of 110, 30 channels leave room for 48
 * subscribers of the 100 asked (110 - 32 reserved - 30 publishers); every
 * one of them must get every message of its channel. */
Test(tools, bench_fits_subscribers_beside_publishers, .fini = fini, .timeout = 120)
{
	const char *json = tmp_path("bench.json");
	char port[16], tcp_port[16], *err_text, *j;
	char *bench[] = { "/usr/bin/prlimit", "--nofile=110:110", (char *)tool("RINGCAST_BENCH_BIN"),
			  "--port", port, "--pub-tcp", tcp_port, "-n", "100", "--channels", "30",
			  "--rate", "300", "--duration", "1", "--settle", "0.3", "--drain", "5",
			  "--json", (char *)json, NULL };
	long long v;
	size_t n;
	int code;

	if (access("/usr/bin/prlimit", X_OK) != 0)
		cr_skip_test("prlimit (util-linux) not installed");
	/* A UDP port of its own: without one the server binds the demo ports
	 * (0.0.0.0:9000 and 9001), which another test may hold. */
	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0=u");
	snprintf(port, sizeof(port), "%d", srv.http.port);
	snprintf(tcp_port, sizeof(tcp_port), "%d", srv.tcp.port);
	code = run_bench(bench, &err_text);
	rc_assert(code == 0, "ringcast-bench should exit 0, got %d: %s", code, err_text);
	rc_assert(strstr(err_text, "allows only 48 of the 100 subscribers"),
		  "the bench should say how many subscribers fit: %s", err_text);
	free(err_text);
	j = slurp(json, &n);
	v = json_num(j, "subscribers_opened");
	rc_assert(v == 48, "48 subscribers open, JSON says %lld", v);
	v = json_num(j, "received");
	rc_assert(v > 0 && v == json_num(j, "expected"), "received %lld of %lld deliveries", v,
		  json_num(j, "expected"));
	v = json_num(j, "lost") + json_num(j, "send_errors");
	rc_assert(v == 0, "no loss and no send errors, JSON says %lld in all", v);
	free(j);
	RC_STOP_OK(&srv);
}
