/* The NATS protocol codec (ws/nats_proto.h): the parser on both sides'
 * traffic, fed whole, byte by byte and in every two-way split; header
 * blocks; encoders and their round trips through the parser; subjects; the
 * JSON reader and INFO. Every parse of a complete item is repeated on a
 * guard-page copy that ends exactly where the item ends, and every encoder
 * writes into a buffer that ends at a guard page, so a read or write past
 * the bounds crashes the test. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "guard.h"
#include "nats_proto.h"

/* Bytes that nats-server 2.9.10 (Debian 12's package) sent a client on
 * 127.0.0.1, captured with tests/unit/nats_capture.py, which starts the
 * server, speaks the client side over a plain socket and prints what came
 * back as these literals. The session: CONNECT with verbose on (hence the
 * +OKs), two SUBs, a PUB, a PUB with a reply subject and no payload, an
 * HPUB with two headers, an HPUB with a reply to a subject nobody listens
 * to (no_responders: the 503 status), a PING (the PONG), and the server's
 * own PING after its one-second ping interval. */
static const char capture_session[] =
	"INFO {\"server_id\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"server_name\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\","
	"\"port\":60497,\"headers\":true,\"max_payload\":1048576,\"client_id\":4,"
	"\"client_ip\":\"127.0.0.1\",\"cluster\":\"cap\"} \r\n"
	"+OK\r\n"
	"+OK\r\n"
	"+OK\r\n"
	"+OK\r\n"
	"MSG demo.ch.live 1 5\r\n"
	"hello\r\n"
	"+OK\r\n"
	"MSG demo.ch.live 1 _INBOX.cap 0\r\n"
	"\r\n"
	"+OK\r\n"
	"HMSG demo.ch.live 1 43 49\r\n"
	"NATS/1.0\r\n"
	"Rc-Origin: node-a\r\n"
	"Rc-Seq: 17\r\n"
	"\r\n"
	"world!\r\n"
	"+OK\r\n"
	"HMSG _INBOX.cap 2 16 16\r\n"
	"NATS/1.0 503\r\n"
	"\r\n"
	"\r\n"
	"PONG\r\n"
	"PING\r\n";

static const char capture_error[] =
	"INFO {\"server_id\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"server_name\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\","
	"\"port\":60497,\"headers\":true,\"max_payload\":1048576,\"client_id\":5,"
	"\"client_ip\":\"127.0.0.1\",\"cluster\":\"cap\"} \r\n"
	"-ERR 'Unknown Protocol Operation'\r\n";

static const char capture_cluster[] =
	"INFO {\"server_id\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"server_name\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\","
	"\"port\":60497,\"headers\":true,\"max_payload\":1048576,\"client_id\":6,"
	"\"client_ip\":\"127.0.0.1\",\"cluster\":\"cap\"} \r\n"
	"PONG\r\n"
	"INFO {\"server_id\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"server_name\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
	"\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\","
	"\"port\":60497,\"headers\":true,\"max_payload\":1048576,\"client_id\":6,"
	"\"client_ip\":\"127.0.0.1\",\"cluster\":\"cap\","
	"\"connect_urls\":[\"127.0.0.1:60497\",\"127.0.0.1:37637\"]} \r\n"
	"PING\r\n"
	"PING\r\n";

/* A second connection sent an unknown verb: the server answers -ERR and
 * closes (in capture_error above). In capture_cluster a second server
 * joined the first one's cluster, and the first told its client of the new
 * URL with an INFO update. */

static const struct rc_nats_limits server_lim = {
	.max_control_line = RC_NATS_MAX_CONTROL_LINE,
	.max_payload = RC_NATS_MAX_PAYLOAD,
	.side = RC_NATS_FROM_SERVER,
};

static const struct rc_nats_limits client_lim = {
	.max_control_line = RC_NATS_MAX_CONTROL_LINE,
	.max_payload = RC_NATS_MAX_PAYLOAD,
	.side = RC_NATS_FROM_CLIENT,
};

/* ---- describing events ---- */

struct text {
	char s[65536];
	size_t len;
};

static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(t->s) - t->len, "description too long");
	t->len += (size_t)n;
}

/* Bytes as they are, control characters and backslash escaped. */
static void tbytes(struct text *t, const char *p, size_t n)
{
	size_t i;

	if (!p) {
		tprintf(t, "-");
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			tprintf(t, "\\r");
		else if (c == '\n')
			tprintf(t, "\\n");
		else if (c < ' ' || c >= 0x7f || c == '\\')
			tprintf(t, "\\x%02x", c);
		else
			tprintf(t, "%c", c);
	}
}

static const char *op_name(enum rc_nats_op op)
{
	static const char *const names[] = {
		[RC_NATS_OP_NONE] = "NONE", [RC_NATS_OP_INFO] = "INFO", [RC_NATS_OP_MSG] = "MSG",
		[RC_NATS_OP_HMSG] = "HMSG", [RC_NATS_OP_OK] = "OK", [RC_NATS_OP_ERR] = "ERR",
		[RC_NATS_OP_PING] = "PING", [RC_NATS_OP_PONG] = "PONG",
		[RC_NATS_OP_CONNECT] = "CONNECT", [RC_NATS_OP_PUB] = "PUB",
		[RC_NATS_OP_HPUB] = "HPUB", [RC_NATS_OP_SUB] = "SUB", [RC_NATS_OP_UNSUB] = "UNSUB",
	};

	return names[op];
}

/* Checks that a slice of ev lies inside buf[0..ev->size). */
static void inside(const char *base, size_t size, const char *p, size_t n, const char *what)
{
	if (!p) {
		cr_assert_eq(n, 0, "%s: NULL with length %zu", what, n);
		return;
	}
	cr_assert(p >= base && n <= size && p - base <= (ptrdiff_t)(size - n),
		  "%s points outside the item", what);
}

/* "OP field=value ... ;" for every field the op has; checks that each slice
 * points inside the item and that no other field is set. */
static void describe(struct text *t, const struct rc_nats_event *ev, const char *base)
{
	inside(base, ev->size, ev->subject, ev->subject_len, "subject");
	inside(base, ev->size, ev->sid, ev->sid_len, "sid");
	inside(base, ev->size, ev->reply, ev->reply_len, "reply");
	inside(base, ev->size, ev->queue, ev->queue_len, "queue");
	inside(base, ev->size, ev->headers, ev->headers_len, "headers");
	inside(base, ev->size, ev->payload, ev->payload_len, "payload");
	inside(base, ev->size, ev->text, ev->text_len, "text");
	tprintf(t, "%s", op_name(ev->op));
	switch (ev->op) {
	case RC_NATS_OP_INFO:
	case RC_NATS_OP_CONNECT:
	case RC_NATS_OP_ERR:
		tprintf(t, " text=");
		tbytes(t, ev->text, ev->text_len);
		break;
	case RC_NATS_OP_MSG:
	case RC_NATS_OP_HMSG:
	case RC_NATS_OP_PUB:
	case RC_NATS_OP_HPUB:
		tprintf(t, " subj=");
		tbytes(t, ev->subject, ev->subject_len);
		if (ev->op == RC_NATS_OP_MSG || ev->op == RC_NATS_OP_HMSG) {
			tprintf(t, " sid=");
			tbytes(t, ev->sid, ev->sid_len);
		} else {
			cr_assert_null(ev->sid);
		}
		tprintf(t, " reply=");
		tbytes(t, ev->reply, ev->reply_len);
		if (ev->op == RC_NATS_OP_HMSG || ev->op == RC_NATS_OP_HPUB) {
			tprintf(t, " hdr=");
			tbytes(t, ev->headers, ev->headers_len);
			cr_assert(ev->headers + ev->headers_len == ev->payload,
				  "payload does not follow the headers");
		} else {
			cr_assert_null(ev->headers);
		}
		tprintf(t, " payload=");
		tbytes(t, ev->payload, ev->payload_len);
		cr_assert(ev->payload + ev->payload_len + 2 == base + ev->size,
			  "the item does not end with the payload's CRLF");
		break;
	case RC_NATS_OP_SUB:
		tprintf(t, " subj=");
		tbytes(t, ev->subject, ev->subject_len);
		tprintf(t, " queue=");
		tbytes(t, ev->queue, ev->queue_len);
		tprintf(t, " sid=");
		tbytes(t, ev->sid, ev->sid_len);
		break;
	case RC_NATS_OP_UNSUB:
		tprintf(t, " sid=");
		tbytes(t, ev->sid, ev->sid_len);
		if (ev->has_max)
			tprintf(t, " max=%llu", (unsigned long long)ev->max_msgs);
		break;
	default:
		break;
	}
	if (ev->op != RC_NATS_OP_UNSUB)
		cr_assert(!ev->has_max && ev->max_msgs == 0);
	if (ev->op != RC_NATS_OP_SUB)
		cr_assert_null(ev->queue);
	tprintf(t, "; ");
}

/* ---- parsing, checked on guard copies ---- */

/* rc_nats_parse() on buf[0..len), then again on a guard copy: of exactly the
 * item when one is complete (so the parser cannot have looked past it),
 * else of the whole input; both must agree. */
static int parse_checked(const struct rc_nats_limits *lim, const char *buf, size_t len,
			 struct rc_nats_event *ev)
{
	struct rc_nats_event ev2;
	struct text a, b;
	size_t glen;
	char *g;
	int rc, rc2;

