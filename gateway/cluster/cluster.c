#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_internal.h"
#include "envelope.h"
#include "log.h"
#include "mem.h"

const uint64_t rc_cluster_lat_bounds_us[RC_NATS_LAT_BUCKETS - 1] = {
	250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 250000, 1000000,
};

void rc_cluster_subject(const struct rc_cluster *cl, const char *mid, const struct rc_channel *ch,
			char *dst)
{
	size_t plen = cl->prefix_len, mlen = strlen(mid);

	memcpy(dst, cl->srv->cfg->nats_prefix, plen);
	memcpy(dst + plen, mid, mlen);
	/* The channel is one subject token: its dots (a name may have them
	 * anywhere, even first, last or doubled) become '~', which no
	 * channel name holds, so the mapping stays one to one. */
	for (size_t i = 0; i < ch->name_len; i++)
		dst[plen + mlen + i] = ch->name[i] == '.' ? '~' : ch->name[i];
	dst[plen + mlen + ch->name_len] = '\0';
}

/* Queues what cc subscribes to that the server does not have yet (after
 * a reconnect: everything), and then its cache request; what finds no
 * room is retried by the tick. */
static void send_subs(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	char subject[RC_CLUSTER_SUBJECT_MAX], queue[RC_CONFIG_NATS_PREFIX_MAX + 8];

	if (!rc_nats_link_ready(&cl->link))
		return;
	if (cc->sid && !cc->sub_sent) {
		rc_cluster_subject(cl, ".ch.", cc->ch, subject);
		cc->sub_sent = rc_nats_link_sub(&cl->link, subject, cc->sid) == 0;
	}
	if (cc->cache_sid && !cc->cache_sub_sent) {
		/* One answer per request from the whole group (every worker
		 * that ingests the channel, on any node). */
		rc_cluster_subject(cl, ".cache.", cc->ch, subject);
		snprintf(queue, sizeof(queue), "%s.cache", cl->srv->cfg->nats_prefix);
		cc->cache_sub_sent =
			rc_nats_link_sub_queue(&cl->link, subject, queue, cc->cache_sid) == 0;
	}
	if (cc->sub_sent)
		rc_cluster_cache_ask(cl, cc);
}

void rc_cluster_send_inbox(struct rc_cluster *cl)
{
	char subject[RC_CLUSTER_SUBJECT_MAX];

	if (cl->inbox_sent || !rc_nats_link_ready(&cl->link))
		return;
	snprintf(subject, sizeof(subject), "%s.inbox.%016llx.%u.*", cl->srv->cfg->nats_prefix,
		 (unsigned long long)cl->srv->proc->node_id, cl->srv->id);
	cl->inbox_sent = rc_nats_link_sub(&cl->link, subject, cl->inbox_sid) == 0;
}

/* UNSUB sid, or keep it for the tick when there is no room now (a SUB the
 * server keeps would go on delivering, counted unrouted). */
static void send_unsub(struct rc_cluster *cl, uint64_t sid)
{
	if (rc_nats_link_unsub(&cl->link, sid) == 0)
		return;
	if (cl->nunsub < RC_CLUSTER_UNSUB_MAX)
		cl->unsub_pending[cl->nunsub++] = sid;
	else
		cl->srv->stats.nats_errors++;	/* it goes with the connection */
}

static void retry_unsubs(struct rc_cluster *cl)
{
	uint32_t n = cl->nunsub;

	cl->nunsub = 0;
	for (uint32_t i = 0; i < n && rc_nats_link_ready(&cl->link); i++)
		send_unsub(cl, cl->unsub_pending[i]);
}

/* A new connection knows none of the old one's subscriptions. A cache
 * request in flight went with it: it ends (its held messages go out). */
static void on_ready(void *arg)
{
	struct rc_cluster *cl = arg;

	cl->inbox_sent = false;
	cl->nunsub = 0;
	for (struct rc_cluster_chan *cc = cl->chans; cc; cc = cc->next) {
		cc->sub_sent = cc->cache_sub_sent = false;
		if (cc->req_id)
			rc_cluster_cache_end(cl, cc);
		send_subs(cl, cc);
	}
}

