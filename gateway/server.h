/* The server's wiring: the process's state, one loop's state, and what
 * runs them: start-up, the signals, the timer, shutdown. The state itself
 * is defined in base/state.h, below every folder. */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include "config.h"
#include "state.h"

/* Sets up what the process shares: a copy of cfg (with --max-memory
 * resolved from the machine), the memory bound, the per-address table and
 * the --static files. Returns 0 or -errno (logged). */
int rc_process_init(struct rc_process *proc, const struct rc_config *cfg);

/* Frees what rc_process_init() made, after every loop is gone. */
void rc_process_fini(struct rc_process *proc);

/* Creates a loop of proc and binds every socket: worker 0 of proc's
 * workers. Returns 0 or -errno (logged). */
int rc_server_init(struct rc_server *srv, struct rc_process *proc);

/* The same for worker id (0 .. proc->nworkers - 1), on the thread that
 * will run it: worker 0 binds the configured addresses and reads the
 * signals, the others bind the ports worker 0 got; UDP port i is opened by
 * worker i mod N. On failure srv is freed already. */
int rc_server_init_worker(struct rc_server *srv, struct rc_process *proc, uint32_t id);

/* With several workers: starts every worker on its own thread (one after
 * the other), prints the "listen" lines and "ready" once all are set up,
 * serves until SIGINT/SIGTERM has stopped them all, logs the process's
 * totals, and frees the workers. Returns 0 or -errno. */
int rc_process_run(struct rc_process *proc);

/* Prints the "listen ..." lines and "ready" to stdout. */
void rc_server_announce(const struct rc_server *srv);

/* Serves until SIGINT/SIGTERM, then shuts down gracefully. Returns 0 or -errno. */
int rc_server_run(struct rc_server *srv);

/* Frees the loop's state. */
void rc_server_fini(struct rc_server *srv);

#endif