	memset(ev, 0x5a, sizeof(*ev));
	rc = rc_nats_parse(lim, buf, len, ev);
	cr_assert(rc == 0 || rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE || rc == -EFBIG ||
		  rc == -EBADMSG, "unexpected result %d", rc);
	if (rc == -EAGAIN)
		cr_assert_gt(ev->need, len, "need %zu is not more than the %zu bytes held",
			     ev->need, len);
	if (rc == 0)
		cr_assert(ev->size > 0 && ev->size <= len, "size %zu of %zu", ev->size, len);
	glen = rc == 0 ? ev->size : len;
	g = guard_copy(buf, glen);
	rc2 = rc_nats_parse(lim, g, glen, &ev2);
	cr_assert_eq(rc2, rc, "guard copy: %d, whole buffer: %d", rc2, rc);
	if (rc == -EAGAIN)
		cr_assert_eq(ev2.need, ev->need);
	if (rc == 0) {
		a.len = b.len = 0;
		describe(&a, ev, buf);
		describe(&b, &ev2, g);
		cr_assert_str_eq(a.s, b.s);
		cr_assert_eq(ev2.size, ev->size);
	}
	guard_free(g, glen);
	return rc;
}

/* Parses the single complete item s (whole, nothing after it) and returns
 * its description, or "ERR <rc>". Every proper prefix must be incomplete
 * or the same error. */
static const char *parse1_lim(const struct rc_nats_limits *lim, const char *s, size_t len)
{
	static struct text t;
	struct rc_nats_event ev;
	int rc;

	t.len = 0;
	t.s[0] = 0;
	rc = parse_checked(lim, s, len, &ev);
	if (rc) {
		tprintf(&t, "ERR %d", rc);
		return t.s;
	}
	cr_assert_eq(ev.size, len, "item of %zu bytes, input of %zu", ev.size, len);
	describe(&t, &ev, s);
	return t.s;
}

static const char *parse1(const char *s)
{
	return parse1_lim(&server_lim, s, strlen(s));
}

static const char *parse1c(const char *s)
{
	return parse1_lim(&client_lim, s, strlen(s));
}

static char errbuf[32];

static const char *err(int rc)
{
	snprintf(errbuf, sizeof(errbuf), "ERR %d", rc);
	return errbuf;
}

/* What a connection does: append what arrived, take every complete item
 * from the front, keep the tail. The stream is fed in the given chunk sizes
 * (the last chunk takes the rest). Returns the descriptions of all items in
 * order, ended by "ERR <rc>" when parsing failed. */
static void drive(const struct rc_nats_limits *lim, const char *stream, size_t len,
		  const size_t *chunks, size_t nchunks, struct text *t)
{
	static char buf[65536];
	size_t have = 0, off = 0, c = 0;

	t->len = 0;
	t->s[0] = 0;
	cr_assert_leq(len, sizeof(buf));
	while (off < len) {
		size_t n = c < nchunks ? chunks[c] : len - off;

		c++;
		if (n > len - off)
			n = len - off;
		memcpy(buf + have, stream + off, n);
		have += n;
		off += n;
		for (;;) {
			struct rc_nats_event ev;
			int rc = parse_checked(lim, buf, have, &ev);

			if (rc == -EAGAIN)
				break;
			if (rc) {
				tprintf(t, "ERR %d", rc);
				return;
			}
			describe(t, &ev, buf);
			memmove(buf, buf + ev.size, have - ev.size);
			have -= ev.size;
		}
	}
	if (have)
		tprintf(t, "INCOMPLETE %zu", have);
}

/* The stream fed whole, byte by byte, and split in two at every position
 * all give `want`. */
static void expect_stream(const struct rc_nats_limits *lim, const char *stream, size_t len,
			  const char *want)
{
	static struct text got;
	size_t i, one[1], *bytes;

	drive(lim, stream, len, NULL, 0, &got);
	cr_assert_str_eq(got.s, want, "whole: %s", got.s);
	bytes = malloc((len ? len : 1) * sizeof(*bytes));
	cr_assert_not_null(bytes);
	for (i = 0; i < len; i++)
		bytes[i] = 1;
	drive(lim, stream, len, bytes, len, &got);
	free(bytes);
	cr_assert_str_eq(got.s, want, "byte by byte");
	for (i = 1; i < len; i++) {
		one[0] = i;
		drive(lim, stream, len, one, 1, &got);
		cr_assert_str_eq(got.s, want, "split at %zu", i);
	}
}

TestSuite(nats_parse);

/* ---- every kind of item, server side ---- */

Test(nats_parse, ping_pong_ok)
{
	cr_assert_str_eq(parse1("PING\r\n"), "PING; ");
	cr_assert_str_eq(parse1("PONG\r\n"), "PONG; ");
	cr_assert_str_eq(parse1("+OK\r\n"), "OK; ");
	/* Verbs in any case; blanks before the line end are dropped. */
	cr_assert_str_eq(parse1("ping\r\n"), "PING; ");
	cr_assert_str_eq(parse1("PoNg \t\r\n"), "PONG; ");
	cr_assert_str_eq(parse1("+ok\r\n"), "OK; ");
}

