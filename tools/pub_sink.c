/* ringcast-pub's transports; see pub_sink.h. */
#include "pub_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hostport.h"
#include "rc_version.h"
#include "url.h"

#define SINK_MAX_BATCH 64
#define CONNECT_TIMEOUT_MS 10000
#define ANSWER_TIMEOUT_MS 10000	/* OK / 100 Continue / final answer */
#define CLOSE_TIMEOUT_MS 5000	/* gateway closing after our half-close */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_init(struct pub_sink *s, enum sink_kind kind, const volatile sig_atomic_t *stop)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = -1;
	s->stop = stop;
}

/* Connects a blocking stream socket to addr within CONNECT_TIMEOUT_MS.
 * Returns the fd or negative errno. */
static int tcp_connect(const struct sockaddr_storage *addr, socklen_t len)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0, one = 1;
	socklen_t el = sizeof(err);
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, len) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto fail;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, CONNECT_TIMEOUT_MS) <= 0) {
			err = -ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
			err = err ? -err : -errno;
			goto fail;
		}
	}
	/* Blocking from here on; small messages go out at once rather than
	 * waiting for Nagle, the pacing already decided when to send. */
	if (fcntl(fd, F_SETFL, 0) < 0) {
		err = -errno;
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return err;
}

/* Reads into buf (cap - 1 bytes, kept NUL-terminated) after the `have` bytes
 * already there until `until` appears, the peer closes, or timeout_ms
 * passes (until NULL: read to EOF). Returns the new length. */
static size_t read_until(int fd, char *buf, size_t cap, size_t have, const char *until,
			 int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	buf[have] = '\0';
	while (have + 1 < cap && (until == NULL || strstr(buf, until) == NULL)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + have, cap - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
	}
	return have;
}

/* Reads one line, ending with '\n', a byte at a time: what follows it on
 * the connection (the channel's uplink, pub_uplink.h) must stay in the
 * socket for whoever reads it next. Returns the bytes read (NUL-ended). */
static size_t read_line_exact(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	size_t have = 0;

	buf[0] = '\0';
	while (have + 1 < cap && (have == 0 || buf[have - 1] != '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || recv(fd, buf + have, 1, 0) != 1)
			break;
		buf[++have] = '\0';
	}
	return have;
}

/* Prints whatever the gateway has already sent (an ERR line, an HTTP
 * answer) after a failed send, without waiting long for it. */
static void print_gateway_reason(const struct pub_sink *s)
{
	char buf[512];
	size_t n = read_until(s->fd, buf, sizeof(buf), 0, "\n", 200);

	if (n == 0)
		return;
	buf[strcspn(buf, "\r\n")] = '\0';
	fprintf(stderr, "ringcast-pub: %s answered: %s\n", s->where, buf);
}

int pub_sink_open_udp(struct pub_sink *s, const char *dest, const volatile sig_atomic_t *stop)
{
	struct sockaddr_storage dst;
	socklen_t dst_len = 0;
	char where[80];
	int r;

	sink_init(s, SINK_UDP, stop);
	r = hostport_parse(dest, 0, &dst, &dst_len);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: bad --udp '%s': %s (want HOST:PORT or [V6]:PORT)\n",
			dest, strerror(-r));
		return -EINVAL;
	}
	snprintf(s->where, sizeof(s->where), "%s", hostport_format(&dst, where, sizeof(where)));
	s->fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = -errno;
		fprintf(stderr, "ringcast-pub: socket: %s\n", strerror(-r));
		return r;
	}
	/* Connected, so the kernel reports ICMP port-unreachable as
	 * ECONNREFUSED and the person learns nothing is listening. */
	if (connect(s->fd, (struct sockaddr *)&dst, dst_len) < 0) {
		r = -errno;
		fprintf(stderr, "ringcast-pub: connect %s: %s\n", s->where, strerror(-r));
		pub_sink_close(s);
		return r;
	}
	return 0;
}

/* Connects s to dst and sends the opening bytes buf[0..len) (`what` names
 * them in the error message). Returns 0, or -errno with s closed. */
