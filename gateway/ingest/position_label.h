/* A message's position label: the WebSocket text frame
 * {"channel":"NAME","epoch":"E","seq":N} that a subscriber of several
 * channels, or one that asked for positions (?meta=1), gets right before
 * the message. It names the message's channel and its place in the
 * channel's history, so a client can resume after it (subscriber.h).
 * Made once per message per worker and shared by every such subscriber of
 * the worker; a channel's cache keeps it beside the message. */
#ifndef RC_POSITION_LABEL_H
#define RC_POSITION_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "shmsg.h"

/* The longest label frame: header, name of up to 64 bytes, 16 hex digits
 * of epoch, 20 digits of sequence. */
#define RC_POSITION_LABEL_MAX 160

/* Writes the label frame (header and text) for message seq of epoch in
 * the channel named name[0..name_len) into dst, which has
 * RC_POSITION_LABEL_MAX bytes. Returns its length. Pure. */
uint32_t rc_position_label_encode(uint8_t *dst, const char *name, size_t name_len, uint64_t epoch,
				  uint64_t seq);

/* The label as a new shared message (one reference, the caller's). NULL
 * without memory or for a name longer than 64 bytes. */
struct rc_shmsg *rc_position_label_new(const char *name, size_t name_len, uint64_t epoch,
				       uint64_t seq);

#endif
