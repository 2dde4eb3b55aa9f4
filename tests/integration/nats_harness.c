#include "nats_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

const char *nats_bin(void)
{
	const char *env = getenv("NATS_SERVER");

	if (env && *env)
		return env;
	return "/usr/sbin/nats-server";
}

void nats_require(void)
{
	if (access(nats_bin(), X_OK) != 0)
		cr_skip_test("no %s (Debian package nats-server)", nats_bin());
}

int nats_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int nats_tcp_to(int port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int64_t end = rc_now_ms() + timeout_ms;

	do {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		rc_sleep_ms(20);
	} while (rc_now_ms() < end);
	return -1;
}

/* Forks nats-server with argv (argv[0] ignored). */
static pid_t spawn(char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();

	rc_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int out;

		/* A test that dies (crash, Criterion timeout) must not leave
		 * the server behind, as harness.c's child_exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (getenv("NATS_LOG_DIR")) {
			char path[256];

			snprintf(path, sizeof(path), "%s/nats-%d.log", getenv("NATS_LOG_DIR"), getpid());
			out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		} else {
			out = open("/dev/null", O_WRONLY);
		}
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execv(nats_bin(), argv);
		_exit(127);
	}
	return pid;
}

static void wait_accepts(const struct nats_srv *s)
{
	int fd = nats_tcp_to(s->port, rc_time_scale_ms(10000));

	rc_assert(fd >= 0, "nats-server does not accept on port %d", s->port);
	close(fd);
}

void nats_start_with(struct nats_srv *s, const char *const *extra)
{
	char p[16], hp[16];
	char *argv[24] = { "nats-server", "-a", "127.0.0.1", "-p", p, "-m", hp };
	size_t n = 7;

	for (; extra && *extra; extra++) {
		rc_assert(n + 1 < sizeof(argv) / sizeof(argv[0]), "too many nats-server arguments");
		argv[n++] = (char *)*extra;
	}
	argv[n] = NULL;
	if (!s->port)
		s->port = nats_free_port();
	s->http_port = nats_free_port();
	rc_assert(s->port > 0 && s->http_port > 0, "free ports");
	snprintf(p, sizeof(p), "%d", s->port);
	snprintf(hp, sizeof(hp), "%d", s->http_port);
	s->pid = spawn(argv);
	wait_accepts(s);
	s->base_subs = 0;
	s->base_subs = nats_wait_subs(s, 0, 1);
}

void nats_start(struct nats_srv *s)
{
	nats_start_with(s, NULL);
}

/* One try at a cluster of n on fresh ports (those of s[] given by the
 * caller kept on the first try). Returns -1 when every server accepts and
 * has its n - 1 routes within timeout_ms, else the index of one that does
 * not (its servers are left running: the caller stops them). */
static int cluster_try(struct nats_srv *s, int n, bool keep_ports, int timeout_ms)
{
	for (int i = 0; i < n; i++) {
		if (!keep_ports || !s[i].port)
			s[i].port = nats_free_port();
		s[i].cluster_port = nats_free_port();
		s[i].http_port = nats_free_port();
		rc_assert(s[i].port > 0 && s[i].cluster_port > 0 && s[i].http_port > 0, "ports");
	}
	for (int i = 0; i < n; i++) {
		char p[16], cp[64], hp[16], routes[256] = "";
		char *argv[] = { "nats-server", "-a", "127.0.0.1", "-p", p, "-m", hp,
				 "--cluster_name", "rc", "--cluster", cp, "--routes", routes, NULL };
		size_t off = 0;

		snprintf(p, sizeof(p), "%d", s[i].port);
		snprintf(hp, sizeof(hp), "%d", s[i].http_port);
		snprintf(cp, sizeof(cp), "nats://127.0.0.1:%d", s[i].cluster_port);
		for (int j = 0; j < n; j++)
			if (j != i)
				off += (size_t)snprintf(routes + off, sizeof(routes) - off,
							"%snats://127.0.0.1:%d", off ? "," : "",
							s[j].cluster_port);
		if (n == 1)
			argv[9] = NULL;	/* no routes */
		s[i].pid = spawn(argv);
	}
	for (int i = 0; i < n; i++) {
		int fd = nats_tcp_to(s[i].port, timeout_ms);

		if (fd < 0)
			return i;
		close(fd);
	}
	/* Routes: each server sees the n - 1 others. */
	for (int i = 0; i < n && n > 1; i++) {
		int64_t end = rc_now_ms() + timeout_ms;
		char want[32], body[16384];
		bool ok = false;

		snprintf(want, sizeof(want), "\"num_routes\": %d", n - 1);
		while (!ok && rc_now_ms() < end) {
			ok = nats_monitor(&s[i], "/routez", body, sizeof(body)) == 0 &&
			     strstr(body, want);
			if (!ok)
				rc_sleep_ms(50);
		}
		if (!ok)
			return i;
	}
	for (int i = 0; i < n; i++) {
		s[i].base_subs = 0;
		s[i].base_subs = nats_wait_subs(&s[i], 0, 1);
	}
	return -1;
}

void nats_start_cluster(struct nats_srv *s, int n)
{
	int bad = 0;

	rc_assert(n >= 1 && n <= NATS_MAX_SERVERS, "cluster size");
	/* Seldom (about one start in twenty under load) the routes do not
	 * form, or a port picked free was taken before a server bound it:
	 * the cluster is started again on other ports, at most three times,
	 * rather than a test failing for NATS's start-up. */
	for (int attempt = 0; attempt < 3; attempt++) {
		bad = cluster_try(s, n, attempt == 0, rc_time_scale_ms(10000));
		if (bad < 0)
			return;
		fprintf(stderr, "nats_harness: cluster try %d: server %d (ports %d, %d, %d) not "
			"ready; starting again\n", attempt + 1, bad, s[bad].port, s[bad].cluster_port,
			s[bad].http_port);
		for (int i = 0; i < n; i++)
			nats_stop(&s[i], SIGKILL);
	}
	rc_assert(0, "nats-server %d of a cluster of %d did not get its routes in three tries "
		  "(NATS_LOG_DIR=DIR keeps the servers' logs)", bad, n);
}

void nats_stop(struct nats_srv *s, int sig)
{
	int64_t end = rc_now_ms() + 5000;
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	kill(s->pid, SIGCONT);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (rc_now_ms() >= end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		rc_sleep_ms(10);
	}
	s->pid = -1;
}

int nats_monitor(const struct nats_srv *s, const char *path, char *buf, size_t cap)
{
	char req[256];
	size_t have = 0;
	int fd = nats_tcp_to(s->http_port, 2000);
	char *body;

	if (fd < 0)
		return -1;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (rc_write_all(fd, req, strlen(req), 2000) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (have + 1 >= cap || poll(&p, 1, 2000) <= 0)
			break;
		n = read(fd, buf + have, cap - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) || !body)
		return -1;
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return 0;
}

/* Waits until c holds at least need bytes. */
static int raw_fill(struct nats_raw *c, size_t need, int64_t end)
{
	while (c->len < need) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int left = (int)(end - rc_now_ms());
		ssize_t n;

		if (left <= 0 || need > NATS_RAW_BUF)
			return -1;
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(c->fd, c->buf + c->len, NATS_RAW_BUF - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	return 0;
}

static void raw_drop(struct nats_raw *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* The next line (CRLF dropped) into line; answers PINGs. Returns its length
 * or -1. */
static int raw_line(struct nats_raw *c, char *line, size_t cap, int64_t end)
{
	for (;;) {
		unsigned char *crlf = c->len ? memmem(c->buf, c->len, "\r\n", 2) : NULL;
		size_t n;

		if (!crlf) {
			if (raw_fill(c, c->len + 1, end) < 0)
				return -1;
			continue;
		}
		n = (size_t)(crlf - c->buf);
		if (n >= cap)
			return -1;
		memcpy(line, c->buf, n);
		line[n] = '\0';
		raw_drop(c, n + 2);
		if (strcmp(line, "PING") == 0) {
			if (rc_write_all(c->fd, "PONG\r\n", 6, 1000) < 0)
				return -1;
			continue;
		}
		return (int)n;
	}
}

int nats_raw_flush(struct nats_raw *c, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	char line[8192];

	if (rc_write_all(c->fd, "PING\r\n", 6, timeout_ms) < 0)
		return -1;
	for (;;) {
		if (raw_line(c, line, sizeof(line), end) < 0)
			return -1;
		if (strcmp(line, "PONG") == 0)
			return 0;
		if (strcmp(line, "+OK"))
			return -1;
	}
}

void nats_raw_open(struct nats_raw *c, int port, const char *subject)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	char line[8192];
	char req[512];
	int fl;

	c->len = 0;
	c->fd = nats_tcp_to(port, RC_WAIT_TIMEOUT_MS);
	rc_assert(c->fd >= 0, "connect to nats-server");
	fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	rc_assert(raw_line(c, line, sizeof(line), end) > 0 && strncmp(line, "INFO ", 5) == 0,
		  "nats-server should greet with INFO");
	snprintf(req, sizeof(req), "CONNECT {\"headers\":true,\"verbose\":false}\r\n");
	if (subject)
		snprintf(req + strlen(req), sizeof(req) - strlen(req), "SUB %s 1\r\n", subject);
	rc_assert(rc_write_all(c->fd, req, strlen(req), 5000) == 0, "write CONNECT");
	rc_assert(nats_raw_flush(c, RC_WAIT_TIMEOUT_MS) == 0, "no PONG from nats-server");
}

void nats_raw_close(struct nats_raw *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

long nats_raw_msg(struct nats_raw *c, const char *subject, unsigned char *out, size_t cap,
		  char *hdrs, size_t hcap, int timeout_ms)
{
	int64_t end = rc_now_ms() + timeout_ms;
	char line[512], subj[256], sid[32];
	unsigned long h = 0, n;

	for (;;) {
		if (raw_line(c, line, sizeof(line), end) < 0)
			return -1;
		if (strcmp(line, "+OK") && strcmp(line, "PONG"))
			break;
	}
	if (sscanf(line, "HMSG %255s %31s %lu %lu", subj, sid, &h, &n) == 4) {
		if (h > n)
			return -1;
	} else if (sscanf(line, "MSG %255s %31s %lu", subj, sid, &n) != 3) {
		return -1;
	}
	if (strcmp(subj, subject) || strcmp(sid, "1") || n - h > cap)
		return -1;
	if (raw_fill(c, n + 2, end) < 0 || memcmp(c->buf + n, "\r\n", 2))
		return -1;
	if (hdrs && hcap) {
		size_t k = h < hcap - 1 ? h : hcap - 1;

		memcpy(hdrs, c->buf, k);
		hdrs[k] = '\0';
	}
	memcpy(out, c->buf + h, n - h);
	raw_drop(c, n + 2);
	return (long)(n - h);
}

int nats_raw_pub(struct nats_raw *c, const char *subject, const char *hdrs, const void *payload,
		 size_t len)
{
	char head[512];
	size_t h = hdrs ? strlen(hdrs) : 0;

	if (hdrs)
		snprintf(head, sizeof(head), "HPUB %s %zu %zu\r\n", subject, h, h + len);
	else
		snprintf(head, sizeof(head), "PUB %s %zu\r\n", subject, len);
	if (rc_write_all(c->fd, head, strlen(head), 5000) < 0 ||
	    (h && rc_write_all(c->fd, hdrs, h, 5000) < 0) ||
	    (len && rc_write_all(c->fd, payload, len, 5000) < 0) ||
	    rc_write_all(c->fd, "\r\n", 2, 5000) < 0)
		return -1;
	return 0;
}

long long nats_json_num(const char *body, const char *key)
{
	char k[128];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(body, k);
	if (!p)
		return -1;
	return strtoll(p + strlen(k), NULL, 10);
}

long long nats_wait_subs(const struct nats_srv *s, long long want, int cmp)
{
	int64_t end = rc_now_ms() + RC_WAIT_TIMEOUT_MS;
	static char body[65536];
	long long n = -1;

	do {
		if (nats_monitor(s, "/subsz", body, sizeof(body)) == 0)
			n = nats_json_num(body, "num_subscriptions") - s->base_subs;
		if (cmp ? n >= want : n == want)
			break;
		rc_sleep_ms(20);
	} while (rc_now_ms() < end);
	return n;
}

long long nats_count_subs(const struct nats_srv *s, const char *prefix)
{
	static char body[1 << 20];
	static const char key[] = "\"subject\":";
	size_t plen = strlen(prefix);
	long long n = 0;

	if (nats_monitor(s, "/subsz?subs=1&limit=100000", body, sizeof(body)) < 0 ||
	    !strstr(body, "\"num_subscriptions\""))
		return -1;
	for (const char *p = body; (p = strstr(p, key)); ) {
		p += sizeof(key) - 1;
		while (*p == ' ')
			p++;
		if (*p == '"' && strncmp(p + 1, prefix, plen) == 0)
			n++;
	}
	return n;
}
