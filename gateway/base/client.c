/* What every phase of a client connection reports: its drops and, at
 * shutdown, its final counters. */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"

uint64_t rc_conn_drops(const struct rc_conn *c)
{
	uint64_t n = c->sub.drops + c->st.q.discarded;

	for (uint32_t i = 0; c->extra && i < RC_CONN_MAX_SUBS - 1; i++)
		n += c->extra[i].drops;
	return n;
}

void rc_conn_note_final(struct rc_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char text[80];

	if (c->final_peer || getpeername(c->st.fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	rc_config_format_addr((struct sockaddr *)&ss, text, sizeof(text));
	c->final_peer = strdup(text);
}

void rc_conn_report_final(struct rc_conn *c)
{
	if (!c->final_peer)
		return;
	/* One line per subscriber: what it was sent and what it missed. A
	 * test (or an operator) checks delivered + dropped = published. */
	rc_log_debug("final: peer %s: %llu frames delivered, %llu dropped", c->final_peer,
		     (unsigned long long)c->st.q.frames, (unsigned long long)rc_conn_drops(c));
	free(c->final_peer);
	c->final_peer = NULL;
}
