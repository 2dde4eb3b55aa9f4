/* Layout of the test payloads shared by ringcast-pub and ringcast-bench.
 *
 * Bytes 0..7:  sequence number, u64 big-endian (per channel, starts at 0).
 * Bytes 8..15: timestamp in nanoseconds, u64 big-endian. ringcast-bench uses
 *              CLOCK_MONOTONIC (sender and receiver share one machine, so the
 *              difference is a latency); ringcast-pub uses CLOCK_REALTIME so a
 *              person can read the wall-clock send time.
 * Bytes 16..:  deterministic filler, byte i = payload_filler_byte(i).
 * Payloads shorter than 16 bytes carry only filler.
 *
 * Everything here is header-only so both programs share one definition of the
 * wire layout without a library of their own. */
#ifndef RC_PERF_PAYLOAD_H
#define RC_PERF_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PAYLOAD_HDR_LEN 16

/* Stores v big-endian at p[0..7]. */
static inline void payload_put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Reads the big-endian u64 at p[0..7]. */
static inline uint64_t payload_get_u64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Filler byte at payload offset i. A small multiplier keeps neighbouring bytes
 * different (so a shifted or truncated payload is visible in a hex dump) while
 * staying trivially reproducible by a reader. */
static inline uint8_t payload_filler_byte(size_t i)
{
	return (uint8_t)(i * 31u + 7u);
}

/* Fills buf[from..len) with the deterministic filler. */
static inline void payload_fill(uint8_t *buf, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++)
		buf[i] = payload_filler_byte(i);
}

/* Writes the 16-byte header (when len allows it). */
static inline void payload_stamp(uint8_t *buf, size_t len, uint64_t seq, uint64_t ts_ns)
{
	if (len < PAYLOAD_HDR_LEN)
		return;
	payload_put_u64be(buf, seq);
	payload_put_u64be(buf + 8, ts_ns);
}

/* Current time of `clock` in nanoseconds. */
static inline uint64_t payload_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
