/* permessage-deflate (RFC 7692): the negotiation as clients see it, one
 * compressed frame per message shared by every subscriber that agreed
 * (inflated here with zlib, as a browser would, and by libwebsockets' own
 * permessage-deflate client), plain frames for the others and for messages
 * not worth it, compressed client messages inflated within bounds (1009
 * past them, 1007 for bad data). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "lws_subs.h"

#define OFFER "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

static struct rc_server srv;
static struct ws_raw ws[4];
static int nws;
static int ufd = -1;
static struct sub_pool *pool;

static void fini(void)
{
	sub_pool_free(pool);
	pool = NULL;
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	nws = 0;
	if (ufd >= 0)
		close(ufd);
	ufd = -1;
	rc_cleanup();
}

/* Opens path with the extra header lines; the 101 head into head. */
static struct ws_raw *open_ws(const char *path, const char *extra, char *head, size_t cap)
{
	char err[256];
	struct ws_raw *w = &ws[nws];

	rc_assert(nws < 4, "too many sockets");
	rc_assert(ws_raw_open_ext(w, &srv.http, path, extra, head, cap, 0, RC_WAIT_TIMEOUT_MS, err,
				  sizeof(err)) == 0, "open %s: %s", path, err);
	nws++;
	return w;
}

/* The Sec-WebSocket-Extensions answer of a handshake with the given
 * extension header value (NULL: none), or "" when there is none. */
static void answer_to(const char *offer, char *out, size_t cap)
{
	char extra[512], head[4096];
	const char *h;
	struct ws_raw *w;

	snprintf(extra, sizeof(extra), "Sec-WebSocket-Extensions: %s\r\n", offer);
	w = open_ws("/ws/txt", extra, head, sizeof(head));
	h = strcasestr(head, "\r\nSec-WebSocket-Extensions:");
	out[0] = '\0';
	if (h) {
		h += strlen("\r\nSec-WebSocket-Extensions:");
		while (*h == ' ')
			h++;
		snprintf(out, cap, "%.*s", (int)strcspn(h, "\r\n"), h);
	}
	ws_raw_close(w);
	nws--;
}

Test(compress, negotiation_takes_what_it_can_share_and_declines_the_rest, .fini = fini)
{
	static const struct {
		const char *offer, *answer;
	} cases[] = {
		{ "permessage-deflate",
		  "permessage-deflate; server_no_context_takeover; client_no_context_takeover" },
		{ "permessage-deflate; client_max_window_bits",
		  "permessage-deflate; server_no_context_takeover; client_no_context_takeover" },
		{ "permessage-deflate; server_max_window_bits=15",
		  "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
		  "server_max_window_bits=15" },
		/* A smaller window for the server cannot be shared: the next
		 * offer is taken. */
		{ "permessage-deflate; server_max_window_bits=10, permessage-deflate",
		  "permessage-deflate; server_no_context_takeover; client_no_context_takeover" },
		{ "permessage-deflate; server_max_window_bits=10", "" },
		{ "permessage-deflate; bogus", "" },
		{ "permessage-deflate; client_max_window_bits=16", "" },
		{ "x-webkit-deflate-frame", "" },
		/* Broken grammar: the handshake goes on, without the extension. */
		{ "permessage-deflate;;=", "" },
		{ "\"quoted\"", "" },
	};
	char got[256];

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=txt", "--channel",
		 "txt:frames=text");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		answer_to(cases[i].offer, got, sizeof(got));
		rc_assert(!strcmp(got, cases[i].answer), "offer '%s': answer '%s', want '%s'",
			  cases[i].offer, got, cases[i].answer);
	}
	rc_assert(rc_metric(&srv, "ringcast_ws_deflate_upgrades_total") == 4,
		  "four upgrades agreed");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* Inflates a permessage-deflate payload as a browser does (RFC 7692 7.2.2:
 * append 00 00 ff ff, inflate raw). Returns the length or -1. */
static long inflate_msg(const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	unsigned char *buf = malloc(len + 4);
	long n = -1;
	int r;

	rc_assert(buf, "malloc");
	memcpy(buf, in, len);
	memcpy(buf + len, "\x00\x00\xff\xff", 4);
	rc_assert(inflateInit2(&z, -15) == Z_OK, "inflateInit2");
	z.next_in = buf;
	z.avail_in = (uInt)(len + 4);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	r = inflate(&z, Z_SYNC_FLUSH);
	if (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR)
		n = (long)(cap - z.avail_out);
	inflateEnd(&z);
	free(buf);
	return n;
}

/* Compresses in[0..len) as a client would (raw deflate, the 00 00 ff ff
 * tail taken off). Returns the length. */
