#include "label.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shmsg.h"
#include "ws_frame.h"

int rc_label_make(struct rc_channel *ch)
{
	char text[RC_CHANNEL_NAME_MAX + 16];
	struct rc_shmsg *l;
	int n;

	if (ch->tag)
		return 0;
	n = snprintf(text, sizeof(text), "{\"channel\":\"%s\"}", ch->name);
	l = rc_shmsg_new((uint32_t)n + 2);
	if (!l)
		return -ENOMEM;
	/* The whole text frame lives in data[]: short, so a 2-byte header. */
	l->len = (uint32_t)rc_ws_header_encode(l->data, RC_WS_OP_TEXT, true, (uint64_t)n);
	memcpy(l->data + l->len, text, (size_t)n);
	l->len += (uint32_t)n;
	ch->tag = l;
	return 0;
}

void rc_label_free(struct rc_channel *ch)
{
	if (ch->tag)
		rc_shmsg_unref(ch->tag);
	ch->tag = NULL;
}
