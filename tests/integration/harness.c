/* Integration test harness; see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8

static struct rc_server *g_servers[MAX_SERVERS];
static int g_failed;

int64_t rc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int rc_time_scale_ms(int ms)
{
	const char *s = getenv("RINGCAST_TIME_SCALE");
	double f;
	char *end;

	if (!s || !*s)
		return ms;
	f = strtod(s, &end);
	/* a typo must not shrink the deadlines, nor overflow them */
	if (end == s || *end || !(f >= 1.0 && f <= 1000.0))
		return ms;
	return (int)(ms * f);
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - rc_now_ms();

	if (left < 0)
		return 0;
	return left > 1000000 ? 1000000 : (int)left;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	/* keep the first problem: later ones are usually its consequences */
	if (!err || !errlen || err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- endpoints ---- */

/* Parses "1.2.3.4:80" or "[::1]:80" into ep; a wildcard address becomes
 * loopback for connecting, since traffic must stay on this machine. */
static int parse_endpoint(const char *s, struct rc_endpoint *ep)
{
	char host[64];
	const char *colon;
	size_t hl;
	char *end;
	long port;

	memset(ep, 0, sizeof(*ep));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, s, hl);
	}
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || port <= 0 || port > 65535)
		return -1;
	snprintf(ep->host, sizeof(ep->host), "%s", host);
	ep->port = (int)port;

	if (strchr(host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ep->sa;

		ep->family = AF_INET6;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
			a6->sin6_addr = in6addr_loopback;
		ep->sa_len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ep->sa;

		ep->family = AF_INET;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
			a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ep->sa_len = sizeof(*a4);
	}
	return 0;
}

/* One stdout line of the server. Returns 1 on "ready", 0 to go on, -1 on a
 * listen line that does not parse. */
static int handle_line(struct rc_server *srv, char *line)
{
	char *save = NULL;
	char *w0, *w1, *w2, *w3;

	if (strcmp(line, "ready") == 0)
		return 1;
	w0 = strtok_r(line, " \t", &save);
	w1 = strtok_r(NULL, " \t", &save);
	w2 = strtok_r(NULL, " \t", &save);
	w3 = strtok_r(NULL, " \t", &save);
	if (!w0 || strcmp(w0, "listen") != 0 || !w1 || !w2)
		return 0;
	if (strcmp(w1, "http") == 0) {
		if (parse_endpoint(w2, &srv->http) < 0) {
			set_err(srv->err, sizeof(srv->err),
				"bad listen http line address '%s'", w2);
			return -1;
		}
	} else if (strcmp(w1, "udp-mux") == 0) {
		if (parse_endpoint(w2, &srv->udp_mux) < 0) {
			set_err(srv->err, sizeof(srv->err),
				"bad listen udp-mux line address '%s'", w2);
			return -1;
		}
	} else if (strcmp(w1, "tcp") == 0) {
		if (parse_endpoint(w2, &srv->tcp) < 0) {
			set_err(srv->err, sizeof(srv->err),
				"bad listen tcp line address '%s'", w2);
			return -1;
		}
	} else if (strcmp(w1, "udp") == 0) {
		struct rc_endpoint *ep;

		if (srv->n_udp >= RC_MAX_UDP || !w3)
			return -1;
		ep = &srv->udp[srv->n_udp];
		if (parse_endpoint(w2, ep) < 0) {
			set_err(srv->err, sizeof(srv->err),
				"bad listen udp line address '%s'", w2);
			return -1;
		}
		snprintf(ep->channel, sizeof(ep->channel), "%s", w3);
		srv->n_udp++;
	}
	return 0;
}

const struct rc_endpoint *rc_udp_for(const struct rc_server *srv,
				     const char *channel)
{
	for (int i = 0; i < srv->n_udp; i++)
		if (strcmp(srv->udp[i].channel, channel) == 0)
			return &srv->udp[i];
	return NULL;
}

/* ---- process control ---- */

