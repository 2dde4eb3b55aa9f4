#include "shmsg.h"

#include <errno.h>
#include <stdlib.h>

struct rc_shmsg *rc_shmsg_new(uint32_t cap)
{
	struct rc_shmsg *m = malloc(sizeof(*m) + cap);

	if (!m)
		return NULL;
	m->refs = 1;
	m->cap = cap;
	m->len = 0;
	m->nends = 0;
	m->ends = NULL;
	return m;
}

void rc_shmsg_unref(struct rc_shmsg *m)
{
	if (--m->refs == 0) {
		free(m->ends);
		free(m);
	}
}

uint32_t rc_shmsg_whole(const struct rc_shmsg *m, uint32_t off)
{
	uint32_t n = 0;

	while (n < m->nends && m->ends[n] <= off)
		n++;
	return n;
}

int rc_shmsg_reserve(struct rc_shmsg **mp, uint32_t cap)
{
	struct rc_shmsg *m;

	if ((*mp)->cap >= cap)
		return 0;
	m = realloc(*mp, sizeof(*m) + cap);
	if (!m)
		return -ENOMEM;
	m->cap = cap;
	*mp = m;
	return 0;
}