static int connect_and_send(struct pub_sink *s, const struct sockaddr_storage *dst,
			    socklen_t dst_len, const char *buf, int len, const char *what)
{
	int r = tcp_connect(dst, dst_len);

	if (r < 0) {
		fprintf(stderr, "ringcast-pub: connect %s: %s\n", s->where, strerror(-r));
		return r;
	}
	s->fd = r;
	if (send(s->fd, buf, (size_t)len, MSG_NOSIGNAL) != len) {
		r = -errno;
		fprintf(stderr, "ringcast-pub: %s: sending %s: %s\n", s->where, what, strerror(-r));
		pub_sink_close(s);
		return r;
	}
	return 0;
}

int pub_sink_open_tcp(struct pub_sink *s, const char *dest, const char *channel, bool framed,
		      const volatile sig_atomic_t *stop)
{
	struct sockaddr_storage dst;
	socklen_t dst_len = 0;
	char where[80], line[300], answer[300];
	size_t n;
	int r, len;

	sink_init(s, SINK_TCP, stop);
	s->framed = framed;
	r = hostport_parse(dest, 0, &dst, &dst_len);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: bad --tcp '%s': %s (want HOST:PORT or [V6]:PORT)\n",
			dest, strerror(-r));
		return -EINVAL;
	}
	snprintf(s->where, sizeof(s->where), "tcp %s", hostport_format(&dst, where, sizeof(where)));
	len = snprintf(line, sizeof(line), "PUB %s %s\n", channel, framed ? "framed" : "raw");
	if (len < 0 || (size_t)len >= sizeof(line)) {
		fprintf(stderr, "ringcast-pub: channel name too long\n");
		return -EINVAL;
	}
	r = connect_and_send(s, &dst, dst_len, line, len, "the PUB line");
	if (r < 0)
		return r;
	n = read_line_exact(s->fd, answer, sizeof(answer), ANSWER_TIMEOUT_MS);
	if (n >= 3 && memcmp(answer, "OK\n", 3) == 0)
		return 0;
	answer[strcspn(answer, "\r\n")] = '\0';
	if (n == 0) {
		fprintf(stderr, "ringcast-pub: %s: no answer to the PUB line\n", s->where);
		r = -ECONNABORTED;
	} else {
		fprintf(stderr, "ringcast-pub: %s refused channel '%s': %s\n", s->where, channel,
			answer);
		r = -EACCES;
	}
	pub_sink_close(s);
	return r;
}

/* The status code of an HTTP answer in buf, or -1. */
static int http_status(const char *buf)
{
	int code;

	if (strncmp(buf, "HTTP/1.", 7) != 0 || sscanf(buf + 8, " %3d", &code) != 1)
		return -1;
	return code;
}

/* buf without the interim (1xx) answers at its front. */
static const char *skip_interim(const char *buf)
{
	for (int i = 0; i < 8; i++) {
		const char *end = strstr(buf, "\r\n\r\n");
		int code = http_status(buf);

		if (code < 100 || code > 199 || end == NULL)
			break;
		buf = end + 4;
	}
	return buf;
}

/* Copies "<status line>: <first body line>" of the answer in buf into out. */
static void http_summary(const char *buf, char *out, size_t cap)
{
	const char *body = strstr(buf, "\r\n\r\n");
	int sl = (int)strcspn(buf, "\r\n");
	int bl = body ? (int)strcspn(body + 4, "\r\n") : 0;

	snprintf(out, cap, "%.*s%s%.*s", sl, buf, bl ? ": " : "", bl, body ? body + 4 : "");
}

