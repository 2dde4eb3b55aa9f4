#include "nats_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "nats_proto.h"
#include "rc_version.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* Control lines (CONNECT, PING, PONG) may pass the bound by this much: a
 * buffer full of messages must not keep the connection from answering. */
#define CONTROL_SLACK 4096
/* Room for "HPUB <subject> <h> <n>\r\n" beyond the subject, and for
 * "SUB <subject> <sid>\r\n". */
#define PUB_HEAD_EXTRA 48
/* A server's -ERR lines are logged at most this often. */
#define ERR_LOG_MS 10000

#define LINK_OF(p, member) ((struct rc_nats_link *)((char *)(p) - offsetof(struct rc_nats_link, member)))

static void start_connect(struct rc_nats_link *l);
static int in_resize(struct rc_nats_link *l, size_t need);

/* Says in the worker's counters which server it is connected to (NULL:
 * none), for /metrics (state.h has the layout). */
static void show_server(struct rc_nats_link *l, const struct rc_sockaddr *a)
{
	uint64_t *w = l->stats->nats_server;

	memset(w, 0, sizeof(l->stats->nats_server));
	if (!a)
		return;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;

		w[0] = (uint64_t)AF_INET << 16 | ntohs(a4->sin_port);
		memcpy(&w[1], &a4->sin_addr, sizeof(a4->sin_addr));
	} else {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;

		w[0] = (uint64_t)AF_INET6 << 16 | ntohs(a6->sin6_port);
		memcpy(&w[1], &a6->sin6_addr, sizeof(a6->sin6_addr));
	}
}

static void set_state(struct rc_nats_link *l, enum rc_nats_state s)
{
	l->state = s;
	l->since_ms = rc_loop_now_ms(l->loop);
	/* Connected means the server took CONNECT: its first PONG came
	 * (on_proven()). */
	l->stats->nats_connected = s == RC_NATS_READY && l->proven;
	if (s != RC_NATS_READY)
		show_server(l, NULL);
}

/* The outbound bytes not yet written, for /metrics. */
static void count_queued(struct rc_nats_link *l)
{
	l->stats->nats_out_queued = l->out.fill.len + l->out.flight.len - l->out.off;
}

static void arm_retry(struct rc_nats_link *l, uint64_t ms)
{
	if (l->retry_armed || l->stopped)
		return;
	if (rc_loop_timer_arm(l->loop, &l->retry_timer, ms) == 0)
		l->retry_armed = true;
	else
		rc_log_error("nats: cannot arm the reconnect timer");
}

static size_t server_count(const struct rc_nats_link *l)
{
	return l->servers->len + l->nfound;
}

static const struct rc_sockaddr *server_at(const struct rc_nats_link *l, size_t i)
{
	return i < l->servers->len ? &l->servers->servers[i] : &l->found[i - l->servers->len];
}

/* The attempt on the current server failed, or its connection was lost:
 * the next server is tried at once (a dead server must not hold the worker
 * back while another answers), and only after a whole round of failures in
 * a row does the backoff apply. */
static void next_server(struct rc_nats_link *l)
{
	size_t n = server_count(l);
	uint64_t delay = 0;

	l->cur = (l->cur % n + 1) % n;
	if (++l->fails >= n) {
		l->fails = 0;
		delay = l->backoff_ms;
		l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								  : l->backoff_ms * 2;
		if (!l->round_logged && !l->stopped)
			rc_log_warn("nats: worker %u: none of the %zu servers took a connection; "
				    "trying again in %llu ms, then at most every %d ms", l->worker,
				    n, (unsigned long long)delay, BACKOFF_MAX_MS);
		l->round_logged = true;
	}
	arm_retry(l, delay);
}

/* The socket's operations have all ended after a failure: close it and
 * try the next server. */
static void maybe_closed(struct rc_nats_link *l)
{
	if (l->state != RC_NATS_CLOSING || l->inflight)
		return;
	/* No send reads the buffers any more: large ones can go, and so can
	 * a read buffer grown for a long message. */
	rc_nats_outbuf_trim(&l->out);
	in_resize(l, 0);
	close(l->fd);
	l->fd = -1;
	set_state(l, RC_NATS_IDLE);
	next_server(l);
}