Test(nats_parse, info)
{
	cr_assert_str_eq(parse1("INFO {\"server_id\":\"x\",\"max_payload\":1024}\r\n"),
			 "INFO text={\"server_id\":\"x\",\"max_payload\":1024}; ");
	/* Blanks around the JSON are not part of it; blanks inside are. */
	cr_assert_str_eq(parse1("info \t {\"a\": 1 , \"b\" : \"c d\"} \t\r\n"),
			 "INFO text={\"a\": 1 , \"b\" : \"c d\"}; ");
	cr_assert_str_eq(parse1("INFO\t{}\r\n"), "INFO text={}; ");
	cr_assert_str_eq(parse1("INFO\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("INFO  \r\n"), err(-EBADMSG));
}

Test(nats_parse, err)
{
	cr_assert_str_eq(parse1("-ERR 'Unknown Protocol Operation'\r\n"),
			 "ERR text=Unknown Protocol Operation; ");
	cr_assert_str_eq(parse1("-err\t'Slow Consumer'  \r\n"), "ERR text=Slow Consumer; ");
	/* Without quotes, or with an unmatched one, the text is as sent. */
	cr_assert_str_eq(parse1("-ERR Stale Connection\r\n"), "ERR text=Stale Connection; ");
	cr_assert_str_eq(parse1("-ERR 'half\r\n"), "ERR text='half; ");
	cr_assert_str_eq(parse1("-ERR ''\r\n"), "ERR text=; ");
	cr_assert_str_eq(parse1("-ERR '\r\n"), "ERR text='; ");
	cr_assert_str_eq(parse1("-ERR\r\n"), "ERR text=; ");
}

Test(nats_parse, msg)
{
	cr_assert_str_eq(parse1("MSG foo.bar 9 11\r\nHello World\r\n"),
			 "MSG subj=foo.bar sid=9 reply=- payload=Hello World; ");
	cr_assert_str_eq(parse1("MSG foo.bar 9 GREETING.34 11\r\nHello World\r\n"),
			 "MSG subj=foo.bar sid=9 reply=GREETING.34 payload=Hello World; ");
	cr_assert_str_eq(parse1("msg \t a  1\t\t0 \r\n\r\n"),
			 "MSG subj=a sid=1 reply=- payload=; ");
	/* The payload is opaque: CRLF, NUL and anything else inside it. */
	cr_assert_str_eq(parse1_lim(&server_lim, "MSG a 1 6\r\n\r\n\0\xff\r\n\r\n", 19),
			 "MSG subj=a sid=1 reply=- payload=\\r\\n\\x00\\xff\\r\\n; ");
	/* sid is any token, as the client sent it. */
	cr_assert_str_eq(parse1("MSG a sub-7x 1\r\nz\r\n"),
			 "MSG subj=a sid=sub-7x reply=- payload=z; ");
}

Test(nats_parse, hmsg)
{
	cr_assert_str_eq(parse1("HMSG SUBJECT 1 REPLY 23 30\r\nNATS/1.0\r\nHeader: X\r\n\r\n"
				"PAYLOAD\r\n"),
			 "HMSG subj=SUBJECT sid=1 reply=REPLY "
			 "hdr=NATS/1.0\\r\\nHeader: X\\r\\n\\r\\n payload=PAYLOAD; ");
	cr_assert_str_eq(parse1("hmsg s 2 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
			 "HMSG subj=s sid=2 reply=- hdr=NATS/1.0\\r\\n\\r\\n payload=; ");
	cr_assert_str_eq(parse1("HMSG _INBOX.x 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"),
			 "HMSG subj=_INBOX.x sid=2 reply=- hdr=NATS/1.0 503\\r\\n\\r\\n payload=; ");
}

/* ---- client side: what the encoders write ---- */

Test(nats_parse, client_side)
{
	cr_assert_str_eq(parse1c("CONNECT {\"verbose\":false}\r\n"),
			 "CONNECT text={\"verbose\":false}; ");
	cr_assert_str_eq(parse1c("PUB FOO 11\r\nHello NATS!\r\n"),
			 "PUB subj=FOO reply=- payload=Hello NATS!; ");
	cr_assert_str_eq(parse1c("pub FRONT.DOOR JOKE.22 11\r\nKnock Knock\r\n"),
			 "PUB subj=FRONT.DOOR reply=JOKE.22 payload=Knock Knock; ");
	cr_assert_str_eq(parse1c("HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"),
			 "HPUB subj=FOO reply=- hdr=NATS/1.0\\r\\nBar: Baz\\r\\n\\r\\n "
			 "payload=Hello NATS!; ");
	cr_assert_str_eq(parse1c("HPUB FOO R 12 13\r\nNATS/1.0\r\n\r\nx\r\n"),
			 "HPUB subj=FOO reply=R hdr=NATS/1.0\\r\\n\\r\\n payload=x; ");
	cr_assert_str_eq(parse1c("SUB FOO 1\r\n"), "SUB subj=FOO queue=- sid=1; ");
	cr_assert_str_eq(parse1c("sub BAR G1 44\r\n"), "SUB subj=BAR queue=G1 sid=44; ");
	cr_assert_str_eq(parse1c("UNSUB 1\r\n"), "UNSUB sid=1; ");
	cr_assert_str_eq(parse1c("UNSUB 1 5\r\n"), "UNSUB sid=1 max=5; ");
	cr_assert_str_eq(parse1c("PING\r\n"), "PING; ");
	cr_assert_str_eq(parse1c("PONG\r\n"), "PONG; ");
	cr_assert_str_eq(parse1c("SUB FOO\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("SUB A B C D\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("UNSUB\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("UNSUB 1 x\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("UNSUB 1 2 3\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("PUB FOO\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1c("CONNECT\r\n"), err(-EBADMSG));
}

Test(nats_parse, verbs_belong_to_one_side)
{
	cr_assert_str_eq(parse1("PUB a 1\r\nx\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("SUB a 1\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("CONNECT {}\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1c("MSG a 1 1\r\nx\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1c("INFO {}\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1c("+OK\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1c("-ERR 'x'\r\n"), err(-EPROTO));
}

/* ---- incomplete input ---- */

/* Every proper prefix of a complete item is incomplete, and once the
 * control line of a message is in, `need` is the exact item length. */
static void expect_prefixes_incomplete(const char *s, size_t ctl_end)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++) {
		struct rc_nats_event ev;
		int rc = parse_checked(&server_lim, s, i, &ev);

		cr_assert_eq(rc, -EAGAIN, "prefix of %zu bytes: %d", i, rc);
		if (ctl_end && i >= ctl_end)
			cr_assert_eq(ev.need, len, "prefix of %zu: need %zu, want %zu", i, ev.need,
				     len);
		else
			cr_assert_eq(ev.need, i + 1, "prefix of %zu: need %zu", i, ev.need);
	}
}

Test(nats_parse, prefixes_are_incomplete)
{
	expect_prefixes_incomplete("PING\r\n", 0);
	expect_prefixes_incomplete("-ERR 'x'\r\n", 0);
	expect_prefixes_incomplete("INFO {\"a\":1}\r\n", 0);
	expect_prefixes_incomplete("MSG foo 1 5\r\nhello\r\n", strlen("MSG foo 1 5\r\n"));
	expect_prefixes_incomplete("HMSG foo 1 r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
				   strlen("HMSG foo 1 r 12 17\r\n"));
}

Test(nats_parse, empty_input)
{
	struct rc_nats_event ev;

	cr_assert_eq(parse_checked(&server_lim, "", 0, &ev), -EAGAIN);
	cr_assert_eq(ev.need, 1);
}

/* ---- streams ---- */

static const char mixed_stream[] =
	"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":64}\r\n"
	"+OK\r\n"
	"PING\r\n"
	"MSG a.b 1 3\r\nxyz\r\n"
	"MSG a.b 1 _INBOX.r 0\r\n\r\n"
	"HMSG a.b 2 r 25 27\r\nNATS/1.0\r\nK: v\r\nK2: w\r\n\r\n\r\n\r\n"
	"hmsg a.b 2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
	"PONG\r\n"
	"-ERR 'Permissions Violation for Subscription to \"x\"'\r\n";

static const char mixed_want[] =
	"INFO text={\"server_id\":\"S\",\"headers\":true,\"max_payload\":64}; "
	"OK; "
	"PING; "
	"MSG subj=a.b sid=1 reply=- payload=xyz; "
	"MSG subj=a.b sid=1 reply=_INBOX.r payload=; "
	"HMSG subj=a.b sid=2 reply=r hdr=NATS/1.0\\r\\nK: v\\r\\nK2: w\\r\\n\\r\\n payload=\\r\\n; "
	"HMSG subj=a.b sid=2 reply=- hdr=NATS/1.0 503\\r\\n\\r\\n payload=; "
	"PONG; "
	"ERR text=Permissions Violation for Subscription to \"x\"; ";

Test(nats_parse, mixed_stream_every_split)
{
	expect_stream(&server_lim, mixed_stream, strlen(mixed_stream), mixed_want);
}

Test(nats_parse, stream_ends_in_error_at_every_split)
{
	/* A good item, then a payload not followed by CRLF: the error comes
	 * after the good item, whatever the splits. */
	static const char s[] = "PING\r\nMSG a 1 3\r\nxyzw\r\nPONG\r\n";

	expect_stream(&server_lim, s, strlen(s), "PING; ERR -74");
}

Test(nats_parse, client_stream_every_split)
{
	static const char s[] =
		"CONNECT {\"verbose\":false,\"headers\":true}\r\n"
		"SUB ringcast.ch.live 1\r\n"
		"SUB ringcast.ch.* q 2\r\n"
		"PUB ringcast.ch.live 4\r\nabcd\r\n"
		"HPUB ringcast.ch.live _INBOX.1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n"
		"UNSUB 2 10\r\n"
		"PING\r\n";

	expect_stream(&client_lim, s, strlen(s),
		      "CONNECT text={\"verbose\":false,\"headers\":true}; "
		      "SUB subj=ringcast.ch.live queue=- sid=1; "
		      "SUB subj=ringcast.ch.* queue=q sid=2; "
		      "PUB subj=ringcast.ch.live reply=- payload=abcd; "
		      "HPUB subj=ringcast.ch.live reply=_INBOX.1 hdr=NATS/1.0\\r\\nA: b\\r\\n\\r\\n "
		      "payload=hi; "
		      "UNSUB sid=2 max=10; "
		      "PING; ");
}

/* ---- the captured transcript ---- */

Test(nats_parse, captured_session)
{
	expect_stream(&server_lim, capture_session, strlen(capture_session),
		      "INFO text={\"server_id\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
		      "\"server_name\":\"NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD\","
		      "\"version\":\"2.9.10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\","
		      "\"port\":60497,\"headers\":true,\"max_payload\":1048576,\"client_id\":4,"
		      "\"client_ip\":\"127.0.0.1\",\"cluster\":\"cap\"}; "
		      "OK; OK; OK; OK; "
		      "MSG subj=demo.ch.live sid=1 reply=- payload=hello; "
		      "OK; "
		      "MSG subj=demo.ch.live sid=1 reply=_INBOX.cap payload=; "
		      "OK; "
		      "HMSG subj=demo.ch.live sid=1 reply=- "
		      "hdr=NATS/1.0\\r\\nRc-Origin: node-a\\r\\nRc-Seq: 17\\r\\n\\r\\n payload=world!; "
		      "OK; "
		      "HMSG subj=_INBOX.cap sid=2 reply=- hdr=NATS/1.0 503\\r\\n\\r\\n payload=; "
		      "PONG; PING; ");
}

Test(nats_parse, captured_error_and_cluster_info)
{
	static struct text t;

	drive(&server_lim, capture_error, strlen(capture_error), NULL, 0, &t);
	cr_assert(strstr(t.s, "; ERR text=Unknown Protocol Operation; ") != NULL, "%s", t.s);
	expect_stream(&server_lim, capture_error, strlen(capture_error), t.s);
	drive(&server_lim, capture_cluster, strlen(capture_cluster), NULL, 0, &t);
	cr_assert(strstr(t.s, "\"connect_urls\":[\"127.0.0.1:60497\",\"127.0.0.1:37637\"]}; PING; PING; ") !=
		  NULL, "%s", t.s);
}

/* ---- bounds ---- */

Test(nats_parse, control_line_limit)
{
	struct rc_nats_limits lim = server_lim;
	char line[64];

	lim.max_control_line = 20;
	/* "MSG " + 12-letter subject + " 1 1" is 20 bytes: at the limit. */
	snprintf(line, sizeof(line), "MSG %s 1 1\r\nx\r\n", "abcdefghijkl");
	cr_assert_str_eq(parse1_lim(&lim, line, strlen(line)),
			 "MSG subj=abcdefghijkl sid=1 reply=- payload=x; ");
	snprintf(line, sizeof(line), "MSG %s 1 1\r\nx\r\n", "abcdefghijklm");
	cr_assert_str_eq(parse1_lim(&lim, line, strlen(line)), err(-EMSGSIZE));
	/* Too long is known before the line end arrives: 21 bytes, no CR. */
	cr_assert_str_eq(parse1_lim(&lim, line, 21), err(-EMSGSIZE));
	cr_assert_str_eq(parse1_lim(&lim, line, 20), "ERR -11");	/* -EAGAIN */
	/* A line at the limit whose CR is in but LF not yet: incomplete. */
	snprintf(line, sizeof(line), "MSG %s 1 1\r", "abcdefghijkl");
	cr_assert_str_eq(parse1_lim(&lim, line, strlen(line)), "ERR -11");
	/* The limit applies to INFO too. */
	cr_assert_str_eq(parse1_lim(&lim, "INFO {\"server_id\":\"ab\"}\r\n", 26), err(-EMSGSIZE));
	/* A limit below the verb's length. */
	lim.max_control_line = 3;
	cr_assert_str_eq(parse1_lim(&lim, "PING\r\n", 6), err(-EMSGSIZE));
	cr_assert_str_eq(parse1_lim(&lim, "+OK\r\n", 5), "OK; ");
}

Test(nats_parse, control_line_default_limit)
{
	static char s[RC_NATS_MAX_CONTROL_LINE + 64];
	size_t sub = RC_NATS_MAX_CONTROL_LINE - strlen("MSG  1 0");

	memcpy(s, "MSG ", 4);
	memset(s + 4, 'a', sub);
	strcpy(s + 4 + sub, " 1 0\r\n\r\n");
	cr_assert_eq(strncmp(parse1(s), "MSG subj=aaa", 12), 0);
	memset(s + 4, 'a', sub + 1);
	strcpy(s + 4 + sub + 1, " 1 0\r\n\r\n");
	cr_assert_str_eq(parse1(s), err(-EMSGSIZE));
}

Test(nats_parse, payload_limit)
{
	struct rc_nats_limits lim = server_lim;
	struct rc_nats_event ev;

	lim.max_payload = 4;
	cr_assert_str_eq(parse1_lim(&lim, "MSG a 1 4\r\nabcd\r\n", 17),
			 "MSG subj=a sid=1 reply=- payload=abcd; ");
	/* Known from the control line alone, before the payload is read. */
	cr_assert_eq(parse_checked(&lim, "MSG a 1 5\r\n", 11, &ev), -EFBIG);
	cr_assert_eq(parse_checked(&lim, "HMSG a 1 12 13\r\n", 16, &ev), -EFBIG);
	lim.max_payload = 12;
	cr_assert_str_eq(parse1_lim(&lim, "HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n", 30),
			 "HMSG subj=a sid=1 reply=- hdr=NATS/1.0\\r\\n\\r\\n payload=; ");
	cr_assert_eq(parse_checked(&lim, "HMSG a 1 12 13\r\n", 16, &ev), -EFBIG);
	/* Zero: only empty payloads. */
	lim.max_payload = 0;
	cr_assert_str_eq(parse1_lim(&lim, "MSG a 1 0\r\n\r\n", 13), "MSG subj=a sid=1 reply=- payload=; ");
	cr_assert_eq(parse_checked(&lim, "MSG a 1 1\r\n", 11, &ev), -EFBIG);
}

Test(nats_parse, huge_payload_limit_does_not_wrap)
{
	struct rc_nats_limits lim = server_lim;
	struct rc_nats_event ev;

	lim.max_payload = UINT64_MAX;
	cr_assert_eq(parse_checked(&lim, "MSG a 1 18446744073709551615\r\n", 30, &ev), -EFBIG);
	cr_assert_eq(parse_checked(&lim, "MSG a 1 18446744073709551600\r\n", 30, &ev), -EFBIG);
	cr_assert_eq(parse_checked(&lim, "MSG a 1 1000000\r\n", 17, &ev), -EAGAIN);
	cr_assert_eq(ev.need, 17 + 1000000 + 2);
}

/* ---- malformed input ---- */

Test(nats_parse, unknown_verbs_early)
{
	struct rc_nats_event ev;

	cr_assert_str_eq(parse1("FOO\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("PINGX\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("PIN\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("MS G a 1 1\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1(" PING\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("+OKAY\r\n"), err(-EPROTO));
	cr_assert_str_eq(parse1("INFO{}\r\n"), err(-EPROTO));
	/* Refused from the first byte that cannot start a verb. */
	cr_assert_eq(parse_checked(&server_lim, "X", 1, &ev), -EPROTO);
	cr_assert_eq(parse_checked(&server_lim, "PX", 2, &ev), -EPROTO);
	cr_assert_eq(parse_checked(&server_lim, "HMS", 3, &ev), -EAGAIN);
	cr_assert_eq(parse_checked(&server_lim, "\x16\x03\x01", 3, &ev), -EPROTO); /* TLS */
	cr_assert_eq(parse_checked(&server_lim, "GET / HTTP/1.1", 14, &ev), -EPROTO);
}

Test(nats_parse, bad_line_ends_and_controls)
{
	cr_assert_str_eq(parse1("PING\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("PING\rX"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a\n1 1\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1\x01 1\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1_lim(&server_lim, "MSG a\0 1 1\r\nx\r\n", 15), err(-EBADMSG));
	cr_assert_str_eq(parse1("-ERR 'a\x7f'\r\n"), "ERR text=a\\x7f; ");
}

Test(nats_parse, wrong_field_counts)
{
	cr_assert_str_eq(parse1("PING x\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("+OK x\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 r x 1\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 12\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 r x 12 12\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 r x y 12 12\r\n"), err(-EBADMSG));
}

Test(nats_parse, bad_numbers)
{
	cr_assert_str_eq(parse1("MSG a 1 x\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 1x\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 -1\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 +1\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 0x1\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 18446744073709551616\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 99999999999999999999999\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 1x 12\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 12 1x\r\n"), err(-EBADMSG));
	/* Leading zeros are digits like any other. */
	cr_assert_str_eq(parse1("MSG a 1 003\r\nabc\r\n"), "MSG subj=a sid=1 reply=- payload=abc; ");
}

Test(nats_parse, header_sizes)
{
	/* More header bytes than total bytes. */
	cr_assert_str_eq(parse1("HMSG a 1 13 12\r\n"), err(-EBADMSG));
	/* Fewer than "NATS/1.0" and a blank line. */
	cr_assert_str_eq(parse1("HMSG a 1 11 11\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 0 5\r\n"), err(-EBADMSG));
	/* A block that is not one. */
	cr_assert_str_eq(parse1("HMSG a 1 12 12\r\nNATS/2.0\r\n\r\n\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 12 12\r\nnats/1.0\r\n\r\n\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 13 13\r\nNATS/1.0\r\n\r\nx\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("HMSG a 1 14 14\r\nNATS/1.0\r\nK:\r\n\r\n"), err(-EBADMSG));
}

Test(nats_parse, missing_crlf_after_payload)
{
	struct rc_nats_event ev;

	cr_assert_str_eq(parse1("MSG a 1 3\r\nabcd\r\n"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 3\r\nabc\n\r"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 3\r\nabc\rX"), err(-EBADMSG));
	cr_assert_str_eq(parse1("MSG a 1 3\r\nab"), "ERR -11");
	/* Reported as soon as the byte after the payload is in. */
	cr_assert_eq(parse_checked(&server_lim, "MSG a 1 3\r\nabcX", 15, &ev), -EBADMSG);
	cr_assert_eq(parse_checked(&server_lim, "MSG a 1 3\r\nabc\r", 15, &ev), -EAGAIN);
	cr_assert_eq(ev.need, 16);
}

/* A prefix of the input is either incomplete or gets the very error the
 * whole input gets: what is reported cannot depend on how TCP cut the
 * stream. (A verb that goes wrong past the length limit is the case that
 * needs the bytes judged in order.) */
Test(nats_parse, errors_do_not_depend_on_the_cut)
{
	static const struct {
		size_t max_line;
		const char *s;
	} cases[] = {
		{ 0, "PX" }, { 1, "PIX" }, { 0, "X" }, { 2, "PIX" }, { 2, "PING\r\n" }, { 4, "PING\x01\r\n" },
		{ 4, "PINGX" }, { 6, "MSG a\x01 1 1\r\n" }, { 20, "MSG a 1 3\r\nabcX" },
		{ 20, "MSG a 1 9999999999\r\n" }, { 20, "HMSG a 1 13 12\r\n" },
		{ 20, "PING\r\r" }, { 64, "INFO\r\n" }, { 3, "+OK x\r\n" },
		{ 20, "HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\r" },
	};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rc_nats_limits lim = server_lim;
		size_t len = strlen(cases[i].s);
		struct rc_nats_event ev;
		int whole;

		lim.max_control_line = cases[i].max_line;
		lim.max_payload = 100;
		whole = parse_checked(&lim, cases[i].s, len, &ev);
		cr_assert(whole < 0 && whole != -EAGAIN, "case %zu: %d", i, whole);
		for (j = 0; j < len; j++) {
			int rc = parse_checked(&lim, cases[i].s, j, &ev);

			cr_assert(rc == -EAGAIN || rc == whole, "case %zu, prefix %zu: %d, whole %d", i,
				  j, rc, whole);
		}
	}
}

Test(nats_parse, parser_keeps_no_state)
{
	/* The same bytes give the same answer however often, and an event
	 * describes only its own item. */
	static const char s[] = "MSG a 1 3\r\nabc\r\nPING\r\n";
	struct rc_nats_event ev;

	cr_assert_eq(parse_checked(&server_lim, s, sizeof(s) - 1, &ev), 0);
	cr_assert_eq(ev.size, 16);
	cr_assert_eq(parse_checked(&server_lim, s, sizeof(s) - 1, &ev), 0);
	cr_assert_eq(ev.size, 16);
	cr_assert_eq(parse_checked(&server_lim, s + 16, sizeof(s) - 17, &ev), 0);
	cr_assert_eq(ev.op, RC_NATS_OP_PING);
	cr_assert_null(ev.subject);
}

/* ---- header blocks ---- */

TestSuite(nats_hdr);

/* "code|text|k=v|k=v|END" or "...|ERR rc" for the block s, read from a
 * guard copy. */
static const char *read_block_n(const char *s, size_t len)
{
	static struct text t;
	struct rc_nats_hdr_reader r;
	struct rc_nats_status st;
	struct rc_nats_header h;
	char *g = guard_copy(s, len);
	int rc;

	t.len = 0;
	t.s[0] = 0;
	rc = rc_nats_hdr_open(&r, g, len, &st);
	if (rc) {
		tprintf(&t, "ERR %d", rc);
		guard_free(g, len);
		return t.s;
	}
	tprintf(&t, "%u|", st.code);
	tbytes(&t, st.text, st.text_len);
	while ((rc = rc_nats_hdr_next(&r, &h)) == 1) {
		inside(g, len, h.key, h.key_len, "key");
		inside(g, len, h.value, h.value_len, "value");
		tprintf(&t, "|");
		tbytes(&t, h.key, h.key_len);
		tprintf(&t, "=");
		tbytes(&t, h.value, h.value_len);
	}
	if (rc == 0) {
		tprintf(&t, "|END");
		cr_assert_eq(rc_nats_hdr_next(&r, &h), 0, "not 0 again after the end");
	} else {
		tprintf(&t, "|ERR %d", rc);
	}
	guard_free(g, len);
	return t.s;
}

static const char *read_block(const char *s)
{
	return read_block_n(s, strlen(s));
}

Test(nats_hdr, status_lines)
{
	cr_assert_str_eq(read_block("NATS/1.0\r\n\r\n"), "0|-|END");
	cr_assert_str_eq(read_block("NATS/1.0 503\r\n\r\n"), "503|-|END");
	cr_assert_str_eq(read_block("NATS/1.0 408 Request Timeout\r\n\r\n"), "408|Request Timeout|END");
	cr_assert_str_eq(read_block("NATS/1.0\t100  Idle Heartbeat \r\nNats-Last-Consumer: 0\r\n\r\n"),
			 "100|Idle Heartbeat|Nats-Last-Consumer=0|END");
	cr_assert_str_eq(read_block("NATS/1.0 \r\n\r\n"), "0|-|END");
	cr_assert_str_eq(read_block("NATS/1.01\r\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0 50\r\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0 5034\r\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0 5x3\r\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r"), "ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block("HTTP/1.1 200\r\n\r\n"), "ERR -74");
	cr_assert_str_eq(read_block_n("", 0), "ERR -74");
}

Test(nats_hdr, key_value_lines)
{
	cr_assert_str_eq(read_block("NATS/1.0\r\nRc-Origin: node-a\r\nRc-Seq: 17\r\n\r\n"),
			 "0|-|Rc-Origin=node-a|Rc-Seq=17|END");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA:b\r\nC:  \t d e \t\r\nE:\r\nF: x:y: z\r\n\r\n"),
			 "0|-|A=b|C=d e|E=|F=x:y: z|END");
	/* Repeated keys are kept, in order. */
	cr_assert_str_eq(read_block("NATS/1.0\r\nK: 1\r\nK: 2\r\n\r\n"), "0|-|K=1|K=2|END");
	/* UTF-8 in values passes. */
	cr_assert_str_eq(read_block("NATS/1.0\r\nK: \xc3\xa9\r\n\r\n"), "0|-|K=\\xc3\\xa9|END");
}

Test(nats_hdr, malformed_lines)
{
	cr_assert_str_eq(read_block("NATS/1.0\r\nno colon\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\n: v\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA B: v\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\n\xc3\xa9: v\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\nB: w\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\x01\r\n\r\n"), "0|-|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\r\n"), "0|-|A=v|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\r\n\r"), "0|-|A=v|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\r\n\r\nX"), "0|-|A=v|ERR -74");
	cr_assert_str_eq(read_block("NATS/1.0\r\nA: v\r\n\r\n\r\n"), "0|-|A=v|ERR -74");
}

Test(nats_hdr, get)
{
	static const char b[] = "NATS/1.0\r\nRc-Origin: node-a\r\nrc-seq: 1\r\nRc-Seq: 17\r\n\r\n";
	struct rc_nats_header h;

	cr_assert_eq(rc_nats_hdr_get(b, strlen(b), "Rc-Seq", 6, &h), 1);
	cr_assert_eq(h.value_len, 2);
	cr_assert(memcmp(h.value, "17", 2) == 0);
	cr_assert_eq(rc_nats_hdr_get(b, strlen(b), "Rc-Origin", 9, &h), 1);
	cr_assert(h.value_len == 6 && memcmp(h.value, "node-a", 6) == 0);
	cr_assert_eq(rc_nats_hdr_get(b, strlen(b), "Rc-Epoch", 8, &h), 0);
	cr_assert_null(h.value);
	cr_assert_eq(rc_nats_hdr_get(b, strlen(b), "Rc", 2, &h), 0);
	cr_assert_eq(rc_nats_hdr_get("NATS/1.0\r\nA\r\n\r\n", 15, "A", 1, &h), -EBADMSG);
	cr_assert_eq(rc_nats_hdr_get("NATS/2.0\r\n\r\n", 12, "A", 1, &h), -EBADMSG);
}

Test(nats_hdr, build_and_read_back)
{
	char buf[256];
	struct rc_nats_hdr_builder b;
	ssize_t n;

	rc_nats_hdr_begin(&b, buf, sizeof(buf));
	cr_assert_eq(rc_nats_hdr_add(&b, "Rc-Origin", 9, "node-a", 6), 0);
	cr_assert_eq(rc_nats_hdr_add(&b, "Rc-Seq", 6, "17", 2), 0);
	cr_assert_eq(rc_nats_hdr_add(&b, "Empty", 5, "", 0), 0);
	cr_assert_eq(rc_nats_hdr_add(&b, "Inner", 5, "a \t b:c", 7), 0);
	n = rc_nats_hdr_end(&b);
	cr_assert_eq(n, (ssize_t)strlen("NATS/1.0\r\nRc-Origin: node-a\r\nRc-Seq: 17\r\nEmpty: \r\n"
					 "Inner: a \t b:c\r\n\r\n"));
	cr_assert(memcmp(buf, "NATS/1.0\r\nRc-Origin: node-a\r\nRc-Seq: 17\r\nEmpty: \r\n"
			 "Inner: a \t b:c\r\n\r\n", (size_t)n) == 0);
	cr_assert_str_eq(read_block_n(buf, (size_t)n),
			 "0|-|Rc-Origin=node-a|Rc-Seq=17|Empty=|Inner=a \\x09 b:c|END");
	/* An empty block is the smallest. */
	rc_nats_hdr_begin(&b, buf, sizeof(buf));
	n = rc_nats_hdr_end(&b);
	cr_assert_eq(n, 12);
	cr_assert_str_eq(read_block_n(buf, 12), "0|-|END");
}

Test(nats_hdr, builder_refuses)
{
	static const struct {
		const char *k, *v;
	} bad[] = {
		{ "", "v" }, { "A B", "v" }, { "A:", "v" }, { "A\r", "v" }, { "\xc3\xa9", "v" },
		{ "A", "v\r\n" }, { "A", "v\n" }, { "A", " v" }, { "A", "v\t" }, { "A", "\x7f" },
		{ "A\x7f", "v" },
	};
	struct rc_nats_hdr_builder b;
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc_nats_hdr_begin(&b, buf, sizeof(buf));
		cr_assert_eq(rc_nats_hdr_add(&b, bad[i].k, strlen(bad[i].k), bad[i].v,
					     strlen(bad[i].v)), -EINVAL, "case %zu", i);
		/* Sticky: later good headers do not clear it. */
		cr_assert_eq(rc_nats_hdr_add(&b, "A", 1, "b", 1), -EINVAL);
		cr_assert_eq(rc_nats_hdr_end(&b), -EINVAL);
	}
}

Test(nats_hdr, builder_space)
{
	static const char want[] = "NATS/1.0\r\nKey: value\r\n\r\n";
	size_t cap;

	for (cap = 0; cap <= sizeof(want) - 1; cap++) {
		struct rc_nats_hdr_builder b;
		char *g = guard_copy(want, cap);	/* cap bytes, then the guard */
		ssize_t n;

		rc_nats_hdr_begin(&b, g, cap);
		rc_nats_hdr_add(&b, "Key", 3, "value", 5);
		n = rc_nats_hdr_end(&b);
		if (cap < sizeof(want) - 1) {
			cr_assert_eq(n, -ENOSPC, "cap %zu: %zd", cap, n);
		} else {
			cr_assert_eq(n, (ssize_t)cap);
			cr_assert(memcmp(g, want, cap) == 0);
		}
		guard_free(g, cap);
	}
}

/* ---- subjects ---- */

TestSuite(nats_subject);

Test(nats_subject, valid)
{
	static const char *const pub_ok[] = {
		"a", "foo.bar", "ringcast.ch.live", "_INBOX.abc123", "a-b_c.D$e", "\xc3\xa9t\xc3\xa9",
		"a.b.c.d.e.f",
	};
	static const char *const pub_bad[] = {
		"", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\r", "a\n", "a\x7f", "*", "a.*", ">",
		"a.>", "a*", "a.b>", "\xc3", "\xff", "a.\xc0\xaf",
	};
	static const char *const sub_ok[] = {
		"a", "*", ">", "a.*", "a.>", "*.b", "*.*.>", "a.*.c", "ringcast.ch.*",
	};
	static const char *const sub_bad[] = {
		"", "a.>.b", ">.a", "a*", "*a", "a.b*", "a.>b", "a.**", "a. *", "a..*", "*.", ">>",
	};
	size_t i;

	for (i = 0; i < sizeof(pub_ok) / sizeof(pub_ok[0]); i++) {
		cr_assert(rc_nats_subject_valid(pub_ok[i], strlen(pub_ok[i]), false), "%s", pub_ok[i]);
		cr_assert(rc_nats_subject_valid(pub_ok[i], strlen(pub_ok[i]), true), "%s", pub_ok[i]);
	}
	for (i = 0; i < sizeof(pub_bad) / sizeof(pub_bad[0]); i++)
		cr_assert(!rc_nats_subject_valid(pub_bad[i], strlen(pub_bad[i]), false), "%s",
			  pub_bad[i]);
	for (i = 0; i < sizeof(sub_ok) / sizeof(sub_ok[0]); i++)
		cr_assert(rc_nats_subject_valid(sub_ok[i], strlen(sub_ok[i]), true), "%s", sub_ok[i]);
	for (i = 0; i < sizeof(sub_bad) / sizeof(sub_bad[0]); i++)
		cr_assert(!rc_nats_subject_valid(sub_bad[i], strlen(sub_bad[i]), true), "%s",
			  sub_bad[i]);
	cr_assert(!rc_nats_subject_valid(NULL, 0, true));
	/* Length-bounded: a NUL inside is a control character, not an end. */
	cr_assert(!rc_nats_subject_valid("a\0b", 3, false));
}

/* ---- encoders ---- */

TestSuite(nats_encode);

struct enc_args {
	const char *subject, *reply, *queue;
	const char *hdrs;
	size_t hdr_len;
	const char *payload;
	size_t payload_len;
	uint64_t sid, max;
	const struct rc_nats_connect *connect;
};

typedef ssize_t (*enc_fn)(char *dst, size_t cap, const struct enc_args *a);

static ssize_t enc_pub(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_pub(dst, cap, a->subject, a->reply, a->payload, a->payload_len);
}

static ssize_t enc_pub_head(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_pub_head(dst, cap, a->subject, a->reply, a->payload_len);
}

static ssize_t enc_hpub(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_hpub(dst, cap, a->subject, a->reply, a->hdrs, a->hdr_len, a->payload,
				   a->payload_len);
}

static ssize_t enc_hpub_head(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_hpub_head(dst, cap, a->subject, a->reply, a->hdr_len, a->payload_len);
}

static ssize_t enc_sub(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_sub(dst, cap, a->subject, a->queue, a->sid);
}

static ssize_t enc_unsub(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_unsub(dst, cap, a->sid, a->max);
}

static ssize_t enc_ping(char *dst, size_t cap, const struct enc_args *a)
{
	(void)a;
	return rc_nats_encode_ping(dst, cap);
}

static ssize_t enc_pong(char *dst, size_t cap, const struct enc_args *a)
{
	(void)a;
	return rc_nats_encode_pong(dst, cap);
}

static ssize_t enc_connect(char *dst, size_t cap, const struct enc_args *a)
{
	return rc_nats_encode_connect(dst, cap, a->connect);
}

/* Runs the encoder into buffers of every size up to what it needs, each
 * ending at a guard page: smaller ones must give -ENOSPC (and write nothing
 * past their end), the exact size the output. Returns the output (static). */
static const char *encode(enc_fn fn, const struct enc_args *a, size_t *out_len)
{
	static char out[8192];
	ssize_t want = fn(out, sizeof(out), a);
	size_t cap;

	cr_assert_gt(want, 0, "encoder failed: %zd", want);
	for (cap = 0; cap <= (size_t)want; cap++) {
		char *g = guard_copy(out, cap);
		ssize_t n;

		memset(g, 0, cap);
		n = fn(g, cap, a);
		if (cap < (size_t)want) {
			cr_assert_eq(n, -ENOSPC, "cap %zu of %zd: %zd", cap, want, n);
		} else {
			cr_assert_eq(n, want);
			cr_assert(memcmp(g, out, cap) == 0, "output differs with an exact buffer");
		}
		guard_free(g, cap);
	}
	*out_len = (size_t)want;
	return out;
}

static void expect_encoded(enc_fn fn, const struct enc_args *a, const char *want)
{
	size_t n;
	const char *got = encode(fn, a, &n);

	cr_assert_eq(n, strlen(want), "length %zu, want %zu: %.*s", n, strlen(want), (int)n, got);
	cr_assert(memcmp(got, want, n) == 0, "got %.*s, want %s", (int)n, got, want);
}

/* Encodes, then parses the output as a server would: the description. */
static const char *round_trip(enc_fn fn, const struct enc_args *a)
{
	size_t n;
	const char *out = encode(fn, a, &n);

	return parse1_lim(&client_lim, out, n);
}

Test(nats_encode, exact_bytes)
{
	struct enc_args a = { .subject = "FOO", .payload = "Hello NATS!", .payload_len = 11 };

	expect_encoded(enc_pub, &a, "PUB FOO 11\r\nHello NATS!\r\n");
	expect_encoded(enc_pub_head, &a, "PUB FOO 11\r\n");
	a.reply = "_INBOX.22";
	expect_encoded(enc_pub, &a, "PUB FOO _INBOX.22 11\r\nHello NATS!\r\n");
	a.reply = NULL;
	a.hdrs = "NATS/1.0\r\nBar: Baz\r\n\r\n";
	a.hdr_len = strlen(a.hdrs);
	/* The header count includes the block's blank line; the total is
	 * headers plus payload. */
	expect_encoded(enc_hpub, &a, "HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n");
	expect_encoded(enc_hpub_head, &a, "HPUB FOO 22 33\r\n");
	a.reply = "R";
	expect_encoded(enc_hpub_head, &a, "HPUB FOO R 22 33\r\n");
	a = (struct enc_args){ .subject = "ringcast.ch.*", .sid = 18446744073709551615ull };
	expect_encoded(enc_sub, &a, "SUB ringcast.ch.* 18446744073709551615\r\n");
	a.queue = "workers";
	a.sid = 0;
	expect_encoded(enc_sub, &a, "SUB ringcast.ch.* workers 0\r\n");
	a = (struct enc_args){ .sid = 7 };
	expect_encoded(enc_unsub, &a, "UNSUB 7\r\n");
	a.max = 100;
	expect_encoded(enc_unsub, &a, "UNSUB 7 100\r\n");
	expect_encoded(enc_ping, &a, "PING\r\n");
	expect_encoded(enc_pong, &a, "PONG\r\n");
}

Test(nats_encode, empty_payload)
{
	struct enc_args a = { .subject = "a", .payload = NULL, .payload_len = 0 };

	expect_encoded(enc_pub, &a, "PUB a 0\r\n\r\n");
	a.hdrs = "NATS/1.0\r\n\r\n";
	a.hdr_len = 12;
	expect_encoded(enc_hpub, &a, "HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n");
}

Test(nats_encode, refuses)
{
	char buf[256];

	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "a b", NULL, "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "a.*", NULL, "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "a.>", NULL, "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "", NULL, "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), NULL, NULL, "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "a", "r\r\n", "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub(buf, sizeof(buf), "a", "r.*", "x", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_pub_head(buf, sizeof(buf), "a..b", NULL, 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub_head(buf, sizeof(buf), "a", NULL, 11, 0), -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub_head(buf, sizeof(buf), "a", NULL, 12, SIZE_MAX), -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub(buf, sizeof(buf), "a", NULL, "NATS/1.0\r\n\r\n", 11, "", 0),
		     -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub(buf, sizeof(buf), "a", NULL, "NATS/1.0\r\nA\r\n\r\n", 15,
					 "", 0), -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub(buf, sizeof(buf), "a", NULL, "NATS/1.0\r\nA: b\r\n", 16,
					 "", 0), -EINVAL);
	cr_assert_eq(rc_nats_encode_hpub(buf, sizeof(buf), "a", NULL, "HTTP/1.0\r\n\r\n", 12, "", 0),
		     -EINVAL);
	cr_assert_eq(rc_nats_encode_sub(buf, sizeof(buf), "a.>.b", NULL, 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_sub(buf, sizeof(buf), "a", "q q", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_sub(buf, sizeof(buf), "a", "", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_sub(buf, sizeof(buf), "a", "q\r\n", 1), -EINVAL);
	cr_assert_eq(rc_nats_encode_sub(buf, sizeof(buf), NULL, NULL, 1), -EINVAL);
}

Test(nats_encode, round_trips)
{
	static const char payload[] = "line\r\nwith CRLF\r\n\0and NUL";
	struct enc_args a = { .subject = "ringcast.ch.live", .payload = payload,
			      .payload_len = sizeof(payload) - 1 };

	cr_assert_str_eq(round_trip(enc_pub, &a),
			 "PUB subj=ringcast.ch.live reply=- "
			 "payload=line\\r\\nwith CRLF\\r\\n\\x00and NUL; ");
	a.reply = "ringcast.cache.live.reply.1";
	cr_assert_str_eq(round_trip(enc_pub, &a),
			 "PUB subj=ringcast.ch.live reply=ringcast.cache.live.reply.1 "
			 "payload=line\\r\\nwith CRLF\\r\\n\\x00and NUL; ");
	a.hdrs = "NATS/1.0\r\nRc-Origin: n1\r\nRc-Seq: 5\r\n\r\n";
	a.hdr_len = strlen(a.hdrs);
	cr_assert_str_eq(round_trip(enc_hpub, &a),
			 "HPUB subj=ringcast.ch.live reply=ringcast.cache.live.reply.1 "
			 "hdr=NATS/1.0\\r\\nRc-Origin: n1\\r\\nRc-Seq: 5\\r\\n\\r\\n "
			 "payload=line\\r\\nwith CRLF\\r\\n\\x00and NUL; ");
	a = (struct enc_args){ .subject = "ringcast.ch.>", .queue = "g", .sid = 42 };
	cr_assert_str_eq(round_trip(enc_sub, &a), "SUB subj=ringcast.ch.> queue=g sid=42; ");
	a.max = 3;
	cr_assert_str_eq(round_trip(enc_unsub, &a), "UNSUB sid=42 max=3; ");
	cr_assert_str_eq(round_trip(enc_ping, &a), "PING; ");
	cr_assert_str_eq(round_trip(enc_pong, &a), "PONG; ");
}

Test(nats_encode, hpub_head_matches_whole)
{
	/* What a zero-copy sender writes (head, then block, payload, CRLF
	 * from where they are) is byte for byte the whole HPUB. */
	struct rc_nats_hdr_builder b;
	char hdr[128], head[128], whole[256], joined[256];
	ssize_t hn, n, w;

	rc_nats_hdr_begin(&b, hdr, sizeof(hdr));
	rc_nats_hdr_add(&b, "Rc-Origin", 9, "n1", 2);
	hn = rc_nats_hdr_end(&b);
	cr_assert_gt(hn, 0);
	n = rc_nats_encode_hpub_head(head, sizeof(head), "x.y", NULL, (size_t)hn, 3);
	w = rc_nats_encode_hpub(whole, sizeof(whole), "x.y", NULL, hdr, (size_t)hn, "abc", 3);
	cr_assert(n > 0 && w > 0);
	memcpy(joined, head, (size_t)n);
	memcpy(joined + n, hdr, (size_t)hn);
	memcpy(joined + n + hn, "abc\r\n", 5);
	cr_assert_eq(w, n + hn + 5);
	cr_assert(memcmp(joined, whole, (size_t)w) == 0);
}

/* The CONNECT JSON, read back member by member with the JSON reader. */
static const char *connect_members(const struct rc_nats_connect *c)
{
	static struct text t;
	struct enc_args a = { .connect = c };
	struct rc_nats_event ev;
	struct rc_nats_json_iter it;
	struct rc_nats_json_value k, v;
	char dec[512];
	size_t n;
	const char *out = encode(enc_connect, &a, &n);
	char *g;

	t.len = 0;
	t.s[0] = 0;
	cr_assert_eq(parse_checked(&client_lim, out, n, &ev), 0);
	cr_assert_eq(ev.op, RC_NATS_OP_CONNECT);
	cr_assert_eq(ev.size, n);
	g = guard_copy(ev.text, ev.text_len);
	cr_assert_eq(rc_nats_json_open(&it, g, ev.text_len), 0);
	while (rc_nats_json_next(&it, &k, &v) == 1) {
		ssize_t dn;

		cr_assert_eq(k.type, RC_NATS_JSON_STRING);
		dn = rc_nats_json_unescape(dec, sizeof(dec), k.raw, k.raw_len);
		cr_assert_geq(dn, 0);
		tprintf(&t, "%.*s=", (int)dn, dec);
		if (v.type == RC_NATS_JSON_STRING) {
			dn = rc_nats_json_unescape(dec, sizeof(dec), v.raw, v.raw_len);
			cr_assert_geq(dn, 0);
			tprintf(&t, "'");
			tbytes(&t, dec, (size_t)dn);
			tprintf(&t, "' ");
		} else {
			tprintf(&t, "%.*s ", (int)v.raw_len, v.raw);
		}
	}
	guard_free(g, ev.text_len);
	return t.s;
}

Test(nats_encode, connect)
{
	struct rc_nats_connect c = { 0 };
	struct enc_args a = { .connect = &c };

	expect_encoded(enc_connect, &a,
		       "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
		       "\"no_responders\":true,\"lang\":\"c\",\"protocol\":1}\r\n");
	c.name = "ringcast node-a";
	c.version = "0.1.0";
	c.no_echo = true;
	expect_encoded(enc_connect, &a,
		       "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
		       "\"no_responders\":true,\"lang\":\"c\",\"protocol\":1,\"echo\":false,"
		       "\"name\":\"ringcast node-a\",\"version\":\"0.1.0\"}\r\n");
	cr_assert_str_eq(connect_members(&c),
			 "verbose=false pedantic=false headers=true no_responders=true lang='c' "
			 "protocol=1 echo=false name='ringcast node-a' version='0.1.0' ");
}

Test(nats_encode, connect_escapes_strings)
{
	struct rc_nats_connect c = {
		.name = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9 \xf0\x9f\x98\x80",
		.user = "u\"",
		.pass = "p\\\n",
	};
	struct enc_args a = { .connect = &c };
	size_t n;
	const char *out = encode(enc_connect, &a, &n);
	static const char want[] = "\"name\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f "
				   "\xc3\xa9 \xf0\x9f\x98\x80\"";

	cr_assert(memmem(out, n, want, sizeof(want) - 1) != NULL, "%.*s", (int)n, out);
	cr_assert_str_eq(connect_members(&c),
			 "verbose=false pedantic=false headers=true no_responders=true lang='c' "
			 "protocol=1 name='q\"b\\x5cs/\\x08\\x0c\\n\\r\\x09\\x01\\x1f\\x7f "
			 "\\xc3\\xa9 \\xf0\\x9f\\x98\\x80' user='u\"' pass='p\\x5c\\n' ");
	c = (struct rc_nats_connect){ .auth_token = "s3cr\"t" };
	cr_assert_str_eq(connect_members(&c),
			 "verbose=false pedantic=false headers=true no_responders=true lang='c' "
			 "protocol=1 auth_token='s3cr\"t' ");
}

Test(nats_encode, connect_refuses)
{
	char buf[512];
	struct rc_nats_connect c = { .auth_token = "t", .user = "u" };

	cr_assert_eq(rc_nats_encode_connect(buf, sizeof(buf), &c), -EINVAL);
	c = (struct rc_nats_connect){ .auth_token = "t", .pass = "p" };
	cr_assert_eq(rc_nats_encode_connect(buf, sizeof(buf), &c), -EINVAL);
	c = (struct rc_nats_connect){ .name = "\xff" };
	cr_assert_eq(rc_nats_encode_connect(buf, sizeof(buf), &c), -EINVAL);
	c = (struct rc_nats_connect){ .pass = "\xc3" };
	cr_assert_eq(rc_nats_encode_connect(buf, sizeof(buf), &c), -EINVAL);
	c = (struct rc_nats_connect){ .version = "\xed\xa0\x80" };	/* a surrogate */
	cr_assert_eq(rc_nats_encode_connect(buf, sizeof(buf), &c), -EINVAL);
}

/* ---- JSON and INFO ---- */

TestSuite(nats_json);

static int info_n(const char *s, size_t len, struct rc_nats_info *info)
{
	char *g = guard_copy(s, len);
	int rc = rc_nats_info_parse(g, len, info);
	struct rc_nats_info again;

	/* What *info points at must be inside the JSON text. */
	if (rc == 0) {
		inside(g, len, info->server_id.raw, info->server_id.raw_len, "server_id");
		inside(g, len, info->version.raw, info->version.raw_len, "version");
		inside(g, len, info->connect_urls.raw, info->connect_urls.raw_len, "connect_urls");
		/* Rebase onto s so that the caller can read them after the free. */
		if (info->server_id.raw)
			info->server_id.raw = s + (info->server_id.raw - g);
		if (info->server_name.raw)
			info->server_name.raw = s + (info->server_name.raw - g);
		if (info->version.raw)
			info->version.raw = s + (info->version.raw - g);
		if (info->connect_urls.raw)
			info->connect_urls.raw = s + (info->connect_urls.raw - g);
	}
	guard_free(g, len);
	cr_assert_eq(rc_nats_info_parse(s, len, &again), rc);
	return rc;
}

static int info(const char *s, struct rc_nats_info *out)
{
	return info_n(s, strlen(s), out);
}

/* The INFO text of the first item of a captured stream. */
static void captured_info(const char *stream, size_t skip_items, const char **text, size_t *len)
{
	struct rc_nats_event ev;
	size_t off = 0;

	for (;;) {
		cr_assert_eq(rc_nats_parse(&server_lim, stream + off, strlen(stream + off), &ev), 0);
		if (ev.op == RC_NATS_OP_INFO && !skip_items--)
			break;
		off += ev.size;
	}
	*text = ev.text;
	*len = ev.text_len;
}

Test(nats_json, captured_info)
{
	struct rc_nats_info in;
	const char *t;
	size_t n;

	captured_info(capture_session, 0, &t, &n);
	cr_assert_eq(info_n(t, n, &in), 0);
	cr_assert(rc_nats_json_equals(&in.server_id,
				      "NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD"));
	cr_assert(rc_nats_json_equals(&in.server_name,
				      "NAIEE74KFB3F7TSJUPD75IH4UPEOJ4643ZKJUPLNEPGISBN55GHTTNJD"));
	cr_assert(rc_nats_json_equals(&in.version, "2.9.10"));
	cr_assert_eq(in.proto, 1);
	cr_assert(in.headers);
	cr_assert_eq(in.max_payload, 1048576);
	cr_assert_eq(in.client_id, 4);
	cr_assert(!in.auth_required && !in.tls_required && !in.ldm);
	cr_assert_eq(in.connect_urls.type, RC_NATS_JSON_NONE);
}

Test(nats_json, captured_connect_urls)
{
	struct rc_nats_info in;
	struct rc_nats_json_iter it;
	struct rc_nats_json_value k, v;
	const char *t;
	size_t n;

	/* The second INFO of the cluster capture lists both servers. */
	captured_info(capture_cluster, 1, &t, &n);
	cr_assert_eq(info_n(t, n, &in), 0);
	cr_assert_eq(in.client_id, 6);
	cr_assert_eq(in.connect_urls.type, RC_NATS_JSON_ARRAY);
	cr_assert_eq(rc_nats_json_open(&it, in.connect_urls.raw, in.connect_urls.raw_len), 0);
	cr_assert_eq(rc_nats_json_next(&it, &k, &v), 1);
	cr_assert_eq(k.type, RC_NATS_JSON_NONE);
	cr_assert(rc_nats_json_equals(&v, "127.0.0.1:60497"));
	cr_assert_eq(rc_nats_json_next(&it, NULL, &v), 1);
	cr_assert(rc_nats_json_equals(&v, "127.0.0.1:37637"));
	cr_assert_eq(rc_nats_json_next(&it, NULL, &v), 0);
	cr_assert_eq(rc_nats_json_next(&it, NULL, &v), 0);
}

Test(nats_json, skips_what_it_does_not_know)
{
	struct rc_nats_info in;

	/* Brackets, quotes and escapes inside strings of skipped members
	 * must not end them early. */
	cr_assert_eq(info("{\"nested\":{\"a\":[\"}\",{\"b\":\"]\\\"{\"}],\"c\":null},"
			  "\"s\":\"x\\\\\",\"n\":-1.5e+3,\"t\":true,\"f\":false,\"e\":[],\"o\":{},"
			  "\"max_payload\":5}", &in), 0);
	cr_assert_eq(in.max_payload, 5);
	/* A later duplicate wins. */
	cr_assert_eq(info("{\"proto\":1,\"proto\":2}", &in), 0);
	cr_assert_eq(in.proto, 2);
	cr_assert_eq(info(" \t\r\n{ \"ldm\" : true , \"auth_required\":true,\"tls_required\":true } \n",
			  &in), 0);
	cr_assert(in.ldm && in.auth_required && in.tls_required);
	cr_assert_eq(info("{}", &in), 0);
	cr_assert_eq(in.server_id.type, RC_NATS_JSON_NONE);
}

Test(nats_json, escaped_keys_and_values)
{
	struct rc_nats_info in;
	char buf[64];

	cr_assert_eq(info("{\"server\\u005fid\":\"a\\\"b\",\"max\\u005Fpayload\":7}", &in), 0);
	cr_assert_eq(in.max_payload, 7);
	cr_assert(in.server_id.escaped);
	cr_assert(rc_nats_json_equals(&in.server_id, "a\"b"));
	cr_assert(!rc_nats_json_equals(&in.server_id, "a\""));
	cr_assert(!rc_nats_json_equals(&in.server_id, "a\"bc"));
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), in.server_id.raw,
					   in.server_id.raw_len), 3);
	cr_assert(memcmp(buf, "a\"b", 3) == 0);
	/* A key that only looks like one once decoded wrongly is not one. */
	cr_assert_eq(info("{\"max_payload\\u0000\":7}", &in), 0);
	cr_assert_eq(in.max_payload, 0);
}

Test(nats_json, unescape)
{
	static const char raw[] = "a\\u00e9\\u20ac\\ud83d\\ude00\\n\\/\\u0000z";
	static const char want[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n/\0z";
	char buf[64];
	size_t cap;

	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), raw, strlen(raw)),
		     (ssize_t)sizeof(want) - 1);
	cr_assert(memcmp(buf, want, sizeof(want) - 1) == 0);
	for (cap = 0; cap < sizeof(want) - 1; cap++) {
		char *g = guard_copy(buf, cap);

		cr_assert_eq(rc_nats_json_unescape(g, cap, raw, strlen(raw)), -ENOSPC, "cap %zu", cap);
		guard_free(g, cap);
	}
	/* Lone or misordered surrogates decode to no character. */
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), "\\ud83d", 6), -EBADMSG);
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), "\\ude00", 6), -EBADMSG);
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), "\\ud83d\\u0041", 12), -EBADMSG);
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), "\\ud83dx", 7), -EBADMSG);
	cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), "\\ude00\\ud83d", 12), -EBADMSG);
	/* Cut escapes, read from guard copies. */
	{
		static const char *const cut[] = { "\\", "\\u", "\\u00e", "\\ud83d\\u", "\\x" };
		size_t i;

		for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
			size_t n = strlen(cut[i]);
			char *g = guard_copy(cut[i], n);

			cr_assert_eq(rc_nats_json_unescape(buf, sizeof(buf), g, n), -EBADMSG, "%s",
				     cut[i]);
			guard_free(g, n);
		}
	}
	/* A surrogate pair in a validated document. */
	{
		struct rc_nats_info in;

		cr_assert_eq(info("{\"version\":\"\\uD83D\\uDE00\"}", &in), 0);
		cr_assert(rc_nats_json_equals(&in.version, "\xf0\x9f\x98\x80"));
	}
}

