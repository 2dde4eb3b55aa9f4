/* GET /connections with several workers: a listing that visits every
 * worker in turn.
 *
 * A connection belongs to the worker that accepted it, and only that
 * worker may read it. So the worker that serves the request (the
 * requester) starts a listing, and the listing travels through the
 * workers' mailboxes in worker order, 0 to N-1: each worker appends its
 * own connections (as far as the page's offset and limit still ask),
 * adds its count to the total, and posts the listing on to the next; the
 * last one posts it back to the requester, which answers. The page is
 * exact at the moment each worker rendered its part, with no snapshot to
 * go stale, and no two threads ever touch the listing at once: whoever
 * holds it owns it, and the mailbox's release/acquire hand-off orders
 * every write of one holder before the next holder's reads.
 *
 * The requester's connection waits meanwhile: it reads no further
 * requests (its input is held, then its receive stops, as with a
 * backed-up answer), and if it closes, the listing comes back to nobody
 * and is dropped. What belongs to the requester alone (the waiting
 * connection) stays in a record on the requester, which the travelling
 * listing points to but only the requester dereferences. */
#ifndef RC_LISTING_H
#define RC_LISTING_H

#include <stdbool.h>
#include <stddef.h>

struct rc_conn;
struct rc_relay_msg;
struct rc_server;

/* Starts the listing of the page [offset, offset + limit) for c, which
 * waits for it (answered later, on c's worker; keep_alive as in its
 * request). With one worker, answers at once. Returns 0, or -ENOMEM (the
 * caller answers). */
int rc_listing_start(struct rc_conn *c, size_t offset, size_t limit, bool keep_alive);

/* True while c waits for a listing (its input must wait too). */
bool rc_listing_waiting(const struct rc_conn *c);

/* A listing arrived in srv's mailbox (message m, kind RC_RELAY_LIST): adds
 * this worker's part and posts it on, or, back on the requester, answers.
 * Takes over m. */
void rc_listing_take(struct rc_server *srv, struct rc_relay_msg *m);

/* srv begins its shutdown: every connection of srv still waiting for a
 * listing gets 503 now (a worker that has stopped would never pass the
 * listing on), and the listing is dropped when it comes back, if it does. */
void rc_listing_shutdown(struct rc_server *srv);

/* c is closing: the listing it waits for will be answered to nobody. */
void rc_listing_abandon(struct rc_conn *c);

/* srv's loop has ended: frees its records of waiting connections (any
 * listing still travelling is freed where it is found, rc_listing_discard). */
void rc_listing_fini(struct rc_server *srv);

/* Every worker has ended: frees a listing found in a mailbox (m). */
void rc_listing_discard(struct rc_relay_msg *m);

#endif