static void remember(struct rc_server *srv)
{
	for (int i = 0; i < MAX_SERVERS; i++) {
		if (g_servers[i] == srv)
			return;
	}
	for (int i = 0; i < MAX_SERVERS; i++) {
		if (!g_servers[i]) {
			g_servers[i] = srv;
			return;
		}
	}
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_exec(char *const *argv, int out_w, int err_fd, pid_t parent)
{
	sigset_t none;
	int devnull;

	/* a test worker that dies (crash, Criterion timeout) must not leave
	 * a server behind; the kernel drops this when setpriv changes uid,
	 * which is why rc_cleanup() also kills by PID */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(out_w, 1);
	dup2(err_fd, 2);
	/* the test ignores SIGPIPE; the server must start from defaults */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	{
		static const char msg[] = "harness: exec failed\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);

		(void)w;
	}
	_exit(127);
}

/* True when args name option opt (--opt X or --opt=X). */
static int args_name(const char *const *args, const char *opt)
{
	size_t n = strlen(opt);

	for (int i = 0; args && args[i]; i++)
		if (strncmp(args[i], opt, n) == 0 && (args[i][n] == '\0' || args[i][n] == '='))
			return 1;
	return 0;
}

int rc_workers(void)
{
	const char *w = getenv("RINGCAST_WORKERS");

	return w && *w ? atoi(w) : 1;
}

const char *rc_backend(void)
{
	const char *b = getenv("RINGCAST_BACKEND");

	return b && *b ? b : "io_uring";
}

int rc_server_start(struct rc_server *srv, const char *const *wrapper,
		    const char *const *args)
{
	const char *bin = getenv("RINGCAST_BIN");
	const char *env_wrapper = getenv("RINGCAST_WRAPPER");
	const char *backend = getenv("RINGCAST_BACKEND");
	const char *workers = getenv("RINGCAST_WORKERS");
	char wbuf[1024];
	char *argv[96];
	int argc = 0;
	int pfd[2];
	int err_fd;
	char buf[4096];
	size_t blen = 0;
	int64_t deadline;
	pid_t parent = getpid();

	memset(srv, 0, sizeof(*srv));
	srv->out_fd = -1;
	srv->err_fd = -1;
	/* sockets to a server that went away must give EPIPE, not kill us */
	signal(SIGPIPE, SIG_IGN);

	if (!bin || !*bin) {
		set_err(srv->err, sizeof(srv->err),
			"RINGCAST_BIN is not set (run through meson test)");
		return RC_FAILED;
	}
	for (int i = 0; wrapper && wrapper[i] && argc < 40; i++)
		argv[argc++] = (char *)wrapper[i];
	/* The environment's wrapper goes innermost, right before the binary:
	 * a test's own wrapper (prlimit, setpriv) sets up the conditions it
	 * tests, and valgrind run inside them still instruments the server
	 * itself rather than setpriv. A wrapper that does not fit is an error,
	 * not a silent truncation: a dropped option would change what runs. */
	if (env_wrapper && *env_wrapper) {
		char *save = NULL;

		if (strlen(env_wrapper) >= sizeof(wbuf)) {
			set_err(srv->err, sizeof(srv->err),
				"RINGCAST_WRAPPER is longer than %zu bytes",
				sizeof(wbuf) - 1);
			return RC_FAILED;
		}
		memcpy(wbuf, env_wrapper, strlen(env_wrapper) + 1);
		for (char *w = strtok_r(wbuf, " \t", &save); w;
		     w = strtok_r(NULL, " \t", &save)) {
			if (argc >= 64) {
				set_err(srv->err, sizeof(srv->err),
					"RINGCAST_WRAPPER has too many words");
				return RC_FAILED;
			}
			argv[argc++] = w;
		}
	}
	argv[argc++] = (char *)bin;
	/* The epoll runs of the suite: the same test, the other backend,
	 * unless the test chose a backend itself. */
	if (backend && *backend && !args_name(args, "--backend")) {
		argv[argc++] = "--backend";
		argv[argc++] = (char *)backend;
	}
	/* The workers are always the suite's choice (the server's default
	 * depends on the machine): 1, or RINGCAST_WORKERS in the multi-worker
	 * runs, unless the test chose its workers itself. */
	if (!args_name(args, "--workers")) {
		argv[argc++] = "--workers";
		argv[argc++] = workers && *workers ? (char *)workers : "1";
	}
	/* Never the demo ports: a server given no UDP port binds 0.0.0.0:9000
	 * and 9001, off loopback, and fails to start beside another test's. */
	if (!args_name(args, "--udp") && !args_name(args, "--udp-mux") &&
	    !args_name(args, "--config")) {
		argv[argc++] = "--udp";
		argv[argc++] = "127.0.0.1:0=live";
	}
	for (int i = 0; args && args[i] && argc < 94; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;

	snprintf(srv->err_path, sizeof(srv->err_path),
		 "/tmp/ringcast-it-XXXXXX");
	remember(srv);
	err_fd = mkostemp(srv->err_path, O_CLOEXEC);
	if (err_fd < 0) {
		set_err(srv->err, sizeof(srv->err), "mkostemp: %s",
			strerror(errno));
		return RC_FAILED;
	}
	/* unlinked at once and read through the fd: nothing is left in /tmp
	 * even if this test process dies before its cleanup runs */
	unlink(srv->err_path);
	srv->err_fd = err_fd;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		set_err(srv->err, sizeof(srv->err), "pipe2: %s",
			strerror(errno));
		return RC_FAILED;
	}
	srv->pid = fork();
	if (srv->pid < 0) {
		set_err(srv->err, sizeof(srv->err), "fork: %s",
			strerror(errno));
		srv->pid = 0;
		close(pfd[0]);
		close(pfd[1]);
		return RC_FAILED;
	}
	if (srv->pid == 0)
		child_exec(argv, pfd[1], err_fd, parent);
	close(pfd[1]);
	srv->out_fd = pfd[0];

	deadline = rc_now_ms() + RC_READY_TIMEOUT_MS;
	for (int iter = 0; iter < 100000; iter++) {
		struct pollfd p = { .fd = srv->out_fd, .events = POLLIN };
		ssize_t n;
		char *nl;
		int r;

		r = poll(&p, 1, remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			set_err(srv->err, sizeof(srv->err),
				"no \"ready\" line within %d ms",
				RC_READY_TIMEOUT_MS);
			rc_server_stop(srv, 0);
			return RC_FAILED;
		}
		if (blen >= sizeof(buf) - 1) {
			set_err(srv->err, sizeof(srv->err),
				"stdout line longer than %zu bytes",
				sizeof(buf));
			rc_server_stop(srv, 0);
			return RC_FAILED;
		}
		n = read(srv->out_fd, buf + blen, sizeof(buf) - 1 - blen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* stdout closed before "ready": the server is exiting
			 * (the unprivileged test expects this possibility) */
			if (rc_server_wait(srv, RC_STOP_TIMEOUT_MS)) {
				char sb[96];

				set_err(srv->err, sizeof(srv->err),
					"exited before \"ready\": %s",
					rc_status_str(srv->status, sb,
						      sizeof(sb)));
				close(srv->out_fd);
				srv->out_fd = -1;
				return RC_EXITED;
			}
			set_err(srv->err, sizeof(srv->err),
				"stdout closed before \"ready\" but the process "
				"kept running");
			rc_server_stop(srv, 0);
			return RC_FAILED;
		}
		blen += (size_t)n;
		buf[blen] = '\0';
		while ((nl = memchr(buf, '\n', blen))) {
			size_t ll = (size_t)(nl - buf);

			*nl = '\0';
			if (ll && buf[ll - 1] == '\r')
				buf[ll - 1] = '\0';
			r = handle_line(srv, buf);
			memmove(buf, nl + 1, blen - ll - 1);
			blen -= ll + 1;
			if (r < 0) {
				set_err(srv->err, sizeof(srv->err),
					"unparsable listen line");
				rc_server_stop(srv, 0);
				return RC_FAILED;
			}
			if (r == 1) {
				if (!srv->http.port) {
					set_err(srv->err, sizeof(srv->err),
						"\"ready\" without a listen "
						"http line");
					rc_server_stop(srv, 0);
					return RC_FAILED;
				}
				return RC_READY;
			}
		}
	}
	set_err(srv->err, sizeof(srv->err), "too many reads before ready");
	rc_server_stop(srv, 0);
	return RC_FAILED;
}

void rc_server_signal(struct rc_server *srv, int sig)
{
	if (srv->pid > 0)
		kill(srv->pid, sig);
}

int rc_server_wait(struct rc_server *srv, int timeout_ms)
{
	int64_t deadline = rc_now_ms() + timeout_ms;

	if (srv->pid <= 0)
		return 1;
	/* polled rather than blocking so the deadline holds; 10 ms steps
	 * make this at most a few thousand iterations */
	for (int iter = 0; iter < 1000000; iter++) {
		int st;
		pid_t r = waitpid(srv->pid, &st, WNOHANG);

		if (r == srv->pid) {
			srv->status = st;
			srv->pid = 0;
			return 1;
		}
		if (r < 0 && errno != EINTR) {
			/* not our child any more: nothing left to reap */
			srv->status = -1;
			srv->pid = 0;
			return 1;
		}
		if (rc_now_ms() >= deadline)
			return 0;
		rc_sleep_ms(10);
	}
	return 0;
}

int rc_server_stop(struct rc_server *srv, int timeout_ms)
{
	return rc_server_stop_idle(srv, timeout_ms, NULL, NULL);
}

int rc_server_stop_idle(struct rc_server *srv, int timeout_ms,
			void (*idle)(void *), void *arg)
{
	int64_t t0 = rc_now_ms();

	if (srv->pid > 0) {
		int64_t deadline = t0 + timeout_ms;
		int done = 0;

		kill(srv->pid, SIGTERM);
		if (idle) {
			/* idle returns within ~50 ms, so this stays bounded */
			for (int i = 0; i < 100000 && !done; i++) {
				done = rc_server_wait(srv, 0);
				if (done || rc_now_ms() >= deadline)
					break;
				idle(arg);
			}
		} else {
			done = rc_server_wait(srv, timeout_ms);
		}
		if (!done) {
			srv->killed = 1;
			kill(srv->pid, SIGKILL);
			rc_server_wait(srv, RC_STOP_TIMEOUT_MS);
		}
		srv->exit_ms = rc_now_ms() - t0;
	}
	if (srv->out_fd >= 0) {
		close(srv->out_fd);
		srv->out_fd = -1;
	}
	return srv->status;
}

size_t rc_server_stderr(const struct rc_server *srv, char *buf, size_t cap)
{
	struct stat st;
	off_t off = 0;
	size_t n = 0;

	if (!cap)
		return 0;
	buf[0] = '\0';
	if (srv->err_fd < 0 || fstat(srv->err_fd, &st) < 0)
		return 0;
	/* the end of a long log is where the failure is */
	if (st.st_size > (off_t)(cap - 1))
		off = st.st_size - (off_t)(cap - 1);
	for (int i = 0; i < 1000 && n < cap - 1; i++) {
		ssize_t r = pread(srv->err_fd, buf + n, cap - 1 - n,
				  off + (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

void rc_server_dump(const struct rc_server *srv)
{
	static char buf[65536];
	size_t n = rc_server_stderr(srv, buf, sizeof(buf));

	fprintf(stderr, "---- ringcast stderr (last %zu bytes) ----\n%s%s"
		"---- end of ringcast stderr ----\n", n, buf,
		n && buf[n - 1] != '\n' ? "\n" : "");
}

const char *rc_status_str(int status, char *buf, size_t cap)
{
	if (status == -1)
		snprintf(buf, cap, "unknown (not reaped by us)");
	else if (WIFEXITED(status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "status 0x%x", status);
	return buf;
}

void rc_note_failure(void)
{
	g_failed = 1;
}

void rc_cleanup(void)
{
	for (int i = 0; i < MAX_SERVERS; i++) {
		struct rc_server *srv = g_servers[i];

		if (!srv)
			continue;
		g_servers[i] = NULL;
		if (srv->pid > 0) {
			fprintf(stderr, "harness: server pid %d still running "
				"at teardown (test aborted); killing it\n",
				(int)srv->pid);
			kill(srv->pid, SIGKILL);
			rc_server_wait(srv, RC_STOP_TIMEOUT_MS);
			rc_server_dump(srv);
		} else if (g_failed) {
			rc_server_dump(srv);
		}
		if (srv->out_fd >= 0) {
			close(srv->out_fd);
			srv->out_fd = -1;
		}
		if (srv->err_fd >= 0) {
			close(srv->err_fd);
			srv->err_fd = -1;
		}
	}
	g_failed = 0;
}

/* ---- payloads ---- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

size_t payload_size(uint64_t seq)
{
	uint64_t s = seq ^ 0x51ce5eedULL;

	/* pin the extremes so every run covers them, randomise the rest */
	switch (seq % 8) {
	case 0:
		return 1;
	case 3:
		return 1400;
	default:
		return 1 + (size_t)(splitmix64(&s) % 1400);
	}
}

void payload_fill(unsigned chan, uint64_t seq, unsigned char *buf, size_t size)
{
	uint64_t state = ((uint64_t)chan << 56) ^ seq ^ 0x7269ULL;
	size_t i = 0;

	if (size >= 8) {
		uint64_t tag = (seq & 0x00ffffffffffffffULL) |
			       ((uint64_t)(chan & 0xff) << 56);

		for (int b = 0; b < 8; b++)
			buf[b] = (unsigned char)(tag >> (8 * b));
		i = 8;
	}
	while (i < size) {
		uint64_t r = splitmix64(&state);

		for (int b = 0; b < 8 && i < size; b++, i++)
			buf[i] = (unsigned char)(r >> (8 * b));
	}
}

int payload_match(unsigned chan, uint64_t seq, size_t want,
		  const unsigned char *buf, size_t len)
{
	unsigned char exp[65536];

	if (len != want || want > sizeof(exp))
		return 0;
	/* an empty message may come with a NULL buffer, which memcmp must
	 * not be given even for zero bytes */
	if (!len)
		return 1;
	payload_fill(chan, seq, exp, want);
	return memcmp(exp, buf, len) == 0;
}

int payload_tag(const unsigned char *buf, size_t len, unsigned *chan,
		uint64_t *seq)
{
	uint64_t tag = 0;

	if (len < 8)
		return -1;
	for (int b = 0; b < 8; b++)
		tag |= (uint64_t)buf[b] << (8 * b);
	*chan = (unsigned)(tag >> 56);
	*seq = tag & 0x00ffffffffffffffULL;
	return 0;
}

/* ---- UDP ---- */

int rc_udp_socket(const struct rc_endpoint *ep)
{
	int fd = socket(ep->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 1 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (connect(fd, (const struct sockaddr *)&ep->sa, ep->sa_len) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int rc_udp_send_seq(int fd, unsigned chan, uint64_t seq, size_t size)
{
	unsigned char buf[65536];

	if (size > sizeof(buf)) {
		errno = EMSGSIZE;
		return -1;
	}
	payload_fill(chan, seq, buf, size);
	/* blocking socket; the retries only cover transient ENOBUFS */
	for (int tries = 0; tries < 100; tries++) {
		ssize_t n = send(fd, buf, size, 0);

		if (n == (ssize_t)size)
			return 0;
		if (n < 0 && (errno == EINTR || errno == ENOBUFS ||
			      errno == EAGAIN)) {
			rc_sleep_ms(1);
			continue;
		}
		if (n >= 0)
			errno = EMSGSIZE;
		return -1;
	}
	return -1;
}

/* Adds the value under column col of the "prefix" table in a /proc/net
 * snmp file (a header line followed by a values line). */
static long long snmp_counter(const char *path, const char *prefix,
			      const char *col)
{
	char hdr[2048], val[2048];
	FILE *f = fopen(path, "r");
	long long out = -1;
	size_t pl = strlen(prefix);

	if (!f)
		return -1;
	if (strcmp(path, "/proc/net/snmp6") == 0) {
		/* snmp6 is "Name value" per line */
		while (fgets(hdr, sizeof(hdr), f)) {
			char name[128];
			long long v;

			if (sscanf(hdr, "%127s %lld", name, &v) == 2 &&
			    strcmp(name, col) == 0) {
				out = v;
				break;
			}
		}
		fclose(f);
		return out;
	}
	while (fgets(hdr, sizeof(hdr), f)) {
		char *sh = NULL, *sv = NULL, *h, *v;

		if (strncmp(hdr, prefix, pl) != 0)
			continue;
		if (!fgets(val, sizeof(val), f))
			break;
		h = strtok_r(hdr, " \n", &sh);
		v = strtok_r(val, " \n", &sv);
		while (h && v) {
			if (strcmp(h, col) == 0) {
				out = strtoll(v, NULL, 10);
				break;
			}
			h = strtok_r(NULL, " \n", &sh);
			v = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	return out;
}

long long rc_udp_rcvbuf_errors(void)
{
	long long v4 = snmp_counter("/proc/net/snmp", "Udp:", "RcvbufErrors");
	long long v6 = snmp_counter("/proc/net/snmp6", "", "Udp6RcvbufErrors");

	if (v4 < 0)
		return -1;
	return v4 + (v6 > 0 ? v6 : 0);
}

/* ---- TCP ---- */

int rc_tcp_connect(const struct rc_endpoint *ep, int rcvbuf, int timeout_ms)
{
	int64_t deadline = rc_now_ms() + timeout_ms;
	int fd = socket(ep->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	int one = 1;

	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&ep->sa, ep->sa_len) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		int r;

		if (errno != EINPROGRESS)
			goto fail;
		do
			r = poll(&p, 1, remaining_ms(deadline));
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr) {
			errno = soerr ? soerr : errno;
			goto fail;
		}
	}
	return fd;
fail: {
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}
}

int rc_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = rc_now_ms() + timeout_ms;
	const unsigned char *p = buf;

	for (int iter = 0; len && iter < 1000000; iter++) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		{
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			if (poll(&pf, 1, remaining_ms(deadline)) == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
	}
	return len ? -1 : 0;
}

/* Reads what is available within the deadline into buf+*len. Returns >0
 * bytes read, 0 on EOF, -1 on error, -2 on timeout. */
static ssize_t read_some(int fd, unsigned char *buf, size_t cap, int64_t deadline)
{
	for (int iter = 0; iter < 100000; iter++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = recv(fd, buf, cap, 0);
		int r;

		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		r = poll(&p, 1, remaining_ms(deadline));
		if (r == 0)
			return -2;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return -2;
}

/* ---- HTTP ---- */

static const char *find_header(const char *head, const char *name,
			       size_t *vlen)
{
	size_t nl = strlen(name);
	const char *line = strstr(head, "\r\n");

	while (line && line[2]) {
		const char *p = line + 2;
		const char *eol = strstr(p, "\r\n");

		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			while (*vlen && (v[*vlen - 1] == ' ' ||
					 v[*vlen - 1] == '\t'))
				(*vlen)--;
			return v;
		}
		line = *eol ? eol : NULL;
	}
	return NULL;
}

const char *http_header(const struct http_resp *r, const char *name,
			char *val, size_t cap)
{
	size_t vl;
	const char *v = find_header(r->head, name, &vl);

	if (!v || !cap)
		return NULL;
	if (vl >= cap)
		vl = cap - 1;
	memcpy(val, v, vl);
	val[vl] = '\0';
	return val;
}

/* Decodes a chunked body starting at p (n bytes). Returns bytes consumed
 * when complete, 0 when more is needed, -1 when malformed. */
static long decode_chunked(const char *p, size_t n, char **body, size_t *blen)
{
	size_t off = 0;
	char *out = NULL;
	size_t olen = 0;

	for (int chunks = 0; chunks < 100000; chunks++) {
		const char *eol = memmem(p + off, n - off, "\r\n", 2);
		char *end;
		unsigned long sz;

		if (!eol)
			goto more;
		sz = strtoul(p + off, &end, 16);
		if (end == p + off)
			goto bad;
		off = (size_t)(eol - p) + 2;
		if (sz == 0) {
			/* no trailers expected; the body ends at a blank line */
			const char *fin = memmem(p + off, n - off, "\r\n", 2);

			if (!fin)
				goto more;
			off = (size_t)(fin - p) + 2;
			if (!out)
				out = calloc(1, 1);
			*body = out;
			*blen = olen;
			return (long)off;
		}
		if (n - off < sz + 2)
			goto more;
		{
			char *no = realloc(out, olen + sz + 1);

			if (!no)
				goto bad;
			out = no;
		}
		memcpy(out + olen, p + off, sz);
		olen += sz;
		out[olen] = '\0';
		off += sz + 2;
	}
bad:
	free(out);
	return -1;
more:
	free(out);
	return 0;
}

/* Parses one response from buf. Returns bytes consumed (>0) when complete,
 * 0 when more data is needed, -1 when malformed. */
static long parse_response(const char *buf, size_t len, int eof,
			   struct http_resp *r)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	size_t hlen, vl;
	const char *v;
	long long clen = -1;
	int chunked = 0;

	if (!end)
		return eof && len ? -1 : 0;
	hlen = (size_t)(end - buf) + 4;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	r->status = atoi(buf + 9);
	vl = hlen - 2 < sizeof(r->head) - 1 ? hlen - 2 : sizeof(r->head) - 1;
	memcpy(r->head, buf, vl);
	r->head[vl] = '\0';
	if ((v = find_header(r->head, "Content-Length", &vl)))
		clen = strtoll(v, NULL, 10);
	if ((v = find_header(r->head, "Transfer-Encoding", &vl)) &&
	    vl >= 7 && strncasecmp(v, "chunked", 7) == 0)
		chunked = 1;
	if (r->status / 100 == 1 || r->status == 204 || r->status == 304)
		clen = 0;
	if (chunked && clen < 0) {
		long used = decode_chunked(buf + hlen, len - hlen, &r->body,
					   &r->body_len);

		if (used <= 0)
			return used < 0 || eof ? -1 : 0;
		return (long)hlen + used;
	}
	if (clen >= 0) {
		if (len - hlen < (size_t)clen)
			return eof ? -1 : 0;
	} else {
		/* no framing: the body runs to the end of the connection */
		if (!eof)
			return 0;
		clen = (long long)(len - hlen);
	}
	r->body = malloc((size_t)clen + 1);
	if (!r->body)
		return -1;
	memcpy(r->body, buf + hlen, (size_t)clen);
	r->body[clen] = '\0';
	r->body_len = (size_t)clen;
	return (long)(hlen + (size_t)clen);
}

int http_exchange(const struct rc_endpoint *ep, const void *req,
		  size_t req_len, struct http_resp *out, int nresp,
		  int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = rc_now_ms() + timeout_ms;
	size_t cap = 1 << 16, len = 0;
	char *buf;
	int got = 0, eof = 0;
	int fd;

	if (err && errlen)
		err[0] = '\0';
	for (int i = 0; i < nresp; i++)
		memset(&out[i], 0, sizeof(out[i]));
	fd = rc_tcp_connect(ep, 0, timeout_ms);
	if (fd < 0) {
		set_err(err, errlen, "connect: %s", strerror(errno));
		return -1;
	}
	if (rc_write_all(fd, req, req_len, remaining_ms(deadline)) < 0) {
		/* the server may answer and close before reading it all; the
		 * answer may still be readable, so go on */
		set_err(err, errlen, "write: %s", strerror(errno));
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (int iter = 0; got < nresp && iter < 100000; iter++) {
		long used;
		ssize_t n;

		used = parse_response(buf, len, eof, &out[got]);
		if (used < 0) {
			set_err(err, errlen, "malformed response %d", got + 1);
			break;
		}
		if (used > 0) {
			memmove(buf, buf + used, len - (size_t)used);
			len -= (size_t)used;
			got++;
			continue;
		}
		if (eof) {
			set_err(err, errlen, "connection closed after %d "
				"response(s)", got);
			break;
		}
		if (len + 1 >= cap) {
			char *nb;

			if (cap >= (64u << 20)) {
				set_err(err, errlen, "response too large");
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read_some(fd, (unsigned char *)buf + len, cap - 1 - len,
			      deadline);
		if (n == -2) {
			set_err(err, errlen, "timeout after %d response(s)",
				got);
			break;
		}
		if (n < 0) {
			set_err(err, errlen, "read: %s", strerror(errno));
			/* a reset ends the stream like EOF does; whatever was
			 * received before it still gets parsed */
			eof = 1;
			continue;
		}
		if (n == 0)
			eof = 1;
		len += (size_t)n;
	}
	free(buf);
	close(fd);
	return got;
}

int http_get(const struct rc_endpoint *ep, const char *path,
	     struct http_resp *out)
{
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\n"
			 "Connection: close\r\n\r\n", path, ep->host);

	return http_exchange(ep, req, (size_t)n, out, 1, RC_WAIT_TIMEOUT_MS,
			     NULL, 0) == 1 ? 0 : -1;
}

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* ---- metrics ---- */

long long metric_value(const char *body, const char *name)
{
	size_t nl = strlen(name);
	const char *p = body;

	for (int lines = 0; p && *p && lines < 1000000; lines++) {
		const char *eol = strchr(p, '\n');

		if (*p != '#' && strncmp(p, name, nl) == 0 &&
		    (p[nl] == ' ' || p[nl] == '\t')) {
			char *end;
			double v = strtod(p + nl + 1, &end);

			if (end != p + nl + 1)
				return (long long)v;
		}
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

long long rc_metric(const struct rc_server *srv, const char *name)
{
	struct http_resp r;
	long long v;

	if (http_get(&srv->http, "/metrics", &r) < 0)
		return -2;
	v = r.status == 200 && r.body ? metric_value(r.body, name) : -2;
	http_resp_free(&r);
	return v;
}

static int wait_metric(const struct rc_server *srv, const char *name,
		       long long want, int ge, int timeout_ms,
		       void (*idle)(void *), void *arg, long long *last)
{
	int64_t deadline = rc_now_ms() + timeout_ms;
	long long v = -2;

	for (int iter = 0; iter < 100000; iter++) {
		v = rc_metric(srv, name);
		if (ge ? v >= want : v == want)
			break;
		if (rc_now_ms() >= deadline)
			break;
		if (idle)
			idle(arg);
		else
			rc_sleep_ms(50);
	}
	if (last)
		*last = v;
	return ge ? v >= want : v == want;
}

int rc_wait_metric(const struct rc_server *srv, const char *name,
		   long long want, int timeout_ms, void (*idle)(void *),
		   void *arg, long long *last)
{
	return wait_metric(srv, name, want, 0, timeout_ms, idle, arg, last);
}

int rc_wait_metric_ge(const struct rc_server *srv, const char *name,
		      long long want, int timeout_ms, void (*idle)(void *),
		      void *arg, long long *last)
{
	return wait_metric(srv, name, want, 1, timeout_ms, idle, arg, last);
}

/* ---- raw WebSocket client ---- */

static void b64(const unsigned char *in, int n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, n);
}

static int random_bytes(void *buf, size_t n)
{
	return getrandom(buf, n, 0) == (ssize_t)n ? 0 : -1;
}

int ws_raw_open(struct ws_raw *ws, const struct rc_endpoint *ep,
		const char *path, int rcvbuf, int timeout_ms, char *err,
		size_t errlen)
{
	return ws_raw_open_ext(ws, ep, path, NULL, NULL, 0, rcvbuf, timeout_ms, err, errlen);
}

int ws_raw_open_ext(struct ws_raw *ws, const struct rc_endpoint *ep, const char *path,
		    const char *extra, char *answer, size_t answer_cap, int rcvbuf,
		    int timeout_ms, char *err, size_t errlen)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	int64_t deadline = rc_now_ms() + timeout_ms;
	unsigned char nonce[16], digest[EVP_MAX_MD_SIZE];
	char key[32], expect[64], cat[128], req[1024], head[4096];
	unsigned int dlen = 0;
	const char *v;
	size_t vl;
	int n;

	if (err && errlen)
		err[0] = '\0';
	ws->fd = -1;
	ws->len = 0;
	if (random_bytes(nonce, sizeof(nonce)) < 0) {
		set_err(err, errlen, "getrandom failed");
		return -1;
	}
	b64(nonce, sizeof(nonce), key);
	snprintf(cat, sizeof(cat), "%s%s", key, guid);
	if (!EVP_Digest(cat, strlen(cat), digest, &dlen, EVP_sha1(), NULL)) {
		set_err(err, errlen, "EVP_Digest failed");
		return -1;
	}
	b64(digest, (int)dlen, expect);

	ws->fd = rc_tcp_connect(ep, rcvbuf, timeout_ms);
	if (ws->fd < 0) {
		set_err(err, errlen, "connect: %s", strerror(errno));
		return -1;
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s:%d\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n%s\r\n",
		     path, ep->host, ep->port, key, extra ? extra : "");
	if (rc_write_all(ws->fd, req, (size_t)n, remaining_ms(deadline)) < 0) {
		set_err(err, errlen, "write: %s", strerror(errno));
		goto fail;
	}
	/* read the head; any frame bytes after it stay in ws->buf */
	for (int iter = 0; iter < 10000; iter++) {
		unsigned char *end = memmem(ws->buf, ws->len, "\r\n\r\n", 4);
		ssize_t r;

		if (end) {
			size_t hl = (size_t)(end - ws->buf) + 4;

			if (hl >= sizeof(head)) {
				set_err(err, errlen, "101 head too long");
				goto fail;
			}
			memcpy(head, ws->buf, hl);
			head[hl - 2] = '\0';
			memmove(ws->buf, ws->buf + hl, ws->len - hl);
			ws->len -= hl;
			break;
		}
		if (ws->len >= sizeof(head)) {
			set_err(err, errlen, "101 head too long");
			goto fail;
		}
		r = read_some(ws->fd, ws->buf + ws->len,
			      sizeof(ws->buf) - ws->len, deadline);
		if (r == -2) {
			set_err(err, errlen, "timeout waiting for 101");
			goto fail;
		}
		if (r <= 0) {
			set_err(err, errlen, "%s before the 101 head",
				r == 0 ? "EOF" : strerror(errno));
			goto fail;
		}
		ws->len += (size_t)r;
		if (iter == 9999) {
			set_err(err, errlen, "no 101 head");
			goto fail;
		}
	}
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		char *eol = strstr(head, "\r\n");

		if (eol)
			*eol = '\0';
		set_err(err, errlen, "expected 101, got '%.200s'", head);
		goto fail;
	}
	if (answer && answer_cap)
		snprintf(answer, answer_cap, "%s", head);
	v = find_header(head, "Sec-WebSocket-Accept", &vl);
	if (!v || vl != strlen(expect) || memcmp(v, expect, vl) != 0) {
		set_err(err, errlen, "bad Sec-WebSocket-Accept '%.*s' (want "
			"'%s')", v ? (int)vl : 6, v ? v : "(none)", expect);
		goto fail;
	}
	return 0;
fail:
	close(ws->fd);
	ws->fd = -1;
	return -1;
}

int ws_raw_send(struct ws_raw *ws, int opcode, const void *payload,
		size_t len)
{
	unsigned char frame[14 + 65536];
	unsigned char mask[4];
	const unsigned char *p = payload;
	size_t h = 0;

	if (len > 65536 || random_bytes(mask, sizeof(mask)) < 0) {
		errno = EINVAL;
		return -1;
	}
	/* opcode may carry RSV1 (0x40): a compressed message */
	frame[h++] = (unsigned char)(0x80 | (opcode & 0x4f));
	if (len < 126) {
		frame[h++] = (unsigned char)(0x80 | len);
	} else {
		frame[h++] = 0x80 | 126;
		frame[h++] = (unsigned char)(len >> 8);
		frame[h++] = (unsigned char)len;
	}
	memcpy(frame + h, mask, 4);
	h += 4;
	/* clients must mask every frame (RFC 6455 5.3) */
	for (size_t i = 0; i < len; i++)
		frame[h + i] = p[i] ^ mask[i & 3];
	return rc_write_all(ws->fd, frame, h + len, RC_WAIT_TIMEOUT_MS);
}

int ws_raw_close_code(struct ws_raw *ws, int timeout_ms)
{
	unsigned char payload[256];
	struct ws_frame f;
	int r;

	do {
		r = ws_raw_recv(ws, &f, payload, sizeof(payload), timeout_ms);
	} while (r == 1 && f.opcode != 8);
	return r == 1 && f.len >= 2 ? payload[0] << 8 | payload[1] : -1;
}

int ws_raw_recv(struct ws_raw *ws, struct ws_frame *f, unsigned char *payload,
		size_t cap, int timeout_ms)
{
	int64_t deadline = rc_now_ms() + timeout_ms;

	for (int iter = 0; iter < 1000000; iter++) {
		size_t need = 2, plen;
		ssize_t r;

		if (ws->len >= 2) {
			unsigned l7 = ws->buf[1] & 0x7f;

			need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
			       ((ws->buf[1] & 0x80) ? 4 : 0);
			if (ws->len >= need) {
				size_t off = 2;

				if (l7 == 126) {
					plen = ((size_t)ws->buf[2] << 8) |
					       ws->buf[3];
					off = 4;
				} else if (l7 == 127) {
					plen = 0;
					for (int b = 0; b < 8; b++)
						plen = (plen << 8) |
						       ws->buf[2 + b];
					off = 10;
				} else {
					plen = l7;
				}
				f->fin = !!(ws->buf[0] & 0x80);
				f->rsv1 = !!(ws->buf[0] & 0x40);
				f->opcode = ws->buf[0] & 0x0f;
				f->masked = !!(ws->buf[1] & 0x80);
				f->len = plen;
				if (f->masked)
					off += 4;
				if (plen > cap || plen > sizeof(ws->buf) - off)
					return -3;
				if (ws->len >= off + plen) {
					/* server frames are never masked;
					 * report it rather than unmask */
					memcpy(payload, ws->buf + off, plen);
					memmove(ws->buf, ws->buf + off + plen,
						ws->len - off - plen);
					ws->len -= off + plen;
					return f->masked ? -3 : 1;
				}
			}
		}
		r = read_some(ws->fd, ws->buf + ws->len,
			      sizeof(ws->buf) - ws->len, deadline);
		if (r == -2)
			return -2;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		ws->len += (size_t)r;
	}
	return -2;
}

void ws_raw_abort(struct ws_raw *ws)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (ws->fd < 0)
		return;
	setsockopt(ws->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(ws->fd);
	ws->fd = -1;
}

void ws_raw_close(struct ws_raw *ws)
{
	if (ws->fd >= 0)
		close(ws->fd);
	ws->fd = -1;
}
