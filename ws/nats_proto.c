/* NATS core protocol codec, see nats_proto.h.
 *
 * The parser keeps no state between calls: each call starts again from the
 * first byte the caller still holds. A connection's receive buffer is then
 * the whole state, and there is nothing to get out of step with it. What a
 * restart costs is a rescan of an unfinished control line, which is bounded
 * by max_control_line; once a message's control line is in, ev->need tells
 * the caller exactly how long to wait, so a large payload is not rescanned
 * on every read. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "nats_proto.h"
#include "num.h"
#include "utf8.h"

#define SIDE_SERVER (1u << RC_NATS_FROM_SERVER)
#define SIDE_CLIENT (1u << RC_NATS_FROM_CLIENT)

/* The first line of every header block; what follows it is a status or the
 * line end. */
static const char hdr_version[] = "NATS/1.0";
#define HDR_VERSION_LEN (sizeof(hdr_version) - 1)
/* The smallest header block: the version line and the blank line. */
#define HDR_MIN (HDR_VERSION_LEN + 4)

/* The most fields a control line with separate fields has (HMSG: subject,
 * sid, reply, header bytes, total bytes). */
#define MAX_FIELDS 5

struct verb {
	const char *name;	/* upper case */
	size_t len;
	enum rc_nats_op op;
	unsigned sides;
};

static const struct verb verbs[] = {
	{ "INFO", 4, RC_NATS_OP_INFO, SIDE_SERVER },
	{ "MSG", 3, RC_NATS_OP_MSG, SIDE_SERVER },
	{ "HMSG", 4, RC_NATS_OP_HMSG, SIDE_SERVER },
	{ "+OK", 3, RC_NATS_OP_OK, SIDE_SERVER },
	{ "-ERR", 4, RC_NATS_OP_ERR, SIDE_SERVER },
	{ "PING", 4, RC_NATS_OP_PING, SIDE_SERVER | SIDE_CLIENT },
	{ "PONG", 4, RC_NATS_OP_PONG, SIDE_SERVER | SIDE_CLIENT },
	{ "CONNECT", 7, RC_NATS_OP_CONNECT, SIDE_CLIENT },
	{ "PUB", 3, RC_NATS_OP_PUB, SIDE_CLIENT },
	{ "HPUB", 4, RC_NATS_OP_HPUB, SIDE_CLIENT },
	{ "SUB", 3, RC_NATS_OP_SUB, SIDE_CLIENT },
	{ "UNSUB", 5, RC_NATS_OP_UNSUB, SIDE_CLIENT },
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* True when t[0..n) matches the first n letters of v, ignoring case. */
static bool verb_prefix(const struct verb *v, const char *t, size_t n)
{
	size_t i;

	if (n > v->len)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_upper(t[i]) != v->name[i])
			return false;
	return true;
}

/* The verb of `side` spelt t[0..n) (whole: exact length), or NULL. With
 * whole false, any verb that t[0..n) could still become. */
static const struct verb *verb_find(enum rc_nats_side side, const char *t, size_t n, bool whole)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];

		if (!(v->sides & (1u << side)) || (whole && v->len != n))
			continue;
		if (verb_prefix(v, t, n))
			return v;
	}
	return NULL;
}

static int need_more(struct rc_nats_event *ev, size_t need)
{
	ev->need = need;
	return -EAGAIN;
}

/* A byte count of a control line: digits only, no overflow. */
static int parse_count(const char *f, size_t n, uint64_t *out)
{
	return rc_num_parse_u64n(f, n, 0, UINT64_MAX, out) ? -EBADMSG : 0;
}

/* The payload part of MSG, HMSG, PUB and HPUB: e has the fields of the
 * control line, whose CRLF ends at buf[start). hdr_f is the header count's
 * field (NULL for MSG and PUB). */
static int parse_payload(const struct rc_nats_limits *lim, const char *buf, size_t len,
			 size_t start, const char *hdr_f, size_t hdr_n, const char *total_f,
			 size_t total_n, struct rc_nats_event *e, struct rc_nats_event *ev)
{
	uint64_t hdr = 0, total;
	size_t end;

	if (parse_count(total_f, total_n, &total) || (hdr_f && parse_count(hdr_f, hdr_n, &hdr)))
		return -EBADMSG;
	if (total > lim->max_payload)
		return -EFBIG;
	if (hdr > total || (hdr_f && hdr < HDR_MIN))
		return -EBADMSG;
	/* A max_payload near the top of the range must not wrap the sum. */
	if (total > SIZE_MAX - start - 2)
		return -EFBIG;
	end = start + (size_t)total;
	if (len < end + 2) {
		/* A wrong byte after the payload is reported as soon as it is in. */
		if (len > end && buf[end] != '\r')
			return -EBADMSG;
		return need_more(ev, end + 2);
	}
	if (buf[end] != '\r' || buf[end + 1] != '\n')
		return -EBADMSG;
	if (hdr_f) {
		if (memcmp(buf + start, hdr_version, HDR_VERSION_LEN) != 0 ||
		    memcmp(buf + start + hdr - 4, "\r\n\r\n", 4) != 0)
			return -EBADMSG;
		e->headers = buf + start;
		e->headers_len = (size_t)hdr;
	}
	e->payload = buf + start + hdr;
	e->payload_len = (size_t)(total - hdr);
	e->size = end + 2;
	return 0;
}

