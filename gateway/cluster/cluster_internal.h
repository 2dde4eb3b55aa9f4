/* What cluster.c (the link, subscriptions, publishing) and cluster_in.c
 * (messages from other nodes) share; private to gateway/cluster/. */
#ifndef RC_CLUSTER_INTERNAL_H
#define RC_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "nats_link.h"
#include "nats_proto.h"
#include "seqwin.h"
#include "state.h"

/* Origins a worker tells apart on one channel; a fifth replaces the one
 * heard from least recently (its window is lost: its next message starts
 * a new one). */
#define RC_CLUSTER_ORIGINS 4
/* Two origins heard within this long of each other publish one channel at
 * once. */
#define RC_CLUSTER_MULTI_MS 10000
/* Longest subject: prefix, ".ch.", channel. */
#define RC_CLUSTER_SUBJECT_MAX (RC_CONFIG_NATS_PREFIX_MAX + 4 + RC_CHANNEL_NAME_MAX + 1)

struct rc_cluster_origin {
	uint64_t id;
	uint64_t last_ms;
	struct rc_seqwin win;
};

/* A channel's cluster state on one worker (rc_chan.cluster), made when it
 * first gets a subscriber here, freed with the channel. */
struct rc_cluster_chan {
	struct rc_channel *ch;
	struct rc_cluster_chan *next, **pprev;	/* the worker's subscribed list */
	uint64_t sid;			/* 0: not subscribed */
	bool sub_sent;			/* SUB queued on the current connection */
	uint64_t idle_since_ms;		/* no subscriber here since (0: has some) */
	uint64_t local_msgs;		/* the registry's count at the last tick */
	uint64_t local_ms;		/* when local messages were last seen counted */
	bool multi;			/* two origins at once, counted already */
	struct rc_cluster_origin origins[RC_CLUSTER_ORIGINS];
};

struct rc_cluster {
	struct rc_server *srv;
	rc_cluster_deliver_fn deliver;
	struct rc_nats_link link;
	struct rc_cluster_chan *subs;	/* channels with a sid */
	uint64_t next_sid;
	size_t prefix_len;
};

/* The link's callbacks (cluster_in.c). */
void rc_cluster_on_msg(void *arg, const struct rc_nats_event *ev);

#endif
