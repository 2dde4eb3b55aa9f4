/* Wiring: sockets, rings, the hub, signals and the timer of one server. */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "membudget.h"
#include "publish.h"
#include "ws_handshake.h"

#define TICK_MS 250
#define ACCEPT_BACKOFF_MS 100
/* Client input is small (request heads, pongs, commands) and each buffer goes
 * back as soon as it is parsed, so a small ring serves thousands of clients;
 * a longer head is gathered in the connection's head buffer. Every buffer the
 * kernel fills stays resident, so the ring's size is memory any server with
 * enough clients pays: 256 x 2 KiB, not 1024 x 4 KiB. */
#define CLIENT_RING_COUNT 256
#define CLIENT_RING_SIZE 2048
#define LISTEN_BACKLOG 4096
#define RFC6455_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 section 1.3 */
#define RFC6455_SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define SHUTDOWN_GRACE_MS 1000	/* after the flush deadline, for the kernel to finish */

static struct rc_server *server_of(void *member, size_t offset)
{
	return (struct rc_server *)((char *)member - offset);
}

/* --- UDP ingest -> fan-out --- */

static void on_datagram(struct rc_udp_port *p, uint16_t bid, uint8_t *payload, uint32_t len)
{
	struct rc_ingest *in = (struct rc_ingest *)p;
	struct rc_server *srv = in->srv;
	struct rc_channel *ch = in->ch;
	const char *name, *key, *want;
	size_t name_len, key_len, off;

	if (ch) {
		/* A port bound to a channel holds its key by configuration:
		 * restrict who may send to it with --udp-allow. */
		rc_publish_ring(srv, ch, bid, payload, len);
		return;
	}
	/* A mux port: the channel is named in the datagram. Its header is
	 * consumed, so the frame header can be written over it. */
	if (rc_mux_parse_key(payload, len, &name, &name_len, &key, &key_len, &off) < 0) {
		srv->stats.mux_bad_header++;
		return;
	}
	ch = rc_hub_find(&srv->hub, name, name_len);
	if (!ch) {
		srv->stats.mux_no_channel++;
		return;
	}
	want = rc_config_pub_key(&srv->cfg, ch->name);
	if (want && !rc_token_secret_equal(want, strlen(want), key ? key : "", key_len)) {
		srv->stats.refused[RC_REFUSE_MUX_KEY]++;
		return;
	}
	rc_publish_ring(srv, ch, bid, payload + off, len - (uint32_t)off);
}

/* --- accept --- */

static int listener_arm(struct rc_listener *l)
{
	int ret = rc_loop_accept_multishot(l->srv->loop, &l->io, l->fd);

	if (ret == 0)
		l->armed = true;
	return ret;
}

static void accept_backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_listener *l = (struct rc_listener *)((char *)io -
						       offsetof(struct rc_listener, backoff.io));

	(void)loop;
	(void)cqe;
	l->timer_armed = false;
	if (!l->srv->stopping && !l->armed && listener_arm(l) < 0)
		rc_log_error("accept: re-arming failed");
}

static void accept_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_listener *l = (struct rc_listener *)io;
	struct rc_server *srv = l->srv;

	if (cqe->res >= 0) {
		if (srv->stopping)
			close(cqe->res);
		else
			l->on_accept(srv, cqe->res);
	} else if (cqe->res != -ECANCELED) {
		srv->stats.accept_errors++;
	}
	if (cqe->flags & RC_CQE_MORE) {
		/* Out of fds while still armed: stop accepting for a moment
		 * rather than being woken for every pending connection. */
		if (cqe->res == -EMFILE || cqe->res == -ENFILE)
			rc_loop_cancel(loop, io);
		return;
	}
	l->armed = false;
	if (srv->stopping)
		return;
	if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
	    cqe->res == -ENOBUFS) {
		/* The pending connection stays in the backlog; retrying at once
		 * would spin. Existing clients keep being served meanwhile. */
		rc_log_warn("accept: %s; pausing %d ms", strerror(-cqe->res), ACCEPT_BACKOFF_MS);
		if (!l->timer_armed && rc_loop_timer_arm(loop, &l->backoff, ACCEPT_BACKOFF_MS) == 0)
			l->timer_armed = true;
		return;
	}
	if (listener_arm(l) < 0)
		rc_log_error("accept: re-arming failed");
}

/* Stops accepting on l: the listening socket stops taking connections now,
 * so new clients are refused instead of waiting in a backlog nobody reads. */
