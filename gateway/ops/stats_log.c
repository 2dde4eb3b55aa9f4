/* One line of rates per --stats-interval. The rates are differences of the
 * same totals /metrics exports, so the two never disagree. */
#include "stats_log.h"

#include "log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "state.h"

static double per_s(uint64_t now, uint64_t then, double secs)
{
	return (double)(now - then) / secs;
}

static void snap_of(const struct rc_server_stats *ss, const struct rc_hub_stats *hs,
		    const struct rc_loop_stats *ls, uint64_t now_ms, struct rc_stats_snap *s)
{
	s->at_ms = now_ms;
	s->msgs_in = ss->published;
	s->bytes_in = ss->published_bytes;
	s->frames_out = hs->send.frames;
	s->bytes_out = hs->send.bytes;
	s->sends = hs->send.sends;
	s->drops = 0;
	for (int i = 0; i < RC_DROP_REASONS; i++)
		s->drops += hs->drops[i];
	s->cqes = ls->cqes;
	s->enters = ls->enters;
	s->subs = ss->subscribers + ss->stream_subscribers;
	s->conns = ss->connections;
}

/* This worker's totals. */
static void snap(struct rc_server *srv, uint64_t now_ms, struct rc_stats_snap *s)
{
	snap_of(&srv->stats, &srv->hub.stats, rc_loop_stats(srv->loop), now_ms, s);
	s->ring_free = rc_bufring_free(srv->ingest_ring);
	s->ring_count = rc_bufring_count(srv->ingest_ring);
}

/* The process's totals, over every worker (messages in count once: a
 * message handed to another worker is counted by the one that took it in). */
static void snap_total(struct rc_server *srv, uint64_t now_ms, struct rc_stats_snap *s)
{
	struct rc_worker_counters t;

	rc_metrics_sum(srv, &t);
	snap_of(&t.srv, &t.hub, &t.loop, now_ms, s);
	s->ring_free = t.ingest_free;
	s->ring_count = t.ingest_free + t.ingest_in_use;
}

/* One line of the rates between two snapshots. */
static void log_line(const char *what, const struct rc_stats_snap *cur,
		     const struct rc_stats_snap *last)
{
	double secs = (double)(cur->at_ms - last->at_ms) / 1000.0;
	double sends = per_s(cur->sends, last->sends, secs);

	/* frames/send is the batching the fan-out achieved: the figure that
	 * decides throughput when sends, not bytes, are the cost. */
	rc_log_info("%s: in %.0f msg/s %.2f MB/s | out %.0f frames/s %.2f MB/s, %.0f sends/s "
		    "(%.1f frames/send) | drops %.0f/s | cqes %.0f/s enters %.0f/s | subs %llu "
		    "conns %llu | ring %llu/%llu free | over %.3f s", what,
		    per_s(cur->msgs_in, last->msgs_in, secs),
		    per_s(cur->bytes_in, last->bytes_in, secs) / 1e6,
		    per_s(cur->frames_out, last->frames_out, secs),
		    per_s(cur->bytes_out, last->bytes_out, secs) / 1e6, sends,
		    sends > 0 ? per_s(cur->frames_out, last->frames_out, secs) / sends : 0.0,
		    per_s(cur->drops, last->drops, secs), per_s(cur->cqes, last->cqes, secs),
		    per_s(cur->enters, last->enters, secs), (unsigned long long)cur->subs,
		    (unsigned long long)cur->conns, (unsigned long long)cur->ring_free,
		    (unsigned long long)cur->ring_count, secs);
}


int rc_stats_log_start(struct rc_server *srv, uint64_t now_ms)
{
	srv->stats_log = calloc(1, sizeof(*srv->stats_log));
	if (!srv->stats_log)
		return -ENOMEM;
	snap(srv, now_ms, &srv->stats_log->last);
	/* The process's first line is measured from the start too: every
	 * counter is 0 then, on every worker. */
	srv->stats_log->last_total.at_ms = now_ms;
	return 0;
}

void rc_stats_log_stop(struct rc_server *srv)
{
	free(srv->stats_log);
	srv->stats_log = NULL;
}

void rc_stats_log_tick(struct rc_server *srv, uint64_t now_ms)
{
	struct rc_stats_log *sl = srv->stats_log;
	struct rc_stats_snap cur;
	char what[32];

	if (!srv->cfg->stats_interval_ms)
		return;
	if (now_ms - sl->last.at_ms < srv->cfg->stats_interval_ms)
		return;
	snap(srv, now_ms, &cur);
	if (srv->proc->nworkers > 1)
		snprintf(what, sizeof(what), "stats worker %u", srv->id);
	else
		snprintf(what, sizeof(what), "stats");
	log_line(what, &cur, &sl->last);
	sl->last = cur;
	/* With several workers, worker 0 also logs the process's line, from
	 * the counters every worker published at the end of its last turn. */
	if (srv->proc->nworkers > 1 && srv->id == 0) {
		snap_total(srv, now_ms, &cur);
		log_line("stats total", &cur, &sl->last_total);
		sl->last_total = cur;
	}
}
