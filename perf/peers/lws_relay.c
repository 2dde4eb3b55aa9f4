/* peer-lws: the relay a C developer writes with libwebsockets' server API
 * (4.1), as a benchmark peer of ringcast (perf/bench-peers.sh).
 *
 * One lws context, one explicit vhost listening on --listen. Protocol 0
 * ("ringcast-sub") is the vhost's default, so a plain WebSocket upgrade of
 * GET /ws/<channel> with no subprotocol lands on it. Each UDP port is a
 * socket we bind ourselves and hand to the lws event loop with
 * lws_adopt_descriptor_vhost_via_info() as a raw descriptor: lws polls it and
 * calls LWS_CALLBACK_RAW_RX_FILE, and we drain it with recv(). (lws's own UDP
 * adoption reads one datagram per wakeup and takes a zero-length one for a
 * hang-up, so it cannot carry empty messages.)
 *
 * A datagram is copied once into a reference-counted message with LWS_PRE
 * bytes of headroom; each subscriber's lws_ring holds pointers to messages,
 * so fan-out costs one pointer per subscriber, and lws_callback_on_writable()
 * asks for the writes. In SERVER_WRITEABLE a subscriber writes several queued
 * messages, checking lws_partial_buffered() after each write as lws-ws-state.h
 * prescribes. A subscriber whose ring is full or holds more than 4 MiB is
 * dropped (counted), like peer-epoll's. */
#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer_common.h"

#define PROG "peer-lws"
#define RING_SLOTS 4096		/* messages queued per subscriber, like ringcast's 4096 buffers */
#define WRITES_PER_WAKE 64	/* messages written in one SERVER_WRITEABLE */
#define READS_PER_WAKE 64	/* datagrams taken in one RAW_RX_FILE */

struct msg {
	unsigned refs;
	size_t len;
	unsigned char buf[];	/* LWS_PRE headroom for lws_write's header, then len bytes */
};

/* Per-session data of "ringcast-sub", allocated and zeroed by lws. */
struct sub {
	struct lws *wsi;
	struct peer_chan *ch;	/* set when the upgrade is accepted */
	size_t ch_idx;
	bool subscribed;	/* in ch->subs */
	bool doomed;		/* dropped for backlog; lws closes it soon */
	struct lws_ring *ring;	/* of struct msg * */
	size_t queued;		/* payload bytes in ring */
};

struct counters {
	uint64_t upgraded, rejected, slow_drops, write_errors;
	uint64_t datagrams, truncated, nomem;
};

struct app {
	bool stop;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct peer_chans chans;
	struct peer_port ports[PEER_MAX_PORTS];
	unsigned nports;
	struct peer_port sig;
	unsigned char *rx;	/* PEER_MAX_DGRAM bytes */
	struct counters n;
};

static struct app *app_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static void msg_unref(struct msg *m)
{
	if (--m->refs == 0)
		free(m);
}

/* Empties a subscriber's ring, releasing its references. */
static void sub_drain(struct sub *s)
{
	const void *e;

	/* Bounded by the ring's size. */
	for (int k = 0; k < RING_SLOTS && (e = lws_ring_get_element(s->ring, NULL)) != NULL; k++) {
		struct msg *m = *(struct msg *const *)e;

		lws_ring_consume(s->ring, NULL, NULL, 1);
		s->queued -= m->len;
		msg_unref(m);
	}
}

static void fanout(struct app *a, struct peer_chan *ch, struct msg *m)
{
	for (size_t i = 0; i < ch->nsubs; i++) {
		struct sub *s = ch->subs[i];

		if (s->doomed)
			continue;
		if (s->queued + m->len > PEER_MAX_BACKLOG ||
		    lws_ring_insert(s->ring, &m, 1) != 1) {
			/* Closing from outside its own callback: lws does it at
			 * its next timeout check; until then it gets nothing. */
			s->doomed = true;
			a->n.slow_drops++;
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			continue;
		}
		m->refs++;
		s->queued += m->len;
		lws_callback_on_writable(s->wsi);
	}
}

