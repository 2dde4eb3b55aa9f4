/* TCP ingest protocol: the PUB line and the framed decoder, including
 * input split at every byte and input that ends at a guard page. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "guard.h"
#include "ingest_proto.h"

static int parse(const char *s, struct rc_pub_request *r, const char **why)
{
	size_t n = strlen(s);
	char *g = guard_copy(s, n);
	int ret = rc_pub_parse(g, n, r, why);

	/* The request points into the line: compare before freeing it. */
	if (ret == 0) {
		static char ch[80], key[80];

		memcpy(ch, r->channel, r->channel_len);
		ch[r->channel_len] = '\0';
		r->channel = ch;
		if (r->key) {
			memcpy(key, r->key, r->key_len);
			key[r->key_len] = '\0';
			r->key = key;
		}
	}
	guard_free(g, n);
	return ret;
}

Test(ingest_proto, pub_lines)
{
	struct rc_pub_request r;
	const char *why = NULL;

	cr_assert_eq(parse("PUB live", &r, &why), 0);
	cr_assert_str_eq(r.channel, "live");
	cr_assert_eq(r.mode, RC_PUB_RAW);
	cr_assert_null(r.key);
	cr_assert_eq(parse("PUB game.v2 framed key=s3cret\r", &r, &why), 0);
	cr_assert_str_eq(r.channel, "game.v2");
	cr_assert_eq(r.mode, RC_PUB_FRAMED);
	cr_assert_str_eq(r.key, "s3cret");
	cr_assert_eq(parse("PUB  a   raw", &r, &why), 0);
	cr_assert_eq(parse("PUB a key=k", &r, &why), 0);
	cr_assert_str_eq(r.key, "k");

	struct {
		const char *line;
		const char *why;
	} bad[] = {
		{ "", "expected PUB" },		  { "pub a", "expected PUB" },
		{ "PUBX a", "expected PUB" },	  { "PUB", "bad channel" },
		{ "PUB a/b", "bad channel" },	  { "PUB a sideways", "bad mode" },
		{ "PUB a raw framed", "bad argument" }, { "PUB a key=x raw", "bad argument" },
		{ "PUB a key=", "bad mode" },	  { "PUB a raw\tkey=x", "bad argument" },
		{ "PUB a raw key=x key=y", "bad argument" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		cr_assert_eq(parse(bad[i].line, &r, &why), -EINVAL, "'%s'", bad[i].line);
		cr_assert_str_eq(why, bad[i].why, "'%s'", bad[i].line);
	}
}

/* Feeds wire[0..len) in pieces of `step` bytes (each piece ending at a
 * guard page) and reassembles the messages. */
static int decode(const uint8_t *wire, size_t len, size_t step, uint8_t out[][64], size_t *lens,
		  int *whole_in_place)
{
	struct rc_framed f;
	int n = 0;

	rc_framed_init(&f, 64);
	*whole_in_place = 0;
	for (size_t off = 0; off < len; off += step) {
		size_t piece = len - off < step ? len - off : step;
		uint8_t *g = guard_copy(wire + off, piece);
		size_t pos = 0;

		while (pos < piece) {
			struct rc_framed_event ev;
			size_t used = rc_framed_feed(&f, g + pos, piece - pos, &ev);

			cr_assert(!ev.error);
			if (ev.ready) {
				if (ev.first)
					lens[n] = 0;
				memcpy(out[n] + lens[n], ev.data, ev.len);
				lens[n] += ev.len;
				if (ev.first && ev.last && ev.prefix_here) {
					(*whole_in_place)++;
					/* The prefix really is right before the data. */
					cr_assert_eq(ev.data[-1], (uint8_t)ev.msg_len);
				}
				if (ev.last) {
					cr_assert_eq(lens[n], ev.msg_len);
					n++;
				}
			}
			cr_assert(used > 0 || pos == piece);
			pos += used;
		}
		guard_free(g, piece);
	}
	return n;
}

Test(ingest_proto, framed_split_at_every_byte)
{
	static const char *msgs[] = { "hello", "", "x", "a somewhat longer message of 40 bytes.." };
	uint8_t wire[256];
	uint8_t out[8][64];
	size_t lens[8];
	size_t len = 0;
	int in_place;

	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(msgs[i]);

		wire[len++] = 0;
		wire[len++] = 0;
		wire[len++] = 0;
		wire[len++] = (uint8_t)n;
		memcpy(wire + len, msgs[i], n);
		len += n;
	}
	for (size_t step = 1; step <= len; step++) {
		int n = decode(wire, len, step, out, lens, &in_place);

		cr_assert_eq(n, 4, "step %zu", step);
		for (int i = 0; i < 4; i++) {
			cr_assert_eq(lens[i], strlen(msgs[i]), "step %zu msg %d", step, i);
			cr_assert_eq(memcmp(out[i], msgs[i], lens[i]), 0, "step %zu msg %d", step, i);
		}
	}
	decode(wire, len, len, out, lens, &in_place);
	cr_assert_eq(in_place, 4, "all messages whole in one input");
}

