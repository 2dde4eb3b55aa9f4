#include "chan.h"

#include <stdlib.h>

#include "cache.h"
#include "mem.h"

struct rc_chan *rc_chan_get(struct rc_channel *ch)
{
	struct rc_chan *c = rc_channel_owner(ch);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	rc_mem_charge(sizeof(*c));
	rc_channel_set_owner(ch, c);
	return c;
}

void rc_chan_free(struct rc_channel *ch)
{
	struct rc_chan *c = rc_channel_owner(ch);

	if (!c)
		return;
	rc_cache_free(c->cache);
	free(c);
	rc_mem_uncharge(sizeof(*c));
	rc_channel_set_owner(ch, NULL);
}
