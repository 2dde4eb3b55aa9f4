/* One line of rates per --stats-interval. The rates are differences of the
 * same totals /metrics exports, so the two never disagree. */
#include "stats_log.h"

#include "log.h"
#include <errno.h>
#include <stdlib.h>

#include "state.h"

static void snap(struct rc_server *srv, uint64_t now_ms, struct rc_stats_snap *s)
{
	const struct rc_loop_stats *ls = rc_loop_stats(srv->loop);
	const struct rc_hub_stats *hs = &srv->hub.stats;

	s->at_ms = now_ms;
	s->msgs_in = srv->stats.published;
	s->bytes_in = srv->stats.published_bytes;
	s->frames_out = hs->send.frames;
	s->bytes_out = hs->send.bytes;
	s->sends = hs->send.sends;
	s->drops = 0;
	for (int i = 0; i < RC_DROP_REASONS; i++)
		s->drops += hs->drops[i];
	s->cqes = ls->cqes;
	s->enters = ls->enters;
}

static double per_s(uint64_t now, uint64_t then, double secs)
{
	return (double)(now - then) / secs;
}

int rc_stats_log_start(struct rc_server *srv, uint64_t now_ms)
{
	srv->stats_log = calloc(1, sizeof(*srv->stats_log));
	if (!srv->stats_log)
		return -ENOMEM;
	snap(srv, now_ms, &srv->stats_log->last);
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
	double secs, sends;

	if (!srv->cfg->stats_interval_ms)
		return;
	if (now_ms - sl->last.at_ms < srv->cfg->stats_interval_ms)
		return;
	snap(srv, now_ms, &cur);
	secs = (double)(cur.at_ms - sl->last.at_ms) / 1000.0;
	sends = per_s(cur.sends, sl->last.sends, secs);
	/* frames/send is the batching the fan-out achieved: the figure that
	 * decides throughput when sends, not bytes, are the cost. */
	rc_log_info("stats: in %.0f msg/s %.2f MB/s | out %.0f frames/s %.2f MB/s, %.0f sends/s "
		    "(%.1f frames/send) | drops %.0f/s | cqes %.0f/s enters %.0f/s | subs %llu "
		    "conns %llu | ring %u/%u free | over %.3f s",
		    per_s(cur.msgs_in, sl->last.msgs_in, secs),
		    per_s(cur.bytes_in, sl->last.bytes_in, secs) / 1e6,
		    per_s(cur.frames_out, sl->last.frames_out, secs),
		    per_s(cur.bytes_out, sl->last.bytes_out, secs) / 1e6, sends,
		    sends > 0 ? per_s(cur.frames_out, sl->last.frames_out, secs) / sends : 0.0,
		    per_s(cur.drops, sl->last.drops, secs), per_s(cur.cqes, sl->last.cqes, secs),
		    per_s(cur.enters, sl->last.enters, secs),
		    (unsigned long long)(srv->stats.subscribers + srv->stats.stream_subscribers),
		    (unsigned long long)srv->stats.connections, rc_bufring_free(srv->ingest_ring),
		    rc_bufring_count(srv->ingest_ring), secs);
	sl->last = cur;
}