static void listener_stop(struct rc_listener *l)
{
	if (l->fd < 0)
		return;
	if (l->armed)
		rc_loop_cancel(l->srv->loop, &l->io);
	if (l->timer_armed)
		rc_loop_cancel(l->srv->loop, &l->backoff.io);
	shutdown(l->fd, SHUT_RDWR);
}

/* --- shutdown and timers --- */

static void begin_shutdown(struct rc_server *srv)
{
	struct rc_conn *c = srv->conns;

	if (srv->stopping)
		return;
	rc_log_info("shutting down: closing %llu connections",
		    (unsigned long long)srv->stats.connections);
	srv->stopping = true;
	srv->stop_deadline_ms = rc_loop_now_ms(srv->loop) + srv->cfg.shutdown_timeout_ms;
	listener_stop(&srv->listener);
	listener_stop(&srv->tcp_listener);
	for (struct rc_publisher *p = srv->publishers, *next; p; p = next) {
		next = p->next;
		rc_publisher_close(p);
	}
	for (size_t i = 0; i < srv->ningest; i++)
		rc_udp_stop(&srv->ingest[i].port);
	while (c) {
		struct rc_conn *next = c->next;

		if (c->state == RC_CONN_WS || c->state == RC_CONN_STREAM ||
		    c->state == RC_CONN_CLOSING)
			rc_conn_note_final(c);
		if (c->state == RC_CONN_WS || c->state == RC_CONN_STREAM)
			rc_conn_ws_close(c, RC_WS_CLOSE_GOING_AWAY);
		else if ((c->state == RC_CONN_HTTP && !rc_sendq_busy(&c->q)) ||
			 c->state == RC_CONN_PUB)
			rc_conn_close(c);
		c = next;
	}
}

static void tick_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_server *srv = server_of(io, offsetof(struct rc_server, tick.io));
	uint64_t now = rc_loop_now_ms(loop);

	(void)cqe;
	srv->tick_armed = false;
	rc_conn_tick(srv);
	rc_membudget_tick(srv);
	rc_publisher_tick(srv);
	rc_hub_tick(&srv->hub);
	rc_hub_rates(&srv->hub, now);
	rc_hub_sweep(&srv->hub);
	rc_stats_log_tick(srv, now);
	if (srv->stopping) {
		bool ports_busy = false;

		for (size_t i = 0; i < srv->ningest; i++)
			ports_busy |= rc_udp_busy(&srv->ingest[i].port);
		if (!srv->conns && !srv->publishers && !ports_busy && !srv->listener.armed &&
		    !srv->tcp_listener.armed) {
			rc_loop_stop(loop);
			return;
		}
		if (now >= srv->stop_deadline_ms) {
			/* Flush time is over: whoever has not taken its close
			 * frame by now is cut off. */
			for (struct rc_conn *c = srv->conns; c;) {
				struct rc_conn *next = c->next;

				rc_conn_close(c);
				c = next;
			}
		}
		if (now >= srv->stop_deadline_ms + SHUTDOWN_GRACE_MS) {
			rc_log_warn("shutdown: %llu connections still busy after the deadline",
				    (unsigned long long)srv->stats.connections);
			rc_loop_stop(loop);
			return;
		}
	}
	if (rc_loop_timer_arm(loop, &srv->tick, TICK_MS) == 0)
		srv->tick_armed = true;
}

static void signal_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_server *srv = server_of(io, offsetof(struct rc_server, signal_io));

	srv->signal_armed = false;
	if (cqe->res == (int)sizeof(struct signalfd_siginfo)) {
		rc_log_info("received signal %u", srv->signal_info.ssi_signo);
		begin_shutdown(srv);
	} else if (cqe->res < 0 && cqe->res != -ECANCELED && cqe->res != -EINTR) {
		rc_log_error("signalfd read: %s", strerror(-cqe->res));
	}
	/* Keep listening: a second signal during shutdown is harmless. */
	if (rc_loop_read(loop, &srv->signal_io, srv->signal_fd, &srv->signal_info,
			 sizeof(struct signalfd_siginfo)) == 0)
		srv->signal_armed = true;
}

/* --- set-up --- */

static int open_listener(struct rc_server *srv, struct rc_listener *l,
			 const struct rc_sockaddr *addr,
			 void (*on_accept)(struct rc_server *srv, int fd))
{
	char text[80];
	int one = 1;
	int ret;

	l->srv = srv;
	l->on_accept = on_accept;
	l->io.fn = accept_done;
	l->backoff.io.fn = accept_backoff_done;
	l->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		ret = -errno;
		goto fail_log;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    listen(l->fd, LISTEN_BACKLOG) < 0) {
		ret = -errno;
		goto fail;
	}
	l->addr.len = sizeof(l->addr.ss);
	if (getsockname(l->fd, (struct sockaddr *)&l->addr.ss, &l->addr.len) < 0) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	close(l->fd);
	l->fd = -1;