int rc_nats_parse(const struct rc_nats_limits *lim, const char *buf, size_t len,
		  struct rc_nats_event *ev)
{
	struct rc_nats_event e;
	const struct verb *v;
	const char *f[MAX_FIELDS];
	size_t fl[MAX_FIELDS];
	size_t tok, eol, i, nf = 0;
	int rc;

	memset(ev, 0, sizeof(*ev));
	memset(&e, 0, sizeof(e));

	/* Bytes are judged in order, each by everything that can be said of
	 * it, so that a prefix of the input never gets another error than the
	 * whole would: the answer cannot depend on how the stream was cut.
	 * The verb ends at a blank or the line end; garbage is refused as soon
	 * as it cannot start a verb, not after a whole line of it. */
	for (tok = 0; tok < len && (unsigned char)buf[tok] > ' '; tok++) {
		if (!verb_find(lim->side, buf, tok + 1, false))
			return -EPROTO;
		if (tok >= lim->max_control_line)
			return -EMSGSIZE;
	}
	if (tok == len)
		return need_more(ev, len + 1);
	v = verb_find(lim->side, buf, tok, true);
	if (!v)
		return -EPROTO;

	/* A CR at index max_control_line still ends a line of the maximum
	 * length; any other byte there makes the line too long. */
	for (eol = tok; eol < len; eol++) {
		unsigned char c = (unsigned char)buf[eol];

		if (c == '\r')
			break;
		if (c < ' ' && c != '\t')
			return -EBADMSG;
		if (eol >= lim->max_control_line)
			return -EMSGSIZE;
	}
	if (eol == len || eol + 1 == len)
		return need_more(ev, len + 1);
	if (buf[eol + 1] != '\n')
		return -EBADMSG;
	e.op = v->op;
	e.size = eol + 2;

	if (v->op == RC_NATS_OP_INFO || v->op == RC_NATS_OP_CONNECT || v->op == RC_NATS_OP_ERR) {
		/* The rest of the line, blanks around it dropped, is one piece
		 * of text: JSON has blanks of its own. */
		size_t a = tok, b = eol;

		while (a < b && is_blank(buf[a]))
			a++;
		while (b > a && is_blank(buf[b - 1]))
			b--;
		if (v->op == RC_NATS_OP_ERR && b - a >= 2 && buf[a] == '\'' && buf[b - 1] == '\'') {
			a++;
			b--;
		} else if (v->op != RC_NATS_OP_ERR && a == b) {
			return -EBADMSG;
		}
		e.text = buf + a;
		e.text_len = b - a;
		*ev = e;
		return 0;
	}

	for (i = tok;;) {
		size_t s;

		while (i < eol && is_blank(buf[i]))
			i++;
		if (i == eol)
			break;
		if (nf == MAX_FIELDS)
			return -EBADMSG;
		for (s = i; i < eol && !is_blank(buf[i]); i++)
			;
		f[nf] = buf + s;
		fl[nf++] = i - s;
	}

	switch (v->op) {
	case RC_NATS_OP_PING:
	case RC_NATS_OP_PONG:
	case RC_NATS_OP_OK:
		if (nf)
			return -EBADMSG;
		*ev = e;
		return 0;
	case RC_NATS_OP_MSG:
	case RC_NATS_OP_HMSG:
	case RC_NATS_OP_PUB:
	case RC_NATS_OP_HPUB: {
		bool has_sid = v->op == RC_NATS_OP_MSG || v->op == RC_NATS_OP_HMSG;
		bool has_hdr = v->op == RC_NATS_OP_HMSG || v->op == RC_NATS_OP_HPUB;
		size_t fixed = 2 + has_sid + has_hdr;	/* fields without the reply */

		if (nf != fixed && nf != fixed + 1)
			return -EBADMSG;
		e.subject = f[0];
		e.subject_len = fl[0];
		if (has_sid) {
			e.sid = f[1];
			e.sid_len = fl[1];
		}
		if (nf == fixed + 1) {
			e.reply = f[1 + has_sid];
			e.reply_len = fl[1 + has_sid];
		}
		rc = parse_payload(lim, buf, len, eol + 2, has_hdr ? f[nf - 2] : NULL,
				   has_hdr ? fl[nf - 2] : 0, f[nf - 1], fl[nf - 1], &e, ev);
		if (rc)
			return rc;
		*ev = e;
		return 0;
	}
	case RC_NATS_OP_SUB:
		if (nf != 2 && nf != 3)
			return -EBADMSG;
		e.subject = f[0];
		e.subject_len = fl[0];
		if (nf == 3) {
			e.queue = f[1];
			e.queue_len = fl[1];
		}
		e.sid = f[nf - 1];
		e.sid_len = fl[nf - 1];
		*ev = e;
		return 0;
	case RC_NATS_OP_UNSUB:
		if (nf != 1 && nf != 2)
			return -EBADMSG;
		e.sid = f[0];
		e.sid_len = fl[0];
		if (nf == 2) {
			if (parse_count(f[1], fl[1], &e.max_msgs))
				return -EBADMSG;
			e.has_max = true;
		}
		*ev = e;
		return 0;
	default:
		return -EPROTO;
	}
}

