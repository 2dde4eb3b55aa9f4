/* TCP publishers (--tcp ADDR:PORT), on the connection base: the opening
 * line "PUB <channel> [raw|framed] [key=K]", answered OK or ERR, then raw or
 * framed messages received straight into the ingest ring, so that a message
 * that fits one receive is fanned out from where it landed. */
#ifndef RC_TCP_PUB_H
#define RC_TCP_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "ingest_proto.h"
#include "shmsg.h"
#include "stream.h"

struct rc_server;

enum rc_pub_state {
	RC_PUB_HELLO,		/* reading "PUB <channel> ..." */
	RC_PUB_STREAM,		/* publishing */
	RC_PUB_REFUSED,		/* "ERR ..." queued; closed once it is out */
	RC_PUB_DEAD,		/* shut down; freed once no operation is in flight */
};

struct rc_publisher {
	struct rc_stream st;		/* the base: socket, queue ("OK"/"ERR"), lifetime */
	uint8_t state;			/* enum rc_pub_state */
	uint8_t mode;			/* enum rc_pub_mode */
	bool ts_align;			/* raw on a TS channel: cut on 188-byte packets */
	struct rc_channel *ch;
	struct rc_framed fr;
	struct rc_shmsg *partial;	/* framed message being assembled */
	uint8_t carry[188];		/* ts_align: the packet the last receive cut */
	size_t carry_len;
	size_t line_len;
	char line[RC_PUB_LINE_MAX];
};

/* Takes ownership of a socket accepted on the --tcp listener. */
void rc_publisher_accept(struct rc_server *srv, int fd);

/* The publisher of a base whose ops are a publisher's, or NULL. */
struct rc_publisher *rc_publisher_of(struct rc_stream *st);

#endif
