#include "cluster.h"

#include <errno.h>
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

/* Writes ch's subject into dst (RC_CLUSTER_SUBJECT_MAX bytes). */
static void subject_of(const struct rc_server *srv, const struct rc_channel *ch, char *dst)
{
	size_t plen = srv->cluster->prefix_len;

	memcpy(dst, srv->cfg->nats_prefix, plen);
	memcpy(dst + plen, ".ch.", 4);
	/* The channel is one subject token: its dots (a name may have them
	 * anywhere, even first, last or doubled) become '~', which no
	 * channel name holds, so the mapping stays one to one. */
	for (size_t i = 0; i < ch->name_len; i++)
		dst[plen + 4 + i] = ch->name[i] == '.' ? '~' : ch->name[i];
	dst[plen + 4 + ch->name_len] = '\0';
}

/* Queues cc's SUB when the link is ready; a SUB that finds no room is
 * retried by the tick. */
static void send_sub(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	char subject[RC_CLUSTER_SUBJECT_MAX];

	if (cc->sub_sent || !rc_nats_link_ready(&cl->link))
		return;
	subject_of(cl->srv, cc->ch, subject);
	cc->sub_sent = rc_nats_link_sub(&cl->link, subject, cc->sid) == 0;
}

/* A new connection knows none of the old one's subscriptions. */
static void on_ready(void *arg)
{
	struct rc_cluster *cl = arg;

	for (struct rc_cluster_chan *cc = cl->subs; cc; cc = cc->next) {
		cc->sub_sent = false;
		send_sub(cl, cc);
	}
}

static void subscribe(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	cc->sid = ++cl->next_sid;
	cc->next = cl->subs;
	if (cl->subs)
		cl->subs->pprev = &cc->next;
	cc->pprev = &cl->subs;
	cl->subs = cc;
	cl->srv->stats.nats_subscriptions++;
	if (cc->ch->shared)
		atomic_fetch_add_explicit(&cc->ch->shared->remote_subs, 1, memory_order_relaxed);
	send_sub(cl, cc);
}

/* UNSUB now (when the server has the SUB: on a lost connection it went
 * with it); messages already on their way find no sid and are counted
 * unrouted. */
static void unsubscribe(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	if (!cc->sid)
		return;
	if (cc->sub_sent && rc_nats_link_ready(&cl->link))
		rc_nats_link_unsub(&cl->link, cc->sid);
	*cc->pprev = cc->next;
	if (cc->next)
		cc->next->pprev = cc->pprev;
	cc->sid = 0;
	cc->sub_sent = false;
	cl->srv->stats.nats_subscriptions--;
	if (cc->ch->shared)
		atomic_fetch_sub_explicit(&cc->ch->shared->remote_subs, 1, memory_order_relaxed);
}

int rc_cluster_start(struct rc_server *srv, rc_cluster_deliver_fn deliver)
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
	cl->deliver = deliver;
	cl->prefix_len = strlen(srv->cfg->nats_prefix);
	srv->hub.channel_interest = rc_cluster_interest;
	ops.arg = cl;
	ret = rc_nats_link_start(&cl->link, srv->loop, &srv->cfg->nats, &srv->stats, &ops);
	if (ret < 0)
		goto fail;
	if (srv->id == 0)
		rc_log_info("nats: node id %016llx", (unsigned long long)srv->proc->node_id);
	return 0;

fail:
	rc_cluster_fini(srv);
	return ret;
}

void rc_cluster_publish(struct rc_server *srv, const struct rc_channel *ch, const void *payload,
			size_t len, uint64_t seq)
{
	char subject[RC_CLUSTER_SUBJECT_MAX];
	char hdrs[RC_ENVELOPE_MAX];
	struct rc_envelope env;
	struct timespec ts;
	ssize_t n;

	if (!srv->cluster)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	env = (struct rc_envelope){ .origin = srv->proc->node_id,
				    .epoch = ch->shared ? ch->shared->epoch : 0, .seq = seq,
				    .time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec };
	n = rc_envelope_encode(hdrs, sizeof(hdrs), &env);
	subject_of(srv, ch, subject);
	rc_nats_link_publish(&srv->cluster->link, subject, n > 0 ? hdrs : NULL, n > 0 ? (size_t)n : 0,
			     payload, len);
}

void rc_cluster_interest(struct rc_channel *ch, bool any, void *arg)
{
	struct rc_server *srv = arg;
	struct rc_cluster *cl = srv->cluster;
	struct rc_cluster_chan *cc = ch->remote;

	if (!cl)
		return;
	if (!any) {
		if (cc && cc->sid) {
			cc->idle_since_ms = rc_loop_now_ms(srv->loop) | 1;
			if (!srv->hub.grace_ms)
				unsubscribe(cl, cc);
		}
		return;
	}
	if (!cc) {
		cc = calloc(1, sizeof(*cc));
		if (!cc)
			return;	/* no memory: the channel stays local */
		rc_mem_charge(sizeof(*cc));
		cc->ch = ch;
		ch->remote = cc;
	}
	cc->idle_since_ms = 0;
	if (!cc->sid)
		subscribe(cl, cc);
}

void rc_cluster_channel_free(struct rc_server *srv, struct rc_channel *ch)
{
	struct rc_cluster_chan *cc = ch->remote;

	if (!cc)
		return;
	if (srv->cluster)
		unsubscribe(srv->cluster, cc);
	ch->remote = NULL;
	free(cc);
	rc_mem_uncharge(sizeof(*cc));
}

void rc_cluster_tick(struct rc_server *srv)
{
	struct rc_cluster *cl = srv->cluster;
	uint64_t now;

	if (!cl)
		return;
	now = rc_loop_now_ms(srv->loop);
	for (struct rc_cluster_chan *cc = cl->subs, *next; cc; cc = next) {
		next = cc->next;
		/* Local ingest of the channel, for telling two origins apart
		 * (cluster_in.c): the registry counts every worker's. */
		if (cc->ch->shared) {
			uint64_t m = atomic_load_explicit(&cc->ch->shared->msgs,
							  memory_order_relaxed);

			if (m != cc->local_msgs)
				cc->local_ms = now;
			cc->local_msgs = m;
		}
		if (cc->idle_since_ms && now >= cc->idle_since_ms &&
		    now - cc->idle_since_ms >= srv->hub.grace_ms)
			unsubscribe(cl, cc);
		else
			send_sub(cl, cc);
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
	/* Channels still listed keep their state (freed with them); they
	 * only leave the list. */
	while (cl->subs)
		unsubscribe(cl, cl->subs);
	rc_nats_link_fini(&cl->link);
	srv->hub.channel_interest = NULL;
	free(cl);
	rc_mem_uncharge(sizeof(*cl));
	srv->cluster = NULL;
}