/* ---- Header blocks ---- */

/* Finds the CRLF that ends the line starting at p[off]: *eol is the CR.
 * Control characters other than tab, and a CR or LF on its own, are refused,
 * as is a line without its CRLF. */
static int hdr_line(const char *p, size_t len, size_t off, size_t *eol)
{
	size_t i;

	for (i = off; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 == len || p[i + 1] != '\n')
				return -EBADMSG;
			*eol = i;
			return 0;
		}
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return -EBADMSG;
	}
	return -EBADMSG;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int rc_nats_hdr_open(struct rc_nats_hdr_reader *r, const char *p, size_t len,
		     struct rc_nats_status *st)
{
	size_t eol, i, end;

	memset(st, 0, sizeof(*st));
	r->p = p;
	r->len = len;
	r->off = len;
	r->done = false;
	if (len < HDR_VERSION_LEN || memcmp(p, hdr_version, HDR_VERSION_LEN) != 0 ||
	    hdr_line(p, len, HDR_VERSION_LEN, &eol))
		return -EBADMSG;
	i = HDR_VERSION_LEN;
	if (i < eol && !is_blank(p[i]))
		return -EBADMSG;	/* "NATS/1.01" is another version */
	while (i < eol && is_blank(p[i]))
		i++;
	if (i < eol) {
		if (eol - i < 3 || !is_digit(p[i]) || !is_digit(p[i + 1]) || !is_digit(p[i + 2]) ||
		    (eol - i > 3 && !is_blank(p[i + 3])))
			return -EBADMSG;
		st->code = (unsigned)(p[i] - '0') * 100 + (unsigned)(p[i + 1] - '0') * 10 +
			   (unsigned)(p[i + 2] - '0');
		i += 3;
		while (i < eol && is_blank(p[i]))
			i++;
		for (end = eol; end > i && is_blank(p[end - 1]); end--)
			;
		if (end > i) {
			st->text = p + i;
			st->text_len = end - i;
		}
	}
	r->off = eol + 2;
	return 0;
}

int rc_nats_hdr_next(struct rc_nats_hdr_reader *r, struct rc_nats_header *h)
{
	const char *line, *colon;
	size_t eol, i, end;
	int rc;

	memset(h, 0, sizeof(*h));
	if (r->done)
		return 0;
	rc = hdr_line(r->p, r->len, r->off, &eol);
	if (rc)
		return rc;	/* also: the block ran out before its blank line */
	if (eol == r->off) {
		if (eol + 2 != r->len)
			return -EBADMSG;
		r->done = true;
		return 0;
	}
	line = r->p + r->off;
	colon = memchr(line, ':', eol - r->off);
	if (!colon || colon == line)
		return -EBADMSG;
	for (i = 0; line + i < colon; i++)
		if ((unsigned char)line[i] <= ' ' || (unsigned char)line[i] >= 0x7f)
			return -EBADMSG;
	h->key = line;
	h->key_len = i;
	i = (size_t)(colon - r->p) + 1;
	while (i < eol && is_blank(r->p[i]))
		i++;
	for (end = eol; end > i && is_blank(r->p[end - 1]); end--)
		;
	h->value = r->p + i;
	h->value_len = end - i;
	r->off = eol + 2;
	return 1;
}

int rc_nats_hdr_get(const char *p, size_t len, const char *key, size_t key_len,
		    struct rc_nats_header *value)
{
	struct rc_nats_hdr_reader r;
	struct rc_nats_status st;
	int rc;

	memset(value, 0, sizeof(*value));
	if (rc_nats_hdr_open(&r, p, len, &st))
		return -EBADMSG;
	while ((rc = rc_nats_hdr_next(&r, value)) == 1)
		if (value->key_len == key_len && memcmp(value->key, key, key_len) == 0)
			return 1;
	memset(value, 0, sizeof(*value));
	return rc;
}

static void hdr_put(struct rc_nats_hdr_builder *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		b->err = -ENOSPC;
		return;
	}
	memcpy(b->dst + b->len, s, n);
	b->len += n;
}