static void count_fault(struct rc_nats_link *l, enum rc_nats_fault f)
{
	l->stats->nats_faults[f]++;
}

/* The connection is lost (err < 0: why; 0: what says it all) or being
 * stopped: what it held is dropped and counted, the fault f too (none:
 * RC_NATS_FAULTS; a loss after an -ERR is that -ERR's, counted already),
 * its operations are ended, then maybe_closed(). */
static void link_fail(struct rc_nats_link *l, enum rc_nats_fault f, const char *what, int err)
{
	if (l->state == RC_NATS_IDLE || l->state == RC_NATS_CLOSING)
		return;
	if (f < RC_NATS_FAULTS && !(f == RC_NATS_FAULT_LOST && l->err_seen))
		count_fault(l, f);
	/* The first failure of an outage is worth a warning; the attempts
	 * that follow it, server after server, only a debug line each. */
	if (!l->stopped)
		rc_log(l->quiet ? RC_LOG_DEBUG : RC_LOG_WARN, "nats: worker %u, %s: %s%s%s%s",
		       l->worker, l->addr_text, what, err ? ": " : "", err ? strerror(-err) : "",
		       server_count(l) > 1 ? " (trying the next server)" : "");
	l->quiet = true;
	l->stats->nats_dropped += rc_nats_outbuf_clear(&l->out);
	count_queued(l);
	l->in_len = 0;
	l->pings_out = 0;
	set_state(l, RC_NATS_CLOSING);
	if (l->inflight) {
		/* A read ends on the shutdown, a send fails; the cancel covers
		 * a connect still in flight. */
		shutdown(l->fd, SHUT_RDWR);
		rc_loop_cancel_fd(l->loop, l->fd);
	}
	maybe_closed(l);
}

/* Sends what is left of the flight buffer (from out.off): the one send in
 * flight; its memory stays until its completion (rc_nats_outbuf_clear()
 * keeps it). */
static void send_flight(struct rc_nats_link *l)
{
	int ret = rc_loop_send(l->loop, &l->send_io, l->fd, l->out.flight.data + l->out.off,
			       l->out.flight.len - l->out.off, 0);

	if (ret < 0) {
		link_fail(l, RC_NATS_FAULT_LOST, "send", ret);
		return;
	}
	l->sending = true;
	l->inflight++;
}

static void send_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_nats_link *l = LINK_OF(io, send_io);
	uint64_t msgs = 0;

	(void)loop;
	l->inflight--;
	l->sending = false;
	if (l->state != RC_NATS_READY) {
		maybe_closed(l);
		return;
	}
	if (cqe->res < 0) {
		link_fail(l, RC_NATS_FAULT_LOST, "send", cqe->res);
		return;
	}
	l->stats->nats_bytes_out += (uint64_t)cqe->res;
	l->written += (uint64_t)cqe->res;
	if (rc_nats_outbuf_sent(&l->out, (size_t)cqe->res, &msgs)) {
		l->stats->nats_msgs_out += msgs;
		if (!rc_nats_outbuf_take(&l->out)) {
			count_queued(l);
			return;
		}
	}
	count_queued(l);
	send_flight(l);
}

/* Deferred (one send per turn at most): sends what the turn queued. */
static void flush(struct rc_loop *loop, struct rc_deferred *d)
{
	struct rc_nats_link *l = LINK_OF(d, flush);

	(void)loop;
	if (l->sending || l->state != RC_NATS_READY || !rc_nats_outbuf_take(&l->out))
		return;
	send_flight(l);
}

static void want_flush(struct rc_nats_link *l)
{
	if (!l->sending && !rc_deferred_queued(&l->flush))
		rc_loop_defer_send(l->loop, &l->flush);
}

/* Queues a control line made by enc. CONNECT, PING and PONG (slack) may
 * pass the bound by CONTROL_SLACK, kept for them: SUB, UNSUB and requests,
 * which their callers retry, stay within it. Returns 0 or -ENOBUFS. */
