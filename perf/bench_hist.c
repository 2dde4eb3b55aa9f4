/* Log-linear latency histogram; see bench_hist.h for the precision argument. */
#include "bench_hist.h"

#include <string.h>

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB_COUNT)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);	/* floor(log2 v), >= HIST_SUB_BITS */
	/* The top HIST_SUB_BITS+1 bits of v select the sub-bucket; the leading
	 * 1 is implied by the exponent, so it is masked off. */
	return HIST_SUB_COUNT * (e - HIST_SUB_BITS + 1) +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB_COUNT - 1));
}

/* Largest value that lands in bucket b. */
static uint64_t bucket_top(unsigned b)
{
	unsigned e, sub;

	if (b < HIST_SUB_COUNT)
		return b;
	e = b / HIST_SUB_COUNT + HIST_SUB_BITS - 1;
	sub = b % HIST_SUB_COUNT;
	return ((((uint64_t)HIST_SUB_COUNT | sub) + 1) << (e - HIST_SUB_BITS)) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
	if (ns > HIST_MAX_NS) {
		h->overflow++;
		ns = HIST_MAX_NS;
	}
	h->counts[bucket_of(ns)]++;
	if (h->total == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->total++;
	h->sum += (double)ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->total == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p < 0)
		p = 0;
	/* Rank of the value at p, 1-based and never 0, so p50 of {a, b} is a. */
	rank = (uint64_t)((p / 100.0) * (double)h->total + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->counts[b];
		if (seen >= rank) {
			uint64_t top = bucket_top(b);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
