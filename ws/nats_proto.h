/* NATS core client protocol codec: parser, header blocks, encoders and a
 * small JSON reader for INFO. Pure and allocation-free; no I/O.
 *
 * Why here, in ws/: ws/ is where the tree keeps its pure, allocation-free
 * protocol codecs (HTTP request heads, RFC 6455 frames, UTF-8, chunked
 * bodies), which the unit tests and the fuzz build compile on their own,
 * away from the loop. This codec is the same kind of code and reuses two of
 * them (the UTF-8 validator, core's number parser). What is not pure (the
 * connection, reconnects, subscriptions of channels) belongs to gateway/
 * when the cluster is wired; it will call into this file.
 *
 * The protocol is the one of NATS's public protocol reference: text control
 * lines ending in CRLF, verbs in any case, fields separated by spaces or
 * tabs; MSG, HMSG, PUB and HPUB carry a byte-counted payload followed by
 * CRLF. The parser reads either side's traffic: what a server sends (what
 * ringcast reads) or what a client sends (so that the encoders can be
 * checked by parsing their output, and a test can play a server). */
#ifndef RC_NATS_PROTO_H
#define RC_NATS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* nats-server's defaults for max_control_line and max_payload. */
#define RC_NATS_MAX_CONTROL_LINE 4096
#define RC_NATS_MAX_PAYLOAD (1024 * 1024)

enum rc_nats_op {
	RC_NATS_OP_NONE = 0,
	/* server to client */
	RC_NATS_OP_INFO,
	RC_NATS_OP_MSG,
	RC_NATS_OP_HMSG,
	RC_NATS_OP_OK,
	RC_NATS_OP_ERR,
	/* either way */
	RC_NATS_OP_PING,
	RC_NATS_OP_PONG,
	/* client to server */
	RC_NATS_OP_CONNECT,
	RC_NATS_OP_PUB,
	RC_NATS_OP_HPUB,
	RC_NATS_OP_SUB,
	RC_NATS_OP_UNSUB,
};

/* Whose traffic the parser reads. */
enum rc_nats_side {
	RC_NATS_FROM_SERVER = 0,	/* INFO MSG HMSG PING PONG +OK -ERR */
	RC_NATS_FROM_CLIENT,		/* CONNECT PUB HPUB SUB UNSUB PING PONG */
};

struct rc_nats_limits {
	/* Longest control line, CRLF not counted. INFO is a control line too:
	 * a server in a large cluster lists every connect_url in it, so a
	 * client that expects one may need more than the server's default. */
	size_t max_control_line;
	/* Largest payload, headers included (the server's INFO max_payload). */
	uint64_t max_payload;
	enum rc_nats_side side;
};

/* One parsed protocol item. Every pointer points into the buffer given to
 * rc_nats_parse(); fields an operation does not have are NULL / 0. */
struct rc_nats_event {
	enum rc_nats_op op;
	size_t size;		/* bytes of the buffer the item occupies */
	size_t need;		/* -EAGAIN: the buffer length worth calling again with */
	const char *subject;	/* MSG HMSG PUB HPUB SUB */
	size_t subject_len;
	const char *sid;	/* MSG HMSG SUB UNSUB: as sent, not interpreted */
	size_t sid_len;
	const char *reply;	/* MSG HMSG PUB HPUB: NULL when there is none */
	size_t reply_len;
	const char *queue;	/* SUB: the queue group, NULL when there is none */
	size_t queue_len;
	uint64_t max_msgs;	/* UNSUB: the auto-unsubscribe count, when has_max */
	bool has_max;
	const char *headers;	/* HMSG HPUB: the header block, "NATS/1.0" through
				 * its blank line */
	size_t headers_len;
	const char *payload;	/* MSG HMSG PUB HPUB: what follows the headers */
	size_t payload_len;
	const char *text;	/* INFO CONNECT: the JSON; ERR: the text, without
				 * its single quotes */
	size_t text_len;
};

