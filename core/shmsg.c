#include "shmsg.h"

#include <errno.h>
#include <stdlib.h>

#include "mem.h"

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
	m->data = m->buf;
	m->release = NULL;
	m->release_arg = NULL;
	rc_mem_charge(sizeof(*m) + cap);
	return m;
}

void rc_shmsg_view_init(struct rc_shmsg *m, uint8_t *data, uint32_t len,
			void (*release)(void *arg), void *arg)
{
	*m = (struct rc_shmsg){ .refs = 1, .len = len, .data = data, .release = release,
				.release_arg = arg };
}

int rc_shmsg_add_ends(struct rc_shmsg *m)
{
	m->ends = malloc(RC_SHMSG_ENDS_MAX * sizeof(*m->ends));
	if (!m->ends)
		return -ENOMEM;
	rc_mem_charge(RC_SHMSG_ENDS_MAX * sizeof(*m->ends));
	return 0;
}

size_t rc_shmsg_size(const struct rc_shmsg *m)
{
	return sizeof(*m) + m->cap + (m->ends ? RC_SHMSG_ENDS_MAX * sizeof(*m->ends) : 0);
}

void rc_shmsg_unref(struct rc_shmsg *m)
{
	if (--m->refs)
		return;
	if (m->release) {
		m->release(m->release_arg);
		return;
	}
	rc_mem_uncharge(rc_shmsg_size(m));
	free(m->ends);
	free(m);
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
	uint32_t old;

	if ((*mp)->cap >= cap)
		return 0;
	old = (*mp)->cap;
	m = realloc(*mp, sizeof(*m) + cap);
	if (!m)
		return -ENOMEM;
	m->cap = cap;
	m->data = m->buf;
	rc_mem_charge(cap - old);
	*mp = m;
	return 0;
}