/* cc's state, made when missing. NULL without memory. */
static struct rc_cluster_chan *chan_state(struct rc_cluster *cl, struct rc_channel *ch)
{
	struct rc_cluster_chan *cc = ch->remote;

	if (cc)
		return cc;
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	rc_mem_charge(sizeof(*cc));
	cc->ch = ch;
	ch->remote = cc;
	/* Local ingest counted so far is not "local messages now". */
	if (ch->shared)
		cc->local_msgs = atomic_load_explicit(&ch->shared->msgs, memory_order_relaxed);
	cc->next = cl->chans;
	if (cl->chans)
		cl->chans->pprev = &cc->next;
	cc->pprev = &cl->chans;
	cl->chans = cc;
	return cc;
}

static void subscribe(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	cc->sid = ++cl->next_sid;
	cl->srv->stats.nats_subscriptions++;
	if (cc->ch->shared)
		atomic_fetch_add_explicit(&cc->ch->shared->remote_subs, 1, memory_order_relaxed);
	/* A late joiner gets the channel's cache from its origin first,
	 * when the channel keeps one, unless this node ingests the channel
	 * itself (then every worker keeps the cache already: relay.h). */
	cc->want_cache = rc_config_cache(cl->srv->cfg, cc->ch->name) != NULL &&
			 !(cc->ch->shared &&
			   atomic_load_explicit(&cc->ch->shared->msgs, memory_order_relaxed));
	send_subs(cl, cc);
}

/* UNSUB now (when the server has the SUB: on a lost connection it went
 * with it); messages already on their way find no sid and are counted
 * unrouted. */
static void unsubscribe(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	if (!cc->sid)
		return;
	if (cc->sub_sent && rc_nats_link_ready(&cl->link))
		send_unsub(cl, cc->sid);
	if (cc->req_id)
		rc_cluster_cache_end(cl, cc);
	cc->sid = 0;
	cc->sub_sent = false;
	cc->want_cache = false;
	/* What comes after a new SUB is not missing what came before it. */
	for (int i = 0; i < RC_CLUSTER_ORIGINS; i++)
		rc_seqwin_reset(&cc->origins[i].win);
	cl->srv->stats.nats_subscriptions--;
	if (cc->ch->shared)
		atomic_fetch_sub_explicit(&cc->ch->shared->remote_subs, 1, memory_order_relaxed);
}

/* Ends cc's answering of cache requests. */
static void stop_answering(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	if (cc->cache_sid && cc->cache_sub_sent && rc_nats_link_ready(&cl->link))
		send_unsub(cl, cc->cache_sid);
	cc->cache_sid = 0;
	cc->cache_sub_sent = false;
}

int rc_cluster_start(struct rc_server *srv, const struct rc_cluster_hooks *hooks)
{
	struct rc_nats_link_ops ops = { .ready = on_ready, .msg = rc_cluster_on_msg };
	struct rc_cluster *cl;
	int ret;

	if (!srv->cfg->nats.len)
		return 0;
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		ret = -ENOMEM;
		goto fail;
	}
	rc_mem_charge(sizeof(*cl));
	srv->cluster = cl;
	cl->srv = srv;
	cl->hooks = *hooks;
	cl->prefix_len = strlen(srv->cfg->nats_prefix);
	cl->inbox_sid = ++cl->next_sid;
	srv->hub.channel_interest = rc_cluster_interest;
	ops.arg = cl;
	ret = rc_nats_link_start(&cl->link, srv->loop, &srv->cfg->nats, srv->id, &srv->stats, &ops);
	if (ret < 0)
		goto fail;
	if (srv->id == 0)
		rc_log_info("nats: node id %016llx", (unsigned long long)srv->proc->node_id);
	return 0;

fail:
	rc_cluster_fini(srv);
	return ret;
}