static size_t deflate_msg(const void *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	size_t n;

	rc_assert(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflate");
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	rc_assert(deflate(&z, Z_SYNC_FLUSH) == Z_OK, "deflate");
	n = cap - z.avail_out;
	deflateEnd(&z);
	rc_assert(n >= 4 && !memcmp(out + n - 4, "\x00\x00\xff\xff", 4), "sync flush tail");
	return n - 4;
}

/* A JSON game state of about len bytes. */
static size_t game_state(char *buf, size_t len, int seq)
{
	size_t n = (size_t)snprintf(buf, len, "{\"seq\":%d,\"dots\":[", seq);

	for (int i = 0; n + 24 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s[%d,%d,%d]", i ? "," : "", 100 + i % 7,
				      200 + i % 5, i % 360);
	n += (size_t)snprintf(buf + n, len - n, "]}");
	return n;
}

/* Reads w's next frame into payload; returns its length, sets *rsv1. */
static size_t next_frame(struct ws_raw *w, unsigned char *payload, size_t cap, int *rsv1,
			 int *opcode)
{
	struct ws_frame f;
	int r = ws_raw_recv(w, &f, payload, cap, RC_WAIT_TIMEOUT_MS);

	rc_assert(r == 1, "a frame (%d)", r);
	*rsv1 = f.rsv1;
	*opcode = f.opcode;
	return f.len;
}

Test(compress, one_compressed_frame_per_message_for_every_subscriber_that_agreed, .fini = fini)
{
	char big[2000], small[] = "{\"seq\":2}";
	unsigned char got[4096], plain[4096];
	struct ws_raw *a, *b, *c, *bin;
	size_t n, bl = game_state(big, 1200, 1);
	int rsv1, op;
	long long v;
	long il;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=txt", "--udp",
		 "127.0.0.1:0=raw", "--channel", "txt:frames=text", "--workers", "1");
	ufd = rc_udp_socket(rc_udp_for(&srv, "txt"));
	a = open_ws("/ws/txt", OFFER, NULL, 0);
	b = open_ws("/ws/txt", OFFER, NULL, 0);
	c = open_ws("/ws/txt", NULL, NULL, 0);	/* offers nothing */
	bin = open_ws("/ws/raw", OFFER, NULL, 0);	/* binary channel: auto is off */
	rc_assert(rc_wait_metric(&srv, "ringcast_ws_subscribers", 4, RC_WAIT_TIMEOUT_MS, NULL, NULL,
				 &v), "4 subscribers: %lld", v);
	rc_assert(send(ufd, big, bl, 0) == (ssize_t)bl, "publish");
	for (int i = 0; i < 2; i++) {
		struct ws_raw *w = i ? b : a;

		n = next_frame(w, got, sizeof(got), &rsv1, &op);
		rc_assert(rsv1 && op == 1, "compressed text frame (rsv1 %d, opcode %d)", rsv1, op);
		rc_assert(n < bl / 2, "compressed to %zu of %zu bytes", n, bl);
		il = inflate_msg(got, n, plain, sizeof(plain));
		rc_assert(il == (long)bl && !memcmp(plain, big, bl), "inflates to the message (%ld)",
			  il);
	}
	n = next_frame(c, got, sizeof(got), &rsv1, &op);
	rc_assert(!rsv1 && n == bl && !memcmp(got, big, bl), "the plain subscriber's frame");
	/* Under compress-min (256): as it is, for everyone. */
	rc_assert(send(ufd, small, strlen(small), 0) == (ssize_t)strlen(small), "publish");
	n = next_frame(a, got, sizeof(got), &rsv1, &op);
	rc_assert(!rsv1 && n == strlen(small) && !memcmp(got, small, n), "small: plain");
	rc_assert(rc_metric(&srv, "ringcast_compressed_messages_total") == 1,
		  "compressed once for two subscribers");
	rc_assert(rc_metric(&srv, "ringcast_compressed_deliveries_total") == 2,
		  "and sent to both");
	/* A binary channel (compress=auto): not compressed. */
	{
		int pfd = rc_udp_socket(rc_udp_for(&srv, "raw"));

		rc_assert(send(pfd, big, bl, 0) == (ssize_t)bl, "publish raw");
		close(pfd);
	}
	n = next_frame(bin, got, sizeof(got), &rsv1, &op);
	rc_assert(!rsv1 && op == 2 && n == bl, "a binary channel's frame as it is");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* Sends cmd compressed on w and requires the answer want. */
static void compressed_command(struct ws_raw *w, const char *cmd, const char *want)
{
	unsigned char z[512], frame[512];
	struct ws_frame f;
	size_t n = deflate_msg(cmd, strlen(cmd), z, sizeof(z));

	rc_assert(ws_raw_send(w, 0x40 | 1, z, n) == 0, "send compressed command");
	rc_assert(ws_raw_recv(w, &f, frame, sizeof(frame) - 1, RC_WAIT_TIMEOUT_MS) == 1 &&
			  f.opcode == 1, "answer to %s", cmd);
	frame[f.len] = '\0';
	rc_assert(!strcmp((char *)frame, want), "answer '%s', want '%s'", frame, want);
}

Test(compress, compressed_client_messages_are_inflated_within_bounds, .fini = fini)
{
	static unsigned char zeros[300000], z[70000];
	static const unsigned char junk[] = { 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa };
	char big[600];
	struct ws_raw *a, *b, *c, *d;
	size_t n;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--channel",
		 "game:frames=text,uplink=on,uplink-max=1024");
	a = open_ws("/ws", OFFER, NULL, 0);
	compressed_command(a, "{\"sub\":\"game\"}", "{\"subscribed\":\"game\"}");
	compressed_command(a, "{\"to\":\"game\"}", "{\"uplink\":\"game\"}");
	/* A bomb: 300,000 zero bytes compress to a few hundred; uplink-max
	 * is 1024: closed with 1009 once that much is inflated. */
	n = deflate_msg(zeros, sizeof(zeros), z, sizeof(z));
	rc_assert(n < 1024, "the bomb is small: %zu bytes", n);
	rc_assert(ws_raw_send(a, 0x40 | 2, z, n) == 0, "send the bomb");
	rc_assert(ws_raw_close_code(a, RC_WAIT_TIMEOUT_MS) == 1009, "closed with 1009");
	/* Not DEFLATE data: 1007. */
	b = open_ws("/ws/game", OFFER, NULL, 0);
	rc_assert(ws_raw_send(b, 0x40 | 2, junk, sizeof(junk)) == 0, "send junk");
	rc_assert(ws_raw_close_code(b, RC_WAIT_TIMEOUT_MS) == 1007, "closed with 1007");
	/* A command that inflates past the command bound (256): 1009. */
	c = open_ws("/ws", OFFER, NULL, 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"sub\":\"game\"", 13);
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	n = deflate_msg(big, strlen(big), z, sizeof(z));
	rc_assert(ws_raw_send(c, 0x40 | 1, z, n) == 0, "send");
	rc_assert(ws_raw_close_code(c, RC_WAIT_TIMEOUT_MS) == 1009, "closed with 1009");
	rc_assert(rc_metric(&srv, "ringcast_inflate_closed_total") == 3, "three counted");
	rc_assert(rc_metric(&srv, "ringcast_inflated_total") == 2, "two commands inflated");
	/* RSV1 without the extension agreed: a protocol error. */
	d = open_ws("/ws", NULL, NULL, 0);
	n = deflate_msg("{\"sub\":\"game\"}", 14, z, sizeof(z));
	rc_assert(ws_raw_send(d, 0x40 | 1, z, n) == 0, "send");
	rc_assert(ws_raw_close_code(d, RC_WAIT_TIMEOUT_MS) == 1002, "closed with 1002");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK(&srv);
}

