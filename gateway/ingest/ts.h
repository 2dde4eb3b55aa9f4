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
	bool keyframe;		/* some packet starts a video access unit a decoder can start at */
};

/* Scans msg[0..len). *pmt_pid is the PMT's PID learned so far (0x1fff when
 * unknown); a PAT in msg updates it before later packets are looked at.
 *
 * A keyframe is the start of a video PES (stream_id 0xE0-0xEF) whose
 * elementary stream, read on through the following packets of its PID in
 * msg (at most 32 packets on), is
 *   - an MPEG-1/2 sequence header (00 00 01 B3) first, or
 *   - H.264 with an IDR slice (NAL type 5) that an SPS (7) and a PPS (8)
 *     precede in the same PES;
 * an H.264 access unit whose first slice is not an IDR is not one. When the
 * stream is neither, or msg ends before the first slice, the start packet's
 * random_access_indicator decides. PES of other streams (audio: ffmpeg sets
 * random_access_indicator on every AAC PES) never start a keyframe.
 *
 * Returns false (and finds nothing) unless msg is whole packets, each
 * starting with the sync byte 0x47. */
bool rc_ts_scan(const uint8_t *msg, size_t len, uint16_t *pmt_pid, struct rc_ts_scan *out);

#endif