static int queue_line(struct rc_nats_link *l, const char *what, ssize_t n, bool slack)
{
	size_t extra = slack ? CONTROL_SLACK : 0;
	char *p;

	if (n < 0)
		return (int)n;
	l->out.limit += extra;
	p = rc_nats_outbuf_reserve(&l->out, (size_t)n);
	l->out.limit -= extra;
	if (!p)
		return -ENOBUFS;
	memcpy(p, what, (size_t)n);
	rc_nats_outbuf_commit(&l->out, (size_t)n, 0);
	count_queued(l);
	want_flush(l);
	return 0;
}

static int queue_control(struct rc_nats_link *l, const char *what, ssize_t n)
{
	return queue_line(l, what, n, true);
}

static int queue_ping(struct rc_nats_link *l, bool pong)
{
	char line[8];
	ssize_t n = pong ? rc_nats_encode_pong(line, sizeof(line))
			 : rc_nats_encode_ping(line, sizeof(line));

	return queue_control(l, line, n);
}

/* True when a is configured or among found[0..n). */
static bool server_known(const struct rc_nats_link *l, const struct rc_sockaddr *a, size_t n)
{
	for (size_t i = 0; i < l->servers->len + n; i++) {
		const struct rc_sockaddr *b = i < l->servers->len ? &l->servers->servers[i]
								  : &l->found[i - l->servers->len];

		if (a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0)
			return true;
	}
	return false;
}

/* The servers of the cluster as an INFO announces them ("host:port"):
 * those with a numeric address that are not configured replace what an
 * earlier INFO said (a server that left is dropped from the list). An INFO
 * without connect_urls changes nothing. */
static void learn_servers(struct rc_nats_link *l, const struct rc_nats_info *info)
{
	const struct rc_nats_json_value *urls = &info->connect_urls;
	struct rc_nats_json_iter it;
	struct rc_nats_json_value v;
	size_t n = 0;

	if (urls->type != RC_NATS_JSON_ARRAY ||
	    rc_nats_json_open(&it, urls->raw, urls->raw_len) < 0)
		return;
	while (n < RC_NATS_FOUND_MAX && rc_nats_json_next(&it, NULL, &v) == 1) {
		char text[80];
		const char *p = text;
		ssize_t len = rc_nats_json_unescape(text, sizeof(text), v.raw, v.raw_len);
		struct rc_sockaddr a;

		if (len > 7 && memcmp(text, "nats://", 7) == 0) {
			p += 7;
			len -= 7;
		}
		/* A name would need a lookup, which ringcast never does. */
		if (len <= 0 || rc_config_parse_addr(p, (size_t)len, &a) < 0) {
			rc_log_debug("nats: worker %u: skipped a server announced as '%.*s' "
				     "(not a numeric address)", l->worker,
				     (int)(v.raw_len < 80 ? v.raw_len : 80), v.raw);
			continue;
		}
		if (!server_known(l, &a, n))
			l->found[n++] = a;
	}
	l->nfound = n;
}

/* A server ringcast cannot use as it is (it wants TLS, or credentials
 * that were not given): said once per outage at error level, since only
 * the operator can fix it, then the next server is tried. */
static int refuse_server(struct rc_nats_link *l, enum rc_nats_fault f, const char *why)
{
	count_fault(l, f);
	if (!l->refusal_logged)
		rc_log_error("nats: worker %u, %s: %s", l->worker, l->addr_text, why);
	else
		rc_log_debug("nats: worker %u, %s: %s", l->worker, l->addr_text, why);
	l->refusal_logged = true;
	/* The failure is said: link_fail() need not say it again. */
	l->quiet = true;
	return -EPROTONOSUPPORT;
}

/* The server's INFO: CONNECT goes out (with --nats-creds's credentials
 * when the server asks for some, and only then), with a PING whose PONG
 * says the server took it, and the link is ready. */
