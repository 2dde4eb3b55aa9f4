/* A loop's mailbox: how other threads hand it work.
 *
 * Any thread may post nodes; only the loop that owns the mailbox takes them,
 * and it takes them in the order they were posted (two nodes posted by one
 * thread are taken in that thread's order). Posting never blocks and never
 * takes a lock: a node is pushed with one compare-and-swap onto a stack, and
 * the owner takes the whole stack with one exchange and reverses it. The
 * owner learns that there is something to take from an eventfd it reads
 * through its loop (rc_loop_read), so the same mailbox works on both
 * backends, or, when the poster's loop and the owner's are both on
 * io_uring, from a completion the poster's ring posts into the owner's
 * (IORING_OP_MSG_RING, rc_mbox_wake_from): no eventfd write by the poster,
 * no read to re-arm on the owner. The poster wakes the owner only when its
 * push found the mailbox empty (rc_mbox_post's return value), so a burst of
 * posts between two takes costs one wake-up.
 *
 * Nodes are intrusive: the poster embeds a struct rc_mbox_node in what it
 * hands over, and ownership of that object passes to the taker with the
 * post. The push is a release and the take an acquire, so everything the
 * poster wrote into the object before posting is visible to the taker. */
#ifndef RC_MBOX_H
#define RC_MBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct rc_mbox_node {
	struct rc_mbox_node *next;	/* written by the poster before the push */
};

struct rc_mbox;

/* Called on the owner's loop when the mailbox was woken; it takes the nodes
 * with rc_mbox_take(). */
typedef void (*rc_mbox_fn)(struct rc_mbox *mb, void *arg);

struct rc_mbox {
	/* The stack of posted nodes, newest first; NULL when empty. Posters
	 * push with a release CAS, the owner takes all with an acquire
	 * exchange: see rc_mbox_post(). */
	_Atomic(struct rc_mbox_node *) head;
	int efd;			/* the eventfd posters write to wake the owner */
	/* The owner's side (one thread only). */
	struct rc_io io;		/* the eventfd read */
	uint64_t efd_val;		/* the kernel writes the eventfd's count here (the read) */
	struct rc_loop *loop;
	rc_mbox_fn fn;
	void *arg;
	/* The owner's loop's rc_loop_msg_target() while it takes (-1
	 * before and after): posters read it to wake by message. Release
	 * store at start, acquire load by posters (the loop is set up
	 * before); relaxed -1 at stop. */
	_Atomic int msg_target;
	struct rc_io msg_io;		/* what a message completes on the owner */
	bool armed;			/* the read is in flight */
	bool closing;			/* rc_mbox_stop(): do not arm again */
	uint64_t wakes;			/* wake-ups taken, read or message (owner's counter) */
	uint64_t msg_wakes;		/* of which messages (rc_mbox_wake_from) */
};

/* Prepares an empty mailbox and its eventfd (any thread, before anyone
 * posts). Returns 0 or -errno. */
int rc_mbox_open(struct rc_mbox *mb);

/* On the owner's thread: arms the eventfd read on loop; fn runs on loop
 * after each wake-up (and may find nothing: a wake-up can cover nodes an
 * earlier take already had). The read's buffer is mb->efd_val, which the
 * kernel (io_uring) writes until the read completes; the read is re-armed
 * from its completion, so mb must stay put until rc_mbox_stop()'s
 * cancellation has completed. Returns 0 or -errno. */
int rc_mbox_start(struct rc_mbox *mb, struct rc_loop *loop, rc_mbox_fn fn, void *arg);

/* On the owner's thread: cancels the read and stops re-arming it. Nodes
 * still posted stay in the mailbox for rc_mbox_take(). */
void rc_mbox_stop(struct rc_mbox *mb);

/* True while the owner's read is in flight (after rc_mbox_stop() its
 * cancellation completes in a later turn). */
static inline bool rc_mbox_busy(const struct rc_mbox *mb)
{
	return mb->armed;
}

/* Any thread: pushes node n (ownership passes to the mailbox's owner).
 * Returns true when the mailbox was empty before this push: then the
 * poster must wake the owner with rc_mbox_wake(), now or later (e.g. at
 * the end of its own loop turn, once for several posts); the owner may not
 * look before that. */
bool rc_mbox_post(struct rc_mbox *mb, struct rc_mbox_node *n);

/* Any thread: wakes the owner (one eventfd write). Returns 0 or -errno. */
int rc_mbox_wake(struct rc_mbox *mb);

/* On loop `from`'s thread: wakes the owner by a message from from's ring
 * to the owner's (sent with from's next submission) when both can, else
 * as rc_mbox_wake(). A message the kernel fails completes on_fail on
 * `from` (rc_loop_msg), whose callback must then wake the owner with
 * rc_mbox_wake(): a lost wake-up would leave the mailbox non-empty, so no
 * later post would wake it again. Returns 0 or -errno. */
int rc_mbox_wake_from(struct rc_mbox *mb, struct rc_loop *from, struct rc_io *on_fail);

/* Owner only (or any thread once the owner has stopped for good): takes
 * every node posted so far, oldest first (linked by next, NULL-ended), or
 * NULL. */
struct rc_mbox_node *rc_mbox_take(struct rc_mbox *mb);

/* Closes the eventfd. The owner's read must be over and nobody may post
 * any more; nodes still in the mailbox are the caller's to take first. */
void rc_mbox_close(struct rc_mbox *mb);

#endif
