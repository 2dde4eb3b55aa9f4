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

#define RC_TS_LOOKAHEAD 32

/* What a video PES start tells a late joiner. */
enum kf { KF_MORE, KF_YES, KF_NO, KF_UNKNOWN };

/* The elementary stream read as start codes (00 00 01 xx), across packet
 * boundaries: a start code may be split between two packets. */
struct es_walk {
	unsigned zeros;		/* 00 bytes just before the current one */
	bool code_next;		/* the next byte follows 00 00 01 */
	bool first;		/* no start code seen yet */
	bool sps, pps;		/* H.264 parameter sets seen in this PES */
};

/* One start code's byte: the H.264 NAL header, or an MPEG-1/2 code. */
static enum kf es_code(struct es_walk *w, uint8_t c)
{
	unsigned type = c & 0x1f;
	bool ref = c & 0x60;

	if (w->first && c == 0xb3)
		return KF_YES;	/* MPEG-1/2 sequence header */
	w->first = false;
	if (c & 0x80)
		return KF_UNKNOWN;	/* forbidden_zero_bit: not H.264 */
	switch (type) {
	case 7:
	case 8:
		/* nal_ref_idc is never 0 for parameter sets (H.264 7.4.1). */
		if (!ref)
			return KF_UNKNOWN;
		if (type == 7)
			w->sps = true;
		else
			w->pps = true;
		return KF_MORE;
	case 5:
		if (!ref)
			return KF_UNKNOWN;
		/* Without both parameter sets in front, a joiner starting
		 * here could not decode the picture. */
		return w->sps && w->pps ? KF_YES : KF_NO;
	case 1:
		/* A non-IDR slice: even an I slice with a recovery point is
		 * no start for MSE players, which need an IDR. */
		return KF_NO;
	case 6:		/* SEI */
	case 9:		/* access unit delimiter */
	case 10:	/* end of sequence */
	case 11:	/* end of stream */
	case 12:	/* filler */
	case 13:	/* SPS extension */
	case 14:	/* prefix NAL (SVC/MVC) */
	case 15:	/* subset SPS */
		return KF_MORE;
	default:
		/* Data partitions and reserved types: most likely another
		 * codec (HEVC's VPS/SPS read as types 0 and 2). */
		return KF_UNKNOWN;
	}
}

static enum kf es_feed(struct es_walk *w, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];

		if (w->code_next) {
			enum kf r = es_code(w, c);

			w->code_next = false;
			w->zeros = 0;
			if (r != KF_MORE)
				return r;
			continue;
		}
		if (!c) {
			w->zeros++;
		} else {
			w->code_next = c == 1 && w->zeros >= 2;
			w->zeros = 0;
		}
	}
	return KF_MORE;
}

static bool random_access(const uint8_t *p)
{
	return ((p[3] >> 4) & 2) && p[4] > 0 && (p[5] & 0x40);
}

static uint16_t pid_of(const uint8_t *p)
{
	return (uint16_t)(((p[1] & 0x1f) << 8) | p[2]);
}

/* Whether the packet msg[at] starts a video access unit to join at; it
 * starts a PES (checked by the caller). */
static bool keyframe_start(const uint8_t *msg, size_t len, size_t at)
{
	const uint8_t *p = msg + at;
	uint16_t pid = pid_of(p);
	struct es_walk w = { .first = true };
	size_t off = payload_offset(p);
	enum kf r;

	/* PES header: 00 00 01 stream_id, length, flags, header length. */
	if (off + 9 > RC_TS_PACKET || p[off] || p[off + 1] || p[off + 2] != 1)
		return false;
	if ((p[off + 3] & 0xf0) != 0xe0)
		return false;	/* not video: audio PES carry the flag too */
	off += 9 + p[off + 8];
	r = off < RC_TS_PACKET ? es_feed(&w, p + off, RC_TS_PACKET - off) : KF_MORE;
	/* The first NAL units may go on in the PID's next packets. The walk
	 * stops after RC_TS_LOOKAHEAD packets so that a message is scanned in
	 * linear time whatever its PIDs (an encoder's SPS, PPS and SEI before
	 * the first slice take a packet or two, x264's first one about four). */
	for (size_t i = at + RC_TS_PACKET, n = 0;
	     r == KF_MORE && i < len && n < RC_TS_LOOKAHEAD; i += RC_TS_PACKET, n++) {
		const uint8_t *q = msg + i;

		if (pid_of(q) != pid)
			continue;
		if (q[1] & 0x40)
			break;	/* the next PES: no slice in this one */
		off = payload_offset(q);
		r = es_feed(&w, q + off, RC_TS_PACKET - off);
	}
	if (r == KF_YES)
		return true;
	if (r == KF_NO)
		return false;
	return random_access(p);
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
		uint16_t pid = pid_of(p);
		bool start = p[1] & 0x40;

		if (!start)
			continue;
		if (pid == 0) {
			uint16_t pmt = pat_pmt_pid(p);

			if (pmt != 0x1fff) {
				out->pat = p;
				*pmt_pid = pmt;
			}
		} else if (pid == *pmt_pid) {
			out->pmt = p;
		} else if (!out->keyframe && keyframe_start(msg, len, i)) {
			out->keyframe = true;
		}
	}
	return true;
}