Test(ingest_proto, framed_rejects_oversize_and_stays_failed)
{
	static const uint8_t wire[] = { 0, 0, 0, 65, 'x' };
	struct rc_framed f;
	struct rc_framed_event ev;
	uint8_t *g = guard_copy(wire, sizeof(wire));

	rc_framed_init(&f, 64);
	cr_assert_eq(rc_framed_feed(&f, g, sizeof(wire), &ev), 4);
	cr_assert(ev.error);
	cr_assert_eq(ev.msg_len, 65);
	cr_assert_eq(rc_framed_feed(&f, g + 4, 1, &ev), 0);
	cr_assert(ev.error);
	guard_free(g, sizeof(wire));
}

Test(ingest_proto, mux_headers)
{
	static const uint8_t ok[] = { 'R', 4, 'g', 'a', 'm', 'e', 1, 2, 3 };
	static const uint8_t empty_payload[] = { 'R', 1, 'a' };
	static const uint8_t bad[][6] = {
		{ 'X', 1, 'a', 0 }, { 'R', 0, 'a', 0 }, { 'R', 65, 'a', 0 }, { 'R', 3, 'a', 'b' },
		{ 'R', 1, '/', 0 },
	};
	const char *name;
	size_t nl, off;
	uint8_t *g = guard_copy(ok, sizeof(ok));

	cr_assert_eq(rc_mux_parse(g, sizeof(ok), &name, &nl, &off), 0);
	cr_assert_eq(nl, 4);
	cr_assert_eq(memcmp(name, "game", 4), 0);
	cr_assert_eq(off, 6);
	guard_free(g, sizeof(ok));
	g = guard_copy(empty_payload, sizeof(empty_payload));
	cr_assert_eq(rc_mux_parse(g, sizeof(empty_payload), &name, &nl, &off), 0);
	cr_assert_eq(off, 3);
	guard_free(g, sizeof(empty_payload));
	for (size_t i = 0; i < 5; i++) {
		g = guard_copy(bad[i], 4);
		cr_assert_eq(rc_mux_parse(g, 4, &name, &nl, &off), -EINVAL, "case %zu", i);
		guard_free(g, 4);
	}
	for (size_t len = 0; len < 3; len++) {
		g = guard_copy(ok, len ? len : 1);
		cr_assert_eq(rc_mux_parse(g, len, &name, &nl, &off), -EINVAL, "len %zu", len);
		guard_free(g, len ? len : 1);
	}
}

#include "ws_command.h"

