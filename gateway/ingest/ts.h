/* Just enough MPEG-TS to serve late joiners: find the PAT, the PMT it
 * names, and packets that start a keyframe, in messages of whole 188-byte
 * packets. Pure and allocation-free. */
#ifndef RC_TS_H
#define RC_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_TS_PACKET 188

struct rc_ts_scan {
	const uint8_t *pat;	/* last PAT packet starting a section, or NULL */
	const uint8_t *pmt;	/* last PMT packet starting a section, or NULL */
	bool keyframe;		/* some packet starts a random access point */
};

/* Scans msg[0..len). *pmt_pid is the PMT's PID learned so far (0x1fff when
 * unknown); a PAT in msg updates it before later packets are looked at.
 * A keyframe is a packet with the adaptation field's random_access_indicator,
 * or a PES start whose payload begins with an MPEG-1/2 sequence header
 * (00 00 01 B3). Returns false (and finds nothing) unless msg is whole
 * packets, each starting with the sync byte 0x47. */
bool rc_ts_scan(const uint8_t *msg, size_t len, uint16_t *pmt_pid, struct rc_ts_scan *out);

#endif