static int on_info(struct rc_nats_link *l, const struct rc_nats_event *ev)
{
	struct rc_nats_connect c = { .name = "ringcast", .version = RC_VERSION };
	const struct rc_config_nats *cfg = l->servers;
	struct rc_nats_info info;
	char line[RC_NATS_MAX_CONTROL_LINE];
	int ret = rc_nats_info_parse(ev->text, ev->text_len, &info);

	if (ret < 0) {
		count_fault(l, RC_NATS_FAULT_PROTOCOL);
		return ret;
	}
	learn_servers(l, &info);
	if (l->state != RC_NATS_HANDSHAKE)
		return 0;	/* a later INFO (cluster changes): only its servers */
	if (info.tls_required)
		return refuse_server(l, RC_NATS_FAULT_TLS,
				     "the server requires TLS, which ringcast does not speak: run a "
				     "NATS leaf node beside ringcast and point --nats at it");
	if (info.auth_required && !cfg->token[0] && !cfg->user[0])
		return refuse_server(l, RC_NATS_FAULT_NO_CREDS,
				     "the server requires authentication and no credentials were "
				     "given: see --nats-creds");
	if (info.auth_required) {
		c.user = cfg->user[0] ? cfg->user : NULL;
		c.pass = cfg->pass[0] ? cfg->pass : NULL;
		c.auth_token = cfg->token[0] ? cfg->token : NULL;
	}
	/* What a server says it accepts bounds what it may send: its INFO
	 * cannot make one message take more than RC_NATS_PAYLOAD_CAP here. */
	l->max_payload = info.max_payload ? info.max_payload : RC_NATS_MAX_PAYLOAD;
	if (l->max_payload > RC_NATS_PAYLOAD_CAP)
		l->max_payload = RC_NATS_PAYLOAD_CAP;
	l->headers = info.headers;
	ret = queue_control(l, line, rc_nats_encode_connect(line, sizeof(line), &c));
	/* The secret is in the outbound buffer now, and only there. */
	explicit_bzero(line, sizeof(line));
	if (ret == 0)
		ret = queue_ping(l, false);
	if (ret < 0)
		return ret;
	l->proven = false;
	set_state(l, RC_NATS_READY);
	l->pings_out = 1;
	if (l->ops.ready)
		l->ops.ready(l->ops.arg);
	return 0;
}

/* The first PONG of a connection: the server took CONNECT (one that
 * refuses it, e.g. for its credentials, says -ERR and closes instead), so
 * the outage is over: the round and the backoff start again, and a
 * connection made again is counted. */
static void on_proven(struct rc_nats_link *l)
{
	l->proven = true;
	l->stats->nats_connected = 1;
	show_server(l, &l->addr);
	l->fails = 0;
	l->backoff_ms = BACKOFF_MIN_MS;
	if (l->was_ready)
		l->stats->nats_reconnects++;
	rc_log_info("nats: worker %u %sconnected to %s (max_payload %llu; servers known: %zu)",
		    l->worker, l->was_ready ? "re" : "", l->addr_text,
		    (unsigned long long)l->max_payload, server_count(l));
	l->was_ready = true;
	l->quiet = false;
	l->round_logged = false;
	l->refusal_logged = false;
}

/* What a -ERR's text says: the ones that end the connection or need the
 * operator are told apart (nats-server's texts, any case). */
static enum rc_nats_fault err_reason(const char *text, size_t len)
{
	static const struct {
		const char *prefix;
		enum rc_nats_fault f;
	} known[] = {
		{ "slow consumer", RC_NATS_FAULT_SLOW_CONSUMER },
		{ "stale connection", RC_NATS_FAULT_STALE },
		{ "authorization", RC_NATS_FAULT_AUTH },	/* Violation, Timeout */
		{ "authentication", RC_NATS_FAULT_AUTH },	/* Timeout, Expired, Revoked */
		{ "user authentication", RC_NATS_FAULT_AUTH },	/* Expired, Revoked */
		{ "permissions violation", RC_NATS_FAULT_PERMISSIONS },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		size_t n = strlen(known[i].prefix);

		if (len >= n && strncasecmp(text, known[i].prefix, n) == 0)
			return known[i].f;
	}
	return RC_NATS_FAULT_OTHER_ERR;
}