Test(nats_json, malformed)
{
	static const char *const bad[] = {
		"", " ", "1", "\"s\"", "null", "true", "{", "}", "[", "{]", "[}", "{\"a\"}",
		"{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "{,\"a\":1}",
		"{\"a\":1 \"b\":2}", "{\"a\":1}}", "{\"a\":1} x", "{\"a\":1}{}", "[1,]", "[,1]",
		"[1 2]", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}",
		"{\"a\":1e+}", "{\"a\":+1}", "{\"a\":0x1}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"a\":True}", "{\"a\":\"x}", "{\"a\":\"x\\\"}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\t\"}", "{\"a\":\"\n\"}",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"\xc0\xaf\":1}", "{\"a\":[1,{\"b\":]}]}", "{\"a\":NaN}", "{\"a\":Infinity}",
		"\xef\xbb\xbf{}",
		/* Cut at the end of the text, which ends at the guard page. */
		"{\"a\":\"\\u12", "{\"a\":\"\\u", "{\"a\":\"\\", "{\"a\":\"x", "{\"a\":1",
		"{\"a\":tr", "{\"a\":-", "{\"a\":1e", "{\"a\":[", "{\"a\"",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rc_nats_info in;
		struct rc_nats_json_iter it;
		size_t n = strlen(bad[i]);
		char *g = guard_copy(bad[i], n);

		cr_assert_eq(rc_nats_json_open(&it, g, n), -EBADMSG, "case %zu: %s", i, bad[i]);
		cr_assert_eq(rc_nats_json_next(&it, NULL, &(struct rc_nats_json_value){ 0 }), 0);
		guard_free(g, n);
		cr_assert_eq(info(bad[i], &in), -EBADMSG, "case %zu: %s", i, bad[i]);
	}
	/* A NUL inside the text is a control character, not an end. */
	{
		struct rc_nats_info in;

		cr_assert_eq(info_n("{\"a\":\"\0\"}", 8, &in), -EBADMSG);
		cr_assert_eq(info_n("{}\0", 3, &in), -EBADMSG);
	}
	/* An array is JSON, but not an INFO. */
	{
		struct rc_nats_info in;
		struct rc_nats_json_iter it;

		cr_assert_eq(rc_nats_json_open(&it, "[1]", 3), 0);
		cr_assert_eq(info("[1]", &in), -EBADMSG);
	}
}

