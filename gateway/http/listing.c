/* GET /connections over every worker. See listing.h. */
#include "listing.h"

#include <errno.h>
#include <stdlib.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "relay.h"
#include "state.h"
#include "status.h"
#include "textbuf.h"

/* The requester's record of a waiting connection: only the requester's
 * worker reads or writes it. */
struct rc_listing_wait {
	struct rc_listing_wait *prev, *next;	/* rc_server.listings */
	struct rc_conn *conn;			/* NULL once it closed */
	bool keep_alive;
	bool head;				/* HEAD /connections: no body */
};

/* The travelling part: owned by whichever worker holds it (it is in that
 * worker's hands or in its mailbox), never by two at once. */
struct rc_listing {
	struct rc_relay_msg *msg;	/* its mailbox message (ctx = this) */
	struct rc_listing_wait *wait;	/* the requester's record: dereferenced there only */
	uint32_t requester;		/* the worker that answers */
	uint32_t step;			/* the worker whose part comes next; nworkers: done */
	size_t offset, limit;		/* the page asked for */
	size_t skip, left;		/* of the page: entries still to pass over, to show */
	size_t total;			/* connections of the workers visited so far */
	size_t shown;			/* entries rendered so far */
	struct rc_textbuf rows;		/* the entries rendered so far */
};

static void listing_free(struct rc_listing *l)
{
	rc_relay_put(l->msg);
	free(l->rows.buf);
	free(l);
	rc_mem_uncharge(sizeof(*l));
}

/* The requester: the listing is complete; answers its connection, if that
 * is still there, and resumes its input. */
static void finish(struct rc_server *srv, struct rc_listing *l)
{
	struct rc_listing_wait *w = l->wait;
	struct rc_conn *c = w->conn;

	if (w->prev)
		w->prev->next = w->next;
	else
		srv->listings = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (c) {
		size_t len = 0;
		char *body = rc_status_connections_wrap(&l->rows, l->total, l->offset, l->limit,
							&len);
		bool head = c->head;

		c->listing = NULL;
		c->head = w->head;
		if (body)
			rc_http_respond(c, 200, "application/json", NULL, body, len, !w->keep_alive);
		else
			rc_http_respond(c, 500, "text/plain", NULL, NULL, 0, true);
		c->head = head;
		free(body);
		/* The requests it held back, in the turn's deferred work. */
		rc_loop_defer(srv->loop, &c->st.work);
	}
	free(w);
	listing_free(l);
}

/* Adds srv's part if it is srv's turn, then passes the listing on: to the
 * next worker, back to the requester, or (on the requester, complete) to
 * its answer. */
static void advance(struct rc_server *srv, struct rc_listing *l)
{
	if (l->step == srv->id) {
		l->total += rc_status_connection_count(srv);
		l->shown += rc_status_connection_rows(srv, &l->rows, l->shown == 0, &l->skip,
						      &l->left);
		l->step++;
	}
	if (l->step < srv->proc->nworkers) {
		rc_relay_post_one(srv, l->msg, l->step);
		return;
	}
	if (srv->id != l->requester) {
		rc_relay_post_one(srv, l->msg, l->requester);
		return;
	}
	finish(srv, l);
}

int rc_listing_start(struct rc_conn *c, size_t offset, size_t limit, bool keep_alive)
{
	struct rc_server *srv = c->st.srv;
	struct rc_listing_wait *w = NULL;
	struct rc_listing *l = NULL;

	w = calloc(1, sizeof(*w));
	l = calloc(1, sizeof(*l));
	if (!w || !l)
		goto fail;
	l->msg = rc_relay_new_ctl(RC_RELAY_LIST, l);
	if (!l->msg)
		goto fail;
	rc_mem_charge(sizeof(*l));
	w->conn = c;
	w->keep_alive = keep_alive;
	w->head = c->head;
	w->next = srv->listings;
	if (w->next)
		w->next->prev = w;
	srv->listings = w;
	c->listing = w;
	l->wait = w;
	l->requester = srv->id;
	l->offset = l->skip = offset;
	l->limit = l->left = limit;
	rc_textbuf_init(&l->rows, 8192);
	advance(srv, l);
	return 0;
fail:
	free(w);
	free(l);
	return -ENOMEM;
}

bool rc_listing_waiting(const struct rc_conn *c)
{
	return c->state == RC_CONN_HTTP && c->listing;
}

void rc_listing_take(struct rc_server *srv, struct rc_relay_msg *m)
{
	advance(srv, m->ctx);
}

void rc_listing_abandon(struct rc_conn *c)
{
	if (!rc_listing_waiting(c))
		return;
	c->listing->conn = NULL;
	c->listing = NULL;
}

void rc_listing_shutdown(struct rc_server *srv)
{
	for (struct rc_listing_wait *w = srv->listings; w; w = w->next) {
		struct rc_conn *c = w->conn;

		if (!c)
			continue;
		w->conn = NULL;
		c->listing = NULL;
		rc_http_respond(c, 503, "text/plain", NULL, "shutting down\n", 14, true);
	}
}

void rc_listing_fini(struct rc_server *srv)
{
	while (srv->listings) {
		struct rc_listing_wait *w = srv->listings;

		srv->listings = w->next;
		free(w);
	}
}

void rc_listing_discard(struct rc_relay_msg *m)
{
	listing_free(m->ctx);
}
