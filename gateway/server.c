/* Wiring: the process's state, a loop's sockets, rings and hub, its
 * signals and timer, and the graceful shutdown. */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "compress.h"
#include "http.h"
#include "label.h"
#include "listing.h"
#include "log.h"
#include "mem.h"
#include "membudget.h"
#include "metrics.h"
#include "publish.h"
#include "relay.h"
#include "cluster.h"
#include "stats_log.h"
#include "subscriber.h"
#include "tcp_pub.h"
#include "udp_bind.h"
#include "uplink.h"
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

/* What the cluster (below ingest) calls ingest for. */
static const struct rc_cluster_hooks cluster_hooks = {
	.deliver = rc_publish_remote,
	.cache_each = rc_publish_cache_each,
};

/* The hub's channel_free hook: a channel's subscription in the cluster,
 * its cache and its label frame. */
static void channel_free(struct rc_channel *ch, void *arg)
{
	rc_cluster_channel_free(arg, ch);
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
	rc_listing_shutdown(srv);
	rc_cluster_stop(srv);
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

/* True for worker 0 while another worker's loop still runs: it reads the
 * signals, so it stays to hear a second one. */
static bool others_running(const struct rc_server *srv)
{
	return srv->id == 0 && srv->proc->nworkers > 1 &&
	       atomic_load_explicit(&srv->proc->running, memory_order_relaxed) > 1;
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
	rc_relay_tick(srv);
	/* Before the sweep: a subscription ends at the grace, as its channel
	 * would. */
	rc_cluster_tick(srv);
	rc_hub_sweep(&srv->hub);
	/* The registry's rates are the process's: one worker refreshes them. */
	if (srv->id == 0)
		rc_chanreg_rates(&srv->proc->chanreg, now);
	rc_stats_log_tick(srv, now);
	if (srv->stopping) {
		bool ports_busy = false;

		for (size_t i = 0; i < srv->ningest; i++)
			ports_busy |= rc_udp_busy(&srv->ingest[i].port);
		if (!srv->streams && !ports_busy && !srv->listener.armed && !rc_cluster_busy(srv) &&
		    !srv->tcp_listener.armed && !others_running(srv)) {
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
	/* Only worker 0 reads the signals; the others hear of them through
	 * their mailboxes, and each flushes its own connections. */
	if (cqe->res == (int)sizeof(struct signalfd_siginfo) &&
	    rc_relay_control(srv, srv->stopping ? RC_RELAY_CUT : RC_RELAY_STOP) < 0)
		rc_log_error("signal: cannot tell the other workers (out of memory)");
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

/* What several workers share besides the registry: a mailbox and a copy
 * of the counters per worker. Nothing with one worker. */
static int open_workers_shared(struct rc_process *proc)
{
	uint32_t n = proc->nworkers;
	int ret;

	if (n < 2)
		return 0;
	proc->inbox = calloc(n, sizeof(*proc->inbox));
	proc->snaps = calloc(n, sizeof(*proc->snaps));
	if (!proc->inbox || !proc->snaps)
		return -ENOMEM;
	for (uint32_t w = 0; w < n; w++)
		proc->inbox[w].efd = -1;
	for (uint32_t w = 0; w < n; w++) {
		ret = rc_mbox_open(&proc->inbox[w]);
		if (ret == 0)
			ret = rc_snap_init(&proc->snaps[w], RC_WORKER_COUNTER_WORDS);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* After every worker has ended: what is still in a mailbox was posted to
 * a worker that had stopped taking; its references go here. */
static void close_workers_shared(struct rc_process *proc)
{
	for (uint32_t w = 0; proc->inbox && w < proc->nworkers; w++) {
		struct rc_mbox_node *n = rc_mbox_take(&proc->inbox[w]);

		while (n) {
			struct rc_mbox_node *next = n->next;
			struct rc_relay_msg *m = rc_relay_of(n);

			if (m->kind == RC_RELAY_LIST)
				rc_listing_discard(m);
			else
				rc_relay_put(m);
			n = next;
		}
		rc_mbox_close(&proc->inbox[w]);
	}
	for (uint32_t w = 0; proc->snaps && w < proc->nworkers; w++)
		rc_snap_fini(&proc->snaps[w]);
	free(proc->inbox);
	free(proc->snaps);
	proc->inbox = NULL;
	proc->snaps = NULL;
}

int rc_process_init(struct rc_process *proc, const struct rc_config *cfg)
{
	char accept[RC_WS_ACCEPT_LEN + 1];
	int ret;

	memset(proc, 0, sizeof(*proc));
	proc->cfg = *cfg;
	proc->nworkers = cfg->workers ? cfg->workers : 1;
	/* How a worker wakes another for a hand-off: the eventfd, or with
	 * RINGCAST_WAKE=msg_ring a message from ring to ring. Measured alike
	 * (perf/RESULTS.md, "How a worker wakes another"), so the eventfd,
	 * which works on both backends and cannot be lost to a ring that has
	 * gone, is the default; the other stays for measuring on machines
	 * with more cores. */
	{
		const char *wake = getenv("RINGCAST_WAKE");

		proc->wake_by_msg = wake && strcmp(wake, "msg_ring") == 0;
	}
	proc->node_id = rc_chanreg_new_id();
	rc_ipcount_init(&proc->ipcount);
	pthread_mutex_init(&proc->ipcount_lock, NULL);
	ret = rc_chanreg_init(&proc->chanreg, proc->nworkers);
	if (ret < 0)
		return ret;
	ret = check_udp_allow(cfg);
	if (ret < 0)
		goto fail;
	ret = open_workers_shared(proc);
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
	close_workers_shared(proc);
	rc_chanreg_fini(&proc->chanreg);
	pthread_mutex_destroy(&proc->ipcount_lock);
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
	/* A worker that takes UDP ports gets a few buffers for datagrams
	 * longer than a regular one holds (udp_ingest.h); port i goes to
	 * worker i mod N. */
	if (cfg->udp_large_bufs && srv->id < cfg->nudp &&
	    ingest.size < RC_UDP_MAX_PAYLOAD + rc_udp_overhead(false)) {
		ret = rc_bufring_add_large(srv->ingest_ring, 2, cfg->udp_large_bufs,
					   RC_UDP_MAX_PAYLOAD + rc_udp_overhead(true));
		if (ret < 0)
			return ret;
	}
	srv->client_ring = rc_bufring_create(srv->loop, &client, &ret);
	if (!srv->client_ring)
		return ret;
	rc_log_info("buffer rings: ingest %u x %u bytes (+%u headroom), large %u x %u bytes, "
		    "client %u x %u bytes",
		    ingest.count, ingest.size, ingest.headroom,
		    rc_bufring_large(srv->ingest_ring) ? rc_bufring_large(srv->ingest_ring)->count : 0,
		    rc_bufring_large(srv->ingest_ring) ? rc_bufring_large(srv->ingest_ring)->size : 0,
		    client.count, client.size);
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
			    srv->ingest_ring->slab_len / 1024);
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
	srv->hub.channel_free_arg = srv;
	srv->hub.grace_ms = cfg->channel_grace_ms;
	rc_hub_share(&srv->hub, &srv->proc->chanreg, srv->id);
	rc_relay_init(srv);
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

	/* With several workers, port i goes to worker i mod N: a port's
	 * datagrams are taken in one place, in their order, and a channel's
	 * other workers get them as hand-offs. */
	for (size_t i = srv->id; i < cfg->nudp; i += srv->proc->nworkers) {
		struct rc_ingest *in = &srv->ingest[srv->ningest];
		const struct rc_udp_allow *allow;

		ret = rc_udp_open(&in->port, (const struct sockaddr *)&cfg->udp[i].addr.ss,
				  cfg->udp[i].addr.len, cfg->udp_rcvbuf, srv->ingest_ring);
		if (ret < 0) {
			rc_config_format_addr((const struct sockaddr *)&cfg->udp[i].addr.ss, addr,
					      sizeof(addr));
			rc_log_error("cannot bind UDP %s: %s", addr, strerror(-ret));
			return ret;
		}
		srv->ningest++;
		in->srv = srv;
		in->cfg_index = (uint32_t)i;
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

/* What other workers handed this one, in the order they posted it. */
static void inbox_taken(struct rc_mbox *mb, void *arg)
{
	struct rc_server *srv = arg;
	struct rc_mbox_node *n = rc_mbox_take(mb);

	while (n) {
		struct rc_mbox_node *next = n->next;
		struct rc_relay_msg *m = rc_relay_of(n);

		switch (m->kind) {
		case RC_RELAY_MSG:
			/* Takes over the reference. */
			rc_relay_deliver(srv, n);
			n = next;
			continue;
		case RC_RELAY_STOP:
			begin_shutdown(srv);
			break;
		case RC_RELAY_CUT:
			rc_log_info("worker %u: ending the flush now (second signal)", srv->id);
			cut_off_all(srv);
			rc_loop_stop(srv->loop);
			break;
		case RC_RELAY_LIST:
			/* The listing owns its message: it posts it on or
			 * frees it. */
			rc_listing_take(srv, m);
			n = next;
			continue;
		case RC_RELAY_UPLINK:
			rc_uplink_deliver(srv, m->name, m->name_len, (uint32_t)m->seq, m->data,
					  m->len);
			break;
		}
		/* The node lives in m: taken next first. */
		rc_relay_put(m);
		n = next;
	}
}

/* End of every turn, with several workers: the counters as this turn left
 * them, for /metrics on the other workers. */
static void publish_counters(struct rc_loop *loop, void *arg)
{
	(void)loop;
	rc_metrics_publish(arg);
}

/* Arms everything that waits for the kernel: accepts, receives, the tick,
 * the signals (worker 0), the mailbox (several workers). */
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
	if (ret == 0 && srv->signal_fd >= 0) {
		ret = rc_loop_read(srv->loop, &srv->signal_io, srv->signal_fd, &srv->signal_info,
				   sizeof(struct signalfd_siginfo));
		srv->signal_armed = ret == 0;
	}
	if (ret == 0)
		ret = rc_cluster_start(srv, &cluster_hooks);
	if (ret == 0 && srv->proc->nworkers > 1)
		ret = rc_mbox_start(&srv->proc->inbox[srv->id], srv->loop, inbox_taken, srv);
	return ret;
}

int rc_server_init(struct rc_server *srv, struct rc_process *proc)
{
	return rc_server_init_worker(srv, proc, 0);
}

int rc_server_init_worker(struct rc_server *srv, struct rc_process *proc, uint32_t id)
{
	const struct rc_config *cfg = &proc->cfg;
	int ret;

	memset(srv, 0, sizeof(*srv));
	srv->proc = proc;
	srv->cfg = cfg;
	srv->id = id;
	srv->listener.fd = -1;
	srv->tcp_listener.fd = -1;
	srv->signal_fd = -1;
	for (size_t i = 0; i < RC_CONFIG_MAX_UDP; i++) {
		srv->ingest[i].port.fd = -1;
		srv->ingest[i].port.rx[0].fd = srv->ingest[i].port.rx[1].fd = -1;
	}
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
	/* Worker 0 binds what the configuration says; the others bind the
	 * very port it got (the kernel's choice for port 0), SO_REUSEPORT. */
	ret = rc_listener_open(srv, &srv->listener, id ? &proc->listen_addr : &cfg->listen,
			       rc_http_accept);
	if (ret < 0)
		goto fail;
	if (id == 0)
		proc->listen_addr = srv->listener.addr;
	if (cfg->tcp.len) {
		ret = rc_listener_open(srv, &srv->tcp_listener, id ? &proc->tcp_addr : &cfg->tcp,
				       rc_publisher_accept);
		if (ret < 0)
			goto fail;
		if (id == 0)
			proc->tcp_addr = srv->tcp_listener.addr;
	}
	ret = open_udp_ports(srv);
	if (ret < 0)
		goto fail;
	if (id == 0) {
		ret = open_signals(srv);
		if (ret < 0)
			goto fail;
	}
	ret = arm_all(srv);
	if (ret < 0)
		goto fail;
	if (proc->nworkers > 1)
		rc_loop_set_turn_hook(srv->loop, publish_counters, srv);
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

/* The totals line of a run: "stopped: ..." for the process (the tests and
 * operators read it), "worker N done: ..." for one of several workers. */
static void final_line(const char *what, const struct rc_server_stats *ss,
		       const struct rc_hub_stats *hs)
{
	/* Every reason a subscriber's message counts as dropped in its own
	 * final line is in "dropped", so that the sums reconcile; truncated
	 * datagrams never reached a subscriber and are counted apart. */
	rc_log_info("%s: %llu connections accepted, %llu frames delivered, dropped "
		    "slow_drop %llu pressure %llu closed %llu keyframe_wait %llu, evicted "
		    "slow_close %llu stalled %llu, datagrams truncated %llu",
		    what, (unsigned long long)ss->accepted, (unsigned long long)hs->send.frames,
		    (unsigned long long)hs->drops[RC_DROP_SLOW_DROP],
		    (unsigned long long)hs->drops[RC_DROP_PRESSURE],
		    (unsigned long long)(hs->drops[RC_DROP_CLOSED] + hs->send.discarded),
		    (unsigned long long)hs->drops[RC_DROP_KEYFRAME_WAIT],
		    (unsigned long long)hs->drops[RC_DROP_SLOW_CLOSE],
		    (unsigned long long)hs->drops[RC_DROP_STALLED],
		    (unsigned long long)hs->drops[RC_DROP_TRUNCATED]);
}

int rc_server_run(struct rc_server *srv)
{
	int ret = rc_loop_run(srv->loop);
	char what[32];

	if (srv->proc->nworkers > 1)
		atomic_fetch_sub_explicit(&srv->proc->running, 1, memory_order_relaxed);

	/* A wake-up this worker's last turn owes another worker: without it
	 * that worker's mailbox would stay non-empty and never be woken. */
	rc_relay_flush(srv);

	/* Connections still here were cut off after the grace period: their
	 * sends die with the ring, so what they still held is dropped. */
	for (struct rc_stream *st = srv->streams; st; st = st->next) {
		rc_sendq_abandon(&st->q);
		if (!rc_publisher_of(st))
			rc_conn_report_final(rc_conn_of(st));
	}
	/* The totals of the whole run, so that delivered + dropped can be
	 * checked against what was published without a last scrape (with
	 * several workers, rc_process_run() prints the process's after
	 * theirs). */
	if (srv->proc->nworkers > 1)
		snprintf(what, sizeof(what), "worker %u done", srv->id);
	else
		snprintf(what, sizeof(what), "stopped");
	final_line(what, &srv->stats, &srv->hub.stats);
	return ret;
}

/* --- several workers --- */

/* What the main thread and the workers share while they start. */
struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go, abort;			/* under lock */
	cpu_set_t cpus;			/* the affinity mask at start-up (--pin) */
};

struct worker {
	struct workers *ws;
	struct rc_process *proc;
	struct rc_server *srv;
	pthread_t th;
	uint32_t id;
	bool started;			/* the thread exists */
	bool inited;			/* its start-up is over: under ws->lock */
	int init_ret;			/* under ws->lock until then */
	int run_ret;			/* read by main after the join */
};

/* --pin: worker id on the id-th CPU of the start-up mask, round robin. */
static void pin(const struct worker *w)
{
	int n = CPU_COUNT(&w->ws->cpus), k = (int)(w->id % (uint32_t)n);
	cpu_set_t one;

	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &w->ws->cpus) || k-- > 0)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0)
			rc_log_info("worker %u: pinned to CPU %d", w->id, cpu);
		else
			rc_log_warn("worker %u: cannot pin to CPU %d", w->id, cpu);
		return;
	}
}

/* A worker's thread: its loop is set up here, on the thread that will
 * submit to it (SINGLE_ISSUER|DEFER_TASKRUN rings must be), then waits for
 * every other worker's start-up before it serves. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	bool go;
	int ret;

	if (w->proc->cfg.pin && CPU_COUNT(&w->ws->cpus) > 0)
		pin(w);
	ret = rc_server_init_worker(w->srv, w->proc, w->id);
	pthread_mutex_lock(&w->ws->lock);
	w->init_ret = ret;
	w->inited = true;
	pthread_cond_broadcast(&w->ws->cond);
	while (!w->ws->go && !w->ws->abort)
		pthread_cond_wait(&w->ws->cond, &w->ws->lock);
	go = w->ws->go;
	pthread_mutex_unlock(&w->ws->lock);
	if (ret == 0 && go)
		w->run_ret = rc_server_run(w->srv);
	return NULL;
}

/* The "listen" lines of every worker's sockets, in the configuration's
 * order, then "ready". */
static void announce_all(struct worker *w, uint32_t n)
{
	const struct rc_config *cfg = &w[0].proc->cfg;
	char addr[80];

	rc_config_format_addr((const struct sockaddr *)&w[0].srv->listener.addr.ss, addr,
			      sizeof(addr));
	printf("listen http %s\n", addr);
	if (w[0].srv->tcp_listener.fd >= 0) {
		rc_config_format_addr((const struct sockaddr *)&w[0].srv->tcp_listener.addr.ss,
				      addr, sizeof(addr));
		printf("listen tcp %s\n", addr);
	}
	for (size_t i = 0; i < cfg->nudp; i++) {
		const struct rc_server *srv = w[i % n].srv;

		for (size_t k = 0; k < srv->ningest; k++) {
			const struct rc_ingest *in = &srv->ingest[k];

			if (in->cfg_index != i)
				continue;
			rc_config_format_addr((const struct sockaddr *)&in->port.addr, addr,
					      sizeof(addr));
			if (in->ch)
				printf("listen udp %s %s\n", addr, in->ch->name);
			else
				printf("listen udp-mux %s\n", addr);
		}
	}
	printf("ready\n");
	fflush(stdout);
}

/* Starts worker id and waits for its start-up. Returns its result. */
static int start_worker(struct worker *w)
{
	int ret = pthread_create(&w->th, NULL, worker_main, w);

	if (ret != 0) {
		rc_log_error("worker %u: cannot start its thread: %s", w->id, strerror(ret));
		return -ret;
	}
	w->started = true;
	pthread_mutex_lock(&w->ws->lock);
	while (!w->inited)
		pthread_cond_wait(&w->ws->cond, &w->ws->lock);
	ret = w->init_ret;
	pthread_mutex_unlock(&w->ws->lock);
	return ret;
}

int rc_process_run(struct rc_process *proc)
{
	uint32_t n = proc->nworkers;
	struct workers ws = { .go = false };
	struct rc_server_stats ss = { 0 };
	struct rc_hub_stats hs = { 0 };
	struct worker *w = calloc(n, sizeof(*w));
	sigset_t set;
	int ret = 0;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&ws.lock, NULL);
	pthread_cond_init(&ws.cond, NULL);
	if (sched_getaffinity(0, sizeof(ws.cpus), &ws.cpus) < 0)
		CPU_ZERO(&ws.cpus);
	/* Before any thread exists, so every thread inherits it: the signals
	 * stay pending for worker 0's signalfd instead of killing the
	 * process from a thread that does not read them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	atomic_store_explicit(&proc->running, n, memory_order_relaxed);
	/* One after the other: worker 0 chooses the ports the others bind. */
	for (uint32_t id = 0; id < n && ret == 0; id++) {
		w[id] = (struct worker){ .ws = &ws, .proc = proc, .id = id,
					 .srv = calloc(1, sizeof(struct rc_server)) };
		ret = w[id].srv ? start_worker(&w[id]) : -ENOMEM;
	}
	if (ret == 0)
		announce_all(w, n);
	pthread_mutex_lock(&ws.lock);
	ws.go = ret == 0;
	ws.abort = ret != 0;
	pthread_cond_broadcast(&ws.cond);
	pthread_mutex_unlock(&ws.lock);
	for (uint32_t id = 0; id < n; id++)
		if (w[id].started)
			pthread_join(w[id].th, NULL);
	for (uint32_t id = 0; id < n; id++) {
		const struct rc_hub_stats *h;

		if (!w[id].srv)
			continue;
		if (ret == 0 && w[id].run_ret < 0)
			ret = w[id].run_ret;
		h = &w[id].srv->hub.stats;
		ss.accepted += w[id].srv->stats.accepted;
		hs.send.frames += h->send.frames;
		hs.send.discarded += h->send.discarded;
		for (int r = 0; r < RC_DROP_REASONS; r++)
			hs.drops[r] += h->drops[r];
	}
	if (w[0].inited && w[0].init_ret == 0)
		final_line("stopped", &ss, &hs);
	/* Every thread has ended: each worker's state is freed here, the
	 * ones that failed their start-up already were. */
	for (uint32_t id = 0; id < n; id++) {
		if (w[id].inited && w[id].init_ret == 0)
			rc_server_fini(w[id].srv);
		free(w[id].srv);
	}
	free(w);
	pthread_cond_destroy(&ws.cond);
	pthread_mutex_destroy(&ws.lock);
	return ret;
}

void rc_server_fini(struct rc_server *srv)
{
	/* Connections still here were cut off at the deadline (or the loop
	 * ended on an error): their kernel operations die with the ring, so
	 * their memory can go now. They hold channel references, released
	 * while the hub (and every channel) still exists. Their records of
	 * waits for /connections listings go after them. */
	rc_stream_free_all(srv);
	rc_listing_fini(srv);
	for (size_t i = 0; i < srv->ningest; i++) {
		rc_udp_close(&srv->ingest[i].port);
		if (srv->ingest[i].ch)
			rc_hub_release(&srv->hub, srv->ingest[i].ch);
	}
	srv->ningest = 0;
	rc_hub_fini(&srv->hub);
	rc_compress_fini(srv);
	rc_cluster_fini(srv);
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
