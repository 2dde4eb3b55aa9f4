/* Log-linear latency histogram in the spirit of HdrHistogram: every power of
 * two is split into 128 linear sub-buckets, so any recorded value is known to
 * within 1/128 (< 0.8 %) of itself. Values are nanoseconds; the range covers
 * 1 us .. 60 s with that precision (below 128 ns values are exact, above 60 s
 * they are clamped and counted as overflow). Fixed size, no allocation. */
#ifndef RC_PERF_BENCH_HIST_H
#define RC_PERF_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_MAX_NS UINT64_C(60000000000)
/* 60 s < 2^36 ns: exponents 7..35 plus the exact range below 128. */
#define HIST_BUCKETS (HIST_SUB_COUNT * (36 - HIST_SUB_BITS + 1))

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t total;
	uint64_t overflow;	/* values above HIST_MAX_NS (recorded as HIST_MAX_NS) */
	uint64_t min, max;
	double sum;
};

/* Empties h. */
void hist_reset(struct hist *h);

/* Records one value in nanoseconds. */
void hist_record(struct hist *h, uint64_t ns);

/* Value at percentile p (0..100): the highest value equivalent to the bucket
 * holding that rank, clamped to the recorded maximum. 0 when h is empty. */
uint64_t hist_percentile(const struct hist *h, double p);

/* Mean of the recorded values, 0 when empty. */
double hist_mean(const struct hist *h);

#endif
