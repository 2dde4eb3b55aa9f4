/* Server-Sent Events encoding of one message (text/event-stream). */
#ifndef RC_SSE_H
#define RC_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a payload is sent: as text ("data: <payload>\n\n") when it is valid
 * UTF-8 without control characters (tab allowed), otherwise base64-encoded with the event type
 * "binary" ("event: binary\ndata: <base64>\n\n"). Returns the encoded size
 * and sets *binary. Pure. */
size_t rc_sse_event_size(const uint8_t *payload, size_t len, bool *binary);

/* Writes the event into dst, which needs rc_sse_event_size() + 1 bytes
 * (base64 encoding writes a terminating NUL). Returns the event's size. */
size_t rc_sse_event_encode(uint8_t *dst, const uint8_t *payload, size_t len, bool binary);

struct rc_shmsg;

/* The event of payload[0..len) as a new shared message (one reference, the
 * caller's), made once and sent to every SSE subscriber. With epoch != 0
 * it carries the event id "EPOCH:SEQ" (sse_id.h), so that a browser that
 * reconnects sends it back as Last-Event-ID. NULL without memory. */
struct rc_shmsg *rc_sse_event_new(const uint8_t *payload, uint32_t len, uint64_t epoch,
				  uint64_t seq);

#endif
