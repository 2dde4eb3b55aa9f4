/* The loop options of core's unit tests that exercise a backend: meson
 * runs each of those tests twice, once as is (io_uring) and once with
 * RINGCAST_BACKEND=epoll (tests/unit/meson.build). io_uring is asked for
 * explicitly, so a machine without it fails the io_uring run rather than
 * passing it on epoll. */
#ifndef RC_TEST_BACKEND_H
#define RC_TEST_BACKEND_H

#include <stdlib.h>
#include <string.h>

#include "loop.h"

static inline const struct rc_loop_opts *test_loop_opts(void)
{
	static struct rc_loop_opts o;
	const char *b = getenv("RINGCAST_BACKEND");

	o.backend = b && strcmp(b, "epoll") == 0 ? RC_LOOP_EPOLL : RC_LOOP_IO_URING;
	return &o;
}

/* "io_uring" or "epoll": what test_loop_opts() asks for. */
static inline const char *test_backend(void)
{
	return test_loop_opts()->backend == RC_LOOP_EPOLL ? "epoll" : "io_uring";
}

#endif
