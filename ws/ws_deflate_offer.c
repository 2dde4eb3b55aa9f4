/* permessage-deflate negotiation. See ws_deflate_offer.h.
 *
 * The header's grammar (RFC 6455 9.1, with RFC 7230's list and token
 * rules):
 *   Sec-WebSocket-Extensions = 1#extension
 *   extension = token *( OWS ";" OWS param )
 *   param     = token [ OWS "=" OWS ( token / quoted-string ) ]
 * Empty list elements (", ,") are allowed, as RFC 7230 7 asks a recipient
 * to accept. RFC 7692's parameters and what ringcast does with each:
 *   server_no_context_takeover   no value: fine (ringcast keeps none anyway)
 *   client_no_context_takeover   no value: fine (ringcast asks for it anyway)
 *   server_max_window_bits=N     8..15: only 15 (the window ringcast uses)
 *   client_max_window_bits[=N]   8..15 or none: fine (no limit is set)
 * Anything else, a value where none belongs, or a parameter twice declines
 * the offer. */
#include "ws_deflate_offer.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define NAME "permessage-deflate"
#define VALUE_MAX 16	/* longer values are no valid window size anyway */

struct cur {
	const char *p, *end;
};

static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void ows(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static bool at(const struct cur *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

/* A token at c: its start and length (0: none there). */
static size_t token(struct cur *c, const char **start)
{
	*start = c->p;
	while (c->p < c->end && is_tchar((unsigned char)*c->p))
		c->p++;
	return (size_t)(c->p - *start);
}

/* A quoted-string at c (after its opening quote), unescaped into
 * buf[0..VALUE_MAX); *len gets its length, or VALUE_MAX + 1 when longer.
 * Returns 0, or -EINVAL when unterminated or holding a control byte. */
static int quoted(struct cur *c, char *buf, size_t *len)
{
	size_t n = 0;

	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch == '"') {
			*len = n;
			return 0;
		}
		if (ch == '\\') {
			if (c->p >= c->end)
				return -EINVAL;
			ch = (unsigned char)*c->p++;
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return -EINVAL;
		if (n < VALUE_MAX)
			buf[n] = (char)ch;
		if (n <= VALUE_MAX)
			n++;
	}
	return -EINVAL;
}

static bool equals_nocase(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* A window size as RFC 7692 7.1.2 writes it: 8..15, no leading zero. */
static int window_bits(const char *v, size_t len)
{
	if (len == 1 && v[0] >= '8' && v[0] <= '9')
		return v[0] - '0';
	if (len == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + v[1] - '0';
	return -1;
}

enum {
	P_SERVER_NCT = 1u << 0,
	P_CLIENT_NCT = 1u << 1,
	P_SERVER_BITS = 1u << 2,
	P_CLIENT_BITS = 1u << 3,
};

/* One parameter of a permessage-deflate offer: whether the offer is still
 * acceptable with it. seen: the parameters met so far. */
static bool param_ok(const char *name, size_t nlen, bool has_value, const char *v, size_t vlen,
		     unsigned *seen)
{
	unsigned bit;

	if (equals_nocase(name, nlen, "server_no_context_takeover"))
		bit = P_SERVER_NCT;
	else if (equals_nocase(name, nlen, "client_no_context_takeover"))
		bit = P_CLIENT_NCT;
	else if (equals_nocase(name, nlen, "server_max_window_bits"))
		bit = P_SERVER_BITS;
	else if (equals_nocase(name, nlen, "client_max_window_bits"))
		bit = P_CLIENT_BITS;
	else
		return false;
	if (*seen & bit)
		return false;
	*seen |= bit;
	switch (bit) {
	case P_SERVER_NCT:
	case P_CLIENT_NCT:
		return !has_value;
	case P_SERVER_BITS:
		/* The client caps the server's window: ringcast compresses
		 * once for everyone with 15 bits, so only 15 will do. */
		return has_value && window_bits(v, vlen) == 15;
	default:
		return !has_value || window_bits(v, vlen) > 0;
	}
}

/* One parameter at c (after ";" and OWS). Returns 0, or -EINVAL. */
static int parse_param(struct cur *c, bool deflate, bool *ok, unsigned *seen)
{
	const char *name, *v = NULL;
	char buf[VALUE_MAX];
	size_t nlen = token(c, &name), vlen = 0;
	bool has_value = false;

	if (!nlen)
		return -EINVAL;
	ows(c);
	if (at(c, '=')) {
		c->p++;
		ows(c);
		has_value = true;
		if (at(c, '"')) {
			c->p++;
			if (quoted(c, buf, &vlen) < 0)
				return -EINVAL;
			/* RFC 7692 7.1.2: a quoted value must be a token too. */
			for (size_t i = 0; i < vlen && i < VALUE_MAX; i++)
				if (!is_tchar((unsigned char)buf[i])) {
					vlen = VALUE_MAX + 1;
					break;
				}
			v = buf;
			if (vlen == 0)
				vlen = VALUE_MAX + 1;	/* "" is no value */
		} else {
			vlen = token(c, &v);
			if (!vlen)
				return -EINVAL;
		}
	}
	if (deflate && *ok)
		*ok = vlen <= VALUE_MAX && param_ok(name, nlen, has_value, v, vlen, seen);
	return 0;
}

int rc_ws_deflate_negotiate(const char *v, size_t len, struct rc_ws_deflate *out)
{
	struct cur c = { v, v + len };
	bool chosen = false, server_bits = false;

	out->on = false;
	out->server_max_window_bits = false;
	for (;;) {
		const char *name;
		size_t nlen;
		bool deflate, ok;
		unsigned seen = 0;

		ows(&c);
		if (c.p >= c.end)
			break;
		if (at(&c, ',')) {
			c.p++;
			continue;
		}
		nlen = token(&c, &name);
		if (!nlen)
			return -EINVAL;
		deflate = equals_nocase(name, nlen, NAME);
		ok = deflate;
		for (;;) {
			ows(&c);
			if (!at(&c, ';'))
				break;
			c.p++;
			ows(&c);
			if (parse_param(&c, deflate, &ok, &seen) < 0)
				return -EINVAL;
		}
		if (c.p < c.end && !at(&c, ','))
			return -EINVAL;
		if (ok && !chosen) {
			chosen = true;
			/* RFC 7692 7.1.2.1: accepting the parameter is saying it. */
			server_bits = (seen & P_SERVER_BITS) != 0;
		}
	}
	out->on = chosen;
	out->server_max_window_bits = server_bits;
	return 0;
}

int rc_ws_deflate_response(const struct rc_ws_deflate *d, char *buf, size_t cap)
{
	static const char line[] = "Sec-WebSocket-Extensions: " NAME
				   "; server_no_context_takeover; client_no_context_takeover";
	static const char bits[] = "; server_max_window_bits=15";
	size_t n = sizeof(line) - 1 + (d->server_max_window_bits ? sizeof(bits) - 1 : 0) + 2;

	if (!d->on) {
		if (cap)
			buf[0] = '\0';
		return 0;
	}
	if (cap < n + 1)
		return -ENOSPC;
	memcpy(buf, line, sizeof(line) - 1);
	if (d->server_max_window_bits)
		memcpy(buf + sizeof(line) - 1, bits, sizeof(bits) - 1);
	memcpy(buf + n - 2, "\r\n", 3);
	return (int)n;
}
