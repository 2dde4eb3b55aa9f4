#include "cluster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "nats_link.h"

int rc_cluster_start(struct rc_server *srv)
{
	struct rc_nats_link *l;
	int ret;

	if (!srv->cfg->nats.len)
		return 0;
	l = malloc(sizeof(*l));
	if (!l) {
		ret = -ENOMEM;
		goto fail;
	}
	rc_mem_charge(sizeof(*l));
	srv->nats = l;
	ret = rc_nats_link_start(l, srv->loop, &srv->cfg->nats, &srv->stats);
	if (ret < 0)
		goto fail;
	return 0;

fail:
	rc_cluster_fini(srv);
	return ret;
}

void rc_cluster_publish(struct rc_server *srv, const struct rc_channel *ch, const void *payload,
			size_t len)
{
	char subject[RC_CONFIG_NATS_PREFIX_MAX + sizeof(".ch.") + RC_CHANNEL_NAME_MAX];
	size_t plen;

	if (!srv->nats)
		return;
	plen = strlen(srv->cfg->nats_prefix);
	memcpy(subject, srv->cfg->nats_prefix, plen);
	memcpy(subject + plen, ".ch.", 4);
	/* The channel is one subject token: its dots (a name may have them
	 * anywhere, even first, last or doubled) become '~', which no
	 * channel name holds, so the mapping stays one to one. */
	for (size_t i = 0; i < ch->name_len; i++)
		subject[plen + 4 + i] = ch->name[i] == '.' ? '~' : ch->name[i];
	subject[plen + 4 + ch->name_len] = '\0';
	rc_nats_link_publish(srv->nats, subject, payload, len);
}

void rc_cluster_stop(struct rc_server *srv)
{
	if (srv->nats)
		rc_nats_link_stop(srv->nats);
}

bool rc_cluster_busy(const struct rc_server *srv)
{
	return srv->nats && rc_nats_link_busy(srv->nats);
}

void rc_cluster_fini(struct rc_server *srv)
{
	if (!srv->nats)
		return;
	rc_nats_link_fini(srv->nats);
	free(srv->nats);
	rc_mem_uncharge(sizeof(*srv->nats));
	srv->nats = NULL;
}
