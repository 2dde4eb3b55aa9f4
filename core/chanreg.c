/* The process's registry of channels. See chanreg.h. */
#include "chanreg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "channel.h"
#include "mem.h"

int rc_chanreg_init(struct rc_chanreg *reg, uint32_t nloops)
{
	if (nloops < 1 || nloops > RC_CHANREG_MAX_LOOPS)
		return -EINVAL;
	memset(reg, 0, sizeof(*reg));
	reg->nloops = nloops;
	return -pthread_mutex_init(&reg->lock, NULL);
}

void rc_chanreg_fini(struct rc_chanreg *reg)
{
	for (size_t b = 0; b < RC_CHANREG_BUCKETS; b++) {
		while (reg->buckets[b]) {
			struct rc_chanreg_ent *e = reg->buckets[b];

			reg->buckets[b] = e->next;
			rc_mem_uncharge(sizeof(*e));
			free(e);
		}
	}
	reg->count = 0;
	pthread_mutex_destroy(&reg->lock);
}

static struct rc_chanreg_ent **slot_of(struct rc_chanreg *reg, const char *name, size_t len)
{
	struct rc_chanreg_ent **pp = &reg->buckets[rc_channel_name_hash(name, len) % RC_CHANREG_BUCKETS];

	while (*pp && ((*pp)->name_len != len || memcmp((*pp)->name, name, len) != 0))
		pp = &(*pp)->next;
	return pp;
}

/* getrandom() does not block once the kernel's pool is ready (long before
 * a relay starts); should it fail, the clock and an address still tell two
 * histories of one process apart. */
uint64_t rc_chanreg_new_id(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&v;
	}
	return v ? v : 1;
}

struct rc_chanreg_ent *rc_chanreg_hold(struct rc_chanreg *reg, const char *name, size_t len)
{
	struct rc_chanreg_ent **pp, *e;

	if (len >= sizeof(e->name))
		return NULL;
	pthread_mutex_lock(&reg->lock);
	pp = slot_of(reg, name, len);
	e = *pp;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			goto out;
		rc_mem_charge(sizeof(*e));
		e->epoch = rc_chanreg_new_id();
		memcpy(e->name, name, len);
		e->name_len = len;
		/* Placed at the head of the chain, as the hub places its
		 * channels, so both list a bucket in the same order. */
		e->next = reg->buckets[rc_channel_name_hash(name, len) % RC_CHANREG_BUCKETS];
		reg->buckets[rc_channel_name_hash(name, len) % RC_CHANREG_BUCKETS] = e;
		reg->count++;
	}
	e->holders++;
out:
	pthread_mutex_unlock(&reg->lock);
	return e;
}

void rc_chanreg_drop(struct rc_chanreg *reg, struct rc_chanreg_ent *e)
{
	struct rc_chanreg_ent **pp;

	pthread_mutex_lock(&reg->lock);
	if (--e->holders == 0) {
		pp = slot_of(reg, e->name, e->name_len);
		*pp = e->next;
		reg->count--;
		rc_mem_uncharge(sizeof(*e));
		free(e);
	}
	pthread_mutex_unlock(&reg->lock);
}

bool rc_chanreg_exists(struct rc_chanreg *reg, const char *name, size_t len)
{
	bool found;

	pthread_mutex_lock(&reg->lock);
	found = *slot_of(reg, name, len) != NULL;
	pthread_mutex_unlock(&reg->lock);
	return found;
}

uint32_t rc_chanreg_count(struct rc_chanreg *reg)
{
	uint32_t n;

	pthread_mutex_lock(&reg->lock);
	n = reg->count;
	pthread_mutex_unlock(&reg->lock);
	return n;
}

uint32_t rc_chanreg_count_subs(struct rc_chanreg *reg, const char *name, size_t len)
{
	struct rc_chanreg_ent *e;
	uint32_t n = 0;

	pthread_mutex_lock(&reg->lock);
	e = *slot_of(reg, name, len);
	if (e)
		n = rc_chanreg_subs(e);
	pthread_mutex_unlock(&reg->lock);
	return n;
}

void rc_chanreg_foreach(struct rc_chanreg *reg, void (*fn)(struct rc_chanreg_ent *e, void *arg),
			void *arg)
{
	pthread_mutex_lock(&reg->lock);
	for (size_t b = 0; b < RC_CHANREG_BUCKETS; b++)
		for (struct rc_chanreg_ent *e = reg->buckets[b]; e; e = e->next)
			fn(e, arg);
	pthread_mutex_unlock(&reg->lock);
}