/* Parses the one protocol item at the start of buf[0..len). Never reads
 * buf[len] or beyond; allocates nothing; keeps no state between calls, so
 * the caller keeps the bytes from the first unconsumed one on and calls
 * again with more appended.
 * Returns:
 *   0          an item is complete: ev->op and its fields are set, and it
 *              occupies buf[0..ev->size): drop those bytes and go on
 *   -EAGAIN    incomplete: call again once the buffer holds ev->need bytes
 *              (always more than len; exact once the control line of a
 *              message is in, so one wait covers the whole payload)
 *   -EPROTO    not a verb of this side (known as soon as the first bytes
 *              cannot start one, without waiting for the line end)
 *   -EMSGSIZE  the control line is longer than lim->max_control_line
 *   -EFBIG     the payload is larger than lim->max_payload (known from the
 *              control line, before the payload is read)
 *   -EBADMSG   malformed: a control character or bare CR or LF in the line,
 *              missing or extra fields, a number that is empty, not all
 *              digits or overflows, headers longer than the total, a header
 *              block that does not start with "NATS/1.0" or end with a blank
 *              line, no CRLF right after the payload
 * A prefix of the input gets -EAGAIN or the result the whole input gets,
 * so what is reported never depends on where the stream was cut.
 * On an error the stream cannot be resynchronised: close the connection. */
int rc_nats_parse(const struct rc_nats_limits *lim, const char *buf, size_t len,
		  struct rc_nats_event *ev);

/* ---- Header blocks (HMSG, HPUB) ---- */

/* The status of a header block's first line, "NATS/1.0 503" (no responders),
 * "NATS/1.0 408 Request Timeout", or plain "NATS/1.0" (code 0). */
struct rc_nats_status {
	unsigned code;		/* three digits, or 0 when the line has none */
	const char *text;	/* description after the code; NULL when none */
	size_t text_len;
};

struct rc_nats_header {
	const char *key;
	size_t key_len;
	const char *value;	/* without surrounding blanks; may be empty */
	size_t value_len;
};

/* Reads a header block; treat the fields as private. */
struct rc_nats_hdr_reader {
	const char *p;
	size_t len;
	size_t off;
	bool done;
};

/* Starts reading the block p[0..len) (an event's headers) and parses its
 * status line into *st. Returns 0, or -EBADMSG when the block does not start
 * with a valid status line. Never reads past p[len). */
int rc_nats_hdr_open(struct rc_nats_hdr_reader *r, const char *p, size_t len,
		     struct rc_nats_status *st);

/* Reads the next "Key: Value" line into *h. Returns 1 with *h set, 0 at the
 * blank line that ends the block (and on every call after it), or -EBADMSG
 * for a line that is not "token ':' value CRLF", a value with control
 * characters other than tab, or bytes after the blank line. Keys are tokens
 * of visible ASCII without ':'. */
int rc_nats_hdr_next(struct rc_nats_hdr_reader *r, struct rc_nats_header *h);

/* Finds the first header whose key is exactly key[0..key_len) (NATS keys are
 * case-sensitive) in the block p[0..len). Returns 1 with *value set, 0 when
 * absent, -EBADMSG for a malformed block. */
int rc_nats_hdr_get(const char *p, size_t len, const char *key, size_t key_len,
		    struct rc_nats_header *value);

/* Builds a header block in a caller's buffer; treat the fields as private.
 * Errors are sticky: the first one is what rc_nats_hdr_end() returns, so a
 * caller may add every header and check once. */
struct rc_nats_hdr_builder {
	char *dst;
	size_t cap;
	size_t len;
	int err;
};

/* Starts a block ("NATS/1.0\r\n") in dst[0..cap). */
void rc_nats_hdr_begin(struct rc_nats_hdr_builder *b, char *dst, size_t cap);

