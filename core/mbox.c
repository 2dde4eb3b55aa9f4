/* A loop's mailbox. See mbox.h. */
#include "mbox.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

int rc_mbox_open(struct rc_mbox *mb)
{
	memset(mb, 0, sizeof(*mb));
	atomic_init(&mb->head, NULL);
	atomic_init(&mb->msg_target, -1);
	mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return mb->efd < 0 ? -errno : 0;
}

static int arm(struct rc_mbox *mb)
{
	/* The kernel writes the eventfd's 8-byte count into mb->efd_val; the
	 * read's completion (mbox_woken) ends that, and re-arms. */
	int ret = rc_loop_read(mb->loop, &mb->io, mb->efd, &mb->efd_val, sizeof(mb->efd_val));

	mb->armed = ret == 0;
	return ret;
}

static void mbox_woken(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_mbox *mb = (struct rc_mbox *)((char *)io - offsetof(struct rc_mbox, io));

	(void)loop;
	mb->armed = false;
	if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -EINTR && cqe->res != -ECANCELED)
		rc_log_error("mailbox: eventfd read: %s", strerror(-cqe->res));
	if (cqe->res == (int)sizeof(mb->efd_val))
		mb->wakes++;
	if (mb->closing)
		return;
	/* Re-armed before the callback: a post made while it runs wakes the
	 * new read, so nothing posted after this take waits unseen. */
	if (arm(mb) < 0)
		rc_log_error("mailbox: cannot re-arm the eventfd read");
	mb->fn(mb, mb->arg);
}

/* A wake-up by message (rc_mbox_wake_from): no read to re-arm. */
static void mbox_messaged(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_mbox *mb = (struct rc_mbox *)((char *)io - offsetof(struct rc_mbox, msg_io));

	(void)loop;
	(void)cqe;
	if (mb->closing)
		return;
	mb->wakes++;
	mb->msg_wakes++;
	mb->fn(mb, mb->arg);
}

int rc_mbox_start(struct rc_mbox *mb, struct rc_loop *loop, rc_mbox_fn fn, void *arg)
{
	int ret;

	mb->loop = loop;
	mb->fn = fn;
	mb->arg = arg;
	mb->io.fn = mbox_woken;
	mb->msg_io.fn = mbox_messaged;
	mb->closing = false;
	ret = arm(mb);
	/* Release: a poster that reads the target also sees msg_io set up. */
	if (ret == 0)
		atomic_store_explicit(&mb->msg_target, rc_loop_msg_target(loop),
				      memory_order_release);
	return ret;
}

void rc_mbox_stop(struct rc_mbox *mb)
{
	/* Later wakes go to the eventfd (a message already in flight finds
	 * `closing` and does nothing). */
	atomic_store_explicit(&mb->msg_target, -1, memory_order_relaxed);
	mb->closing = true;
	if (mb->armed)
		rc_loop_cancel(mb->loop, &mb->io);
}

bool rc_mbox_post(struct rc_mbox *mb, struct rc_mbox_node *n)
{
	struct rc_mbox_node *old = atomic_load_explicit(&mb->head, memory_order_relaxed);

	/* Release on success: whatever the poster wrote into the node (and
	 * what it points at) happens-before the owner's acquire exchange in
	 * rc_mbox_take(). Relaxed on failure: nothing was published, the
	 * loop only retries with the head it saw. A push-only stack emptied
	 * by one exchange has no ABA hazard: if the head changed and came
	 * back, n->next is still exactly the node under n. */
	do
		n->next = old;
	while (!atomic_compare_exchange_weak_explicit(&mb->head, &old, n, memory_order_release,
						      memory_order_relaxed));
	return old == NULL;
}

int rc_mbox_wake(struct rc_mbox *mb)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is at its maximum, so the owner is due to wake
	 * anyway. */
	if (write(mb->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int rc_mbox_wake_from(struct rc_mbox *mb, struct rc_loop *from, struct rc_io *on_fail)
{
	/* Acquire: pairs with rc_mbox_start's release (msg_io is set). */
	int target = atomic_load_explicit(&mb->msg_target, memory_order_acquire);

	if (target >= 0 && rc_loop_msg_target(from) >= 0 &&
	    rc_loop_msg(from, target, &mb->msg_io, on_fail) == 0)
		return 0;
	return rc_mbox_wake(mb);
}

struct rc_mbox_node *rc_mbox_take(struct rc_mbox *mb)
{
	/* Acquire: pairs with the posters' release CAS (see rc_mbox_post). */
	struct rc_mbox_node *n = atomic_exchange_explicit(&mb->head, NULL, memory_order_acquire);
	struct rc_mbox_node *fifo = NULL;

	/* The stack is newest first: reversed, it is the order of the pushes,
	 * which keeps every poster's own order. */
	while (n) {
		struct rc_mbox_node *next = n->next;

		n->next = fifo;
		fifo = n;
		n = next;
	}
	return fifo;
}

void rc_mbox_close(struct rc_mbox *mb)
{
	if (mb->efd >= 0)
		close(mb->efd);
	mb->efd = -1;
}
