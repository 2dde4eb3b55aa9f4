#include "envelope.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "nats_proto.h"
#include "num.h"

ssize_t rc_envelope_encode(char *dst, size_t cap, const struct rc_envelope *e)
{
	struct rc_nats_hdr_builder b;
	char value[80];
	int n;

	if (!e->origin)
		return -EINVAL;
	n = snprintf(value, sizeof(value), "1 %016llx %016llx %llu %llu",
		     (unsigned long long)e->origin, (unsigned long long)e->epoch,
		     (unsigned long long)e->seq, (unsigned long long)e->time_ns);
	rc_nats_hdr_begin(&b, dst, cap);
	rc_nats_hdr_add(&b, "Rc", 2, value, (size_t)n);
	return rc_nats_hdr_end(&b);
}

/* Splits off the next blank-separated field of *p..end. */
static bool field(const char **p, const char *end, const char **f, size_t *n)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	*f = s;
	while (s < end && *s != ' ')
		s++;
	*n = (size_t)(s - *f);
	*p = s;
	return *n > 0;
}

static bool hex64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n != 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = rc_num_hex_digit(s[i]);

		if (d < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

int rc_envelope_decode(const char *hdrs, size_t len, struct rc_envelope *e)
{
	struct rc_nats_header h;
	const char *p, *end, *f;
	size_t n;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = rc_nats_hdr_get(hdrs, len, "Rc", 2, &h);
	if (ret <= 0)
		return ret;
	p = h.value;
	end = h.value + h.value_len;
	if (!field(&p, end, &f, &n))
		return -EBADMSG;
	if (n != 1 || f[0] != '1')
		return 0;	/* another version: not ours to read */
	if (!field(&p, end, &f, &n) || !hex64(f, n, &e->origin) || !e->origin ||
	    !field(&p, end, &f, &n) || !hex64(f, n, &e->epoch) ||
	    !field(&p, end, &f, &n) || rc_num_parse_u64n(f, n, 0, UINT64_MAX, &e->seq) < 0 ||
	    !field(&p, end, &f, &n) || rc_num_parse_u64n(f, n, 0, UINT64_MAX, &e->time_ns) < 0 ||
	    field(&p, end, &f, &n)) {
		memset(e, 0, sizeof(*e));
		return -EBADMSG;
	}
	return 1;
}