void rc_nats_hdr_begin(struct rc_nats_hdr_builder *b, char *dst, size_t cap)
{
	b->dst = dst;
	/* Lengths come back as ssize_t. */
	b->cap = cap > SSIZE_MAX ? SSIZE_MAX : cap;
	b->len = 0;
	b->err = 0;
	hdr_put(b, "NATS/1.0\r\n", HDR_VERSION_LEN + 2);
}

int rc_nats_hdr_add(struct rc_nats_hdr_builder *b, const char *key, size_t key_len,
		    const char *value, size_t value_len)
{
	size_t i;

	if (b->err)
		return b->err;
	if (!key_len || (value_len && (is_blank(value[0]) || is_blank(value[value_len - 1])))) {
		b->err = -EINVAL;
		return b->err;
	}
	for (i = 0; i < key_len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c <= ' ' || c >= 0x7f || c == ':') {
			b->err = -EINVAL;
			return b->err;
		}
	}
	for (i = 0; i < value_len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < ' ' && c != '\t') || c == 0x7f) {
			b->err = -EINVAL;
			return b->err;
		}
	}
	/* All or nothing, so that a block that did not fit is not half a line
	 * longer than what was reported. */
	if (key_len + value_len + 4 > b->cap - b->len || key_len + value_len + 4 < key_len) {
		b->err = -ENOSPC;
		return b->err;
	}
	hdr_put(b, key, key_len);
	hdr_put(b, ": ", 2);
	hdr_put(b, value, value_len);
	hdr_put(b, "\r\n", 2);
	return b->err;
}

ssize_t rc_nats_hdr_end(struct rc_nats_hdr_builder *b)
{
	hdr_put(b, "\r\n", 2);
	return b->err ? b->err : (ssize_t)b->len;
}

/* ---- Subjects ---- */

static bool utf8_valid(const char *s, size_t len)
{
	struct rc_utf8 u;

	rc_utf8_init(&u);
	return rc_utf8_feed(&u, (const uint8_t *)s, len) && rc_utf8_complete(&u);
}

bool rc_nats_subject_valid(const char *s, size_t len, bool wildcards)
{
	size_t i, start = 0;

	if (!s || !len || !utf8_valid(s, len))
		return false;
	for (i = 0; i <= len; i++) {
		unsigned char c;

		if (i == len || s[i] == '.') {
			if (i == start)
				return false;	/* empty token */
			if (s[start] == '>' && i != len)
				return false;	/* '>' matches the rest: only last */
			start = i + 1;
			continue;
		}
		c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f)
			return false;
		if (c == '*' || c == '>') {
			/* A wildcard is a whole token or nothing. */
			if (!wildcards || i != start || (i + 1 < len && s[i + 1] != '.'))
				return false;
		}
	}
	return true;
}

/* A queue group: one field of the control line, so no blanks or controls. */
static bool queue_valid(const char *s, size_t len)
{
	size_t i;

	if (!len || !utf8_valid(s, len))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/* ---- Encoders ---- */

struct wr {
	char *dst;
	size_t cap;
	size_t len;
	bool full;
};

static void wr_init(struct wr *w, char *dst, size_t cap)
{
	w->dst = dst;
	w->cap = cap > SSIZE_MAX ? SSIZE_MAX : cap;
	w->len = 0;
	w->full = false;
}

static void wr_put(struct wr *w, const void *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->dst + w->len, s, n);
	w->len += n;
}

static void wr_str(struct wr *w, const char *s)
{
	wr_put(w, s, strlen(s));
}

static void wr_u64(struct wr *w, uint64_t v)
{
	char tmp[20];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wr_put(w, tmp + n, sizeof(tmp) - n);
}

static ssize_t wr_done(const struct wr *w)
{
	return w->full ? -ENOSPC : (ssize_t)w->len;
}

/* A JSON string with quotes: the two characters JSON reserves and every
 * control character escaped, everything else (valid UTF-8) as it is. */
static void wr_json_str(struct wr *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	wr_put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		switch (c) {
		case '"':
			wr_put(w, "\\\"", 2);
			break;
		case '\\':
			wr_put(w, "\\\\", 2);
			break;
		case '\n':
			wr_put(w, "\\n", 2);
			break;
		case '\r':
			wr_put(w, "\\r", 2);
			break;
		case '\t':
			wr_put(w, "\\t", 2);
			break;
		case '\b':
			wr_put(w, "\\b", 2);
			break;
		case '\f':
			wr_put(w, "\\f", 2);
			break;
		default:
			if (c < ' ')
				wr_put(w, esc, sizeof(esc));
			else
				wr_put(w, s, 1);
		}
	}
	wr_put(w, "\"", 1);
}

static bool opt_utf8(const char *s)
{
	return !s || utf8_valid(s, strlen(s));
}

