/* gateway/ts.c: PAT/PMT and keyframe detection, on hand-made packets and on
 * MPEG-TS that ffmpeg generates while the test runs (H.264 + AAC, MPEG-1 +
 * MP2). Every scan reads its input through a guard page. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "ts.h"

/* A 188-byte packet with the given PID and payload-unit-start flag, its
 * payload filled from `payload` (n bytes) and the rest 0xff stuffing. */
static void ts_packet(uint8_t *p, uint16_t pid, bool start, const uint8_t *payload, size_t n)
{
	memset(p, 0xff, 188);
	p[0] = 0x47;
	p[1] = (uint8_t)((start ? 0x40 : 0) | (pid >> 8));
	p[2] = (uint8_t)pid;
	p[3] = 0x10;	/* payload only */
	memcpy(p + 4, payload, n);
}

/* Like ts_packet, with an adaptation field of 2 bytes in front of the
 * payload: its flags byte has random_access_indicator when rai. */
static void ts_packet_af(uint8_t *p, uint16_t pid, bool start, bool rai, const uint8_t *payload,
			 size_t n)
{
	memset(p, 0xff, 188);
	p[0] = 0x47;
	p[1] = (uint8_t)((start ? 0x40 : 0) | (pid >> 8));
	p[2] = (uint8_t)pid;
	p[3] = 0x30;	/* adaptation field and payload */
	p[4] = 1;
	p[5] = rai ? 0x40 : 0x00;
	memcpy(p + 6, payload, n);
}

/* A packet without payload_unit_start whose n payload bytes end it, an
 * adaptation field of stuffing in front: no 0xff after them. */
static void ts_packet_tail(uint8_t *p, uint16_t pid, const uint8_t *payload, size_t n)
{
	memset(p, 0xff, 188);
	p[0] = 0x47;
	p[1] = (uint8_t)(pid >> 8);
	p[2] = (uint8_t)pid;
	p[3] = 0x30;
	p[4] = (uint8_t)(188 - 5 - n);
	p[5] = 0x00;
	memcpy(p + 188 - n, payload, n);
}

/* Scans a guard-page copy of msg; returns whether a keyframe was found. */
static bool scan_key(const uint8_t *msg, size_t len, uint16_t *pmt_pid)
{
	struct rc_ts_scan s;
	uint8_t *g = guard_copy(msg, len);
	bool ok = rc_ts_scan(g, len, pmt_pid, &s);

	guard_free(g, len);
	cr_assert(ok, "whole packets are scanned");
	return s.keyframe;
}

/* PES header of a video (0xE0) or audio (0xC0) stream without PTS. */
#define PES(id) 0, 0, 1, id, 0, 0, 0x80, 0x00, 0x00
#define AUD 0, 0, 0, 1, 0x09, 0xf0
#define SPS 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xd9
#define PPS 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80
#define IDR 0, 0, 1, 0x65, 0x88, 0x84
#define SLICE 0, 0, 1, 0x41, 0x9a, 0x02

Test(ts, pat_pmt_and_mpeg1_keyframes)
{
	/* PAT: pointer 0, table 0, section length 13, program 1 -> PID 0x1000 */
	static const uint8_t pat[] = { 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00,
				       0x00, 0x01, 0xf0, 0x00, 0x2a, 0xb1, 0x04, 0xb2 };
	static const uint8_t pmt[] = { 0x00, 0x02, 0xb0, 0x12 };
	/* PES start, header length 0, then an MPEG-1 sequence header */
	static const uint8_t seq[] = { PES(0xe0), 0, 0, 1, 0xb3 };
	static const uint8_t plain[] = { PES(0xe0), 0, 0, 1, 0x00 };
	uint8_t msg[188 * 4];
	uint16_t pmt_pid = 0x1fff;
	struct rc_ts_scan s;
	uint8_t *g;

	ts_packet(msg, 0, true, pat, sizeof(pat));
	ts_packet(msg + 188, 0x1000, true, pmt, sizeof(pmt));
	ts_packet(msg + 376, 0x100, true, plain, sizeof(plain));
	ts_packet(msg + 564, 0x100, false, plain, sizeof(plain));
	g = guard_copy(msg, sizeof(msg));
	cr_assert(rc_ts_scan(g, sizeof(msg), &pmt_pid, &s));
	cr_assert_eq(pmt_pid, 0x1000);
	cr_assert_eq(s.pat, g);
	cr_assert_eq(s.pmt, g + 188);
	cr_assert(!s.keyframe, "a PES without a sequence header is no keyframe");
	guard_free(g, sizeof(msg));

	ts_packet(msg + 376, 0x100, true, seq, sizeof(seq));
	g = guard_copy(msg + 376, 188);
	cr_assert(rc_ts_scan(g, 188, &pmt_pid, &s));
	cr_assert(s.keyframe, "sequence header starts a keyframe");
	cr_assert_null(s.pat);
	guard_free(g, 188);

	/* Not whole packets, or no sync byte: nothing is claimed. */
	g = guard_copy(msg, 100);
	cr_assert(!rc_ts_scan(g, 100, &pmt_pid, &s));
	guard_free(g, 100);
	msg[0] = 0x48;
	g = guard_copy(msg, 188);
	cr_assert(!rc_ts_scan(g, 188, &pmt_pid, &s));
	guard_free(g, 188);
}