int pub_sink_open_http(struct pub_sink *s, const char *url, const char *channel,
		       const volatile sig_atomic_t *stop)
{
	struct sockaddr_storage dst;
	socklen_t dst_len = 0;
	struct url u;
	char hp[URL_HOST_MAX + 16], path[URL_PATH_MAX + 80], req[URL_PATH_MAX + 512];
	char answer[2048];
	size_t n;
	int r, len, code;

	sink_init(s, SINK_HTTP, stop);
	r = url_parse(url, "http", 80, &u);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: bad --http '%s' (want http://HOST[:PORT]/pub/CHANNEL)\n",
			url);
		return -EINVAL;
	}
	if (strcmp(u.path, "/") == 0 && channel == NULL) {
		fprintf(stderr, "ringcast-pub: --http '%s' names no channel: add /pub/CHANNEL or "
			"--channel\n", url);
		return -EINVAL;
	}
	if (strcmp(u.path, "/") != 0 && channel != NULL) {
		fprintf(stderr, "ringcast-pub: give the channel in the --http URL or with --channel, "
			"not both\n");
		return -EINVAL;
	}
	if (channel)
		snprintf(path, sizeof(path), "/pub/%s", channel);
	else
		snprintf(path, sizeof(path), "%s", u.path);
	snprintf(hp, sizeof(hp), strchr(u.host, ':') ? "[%s]:%u" : "%s:%u", u.host, u.port);
	r = hostport_parse(hp, 0, &dst, &dst_len);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: --http '%s': cannot resolve '%s'\n", url, u.host);
		return r == -EINVAL ? -EINVAL : -EHOSTUNREACH;
	}
	snprintf(s->where, sizeof(s->where), "http://%s%s", u.authority, path);
	len = snprintf(req, sizeof(req),
		       "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringcast-pub/%s\r\n"
		       "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
		       "Connection: close\r\n\r\n",
		       path, u.authority, RC_VERSION);
	if (len < 0 || (size_t)len >= sizeof(req))
		return -EINVAL;
	r = connect_and_send(s, &dst, dst_len, req, len, "the request");
	if (r < 0)
		return r;
	/* A refusal comes instead of the 100; a server that ignores Expect
	 * stays silent, and then the body goes out anyway (RFC 9110 10.1.1). */
	n = read_until(s->fd, answer, sizeof(answer), 0, "\r\n\r\n", ANSWER_TIMEOUT_MS);
	if (n == 0)
		return 0;
	code = http_status(answer);
	if (code == 100)
		return 0;
	if (code >= 100 && code <= 199) {
		fprintf(stderr, "ringcast-pub: %s: unexpected interim answer\n", s->where);
		r = -EPROTO;
		goto fail;
	}
	n = read_until(s->fd, answer, sizeof(answer), n, NULL, 2000);
	http_summary(answer, s->answer, sizeof(s->answer));
	fprintf(stderr, "ringcast-pub: %s refused: %s\n", s->where, s->answer);
	r = -EACCES;
fail:
	pub_sink_close(s);
	return r;
}

/* Writes every byte of iov[0..cnt) (which it consumes). Returns 0, 1 when
 * *stop interrupted it, or negative errno. */
static int send_all(struct pub_sink *s, struct iovec *iov, size_t cnt)
{
	size_t total = 0;

	for (size_t i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	/* Every pass sends at least one byte or is an EINTR; a flood of
	 * signals other than ours is bounded by the same count. */
	for (size_t pass = 0; total > 0 && pass < total + 1000; pass++) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = cnt };
		ssize_t r = sendmsg(s->fd, &mh, MSG_NOSIGNAL);

		if (r < 0) {
			if (errno != EINTR)
				return -errno;
			if (*s->stop)
				return 1;
			continue;
		}
		total -= (size_t)r;
		while (r > 0 && cnt > 0) {
			if ((size_t)r >= iov->iov_len) {
				r -= (ssize_t)iov->iov_len;
				iov++;
				cnt--;
			} else {
				iov->iov_base = (char *)iov->iov_base + r;
				iov->iov_len -= (size_t)r;
				r = 0;
			}
		}
		/* skip empty entries so the next sendmsg has work */
		while (cnt > 0 && iov->iov_len == 0) {
			iov++;
			cnt--;
		}
	}
	return total == 0 ? 0 : -EIO;
}

