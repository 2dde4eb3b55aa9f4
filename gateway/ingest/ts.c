#include "ts.h"

#include <string.h>

/* Offset of the payload in packet p, or RC_TS_PACKET when it has none. */
static size_t payload_offset(const uint8_t *p)
{
	unsigned afc = (p[3] >> 4) & 3;

	if (!(afc & 1))
		return RC_TS_PACKET;
	if (afc == 3)
		return 5u + p[4] < RC_TS_PACKET ? 5u + p[4] : RC_TS_PACKET;
	return 4;
}

/* The first program's PMT PID in a PAT packet, or 0x1fff. */
static uint16_t pat_pmt_pid(const uint8_t *p)
{
	size_t off = payload_offset(p);
	size_t sec, end;

	if (off >= RC_TS_PACKET)
		return 0x1fff;
	off += 1 + p[off];	/* pointer_field */
	if (off + 8 > RC_TS_PACKET || p[off] != 0x00)
		return 0x1fff;
	sec = ((size_t)(p[off + 1] & 0x0f) << 8) | p[off + 2];
	end = off + 3 + sec - 4;	/* the CRC is not a program */
	if (sec < 9 || end > RC_TS_PACKET)
		return 0x1fff;
	for (size_t i = off + 8; i + 4 <= end; i += 4) {
		unsigned program = ((unsigned)p[i] << 8) | p[i + 1];

		if (program)	/* 0 is the network PID, not a program */
			return (uint16_t)(((p[i + 2] & 0x1f) << 8) | p[i + 3]);
	}
	return 0x1fff;
}

static bool keyframe_start(const uint8_t *p)
{
	size_t off;

	if (((p[3] >> 4) & 2) && p[4] > 0 && (p[5] & 0x40))
		return true;	/* random_access_indicator */
	if (!(p[1] & 0x40))
		return false;	/* not a PES start */
	off = payload_offset(p);
	/* PES header: 00 00 01 stream_id, length, flags, header length. */
	if (off + 9 > RC_TS_PACKET || p[off] || p[off + 1] || p[off + 2] != 1)
		return false;
	off += 9 + p[off + 8];
	return off + 4 <= RC_TS_PACKET && !p[off] && !p[off + 1] && p[off + 2] == 1 &&
	       p[off + 3] == 0xb3;
}

bool rc_ts_scan(const uint8_t *msg, size_t len, uint16_t *pmt_pid, struct rc_ts_scan *out)
{
	memset(out, 0, sizeof(*out));
	if (!len || len % RC_TS_PACKET)
		return false;
	for (size_t i = 0; i < len; i += RC_TS_PACKET)
		if (msg[i] != 0x47)
			return false;
	for (size_t i = 0; i < len; i += RC_TS_PACKET) {
		const uint8_t *p = msg + i;
		uint16_t pid = (uint16_t)(((p[1] & 0x1f) << 8) | p[2]);
		bool start = p[1] & 0x40;

		if (pid == 0 && start) {
			uint16_t pmt = pat_pmt_pid(p);

			if (pmt != 0x1fff) {
				out->pat = p;
				*pmt_pid = pmt;
			}
		} else if (pid == *pmt_pid && start) {
			out->pmt = p;
		} else if (keyframe_start(p)) {
			out->keyframe = true;
		}
	}
	return true;
}
