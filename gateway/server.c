/* Wiring: the process's state, a loop's sockets, rings and hub, its
 * signals and timer, and the graceful shutdown. */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "http.h"
#include "label.h"
#include "log.h"
#include "mem.h"
#include "membudget.h"
#include "publish.h"
#include "stats_log.h"
#include "subscriber.h"
#include "tcp_pub.h"
#include "udp_bind.h"
#include "ws_handshake.h"

#define TICK_MS 250
/* Client input is small (request heads, pongs, commands) and each buffer goes
 * back as soon as it is parsed, so a small ring serves thousands of clients;
 * a longer head is held by its connection. Every buffer the kernel fills
 * stays resident, so the ring's size is memory any server with enough
 * clients pays. */
#define CLIENT_RING_COUNT 256
#define CLIENT_RING_SIZE 2048
#define RFC6455_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 section 1.3 */
#define RFC6455_SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define SHUTDOWN_GRACE_MS 1000	/* after the flush deadline, for the kernel to finish */

static struct rc_server *server_of(void *member, size_t offset)
{
	return (struct rc_server *)((char *)member - offset);
}

/* The hub's channel_free hook: a channel's cache and its label frame. */
static void channel_free(struct rc_channel *ch, void *arg)
{
	(void)arg;
	rc_publish_channel_free(ch);
	rc_label_free(ch);
}

/* --- shutdown and timers --- */

static void begin_shutdown(struct rc_server *srv)
{
	if (srv->stopping)
		return;
	rc_log_info("shutting down: closing %llu connections",
		    (unsigned long long)srv->stats.connections);
	srv->stopping = true;
	srv->stop_deadline_ms = rc_loop_now_ms(srv->loop) + srv->cfg->shutdown_timeout_ms;
	rc_listener_stop(&srv->listener);
	rc_listener_stop(&srv->tcp_listener);
	for (size_t i = 0; i < srv->ningest; i++)
		rc_udp_stop(&srv->ingest[i].port);
	for (struct rc_stream *st = srv->streams, *next; st; st = next) {
		struct rc_conn *c;

		next = st->next;
		if (rc_publisher_of(st)) {
			rc_stream_close(st);
			continue;
		}
		c = rc_conn_of(st);
		if (c->state == RC_CONN_WS || c->state == RC_CONN_STREAM ||
		    c->state == RC_CONN_CLOSING)
			rc_conn_note_final(c);
		if (c->state == RC_CONN_WS || c->state == RC_CONN_STREAM)
			rc_subscriber_close(c, RC_WS_CLOSE_GOING_AWAY);
		/* An answer still queued is flushed like subscribers' data,
		 * also between two of its sends (nothing in flight then). */
		else if ((c->state == RC_CONN_HTTP && !rc_sendq_busy(&st->q) && !st->q.count) ||
			 c->state == RC_CONN_PUB)
			rc_conn_close(c);
	}
}

/* The flush is over: whoever has not taken its close frame by now is cut
 * off. */
static void cut_off_all(struct rc_server *srv)
{
	for (struct rc_stream *st = srv->streams, *next; st; st = next) {
		next = st->next;
		rc_stream_close(st);
	}
}

