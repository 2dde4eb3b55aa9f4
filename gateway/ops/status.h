/* GET /channels and GET /connections: JSON for operators, rendered on
 * request. */
#ifndef RC_STATUS_H
#define RC_STATUS_H

#include <stddef.h>

struct rc_server;

/* Renders GET /channels (JSON) into a malloc'd buffer; *len gets its
 * length. NULL without memory. */
char *rc_status_channels(struct rc_server *srv, size_t *len);

/* Renders GET /connections (JSON), at most `limit` entries from `offset`
 * (clients, then TCP publishers). NULL without memory. */
char *rc_status_connections(struct rc_server *srv, size_t offset, size_t limit, size_t *len);

#endif