/* A -ERR: counted by reason and logged, at most one line every
 * ERR_LOG_MS (the rest are counted and said in the next line); the server
 * usually closes the connection after it, a loss that is this -ERR's. */
static void on_err(struct rc_nats_link *l, const struct rc_nats_event *ev)
{
	enum rc_nats_fault f = err_reason(ev->text, ev->text_len);
	uint64_t now = rc_loop_now_ms(l->loop);
	const char *hint = "";

	l->stats->nats_errors++;
	count_fault(l, f);
	l->err_seen = true;
	if (l->err_logged && now - l->err_log_ms < ERR_LOG_MS) {
		l->errs_unlogged++;
		return;
	}
	switch (f) {
	case RC_NATS_FAULT_SLOW_CONSUMER:
		hint = ": ringcast did not read fast enough (a worker held up, or more "
		       "messages from other nodes than it can take)";
		break;
	case RC_NATS_FAULT_STALE:
		hint = ": the server's PINGs went unanswered (a worker held up?)";
		break;
	case RC_NATS_FAULT_AUTH:
		hint = ": check --nats-creds against the server's users";
		break;
	case RC_NATS_FAULT_PERMISSIONS:
		hint = ": the NATS user may not publish or subscribe to --nats-prefix's subjects";
		break;
	default:
		break;
	}
	rc_log(f == RC_NATS_FAULT_AUTH || f == RC_NATS_FAULT_PERMISSIONS ? RC_LOG_ERROR
									 : RC_LOG_WARN,
	       "nats: worker %u, %s: server error '%.*s'%s (%llu more not logged)", l->worker,
	       l->addr_text, (int)ev->text_len, ev->text, hint,
	       (unsigned long long)l->errs_unlogged);
	l->err_logged = true;
	l->err_log_ms = now;
	l->errs_unlogged = 0;
}

/* Handles every complete item in the input. Returns 0 or -errno (the
 * connection must go). */
/* Gives the input buffer room for need bytes (one message longer than
 * what is kept between messages), or, with need 0, shrinks it back once it
 * is empty. Returns 0 or -ENOMEM. */
static int in_resize(struct rc_nats_link *l, size_t need)
{
	size_t cap = need ? need : RC_NATS_IN_CAP;
	char *p;

	if (cap == l->in_cap || (!need && l->in_len))
		return 0;
	/* Past --max-memory a long message is not taken in: the connection
	 * goes (and comes back), as it would for a slow consumer. */
	if (cap > l->in_cap && rc_mem_over())
		return -ENOBUFS;
	p = realloc(l->in, cap);
	if (!p)
		return -ENOMEM;
	rc_mem_charge(cap);
	rc_mem_uncharge(l->in_cap);
	l->in = p;
	l->in_cap = cap;
	return 0;
}

