/* ringcast: the program. Parses the command line, sets up the process's
 * state and runs one loop on this thread, or --workers loops on threads of
 * their own. */
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rc_paths.h"
#include "rc_version.h"
#include "server.h"

/* --workers N > 1: the process's state here, the loops on their threads. */
static int run_workers(const struct rc_config *cfg)
{
	struct rc_process *proc = calloc(1, sizeof(*proc));
	int ret;

	if (!proc) {
		rc_log_error("out of memory");
		return 1;
	}
	ret = rc_process_init(proc, cfg);
	if (ret < 0) {
		rc_log_error("start-up failed: %s", strerror(-ret));
		free(proc);
		return 1;
	}
	ret = rc_process_run(proc);
	rc_process_fini(proc);
	free(proc);
	if (ret < 0)
		rc_log_error("workers: %s", strerror(-ret));
	return ret < 0 ? 1 : 0;
}

/* --workers auto: one per CPU this process may run on (its affinity mask:
 * what taskset, cpusets and container CPU sets leave it), at most
 * RC_CONFIG_WORKERS_MAX; 1 when the mask cannot be read. */
static uint32_t auto_workers(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return 1;
	return n > RC_CONFIG_WORKERS_MAX ? RC_CONFIG_WORKERS_MAX : (uint32_t)n;
}

int main(int argc, char **argv)
{
	struct rc_process *proc;
	struct rc_server *srv;
	struct rc_config cfg;
	char err[256];
	int ret;

	rc_config_defaults(&cfg);
	/* A --config file is read first, so the command line overrides it. */
	bool have_config = false;
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		if (path)
			have_config = true;
		if (path && rc_config_load(&cfg, path, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringcast: %s\n", err);
			return 2;
		}
	}
#ifdef RC_DEFAULT_CONFIG
	/* A packaged build reads its configuration file unless told another
	 * one; a missing file means the built-in defaults. */
	if (!have_config && access(RC_DEFAULT_CONFIG, F_OK) == 0 &&
	    rc_config_load(&cfg, RC_DEFAULT_CONFIG, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcast: %s\n", err);
		return 2;
	}
#else
	(void)have_config;
#endif
	if (rc_config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcast: %s\nTry 'ringcast --help'.\n", err);
		return 2;
	}
	rc_config_finish(&cfg);
	if (cfg.show_help) {
		rc_config_usage(argv[0]);
		return 0;
	}
	if (cfg.show_version) {
		printf("ringcast %s\n", RC_VERSION);
		return 0;
	}
	rc_log_set_level((enum rc_log_level)cfg.log_level);
	if (cfg.workers == 0) {
		cfg.workers = auto_workers();
		rc_log_info("workers: %u (auto: one per CPU of the affinity mask)", cfg.workers);
	} else {
		rc_log_info("workers: %u", cfg.workers);
	}
	if (cfg.workers > 1)
		return run_workers(&cfg);
	/* Both large: not on the stack. */
	proc = calloc(1, sizeof(*proc));
	srv = calloc(1, sizeof(*srv));
	if (!proc || !srv) {
		rc_log_error("out of memory");
		free(proc);
		free(srv);
		return 1;
	}
	ret = rc_process_init(proc, &cfg);
	if (ret == 0) {
		ret = rc_server_init(srv, proc);
		if (ret < 0)
			rc_process_fini(proc);
	}
	if (ret < 0) {
		rc_log_error("start-up failed: %s", strerror(-ret));
		free(srv);
		free(proc);
		return 1;
	}
	rc_server_announce(srv);
	ret = rc_server_run(srv);
	rc_server_fini(srv);
	rc_process_fini(proc);
	free(srv);
	free(proc);
	return ret < 0 ? 1 : 0;
}