Test(ws_command, parse)
{
	enum rc_wscmd_op op;
	const char *name;
	size_t nl;
	struct {
		const char *text;
		int ok;
		enum rc_wscmd_op op;
		const char *name;
	} cases[] = {
		{ "{\"sub\":\"live\"}", 1, RC_WSCMD_SUB, "live" },
		{ " {\n\"unsub\" :\t\"a.b-c_d\" } ", 1, RC_WSCMD_UNSUB, "a.b-c_d" },
		{ "{\"sub\":\"\"}", 0, 0, NULL },		{ "{\"sub\":\"a/b\"}", 0, 0, NULL },
		{ "{\"sub\":\"a\\\"b\"}", 0, 0, NULL },	{ "{\"pub\":\"a\"}", 0, 0, NULL },
		{ "{\"sub\":\"a\"", 0, 0, NULL },		{ "{\"sub\":\"a\"}x", 0, 0, NULL },
		{ "{\"sub\" \"a\"}", 0, 0, NULL },		{ "", 0, 0, NULL },
		{ "{\"sub\":\"a\",\"x\":1}", 0, 0, NULL },
		{ "{\"to\":\"game\"}", 1, RC_WSCMD_TO, "game" },
		{ " { \"to\" : \"g-1\" } ", 1, RC_WSCMD_TO, "g-1" },
		{ "{\"to\":\"a/b\"}", 0, 0, NULL },	{ "{\"to\":\"a\",\"sub\":\"b\"}", 0, 0, NULL },
		{ "{\"to\":\"a\",\"token\":\"t\"}", 0, 0, NULL },
		{ "{\"to\":\"a\",\"since\":1,\"epoch\":\"e\"}", 0, 0, NULL },
		{ "{\"too\":\"a\"}", 0, 0, NULL },		{ "{\"t\":\"a\"}", 0, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		uint8_t *g = guard_copy(cases[i].text, len ? len : 1);
		int r = rc_wscmd_parse(g, len, &op, &name, &nl);

		if (cases[i].ok) {
			cr_assert_eq(r, 0, "'%s'", cases[i].text);
			cr_assert_eq(op, cases[i].op);
			cr_assert_eq(nl, strlen(cases[i].name));
			cr_assert_eq(memcmp(name, cases[i].name, nl), 0);
		} else {
			cr_assert_eq(r, -EINVAL, "'%s'", cases[i].text);
		}
		guard_free(g, len ? len : 1);
	}
}

Test(ingest_proto, mux_keyed_headers)
{
	static const uint8_t keyed[] = { 'K', 4, 'g', 'a', 'm', 'e', 3, 'k', 'e', 'y', 9, 8 };
	static const uint8_t plain[] = { 'R', 1, 'a', 7 };
	const char *name, *key;
	size_t nl, kl, off;
	uint8_t *g = guard_copy(keyed, sizeof(keyed));

	cr_assert_eq(rc_mux_parse_key(g, sizeof(keyed), &name, &nl, &key, &kl, &off), 0);
	cr_assert(nl == 4 && memcmp(name, "game", 4) == 0);
	cr_assert(kl == 3 && memcmp(key, "key", 3) == 0);
	cr_assert_eq(off, 10);
	/* rc_mux_parse(), the plain form, does not take a keyed header. */
	cr_assert_eq(rc_mux_parse(g, sizeof(keyed), &name, &nl, &off), -EINVAL);
	/* Every truncation is refused without reading past the end. */
	for (size_t len = 0; len < 10; len++) {
		uint8_t *t = guard_copy(keyed, len ? len : 1);

		cr_assert_eq(rc_mux_parse_key(t, len, &name, &nl, &key, &kl, &off), -EINVAL,
			     "len %zu", len);
		guard_free(t, len ? len : 1);
	}
	g[6] = 0;	/* zero-length key */
	cr_assert_eq(rc_mux_parse_key(g, sizeof(keyed), &name, &nl, &key, &kl, &off), -EINVAL);
	guard_free(g, sizeof(keyed));
	g = guard_copy(plain, sizeof(plain));
	cr_assert_eq(rc_mux_parse_key(g, sizeof(plain), &name, &nl, &key, &kl, &off), 0);
	cr_assert_null(key);
	cr_assert_eq(off, 3);
	guard_free(g, sizeof(plain));
}

Test(ws_command, decode_with_token)
{
	struct rc_wscmd cmd;
	enum rc_wscmd_op op;
	const char *name;
	size_t nl;
	struct {
		const char *text;
		int ok;
		const char *token;
	} cases[] = {
		{ "{\"sub\":\"live\",\"token\":\"1.a.b\"}", 1, "1.a.b" },
		{ " { \"token\" : \"t\" , \"sub\" : \"live\" } ", 1, "t" },
		{ "{\"sub\":\"live\"}", 1, NULL },
		{ "{\"token\":\"t\"}", 0, NULL },
		{ "{\"sub\":\"live\",\"token\":\"t\",\"x\":\"y\"}", 0, NULL },
		{ "{\"sub\":\"live\",\"sub\":\"live\"}", 0, NULL },
		{ "{\"token\":\"t\",\"token\":\"t\"}", 0, NULL },
		{ "{\"sub\":\"live\",}", 0, NULL },
		{ "{\"sub\":\"live\",\"token\":\"a\\\"b\"}", 0, NULL },
		{ "{\"sub\":\"live\" \"token\":\"t\"}", 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		uint8_t *g = guard_copy(cases[i].text, len);
		int r = rc_wscmd_decode(g, len, &cmd);

		if (cases[i].ok) {
			cr_assert_eq(r, 0, "'%s'", cases[i].text);
			cr_assert_eq(cmd.op, RC_WSCMD_SUB);
			cr_assert(cmd.name_len == 4 && memcmp(cmd.name, "live", 4) == 0);
			if (cases[i].token)
				cr_assert(cmd.token && cmd.token_len == strlen(cases[i].token) &&
					  memcmp(cmd.token, cases[i].token, cmd.token_len) == 0);
			else
				cr_assert_null(cmd.token);
			/* rc_wscmd_parse(), which has no token to return, refuses a
			 * command with one. */
			cr_assert_eq(rc_wscmd_parse(g, len, &op, &name, &nl) == 0, !cases[i].token);
		} else {
			cr_assert_eq(r, -EINVAL, "'%s'", cases[i].text);
		}
		guard_free(g, len);
	}
}

/* A join with a position: both halves or neither, "since" a plain
 * non-negative number, only with "sub", each member once. */
Test(ws_command, decode_with_position)
{
	struct rc_wscmd cmd;
	struct {
		const char *text;
		int ok;
		uint64_t since;
	} cases[] = {
		{ "{\"sub\":\"live\",\"since\":42,\"epoch\":\"00000000000000ab\"}", 1, 42 },
		{ " { \"epoch\" : \"e\" , \"since\" : 0 , \"token\":\"t\", \"sub\":\"live\" } ", 1, 0 },
		{ "{\"sub\":\"live\",\"since\":18446744073709551615,\"epoch\":\"e\"}", 1, UINT64_MAX },
		{ "{\"sub\":\"live\",\"since\":18446744073709551616,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1}", 0, 0 },
		{ "{\"sub\":\"live\",\"epoch\":\"e\"}", 0, 0 },
		{ "{\"unsub\":\"live\",\"since\":1,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":\"1\",\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":-1,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1.5,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1e3,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1,\"since\":2,\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1,\"epoch\":\"e\",\"epoch\":\"e\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1,\"epoch\":\"e\",\"token\":\"t\",\"x\":\"y\"}", 0, 0 },
		{ "{\"sub\":\"live\",\"since\":1", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		uint8_t *g = guard_copy(cases[i].text, len);
		int r = rc_wscmd_decode(g, len, &cmd);

		if (cases[i].ok) {
			cr_assert_eq(r, 0, "'%s'", cases[i].text);
			cr_assert(cmd.resume && cmd.since == cases[i].since && cmd.epoch,
				  "'%s': position", cases[i].text);
		} else {
			cr_assert_eq(r, -EINVAL, "'%s' accepted", cases[i].text);
		}
		guard_free(g, len);
	}
	/* The plain parser refuses a position (it could not pass it on). */
	{
		static const char t[] = "{\"sub\":\"live\",\"since\":1,\"epoch\":\"e\"}";
		enum rc_wscmd_op op;
		const char *name;
		size_t nl;

		cr_assert_eq(rc_wscmd_parse((const uint8_t *)t, sizeof(t) - 1, &op, &name, &nl), -EINVAL);
	}
}