static int parse_input(struct rc_nats_link *l)
{
	/* Before INFO the server's max_payload is not known: its default. */
	uint64_t max_payload = l->max_payload ? l->max_payload : RC_NATS_MAX_PAYLOAD;
	const struct rc_nats_limits lim = { .max_control_line = RC_NATS_IN_CAP - 2,
					    .max_payload = max_payload,
					    .side = RC_NATS_FROM_SERVER };
	size_t off = 0;
	int ret = 0;

	while (off < l->in_len) {
		struct rc_nats_event ev;

		ret = rc_nats_parse(&lim, l->in + off, l->in_len - off, &ev);
		if (ret == -EAGAIN) {
			/* One message longer than the buffer: it grows for it
			 * (the parser has bounded need by max_payload and the
			 * control line). */
			ret = 0;
			if (ev.need > l->in_cap) {
				memmove(l->in, l->in + off, l->in_len - off);
				l->in_len -= off;
				off = 0;
				ret = in_resize(l, ev.need);
			}
			break;
		}
		if (ret < 0) {
			count_fault(l, RC_NATS_FAULT_PROTOCOL);
			break;
		}
		off += ev.size;
		switch (ev.op) {
		case RC_NATS_OP_INFO:
			ret = on_info(l, &ev);
			break;
		case RC_NATS_OP_PING:
			ret = queue_ping(l, true);
			break;
		case RC_NATS_OP_PONG:
			l->pings_out = 0;
			if (!l->proven && l->state == RC_NATS_READY)
				on_proven(l);
			break;
		case RC_NATS_OP_ERR:
			on_err(l, &ev);
			break;
		case RC_NATS_OP_MSG:
		case RC_NATS_OP_HMSG:
			if (l->ops.msg && l->state == RC_NATS_READY)
				l->ops.msg(l->ops.arg, &ev);
			break;
		default:	/* +OK */
			break;
		}
		if (ret < 0)
			break;
	}
	if (ret < 0 && ret != -ENOBUFS)
		l->stats->nats_errors++;
	memmove(l->in, l->in + off, l->in_len - off);
	l->in_len -= off;
	if (ret == 0 && !l->in_len && l->in_cap > RC_NATS_IN_CAP)
		in_resize(l, 0);
	return ret;
}

static int arm_read(struct rc_nats_link *l)
{
	/* The buffer is the link's: it does not move or shrink while this
	 * read is in flight (in_resize() runs from the read's completion
	 * only), and read_done() gets it back. */
	int ret = rc_loop_read(l->loop, &l->read_io, l->fd, l->in + l->in_len,
			       (unsigned)(l->in_cap - l->in_len));

	if (ret == 0) {
		l->reading = true;
		l->inflight++;
	}
	return ret;
}

static void read_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_nats_link *l = LINK_OF(io, read_io);
	int ret;

	(void)loop;
	l->inflight--;
	l->reading = false;
	if (l->state != RC_NATS_HANDSHAKE && l->state != RC_NATS_READY) {
		maybe_closed(l);
		return;
	}
	if (cqe->res <= 0) {
		/* Without an -ERR first, nothing tells a server shutting down
		 * from one that cut ringcast off as a slow consumer (nats-server
		 * sends no -ERR for that): its log and /connz?state=closed say
		 * which. */
		link_fail(l, RC_NATS_FAULT_LOST,
			  cqe->res ? "read"
			  : l->err_seen || !l->proven ? "the server closed the connection"
			  : "the server closed the connection without a word (shut down, or "
			    "cut ringcast off as a slow consumer: its log and /connz?state=closed "
			    "say which)", cqe->res);
		return;
	}
	l->in_len += (size_t)cqe->res;
	l->stats->nats_bytes_in += (uint64_t)cqe->res;
	ret = parse_input(l);
	if (ret == 0) {
		ret = arm_read(l);
		if (ret < 0)
			link_fail(l, RC_NATS_FAULT_LOST, "read", ret);
	} else {
		/* parse_input() counted what it found. */
		link_fail(l, RC_NATS_FAULTS, "protocol", ret);
	}
}

static void connect_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_nats_link *l = LINK_OF(io, connect_io);
	int one = 1;
	int ret;

	(void)loop;
	l->inflight--;
	if (l->state != RC_NATS_CONNECTING) {
		maybe_closed(l);
		return;
	}
	if (cqe->res < 0) {
		link_fail(l, RC_NATS_FAULT_CONNECT, "connect", cqe->res);
		return;
	}
	/* PUBs of one turn leave in one send already: no need to wait for
	 * more. */
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_state(l, RC_NATS_HANDSHAKE);
	ret = arm_read(l);
	if (ret < 0)
		link_fail(l, RC_NATS_FAULT_LOST, "read", ret);
}

