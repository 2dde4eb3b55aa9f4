/* ?name=value in a request target's query. Pure. */
#include <string.h>

#include "http.h"
#include "num.h"

static const char *query_next(const char *p, const char *end)
{
	const char *amp = memchr(p, '&', (size_t)(end - p));

	return amp ? amp + 1 : NULL;
}

bool rc_http_query_string(const struct rc_http_target *t, const char *name, const char **val,
			  size_t *val_len)
{
	const char *end = t->query ? t->query + t->query_len : NULL;
	size_t nl = strlen(name);

	for (const char *p = t->query; p; p = query_next(p, end)) {
		if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
			const char *amp;

			p += nl + 1;
			amp = memchr(p, '&', (size_t)(end - p));
			*val = p;
			*val_len = (size_t)((amp ? amp : end) - p);
			return true;
		}
	}
	return false;
}

size_t rc_http_query_number(const struct rc_http_target *t, const char *name, size_t dflt,
			    size_t max)
{
	const char *val;
	size_t len, digits = 0;
	uint64_t v;

	if (!rc_http_query_string(t, name, &val, &len))
		return dflt;
	/* Leading digits count (?limit=50x is 50); a number too large for the
	 * parser is still a number: clamped to max. */
	while (digits < len && val[digits] >= '0' && val[digits] <= '9')
		digits++;
	if (!digits)
		return dflt;
	if (rc_num_parse_u64n(val, digits, 0, max, &v) < 0)
		return max;
	return (size_t)v;
}