static void wr_json_member(struct wr *w, const char *key, const char *value)
{
	if (!value)
		return;
	wr_put(w, ",\"", 2);
	wr_str(w, key);
	wr_put(w, "\":", 2);
	wr_json_str(w, value);
}

ssize_t rc_nats_encode_connect(char *dst, size_t cap, const struct rc_nats_connect *c)
{
	struct wr w;

	if (!opt_utf8(c->name) || !opt_utf8(c->version) || !opt_utf8(c->user) ||
	    !opt_utf8(c->pass) || !opt_utf8(c->auth_token))
		return -EINVAL;
	if (c->auth_token && (c->user || c->pass))
		return -EINVAL;
	wr_init(&w, dst, cap);
	wr_str(&w, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
		   "\"no_responders\":true,\"lang\":\"c\",\"protocol\":1");
	if (c->no_echo)
		wr_str(&w, ",\"echo\":false");
	wr_json_member(&w, "name", c->name);
	wr_json_member(&w, "version", c->version);
	wr_json_member(&w, "user", c->user);
	wr_json_member(&w, "pass", c->pass);
	wr_json_member(&w, "auth_token", c->auth_token);
	wr_str(&w, "}\r\n");
	return wr_done(&w);
}

static bool pub_subjects_valid(const char *subject, const char *reply)
{
	return subject && rc_nats_subject_valid(subject, strlen(subject), false) &&
	       (!reply || rc_nats_subject_valid(reply, strlen(reply), false));
}

/* "VERB subject [reply] " */
static void wr_pub_start(struct wr *w, const char *verb, const char *subject, const char *reply)
{
	wr_str(w, verb);
	wr_put(w, " ", 1);
	wr_str(w, subject);
	wr_put(w, " ", 1);
	if (reply) {
		wr_str(w, reply);
		wr_put(w, " ", 1);
	}
}

