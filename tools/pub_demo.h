/* ringcast-pub --demo game: the state of a toy game as one JSON text message
 * per tick, for the browser demo page. The format is fixed (the page parses
 * it):
 *     {"seq":N,"t":MS,"w":640,"h":360,"dots":[[X,Y,HUE],...]}
 * seq counts from 0, t is milliseconds since the start, X in 0..w and Y in
 * 0..h are integers, HUE (0..359) is fixed per dot.
 *
 * Dot 0 can be steered by the channel's subscribers (uplink): the inputs
 * "left", "right", "up" and "down" (or "ArrowLeft", ... as browsers name
 * the keys) move it DEMO_STEP pixels; from the first one on it stays where
 * it is steered instead of moving by itself. */
#ifndef RC_PERF_PUB_DEMO_H
#define RC_PERF_PUB_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEMO_W 640
#define DEMO_H 360
#define DEMO_DEFAULT_DOTS 24
#define DEMO_MAX_DOTS 2000
#define DEMO_DEFAULT_RATE 60.0
#define DEMO_STEP 20

struct demo_dot {
	double x0, y0;		/* position at t = 0 */
	double vx, vy;		/* pixels per second */
	unsigned hue;
};

struct pub_demo {
	unsigned n;
	bool steered;		/* dot 0 is at (px, py), moved by input only */
	long px, py;
	uint64_t inputs;	/* inputs that moved it */
	struct demo_dot dots[DEMO_MAX_DOTS];
};

/* Places n (1..DEMO_MAX_DOTS) dots at reproducible starting points with
 * reproducible velocities and spreads their hues over the colour wheel. */
void pub_demo_init(struct pub_demo *d, unsigned n);

/* One uplink message for the game, at t_ms: moves dot 0 when it is one of
 * the inputs above (true), else ignores it (false). */
bool pub_demo_input(struct pub_demo *d, const uint8_t *msg, size_t len, uint64_t t_ms);

/* Bytes one frame can take at most with d's dot count. */
size_t pub_demo_frame_max(const struct pub_demo *d);

/* Writes the frame of tick seq at t_ms into buf (cap bytes, no NUL needed).
 * Positions are a function of t alone (straight lines folded back at the
 * edges), so motion stays smooth when ticks are late or skipped. Returns
 * the length, or 0 when cap is smaller than pub_demo_frame_max(). */
size_t pub_demo_frame(const struct pub_demo *d, uint64_t seq, uint64_t t_ms, char *buf,
		      size_t cap);

#endif