/* Appends "Key: Value\r\n". The key must be a token (visible ASCII, no ':');
 * the value may not contain control characters other than tab, nor start or
 * end with a blank (a reader could not give them back). Returns 0, -EINVAL
 * for a bad key or value, -ENOSPC when it does not fit, or the earlier error. */
int rc_nats_hdr_add(struct rc_nats_hdr_builder *b, const char *key, size_t key_len,
		    const char *value, size_t value_len);

/* Ends the block with its blank line. Returns the block's length (what HPUB
 * counts as its header bytes) or the first error. */
ssize_t rc_nats_hdr_end(struct rc_nats_hdr_builder *b);

/* ---- Subjects ---- */

/* True when s[0..len) is a subject: non-empty tokens separated by '.', of
 * valid UTF-8 without spaces, tabs or other control characters. With
 * wildcards (SUB), a token may be "*", and the last token may be ">";
 * without (PUB, reply subjects), '*' and '>' are refused anywhere, so a
 * message is never published to what a subscriber would take for a pattern. */
bool rc_nats_subject_valid(const char *s, size_t len, bool wildcards);

/* ---- Encoders (client to server) ----
 * Each writes into dst[0..cap) and returns the number of bytes written, or
 * -ENOSPC when they do not fit, or -EINVAL for an argument the protocol
 * cannot carry (what is wrong is said at each). On an error dst's contents
 * are unspecified. Strings are NUL-terminated; NULL means absent. */

struct rc_nats_connect {
	const char *name;	/* client name, shown by the server's monitoring */
	const char *version;	/* ringcast's version */
	const char *user;	/* user and pass, or auth_token, or none */
	const char *pass;
	const char *auth_token;
	/* Sends "echo":false: the server then never delivers a connection's
	 * own publications back to it (a node that both publishes and
	 * subscribes a channel must not get its messages twice). */
	bool no_echo;
};

/* CONNECT {json}\r\n with verbose and pedantic off, headers and
 * no_responders on, lang "c", protocol 1, and the strings of *c escaped for
 * JSON. -EINVAL: a string that is not valid UTF-8, or a token together with
 * a user or password. */
ssize_t rc_nats_encode_connect(char *dst, size_t cap, const struct rc_nats_connect *c);

/* "PUB subject [reply] n\r\n" only: the control line of a publication whose
 * payload_len bytes and final CRLF the caller sends from where they are
 * (writev), without copying. -EINVAL: subject or reply not valid for PUB. */
ssize_t rc_nats_encode_pub_head(char *dst, size_t cap, const char *subject, const char *reply,
				size_t payload_len);

/* The whole PUB: control line, payload, CRLF. -EINVAL as for the head. */
ssize_t rc_nats_encode_pub(char *dst, size_t cap, const char *subject, const char *reply,
			   const void *payload, size_t payload_len);

/* "HPUB subject [reply] hdr_len total\r\n" only, total being hdr_len +
 * payload_len; the caller sends the header block (hdr_len counts its blank
 * line), the payload and a CRLF. -EINVAL: subject or reply not valid for
 * PUB, or hdr_len shorter than the smallest header block. */
ssize_t rc_nats_encode_hpub_head(char *dst, size_t cap, const char *subject, const char *reply,
				 size_t hdr_len, size_t payload_len);

/* The whole HPUB: control line, header block, payload, CRLF. -EINVAL as for
 * the head, or a header block that does not start with "NATS/1.0" or does
 * not end with its blank line. */
ssize_t rc_nats_encode_hpub(char *dst, size_t cap, const char *subject, const char *reply,
			    const char *hdrs, size_t hdr_len, const void *payload,
			    size_t payload_len);

/* SUB subject [queue] sid\r\n. -EINVAL: subject not valid for SUB
 * (wildcards allowed), or a queue group that is empty or has blanks or
 * control characters. */
ssize_t rc_nats_encode_sub(char *dst, size_t cap, const char *subject, const char *queue,
			   uint64_t sid);