static void udp_readable(struct app *a, struct peer_port *p)
{
	for (int k = 0; k < READS_PER_WAKE; k++) {
		ssize_t len = recv(p->fd, a->rx, PEER_MAX_DGRAM, MSG_TRUNC | MSG_DONTWAIT);
		struct msg *m;

		if (len < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				lwsl_err("%s: udp recv: %s\n", PROG, strerror(errno));
			return;
		}
		a->n.datagrams++;
		if (len > PEER_MAX_DGRAM) {
			a->n.truncated++;	/* MSG_TRUNC: a cut payload would not be byte-identical */
			continue;
		}
		if (p->ch->nsubs == 0)
			continue;
		m = malloc(sizeof(*m) + LWS_PRE + (size_t)len);
		if (m == NULL) {
			a->n.nomem++;
			continue;
		}
		m->refs = 1;	/* ours, until fan-out is done */
		m->len = (size_t)len;
		memcpy(m->buf + LWS_PRE, a->rx, (size_t)len);
		fanout(a, p->ch, m);
		msg_unref(m);
	}
}

static int sub_writeable(struct app *a, struct sub *s)
{
	for (int k = 0; k < WRITES_PER_WAKE; k++) {
		const void *e = lws_ring_get_element(s->ring, NULL);
		struct msg *m;
		size_t len;
		int n;

		if (e == NULL)
			return 0;
		m = *(struct msg *const *)e;
		len = m->len;
		/* lws_write puts the frame header into the LWS_PRE bytes in
		 * front of the payload. Every subscriber writes the same
		 * header there, so sharing the message is safe. */
		n = lws_write(s->wsi, m->buf + LWS_PRE, len, LWS_WRITE_BINARY);
		lws_ring_consume(s->ring, NULL, NULL, 1);
		s->queued -= len;
		msg_unref(m);
		if (n < (int)len) {
			a->n.write_errors++;
			return -1;
		}
		if (lws_partial_buffered(s->wsi))
			break;
	}
	if (lws_ring_get_element(s->ring, NULL) != NULL)
		lws_callback_on_writable(s->wsi);
	return 0;
}

