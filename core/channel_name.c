/* Channel names: kept apart from channel.c because the pure parsers (and
 * their fuzzers) need this check without the rest of core. */
#include "channel.h"

bool rc_channel_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > RC_CHANNEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		/* Only these characters: names appear unescaped in URLs,
		 * metric labels and JSON. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}