static void start_connect(struct rc_nats_link *l)
{
	int ret;

	l->addr = *server_at(l, l->cur % server_count(l));
	rc_config_format_addr((const struct sockaddr *)&l->addr.ss, l->addr_text,
			      sizeof(l->addr_text));
	l->err_seen = false;
	l->fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = rc_loop_connect(l->loop, &l->connect_io, l->fd, (const struct sockaddr *)&l->addr.ss,
			      l->addr.len);
	if (ret < 0)
		goto fail;
	l->inflight++;
	set_state(l, RC_NATS_CONNECTING);
	return;

fail:
	count_fault(l, RC_NATS_FAULT_CONNECT);
	rc_log(l->quiet ? RC_LOG_DEBUG : RC_LOG_WARN, "nats: worker %u, %s: connect: %s",
	       l->worker, l->addr_text, strerror(-ret));
	l->quiet = true;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	next_server(l);
}

static void retry_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_nats_link *l = LINK_OF(io, retry_timer.io);

	(void)loop;
	(void)cqe;
	l->retry_armed = false;
	if (!l->stopped && l->state == RC_NATS_IDLE)
		start_connect(l);
}

static void ping_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_nats_link *l = LINK_OF(io, ping_timer.io);
	uint64_t now = rc_loop_now_ms(loop);

	/* A PING queued behind a backlog of PUBs cannot be answered before
	 * they are written: while bytes were queued and the writes went on
	 * since the last tick, the server is reading, slow but alive. */
	bool progress = l->backlog_at_tick && l->written != l->written_at_tick;
	/* A tick that comes late says this loop was held up (a long turn, a
	 * loaded machine), not the server: its PONG may be waiting unread
	 * behind this completion, so the tick does not count against it. */
	bool late = now - l->tick_ms > RC_NATS_PING_MS * 3 / 2;

	(void)cqe;
	l->ping_armed = false;
	l->tick_ms = now;
	l->written_at_tick = l->written;
	l->backlog_at_tick = l->out.fill.len || l->out.flight.len;
	if (l->stopped)
		return;
	if ((l->state == RC_NATS_CONNECTING || l->state == RC_NATS_HANDSHAKE) &&
	    now - l->since_ms >= RC_NATS_CONNECT_MS)
		link_fail(l, RC_NATS_FAULT_CONNECT,
			  l->state == RC_NATS_CONNECTING ? "connect" : "no INFO", -ETIMEDOUT);
	else if (l->state == RC_NATS_READY && l->pings_out >= 2 && !progress && !late)
		link_fail(l, RC_NATS_FAULT_PING, "no PONG to two PINGs", -ETIMEDOUT);
	else if (l->state == RC_NATS_READY && queue_ping(l, false) == 0)
		l->pings_out = progress || late ? 1 : l->pings_out + 1;
	else if (l->state == RC_NATS_IDLE && !l->retry_armed)
		start_connect(l);	/* the retry timer could not be armed */
	if (rc_loop_timer_arm(loop, &l->ping_timer, RC_NATS_PING_MS) == 0)
		l->ping_armed = true;
}

int rc_nats_link_start(struct rc_nats_link *l, struct rc_loop *loop,
		       const struct rc_config_nats *servers, uint32_t worker,
		       struct rc_server_stats *stats, const struct rc_nats_link_ops *ops)
{
	int ret;

	memset(l, 0, sizeof(*l));
	if (ops)
		l->ops = *ops;
	l->loop = loop;
	l->stats = stats;
	l->servers = servers;
	l->worker = worker;
	l->fd = -1;
	if (!servers->len) {
		ret = -EINVAL;
		goto fail;
	}
	/* Workers start at different servers, so their connections spread
	 * over the cluster. */
	l->cur = worker % servers->len;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->connect_io.fn = connect_done;
	l->read_io.fn = read_done;
	l->send_io.fn = send_done;
	l->ping_timer.io.fn = ping_done;
	l->retry_timer.io.fn = retry_done;
	l->flush.fn = flush;
	rc_nats_outbuf_init(&l->out, RC_NATS_OUT_LIMIT);
	set_state(l, RC_NATS_IDLE);
	ret = in_resize(l, RC_NATS_IN_CAP);
	if (ret < 0)
		goto fail;
	ret = rc_loop_timer_arm(loop, &l->ping_timer, RC_NATS_PING_MS);
	if (ret < 0)
		goto fail;
	l->ping_armed = true;
	l->tick_ms = rc_loop_now_ms(loop);
	start_connect(l);
	return 0;

fail:
	l->stopped = true;
	return ret;
}

