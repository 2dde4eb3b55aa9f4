/* GET /channels and GET /connections: JSON for operators, rendered on
 * request. */
#ifndef RC_STATUS_H
#define RC_STATUS_H

#include <stdbool.h>
#include <stddef.h>

struct rc_server;
struct rc_textbuf;

/* Renders GET /channels (JSON) into a malloc'd buffer; *len gets its
 * length. NULL without memory. */
char *rc_status_channels(struct rc_server *srv, size_t *len);

/* Renders GET /connections (JSON), at most `limit` entries from `offset`
 * (clients, then TCP publishers). NULL without memory. */
char *rc_status_connections(struct rc_server *srv, size_t offset, size_t limit, size_t *len);

/* Appends this worker's connections to t as /connections entries (clients,
 * then TCP publishers): passes over the first *skip of them and shows at
 * most *left, decreasing both by what it passed over and showed. `first`:
 * t has no entry yet (no separator before the first one). Returns the
 * entries shown. The parts of a listing over several workers. */
size_t rc_status_connection_rows(struct rc_server *srv, struct rc_textbuf *t, bool first,
				 size_t *skip, size_t *left);

/* This worker's connections as /connections counts them. */
size_t rc_status_connection_count(const struct rc_server *srv);

/* The /connections answer around rendered entries `rows`: a malloc'd
 * body (*len bytes), NULL without memory (or when rows->failed). */
char *rc_status_connections_wrap(const struct rc_textbuf *rows, size_t total, size_t offset,
				 size_t limit, size_t *len);

#endif
