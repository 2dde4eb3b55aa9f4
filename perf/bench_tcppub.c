/* ringcast-bench --pub-tcp: publishing over ringcast's TCP ingest.
 *
 * The protocol is ringcast's own (gateway/ingest_proto.h; README, "Publish
 * over TCP"):
 * the publisher sends one line "PUB <channel> framed\n" and the gateway
 * answers "OK\n" or "ERR <reason>\n" (and closes); after OK every message
 * is a 4-byte big-endian length followed by that many bytes. The gateway
 * sends nothing more unless it gives up on the stream, and then it is one
 * ERR line before the close (a message over its --max-message). Framed,
 * not raw, because raw TCP is cut into messages wherever the gateway's reads
 * end, and the bench counts messages. The connection itself (buffering,
 * backlog, writes) is bench_pub.c's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define FRAME_HDR 4
/* Longest opening line ringcast reads, "\n" included (RC_PUB_LINE_MAX in
 * gateway/ingest_proto.h); a longer one is refused, so say so here. */
#define HELLO_MAX 256

/* Prints a line the server sent, without its "\r\n" and at most 80 bytes. */
static int line_len(const char *s, size_t len)
{
	if (len && s[len - 1] == '\r')
		len--;
	return (int)(len < 80 ? len : 80);
}

/* The PUB line and its answer on the blocking fd. Only "OK" lets the
 * publisher go on; "ERR ..." (busy, forbidden, too many channels...) is
 * shown as ringcast sent it, since that names the reason. */
static int tcp_handshake(struct bench *b, unsigned ch, int fd, const char **what)
{
	struct bench_pub *p = &b->pubs[ch];
	char hello[HELLO_MAX + 1], answer[BENCH_PUB_LINE_MAX];
	size_t have = 0, len;
	const char *nl;
	ssize_t w;
	int n;

	p->rx.line.len = 0;
	n = snprintf(hello, sizeof(hello), "PUB %s framed\n", b->cfg.channel[ch]);
	if (n < 0 || n > HELLO_MAX) {
		*what = "PUB line too long";
		return -ENAMETOOLONG;
	}
	w = write(fd, hello, (size_t)n);
	if (w != n) {
		*what = "write PUB line";
		return w < 0 ? -errno : -EIO;
	}
	/* Bounded by the answer buffer and the receive timeout. */
	while ((nl = memchr(answer, '\n', have)) == NULL) {
		ssize_t r;

		if (have == sizeof(answer)) {
			*what = "answer to the PUB line too long";
			return -EMSGSIZE;
		}
		r = read(fd, answer + have, sizeof(answer) - have);
		if (r <= 0) {
			*what = r == 0 ? "closed before answering the PUB line" : "read PUB answer";
			return r == 0 ? -ECONNRESET : -errno;
		}
		have += (size_t)r;
	}
	len = (size_t)(nl - answer);
	if (line_len(answer, len) != 2 || memcmp(answer, "OK", 2) != 0) {
		fprintf(stderr, "ringcast-bench: PUB %s framed: ringcast answered: %.*s\n",
			b->cfg.channel[ch], line_len(answer, len), answer);
		*what = "PUB line refused";
		return -EPROTO;
	}
	if (have > len + 1) {
		/* Nothing may follow OK before the first message is sent. */
		*what = "bytes after OK";
		return -EPROTO;
	}
	return 0;
}

static int tcp_append(struct bench_pub *p, const uint8_t *payload, size_t len)
{
	uint8_t *f;
	int err;

	if ((uint64_t)len > UINT32_MAX)
		return -EMSGSIZE;
	err = bench_pub_reserve(p, FRAME_HDR + len);
	if (err < 0)
		return err;
	f = p->out + p->len;
	f[0] = (uint8_t)(len >> 24);
	f[1] = (uint8_t)(len >> 16);
	f[2] = (uint8_t)(len >> 8);
	f[3] = (uint8_t)len;
	memcpy(f + FRAME_HDR, payload, len);
	p->len += FRAME_HDR + len;
	return 0;
}

/* Anything ringcast sends after OK is a line saying why it is about to
 * close: collect it, so the publisher's close names the reason rather than
 * just the EOF that follows. */
static void tcp_input(struct bench *b, unsigned ch, uint8_t *data, size_t len)
{
	struct bench_pub *p = &b->pubs[ch];
	char why[BENCH_PUB_LINE_MAX + 32];

	for (size_t i = 0; i < len && p->fd >= 0; i++) {
		bool end = data[i] == '\n';

		if (!end)
			p->rx.line.buf[p->rx.line.len++] = (char)data[i];
		if (end || p->rx.line.len == sizeof(p->rx.line.buf)) {
			snprintf(why, sizeof(why), "ringcast sent: %.*s",
				 line_len(p->rx.line.buf, p->rx.line.len), p->rx.line.buf);
			p->rx.line.len = 0;
			bench_pub_drop(b, ch, why, 0);
		}
	}
}

const struct bench_pub_ops bench_tcppub_ops = {
	.name = "TCP",
	.handshake = tcp_handshake,
	.append = tcp_append,
	.input = tcp_input,
};
