/* A listening TCP socket with a multishot accept, paused for a moment when
 * the process runs out of descriptors instead of spinning on EMFILE. */
#ifndef RC_LISTENER_H
#define RC_LISTENER_H

#include <stdbool.h>

#include "config.h"
#include "loop.h"

struct rc_server;

struct rc_listener {
	struct rc_io io;
	struct rc_timer backoff;	/* after EMFILE/ENFILE */
	struct rc_server *srv;
	/* Takes ownership of an accepted socket. */
	void (*on_accept)(struct rc_server *srv, int fd);
	int fd;				/* -1 when not open */
	bool armed;
	bool timer_armed;
	struct rc_sockaddr addr;	/* where it listens (the port chosen for :0) */
};

/* Binds and listens on addr (logged on failure). Returns 0 or -errno. */
int rc_listener_open(struct rc_server *srv, struct rc_listener *l, const struct rc_sockaddr *addr,
		     void (*on_accept)(struct rc_server *srv, int fd));

/* Arms the multishot accept. Returns 0 or -errno. */
int rc_listener_arm(struct rc_listener *l);

/* Stops accepting: the listening socket refuses new clients at once
 * instead of leaving them in a backlog nobody reads. */
void rc_listener_stop(struct rc_listener *l);

/* Closes the socket (when the loop is gone). */
void rc_listener_close(struct rc_listener *l);

#endif
