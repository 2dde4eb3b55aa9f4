/* Real media: ffmpeg publishes a generated MPEG-TS test pattern (MPEG-1
 * video) over UDP and over HTTP, and ffprobe, reading /stream/<channel> like
 * a player would, must recognise the video stream. Skipped with a message
 * when ffmpeg is not installed (make test installs it). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

static struct rc_server srv;
static pid_t kids[2] = { -1, -1 };

static void fini(void)
{
	/* Only the processes this test started, by PID. */
	for (int i = 0; i < 2; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		kids[i] = -1;
	}
	rc_cleanup();
}

/* Starts argv with stdout to a pipe (read end in *out, may be NULL) and
 * stderr to /dev/null. */
static pid_t spawn(char *const argv[], int *out)
{
	posix_spawn_file_actions_t fa;
	int p[2] = { -1, -1 };
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (out) {
		rc_assert(pipe2(p, O_CLOEXEC) == 0, "pipe");
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc_assert(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0, "spawn %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	if (out) {
		close(p[1]);
		*out = p[0];
	}
	return pid;
}

/* Reads fd until EOF or the deadline into buf. */
static void read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	size_t have = 0;

	while (have + 1 < cap && rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	int st;

	while (rc_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		rc_sleep_ms(50);
	}
	return -1;
}

/* ffprobe on /stream/<channel>, then ffmpeg publishing to `target`;
 * returns what ffprobe printed. */
static void probe_while_publishing(const char *channel, const char *target, char *probe_out,
				   size_t cap)
{
	char url[128];
	int fd;
	char *probe[] = { "/usr/bin/ffprobe", "-v", "error", "-rw_timeout", "20000000",
			  "-analyzeduration", "1000000", "-probesize", "200000",
			  "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0",
			  url, NULL };
	char *pub[] = { "/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
			"-i", "testsrc=size=320x240:rate=25", "-t", "4", "-c:v", "mpeg1video",
			"-b:v", "400k", "-bf", "0", "-g", "10", "-f", "mpegts", (char *)target, NULL };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stream/%s", srv.http.port, channel);
	kids[0] = spawn(probe, &fd);
	rc_sleep_ms(300);	/* let the player connect first, as a viewer would */
	kids[1] = spawn(pub, NULL);
	read_all(fd, probe_out, cap, 25000);
	close(fd);
	rc_assert(wait_exit(kids[0], 5000) == 0, "ffprobe should succeed; printed '%s'", probe_out);
	kids[0] = -1;
	rc_assert(wait_exit(kids[1], 25000) == 0, "ffmpeg should publish and exit 0");
	kids[1] = -1;
}

static void need_ffmpeg(void)
{
	if (access("/usr/bin/ffmpeg", X_OK) || access("/usr/bin/ffprobe", X_OK))
		cr_skip_test("ffmpeg/ffprobe not installed (apt-get install ffmpeg; make test does)");
}

Test(ffmpeg, mpegts_over_udp_plays_from_stream, .fini = fini, .timeout = 120)
{
	char target[128], out[1024];

	need_ffmpeg();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=tv", "--content-type",
		 "tv=video/mp2t");
	snprintf(target, sizeof(target), "udp://127.0.0.1:%d?pkt_size=1316", srv.udp[0].port);
	probe_while_publishing("tv", target, out, sizeof(out));
	rc_assert(strstr(out, "mpeg1video,video"), "ffprobe should see MPEG-1 video: '%s'", out);
	RC_STOP_OK(&srv);
}

/* A late joiner of a --cache ts channel starts with PAT and PMT, then data
 * from the last keyframe, so a player can start at once. */
Test(ffmpeg, late_joiner_gets_pat_pmt_first, .fini = fini, .timeout = 120)
{
	char target[128], req[128], head[1024];
	unsigned char ts[188 * 3] = { 0 };
	char *pub[] = { "/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
			"-i", "testsrc=size=320x240:rate=25", "-t", "3", "-c:v", "mpeg1video",
			"-b:v", "400k", "-bf", "0", "-g", "10", "-f", "mpegts", target, NULL };
	size_t have = 0, body;
	int64_t end;
	int fd;

	need_ffmpeg();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=tv", "--cache", "tv:ts");
	snprintf(target, sizeof(target), "udp://127.0.0.1:%d?pkt_size=1316", srv.udp[0].port);
	kids[1] = spawn(pub, NULL);
	rc_assert(wait_exit(kids[1], 30000) == 0, "ffmpeg should publish and exit 0");
	kids[1] = -1;
	/* Nobody watched; now a viewer joins. */
	fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	snprintf(req, sizeof(req), "GET /stream/tv HTTP/1.1\r\nHost: t\r\n\r\n");
	rc_assert(fd >= 0 && rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "join");
	end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	while (rc_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *h;
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, head + have, sizeof(head) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		head[have] = '\0';
		h = strstr(head, "\r\n\r\n");
		if (h && (body = have - (size_t)(h + 4 - head)) >= sizeof(ts)) {
			memcpy(ts, h + 4, sizeof(ts));
			break;
		}
	}
	close(fd);
	rc_assert(have > 0 && ts[0] == 0x47 && (ts[1] & 0x1f) == 0 && ts[2] == 0 && (ts[1] & 0x40),
		  "the first packet is the PAT");
	rc_assert(ts[188] == 0x47 && (ts[189] & 0x40) && ts[192] == 0x00 && ts[193] == 0x02,
		  "the second is the PMT (table id 2)");
	rc_assert(ts[376] == 0x47, "then more packets");
	RC_STOP_OK(&srv);
}

