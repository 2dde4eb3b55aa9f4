#include "chan.h"

#include <errno.h>
#include <stdlib.h>

#include "cache.h"
#include "mem.h"
#include "uplink.h"

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

int rc_chan_pub_claim(struct rc_channel *ch, bool multi)
{
	struct rc_chan *c = rc_chan_get(ch);

	if (!c)
		return -ENOMEM;
	if (ch->shared ? !rc_chanreg_pub_claim(ch->shared, multi) : c->publishers && !multi)
		return -EBUSY;
	c->publishers++;
	return 0;
}

void rc_chan_pub_release(struct rc_channel *ch)
{
	struct rc_chan *c = rc_chan_peek(ch);

	if (ch->shared)
		rc_chanreg_pub_release(ch->shared);
	if (c)
		c->publishers--;
}

void rc_chan_free(struct rc_channel *ch)
{
	struct rc_chan *c = rc_channel_owner(ch);

	if (!c)
		return;
	rc_cache_free(c->cache);
	if (c->uplink) {
		free(c->uplink);
		rc_mem_uncharge(sizeof(*c->uplink));
	}
	free(c);
	rc_mem_uncharge(sizeof(*c));
	rc_channel_set_owner(ch, NULL);
}
