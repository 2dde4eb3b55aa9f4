#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum rc_log_level max_level = RC_LOG_INFO;

void rc_log_set_level(enum rc_log_level level)
{
	max_level = level;
}

void rc_log(enum rc_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from concurrent processes sharing a
	 * log file do not interleave mid-line. */
	fprintf(stderr, "ringcast: %s: %s\n", names[level], line);
}
