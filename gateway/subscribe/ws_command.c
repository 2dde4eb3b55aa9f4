#include "ws_command.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "channel.h"
#include "num.h"

static size_t skip_ws(const uint8_t *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

/* A JSON string without escapes (channel names need none) at s[i]: sets
 * the slice and returns the index after its closing quote, or 0. */
static size_t plain_string(const uint8_t *s, size_t len, size_t i, const uint8_t **str,
			   size_t *str_len)
{
	size_t start;

	if (i >= len || s[i] != '"')
		return 0;
	start = ++i;
	while (i < len && s[i] != '"') {
		if (s[i] == '\\' || s[i] < 0x20)
			return 0;
		i++;
	}
	if (i >= len)
		return 0;
	*str = s + start;
	*str_len = i - start;
	return i + 1;
}

/* A JSON number of digits only at s[i] (what "since" takes): sets *v and
 * returns the index after it, or 0. */
static size_t plain_number(const uint8_t *s, size_t len, size_t i, uint64_t *v)
{
	size_t start = i;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == start || rc_num_parse_u64n((const char *)s + start, i - start, 0, UINT64_MAX, v) < 0)
		return 0;
	return i;
}

int rc_wscmd_decode(const uint8_t *msg, size_t len, struct rc_wscmd *out)
{
	bool have_op = false, have_since = false;
	size_t i = skip_ws(msg, len, 0);

	memset(out, 0, sizeof(*out));
	if (i >= len || msg[i] != '{')
		return -EINVAL;
	i++;
	/* Members: "key":value, separated by commas; at most four. */
	for (int m = 0; m < 4; m++) {
		const uint8_t *key, *val = NULL;
		size_t kl, vl = 0;

		i = plain_string(msg, len, skip_ws(msg, len, i), &key, &kl);
		if (!i)
			return -EINVAL;
		i = skip_ws(msg, len, i);
		if (i >= len || msg[i] != ':')
			return -EINVAL;
		i = skip_ws(msg, len, i + 1);
		if (kl == 5 && memcmp(key, "since", 5) == 0) {
			if (have_since)
				return -EINVAL;
			i = plain_number(msg, len, i, &out->since);
			have_since = true;
		} else {
			i = plain_string(msg, len, i, &val, &vl);
		}
		if (!i)
			return -EINVAL;
		if (!val) {
			/* since: done above */
		} else if (!have_op && ((kl == 3 && memcmp(key, "sub", 3) == 0) ||
					(kl == 5 && memcmp(key, "unsub", 5) == 0) ||
					(kl == 2 && memcmp(key, "to", 2) == 0))) {
			if (!rc_channel_name_valid((const char *)val, vl))
				return -EINVAL;
			out->op = kl == 3 ? RC_WSCMD_SUB : kl == 5 ? RC_WSCMD_UNSUB : RC_WSCMD_TO;
			out->name = (const char *)val;
			out->name_len = vl;
			have_op = true;
		} else if (!out->token && kl == 5 && memcmp(key, "token", 5) == 0) {
			out->token = (const char *)val;
			out->token_len = vl;
		} else if (!out->epoch && kl == 5 && memcmp(key, "epoch", 5) == 0) {
			out->epoch = (const char *)val;
			out->epoch_len = vl;
		} else {
			return -EINVAL;
		}
		i = skip_ws(msg, len, i);
		if (i < len && msg[i] == ',' && m < 3) {
			i++;
			continue;
		}
		break;
	}
	if (!have_op || i >= len || msg[i] != '}' || skip_ws(msg, len, i + 1) != len)
		return -EINVAL;
	/* A position is both halves, and only for a join. */
	if (have_since != (out->epoch != NULL) || (have_since && out->op != RC_WSCMD_SUB))
		return -EINVAL;
	out->resume = have_since;
	if (out->op == RC_WSCMD_TO && out->token)
		return -EINVAL;
	return 0;
}

int rc_wscmd_parse(const uint8_t *msg, size_t len, enum rc_wscmd_op *op, const char **name,
		   size_t *name_len)
{
	struct rc_wscmd cmd;

	if (rc_wscmd_decode(msg, len, &cmd) < 0 || cmd.token || cmd.resume)
		return -EINVAL;
	*op = cmd.op;
	*name = cmd.name;
	*name_len = cmd.name_len;
	return 0;
}
