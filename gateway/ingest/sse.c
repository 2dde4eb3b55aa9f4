/* Server-Sent Events encoding. Base64 comes from libcrypto. */
#include "sse.h"

#include <openssl/evp.h>
#include <string.h>

#include "shmsg.h"
#include "sse_id.h"
#include "utf8.h"

#define TEXT_HEAD "data: "
#define BINARY_HEAD "event: binary\ndata: "

size_t rc_sse_event_size(const uint8_t *payload, size_t len, bool *binary)
{
	struct rc_utf8 u;

	*binary = false;
	/* Control characters (NUL, CR, LF, ...) would break the event framing
	 * or surprise a client reading text: such payloads go as binary. */
	for (size_t i = 0; i < len && !*binary; i++)
		*binary = (payload[i] < 0x20 && payload[i] != '\t') || payload[i] == 0x7f;
	rc_utf8_init(&u);
	if (!*binary)
		*binary = !rc_utf8_feed(&u, payload, len) || !rc_utf8_complete(&u);
	if (*binary)
		return sizeof(BINARY_HEAD) - 1 + 4 * ((len + 2) / 3) + 2;
	return sizeof(TEXT_HEAD) - 1 + len + 2;
}

size_t rc_sse_event_encode(uint8_t *dst, const uint8_t *payload, size_t len, bool binary)
{
	size_t n;

	if (binary) {
		memcpy(dst, BINARY_HEAD, sizeof(BINARY_HEAD) - 1);
		n = sizeof(BINARY_HEAD) - 1;
		n += (size_t)EVP_EncodeBlock(dst + n, payload, (int)len);
	} else {
		memcpy(dst, TEXT_HEAD, sizeof(TEXT_HEAD) - 1);
		n = sizeof(TEXT_HEAD) - 1;
		memcpy(dst + n, payload, len);
		n += len;
	}
	dst[n++] = '\n';
	dst[n++] = '\n';
	return n;
}

struct rc_shmsg *rc_sse_event_new(const uint8_t *payload, uint32_t len, uint64_t epoch,
				  uint64_t seq)
{
	bool binary;
	size_t n = rc_sse_event_size(payload, len, &binary);
	struct rc_shmsg *e = rc_shmsg_new((uint32_t)(n + 1 + RC_SSE_ID_LINE_MAX + 1));
	int id = 0;

	if (!e)
		return NULL;
	if (epoch)
		id = (int)rc_sse_id_line((char *)e->data, epoch, seq);
	e->len = (uint32_t)id +
		 (uint32_t)rc_sse_event_encode(e->data + id, payload, len, binary);
	return e;
}