static int send_udp(struct pub_sink *s, const struct iovec *iov, unsigned n, struct sink_stats *st)
{
	struct mmsghdr msgs[SINK_MAX_BATCH];
	unsigned off = 0;

	memset(msgs, 0, sizeof(msgs[0]) * n);
	for (unsigned i = 0; i < n; i++) {
		msgs[i].msg_hdr.msg_iov = (struct iovec *)&iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* Every pass consumes at least one datagram, except EINTR which is
	 * retried a bounded number of times. */
	for (unsigned pass = 0; off < n && pass < 2 * n + 2; pass++) {
		int r = sendmmsg(s->fd, msgs + off, n - off, 0);

		if (r < 0) {
			if (errno == EINTR) {
				if (*s->stop)
					return 0;
				continue;
			}
			if (errno == ECONNREFUSED) {
				if (st->refused == 0)
					fprintf(stderr, "ringcast-pub: warning: destination refused "
						"datagrams (nothing listening?)\n");
				st->refused++;
			} else if (errno == ENOBUFS || errno == EAGAIN) {
				st->dropped++;
			} else {
				int err = -errno;

				fprintf(stderr, "ringcast-pub: %s: send: %s\n", s->where, strerror(-err));
				return err;
			}
			off++;
			continue;
		}
		for (int i = 0; i < r; i++) {
			st->sent++;
			st->bytes += iov[off + i].iov_len;
		}
		off += (unsigned)r;
	}
	return 0;
}

int pub_sink_send(struct pub_sink *s, const struct iovec *iov, unsigned n, struct sink_stats *st)
{
	struct iovec v[3 * SINK_MAX_BATCH];
	char heads[SINK_MAX_BATCH][20];
	uint64_t bytes = 0;
	unsigned sent = 0;
	size_t cnt = 0;
	int r;

	if (n > SINK_MAX_BATCH)
		return -EINVAL;
	if (s->kind == SINK_UDP)
		return send_udp(s, iov, n, st);
	for (unsigned i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;

		if (s->kind == SINK_TCP && s->framed) {
			uint8_t *h = (uint8_t *)heads[i];

			h[0] = (uint8_t)(len >> 24);
			h[1] = (uint8_t)(len >> 16);
			h[2] = (uint8_t)(len >> 8);
			h[3] = (uint8_t)len;
			v[cnt++] = (struct iovec){ .iov_base = h, .iov_len = 4 };
		} else if (s->kind == SINK_HTTP) {
			int hl;

			if (len == 0)
				continue;
			hl = snprintf(heads[i], sizeof(heads[i]), "%zx\r\n", len);
			v[cnt++] = (struct iovec){ .iov_base = heads[i], .iov_len = (size_t)hl };
		}
		v[cnt++] = iov[i];
		if (s->kind == SINK_HTTP)
			v[cnt++] = (struct iovec){ .iov_base = "\r\n", .iov_len = 2 };
		sent++;
		bytes += len;
	}
	r = send_all(s, v, cnt);
	if (r < 0) {
		fprintf(stderr, "ringcast-pub: %s: send: %s\n", s->where, strerror(-r));
		print_gateway_reason(s);
		return r;
	}
	if (r == 1) {
		/* Cut off inside a message: ending the stream in order would
		 * publish a truncated message, so finish() just closes. */
		s->cut = true;
		return 0;
	}
	st->sent += sent;
	st->bytes += bytes;
	return 0;
}

int pub_sink_finish(struct pub_sink *s)
{
	char buf[2048];
	const char *ans;
	size_t n;
	int code;

	if (s->fd < 0 || s->kind == SINK_UDP || s->cut)
		return 0;
	if (s->kind == SINK_TCP) {
		/* Half-close and wait for the gateway's close: then it has read
		 * everything, and an ERR it sent on the way is shown. */
		shutdown(s->fd, SHUT_WR);
		n = read_until(s->fd, buf, sizeof(buf), 0, NULL, CLOSE_TIMEOUT_MS);
		if (n > 0) {
			buf[strcspn(buf, "\r\n")] = '\0';
			fprintf(stderr, "ringcast-pub: %s said: %s\n", s->where, buf);
		}
		return 0;
	}
	if (send(s->fd, "0\r\n\r\n", 5, MSG_NOSIGNAL) != 5) {
		int r = -errno;

		fprintf(stderr, "ringcast-pub: %s: ending the body: %s\n", s->where, strerror(-r));
		return r;
	}
	n = read_until(s->fd, buf, sizeof(buf), 0, NULL, ANSWER_TIMEOUT_MS);
	ans = skip_interim(buf);
	code = http_status(ans);
	if (n == 0 || code < 0) {
		fprintf(stderr, "ringcast-pub: %s: no answer after the body\n", s->where);
		return -EPROTO;
	}
	http_summary(ans, s->answer, sizeof(s->answer));
	if (code < 200 || code > 299) {
		fprintf(stderr, "ringcast-pub: %s answered: %s\n", s->where, s->answer);
		return -EPROTO;
	}
	return 0;
}

void pub_sink_close(struct pub_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
