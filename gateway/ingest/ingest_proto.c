/* TCP ingest protocol. See ingest_proto.h. */
#include "ingest_proto.h"

#include <errno.h>
#include <string.h>

#include "channel.h"

/* Next space-separated token of s[*pos..len), or NULL. */
static const char *next_token(const char *s, size_t len, size_t *pos, size_t *tok_len)
{
	size_t i = *pos;
	size_t start;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len)
		return NULL;
	start = i;
	while (i < len && s[i] != ' ')
		i++;
	*pos = i;
	*tok_len = i - start;
	return s + start;
}

int rc_pub_parse(const char *line, size_t len, struct rc_pub_request *req, const char **why)
{
	const char *tok;
	size_t pos = 0;
	size_t tl;
	bool mode_seen = false;

	memset(req, 0, sizeof(*req));
	if (len && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++) {
		/* Control bytes never belong in the line; NUL would also cut
		 * the names short when printed. */
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			*why = "bad argument";
			return -EINVAL;
		}
	}
	tok = next_token(line, len, &pos, &tl);
	if (!tok || tl != 3 || memcmp(tok, "PUB", 3) != 0) {
		*why = "expected PUB";
		return -EINVAL;
	}
	tok = next_token(line, len, &pos, &tl);
	if (!tok || !rc_channel_name_valid(tok, tl)) {
		*why = "bad channel";
		return -EINVAL;
	}
	req->channel = tok;
	req->channel_len = tl;
	req->mode = RC_PUB_RAW;
	while ((tok = next_token(line, len, &pos, &tl))) {
		if (!mode_seen && !req->key && tl == 3 && memcmp(tok, "raw", 3) == 0) {
			mode_seen = true;
		} else if (!mode_seen && !req->key && tl == 6 && memcmp(tok, "framed", 6) == 0) {
			req->mode = RC_PUB_FRAMED;
			mode_seen = true;
		} else if (!req->key && tl > 4 && memcmp(tok, "key=", 4) == 0) {
			req->key = tok + 4;
			req->key_len = tl - 4;
		} else {
			*why = mode_seen || req->key ? "bad argument" : "bad mode";
			return -EINVAL;
		}
	}
	return 0;
}

void rc_framed_init(struct rc_framed *f, uint32_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

size_t rc_framed_feed(struct rc_framed *f, const uint8_t *buf, size_t len,
		      struct rc_framed_event *ev)
{
	size_t used = 0;
	size_t take;

	memset(ev, 0, sizeof(*ev));
	if (f->failed) {
		ev->error = true;
		return 0;
	}
	if (!f->in_msg) {
		bool from_here = f->hdr_have == 0;

		while (f->hdr_have < 4 && used < len)
			f->hdr[f->hdr_have++] = buf[used++];
		if (f->hdr_have < 4)
			return used;	/* ready stays false: need more input */
		f->msg_len = (uint32_t)f->hdr[0] << 24 | (uint32_t)f->hdr[1] << 16 |
			     (uint32_t)f->hdr[2] << 8 | f->hdr[3];
		f->hdr_have = 0;
		if (f->msg_len > f->max) {
			f->failed = true;
			ev->error = true;
			ev->msg_len = f->msg_len;
			return used;
		}
		f->in_msg = true;
		f->msg_have = 0;
		ev->first = true;
		ev->prefix_here = from_here;
	}
	take = f->msg_len - f->msg_have;
	if (take > len - used)
		take = len - used;
	ev->ready = true;
	ev->data = buf + used;
	ev->len = take;
	ev->msg_len = f->msg_len;
	f->msg_have += (uint32_t)take;
	used += take;
	if (f->msg_have == f->msg_len) {
		ev->last = true;
		f->in_msg = false;
	}
	return used;
}

int rc_mux_parse_key(const uint8_t *dgram, size_t len, const char **name, size_t *name_len,
		     const char **key, size_t *key_len, size_t *payload_off)
{
	size_t n, m;

	if (len < 3 || (dgram[0] != RC_MUX_MAGIC && dgram[0] != RC_MUX_MAGIC_KEYED))
		return -EINVAL;
	n = dgram[1];
	if (n < 1 || n > RC_CHANNEL_NAME_MAX || 2 + n > len ||
	    !rc_channel_name_valid((const char *)dgram + 2, n))
		return -EINVAL;
	*name = (const char *)dgram + 2;
	*name_len = n;
	*key = NULL;
	*key_len = 0;
	*payload_off = 2 + n;
	if (dgram[0] == RC_MUX_MAGIC)
		return 0;
	if (3 + n > len)
		return -EINVAL;
	m = dgram[2 + n];
	if (m < 1 || m > RC_MUX_KEY_MAX || 3 + n + m > len)
		return -EINVAL;
	*key = (const char *)dgram + 3 + n;
	*key_len = m;
	*payload_off = 3 + n + m;
	return 0;
}

int rc_mux_parse(const uint8_t *dgram, size_t len, const char **name, size_t *name_len,
		 size_t *payload_off)
{
	const char *key;
	size_t kl;

	if (len && dgram[0] != RC_MUX_MAGIC)
		return -EINVAL;
	return rc_mux_parse_key(dgram, len, name, name_len, &key, &kl, payload_off);
}
