/* Where io_uring is blocked as in a default container: ringcast runs under
 * a seccomp filter that fails io_uring_setup, io_uring_enter and
 * io_uring_register with EPERM (tests/integration/no_io_uring.py, loaded by
 * Debian's python3-seccomp before exec). With --backend auto it starts on
 * epoll, says so in its log and in /metrics, and delivers; with --backend
 * io_uring it exits 1 with the message that explains the block. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PY "/usr/bin/python3"

static struct rc_server srv;
static struct ws_raw ws;

static void fini(void)
{
	ws_raw_close(&ws);
	rc_cleanup();
}

/* The wrapper that loads the filter, or skips the test saying what is
 * missing (the Makefile's deps install python3-seccomp). */
static void filter_wrapper(const char *w[3])
{
	const char *script = getenv("RINGCAST_NO_IO_URING");

	if (!script || !*script)
		cr_skip_test("RINGCAST_NO_IO_URING is not set (run through meson test)");
	if (access(PY, X_OK) != 0 ||
	    system(PY " -c 'import seccomp' >/dev/null 2>&1") != 0)
		cr_skip_test("needs Debian's python3-seccomp for " PY " (make deps)");
	w[0] = PY;
	w[1] = script;
	w[2] = NULL;
}

Test(seccomp, io_uring_blocked_auto_runs_on_epoll_and_delivers, .fini = fini)
{
	const char *w[3];
	const char *const args[] = { "--backend", "auto", "--listen", "127.0.0.1:0",
				     "--udp", "127.0.0.1:0=live", NULL };
	static const char want_log[] =
		"loop: epoll backend (io_uring unavailable: io_uring_setup: EPERM";
	static const char want_metric[] =
		"ringcast_backend_info{backend=\"epoll\",reason=\"io_uring_setup: EPERM\"}";
	unsigned char payload[512], got[512];
	struct http_resp r = { 0 };
	struct ws_frame f;
	char log[8192], err[256];
	int fd, rc;

	filter_wrapper(w);
	rc = rc_server_start(&srv, w, args);
	rc_assert(rc == RC_READY, "ringcast did not start under the filter (%d): %s", rc,
		  srv.err);
	rc_server_stderr(&srv, log, sizeof(log));
	rc_assert(strstr(log, want_log), "the log should name epoll and why: %s", log);
	rc_assert(!strstr(log, "error"), "falling back is not an error: %s", log);
	rc_assert(http_get(&srv.http, "/metrics", &r) == 0 && r.status == 200, "metrics");
	rc_assert(metric_value(r.body, want_metric) == 1, "%s should be 1", want_metric);
	http_resp_free(&r);

	rc_assert(ws_raw_open(&ws, &srv.http, "/ws/live", 0, RC_WAIT_TIMEOUT_MS, err,
			      sizeof(err)) == 0, "subscribe: %s", err);
	/* The subscriber is on the channel once the gauge says so. */
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"live\"}", 1,
				 RC_WAIT_TIMEOUT_MS, NULL, NULL, NULL), "subscriber gauge");
	fd = rc_udp_socket(&srv.udp[0]);
	rc_assert(fd >= 0, "udp socket");
	payload_fill(0, 7, payload, sizeof(payload));
	rc_assert(rc_udp_send_seq(fd, 0, 7, sizeof(payload)) == 0, "udp send");
	close(fd);
	rc = ws_raw_recv(&ws, &f, got, sizeof(got), RC_WAIT_TIMEOUT_MS);
	rc_assert(rc == 1 && f.opcode == 2, "a binary frame: %d op %d", rc, f.opcode);
	rc_assert(payload_match(0, 7, sizeof(payload), got, f.len),
		  "the datagram's bytes, unchanged (%zu bytes)", f.len);
	RC_STOP_OK(&srv);
}

Test(seccomp, io_uring_blocked_backend_io_uring_exits_1_and_says_why, .fini = fini)
{
	const char *w[3];
	const char *const args[] = { "--backend", "io_uring", "--listen", "127.0.0.1:0",
				     "--udp", "127.0.0.1:0=live", NULL };
	char log[8192], st[64];
	int rc;

	filter_wrapper(w);
	rc = rc_server_start(&srv, w, args);
	rc_assert(rc == RC_EXITED, "ringcast should refuse to start (%d): %s", rc, srv.err);
	rc_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 1, "exit 1, got %s",
		  rc_status_str(srv.status, st, sizeof(st)));
	rc_server_stderr(&srv, log, sizeof(log));
	rc_assert(strstr(log, "io_uring_setup: permission denied") &&
			  strstr(log, "seccomp") && strstr(log, "kernel.io_uring_disabled") &&
			  strstr(log, "deploy/README.md"),
		  "the message should explain the block and the fix: %s", log);
	rc_assert(!strstr(log, "epoll backend"), "no fall-back when io_uring was asked for: %s",
		  log);
}