Test(ts, random_access_indicator_only_on_video_pes)
{
	static const uint8_t audio[] = { PES(0xc0), 0xff, 0xf1, 0x50, 0x80 };	/* ADTS */
	static const uint8_t mpeg2_picture[] = { PES(0xe0), 0, 0, 1, 0x00, 0x00, 0x0f };
	uint8_t p[188];
	uint16_t pmt_pid = 0x1000;

	/* ffmpeg flags every AAC PES as a random access point. */
	ts_packet_af(p, 0x101, true, true, audio, sizeof(audio));
	cr_assert(!scan_key(p, 188, &pmt_pid), "an audio PES is no keyframe");
	/* The flag on a packet that starts no PES. */
	ts_packet_af(p, 0x100, false, true, mpeg2_picture, sizeof(mpeg2_picture));
	cr_assert(!scan_key(p, 188, &pmt_pid), "no PES start, no keyframe");
	/* A video PES the scanner cannot read (MPEG-2 starting at a picture,
	 * with its GOP header left out): the flag decides. */
	ts_packet_af(p, 0x100, true, true, mpeg2_picture, sizeof(mpeg2_picture));
	cr_assert(scan_key(p, 188, &pmt_pid), "flagged, unreadable video PES");
	ts_packet_af(p, 0x100, true, false, mpeg2_picture, sizeof(mpeg2_picture));
	cr_assert(!scan_key(p, 188, &pmt_pid), "unflagged, unreadable video PES");
}

Test(ts, h264_idr_with_parameter_sets)
{
	static const uint8_t key[] = { PES(0xe0), AUD, SPS, PPS, IDR };
	static const uint8_t no_ps[] = { PES(0xe0), AUD, IDR };
	static const uint8_t no_pps[] = { PES(0xe0), AUD, SPS, IDR };
	static const uint8_t delta[] = { PES(0xe0), AUD, SLICE };
	static const uint8_t sps_then_slice[] = { PES(0xe0), AUD, SPS, PPS, SLICE };
	uint8_t p[188];
	uint16_t pmt_pid = 0x1000;

	/* Found in the payload, without the adaptation field's flag. */
	ts_packet(p, 0x100, true, key, sizeof(key));
	cr_assert(scan_key(p, 188, &pmt_pid), "AUD SPS PPS IDR is a keyframe");
	/* Flagged or not, a joiner could not decode these from here. */
	ts_packet_af(p, 0x100, true, true, no_ps, sizeof(no_ps));
	cr_assert(!scan_key(p, 188, &pmt_pid), "an IDR without SPS/PPS is not");
	ts_packet_af(p, 0x100, true, true, no_pps, sizeof(no_pps));
	cr_assert(!scan_key(p, 188, &pmt_pid), "an IDR without PPS is not");
	ts_packet_af(p, 0x100, true, true, delta, sizeof(delta));
	cr_assert(!scan_key(p, 188, &pmt_pid), "a non-IDR slice is not");
	ts_packet(p, 0x100, true, sps_then_slice, sizeof(sps_then_slice));
	cr_assert(!scan_key(p, 188, &pmt_pid), "parameter sets before a non-IDR slice are not");
	/* The PES header as ffmpeg writes it, with PTS and DTS, behind a PCR. */
	{
		static const uint8_t pes[] = { 0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 0x0a,
					       0x31, 0, 0x01, 0, 0x01, 0x11, 0, 0x01, 0, 0x01,
					       AUD, SPS, PPS, IDR };

		memset(p, 0xff, 188);
		p[0] = 0x47;
		p[1] = 0x41;
		p[2] = 0x00;
		p[3] = 0x30;
		p[4] = 7;	/* flags + 6-byte PCR */
		p[5] = 0x10;	/* PCR, no random_access_indicator */
		memcpy(p + 12, pes, sizeof(pes));
		cr_assert(scan_key(p, 188, &pmt_pid), "PES header with PTS/DTS");
	}
}

