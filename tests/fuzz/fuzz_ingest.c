/* libFuzzer harness for the gateway's pure parsers: the TCP PUB line, the
 * framed decoder (split invariance), the UDP mux header (plain and keyed),
 * WebSocket subscriber commands (with tokens) and the MPEG-TS scanner.
 * Results must stay inside the input and be consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "ingest_proto.h"
#include "ts.h"
#include "ws_command.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	return (const uint8_t *)p >= buf && (const uint8_t *)p + n <= buf + len;
}

/* Framed decode; returns a checksum of the messages (lengths and bytes). */
static uint64_t framed(const uint8_t *in, size_t len, size_t step, int *failed)
{
	struct rc_framed f;
	uint64_t sum = 0;

	rc_framed_init(&f, 4096);
	*failed = 0;
	for (size_t off = 0; off < len; off += step) {
		size_t piece = len - off < step ? len - off : step, pos = 0;

		while (pos < piece) {
			struct rc_framed_event ev;
			size_t used = rc_framed_feed(&f, in + off + pos, piece - pos, &ev);

			if (ev.error) {
				*failed = 1;
				return sum;
			}
			if (ev.ready) {
				check(inside(ev.data, ev.len, in + off + pos, piece - pos));
				for (size_t i = 0; i < ev.len; i++)
					sum = sum * 31 + ev.data[i];
				if (ev.last)
					sum = sum * 131 + ev.msg_len;
			}
			check(used <= piece - pos);
			if (!used)
				break;
			pos += used;
		}
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_pub_request req;
	const char *why, *name;
	size_t nl, off;
	enum rc_wscmd_op op;
	uint16_t pmt = 0x1fff;
	struct rc_ts_scan scan;
	int fa, fb;

	if (rc_pub_parse((const char *)data, size, &req, &why) == 0) {
		check(inside(req.channel, req.channel_len, data, size));
		check(rc_channel_name_valid(req.channel, req.channel_len));
		check(!req.key || inside(req.key, req.key_len, data, size));
	}
	if (size > 1) {
		uint64_t a = framed(data + 1, size - 1, 1 + data[0] % 16, &fa);
		uint64_t b = framed(data + 1, size - 1, size - 1, &fb);

		check(fa == fb && (fa || a == b));
	}
	if (rc_mux_parse(data, size, &name, &nl, &off) == 0)
		check(inside(name, nl, data, size) && off <= size &&
		      rc_channel_name_valid(name, nl));
	if (rc_wscmd_parse(data, size, &op, &name, &nl) == 0)
		check(inside(name, nl, data, size) && rc_channel_name_valid(name, nl));
	{
		struct rc_wscmd cmd;
		const char *key;
		size_t kl;

		if (rc_wscmd_decode(data, size, &cmd) == 0)
			check(inside(cmd.name, cmd.name_len, data, size) &&
			      rc_channel_name_valid(cmd.name, cmd.name_len) &&
			      (!cmd.token || inside(cmd.token, cmd.token_len, data, size)));
		if (rc_mux_parse_key(data, size, &name, &nl, &key, &kl, &off) == 0)
			check(inside(name, nl, data, size) && off <= size &&
			      (!key || (inside(key, kl, data, size) && kl >= 1)));
	}
	if (rc_ts_scan(data, size, &pmt, &scan)) {
		check(!scan.pat || inside(scan.pat, RC_TS_PACKET, data, size));
		check(!scan.pmt || inside(scan.pmt, RC_TS_PACKET, data, size));
	}
	return 0;
}
