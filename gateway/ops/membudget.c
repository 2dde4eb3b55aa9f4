/* --max-memory: its default, and shedding the connections that hold most. */
#include "membudget.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "state.h"
#include "subscriber.h"
#include "tcp_pub.h"

/* Per tick: a bounded amount of work, and time for what was dropped to be
 * freed (sends in flight finish first) before shedding more. */
#define SHED_PER_TICK 16
/* A connection holding less is not worth closing: it would not help. */
#define SHED_MIN_BYTES (64u << 10)

/* MemTotal in bytes, or 0. */
static uint64_t mem_total(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* The memory.max of this process's cgroup (v2), or 0 when unbounded or
 * unreadable. */
static uint64_t cgroup_max(void)
{
	char line[512], path[600], val[64];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	if (!f)
		return 0;
	path[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", line + 3);
			break;
		}
	}
	fclose(f);
	if (!path[0] || !(f = fopen(path, "r")))
		return 0;
	if (fgets(val, sizeof(val), f) && strncmp(val, "max", 3) != 0)
		sscanf(val, "%" SCNu64, &v);
	fclose(f);
	return v;
}

uint64_t rc_membudget_default(void)
{
	uint64_t total = mem_total(), cg = cgroup_max();

	if (cg && (!total || cg < total))
		total = cg;
	return total / 2;
}

/* The open client connection holding the most, not already closing; NULL
 * when none holds SHED_MIN_BYTES (publishers hold their answers only). */
static struct rc_conn *largest(struct rc_server *srv)
{
	struct rc_conn *best = NULL;
	size_t most = SHED_MIN_BYTES;

	for (struct rc_stream *st = srv->streams; st; st = st->next) {
		size_t held = rc_sendq_charge(&st->q);
		struct rc_conn *c;

		if (st->dead || rc_publisher_of(st) || held < most)
			continue;
		c = rc_conn_of(st);
		if (c->state == RC_CONN_CLOSING)
			continue;
		most = held;
		best = c;
	}
	return best;
}

void rc_membudget_tick(struct rc_server *srv)
{
	for (int i = 0; i < SHED_PER_TICK && rc_mem_over(); i++) {
		struct rc_conn *c = largest(srv);

		if (!c)
			break;
		srv->stats.memory_shed++;
		rc_log_warn("memory: %zu bytes held, over --max-memory %zu: closing fd %d, which "
			    "holds %zu", rc_mem_used(), rc_mem_limit(), c->st.fd,
			    rc_sendq_charge(&c->st.q));
		/* What it has not been sent yet goes now (counted as closed
		 * drops), so the close frame is next and the memory is freed. */
		rc_hub_drop_pending(&srv->hub, &c->sub);
		if (c->state == RC_CONN_WS || c->state == RC_CONN_STREAM)
			rc_subscriber_close(c, RC_WS_CLOSE_TRY_LATER);
		else
			rc_conn_close(c);
	}
}
