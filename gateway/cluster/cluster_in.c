/* Messages from other nodes: an MSG or HMSG on a channel's subject becomes
 * a message of the channel on this worker, once, in order, with the gaps
 * of its origin counted. Requests for a channel's cache and their answers
 * go to cluster_cache.c. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "envelope.h"
#include "mem.h"
#include "num.h"
#include "shmsg.h"

enum kind { LIVE, CACHE, INBOX };

/* The channel state of this worker that a message on a channel's subject
 * (.ch. or .cache.) is for, checked against its sid; NULL when none (a
 * message for a subscription just ended, or for nothing ringcast
 * subscribes here). */
static struct rc_cluster_chan *route(struct rc_cluster *cl, const struct rc_nats_event *ev,
				     enum kind *kind)
{
	const char *s = ev->subject + cl->prefix_len;
	size_t left = ev->subject_len - cl->prefix_len, n, skip;
	char name[RC_CHANNEL_NAME_MAX];
	struct rc_cluster_chan *cc;
	struct rc_channel *ch;
	uint64_t sid;

	if (ev->subject_len <= cl->prefix_len ||
	    memcmp(ev->subject, cl->srv->cfg->nats_prefix, cl->prefix_len) ||
	    rc_num_parse_u64n(ev->sid, ev->sid_len, 1, UINT64_MAX, &sid) < 0)
		return NULL;
	if (left > 4 && !memcmp(s, ".ch.", 4)) {
		*kind = LIVE;
		skip = 4;
	} else if (left > 7 && !memcmp(s, ".cache.", 7)) {
		*kind = CACHE;
		skip = 7;
	} else {
		*kind = INBOX;
		return NULL;
	}
	n = left - skip;
	if (n > RC_CHANNEL_NAME_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++)
		name[i] = s[skip + i] == '~' ? '.' : s[skip + i];
	if (!rc_channel_name_valid(name, n))
		return NULL;
	ch = rc_hub_find(&cl->srv->hub, name, n);
	cc = ch ? ch->remote : NULL;
	if (!cc || (*kind == LIVE ? cc->sid : cc->cache_sid) != sid)
		return NULL;
	return cc;
}

/* The slot of origin id (0: a publisher without an envelope, e.g. the nats
 * CLI) on cc, taking the least recently heard one's when all are used. */
static struct rc_cluster_origin *origin_of(struct rc_cluster_chan *cc, uint64_t id)
{
	struct rc_cluster_origin *o = &cc->origins[0];

	for (int i = 0; i < RC_CLUSTER_ORIGINS; i++) {
		if (cc->origins[i].id == id && cc->origins[i].last_ms)
			return &cc->origins[i];
		if (cc->origins[i].last_ms < o->last_ms)
			o = &cc->origins[i];
	}
	memset(o, 0, sizeof(*o));
	o->id = id;
	return o;
}

/* Two origins publishing the channel at once (another node, or a local
 * publisher here): counted once per episode, shown by /channels through
 * the registry's origins. */
static void check_origins(struct rc_server *srv, struct rc_cluster_chan *cc,
			  const struct rc_cluster_origin *o, uint64_t now)
{
	bool other = cc->local_ms && now - cc->local_ms < RC_CLUSTER_MULTI_MS;

	for (int i = 0; i < RC_CLUSTER_ORIGINS && !other; i++) {
		const struct rc_cluster_origin *x = &cc->origins[i];

		other = x != o && x->last_ms && now - x->last_ms < RC_CLUSTER_MULTI_MS;
	}
	if (other && !cc->multi)
		srv->stats.nats_multi_origin++;
	cc->multi = other;
}

static void count_latency(struct rc_server *srv, uint64_t sent_ns)
{
	struct timespec ts;
	uint64_t now_ns, us;
	int b = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/* Clocks of two machines: a message from "the future" says their
	 * offset, not a latency; it counts as 0. */
	us = now_ns > sent_ns ? (now_ns - sent_ns) / 1000 : 0;
	while (b < RC_NATS_LAT_BUCKETS - 1 && us > rc_cluster_lat_bounds_us[b])
		b++;
	srv->stats.nats_lat[b]++;
	srv->stats.nats_lat_sum_us += us;
}