Test(ffmpeg, mpegts_over_http_post_plays_from_stream, .fini = fini, .timeout = 120)
{
	char target[128], out[1024];
	long long v;

	need_ffmpeg();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live");
	snprintf(target, sizeof(target), "http://127.0.0.1:%d/pub/tv2", srv.http.port);
	probe_while_publishing("tv2", target, out, sizeof(out));
	rc_assert(strstr(out, "mpeg1video,video"), "ffprobe should see MPEG-1 video: '%s'", out);
	v = rc_metric(&srv, "ringcast_http_publishes_total");
	rc_assert(v == 1, "one HTTP publish: %lld", v);
	RC_STOP_OK(&srv);
}

/* Whether NAL unit types 7 (SPS), 8 (PPS) and 5 (IDR) come in that order
 * in p[0..n). */
static bool sps_pps_idr(const unsigned char *p, size_t n)
{
	int want = 0;
	static const int order[] = { 7, 8, 5 };

	for (size_t i = 0; i + 3 < n && want < 3; i++)
		if (!p[i] && !p[i + 1] && p[i + 2] == 1 && (p[i + 3] & 0x1f) == order[want])
			want++;
	return want == 3;
}

/* H.264 + AAC: ffmpeg flags every AAC PES as a random access point; the
 * cache must still start a joiner at the last IDR, with SPS and PPS. */
Test(ffmpeg, late_joiner_of_h264_aac_starts_at_an_idr, .fini = fini, .timeout = 120)
{
	char target[128], req[128];
	static unsigned char buf[512 * 1024];
	char *pub[] = { "/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
			"-i", "testsrc2=size=320x240:rate=25", "-re", "-f", "lavfi", "-i",
			"sine=f=440:sample_rate=48000", "-t", "3", "-threads", "1", "-c:v", "libx264",
			"-preset", "veryfast", "-tune", "zerolatency", "-g", "25", "-sc_threshold", "0",
			"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", target, NULL };
	size_t have = 0, off, video_pes = 0, audio_pes = 0;
	const unsigned char *ts, *first_video = NULL;
	int64_t end;
	int fd;
	char *h;

	need_ffmpeg();
	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=tv", "--cache", "tv:ts");
	snprintf(target, sizeof(target), "udp://127.0.0.1:%d?pkt_size=1316", srv.udp[0].port);
	kids[1] = spawn(pub, NULL);
	rc_assert(wait_exit(kids[1], 30000) == 0, "ffmpeg should publish and exit 0");
	kids[1] = -1;
	/* Nobody watched; now a viewer joins and gets the cache, then silence. */
	fd = rc_tcp_connect(&srv.http, 0, RC_WAIT_TIMEOUT_MS);
	snprintf(req, sizeof(req), "GET /stream/tv HTTP/1.1\r\nHost: t\r\n\r\n");
	rc_assert(fd >= 0 && rc_write_all(fd, req, strlen(req), RC_WAIT_TIMEOUT_MS) == 0, "join");
	end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	while (rc_now_ms() < end && have < sizeof(buf)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 500) <= 0) {
			if (have)
				break;	/* the replay is over */
			continue;
		}
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	h = memmem(buf, have, "\r\n\r\n", 4);
	rc_assert(h, "an HTTP answer");
	ts = (const unsigned char *)h + 4;
	have -= (size_t)(ts - buf);
	rc_assert(have >= 3 * 188 && have % 188 == 0, "whole packets: %zu bytes", have);
	rc_assert(ts[0] == 0x47 && (ts[1] & 0x1f) == 0 && ts[2] == 0, "PAT first");
	rc_assert(ts[188 + 5] == 0x02, "then the PMT");
	for (off = 2 * 188; off < have; off += 188) {
		const unsigned char *p = ts + off;
		size_t pl = (p[3] & 0x20) ? 5u + p[4] : 4;

		if (!(p[1] & 0x40) || pl + 9 > 188 || p[pl] || p[pl + 1] || p[pl + 2] != 1)
			continue;
		if ((p[pl + 3] & 0xf0) == 0xe0) {
			if (!video_pes++)
				first_video = p;
		} else {
			audio_pes++;
		}
	}
	rc_assert(first_video, "video PES in the replay");
	{
		size_t pl = (first_video[3] & 0x20) ? 5u + first_video[4] : 4;
		size_t es = pl + 9 + first_video[pl + 8];

		rc_assert(es < 188 && sps_pps_idr(first_video + es, 188 - es),
			  "the first video PES is SPS, PPS, IDR");
	}
	/* The last GOP: 25 frames at most, not the whole 3 s. */
	rc_assert(video_pes >= 1 && video_pes <= 25, "%zu video PES replayed", video_pes);
	rc_assert(audio_pes > 0, "audio too");
	RC_STOP_OK(&srv);
}