int rc_nats_link_publish(struct rc_nats_link *l, const char *subject, const char *hdrs,
			 size_t hdr_len, const void *payload, size_t len)
{
	size_t slen = strlen(subject);
	size_t need = slen + PUB_HEAD_EXTRA + hdr_len + len + 2;
	ssize_t n;
	char *p;
	int ret;

	if (l->state != RC_NATS_READY) {
		ret = -ENOTCONN;
		goto fail;
	}
	/* A server without headers gets the payload alone (no envelope:
	 * its receivers take it unnumbered). */
	if (!l->headers) {
		hdrs = NULL;
		hdr_len = 0;
	}
	if (hdr_len + len > l->max_payload) {
		ret = -EMSGSIZE;
		goto fail;
	}
	/* The process is over its memory bound: NATS gives way first. */
	if (rc_mem_over()) {
		ret = -ENOBUFS;
		goto fail;
	}
	p = rc_nats_outbuf_reserve(&l->out, need);
	if (!p) {
		ret = -ENOBUFS;
		goto fail;
	}
	n = hdrs ? rc_nats_encode_hpub(p, need, subject, NULL, hdrs, hdr_len, payload, len)
		 : rc_nats_encode_pub(p, need, subject, NULL, payload, len);
	if (n < 0) {
		ret = (int)n;
		goto fail;
	}
	rc_nats_outbuf_commit(&l->out, (size_t)n, 1);
	count_queued(l);
	want_flush(l);
	return 0;

fail:
	l->stats->nats_dropped++;
	return ret;
}

int rc_nats_link_sub(struct rc_nats_link *l, const char *subject, uint64_t sid)
{
	char line[RC_NATS_MAX_CONTROL_LINE];

	if (l->state != RC_NATS_READY)
		return -ENOTCONN;
	return queue_line(l, line, rc_nats_encode_sub(line, sizeof(line), subject, NULL, sid), false);
}

int rc_nats_link_sub_queue(struct rc_nats_link *l, const char *subject, const char *queue,
			   uint64_t sid)
{
	char line[RC_NATS_MAX_CONTROL_LINE];

	if (l->state != RC_NATS_READY)
		return -ENOTCONN;
	return queue_line(l, line, rc_nats_encode_sub(line, sizeof(line), subject, queue, sid), false);
}

int rc_nats_link_request(struct rc_nats_link *l, const char *subject, const char *reply)
{
	char line[RC_NATS_MAX_CONTROL_LINE];

	if (l->state != RC_NATS_READY)
		return -ENOTCONN;
	return queue_line(l, line, rc_nats_encode_pub(line, sizeof(line), subject, reply, "", 0), false);
}

int rc_nats_link_unsub(struct rc_nats_link *l, uint64_t sid)
{
	char line[64];

	if (l->state != RC_NATS_READY)
		return -ENOTCONN;
	return queue_line(l, line, rc_nats_encode_unsub(line, sizeof(line), sid, 0), false);
}

void rc_nats_link_stop(struct rc_nats_link *l)
{
	if (l->stopped)
		return;
	l->stopped = true;
	link_fail(l, RC_NATS_FAULTS, "stopped", -ECANCELED);
	if (l->ping_armed)
		rc_loop_cancel(l->loop, &l->ping_timer.io);
	if (l->retry_armed)
		rc_loop_cancel(l->loop, &l->retry_timer.io);
}

bool rc_nats_link_busy(const struct rc_nats_link *l)
{
	return l->inflight || l->ping_armed || l->retry_armed || l->fd >= 0;
}

void rc_nats_link_fini(struct rc_nats_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->stats->nats_connected = 0;
	show_server(l, NULL);
	rc_nats_outbuf_fini(&l->out);
	free(l->in);
	rc_mem_uncharge(l->in_cap);
	l->in = NULL;
	l->in_cap = 0;
}