void rc_cluster_take(struct rc_cluster *cl, struct rc_cluster_chan *cc, struct rc_shmsg *m,
		     const struct rc_envelope *env, bool quiet)
{
	struct rc_server *srv = cl->srv;
	struct rc_chanreg_origin *ro = NULL;
	struct rc_cluster_origin *o;
	enum rc_seqwin_verdict v;
	uint64_t now = rc_loop_now_ms(srv->loop), skipped = 0;

	o = origin_of(cc, env->origin);
	o->last_ms = now;
	check_origins(srv, cc, o, now);
	if (env->origin && cc->ch->shared)
		ro = rc_chanreg_origin(cc->ch->shared, env->origin, now);
	if (env->seq) {
		v = rc_seqwin_take(&o->win, env->epoch, env->seq, &skipped);
		if (v == RC_SEQWIN_DUP) {
			if (!quiet) {
				srv->stats.nats_dups++;
				if (ro)
					rc_chanreg_add64(&ro->dups, 1);
			}
			rc_shmsg_unref(m);
			return;
		}
		if (skipped) {
			srv->stats.nats_gaps++;
			srv->stats.nats_missing += skipped;
			if (ro)
				rc_chanreg_add64(&ro->missing, skipped);
		}
		srv->stats.nats_late += v == RC_SEQWIN_LATE;
		srv->stats.nats_restarts += v == RC_SEQWIN_RESTART;
	}
	if (ro) {
		rc_chanreg_add64(&ro->msgs, 1);
		atomic_store_explicit(&ro->last_ms, now, memory_order_relaxed);
	}
	srv->stats.nats_msgs_in++;
	cl->hooks.deliver(srv, cc->ch, m, env->epoch, env->seq);
}

/* The one copy of a message from NATS on this worker: out of the link's
 * read buffer, which the next read reuses, into a message its subscribers'
 * queues and the cache share by reference. NULL past --max-memory (NATS
 * gives way first) or without memory: counted. */
struct rc_shmsg *rc_cluster_copy_in(struct rc_server *srv, const struct rc_nats_event *ev)
{
	struct rc_shmsg *m = rc_mem_over() ? NULL : rc_shmsg_new((uint32_t)ev->payload_len);

	if (!m) {
		srv->stats.nats_in_dropped++;
		return NULL;
	}
	memcpy(m->data, ev->payload, ev->payload_len);
	m->len = (uint32_t)ev->payload_len;
	return m;
}

void rc_cluster_on_msg(void *arg, const struct rc_nats_event *ev)
{
	struct rc_cluster *cl = arg;
	struct rc_server *srv = cl->srv;
	enum kind kind = LIVE;
	struct rc_cluster_chan *cc = route(cl, ev, &kind);
	struct rc_envelope env = { 0 };
	struct rc_shmsg *m;

	if (kind == INBOX) {
		rc_cluster_cache_reply(cl, ev);
		return;
	}
	if (!cc) {
		srv->stats.nats_unrouted++;
		return;
	}
	if (kind == CACHE) {
		rc_cluster_cache_answer(cl, cc, ev);
		return;
	}
	if (ev->headers && rc_envelope_decode(ev->headers, ev->headers_len, &env) < 0) {
		srv->stats.nats_bad_envelope++;
		return;
	}
	if (env.origin == srv->proc->node_id) {
		/* Its own node's: the worker that ingested it handed it to
		 * this one already (relay.h). */
		srv->stats.nats_own++;
		return;
	}
	/* The channel's own bound holds for what other nodes send too. */
	if (ev->payload_len > rc_config_max_message(srv->cfg, cc->ch->name)) {
		srv->stats.nats_in_dropped++;
		return;
	}
	if (env.time_ns)
		count_latency(srv, env.time_ns);
	m = rc_cluster_copy_in(srv, ev);
	if (!m)
		return;
	if (cc->req_id && rc_cluster_cache_hold(cl, cc, m, &env))
		return;
	rc_cluster_take(cl, cc, m, &env, false);
}
