/* Running as an unprivileged user with a small RLIMIT_MEMLOCK: the server
 * must either work or refuse clearly, never hang or crash. io_uring rings
 * and registered buffers count against the memlock limit on some kernels,
 * which is what this is about. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "lws_subs.h"

#define NOBODY 65534

static struct rc_server srv;
static struct sub_pool *pool;
static char copy_dir[64];
static char copy_bin[128];

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	rc_cleanup();
	if (copy_bin[0])
		unlink(copy_bin);
	if (copy_dir[0])
		rmdir(copy_dir);
	copy_bin[0] = copy_dir[0] = '\0';
}

/* Can uid/gid nobody execute path? Checked in a child that really drops to
 * nobody, so every directory on the way is taken into account. */
static int nobody_can_exec(const char *path)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return 0;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 ||
		    setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(2);
		_exit(access(path, R_OK | X_OK) == 0 ? 0 : 1);
	}
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Copies the binary to a world-readable temp dir, for a build tree that
 * nobody cannot reach. Returns 0 and points RINGCAST_BIN at the copy. */
static int copy_for_nobody(const char *bin)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	snprintf(copy_dir, sizeof(copy_dir), "/tmp/ringcast-it-bin-XXXXXX");
	if (!mkdtemp(copy_dir)) {
		copy_dir[0] = '\0';
		return -1;
	}
	chmod(copy_dir, 0755);
	snprintf(copy_bin, sizeof(copy_bin), "%s/ringcast", copy_dir);
	in = open(bin, O_RDONLY | O_CLOEXEC);
	out = open(copy_bin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0)
		goto fail;
	for (int i = 0; i < 1000000 && (n = read(in, buf, sizeof(buf))) > 0;
	     i++)
		if (write(out, buf, (size_t)n) != n)
			goto fail;
	close(in);
	if (fchmod(out, 0755) < 0 || close(out) < 0)
		return -1;
	return setenv("RINGCAST_BIN", copy_bin, 1);
fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return -1;
}

/* Real uid of a running process from /proc, or -1. */
static long proc_uid(pid_t pid)
{
	char path[64], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %ld", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* Starts the server as nobody under `memlock` ("BYTES:BYTES"). With
 * must_serve it has to work; otherwise a clear refusal is accepted too. */
static void run_as_nobody(const char *memlock, bool must_serve)
{
	const char *const wrapper[] = {
		"prlimit", memlock,
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		NULL,
	};
	static const char *const args[] = {
		"--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=live", NULL,
	};
	const char *bin = getenv("RINGCAST_BIN");
	static char log[16384];
	char sb[96], d[512];
	int r;

	if (geteuid() != 0)
		cr_skip_test("needs root to switch to uid 65534 (nobody)");
	if (access("/usr/bin/setpriv", X_OK) != 0 ||
	    access("/usr/bin/prlimit", X_OK) != 0)
		cr_skip_test("setpriv/prlimit (util-linux) not installed");
	rc_assert(bin && *bin, "RINGCAST_BIN is not set");
	if (!nobody_can_exec(bin)) {
		cr_log_info("%s is not executable by nobody; using a copy", bin);
		rc_assert(copy_for_nobody(bin) == 0 && nobody_can_exec(copy_bin),
			  "could not make a copy of %s runnable by nobody", bin);
	}

	r = rc_server_start(&srv, wrapper, args);
	if (r == RC_EXITED && must_serve) {
		rc_server_stderr(&srv, log, sizeof(log));
		rc_assert(0, "with %s the server must run as nobody; stderr was:\n%s", memlock, log);
	}
	if (r == RC_EXITED) {
		/* refusing is fine, but it has to say why and exit normally */
		rc_server_stderr(&srv, log, sizeof(log));
		rc_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) != 0,
			  "a refusal must be a non-zero exit, got %s",
			  rc_status_str(srv.status, sb, sizeof(sb)));
		rc_assert(strcasestr(log, "memlock") != NULL,
			  "refusal should mention RLIMIT_MEMLOCK / memlock; "
			  "stderr was:\n%s", log);
		cr_log_info("server refused as expected: %s", srv.err);
		return;
	}
	rc_assert(r == RC_READY, "server neither served nor exited cleanly: "
		  "%s", srv.err);

	{
		uint64_t goal = 1;
		struct http_resp h;
		long long v;
		int fd;

		rc_assert(proc_uid(srv.pid) == NOBODY,
			  "server should run as uid %d, /proc says %ld", NOBODY,
			  proc_uid(srv.pid));
		rc_assert(http_get(&srv.http, "/healthz", &h) == 0 &&
				  h.status == 200,
			  "healthz as nobody");
		http_resp_free(&h);
		pool = sub_pool_new(1);
		rc_assert(pool, "lws context");
		sub_connect(pool, 0, &srv.http, "live", 0, 0);
		rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == 1,
			  "subscriber: %s",
			  sub_describe(&pool->subs[0], d, sizeof(d)));
		rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel="
					 "\"live\"}", 1, RC_WAIT_TIMEOUT_MS,
					 sub_pool_idle, pool, &v),
			  "subscribers gauge should be 1, last %lld", v);
		fd = rc_udp_socket(&srv.udp[0]);
		rc_assert(fd >= 0, "udp socket");
		rc_assert(rc_udp_send_seq(fd, 0, 0, payload_size(0)) == 0,
			  "udp send: %s", strerror(errno));
		sub_pool_wait_seq(pool, &goal, 1, RC_WAIT_TIMEOUT_MS);
		rc_assert(pool->subs[0].count == 1 &&
				  pool->subs[0].mismatches == 0,
			  "datagram should reach the subscriber: %s",
			  sub_describe(&pool->subs[0], d, sizeof(d)));
		close(fd);
	}
	cr_log_info("server runs as nobody with %s", memlock);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}

/* Debian 12's default RLIMIT_MEMLOCK for users is 8 MiB: ringcast must work
 * there without root (zero-copy sends, which register the whole ingest slab,
 * are not asked for and would be refused and logged). */
Test(unprivileged, nobody_with_default_8mib_memlock_serves, .fini = fini)
{
	run_as_nobody("--memlock=8388608:8388608", true);
}

/* Far below what the rings need: ringcast must say so (naming the limit),
 * not hang or crash. */
Test(unprivileged, nobody_with_64kib_memlock_serves_or_says_why, .fini = fini)
{
	run_as_nobody("--memlock=65536:65536", false);
}