fail_log:
	rc_config_format_addr((const struct sockaddr *)&addr->ss, text, sizeof(text));
	rc_log_error("cannot listen on %s: %s", text, strerror(-ret));
	return ret;
}

static int open_signals(struct rc_server *srv)
{
	sigset_t set;

	/* A vanished subscriber must cost an EPIPE on its send, not the
	 * process (MSG_NOSIGNAL covers sends; this covers everything else). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	srv->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	return srv->signal_fd < 0 ? -errno : 0;
}

int rc_server_init(struct rc_server *srv, const struct rc_config *cfg)
{
	struct rc_loop_opts lo = { .sq_entries = 4096, .cq_entries = 65536,
				   .backend = cfg->backend };
	struct rc_bufring_opts ingest = {
		.group = 0,
		.count = cfg->buf_count,
		.size = cfg->buf_size,
		.headroom = RC_UDP_HEADROOM,
		.low_water = cfg->buf_count / 8,
	};
	struct rc_bufring_opts client = {
		.group = 1,
		.count = CLIENT_RING_COUNT,
		.size = CLIENT_RING_SIZE,
	};
	const struct rc_udp_allow *allow;
	char accept[RC_WS_ACCEPT_LEN + 1];
	char addr[80];
	int ret = 0;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = *cfg;
	rc_ipcount_init(&srv->ipcount);
	/* An allowlist that names no configured port is a typo that would
	 * leave the intended port open: refuse to start. */
	for (size_t a = 0; a < cfg->nudp_allow; a++) {
		bool used = false;

		for (size_t i = 0; i < cfg->nudp; i++)
			used |= rc_config_udp_allow(cfg, &cfg->udp[i].addr) == &cfg->udp_allow[a];
		if (!used) {
			rc_config_format_addr((const struct sockaddr *)&cfg->udp_allow[a].addr.ss,
					      addr, sizeof(addr));
			rc_log_error("--udp-allow %s: no --udp or --udp-mux port has that address",
				     addr);
			ret = -EINVAL;
			goto fail;
		}
	}
	srv->listener.fd = -1;
	srv->tcp_listener.fd = -1;
	srv->signal_fd = -1;
	for (size_t i = 0; i < RC_CONFIG_MAX_UDP; i++)
		srv->ingest[i].port.fd = -1;

	/* Read before the loop runs: serving them later touches no file. */
	ret = rc_static_setup(srv);
	if (ret < 0)
		goto fail;
	srv->loop = rc_loop_create(&lo, &ret);
	if (!srv->loop)
		goto fail;
	srv->ingest_ring = rc_bufring_create(srv->loop, &ingest, &ret);
	if (!srv->ingest_ring)
		goto fail;
	srv->client_ring = rc_bufring_create(srv->loop, &client, &ret);
	if (!srv->client_ring)
		goto fail;
	rc_log_info("buffer rings: ingest %u x %u bytes (+%u headroom), client %u x %u bytes",
		    ingest.count, ingest.size, ingest.headroom, client.count, client.size);
	/* The rings' slabs are held for the whole run: part of what
	 * --max-memory bounds, charged once. */
	rc_mem_charge(srv->ingest_ring->slab_len + srv->client_ring->slab_len);
	if (srv->cfg.max_memory == RC_CONFIG_MEMORY_AUTO)
		srv->cfg.max_memory = rc_membudget_default();
	if (srv->cfg.max_memory && srv->cfg.max_memory <= rc_mem_used()) {
		rc_log_error("--max-memory %llu is less than the buffer rings need (%zu bytes)",
			     (unsigned long long)srv->cfg.max_memory, rc_mem_used());
		ret = -EINVAL;
		goto fail;
	}
	rc_mem_set_limit((size_t)srv->cfg.max_memory);
	rc_log_info("memory bound: %llu bytes%s", (unsigned long long)srv->cfg.max_memory,
		    srv->cfg.max_memory ? "" : " (none)");
	if (srv->cfg.zc_min) {
		/* SEND_ZC from a registered slab avoids pinning pages per send,
		 * but the slab counts against RLIMIT_MEMLOCK: without room for it
		 * ringcast copies, as it does by default. */
		ret = rc_loop_has_send_zc(srv->loop) ? rc_bufring_register_fixed(srv->ingest_ring)
						     : -EOPNOTSUPP;
		if (ret == -EOPNOTSUPP) {
			rc_log_warn("SEND_ZC disabled: the %s backend does not offer it",
				    rc_loop_backend_name(srv->loop));
			srv->cfg.zc_min = 0;
		} else if (ret < 0) {
			rc_log_warn("SEND_ZC disabled: %s (registering the %zu KiB ingest slab needs "
				    "that much RLIMIT_MEMLOCK)", strerror(-ret),
				    srv->ingest_ring->slab_len / 1024);
			srv->cfg.zc_min = 0;
		} else {
			rc_log_info("SEND_ZC for frames of %u bytes and more", srv->cfg.zc_min);
		}
	}
	ret = rc_hub_init(&srv->hub, srv->loop, srv->ingest_ring, cfg->max_channels);
	if (ret < 0)
		goto fail;
	srv->hub.channel_free = rc_publish_channel_free;
	srv->hub.grace_ms = cfg->channel_grace_ms;
	/* Batched frames are copies on the heap; frames meant for SEND_ZC
	 * must stay in the registered ring. */
	srv->hub.batch_max_frame = srv->cfg.batch_max;
	if (srv->cfg.zc_min && srv->cfg.zc_min <= srv->hub.batch_max_frame)
		srv->hub.batch_max_frame = srv->cfg.zc_min - 1;
	/* Shared by every connection's send queue (publishers' answers are
	 * counted apart from fan-out and never zero-copy). */
	srv->conn_sendq = (struct rc_sendq_ctx){ .loop = srv->loop, .br = srv->ingest_ring,
						 .ops = &rc_conn_sendq_ops,
						 .stats = &srv->hub.stats.send,
						 .zc_min = srv->cfg.zc_min };
	srv->pub_sendq = (struct rc_sendq_ctx){ .loop = srv->loop, .br = srv->ingest_ring,
						.ops = &rc_publisher_sendq_ops };

	/* libcrypto initialises itself on first use (about 2 MB of code and
	 * tables): do it now, with a check of RFC 6455's sample key, rather
	 * than in the first client's handshake. */
	if (rc_ws_accept_key(RFC6455_SAMPLE_KEY, strlen(RFC6455_SAMPLE_KEY), accept) < 0 ||
	    strcmp(accept, RFC6455_SAMPLE_ACCEPT) != 0) {
		rc_log_error("libcrypto: SHA-1 of the RFC 6455 sample key is wrong");
		ret = -EPROTO;
		goto fail;
	}
	ret = open_listener(srv, &srv->listener, &cfg->listen, rc_conn_accept);
	if (ret < 0)
		goto fail;
	if (cfg->tcp.len) {
		ret = open_listener(srv, &srv->tcp_listener, &cfg->tcp, rc_publisher_accept);
		if (ret < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->nudp; i++) {
		struct rc_ingest *in = &srv->ingest[i];

		ret = rc_udp_open(&in->port, (const struct sockaddr *)&cfg->udp[i].addr.ss,
				  cfg->udp[i].addr.len, cfg->udp_rcvbuf);
		if (ret < 0) {
			rc_config_format_addr((const struct sockaddr *)&cfg->udp[i].addr.ss, addr,
					      sizeof(addr));
			rc_log_error("cannot bind UDP %s: %s", addr, strerror(-ret));
			goto fail;
		}
		srv->ningest++;
		in->srv = srv;
		allow = rc_config_udp_allow(cfg, &cfg->udp[i].addr);
		if (allow) {
			in->port.allow = srv->cfg.udp_allow[allow - cfg->udp_allow].cidr;
			in->port.nallow = allow->n;
		}
		if (!cfg->udp[i].channel[0])
			continue;	/* a mux port */
		in->ch = rc_hub_acquire(&srv->hub, cfg->udp[i].channel, strlen(cfg->udp[i].channel),
					&ret);
		if (!in->ch)
			goto fail;
	}
	ret = open_signals(srv);
	if (ret < 0)
		goto fail;

	srv->tick.io.fn = tick_done;
	srv->signal_io.fn = signal_done;
	ret = listener_arm(&srv->listener);
	if (ret == 0 && srv->tcp_listener.fd >= 0)
		ret = listener_arm(&srv->tcp_listener);
	for (size_t i = 0; ret == 0 && i < srv->ningest; i++)
		ret = rc_udp_start(&srv->ingest[i].port, srv->loop, srv->ingest_ring, on_datagram,
				   &srv->ingest[i]);
	if (ret == 0)
		ret = rc_loop_timer_arm(srv->loop, &srv->tick, TICK_MS);
	srv->tick_armed = ret == 0;
	rc_stats_log_start(srv, rc_loop_now_ms(srv->loop));
	if (ret == 0)
		ret = rc_loop_read(srv->loop, &srv->signal_io, srv->signal_fd, &srv->signal_info,
				   sizeof(struct signalfd_siginfo));
	srv->signal_armed = ret == 0;
	if (ret < 0)
		goto fail;
	return 0;

fail:
	rc_server_fini(srv);
	return ret ? ret : -EINVAL;
}

void rc_server_announce(const struct rc_server *srv)
{
	char addr[80];

	rc_config_format_addr((const struct sockaddr *)&srv->listener.addr.ss, addr, sizeof(addr));
	printf("listen http %s\n", addr);
	if (srv->tcp_listener.fd >= 0) {
		rc_config_format_addr((const struct sockaddr *)&srv->tcp_listener.addr.ss, addr,
				      sizeof(addr));
		printf("listen tcp %s\n", addr);
	}
	for (size_t i = 0; i < srv->ningest; i++) {
		rc_config_format_addr((const struct sockaddr *)&srv->ingest[i].port.addr, addr,
				      sizeof(addr));
		if (srv->ingest[i].ch)
			printf("listen udp %s %s\n", addr, srv->ingest[i].ch->name);
		else
			printf("listen udp-mux %s\n", addr);
	}
	printf("ready\n");
	fflush(stdout);
}

int rc_server_run(struct rc_server *srv)
{
	int ret = rc_loop_run(srv->loop);
	const struct rc_hub_stats *hs = &srv->hub.stats;

	/* Connections still here were cut off after the grace period: their
	 * sends die with the ring, so what they still held is dropped. */
	for (struct rc_conn *c = srv->conns; c; c = c->next) {
		rc_sendq_abandon(&c->q);
		rc_conn_report_final(c);
	}
	/* The totals of the whole run, so that delivered + dropped can be
	 * checked against what was published without a last scrape. */
	rc_log_info("stopped: %llu connections accepted, %llu frames delivered, dropped "
		    "slow_drop %llu pressure %llu closed %llu, evicted slow_close %llu stalled %llu",
		    (unsigned long long)srv->stats.accepted, (unsigned long long)hs->send.frames,
		    (unsigned long long)hs->drops[RC_DROP_SLOW_DROP],
		    (unsigned long long)hs->drops[RC_DROP_PRESSURE],
		    (unsigned long long)(hs->drops[RC_DROP_CLOSED] + hs->send.discarded),
		    (unsigned long long)hs->drops[RC_DROP_SLOW_CLOSE],
		    (unsigned long long)hs->drops[RC_DROP_STALLED]);
	return ret;
}

void rc_server_fini(struct rc_server *srv)
{
	/* Connections still here were cut off at the deadline; their kernel
	 * operations die with the ring, so their memory can go now. */
	while (srv->conns) {
		struct rc_conn *c = srv->conns;

		srv->conns = c->next;
		rc_hub_unsubscribe(&srv->hub, &c->sub);
		for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
			rc_hub_unsubscribe(&srv->hub, &c->extra[i]);
		close(c->fd);
		free(c->final_peer);
		free(c->in);
		free(c->wsin);
		free(c->pub);	/* its channel goes with the hub */
		free(c->extra);
		rc_sendq_free(&c->q);
		free(c);
	}
	for (size_t i = 0; i < srv->ningest; i++) {
		rc_udp_close(&srv->ingest[i].port);
		if (srv->ingest[i].ch)
			rc_hub_release(&srv->hub, srv->ingest[i].ch);
	}
	srv->ningest = 0;
	rc_hub_fini(&srv->hub);
	while (srv->publishers) {
		struct rc_publisher *p = srv->publishers;

		srv->publishers = p->next;
		if (p->partial)
			rc_shmsg_unref(p->partial);
		if (p->ch)
			rc_hub_release(&srv->hub, p->ch);
		close(p->fd);
		rc_sendq_free(&p->q);
		free(p);
	}
	if (srv->listener.fd >= 0)
		close(srv->listener.fd);
	if (srv->tcp_listener.fd >= 0)
		close(srv->tcp_listener.fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	rc_ipcount_fini(&srv->ipcount);
	rc_bufring_destroy(srv->client_ring);
	rc_bufring_destroy(srv->ingest_ring);
	rc_loop_destroy(srv->loop);
	/* Last: queued sends pointed into these files until the ring went. */
	rc_static_free(&srv->statics);
	srv->client_ring = NULL;
	srv->ingest_ring = NULL;
	srv->loop = NULL;
}
