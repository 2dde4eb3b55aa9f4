/* TCP ingest protocol, pure and allocation-free: the publisher's opening
 * line and the length-prefixed ("framed") message decoder.
 *
 * A publisher connects and sends one line
 *     PUB <channel> [raw|framed] [key=<secret>]\n
 * and gets "OK\n" or "ERR <reason>\n". Then it streams: in raw mode the byte
 * stream is cut into messages as it arrives; in framed mode each message is
 * a 4-byte big-endian length followed by that many bytes. */
#ifndef RC_INGEST_PROTO_H
#define RC_INGEST_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_PUB_LINE_MAX 256	/* longest opening line, "\n" included */

enum rc_pub_mode {
	RC_PUB_RAW,
	RC_PUB_FRAMED,
};

struct rc_pub_request {
	const char *channel;	/* slices of the line */
	size_t channel_len;
	enum rc_pub_mode mode;	/* raw when not given */
	const char *key;	/* NULL when not given */
	size_t key_len;
};

/* Parses the opening line line[0..len) without its final "\n" (a trailing
 * "\r" is accepted). Tokens are separated by single or repeated spaces.
 * Returns 0, or -EINVAL with *why set to a short reason for the ERR answer
 * ("expected PUB", "bad channel", "bad mode", "bad argument"). */
int rc_pub_parse(const char *line, size_t len, struct rc_pub_request *req, const char **why);

/* Framed decoder state; treat the fields as private. */
struct rc_framed {
	uint32_t max;		/* largest message accepted */
	uint8_t hdr[4];
	uint8_t hdr_have;
	bool in_msg;
	bool failed;
	uint32_t msg_len;
	uint32_t msg_have;
};

/* One step of the decoder: a piece of one message. */
struct rc_framed_event {
	bool ready;		/* false: the input ran out inside a length prefix */
	bool error;		/* a length over max: the stream cannot be trusted */
	const uint8_t *data;	/* this piece of the payload, inside the input */
	size_t len;
	uint32_t msg_len;	/* the whole message's length */
	bool first;		/* the piece starts the message */
	bool last;		/* the piece ends it */
	bool prefix_here;	/* first: all 4 prefix bytes are in this input, right before data */
};

/* Prepares f for messages of at most max bytes. */
void rc_framed_init(struct rc_framed *f, uint32_t max);

/* Consumes input from buf[0..len) up to the end of at most one piece of a
 * message and describes it in ev; returns the bytes consumed. Call again
 * with the rest. A zero-length message is one piece with first and last
 * set and len 0. After an error nothing more is consumed. Never reads
 * beyond buf[len-1]. */
size_t rc_framed_feed(struct rc_framed *f, const uint8_t *buf, size_t len,
		      struct rc_framed_event *ev);

/* UDP mux datagrams (--udp-mux): 'R', one byte N (1..64), N bytes of
 * channel name, then the message (possibly empty). For a channel with a
 * stream key: 'K', N, N bytes of name, one byte M (1..128), M bytes of
 * key, then the message. Old senders keep working: 'R' is unchanged, and
 * a port that predates 'K' counts it as a bad header. */
#define RC_MUX_MAGIC 'R'
#define RC_MUX_MAGIC_KEYED 'K'
#define RC_MUX_KEY_MAX 128

/* Parses the mux header of dgram[0..len). Returns 0 and sets the channel
 * name slice and the payload offset, or -EINVAL (too short, wrong magic,
 * bad length or name). */
int rc_mux_parse(const uint8_t *dgram, size_t len, const char **name, size_t *name_len,
		 size_t *payload_off);

/* Parses either mux header: as rc_mux_parse(), plus the key slice ('K'
 * datagrams; *key NULL for 'R'). Returns 0 or -EINVAL. */
int rc_mux_parse_key(const uint8_t *dgram, size_t len, const char **name, size_t *name_len,
		     const char **key, size_t *key_len, size_t *payload_off);

#endif