static void tick_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_server *srv = server_of(io, offsetof(struct rc_server, tick.io));
	uint64_t now = rc_loop_now_ms(loop);

	(void)cqe;
	srv->tick_armed = false;
	rc_stream_tick_all(srv);
	rc_membudget_tick(srv);
	rc_hub_tick(&srv->hub);
	rc_hub_rates(&srv->hub, now);
	rc_hub_sweep(&srv->hub);
	rc_stats_log_tick(srv, now);
	if (srv->stopping) {
		bool ports_busy = false;

		for (size_t i = 0; i < srv->ningest; i++)
			ports_busy |= rc_udp_busy(&srv->ingest[i].port);
		if (!srv->streams && !ports_busy && !srv->listener.armed &&
		    !srv->tcp_listener.armed) {
			rc_loop_stop(loop);
			return;
		}
		if (now >= srv->stop_deadline_ms)
			cut_off_all(srv);
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
	if (cqe->res == (int)sizeof(struct signalfd_siginfo) && srv->stopping) {
		/* An operator who asks twice does not want to wait for the
		 * flush: what is still queued is dropped (and counted), and the
		 * exit is as clean as at the flush deadline. */
		rc_log_info("received signal %u again (second signal): ending the flush now, "
			    "cutting off %llu connections", srv->signal_info.ssi_signo,
			    (unsigned long long)srv->stats.connections);
		cut_off_all(srv);
		rc_loop_stop(loop);
	} else if (cqe->res == (int)sizeof(struct signalfd_siginfo)) {
		rc_log_info("received signal %u", srv->signal_info.ssi_signo);
		begin_shutdown(srv);
	} else if (cqe->res < 0 && cqe->res != -ECANCELED && cqe->res != -EINTR) {
		rc_log_error("signalfd read: %s", strerror(-cqe->res));
	}
	/* Keep listening: the second signal ends the flush. */
	if (rc_loop_read(loop, &srv->signal_io, srv->signal_fd, &srv->signal_info,
			 sizeof(struct signalfd_siginfo)) == 0)
		srv->signal_armed = true;
}

/* --- set-up --- */

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

/* An allowlist that names no configured port is a typo that would leave the
 * intended port open: refuse to start. */
static int check_udp_allow(const struct rc_config *cfg)
{
	char addr[80];

	for (size_t a = 0; a < cfg->nudp_allow; a++) {
		bool used = false;

		for (size_t i = 0; i < cfg->nudp; i++)
			used |= rc_config_udp_allow(cfg, &cfg->udp[i].addr) == &cfg->udp_allow[a];
		if (!used) {
			rc_config_format_addr((const struct sockaddr *)&cfg->udp_allow[a].addr.ss,
					      addr, sizeof(addr));
			rc_log_error("--udp-allow %s: no --udp or --udp-mux port has that address",
				     addr);
			return -EINVAL;
		}
	}
	return 0;
}

