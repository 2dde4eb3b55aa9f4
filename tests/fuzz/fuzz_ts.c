/* libFuzzer harness for the MPEG-TS scanner (gateway/ts.c). Random bytes
 * rarely have a sync byte every 188 bytes, so the input is made into
 * packets first: its first byte picks a message size in packets, and every
 * packet's first byte is forced to 0x47, which lets the fuzzer reach the
 * PES and NAL walks. The scan must stay inside the message (ASan), report
 * only packets of it, and claim a keyframe only where a packet starts a
 * PES. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t per, len;
	uint16_t pmt = 0x1fff;
	uint8_t *ts;

	if (size < 1 + RC_TS_PACKET)
		return 0;
	per = 1 + data[0] % 40;	/* past the scanner's 32-packet look-ahead */
	len = (size - 1) / RC_TS_PACKET * RC_TS_PACKET;
	ts = malloc(len);
	if (!ts)
		return 0;
	memcpy(ts, data + 1, len);
	for (size_t i = 0; i < len; i += RC_TS_PACKET)
		ts[i] = 0x47;
	for (size_t off = 0; off < len; off += per * RC_TS_PACKET) {
		size_t n = len - off < per * RC_TS_PACKET ? len - off : per * RC_TS_PACKET;
		const uint8_t *m = ts + off;
		struct rc_ts_scan s;
		bool start = false;

		check(rc_ts_scan(m, n, &pmt, &s));
		check(!s.pat || (s.pat >= m && s.pat + RC_TS_PACKET <= m + n &&
				 (size_t)(s.pat - m) % RC_TS_PACKET == 0 && !(s.pat[1] & 0x1f) &&
				 !s.pat[2]));
		check(!s.pmt || (s.pmt >= m && s.pmt + RC_TS_PACKET <= m + n &&
				 (size_t)(s.pmt - m) % RC_TS_PACKET == 0));
		for (size_t i = 0; i < n; i += RC_TS_PACKET)
			start |= (m[i + 1] & 0x40) != 0;
		check(!s.keyframe || start);
		check(pmt <= 0x1fff);
	}
	/* Not whole packets: refused. */
	if (len > RC_TS_PACKET) {
		struct rc_ts_scan s;

		check(!rc_ts_scan(ts, len - 1, &pmt, &s) && !s.pat && !s.pmt && !s.keyframe);
	}
	free(ts);
	return 0;
}
