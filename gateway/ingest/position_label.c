#include "position_label.h"

#include <stdio.h>
#include <string.h>

#include "ws_frame.h"

uint32_t rc_position_label_encode(uint8_t *dst, const char *name, size_t name_len, uint64_t epoch,
				  uint64_t seq)
{
	char text[RC_POSITION_LABEL_MAX];
	int n = snprintf(text, sizeof(text), "{\"channel\":\"%.*s\",\"epoch\":\"%016llx\",\"seq\":%llu}",
			 (int)name_len, name, (unsigned long long)epoch, (unsigned long long)seq);
	size_t hl;

	/* At most 132 bytes of text (a 64-byte name, 20 digits): a 2- or
	 * 4-byte header. */
	hl = rc_ws_header_encode(dst, RC_WS_OP_TEXT, true, (uint64_t)n);
	memcpy(dst + hl, text, (size_t)n);
	return (uint32_t)(hl + (size_t)n);
}

struct rc_shmsg *rc_position_label_new(const char *name, size_t name_len, uint64_t epoch,
				       uint64_t seq)
{
	uint8_t frame[RC_POSITION_LABEL_MAX];
	struct rc_shmsg *l;
	uint32_t len;

	if (name_len > 64)
		return NULL;
	/* Sized to the frame: a cache holds one per message. */
	len = rc_position_label_encode(frame, name, name_len, epoch, seq);
	l = rc_shmsg_new(len);
	if (!l)
		return NULL;
	memcpy(l->data, frame, len);
	l->len = len;
	return l;
}