int rc_process_init(struct rc_process *proc, const struct rc_config *cfg)
{
	char accept[RC_WS_ACCEPT_LEN + 1];
	int ret;

	memset(proc, 0, sizeof(*proc));
	proc->cfg = *cfg;
	rc_ipcount_init(&proc->ipcount);
	ret = check_udp_allow(cfg);
	if (ret < 0)
		goto fail;
	if (proc->cfg.max_memory == RC_CONFIG_MEMORY_AUTO)
		proc->cfg.max_memory = rc_membudget_default();
	rc_mem_set_limit((size_t)proc->cfg.max_memory);
	/* Read before any loop runs: serving them later touches no file. */
	ret = rc_static_setup(proc);
	if (ret < 0)
		goto fail;
	/* libcrypto initialises itself on first use (code and tables): do it
	 * now, with a check of RFC 6455's sample key, rather than in the first
	 * client's handshake. */
	if (rc_ws_accept_key(RFC6455_SAMPLE_KEY, strlen(RFC6455_SAMPLE_KEY), accept) < 0 ||
	    strcmp(accept, RFC6455_SAMPLE_ACCEPT) != 0) {
		rc_log_error("libcrypto: SHA-1 of the RFC 6455 sample key is wrong");
		ret = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	rc_process_fini(proc);
	return ret;
}

void rc_process_fini(struct rc_process *proc)
{
	/* After every loop: queued sends pointed into these files until its
	 * ring went. */
	rc_static_teardown(proc);
	rc_ipcount_fini(&proc->ipcount);
}

/* The loop, its two buffer rings and the memory bound that must leave room
 * for them. */
static int open_rings(struct rc_server *srv)
{
	const struct rc_config *cfg = srv->cfg;
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
	int ret = 0;

	srv->loop = rc_loop_create(&lo, &ret);
	if (!srv->loop)
		return ret;
	srv->ingest_ring = rc_bufring_create(srv->loop, &ingest, &ret);
	if (!srv->ingest_ring)
		return ret;
	srv->client_ring = rc_bufring_create(srv->loop, &client, &ret);
	if (!srv->client_ring)
		return ret;
	rc_log_info("buffer rings: ingest %u x %u bytes (+%u headroom), client %u x %u bytes",
		    ingest.count, ingest.size, ingest.headroom, client.count, client.size);
	/* The rings' slabs are held for the whole run: part of what
	 * --max-memory bounds, charged once. */
	rc_mem_charge(rc_bufring_slab_bytes(srv->ingest_ring) +
		      rc_bufring_slab_bytes(srv->client_ring));
	if (cfg->max_memory && cfg->max_memory <= rc_mem_used()) {
		rc_log_error("--max-memory %llu is less than the buffer rings need (%zu bytes)",
			     (unsigned long long)cfg->max_memory, rc_mem_used());
		return -EINVAL;
	}
	rc_log_info("memory bound: %llu bytes%s", (unsigned long long)cfg->max_memory,
		    cfg->max_memory ? "" : " (none)");
	return 0;
}

/* SEND_ZC from a registered slab avoids pinning pages per send, but the
 * slab counts against RLIMIT_MEMLOCK: without room for it ringcast copies,
 * as it does by default. Returns the threshold this loop uses. */
static uint32_t setup_zc(struct rc_server *srv)
{
	uint32_t zc_min = srv->cfg->zc_min;
	int ret;

	if (!zc_min)
		return 0;
	ret = rc_loop_has_send_zc(srv->loop) ? rc_bufring_register_fixed(srv->ingest_ring)
					     : -EOPNOTSUPP;
	if (ret == -EOPNOTSUPP) {
		rc_log_warn("SEND_ZC disabled: the %s backend does not offer it",
			    rc_loop_backend_name(srv->loop));
		return 0;
	}
	if (ret < 0) {
		rc_log_warn("SEND_ZC disabled: %s (registering the %zu KiB ingest slab needs that "
			    "much RLIMIT_MEMLOCK)", strerror(-ret),
			    rc_bufring_slab_bytes(srv->ingest_ring) / 1024);
		return 0;
	}
	rc_log_info("SEND_ZC for frames of %u bytes and more", zc_min);
	return zc_min;
}

/* The hub and what the connections' queues share. */
static int setup_fanout(struct rc_server *srv, uint32_t zc_min)
{
	const struct rc_config *cfg = srv->cfg;
	int ret = rc_hub_init(&srv->hub, srv->loop, srv->ingest_ring, cfg->max_channels);

	if (ret < 0)
		return ret;
	srv->hub.channel_free = channel_free;
	srv->hub.grace_ms = cfg->channel_grace_ms;
	/* Batched frames are copies on the heap; frames meant for SEND_ZC
	 * must stay in the registered ring. */
	srv->hub.batch_max_frame = cfg->batch_max;
	if (zc_min && zc_min <= srv->hub.batch_max_frame)
		srv->hub.batch_max_frame = zc_min - 1;
	srv->access = (struct rc_access){ .cfg = cfg, .hub = &srv->hub,
					  .refused = srv->stats.refused };
	/* Publishers' answers are counted apart from fan-out and never
	 * zero-copy. */
	srv->conn_sendq = (struct rc_sendq_ctx){ .loop = srv->loop, .br = srv->ingest_ring,
						 .ops = &rc_stream_sendq_ops,
						 .stats = &srv->hub.stats.send, .zc_min = zc_min };
	srv->pub_sendq = (struct rc_sendq_ctx){ .loop = srv->loop, .br = srv->ingest_ring,
						.ops = &rc_stream_sendq_ops };
	return 0;
}

static int open_udp_ports(struct rc_server *srv)
{
	const struct rc_config *cfg = srv->cfg;
	char addr[80];
	int ret = 0;

	for (size_t i = 0; i < cfg->nudp; i++) {
		struct rc_ingest *in = &srv->ingest[i];
		const struct rc_udp_allow *allow;

		ret = rc_udp_open(&in->port, (const struct sockaddr *)&cfg->udp[i].addr.ss,
				  cfg->udp[i].addr.len, cfg->udp_rcvbuf);
		if (ret < 0) {
			rc_config_format_addr((const struct sockaddr *)&cfg->udp[i].addr.ss, addr,
					      sizeof(addr));
			rc_log_error("cannot bind UDP %s: %s", addr, strerror(-ret));
			return ret;
		}
		srv->ningest++;
		in->srv = srv;
		allow = rc_config_udp_allow(cfg, &cfg->udp[i].addr);
		if (allow) {
			in->port.allow = allow->cidr;
			in->port.nallow = allow->n;
		}
		if (!cfg->udp[i].channel[0])
			continue;	/* a mux port */
		in->ch = rc_hub_acquire(&srv->hub, cfg->udp[i].channel, strlen(cfg->udp[i].channel),
					&ret);
		if (!in->ch)
			return ret;
	}
	return 0;
}

/* Arms everything that waits for the kernel: accepts, receives, the tick,
 * the signals. */
static int arm_all(struct rc_server *srv)
{
	int ret = rc_listener_arm(&srv->listener);

	if (ret == 0 && srv->tcp_listener.fd >= 0)
		ret = rc_listener_arm(&srv->tcp_listener);
	for (size_t i = 0; ret == 0 && i < srv->ningest; i++)
		ret = rc_udp_start(&srv->ingest[i].port, srv->loop, srv->ingest_ring,
				   rc_udp_bind_datagram, &srv->ingest[i]);
	if (ret == 0)
		ret = rc_loop_timer_arm(srv->loop, &srv->tick, TICK_MS);
	srv->tick_armed = ret == 0;
	if (ret == 0)
		ret = rc_loop_read(srv->loop, &srv->signal_io, srv->signal_fd, &srv->signal_info,
				   sizeof(struct signalfd_siginfo));
	srv->signal_armed = ret == 0;
	return ret;
}

int rc_server_init(struct rc_server *srv, struct rc_process *proc)
{
	const struct rc_config *cfg = &proc->cfg;
	int ret;

	memset(srv, 0, sizeof(*srv));
	srv->proc = proc;
	srv->cfg = cfg;
	srv->listener.fd = -1;
	srv->tcp_listener.fd = -1;
	srv->signal_fd = -1;
	for (size_t i = 0; i < RC_CONFIG_MAX_UDP; i++)
		srv->ingest[i].port.fd = -1;
	srv->tick.io.fn = tick_done;
	srv->signal_io.fn = signal_done;

	ret = open_rings(srv);
	if (ret < 0)
		goto fail;
	ret = setup_fanout(srv, setup_zc(srv));
	if (ret < 0)
		goto fail;
	ret = rc_stats_log_start(srv, rc_loop_now_ms(srv->loop));
	if (ret < 0)
		goto fail;
	ret = rc_listener_open(srv, &srv->listener, &cfg->listen, rc_http_accept);
	if (ret < 0)
		goto fail;
	if (cfg->tcp.len) {
		ret = rc_listener_open(srv, &srv->tcp_listener, &cfg->tcp, rc_publisher_accept);
		if (ret < 0)
			goto fail;
	}
	ret = open_udp_ports(srv);
	if (ret < 0)
		goto fail;
	ret = open_signals(srv);
	if (ret < 0)
		goto fail;
	ret = arm_all(srv);
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
	for (struct rc_stream *st = srv->streams; st; st = st->next) {
		rc_sendq_abandon(&st->q);
		if (!rc_publisher_of(st))
			rc_conn_report_final(rc_conn_of(st));
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
	/* Connections still here were cut off at the deadline (or the loop
	 * ended on an error): their kernel operations die with the ring, so
	 * their memory can go now. They hold channel references, released
	 * while the hub (and every channel) still exists. */
	rc_stream_free_all(srv);
	for (size_t i = 0; i < srv->ningest; i++) {
		rc_udp_close(&srv->ingest[i].port);
		if (srv->ingest[i].ch)
			rc_hub_release(&srv->hub, srv->ingest[i].ch);
	}
	srv->ningest = 0;
	rc_hub_fini(&srv->hub);
	rc_listener_close(&srv->listener);
	rc_listener_close(&srv->tcp_listener);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	srv->signal_fd = -1;
	rc_stats_log_stop(srv);
	rc_bufring_destroy(srv->client_ring);
	rc_bufring_destroy(srv->ingest_ring);
	rc_loop_destroy(srv->loop);
	srv->client_ring = NULL;
	srv->ingest_ring = NULL;
	srv->loop = NULL;
}
