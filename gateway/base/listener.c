/* Listening sockets and their multishot accept. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

#define ACCEPT_BACKOFF_MS 100
#define LISTEN_BACKLOG 4096

int rc_listener_arm(struct rc_listener *l)
{
	int ret = rc_loop_accept_multishot(l->srv->loop, &l->io, l->fd);

	if (ret == 0)
		l->armed = true;
	return ret;
}

static void backoff_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_listener *l = (struct rc_listener *)((char *)io -
						       offsetof(struct rc_listener, backoff.io));

	(void)loop;
	(void)cqe;
	l->timer_armed = false;
	if (!l->srv->stopping && !l->armed && rc_listener_arm(l) < 0)
		rc_log_error("accept: re-arming failed");
}

static void accept_done(struct rc_loop *loop, struct rc_io *io, const struct rc_cqe *cqe)
{
	struct rc_listener *l = (struct rc_listener *)io;
	struct rc_server *srv = l->srv;

	if (cqe->res >= 0) {
		if (srv->stopping)
			close(cqe->res);
		else
			l->on_accept(srv, cqe->res);
	} else if (cqe->res != -ECANCELED) {
		srv->stats.accept_errors++;
	}
	if (cqe->flags & RC_CQE_MORE) {
		/* Out of fds while still armed: stop accepting for a moment
		 * rather than being woken for every pending connection. */
		if (cqe->res == -EMFILE || cqe->res == -ENFILE)
			rc_loop_cancel(loop, io);
		return;
	}
	l->armed = false;
	if (srv->stopping)
		return;
	if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM ||
	    cqe->res == -ENOBUFS) {
		/* The pending connection stays in the backlog; retrying at once
		 * would spin. Existing clients keep being served meanwhile. */
		rc_log_warn("accept: %s; pausing %d ms", strerror(-cqe->res), ACCEPT_BACKOFF_MS);
		if (!l->timer_armed && rc_loop_timer_arm(loop, &l->backoff, ACCEPT_BACKOFF_MS) == 0)
			l->timer_armed = true;
		return;
	}
	if (rc_listener_arm(l) < 0)
		rc_log_error("accept: re-arming failed");
}

void rc_listener_stop(struct rc_listener *l)
{
	if (l->fd < 0)
		return;
	if (l->armed)
		rc_loop_cancel(l->srv->loop, &l->io);
	if (l->timer_armed)
		rc_loop_cancel(l->srv->loop, &l->backoff.io);
	shutdown(l->fd, SHUT_RDWR);
}

void rc_listener_close(struct rc_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

int rc_listener_open(struct rc_server *srv, struct rc_listener *l, const struct rc_sockaddr *addr,
		     void (*on_accept)(struct rc_server *srv, int fd))
{
	char text[80];
	int one = 1;
	int ret;

	l->srv = srv;
	l->on_accept = on_accept;
	l->io.fn = accept_done;
	l->backoff.io.fn = backoff_done;
	l->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		ret = -errno;
		goto fail_log;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Several workers: each has its own listening socket on the same
	 * port, and the kernel spreads new connections over them by a hash
	 * of the 4-tuple. Every socket of the group needs the option before
	 * its bind, the first one too. */
	if (srv->proc->nworkers > 1 &&
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto fail;
	}
	if (bind(l->fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    listen(l->fd, LISTEN_BACKLOG) < 0) {
		ret = -errno;
		goto fail;
	}
	l->addr.len = sizeof(l->addr.ss);
	if (getsockname(l->fd, (struct sockaddr *)&l->addr.ss, &l->addr.len) < 0) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	close(l->fd);
	l->fd = -1;
fail_log:
	rc_config_format_addr((const struct sockaddr *)&addr->ss, text, sizeof(text));
	rc_log_error("cannot listen on %s: %s", text, strerror(-ret));
	return ret;
}
