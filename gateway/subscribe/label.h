/* A channel's label frame, {"channel":"NAME"} as a WebSocket text frame:
 * what a subscriber of several channels on one WebSocket gets before each
 * message to tell which channel it belongs to. One shared frame per
 * channel, made when a connection first needs it. */
#ifndef RC_LABEL_H
#define RC_LABEL_H

#include "channel.h"

/* Makes ch's label frame if it has none yet. Returns 0 or -ENOMEM. */
int rc_label_make(struct rc_channel *ch);

/* Releases ch's label frame (the channel is being freed). */
void rc_label_free(struct rc_channel *ch);

#endif
