/* A late joiner's cache across nodes. When a worker subscribes to a
 * channel that keeps a cache (--cache), it asks the cluster for it: an
 * empty request on <prefix>.cache.<channel> whose answers come to its inbox,
 * <prefix>.inbox.<node>.<worker>.<request>. The workers that ingest the
 * channel answer in one queue group (one answer per request): every cached
 * message, oldest first (an MPEG-TS cache's PAT/PMT first, then its GOP
 * from the keyframe), each with its envelope, then an end marker (header
 * Rc-End: <count>, no payload). NATS answers a request nobody takes with a
 * 503 status at once.
 *
 * Switching to live without a gap or a repeat: the live subscription is in
 * place before the request leaves (both go out on one connection, in that
 * order), and live messages that arrive before the answer ends are held;
 * then they go through the origin's window after the answer's messages,
 * which drops those the answer already had. A request that gets no end
 * within RC_CLUSTER_CACHE_WAIT_MS, or holds more than the bounds, lets its
 * held messages go. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "envelope.h"
#include "mem.h"
#include "nats_proto.h"
#include "num.h"

void rc_cluster_cache_ask(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	char subject[RC_CLUSTER_SUBJECT_MAX], reply[RC_CLUSTER_SUBJECT_MAX];
	uint64_t id;

	if (!cc->want_cache || cc->req_id)
		return;
	if (!cl->link.headers) {
		cc->want_cache = false;	/* answers need headers (envelopes, the end) */
		return;
	}
	/* The inbox's SUB goes out before the request, on the same
	 * connection: the server has it when the answer comes. */
	rc_cluster_send_inbox(cl);
	if (!cl->inbox_sent)
		return;
	id = cl->next_req + 1;
	rc_cluster_subject(cl, ".cache.", cc->ch, subject);
	snprintf(reply, sizeof(reply), "%s.inbox.%016llx.%u.%llu", cl->srv->cfg->nats_prefix,
		 (unsigned long long)cl->srv->proc->node_id, cl->srv->id, (unsigned long long)id);
	if (rc_nats_link_request(&cl->link, subject, reply) < 0)
		return;	/* no room now: the tick asks again */
	cl->next_req = id;
	cc->req_id = id;
	cc->req_until_ms = rc_loop_now_ms(cl->srv->loop) + RC_CLUSTER_CACHE_WAIT_MS;
	cc->want_cache = false;
	cl->srv->stats.nats_cache_requests++;
}

struct answer {
	struct rc_cluster *cl;
	const char *reply;
	uint64_t epoch;
	uint32_t sent;
};

static bool answer_one(void *arg, const uint8_t *payload, uint32_t len, uint64_t seq)
{
	struct answer *a = arg;
	struct rc_envelope env = { .origin = a->cl->srv->proc->node_id, .epoch = a->epoch,
				   .seq = seq };
	char hdrs[RC_ENVELOPE_MAX];
	ssize_t n = rc_envelope_encode(hdrs, sizeof(hdrs), &env);

	/* Over the outbound bound the answer stops short; the joiner then
	 * takes what came and counts the rest as a gap. */
	if (n < 0 || rc_nats_link_publish(&a->cl->link, a->reply, hdrs, (size_t)n, payload, len) < 0)
		return false;
	a->sent++;
	return true;
}

void rc_cluster_cache_answer(struct rc_cluster *cl, struct rc_cluster_chan *cc,
			     const struct rc_nats_event *ev)
{
	char reply[RC_CLUSTER_SUBJECT_MAX], end[64];
	struct answer a = { .cl = cl, .reply = reply,
			    .epoch = cc->ch->shared ? cc->ch->shared->epoch : 0 };
	int n;

	if (!ev->reply || ev->reply_len >= sizeof(reply))
		return;
	memcpy(reply, ev->reply, ev->reply_len);
	reply[ev->reply_len] = '\0';
	cl->hooks.cache_each(cc->ch, answer_one, &a);
	n = snprintf(end, sizeof(end), "NATS/1.0\r\nRc-End: %u\r\n\r\n", a.sent);
	rc_nats_link_publish(&cl->link, reply, end, (size_t)n, "", 0);
	cl->srv->stats.nats_cache_answered++;
}