ssize_t rc_nats_encode_pub_head(char *dst, size_t cap, const char *subject, const char *reply,
				size_t payload_len)
{
	struct wr w;

	if (!pub_subjects_valid(subject, reply))
		return -EINVAL;
	wr_init(&w, dst, cap);
	wr_pub_start(&w, "PUB", subject, reply);
	wr_u64(&w, payload_len);
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_pub(char *dst, size_t cap, const char *subject, const char *reply,
			   const void *payload, size_t payload_len)
{
	ssize_t n = rc_nats_encode_pub_head(dst, cap, subject, reply, payload_len);
	struct wr w;

	if (n < 0)
		return n;
	wr_init(&w, dst, cap);
	w.len = (size_t)n;
	wr_put(&w, payload, payload_len);
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_hpub_head(char *dst, size_t cap, const char *subject, const char *reply,
				 size_t hdr_len, size_t payload_len)
{
	struct wr w;

	if (!pub_subjects_valid(subject, reply) || hdr_len < HDR_MIN ||
	    payload_len > SIZE_MAX - hdr_len)
		return -EINVAL;
	wr_init(&w, dst, cap);
	wr_pub_start(&w, "HPUB", subject, reply);
	wr_u64(&w, hdr_len);
	wr_put(&w, " ", 1);
	wr_u64(&w, hdr_len + payload_len);
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_hpub(char *dst, size_t cap, const char *subject, const char *reply,
			    const char *hdrs, size_t hdr_len, const void *payload,
			    size_t payload_len)
{
	struct rc_nats_hdr_reader r;
	struct rc_nats_status st;
	struct rc_nats_header h;
	struct wr w;
	ssize_t n;
	int rc;

	/* The block is read as a receiver would, so that what is sent can be
	 * read back. */
	if (hdr_len < HDR_MIN || rc_nats_hdr_open(&r, hdrs, hdr_len, &st))
		return -EINVAL;
	while ((rc = rc_nats_hdr_next(&r, &h)) == 1)
		;
	if (rc)
		return -EINVAL;
	n = rc_nats_encode_hpub_head(dst, cap, subject, reply, hdr_len, payload_len);
	if (n < 0)
		return n;
	wr_init(&w, dst, cap);
	w.len = (size_t)n;
	wr_put(&w, hdrs, hdr_len);
	wr_put(&w, payload, payload_len);
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_sub(char *dst, size_t cap, const char *subject, const char *queue,
			   uint64_t sid)
{
	struct wr w;

	if (!subject || !rc_nats_subject_valid(subject, strlen(subject), true) ||
	    (queue && !queue_valid(queue, strlen(queue))))
		return -EINVAL;
	wr_init(&w, dst, cap);
	wr_pub_start(&w, "SUB", subject, queue);
	wr_u64(&w, sid);
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_unsub(char *dst, size_t cap, uint64_t sid, uint64_t max_msgs)
{
	struct wr w;

	wr_init(&w, dst, cap);
	wr_str(&w, "UNSUB ");
	wr_u64(&w, sid);
	if (max_msgs) {
		wr_put(&w, " ", 1);
		wr_u64(&w, max_msgs);
	}
	wr_put(&w, "\r\n", 2);
	return wr_done(&w);
}

ssize_t rc_nats_encode_ping(char *dst, size_t cap)
{
	struct wr w;

	wr_init(&w, dst, cap);
	wr_str(&w, "PING\r\n");
	return wr_done(&w);
}

ssize_t rc_nats_encode_pong(char *dst, size_t cap)
{
	struct wr w;

	wr_init(&w, dst, cap);
	wr_str(&w, "PONG\r\n");
	return wr_done(&w);
}

/* ---- JSON ----
 * The scanners below return the index just past what they read, or 0 for
 * malformed input: every JSON token is at least one byte long and starts at
 * an index of at least 0, so 0 is never a valid end. */

static bool json_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t json_skip_blanks(const char *s, size_t n, size_t i)
{
	while (i < n && json_blank(s[i]))
		i++;
	return i;
}


/* The four hex digits at s[0..4), or -1. */
static long hex4(const char *s)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		int d = rc_num_hex_digit(s[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The string whose opening quote is s[i]. */
static size_t json_string(const char *s, size_t n, size_t i, bool *escaped)
{
	size_t start = ++i;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return utf8_valid(s + start, i - start) ? i + 1 : 0;
		if (c < ' ')
			return 0;
		if (c != '\\') {
			i++;
			continue;
		}
		*escaped = true;
		if (i + 1 == n)
			return 0;
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			i += 2;
			break;
		case 'u':
			if (n - i < 6 || hex4(s + i + 2) < 0)
				return 0;
			i += 6;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

static size_t json_digits(const char *s, size_t n, size_t i)
{
	size_t start = i;

	while (i < n && is_digit(s[i]))
		i++;
	return i > start ? i : 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s[i]. */
static size_t json_number(const char *s, size_t n, size_t i)
{
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (!(i = json_digits(s, n, i)))
		return 0;
	if (i < n && s[i] == '.' && !(i = json_digits(s, n, i + 1)))
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!(i = json_digits(s, n, i)))
			return 0;
	}
	return i;
}

static size_t json_literal(const char *s, size_t n, size_t i, const char *lit)
{
	size_t l = strlen(lit);

	return n - i >= l && memcmp(s + i, lit, l) == 0 ? i + l : 0;
}

/* A scalar value at s[i] (i < n): its end and type. */
static size_t json_scalar(const char *s, size_t n, size_t i, struct rc_nats_json_value *v)
{
	size_t end;

	v->escaped = false;
	switch (s[i]) {
	case '"':
		v->type = RC_NATS_JSON_STRING;
		end = json_string(s, n, i, &v->escaped);
		if (end) {
			v->raw = s + i + 1;
			v->raw_len = end - i - 2;
		}
		return end;
	case 't':
		v->type = RC_NATS_JSON_TRUE;
		end = json_literal(s, n, i, "true");
		break;
	case 'f':
		v->type = RC_NATS_JSON_FALSE;
		end = json_literal(s, n, i, "false");
		break;
	case 'n':
		v->type = RC_NATS_JSON_NULL;
		end = json_literal(s, n, i, "null");
		break;
	default:
		v->type = RC_NATS_JSON_NUMBER;
		end = json_number(s, n, i);
	}
	if (end) {
		v->raw = s + i;
		v->raw_len = end - i;
	}
	return end;
}

enum {
	J_VALUE,		/* a value must come */
	J_VALUE_OR_CLOSE,	/* just after '[' */
	J_KEY,			/* after ',' in an object */
	J_KEY_OR_CLOSE,		/* just after '{' */
	J_AFTER,		/* after a value: ',', a close or the end */
};

/* Checks that s[0..n) is one object or array and nothing else but blanks.
 * Iterative, with the kind of each open container as one bit, so that the
 * input cannot make the stack grow. */
static int json_validate(const char *s, size_t n)
{
	uint64_t objects = 0;	/* bit d: the container at depth d+1 is an object */
	unsigned depth = 0;
	int state = J_VALUE;
	size_t i = json_skip_blanks(s, n, 0);
	struct rc_nats_json_value v;

	if (i == n || (s[i] != '{' && s[i] != '['))
		return -EBADMSG;
	for (;;) {
		i = json_skip_blanks(s, n, i);
		if (state == J_AFTER && depth == 0)
			return i == n ? 0 : -EBADMSG;
		if (i == n)
			return -EBADMSG;
		switch (state) {
		case J_VALUE_OR_CLOSE:
			if (s[i] == ']') {
				depth--;
				i++;
				state = J_AFTER;
				break;
			}
			/* fall through */
		case J_VALUE:
			if (s[i] == '{' || s[i] == '[') {
				if (depth == RC_NATS_JSON_DEPTH)
					return -EBADMSG;
				if (s[i] == '{')
					objects |= 1ull << depth;
				else
					objects &= ~(1ull << depth);
				depth++;
				state = s[i] == '{' ? J_KEY_OR_CLOSE : J_VALUE_OR_CLOSE;
				i++;
				break;
			}
			if (!(i = json_scalar(s, n, i, &v)))
				return -EBADMSG;
			state = J_AFTER;
			break;
		case J_KEY_OR_CLOSE:
			if (s[i] == '}') {
				depth--;
				i++;
				state = J_AFTER;
				break;
			}
			/* fall through */
		case J_KEY:
			if (s[i] != '"' || !(i = json_scalar(s, n, i, &v)))
				return -EBADMSG;
			i = json_skip_blanks(s, n, i);
			if (i == n || s[i] != ':')
				return -EBADMSG;
			i++;
			state = J_VALUE;
			break;
		case J_AFTER: {
			bool in_object = objects & (1ull << (depth - 1));

			if (s[i] == ',') {
				state = in_object ? J_KEY : J_VALUE;
			} else if (s[i] == (in_object ? '}' : ']')) {
				depth--;
			} else {
				return -EBADMSG;
			}
			i++;
			break;
		}
		}
	}
}

/* The end of the value at s[i] in text already validated. */
static size_t json_value_end(const char *s, size_t n, size_t i, struct rc_nats_json_value *v)
{
	unsigned depth = 0;
	size_t start = i;

	if (s[i] != '{' && s[i] != '[')
		return json_scalar(s, n, i, v);
	v->type = s[i] == '{' ? RC_NATS_JSON_OBJECT : RC_NATS_JSON_ARRAY;
	v->escaped = false;
	do {
		bool esc;

		switch (s[i]) {
		case '{':
		case '[':
			depth++;
			i++;
			break;
		case '}':
		case ']':
			depth--;
			i++;
			break;
		case '"':
			i = json_string(s, n, i, &esc);
			break;
		default:
			i++;
		}
	} while (depth);
	v->raw = s + start;
	v->raw_len = i - start;
	return i;
}

int rc_nats_json_open(struct rc_nats_json_iter *it, const char *s, size_t len)
{
	size_t i;

	memset(it, 0, sizeof(*it));
	if (json_validate(s, len))
		return -EBADMSG;
	i = json_skip_blanks(s, len, 0);
	it->s = s;
	it->len = len;
	it->object = s[i] == '{';
	it->off = i + 1;
	return 0;
}

int rc_nats_json_next(struct rc_nats_json_iter *it, struct rc_nats_json_value *key,
		      struct rc_nats_json_value *value)
{
	const char *s = it->s;
	size_t n = it->len, i;

	if (key)
		memset(key, 0, sizeof(*key));
	memset(value, 0, sizeof(*value));
	if (!s)
		return 0;
	i = json_skip_blanks(s, n, it->off);
	if (s[i] == '}' || s[i] == ']') {
		it->off = i;
		return 0;
	}
	if (s[i] == ',')
		i = json_skip_blanks(s, n, i + 1);
	if (it->object) {
		struct rc_nats_json_value k;

		i = json_scalar(s, n, i, &k);
		if (key)
			*key = k;
		i = json_skip_blanks(s, n, i) + 1;	/* the ':' */
		i = json_skip_blanks(s, n, i);
	}
	it->off = json_value_end(s, n, i, value);
	return 1;
}

/* Decodes the character at raw[*i] into out (up to four UTF-8 bytes) and
 * moves *i past it. Returns the byte count or -EBADMSG. */
static int json_char(const char *raw, size_t n, size_t *i, char out[4])
{
	long cp, lo;

	if (raw[*i] != '\\') {
		out[0] = raw[(*i)++];
		return 1;
	}
	if (n - *i < 2)
		return -EBADMSG;
	switch (raw[*i + 1]) {
	case '"': out[0] = '"'; break;
	case '\\': out[0] = '\\'; break;
	case '/': out[0] = '/'; break;
	case 'b': out[0] = '\b'; break;
	case 'f': out[0] = '\f'; break;
	case 'n': out[0] = '\n'; break;
	case 'r': out[0] = '\r'; break;
	case 't': out[0] = '\t'; break;
	case 'u':
		if (n - *i < 6 || (cp = hex4(raw + *i + 2)) < 0)
			return -EBADMSG;
		*i += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -EBADMSG;	/* a low surrogate with no high one */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* UTF-16: the high half must be followed by the low. */
			if (n - *i < 6 || raw[*i] != '\\' || raw[*i + 1] != 'u' ||
			    (lo = hex4(raw + *i + 2)) < 0xdc00 || lo > 0xdfff)
				return -EBADMSG;
			*i += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp < 0x80) {
			out[0] = (char)cp;
			return 1;
		}
		if (cp < 0x800) {
			out[0] = (char)(0xc0 | (cp >> 6));
			out[1] = (char)(0x80 | (cp & 0x3f));
			return 2;
		}
		if (cp < 0x10000) {
			out[0] = (char)(0xe0 | (cp >> 12));
			out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[2] = (char)(0x80 | (cp & 0x3f));
			return 3;
		}
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		return 4;
	default:
		return -EBADMSG;
	}
	*i += 2;
	return 1;
}

ssize_t rc_nats_json_unescape(char *dst, size_t cap, const char *raw, size_t raw_len)
{
	size_t i = 0, o = 0;

	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	while (i < raw_len) {
		char c[4];
		int k = json_char(raw, raw_len, &i, c);

		if (k < 0)
			return k;
		if ((size_t)k > cap - o)
			return -ENOSPC;
		memcpy(dst + o, c, (size_t)k);
		o += (size_t)k;
	}
	return (ssize_t)o;
}

bool rc_nats_json_equals(const struct rc_nats_json_value *v, const char *s)
{
	size_t i = 0, o = 0, n = strlen(s);

	if (v->type != RC_NATS_JSON_STRING)
		return false;
	if (!v->escaped)
		return v->raw_len == n && memcmp(v->raw, s, n) == 0;
	while (i < v->raw_len) {
		char c[4];
		int k = json_char(v->raw, v->raw_len, &i, c);

		if (k < 0 || (size_t)k > n - o || memcmp(s + o, c, (size_t)k) != 0)
			return false;
		o += (size_t)k;
	}
	return o == n;
}

/* A whole number from 0 up, in plain digits (no sign, fraction or exponent). */
static int json_u64(const struct rc_nats_json_value *v, uint64_t *out)
{
	if (v->type != RC_NATS_JSON_NUMBER)
		return -EBADMSG;
	return rc_num_parse_u64n(v->raw, v->raw_len, 0, UINT64_MAX, out) ? -EBADMSG : 0;
}

static int json_bool(const struct rc_nats_json_value *v, bool *out)
{
	if (v->type != RC_NATS_JSON_TRUE && v->type != RC_NATS_JSON_FALSE)
		return -EBADMSG;
	*out = v->type == RC_NATS_JSON_TRUE;
	return 0;
}

static int json_string_value(const struct rc_nats_json_value *v, struct rc_nats_json_value *out)
{
	if (v->type != RC_NATS_JSON_STRING)
		return -EBADMSG;
	*out = *v;
	return 0;
}

static int json_string_array(const struct rc_nats_json_value *v, struct rc_nats_json_value *out)
{
	struct rc_nats_json_iter it;
	struct rc_nats_json_value e;

	if (v->type != RC_NATS_JSON_ARRAY || rc_nats_json_open(&it, v->raw, v->raw_len))
		return -EBADMSG;
	while (rc_nats_json_next(&it, NULL, &e))
		if (e.type != RC_NATS_JSON_STRING)
			return -EBADMSG;
	*out = *v;
	return 0;
}

int rc_nats_info_parse(const char *json, size_t len, struct rc_nats_info *info)
{
	struct rc_nats_json_iter it;
	struct rc_nats_json_value k, v;
	int rc = 0;

	memset(info, 0, sizeof(*info));
	if (rc_nats_json_open(&it, json, len) || !it.object)
		return -EBADMSG;
	while (!rc && rc_nats_json_next(&it, &k, &v)) {
		if (rc_nats_json_equals(&k, "server_id"))
			rc = json_string_value(&v, &info->server_id);
		else if (rc_nats_json_equals(&k, "server_name"))
			rc = json_string_value(&v, &info->server_name);
		else if (rc_nats_json_equals(&k, "version"))
			rc = json_string_value(&v, &info->version);
		else if (rc_nats_json_equals(&k, "connect_urls"))
			rc = json_string_array(&v, &info->connect_urls);
		else if (rc_nats_json_equals(&k, "max_payload"))
			rc = json_u64(&v, &info->max_payload);
		else if (rc_nats_json_equals(&k, "proto"))
			rc = json_u64(&v, &info->proto);
		else if (rc_nats_json_equals(&k, "client_id"))
			rc = json_u64(&v, &info->client_id);
		else if (rc_nats_json_equals(&k, "headers"))
			rc = json_bool(&v, &info->headers);
		else if (rc_nats_json_equals(&k, "auth_required"))
			rc = json_bool(&v, &info->auth_required);
		else if (rc_nats_json_equals(&k, "tls_required"))
			rc = json_bool(&v, &info->tls_required);
		else if (rc_nats_json_equals(&k, "ldm"))
			rc = json_bool(&v, &info->ldm);
	}
	if (rc)
		memset(info, 0, sizeof(*info));
	return rc;
}
