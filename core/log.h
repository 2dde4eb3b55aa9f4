/* Minimal leveled logging to stderr. stdout is reserved for the machine-read
 * start-up lines ("listen ...", "ready"). */
#ifndef RC_LOG_H
#define RC_LOG_H

enum rc_log_level { RC_LOG_ERROR = 0, RC_LOG_WARN, RC_LOG_INFO, RC_LOG_DEBUG };

/* Sets the most verbose level printed (process-wide: logging is the one
 * piece of state shared by every loop, and it is configuration, not loop state). */
void rc_log_set_level(enum rc_log_level level);

/* Prints one line "ringcast: <level>: <message>" to stderr when level is enabled. */
void rc_log(enum rc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define rc_log_error(...) rc_log(RC_LOG_ERROR, __VA_ARGS__)
#define rc_log_warn(...) rc_log(RC_LOG_WARN, __VA_ARGS__)
#define rc_log_info(...) rc_log(RC_LOG_INFO, __VA_ARGS__)
#define rc_log_debug(...) rc_log(RC_LOG_DEBUG, __VA_ARGS__)

#endif
