/* The --demo game generator; see pub_demo.h. */
#include "pub_demo.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* splitmix64: a fixed seed gives the same dots every run, so two people
 * watching the demo see the same picture. */
static uint64_t mix_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static double mix_range(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * (double)(mix_next(s) >> 11) / 9007199254740992.0;
}

void pub_demo_init(struct pub_demo *d, unsigned n)
{
	uint64_t seed = 42;

	if (n < 1)
		n = 1;
	if (n > DEMO_MAX_DOTS)
		n = DEMO_MAX_DOTS;
	d->n = n;
	d->steered = false;
	d->inputs = 0;
	for (unsigned i = 0; i < n; i++) {
		struct demo_dot *dot = &d->dots[i];
		double speed = mix_range(&seed, 60.0, 180.0);
		double angle = mix_range(&seed, 0.0, 2.0 * M_PI);

		dot->x0 = mix_range(&seed, 0.0, DEMO_W);
		dot->y0 = mix_range(&seed, 0.0, DEMO_H);
		dot->vx = speed * cos(angle);
		dot->vy = speed * sin(angle);
		dot->hue = (unsigned)((uint64_t)i * 360u / n);
	}
}

static long fold(double p0, double v, double t, double len);

/* msg[0..len) equals word, or "Arrow" + word with its first letter in
 * upper case. */
static bool is_key(const uint8_t *msg, size_t len, const char *word)
{
	size_t wl = strlen(word);

	if (len == wl && !memcmp(msg, word, wl))
		return true;
	return len == 5 + wl && !memcmp(msg, "Arrow", 5) && msg[5] == word[0] - 'a' + 'A' &&
	       !memcmp(msg + 6, word + 1, wl - 1);
}

static long clamp(long v, long hi)
{
	return v < 0 ? 0 : v > hi ? hi : v;
}

bool pub_demo_input(struct pub_demo *d, const uint8_t *msg, size_t len, uint64_t t_ms)
{
	long dx = 0, dy = 0;

	if (is_key(msg, len, "left"))
		dx = -DEMO_STEP;
	else if (is_key(msg, len, "right"))
		dx = DEMO_STEP;
	else if (is_key(msg, len, "up"))
		dy = -DEMO_STEP;
	else if (is_key(msg, len, "down"))
		dy = DEMO_STEP;
	else
		return false;
	if (!d->steered) {
		/* Taken over where it is now. */
		double t = (double)t_ms / 1000.0;

		d->px = fold(d->dots[0].x0, d->dots[0].vx, t, DEMO_W);
		d->py = fold(d->dots[0].y0, d->dots[0].vy, t, DEMO_H);
		d->steered = true;
	}
	d->px = clamp(d->px + dx, DEMO_W);
	d->py = clamp(d->py + dy, DEMO_H);
	d->inputs++;
	return true;
}

size_t pub_demo_frame_max(const struct pub_demo *d)
{
	/* head: {"seq":20 digits,"t":20 digits,"w":640,"h":360,"dots":[ ...]}
	 * and "[640,360,359]," per dot. */
	return 96 + (size_t)d->n * 14;
}

/* Position along one axis of length len: travelling at v from p0, folded
 * back at 0 and len, which is a bounce off both edges. */
static long fold(double p0, double v, double t, double len)
{
	double p = fmod(p0 + v * t, 2.0 * len);
	long r;

	if (p < 0)
		p += 2.0 * len;
	if (p > len)
		p = 2.0 * len - p;
	r = lround(p);
	return r < 0 ? 0 : r > (long)len ? (long)len : r;
}

size_t pub_demo_frame(const struct pub_demo *d, uint64_t seq, uint64_t t_ms, char *buf,
		      size_t cap)
{
	double t = (double)t_ms / 1000.0;
	size_t len;
	int n;

	if (cap < pub_demo_frame_max(d))
		return 0;
	n = snprintf(buf, cap, "{\"seq\":%" PRIu64 ",\"t\":%" PRIu64 ",\"w\":%d,\"h\":%d,\"dots\":[",
		     seq, t_ms, DEMO_W, DEMO_H);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	len = (size_t)n;
	for (unsigned i = 0; i < d->n; i++) {
		const struct demo_dot *dot = &d->dots[i];

		if (i == 0 && d->steered)
			n = snprintf(buf + len, cap - len, "[%ld,%ld,%u]", d->px, d->py, dot->hue);
		else
			n = snprintf(buf + len, cap - len, "%s[%ld,%ld,%u]", i ? "," : "",
				     fold(dot->x0, dot->vx, t, DEMO_W),
				     fold(dot->y0, dot->vy, t, DEMO_H), dot->hue);
		if (n < 0 || (size_t)n >= cap - len)
			return 0;
		len += (size_t)n;
	}
	if (cap - len < 2)
		return 0;
	buf[len++] = ']';
	buf[len++] = '}';
	return len;
}
