/* The ramp's rate choices; see bench_ramp.h. */
#include "bench_ramp.h"

#include <math.h>

void bench_ramp_init(struct bench_ramp *r, double start, double factor, unsigned refine,
		     unsigned patience)
{
	*r = (struct bench_ramp){
		.factor = factor,
		.refine = refine,
		.patience = patience ? patience : 1,
		.rate = start,
	};
}

/* The next bisection step between the best pass and the lowest failure
 * above it, or false when the bisection budget is spent or nothing passed. */
static bool bisect(struct bench_ramp *r)
{
	if (r->best_rate <= 0 || r->refined >= r->refine)
		return false;
	r->refined++;
	r->rate = sqrt(r->best_rate * r->fail_rate);
	return true;
}

bool bench_ramp_next(struct bench_ramp *r, bool passed)
{
	if (passed) {
		if (r->rate > r->best_rate)
			r->best_rate = r->rate;
		if (r->refining)
			return bisect(r);
		/* A failure below this pass says nothing about where the
		 * ceiling is: climb on from here. */
		r->fails = 0;
		r->fail_rate = 0;
		r->rate *= r->factor;
		return true;
	}
	if (r->fail_rate <= 0 || r->rate < r->fail_rate)
		r->fail_rate = r->rate;
	if (r->refining)
		return bisect(r);
	if (++r->fails < r->patience) {
		r->rate *= r->factor;
		return true;
	}
	r->refining = true;
	return bisect(r);
}