/* Payloads that compress, for the lws subscribers: the harness's 8-byte tag
 * (channel and seq, so a lost message shows as one), then words picked by
 * a generator keyed on (chan, seq), so every message differs and a wrong
 * byte anywhere is caught. Every fourth message is under compress-min
 * (256), so it goes as it is (RSV1 clear) between compressed ones; the
 * others are 300 to 2000 bytes, longer than lws's 1024-byte inflate
 * buffer (so some are handed over in pieces). */
static size_t text_size(uint64_t seq)
{
	if (seq % 4 == 3)
		return 8 + (size_t)(seq * 37 % 240);
	return 300 + (size_t)(seq * 131 % 1701);
}

static void text_fill(unsigned chan, uint64_t seq, unsigned char *buf, size_t size)
{
	static const char *const words[16] = {
		"ringcast ", "stream ", "frame ", "deflate ", "window ", "message ",
		"channel ", "subscriber ", "{\"x\":", "12,", "345,", "\"dots\":[",
		"]}", "seq ", "epoch ", "gateway ",
	};
	uint64_t tag = (seq & 0x00ffffffffffffffULL) | ((uint64_t)(chan & 0xff) << 56);
	uint64_t st = (seq + 1) * 0x9e3779b97f4a7c15ULL ^ chan;
	size_t i = 0;

	for (; i < 8 && i < size; i++)
		buf[i] = (unsigned char)(tag >> (8 * i));
	while (i < size) {
		const char *w;
		size_t wl;

		st = st * 6364136223846793005ULL + 1442695040888963407ULL;
		w = words[st >> 60];
		wl = strlen(w);
		if (wl > size - i)
			wl = size - i;
		memcpy(buf + i, w, wl);
		i += wl;
	}
}

