/* libFuzzer harness for pub_uplink_feed(), the parser of the uplink frames
 * a TCP publisher reads ([u32 len][u32 id][payload], tools/pub_uplink.h).
 *
 * Input: byte 0 picks where the stream is cut in two, the rest is the
 * stream. Fed whole and then in two pieces (each in its own exact-size heap
 * block, so ASan flags any read past one), both must give the same frames
 * and the same verdict; every frame's payload lies within the limit. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pub_uplink.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

struct seen {
	uint64_t h;
	uint64_t n;
};

static void on_frame(void *arg, uint32_t id, const uint8_t *data, size_t len)
{
	struct seen *s = arg;

	check(len <= PUB_UPLINK_MAX);
	s->h = (s->h ^ id) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++)
		s->h = (s->h ^ data[i]) * 0x100000001b3ull;
	s->h = (s->h ^ len) * 0x100000001b3ull;
	s->n++;
}

/* Feeds data[0..len) from its own heap block. */
static int feed(struct pub_uplink *u, const uint8_t *data, size_t len, struct seen *s)
{
	uint8_t *b = malloc(len ? len : 1);
	int r;

	check(b != NULL);
	if (len)
		memcpy(b, data, len);
	r = pub_uplink_feed(u, b, len, on_frame, s);
	free(b);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pub_uplink a, b;
	struct seen sa = { 0, 0 }, sb = { 0, 0 };
	size_t cut;
	int ra, rb;

	if (size < 1)
		return 0;
	cut = data[0];
	data++;
	size--;
	if (cut > size)
		cut = size;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ra = feed(&a, data, size, &sa);
	rb = feed(&b, data, cut, &sb);
	if (rb == 0)
		rb = feed(&b, data + cut, size - cut, &sb);
	check(ra == 0 || ra == -EPROTO);
	check(ra == rb);
	check(sa.n == sb.n && sa.h == sb.h);
	check(a.have == b.have);
	return 0;
}