static int cb_sub(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct sub *s = user;
	struct app *a;
	char uri[256];
	const char *name;
	size_t name_len;
	long idx;
	int n;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		/* Only WebSocket subscribers are served. */
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return -1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		a = app_of(wsi);
		n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
		if (n < 0 || peer_target_channel(uri, (size_t)n, &name, &name_len) < 0) {
			a->n.rejected++;
			return 1;
		}
		s->ch = peer_chan_get(&a->chans, name, name_len, true);
		if (s->ch == NULL) {
			a->n.rejected++;
			return 1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		a = app_of(wsi);
		s->wsi = wsi;
		s->ring = lws_ring_create(sizeof(struct msg *), RING_SLOTS, NULL);
		if (s->ring == NULL || s->ch == NULL)
			return -1;
		idx = peer_chan_add(s->ch, s);
		if (idx < 0)
			return -1;
		s->ch_idx = (size_t)idx;
		s->subscribed = true;
		a->n.upgraded++;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (s->doomed)
			return -1;
		return sub_writeable(app_of(wsi), s);
	case LWS_CALLBACK_CLOSED:
		if (s->subscribed) {
			struct sub *moved = peer_chan_remove(s->ch, s->ch_idx);

			if (moved)
				moved->ch_idx = s->ch_idx;
			s->subscribed = false;
		}
		if (s->ring) {
			sub_drain(s);
			lws_ring_destroy(s->ring);
			s->ring = NULL;
		}
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return 0;	/* subscribers have nothing to say */
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static int cb_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct peer_port *p = lws_get_opaque_user_data(wsi);
	struct app *a;

	(void)user;
	(void)in;
	(void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE || p == NULL)
		return 0;
	a = app_of(wsi);
	if (p->ch == NULL) {
		struct signalfd_siginfo si;

		if (read(p->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			a->stop = true;
			lws_cancel_service(a->ctx);
		}
		return 0;
	}
	udp_readable(a, p);
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ .name = "ringcast-sub", .callback = cb_sub, .per_session_data_size = sizeof(struct sub) },
	{ .name = "raw-fd", .callback = cb_raw },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static int adopt(struct app *a, struct peer_port *p)
{
	lws_adopt_desc_t d = {
		.vh = a->vh,
		.type = LWS_ADOPT_RAW_FILE_DESC,
		.vh_prot_name = "raw-fd",
		.opaque = p,
	};

	d.fd.filefd = p->fd;
	/* On failure lws has closed the descriptor. */
	if (lws_adopt_descriptor_vhost_via_info(&d) == NULL) {
		p->fd = -1;
		return -EIO;
	}
	return 0;
}

/* Builds the context, vhost and adopted descriptors and prints the contract
 * lines. Returns 0 or negative errno (logged); app_free() cleans up. */
static int app_init(struct app *a, const struct peer_args *args)
{
	struct lws_context_creation_info info;
	char host[64], addr[80];
	uint16_t port;
	int err;

	a->sig.fd = -1;
	a->rx = malloc(PEER_MAX_DGRAM);
	err = peer_chans_init(&a->chans);
	if (a->rx == NULL || err < 0) {
		err = -ENOMEM;
		goto fail;
	}
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = a;
	a->ctx = lws_create_context(&info);
	if (a->ctx == NULL) {
		err = -EIO;
		goto fail;
	}
	memset(&info, 0, sizeof(info));
	/* lws takes the bare numeric address as its "iface". */
	if (args->listen.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&args->listen;

		port = ntohs(a6->sin6_port);
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)&args->listen;

		port = ntohs(a4->sin_port);
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	}
	info.port = port;	/* 0: the kernel picks; lws_get_vhost_listen_port() tells */
	info.iface = host;
	info.protocols = protocols;
	info.vhost_name = "ringcast-peer";
	a->vh = lws_create_vhost(a->ctx, &info);
	if (a->vh == NULL) {
		fprintf(stderr, PROG ": cannot listen on %s:%u\n", host, port);
		err = -EADDRNOTAVAIL;
		goto fail;
	}
	/* Signals come through the loop as a readable signalfd, so no handler
	 * ever runs inside lws. */
	a->sig.fd = peer_signalfd();
	if (a->sig.fd < 0) {
		err = a->sig.fd;
		goto fail;
	}
	err = adopt(a, &a->sig);
	if (err < 0)
		goto fail;
	err = peer_ports_open(args, &a->chans, a->ports, &a->nports);
	if (err < 0)
		goto fail;
	for (unsigned i = 0; i < a->nports; i++) {
		err = adopt(a, &a->ports[i]);
		if (err < 0) {
			/* lws closed that one; the rest are not on its loop. */
			for (unsigned j = i + 1; j < a->nports; j++)
				close(a->ports[j].fd);
			goto fail;
		}
	}
	peer_announce(peer_format_addr(&args->listen, (uint16_t)lws_get_vhost_listen_port(a->vh),
				       addr, sizeof(addr)), a->ports, a->nports);
	return 0;
fail:
	fprintf(stderr, PROG ": set-up failed: %s\n", strerror(-err));
	return err;
}

static void app_free(struct app *a)
{
	/* Destroying the context closes every subscriber (CLOSED releases
	 * their rings) and every adopted descriptor. */
	if (a->ctx)
		lws_context_destroy(a->ctx);
	else if (a->sig.fd >= 0)
		close(a->sig.fd);
	peer_chans_free(&a->chans);
	free(a->rx);
}

int main(int argc, char **argv)
{
	struct peer_args args;
	struct app a = { 0 };
	int err;

	err = peer_parse_args(argc, argv, PROG, false, &args);
	if (err)
		return err > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	peer_raise_nofile();
	/* lws logs to stderr; notices would only be noise in a benchmark. */
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	err = app_init(&a, &args);
	if (err < 0) {
		app_free(&a);
		return 1;
	}
	/* Runs until SIGINT/SIGTERM: the signalfd callback sets a.stop and
	 * wakes lws_service(). */
	while (!a.stop) {
		if (lws_service(a.ctx, 0) < 0)
			break;
	}
	fprintf(stderr, PROG ": exiting: %llu subscribers, %llu rejected, %llu datagrams "
		"(%llu truncated, %llu out of memory), %llu subscribers dropped for backlog, "
		"%llu write errors\n",
		(unsigned long long)a.n.upgraded, (unsigned long long)a.n.rejected,
		(unsigned long long)a.n.datagrams, (unsigned long long)a.n.truncated,
		(unsigned long long)a.n.nomem, (unsigned long long)a.n.slow_drops,
		(unsigned long long)a.n.write_errors);
	app_free(&a);
	return 0;
}