static int text_match(unsigned chan, uint64_t seq, size_t want, const unsigned char *buf,
		      size_t len)
{
	unsigned char exp[2048];

	if (len != want || want > sizeof(exp))
		return 0;
	text_fill(chan, seq, exp, want);
	return memcmp(exp, buf, len) == 0;
}

#define LWS_SUBS 2
#define LWS_MSGS 120
#define LWS_BURST 10

/* libwebsockets' permessage-deflate client (the pool's: lws inflates, the
 * pool checks every message against text_fill) on a channel that
 * compresses: each subscriber gets every message, in order and byte for
 * byte, the large ones compressed and the small ones as they are. (Before
 * 4.3.3 lws's client looped for ever on the first message that came
 * uncompressed; lws_subs.c works around it, see there.) */
Test(compress, lws_deflate_client_gets_every_message_byte_identical, .fini = fini)
{
	unsigned char buf[2048];
	uint64_t sent = 0, big = 0;
	char d[512];
	long long v;

	RC_START(&srv, "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0=z", "--channel",
		 "z:compress=on", "--workers", "1");
	ufd = rc_udp_socket(rc_udp_for(&srv, "z"));
	rc_assert(ufd >= 0, "udp socket");
	pool = sub_pool_new_deflate(LWS_SUBS);
	rc_assert(pool, "lws context");
	pool->size_of = text_size;
	pool->match = text_match;
	for (int i = 0; i < LWS_SUBS; i++)
		rc_assert(sub_connect(pool, i, &srv.http, "z", 0, 0) == 0, "connect %d", i);
	rc_assert(sub_pool_wait_open(pool, RC_WAIT_TIMEOUT_MS) == LWS_SUBS, "%d open: %s",
		  LWS_SUBS, sub_describe(&pool->subs[0], d, sizeof(d)));
	rc_assert(rc_wait_metric(&srv, "ringcast_subscribers{channel=\"z\"}", LWS_SUBS,
				 RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool, &v),
		  "%d subscribers of z: %lld", LWS_SUBS, v);
	rc_assert(rc_metric(&srv, "ringcast_ws_deflate_upgrades_total") == LWS_SUBS,
		  "lws's offer agreed for every subscriber");
	while (sent < LWS_MSGS) {
		for (int k = 0; k < LWS_BURST && sent < LWS_MSGS; k++, sent++) {
			size_t n = text_size(sent);

			text_fill(0, sent, buf, n);
			rc_assert(send(ufd, buf, n, 0) == (ssize_t)n, "publish: %s",
				  strerror(errno));
			big += n >= 256;
		}
		/* in bursts, so no datagram is lost to a full socket buffer */
		if (!sub_pool_wait_seq(pool, &sent, 1, RC_WAIT_TIMEOUT_MS))
			break;
	}
	for (int i = 0; i < LWS_SUBS; i++) {
		const struct sub *s = &pool->subs[i];

		rc_assert(s->state == SUB_OPEN && s->count == LWS_MSGS &&
				  s->next_seq == LWS_MSGS && s->mismatches == 0 &&
				  s->compressed == big && s->close_code == SUB_NO_CLOSE,
			  "all %d messages byte-identical, %llu of them compressed: %s",
			  LWS_MSGS, (unsigned long long)big, sub_describe(s, d, sizeof(d)));
	}
	rc_assert(rc_wait_metric(&srv, "ringcast_compressed_deliveries_total",
				 (long long)big * LWS_SUBS, RC_WAIT_TIMEOUT_MS, sub_pool_idle, pool,
				 &v),
		  "%llu compressed frames for each subscriber: %lld in all",
		  (unsigned long long)big, v);
	rc_assert(rc_metric(&srv, "ringcast_compressed_messages_total") == (long long)big,
		  "each compressed once");
	for (int i = 0; i < LWS_SUBS; i++)
		sub_close(pool, i);
	rc_assert(sub_pool_wait_closed(pool, RC_WAIT_TIMEOUT_MS), "closed");
	/* Raw WebSocket clients do not answer a close frame: gone
	 * first, the server does not wait for them. */
	for (int i = 0; i < nws; i++)
		ws_raw_close(&ws[i]);
	RC_STOP_OK_IDLE(&srv, sub_pool_idle, pool);
}
