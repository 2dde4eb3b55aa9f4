/* The ramp's choice of rates, apart from measuring them: climb by a factor
 * while steps pass, tolerate a few failing steps in a row (servers with many
 * subscribers can fail at a low rate and pass at a higher one, where their
 * sends carry more messages each), then bisect between the best pass and
 * the lowest failure above it. Pure: no I/O, no allocation. */
#ifndef RC_BENCH_RAMP_H
#define RC_BENCH_RAMP_H

#include <stdbool.h>

struct bench_ramp {
	double factor;		/* rate multiplier per climbing step (> 1) */
	unsigned refine;	/* bisection steps after the climb ends */
	unsigned patience;	/* failing steps in a row that end the climb (>= 1) */
	double rate;		/* the rate of the step to run now */
	double best_rate;	/* highest rate that passed; 0: none yet */
	double fail_rate;	/* lowest failing rate above best_rate; 0: none */
	unsigned fails;		/* failing steps in a row while climbing */
	unsigned refined;	/* bisection steps run */
	bool refining;		/* the climb is over */
};

/* Starts a ramp at `start` msg/s. patience 1 ends the climb at the first
 * failing step; 0 is taken as 1. */
void bench_ramp_init(struct bench_ramp *r, double start, double factor, unsigned refine,
		     unsigned patience);

/* Records whether the step at r->rate passed. Returns true with r->rate set
 * to the next step's rate, or false when the ramp is over (r->best_rate is
 * then its result, 0 if nothing passed). */
bool bench_ramp_next(struct bench_ramp *r, bool passed);

#endif
