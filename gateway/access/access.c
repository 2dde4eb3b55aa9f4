/* Access control checks. See access.h. */
#include "access.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "http_parse.h"
#include "config.h"
#include "token.h"

const char *rc_refuse_name(int reason)
{
	static const char *const names[RC_REFUSE_REASONS] = {
		"token_missing", "token_invalid", "token_expired", "key_missing", "key_invalid",
		"origin", "per_ip_limit", "subscriber_limit", "udp_source", "mux_key",
	};

	return reason >= 0 && reason < RC_REFUSE_REASONS ? names[reason] : "?";
}

/* A NUL-terminated copy of a channel name slice, for the config lookups. */
static bool name_copy(char out[RC_CHANNEL_NAME_MAX + 1], const char *name, size_t len)
{
	if (len > RC_CHANNEL_NAME_MAX)
		return false;
	memcpy(out, name, len);
	out[len] = '\0';
	return true;
}

static int refuse(const struct rc_access *a, int reason)
{
	a->refused[reason]++;
	return reason;
}

int rc_access_token(const struct rc_access *a, const char *name, size_t len, const char *tok,
		    size_t tok_len, bool *uplink)
{
	bool up_ok = false;
	char ch[RC_CHANNEL_NAME_MAX + 1];
	const uint8_t *secret;
	struct timespec now;
	size_t sl = 0;
	int ret;

	if (!name_copy(ch, name, len))
		return refuse(a, RC_REFUSE_TOKEN_INVALID);
	if (!uplink)
		uplink = &up_ok;
	*uplink = false;
	secret = rc_config_token_secret(a->cfg, ch, &sl);
	if (!secret) {
		*uplink = true;
		return RC_ACCESS_OK;
	}
	if (!tok)
		return refuse(a, RC_REFUSE_TOKEN_MISSING);
	/* Wall-clock time: token expiries are unix seconds minted elsewhere. */
	clock_gettime(CLOCK_REALTIME, &now);
	ret = rc_token_verify(tok, tok_len, secret, sl, name, len, (uint64_t)now.tv_sec, NULL);
	if (ret == -EACCES) {
		/* An uplink token admits its holder too. */
		ret = rc_token_verify_scope(RC_TOKEN_UPLINK, tok, tok_len, secret, sl, name, len,
					    (uint64_t)now.tv_sec, NULL);
		*uplink = ret == 0;
	}
	if (ret == 0)
		return RC_ACCESS_OK;
	return refuse(a, ret == -ETIME ? RC_REFUSE_TOKEN_EXPIRED : RC_REFUSE_TOKEN_INVALID);
}

int rc_access_key(const struct rc_access *a, const char *name, size_t len, const char *key,
		  size_t key_len)
{
	char ch[RC_CHANNEL_NAME_MAX + 1];
	const char *want;

	if (!name_copy(ch, name, len))
		return refuse(a, RC_REFUSE_KEY_INVALID);
	want = rc_config_pub_key(a->cfg, ch);
	if (!want)
		return RC_ACCESS_OK;
	if (!key)
		return refuse(a, RC_REFUSE_KEY_MISSING);
	if (!rc_token_secret_equal(want, strlen(want), key, key_len))
		return refuse(a, RC_REFUSE_KEY_INVALID);
	return RC_ACCESS_OK;
}

bool rc_access_full(const struct rc_access *a, const char *name, size_t len)
{
	char ch[RC_CHANNEL_NAME_MAX + 1];
	const struct rc_channel *c;
	uint32_t max;

	if (!name_copy(ch, name, len))
		return false;
	max = rc_config_max_subscribers(a->cfg, ch);
	if (!max)
		return false;
	/* Every worker's subscribers count: the registry has them all. */
	if (a->hub->reg) {
		if (rc_chanreg_count_subs(a->hub->reg, name, len) < max)
			return false;
	} else {
		c = rc_hub_find(a->hub, name, len);
		if (!c || c->nsubs < max)
			return false;
	}
	refuse(a, RC_REFUSE_SUBSCRIBERS);
	return true;
}

bool rc_access_protocol_token(const struct rc_http_request *req, const char **tok, size_t *len,
			      bool *offered_ringcast)
{
	const size_t pl = strlen(RC_ACCESS_PROTOCOL_TOKEN);
	bool found = false;

	*offered_ringcast = false;
	/* The header is a comma-separated list and may come on several lines. */
	for (size_t h = 0; h < req->num_headers; h++) {
		const struct rc_http_header *hd = &req->headers[h];
		size_t i = 0;

		if (!rc_http_equals_nocase(hd->name, hd->name_len, "Sec-WebSocket-Protocol"))
			continue;
		while (i < hd->value_len) {
			size_t start, end;

			while (i < hd->value_len && (hd->value[i] == ' ' || hd->value[i] == '\t' ||
						     hd->value[i] == ','))
				i++;
			start = i;
			while (i < hd->value_len && hd->value[i] != ',' && hd->value[i] != ' ' &&
			       hd->value[i] != '\t')
				i++;
			end = i;
			if (end - start == strlen(RC_ACCESS_PROTOCOL) &&
			    memcmp(hd->value + start, RC_ACCESS_PROTOCOL, end - start) == 0)
				*offered_ringcast = true;
			else if (!found && end - start > pl &&
				 memcmp(hd->value + start, RC_ACCESS_PROTOCOL_TOKEN, pl) == 0) {
				*tok = hd->value + start + pl;
				*len = end - start - pl;
				found = true;
			}
		}
	}
	return found;
}
