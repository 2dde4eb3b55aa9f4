/* --stats-interval: one log line of rates per interval, for watching a
 * running gateway (or a benchmark) without scraping /metrics. */
#ifndef RC_STATS_LOG_H
#define RC_STATS_LOG_H

#include <stdint.h>

struct rc_server;

/* The totals one line is the difference of. */
struct rc_stats_snap {
	uint64_t at_ms;
	uint64_t msgs_in, bytes_in;		/* published into channels */
	uint64_t frames_out, bytes_out;		/* fully sent to subscribers */
	uint64_t sends;				/* sendmsg completions */
	uint64_t drops;				/* every drop reason */
	uint64_t cqes, enters;
	uint64_t subs, conns;			/* open now */
	uint64_t ring_free, ring_count;		/* ingest ring buffers */
};

struct rc_stats_log {
	struct rc_stats_snap last;		/* this worker's, at the last line */
	struct rc_stats_snap last_total;	/* worker 0: the process's */
};

/* Takes the totals the first line is measured from (at the start of
 * serving) into srv->stats_log, which it allocates. Returns 0 or -ENOMEM. */
int rc_stats_log_start(struct rc_server *srv, uint64_t now_ms);

/* Frees srv->stats_log (NULL is fine). */
void rc_stats_log_stop(struct rc_server *srv);

/* Called from the server's tick with the loop's clock: when
 * --stats-interval has passed since the last line, logs the rates since
 * then (info level: "stats:", or "stats worker N:" with several workers,
 * and then on worker 0 a "stats total:" line for the process) and remembers
 * the totals. Does nothing when the interval is 0. */
void rc_stats_log_tick(struct rc_server *srv, uint64_t now_ms);

#endif