Test(ts, h264_access_unit_across_packets)
{
	/* SPS in the PES start packet, then an audio packet, then the PPS
	 * with its start code split over two more video packets, then the
	 * IDR. */
	static const uint8_t first[] = { PES(0xe0), AUD, SPS };
	static const uint8_t audio[] = { PES(0xc0), 0xff, 0xf1 };
	static const uint8_t pps_head[] = { 0, 0 };
	static const uint8_t pps_tail[] = { 1, 0x68, 0xce, 0x3c, 0x80, IDR };
	uint8_t msg[188 * 4];
	uint16_t pmt_pid = 0x1000;

	ts_packet(msg, 0x100, true, first, sizeof(first));
	ts_packet(msg + 188, 0x101, true, audio, sizeof(audio));
	ts_packet_tail(msg + 376, 0x100, pps_head, sizeof(pps_head));
	ts_packet(msg + 564, 0x100, false, pps_tail, sizeof(pps_tail));
	cr_assert(scan_key(msg, sizeof(msg), &pmt_pid), "IDR found three packets on");

	/* The message ends before the first slice: the flag decides. */
	msg[3] = 0x30;
	memmove(msg + 6, msg + 4, 182);
	msg[4] = 1;
	msg[5] = 0x40;
	cr_assert(scan_key(msg, 376, &pmt_pid), "flagged, slice not in this message");
	msg[5] = 0x00;
	cr_assert(!scan_key(msg, 376, &pmt_pid), "unflagged, slice not in this message");

	/* The next PES of the PID starts before any slice: the flag too. */
	ts_packet(msg + 188, 0x100, true, first, sizeof(first));
	cr_assert(!scan_key(msg, 376, &pmt_pid), "next PES, unflagged");
}

Test(ts, lookahead_is_bounded)
{
	/* An SEI that goes on for 40 packets before the IDR: past the
	 * look-ahead, so only the flag counts. */
	static const uint8_t first[] = { PES(0xe0), AUD, SPS, PPS, 0, 0, 1, 0x06, 0x05 };
	static const uint8_t idr[] = { IDR };
	enum { N = 42 };
	uint8_t *msg = malloc(188 * N);
	uint8_t sei[184];
	uint16_t pmt_pid = 0x1000;

	cr_assert_not_null(msg);
	memset(sei, 0x55, sizeof(sei));
	ts_packet(msg, 0x100, true, first, sizeof(first));
	for (int i = 1; i < N - 1; i++)
		ts_packet(msg + 188 * i, 0x100, false, sei, sizeof(sei));
	ts_packet(msg + 188 * (N - 1), 0x100, false, idr, sizeof(idr));
	cr_assert(!scan_key(msg, 188 * N, &pmt_pid), "IDR 41 packets on is not looked at");
	/* Within reach, it is found. */
	memcpy(msg + 188 * 20, msg + 188 * (N - 1), 188);
	cr_assert(scan_key(msg, 188 * 21, &pmt_pid), "IDR 20 packets on is found");
	free(msg);
}

Test(ts, other_codecs_fall_back_to_the_flag)
{
	/* HEVC: AUD (35), VPS (32), SPS (33), PPS (34), IDR_W_RADL (19). Read
	 * as H.264 the VPS is NAL type 0: not H.264, the flag decides. */
	static const uint8_t hevc[] = { PES(0xe0), 0, 0, 0, 1, 0x46, 0x01, 0x10,
					0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01,
					0, 0, 0, 1, 0x44, 0x01, 0, 0, 1, 0x26, 0x01 };
	uint8_t p[188];
	uint16_t pmt_pid = 0x1000;

	ts_packet_af(p, 0x100, true, true, hevc, sizeof(hevc));
	cr_assert(scan_key(p, 188, &pmt_pid));
	ts_packet_af(p, 0x100, true, false, hevc, sizeof(hevc));
	cr_assert(!scan_key(p, 188, &pmt_pid));
	/* A PES header longer than the packet: unreadable, flag decides. */
	ts_packet_af(p, 0x100, true, true, (const uint8_t[]){ PES(0xe0) }, 9);
	p[6 + 8] = 0xf0;
	cr_assert(scan_key(p, 188, &pmt_pid));
}

/* ---- streams that ffmpeg makes now ---- */