/* UNSUB sid [max]\r\n; max_msgs 0 means none (unsubscribe now). */
ssize_t rc_nats_encode_unsub(char *dst, size_t cap, uint64_t sid, uint64_t max_msgs);

/* PING\r\n and PONG\r\n. */
ssize_t rc_nats_encode_ping(char *dst, size_t cap);
ssize_t rc_nats_encode_pong(char *dst, size_t cap);

/* ---- JSON (INFO, CONNECT) ----
 * A reader of RFC 8259 text that points into it instead of building
 * anything. Whole documents are validated before any value is handed out,
 * so a value's extent can be trusted. */

enum rc_nats_json_type {
	RC_NATS_JSON_NONE = 0,	/* absent */
	RC_NATS_JSON_STRING,
	RC_NATS_JSON_NUMBER,
	RC_NATS_JSON_OBJECT,
	RC_NATS_JSON_ARRAY,
	RC_NATS_JSON_TRUE,
	RC_NATS_JSON_FALSE,
	RC_NATS_JSON_NULL,
};

struct rc_nats_json_value {
	enum rc_nats_json_type type;
	/* STRING: the text between the quotes, escapes not decoded (see
	 * rc_nats_json_unescape); anything else: the value's whole text,
	 * brackets included. */
	const char *raw;
	size_t raw_len;
	bool escaped;		/* STRING: raw holds at least one backslash escape */
};

/* Iterates an object's members or an array's elements; treat the fields as
 * private. */
struct rc_nats_json_iter {
	const char *s;
	size_t len;
	size_t off;
	bool object;
};

/* Deepest nesting of objects and arrays that rc_nats_json_open() accepts. */
#define RC_NATS_JSON_DEPTH 64

/* Validates the JSON text s[0..len) (one object or array, surrounded by
 * nothing but blanks, nested at most RC_NATS_JSON_DEPTH deep, strings of
 * valid UTF-8) and starts iterating it. Returns 0, or -EBADMSG. */
int rc_nats_json_open(struct rc_nats_json_iter *it, const char *s, size_t len);

/* The next member (key set, an escaped-or-not STRING) of an object or
 * element (key may be NULL) of an array. Returns 1, or 0 at the end. To
 * descend, open a value's raw text with rc_nats_json_open(). */
int rc_nats_json_next(struct rc_nats_json_iter *it, struct rc_nats_json_value *key,
		      struct rc_nats_json_value *value);

/* Decodes a STRING value's raw text into dst[0..cap) as UTF-8 (no NUL
 * added). Returns its length, -ENOSPC, or -EBADMSG for an escape that
 * decodes to no character (a lone surrogate). */
ssize_t rc_nats_json_unescape(char *dst, size_t cap, const char *raw, size_t raw_len);

/* True when the STRING value v equals the NUL-terminated s once decoded. */
bool rc_nats_json_equals(const struct rc_nats_json_value *v, const char *s);

/* What ringcast takes from a server's INFO. */
struct rc_nats_info {
	struct rc_nats_json_value server_id;	/* STRING, or type NONE when absent */
	struct rc_nats_json_value server_name;
	struct rc_nats_json_value version;
	struct rc_nats_json_value connect_urls;	/* ARRAY of STRING: iterate it */
	uint64_t max_payload;	/* 0 when absent */
	uint64_t proto;
	uint64_t client_id;
	bool headers;		/* the server accepts HPUB and sends HMSG */
	bool auth_required;
	bool tls_required;	/* ringcast speaks plain TCP: it cannot use this server */
	bool ldm;		/* lame duck mode: move to another server */
};

/* Reads an INFO's JSON text (an event's text) into *info. Members not
 * listed above are skipped; a later duplicate wins. Returns 0, or -EBADMSG
 * for text that is not a JSON object, a listed member of the wrong type (a
 * number that is not a whole number from 0 up, an array of anything but
 * strings), or a member that overflows. Never reads past json[len). */
int rc_nats_info_parse(const char *json, size_t len, struct rc_nats_info *info);

#endif