struct rc_chanreg_origin *rc_chanreg_origin(struct rc_chanreg_ent *e, uint64_t id,
					    uint64_t now_ms)
{
	struct rc_chanreg_origin *stale = NULL;
	uint64_t stale_ms = UINT64_MAX, stale_id = 0, cur;

	for (int i = 0; i < RC_CHANREG_ORIGINS; i++) {
		struct rc_chanreg_origin *o = &e->origins[i];

		cur = atomic_load_explicit(&o->id, memory_order_relaxed);

		/* Relaxed: the slot's counters are statistics; only the
		 * claim itself must be atomic, so one slot has one id. */
		if (cur == id)
			return o;
		if (!cur && atomic_compare_exchange_strong_explicit(&o->id, &cur, id,
								    memory_order_relaxed,
								    memory_order_relaxed)) {
			atomic_store_explicit(&o->last_ms, now_ms, memory_order_relaxed);
			return o;
		}
		if (cur == id)
			return o;	/* another loop claimed it for the same id */
		if (atomic_load_explicit(&o->last_ms, memory_order_relaxed) < stale_ms) {
			stale = o;
			stale_id = cur;
			stale_ms = atomic_load_explicit(&o->last_ms, memory_order_relaxed);
		}
	}
	if (!stale || now_ms < stale_ms + RC_CHANREG_ORIGIN_STALE_MS)
		return NULL;
	/* Taken from the silent origin seen above, only if the slot still
	 * holds it: of two loops racing for it one wins, the other gets NULL
	 * this time (and a slot again on a later message). */
	if (!atomic_compare_exchange_strong_explicit(&stale->id, &stale_id, id, memory_order_relaxed,
						     memory_order_relaxed))
		return NULL;
	atomic_store_explicit(&stale->msgs, 0, memory_order_relaxed);
	atomic_store_explicit(&stale->missing, 0, memory_order_relaxed);
	atomic_store_explicit(&stale->dups, 0, memory_order_relaxed);
	atomic_store_explicit(&stale->last_ms, now_ms, memory_order_relaxed);
	return stale;
}

bool rc_chanreg_sub_reserve(struct rc_chanreg_ent *e, uint32_t max)
{
	uint32_t n = atomic_load_explicit(&e->nsubs, memory_order_relaxed);

	/* Relaxed: only the count's atomicity matters (see chanreg.h). */
	do {
		if (max && n >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&e->nsubs, &n, n + 1, memory_order_relaxed,
						      memory_order_relaxed));
	return true;
}

void rc_chanreg_sub_release(struct rc_chanreg_ent *e)
{
	atomic_fetch_sub_explicit(&e->nsubs, 1, memory_order_relaxed);
}

bool rc_chanreg_pub_claim(struct rc_chanreg_ent *e, bool multi)
{
	uint32_t zero = 0;

	if (multi) {
		atomic_fetch_add_explicit(&e->publishers, 1, memory_order_relaxed);
		return true;
	}
	/* Relaxed: the claim guards no data, only its atomicity matters. */
	return atomic_compare_exchange_strong_explicit(&e->publishers, &zero, 1,
						       memory_order_relaxed, memory_order_relaxed);
}

void rc_chanreg_pub_release(struct rc_chanreg_ent *e)
{
	atomic_fetch_sub_explicit(&e->publishers, 1, memory_order_relaxed);
}

void rc_chanreg_set_interest(struct rc_chanreg_ent *e, uint32_t loop, bool on)
{
	uint64_t bit = 1ull << loop;

	/* Sequentially consistent: see the field. */
	if (on)
		atomic_fetch_or_explicit(&e->interest, bit, memory_order_seq_cst);
	else
		atomic_fetch_and_explicit(&e->interest, ~bit, memory_order_seq_cst);
}

void rc_chanreg_rates(struct rc_chanreg *reg, uint64_t now_ms)
{
	pthread_mutex_lock(&reg->lock);
	for (size_t b = 0; b < RC_CHANREG_BUCKETS; b++) {
		for (struct rc_chanreg_ent *e = reg->buckets[b]; e; e = e->next) {
			uint64_t dt = now_ms - e->rate_ms;
			uint64_t msgs = atomic_load_explicit(&e->msgs, memory_order_relaxed);
			uint64_t bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);

			if (e->rate_ms && dt < 1000)
				continue;
			if (e->rate_ms) {
				atomic_store_explicit(&e->msg_rate, (msgs - e->rate_msgs) * 1000 / dt,
						      memory_order_relaxed);
				atomic_store_explicit(&e->byte_rate,
						      (bytes - e->rate_bytes) * 1000 / dt,
						      memory_order_relaxed);
			}
			e->rate_ms = now_ms;
			e->rate_msgs = msgs;
			e->rate_bytes = bytes;
		}
	}
	pthread_mutex_unlock(&reg->lock);
}