Test(nats_json, depth)
{
	static char s[2 * RC_NATS_JSON_DEPTH + 16];
	struct rc_nats_json_iter it;
	size_t d;

	for (d = 1; d <= RC_NATS_JSON_DEPTH + 1; d++) {
		size_t n = 0, i;
		char *g;
		int rc;

		for (i = 0; i < d; i++)
			s[n++] = '[';
		for (i = 0; i < d; i++)
			s[n++] = ']';
		g = guard_copy(s, n);
		rc = rc_nats_json_open(&it, g, n);
		guard_free(g, n);
		cr_assert_eq(rc, d <= RC_NATS_JSON_DEPTH ? 0 : -EBADMSG, "depth %zu: %d", d, rc);
	}
	/* Objects and arrays mixed at the deepest level still close right. */
	cr_assert_eq(info("{\"a\":[{\"b\":[{}]},[]],\"proto\":3}",
			  &(struct rc_nats_info){ 0 }), 0);
}

Test(nats_json, wrong_types)
{
	static const char *const bad[] = {
		"{\"max_payload\":\"1\"}", "{\"max_payload\":-1}", "{\"max_payload\":1.5}",
		"{\"max_payload\":1e3}", "{\"max_payload\":18446744073709551616}",
		"{\"max_payload\":null}", "{\"proto\":true}", "{\"client_id\":[]}",
		"{\"headers\":1}", "{\"headers\":\"true\"}", "{\"ldm\":null}",
		"{\"server_id\":1}", "{\"server_id\":null}", "{\"version\":[\"2\"]}",
		"{\"connect_urls\":\"a:1\"}", "{\"connect_urls\":[\"a:1\",2]}",
		"{\"connect_urls\":[[\"a:1\"]]}", "{\"connect_urls\":{}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rc_nats_info in;

		memset(&in, 0x5a, sizeof(in));
		cr_assert_eq(info(bad[i], &in), -EBADMSG, "%s", bad[i]);
		cr_assert_eq(in.max_payload, 0, "not cleared after an error");
	}
	{
		struct rc_nats_info in;

		cr_assert_eq(info("{\"max_payload\":18446744073709551615,\"connect_urls\":[]}", &in),
			     0);
		cr_assert_eq(in.max_payload, UINT64_MAX);
		cr_assert_eq(in.connect_urls.type, RC_NATS_JSON_ARRAY);
	}
}
