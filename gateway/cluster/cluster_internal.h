/* What cluster.c (the link, subscriptions, publishing), cluster_in.c
 * (messages from other nodes) and cluster_cache.c (cache requests and
 * answers) share; private to gateway/cluster/. */
#ifndef RC_CLUSTER_INTERNAL_H
#define RC_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "channel.h"
#include "cluster.h"
#include "envelope.h"
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
/* Longest subject: prefix, ".cache." or ".inbox.<node>.<worker>.<n>",
 * channel. */
#define RC_CLUSTER_SUBJECT_MAX (RC_CONFIG_NATS_PREFIX_MAX + 48 + RC_CHANNEL_NAME_MAX + 1)
/* A cache request waits this long for its answer's end; live messages are
 * held meanwhile, at most this many bytes (then they go out, and the
 * answer's messages are taken for what they are: late or seen). */
#define RC_CLUSTER_CACHE_WAIT_MS 1000
#define RC_CLUSTER_HOLD_MAX (4u << 20)
#define RC_CLUSTER_HOLD_MSGS 1024
/* UNSUBs that found no room, retried by the tick (a new connection
 * forgets them: its server never had those SUBs). */
#define RC_CLUSTER_UNSUB_MAX 64

struct rc_cluster_origin {
	uint64_t id;
	uint64_t last_ms;
	struct rc_seqwin win;
};

/* A live message held while the channel's cache request is out. */
struct rc_cluster_held {
	struct rc_shmsg *m;
	struct rc_envelope env;
};

/* A channel's cluster state on one worker (rc_channel.remote), made when
 * it first gets a subscriber here or first publishes with a cache, freed
 * with the channel. */
struct rc_cluster_chan {
	struct rc_channel *ch;
	struct rc_cluster_chan *next, **pprev;	/* the worker's list */
	uint64_t sid;			/* its live subject's; 0: not subscribed */
	bool sub_sent;			/* SUB queued on the current connection */
	uint64_t idle_since_ms;		/* no subscriber here since (0: has some) */
	uint64_t local_msgs;		/* the registry's count at the last tick */
	uint64_t local_ms;		/* when local messages were last seen counted */
	bool multi;			/* two origins at once, counted already */
	/* Answering other nodes' cache requests (this worker ingests the
	 * channel and keeps its cache): the cache subject's sid, 0: none. */
	uint64_t cache_sid;
	bool cache_sub_sent;
	/* Asking for the cache: the request's id (0: none out), until when
	 * its answer is waited for, and the live messages held meanwhile. */
	bool want_cache;		/* ask once the SUB is out */
	uint64_t req_id;
	uint64_t req_until_ms;
	struct rc_cluster_held *held;
	uint32_t nheld, held_cap;
	size_t held_bytes;
	struct rc_cluster_origin origins[RC_CLUSTER_ORIGINS];
};

struct rc_cluster {
	struct rc_server *srv;
	struct rc_cluster_hooks hooks;
	struct rc_nats_link link;
	struct rc_cluster_chan *chans;	/* every channel with state */
	uint64_t next_sid;
	uint64_t inbox_sid;		/* answers to this worker's requests */
	bool inbox_sent;
	uint64_t next_req;
	size_t prefix_len;
	uint64_t unsub_pending[RC_CLUSTER_UNSUB_MAX];
	uint32_t nunsub;
};

/* Writes <prefix><mid><channel> (dots of the channel as '~') into dst
 * (RC_CLUSTER_SUBJECT_MAX bytes). */
void rc_cluster_subject(const struct rc_cluster *cl, const char *mid, const struct rc_channel *ch,
			char *dst);

/* SUBs this worker's inbox for the answers to its cache requests,
 * <prefix>.inbox.<node>.<worker>.<request id>, on first need (a node
 * without late joiners of cached channels subscribes to nothing but its
 * channels). */
void rc_cluster_send_inbox(struct rc_cluster *cl);

/* The link's MSG callback (cluster_in.c). */
void rc_cluster_on_msg(void *arg, const struct rc_nats_event *ev);

/* Takes a message from another node for cc: through the origin's window
 * (repeats dropped, gaps counted; quiet: a repeat is expected, as in a
 * cache answer, and not counted) and out to the subscribers. The reference
 * on m passes. */
void rc_cluster_take(struct rc_cluster *cl, struct rc_cluster_chan *cc, struct rc_shmsg *m,
		     const struct rc_envelope *env, bool quiet);

/* Copies ev's payload into a new message, the one copy of a message from
 * NATS (cluster_in.c; counted when it cannot). */
struct rc_shmsg *rc_cluster_copy_in(struct rc_server *srv, const struct rc_nats_event *ev);

/* cluster_cache.c: sends cc's cache request when one is wanted and the
 * link is ready; answers a request; takes an answer's message; ends a
 * request (its answer is complete, or it timed out): the held messages go
 * out. */
void rc_cluster_cache_ask(struct rc_cluster *cl, struct rc_cluster_chan *cc);
void rc_cluster_cache_answer(struct rc_cluster *cl, struct rc_cluster_chan *cc,
			     const struct rc_nats_event *ev);
void rc_cluster_cache_reply(struct rc_cluster *cl, const struct rc_nats_event *ev);
void rc_cluster_cache_end(struct rc_cluster *cl, struct rc_cluster_chan *cc);
/* Ends cc's request without fanning out what it held (dropped). */
void rc_cluster_cache_drop(struct rc_cluster *cl, struct rc_cluster_chan *cc);
/* Holds m for cc while its request is out. Returns false when it cannot
 * (the hold is full: the request ends now, m is not taken). */
bool rc_cluster_cache_hold(struct rc_cluster *cl, struct rc_cluster_chan *cc, struct rc_shmsg *m,
			   const struct rc_envelope *env);

#endif
