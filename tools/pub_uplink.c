#include "pub_uplink.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pub_uplink_feed(struct pub_uplink *u, const uint8_t *data, size_t len, pub_uplink_fn fn,
		    void *arg)
{
	while (len > 0) {
		size_t want = 4, take;

		if (u->have >= 4)
			want = 4 + (size_t)be32(u->buf);	/* checked when it came */
		take = want - u->have < len ? want - u->have : len;
		memcpy(u->buf + u->have, data, take);
		u->have += take;
		data += take;
		len -= take;
		if (want == 4 && u->have == 4 && (be32(u->buf) < 4 || be32(u->buf) > 4 + PUB_UPLINK_MAX)) {
			u->bad++;	/* told at once, not at the next byte */
			u->have = 0;	/* nothing of it is kept: the stream is lost */
			return -EPROTO;
		}
		if (want > 4 && u->have == want) {
			u->msgs++;
			u->bytes += want - 8;
			fn(arg, be32(u->buf + 4), u->buf + 8, want - 8);
			u->have = 0;
		}
	}
	return 0;
}

int pub_uplink_poll(struct pub_uplink *u, pub_uplink_fn fn, void *arg)
{
	uint8_t in[8 + PUB_UPLINK_MAX];

	for (int i = 0; i < 64; i++) {	/* bounded: sending comes first */
		ssize_t n = recv(u->fd, in, sizeof(in), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			/* UDP: an ICMP error for an earlier send; not ours. */
			if (!u->stream && errno == ECONNREFUSED)
				continue;
			return -errno;
		}
		if (!u->stream) {
			if (n < 4) {
				u->bad++;
				continue;
			}
			u->msgs++;
			u->bytes += (size_t)n - 4;
			fn(arg, be32(in), in + 4, (size_t)n - 4);
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (pub_uplink_feed(u, in, (size_t)n, fn, arg) < 0)
			return -EPROTO;
	}
	return 0;
}
