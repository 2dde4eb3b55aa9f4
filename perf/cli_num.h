/* Number arguments of the command-line tools (ringcast-pub, ringcast-sub). */
#ifndef RC_PERF_CLI_NUM_H
#define RC_PERF_CLI_NUM_H

#include <stdint.h>

/* Parses s, all of it, as a decimal unsigned integer (no sign, no
 * blanks) into *out. Returns 0, or -EINVAL (out of range included). */
int cli_parse_u64(const char *s, uint64_t *out);

#endif