/* The request of this worker with id id, or NULL (it ended already). */
static struct rc_cluster_chan *request_of(struct rc_cluster *cl, uint64_t id)
{
	for (struct rc_cluster_chan *cc = cl->chans; cc; cc = cc->next)
		if (cc->req_id == id)
			return cc;
	return NULL;
}

void rc_cluster_cache_reply(struct rc_cluster *cl, const struct rc_nats_event *ev)
{
	struct rc_server *srv = cl->srv;
	struct rc_cluster_chan *cc = NULL;
	struct rc_envelope env = { 0 };
	struct rc_nats_header h;
	const char *dot;
	uint64_t sid, id;
	struct rc_shmsg *m;

	dot = memrchr(ev->subject, '.', ev->subject_len);
	if (rc_num_parse_u64n(ev->sid, ev->sid_len, 1, UINT64_MAX, &sid) == 0 &&
	    sid == cl->inbox_sid && dot &&
	    rc_num_parse_u64n(dot + 1, ev->subject_len - (size_t)(dot + 1 - ev->subject), 1,
			      UINT64_MAX, &id) == 0)
		cc = request_of(cl, id);
	if (!cc) {
		srv->stats.nats_unrouted++;
		return;
	}
	if (ev->headers) {
		struct rc_nats_hdr_reader r;
		struct rc_nats_status st;

		/* A status (503: nobody answers this channel's requests), or
		 * the end of the answer. */
		if (rc_nats_hdr_open(&r, ev->headers, ev->headers_len, &st) < 0 || st.code ||
		    rc_nats_hdr_get(ev->headers, ev->headers_len, "Rc-End", 6, &h) == 1) {
			rc_cluster_cache_end(cl, cc);
			return;
		}
		if (rc_envelope_decode(ev->headers, ev->headers_len, &env) < 0) {
			srv->stats.nats_bad_envelope++;
			return;
		}
	}
	m = rc_cluster_copy_in(srv, ev);
	if (!m)
		return;
	srv->stats.nats_cache_msgs_in++;
	rc_cluster_take(cl, cc, m, &env, true);
}

bool rc_cluster_cache_hold(struct rc_cluster *cl, struct rc_cluster_chan *cc, struct rc_shmsg *m,
			   const struct rc_envelope *env)
{
	if (cc->nheld == RC_CLUSTER_HOLD_MSGS || cc->held_bytes + m->len > RC_CLUSTER_HOLD_MAX) {
		rc_cluster_cache_end(cl, cc);
		return false;
	}
	if (cc->nheld == cc->held_cap) {
		uint32_t cap = cc->held_cap ? cc->held_cap * 2 : 16;
		struct rc_cluster_held *h = realloc(cc->held, cap * sizeof(*h));

		if (!h) {
			rc_cluster_cache_end(cl, cc);
			return false;
		}
		rc_mem_charge((cap - cc->held_cap) * sizeof(*h));
		cc->held = h;
		cc->held_cap = cap;
	}
	cc->held[cc->nheld++] = (struct rc_cluster_held){ .m = m, .env = *env };
	cc->held_bytes += m->len;
	return true;
}

/* Takes the hold's array out of cc (its n messages; the caller frees it):
 * what fan-out does with them next cannot touch it through cc. */
static struct rc_cluster_held *hold_take(struct rc_cluster_chan *cc, uint32_t *n)
{
	struct rc_cluster_held *held = cc->held;

	*n = cc->nheld;
	rc_mem_uncharge(cc->held_cap * sizeof(*held));
	cc->held = NULL;
	cc->held_cap = cc->nheld = 0;
	cc->held_bytes = 0;
	return held;
}

void rc_cluster_cache_end(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	uint32_t n;
	struct rc_cluster_held *held = hold_take(cc, &n);

	if (rc_loop_now_ms(cl->srv->loop) >= cc->req_until_ms)
		cl->srv->stats.nats_cache_timeouts++;
	cc->req_id = 0;
	for (uint32_t i = 0; i < n; i++)
		rc_cluster_take(cl, cc, held[i].m, &held[i].env, true);
	free(held);
}

void rc_cluster_cache_drop(struct rc_cluster *cl, struct rc_cluster_chan *cc)
{
	uint32_t n;
	struct rc_cluster_held *held = hold_take(cc, &n);

	(void)cl;
	for (uint32_t i = 0; i < n; i++)
		rc_shmsg_unref(held[i].m);
	free(held);
	cc->req_id = 0;
}
