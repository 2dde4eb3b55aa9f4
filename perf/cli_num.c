/* Number arguments shared by the tools, so both refuse the same inputs. */
#include "cli_num.h"

#include <errno.h>
#include <stdlib.h>

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}