/* Runs cmd and reads its stdout (MPEG-TS) into a malloc'd buffer. */
static uint8_t *run_ffmpeg(const char *cmd, size_t *len)
{
	size_t cap = 1 << 20, have = 0;
	uint8_t *buf = malloc(cap);
	FILE *f;
	size_t n;

	if (access("/usr/bin/ffmpeg", X_OK))
		cr_skip_test("ffmpeg not installed (apt-get install ffmpeg; make test does)");
	cr_assert_not_null(buf);
	f = popen(cmd, "r");
	cr_assert_not_null(f, "popen %s", cmd);
	while ((n = fread(buf + have, 1, cap - have, f)) > 0) {
		have += n;
		if (have == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	cr_assert_eq(pclose(f), 0, "ffmpeg failed: %s", cmd);
	cr_assert(have > 0 && have % 188 == 0, "ffmpeg wrote %zu bytes", have);
	*len = have;
	return buf;
}

struct counts {
	unsigned msgs_with_key;
	unsigned video_pes;	/* PES starts on stream_id 0xE0 */
	unsigned audio_rai;	/* audio PES starts flagged random access */
};

/* Scans ts in messages of msg bytes (7 packets: what ffmpeg sends with
 * pkt_size=1316) and counts. */
static struct counts scan_stream(const uint8_t *ts, size_t len, size_t msg)
{
	struct counts c = { 0 };
	uint16_t pmt_pid = 0x1fff;

	for (size_t off = 0; off < len; off += msg) {
		size_t n = len - off < msg ? len - off : msg;

		c.msgs_with_key += scan_key(ts + off, n, &pmt_pid);
	}
	cr_assert_neq(pmt_pid, 0x1fff, "the PAT was found");
	for (size_t off = 0; off < len; off += 188) {
		const uint8_t *p = ts + off;
		size_t pl = (p[3] & 0x20) ? 5u + p[4] : 4;

		if (!(p[1] & 0x40) || pl + 4 > 188 || p[pl] || p[pl + 1] || p[pl + 2] != 1)
			continue;
		if ((p[pl + 3] & 0xf0) == 0xe0)
			c.video_pes++;
		else if ((p[3] & 0x20) && p[4] && (p[5] & 0x40))
			c.audio_rai++;
	}
	return c;
}

/* Clears every packet's random_access_indicator. */
static void strip_rai(uint8_t *ts, size_t len)
{
	for (size_t off = 0; off < len; off += 188)
		if ((ts[off + 3] & 0x20) && ts[off + 4])
			ts[off + 5] &= (uint8_t)~0x40;
}

/* 2 s at 25 fps, a keyframe every 10 frames: 5 GOPs. */
#define GOPS 5
#define FFMPEG "ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x180:rate=25 " \
	       "-f lavfi -i sine=f=440:sample_rate=48000 -t 2 -threads 1 -sc_threshold 0 "

Test(ts, ffmpeg_h264_aac_keyframes_at_idr, .timeout = 60)
{
	size_t len;
	uint8_t *ts = run_ffmpeg(FFMPEG "-c:v libx264 -preset veryfast -tune zerolatency -g 10 "
				 "-pix_fmt yuv420p -c:a aac -b:a 64k -f mpegts pipe:1", &len);
	struct counts c = scan_stream(ts, len, 1316);

	cr_assert_eq(c.video_pes, 50, "50 frames, one PES each (got %u)", c.video_pes);
	cr_assert_gt(c.audio_rai, GOPS, "ffmpeg flags AAC PES as random access (%u)", c.audio_rai);
	cr_assert_eq(c.msgs_with_key, GOPS, "one keyframe message per GOP, audio not counted (%u)",
		     c.msgs_with_key);
	/* One packet per message: x264's first IDR carries a long SEI, so its
	 * slice is packets away from the PES start and the flag decides;
	 * every later one is found in the start packet. */
	c = scan_stream(ts, len, 188);
	cr_assert_eq(c.msgs_with_key, GOPS, "packet by packet (%u)", c.msgs_with_key);
	/* Without any random_access_indicator the IDRs are still found. */
	strip_rai(ts, len);
	c = scan_stream(ts, len, 1316);
	cr_assert_eq(c.msgs_with_key, GOPS, "from the payload alone (%u)", c.msgs_with_key);
	c = scan_stream(ts, len, 188);
	cr_assert_eq(c.msgs_with_key, GOPS - 1, "packet by packet, first IDR unreadable (%u)",
		     c.msgs_with_key);
	free(ts);
}

Test(ts, ffmpeg_mpeg1_mp2_keyframes, .timeout = 60)
{
	size_t len;
	uint8_t *ts = run_ffmpeg(FFMPEG "-c:v mpeg1video -b:v 400k -bf 0 -g 10 -c:a mp2 -b:a 64k "
				 "-f mpegts pipe:1", &len);
	struct counts c = scan_stream(ts, len, 1316);

	cr_assert_eq(c.msgs_with_key, GOPS, "one keyframe message per GOP (%u)", c.msgs_with_key);
	strip_rai(ts, len);
	c = scan_stream(ts, len, 188);
	cr_assert_eq(c.msgs_with_key, GOPS, "sequence headers, packet by packet (%u)",
		     c.msgs_with_key);
	free(ts);
}