void rc_cluster_publish(struct rc_server *srv, struct rc_channel *ch, const void *payload,
			size_t len, uint64_t seq, bool cached)
{
	struct rc_cluster *cl = srv->cluster;
	char subject[RC_CLUSTER_SUBJECT_MAX];
	char hdrs[RC_ENVELOPE_MAX];
	struct rc_envelope env;
	struct timespec ts;
	ssize_t n;

	if (!cl)
		return;
	if (cached) {
		struct rc_cluster_chan *cc = chan_state(cl, ch);

		if (cc && !cc->cache_sid) {
			cc->cache_sid = ++cl->next_sid;
			send_subs(cl, cc);
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	env = (struct rc_envelope){ .origin = srv->proc->node_id,
				    .epoch = ch->shared ? ch->shared->epoch : 0, .seq = seq,
				    .time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec };
	n = rc_envelope_encode(hdrs, sizeof(hdrs), &env);
	rc_cluster_subject(cl, ".ch.", ch, subject);
	rc_nats_link_publish(&cl->link, subject, n > 0 ? hdrs : NULL, n > 0 ? (size_t)n : 0,
			     payload, len);
}

void rc_cluster_interest(struct rc_channel *ch, bool any, void *arg)
{
	struct rc_server *srv = arg;
	struct rc_cluster *cl = srv->cluster;
	struct rc_cluster_chan *cc;

	if (!cl)
		return;
	cc = ch->remote;
	if (!any) {
		if (cc && cc->sid) {
			cc->idle_since_ms = rc_loop_now_ms(srv->loop) | 1;
			if (!srv->hub.grace_ms)
				unsubscribe(cl, cc);
		}
		return;
	}
	cc = chan_state(cl, ch);
	if (!cc)
		return;	/* no memory: the channel stays local */
	cc->idle_since_ms = 0;
	if (!cc->sid)
		subscribe(cl, cc);
}

/* Takes cc out of the worker's list and frees it. */
static void chan_free(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	/* The channel is going (or the whole worker): held messages are
	 * dropped, not fanned out. */
	rc_cluster_cache_drop(cl, cc);
	unsubscribe(cl, cc);
	stop_answering(cl, cc);
	*cc->pprev = cc->next;
	if (cc->next)
		cc->next->pprev = cc->pprev;
	cc->ch->remote = NULL;
	free(cc->held);
	rc_mem_uncharge(sizeof(*cc) + cc->held_cap * sizeof(*cc->held));
	free(cc);
}

void rc_cluster_channel_free(struct rc_server *srv, struct rc_channel *ch)
{
	if (ch->remote && srv->cluster)
		chan_free(srv->cluster, ch->remote);
}

void rc_cluster_tick(struct rc_server *srv)
{
	struct rc_cluster *cl = srv->cluster;
	uint64_t now;

	if (!cl)
		return;
	now = rc_loop_now_ms(srv->loop);
	retry_unsubs(cl);
	for (struct rc_cluster_chan *cc = cl->chans; cc; cc = cc->next) {
		/* Local ingest of the channel, for telling two origins apart
		 * (cluster_in.c): the registry counts every worker's. */
		if (cc->ch->shared) {
			uint64_t m = atomic_load_explicit(&cc->ch->shared->msgs,
							  memory_order_relaxed);

			if (m != cc->local_msgs)
				cc->local_ms = now;
			cc->local_msgs = m;
		}
		if (cc->req_id && now >= cc->req_until_ms)
			rc_cluster_cache_end(cl, cc);
		if (cc->idle_since_ms && now >= cc->idle_since_ms &&
		    now - cc->idle_since_ms >= srv->hub.grace_ms)
			unsubscribe(cl, cc);
		else
			send_subs(cl, cc);
	}
}

void rc_cluster_stop(struct rc_server *srv)
{
	if (srv->cluster)
		rc_nats_link_stop(&srv->cluster->link);
}

bool rc_cluster_busy(const struct rc_server *srv)
{
	return srv->cluster && rc_nats_link_busy(&srv->cluster->link);
}

void rc_cluster_fini(struct rc_server *srv)
{
	struct rc_cluster *cl = srv->cluster;

	if (!cl)
		return;
	while (cl->chans)
		chan_free(cl, cl->chans);
	rc_nats_link_fini(&cl->link);
	srv->hub.channel_interest = NULL;
	free(cl);
	rc_mem_uncharge(sizeof(*cl));
	srv->cluster = NULL;
}
