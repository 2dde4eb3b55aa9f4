/* nats-copy-bench: what the one copy of a message from NATS costs a
 * subscribing worker (gateway/cluster/cluster_in.c): a shared message
 * allocated for the payload (rc_shmsg_new, charged to the memory figure),
 * the payload copied out of the link's read buffer, and the message freed
 * by its last reference, as fan-out does once every queue let it go.
 *
 *   nats-copy-bench [ITERATIONS]
 *
 * Prints, for payloads of 64, 1,316, 16,384 and 65,507 bytes, the
 * nanoseconds per message (best of 5 rounds of ITERATIONS, default 1e6),
 * one line each. Single thread; the read buffer stays in cache, as a
 * message just read does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmsg.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 1316, 16384, 65507 };
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	static char in[65536];
	volatile unsigned sink = 0;

	if (iters <= 0)
		return 2;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)i;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		double best = 1e18;

		for (int round = 0; round < 5; round++) {
			double t0 = now_ns();

			for (long i = 0; i < iters; i++) {
				struct rc_shmsg *m = rc_shmsg_new((uint32_t)sizes[k]);

				if (!m)
					return 1;
				memcpy(m->data, in, sizes[k]);
				m->len = (uint32_t)sizes[k];
				sink += m->data[sizes[k] - 1];
				rc_shmsg_unref(m);
			}
			double per = (now_ns() - t0) / (double)iters;

			if (per < best)
				best = per;
		}
		printf("%zu bytes: %.1f ns per message (best of 5 x %ld)\n", sizes[k], best, iters);
	}
	return sink == 0xffffffffu;
}
